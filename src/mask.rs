//! Secrets out of everything shown or kept: `secret: true` vars' values become `***` in
//! parameters, outputs, journals, reports and `JUnit` files.
//!
//! Masking touches values, never structure: a record's or event's name, its step ids, action
//! names, keys, resource kinds and ids and its times are what they are, even when a secret
//! happens to equal `e`, `vpc`, `run_started` or a year ([`STRUCTURE`]).

use serde_json::Value as Json;

/// The keys of journal records and events that name things rather than carry values: never
/// masked, at any depth.
pub const STRUCTURE: &[&str] = &[
    "event",
    "at",
    "run_id",
    "step",
    "steps",
    "action",
    "key",
    "kind",
    "id",
    "attempt",
    "outcome",
    "student",
    "resources",
    "remaining",
    "already_gone",
    "moot",
    "changed",
];

/// What a secret value becomes.
pub const MASK: &str = "***";

/// Replace every secret value inside strings with `***`.
pub fn mask(value: &mut Json, secrets: &[String]) {
    match value {
        Json::String(s) => {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                if s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), MASK);
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(|v| mask(v, secrets)),
        Json::Object(map) => map.values_mut().for_each(|v| mask(v, secrets)),
        _ => {}
    }
}

/// [`mask`], but never inside the values of [`STRUCTURE`]'s keys: for a whole record or event.
pub fn mask_values(value: &mut Json, secrets: &[String]) {
    match value {
        Json::Object(map) => {
            for (key, v) in map.iter_mut() {
                if !STRUCTURE.contains(&key.as_str()) {
                    mask_values(v, secrets);
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(|v| mask_values(v, secrets)),
        other => mask(other, secrets),
    }
}

/// One text, masked.
pub fn mask_text(text: &str, secrets: &[String]) -> String {
    let mut v = Json::String(text.to_owned());
    mask(&mut v, secrets);
    match v {
        Json::String(s) => s,
        _ => unreachable!("a string stays a string"),
    }
}

/// Whether any string inside `value` holds a secret.
pub fn holds_secret(value: &Json, secrets: &[String]) -> bool {
    match value {
        Json::String(s) => secrets
            .iter()
            .any(|secret| !secret.is_empty() && s.contains(secret.as_str())),
        Json::Array(items) => items.iter().any(|v| holds_secret(v, secrets)),
        Json::Object(map) => map.values().any(|v| holds_secret(v, secrets)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A secret equal to a record's own words masks the values, never the record's name, ids,
    /// kinds or times.
    #[test]
    fn masking_values_leaves_structure_alone() {
        let mut record = json!({
            "at": "2026-12-06T09:00:00.000Z",
            "event": "step_succeeded",
            "step": "vpc",
            "action": "aws.ec2.create_vpc",
            "outputs": {"note": "made vpc with e"},
            "resources": [{"kind": "vpc", "id": "vpc-0e2026"}],
        });
        let secrets = ["vpc", "e", "2026", "step_succeeded"].map(str::to_owned);
        mask_values(&mut record, &secrets);
        assert_eq!(record["event"], "step_succeeded");
        assert_eq!(record["step"], "vpc");
        assert_eq!(record["action"], "aws.ec2.create_vpc");
        assert_eq!(record["at"], "2026-12-06T09:00:00.000Z");
        assert_eq!(
            record["resources"][0],
            json!({"kind": "vpc", "id": "vpc-0e2026"})
        );
        assert_eq!(record["outputs"]["note"], "mad*** *** with ***");
        assert!(holds_secret(&json!({"a": ["x vpc"]}), &secrets));
        assert!(!holds_secret(&json!({"a": ["x"]}), &[String::new()]));
    }
}
