//! Running the step graph: a step starts when everything it depends on is done; independent
//! steps run side by side up to the parallelism; after a failure or an interrupt no new step
//! starts and the running ones are cancelled at their next wait.

use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::{FutureExt, LocalBoxFuture};
use futures::stream::FuturesUnordered;
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use super::action::{
    ActionError, After, Ask, ByHand, Choice, Context, ExerciseChoice, ExerciseIntro, Outcome,
    Progress,
};
use super::journal::{Journal, Record, RunStatus};
use super::retry::Backoff;
use super::state::{RunState, StepState};
use super::{EngineError, Event, Outputs, Prepared, Reporter, Workflow};
use crate::mask::mask;

pub struct Options {
    pub parallelism: usize,
    /// `--yes`: answer every question yes, never prompt.
    pub yes: bool,
    /// Values never to write or show (secret vars).
    pub secrets: Vec<String>,
    /// Labels for everything the run creates.
    pub labels: Vec<(String, String)>,
    /// A step whose action says nothing for this long says so, with what it was doing.
    pub quiet_after: Option<Duration>,
    /// An exercise run: the learner does the exercise steps by hand, and the run checks them.
    pub exercise: bool,
    /// Where an exercise's files are written for the learner (`run.files`).
    pub files_dir: Option<std::path::PathBuf>,
    /// Pause before these steps: they and every step that needs one (directly or through
    /// others) wait, the rest run, and the run ends paused. A step id the runbook lacks holds
    /// nothing (the application checks them first).
    pub until: Vec<String>,
}

/// One run being driven.
pub struct Run<'a> {
    pub run_id: &'a str,
    pub workflow: &'a dyn Workflow,
    pub journal: &'a Journal,
    pub reporter: &'a dyn Reporter,
    pub ask: &'a dyn Ask,
    pub options: Options,
    /// Cancelled by an interrupt.
    pub interrupt: CancellationToken,
    /// Set when the person at the terminal chose to quit (rather than pressing Ctrl-C).
    pub quit: std::sync::atomic::AtomicBool,
    /// Handed to every action (`Context::services`).
    pub services: &'a super::action::Services,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Succeeded,
    Failed {
        step: String,
        error: ActionError,
    },
    Interrupted,
    /// The person at the terminal chose to quit before a step.
    Quit,
    /// Every step ran but those it was to pause before (`until`) and those that need them.
    Paused {
        before: Vec<String>,
    },
}

enum Status {
    Pending,
    Running,
    Done,
    Skipped,
    Failed,
}

enum StepResult {
    Succeeded {
        outcome: Outcome,
        adopted: bool,
        by_hand: bool,
        elapsed: Duration,
    },
    Skipped(String),
    Failed {
        error: ActionError,
        elapsed: Duration,
    },
    /// Cancelled mid-way: no outcome is journaled, so a resume reconciles it.
    Cancelled,
    /// The person chose to stop before this step: nothing ran, the run stops as if interrupted.
    Quit,
    /// Ctrl-C at the question before this step: nothing ran, and the run is interrupted.
    Interrupted,
}

impl StepResult {
    /// What a step that acts in its own region made is marked with it, so its undo acts there.
    fn made_in(mut self, region: Option<String>) -> Self {
        if let (Some(region), StepResult::Succeeded { outcome, .. }) = (region, &mut self) {
            for r in &mut outcome.resources {
                r.region.get_or_insert_with(|| region.clone());
            }
        }
        self
    }
}

fn masked_map(
    map: &serde_json::Map<String, Json>,
    secrets: &[String],
) -> serde_json::Map<String, Json> {
    let mut v = Json::Object(map.clone());
    mask(&mut v, secrets);
    match v {
        Json::Object(m) => m,
        _ => unreachable!("a map stays a map"),
    }
}

/// Which steps wait for `until`: those steps and every step that needs one, directly or through
/// others.
fn held(steps: &[super::Step], until: &[String]) -> Vec<bool> {
    let mut held: Vec<bool> = steps.iter().map(|s| until.contains(&s.id)).collect();
    // Dependencies may be declared after their dependents: spread until nothing changes.
    loop {
        let mut changed = false;
        for (i, step) in steps.iter().enumerate() {
            if !held[i] && step.deps.iter().any(|&d| held[d]) {
                held[i] = true;
                changed = true;
            }
        }
        if !changed {
            return held;
        }
    }
}

