//! Rollback: undo what a run created, in reverse dependency order.
//!
//! A step's undo runs only after the undos of every step that depended on it (directly or not);
//! independent undos run side by side. Everything comes from the journal: each step's action,
//! resources, rendered `rollback:` steps and dependencies, so a run can be undone even when its
//! runbook changed. A step that started but has no outcome (a crash, an interrupt), and a create
//! step that failed (its create may have succeeded before a later call failed), are first
//! reconciled, only reading, to find what they may have created. Undos are idempotent: each says whether it
//! removed its resource or found it already gone, and both count as undone (the outcome keeps the
//! distinction); retryable failures are retried with backoff; what still cannot be removed is
//! reported.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use futures::future::{FutureExt, LocalBoxFuture};
use futures::stream::FuturesUnordered;
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use super::action::{ActionError, Ask, Context, Effect, Progress, Registry, Resource, Undone};
use super::journal::{Journal, Record};
use super::retry::Backoff;
use super::state::{Done, RunState, StepState, Tried, dependents};
use super::{EngineError, Event, Reporter};

pub struct Rollback<'a> {
    pub state: &'a RunState,
    /// Where the journal's action names are looked up.
    pub registry: &'a dyn Registry,
    pub journal: &'a Journal,
    pub reporter: &'a dyn Reporter,
    pub ask: &'a dyn Ask,
    pub yes: bool,
    pub parallelism: usize,
    /// It undoes only some of the run's steps, to run them again (`state` holds those): said
    /// so in its events.
    pub part: bool,
    /// How long an undo keeps retrying retryable errors (AWS keeps subnets and security groups
    /// busy for minutes after a load balancer or instance is deleted), the first wait, and how long
    /// it keeps trying an endpoint that does not answer at all.
    pub retries: (Duration, Duration, Duration),
    /// An undo that says nothing for this long says so (`StepProgress::watch`).
    pub quiet_after: Option<Duration>,
    pub interrupt: CancellationToken,
    /// Handed to every undo and reconcile (`Context::services`).
    pub services: &'a super::action::Services,
    /// A last look before the rollback says it left nothing (see [`Leftovers`]).
    pub leftovers: Option<&'a dyn Leftovers>,
}

/// A last look, before a rollback says it left nothing behind: what still carries the run's own
/// marks (its tags) that the journal did not list (a journal truncated or damaged), as resources
/// with no step. The application's to make (for AWS: a look by tag); a failed look is no answer,
/// and keeps the rollback incomplete.
pub trait Leftovers: Sync {
    /// What still carries the run's tag where the run acts, and in each of `elsewhere` (the
    /// regions its steps named).
    fn find<'a>(
        &'a self,
        run_id: &'a str,
        elsewhere: &'a [String],
    ) -> super::action::BoxFuture<'a, Result<Vec<Resource>, ActionError>>;
}

/// One step's undo: what happened to each resource, or failed with what is left.
type UndoResult = Result<Vec<(Resource, Undone)>, (ActionError, Vec<Resource>)>;

/// How a rollback ended: `remaining` lists what could not be removed, by step; `removed` and
/// `already_gone` count what was undone.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub complete: bool,
    pub remaining: Vec<(String, Resource)>,
    pub removed: usize,
    pub already_gone: usize,
}

impl Outcome {
    /// Something was to be removed and all of it was already gone: the run's resources were
    /// deleted behind its back, or (far more often) this is not where the run made them.
    pub fn found_nothing(&self) -> bool {
        self.complete && self.removed == 0 && self.already_gone > 0
    }
}

