//! `runbook sweep`: delete what carries a `runbook:` tag, found in AWS rather than in a journal.

use std::io::IsTerminal;

use super::Cli;
use crate::actions::aws::{client, sweep};
use crate::error::{Error, Exit};

pub fn sweep(cli: &Cli, tag: &(String, String), dry_run: bool, yes: bool) -> Result<Exit, Error> {
    let (key, value) = tag;
    if !key.starts_with("runbook:") {
        return Err(Error::usage(
            format!("sweep deletes only what runbook tagged, and `{key}` is not one of its tags"),
            "use runbook:run=RUN_ID, runbook:step=…, or the tags your runs put on resources (`runbook show` lists them)",
        ));
    }
    client::configure(client::Settings {
        region: cli.global.region.clone(),
        profile: cli.global.profile.clone(),
        endpoint_url: cli.global.endpoint_url.clone(),
        rates: cli.global.aws_rate,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::usage(format!("cannot start: {e}"), "try again"))?;
    let region = rt.block_on(client::preflight()).map_err(|e| Error::Usage {
        message: e.message,
        help: e.hint,
    })?;
    let clients = rt.block_on(client::clients()).map_err(|e| Error::Usage {
        message: e.message,
        help: e.hint,
    })?;
    let found = rt.block_on(sweep::find(clients, key, value)).map_err(|e| {
        Error::usage(
            e.message,
            e.hint
                .unwrap_or_else(|| "check the credentials and the region".into()),
        )
    })?;
    if found.is_empty() {
        eprintln!("Nothing in {region} carries the tag {key}={value}.");
        return Ok(Exit::Success);
    }
    eprintln!(
        "{} in {region} carry the tag {key}={value}:",
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
    let window = std::env::var("RUNBOOK_UNDO_WINDOW")
        .ok()
        .and_then(|t| humantime::parse_duration(&t).ok())
        .unwrap_or(std::time::Duration::from_secs(20 * 60));
    let progress = |text: &str| eprintln!("  {text}");
    let mut remaining = Vec::new();
    for kind in sweep::ORDER {
        let batch: Vec<&sweep::Found> = found.iter().filter(|r| r.kind == kind).collect();
        let results = rt.block_on(futures::future::join_all(
            batch
                .iter()
                .map(|r| sweep::delete(clients, r, window, &progress)),
        ));
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
    if remaining.is_empty() {
        eprintln!("Sweep complete: nothing in {region} carries {key}={value} any more.");
        Ok(Exit::Success)
    } else {
        eprintln!(
            "{} remain; run the same sweep again later (AWS may still be releasing them).",
            crate::runbook::suggest::count(remaining.len(), "resource")
        );
        Ok(Exit::RollbackIncomplete)
    }
}
