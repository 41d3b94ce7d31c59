//! The command-line contract: subcommands, global options on either side, exit codes.

use crate::test::{Test, text};

const OK: &str =
    "runbook: 1\nname: Fine\nsteps:\n  - {id: a, action: core.note, with: {text: hi}}\n";

#[test]
fn global_options_are_accepted_before_and_after_the_subcommand() {
    Test::new()
        .file("ok.yaml", OK)
        .args(["--region", "eu-west-1", "--no-color", "validate", "ok.yaml"])
        .run();
    Test::new()
        .file("ok.yaml", OK)
        .args([
            "validate",
            "ok.yaml",
            "--state-dir",
            "st",
            "--endpoint-url",
            "http://127.0.0.1:1",
            "-v",
        ])
        .run();
    Test::new()
        .file("ok.yaml", OK)
        .args(["validate", "--profile", "lab", "ok.yaml", "-q"])
        .stderr("")
        .run();
}

#[test]
fn engine_commands_without_runs_say_so_and_exit_2() {
    // Nothing to roll back is not an error: cleanup steps run it unconditionally.
    let out = Test::new().args(["rollback", "--yes"]).run();
    assert!(
        text(&out).1.contains("Nothing to roll back"),
        "{:?}",
        text(&out)
    );
    for args in [
        vec!["resume", "--yes"],
        vec!["rollback", "no-such-run", "--yes"],
        vec!["show", "some-run"],
    ] {
        let out = Test::new().args(args.clone()).status(2).run();
        let (_, stderr) = text(&out);
        assert!(stderr.starts_with("error[usage]: "), "{args:?}: {stderr}");
    }
    let out = Test::new().args(["runs"]).run();
    assert_eq!(text(&out).0, "No runs in `.runbook`.\n");
    // No such folder at all (looked for from another folder, or mistyped): said, with where runs
    // are recorded, by `runs`, `drills` and `show`.
    let missing = "here is no folder `.runbook` in ";
    for (args, status) in [
        (vec!["runs"], 0),
        (vec!["drills"], 0),
        (vec!["show"], 2),
        (vec!["rollback", "--yes"], 0),
    ] {
        let out = Test::new().args(args.clone()).status(status).run();
        let (_, stderr) = text(&out);
        assert!(
            stderr.contains(missing)
                && stderr.contains("where --state-dir (or RUNBOOK_STATE_DIR) says"),
            "{args:?}: {stderr}"
        );
    }
    // A folder that is there and holds none is only empty.
    let out = Test::new()
        .file(".runbook/runs/.keep", "")
        .args(["runs"])
        .run();
    assert!(!text(&out).1.contains("no folder"), "{:?}", text(&out));
}

/// A run id that is not in the state directory but in the local lab's: the help says so, with
/// the flag to add; one that is nowhere names the command that lists runs, as it was invoked.
#[test]
fn an_unknown_run_id_points_at_the_lab_when_the_run_is_there() {
    let out = Test::new()
        .file(
            ".lab/runs/20261206-100000-route53-failover-ab12/journal.jsonl",
            "",
        )
        .args(["rollback", "20261206-100000-route53-failover-ab12", "--yes"])
        .status(2)
        .run();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("local lab") && stderr.contains("--state-dir .lab"),
        "{stderr}"
    );
    let out = Test::new().args(["show", "zzzz-no-such"]).status(2).run();
    let (_, stderr) = text(&out);
    assert!(stderr.contains("runs` lists the runs"), "{stderr}");
    // Where there is no local lab, none is mentioned.
    assert!(!stderr.contains("local lab"), "{stderr}");
}

#[test]
fn a_usage_error_is_exit_2() {
    let out = Test::new().args(["validate"]).status(2).run();
    let (_, stderr) = text(&out);
    assert!(stderr.contains("FILE"), "{stderr}");
    Test::new()
        .args(["plan", "x.yaml", "--var", "novalue"])
        .status(2)
        .run();
    Test::new().args(["frobnicate"]).status(2).run();
}

#[test]
fn help_and_version_exit_0() {
    let out = Test::new().args(["--help"]).run();
    let (stdout, _) = text(&out);
    for cmd in [
        "validate", "plan", "run", "resume", "rollback", "runs", "show", "actions", "schema",
    ] {
        assert!(
            stdout.contains(&format!("  {cmd} ")),
            "{cmd} missing from --help:\n{stdout}"
        );
    }
    Test::new()
        .args(["--version"])
        .stdout(&format!("runbook {}\n", env!("CARGO_PKG_VERSION")))
        .run();
}

