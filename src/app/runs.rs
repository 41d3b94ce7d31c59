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
    if all.is_empty() {
        if let Some(missing) = no_such_folder(settings) {
            ui::note!("{}.", ui::sentence(&missing));
        }
    }
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

/// Where runs are looked for in a folder that is not there (a mistyped `--state-dir`, or
/// `.runbook` looked for from another folder than the runs were started in): said, since "no
/// runs" alone reads as if they were gone.
pub(super) fn no_such_folder(settings: &Settings) -> Option<String> {
    let dir = &settings.state_dir;
    if dir.to_string_lossy().starts_with("s3://") || dir.exists() {
        return None;
    }
    let here = std::env::current_dir()
        .map(|cwd| format!(" in {}", cwd.display()))
        .unwrap_or_default();
    Some(format!(
        "there is no folder `{}`{}: runs are recorded in `.runbook` in the folder `runbook run` started in, or where --state-dir (or RUNBOOK_STATE_DIR) says",
        dir.display(),
        if dir.is_relative() {
            here
        } else {
            String::new()
        }
    ))
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
                no_such_folder(settings).unwrap_or_else(|| "`runbook run FILE` starts one; --state-dir (or RUNBOOK_STATE_DIR) says where runs are recorded".to_owned()),
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
    let recorded = super::target::Recorded::of(&state);
    ui::output_raw(&ui::runs::show(
        run_id,
        &state,
        &ui::runs::About {
            place: place.as_deref(),
            region: recorded.region.as_deref(),
            drill: drill.as_ref(),
            by: recorded.started_by.as_deref(),
        },
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
            secrets: &[],
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
            solving: false,
            declared: &crate::engine::action::NOTHING_DECLARED,
            journal: None,
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
    if found.is_empty() {
        if let Some(missing) = no_such_folder(settings) {
            ui::note!("{}.", ui::sentence(&missing));
        }
    }
    Ok(Exit::Success)
}

/// A run's drill: its failover check (a `check_failover` expecting the SECONDARY, timed from a
/// stop) and its failback check (expecting the PRIMARY, timed from a start), if it ran them.
pub(super) fn drill_of(state: &RunState) -> Option<ui::runs::Drill> {
    use crate::engine::state::StepState;
    /// One timed check: its measured seconds (when it passed), its limit, and why it failed.
    struct Timed {
        step: String,
        seconds: Option<u64>,
        limit: Option<String>,
        failure: Option<String>,
    }
    let timed = |expect: &str| -> Option<Timed> {
        state.steps.iter().find_map(|(id, step)| {
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
                    step: id.clone(),
                    seconds: done
                        .outputs
                        .get("seconds_since")
                        .and_then(serde_json::Value::as_u64),
                    limit,
                    failure: None,
                },
                StepState::Failed(error, _) => Timed {
                    step: id.clone(),
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
        failover_step: over.step.clone(),
        failback_step: back.as_ref().map(|b| b.step.clone()),
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
/// start, the instances running, the targets healthy and Route 53 on the PRIMARY again. Each
/// names the step that saw it.
fn timeline(state: &RunState) -> Vec<ui::runs::Moment> {
    use crate::engine::state::StepState;
    type Seen = Option<(String, String)>;
    let done: Vec<(&String, &crate::engine::state::Done)> = state
        .steps
        .iter()
        .filter_map(|(id, s)| match s {
            StepState::Succeeded(done) => Some((id, done)),
            _ => None,
        })
        .collect();
    // The earliest `key` output of a step of `action` whose parameters `pick` takes, and after
    // `since` when given: (time, step).
    let parse = |t: &str| humantime::parse_rfc3339_weak(t).ok();
    let after = |t: &str, since: Option<&str>| {
        let since = parse(since?)?;
        parse(t)?.duration_since(since).ok()
    };
    let output = |action: &str,
                  pick: &dyn Fn(&serde_json::Value) -> bool,
                  key: &str,
                  since: Option<&str>|
     -> Seen {
        done.iter()
            .filter(|(_, d)| d.action == action && pick(&d.params))
            .filter_map(|(id, d)| Some((d.outputs.get(key)?.as_str()?.to_owned(), (*id).clone())))
            .filter(|(t, _)| since.is_none_or(|s| after(t, Some(s)).is_some()))
            .min()
    };
    let any = |_: &serde_json::Value| true;
    let stop_requested = output("aws.ec2.stop_instances", &any, "stopped_at", None);
    let start_requested = output("aws.ec2.start_instances", &any, "started_at", None);
    let stop = stop_requested.as_ref().map(|(t, _)| t.as_str());
    let start = start_requested.as_ref().map(|(t, _)| t.as_str());
    // The targets' waits: out of service after the stop; healthy again after the start.
    let targets = |healthy: bool| -> Seen {
        let since = if healthy { start } else { stop }?;
        output(
            "aws.elbv2.wait_target_health",
            &|p| (p["state"] == "healthy") == healthy,
            "reached_at",
            Some(since),
        )
    };
    let timed = |expect: &str| {
        output(
            "aws.route53.check_failover",
            &|p| p["expect"] == expect && p["since"].as_str().is_some_and(|s| !s.is_empty()),
            "answered_at",
            None,
        )
    };
    // The secondary's page: a page check that answered after the stop (and before a start).
    let page = stop.and_then(|stop| {
        output("check.http", &any, "answered_at", Some(stop))
            .filter(|(t, _)| start.is_none_or(|start| after(start, Some(t)).is_some()))
    });
    let moments = [
        ("stop_requested", stop_requested.clone()),
        (
            "stopped",
            output("aws.ec2.stop_instances", &any, "stopped", None),
        ),
        ("targets_out", targets(false)),
        ("dns_secondary", timed("secondary")),
        ("page_secondary", page),
        ("start_requested", start_requested.clone()),
        (
            "running",
            output("aws.ec2.start_instances", &any, "running", None),
        ),
        ("targets_healthy", targets(true)),
        ("dns_primary", timed("primary")),
    ];
    moments
        .into_iter()
        .filter_map(|(name, seen)| {
            let (at, by) = seen?;
            let after_stop_seconds = after(&at, stop).map(|d| d.as_secs_f64());
            Some(ui::runs::Moment {
                name,
                at,
                step: by,
                after_stop_seconds,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::engine::state::{Done, RunState, StepState};

    fn done(action: &str, params: serde_json::Value, outputs: &serde_json::Value) -> StepState {
        StepState::Succeeded(Done::new(
            action.to_owned(),
            outputs.as_object().cloned().unwrap_or_default(),
            Vec::new(),
            params,
        ))
    }

    #[test]
    fn the_timeline_takes_each_moment_from_the_step_that_saw_it_and_the_page_after_the_stop() {
        let mut state = RunState::default();
        let at = |s: u32| format!("2026-12-07T10:00:{s:02}Z");
        let steps = [
            // The page before the drill is the primary's: not a moment of it.
            (
                "http_primary",
                done("check.http", json!({}), &json!({"answered_at": at(1)})),
            ),
            (
                "stop_primary",
                done(
                    "aws.ec2.stop_instances",
                    json!({}),
                    &json!({"stopped_at": at(10), "stopped": at(31)}),
                ),
            ),
            (
                "primary_down",
                done(
                    "aws.elbv2.wait_target_health",
                    json!({"state": "not_healthy"}),
                    &json!({"reached_at": at(33)}),
                ),
            ),
            (
                "check_secondary",
                done(
                    "aws.route53.check_failover",
                    json!({"expect": "secondary", "since": at(10)}),
                    &json!({"answered_at": at(41), "seconds_since": 31}),
                ),
            ),
            (
                "http_secondary",
                done("check.http", json!({}), &json!({"answered_at": at(44)})),
            ),
        ];
        for (id, step) in steps {
            state.steps.insert(id.to_owned(), step);
        }
        let drill = super::drill_of(&state).expect("a drill");
        let moments: Vec<(&str, &str, Option<f64>)> = drill
            .timeline
            .iter()
            .map(|m| (m.name, m.step.as_str(), m.after_stop_seconds))
            .collect();
        assert_eq!(
            moments,
            [
                ("stop_requested", "stop_primary", Some(0.0)),
                ("stopped", "stop_primary", Some(21.0)),
                ("targets_out", "primary_down", Some(23.0)),
                ("dns_secondary", "check_secondary", Some(31.0)),
                ("page_secondary", "http_secondary", Some(34.0)),
            ]
        );
        assert_eq!(drill.failover_seconds, Some(31));
        assert_eq!(drill.failover_step, "check_secondary");
        assert!(drill.passed);
        let json = drill.as_json();
        assert_eq!(json["page_secondary"], at(44));
        assert!(json["dns_primary"].is_null(), "{json}");
        assert_eq!(drill.headline(), "Drill: failover 31 s: passed");
    }
}
