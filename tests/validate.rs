//! `runbook validate`: every error collected, each with its file, line, column and excerpt.

use crate::test::{Test, text};

#[test]
fn three_different_errors_are_all_reported_with_their_lines() {
    Test::new()
        .file(
            "three.yaml",
            "
            runbook: 1
            name: Three mistakes
            vars:
              domain: {}
            steps:
              - id: vpc
                action: aws.ec2.create_vcp
                with:
                  cidr: 10.0.0.0/16
              - id: note
                action: core.note
                with:
                  text: \"{{ vars.domian }}\"
              - id: wait
                action: core.sleep
                neds: [vpc]
            ",
        )
        .args(["validate", "three.yaml"])
        .status(2)
        .stderr(
            "
            error[unknown-action]: unknown action `aws.ec2.create_vcp`
             --> three.yaml:7:13
              |
            7 |     action: aws.ec2.create_vcp
              |             ^^^^^^^^^^^^^^^^^^ not a built-in action
              |
              = help: did you mean `aws.ec2.create_vpc`?

            error[unknown-var]: there is no var `domian`
              --> three.yaml:13:17
               |
            13 |       text: \"{{ vars.domian }}\"
               |                 ^^^^^^^^^^^
               |
               = help: did you mean `domain`?

            error[unknown-key]: unknown key `neds` in step `wait`
              --> three.yaml:16:5
               |
            16 |     neds: [vpc]
               |     ^^^^
               |
               = help: did you mean `needs`?

            three.yaml: 3 errors
            ",
        )
        .run();
}

#[test]
fn a_valid_runbook_exits_zero_and_says_so() {
    Test::new()
        .file(
            "ok.yaml",
            "
            runbook: 1
            name: Fine
            steps:
              - id: hello
                action: core.note
                with: {text: hi}
            ",
        )
        .args(["validate", "ok.yaml"])
        .stderr("ok.yaml: valid (1 step)\n")
        .run();
}

#[test]
fn several_files_are_checked_and_any_invalid_one_fails_the_command() {
    let out = Test::new()
        .file(
            "good.yaml",
            "runbook: 1\nname: Good\nsteps:\n  - {id: a, action: core.note, with: {text: x}}\n",
        )
        .file(
            "bad.yaml",
            "runbook: 1\nname: Bad\nsteps:\n  - {id: a, action: core.nope}\n",
        )
        .args(["validate", "good.yaml", "bad.yaml"])
        .status(2)
        .run();
    let (_, stderr) = text(&out);
    assert!(stderr.contains("good.yaml: valid (1 step)"), "{stderr}");
    assert!(stderr.contains("bad.yaml: 1 error"), "{stderr}");
}