impl Run<'_> {
    async fn journal(&self, record: Record) -> Result<(), EngineError> {
        self.journal.append(record).await?;
        Ok(())
    }

    /// Run every step not done yet. `prior` is the state from the journal (empty for a new run).
    pub async fn execute(&self, prior: &RunState) -> Result<Finish, EngineError> {
        let steps = self.workflow.steps();
        let mut status: Vec<Status> = Vec::with_capacity(steps.len());
        let mut outputs = Outputs::new();
        for (i, step) in steps.iter().enumerate() {
            status.push(match prior.steps.get(&step.id) {
                Some(StepState::Succeeded(done)) => {
                    outputs.insert(i, done.outputs.clone());
                    Status::Done
                }
                Some(StepState::Skipped(_)) => Status::Skipped,
                _ => Status::Pending,
            });
        }
        let held = held(steps, &self.options.until);
        let cancel = self.interrupt.child_token();
        // Steps whose rendered parameters hold a secret: their outputs may echo it, and are masked
        // where they are kept; other steps' outputs are kept as they are (an id that happens to
        // contain a secret's letters is still the id later steps and a resume need).
        let mut from_secret = vec![false; steps.len()];
        let mut running: FuturesUnordered<LocalBoxFuture<'_, (usize, StepResult)>> =
            FuturesUnordered::new();
        let mut failure: Option<(String, ActionError)> = None;
        loop {
            let stopping = failure.is_some() || cancel.is_cancelled();
            if !stopping {
                for i in 0..steps.len() {
                    if running.len() >= self.options.parallelism.max(1) {
                        break;
                    }
                    let ready = matches!(status[i], Status::Pending)
                        && !held[i]
                        && steps[i]
                            .deps
                            .iter()
                            .all(|&d| matches!(status[d], Status::Done | Status::Skipped));
                    if !ready {
                        continue;
                    }
                    match self.prepare(i, &outputs, &status) {
                        Err(result) => {
                            status[i] = Status::Running;
                            running.push(async move { (i, result) }.boxed_local());
                        }
                        Ok(prepared) => {
                            status[i] = Status::Running;
                            from_secret[i] =
                                crate::mask::holds_secret(&prepared.params, &self.options.secrets);
                            // An attempt that may have created something: interrupted, or a
                            // create that failed after its create call.
                            let (prior_key, declared) = match prior.steps.get(&steps[i].id) {
                                Some(StepState::Started { intent, .. }) => (true, intent.clone()),
                                Some(StepState::Failed(_, Some(tried))) => (
                                    steps[i].action.effect() == super::action::Effect::Creates,
                                    tried.intent.clone(),
                                ),
                                _ => (false, None),
                            };
                            let cancel = cancel.clone();
                            let key = super::state::step_key(
                                self.run_id,
                                &steps[i].id,
                                prior.generations.get(&steps[i].id).copied().unwrap_or(0),
                            );
                            running.push(
                                async move {
                                    let region = prepared.region.clone();
                                    let earlier = Earlier {
                                        reconcile: prior_key,
                                        declared,
                                    };
                                    let result =
                                        self.attempt(i, prepared, &key, earlier, &cancel).await;
                                    (i, result.made_in(region))
                                }
                                .boxed_local(),
                            );
                        }
                    }
                }
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                Some((i, result)) = running.next() => {
                    let failed = failure.as_ref().map(|(s, _): &(String, ActionError)| s.clone());
                    if let Some(error) =
                        self.finish_step(i, result, failed.as_deref(), from_secret[i], &mut status, &mut outputs).await?
                    {
                        if failure.is_none() {
                            failure = Some((steps[i].id.clone(), error));
                            cancel.cancel();
                        }
                    }
                }
                () = cancel.cancelled(), if !cancel.is_cancelled() => {}
            }
        }
        let (finish, run_status) = match failure {
            Some((step, error)) => (Finish::Failed { step, error }, RunStatus::Failed),
            None if self.interrupt.is_cancelled() => {
                let quit = self.quit.load(std::sync::atomic::Ordering::SeqCst);
                (
                    if quit {
                        Finish::Quit
                    } else {
                        Finish::Interrupted
                    },
                    RunStatus::Interrupted,
                )
            }
            None if status.iter().zip(&held).any(|(s, held)| {
                matches!(s, Status::Failed) || (matches!(s, Status::Pending) && !held)
            }) =>
            {
                (Finish::Interrupted, RunStatus::Interrupted)
            }
            None if status
                .iter()
                .zip(&held)
                .any(|(s, held)| matches!(s, Status::Pending) && *held) =>
            {
                let before = self.options.until.clone();
                (Finish::Paused { before }, RunStatus::Paused)
            }
            None => (Finish::Succeeded, RunStatus::Succeeded),
        };
        self.journal(Record::RunFinished { status: run_status })
            .await?;
        let mut final_outputs = Json::Object(if finish == Finish::Succeeded {
            self.workflow.outputs(&outputs)
        } else {
            serde_json::Map::new()
        });
        mask(&mut final_outputs, &self.options.secrets);
        self.reporter.event(&Event::RunFinished {
            run_id: self.run_id.to_owned(),
            status: run_status,
            outputs: final_outputs.as_object().cloned().unwrap_or_default(),
        });
        Ok(finish)
    }

    /// Render a step and settle `when` and `confirm`; `Err` is an immediate result.
    fn prepare(
        &self,
        i: usize,
        outputs: &Outputs,
        status: &[Status],
    ) -> Result<Prepared, StepResult> {
        let steps = self.workflow.steps();
        let prepared = match self.workflow.prepare(i, outputs) {
            Ok(p) => p,
            Err(e) => {
                let skipped: Vec<&str> = steps[i]
                    .reads
                    .iter()
                    .filter(|&&d| matches!(status[d], Status::Skipped))
                    .map(|&d| steps[d].id.as_str())
                    .collect();
                return Err(if skipped.is_empty() {
                    StepResult::Failed {
                        error: ActionError::new(format!("cannot render its parameters: {e}"))
                            .invalid_input(),
                        elapsed: Duration::ZERO,
                    }
                } else {
                    StepResult::Skipped(format!(
                        "it reads the outputs of skipped step `{}`",
                        skipped.join("`, `")
                    ))
                });
            }
        };
        if let Some(reason) = prepared.skip {
            return Err(StepResult::Skipped(reason));
        }
        if self.options.exercise && prepared.exercise.is_some() {
            // The learner does it: the exercise's own prompt replaces the walkthrough's question
            // and the step's `confirm:` (see `attempt`).
            return Ok(prepared);
        }
        let guided = if self.options.yes {
            None
        } else {
            let mut params = prepared.params.clone();
            mask(&mut params, &self.options.secrets);
            let intro = super::action::StepIntro {
                number: i + 1,
                total: steps.len(),
                id: &steps[i].id,
                title: &prepared.title,
                guide: prepared.guide.as_deref(),
                action: steps[i].action,
                params: &params,
                confirm: prepared.confirm.as_deref(),
                skippable: !steps.iter().any(|s| s.deps.contains(&i)),
            };
            self.ask.before_step(&intro)
        };
        match guided {
            Some(Choice::Skip) => return Err(StepResult::Skipped("you chose to skip it".into())),
            Some(Choice::Quit) => return Err(StepResult::Quit),
            Some(Choice::Interrupted) => return Err(StepResult::Interrupted),
            Some(Choice::Run) => return Ok(prepared),
            None => {}
        }
        if let (Some(question), false) = (&prepared.confirm, self.options.yes) {
            let answer = self.ask.confirm(question, false);
            // Ctrl-C at the question, or an interrupt heard while it was asked: the step does
            // not start, whatever the answer.
            if self.ask.interrupted() || self.interrupt.is_cancelled() {
                return Err(StepResult::Interrupted);
            }
            match answer {
                Some(true) => {}
                Some(false) => {
                    return Err(StepResult::Skipped(
                        "you answered no to its question".into(),
                    ));
                }
                None => {
                    return Err(StepResult::Failed {
                        error: ActionError::new(format!(
                            "the step asks \"{question}\" and nobody can answer without a terminal"
                        ))
                        .hint("run with --yes to answer yes")
                        .invalid_input(),
                        elapsed: Duration::ZERO,
                    });
                }
            }
        }
        Ok(prepared)
    }

    /// Reconcile (after a crash), then run with timeout and retries.
    async fn attempt(
        &self,
        i: usize,
        prepared: Prepared,
        key: &str,
        earlier: Earlier,
        cancel: &CancellationToken,
    ) -> StepResult {
        let reconcile_first = earlier.reconcile;
        let declared = super::action::Declared::new(earlier.declared);
        let step = &self.workflow.steps()[i];
        let progress = super::StepProgress::new(&step.id, self.reporter);
        let mut ctx = Context {
            run_id: self.run_id,
            step_id: &step.id,
            key,
            params: &prepared.params,
            progress: &progress,
            ask: self.ask,
            yes: self.options.yes,
            cancel,
            labels: &self.options.labels,
            services: self.services,
            adopting: true,
            solving: false,
            declared: &declared,
            journal: Some(self.journal),
            deadline: None,
            secrets: &self.options.secrets,
            region: prepared.region.as_deref(),
        };
        let executor = step.action.executor();
        let started = Instant::now();
        if let (true, false, Some(exercise)) =
            (self.options.exercise, reconcile_first, &prepared.exercise)
        {
            if let Some(result) = self.exercise(i, &prepared, exercise, &ctx).await {
                return result;
            }
            // Solved: the runbook does the step, as in any run, in place of the learner's
            // attempt if they made one.
            ctx.solving = true;
        }
        if reconcile_first {
            progress.status("checking what an interrupted attempt left");
            match executor.reconcile(&ctx).await {
                Ok(Some(outcome)) => {
                    return StepResult::Succeeded {
                        outcome,
                        adopted: true,
                        by_hand: false,
                        elapsed: started.elapsed(),
                    };
                }
                Ok(None) => {}
                Err(error) => {
                    return StepResult::Failed {
                        error,
                        elapsed: started.elapsed(),
                    };
                }
            }
        }
        let (attempts, first_wait) = step.retry.unwrap_or((1, Duration::ZERO));
        let mut backoff = Backoff::new(first_wait, Duration::MAX);
        let mut params = prepared.params.clone();
        mask(&mut params, &self.options.secrets);
        for attempt in 1..=attempts.max(1) {
            let record = Record::StepStarted {
                step: step.id.clone(),
                action: step.action.name().into(),
                key: key.to_owned(),
                attempt,
                params: params.clone(),
                region: prepared.region.clone(),
            };
            if let Err(e) = self.journal(record).await {
                return StepResult::Failed {
                    error: ActionError::new(e.to_string()),
                    elapsed: started.elapsed(),
                };
            }
            self.reporter.event(&Event::StepStarted {
                step: step.id.clone(),
                title: prepared.title.clone(),
                attempt,
                params: params.clone(),
            });
            // An interrupt (or another step's failure) stops the call in flight at once, rather
            // than after its retries: the step stays `started`, and resume or rollback look for
            // what it began by its key.
            // Each attempt has the whole `timeout:`; the action's waits see when it runs out.
            let ctx = Context {
                deadline: step
                    .timeout
                    .map(|limit| tokio::time::Instant::now() + limit),
                ..ctx
            };
            let run = async {
                tokio::select! {
                    result = progress.watch(self.options.quiet_after, executor.run(&ctx)) => result,
                    () = cancel.cancelled() => Err(ActionError::cancelled()),
                }
            };
            let result = match step.timeout {
                Some(limit) => tokio::time::timeout(limit, run).await.unwrap_or_else(|_| {
                    // What it was waiting for when its time ran out, as it last said.
                    let last = progress
                        .last_status()
                        .map(|s| format!(" (last: {s})"))
                        .unwrap_or_default();
                    Err(ActionError::new(format!(
                        "timed out after {}{last}",
                        humantime::format_duration(limit)
                    ))
                    .hint("raise the step's `timeout:` if it needs longer"))
                }),
                None => run.await,
            };
            match result {
                Ok(outcome) => {
                    crash_point(&step.id);
                    return StepResult::Succeeded {
                        outcome,
                        adopted: false,
                        by_hand: false,
                        elapsed: started.elapsed(),
                    };
                }
                Err(_) if cancel.is_cancelled() => return StepResult::Cancelled,
                // A create that failed in a way that may come back (a dropped connection, a 5xx)
                // may have been done before the answer was lost: what reconcile finds by the
                // step's key is adopted, never created again nor left behind.
                Err(error)
                    if error.retryable
                        && step.action.effect() == super::action::Effect::Creates =>
                {
                    if let Ok(Some(outcome)) = executor.reconcile(&ctx).await {
                        progress.status(&format!(
                            "{}; found what it had created all the same",
                            error.message
                        ));
                        crash_point(&step.id);
                        return StepResult::Succeeded {
                            outcome,
                            adopted: true,
                            by_hand: false,
                            elapsed: started.elapsed(),
                        };
                    }
                    if attempt >= attempts {
                        return StepResult::Failed {
                            error,
                            elapsed: started.elapsed(),
                        };
                    }
                    if self
                        .wait_to_retry(step, attempt, backoff.next_wait(), error, &ctx)
                        .await
                    {
                        return StepResult::Cancelled;
                    }
                }
                Err(error) if error.retryable && attempt < attempts => {
                    if self
                        .wait_to_retry(step, attempt, backoff.next_wait(), error, &ctx)
                        .await
                    {
                        return StepResult::Cancelled;
                    }
                }
                Err(error) => {
                    return StepResult::Failed {
                        error,
                        elapsed: started.elapsed(),
                    };
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Report a retry and wait before it; true when cancelled.
    async fn wait_to_retry(
        &self,
        step: &super::Step,
        attempt: u32,
        wait: Duration,
        error: ActionError,
        ctx: &Context<'_>,
    ) -> bool {
        self.reporter.event(&Event::StepRetry {
            step: step.id.clone(),
            attempt,
            wait,
            error,
        });
        ctx.sleep(wait).await.is_err()
    }

    /// An exercise: show the task, and until the learner's resource is found right (adopted),
    /// or they let the runbook do it (`None`: the step runs as usual), or quit: check what they
    /// made and say what differs, or give the next hint.
    async fn exercise(
        &self,
        i: usize,
        prepared: &Prepared,
        exercise: &super::Exercise,
        ctx: &Context<'_>,
    ) -> Option<StepResult> {
        let steps = self.workflow.steps();
        let step = &steps[i];
        let mut params = prepared.params.clone();
        mask(&mut params, &self.options.secrets);
        let intro = super::action::StepIntro {
            number: i + 1,
            total: steps.len(),
            id: &step.id,
            title: &prepared.title,
            guide: prepared.guide.as_deref(),
            action: step.action,
            params: &params,
            confirm: None,
            skippable: false,
        };
        // Shown to the learner and in events: never a secret var's value.
        let masked = |text: &str| {
            let mut v = Json::String(text.to_owned());
            mask(&mut v, &self.options.secrets);
            v.as_str().unwrap_or_default().to_owned()
        };
        let task = masked(&exercise.task);
        let hints: Vec<String> = exercise.hints.iter().map(|h| masked(h)).collect();
        self.reporter.event(&Event::ExerciseShown {
            step: step.id.clone(),
            task: task.clone(),
        });
        let files: Vec<String> = exercise
            .files
            .iter()
            .map(|(name, content)| {
                match write_exercise_file(self.options.files_dir.as_deref(), name, &masked(content))
                {
                    Ok(line) => line,
                    Err(e) => format!("{name}: could not be written ({e}); make it yourself"),
                }
            })
            .collect();
        let mut shown = 0;
        let mut last: Option<ByHand> = None;
        let mut failed: Option<String> = None;
        let mut after = After::Start;
        loop {
            let choice = self.ask.exercise(&ExerciseIntro {
                step: &intro,
                task: &task,
                hints: &hints,
                shown,
                last: last.as_ref(),
                failed: failed.as_deref(),
                after,
                files: &files,
                watch: step.action.watches_by_hand().then_some(WATCH_EVERY),
            });
            match choice {
                _ if self.ask.interrupted() => return Some(StepResult::Interrupted),
                None | Some(ExerciseChoice::Quit) => return Some(StepResult::Quit),
                Some(ExerciseChoice::Solve) => {
                    // Journaled: `runs` tells a learner's solved exercises from those made by hand.
                    let solved = Record::ExerciseSolved {
                        step: step.id.clone(),
                    };
                    if let Err(e) = self.journal(solved).await {
                        return Some(StepResult::Failed {
                            error: ActionError::new(e.to_string()),
                            elapsed: Duration::ZERO,
                        });
                    }
                    self.reporter.event(&Event::ExerciseSolved {
                        step: step.id.clone(),
                    });
                    return None;
                }
                Some(ExerciseChoice::Hint) => {
                    after = After::Hint;
                    if shown < exercise.hints.len() {
                        shown += 1;
                        self.reporter.event(&Event::ExerciseHint {
                            step: step.id.clone(),
                            hint: shown,
                        });
                    }
                }
                Some(choice @ (ExerciseChoice::Check | ExerciseChoice::Look)) => {
                    let quiet = choice == ExerciseChoice::Look;
                    after = if quiet { After::Look } else { After::Check };
                    let started = Instant::now();
                    let found = step.action.executor().by_hand(ctx, &exercise.compare).await;
                    if ctx.cancel.is_cancelled() {
                        return Some(StepResult::Cancelled);
                    }
                    let found = match found {
                        Ok(found) => found,
                        Err(error) => {
                            // A failed look is no answer: never "nothing found".
                            failed = Some(match &error.hint {
                                Some(hint) => format!("{} ({hint})", error.message),
                                None => error.message.clone(),
                            });
                            last = None;
                            continue;
                        }
                    };
                    failed = None;
                    // Looking by itself, the run goes on only once it is done; "not yet" is
                    // no news to the learner.
                    if quiet && !matches!(found, ByHand::Matches { .. }) {
                        continue;
                    }
                    let (kind, what, details) = match &found {
                        ByHand::Matches { what, .. } => ("matches", Some(what.clone()), Vec::new()),
                        ByHand::Differs { what, differences } => {
                            ("differs", Some(what.clone()), differences.clone())
                        }
                        ByHand::Several { candidates } => ("several", None, candidates.clone()),
                        ByHand::Nothing { looked, seen } => {
                            ("nothing", Some(looked.clone()), seen.clone())
                        }
                    };
                    self.reporter.event(&Event::ExerciseChecked {
                        step: step.id.clone(),
                        found: kind.to_owned(),
                        what,
                        details,
                    });
                    if let ByHand::Matches { outcome, what } = found {
                        if quiet {
                            self.ask.exercise_done(&what);
                        }
                        // The parameters it was checked against, as an attempt records them
                        // (`show --check` looks for what exists by them).
                        let record = Record::StepStarted {
                            step: step.id.clone(),
                            action: step.action.name().into(),
                            key: ctx.key.to_owned(),
                            attempt: 1,
                            params,
                            region: ctx.region.map(str::to_owned),
                        };
                        if let Err(e) = self.journal(record).await {
                            return Some(StepResult::Failed {
                                error: ActionError::new(e.to_string()),
                                elapsed: started.elapsed(),
                            });
                        }
                        return Some(StepResult::Succeeded {
                            outcome,
                            adopted: true,
                            by_hand: true,
                            elapsed: started.elapsed(),
                        });
                    }
                    last = Some(found);
                }
            }
        }
    }

    /// Journal and report a step's end; return its error if it failed.
    async fn finish_step(
        &self,
        i: usize,
        result: StepResult,
        failed: Option<&str>,
        from_secret: bool,
        status: &mut [Status],
        outputs: &mut Outputs,
    ) -> Result<Option<ActionError>, EngineError> {
        let step = &self.workflow.steps()[i];
        let id = step.id.clone();
        // An action that found nothing to do (its outcome's `skipped`) skipped the step.
        let result = match result {
            StepResult::Succeeded {
                outcome:
                    Outcome {
                        skipped: Some(reason),
                        ..
                    },
                ..
            } => StepResult::Skipped(reason),
            other => other,
        };
        match result {
            StepResult::Succeeded {
                outcome,
                adopted,
                by_hand,
                elapsed,
            } => {
                outputs.insert(i, outcome.outputs.clone());
                let undo_steps = self.workflow.undo_steps(i, outputs).unwrap_or(None);
                let masked = if from_secret {
                    masked_map(&outcome.outputs, &self.options.secrets)
                } else {
                    outcome.outputs.clone()
                };
                let recorded = self
                    .journal(Record::StepSucceeded {
                        step: id.clone(),
                        action: step.action.name().into(),
                        outputs: masked.clone(),
                        resources: outcome.resources.clone(),
                        adopted,
                        by_hand,
                        keep: step.keep,
                        undo_steps,
                        marked: None,
                    })
                    .await;
                match recorded {
                    Err(EngineError::Journal(source)) if !outcome.resources.is_empty() => {
                        return Err(EngineError::Unrecorded {
                            source,
                            run_id: self.run_id.to_owned(),
                            step: id,
                            resources: outcome.resources,
                        });
                    }
                    other => other?,
                }
                status[i] = Status::Done;
                self.reporter.event(&Event::StepSucceeded {
                    step: id,
                    title: step.title.clone(),
                    outputs: masked,
                    resources: outcome.resources,
                    elapsed,
                    adopted,
                    by_hand,
                });
                Ok(None)
            }
            StepResult::Skipped(reason) => {
                self.journal(Record::StepSkipped {
                    step: id.clone(),
                    reason: reason.clone(),
                })
                .await?;
                status[i] = Status::Skipped;
                self.reporter.event(&Event::StepSkipped {
                    step: id,
                    title: step.title.clone(),
                    reason,
                });
                Ok(None)
            }
            StepResult::Failed { error, elapsed } => {
                self.journal(Record::StepFailed {
                    step: id.clone(),
                    error: error.clone(),
                })
                .await?;
                status[i] = Status::Failed;
                self.reporter.event(&Event::StepFailed {
                    step: id,
                    title: step.title.clone(),
                    error: error.clone(),
                    elapsed,
                });
                Ok(Some(error))
            }
            StepResult::Cancelled => {
                status[i] = Status::Pending;
                // Nothing is journaled (the step stays `started`, so resume and rollback look for
                // what it began); the reports say it was cut off, and why.
                self.reporter.event(&Event::StepCancelled {
                    step: id,
                    title: step.title.clone(),
                    reason: match failed {
                        Some(other) => format!("cancelled: `{other}` failed"),
                        None => "cancelled: the run was interrupted".to_owned(),
                    },
                });
                Ok(None)
            }
            StepResult::Quit => {
                status[i] = Status::Pending;
                self.quit.store(true, std::sync::atomic::Ordering::SeqCst);
                self.interrupt.cancel();
                Ok(None)
            }
            StepResult::Interrupted => {
                status[i] = Status::Pending;
                self.interrupt.cancel();
                Ok(None)
            }
        }
    }
}

/// Tests only: die right after this step's action returned and before its outcome is journaled,
/// the window that `reconcile` exists for (`RUNBOOK_TEST_CRASH_AFTER=step-id`).
#[cfg(feature = "test-actions")]
fn crash_point(step: &str) {
    if std::env::var("RUNBOOK_TEST_CRASH_AFTER").is_ok_and(|s| s == step) {
        std::process::abort();
    }
}

#[cfg(not(feature = "test-actions"))]
fn crash_point(_: &str) {}

/// How often a watched exercise looks by itself for what the learner did.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Write an exercise's file for the learner in `dir` (the run's own folder, private), unless
/// it is there already: a learner who resumes keeps what they filled in. Says where it is.
fn write_exercise_file(
    dir: Option<&std::path::Path>,
    name: &str,
    content: &str,
) -> Result<String, String> {
    use std::io::Write as _;
    let dir = dir.ok_or("the run has no folder for files")?;
    super::journal::private_dirs(dir).map_err(|e| e.to_string())?;
    // The folder is in a place others can write (the temporary folder): it must be a folder
    // of this user's alone, not a link someone put there.
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        if !meta.is_dir() || meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "{} is not a private folder (remove it and run again)",
                dir.display()
            ));
        }
    }
    let path = dir.join(name);
    if std::fs::symlink_metadata(&path).is_ok() {
        return Ok(format!("{} (yours, from before: kept)", path.display()));
    }
    let mut file = super::journal::open_regular(
        &path,
        std::fs::OpenOptions::new().write(true).create_new(true),
    )
    .map_err(|e| e.to_string())?;
    file.write_all(content.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(path.display().to_string())
}

/// What an earlier attempt of a step left for the next: whether it may have made something
/// (interrupted, or a create that failed after its call), and what it declared before acting.
struct Earlier {
    reconcile: bool,
    declared: Option<Json>,
}
