//! The execution engine: runs a step graph concurrently, journals every step ahead of time,
//! resumes without duplicates, and rolls back in reverse dependency order.
//!
//! The engine knows neither templates nor AWS. What it runs comes through [`Workflow`] (the
//! runbook layer renders parameters from vars and upstream outputs) and each step's action
//! through [`action::Executor`]. What it tells people goes through [`Reporter`].

pub mod action;
pub mod journal;
pub mod retry;
pub mod rollback;
pub mod runs;
pub mod schedule;
pub mod state;

use std::time::Duration;

use serde_json::{Map, Value as Json};

use action::ActionError;
use journal::UndoStep;

/// One step as the engine sees it.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub title: String,
    /// Indices of the steps this one waits for.
    pub deps: Vec<usize>,
    pub action: &'static dyn action::Action,
    pub timeout: Option<Duration>,
    /// Attempts in all, and the first wait between them.
    pub retry: Option<(u32, Duration)>,
    /// `rollback: skip`.
    pub keep: bool,
    /// A hash of the step's definition, to notice edits between a run and its resume.
    pub hash: String,
}

/// A step ready to run: everything rendered.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub title: String,
    pub params: Json,
    /// `when:` was false: why the step is skipped.
    pub skip: Option<String>,
    /// The question to ask first.
    pub confirm: Option<String>,
    /// The step's `guide:` text, rendered.
    pub guide: Option<String>,
}

/// The outputs of the steps done so far, by step index.
pub type Outputs = std::collections::HashMap<usize, Map<String, Json>>;

/// What the engine runs. Implemented by the runbook layer.
pub trait Workflow: Sync {
    fn steps(&self) -> &[Step];
    /// Render a step against the outputs so far.
    fn prepare(&self, step: usize, done: &Outputs) -> Result<Prepared, String>;
    /// Render the step's own `rollback:` steps, if it has them, once it has succeeded.
    fn undo_steps(&self, step: usize, done: &Outputs) -> Result<Option<Vec<UndoStep>>, String>;
    /// The runbook's `outputs`, rendered.
    fn outputs(&self, done: &Outputs) -> Map<String, Json>;
}

/// Something worth telling: the reporters turn these into lines, spinners or JSON.
#[derive(Debug, Clone)]
pub enum Event {
    RunStarted {
        run_id: String,
        name: String,
        steps: usize,
        resumed: bool,
    },
    StepStarted {
        step: String,
        title: String,
        attempt: u32,
        /// Rendered, secrets masked.
        params: Json,
    },
    StepStatus {
        step: String,
        text: String,
    },
    StepMessage {
        step: String,
        text: String,
    },
    StepRetry {
        step: String,
        attempt: u32,
        wait: Duration,
        error: ActionError,
    },
    StepSucceeded {
        step: String,
        title: String,
        outputs: Map<String, Json>,
        resources: Vec<action::Resource>,
        elapsed: Duration,
        adopted: bool,
    },
    StepSkipped {
        step: String,
        title: String,
        reason: String,
    },
    StepFailed {
        step: String,
        title: String,
        error: ActionError,
        elapsed: Duration,
    },
    /// Cut off in flight by another step's failure or an interrupt: it may have begun something.
    StepCancelled {
        step: String,
        title: String,
        reason: String,
    },
    RunFinished {
        run_id: String,
        status: journal::RunStatus,
        outputs: Map<String, Json>,
    },
    RollbackStarted {
        run_id: String,
        steps: usize,
    },
    UndoStarted {
        step: String,
    },
    UndoSucceeded {
        step: String,
        /// Each resource the undo dealt with, and whether it removed it or found it gone.
        resources: Vec<(action::Resource, action::Undone)>,
    },
    UndoFailed {
        step: String,
        error: ActionError,
        remaining: Vec<action::Resource>,
    },
    RollbackFinished {
        run_id: String,
        complete: bool,
        remaining: Vec<(String, action::Resource)>,
        /// Resources removed by this rollback, and resources it found already gone.
        removed: usize,
        already_gone: usize,
    },
}

/// Where events go.
pub trait Reporter: Send + Sync {
    fn event(&self, event: &Event);
}

/// A failure of the engine itself (not of a step).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
}

/// Progress from one step's action, sent to the reporter as that step's events.
pub(crate) struct StepProgress<'a> {
    pub step: &'a str,
    pub reporter: &'a dyn Reporter,
}

impl action::Progress for StepProgress<'_> {
    fn status(&self, text: &str) {
        self.reporter.event(&Event::StepStatus {
            step: self.step.to_owned(),
            text: text.to_owned(),
        });
    }

    fn message(&self, text: &str) {
        self.reporter.event(&Event::StepMessage {
            step: self.step.to_owned(),
            text: text.to_owned(),
        });
    }
}