/// The first runbook a newcomer writes names things as the AWS API or another tool does:
/// `CidrBlock`, `steps.vpc.outputs.vpc_id`, an action without its namespace. Each error says what
/// was meant, and a parameter written the AWS way is not also reported missing.
#[test]
fn names_written_as_other_tools_write_them_are_pointed_to_ours() {
    let out = Test::new()
        .file(
            "first.yaml",
            "
            runbook: 1
            name: First
            steps:
              - id: vpc
                action: aws.ec2.create_vpc
                with:
                  CidrBlock: 10.0.0.0/16
                  name: first
              - id: subnet
                action: ec2.create_subnet
                with: {}
              - id: subnet2
                action: aws.ec2.create_subnet
                with:
                  vpc_id: \"{{ steps.vpc.outputs.vpc_id }}\"
                  cidr_block: 10.0.1.0/24
                  availability_zone: eu-west-1a
              - id: pause
                action: sleep
                with: {duration: 1s}
              - id: ready
                action: wait
                with: {}
              - id: hello
                action: core.shell
                with: {}
              - id: web
                action: aws.ec2.create_instance
                with: {}
              - id: alb
                action: aws.ec2.create_alb
                with: {}
              - id: record
                action: aws.route53.create_record
                with: {}
              - id: nap
                action: core.wait
                with: {}
              - id: launch
                action: RunInstances
                with: {}
            ",
        )
        .args(["validate", "first.yaml", "--output", "json"])
        .status(2)
        .run();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let found: Vec<(String, String, String)> = report["files"][0]["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            let field = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
            (field("code"), field("message"), field("help"))
        })
        .collect();
    let help_of = |message: &str| -> &str {
        let (_, _, help) = found
            .iter()
            .find(|(_, m, _)| m == message)
            .unwrap_or_else(|| panic!("no error `{message}` in {found:#?}"));
        help
    };
    assert_eq!(
        help_of("unknown parameter `CidrBlock` in `aws.ec2.create_vpc`"),
        "did you mean `cidr`?"
    );
    assert_eq!(
        help_of("unknown parameter `cidr_block` in `aws.ec2.create_subnet`"),
        "did you mean `cidr`?"
    );
    assert_eq!(
        help_of("step `vpc` has no output `outputs`"),
        "an output is read by its name, without `outputs.`: `steps.vpc.vpc_id`"
    );
    assert_eq!(
        help_of("unknown action `ec2.create_subnet`"),
        "did you mean `aws.ec2.create_subnet`?"
    );
    assert_eq!(
        help_of("unknown action `sleep`"),
        "did you mean `core.sleep`?"
    );
    let wait = help_of("unknown action `wait`");
    for action in [
        "core.sleep",
        "aws.route53.wait_change",
        "aws.ec2.wait_instances",
    ] {
        assert!(wait.contains(&format!("`{action}`")), "{wait}");
    }
    // Known by the name another tool gives it, not sent to a name spelled alike (`core.shell`
    // is not `core.sleep`, nor `create_instance` `create_subnet`).
    for (written, meant) in [
        ("core.shell", "did you mean `core.exec`?"),
        (
            "aws.ec2.create_instance",
            "did you mean `aws.ec2.run_instances`?",
        ),
        (
            "aws.ec2.create_alb",
            "did you mean `aws.elbv2.create_load_balancer`?",
        ),
        (
            "aws.route53.create_record",
            "did you mean one of `aws.route53.failover_record` or `aws.route53.weighted_record`? (`runbook actions` lists them all)",
        ),
        ("core.wait", "did you mean `core.sleep`?"),
        ("RunInstances", "did you mean `aws.ec2.run_instances`?"),
    ] {
        assert_eq!(help_of(&format!("unknown action `{written}`")), meant);
    }
    // `cidr` was written, only under another name: it is not missing as well.
    assert!(
        !found.iter().any(|(code, _, _)| code == "missing-parameter"),
        "{found:#?}"
    );
    assert_eq!(found.len(), 12, "{found:#?}");
}

/// A step's `guide:` is checked as any template: a misspelt var in it is an error at its line,
/// not a walkthrough that shows the template as written.
/// A command written as a shell line where a list belongs is refused before the run, whether
/// or not a template is in it (text around a template always renders to a string), and pointed to
/// the list it means; a whole `{{ … }}` may still give a list.
#[test]
fn a_command_written_as_a_line_is_pointed_to_the_list_it_means() {
    let out = Test::new()
        .file(
            "rb.yaml",
            "
            runbook: 1
            name: Lines
            vars:
              name: {default: world}
            steps:
              - {id: greet, action: core.exec, with: {command: 'echo hello {{ vars.name }}'}}
              - {id: shout, action: core.exec, with: {command: 'echo hello | tr a-z A-Z'}}
              - {id: apply, action: core.exec, with: {command: 'terraform apply -parallelism 4 -refresh true'}}
              - {id: listed, action: core.exec, with: {command: \"{{ ['echo', vars.name] }}\"}}
              - {id: note, action: core.note, with: {text: '{{ steps.listed.greeting }}'}}
              - {id: after, action: core.note, needs: apply, with: {text: done}}
            ",
        )
        .args(["validate", "rb.yaml"])
        .output();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for help in [
        "write it as a list: `[echo, hello, \"{{ vars.name }}\"]`",
        "write it as a list: `[sh, -c, 'echo hello | tr a-z A-Z']`",
        "write it as a list: `[terraform, apply, -parallelism, \"4\", -refresh, \"true\"]`",
        "write it as a list: `[apply]`",
        "give the step `outputs: [greeting]` and have the command print one JSON object on stdout, \
         `{\"greeting\": \"…\"}`",
    ] {
        assert!(stderr.contains(help), "{help}\n{stderr}");
    }
    assert_eq!(stderr.matches("error[wrong-type]").count(), 4, "{stderr}");
    assert!(stderr.contains("rb.yaml: 5 errors, 1 warning"), "{stderr}");

    // A whole `{{ … }}` that gives a string where the list belongs fails the step at run time,
    // naming the parameter (exit 2: the runbook's mistake).
    let out = Test::new()
        .file(
            "rb.yaml",
            "
            runbook: 1
            name: Whole
            vars:
              name: {default: world}
            steps:
              - {id: greet, action: core.exec, with: {command: '{{ vars.name }}'}}
            ",
        )
        .args(["run", "rb.yaml", "--yes", "--state-dir", "st"])
        .output();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "invalid parameter `command`: invalid type: string \"world\", expected a list"
        ),
        "{stderr}"
    );
}

