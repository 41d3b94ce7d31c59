//! `runs` and `show`: the state directory's runs as a table, one run's steps, outputs and live
//! resources, or the same as JSON.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use super::Format;
use crate::engine::state::{RunState, StepState};

/// A run of the state directory, or why its journal could not be read.
pub type Listed = (
    String,
    Result<RunState, crate::engine::journal::JournalError>,
);

pub fn list(state_dir: &Path, all: &[Listed], output: Format) -> String {
    let mut out = String::new();
    if output == Format::Json {
        let rows: Vec<_> = all
            .iter()
            .map(|(id, state)| match state {
                Ok(s) => json!({"run_id": id, "runbook": s.name, "file": s.runbook, "status": s.summary(), "started": s.started_at, "alive": s.alive().len()}),
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
        let _ = writeln!(out, "No runs in `{}`.", state_dir.display());
        return out;
    }
    let width = all.iter().map(|(id, _)| id.len()).max().unwrap_or(0).max(6);
    let _ = writeln!(
        out,
        "{:width$}  {:20}  {:24}  {:5}  RUNBOOK",
        "RUN", "STATUS", "STARTED", "ALIVE"
    );
    for (id, state) in all {
        match state {
            Ok(s) => {
                let _ = writeln!(
                    out,
                    "{id:width$}  {:20}  {:24}  {:5}  {}",
                    s.summary(),
                    s.started_at,
                    s.alive().len(),
                    s.name
                );
            }
            Err(e) => {
                let _ = writeln!(out, "{id:width$}  unreadable: {e}");
            }
        }
    }
    out
}

pub fn show(run_id: &str, state: &RunState, output: Format) -> String {
    let mut out = String::new();
    if output == Format::Json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&show_json(state)).expect("JSON")
        );
        return out;
    }
    let _ = writeln!(out, "Run {run_id}: {} ({})", state.name, state.summary());
    let _ = writeln!(out, "Runbook: {}", state.runbook);
    let _ = writeln!(out, "Started: {}\n", state.started_at);
    let _ = writeln!(out, "Steps:");
    for id in state.graph.keys() {
        let line = match state.steps.get(id) {
            None => "not run".to_owned(),
            Some(StepState::Started { attempt, .. }) => {
                format!("started (attempt {attempt}), no outcome")
            }
            Some(StepState::Succeeded(done)) if done.undone => "succeeded, undone".to_owned(),
            Some(StepState::Succeeded(_)) => "succeeded".to_owned(),
            Some(StepState::Skipped(reason)) => format!("skipped: {reason}"),
            Some(StepState::Failed(e)) => format!("failed: {}", e.message),
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
    for (step, r) in alive {
        let _ = writeln!(out, "  {} {} (step {step})", r.kind, r.id);
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
                    json!({"outputs": d.outputs, "resources": d.resources}),
                ),
                Some(StepState::Skipped(r)) => ("skipped", json!({"reason": r})),
                Some(StepState::Failed(e)) => ("failed", json!({"error": e})),
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
        "steps": steps,
        "alive": state.alive().iter().map(|(s, r)| json!({"step": s, "kind": r.kind, "id": r.id})).collect::<Vec<_>>(),
    })
}
