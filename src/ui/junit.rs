//! A `JUnit` XML report of a run, for CI: one test case per step (passed, failed, or skipped with
//! the reason, including steps a failure kept from starting). In an exercise run, each exercise
//! the learner reached is a test case of its own, `exercise: STEP`, for a teacher's tooling:
//! passed when the learner made it and the check adopted it, failed when the runbook solved it,
//! skipped when the learner left it; with how many checks and hints it took.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::engine::{Event, Reporter};

/// The test case of the rollback that followed a failure.
const ROLLBACK: &str = "(rollback)";
/// The test case of the run itself, failed when it was interrupted or failed outside any step
/// (before its first step: a dead endpoint, missing credentials, an invalid runbook), so that
/// a report never reads green for a run that did not finish.
const RUN: &str = "(run)";

/// Whether this process wrote its `JUnit` report (a process writes one: `--junit` is refused for
/// a class).
static WRITTEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process has written a `JUnit` report.
pub fn written() -> bool {
    WRITTEN.load(std::sync::atomic::Ordering::Relaxed)
}

#[derive(Clone)]
enum Outcome {
    Passed(Duration),
    Failed {
        message: String,
        hint: Option<String>,
        elapsed: Duration,
    },
    Skipped(String),
}

pub struct Junit {
    name: String,
    steps: Vec<String>,
    outcomes: Mutex<BTreeMap<String, Outcome>>,
    /// The exercises reached, in the order shown.
    exercises: Mutex<Vec<(String, Exercise)>>,
    /// What a step's case says beside its status (a step marked done by hand before this run).
    notes: Mutex<BTreeMap<String, String>>,
    /// Properties of a step's case: the drill's moments and figures, on the steps that saw them.
    properties: Mutex<BTreeMap<String, Vec<(String, String)>>>,
    secrets: Vec<String>,
}

/// How one exercise went.
#[derive(Clone, Default)]
struct Exercise {
    checks: usize,
    hints: usize,
    /// The last check's verdict and details ("differs: the record's failover role is …").
    last: Option<String>,
    solved: bool,
    by_hand: bool,
}

impl Exercise {
    fn tally(&self) -> String {
        format!(
            "{} check{}, {} hint{}",
            self.checks,
            if self.checks == 1 { "" } else { "s" },
            self.hints,
            if self.hints == 1 { "" } else { "s" }
        )
    }

    /// Its status; `mask` hides secret values in what the last check said.
    fn status(&self, mask: impl Fn(&str) -> String) -> TestCaseStatus {
        if self.by_hand {
            return TestCaseStatus::success();
        }
        let mut s = if self.solved {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("solved by the runbook after {}", self.tally()));
            s
        } else {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("left unfinished after {}", self.tally()));
            s
        };
        if let Some(last) = &self.last {
            s.set_description(mask(&format!("last check: {last}")));
        }
        s
    }
}

impl Junit {
    pub fn new(name: &str, steps: Vec<String>, secrets: Vec<String>) -> Self {
        Junit {
            name: name.to_owned(),
            steps,
            outcomes: Mutex::default(),
            exercises: Mutex::default(),
            properties: Mutex::default(),
            notes: Mutex::default(),
            secrets,
        }
    }