impl Rollback<'_> {
    async fn journal(&self, record: Record) -> Result<(), EngineError> {
        self.journal.append(record).await?;
        Ok(())
    }

    fn context<'c>(
        &'c self,
        step: &'c str,
        key: &'c str,
        params: &'c Json,
        progress: &'c dyn Progress,
        cancel: &'c CancellationToken,
    ) -> Context<'c> {
        Context {
            run_id: &self.state.run_id,
            step_id: step,
            key,
            params,
            progress,
            ask: self.ask,
            yes: self.yes,
            cancel,
            labels: &self.state.labels,
            services: self.services,
            adopting: false,
            solving: false,
            declared: &super::action::NOTHING_DECLARED,
            journal: None,
            deadline: None,
            secrets: &[],
            region: None,
        }
    }

    /// What each step left to undo: journaled outcomes, plus what reconcile finds for steps that
    /// started without an outcome; and the steps whose reconcile failed, whose leftovers nobody
    /// knows (a failed look is not an empty answer).
    async fn work(&self) -> (BTreeMap<String, Done>, Vec<(String, ActionError)>) {
        let mut work = BTreeMap::new();
        let mut unchecked = Vec::new();
        for (step, state) in &self.state.steps {
            match state {
                StepState::Succeeded(done) if done.needs_undo() => {
                    let mut done = done.clone();
                    if let Some(remaining) = done.remaining.take() {
                        done.resources = remaining;
                    }
                    work.insert(step.clone(), done);
                }
                StepState::Started {
                    action,
                    key,
                    params,
                    region,
                    intent,
                    ..
                }
                | StepState::Failed(
                    _,
                    Some(Tried {
                        action,
                        key,
                        params,
                        region,
                        intent,
                    }),
                ) => {
                    let Some(def) = self.registry.find(action) else {
                        continue;
                    };
                    // A failed step left something only if it creates (its create may have
                    // succeeded and a follow-up call failed); an interrupted one, unless it only
                    // reads (a sleep, a wait).
                    if matches!(state, StepState::Failed(..)) && def.effect() != Effect::Creates
                        || def.effect() == Effect::Reads
                    {
                        continue;
                    }
                    let progress = super::StepProgress::new(step, self.reporter);
                    let cancel = self.interrupt.child_token();
                    let declared = super::action::Declared::new(intent.clone());
                    let ctx = Context {
                        region: region.as_deref(),
                        declared: &declared,
                        ..self.context(step, key, params, &progress, &cancel)
                    };
                    // Not silent while it looks: an endpoint that hangs shows here as anywhere.
                    progress.status(&format!("looking for what `{step}` may have made"));
                    let looked = progress
                        .watch(self.quiet_after, def.executor().reconcile(&ctx))
                        .await;
                    match looked {
                        Ok(Some(mut found)) if !found.resources.is_empty() => {
                            for r in &mut found.resources {
                                r.region = r.region.take().or_else(|| region.clone());
                            }
                            work.insert(
                                step.clone(),
                                Done::new(
                                    action.clone(),
                                    found.outputs,
                                    found.resources,
                                    params.clone(),
                                ),
                            );
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let mut error = ActionError::new(format!(
                                "could not check what the {} step left: {}",
                                if matches!(state, StepState::Failed(..)) {
                                    "failed"
                                } else {
                                    "interrupted"
                                },
                                e.message
                            ));
                            error.hint = e.hint.or_else(|| {
                                Some("run the rollback again once the cause is fixed".into())
                            });
                            error.code = e.code;
                            unchecked.push((step.clone(), error));
                        }
                    }
                }
                _ => {}
            }
        }
        (work, unchecked)
    }

    /// Undo everything the run left, in reverse dependency order.
    pub async fn execute(&self) -> Result<Outcome, EngineError> {
        let (work, unchecked) = self.work().await;
        self.journal(Record::RollbackStarted).await?;
        self.reporter.event(&Event::RollbackStarted {
            run_id: self.state.run_id.clone(),
            part: self.part,
            steps: work.len() + unchecked.len(),
            resources: work.values().map(|d| d.resources.len()).sum(),
        });
        // A step whose leftovers could not be looked for keeps the rollback incomplete; it stays
        // `started` in the journal, so the next rollback looks again.
        for (step, error) in &unchecked {
            self.journal(Record::UndoFailed {
                step: step.clone(),
                error: error.clone(),
                remaining: Vec::new(),
            })
            .await?;
            self.reporter.event(&Event::UndoFailed {
                step: step.clone(),
                error: error.clone(),
                remaining: Vec::new(),
            });
        }
        // A step's undo waits for the undos of every step in the work that depends on it.
        let blockers: BTreeMap<&String, BTreeSet<String>> = work
            .keys()
            .map(|s| {
                (
                    s,
                    dependents(&self.state.graph, s)
                        .into_iter()
                        .filter(|d| work.contains_key(d))
                        .collect(),
                )
            })
            .collect();
        // What this rollback removes with actions' own undos: changes made to those are moot.
        let doomed: BTreeSet<String> = work
            .values()
            .filter(|d| d.undo_steps.is_none())
            .flat_map(|d| d.resources.iter().filter(|r| r.changed.is_empty()))
            .map(|r| r.id.clone())
            .collect();
        let mut pending: BTreeSet<&String> = work.keys().collect();
        let mut finished: BTreeSet<String> = BTreeSet::new();
        let mut failed: BTreeSet<String> = BTreeSet::new();
        let mut remaining: Vec<(String, Resource)> = Vec::new();
        let (mut removed, mut already_gone) = (0, 0);
        // An undo that found the endpoint not answering stops the rollback from starting others:
        // they would wait on it too. What is left is reported, and a later rollback goes on.
        let mut stalled = false;
        let mut running: FuturesUnordered<LocalBoxFuture<'_, (String, UndoResult)>> =
            FuturesUnordered::new();
        loop {
            if !self.interrupt.is_cancelled() && !stalled {
                let ready: Vec<&String> = pending
                    .iter()
                    .copied()
                    .filter(|s| {
                        blockers[s]
                            .iter()
                            .all(|b| finished.contains(b) || failed.contains(b))
                    })
                    .take(self.parallelism.max(1).saturating_sub(running.len()))
                    .collect();
                for step in ready {
                    pending.remove(step);
                    // A dependent that could not be removed keeps this one alive too.
                    if let Some(b) = blockers[step].iter().find(|b| failed.contains(*b)) {
                        let done = &work[step];
                        remaining.extend(done.resources.iter().cloned().map(|r| (step.clone(), r)));
                        failed.insert(step.clone());
                        let error = ActionError::new(format!(
                            "not undone: `{b}`, which depends on it, could not be undone"
                        ));
                        self.journal(Record::UndoFailed {
                            step: step.clone(),
                            error: error.clone(),
                            remaining: done.resources.clone(),
                        })
                        .await?;
                        self.reporter.event(&Event::UndoFailed {
                            step: step.clone(),
                            error,
                            remaining: done.resources.clone(),
                        });
                        continue;
                    }
                    let done = &work[step];
                    let doomed = &doomed;
                    running.push(
                        async move { (step.clone(), self.undo_step(step, done, doomed).await) }
                            .boxed_local(),
                    );
                }
            }
            if running.is_empty() {
                // Nothing runs and nothing can start: interrupted, or all done.
                for step in pending {
                    remaining.extend(
                        work[step]
                            .resources
                            .iter()
                            .cloned()
                            .map(|r| (step.clone(), r)),
                    );
                }
                break;
            }
            if let Some((step, result)) = running.next().await {
                match result {
                    Ok(undone) => {
                        let ids = |how: Undone| -> Vec<String> {
                            undone
                                .iter()
                                .filter(|(_, u)| *u == how)
                                .map(|(r, _)| r.id.clone())
                                .collect()
                        };
                        let (gone, moot) = (ids(Undone::AlreadyGone), ids(Undone::Moot));
                        // A change found already undone (instances already running again) was
                        // neither removed nor gone behind the run's back.
                        let back = undone
                            .iter()
                            .filter(|(r, u)| *u == Undone::AlreadyGone && !r.changed.is_empty())
                            .count();
                        already_gone += gone.len() - back;
                        removed += undone.len() - gone.len() - moot.len();
                        self.journal(Record::UndoSucceeded {
                            step: step.clone(),
                            already_gone: gone,
                            moot,
                        })
                        .await?;
                        self.reporter.event(&Event::UndoSucceeded {
                            step: step.clone(),
                            resources: undone,
                        });
                        finished.insert(step);
                    }
                    Err((error, left)) => {
                        stalled |= error.unreachable;
                        self.journal(Record::UndoFailed {
                            step: step.clone(),
                            error: error.clone(),
                            remaining: left.clone(),
                        })
                        .await?;
                        self.reporter.event(&Event::UndoFailed {
                            step: step.clone(),
                            error,
                            remaining: left.clone(),
                        });
                        remaining.extend(left.into_iter().map(|r| (step.clone(), r)));
                        failed.insert(step);
                    }
                }
            }
        }
        // What a step whose leftovers could not be looked for may have made: each kind its
        // action creates, with no id (nobody knows one), so the report lists it as "may exist".
        for (step, _) in &unchecked {
            let kinds = self.state.steps.get(step).and_then(|s| match s {
                StepState::Started { action, .. }
                | StepState::Failed(_, Some(Tried { action, .. })) => self
                    .registry
                    .find(action)
                    .map(super::action::Action::creates),
                _ => None,
            });
            let kinds = match kinds {
                Some(kinds) if !kinds.is_empty() => kinds,
                _ => vec!["resource"],
            };
            remaining.extend(kinds.iter().map(|kind| {
                (
                    step.clone(),
                    Resource {
                        kind: (*kind).to_owned(),
                        id: String::new(),
                        undo: Json::Null,
                        changed: Vec::new(),
                        region: None,
                    },
                )
            }));
        }
        let mut complete =
            remaining.is_empty() && unchecked.is_empty() && !self.interrupt.is_cancelled();
        // Also when something could not be removed: what the journal lost may be why (a VPC
        // kept by subnets no record names).
        if let (false, Some(leftovers)) = (self.interrupt.is_cancelled(), self.leftovers) {
            let progress = super::StepProgress::new("", self.reporter);
            progress.status("looking for anything still tagged with the run");
            let elsewhere = self.state.regions();
            match progress
                .watch(
                    self.quiet_after,
                    leftovers.find(&self.state.run_id, &elsewhere),
                )
                .await
            {
                // Only what the journal does not know: a kept step's resources (`rollback:
                // skip`) stay on purpose, and one removed a moment ago may still be listed.
                Ok(found) => {
                    let known: BTreeSet<&str> = self
                        .state
                        .steps
                        .values()
                        .filter_map(|s| match s {
                            StepState::Succeeded(done) => Some(done.resources.iter()),
                            _ => None,
                        })
                        .flatten()
                        .map(|r| r.id.as_str())
                        .collect();
                    remaining.extend(
                        found
                            .into_iter()
                            .filter(|r| !known.contains(r.id.as_str()))
                            .map(|r| (String::new(), r)),
                    );
                }
                Err(e) => remaining.push((
                    String::new(),
                    Resource {
                        kind: format!(
                            "resource tagged with the run (could not look: {})",
                            e.message
                        ),
                        id: String::new(),
                        undo: Json::Null,
                        changed: Vec::new(),
                        region: None,
                    },
                )),
            }
            complete = complete && remaining.is_empty();
        }
        self.journal(Record::RollbackFinished { complete }).await?;
        self.reporter.event(&Event::RollbackFinished {
            run_id: self.state.run_id.clone(),
            part: self.part,
            complete,
            remaining: remaining.clone(),
            removed,
            already_gone,
        });
        Ok(Outcome {
            complete,
            remaining,
            removed,
            already_gone,
        })
    }

    /// Undo one step: its own rollback steps, or its action's undo for each resource (newest
    /// first), retrying retryable errors.
    async fn undo_step(&self, step: &str, done: &Done, doomed: &BTreeSet<String>) -> UndoResult {
        self.reporter.event(&Event::UndoStarted {
            step: step.to_owned(),
        });
        let progress = super::StepProgress::new(step, self.reporter);
        let cancel = self.interrupt.child_token();
        let key = self.state.key(step);
        if let Some(undo_steps) = &done.undo_steps {
            for u in undo_steps {
                let Some(def) = self.registry.find(&u.action) else {
                    return Err((
                        ActionError::new(format!("unknown action `{}`", u.action)),
                        done.resources.clone(),
                    ));
                };
                let ctx = self.context(step, &key, &u.params, &progress, &cancel);
                progress
                    .watch(
                        self.quiet_after,
                        self.retrying(&progress, || def.executor().run(&ctx)),
                    )
                    .await
                    .map_err(|e| (e, done.resources.clone()))?;
            }
            // The runbook's own rollback steps ran: they stand for removing what the step made.
            return Ok(done
                .resources
                .iter()
                .map(|r| (r.clone(), Undone::Removed))
                .collect());
        }
        let Some(def) = self.registry.find(&done.action) else {
            return Err((
                ActionError::new(format!("unknown action `{}`", done.action)),
                done.resources.clone(),
            ));
        };
        // The step's parameters as the journal keeps them (secrets masked), for an undo that
        // reads them (`core.exec`'s command); the others read their resource's own `undo`.
        let params = done.params.clone();
        let ctx = self.context(step, &key, &params, &progress, &cancel);
        let mut left: Vec<Resource> = done.resources.clone();
        let mut undone = Vec::new();
        while let Some(resource) = left.last().cloned() {
            // A change to resources this rollback removes anyway is moot (instances stopped by
            // a drill are not started again just before they are terminated).
            if !resource.changed.is_empty() && resource.changed.iter().all(|id| doomed.contains(id))
            {
                progress.message(&format!(
                    "not undoing {} {}: this rollback removes {} itself",
                    resource.kind,
                    resource.id,
                    resource.changed.join(", ")
                ));
                left.pop();
                undone.push((resource, Undone::Moot));
                continue;
            }
            progress.status(&format!("removing {} {}", resource.kind, resource.id));
            // Where it was made (a step's `region:`), else where the run acts.
            let ctx = Context {
                region: resource.region.as_deref(),
                ..ctx
            };
            match progress
                .watch(
                    self.quiet_after,
                    self.retrying(&progress, || def.executor().undo(&ctx, &resource)),
                )
                .await
            {
                Ok(how) => {
                    left.pop();
                    undone.push((resource, how));
                }
                Err(e) => return Err((e, left)),
            }
        }
        Ok(undone)
    }

    /// Call until it succeeds, fails for good, or the retry window closes; each retry is shown on
    /// the step's status line (`DependencyViolation` can last minutes on AWS: say why we wait).
    async fn retrying<'f, T, F>(&self, progress: &dyn Progress, call: F) -> Result<T, ActionError>
    where
        F: FnMut() -> super::action::BoxFuture<'f, Result<T, ActionError>>,
    {
        /// Longest wait between two tries.
        const MAX_WAIT: Duration = Duration::from_secs(30);
        let (window, first, unanswered) = self.retries;
        let window_for = |e: &ActionError| {
            if e.unreachable {
                unanswered.min(window)
            } else {
                window
            }
        };
        super::retry::within(
            window_for,
            Backoff::new(first, MAX_WAIT),
            &self.interrupt,
            |r| {
                progress.status(&format!(
                    "{}; trying again in {}s ({}s so far, giving up after {})",
                    r.error.message,
                    r.wait.as_secs().max(1),
                    r.elapsed.as_secs(),
                    humantime::format_duration(window_for(r.error))
                ));
            },
            call,
        )
        .await
    }
}
