//! A run's state, folded from its journal.

use indexmap::IndexMap;
use std::collections::{BTreeMap, BTreeSet};

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
        region: Option<String>,
        /// What it declared before it acted ([`super::action::Context::declare`]).
        intent: Option<Json>,
    },
    Succeeded(Done),
    Skipped(String),
    /// Failed; with its last attempt, which may have created something before it failed (a
    /// create whose follow-up call failed), for resume and rollback to look for by its key.
    Failed(ActionError, Option<Tried>),
}

impl RunState {
    /// The regions its steps acted in besides the run's own (their `region:`), as the journal
    /// recorded them.
    pub fn regions(&self) -> Vec<String> {
        let mut regions: Vec<String> = self
            .steps
            .values()
            .flat_map(|s| match s {
                StepState::Started { region, .. }
                | StepState::Failed(_, Some(Tried { region, .. })) => vec![region.clone()],
                StepState::Succeeded(done) => {
                    done.resources.iter().map(|r| r.region.clone()).collect()
                }
                _ => Vec::new(),
            })
            .flatten()
            .collect();
        regions.sort();
        regions.dedup();
        regions
    }
}

/// An attempt the journal recorded as started.
#[derive(Clone, Debug, PartialEq)]
pub struct Tried {
    pub action: String,
    pub key: String,
    pub params: Json,
    pub region: Option<String>,
    /// What it declared before it acted.
    pub intent: Option<Json>,
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
    /// Ids of changes the rollback did not undo because it removed what they changed.
    pub moot: Vec<String>,
    /// The parameters its last attempt ran with (secrets masked), for a look at what exists.
    pub params: Json,
    /// Made by hand by a learner (an exercise) and adopted.
    pub by_hand: bool,
    /// Marked done by hand (`runbook mark`): who and when.
    pub marked: Option<super::journal::Marked>,
}

impl Done {
    /// A step that has just succeeded: nothing kept, undone, gone or marked yet.
    pub fn new(
        action: String,
        outputs: Map<String, Json>,
        resources: Vec<Resource>,
        params: Json,
    ) -> Done {
        Done {
            action,
            outputs,
            resources,
            keep: false,
            undo_steps: None,
            undone: false,
            remaining: None,
            already_gone: Vec::new(),
            moot: Vec::new(),
            params,
            by_hand: false,
            marked: None,
        }
    }

    /// Whether a rollback has something to do for this step.
    pub fn needs_undo(&self) -> bool {
        !self.undone
            && !self.keep
            && (!self.resources.is_empty()
                || self.undo_steps.as_ref().is_some_and(|s| !s.is_empty()))
    }

    /// How its undo went: resources removed (changes undone included), resources found already
    /// gone, and changes found already undone.
    pub fn undone_counts(&self) -> (usize, usize, usize) {
        let found_gone = |r: &&Resource| self.already_gone.contains(&r.id);
        let back = self
            .resources
            .iter()
            .filter(found_gone)
            .filter(|r| !r.changed.is_empty())
            .count();
        let gone = self.resources.iter().filter(found_gone).count() - back;
        let moot = self
            .resources
            .iter()
            .filter(|r| self.moot.contains(&r.id))
            .count();
        (self.resources.len() - gone - back - moot, gone, back)
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
    /// How many times each step was marked to be rebuilt (`Record::Rebuild`): part of its key.
    pub generations: BTreeMap<String, u32>,
    /// Why the run was last rebuilt, if it was.
    pub rebuilt: Option<String>,
    /// The runbook's exercise steps, and those a learner let the runbook do.
    pub exercises: Vec<String>,
    pub solved: BTreeSet<String>,
}

/// How far a learner came with one exercise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExerciseState {
    /// Made by hand, checked and adopted.
    ByHand,
    /// The learner asked the runbook to do it.
    Solved,
    /// Done by the runbook in a run that was no exercise (`--yes`, or without `--exercise`).
    Runbook,
    Skipped,
    /// Not done yet.
    Open,
}

impl std::fmt::Display for ExerciseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ExerciseState::ByHand => "by hand",
            ExerciseState::Solved => "solved by the runbook",
            ExerciseState::Runbook => "done by the runbook",
            ExerciseState::Skipped => "skipped",
            ExerciseState::Open => "open",
        })
    }
}

/// Every step that depends on `step`, directly or through others.
pub fn dependents(graph: &IndexMap<String, Vec<String>>, step: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut frontier = vec![step.to_owned()];
    while let Some(s) = frontier.pop() {
        for (other, deps) in graph {
            if deps.contains(&s) && out.insert(other.clone()) {
                frontier.push(other.clone());
            }
        }
    }
    out
}

