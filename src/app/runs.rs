//! `runs` and `show`: what the state directory remembers.

use super::settings::Settings;
use super::state::{self, journal_error};
use crate::engine::runs;
use crate::engine::state::RunState;
use crate::engine::store;
use crate::error::{Error, Exit};
use crate::ui::{self, Format};

/// `runs`, and with `check` each run that holds resources alive looked at in AWS (`look`): exit 1
/// when a run could not be checked.
pub fn list(settings: &Settings, check: bool, output: Format) -> Result<Exit, Error> {
    let store = state::open(settings)?;
    let all = store.list().map_err(journal_error)?;
    let checked = check.then(|| {
        all.iter()
            .filter_map(|(id, state)| {
                let state = state.as_ref().ok().filter(|s| !s.alive().is_empty())?;
                let seen = look(settings, state).map_err(|e| match e {
                    Error::Invalid { .. } => "the run's target is invalid".to_owned(),
                    other => other.message(),
                });
                Some((id.clone(), seen))
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    });
    // A run with no end, or a rollback under way: is a process driving it now?
    let drivers: std::collections::BTreeMap<String, String> = all
        .iter()
        .filter(|(_, s)| {
            s.as_ref().is_ok_and(|s| {
                s.status.is_none() || (s.rollback_started && s.rollback_complete.is_none())
            })
        })
        .filter_map(|(id, _)| store.driver(id).map(|d| (id.clone(), d)))
        .collect();
    ui::output_raw(&ui::runs::list(
        &store.location(),
        &all,
        &drivers,
        checked.as_ref(),
        output,
    ))?;
    // The local lab (`scripts/lab`) keeps its runs elsewhere: say where, rather than "no runs".
    let lab = std::path::Path::new(".lab");
    if all.is_empty() && !store.is_folder(lab) && runs::runs_dir(lab).is_dir() {
        let there = Settings {
            state_dir: lab.to_path_buf(),
            ..settings.clone()
        };
        ui::note!(
            "The local lab (scripts/lab) keeps its runs in `.lab`: {}",
            there.command("runs")
        );
    }
    let unchecked = checked.is_some_and(|c| c.values().any(Result::is_err));
    Ok(if unchecked {
        Exit::Failed
    } else {
        Exit::Success
    })
}

pub fn show(
    settings: &Settings,
    run_id: Option<&str>,
    check: bool,
    output: Format,
) -> Result<Exit, Error> {
    let store = state::open(settings)?;
    let latest;
    let run_id = if let Some(id) = run_id {
        id
    } else {
        latest = store::latest(store.as_ref(), |_| true)
            .map_err(journal_error)?
            .ok_or_else(|| {
            Error::usage(
                format!("there are no runs in `{}`", store.location()),
                "`runbook run FILE` starts one; --state-dir (or RUNBOOK_STATE_DIR) says where runs are recorded",
            )
        })?;
        latest.as_str()
    };
    if !store.exists(run_id).map_err(journal_error)? {
        return Err(state::no_such_run(settings, store.as_ref(), run_id));
    }
    let entries = store.read(run_id).map_err(journal_error)?;
    let state = RunState::from_entries(&entries);
    let place = super::target::state_uses_aws(&state).then(|| {
        let recorded = super::target::Recorded::of(&state);
        let others: Vec<String> = state
            .regions()
            .into_iter()
            .filter(|r| Some(r) != recorded.region.as_ref())
            .collect();
        match others.as_slice() {
            [] => recorded.describe(),
            _ => format!(
                "{}; steps also in {}",
                recorded.describe(),
                others.join(", ")
            ),
        }
    });
    let seen = if check {
        Some(look(settings, &state)?)
    } else {
        None
    };
    let drill = drill_of(&state);
    ui::output_raw(&ui::runs::show(
        run_id,
        &state,
        (place.as_deref(), drill.as_ref()),
        seen.as_ref(),
        output,
    ))?;
    Ok(Exit::Success)
}

/// Nothing to show while looking.
struct Quiet;

impl crate::engine::action::Progress for Quiet {
    fn status(&self, _: &str) {}
    fn message(&self, _: &str) {}
}

/// What AWS says of each resource the journal holds alive (`show --check`): each step's action
/// looks for what its step made, by the step's key and only reading; an action that cannot look
/// leaves its resources unchecked.
pub(crate) fn look(settings: &Settings, state: &RunState) -> Result<ui::runs::Seen, Error> {
    use crate::engine::action::Context;
    use crate::engine::state::StepState;
    let interrupt = tokio_util::sync::CancellationToken::new();
    let rt = super::session::runtime(&interrupt);
    let services: &'static crate::engine::action::Services = if super::target::state_uses_aws(state)
    {
        let target = super::target::of_run(settings, state);
        let (clients, caller) = rt
            .block_on(crate::actions::aws::client::preflight(&target))
            .map_err(|e| Error::Usage {
                message: e.message,
                help: e.hint,
            })?;
        super::target::check_account(state, caller.as_ref(), false, "check")?;
        clients
    } else {
        &()
    };
    let mut seen = ui::runs::Seen::default();
    for (step, resource) in state.alive() {
        let Some(StepState::Succeeded(done)) = state.steps.get(&step) else {
            continue;
        };
        let Some(def) = crate::actions::find(&done.action) else {
            seen.unchecked.push(resource.id.clone());
            continue;
        };
        let key = state.key(&step);
        let ctx = Context {
            region: resource.region.as_deref(),
            run_id: &state.run_id,
            step_id: &step,
            key: &key,
            params: &done.params,
            progress: &Quiet,
            ask: &ui::ask::TerminalAsk::never(),
            yes: true,
            cancel: &interrupt,
            labels: &state.labels,
            services,
            adopting: false,
            deadline: None,
        };
        match rt.block_on(def.executor.reconcile(&ctx)) {
            Ok(Some(found)) if found.resources.iter().any(|r| r.id == resource.id) => {}
            // The action found its step's resource under another id, or nothing: this one is
            // missing. An action without a look (`Ok(None)` for everything) cannot tell.
            Ok(Some(_)) => seen.lost(&step, &resource.id),
            Ok(None) if def.executor.looks() => seen.lost(&step, &resource.id),
            Ok(None) => seen.unchecked.push(resource.id.clone()),
            Err(e) => {
                return Err(Error::runtime(
                    format!(
                        "could not check {} {}: {}",
                        resource.kind, resource.id, e.message
                    ),
                    e.hint.unwrap_or_else(|| "try again".into()),
                ));
            }
        }
    }
    Ok(seen)
}

/// `runbook drills [RUNBOOK]`: every drill the state directory remembers (of the runbook named,
/// by path or name, or of all), oldest first: its failover and failback times as its checks
/// measured them, where it ran, and whether it passed its gates.
pub fn drills(settings: &Settings, runbook: Option<&str>, output: Format) -> Result<Exit, Error> {
    let store = state::open(settings)?;
    let all = store.list().map_err(journal_error)?;
    let found: Vec<ui::runs::Drill> = all
        .iter()
        .filter_map(|(_, state)| state.as_ref().ok())
        .filter(|s| {
            runbook.is_none_or(|r| {
                s.name == r
                    || s.runbook == r
                    || std::fs::canonicalize(r).is_ok_and(|p| p.display().to_string() == s.runbook)
            })
        })
        .filter_map(drill_of)
        .collect();
    ui::output_raw(&ui::runs::drills(&store.location(), &found, output))?;
    Ok(Exit::Success)
}

/// A run's drill: its failover check (a `check_failover` expecting the SECONDARY, timed from a
/// stop) and its failback check (expecting the PRIMARY, timed from a start), if it ran them.
fn drill_of(state: &RunState) -> Option<ui::runs::Drill> {
    use crate::engine::state::StepState;
    /// One timed check: its measured seconds (when it passed), its limit, and why it failed.
    struct Timed {
        seconds: Option<u64>,
        limit: Option<String>,
        failure: Option<String>,
    }
    let timed = |expect: &str| -> Option<Timed> {
        state.steps.values().find_map(|step| {
            let (action, params) = match step {
                StepState::Succeeded(done) => (done.action.as_str(), &done.params),
                StepState::Failed(_, Some(tried)) => (tried.action.as_str(), &tried.params),
                _ => return None,
            };
            let timed_check = action == "aws.route53.check_failover"
                && params["expect"] == expect
                && params["since"].as_str().is_some_and(|s| !s.is_empty());
            if !timed_check {
                return None;
            }
            let limit = params["limit"]
                .as_str()
                .filter(|l| !l.is_empty())
                .map(str::to_owned);
            Some(match step {
                StepState::Succeeded(done) => Timed {
                    seconds: done
                        .outputs
                        .get("seconds_since")
                        .and_then(serde_json::Value::as_u64),
                    limit,
                    failure: None,
                },
                StepState::Failed(error, _) => Timed {
                    seconds: None,
                    limit,
                    failure: Some(error.message.clone()),
                },
                _ => unreachable!("matched above"),
            })
        })
    };
    let over = timed("secondary")?;
    let back = timed("primary");
    let recorded = super::target::Recorded::of(state);
    let mut regions: Vec<String> = recorded.region.clone().into_iter().collect();
    for r in state.regions() {
        if !regions.contains(&r) {
            regions.push(r);
        }
    }
    let failure = over
        .failure
        .clone()
        .or_else(|| back.as_ref().and_then(|b| b.failure.clone()));
    Some(ui::runs::Drill {
        run_id: state.run_id.clone(),
        runbook: state.name.clone(),
        started_at: state.started_at.clone(),
        student: state
            .labels
            .iter()
            .find(|(k, _)| k == "runbook:student")
            .map(|(_, v)| v.clone()),
        account: recorded.account,
        regions,
        failover_seconds: over.seconds,
        failback_seconds: back.as_ref().and_then(|b| b.seconds),
        max_failover: over.limit,
        max_failback: back.and_then(|b| b.limit),
        passed: failure.is_none(),
        failure,
        timeline: timeline(state),
    })
}

/// A drill's moments, from its steps' outputs, in order: the stop (requested, then seen), the
/// targets out, Route 53 on the SECONDARY, the secondary's page; then, after a failback, the
/// start, the instances running, the targets healthy and Route 53 on the PRIMARY again.
fn timeline(state: &RunState) -> Vec<ui::runs::Moment> {
    use crate::engine::state::StepState;
    let done: Vec<&crate::engine::state::Done> = state
        .steps
        .values()
        .filter_map(|s| match s {
            StepState::Succeeded(done) => Some(done),
            _ => None,
        })
        .collect();
    let output = |action: &str, pick: &dyn Fn(&serde_json::Value) -> bool, key: &str| {
        done.iter()
            .filter(|d| d.action == action && pick(&d.params))
            .filter_map(|d| d.outputs.get(key)?.as_str().map(str::to_owned))
            .min()
    };
    let any = |_: &serde_json::Value| true;
    let stop_requested = output("aws.ec2.stop_instances", &any, "stopped_at");
    let start_requested = output("aws.ec2.start_instances", &any, "started_at");
    let parse = |t: &str| humantime::parse_rfc3339_weak(t).ok();
    let after = |t: &str, since: Option<&String>| {
        let since = parse(since?)?;
        parse(t)?.duration_since(since).ok()
    };
    // The targets' waits: out of service after the stop; healthy again after the start.
    let targets = |healthy: bool| {
        let since = if healthy {
            start_requested.as_ref()
        } else {
            stop_requested.as_ref()
        }?;
        done.iter()
            .filter(|d| d.action == "aws.elbv2.wait_target_health")
            .filter(|d| (d.params["state"] == "healthy") == healthy)
            .filter_map(|d| d.outputs.get("reached_at")?.as_str())
            .filter(|t| after(t, Some(since)).is_some())
            .min()
            .map(str::to_owned)
    };
    let timed = |expect: &str| {
        output(
            "aws.route53.check_failover",
            &|p: &serde_json::Value| {
                p["expect"] == expect && p["since"].as_str().is_some_and(|s| !s.is_empty())
            },
            "answered_at",
        )
    };
    let moments = [
        ("stop_requested", stop_requested.clone()),
        ("stopped", output("aws.ec2.stop_instances", &any, "stopped")),
        ("targets_out", targets(false)),
        ("dns_secondary", timed("secondary")),
        ("start_requested", start_requested.clone()),
        (
            "running",
            output("aws.ec2.start_instances", &any, "running"),
        ),
        ("targets_healthy", targets(true)),
        ("dns_primary", timed("primary")),
    ];
    moments
        .into_iter()
        .filter_map(|(name, at)| {
            let at = at?;
            let after_stop_seconds = after(&at, stop_requested.as_ref()).map(|d| d.as_secs_f64());
            Some(ui::runs::Moment {
                name,
                at,
                after_stop_seconds,
            })
        })
        .collect()
}
