//! The one interface between the engine and the actions.
//!
//! The engine hands an action its rendered parameters, an idempotency key, a way to report
//! progress, a way to ask a person, and a cancellation token; it gets back outputs, the
//! resources created (with what their undo needs), and, on failure, whether trying again may help.
//! The engine knows nothing about AWS: AWS actions are just other implementations of
//! [`Executor`].

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use tokio_util::sync::CancellationToken;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`Executor::run`] gives.
pub type Running<'a> = BoxFuture<'a, Result<Outcome, ActionError>>;
/// What [`Executor::reconcile`] gives.
pub type Reconciling<'a> = BoxFuture<'a, Result<Option<Outcome>, ActionError>>;
/// What [`Executor::by_hand`] gives.
pub type Checking<'a> = BoxFuture<'a, Result<ByHand, ActionError>>;
/// What [`Executor::undo`] gives.
pub type Undoing<'a> = BoxFuture<'a, Result<Undone, ActionError>>;
/// What [`Executor::evaluate`] gives: the verdict, and the outcome a run would record when what
/// the step makes is in place (its outputs feed the steps after it).
pub type Evaluating<'a> = BoxFuture<'a, Result<(Verdict, Option<Outcome>), ActionError>>;

/// What `runbook check` says of a step: what running it now would meet, found only by reading.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// What it would make is there, as it would make it.
    InPlace { what: String },
    /// It would run: nothing in its way that can be seen now.
    Ready { why: String },
    /// It would fail, and why; what to do about it.
    WouldFail {
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        fix: Option<String>,
    },
    /// It cannot be told now.
    Unknown { why: String },
    /// A read it needed failed (refused, unreachable): nothing can be said of it, and a failed
    /// read is never taken for a good answer.
    CouldNotLook { why: String },
    /// Its condition is false: a run skips it.
    Skipped { why: String },
}

/// What an action does to the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Creates,
    Changes,
    Deletes,
    Reads,
    /// Runs a command: what it does is unknown to the tool (`core.exec`).
    Runs,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Creates => "creates",
            Effect::Changes => "changes",
            Effect::Deletes => "deletes",
            Effect::Reads => "reads",
            Effect::Runs => "runs a command (effect unknown)",
        }
    }
}

/// An action as the engine sees it: a name for the journal, an effect, and what runs it. The
/// definitions themselves (parameters, docs, AWS facts) live above the engine.
pub trait Action: Sync {
    fn name(&self) -> &'static str;
    fn effect(&self) -> Effect;
    /// What a step of it does with these rendered parameters (a create asked only to find).
    fn effect_of(&self, _params: &Json) -> Effect {
        self.effect()
    }
    fn executor(&self) -> &'static dyn Executor;

    /// The kinds of resource it creates (`hosted zone`, `vpc`), for saying what may exist where
    /// nobody could look.
    fn creates(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// In an exercise, its look for what the learner did is cheap and tells done from not yet:
    /// the run looks by itself while the task is shown.
    fn watches_by_hand(&self) -> bool {
        false
    }
}

impl std::fmt::Debug for dyn Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Finds an action by the name a journal recorded (rollback runs from the journal alone).
pub trait Registry: Sync {
    fn find(&self, name: &str) -> Option<&'static dyn Action>;
}

/// Something an action created, and what its undo needs to remove it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// What it is, for people: `vpc`, `load balancer`, `test resource`.
    pub kind: String,
    /// Its id, for people and for undo.
    pub id: String,
    /// Anything else the undo needs.
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub undo: Json,
    /// For a change made to other resources (instances stopped by a drill): their ids. When the
    /// same rollback removes every one of them, undoing the change is moot and skipped (rollback
    /// does not start instances it is about to terminate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// Where it was made, when not where the run acts (its step's `region:`): its undo acts
    /// there. Absent in journals older than per-step regions, which mean the run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// What one undo found: the resource was removed by this call, or AWS (or whatever holds it)
/// said it no longer existed. Users are told which: a rollback where everything was already gone
/// almost always points at the wrong account, region or endpoint.
///
/// A change to other resources (instances a drill stopped) that this rollback removes anyway is
/// `Moot`: nothing was undone, and it counts as neither removed nor gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Undone {
    Removed,
    AlreadyGone,
    Moot,
}

