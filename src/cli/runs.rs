//! `runs` and `show`: what the state directory remembers.

use std::io::Write;

use serde_json::json;

use super::Cli;
use crate::engine::journal;
use crate::engine::runs;
use crate::engine::state::{RunState, StepState};
use crate::error::{Error, Exit};
use crate::ui::Format;

pub fn list(cli: &Cli, output: Format) -> Result<Exit, Error> {
    let all = runs::list(&cli.global.state_dir);
    let mut out = std::io::stdout().lock();
    if output == Format::Json {
        let rows: Vec<_> = all
            .iter()
            .map(|(id, state)| match state {
                Ok(s) => json!({"run_id": id, "runbook": s.name, "file": s.runbook, "status": s.summary(), "started": s.started_at, "alive": s.alive().len()}),
                Err(e) => json!({"run_id": id, "error": e.to_string()}),
            })
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&rows).expect("JSON")
        )?;
        return Ok(Exit::Success);
    }
    if all.is_empty() {
        writeln!(out, "No runs in `{}`.", cli.global.state_dir.display())?;
        return Ok(Exit::Success);
    }
    let width = all.iter().map(|(id, _)| id.len()).max().unwrap_or(0).max(6);
    writeln!(
        out,
        "{:width$}  {:20}  {:24}  {:5}  RUNBOOK",
        "RUN", "STATUS", "STARTED", "ALIVE"
    )?;
    for (id, state) in &all {
        match state {
            Ok(s) => writeln!(
                out,
                "{id:width$}  {:20}  {:24}  {:5}  {}",
                s.summary(),
                s.started_at,
                s.alive().len(),
                s.name
            )?,
            Err(e) => writeln!(out, "{id:width$}  unreadable: {e}")?,
        }
    }
    Ok(Exit::Success)
}

pub fn show(cli: &Cli, run_id: Option<&str>, output: Format) -> Result<Exit, Error> {
    let latest;
    let run_id = if let Some(id) = run_id {
        id
    } else {
        latest = runs::latest(&cli.global.state_dir, |_| true).ok_or_else(|| {
            Error::usage(
                format!("there are no runs in `{}`", cli.global.state_dir.display()),
                "`runbook run FILE` starts one; --state-dir (or RUNBOOK_STATE_DIR) says where runs are recorded",
            )
        })?;
        latest.as_str()
    };
    let dir = runs::run_dir(&cli.global.state_dir, run_id);
    if !dir.join(journal::JOURNAL).is_file() {
        let known: Vec<String> = runs::list(&cli.global.state_dir)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let help = crate::runbook::suggest::did_you_mean(run_id, &known)
            .unwrap_or_else(|| "`runbook runs` lists the runs".into());
        return Err(Error::usage(
            format!(
                "there is no run `{run_id}` in `{}`",
                cli.global.state_dir.display()
            ),
            help,
        ));
    }
    let entries =
        journal::read(&dir).map_err(|e| Error::usage(e.to_string(), "the journal is damaged"))?;
    let state = RunState::from_entries(&entries);
    let mut out = std::io::stdout().lock();
    if output == Format::Json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&show_json(&state)).expect("JSON")
        )?;
        return Ok(Exit::Success);
    }
    writeln!(out, "Run {run_id}: {} ({})", state.name, state.summary())?;
    writeln!(out, "Runbook: {}", state.runbook)?;
    writeln!(out, "Started: {}\n", state.started_at)?;
    writeln!(out, "Steps:")?;
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
        writeln!(out, "  {id}: {line}")?;
        if let Some(StepState::Succeeded(done)) = state.steps.get(id) {
            for (k, v) in &done.outputs {
                writeln!(out, "    {k} = {}", crate::runbook::vars::json_text(v))?;
            }
        }
    }
    let alive = state.alive();
    writeln!(
        out,
        "\nAlive: {}",
        if alive.is_empty() { "nothing" } else { "" }
    )?;
    for (step, r) in alive {
        writeln!(out, "  {} {} (step {step})", r.kind, r.id)?;
    }
    Ok(Exit::Success)
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