/// Steps run when what they wait for is done, not in the file's order: a pause written between
/// two steps and ordered with neither delays nothing, and a check written after a deploy, waiting
/// for no step, looks before the deploy acts. Validation warns of both (naming the `needs:` to
/// write) and `plan` shows each unordered step "starts with the run". Ordered, neither is warned
/// of.
#[test]
fn a_pause_or_a_check_ordered_with_no_step_is_warned_of() {
    let runbook = |first: &str, needs: &str| {
        format!(
            "
            runbook: 1
            name: Pause
            steps:
              - {{id: hello, action: {first}}}
              - {{id: wait, action: core.sleep, {needs} with: {{duration: 1s}}}}
              - {{id: after, action: core.note, with: {{text: done}}}}
            "
        )
    };
    let validate = |yaml: &str| {
        let out = Test::new()
            .file("rb.yaml", yaml)
            .args(["validate", "rb.yaml"])
            .output();
        assert_eq!(
            out.status.code(),
            Some(0),
            "a warning only: {:?}",
            text(&out)
        );
        text(&out).1
    };
    let stderr = validate(&runbook("core.note, with: {text: hi}", ""));
    assert!(
        stderr.contains(
            "warning[unordered]: step `wait` delays nothing: it waits for no step, and no step waits for it"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("give `wait` `needs: [hello]` and `after` `needs: [wait]`"),
        "{stderr}"
    );
    // After a step that acts (a command), the pause starts beside it.
    let stderr = validate(&runbook("core.exec, with: {command: [date]}", ""));
    assert!(
        stderr.contains(
            "warning[unordered]: step `wait` waits for no step, so it starts with the run, beside `hello`, not after it"
        ),
        "{stderr}"
    );
    let out = Test::new()
        .file("rb.yaml", &runbook("core.note, with: {text: hi}", ""))
        .args(["plan", "rb.yaml"])
        .output();
    let (stdout, _) = text(&out);
    assert_eq!(
        stdout
            .matches("starts with the run: it waits for no step (`needs:` orders steps)")
            .count(),
        2,
        "{stdout}"
    );
    let stderr = validate(&runbook(
        "core.exec, with: {command: [date]}",
        "needs: [hello],",
    ));
    assert!(!stderr.contains("unordered"), "{stderr}");

    // A check after a deploy, waiting for no step.
    let stderr = validate(
        "
        runbook: 1
        name: Deploy
        steps:
          - {id: deploy, action: core.exec, with: {command: [./deploy.sh]}}
          - {id: verify, action: check.http, with: {url: 'http://127.0.0.1:9/'}}
        ",
    );
    assert!(
        stderr.contains("step `verify` waits for no step, so it starts with the run, beside `deploy`, not after it")
            && stderr.contains("give `verify` `needs: [deploy]`"),
        "{stderr}"
    );
}

#[test]
fn a_guides_template_is_checked_like_any_other() {
    let out = Test::new()
        .file(
            "guide.yaml",
            "
            runbook: 1
            name: Guide
            vars:
              domain: {default: x.example.org}
            steps:
              - id: a
                action: core.note
                guide: |
                  This step notes {{ vars.domian }}.
                with: {text: hi}
            ",
        )
        .args(["validate", "guide.yaml"])
        .status(2)
        .run();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("error[unknown-var]: there is no var `domian`")
            && stderr.contains(" --> guide.yaml:9:26")
            && stderr.contains("did you mean `domain`?"),
        "{stderr}"
    );
}

