//! Reporters: how a run's events reach people and tools.
//!
//! [`Lines`] writes one line per event: on a terminal with colours and symbols (human), or
//! timestamped with no escape codes (plain, for logs). [`JsonLines`] writes one JSON object per
//! event on stdout (schema in docs/events.md). Secrets are masked before anything is written.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value as Json, json};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Format;
use super::ask::TerminalAsk;
use super::junit::Junit;
use super::runs::Drill;
use crate::engine::action::{Resource, Undone};
use crate::engine::journal::{RunStatus, now};
use crate::engine::{Event, Reporter};

fn seconds(d: Duration) -> String {
    if d.as_secs() >= 60 {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// `id: title`, or just the id when the step has no title of its own.
fn named(step: &str, title: &str) -> String {
    if title == step {
        step.to_owned()
    } else {
        format!("{step}: {title}")
    }
}

fn value_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn resources_text(resources: &[Resource]) -> String {
    resources
        .iter()
        .map(|r| format!("{} {}", r.kind, r.id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a step made, in words: `created vpc vpc-1`, and a change to existing resources as
/// itself (`stopped instances i-1`), which nothing "created".
fn made_text(resources: &[Resource], id: impl Fn(&str) -> &str) -> String {
    let (changes, created): (Vec<&Resource>, Vec<&Resource>) =
        resources.iter().partition(|r| !r.changed.is_empty());
    let mut parts = Vec::new();
    if !created.is_empty() {
        let list: Vec<String> = created
            .iter()
            .map(|r| format!("{} {}", r.kind, id(&r.id)))
            .collect();
        parts.push(format!("created {}", list.join(", ")));
    }
    parts.extend(changes.iter().map(|r| format!("{} {}", r.kind, id(&r.id))));
    parts.join("; ")
}

/// Where lines go: a writer, or above live spinners.
enum Sink {
    Write(Box<dyn Write + Send>),
    Above(MultiProgress),
}

/// One line per event.
pub struct Lines {
    out: Mutex<Sink>,
    color: bool,
    timestamps: bool,
    secrets: Vec<String>,
    last_status: Mutex<std::collections::HashMap<String, String>>,
    /// The region whose AWS console created resources link to (not against an emulator).
    console: Option<String>,
    /// Put before every line: whose run it is, when a class runs many at once.
    prefix: String,
    /// What this rollback has removed so far, by kind: said at its end.
    removed: Mutex<std::collections::BTreeMap<String, usize>>,
    /// How many changes it found already undone (neither removed nor gone).
    back: std::sync::atomic::AtomicUsize,
    /// The step whose message was the last thing said: its next one goes on under the same
    /// heading (a command's output, a line at a time).
    speaking: Mutex<Option<String>>,
}

impl Lines {
    /// For people on a terminal: symbols and (optionally) colour, no timestamps.
    pub fn human(out: Box<dyn Write + Send>, color: bool, secrets: Vec<String>) -> Self {
        Lines {
            out: Mutex::new(Sink::Write(out)),
            color,
            timestamps: false,
            secrets,
            last_status: Mutex::default(),
            console: None,
            prefix: String::new(),
            removed: Mutex::default(),
            back: std::sync::atomic::AtomicUsize::new(0),
            speaking: Mutex::default(),
        }
    }

    /// For logs: a timestamp on every line, no escape codes.
    /// Plain lines on stderr.
    pub fn stderr(secrets: Vec<String>) -> Self {
        Lines::plain(Box::new(std::io::stderr()), secrets)
    }

    pub fn plain(out: Box<dyn Write + Send>, secrets: Vec<String>) -> Self {
        Lines {
            out: Mutex::new(Sink::Write(out)),
            color: false,
            timestamps: true,
            secrets,
            last_status: Mutex::default(),
            console: None,
            prefix: String::new(),
            removed: Mutex::default(),
            back: std::sync::atomic::AtomicUsize::new(0),
            speaking: Mutex::default(),
        }
    }

    /// Count what an undo removed (not what it reverted or found gone), for the rollback's end.
    fn tally(&self, event: &Event) {
        if let Event::UndoSucceeded { resources, .. } = event {
            let back = resources
                .iter()
                .filter(|(r, how)| *how == Undone::AlreadyGone && !r.changed.is_empty())
                .count();
            self.back
                .fetch_add(back, std::sync::atomic::Ordering::Relaxed);
            let mut kinds = self.removed.lock().expect("never poisoned");
            for (r, _) in resources
                .iter()
                .filter(|(r, how)| *how == Undone::Removed && r.changed.is_empty())
            {
                *kinds.entry(r.kind.clone()).or_default() += 1;
            }
        }
    }

    /// Link created resources to the AWS console of this region.
    #[must_use]
    pub fn with_console(mut self, region: Option<String>) -> Self {
        self.console = region;
        self
    }

    /// Start every line with `[who] `: one student's lab among a class's.
    #[must_use]
    pub fn with_prefix(mut self, who: &str) -> Self {
        self.prefix = format!("[{who}] ");
        self
    }

    /// A mark for an event: a symbol for people, a word in logs.
    fn mark(&self, code: &str, symbol: &str, word: &str) -> String {
        if self.timestamps {
            word.to_owned()
        } else {
            self.paint(code, symbol)
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }

    fn mask(&self, text: &str) -> String {
        let mut text = Json::String(text.to_owned());
        crate::mask::mask(&mut text, &self.secrets);
        text.as_str().unwrap_or_default().to_owned()
    }

    fn line(&self, text: &str) {
        let text = self.mask(text);
        let mut out = self.out.lock().expect("the output lock is never poisoned");
        for l in text.lines() {
            let l = if self.timestamps {
                format!("{} {}{l}", now(), self.prefix)
            } else {
                format!("{}{l}", self.prefix)
            };
            match &mut *out {
                Sink::Write(w) => {
                    let _ = writeln!(w, "{l}");
                }
                Sink::Above(multi) => {
                    let _ = multi.println(l);
                }
            }
        }
        if let Sink::Write(w) = &mut *out {
            let _ = w.flush();
        }
    }
}

impl Reporter for Lines {
    fn event(&self, event: &Event) {
        let speaking = {
            let mut speaking = self.speaking.lock().expect("never poisoned");
            let step = match event {
                Event::StepMessage { step, .. } => Some(step.clone()),
                _ => None,
            };
            std::mem::replace(&mut *speaking, step)
        };
        match event {
            Event::RunStarted {
                run_id,
                name,
                steps,
                resumed,
            } => {
                let verb = if *resumed { "Resuming" } else { "Running" };
                let steps = crate::runbook::suggest::count(*steps, "step");
                self.line(&format!("{verb} {name} ({steps}), run {run_id}"));
            }
            Event::StepStarted {
                step,
                title,
                attempt,
                params,
            } => {
                let again = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                self.line(&format!(
                    "{} {}{again}",
                    self.mark("36", "▶", "start"),
                    named(step, title)
                ));
                // A log keeps what each step was given; people on a terminal see it in the plan
                // or the walkthrough.
                if self.timestamps {
                    let mut text = String::new();
                    super::plan::params(&mut text, "  with:", params, 4);
                    if !text.is_empty() {
                        self.line(text.trim_end());
                    }
                }
            }
            Event::StepStatus { step, text } => {
                let mut last = self.last_status.lock().expect("never poisoned");
                if last.get(step) != Some(text) {
                    last.insert(step.clone(), text.clone());
                    drop(last);
                    // The run's own work (rollback's last look) belongs to no step.
                    if step.is_empty() {
                        self.line(&format!("  {text}"));
                    } else {
                        self.line(&format!("  {step}: {text}"));
                    }
                }
            }
            Event::StepMessage { step, text } => {
                if speaking.as_ref() != Some(step) {
                    self.line(&format!("  {step}:"));
                }
                for l in text.lines() {
                    self.line(&format!("    {l}"));
                }
            }
            Event::StepRetry {
                step,
                attempt,
                wait,
                error,
            } => {
                self.line(&format!(
                    "  {step}: attempt {attempt} failed ({error}); trying again in {}",
                    seconds(*wait)
                ));
            }
            Event::StepSucceeded {
                step,
                title,
                outputs,
                resources,
                elapsed,
                adopted,
                by_hand,
            } => {
                let how = if *by_hand {
                    ", made by hand: checked and adopted"
                } else if *adopted {
                    ", adopted what an interrupted attempt created"
                } else {
                    ""
                };
                self.line(&format!(
                    "{} {} ({}{how})",
                    self.mark("32", "✓", "done "),
                    named(step, title),
                    seconds(*elapsed)
                ));
                if !resources.is_empty() {
                    self.line(&format!("  {}", made_text(resources, |id| id)));
                }
                if let Some(region) = &self.console {
                    for r in resources {
                        let region = r.region.as_deref().unwrap_or(region);
                        if let Some(url) = crate::actions::console_url(&r.kind, &r.id, region) {
                            self.line(&format!("  console: {url}"));
                        }
                    }
                }
                for (k, v) in outputs {
                    self.line(&format!("  {k} = {}", value_text(v)));
                }
            }
            // The exercise's prompt shows the task, each check and each hint (`ui::ask`); a
            // step made by hand says so when it succeeds.
            Event::ExerciseShown { .. }
            | Event::ExerciseChecked { .. }
            | Event::ExerciseHint { .. }
            | Event::ExerciseSolved { .. } => {}
            Event::StepSkipped {
                step,
                title,
                reason,
            } => {
                self.line(&format!(
                    "{} {} (skipped: {reason})",
                    self.mark("33", "-", "skip "),
                    named(step, title)
                ));
            }
            Event::StepFailed {
                step,
                title,
                error,
                elapsed,
            } => {
                self.line(&format!(
                    "{} {} failed after {}: {}",
                    self.mark("31", "✗", "FAIL "),
                    named(step, title),
                    seconds(*elapsed),
                    error.message
                ));
                if let Some(hint) = &error.hint {
                    self.line(&format!("  hint: {hint}"));
                }
            }
            Event::StepCancelled {
                step,
                title,
                reason,
            } => {
                self.line(&format!(
                    "{} {}: {reason}",
                    self.mark("33", "■", "stop "),
                    named(step, title)
                ));
            }
            Event::RunFinished {
                run_id,
                status,
                outputs,
            } => {
                let text = match status {
                    RunStatus::Succeeded => self.paint("32", "Run succeeded"),
                    RunStatus::Failed => self.paint("31", "Run failed"),
                    RunStatus::Interrupted => self.paint("33", "Run interrupted"),
                    RunStatus::Paused => self.paint("33", "Run paused"),
                };
                self.line(&format!("{text}: {run_id}"));
                if !outputs.is_empty() {
                    self.line("Outputs:");
                    for (k, v) in outputs {
                        self.line(&format!("  {k}: {}", value_text(v)));
                    }
                }
            }
            Event::RollbackStarted {
                run_id,
                part,
                steps,
                resources,
            } => {
                // In the words the run ended with ("This run created 25 resources").
                let count = crate::runbook::suggest::count;
                *self.removed.lock().expect("never poisoned") = std::collections::BTreeMap::new();
                if *part {
                    self.line(&format!(
                        "Undoing {} of {run_id} to run {} again: {}",
                        count(*steps, "step"),
                        if *steps == 1 { "it" } else { "them" },
                        count(*resources, "resource")
                    ));
                    return;
                }
                let what = if *resources == 0 {
                    format!("looking for what {} left part way", count(*steps, "step"))
                } else {
                    format!(
                        "{} from {}",
                        count(*resources, "resource"),
                        count(*steps, "step")
                    )
                };
                self.line(&format!("Rolling back {run_id}: {what}"));
            }
            Event::UndoStarted { step } => {
                self.line(&format!("{} undo {step}", self.mark("36", "▶", "start")));
            }
            Event::UndoSucceeded { step, resources } => {
                let of = |how: Undone| -> Vec<Resource> {
                    resources
                        .iter()
                        .filter(|(_, h)| *h == how)
                        .map(|(r, _)| r.clone())
                        .collect()
                };
                let (removed, gone, moot) = (
                    of(Undone::Removed),
                    of(Undone::AlreadyGone),
                    of(Undone::Moot),
                );
                let (reverted, removed): (Vec<Resource>, Vec<Resource>) =
                    removed.into_iter().partition(|r| !r.changed.is_empty());
                // A change found already undone (instances already running again) is not gone.
                let (back, gone): (Vec<Resource>, Vec<Resource>) =
                    gone.into_iter().partition(|r| !r.changed.is_empty());
                self.tally(event);
                let mut what = Vec::new();
                if !removed.is_empty() {
                    what.push(format!("removed {}", resources_text(&removed)));
                }
                if !reverted.is_empty() {
                    what.push(format!("undid {}", resources_text(&reverted)));
                }
                if !back.is_empty() {
                    what.push(format!("already undone: {}", resources_text(&back)));
                }
                if !gone.is_empty() {
                    what.push(format!("already gone: {}", resources_text(&gone)));
                }
                if !moot.is_empty() {
                    what.push(format!(
                        "not needed: {} (removed with what they changed)",
                        resources_text(&moot)
                    ));
                }
                let what = if what.is_empty() {
                    String::new()
                } else {
                    format!(": {}", what.join("; "))
                };
                let mark = if removed.is_empty() && !gone.is_empty() {
                    self.mark("33", "○", "gone ")
                } else {
                    self.mark("32", "✓", "done ")
                };
                self.line(&format!("{mark} undo {step}{what}"));
            }
            Event::UndoFailed {
                step,
                error,
                remaining,
            } => {
                self.line(&format!(
                    "{} undo {step}: {}",
                    self.mark("31", "✗", "FAIL "),
                    error.message
                ));
                if let Some(hint) = &error.hint {
                    self.line(&format!("  hint: {hint}"));
                }
                if !remaining.is_empty() {
                    self.line(&format!("  left: {}", resources_text(remaining)));
                }
            }
            Event::RollbackFinished {
                run_id,
                part,
                complete,
                remaining,
                removed,
                already_gone,
            } => {
                if *complete && *part {
                    // The run goes on: what it still holds is not this line's to count.
                    let kinds = std::mem::take(&mut *self.removed.lock().expect("never poisoned"));
                    let what = if kinds.is_empty() {
                        format!("{already_gone} already gone")
                    } else {
                        kinds_text(&kinds)
                    };
                    self.line(&format!("Undone, to be made again: {what}"));
                } else if *complete && *removed == 0 && *already_gone > 0 {
                    self.line(&self.paint(
                        "33",
                        &format!(
                            "Rollback removed nothing: all {} of {run_id} were already gone",
                            crate::runbook::suggest::count(*already_gone, "resource")
                        ),
                    ));
                } else if *complete {
                    let back = self.back.swap(0, std::sync::atomic::Ordering::Relaxed);
                    let mut parts = vec![format!("{removed} removed")];
                    if *already_gone > 0 {
                        parts.push(format!("{already_gone} already gone"));
                    }
                    if back > 0 {
                        parts.push(format!("{back} already undone"));
                    }
                    let gone = if parts.len() > 1 {
                        format!(" ({})", parts.join(", "))
                    } else {
                        String::new()
                    };
                    self.line(&format!(
                        "Rollback complete: {run_id} left nothing behind{gone}"
                    ));
                    // What went, by kind, in the words the run created them with.
                    let kinds = std::mem::take(&mut *self.removed.lock().expect("never poisoned"));
                    if !kinds.is_empty() {
                        self.line(&format!("  Removed: {}", kinds_text(&kinds)));
                    }
                } else {
                    self.line(&self.paint(
                        "31",
                        &format!("Rollback incomplete: {}", super::remain(remaining.len())),
                    ));
                    for (step, r) in remaining {
                        self.line(&format!("  {}", super::left_text(step, r)));
                    }
                }
            }
        }
    }
}

/// One JSON object per event, on its own line.
pub struct JsonLines {
    out: Mutex<Box<dyn Write + Send>>,
    secrets: Vec<String>,
    /// Where the first write error goes, when someone must hear of it (an events file).
    failed: Option<Arc<Mutex<Option<String>>>>,
    /// Added to every object: `student` in a class.
    fields: serde_json::Map<String, Json>,
}

impl JsonLines {
    /// JSON lines on stdout.
    pub fn stdout(secrets: Vec<String>) -> Self {
        JsonLines::new(Box::new(std::io::stdout()), secrets)
    }

    pub fn new(out: Box<dyn Write + Send>, secrets: Vec<String>) -> Self {
        JsonLines {
            out: Mutex::new(out),
            secrets,
            fields: serde_json::Map::new(),
            failed: None,
        }
    }

    /// Keep the first write error in `slot` (an events file on a full disk must fail the run,
    /// not go quiet).
    #[must_use]
    pub fn failing_into(mut self, slot: Arc<Mutex<Option<String>>>) -> Self {
        self.failed = Some(slot);
        self
    }

    /// Add `name: value` to every object.
    #[must_use]
    pub fn with_field(mut self, name: &str, value: &str) -> Self {
        self.fields.insert(name.to_owned(), Json::from(value));
        self
    }
}

/// A run or rollback that failed outside its steps, as its last JSON line on stdout: `error` with
/// the message, the help and the exit code (docs/events.md).
pub fn json_error(message: &str, help: Option<&str>, exit: i32) {
    let v = json!({"event": "error", "at": now(), "message": message, "help": help, "exit": exit});
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// An event as JSON (`event` names it; `at` is RFC 3339 with milliseconds).
pub fn event_json(event: &Event) -> Json {
    let (name, body) = match event {
        Event::RunStarted {
            run_id,
            name,
            steps,
            resumed,
        } => (
            "run_started",
            json!({"run_id": run_id, "runbook": name, "steps": steps, "resumed": resumed}),
        ),
        Event::StepStarted {
            step,
            title,
            attempt,
            params,
        } => (
            "step_started",
            json!({"step": step, "title": title, "attempt": attempt, "params": params}),
        ),
        Event::StepStatus { step, text } => ("step_status", json!({"step": step, "status": text})),
        Event::StepMessage { step, text } => {
            ("step_message", json!({"step": step, "message": text}))
        }
        Event::StepRetry {
            step,
            attempt,
            wait,
            error,
        } => (
            "step_retry",
            json!({"step": step, "attempt": attempt, "wait_seconds": wait.as_secs_f64(), "error": error}),
        ),
        Event::StepSucceeded {
            step,
            title,
            outputs,
            resources,
            elapsed,
            adopted,
            by_hand,
        } => (
            "step_succeeded",
            json!({"step": step, "title": title, "outputs": outputs, "resources": resources, "seconds": elapsed.as_secs_f64(), "adopted": adopted, "by_hand": by_hand}),
        ),
        Event::ExerciseShown { step, task } => {
            ("exercise_shown", json!({"step": step, "task": task}))
        }
        Event::ExerciseChecked {
            step,
            found,
            what,
            details,
        } => (
            "exercise_checked",
            json!({"step": step, "found": found, "what": what, "details": details}),
        ),
        Event::ExerciseHint { step, hint } => {
            ("exercise_hint", json!({"step": step, "hint": hint}))
        }
        Event::ExerciseSolved { step } => ("exercise_solved", json!({"step": step})),
        Event::StepSkipped {
            step,
            title,
            reason,
        } => (
            "step_skipped",
            json!({"step": step, "title": title, "reason": reason}),
        ),
        Event::StepFailed {
            step,
            title,
            error,
            elapsed,
        } => (
            "step_failed",
            json!({"step": step, "title": title, "error": error, "seconds": elapsed.as_secs_f64()}),
        ),
        Event::StepCancelled {
            step,
            title,
            reason,
        } => (
            "step_cancelled",
            json!({"step": step, "title": title, "reason": reason}),
        ),
        Event::RunFinished {
            run_id,
            status,
            outputs,
        } => (
            "run_finished",
            json!({"run_id": run_id, "status": status, "outputs": outputs}),
        ),
        Event::RollbackStarted {
            run_id,
            part,
            steps,
            resources,
        } => (
            "rollback_started",
            json!({"run_id": run_id, "part": part, "steps": steps, "resources": resources}),
        ),
        Event::UndoStarted { step } => ("undo_started", json!({"step": step})),
        Event::UndoSucceeded { step, resources } => (
            "undo_succeeded",
            json!({"step": step, "resources": resources.iter().map(|(r, how)| {
                let mut v = json!(r);
                v["outcome"] = json!(how);
                v
            }).collect::<Vec<_>>()}),
        ),
        Event::UndoFailed {
            step,
            error,
            remaining,
        } => (
            "undo_failed",
            json!({"step": step, "error": error, "remaining": remaining}),
        ),
        Event::RollbackFinished {
            run_id,
            part,
            complete,
            remaining,
            removed,
            already_gone,
        } => (
            "rollback_finished",
            json!({"run_id": run_id, "part": part, "complete": complete, "removed": removed, "already_gone": already_gone, "remaining": remaining.iter().map(|(s, r)| json!({"step": s, "kind": r.kind, "id": r.id})).collect::<Vec<_>>()}),
        ),
    };
    let mut v = json!({"event": name, "at": now()});
    if let (Some(obj), Json::Object(b)) = (v.as_object_mut(), body) {
        obj.extend(b);
    }
    v
}

impl Reporter for JsonLines {
    fn event(&self, event: &Event) {
        self.write(event_json(event));
    }
}

impl JsonLines {
    /// Write one object, with the added fields, secrets masked; keep the first write error.
    fn write(&self, mut v: Json) {
        if let Some(obj) = v.as_object_mut() {
            obj.extend(self.fields.clone());
        }
        crate::mask::mask_values(&mut v, &self.secrets);
        let mut out = self.out.lock().expect("the output lock is never poisoned");
        let written = writeln!(out, "{v}").and_then(|()| out.flush());
        if let (Err(e), Some(failed)) = (written, &self.failed) {
            failed
                .lock()
                .expect("never poisoned")
                .get_or_insert_with(|| e.to_string());
        }
    }
}

/// A run's reporter: the engine's events, then what the application reads from the finished
/// run's journal.
pub trait RunReporter: Reporter {
    /// The run's drill, once the run ended: its figures and timeline for people, a `drill`
    /// event in JSON (docs/events.md), properties of the drill's cases in `JUnit`.
    fn drill(&self, _drill: &Drill) {}
}

/// Several reporters at once (a terminal and a `JUnit` collector).
pub struct Tee(pub Vec<Box<dyn RunReporter>>);

impl Reporter for Tee {
    fn event(&self, event: &Event) {
        for r in &self.0 {
            r.event(event);
        }
    }
}

impl RunReporter for Tee {
    fn drill(&self, drill: &Drill) {
        for r in &self.0 {
            r.drill(drill);
        }
    }
}

impl RunReporter for Lines {
    fn drill(&self, drill: &Drill) {
        self.line(&drill.headline());
        for l in drill.timeline_text().lines() {
            self.line(l);
        }
    }
}

impl RunReporter for Live {
    fn drill(&self, drill: &Drill) {
        self.lines.drill(drill);
    }
}

impl RunReporter for JsonLines {
    fn drill(&self, drill: &Drill) {
        let mut v = json!({"event": "drill", "at": now()});
        if let (Some(obj), Json::Object(body)) = (v.as_object_mut(), drill.as_json()) {
            obj.extend(body);
        }
        self.write(v);
    }
}

/// For people on a terminal: a spinner per running step with its live status and elapsed time,
/// and a line above the spinners as each step ends. Brief (the default outside the walkthrough
/// and without `-v`): one line per step with what it created, a module's steps folded into one
/// line once they all succeeded, each undo only when it fails; outputs are left to the end and to
/// `runbook show`.
pub struct Live {
    multi: MultiProgress,
    lines: Lines,
    bars: Mutex<std::collections::HashMap<String, ProgressBar>>,
    brief: Option<Mutex<Brief>>,
}

/// What the brief view holds back: each module's steps still to end in this run, and what its
/// ended steps did.
#[derive(Default)]
struct Brief {
    modules: std::collections::BTreeMap<String, Folded>,
    /// A rollback is under way: its undos' notes are details.
    rolling_back: bool,
}

#[derive(Default)]
struct Folded {
    left: usize,
    steps: usize,
    started: Option<std::time::Instant>,
    created: std::collections::BTreeMap<String, usize>,
    skipped: Vec<String>,
}

/// The module a step belongs to: what comes before the first dot of its id (`primary.vpc`).
fn module_of(step: &str) -> Option<&str> {
    step.split_once('.').map(|(m, _)| m)
}

/// `2 subnets, 1 vpc`: how many of each kind.
fn kinds_text(kinds: &std::collections::BTreeMap<String, usize>) -> String {
    kinds
        .iter()
        .map(|(k, n)| {
            if *n == 1 || k.ends_with('s') {
                format!("{n} {k}")
            } else {
                crate::runbook::suggest::count(*n, k)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A resource id as short as still tells it apart: an ARN's last part (`lab-primary-alb/8d4f…`).
fn short_id(id: &str) -> &str {
    if id.starts_with("arn:") {
        id.rsplit_once(":loadbalancer/app/")
            .or_else(|| id.rsplit_once(":targetgroup/"))
            .or_else(|| id.rsplit_once(":listener/app/"))
            .map_or(id, |(_, rest)| rest)
    } else {
        id
    }
}

impl Live {
    pub fn new(multi: MultiProgress, color: bool, secrets: Vec<String>) -> Self {
        let lines = Lines {
            out: Mutex::new(Sink::Above(multi.clone())),
            color,
            timestamps: false,
            secrets,
            last_status: Mutex::default(),
            console: None,
            prefix: String::new(),
            removed: Mutex::default(),
            back: std::sync::atomic::AtomicUsize::new(0),
            speaking: Mutex::default(),
        };
        Live {
            multi,
            lines,
            bars: Mutex::default(),
            brief: None,
        }
    }

    /// The brief view, for a run whose steps still to run are `pending` (ids).
    #[must_use]
    pub fn brief(mut self, pending: &[String]) -> Self {
        let mut brief = Brief::default();
        for step in pending {
            if let Some(m) = module_of(step) {
                let folded = brief.modules.entry(m.to_owned()).or_default();
                folded.left += 1;
                folded.steps += 1;
            }
        }
        self.brief = Some(Mutex::new(brief));
        self
    }

    /// In the brief view: say how a step ended in one line, or fold it into its module's line.
    /// `false` when the full lines should say it instead.
    fn briefly(&self, event: &Event) -> bool {
        let Some(brief) = &self.brief else {
            return false;
        };
        let mut brief = brief.lock().expect("never poisoned");
        match event {
            Event::StepStarted { step, .. } => {
                if let Some(folded) = module_of(step).and_then(|m| brief.modules.get_mut(m)) {
                    folded.started.get_or_insert_with(std::time::Instant::now);
                }
                false
            }
            Event::StepSucceeded {
                step,
                title,
                resources,
                elapsed,
                adopted,
                ..
            } => {
                if let Some(m) = module_of(step) {
                    if let Some(folded) = brief.modules.get_mut(m) {
                        for r in resources {
                            *folded.created.entry(r.kind.clone()).or_default() += 1;
                        }
                        folded.left = folded.left.saturating_sub(1);
                        if folded.left == 0 {
                            let line = self.folded_line(m, folded);
                            self.lines.line(&line);
                        }
                        return true;
                    }
                }
                let created = if resources.is_empty() {
                    String::new()
                } else {
                    format!(": {}", made_text(resources, short_id))
                };
                let adopted = if *adopted { ", adopted" } else { "" };
                self.lines.line(&format!(
                    "{} {} ({}{adopted}){created}",
                    self.lines.mark("32", "✓", "done "),
                    named(step, title),
                    seconds(*elapsed)
                ));
                true
            }
            Event::StepSkipped { step, reason, .. } => {
                if let Some(folded) = module_of(step).and_then(|m| brief.modules.get_mut(m)) {
                    folded.skipped.push(format!("{step} ({reason})"));
                    folded.left = folded.left.saturating_sub(1);
                    if folded.left == 0 {
                        let m = module_of(step).expect("a module step").to_owned();
                        let line = self.folded_line(&m, folded);
                        self.lines.line(&line);
                    }
                    return true;
                }
                false
            }
            // A module's steps speak through its folded line; a rollback's undos through its end.
            Event::StepMessage { step, .. } => {
                brief.rolling_back || module_of(step).is_some_and(|m| brief.modules.contains_key(m))
            }
            Event::RollbackStarted { .. } => {
                brief.rolling_back = true;
                false
            }
            // A rebuild's undo is over: the run goes on, and its steps speak again.
            Event::RollbackFinished { part: true, .. } => {
                brief.rolling_back = false;
                false
            }
            // One line at the end says how the rollback went; each undo only if it failed.
            Event::UndoSucceeded { .. } => true,
            _ => false,
        }
    }

    fn folded_line(&self, module: &str, folded: &Folded) -> String {
        let elapsed = folded
            .started
            .map(|s| format!(", {}", seconds(s.elapsed())))
            .unwrap_or_default();
        let mut what = Vec::new();
        if !folded.created.is_empty() {
            what.push(format!("created {}", kinds_text(&folded.created)));
        }
        if !folded.skipped.is_empty() {
            what.push(format!("skipped {}", folded.skipped.join(", ")));
        }
        format!(
            "{} {module}.* ({}{elapsed}){}",
            self.lines.mark("32", "✓", "done "),
            crate::runbook::suggest::count(folded.steps, "step"),
            if what.is_empty() {
                String::new()
            } else {
                format!(": {}", what.join("; "))
            }
        )
    }

    /// Link created resources to the AWS console of this region.
    #[must_use]
    pub fn with_console(mut self, region: Option<String>) -> Self {
        self.lines.console = region;
        self
    }

    fn spin(&self, key: &str, label: &str) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        let style = ProgressStyle::with_template("{spinner} {prefix} {wide_msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(self.lines.mask(label));
        bar.enable_steady_tick(Duration::from_millis(120));
        self.bars
            .lock()
            .expect("never poisoned")
            .insert(key.to_owned(), bar);
    }

    fn stop(&self, key: &str) {
        if let Some(bar) = self.bars.lock().expect("never poisoned").remove(key) {
            bar.finish_and_clear();
        }
    }
}

impl Reporter for Live {
    fn event(&self, event: &Event) {
        let said = self.briefly(event);
        match event {
            Event::StepStarted {
                step,
                title,
                attempt,
                ..
            } => {
                self.stop(step);
                let again = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                self.spin(step, &format!("{}{again}", named(step, title)));
            }
            Event::StepStatus { step, text } => {
                if let Some(bar) = self.bars.lock().expect("never poisoned").get(step) {
                    bar.set_message(self.lines.mask(text));
                }
            }
            Event::UndoStarted { step } => {
                self.spin(&format!("undo {step}"), &format!("undo {step}"));
            }
            Event::UndoSucceeded { step, .. } | Event::UndoFailed { step, .. } => {
                self.stop(&format!("undo {step}"));
                if said {
                    // Not shown, but counted for the rollback's last line.
                    self.lines.tally(event);
                } else {
                    self.lines.event(event);
                }
            }
            Event::StepSucceeded { step, .. }
            | Event::StepSkipped { step, .. }
            | Event::StepFailed { step, .. }
            | Event::StepCancelled { step, .. }
            | Event::StepRetry { step, .. } => {
                if !matches!(event, Event::StepRetry { .. }) {
                    self.stop(step);
                }
                if !said {
                    self.lines.event(event);
                }
            }
            _ if said => {}
            _ => self.lines.event(event),
        }
    }
}

/// The reporter of a run for the chosen output: JSON lines on stdout, live spinners on a terminal
/// (sharing the terminal with `ask`'s questions), plain lines otherwise; and the `JUnit`
/// collector beside it when one is given.
///
/// `brief` holds the ids of the steps still to run when the terminal view is to be brief.
pub fn for_run(
    output: Format,
    no_color: bool,
    secrets: &[String],
    ask: &TerminalAsk,
    console: Option<String>,
    junit: Option<Arc<Junit>>,
    brief: Option<&[String]>,
) -> Box<dyn RunReporter> {
    let main: Box<dyn RunReporter> = match output {
        Format::Json => Box::new(JsonLines::stdout(secrets.to_vec())),
        Format::Human if super::stderr_is_terminal() => {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            ask.attach(multi.clone());
            let live = Live::new(multi, super::use_color(no_color, true), secrets.to_vec())
                .with_console(console);
            Box::new(match brief {
                Some(pending) => live.brief(pending),
                None => live,
            })
        }
        Format::Human | Format::Plain => {
            Box::new(Lines::stderr(secrets.to_vec()).with_console(console))
        }
    };
    match junit {
        Some(junit) => Box::new(Tee(vec![main, Box::new(SharedJunit(junit))])),
        None => main,
    }
}

/// The `JUnit` collector, shared with whoever writes its file at the end.
struct SharedJunit(Arc<Junit>);

impl Reporter for SharedJunit {
    fn event(&self, event: &Event) {
        self.0.event(event);
    }
}

impl RunReporter for SharedJunit {
    fn drill(&self, drill: &Drill) {
        self.0.drill(drill);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::Lines;
    use crate::engine::action::Resource;
    use crate::engine::{Event, Reporter};

    /// A writer whose text the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn created(lines: &Lines) {
        lines.event(&Event::StepSucceeded {
            step: "vpc".into(),
            title: "Create the VPC".into(),
            outputs: serde_json::Map::new(),
            resources: vec![Resource {
                kind: "vpc".into(),
                id: "vpc-1".into(),
                undo: serde_json::Value::Null,
                changed: Vec::new(),
                region: None,
            }],
            elapsed: Duration::from_millis(300),
            adopted: false,
            by_hand: false,
        });
    }

    /// On real AWS a created resource links to its console page; against an emulator (no
    /// region given) it does not.
    #[test]
    fn created_resources_link_to_the_console_only_when_one_is_given() {
        let out = Shared::default();
        created(
            &Lines::plain(Box::new(out.clone()), Vec::new()).with_console(Some("eu-west-1".into())),
        );
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("created vpc vpc-1"), "{text}");
        assert!(
            text.contains("console: https://eu-west-1.console.aws.amazon.com/vpcconsole/home?region=eu-west-1#VpcDetails:VpcId=vpc-1"),
            "{text}"
        );
        let out = Shared::default();
        created(&Lines::plain(Box::new(out.clone()), Vec::new()));
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("console:"), "{text}");
    }

    #[test]
    fn a_run_of_one_step_says_one_step() {
        for (steps, said) in [(1, "(1 step)"), (3, "(3 steps)")] {
            let out = Shared::default();
            Lines::plain(Box::new(out.clone()), Vec::new()).event(&Event::RunStarted {
                run_id: "r".into(),
                name: "Wait".into(),
                steps,
                resumed: false,
            });
            let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            assert!(
                text.contains(&format!("Running Wait {said}, run r")),
                "{text}"
            );
        }
    }
}
