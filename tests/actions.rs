//! `runbook actions`: read from the same definitions that validation uses.

use crate::test::{Test, text};

#[test]
fn lists_every_built_in_action_with_its_effect() {
    let out = Test::new().args(["actions"]).run();
    let (stdout, _) = text(&out);
    for (name, effect) in [
        ("core.note", "reads"),
        ("core.manual", "changes"),
        ("check.http", "reads"),
        ("aws.ec2.create_vpc", "creates"),
        ("aws.ec2.stop_instances", "changes"),
        ("aws.elbv2.create_load_balancer", "creates"),
        ("aws.route53.failover_record", "creates"),
        ("aws.route53.wait_change", "reads"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{stdout}"));
        assert!(line.contains(&format!(" {effect} ")), "{line}");
    }
}

#[test]
fn describes_one_action_with_parameters_defaults_outputs_and_undo() {
    let out = Test::new().args(["actions", "aws.ec2.run_instances"]).run();
    let (stdout, _) = text(&out);
    assert!(
        stdout.starts_with("aws.ec2.run_instances (creates)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  image_id (string, required)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  count (integer, default 1)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  wait (boolean, default true)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  instance_ids (list): The instances' ids.\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Undo:\n  terminates the instances and waits until they are terminated\n"),
        "{stdout}"
    );
}

#[test]
fn nested_parameters_are_listed_with_their_path() {
    let out = Test::new()
        .args(["actions", "aws.route53.failover_record"])
        .run();
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("  alias.evaluate_target_health (boolean, default true)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  role (primary|secondary, required)\n"),
        "{stdout}"
    );
}

#[test]
fn json_gives_the_parameter_schema() {
    let out = Test::new()
        .args(["actions", "core.sleep", "--output", "json"])
        .run();
    let def: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(def["name"], "core.sleep");
    assert_eq!(
        def["parameters"]["required"],
        serde_json::json!(["duration"])
    );
    assert_eq!(def["parameters"]["additionalProperties"], false);
}

/// `actions` takes the names of other tools as validation does, and says which it knows.
#[test]
fn an_action_asked_for_by_another_tools_name_is_pointed_to() {
    Test::new()
        .args(["actions", "shell"])
        .status(2)
        .stderr(
            "
            error[usage]: there is no action `shell`
              |
              = help: did you mean `core.exec`?
            ",
        )
        .run();
    let out = Test::new().args(["actions", "core.exec"]).run();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Known elsewhere as:\n  shell, command"),
        "{text}"
    );
}

#[test]
fn an_unknown_action_is_exit_2_with_a_suggestion() {
    Test::new()
        .args(["actions", "aws.ec2.create_vcp"])
        .status(2)
        .stderr(
            "
            error[usage]: there is no action `aws.ec2.create_vcp`
              |
              = help: did you mean `aws.ec2.create_vpc`?
            ",
        )
        .run();
}

/// The actions that can be exercises say so, with where they look and what they compare.
#[test]
fn an_action_that_can_be_an_exercise_says_what_it_checks() {
    let out = Test::new()
        .args(["actions", "aws.route53.failover_record"])
        .run();
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("Exercise (a step's `exercise:`):\n  finds what a learner made by hand"),
        "{stdout}"
    );
    let out = Test::new()
        .args(["actions", "aws.route53.failover_record", "--output", "json"])
        .run();
    let def: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        def["exercise"]["compares"],
        serde_json::json!(["role", "alias", "set_identifier", "health_check_id"])
    );
    let out = Test::new()
        .args(["actions", "aws.ec2.create_vpc", "--output", "json"])
        .run();
    let def: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(def["exercise"].is_null(), "{def}");
}
