//! A run's state, folded from its journal.

use indexmap::IndexMap;
use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::action::{ActionError, Resource};
use super::journal::{Entry, Record, RunStatus, UndoStep};

#[derive(Clone, Debug, PartialEq)]
pub enum StepState {
    /// Started, with no outcome: it may have done something.
    Started {
        action: String,
        key: String,
        attempt: u32,
        params: Json,
    },
    Succeeded(Done),
    Skipped(String),
    /// Failed; with its last attempt, which may have created something before it failed (a
    /// create whose follow-up call failed), for resume and rollback to look for by its key.
    Failed(ActionError, Option<Tried>),
}

/// An attempt the journal recorded as started.
#[derive(Clone, Debug, PartialEq)]
pub struct Tried {
    pub action: String,
    pub key: String,
    pub params: Json,
}

/// A succeeded step, and what undoing it takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Done {
    pub action: String,
    pub outputs: Map<String, Json>,
    pub resources: Vec<Resource>,
    pub keep: bool,
    pub undo_steps: Option<Vec<UndoStep>>,
    /// Undone by a rollback.
    pub undone: bool,
    /// Left by a rollback that could not remove them.
    pub remaining: Option<Vec<Resource>>,
    /// Ids of resources the rollback found already gone (undone, but not by this tool).
    pub already_gone: Vec<String>,
    /// The parameters its last attempt ran with (secrets masked), for a look at what exists.
    pub params: Json,
}

impl Done {
    /// Whether a rollback has something to do for this step.
    pub fn needs_undo(&self) -> bool {
        !self.undone
            && !self.keep
            && (!self.resources.is_empty()
                || self.undo_steps.as_ref().is_some_and(|s| !s.is_empty()))
    }

    /// What is still alive.
    pub fn alive(&self) -> &[Resource] {
        if self.undone {
            return &[];
        }
        self.remaining.as_deref().unwrap_or(&self.resources)
    }
}

#[derive(Clone, Debug, Default)]
pub struct RunState {
    pub run_id: String,
    pub runbook: String,
    pub name: String,
    pub hash: String,
    pub step_hashes: BTreeMap<String, String>,
    pub vars: Map<String, Json>,
    pub secret_vars: Vec<String>,
    /// Where the run's calls went, as the application recorded it (`Record::RunStarted`).
    pub target: Map<String, Json>,
    pub graph: IndexMap<String, Vec<String>>,
    pub labels: Vec<(String, String)>,
    pub started_at: String,
    pub steps: BTreeMap<String, StepState>,
    /// Steps in the order they succeeded.
    pub done_order: Vec<String>,
    pub status: Option<RunStatus>,
    pub rollback_started: bool,
    pub rollback_complete: Option<bool>,
}

impl RunState {
    pub fn from_entries(entries: &[Entry]) -> RunState {
        let mut s = RunState::default();
        for entry in entries {
            s.apply(entry);
        }
        s
    }