/// The key of a step's attempts, by which its actions find what it made: the run and the step,
/// and how many times the step was rebuilt, if it was.
pub fn step_key(run_id: &str, step: &str, generation: u32) -> String {
    if generation == 0 {
        format!("{run_id}/{step}")
    } else {
        format!("{run_id}/{step}/{generation}")
    }
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
                exercises,
            } => {
                self.exercises.clone_from(exercises);
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
                region,
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
                        region: region.clone(),
                        intent: None,
                    },
                );
            }
            Record::StepIntent { step, intent } => {
                if let Some(StepState::Started {
                    intent: declared, ..
                }) = self.steps.get_mut(step)
                {
                    *declared = Some(intent.clone());
                }
            }
            Record::StepSucceeded {
                step,
                action,
                outputs,
                resources,
                keep,
                undo_steps,
                by_hand,
                marked,
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
                        keep: *keep,
                        undo_steps: undo_steps.clone(),
                        by_hand: *by_hand,
                        marked: marked.clone(),
                        ..Done::new(action.clone(), outputs.clone(), resources.clone(), params)
                    }),
                );
            }
            Record::StepSkipped { step, reason } => {
                self.steps
                    .insert(step.clone(), StepState::Skipped(reason.clone()));
            }
            Record::ExerciseSolved { step } => {
                self.solved.insert(step.clone());
            }
            Record::StepFailed { step, error } => {
                let tried = match self.steps.get(step) {
                    Some(StepState::Started {
                        action,
                        key,
                        params,
                        region,
                        intent,
                        ..
                    }) => Some(Tried {
                        action: action.clone(),
                        key: key.clone(),
                        params: params.clone(),
                        region: region.clone(),
                        intent: intent.clone(),
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
            Record::UndoSucceeded {
                step,
                already_gone,
                moot,
            } => {
                if let Some(StepState::Succeeded(done)) = self.steps.get_mut(step) {
                    done.undone = true;
                    done.remaining = None;
                    done.already_gone.clone_from(already_gone);
                    done.moot.clone_from(moot);
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
            Record::Rebuild { steps, reason } => {
                for step in steps {
                    self.steps.remove(step);
                    self.done_order.retain(|s| s != step);
                    *self.generations.entry(step.clone()).or_default() += 1;
                }
                // The rollback before it undid only these steps: the run goes on, unfinished.
                self.status = None;
                self.rollback_started = false;
                self.rollback_complete = None;
                self.rebuilt = Some(reason.clone());
            }
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
    /// A change found already undone (instances running again) counts as neither.
    pub fn undone(&self) -> (usize, usize) {
        let (mut removed, mut gone) = (0, 0);
        for state in self.steps.values() {
            if let StepState::Succeeded(done) = state {
                if done.undone {
                    let (r, g, _) = done.undone_counts();
                    removed += r;
                    gone += g;
                }
            }
        }
        (removed, gone)
    }

    /// The key of `step`'s attempts in this run.
    pub fn key(&self, step: &str) -> String {
        step_key(
            &self.run_id,
            step,
            self.generations.get(step).copied().unwrap_or(0),
        )
    }

    /// `steps` and every step that depends on them (directly or not), as far as the run got:
    /// what a rebuild of `steps` undoes and runs again.
    pub fn with_dependents(&self, steps: &BTreeSet<String>) -> BTreeSet<String> {
        let mut out = steps.clone();
        for step in steps {
            out.extend(dependents(&self.graph, step));
        }
        out.retain(|s| self.steps.contains_key(s));
        out
    }

    /// This run as far as `steps` go: what a rollback of only those steps works from.
    #[must_use]
    pub fn only(&self, steps: &BTreeSet<String>) -> RunState {
        let mut part = self.clone();
        part.steps.retain(|s, _| steps.contains(s));
        part.done_order.retain(|s| steps.contains(s));
        part
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
            (None, false, Some(RunStatus::Paused)) => "paused",
            (None, false, None) => "unfinished",
        }
    }

    /// Each exercise step and how far the learner came with it.
    pub fn exercise_progress(&self) -> Vec<(String, ExerciseState)> {
        self.exercises
            .iter()
            .map(|step| {
                let state = match self.steps.get(step) {
                    Some(StepState::Succeeded(done)) if done.by_hand => ExerciseState::ByHand,
                    Some(StepState::Succeeded(_)) if self.solved.contains(step) => {
                        ExerciseState::Solved
                    }
                    Some(StepState::Succeeded(_)) => ExerciseState::Runbook,
                    Some(StepState::Skipped(_)) => ExerciseState::Skipped,
                    _ => ExerciseState::Open,
                };
                (step.clone(), state)
            })
            .collect()
    }

    /// Whether the run is a learner's, whose exercises are worth reporting: a learner made or
    /// solved one, or it is a lab of a class (set up for its students to do them). A run the
    /// runbook did by itself, finished or interrupted, is no learner's: its exercises not done
    /// yet are not "open".
    pub fn is_learners(&self) -> bool {
        self.labels.iter().any(|(k, _)| k == "runbook:class")
            || self
                .exercise_progress()
                .iter()
                .any(|(_, p)| matches!(p, ExerciseState::ByHand | ExerciseState::Solved))
    }

    /// How many of the run's steps are done (succeeded or skipped), of how many.
    pub fn steps_done(&self) -> (usize, usize) {
        let done = self
            .steps
            .values()
            .filter(|s| matches!(s, StepState::Succeeded(_) | StepState::Skipped(_)))
            .count();
        (done, self.graph.len())
    }

    /// A run that `resume` can continue.
    pub fn resumable(&self) -> bool {
        !self.rollback_started && self.status != Some(RunStatus::Succeeded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(record: Record) -> Entry {
        Entry {
            at: "2026-12-02T00:00:00.000Z".into(),
            record,
        }
    }

    fn done(step: &str) -> Record {
        Record::StepSucceeded {
            step: step.into(),
            action: "test.make".into(),
            outputs: Map::new(),
            resources: vec![Resource {
                kind: "thing".into(),
                id: format!("id-{step}"),
                undo: Json::Null,
                changed: vec![],
                region: None,
            }],
            adopted: false,
            by_hand: false,
            keep: false,
            undo_steps: None,
            marked: None,
        }
    }

    /// A run's start, with its steps (each with its direct dependencies), labels and exercises.
    fn started(
        graph: &[(&str, &[&str])],
        labels: Vec<(String, String)>,
        exercises: &[&str],
    ) -> Entry {
        entry(Record::RunStarted {
            run_id: "r".into(),
            runbook: "x.yaml".into(),
            name: "x".into(),
            hash: String::new(),
            step_hashes: BTreeMap::new(),
            vars: Map::new(),
            secret_vars: vec![],
            target: Map::new(),
            graph: graph
                .iter()
                .map(|(id, deps)| {
                    (
                        (*id).to_owned(),
                        deps.iter().map(|d| (*d).to_owned()).collect(),
                    )
                })
                .collect(),
            labels,
            exercises: exercises.iter().map(|e| (*e).to_owned()).collect(),
        })
    }

    #[test]
    fn a_rebuild_reopens_its_steps_with_new_keys_and_the_run_goes_on() {
        let mut entries = vec![started(
            &[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("d", &[])],
            vec![],
            &[],
        )];
        for s in ["a", "b", "c", "d"] {
            entries.push(entry(done(s)));
        }
        entries.push(entry(Record::RunFinished {
            status: RunStatus::Succeeded,
        }));
        let state = RunState::from_entries(&entries);
        let lost = BTreeSet::from(["b".to_owned()]);
        let rebuild = state.with_dependents(&lost);
        assert_eq!(
            rebuild.iter().map(String::as_str).collect::<Vec<_>>(),
            ["b", "c"],
            "the lost step and what depends on it, not the rest"
        );
        assert_eq!(state.only(&rebuild).alive().len(), 2);
        assert_eq!(state.key("b"), "r/b");

        entries.push(entry(Record::RollbackStarted));
        for s in ["c", "b"] {
            entries.push(entry(Record::UndoSucceeded {
                step: s.into(),
                already_gone: vec![],
                moot: vec![],
            }));
        }
        entries.push(entry(Record::RollbackFinished { complete: true }));
        entries.push(entry(Record::Rebuild {
            steps: vec!["b".into(), "c".into()],
            reason: "1 resource missing (id-b)".into(),
        }));
        let state = RunState::from_entries(&entries);
        assert!(state.resumable(), "{}", state.summary());
        assert_eq!(state.summary(), "unfinished");
        assert!(!state.steps.contains_key("b") && !state.steps.contains_key("c"));
        assert_eq!(
            state.alive().len(),
            2,
            "a's and d's resources stay alive: {:?}",
            state.alive()
        );
        assert_eq!(state.key("b"), "r/b/1", "a new key for the rebuilt step");
        assert_eq!(state.key("a"), "r/a");
        assert_eq!(state.rebuilt.as_deref(), Some("1 resource missing (id-b)"));
    }

    /// A run with exercises that the runbook ran by itself and that was interrupted before them
    /// is no learner's; one in which a learner solved one is, and so is a class's lab.
    #[test]
    fn a_learners_run_is_told_from_one_the_runbook_ran_itself() {
        let started = |labels| started(&[("a", &[]), ("ex", &["a"])], labels, &["ex"]);
        let interrupted = vec![
            started(vec![]),
            entry(done("a")),
            entry(Record::RunFinished {
                status: RunStatus::Interrupted,
            }),
        ];
        let state = RunState::from_entries(&interrupted);
        assert_eq!(state.exercise_progress()[0].1, ExerciseState::Open);
        assert!(!state.is_learners());

        let solved = vec![
            started(vec![]),
            entry(done("a")),
            entry(Record::ExerciseSolved { step: "ex".into() }),
            entry(done("ex")),
        ];
        assert!(RunState::from_entries(&solved).is_learners());

        let class = vec![
            started(vec![("runbook:class".into(), "spring".into())]),
            entry(done("a")),
        ];
        assert!(RunState::from_entries(&class).is_learners());
    }
}
