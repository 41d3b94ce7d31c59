//! `runbook plan`: steps in dependency order, module steps prefixed, values rendered as far as
//! they are known before the run.

use crate::test::{Test, text};

const SITE: &str = "
    runbook: 1
    name: Two sites
    vars:
      prefix: {default: demo}
    steps:
      - id: blue
        uses: mods/site.yaml
        with: {name: blue, cidr: 10.1.0.0/16, prefix: \"{{ vars.prefix }}\"}
      - id: green
        uses: mods/site.yaml
        with: {name: green, cidr: 10.2.0.0/16, prefix: \"{{ vars.prefix }}\"}
      - id: report
        name: Report both networks
        action: core.note
        with:
          text: \"{{ steps.blue.vpc_id }} and {{ steps.green.vpc_id }}\"
    ";

const MODULE: &str = "
    runbook: 1
    name: A site
    vars:
      name: {}
      cidr: {type: cidr}
      prefix: {default: lab}
    steps:
      - id: subnet
        name: \"Subnet of {{ vars.name }}\"
        action: aws.ec2.create_subnet
        with:
          vpc_id: \"{{ steps.vpc.vpc_id }}\"
          cidr: \"{{ cidrsubnet(vars.cidr, 8, 0) }}\"
          availability_zone: eu-west-1a
      - id: vpc
        name: \"VPC of {{ vars.name }}\"
        action: aws.ec2.create_vpc
        with:
          cidr: \"{{ vars.cidr }}\"
          name: \"{{ vars.prefix }}-{{ vars.name }}\"
    outputs:
      vpc_id: \"{{ steps.vpc.vpc_id }}\"
    ";

#[test]
fn a_module_used_twice_plans_prefixed_steps_in_dependency_order() {
    Test::new()
        .file("site.yaml", SITE)
        .file("mods/site.yaml", MODULE)
        .args(["plan", "site.yaml"])
        .stdout(
            "
            Plan: Two sites (site.yaml)
            5 steps: 4 create, 0 change, 0 delete, 1 only read

              1. blue.vpc — VPC of blue
                 aws.ec2.create_vpc (creates)
                 with:
                   cidr: 10.1.0.0/16
                   name: demo-blue
                 rollback: deletes the VPC

              2. blue.subnet — Subnet of blue
                 aws.ec2.create_subnet (creates)
                 after: blue.vpc
                 with:
                   vpc_id: (known after run: steps.blue.vpc.vpc_id)
                   cidr: 10.1.0.0/24
                   availability_zone: eu-west-1a
                 rollback: deletes the subnet, retrying while AWS still releases network interfaces

              3. green.vpc — VPC of green
                 aws.ec2.create_vpc (creates)
                 starts with the run: it waits for no step (`needs:` orders steps)
                 with:
                   cidr: 10.2.0.0/16
                   name: demo-green
                 rollback: deletes the VPC

              4. green.subnet — Subnet of green
                 aws.ec2.create_subnet (creates)
                 after: green.vpc
                 with:
                   vpc_id: (known after run: steps.green.vpc.vpc_id)
                   cidr: 10.2.0.0/24
                   availability_zone: eu-west-1a
                 rollback: deletes the subnet, retrying while AWS still releases network interfaces

              5. report — Report both networks
                 core.note (reads)
                 after: blue.vpc, green.vpc
                 with:
                   text: (known after run: steps.blue.vpc_id, steps.green.vpc_id)
                 rollback: nothing to undo

            ",
        )
        .run();
}

#[test]
fn json_plan_lists_order_needs_and_unknowns() {
    let out = Test::new()
        .file("site.yaml", SITE)
        .file("mods/site.yaml", MODULE)
        .args(["plan", "site.yaml", "--var", "prefix=x", "--output", "json"])
        .run();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let ids: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "blue.vpc",
            "blue.subnet",
            "green.vpc",
            "green.subnet",
            "report"
        ]
    );
    assert_eq!(plan["steps"][0]["params"]["name"], "x-blue");
    assert_eq!(plan["steps"][0]["effect"], "creates");
    assert_eq!(
        plan["steps"][1]["known_after_run"],
        serde_json::json!(["steps.blue.vpc.vpc_id"])
    );
    assert_eq!(
        plan["steps"][4]["needs"],
        serde_json::json!(["blue.vpc", "green.vpc"])
    );
}

