//! `runbook mark RUN STEP --done [--output KEY=VALUE]…` and `--skip`: the operator says a step
//! was done by hand (with the outputs later steps read) or may be left out, and `resume` goes on
//! from there. The journal records who said so and when; a step marked done holds no resources,
//! so rollback leaves what was made by hand alone.

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json};

use super::settings::{Settings, Vars};
use super::state::{self, journal_error};
use crate::engine::action::Ask as _;
use crate::engine::journal::{Marked, Record};
use crate::engine::state::{RunState, StepState};
use crate::error::{Error, Exit};
use crate::runbook::load::StepKind;
use crate::runbook::suggest;
use crate::ui;

/// What `mark` says of the step.
#[derive(Clone, Debug, Default)]
pub struct Mark {
    pub step: String,
    /// `--skip` (else `--done`).
    pub skip: bool,
    /// `--output KEY=VALUE`, as given; a value that reads as JSON (a list, a number) is taken so.
    pub outputs: Vec<(String, String)>,
    /// `--yes`: hand what the outputs name to rollback without asking.
    pub yes: bool,
}

pub fn mark(settings: &Settings, run_id: &str, mark: &Mark) -> Result<Exit, Error> {
    let store = state::open(settings)?;
    if !store.exists(run_id).map_err(journal_error)? {
        return Err(state::no_such_run(settings, store.as_ref(), run_id));
    }
    let ask = ui::ask::TerminalAsk::new();
    let journal =
        state::open_journal(store.as_ref(), run_id, settings, &|q| ask.confirm(q, false))?;
    let state = RunState::from_entries(&store.read(run_id).map_err(journal_error)?);
    let step = mark.step.as_str();
    if !state.graph.contains_key(step) {
        let ids: Vec<&String> = state.graph.keys().collect();
        return Err(Error::usage(
            format!("run `{run_id}` has no step `{step}`"),
            suggest::did_you_mean(step, ids.iter().copied()).unwrap_or_else(|| {
                format!(
                    "`{}` lists its steps",
                    settings.command(&format!("show {run_id}"))
                )
            }),
        ));
    }
    if state.rollback_started {
        return Err(Error::usage(
            format!("run `{run_id}` is being rolled back, or was: a step of it cannot be marked"),
            "start a new run",
        ));
    }
    match state.steps.get(step) {
        Some(StepState::Succeeded(_)) => {
            return Err(Error::usage(
                format!(
                    "step `{step}` of run `{run_id}` already succeeded: there is nothing to mark"
                ),
                format!(
                    "`{}` says what it holds",
                    settings.command(&format!("show {run_id}"))
                ),
            ));
        }
        Some(StepState::Skipped(_)) if mark.skip => {
            return Err(Error::usage(
                format!("step `{step}` of run `{run_id}` is skipped already"),
                "nothing to mark",
            ));
        }
        _ => {}
    }
    let by = super::target::who();
    let at = crate::engine::journal::now();
    if mark.skip {
        let mut dependents: Vec<&String> = state
            .graph
            .iter()
            .filter(|(_, deps)| deps.iter().any(|d| d == step))
            .map(|(id, _)| id)
            .collect();
        dependents.sort();
        if !dependents.is_empty() {
            return Err(Error::usage(
                format!(
                    "step `{step}` cannot be skipped: {} need{} it",
                    suggest::list(&dependents),
                    if dependents.len() == 1 { "s" } else { "" }
                ),
                format!(
                    "mark it done with the outputs they read: {}",
                    done_command(
                        settings,
                        run_id,
                        step,
                        &reads_of(settings, &state, step).iter().collect::<Vec<_>>()
                    )
                ),
            ));
        }
        journal
            .append_now(Record::StepSkipped {
                step: step.to_owned(),
                reason: format!("marked skipped by hand by {by} at {at}"),
            })
            .map_err(journal_error)?;
        ui::note!(
            "Marked `{step}` of run {run_id} skipped. To go on: {}",
            settings.command(&format!("resume {run_id}"))
        );
        return Ok(Exit::Success);
    }
    let (action, read) = action_and_reads(settings, &state, step)?;
    let outputs = outputs_for(action, &read, &mark.outputs, step, &|missing| {
        done_command(settings, run_id, step, missing)
    })?;
    let resources = handed_to_rollback(&state, step, action, &outputs, mark.yes, &ask);
    journal
        .append_now(Record::StepSucceeded {
            step: step.to_owned(),
            action: action.name.to_owned(),
            outputs,
            resources,
            adopted: false,
            by_hand: false,
            keep: false,
            undo_steps: None,
            marked: Some(Marked { by, at }),
        })
        .map_err(journal_error)?;
    ui::note!(
        "Marked `{step}` of run {run_id} done by hand: later steps read the outputs given. To go on: {}",
        settings.command(&format!("resume {run_id}"))
    );
    Ok(Exit::Success)
}