    fn apply(&mut self, entry: &Entry) {
        match &entry.record {
            Record::RunStarted {
                run_id,
                runbook,
                name,
                hash,
                step_hashes,
                vars,
                secret_vars,
                target,
                graph,
                labels,
            } => {
                self.target.clone_from(target);
                self.run_id.clone_from(run_id);
                self.runbook.clone_from(runbook);
                self.name.clone_from(name);
                self.hash.clone_from(hash);
                self.step_hashes.clone_from(step_hashes);
                self.vars.clone_from(vars);
                self.secret_vars.clone_from(secret_vars);
                self.graph.clone_from(graph);
                self.labels.clone_from(labels);
                self.started_at.clone_from(&entry.at);
            }
            Record::StepStarted {
                step,
                action,
                key,
                attempt,
                params,
            } => {
                // A resume starts the run again: it has no end until it ends again.
                self.status = None;
                self.steps.insert(
                    step.clone(),
                    StepState::Started {
                        action: action.clone(),
                        key: key.clone(),
                        attempt: *attempt,
                        params: params.clone(),
                    },
                );
            }
            Record::StepSucceeded {
                step,
                action,
                outputs,
                resources,
                keep,
                undo_steps,
                ..
            } => {
                self.done_order.retain(|s| s != step);
                self.done_order.push(step.clone());
                let params = match self.steps.get(step) {
                    Some(StepState::Started { params, .. }) => params.clone(),
                    _ => Json::Null,
                };
                self.steps.insert(
                    step.clone(),
                    StepState::Succeeded(Done {
                        action: action.clone(),
                        outputs: outputs.clone(),
                        resources: resources.clone(),
                        keep: *keep,
                        undo_steps: undo_steps.clone(),
                        undone: false,
                        remaining: None,
                        already_gone: Vec::new(),
                        params,
                    }),
                );
            }
            Record::StepSkipped { step, reason } => {
                self.steps
                    .insert(step.clone(), StepState::Skipped(reason.clone()));
            }
            Record::StepFailed { step, error } => {
                let tried = match self.steps.get(step) {
                    Some(StepState::Started {
                        action,
                        key,
                        params,
                        ..
                    }) => Some(Tried {
                        action: action.clone(),
                        key: key.clone(),
                        params: params.clone(),
                    }),
                    _ => None,
                };
                self.steps
                    .insert(step.clone(), StepState::Failed(error.clone(), tried));
            }
            Record::RunFinished { status } => self.status = Some(*status),
            Record::RollbackStarted => {
                self.rollback_started = true;
                self.rollback_complete = None;
            }
            Record::UndoSucceeded { step, already_gone } => {
                if let Some(StepState::Succeeded(done)) = self.steps.get_mut(step) {
                    done.undone = true;
                    done.remaining = None;
                    done.already_gone.clone_from(already_gone);
                }
            }
            Record::UndoFailed {
                step, remaining, ..
            } => {
                if let Some(StepState::Succeeded(done)) = self.steps.get_mut(step) {
                    done.remaining = Some(remaining.clone());
                }
            }
            Record::RollbackFinished { complete } => self.rollback_complete = Some(*complete),
        }
    }

    /// Resources still alive, by step, in the order their steps succeeded.
    pub fn alive(&self) -> Vec<(String, Resource)> {
        let mut out = Vec::new();
        for step in &self.done_order {
            if let Some(StepState::Succeeded(done)) = self.steps.get(step) {
                if !done.undone {
                    out.extend(done.alive().iter().cloned().map(|r| (step.clone(), r)));
                }
            }
        }
        out
    }

    /// Of the resources rollbacks undid: how many they removed, and how many were already gone.
    pub fn undone(&self) -> (usize, usize) {
        let (mut removed, mut gone) = (0, 0);
        for state in self.steps.values() {
            if let StepState::Succeeded(done) = state {
                if done.undone {
                    let g = done
                        .resources
                        .iter()
                        .filter(|r| done.already_gone.contains(&r.id))
                        .count();
                    gone += g;
                    removed += done.resources.len() - g;
                }
            }
        }
        (removed, gone)
    }

    /// A one-word status for listings.
    pub fn summary(&self) -> &'static str {
        match (self.rollback_complete, self.rollback_started, self.status) {
            (Some(true), _, _) => "rolled back",
            (Some(false), _, _) => "rollback incomplete",
            (None, true, _) => "rolling back",
            (None, false, Some(RunStatus::Succeeded)) => "succeeded",
            (None, false, Some(RunStatus::Failed)) => "failed",
            (None, false, Some(RunStatus::Interrupted)) => "interrupted",
            (None, false, None) => "unfinished",
        }
    }

    /// A run that `resume` can continue.
    pub fn resumable(&self) -> bool {
        !self.rollback_started && self.status != Some(RunStatus::Succeeded)
    }
}
