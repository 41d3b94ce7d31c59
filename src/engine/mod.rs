//! The execution engine: runs a step graph concurrently, journals every step ahead of time,
//! resumes without duplicates, and rolls back in reverse dependency order.
//!
//! The engine knows neither templates nor AWS. What it runs comes through [`Workflow`] (the
//! runbook layer renders parameters from vars and upstream outputs) and each step's action
//! through [`action::Executor`]. What it tells people goes through [`Reporter`].

pub mod action;
pub mod check;
pub mod journal;
pub mod retry;
pub mod rollback;
pub mod runs;
pub mod schedule;
pub mod state;
pub mod store;

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
    /// Those of `deps` whose outputs it reads (the others it only follows, `needs:`): a step
    /// that reads what a skipped step would have made is skipped too.
    pub reads: Vec<usize>,
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
    /// The step's `exercise:`, rendered: done by hand in an exercise run.
    pub exercise: Option<Exercise>,
    /// Where the step acts when that is not where the run does (its `region:`), rendered.
    pub region: Option<String>,
}

/// A step a learner does by hand, and the runbook checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Exercise {
    pub task: String,
    pub hints: Vec<String>,
    /// The parameters the check compares.
    pub compare: Vec<String>,
    /// Files written for the learner when the task is shown: name and content.
    pub files: Vec<(String, String)>,
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
        /// Made by hand by a learner (an exercise), and adopted by the run.
        by_hand: bool,
    },
    /// An exercise's task, shown to the learner.
    ExerciseShown {
        step: String,
        task: String,
    },
    /// What an exercise's check found: `matches` (then adopted), `differs`, `several` or
    /// `nothing`, with the differences, candidates or where it looked.
    ExerciseChecked {
        step: String,
        found: String,
        /// The resource found, in words.
        what: Option<String>,
        details: Vec<String>,
    },
    /// The learner asked for a hint (the number, from 1).
    ExerciseHint {
        step: String,
        hint: usize,
    },
    /// The learner let the runbook do the step.
    ExerciseSolved {
        step: String,
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
        /// Only some of the run's steps are undone, to run them again (`resume --from`, a
        /// class's rebuild): the run is not rolled back.
        part: bool,
        /// Steps with something to undo (or to look for: one that stopped part way).
        steps: usize,
        /// The resources those steps are known to have made or changed.
        resources: usize,
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
        /// See `RollbackStarted`.
        part: bool,
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
    /// A step made resources and the journal could not record them (the lease was lost while its
    /// call was in flight, or the store failed): nobody's rollback knows them; they carry the
    /// run's tags.
    #[error("{source}; step `{step}` made {} that the journal does not hold", resources.iter().map(|r| format!("{} {}", r.kind, r.id)).collect::<Vec<_>>().join(", "))]
    Unrecorded {
        source: journal::JournalError,
        run_id: String,
        step: String,
        resources: Vec<action::Resource>,
    },
}

/// Progress from one step's action, sent to the reporter as that step's events. It remembers
/// when the action last said something, for [`StepProgress::watch`].
pub(crate) struct StepProgress<'a> {
    step: &'a str,
    reporter: &'a dyn Reporter,
    /// When the action last said something, and its last status.
    last: std::sync::Mutex<(tokio::time::Instant, String)>,
}

impl<'a> StepProgress<'a> {
    pub fn new(step: &'a str, reporter: &'a dyn Reporter) -> Self {
        StepProgress {
            step,
            reporter,
            last: std::sync::Mutex::new((tokio::time::Instant::now(), String::new())),
        }
    }

    /// What the action last said it was doing, if anything.
    pub fn last_status(&self) -> Option<String> {
        let last = self.last.lock().expect("never poisoned");
        (!last.1.is_empty()).then(|| last.1.clone())
    }

    fn heard(&self, status: Option<&str>) {
        let mut last = self.last.lock().expect("never poisoned");
        last.0 = tokio::time::Instant::now();
        if let Some(text) = status {
            text.clone_into(&mut last.1);
        }
    }

    /// Run `work`; whenever its action has said nothing for `quiet` (a call that does not
    /// answer, a slow one), say so on the step's status with what it was last doing, so that
    /// nothing waits silently. `None` never says.
    pub async fn watch<T>(&self, quiet: Option<Duration>, work: impl Future<Output = T>) -> T {
        let Some(quiet) = quiet.filter(|q| !q.is_zero()) else {
            return work.await;
        };
        self.heard(None);
        let watch = async {
            loop {
                let since = self.last.lock().expect("never poisoned").0;
                tokio::time::sleep_until(since + quiet).await;
                let (since, doing) = self.last.lock().expect("never poisoned").clone();
                let silent = since.elapsed();
                if silent >= quiet {
                    let silent = Duration::from_secs(silent.as_secs());
                    let text = if doing.is_empty() {
                        format!("nothing new for {}", humantime::format_duration(silent))
                    } else {
                        format!(
                            "{doing} (nothing new for {})",
                            humantime::format_duration(silent)
                        )
                    };
                    // Said without resetting the silence: the next notice says how long in all.
                    self.reporter.event(&Event::StepStatus {
                        step: self.step.to_owned(),
                        text,
                    });
                    tokio::time::sleep(quiet).await;
                }
            }
        };
        tokio::pin!(work);
        tokio::select! {
            out = &mut work => out,
            () = watch => unreachable!("the watch never ends"),
        }
    }
}

impl action::Progress for StepProgress<'_> {
    fn status(&self, text: &str) {
        self.heard(Some(text));
        self.reporter.event(&Event::StepStatus {
            step: self.step.to_owned(),
            text: text.to_owned(),
        });
    }

    fn message(&self, text: &str) {
        self.heard(None);
        self.reporter.event(&Event::StepMessage {
            step: self.step.to_owned(),
            text: text.to_owned(),
        });
    }
}
