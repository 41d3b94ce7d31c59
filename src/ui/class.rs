//! A class's labs at once: on a terminal one live line per student (current step, done and
//! failed counts), in logs and JSON each student's events marked with the student; at the end a
//! table of every lab.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::{Event, Reporter};

/// Where one student's lab stands.
#[derive(Clone, Debug, Default)]
struct Row {
    done: usize,
    /// Steps undone by a rollback.
    undone: usize,
    failed: usize,
    total: usize,
    step: String,
    status: String,
    phase: &'static str,
}

/// The live view: a line per student.
pub struct Board {
    _multi: MultiProgress,
    bars: Vec<ProgressBar>,
    names: Vec<String>,
    rows: Mutex<Vec<Row>>,
    width: usize,
    secrets: Vec<String>,
}

impl Board {
    /// `labs`: each student's name and number of steps.
    pub fn new(labs: &[(String, usize)], secrets: Vec<String>) -> Arc<Board> {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let width = labs
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(0);
        let style = ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bars = labs
            .iter()
            .map(|_| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.enable_steady_tick(Duration::from_millis(200));
                bar
            })
            .collect();
        let rows = labs
            .iter()
            .map(|(_, total)| Row {
                total: *total,
                phase: "waiting",
                ..Row::default()
            })
            .collect();
        let board = Arc::new(Board {
            _multi: multi,
            bars,
            names: labs.iter().map(|(n, _)| n.clone()).collect(),
            rows: Mutex::new(rows),
            width,
            secrets,
        });
        for i in 0..labs.len() {
            board.draw(i);
        }
        board
    }

    /// The reporter of student `i`.
    pub fn student(self: &Arc<Self>, i: usize) -> Box<dyn Reporter> {
        Box::new(StudentLine {
            board: self.clone(),
            i,
        })
    }

    fn draw(&self, i: usize) {
        let row = self.rows.lock().expect("never poisoned")[i].clone();
        let mut text = format!(
            "{:<w$}  {:<11} {}/{} done",
            self.names[i],
            row.phase,
            row.done,
            row.total,
            w = self.width
        );
        if row.undone > 0 {
            text.push_str(&format!(", {} undone", row.undone));
        }
        if row.failed > 0 {
            text.push_str(&format!(", {} failed", row.failed));
        }
        if !row.step.is_empty() {
            text.push_str(&format!("  {}", row.step));
            if !row.status.is_empty() {
                text.push_str(&format!(": {}", row.status));
            }
        }
        let mut masked = serde_json::Value::String(text);
        crate::mask::mask(&mut masked, &self.secrets);
        self.bars[i].set_message(masked.as_str().unwrap_or_default().to_owned());
    }

    /// Stop the spinners, leaving each student's last line.
    pub fn finish(&self) {
        for bar in &self.bars {
            bar.finish();
        }
    }

    fn event(&self, i: usize, event: &Event) {
        {
            let mut rows = self.rows.lock().expect("never poisoned");
            let row = &mut rows[i];
            match event {
                Event::RunStarted { .. } => row.phase = "running",
                Event::StepStarted { step, .. } => {
                    row.step.clone_from(step);
                    row.status.clear();
                }
                Event::StepStatus { step, text } => {
                    row.step.clone_from(step);
                    row.status.clone_from(text);
                }
                Event::StepSucceeded { .. } | Event::StepSkipped { .. } => {
                    row.done += 1;
                    row.status.clear();
                }
                Event::StepFailed { step, error, .. } => {
                    row.failed += 1;
                    row.step.clone_from(step);
                    row.status.clone_from(&error.message);
                }
                Event::RunFinished { status, .. } => {
                    row.phase = match status {
                        crate::engine::journal::RunStatus::Succeeded => "done",
                        crate::engine::journal::RunStatus::Failed => "failed",
                        crate::engine::journal::RunStatus::Interrupted => "interrupted",
                        crate::engine::journal::RunStatus::Paused => "paused",
                    };
                    if row.failed == 0 {
                        row.step.clear();
                        row.status.clear();
                    }
                }
                Event::RollbackStarted { part: true, .. } => row.phase = "rebuilding",
                Event::RollbackStarted { .. } => row.phase = "rolling back",
                Event::UndoStarted { step } => {
                    row.step = format!("undo {step}");
                    row.status.clear();
                }
                Event::UndoSucceeded { .. } => {
                    row.undone += 1;
                    row.status.clear();
                }
                Event::UndoFailed { step, error, .. } => {
                    row.failed += 1;
                    row.step = format!("undo {step}");
                    row.status.clone_from(&error.message);
                }
                // A rebuild goes on running: its steps say where it is.
                Event::RollbackFinished {
                    part: true,
                    complete: true,
                    ..
                } => {
                    row.step.clear();
                    row.status.clear();
                }
                Event::RollbackFinished { complete, .. } => {
                    row.phase = if *complete {
                        "rolled back"
                    } else {
                        "rollback incomplete"
                    };
                    row.step.clear();
                    row.status.clear();
                }
                _ => return,
            }
        }
        self.draw(i);
    }
}

struct StudentLine {
    board: Arc<Board>,
    i: usize,
}

