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
    let services: &'static crate::engine::action::Services = if super::session::uses_aws(&checked) {
        let target = target::checked(settings, known.region.clone());
        let (clients, _) = rt
            .block_on(client::preflight(&target))
            .map_err(|e| Error::Usage {
                message: e.message,
                help: e.hint,
            })?;
        clients
    } else {
        &()
    };
    let verdicts = rt.block_on(
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
    let name = checked.project.name();
    if let Some(path) = junit {
        ui::junit::write_check(&name, &verdicts, path).map_err(|e| {
            Error::usage(
                format!("cannot write the JUnit report `{}`: {e}", path.display()),
                "give a path in a folder that exists",
            )
        })?;
    }
    ui::output_raw(&ui::check::render(&name, &verdicts, output))?;
    Ok(exit(&verdicts))
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