/// A newcomer's first look says where to start (the lab needs no account; `plan` calls nothing),
/// and a command's options come under headings: what the run does, where it acts, where runs are
/// kept, what it prints.
#[test]
fn help_leads_with_where_to_start_and_groups_options() {
    let out = Test::new().args(["--help"]).run();
    let (stdout, _) = text(&out);
    let first: Vec<&str> = stdout.lines().take(25).collect();
    let first = first.join("\n");
    for example in [
        "scripts/lab ",
        "runbook plan runbooks/route53-failover.yaml",
        "runbook run runbooks/route53-failover.yaml",
    ] {
        assert!(
            first.contains(example),
            "`{example}` not in the first 25 lines:\n{first}"
        );
    }
    let out = Test::new().args(["run", "--help"]).run();
    let (stdout, _) = text(&out);
    let at = |heading: &str| {
        stdout
            .lines()
            .position(|l| l == heading)
            .unwrap_or_else(|| panic!("no `{heading}` heading:\n{stdout}"))
    };
    let at_option = |option: &str| {
        stdout
            .lines()
            .position(|l| l.trim_start().starts_with(option))
            .unwrap_or_else(|| panic!("no {option}:\n{stdout}"))
    };
    let (run, aws, state, output) = (at("Run:"), at("AWS target:"), at("State:"), at("Output:"));
    for (option, heading) in [
        ("-y, --yes", run),
        ("--region", aws),
        ("--endpoint-url", aws),
        ("--state-dir", state),
        ("--lease", state),
        ("--output", output),
    ] {
        let line = at_option(option);
        let next = [run, aws, state, output, usize::MAX]
            .into_iter()
            .filter(|h| *h > heading)
            .min()
            .unwrap();
        assert!(
            line > heading && line < next,
            "{option} is not under its heading:\n{stdout}"
        );
    }
}

#[test]
fn output_without_a_terminal_has_no_escape_codes() {
    let out = Test::new()
        .file(
            "bad.yaml",
            "runbook: 1\nname: B\nsteps:\n  - {id: a, action: core.nop}\n",
        )
        .args(["validate", "bad.yaml"])
        .status(2)
        .run();
    assert!(!out.stderr.contains(&0x1b), "escape codes on a pipe");
}

/// `completions` prints a script for each shell, naming the subcommands.
#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Test::new().args(["completions", shell]).run();
        let (stdout, _) = text(&out);
        assert!(
            stdout.contains("rollback") && stdout.contains("state-dir"),
            "{shell}: {stdout}"
        );
    }
}

/// A mistyped runbook path is answered with the file that is there.
#[test]
fn a_mistyped_runbook_path_gets_a_suggestion() {
    let out = Test::new()
        .file("runbooks/failover.yaml", OK)
        .args(["plan", "runbooks/failvoer.yaml"])
        .status(2)
        .run();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("did you mean `runbooks/failover.yaml`?"),
        "{stderr}"
    );
}

/// `sweep --tag runbook:run=$RUN` with `$RUN` empty is refused before any AWS call, rather than
/// looking for resources tagged with nothing and saying all is clean.
#[test]
fn a_sweep_tag_without_a_value_is_refused() {
    let out = Test::new()
        .args(["sweep", "--tag", "runbook:run=", "--yes"])
        .status(2)
        .run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the tag `runbook:run` is given no value")
            && stderr.contains("--tag runbook:run=VALUE"),
        "{stderr}"
    );
}

/// A region that cannot be one (`eu-west1`, a zone's name) is a usage error before any call,
/// with the region it was likely meant to be; a region of the right form is never refused for
/// being unknown (AWS opens new ones).
#[test]
fn a_region_name_of_the_wrong_form_is_refused_before_any_call() {
    for (region, said) in [
        ("eu-west1", "did you mean `eu-west-1`?"),
        ("ap-south-1a", "did you mean `ap-south-1`?"),
        ("mars", "a region is written like `us-east-1`"),
    ] {
        let out = Test::new()
            .file(
                "r.yaml",
                "runbook: 1\nname: R\nsteps:\n  - {id: vpc, action: aws.ec2.create_vpc, with: {cidr: 10.0.0.0/16, name: r}}\n",
            )
            .args(["run", "r.yaml", "--yes", "--region", region])
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .status(2)
            .run();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("`{region}` is not an AWS region name"))
                && stderr.contains(said),
            "{stderr}"
        );
    }
}

/// `sweep --tag class=spring`, the tag as `runs` shows its column, names the tag it means.
#[test]
fn a_sweep_tag_without_its_prefix_names_the_tag_it_means() {
    let out = Test::new()
        .args(["sweep", "--tag", "class=spring", "--yes"])
        .status(2)
        .run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("did you mean `--tag runbook:class=spring`?"),
        "{stderr}"
    );
}

/// `--ttl 0s` would mark what the run makes as expired as it is made, for a `sweep --expired`
/// in cron to delete mid-run: refused before anything runs.
#[test]
fn a_ttl_of_zero_is_refused() {
    let out = Test::new()
        .file(
            "r.yaml",
            "runbook: 1\nname: R\nsteps:\n  - {id: a, action: core.nop}\n",
        )
        .args(["run", "r.yaml", "--yes", "--ttl", "0s"])
        .status(2)
        .run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`0s` would mark what the run makes as expired as it is made")
            && stderr.contains("leave --ttl out for no expiry"),
        "{stderr}"
    );
}
