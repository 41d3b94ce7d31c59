//! `runs` and `show`: the state directory's runs as a table, one run's steps, outputs and live
//! resources, or the same as JSON.

use std::fmt::Write as _;

use serde_json::json;

use super::Format;
use crate::engine::state::{Done, RunState, StepState};

/// A run of the state directory, or why its journal could not be read.
pub type Listed = (
    String,
    Result<RunState, crate::engine::journal::JournalError>,
);

/// What `runs --check` found for a run with resources alive: what AWS no longer has, or why it
/// could not look (never taken for "nothing missing").
pub type Checked = Result<Seen, String>;

pub fn list(
    location: &str,
    all: &[Listed],
    drivers: &std::collections::BTreeMap<String, String>,
    checked: Option<&std::collections::BTreeMap<String, Checked>>,
    output: Format,
) -> String {
    let mut out = String::new();
    let check_of = |id: &str| checked.and_then(|c| c.get(id));
    if output == Format::Json {
        let rows: Vec<_> = all
            .iter()
            .map(|(id, state)| match state {
                Ok(s) => {
                    let (removed, gone) = s.undone();
                    let (done, steps) = s.steps_done();
                    let mut row = json!({"run_id": id, "runbook": s.name, "file": s.runbook, "status": s.summary(), "started": s.started_at, "steps_done": done, "steps": steps, "alive": s.alive().len(), "removed": removed, "already_gone": gone, "class": label(s, "runbook:class"), "student": label(s, "runbook:student")});
                    let exercises: Vec<_> = s
                        .exercise_progress()
                        .into_iter()
                        .map(|(step, state)| json!({"step": step, "state": state}))
                        .collect();
                    if !exercises.is_empty() {
                        row["exercises"] = json!(exercises);
                    }
                    let marked = marked(s);
                    if !marked.is_empty() {
                        row["marked"] = json!(marked);
                    }
                    match check_of(id) {
                        Some(Ok(seen)) => {
                            row["missing"] = json!(seen.missing);
                            row["not_checked"] = json!(seen.unchecked.len());
                        }
                        Some(Err(e)) => row["check_error"] = json!(e),
                        None => {}
                    }
                    if let Some(d) = drivers.get(id) {
                        row["driven_by"] = json!(d);
                    }
                    row
                }
                Err(e) => json!({"run_id": id, "error": e.to_string()}),
            })
            .collect();
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&rows).expect("JSON")
        );
        return out;
    }
    if all.is_empty() {
        let _ = writeln!(out, "No runs in `{location}`.");
        return out;
    }
    let width = all.iter().map(|(id, _)| id.len()).max().unwrap_or(0).max(6);
    // A class's runs say whose lab each is.
    let classes = all.iter().any(|(_, s)| {
        s.as_ref()
            .is_ok_and(|s| label(s, "runbook:class").is_some())
    });
    let who = |s: &RunState| {
        if classes {
            format!(
                "{:12}  {:12}  ",
                label(s, "runbook:class").unwrap_or("-"),
                label(s, "runbook:student").unwrap_or("-")
            )
        } else {
            String::new()
        }
    };
    let _ = writeln!(
        out,
        "{:width$}  {:22}  {:24}  {:5}  {}RUNBOOK",
        "RUN",
        "STATUS",
        "STARTED",
        "ALIVE",
        if classes {
            format!("{:12}  {:12}  ", "CLASS", "STUDENT")
        } else {
            String::new()
        }
    );
    for (id, state) in all {
        match state {
            Ok(s) => {
                let drift = match check_of(id) {
                    Some(Ok(seen)) if !seen.missing.is_empty() => {
                        format!("  ({} missing)", seen.missing.len())
                    }
                    Some(Ok(_)) => "  (all present)".to_owned(),
                    Some(Err(e)) => format!("  (could not check: {e})"),
                    None => String::new(),
                };
                let drift = match drivers.get(id) {
                    Some(d) => format!("{drift}  (driven by {d})"),
                    None => drift,
                };
                let marked = marked(s);
                let drift = if marked.is_empty() {
                    drift
                } else {
                    format!("{drift}  (marked done by hand: {})", marked.join(", "))
                };
                let _ = writeln!(
                    out,
                    "{id:width$}  {:22}  {:24}  {:5}  {}{}{drift}{}",
                    status(s),
                    s.started_at,
                    s.alive().len(),
                    who(s),
                    s.name,
                    exercises(s)
                );
            }
            Err(e) => {
                let _ = writeln!(out, "{id:width$}  unreadable: {e}");
            }
        }
    }
    out
}

