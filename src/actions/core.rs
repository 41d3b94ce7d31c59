//! Core actions: notes, pauses, assertions, computed values and manual steps.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ActionDef, Effect, Outputs, Params, out};
use crate::runbook::format::DurationText;

/// Print a note.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "core.note")]
pub struct NoteParams {
    /// The text to print (templated).
    pub text: String,
}

/// Wait for a while.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "core.sleep")]
pub struct SleepParams {
    /// How long to wait: `30s`, `2m`.
    pub duration: DurationText,
}

/// Fail unless a condition holds.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "core.assert")]
pub struct AssertParams {
    /// The condition, as a template that renders to a boolean: `"{{ steps.web.count > 0 }}"`.
    pub that: serde_json::Value,
    /// What to say when the condition is false.
    pub message: String,
}

/// Computed values: every key becomes an output of the step.
pub type SetParams = IndexMap<String, serde_json::Value>;

/// Something a person does by hand.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "core.manual")]
pub struct ManualParams {
    /// What to do, step by step (templated).
    pub instructions: String,
    /// With `--yes` nobody can confirm: a required manual step then fails (exit 2) instead of
    /// being skipped with a warning.
    #[serde(default)]
    pub required: bool,
    /// What to do by hand to undo it, printed during rollback.
    #[serde(default)]
    pub undo_instructions: Option<String>,
}

pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "core.note",
        summary: "Print a note.",
        docs: "Prints `text` in the run's output. Useful to explain what happens next in a guided run.",
        effect: Effect::Reads,
        params: Params::of::<NoteParams>(),
        outputs: Outputs::Fixed(&[]),
        undo: None,
    },
    ActionDef {
        name: "core.sleep",
        summary: "Wait for a fixed time.",
        docs: "Waits for `duration`. Ctrl-C and the step's `timeout` cancel the wait.",
        effect: Effect::Reads,
        params: Params::of::<SleepParams>(),
        outputs: Outputs::Fixed(&[]),
        undo: None,
    },
    ActionDef {
        name: "core.assert",
        summary: "Fail with a message unless a condition holds.",
        docs: "Renders `that` (a template such as `\"{{ steps.web.instance_ids | length == 2 }}\"`) and fails \
               the step with `message` unless it is true.",
        effect: Effect::Reads,
        params: Params::of::<AssertParams>(),
        outputs: Outputs::Fixed(&[]),
        undo: None,
    },
    ActionDef {
        name: "core.set",
        summary: "Compute values; each key of `with:` becomes an output.",
        docs: "Every key of `with:` is rendered and becomes an output of the step, so later steps can \
               refer to `steps.<id>.<key>`. Use it to name a computed value once.",
        effect: Effect::Reads,
        params: Params::of::<SetParams>(),
        outputs: Outputs::FromParams,
        undo: None,
    },
    ActionDef {
        name: "core.manual",
        summary: "A step a person carries out by hand, then confirms.",
        docs: "Prints `instructions` and waits for the person to confirm that it is done (for example: \
               pointing a domain's name servers at Route 53 at the registrar). With `--yes` nobody can \
               confirm: the step is skipped with a warning, unless `required: true`, which fails the run \
               with exit code 2.",
        effect: Effect::Changes,
        params: Params::of::<ManualParams>(),
        outputs: Outputs::Fixed(&[out(
            "confirmed",
            "boolean",
            "Whether a person confirmed the step.",
        )]),
        undo: Some("prints `undo_instructions`, if any, for a person to carry out"),
    },
];