impl Undone {
    pub fn as_str(self) -> &'static str {
        match self {
            Undone::Removed => "removed",
            Undone::AlreadyGone => "already gone",
            Undone::Moot => "not needed",
        }
    }
}

/// What a successful action returns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub outputs: Map<String, Json>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// The action decided not to act, and why (a manual step under `--yes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// How an action failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionError {
    pub message: String,
    /// Trying again may succeed (throttling, a resource still settling).
    #[serde(default)]
    pub retryable: bool,
    /// How to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The failure is the input's fault (exit 2), not the world's (exit 1).
    #[serde(default)]
    pub invalid_input: bool,
    /// The service's own error code (`DependencyViolation`, `NoSuchHostedZone`), where it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Nothing answered (a refused connection, a call that timed out): worth a few more tries,
    /// not the long wait for something that settles by itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreachable: bool,
}

impl ActionError {
    pub fn new(message: impl Into<String>) -> Self {
        ActionError {
            message: message.into(),
            retryable: false,
            hint: None,
            invalid_input: false,
            code: None,
            unreachable: false,
        }
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        ActionError {
            retryable: true,
            ..ActionError::new(message)
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn invalid_input(mut self) -> Self {
        self.invalid_input = true;
        self
    }

    pub fn cancelled() -> Self {
        ActionError::new("cancelled")
    }
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Live status from a running action ("waiting for change C123 to be INSYNC: PENDING").
pub trait Progress: Send + Sync {
    fn status(&self, text: &str);
    /// A line worth keeping in the log (a note, an instruction).
    fn message(&self, text: &str);
}

/// Questions to a person. Without a terminal nothing can answer: `confirm` returns `None`.
pub trait Ask: Send + Sync {
    fn confirm(&self, question: &str, default: bool) -> Option<bool>;

    /// Before a step runs: the walkthrough's question (run, skip or quit). `None` when nobody
    /// is guided (the default): the step runs, after its own `confirm:` question if it has one.
    /// Ctrl-C was pressed at one of its questions: the person asked to stop, whatever the
    /// question's answer came back as.
    fn interrupted(&self) -> bool {
        false
    }

    fn before_step(&self, _step: &StepIntro<'_>) -> Option<Choice> {
        None
    }

    /// At an exercise: what the learner does next. `None` when nobody can answer (the run stops).
    /// A watched exercise was found done while its prompt waited: `what` was found.
    fn exercise_done(&self, _what: &str) {}

    fn exercise(&self, _exercise: &ExerciseIntro<'_>) -> Option<ExerciseChoice> {
        None
    }
}

/// What the walkthrough shows about a step before it runs.
pub struct StepIntro<'a> {
    /// From 1, in the order of the runbook (modules expanded).
    pub number: usize,
    pub total: usize,
    pub id: &'a str,
    pub title: &'a str,
    pub guide: Option<&'a str>,
    pub action: &'static dyn Action,
    /// Rendered, secrets masked.
    pub params: &'a Json,
    /// The step's own question, answered by choosing to run it.
    pub confirm: Option<&'a str>,
    /// No other step depends on it, so it can be skipped.
    pub skippable: bool,
}

/// What an exercise run shows before the learner acts, and after each check.
pub struct ExerciseIntro<'a> {
    pub step: &'a StepIntro<'a>,
    pub task: &'a str,
    pub hints: &'a [String],
    /// Hints shown so far.
    pub shown: usize,
    /// What the last check found, if there was one.
    pub last: Option<&'a ByHand>,
    /// The last check could not look (AWS refused or did not answer): why.
    pub failed: Option<&'a str>,
    /// What happened since the learner was last asked.
    pub after: After,
    /// The files written for the task: where each is (or why it could not be written).
    pub files: &'a [String],
    /// The run looks by itself this often while the learner works (a watched exercise): an
    /// answer not given by then is [`ExerciseChoice::Look`].
    pub watch: Option<Duration>,
}

/// What an exercise prompt follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// The task was just set.
    Start,
    /// A check (its result is `last` or `failed`).
    Check,
    /// A hint was asked for (the `shown`th).
    Hint,
    /// The run looked by itself and it is not done yet (or the look failed: `failed`).
    Look,
}

/// The learner's answer at an exercise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExerciseChoice {
    /// "Done: check it."
    Check,
    /// No answer yet in a watched exercise: look quietly, and go on if it is done.
    Look,
    /// Show the next hint.
    Hint,
    /// Let the runbook do it.
    Solve,
    /// Stop the run here.
    Quit,
}