/// A `skip_reason` may say which of several reasons holds with a template; validation checks it
/// as any other (before, a broken one showed as written, and a misspelt var was never reported).
#[test]
fn a_skip_reasons_template_is_checked_like_any_other() {
    Test::new()
        .file(
            "skip.yaml",
            "
            runbook: 1
            name: Skip
            vars:
              on: {type: boolean, default: false}
            steps:
              - id: a
                action: core.note
                when: \"{{ vars.on }}\"
                skip_reason: \"{{ 'off' if not vars.of else 'x' }}\"
                with: {text: hi}
              - id: b
                action: core.note
                when: \"{{ vars.on }}\"
                skip_reason: \"{{ 'it's off' }}\"
                with: {text: hi}
            ",
        )
        .args(["validate", "skip.yaml"])
        .status(2)
        .stderr(
            "
            error[unknown-var]: there is no var `of`
             --> skip.yaml:9:35
              |
            9 |     skip_reason: \"{{ 'off' if not vars.of else 'x' }}\"
              |                                   ^^^^^^^
              |
              = help: did you mean `on`?

            error[template-syntax]: invalid template: syntax error: unexpected input after expression
              --> skip.yaml:14:26
               |
            14 |     skip_reason: \"{{ 'it's off' }}\"
               |                          ^
               |
               = help: templates use Jinja syntax: `{{ vars.name }}`, `{{ steps.id.output }}`

            skip.yaml: 2 errors
            ",
        )
        .run();
}

#[test]
fn json_output_gives_positions_codes_and_help() {
    let out = Test::new()
        .file(
            "bad.yaml",
            "runbook: 1\nname: Bad\nsteps:\n  - id: a\n    action: core.nte\n    with: {text: x}\n",
        )
        .args(["validate", "bad.yaml", "--output", "json"])
        .status(2)
        .run();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["valid"], false);
    let d = &report["files"][0]["diagnostics"][0];
    assert_eq!(d["code"], "unknown-action");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "bad.yaml");
    assert_eq!(d["line"], 5);
    assert_eq!(d["column"], 13);
    assert_eq!(d["end_column"], 21);
    assert_eq!(d["help"], "did you mean `core.note`?");
    assert!(out.stderr.is_empty(), "JSON mode writes nothing on stderr");
}

#[test]
fn a_file_over_the_size_limit_is_refused_before_parsing() {
    let big = format!(
        "runbook: 1\nname: Big\ndescription: \"{}\"\nsteps: []\n",
        "x".repeat(1024 * 1024)
    );
    Test::new()
        .file("big.yaml", &big)
        .args(["validate", "big.yaml"])
        .status(2)
        .stderr(
            "
            error[file-too-large]: `big.yaml` is 1048623 bytes; runbook files are limited to 1048576 bytes (1 MiB)
              |
              = help: split it into modules with `uses:`

            big.yaml: 1 error
            ",
        )
        .run();
}

#[test]
fn a_missing_file_is_a_clear_error() {
    Test::new()
        .args(["validate", "nowhere.yaml"])
        .status(2)
        .stderr(
            "
            error[file-unreadable]: cannot read `nowhere.yaml`: no such file
              |
              = help: check the path; it is relative to the current directory

            nowhere.yaml: 1 error
            ",
        )
        .run();
}