    fn mask(&self, text: &str) -> String {
        let mut v = serde_json::Value::String(text.to_owned());
        crate::mask::mask(&mut v, &self.secrets);
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The run failed as a whole: interrupted, or failed outside any step. Its own case fails
    /// with the reason (the first reason given stands).
    pub fn fail_run(&self, message: &str, hint: Option<&str>) {
        self.outcomes
            .lock()
            .expect("never poisoned")
            .entry(RUN.to_owned())
            .or_insert(Outcome::Failed {
                message: message.to_owned(),
                hint: hint.map(str::to_owned),
                elapsed: Duration::ZERO,
            });
    }

    /// A step done by hand and marked so (`runbook mark`) before this run: its case passes and
    /// says who marked it, and when.
    pub fn marked(&self, step: &str, by: &str, at: &str) {
        self.outcomes
            .lock()
            .expect("never poisoned")
            .insert(step.to_owned(), Outcome::Passed(Duration::ZERO));
        self.notes.lock().expect("never poisoned").insert(
            step.to_owned(),
            format!("marked done by hand by {by} at {at}"),
        );
    }

    /// The run's drill: each moment (`drill.stopped`, RFC 3339, and `drill.stopped.after_stop_seconds`)
    /// on the case of the step that saw it, and the figures and limits on the checks' cases.
    pub fn drill(&self, drill: &super::runs::Drill) {
        let mut properties = self.properties.lock().expect("never poisoned");
        for m in &drill.timeline {
            let case = properties.entry(m.step.clone()).or_default();
            case.push((format!("drill.{}", m.name), m.at.clone()));
            if let Some(s) = m.after_stop_seconds {
                case.push((
                    format!("drill.{}.after_stop_seconds", m.name),
                    format!("{s:.1}"),
                ));
            }
        }
        let figures = [
            (
                Some(&drill.failover_step),
                "failover",
                drill.failover_seconds,
                &drill.max_failover,
            ),
            (
                drill.failback_step.as_ref(),
                "failback",
                drill.failback_seconds,
                &drill.max_failback,
            ),
        ];
        for (step, what, seconds, limit) in figures {
            let Some(step) = step else { continue };
            let case = properties.entry(step.clone()).or_default();
            if let Some(s) = seconds {
                case.push((format!("drill.{what}_seconds"), s.to_string()));
            }
            if let Some(l) = limit {
                case.push((format!("drill.max_{what}"), l.clone()));
            }
        }
    }

    /// Write the report, atomically: to a file beside it, then renamed over it, so that a reader
    /// (or an interrupt) never meets half a report.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let outcomes = self.outcomes.lock().expect("never poisoned").clone();
        let properties = self.properties.lock().expect("never poisoned").clone();
        let notes = self.notes.lock().expect("never poisoned").clone();
        let mut suite = TestSuite::new(self.name.as_str());
        let rollback = outcomes.contains_key(ROLLBACK).then(|| ROLLBACK.to_owned());
        let run = outcomes.contains_key(RUN).then(|| RUN.to_owned());
        for step in run.iter().chain(&self.steps).chain(&rollback) {
            let (status, time) = match outcomes.get(step) {
                Some(Outcome::Passed(t)) => (TestCaseStatus::success(), Some(*t)),
                Some(Outcome::Failed {
                    message,
                    hint,
                    elapsed,
                }) => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(self.mask(message));
                    if let Some(h) = hint {
                        s.set_description(self.mask(h));
                    }
                    (s, Some(*elapsed))
                }
                Some(Outcome::Skipped(reason)) => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(self.mask(reason));
                    (s, None)
                }
                None => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message("not run");
                    (s, None)
                }
            };
            let mut case = TestCase::new(step.as_str(), status);
            case.set_classname(self.name.as_str());
            if let Some(t) = time {
                case.set_time(t);
            }
            if let Some(note) = notes.get(step) {
                case.set_system_out(self.mask(note));
            }
            for (name, value) in properties.get(step).into_iter().flatten() {
                case.add_property(quick_junit::Property::new(name.as_str(), value.as_str()));
            }
            suite.add_test_case(case);
        }
        for (step, exercise) in self.exercises.lock().expect("never poisoned").iter() {
            let status = exercise.status(|text| self.mask(text));
            let mut case = TestCase::new(format!("exercise: {step}"), status);
            case.set_classname(format!("{}.exercises", self.name));
            if exercise.by_hand {
                case.set_system_out(format!("made by hand; {}", exercise.tally()));
            }
            suite.add_test_case(case);
        }
        let mut report = Report::new("runbook");
        report.add_test_suite(suite);
        let xml = report.to_string().map_err(std::io::Error::other)?;
        super::write_atomically(path, xml.as_bytes())?;
        WRITTEN.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// `runbook check`'s report: a test case per step, passed when it is in place or ready, failed
