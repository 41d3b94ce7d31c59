//! `runbook sweep`: delete what carries a `runbook:` tag, found in AWS rather than in a journal.

use std::io::IsTerminal;

use tokio_util::sync::CancellationToken;

use super::Cli;
use crate::actions::aws::{client, sweep};
use crate::engine::action::{ActionError, Context, Progress, Resource};
use crate::engine::retry::Backoff;
use crate::error::{Error, Exit};
use crate::ui::ask::TerminalAsk;

pub fn sweep(
    cli: &Cli,
    tag: Option<&(String, String)>,
    expired: bool,
    each: Option<&std::path::Path>,
    dry_run: bool,
    yes: bool,
) -> Result<Exit, Error> {
    let select = match (tag, expired) {
        (Some((key, _)), _) if !key.starts_with("runbook:") => {
            return Err(Error::usage(
                format!(
                    "sweep deletes only what runbook tagged, and `{key}` is not one of its tags"
                ),
                "use runbook:run=RUN_ID, runbook:step=…, or the tags your runs put on resources (`runbook show` lists them)",
            ));
        }
        (Some((key, value)), _) => sweep::Select::Tag(key.clone(), value.clone()),
        (None, true) => sweep::Select::ExpiredBefore(std::time::SystemTime::now()),
        (None, false) => {
            return Err(Error::usage(
                "say what to sweep",
                "--tag runbook:run=RUN_ID, or --expired for what `run --ttl` marked and whose time has passed",
            ));
        }
    };
    // Where to look: the command line's region and profile, or each place a class's roster names.
    let mut places = vec![client::Settings {
        region: cli.global.region.clone(),
        profile: cli.global.profile.clone(),
        endpoint_url: cli.global.endpoint_url.clone(),
        rates: cli.global.aws_rate,
        role_arn: None,
    }];
    if let Some(csv) = each {
        places.clear();
        for s in crate::app::roster::read_places(csv)? {
            let place = client::Settings {
                region: cli.global.region.clone().or(s.region),
                profile: s.profile.or(cli.global.profile.clone()),
                endpoint_url: cli.global.endpoint_url.clone(),
                rates: cli.global.aws_rate,
                role_arn: s.role_arn,
            };
            if !places.iter().any(|p| {
                p.region == place.region
                    && p.profile == place.profile
                    && p.role_arn == place.role_arn
            }) {
                places.push(place);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::usage(format!("cannot start: {e}"), "try again"))?;
    let mut exit = Exit::Success;
    for place in &places {
        let found = sweep_place(&rt, place, &select, dry_run, yes)?;
        if found == Exit::RollbackIncomplete {
            exit = found;
        }
    }
    Ok(exit)
}

/// Sweep one account and region.
fn sweep_place(
    rt: &tokio::runtime::Runtime,
    place: &client::Settings,
    select: &sweep::Select,
    dry_run: bool,
    yes: bool,
) -> Result<Exit, Error> {
    let what = select.describe();
    let usage = |e: ActionError| Error::Usage {
        message: e.message,
        help: e.hint,
    };
    let clients = rt.block_on(client::for_settings(place)).map_err(usage)?;
    let region = rt
        .block_on(client::check_credentials(clients))
        .map_err(usage)?;
    let region = match &place.role_arn {
        Some(role) => format!("{region} (as {role})"),
        None => region,
    };
    let found = rt.block_on(sweep::find(clients, select)).map_err(|e| {
        Error::usage(
            e.message,
            e.hint
                .unwrap_or_else(|| "check the credentials and the region".into()),
        )
    })?;
    if found.is_empty() {
        eprintln!("Nothing in {region} carries {what}.");
        return Ok(Exit::Success);
    }
    eprintln!(
        "{} in {region} carry {what}:",
        crate::runbook::suggest::count(found.len(), "resource")
    );
    for r in &found {
        match &r.name {
            Some(name) => eprintln!("  {} {} ({name})", r.kind, r.id),
            None => eprintln!("  {} {}", r.kind, r.id),
        }
    }
    if dry_run {
        eprintln!("Dry run: nothing was deleted.");
        return Ok(Exit::Success);
    }
    if !yes {
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if !interactive {
            return Err(Error::usage(
                "sweep deletes these resources and nobody can confirm it without a terminal",
                "add --yes to delete them, or --dry-run to only list them",
            ));
        }
        let sure = dialoguer::Confirm::new()
            .with_prompt("Delete them all?")
            .default(false)
            .interact_on(&dialoguer::console::Term::stderr())
            .unwrap_or(false);
        if !sure {
            eprintln!("Nothing was deleted.");
            return Ok(Exit::Success);
        }
    }
    let remaining = rt.block_on(client::scoped(clients, delete_all(clients, &found)));
    if remaining.is_empty() {
        eprintln!("Sweep complete: nothing in {region} carries {what} any more.");
        Ok(Exit::Success)
    } else {
        eprintln!(
            "{} remain; run the same sweep again later (AWS may still be releasing them).",
            crate::runbook::suggest::count(remaining.len(), "resource")
        );
        Ok(Exit::RollbackIncomplete)
    }
}

/// Delete what was found, kind by kind in dependency order; what could not be deleted.
async fn delete_all<'f>(
    clients: &client::Clients,
    found: &'f [sweep::Found],
) -> Vec<&'f sweep::Found> {
    let window = super::execute::undo_retries().0;
    let mut remaining = Vec::new();
    for kind in sweep::order() {
        let batch: Vec<&sweep::Found> = found.iter().filter(|r| r.kind == kind).collect();
        let results =
            futures::future::join_all(batch.iter().map(|r| delete(clients, r, window))).await;
        for (r, result) in batch.into_iter().zip(results) {
            match result {
                Ok(()) => eprintln!("deleted {} {}", r.kind, r.id),
                Err(e) => {
                    eprintln!("could not delete {} {}: {}", r.kind, r.id, e.message);
                    remaining.push(r);
                }
            }
        }
    }
    remaining
}

