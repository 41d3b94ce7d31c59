//! `runs` and `show`: what the state directory remembers.

use super::settings::Settings;
use crate::engine::journal;
use crate::engine::runs;
use crate::engine::state::RunState;
use crate::error::{Error, Exit};
use crate::ui::{self, Format};

pub fn list(settings: &Settings, output: Format) -> Result<Exit, Error> {
    let all = runs::list(&settings.state_dir);
    ui::output_raw(&ui::runs::list(&settings.state_dir, &all, output))?;
    Ok(Exit::Success)
}

pub fn show(settings: &Settings, run_id: Option<&str>, output: Format) -> Result<Exit, Error> {
    let latest;
    let run_id = if let Some(id) = run_id {
        id
    } else {
        latest = runs::latest(&settings.state_dir, |_| true).ok_or_else(|| {
            Error::usage(
                format!("there are no runs in `{}`", settings.state_dir.display()),
                "`runbook run FILE` starts one; --state-dir (or RUNBOOK_STATE_DIR) says where runs are recorded",
            )
        })?;
        latest.as_str()
    };
    let dir = runs::run_dir(&settings.state_dir, run_id);
    if !dir.join(journal::JOURNAL).is_file() {
        let known: Vec<String> = runs::list(&settings.state_dir)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let help = crate::runbook::suggest::did_you_mean(run_id, &known)
            .unwrap_or_else(|| "`runbook runs` lists the runs".into());
        return Err(Error::usage(
            format!(
                "there is no run `{run_id}` in `{}`",
                settings.state_dir.display()
            ),
            help,
        ));
    }
    let entries =
        journal::read(&dir).map_err(|e| Error::runtime(e.to_string(), "the journal is damaged"))?;
    let state = RunState::from_entries(&entries);
    let place = super::session::state_uses_aws(&state)
        .then(|| super::target::Recorded::of(&state).describe());
    ui::output_raw(&ui::runs::show(run_id, &state, place.as_deref(), output))?;
    Ok(Exit::Success)
}