/// when it would fail (with the reason and the fix), skipped when it cannot be told or a run
/// would skip it (with why).
pub fn write_check(
    name: &str,
    verdicts: &[crate::engine::check::Evaluated],
    path: &Path,
) -> std::io::Result<()> {
    use crate::engine::action::Verdict;
    let mut suite = TestSuite::new(format!("check: {name}"));
    for v in verdicts {
        let status = match &v.verdict {
            Verdict::InPlace { what } => {
                let mut s = TestCaseStatus::success();
                s.set_description(format!("in place: {what}"));
                s
            }
            Verdict::Ready { why } => {
                let mut s = TestCaseStatus::success();
                s.set_description(format!("ready: {why}"));
                s
            }
            Verdict::CouldNotLook { why } => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(format!("could not look: {why}"));
                s
            }
            Verdict::WouldFail { reason, fix } => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(reason.as_str());
                if let Some(fix) = fix {
                    s.set_description(fix.as_str());
                }
                s
            }
            Verdict::Unknown { why } | Verdict::Skipped { why } => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(why.as_str());
                s
            }
        };
        let mut case = TestCase::new(v.step.as_str(), status);
        case.set_classname(name);
        suite.add_test_case(case);
    }
    let mut report = Report::new("runbook check");
    report.add_test_suite(suite);
    let xml = report.to_string().map_err(std::io::Error::other)?;
    super::write_atomically(path, xml.as_bytes())
}

impl Junit {
    /// Note an exercise event: `true` when that is all there is to it (a step's success is
    /// also the step's own case).
    fn exercise(&self, event: &Event) -> bool {
        let mut exercises = self.exercises.lock().expect("never poisoned");
        let (Event::ExerciseShown { step, .. }
        | Event::ExerciseChecked { step, .. }
        | Event::ExerciseHint { step, .. }
        | Event::ExerciseSolved { step }
        | Event::StepSucceeded {
            step,
            by_hand: true,
            ..
        }) = event
        else {
            return false;
        };
        let i = exercises
            .iter()
            .position(|(s, _)| s == step)
            .unwrap_or_else(|| {
                exercises.push((step.clone(), Exercise::default()));
                exercises.len() - 1
            });
        let e = &mut exercises[i].1;
        match event {
            Event::ExerciseChecked { found, details, .. } => {
                e.checks += 1;
                e.last = Some(if details.is_empty() {
                    found.clone()
                } else {
                    format!("{found}: {}", details.join("; "))
                });
            }
            Event::ExerciseHint { .. } => e.hints += 1,
            Event::ExerciseSolved { .. } => e.solved = true,
            Event::StepSucceeded { .. } => {
                e.by_hand = true;
                return false;
            }
            _ => {}
        }
        true
    }
}

