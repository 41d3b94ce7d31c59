//! Actions for the engine's tests only (cargo feature `test-actions`, never in a shipped build).
//!
//! `test.create` creates a resource as a file in the store folder named by `RUNBOOK_TEST_STORE`,
//! tagged with the step's idempotency key so that `reconcile` finds it after a crash, and undo
//! deletes it. Every call is appended to `calls.log` in the store with a millisecond timestamp,
//! so tests can check order and overlap. `test.fail` fails on demand.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ActionDef, Effect, Outputs, Params, out};
use crate::engine::action::{
    ActionError, Context, Executor, Outcome, Reconciling, Resource, Running, Undoing, Undone,
};
use crate::runbook::format::DurationText;

/// Create a resource in the test store.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "test.create")]
#[allow(clippy::struct_excessive_bools)] // each is one fault a test can ask for
pub struct CreateParams {
    /// The resource's name (its file in the store).
    pub name: String,
    /// Wait this long before creating.
    pub sleep: Option<DurationText>,
    /// Wait this long after creating, before returning (a window for crashes mid-step).
    pub sleep_after: Option<DurationText>,
    /// Fail this many attempts (retryably) before succeeding.
    #[serde(default)]
    pub fail_attempts: u32,
    /// Make the undo of this resource fail.
    #[serde(default)]
    pub undo_fails: bool,
    /// Make the undo of this resource fail (retryably) this many times first.
    #[serde(default)]
    pub undo_fail_attempts: u32,
    /// Make the undo of this resource take this long.
    pub undo_sleep: Option<DurationText>,
    /// Create, then fail retryably as if the answer was lost on the way back.
    #[serde(default)]
    pub lose_answer: bool,
    /// Make reconcile fail (a describe call that does not answer).
    #[serde(default)]
    pub reconcile_fails: bool,
    /// Create, then fail for good (a follow-up call of a create that failed): the resource
    /// exists, and the journal lists none.
    #[serde(default)]
    pub fail_after_create: bool,
}

/// Fail.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "test.fail")]
pub struct FailParams {
    pub message: Option<String>,
    #[serde(default)]
    pub retryable: bool,
    /// Wait this long before failing.
    pub sleep: Option<DurationText>,
}

pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        summary: "Create a resource in the test store (tests only).",
        docs: "Creates a file in the folder named by RUNBOOK_TEST_STORE.",
        outputs: Outputs::Fixed(&[out("id", "string", "The resource's id.")]),
        undo: Some("deletes the file"),
        creates: &[crate::actions::aws::kinds::TEST_RESOURCE],
        ..ActionDef::new(
            "test.create",
            Effect::Creates,
            Params::of::<CreateParams>(),
            &Create,
        )
    },
    ActionDef {
        summary: "Fail (tests only).",
        docs: "Fails with `message`.",
        ..ActionDef::new(
            "test.fail",
            Effect::Reads,
            Params::of::<FailParams>(),
            &Fail,
        )
    },
];

fn store() -> Result<PathBuf, ActionError> {
    std::env::var_os("RUNBOOK_TEST_STORE")
        .map(PathBuf::from)
        .ok_or_else(|| ActionError::new("RUNBOOK_TEST_STORE is not set").invalid_input())
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Append `what` to the store's call log.
fn log(what: &str) -> Result<(), ActionError> {
    let path = store()?.join("calls.log");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| ActionError::new(e.to_string()))?;
    writeln!(f, "{} {what}", now_ms()).map_err(|e| ActionError::new(e.to_string()))
}

fn resource_file(name: &str) -> Result<PathBuf, ActionError> {
    Ok(store()?.join(format!("{name}.resource")))
}

fn outcome(name: &str) -> Outcome {
    let mut o = Outcome::default();
    o.outputs.insert("id".into(), name.into());
    o.resources.push(Resource {
        kind: crate::actions::aws::kinds::TEST_RESOURCE.into(),
        id: name.to_owned(),
        undo: serde_json::Value::Null,
        changed: Vec::new(),
        region: None,
    });
    o
}

struct Create;