#[test]
fn errors_inside_a_module_point_into_the_module_file() {
    let out = Test::new()
        .file("main.yaml", "runbook: 1\nname: Main\nsteps:\n  - id: stack\n    uses: mods/stack.yaml\n")
        .file("mods/stack.yaml", "runbook: 1\nname: Stack\nsteps:\n  - id: vpc\n    action: aws.ec2.create_vpc\n    with: {cidr: 10.0.0.0/16, nme: x}\n")
        .args(["validate", "main.yaml"])
        .status(2)
        .run();
    let (_, stderr) = text(&out);
    assert!(stderr.contains("--> mods/stack.yaml:6:31"), "{stderr}");
    assert!(
        stderr.contains("unknown parameter `nme` in `aws.ec2.create_vpc`"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `name`?"), "{stderr}");
}

#[test]
fn a_module_used_twice_reports_its_errors_once() {
    let out = Test::new()
        .file(
            "main.yaml",
            "runbook: 1\nname: Main\nsteps:\n  - {id: a, uses: m.yaml}\n  - {id: b, uses: m.yaml}\n",
        )
        .file("m.yaml", "runbook: 1\nname: M\nsteps:\n  - {id: x, action: core.note, with: {text: \"{{ vars.nope }}\"}}\n")
        .args(["validate", "main.yaml"])
        .status(2)
        .run();
    let (_, stderr) = text(&out);
    assert_eq!(
        stderr.matches("there is no var `nope`").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn vars_given_on_the_command_line_feed_the_lints() {
    let two = "
            runbook: 1
            name: Two VPCs
            vars:
              a: {type: cidr, default: 10.0.0.0/16}
              b: {type: cidr, default: 11.0.0.0/16}
            steps:
              - {id: one, action: aws.ec2.create_vpc, with: {cidr: \"{{ vars.a }}\", name: one}}
              - {id: two, action: aws.ec2.create_vpc, with: {cidr: \"{{ vars.b }}\", name: two}}
            ";
    // The defaults are fine; the overlap only exists with the value given here.
    let out = Test::new()
        .file("two.yaml", two)
        .args(["validate", "two.yaml", "--var", "b=10.0.128.0/17"])
        .status(2)
        .run();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(
            "error[cidr-overlap]: the VPCs of `two` (10.0.128.0/17) and `one` (10.0.0.0/16) overlap"
        ),
        "{stderr}"
    );
    // A value an action refuses, typed on the command line or in the environment: the error is
    // at the template it went through, and says where the value was given.
    let out = Test::new()
        .file("two.yaml", two)
        .env("RUNBOOK_VAR_A", "10.0.0.0/8")
        .args(["validate", "two.yaml", "--var", "b=11.0.0.0/29"])
        .status(2)
        .run();
    let (_, stderr) = text(&out);
    for said in [
        "error[cidr-size]: `10.0.0.0/8` is larger than AWS allows (at most /16) for a VPC",
        "= note: the value comes from RUNBOOK_VAR_A",
        "error[cidr-size]: `11.0.0.0/29` is smaller than AWS allows (at least /28) for a VPC",
        "= note: the value comes from --var b",
    ] {
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
}

/// VPCs in different regions may share a range (they never route to each other unless
/// connected), so the overlap lint compares only those of one region; a step region in another
/// partition than the run's (China, `GovCloud`) is refused, since one run's credentials act in one.
#[test]
fn regions_shape_the_lints_overlap_within_a_region_and_one_partition() {
    let two = "
            runbook: 1
            name: Same range, two regions
            vars:
              region: {default: ap-south-1}
              far: {default: us-east-1}
            steps:
              - {id: one, action: aws.ec2.create_vpc, with: {cidr: 10.0.0.0/16, name: one}}
              - {id: two, action: aws.ec2.create_vpc, region: \"{{ vars.far }}\", with: {cidr: 10.0.0.0/16, name: two}}
            ";
    Test::new()
        .file("two.yaml", two)
        .args(["validate", "two.yaml"])
        .status(0)
        .run();
    let out = Test::new()
        .file("two.yaml", two)
        .args(["validate", "two.yaml", "--var", "far=ap-south-1"])
        .status(2)
        .run();
    assert!(
        text(&out).1.contains("error[cidr-overlap]"),
        "{:?}",
        text(&out)
    );
    let out = Test::new()
        .file("two.yaml", two)
        .args(["validate", "two.yaml", "--var", "far=cn-north-1"])
        .status(2)
        .run();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("error[unknown-region]")
            && stderr.contains(
                "cn-north-1 is in the aws-cn partition and the run's region ap-south-1 in aws"
            ),
        "{stderr}"
    );
}

/// A module's templated `region:` is checked before the run like a step's: a value that is no
/// region name is reported once, where the `uses` step writes it, with the var that gave it.
#[test]
fn a_modules_region_is_checked_before_the_run() {
    let module = "
            runbook: 1
            name: Network
            steps:
              - {id: vpc, action: aws.ec2.create_vpc, with: {cidr: 10.0.0.0/16, name: net}}
              - {id: subnet, action: aws.ec2.create_subnet, with: {vpc_id: \"{{ steps.vpc.vpc_id }}\", cidr: 10.0.1.0/24, availability_zone: \"{{ aws.region }}a\", name: net}}
            ";
    let root = "
            runbook: 1
            name: Far network
            vars:
              region: {default: ap-south-1}
              far: {default: us-east-1}
            steps:
              - {id: net, uses: ./net.yaml, region: \"{{ vars.far }}\"}
            ";
    Test::new()
        .file("net.yaml", module)
        .file("root.yaml", root)
        .args(["validate", "root.yaml"])
        .status(0)
        .run();
    let out = Test::new()
        .file("net.yaml", module)
        .file("root.yaml", root)
        .args(["validate", "root.yaml", "--var", "far=useast1"])
        .status(2)
        .run();
    let (_, stderr) = text(&out);
    assert_eq!(
        stderr.matches("error[unknown-region]").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("`useast1`") && stderr.contains("root.yaml"),
        "{stderr}"
    );
}

/// `validate --each` checks a class's roster with the runbook as `run --class` will, every
/// problem at once and located: a value that breaks a var's rule (named by its line of the CSV),
/// a domain outside the class's zone, and two students with one domain; a good roster is valid.
#[test]
fn validate_each_reports_every_problem_of_a_roster_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("summer.csv");
    std::fs::write(
        &roster,
        "student,domain,prefix\n\
         ann,ann.summer.example,Bad_Prefix\n\
         jay,jay.other.example,jay\n\
         bob,shared.summer.example,bob\n\
         cid,shared.summer.example,cid\n",
    )
    .unwrap();
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let args = |csv: &std::path::Path| {
        vec![
            "validate".to_owned(),
            runbook.to_str().unwrap().to_owned(),
            "--each".to_owned(),
            csv.to_str().unwrap().to_owned(),
            "--var".to_owned(),
            "zone=summer.example".to_owned(),
        ]
    };
    let out = Test::new().args(args(&roster)).status(2).run();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("invalid value for var `prefix` from `prefix` in line 2 of")
            && stderr.contains("(student `ann`)"),
        "the CSV is the value's source: {stderr}"
    );
    assert!(
        stderr.contains("the record jay.other.example is not inside the zone summer.example"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the PRIMARY A record of shared.summer.example (bob, cid)"),
        "{stderr}"
    );
    // A school's list as it is: full names, and a column of its own that is not read.
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "Name,Email,Domain\nAnn Lee,ann@school.example,ann.summer.example\nbob,,bob.summer.example\n",
    )
    .unwrap();
    let out = Test::new().args(args(&good)).run();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("valid for 2 students")
            && stderr.contains("good.csv: not read: the column `Email`")
            && stderr.contains("`Ann Lee` is `ann-lee` in tags, run ids and --student"),
        "{stderr}"
    );
}

/// Two mistakes in the same `with:` (a bad value and a misspelt key) are both reported, with the
/// parameter the misspelling left missing, rather than one at a time.
#[test]
fn every_problem_of_one_with_is_reported_at_once() {
    let out = Test::new()
        .file(
            "two.yaml",
            "
            runbook: 1
            name: Two in one
            steps:
              - id: vpc
                action: aws.ec2.create_vpc
                with:
                  cidr: 10.0.0.0/33
                  nmae: x
            ",
        )
        .args(["validate", "two.yaml"])
        .status(2)
        .run();
    let (_, stderr) = text(&out);
    assert!(stderr.contains("10.0.0.0/33"), "the CIDR: {stderr}");
    assert!(stderr.contains("`nmae`"), "the unknown key: {stderr}");
    assert!(stderr.contains("did you mean `name`"), "{stderr}");
    assert!(stderr.contains("two.yaml: 2 errors"), "{stderr}");
}

/// Bounded work: a device given as a runbook, a vars file or a roster is refused unread, and
/// templates that would loop for ever or grow without end (a namespace carried through a loop,
/// a recursive macro, nested `range(100000)` loops) stop with a located error; each within
/// seconds, exit 2.
#[test]
fn devices_and_endless_templates_are_refused_in_bounded_time() {
    use std::time::{Duration, Instant};
    let endless = [
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        "{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s }}{% endmacro %}{{ d('ab', 40) }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{{ ('x' * 100000000) ~ ('x' * 100000000) }}",
    ];
    for template in endless {
        let runbook = format!(
            "runbook: 1\nname: Endless\nsteps:\n  - {{id: a, action: core.note, with: {{text: \"{template}\"}}}}\n"
        );
        let started = Instant::now();
        let out = Test::new()
            .file("r.yaml", &runbook)
            .args(["validate", "r.yaml"])
            .status(2)
            .run();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{template}: {stderr}");
        assert!(stderr.contains("r.yaml:4:"), "located: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "{template}");
    }
    for args in [
        vec!["validate", "/dev/zero"],
        vec!["validate", "r.yaml", "--vars-file", "/dev/zero"],
        vec!["validate", "r.yaml", "--each", "/dev/zero"],
    ] {
        let started = Instant::now();
        let out = Test::new()
            .file(
                "r.yaml",
                "runbook: 1\nname: R\nsteps:\n  - {id: a, action: core.note, with: {text: hi}}\n",
            )
            .args(args.clone())
            .status(2)
            .run();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("not a file"), "{args:?}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "{args:?}");
    }
}

/// The same endless templates and `/dev/zero`, under a 200 MB limit on the process's memory
/// (`ulimit -v`): each still ends with its located error (exit 2), never by running out of memory.
#[test]
fn endless_input_is_refused_within_200_mb() {
    let dir = tempfile::tempdir().unwrap();
    let templates = [
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        "{{ ('x' * 100000000) ~ ('x' * 100000000) }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    ];
    for (i, template) in templates.iter().enumerate() {
        std::fs::write(
            dir.path().join(format!("r{i}.yaml")),
            format!(
                "runbook: 1\nname: Endless\nsteps:\n  - {{id: a, action: core.note, with: {{text: \"{template}\"}}}}\n"
            ),
        )
        .unwrap();
    }
    for file in ["r0.yaml", "r1.yaml", "r2.yaml", "/dev/zero"] {
        let out = std::process::Command::new("sh")
            .args([
                "-c",
                "ulimit -v 204800 && exec \"$0\" validate \"$1\"",
                crate::test::BIN,
                file,
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{file}: {:?}", text(&out));
    }
}

/// A module comes from the runbook's own folder or below: `uses: /etc/passwd` is refused
/// without reading the file, and nothing of it is quoted.
#[test]
fn a_module_outside_the_runbooks_folder_is_refused_unread() {
    let out = Test::new()
        .file(
            "r.yaml",
            "runbook: 1\nname: R\nsteps:\n  - {id: a, uses: /etc/passwd}\n  - {id: b, uses: ../../../proc/self/environ}\n",
        )
        .args(["validate", "r.yaml"])
        .status(2)
        .run();
    let (stdout, stderr) = text(&out);
    assert_eq!(
        stderr.matches("error[module-outside]").count(),
        2,
        "{stderr}"
    );
    assert!(!stderr.contains("root:"), "{stderr}");
    assert!(!stdout.contains("root:"), "{stdout}");
}

/// A step whose id is taken is not a step of the runbook, but its own mistakes are told in the
/// same pass: one run of `validate` names every fix, not one at a time.
#[test]
fn a_duplicate_step_id_and_the_mistakes_of_that_step_are_told_together() {
    let out = Test::new()
        .file(
            "r.yaml",
            "runbook: 1\nname: R\nsteps:\n  - {id: a, action: core.note, with: {text: hi}}\n  - {id: a, action: core.nope}\n",
        )
        .args(["validate", "r.yaml"])
        .status(2)
        .run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error[duplicate-id]: two steps have the id `a`")
            && stderr.contains("error[unknown-action]: unknown action `core.nope`")
            && stderr.contains("r.yaml: 2 errors"),
        "{stderr}"
    );
}

/// A subnet outside its VPC's range, or over another subnet of that VPC, is refused by
/// validation where its range is written, with the VPC's range beside it: AWS would refuse it
/// only once the steps before it had run.
#[test]
fn a_subnet_outside_its_vpc_or_over_another_is_refused_before_the_run() {
    let runbook = |a: &str, b: &str| {
        format!(
            "runbook: 1\nname: Net\nsteps:\n  - {{id: vpc, action: aws.ec2.create_vpc, with: {{cidr: 10.0.0.0/16, name: n}}}}\n  - {{id: a, action: aws.ec2.create_subnet, with: {{vpc_id: \"{{{{ steps.vpc.vpc_id }}}}\", cidr: {a}, availability_zone: ap-south-1a}}}}\n  - {{id: b, action: aws.ec2.create_subnet, with: {{vpc_id: \"{{{{ steps.vpc.vpc_id }}}}\", cidr: {b}, availability_zone: ap-south-1b}}}}\n"
        )
    };
    let validate = |text: String, status: i32| {
        let out = Test::new()
            .file("net.yaml", &text)
            .args(["validate", "net.yaml"])
            .status(status)
            .run();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let outside = validate(runbook("10.1.0.0/24", "10.0.2.0/24"), 2);
    assert!(
        outside.contains("error[subnet-outside-vpc]: the subnet of `a` (10.1.0.0/24) is not inside the VPC of `vpc` (10.0.0.0/16)")
            && outside.contains("`vpc` gets 10.0.0.0/16 here")
            && outside.contains("for example 10.0.1.0/24"),
        "{outside}"
    );
    let over = validate(runbook("10.0.0.0/23", "10.0.1.0/24"), 2);
    assert!(
        over.contains("error[subnet-overlap]: the subnets of `b` (10.0.1.0/24) and `a` (10.0.0.0/23) overlap in the VPC of `vpc`"),
        "{over}"
    );
    validate(runbook("10.0.1.0/24", "10.0.2.0/24"), 0);
}

/// Health checks AWS would refuse (a threshold of 1, a timeout as long as the interval, a path
/// without `/`, a Route 53 interval other than 10 or 30) are refused by validation, where the
/// check is written, with what AWS accepts.
#[test]
fn health_checks_aws_would_refuse_are_refused_before_the_run() {
    let out = Test::new()
        .file(
            "hc.yaml",
            "runbook: 1\nname: HC\nsteps:\n  - id: tg\n    action: aws.elbv2.create_target_group\n    with:\n      name: web\n      vpc_id: vpc-1\n      health_check: {path: health, interval_seconds: 5, timeout_seconds: 5, unhealthy_threshold: 1}\n  - {id: r53, action: aws.route53.health_check, with: {fqdn: lab.example.com, interval_seconds: 15}}\n",
        )
        .args(["validate", "hc.yaml"])
        .status(2)
        .run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for said in [
        "the health check's `unhealthy_threshold` is 1; AWS accepts 2 to 10",
        "the health check's timeout (5 s) is not shorter than its interval (5 s)",
        "the health check's path `health` does not start with `/`",
        "a Route 53 health check's interval is 10 or 30 seconds, not 15",
        "hc.yaml: 4 errors",
    ] {
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
    assert!(
        stderr.contains("hc.yaml:9:"),
        "points at the health check: {stderr}"
    );
}
