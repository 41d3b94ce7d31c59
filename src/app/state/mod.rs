//! Where runs are kept, as `--state-dir` says: a local folder (`engine::store::Local`, the
//! default `.runbook`), or `s3://BUCKET/PREFIX` ([`s3`], with a [`lease`] per run) to share runs
//! between CI and laptops. Every command gets its store here and uses nothing else.

mod lease;
mod s3;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

use super::settings::Settings;
use crate::engine::journal::{Journal, JournalError};
use crate::engine::store::{Local, Store, TakeOver};
use crate::error::Error;

/// The store `settings` name. For S3: a client from the same AWS configuration as the actions
/// (`--state-profile` and `--state-region` when the bucket is elsewhere), and the prefix checked.
/// Opened once per process and location: a class opens it for every lab.
pub fn open(settings: &Settings) -> Result<Arc<dyn Store>, Error> {
    type Key = (String, Option<String>, Option<String>, Option<String>);
    static OPEN: LazyLock<Mutex<HashMap<Key, Arc<dyn Store>>>> = LazyLock::new(Default::default);
    let location = settings.state_dir.to_string_lossy().into_owned();
    if !location.starts_with("s3://") {
        if location.to_lowercase().starts_with("s3:") {
            return Err(Error::usage(
                format!("--state-dir `{location}` is neither a folder nor an S3 location"),
                format!(
                    "write a bucket as s3://BUCKET/PREFIX (did you mean `s3://{}`?)",
                    location[3..].trim_start_matches('/')
                ),
            ));
        }
        return Ok(Arc::new(Local {
            dir: settings.state_dir.clone(),
        }));
    }
    check_bucket_name(&location)?;
    let key = (
        location.clone(),
        settings.state_profile.clone().or(settings.profile.clone()),
        settings.state_region.clone().or(settings.region.clone()),
        settings.endpoint_url.clone(),
    );
    if let Some(store) = OPEN.lock().expect("never poisoned").get(&key) {
        return Ok(store.clone());
    }
    let store = connect(settings, &location)?;
    OPEN.lock()
        .expect("never poisoned")
        .insert(key, store.clone());
    Ok(store)
}

/// The bucket of `s3://BUCKET/PREFIX` follows S3's naming rules (3 to 63 lowercase letters,
/// digits, dots and hyphens, starting and ending with a letter or digit): a name S3 would refuse
/// is a usage error here, not "no such bucket" with a create command that would fail too.
fn check_bucket_name(location: &str) -> Result<(), Error> {
    let rest = &location["s3://".len()..];
    let name = rest.split('/').next().unwrap_or_default();
    let example = "for example s3://team-runbook-state/labs";
    if name.is_empty() {
        return Err(Error::usage(
            format!("--state-dir `{location}` names no bucket"),
            format!("write it as s3://BUCKET/PREFIX, {example}"),
        ));
    }
    let edges_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    if !(3..=63).contains(&name.len()) || !edges_ok || !chars_ok || name.contains("..") {
        return Err(Error::usage(
            format!("--state-dir: `{name}` is not a valid S3 bucket name"),
            format!(
                "a bucket's name is 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit ({example})"
            ),
        ));
    }
    Ok(())
}

fn connect(settings: &Settings, location: &str) -> Result<Arc<dyn Store>, Error> {
    let target = crate::actions::aws::client::Settings {
        region: settings
            .state_region
            .clone()
            .or_else(|| settings.region.clone()),
        profile: settings
            .state_profile
            .clone()
            .or_else(|| settings.profile.clone()),
        endpoint_url: settings.endpoint_url.clone(),
        ..Default::default()
    };
    let custom_endpoint = target
        .endpoint_url
        .as_deref()
        .is_some_and(|u| !u.is_empty());
    let config = s3::block(async move { crate::actions::aws::client::sdk_config(&target).await })
        .map_err(|e| {
            Error::usage(
                format!("cannot use the state in `{location}`: {}", e.message),
                e.hint.unwrap_or_else(|| {
                    "pass --state-region (or --region) with the bucket's region".to_owned()
                }),
            )
        })?
        .0;
    // An emulator or an S3-compatible store at an address: path-style URLs.
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(custom_endpoint)
            .build(),
    );
    let store = s3::S3::connect(client, location, settings.lease).map_err(journal_error)?;
    Ok(Arc::new(store))
}