/// How far a learner's run has come with its exercises: `  (exercises: 2 by hand, 1 open)`, or
/// nothing for a runbook without them and a run that was no learner's.
fn exercises(s: &RunState) -> String {
    use crate::engine::state::ExerciseState;
    let progress = s.exercise_progress();
    // One in which the runbook did them all says nothing about a learner either.
    if !s.is_learners()
        || progress
            .iter()
            .all(|(_, p)| matches!(p, ExerciseState::Runbook | ExerciseState::Skipped))
    {
        return String::new();
    }
    let mut counts: Vec<(ExerciseState, usize)> = Vec::new();
    for (_, state) in &progress {
        match counts.iter_mut().find(|(s, _)| s == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((*state, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    format!("  (exercises: {})", parts.join(", "))
}

/// A label of the run (`runbook:class`, `runbook:student`).
fn label<'s>(s: &'s RunState, key: &str) -> Option<&'s str> {
    s.labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The run's status, with how many of its resources a rollback found already gone.
fn status(s: &RunState) -> String {
    match s.undone() {
        (_, 0) => s.summary().to_owned(),
        (0, _) => format!("{}, all gone", s.summary()),
        (_, gone) => format!("{}, {gone} gone", s.summary()),
    }
}

/// How a step's undo went, for `show`.
fn undone_text(done: &Done) -> String {
    match done.undone_counts() {
        (_, 0, 0) => "succeeded, undone".to_owned(),
        (0, _, 0) => "succeeded, undone (already gone)".to_owned(),
        (0, 0, _) => "succeeded, undone (already undone)".to_owned(),
        (removed, gone, back) => {
            let mut parts = vec![format!("{removed} removed")];
            if gone > 0 {
                parts.push(format!("{gone} already gone"));
            }
            if back > 0 {
                parts.push(format!("{back} already undone"));
            }
            format!("succeeded, undone ({})", parts.join(", "))
        }
    }
}

/// What `show --check` found of the resources the journal holds alive, by id: missing (the
/// action looked and AWS has no such resource), or not checked (the action cannot look).
#[derive(Debug, Default)]
pub struct Seen {
    pub missing: Vec<String>,
    pub unchecked: Vec<String>,
    /// The steps whose resources are missing.
    pub lost_steps: std::collections::BTreeSet<String>,
}

impl Seen {
    pub fn lost(&mut self, step: &str, id: &str) {
        self.missing.push(id.to_owned());
        self.lost_steps.insert(step.to_owned());
    }

    fn of(&self, id: &str) -> &'static str {
        if self.missing.iter().any(|m| m == id) {
            "missing"
        } else if self.unchecked.iter().any(|m| m == id) {
            "not checked"
        } else {
            "present"
        }
    }
}

/// What `show` tells of a run besides its journal, as the application found it.
#[derive(Default)]
pub struct About<'a> {
    /// Where its AWS calls went (account, region, endpoint), for a run that made any.
    pub place: Option<&'a str>,
    /// The run's region, for where its resources are.
    pub region: Option<&'a str>,
    pub drill: Option<&'a Drill>,
    /// Who started it (`user@host`), where its journal says.
    pub by: Option<&'a str>,
}

/// One run; `seen`, what `--check` found in AWS.
pub fn show(
    run_id: &str,
    state: &RunState,
    about: &About<'_>,
    seen: Option<&Seen>,
    output: Format,
) -> String {
    let About {
        place,
        region,
        drill,
        by,
    } = *about;
    let mut out = String::new();
    if output == Format::Json {
        let mut shown = show_json(state);
        if let Some(drill) = drill {
            shown["drill"] = drill.as_json();
        }
        if let (Some(seen), Some(alive)) = (seen, shown["alive"].as_array_mut()) {
            for r in alive {
                let state = seen.of(r["id"].as_str().unwrap_or_default());
                r["checked"] = json!(state);
            }
        }
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&shown).expect("JSON")
        );
        return out;
    }
    let _ = writeln!(out, "Run {run_id}: {} ({})", state.name, state.summary());
    let _ = writeln!(out, "Runbook: {}", state.runbook);
    let _ = match by {
        Some(by) => writeln!(out, "Started: {} by {by}", state.started_at),
        None => writeln!(out, "Started: {}", state.started_at),
    };
    if let Some(place) = place {
        let _ = writeln!(out, "Where: {place}");
    }
    if let Some(reason) = &state.rebuilt {
        let _ = writeln!(out, "Rebuilt: {reason}");
    }
    if let Some(drill) = drill.filter(|d| !d.timeline.is_empty()) {
        let _ = writeln!(out, "\n{}", drill.headline());
        out.push_str(&drill.timeline_text());
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Steps:");
    for id in state.graph.keys() {
        let line = match state.steps.get(id) {
            None => "not run".to_owned(),
            Some(StepState::Started { attempt, .. }) => {
                format!("started (attempt {attempt}), no outcome")
            }
            Some(StepState::Succeeded(done)) if done.undone => undone_text(done),
            Some(StepState::Succeeded(Done {
                marked: Some(m), ..
            })) => format!("succeeded: marked done by hand by {} at {}", m.by, m.at),
            Some(StepState::Succeeded(done)) if done.by_hand => {
                "succeeded: made by hand (an exercise), checked and adopted".to_owned()
            }
            Some(StepState::Succeeded(_)) => "succeeded".to_owned(),
            Some(StepState::Skipped(reason)) => format!("skipped: {reason}"),
            Some(StepState::Failed(e, _)) => format!("failed: {}", e.message),
        };
        let _ = writeln!(out, "  {id}: {line}");
        if let Some(StepState::Succeeded(done)) = state.steps.get(id) {
            for (k, v) in &done.outputs {
                let _ = writeln!(out, "    {k} = {}", crate::runbook::vars::json_text(v));
            }
        }
    }
    let alive = state.alive();
    let _ = writeln!(
        out,
        "\nAlive: {}",
        if alive.is_empty() { "nothing" } else { "" }
    );
    let places = super::places(&alive, region);
    for ((_, r), place) in alive.iter().zip(places) {
        let checked = seen.map_or_else(String::new, |s| match s.of(&r.id) {
            "present" => String::new(),
            other => format!(" — {other}"),
        });
        let _ = writeln!(out, "  {} {} ({place}){checked}", r.kind, r.id);
    }
    if let Some(seen) = seen {
        let _ = writeln!(
            out,
            "Checked against AWS: {}",
            if seen.missing.is_empty() {
                "everything the journal holds alive exists".to_owned()
            } else {
                format!(
                    "{} missing (deleted outside this run); `runbook rollback` removes the rest",
                    crate::runbook::suggest::count(seen.missing.len(), "resource")
                )
            }
        );
    }
    match state.undone() {
        (_, 0) => {}
        (0, gone) => {
            let all = if gone == 1 {
                "its one resource was".to_owned()
            } else {
                format!("all {gone} resources were")
            };
            let _ = writeln!(
                out,
                "Rolled back: {all} already gone (removed outside this run, or the rollback looked in the wrong place)"
            );
        }
        (removed, gone) => {
            let _ = writeln!(out, "Rolled back: {removed} removed, {gone} already gone");
        }
    }
    out
}