/// Find what `select` selects and delete it without asking (`rollback --class` after its
/// runs): how many resources remain.
pub(crate) async fn sweep_in(
    clients: &client::Clients,
    select: &sweep::Select,
) -> Result<usize, ActionError> {
    let found = sweep::find(clients, select).await?;
    Ok(delete_all(clients, &found).await.len())
}

/// Status lines of a sweep's deletes, on stderr.
struct Lines<'a>(&'a str);

impl Progress for Lines<'_> {
    fn status(&self, text: &str) {
        eprintln!("  {}: {text}", self.0);
    }

    fn message(&self, text: &str) {
        eprintln!("  {}: {text}", self.0);
    }
}

/// Delete one resource with the undo of the action that creates its kind, retrying what AWS
/// refuses for now (a group or subnet still in use while interfaces are released) for `window`.
async fn delete(
    clients: &client::Clients,
    r: &sweep::Found,
    window: std::time::Duration,
) -> Result<(), ActionError> {
    let (action, undo) = sweep::undo_of(clients, r).await?;
    let def = crate::actions::find(action).expect("sweep names built-in actions");
    let what = format!("{} {}", r.kind, r.id);
    let progress = Lines(&what);
    let cancel = CancellationToken::new();
    let params = serde_json::Value::Null;
    let ctx = Context {
        run_id: "sweep",
        step_id: "sweep",
        key: "sweep",
        params: &params,
        progress: &progress,
        ask: &TerminalAsk::never(),
        yes: true,
        cancel: &cancel,
        labels: &[],
    };
    let resource = Resource {
        kind: r.kind.to_owned(),
        id: r.id.clone(),
        undo,
    };
    crate::engine::retry::within(
        window,
        Backoff::new(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(30),
        ),
        &cancel,
        |r| {
            progress.status(&format!(
                "{}; trying again in {}s",
                r.error.message,
                r.wait.as_secs().max(1)
            ));
        },
        || def.executor.undo(&ctx, &resource),
    )
    .await
}