/// Open `run`'s journal for writing. A live lease held elsewhere is taken only with
/// `--take-over`, after asking on a terminal (`confirm`; `None` when nobody can be asked).
pub fn open_journal(
    store: &dyn Store,
    run: &str,
    settings: &Settings,
    confirm: &dyn Fn(&str) -> Option<bool>,
) -> Result<Journal, Error> {
    match store.open(run, TakeOver::No) {
        Err(JournalError::Leased {
            run,
            holder,
            expires,
        }) if settings.take_over => {
            let question = format!(
                "Run `{run}` is driven by {holder} (lease until {expires}). Take it over? That process stops at its next record."
            );
            if confirm(&question) == Some(false) {
                return Err(Error::usage(
                    format!("run `{run}` is driven by {holder}"),
                    "wait for its lease to expire, or stop that process",
                ));
            }
            store.open(&run, TakeOver::Yes).map_err(journal_error)
        }
        other => other.map_err(journal_error),
    }
}

/// A journal or store error as the user sees it: a run driven elsewhere is exit 2.
pub fn journal_error(e: JournalError) -> Error {
    match e {
        JournalError::Locked { .. } => Error::usage(
            e.to_string(),
            "wait for it to finish, or stop that process first",
        ),
        JournalError::ClassHeld { .. } => Error::usage(
            e.to_string(),
            "one process drives a class at a time: wait for it to finish, or stop it (`runbook runs` shows its labs)",
        ),
        JournalError::Leased { .. } => Error::usage(
            e.to_string(),
            "wait for it to finish or for its lease to expire; --take-over takes it now",
        ),
        JournalError::LeaseLost { .. } => Error::runtime(
            e.to_string(),
            "this process stopped starting steps; `runbook runs` shows who drives the run now",
        ),
        JournalError::Store { message, hint } => Error::runtime(message, hint),
        JournalError::Newer { .. } => Error::runtime(
            e.to_string(),
            format!(
                "act on this run with the runbook that wrote it, or upgrade this one (`runbook --version` says {}); nothing was changed",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        JournalError::Damaged { ref path, .. } => {
            let run = path
                .parent()
                .and_then(Path::file_name)
                .or_else(|| path.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Error::runtime(
                e.to_string(),
                format!(
                    "nothing acts on a run whose journal is damaged: what it made carries its tags, so `runbook sweep --tag runbook:run={run}` (with the run's --region and --endpoint-url) finds and removes it; name another run to act on that one"
                ),
            )
        }
        other @ JournalError::Io { .. } => Error::runtime(
            other.to_string(),
            "check the state directory (`--state-dir`)",
        ),
    }
}

/// An engine error as the user sees it (the engine fails only for its journal).
pub fn engine_error(e: crate::engine::EngineError) -> Error {
    match e {
        crate::engine::EngineError::Journal(j) => journal_error(j),
        crate::engine::EngineError::Unrecorded { ref run_id, .. } => Error::runtime(
            e.to_string(),
            format!(
                "they carry the run's tags: `runbook sweep --tag runbook:run={run_id}` (with the run's --region, --profile or --endpoint-url) finds and removes them; `runbook runs` shows who drives the run now"
            ),
        ),
    }
}

/// When this process loses its lease on the run (taken over, or not renewed in time), stop
/// starting steps as an interrupt does; the next record it tries to write says why.
pub fn stop_when_lost(
    journal: &Journal,
    interrupt: &tokio_util::sync::CancellationToken,
    rt: &tokio::runtime::Runtime,
) {
    if let Some(lost) = journal.lost() {
        let interrupt = interrupt.clone();
        rt.spawn(async move {
            lost.cancelled().await;
            interrupt.cancel();
        });
    }
}

/// A run id the state directory does not hold: a near one, or where runs are listed (as this
/// command was invoked), and the local lab's folder when the run is there.
pub(crate) fn no_such_run(settings: &Settings, store: &dyn Store, id: &str) -> Error {
    let message = format!("there is no run `{id}` in `{}`", store.location());
    let known = match store.ids() {
        Ok(known) => known,
        Err(e) => return journal_error(e),
    };
    let lab = Path::new(".lab");
    let help = if let Some(near) = crate::runbook::suggest::did_you_mean(id, &known) {
        near
    } else if !store.is_folder(lab)
        && crate::engine::runs::is_id(id)
        && crate::engine::runs::run_dir(lab, id).is_dir()
    {
        let there = Settings {
            state_dir: lab.to_path_buf(),
            ..settings.clone()
        };
        format!(
            "it is a run of the local lab (scripts/lab), kept in `.lab`: add --state-dir .lab, as in `{}`",
            there.command("runs")
        )
    } else if !store.is_folder(lab) && lab.is_dir() {
        format!(
            "`{}` lists the runs (the local lab's: `{}`)",
            settings.command("runs"),
            Settings {
                state_dir: lab.to_path_buf(),
                ..settings.clone()
            }
            .command("runs")
        )
    } else {
        format!("`{}` lists the runs", settings.command("runs"))
    };
    Error::usage(message, help)
}