impl Reporter for StudentLine {
    fn event(&self, event: &Event) {
        self.board.event(self.i, event);
    }
}

/// How a lab ended: shown as `succeeded`, `failed, rolled back`, `interrupted, kept`, `error`…
/// (in the table and in `--output json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabStatus {
    Succeeded,
    /// It stopped before the end, and what became of what it had created.
    Stopped(Stop, Left),
    /// It could not be run at all (a journal or AWS setup error).
    Error,
    /// Set up by an earlier run, some of what it made was gone from AWS, and this run made it
    /// again.
    Rebuilt,
    /// Set up to the step `--until` named, where the student goes on (`resume`).
    Paused,
    /// Another process took its lease (`--take-over`) and drives it now: this one stopped, and
    /// what the lab made is the new driver's to finish or remove.
    TakenOver,
}

/// Why a lab stopped before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Failed,
    Interrupted,
}

/// What became of a stopped lab's resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Left {
    RolledBack,
    RollbackIncomplete,
    Kept,
}

impl LabStatus {
    /// The lab is set up.
    pub fn set_up(self) -> bool {
        matches!(
            self,
            LabStatus::Succeeded | LabStatus::Rebuilt | LabStatus::Paused
        )
    }

    /// Something may still exist that nobody will remove without being told.
    pub fn incomplete(self) -> bool {
        matches!(
            self,
            LabStatus::Error | LabStatus::Stopped(_, Left::RollbackIncomplete)
        )
    }
}

impl std::fmt::Display for LabStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabStatus::Succeeded => f.write_str("succeeded"),
            LabStatus::Error => f.write_str("error"),
            LabStatus::Rebuilt => f.write_str("rebuilt"),
            LabStatus::Paused => f.write_str("paused"),
            LabStatus::TakenOver => f.write_str("taken over"),
            LabStatus::Stopped(stop, left) => {
                let stop = match stop {
                    Stop::Failed => "failed",
                    Stop::Interrupted => "interrupted",
                };
                let left = match left {
                    Left::RolledBack => "rolled back",
                    Left::RollbackIncomplete => "rollback incomplete",
                    Left::Kept => "kept",
                };
                write!(f, "{stop}, {left}")
            }
        }
    }
}

impl serde::Serialize for LabStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One lab at the end of a class run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LabResult {
    pub student: String,
    pub run_id: String,
    pub status: LabStatus,
    pub url: Option<String>,
    /// The failed step and its error.
    pub failure: Option<String>,
}

/// The final table: student, status, URL, failure.
pub fn table(labs: &[LabResult]) -> String {
    let headers = ["STUDENT", "STATUS", "URL", "FAILURE"];
    let rows: Vec<[String; 4]> = labs
        .iter()
        .map(|l| {
            [
                l.student.clone(),
                l.status.to_string(),
                l.url.clone().unwrap_or_else(|| "-".into()),
                l.failure.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        let mut out = String::new();
        for (k, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if k == 3 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers);
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3]]));
    }
    out
}

/// One lab at the end of `rollback --class`.
pub struct Undone {
    pub student: String,
    pub complete: bool,
    pub removed: usize,
    pub already_gone: usize,
    pub remaining: usize,
    /// Why it could not be rolled back at all.
    pub error: Option<String>,
}

/// The table at the end of `rollback --class`: a row per student.
pub fn rollback_table(labs: &[Undone]) -> String {
    let width = labs
        .iter()
        .map(|l| l.student.chars().count())
        .max()
        .unwrap_or(0)
        .max("STUDENT".len());
    let mut out = format!(
        "{:<width$}  {:<20}  {:>7}  {:>12}  {:>9}\n",
        "STUDENT", "RESULT", "REMOVED", "ALREADY GONE", "REMAINING"
    );
    for l in labs {
        let result = match (&l.error, l.complete) {
            (Some(_), _) => "error",
            (None, true) => "rolled back",
            (None, false) => "rollback incomplete",
        };
        out.push_str(&format!(
            "{:<width$}  {:<20}  {:>7}  {:>12}  {:>9}\n",
            l.student, result, l.removed, l.already_gone, l.remaining
        ));
        if let Some(e) = &l.error {
            out.push_str(&format!("{:<width$}  {e}\n", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lines_up_every_lab() {
        let labs = vec![
            LabResult {
                student: "alice".into(),
                run_id: "r1".into(),
                status: LabStatus::Succeeded,
                url: Some("http://alice.class.example/".into()),
                failure: None,
            },
            LabResult {
                student: "bartholomew".into(),
                run_id: "r2".into(),
                status: LabStatus::Stopped(Stop::Failed, Left::RolledBack),
                url: None,
                failure: Some("primary.vpc: VpcLimitExceeded".into()),
            },
        ];
        let text = table(&labs);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("STUDENT      STATUS"), "{text}");
        assert!(
            lines[1]
                .starts_with("alice        succeeded            http://alice.class.example/  -"),
            "{text}"
        );
        assert!(
            lines[2].ends_with("primary.vpc: VpcLimitExceeded"),
            "{text}"
        );
        let url_col = lines[0].find("URL").unwrap();
        assert_eq!(&lines[2][url_col..=url_col], "-", "{text}");
    }
}