/// What the outputs name that the step's action makes (its kinds' ids: `arn` of a load
/// balancer), offered to rollback: with `--yes`, or a yes on a terminal, rollback removes them as
/// if the step had made them; else it leaves them alone, and says so now.
fn handed_to_rollback(
    state: &RunState,
    step: &str,
    action: &crate::actions::ActionDef,
    outputs: &Map<String, Json>,
    yes: bool,
    ask: &ui::ask::TerminalAsk,
) -> Vec<crate::engine::action::Resource> {
    let region = match state.steps.get(step) {
        Some(StepState::Failed(_, Some(tried))) => tried.region.clone(),
        _ => None,
    };
    let mut found = Vec::new();
    for kind in action.creates {
        let Some(output) = crate::actions::aws::kinds::find(kind.name()).and_then(|k| k.id_output)
        else {
            continue;
        };
        let ids: Vec<String> = match outputs.get(output) {
            Some(Json::String(id)) => vec![id.clone()],
            Some(Json::Array(ids)) => ids
                .iter()
                .filter_map(Json::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        for id in ids {
            found.push(crate::engine::action::Resource {
                kind: kind.name().to_owned(),
                id,
                undo: Json::Null,
                changed: Vec::new(),
                region: region.clone(),
            });
        }
    }
    let mut handed = Vec::new();
    for r in found {
        let question = format!(
            "Should rollback remove the {} {} you made, as if the step had made it?",
            r.kind, r.id
        );
        if yes || ask.confirm(&question, false) == Some(true) {
            ui::note!("Rollback will remove the {} {}.", r.kind, r.id);
            handed.push(r);
        } else {
            ui::note!(
                "Rollback leaves the {} {} alone (--yes hands it to rollback).",
                r.kind,
                r.id
            );
        }
    }
    handed
}

/// The step's action, from the run's runbook, and the outputs of it that the runbook reads
/// (`steps.ID.OUTPUT` in the templates of the file the step is written in: its module reads it
/// there, and the rest of the runbook only through the module's outputs, written there too).
fn action_and_reads(
    settings: &Settings,
    state: &RunState,
    step: &str,
) -> Result<(&'static crate::actions::ActionDef, BTreeSet<String>), Error> {
    let mut inputs = Vars::default();
    for (name, value) in &state.vars {
        if !state.secret_vars.contains(name) {
            inputs
                .vars
                .push((name.clone(), crate::runbook::vars::json_text(value)));
        }
    }
    let checked = super::check::check_file(settings, std::path::Path::new(&state.runbook), &inputs);
    let found = checked
        .flow
        .steps
        .iter()
        .enumerate()
        .find(|(_, s)| s.id == step);
    let Some((i, flow_step)) = found else {
        return Err(Error::usage(
            format!(
                "the runbook `{}` has no step `{step}` any more: the run cannot be marked from it",
                state.runbook
            ),
            "roll the run back, or restore the runbook as it was",
        ));
    };
    let defined = checked.flow.step(&checked.project, i);
    let StepKind::Action(action) = defined.kind else {
        return Err(Error::usage(
            format!("step `{step}` is not an action step"),
            "mark the steps of a module one by one",
        ));
    };
    let module = &checked.project.modules[checked.flow.scopes[flow_step.scope].module];
    let text = &checked.project.sources.get(module.file).text;
    let local = step.rsplit('.').next().unwrap_or(step);
    let pattern = regex::Regex::new(&format!(
        r"steps\.{}\.([A-Za-z_][A-Za-z0-9_]*)",
        regex::escape(local)
    ))
    .map_err(|e| Error::runtime(e.to_string(), "report this"))?;
    let read = pattern
        .captures_iter(text)
        .map(|c| c[1].to_owned())
        .collect();
    Ok((action, read))
}

/// The outputs given, checked against the action's: each must be one it declares, and every one
/// the runbook reads must be given.
/// `runbook mark RUN STEP --done` with an `--output NAME=VALUE` for each output named.
fn done_command(settings: &Settings, run_id: &str, step: &str, names: &[&String]) -> String {
    let outputs: Vec<String> = names
        .iter()
        .map(|n| format!(" --output {n}=VALUE"))
        .collect();
    settings.command(&format!("mark {run_id} {step} --done{}", outputs.concat()))
}

/// The outputs of `step` that later steps read (none where the runbook cannot be read now).
fn reads_of(settings: &Settings, state: &RunState, step: &str) -> Vec<String> {
    action_and_reads(settings, state, step)
        .map(|(_, read)| read.into_iter().collect())
        .unwrap_or_default()
}

fn outputs_for(
    action: &crate::actions::ActionDef,
    read: &BTreeSet<String>,
    given: &[(String, String)],
    step: &str,
    command: &dyn Fn(&[&String]) -> String,
) -> Result<Map<String, Json>, Error> {
    let declared = action.output_names();
    let mut outputs = Map::new();
    for (key, value) in given {
        if !declared.is_empty() && !declared.contains(&key.as_str()) {
            return Err(Error::usage(
                format!(
                    "`{}` declares no output `{key}`; its outputs: {}",
                    action.name,
                    suggest::list(&declared)
                ),
                suggest::did_you_mean(key, declared.iter().copied())
                    .unwrap_or_else(|| format!("`runbook actions {}` describes each", action.name)),
            ));
        }
        let value = serde_json::from_str::<Json>(value)
            .ok()
            .filter(|v| !v.is_string())
            .unwrap_or_else(|| Json::String(value.clone()));
        outputs.insert(key.clone(), value);
    }
    let missing: Vec<&String> = read
        .iter()
        .filter(|o| declared.is_empty() || declared.contains(&o.as_str()))
        .filter(|o| !outputs.contains_key(o.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(Error::usage(
            format!(
                "the runbook reads {} of `{step}`: give {} with --output KEY=VALUE",
                suggest::list(&missing),
                if missing.len() == 1 { "it" } else { "each" }
            ),
            format!(
                "{} (`runbook actions {}` describes each output)",
                command(&missing),
                action.name
            ),
        ));
    }
    Ok(outputs)
}
