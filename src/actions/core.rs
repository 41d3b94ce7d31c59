//! Core actions: notes, pauses, assertions, computed values and manual steps.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ActionDef, Effect, Outputs, Params, out};
use crate::engine::action::{
    ActionError, Context, Executor, Outcome, Resource, Running, Undoing, Undone,
};
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
    pub undo_instructions: Option<String>,
}

/// Whether a step of this action, with these parameters, asks a person, and whether `--yes`
/// can stand in for the answer (a manual step that is not required is skipped under `--yes`).
pub fn asks(action: &str, params: &serde_json::Value) -> Option<bool> {
    (action == "core.manual").then(|| params["required"].as_bool() != Some(true))
}

pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        summary: "Print a note.",
        docs: "Prints `text` in the run's output. Useful to explain what happens next in a guided run.",
        also: &[
            "print", "echo", "debug", "log", "message", "msg", "say", "notice",
        ],
        ..ActionDef::new(
            "core.note",
            Effect::Reads,
            Params::of::<NoteParams>(),
            &Note,
        )
    },
    ActionDef {
        summary: "Wait for a fixed time.",
        docs: "Waits for `duration`. Ctrl-C and the step's `timeout` cancel the wait.",
        also: &["pause", "delay"],
        follows: true,
        ..ActionDef::new(
            "core.sleep",
            Effect::Reads,
            Params::of::<SleepParams>(),
            &Sleep,
        )
    },
    ActionDef {
        summary: "Fail with a message unless a condition holds.",
        docs: "Renders `that` (a template such as `\"{{ steps.web.instance_ids | length == 2 }}\"`) and fails \
               the step with `message` unless it is true.",
        also: &["verify", "expect", "ensure"],
        follows: true,
        ..ActionDef::new(
            "core.assert",
            Effect::Reads,
            Params::of::<AssertParams>(),
            &Assert,
        )
    },
    ActionDef {
        summary: "Compute values; each key of `with:` becomes an output.",
        docs: "Every key of `with:` is rendered and becomes an output of the step, so later steps can \
               refer to `steps.<id>.<key>`. Use it to name a computed value once.",
        outputs: Outputs::FromParams,
        also: &["set_fact", "let", "var", "variable", "compute"],
        ..ActionDef::new("core.set", Effect::Reads, Params::of::<SetParams>(), &Set)
    },
    ActionDef {
        summary: "A step a person carries out by hand, then confirms.",
        docs: "Prints `instructions` and waits for the person to confirm that it is done (for example: \
               pointing a domain's name servers at Route 53 at the registrar). With `--yes` nobody can \
               confirm: the step is skipped with a warning, unless `required: true`, which fails the run \
               with exit code 2.",
        outputs: Outputs::Fixed(&[out(
            "confirmed",
            "boolean",
            "Whether a person confirmed the step.",
        )]),
        undo: Some("prints `undo_instructions`, if any, for a person to carry out"),
        also: &[
            "prompt", "confirm", "ask", "approve", "approval", "by_hand", "human", "gate",
        ],
        ..ActionDef::new(
            "core.manual",
            Effect::Changes,
            Params::of::<ManualParams>(),
            &Manual,
        )
    },
];

struct Note;

impl Executor for Note {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: NoteParams = ctx.params()?;
            ctx.progress.message(&p.text);
            Ok(Outcome::default())
        })
    }
}

struct Sleep;

impl Executor for Sleep {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: SleepParams = ctx.params()?;
            ctx.progress.status(&format!("sleeping for {}", p.duration));
            ctx.sleep(p.duration.0).await?;
            Ok(Outcome::default())
        })
    }
}

struct Assert;

impl Executor for Assert {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: AssertParams = ctx.params()?;
            if crate::runbook::render::truthy(&p.that) {
                Ok(Outcome::default())
            } else {
                Err(ActionError::new(p.message))
            }
        })
    }
}

struct Set;

impl Executor for Set {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: SetParams = ctx.params()?;
            Ok(Outcome {
                outputs: p.into_iter().collect(),
                ..Outcome::default()
            })
        })
    }
}

struct Manual;

impl Executor for Manual {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: ManualParams = ctx.params()?;
            // Instructions for someone who will do them: not when the step is skipped (--yes).
            let answer = if ctx.yes {
                None
            } else {
                ctx.progress.message(&p.instructions);
                ctx.ask.confirm("Done?", false)
            };
            let mut outcome = Outcome::default();
            if let Some(undo) = &p.undo_instructions {
                outcome.resources.push(Resource {
                    kind: "manual step".into(),
                    id: ctx.step_id.to_owned(),
                    undo: serde_json::json!({ "instructions": undo }),
                    changed: Vec::new(),
                    region: None,
                });
            }
            match answer {
                Some(true) => {
                    outcome.outputs.insert("confirmed".into(), true.into());
                    Ok(outcome)
                }
                Some(false) => Err(ActionError::new("the manual step was not done")
                    .hint("do it and resume the run, or roll it back")),
                None if p.required => Err(ActionError::new(
                    "this manual step is required, and nobody can confirm it without a terminal or with --yes",
                )
                .hint("run on a terminal without --yes to confirm it by hand")
                .invalid_input()),
                None => {
                    outcome.skipped = Some("a manual step, and nobody can confirm it with --yes or without a terminal".into());
                    outcome.outputs.insert("confirmed".into(), false.into());
                    Ok(outcome)
                }
            }
        })
    }

    fn undo<'a>(&'a self, ctx: &'a Context<'a>, resource: &'a Resource) -> Undoing<'a> {
        Box::pin(async move {
            if let Some(text) = resource.undo.get("instructions").and_then(|v| v.as_str()) {
                ctx.progress.message(&format!("by hand: {text}"));
            }
            Ok(Undone::Removed)
        })
    }
}
