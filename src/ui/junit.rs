//! A `JUnit` XML report of a run, for CI: one test case per step (passed, failed, or skipped with
//! the reason, including steps a failure kept from starting).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::engine::{Event, Reporter};

/// The test case of the rollback that followed a failure.
const ROLLBACK: &str = "(rollback)";

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
    secrets: Vec<String>,
}

impl Junit {
    pub fn new(name: &str, steps: Vec<String>, secrets: Vec<String>) -> Self {
        Junit {
            name: name.to_owned(),
            steps,
            outcomes: Mutex::default(),
            secrets,
        }
    }

    fn mask(&self, text: &str) -> String {
        let mut v = serde_json::Value::String(text.to_owned());
        crate::mask::mask(&mut v, &self.secrets);
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Write the report.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let outcomes = self.outcomes.lock().expect("never poisoned").clone();
        let mut suite = TestSuite::new(self.name.as_str());
        let rollback = outcomes.contains_key(ROLLBACK).then(|| ROLLBACK.to_owned());
        for step in self.steps.iter().chain(&rollback) {
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
            suite.add_test_case(case);
        }
        let mut report = Report::new("runbook");
        report.add_test_suite(suite);
        let xml = report.to_string().map_err(std::io::Error::other)?;
        std::fs::write(path, xml)
    }
}

impl Reporter for Junit {
    fn event(&self, event: &Event) {
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
                complete,
                remaining,
                ..
            } => {
                let outcome = if *complete {
                    Outcome::Passed(Duration::ZERO)
                } else {
                    Outcome::Failed {
                        message: format!(
                            "rollback incomplete: {} resources remain",
                            remaining.len()
                        ),
                        hint: Some(
                            remaining
                                .iter()
                                .map(|(step, r)| format!("{} {} (step {step})", r.kind, r.id))
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
