//! `runbook schema`: a JSON Schema that accepts every shipped runbook and rejects broken ones.

use crate::examples::shipped;
use crate::test::{Test, root};

fn schema() -> serde_json::Value {
    let out = Test::new().args(["schema"]).run();
    serde_json::from_slice(&out.stdout).expect("the schema is JSON")
}

/// YAML to JSON through the project's own located parser (as the language server would see it).
fn yaml_to_json(text: &str) -> serde_json::Value {
    runbook::runbook::yaml::parse(text, runbook::runbook::source::FileId::default())
        .expect("valid YAML")
        .to_json()
}

#[test]
fn the_schema_accepts_every_shipped_runbook() {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    for file in shipped() {
        let doc = yaml_to_json(&std::fs::read_to_string(&file).expect("readable"));
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{}:\n{}",
            file.display(),
            errors.join("\n")
        );
    }
}

#[test]
fn the_schema_rejects_what_validation_rejects() {
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
    for case in [
        "unknown-parameter",
        "missing-parameter",
        "unknown-key__step",
        "unsupported-version",
        "unknown-action",
        "wrong-type__parameter",
    ] {
        let text = std::fs::read_to_string(root().join(format!("tests/invalid/{case}.yaml")))
            .expect("the case exists");
        assert!(
            !validator.is_valid(&yaml_to_json(&text)),
            "the schema accepts tests/invalid/{case}.yaml"
        );
    }
}

#[test]
fn templates_are_accepted_where_a_parameter_wants_another_type() {
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
    let doc = yaml_to_json(
        "runbook: 1\nname: T\nsteps:\n  - id: web\n    action: aws.ec2.run_instances\n    with:\n      image_id: ami-1\n      subnet_id: s\n      name: w\n      count: \"{{ vars.n }}\"\n      security_group_ids: \"{{ steps.sg.ids }}\"\n",
    );
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}