fn show_json(state: &RunState) -> serde_json::Value {
    let steps: Vec<_> = state
        .graph
        .keys()
        .map(|id| {
            let (status, detail) = match state.steps.get(id) {
                None => ("not_run", json!(null)),
                Some(StepState::Started { attempt, .. }) => {
                    ("started", json!({"attempt": attempt}))
                }
                Some(StepState::Succeeded(d)) => (
                    if d.undone { "undone" } else { "succeeded" },
                    json!({"outputs": d.outputs, "resources": d.resources, "already_gone": d.already_gone, "by_hand": d.by_hand, "marked": d.marked}),
                ),
                Some(StepState::Skipped(r)) => ("skipped", json!({"reason": r})),
                Some(StepState::Failed(e, _)) => ("failed", json!({"error": e})),
            };
            json!({"step": id, "status": status, "detail": detail})
        })
        .collect();
    json!({
        "run_id": state.run_id,
        "runbook": state.name,
        "file": state.runbook,
        "status": state.summary(),
        "started": state.started_at,
        "vars": state.vars,
        "target": state.target,
        "rebuilt": state.rebuilt,
        "steps": steps,
        "removed": state.undone().0,
        "already_gone": state.undone().1,
        "alive": state.alive().iter().map(|(s, r)| json!({"step": s, "kind": r.kind, "id": r.id})).collect::<Vec<_>>(),
    })
}

/// One drill, as `runbook drills` lists it: what a run's failover check (and failback check)
/// measured, where, and whether it passed its gate.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Drill {
    pub run_id: String,
    pub runbook: String,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub student: Option<String>,
    pub account: Option<String>,
    pub regions: Vec<String>,
    /// The steps that measured the failover and the failback (their checks).
    pub failover_step: String,
    pub failback_step: Option<String>,
    pub failover_seconds: Option<u64>,
    pub failback_seconds: Option<u64>,
    /// The recovery-time gates the run had, where it had one.
    pub max_failover: Option<String>,
    pub max_failback: Option<String>,
    pub passed: bool,
    /// Why it did not pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Each moment of the drill, in order, as it became observable.
    pub timeline: Vec<Moment>,
}

/// One moment of a drill: its name (`stop_requested`, `stopped`, `targets_out`, `dns_secondary`,
/// `page_secondary`, `start_requested`, `running`, `targets_healthy`, `dns_primary`), when (RFC
/// 3339) and how long after the stop was requested.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Moment {
    pub name: &'static str,
    pub at: String,
    /// The step that saw it.
    pub step: String,
    pub after_stop_seconds: Option<f64>,
}