impl Reporter for Junit {
    fn event(&self, event: &Event) {
        if self.exercise(event) {
            return;
        }
        let mut outcomes = self.outcomes.lock().expect("never poisoned");
        match event {
            Event::StepSucceeded { step, elapsed, .. } => {
                outcomes.insert(step.clone(), Outcome::Passed(*elapsed));
            }
            Event::StepFailed {
                step,
                error,
                elapsed,
                ..
            } => {
                outcomes.insert(
                    step.clone(),
                    Outcome::Failed {
                        message: error.message.clone(),
                        hint: error.hint.clone(),
                        elapsed: *elapsed,
                    },
                );
            }
            Event::StepSkipped { step, reason, .. } | Event::StepCancelled { step, reason, .. } => {
                outcomes.insert(step.clone(), Outcome::Skipped(reason.clone()));
            }
            // The rollback after a failure is a case of its own: passed when it left nothing,
            // failed with what remains.
            Event::RollbackFinished {
                part: false,
                complete,
                remaining,
                ..
            } => {
                let outcome = if *complete {
                    Outcome::Passed(Duration::ZERO)
                } else {
                    Outcome::Failed {
                        message: format!("rollback incomplete: {}", super::remain(remaining.len())),
                        hint: Some(
                            remaining
                                .iter()
                                .map(|(step, r)| super::left_text(step, r))
                                .collect::<Vec<_>>()
                                .join("\n"),
                        ),
                        elapsed: Duration::ZERO,
                    }
                };
                outcomes.insert(ROLLBACK.to_owned(), outcome);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn succeeded(step: &str, by_hand: bool) -> Event {
        Event::StepSucceeded {
            step: step.into(),
            title: step.into(),
            outputs: serde_json::Map::new(),
            resources: Vec::new(),
            elapsed: Duration::from_secs(1),
            adopted: by_hand,
            by_hand,
        }
    }

    /// Each exercise reached is a case: made by hand passes (with its checks and hints), solved
    /// by the runbook fails saying so, left unfinished is skipped; the steps keep their own cases.
    #[test]
    fn each_exercise_reached_is_a_test_case_saying_how_it_went() {
        let steps = ["zone", "primary_record", "secondary_record", "stop_primary"];
        let junit = Junit::new(
            "failover",
            steps.iter().map(|s| (*s).to_owned()).collect(),
            vec!["hunter2".into()],
        );
        let events = [
            succeeded("zone", false),
            Event::ExerciseShown {
                step: "primary_record".into(),
                task: "make it".into(),
            },
            Event::ExerciseChecked {
                step: "primary_record".into(),
                found: "differs".into(),
                what: None,
                details: vec!["the role is SECONDARY; this step needs PRIMARY".into()],
            },
            Event::ExerciseHint {
                step: "primary_record".into(),
                hint: 1,
            },
            Event::ExerciseChecked {
                step: "primary_record".into(),
                found: "matches".into(),
                what: None,
                details: Vec::new(),
            },
            succeeded("primary_record", true),
            Event::ExerciseShown {
                step: "secondary_record".into(),
                task: "make it".into(),
            },
            Event::ExerciseChecked {
                step: "secondary_record".into(),
                found: "nothing".into(),
                what: None,
                details: vec!["looked in zone Z1 (password hunter2)".into()],
            },
            Event::ExerciseSolved {
                step: "secondary_record".into(),
            },
            succeeded("secondary_record", false),
            Event::ExerciseShown {
                step: "stop_primary".into(),
                task: "stop them".into(),
            },
        ];
        for e in &events {
            junit.event(e);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.xml");
        junit.write(&path).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        let case = |name: &str| {
            let start = xml
                .find(&format!("name=\"{name}\""))
                .unwrap_or_else(|| panic!("no case {name}: {xml}"));
            let end = xml[start..]
                .find("</testcase>")
                .map_or(xml.len(), |e| start + e);
            xml[start..end].to_owned()
        };
        // The steps' own cases: all three record and drill steps passed or were not run.
        assert!(!case("primary_record").contains("<failure"));
        assert!(!case("secondary_record").contains("<failure"));
        let by_hand = case("exercise: primary_record");
        assert!(
            !by_hand.contains("<failure") && !by_hand.contains("<skipped"),
            "{by_hand}"
        );
        assert!(
            by_hand.contains("made by hand; 2 checks, 1 hint"),
            "{by_hand}"
        );
        let solved = case("exercise: secondary_record");
        assert!(
            solved.contains("<failure")
                && solved.contains("solved by the runbook after 1 check, 0 hints"),
            "{solved}"
        );
        assert!(
            solved.contains("last check: nothing: looked in zone Z1"),
            "{solved}"
        );
        assert!(
            !xml.contains("hunter2"),
            "a secret var never reaches the report"
        );
        let left = case("exercise: stop_primary");
        assert!(
            left.contains("<skipped") && left.contains("left unfinished after 0 checks"),
            "{left}"
        );
        assert!(xml.contains("classname=\"failover.exercises\""));
    }
}