#[test]
fn a_missing_required_var_is_exit_2_naming_every_way_to_set_it() {
    Test::new()
        .file(
            "r.yaml",
            "
            runbook: 1
            name: Needs a domain
            vars:
              domain:
                description: The site's domain.
            steps:
              - {id: zone, action: aws.route53.hosted_zone, with: {name: \"{{ vars.domain }}\"}}
            ",
        )
        .args(["plan", "r.yaml"])
        .status(2)
        .stdout("")
        .stderr(
            "
            error[missing-var]: the var `domain` has no value
             --> r.yaml:4:3
              |
            4 |   domain:
              |   ^^^^^^ declared here without a default
              |
              = help: set it with `--var domain=VALUE`, in a `--vars-file`, or in the environment as `RUNBOOK_VAR_DOMAIN`
              = note: `domain`: The site's domain.
            ",
        )
        .run();
}

#[test]
fn vars_come_from_flags_then_file_then_environment_then_default() {
    let runbook = "
        runbook: 1
        name: Sources
        vars:
          a: {default: from-default}
          b: {default: from-default}
          c: {default: from-default}
          d: {default: from-default}
        steps:
          - id: show
            action: core.note
            with: {text: \"{{ vars.a }} {{ vars.b }} {{ vars.c }} {{ vars.d }}\"}
        ";
    let out = Test::new()
        .file("r.yaml", runbook)
        .file("vars.yaml", "a: from-file\nb: from-file\n")
        .env("RUNBOOK_VAR_A", "from-env")
        .env("RUNBOOK_VAR_B", "from-env")
        .env("RUNBOOK_VAR_C", "from-env")
        .args([
            "plan",
            "r.yaml",
            "--var",
            "a=from-flag",
            "--vars-file",
            "vars.yaml",
            "--output",
            "json",
        ])
        .run();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        plan["steps"][0]["params"]["text"],
        "from-flag from-file from-env from-default"
    );
}

#[test]
fn a_secret_var_never_appears_in_the_plan() {
    let out = Test::new()
        .file(
            "r.yaml",
            "
            runbook: 1
            name: Secret
            vars:
              token: {secret: true}
            steps:
              - id: call
                name: \"Use {{ vars.token }}\"
                action: check.http
                with: {url: \"https://example.com/?t={{ vars.token }}\"}
            ",
        )
        .args(["plan", "r.yaml", "--var", "token=hunter2-s3cret"])
        .run();
    let (stdout, stderr) = text(&out);
    assert!(
        !stdout.contains("hunter2-s3cret") && !stderr.contains("hunter2-s3cret"),
        "{stdout}{stderr}"
    );
    assert!(
        stdout.contains("url: https://example.com/?t=***"),
        "{stdout}"
    );
    assert!(stdout.contains("call — Use ***"), "{stdout}");
}

#[test]
fn a_when_known_before_the_run_is_shown() {
    let out = Test::new()
        .file(
            "r.yaml",
            "
            runbook: 1
            name: Conditions
            steps:
              - {id: real, action: core.note, when: \"{{ not aws.emulated }}\", with: {text: real AWS}}
              - {id: emulated, action: core.note, when: aws.emulated, with: {text: emulator}}
            ",
        )
        .args(["plan", "r.yaml", "--endpoint-url", "http://127.0.0.1:5000"])
        .run();
    let (stdout, _) = text(&out);
    assert!(
        stdout
            .contains("1. real — real\n     core.note (reads)\n     skipped: its `when` is false"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("2. emulated — emulated\n     core.note (reads)\n     skipped"),
        "{stdout}"
    );
}

/// A `skip_reason` that says which of several reasons holds with a template reads in the plan as
/// the run would say it, not as the template is written; a secret in it is masked.
#[test]
fn a_skip_reasons_template_is_rendered_in_the_plan() {
    let out = Test::new()
        .file(
            "r.yaml",
            "
            runbook: 1
            name: Reasons
            vars:
              drill: {type: boolean, default: false}
              token: {secret: true, default: hunter2-token}
            steps:
              - id: stop
                action: core.note
                when: \"{{ vars.drill and not aws.emulated }}\"
                skip_reason: \"{{ 'the drill is off' if not vars.drill else 'the emulator stops nothing' }} ({{ vars.token }})\"
                with: {text: stop}
            ",
        )
        .args(["plan", "r.yaml", "--endpoint-url", "http://127.0.0.1:5000"])
        .run();
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("     skipped: the drill is off (***)\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"), "{stdout}");
}

#[test]
fn an_unknown_var_on_the_command_line_is_exit_2_with_a_suggestion() {
    Test::new()
        .file("r.yaml", "runbook: 1\nname: R\nvars:\n  domain: {default: x}\nsteps:\n  - {id: a, action: core.note, with: {text: hi}}\n")
        .args(["plan", "r.yaml", "--var", "domian=example.com"])
        .status(2)
        .stderr(
            "
            error[unknown-var]: the runbook has no var `domian` (set by --var domian=…)
              |
              = help: did you mean `domain`?
            ",
        )
        .run();
}

#[test]
fn nested_modules_get_nested_prefixes_and_exact_dependencies() {
    let out = Test::new()
        .file(
            "top.yaml",
            "
            runbook: 1
            name: Top
            steps:
              - {id: zone, action: aws.route53.hosted_zone, with: {name: example.com}}
              - id: east
                uses: mods/region.yaml
                with: {zone_id: \"{{ steps.zone.zone_id }}\"}
            ",
        )
        .file(
            "mods/region.yaml",
            "
            runbook: 1
            name: Region
            vars:
              zone_id: {}
            steps:
              - {id: web, uses: site.yaml, with: {label: web}}
              - id: record
                action: aws.route53.weighted_record
                with:
                  zone_id: \"{{ vars.zone_id }}\"
                  name: example.com
                  weight: 10
                  set_identifier: east
                  alias: {dns_name: \"{{ steps.web.host }}\", hosted_zone_id: Z1}
            ",
        )
        .file(
            "mods/site.yaml",
            "
            runbook: 1
            name: Site
            vars:
              label: {}
            steps:
              - {id: host, action: core.set, with: {name: \"{{ vars.label }}.example.net\"}}
            outputs:
              host: \"{{ steps.host.name }}\"
            ",
        )
        .args(["plan", "top.yaml", "--output", "json"])
        .run();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let steps = plan["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["zone", "east.web.host", "east.record"]);
    // The innermost step waits for nothing: the zone is only read by the record.
    assert_eq!(steps[1]["needs"], serde_json::json!([]));
    assert_eq!(steps[1]["params"]["name"], "web.example.net");
    assert_eq!(
        steps[2]["needs"],
        serde_json::json!(["zone", "east.web.host"])
    );
}

#[test]
fn an_unknown_name_in_a_vars_file_is_located_in_that_file() {
    Test::new()
        .file("r.yaml", "runbook: 1\nname: R\nvars:\n  domain: {}\nsteps:\n  - {id: a, action: core.note, with: {text: hi}}\n")
        .file("vars.yaml", "domain: example.com\ndomian: example.org\n")
        .args(["plan", "r.yaml", "--vars-file", "vars.yaml"])
        .status(2)
        .stderr(
            "
            error[unknown-var]: the runbook has no var `domian` (set by the vars file)
             --> vars.yaml:2:1
              |
            2 | domian: example.org
              | ^^^^^^
              |
              = help: did you mean `domain`?
            ",
        )
        .run();
}

/// The shipped failover lab marks what a learner does by hand where the console guide has them
/// act: the two failover records and the drill; the plan says what each check compares.
#[test]
fn the_failover_lab_plans_its_exercises_with_what_each_checks() {
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let out = Test::new()
        .args([
            "plan",
            runbook.to_str().expect("UTF-8"),
            "--var",
            "domain=lab.example.com",
            "--output",
            "json",
        ])
        .run();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let exercises: Vec<(&str, &serde_json::Value)> = plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| !s["exercise"].is_null())
        .map(|s| (s["id"].as_str().expect("an id"), &s["exercise"]))
        .collect();
    let ids: Vec<&str> = exercises.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, ["primary_record", "secondary_record", "stop_primary"]);
    assert_eq!(
        exercises[0].1["checks"],
        serde_json::json!(["role", "alias", "set_identifier", "health_check_id"])
    );
    assert_eq!(exercises[0].1["hints"], 3);
    assert_eq!(exercises[2].1["checks"], serde_json::json!([]));
    let human = Test::new()
        .args([
            "plan",
            runbook.to_str().expect("UTF-8"),
            "--var",
            "domain=lab.example.com",
        ])
        .run();
    let (stdout, _) = text(&human);
    assert!(
        stdout.contains(
            "     exercise: a learner's to do by hand, checked for role, alias, set_identifier, health_check_id\n"
        ),
        "{stdout}"
    );
}

/// An exercise's task and hints are templates like a step's name: one that names an unknown
/// step is refused before anything runs.
#[test]
fn an_exercise_task_naming_an_unknown_step_is_refused() {
    let out = Test::new()
        .file(
            "lab.yaml",
            "
            runbook: 1
            name: A task with a typo
            steps:
              - id: stop
                action: aws.ec2.stop_instances
                with: {instance_ids: [i-1]}
                exercise:
                  task: \"Stop {{ steps.nowhere.instance_ids }}\"
            ",
        )
        .args(["validate", "lab.yaml"])
        .output();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error[unknown-step]: there is no step `nowhere`"),
        "{stderr}"
    );
}

/// A site that exists gets failover without a zone being made: the plan says its zone step only
/// looks, counts it among the reads, and promises no zone deletion on rollback. The lab's own
/// zone step, which creates the zone when there is none, still says it creates.
#[test]
fn a_zone_step_that_only_finds_its_zone_plans_as_a_read() {
    let plan_of = |runbook: &str, vars: &[&str]| {
        let runbook = crate::test::root().join(runbook);
        let mut args = vec!["plan", runbook.to_str().expect("UTF-8")];
        for v in vars {
            args.extend(["--var", v]);
        }
        let out = Test::new().args(args).run();
        text(&out).0
    };
    let existing = plan_of(
        "runbooks/add-failover.yaml",
        &["domain=example.com", "primary_lb=a", "secondary_lb=b"],
    );
    assert!(
        existing.contains("11 steps: 2 create, 2 change, 0 delete, 7 only read\n"),
        "{existing}"
    );
    assert!(
        existing.contains("     aws.route53.hosted_zone (reads)\n"),
        "{existing}"
    );
    assert!(
        existing.contains("     rollback: nothing to undo (it only looks)\n"),
        "{existing}"
    );
    assert!(!existing.contains("deletes the zone"), "{existing}");
    let lab = plan_of(
        "runbooks/route53-failover.yaml",
        &["domain=lab.example.com"],
    );
    assert!(
        lab.contains("     aws.route53.hosted_zone (creates)\n"),
        "{lab}"
    );
    assert!(
        lab.contains("deletes the zone, only if this run created it"),
        "{lab}"
    );
}

/// A recovery-time gate without a unit is refused by the plan, where the var is used, not at the
/// end of the drill after minutes of building.
#[test]
fn a_recovery_time_gate_that_is_no_duration_is_refused_before_the_run() {
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let plan = |gate: &str, status: i32| {
        Test::new()
            .args([
                "plan",
                runbook.to_str().expect("UTF-8"),
                "--var",
                "domain=lab.example.com",
                "--var",
                gate,
            ])
            .status(status)
            .run()
    };
    let refused = plan("max_failover=5", 2);
    let (_, stderr) = text(&refused);
    assert!(
        stderr.contains("error[duration]: `limit` is not a duration")
            && stderr.contains("limit: \"{{ vars.max_failover }}\"")
            && stderr.contains("write it like 90s, 5m or 1m30s"),
        "{stderr}"
    );
    for accepted in ["max_failover=1m30s", "max_failover="] {
        assert_eq!(plan(accepted, 0).status.code(), Some(0), "{accepted}");
    }
}

/// A parameter left empty (`id: ""`, a gate given no limit) is not set: the plan does not list it
/// as though it said something, and lists it once it has a value.
#[test]
fn parameters_left_empty_are_not_listed() {
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let plan = |extra: &[&str]| {
        let mut args = vec![
            "plan",
            runbook.to_str().expect("UTF-8"),
            "--var",
            "domain=lab.example.com",
        ];
        args.extend(extra);
        text(&Test::new().args(args).run()).0
    };
    let unset = plan(&[]);
    assert!(
        unset.contains("       name: lab.example.com\n       comment: runbook lab: failover routing (prefix lab)\n       shared: true\n     rollback:"),
        "{unset}"
    );
    assert!(!unset.contains("       limit:"), "{unset}");
    let gated = plan(&["--var", "max_failover=3m"]);
    assert!(gated.contains("       limit: 3m\n"), "{gated}");
}