impl Drill {
    /// The `drill` object of `show --output json`: each moment by name (null where it did not
    /// happen), and the two figures.
    pub fn as_json(&self) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        for name in [
            "stop_requested",
            "stopped",
            "targets_out",
            "dns_secondary",
            "page_secondary",
            "start_requested",
            "running",
            "targets_healthy",
            "dns_primary",
        ] {
            let at = self
                .timeline
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.at.clone());
            o.insert(name.to_owned(), json!(at));
        }
        o.insert("failover_seconds".into(), json!(self.failover_seconds));
        o.insert("failback_seconds".into(), json!(self.failback_seconds));
        o.insert("max_failover".into(), json!(self.max_failover));
        o.insert("max_failback".into(), json!(self.max_failback));
        o.insert("passed".into(), json!(self.passed));
        o.insert("failure".into(), json!(self.failure));
        serde_json::Value::Object(o)
    }

    /// One line for people: the figures, their limits, and the verdict ("Drill: failover 62 s
    /// (limit 90s), failback 80 s: passed").
    pub fn headline(&self) -> String {
        let figure = |what: &str, seconds: Option<u64>, limit: &Option<String>| {
            let limit = limit
                .as_ref()
                .map(|l| format!(" (limit {l})"))
                .unwrap_or_default();
            seconds.map(|s| format!("{what} {s} s{limit}"))
        };
        let figures: Vec<String> = [
            figure("failover", self.failover_seconds, &self.max_failover),
            figure("failback", self.failback_seconds, &self.max_failback),
        ]
        .into_iter()
        .flatten()
        .collect();
        let verdict = match &self.failure {
            None => "passed".to_owned(),
            Some(why) => format!("failed: {why}"),
        };
        if figures.is_empty() {
            format!("Drill: {verdict}")
        } else {
            format!("Drill: {}: {verdict}", figures.join(", "))
        }
    }

    /// The timeline for people: a line per moment, with its offset from the stop.
    pub fn timeline_text(&self) -> String {
        let mut out = String::new();
        for m in &self.timeline {
            let words = moment_words(m.name);
            let offset = m
                .after_stop_seconds
                .map_or_else(String::new, |s| format!("+{s:.0} s"));
            let _ = writeln!(out, "  {offset:>7}  {words} ({})", m.at);
        }
        out
    }
}

/// The steps of a run marked done by hand (`runbook mark`).
fn marked(state: &RunState) -> Vec<&str> {
    state
        .steps
        .iter()
        .filter(|(_, s)| matches!(s, StepState::Succeeded(d) if d.marked.is_some()))
        .map(|(id, _)| id.as_str())
        .collect()
}

/// The words of a drill's moment, as the report, `show` and the web page say it.
pub fn moment_words(name: &str) -> &str {
    match name {
        "stop_requested" => "stop requested",
        "stopped" => "primary's instances stopped",
        "targets_out" => "primary's targets out of service",
        "dns_secondary" => "Route 53 answers with the SECONDARY",
        "page_secondary" => "the secondary's page served",
        "start_requested" => "start requested (failback)",
        "running" => "primary's instances running",
        "targets_healthy" => "primary's targets healthy",
        "dns_primary" => "Route 53 answers with the PRIMARY again",
        other => other,
    }
}

/// `runbook drills`: a line per drill, oldest first, or JSON.
pub fn drills(location: &str, drills: &[Drill], output: Format) -> String {
    if output == Format::Json {
        return format!("{}\n", json!(drills));
    }
    if drills.is_empty() {
        return format!(
            "No drills in `{location}` (a run whose drill ran: its failover check measured the time).\n"
        );
    }
    let seconds = |s: Option<u64>| s.map_or_else(|| "-".to_owned(), |s| format!("{s} s"));
    let mut out = String::new();
    for d in drills {
        let who = d
            .student
            .as_ref()
            .map(|s| format!(" student {s},"))
            .unwrap_or_default();
        let gate = match (&d.max_failover, &d.max_failback) {
            (None, None) => String::new(),
            (over, back) => format!(
                " (limits: {})",
                [
                    over.as_ref().map(|l| format!("failover {l}")),
                    back.as_ref().map(|l| format!("failback {l}"))
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
            ),
        };
        let _ = writeln!(
            out,
            "{}  {}  {}:{who} account {}, {}: failover {}, failback {}{gate}: {}",
            d.started_at,
            d.run_id,
            d.runbook,
            d.account.as_deref().unwrap_or("unknown"),
            d.regions.join(" + "),
            seconds(d.failover_seconds),
            seconds(d.failback_seconds),
            match &d.failure {
                None => "passed".to_owned(),
                Some(why) => format!("failed: {why}"),
            }
        );
    }
    out
}
