//! `runbook check FILE`: what `run` would meet now, against the account, changing nothing. The
//! clients refuse every call that is not a read, and no journal is written. Where the runbook
//! ran before (its latest run in the state directory), that run's keys find what it made, so a
//! lab that is set up shows `in place`.

use std::path::Path;

use super::check::{known, region_var};
use super::settings::{Settings, Vars};
use super::{state, target};
use crate::actions::aws::client;
use crate::engine::action::Verdict;
use crate::engine::check::{Check, Evaluated};
use crate::engine::state::RunState;
use crate::error::{Error, Exit};
use crate::ui::{self, Format};

/// How long a reading step's waits may wait during a check.
const READ_FOR: std::time::Duration = std::time::Duration::from_secs(20);

pub fn check(
    settings: &Settings,
    file: &Path,
    vars: &Vars,
    output: Format,
    junit: Option<&Path>,
) -> Result<Exit, Error> {
    let mut checked = super::check::valid_file(settings, file, vars)?;
    let ask = ui::ask::TerminalAsk::never();
    super::session::fill_missing(&mut checked, &ask)?;
    // The runbook's latest run, if the state directory has one: its keys find what it made.
    let runbook = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let prior: Option<RunState> = state::open(settings).ok().and_then(|store| {
        let path = runbook.display().to_string();
        let id = crate::engine::store::latest(store.as_ref(), |s| s.runbook == path).ok()??;
        Some(RunState::from_entries(&store.read(&id).ok()?))
    });
    let run_id = prior
        .as_ref()
        .map_or_else(|| crate::engine::runs::new_id(file), |p| p.run_id.clone());
    let mut known = known(settings, region_var(&checked));
    super::session::belongs_to(&mut known, &run_id);
    let workflow = crate::plan::workflow::RunbookWorkflow::new(&checked, known.clone());
    let key = |step: &str| {
        prior.as_ref().map_or_else(
            || crate::engine::state::step_key(&run_id, step, 0),
            |p| p.key(step),
        )
    };
    let labels = prior.as_ref().map(|p| p.labels.clone()).unwrap_or_default();
    let interrupt = tokio_util::sync::CancellationToken::new();
    let rt = super::session::runtime(&interrupt);
    let clients = if super::session::uses_aws(&checked) {
        let target = target::checked(settings, known.region.clone());
        let (clients, _) = rt
            .block_on(client::preflight(&target))
            .map_err(|e| Error::Usage {
                message: e.message,
                help: e.hint,
            })?;
        Some(clients)
    } else {
        None
    };
    let services: &'static crate::engine::action::Services = match clients {
        Some(c) => c,
        None => &(),
    };
    let mut verdicts = rt.block_on(
        Check {
            workflow: &workflow,
            run_id: &run_id,
            key: &key,
            labels: &labels,
            services,
            ask: &ask,
            read_for: READ_FOR,
            secrets: &super::session::secrets_of(&checked),
        }
        .run(),
    );
    // A new run is refused before its first step when what it would write or name is taken
    // (`run`'s preflight): the step that would meet it would fail. Where the runbook ran before
    // and what it made is alive, that is its own, and shows in place.
    let made_alive = prior.as_ref().is_some_and(|p| !p.alive().is_empty());
    if let (Some(c), false) = (clients, made_alive) {
        let plan = crate::plan::build(&checked, &known);
        let met = rt.block_on(crate::actions::aws::readiness::collisions(
            c,
            plan.steps
                .iter()
                .map(|s| (s.action, &s.params, s.region.as_deref())),
        ));
        preflight_verdicts(&mut verdicts, &plan, met);
    }
    let name = checked.project.name();
    if let Some(path) = junit {
        super::session::make_folder(path)
            .and_then(|()| ui::junit::write_check(&name, &verdicts, path))
            .map_err(|e| {
                Error::usage(
                    format!("cannot write the JUnit report `{}`: {e}", path.display()),
                    "give a path in a folder you may write to",
                )
            })?;
    }
    ui::output_raw(&ui::check::render(&name, &verdicts, output))?;
    Ok(exit(&verdicts))
}

/// What `run`'s preflight would meet, on the steps that would meet it: each would fail (a step
/// already failing keeps its own reason). A preflight whose reads failed leaves its steps
/// unlooked at, never ready.
fn preflight_verdicts(
    verdicts: &mut [Evaluated],
    plan: &crate::plan::Plan,
    met: Result<Vec<crate::actions::aws::readiness::Met>, crate::engine::action::ActionError>,
) {
    let mut set = |step: &str, verdict: Verdict| {
        if let Some(v) = verdicts.iter_mut().find(|v| {
            v.step == step
                && !matches!(
                    v.verdict,
                    Verdict::WouldFail { .. } | Verdict::CouldNotLook { .. }
                )
        }) {
            v.verdict = verdict;
        }
    };
    match met {
        Ok(met) => {
            for m in met {
                set(
                    &plan.steps[m.step].id,
                    Verdict::WouldFail {
                        reason: format!("a new run is refused before its first step: {}", m.what),
                        fix: Some(m.fix),
                    },
                );
            }
        }
        Err(e) => {
            if let Some(first) = plan.steps.first() {
                set(
                    &first.id,
                    Verdict::CouldNotLook {
                        why: format!(
                            "what a new run checks before its first step could not be read: {}",
                            e.message
                        ),
                    },
                );
            }
        }
    }
}

/// 1 when any step would fail or could not be looked at (a read failed); else 0.
fn exit(verdicts: &[Evaluated]) -> Exit {
    if verdicts.iter().any(|v| {
        matches!(
            v.verdict,
            Verdict::WouldFail { .. } | Verdict::CouldNotLook { .. }
        )
    }) {
        Exit::Failed
    } else {
        Exit::Success
    }
}