/// The walkthrough's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Run,
    Skip,
    /// Stop the run here (as an interrupt: keep or roll back, resume later).
    Quit,
    /// Ctrl-C at the question: the run is interrupted, as by Ctrl-C anywhere else (exit 130),
    /// not quit by choice.
    Interrupted,
}

/// Everything an action gets for one attempt.
pub struct Context<'a> {
    pub run_id: &'a str,
    pub step_id: &'a str,
    /// The same for every attempt of this step in this run, across crashes and resumes: an
    /// action tags what it creates with it so that `reconcile` can find it again.
    pub key: &'a str,
    pub params: &'a Json,
    pub progress: &'a dyn Progress,
    pub ask: &'a dyn Ask,
    /// `--yes`: nobody will answer questions.
    pub yes: bool,
    pub cancel: &'a CancellationToken,
    /// Labels the run puts on everything it creates (as tags, for AWS), besides its own.
    pub labels: &'a [(String, String)],
    /// What the application hands every action of the run (the AWS clients of its target); the
    /// engine only passes it on. `&()` when there is nothing to hand.
    pub services: &'a Services,
    /// When the step's `timeout:` runs out, if it has one: a wait then waits until just before it
    /// instead of its own default deadline.
    pub deadline: Option<tokio::time::Instant>,
    /// For `reconcile`: what it finds will be adopted by the step (a resume, a lost answer), so it
    /// may finish what the earlier attempt began (attach, authorize, wait). `false` when rollback
    /// only looks for what to remove: reconcile must then only read.
    pub adopting: bool,
    /// The learner gave this exercise step to the runbook ("solve"): what they made at its
    /// place is their attempt, which the step replaces (and its rollback removes, never puts
    /// back), rather than refusing it as someone else's.
    pub solving: bool,
    /// What the step declared before it acted ([`Context::declare`]): an earlier attempt's, as
    /// the journal holds it, or this attempt's once it has; for its reconcile after a crash or a
    /// lost answer, and rollback's look.
    pub declared: &'a Declared,
    /// Where [`Context::declare`] writes: the run's journal (`None` outside a run's steps: a
    /// rollback, a sweep, a check, which act on nothing they would need to declare).
    pub journal: Option<&'a super::journal::Journal>,
    /// Where the step acts when not where the run does (its `region:`; for an undo, where the
    /// resource was made). `None`: the run's own. The engine only passes it on.
    pub region: Option<&'a str>,
    /// The run's secret values (empty outside a run's steps): what an action cuts to show or
    /// keep is masked before the cut ([`Context::excerpt`]), so no cut leaves part of a secret.
    pub secrets: &'a [String],
}

/// What an action can be handed besides its parameters; each kind of action looks for its own
/// type in it (the AWS actions for their clients).
pub type Services = dyn std::any::Any + Send + Sync;

/// What a step declared before it acted: see [`Context::declare`].
#[derive(Debug, Default)]
pub struct Declared(std::sync::Mutex<Option<Json>>);

/// For the contexts of what is no run's step (a sweep, a check): nothing declared, and nothing
/// can be (they have no journal).
pub static NOTHING_DECLARED: Declared = Declared(std::sync::Mutex::new(None));

impl Declared {
    pub fn new(intent: Option<Json>) -> Declared {
        Declared(std::sync::Mutex::new(intent))
    }

    /// The latest declared, if any.
    pub fn get(&self) -> Option<Json> {
        self.0.lock().expect("never poisoned").clone()
    }
}