impl Executor for Create {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: CreateParams = ctx.params()?;
            log(&format!("start {}", ctx.step_id))?;
            if let Some(d) = p.sleep {
                ctx.progress
                    .status(&format!("waiting {d} before creating {}", p.name));
                ctx.sleep(d.0).await?;
            }
            let attempts = store()?.join(format!("{}.attempts", p.name));
            let n: u32 = std::fs::read_to_string(&attempts)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0)
                + 1;
            std::fs::write(&attempts, n.to_string())
                .map_err(|e| ActionError::new(e.to_string()))?;
            if n <= p.fail_attempts {
                log(&format!("fail {} attempt {n}", ctx.step_id))?;
                return Err(ActionError::retryable(format!(
                    "attempt {n} failed on purpose"
                )));
            }
            let file = resource_file(&p.name)?;
            // How many times this resource was created, in the same write as the resource itself:
            // a kill between the write and the log line cannot hide a second creation.
            let created = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["created"].as_u64())
                .unwrap_or(0)
                + 1;
            let body = serde_json::json!({
                "created": created,
                "key": ctx.key,
                "name": p.name,
                "undo_fails": p.undo_fails,
                "undo_fail_attempts": p.undo_fail_attempts,
                "undo_sleep_ms": p.undo_sleep.map_or(0, |d| d.0.as_millis()),
            });
            std::fs::write(&file, body.to_string()).map_err(|e| ActionError::new(e.to_string()))?;
            log(&format!("create {} {}", ctx.step_id, p.name))?;
            if p.fail_after_create {
                return Err(ActionError::new(format!(
                    "{} was created, then its follow-up call failed (on purpose)",
                    p.name
                )));
            }
            if p.lose_answer {
                return Err(ActionError::retryable(
                    "could not reach the endpoint (the answer was lost)",
                ));
            }
            if let Some(d) = p.sleep_after {
                ctx.sleep(d.0).await?;
            }
            log(&format!("end {}", ctx.step_id))?;
            Ok(outcome(&p.name))
        })
    }

    fn looks(&self) -> bool {
        true
    }

    fn reconcile<'a>(&'a self, ctx: &'a Context<'a>) -> Reconciling<'a> {
        Box::pin(async move {
            let p: CreateParams = ctx.params()?;
            if p.reconcile_fails {
                log(&format!("reconcile {} failed", ctx.step_id))?;
                return Err(ActionError::retryable(
                    "the store does not answer (on purpose)",
                ));
            }
            let found = std::fs::read_to_string(resource_file(&p.name)?)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .is_some_and(|v| v["key"] == ctx.key);
            log(&format!(
                "reconcile {} {}",
                ctx.step_id,
                if found { "found" } else { "none" }
            ))?;
            Ok(found.then(|| outcome(&p.name)))
        })
    }

    fn undo<'a>(&'a self, ctx: &'a Context<'a>, resource: &'a Resource) -> Undoing<'a> {
        Box::pin(async move {
            let file = resource_file(&resource.id)?;
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let tries = store()?.join(format!("{}.undo-attempts", resource.id));
            let n: u64 = std::fs::read_to_string(&tries)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0)
                + 1;
            std::fs::write(&tries, n.to_string()).map_err(|e| ActionError::new(e.to_string()))?;
            if n <= body["undo_fail_attempts"].as_u64().unwrap_or(0) {
                log(&format!("undo-retry {} {}", ctx.step_id, resource.id))?;
                return Err(ActionError::retryable(format!(
                    "{} is still in use (DependencyViolation, on purpose)",
                    resource.id
                )));
            }
            if let Some(ms) = body["undo_sleep_ms"].as_u64().filter(|ms| *ms > 0) {
                log(&format!("undo-wait {} {}", ctx.step_id, resource.id))?;
                // A wait, as an AWS undo's wait for deletion: cancelled with the rollback.
                ctx.sleep(std::time::Duration::from_millis(ms)).await?;
            }
            if text.contains("\"undo_fails\":true") {
                log(&format!("undo-fail {} {}", ctx.step_id, resource.id))?;
                return Err(ActionError::new(format!(
                    "{} cannot be removed (on purpose)",
                    resource.id
                ))
                .hint("remove it by hand, then roll back again"));
            }
            let how = match std::fs::remove_file(&file) {
                Ok(()) => Undone::Removed,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Undone::AlreadyGone,
                Err(e) => return Err(ActionError::new(e.to_string())),
            };
            log(&format!("undo {} {}", ctx.step_id, resource.id))?;
            Ok(how)
        })
    }
}

struct Fail;

impl Executor for Fail {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: FailParams = ctx.params()?;
            if let Some(d) = p.sleep {
                ctx.sleep(d.0).await?;
            }
            log(&format!("fail {}", ctx.step_id))?;
            let message = p.message.unwrap_or_else(|| "failed on purpose".into());
            Err(if p.retryable {
                ActionError::retryable(message)
            } else {
                ActionError::new(message)
            })
        })
    }
}