impl Context<'_> {
    /// At most `most` characters of `text`, for an output or a message, with the run's secrets
    /// masked first: masking after the cut would miss a secret the cut split, and show its start.
    pub fn excerpt(&self, text: &str, most: usize) -> String {
        crate::mask::mask_text(text, self.secrets)
            .chars()
            .take(most)
            .collect()
    }

    /// Write down, before acting, what the step's undo will need and could not learn afterwards
    /// (the records a take-over replaces). It is journaled at once, so that a resume's reconcile
    /// or a rollback after a crash or a lost answer finds it as [`Context::declared`]. A journal
    /// that cannot be written fails the step before it acts.
    pub async fn declare(&self, intent: Json) -> Result<(), ActionError> {
        let Some(journal) = self.journal else {
            return Ok(());
        };
        let intent_copy = intent.clone();
        let record = super::journal::Record::StepIntent {
            step: self.step_id.to_owned(),
            intent,
        };
        journal.append(record).await.map_err(|e| {
            ActionError::new(format!(
                "what the step is about to replace could not be journaled, so nothing was done: {e}"
            ))
        })?;
        *self.declared.0.lock().expect("never poisoned") = Some(intent_copy);
        Ok(())
    }

    /// Decode the parameters into the action's own struct.
    /// A rendered value of the wrong type (a template that gave a string where a list belongs)
    /// is named by its parameter, in the words validation uses.
    pub fn params<P: serde::de::DeserializeOwned>(&self) -> Result<P, ActionError> {
        serde_path_to_error::deserialize(self.params.clone()).map_err(|e| {
            let path = e.path().to_string();
            let what = e
                .into_inner()
                .to_string()
                .replace("expected a sequence", "expected a list");
            let message = if path == "." {
                format!("invalid parameters: {what}")
            } else {
                format!("invalid parameter `{path}`: {what}")
            };
            ActionError::new(message)
                .hint("`runbook plan` shows the value each parameter's template gives")
                .invalid_input()
        })
    }

    /// The service of type `T` the run was handed, if it was.
    pub fn service<T: 'static>(&self) -> Option<&T> {
        self.services.downcast_ref::<T>()
    }

    /// Wait, unless the run is cancelled first.
    pub async fn sleep(&self, duration: Duration) -> Result<(), ActionError> {
        tokio::select! {
            () = tokio::time::sleep(duration) => Ok(()),
            () = self.cancel.cancelled() => Err(ActionError::cancelled()),
        }
    }
}

/// What an exercise's check found of what the learner made by hand.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "found", rename_all = "snake_case")]
pub enum ByHand {
    /// One resource, right in every parameter checked: the step adopts it, with this outcome
    /// (its outputs flow on, and rollback removes it like any other).
    Matches { outcome: Outcome, what: String },
    /// One resource in the place the step looks, with differences, each in words ("the record's
    /// failover role is SECONDARY; this step needs PRIMARY").
    Differs {
        what: String,
        differences: Vec<String>,
    },
    /// More than one candidate: which, so the learner can remove the extra ones.
    Several { candidates: Vec<String> },
    /// Nothing: where the check looked, and what it saw there that is not it.
    Nothing { looked: String, seen: Vec<String> },
}

/// What runs an action: defined once per action, next to its parameter struct.
pub trait Executor: Sync {
    /// Do it.
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a>;

    /// Whether `reconcile` looks at all: `false` (the default) when it always answers `None`, so
    /// that "found nothing" can be told from "did not look" (`show --check`).
    fn looks(&self) -> bool {
        false
    }

    /// After a crash between "started" and an outcome, or a failed attempt: find what an earlier
    /// attempt with the same key already created. `Some` adopts it instead of running again (when
    /// `ctx.adopting`), or tells rollback what to remove (when not: then it only reads).
    fn reconcile<'a>(&'a self, _ctx: &'a Context<'a>) -> Reconciling<'a> {
        Box::pin(async { Ok(None) })
    }

    /// An exercise's check: find what a learner made by hand for this step (without the run's
    /// tags: by the step's parameters) and compare the parameters named in `compare`. Only
    /// reads, except that a match may be completed as the step's own (when `ctx.adopting`).
    fn by_hand<'a>(&'a self, _ctx: &'a Context<'a>, _compare: &'a [String]) -> Checking<'a> {
        Box::pin(async {
            Err(ActionError::new(
                "this action cannot check what was made by hand",
            ))
        })
    }

    /// Remove one resource this action created, saying whether it was removed now or was already
    /// gone. A failed read is an error, never "already gone".
    fn undo<'a>(&'a self, _ctx: &'a Context<'a>, _resource: &'a Resource) -> Undoing<'a> {
        Box::pin(async { Ok(Undone::Removed) })
    }

    /// `runbook check`: what running this step now would meet, only reading (the clients refuse
    /// anything else). Steps that only read are run instead; this is for the others.
    fn evaluate<'a>(&'a self, _ctx: &'a Context<'a>) -> Evaluating<'a> {
        Box::pin(async {
            Ok((
                Verdict::Unknown {
                    why: "this action cannot tell what it would meet before it runs".to_owned(),
                },
                None,
            ))
        })
    }
}
