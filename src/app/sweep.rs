//! `runbook sweep`: delete what carries a `runbook:` tag, found in AWS rather than in a journal.

use tokio_util::sync::CancellationToken;

use super::settings::Settings;
use super::target;
use crate::actions::aws::{client, sweep};
use crate::engine::action::{ActionError, Context, Progress, Resource, Undone};
use crate::engine::retry::Backoff;
use crate::error::{Error, Exit};
use crate::ui::{self, ask::TerminalAsk};

/// What `runbook sweep --help` says it does, its order read from the kinds table.
pub fn about() -> String {
    let kinds: Vec<String> = sweep::order().map(|k| format!("{k}s")).collect();
    let listed = match kinds.split_last() {
        Some((last, init)) if !init.is_empty() => format!("{} and {last}", init.join(", ")),
        _ => kinds.concat(),
    };
    format!(
        "Delete every resource that carries a runbook tag, found in AWS (no journal needed): {listed}, in that order"
    )
}

pub fn sweep(
    settings: &Settings,
    tag: Option<&(String, String)>,
    expired: bool,
    each: Option<&std::path::Path>,
    dry_run: bool,
    yes: bool,
) -> Result<Exit, Error> {
    let select = match (tag, expired) {
        (Some((key, value)), _) if !key.starts_with("runbook:") => {
            use crate::actions::aws::tags;
            // `class=spring` for `runbook:class=spring`: the key without its prefix.
            let ours = [
                tags::RUN,
                tags::STEP,
                tags::CLASS,
                tags::STUDENT,
                tags::EXPIRES,
            ]
            .into_iter()
            .find(|t| t.strip_prefix("runbook:") == Some(key.as_str()));
            return Err(Error::usage(
                format!(
                    "sweep deletes only what runbook tagged, and `{key}` is not one of its tags"
                ),
                match ours {
                    Some(tag) => format!("did you mean `--tag {tag}={value}`?"),
                    None => "use runbook:run=RUN_ID, runbook:step=…, or the tags your runs put on resources (`runbook show` lists them)".to_owned(),
                },
            ));
        }
        (Some((key, value)), _) if value.trim().is_empty() => {
            return Err(Error::usage(
                format!("the tag `{key}` is given no value, and runbook's tags always have one"),
                format!(
                    "name what to sweep: --tag {key}=VALUE (a shell variable that was empty leaves `{key}=`)"
                ),
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
    // Where to look: the command line's regions and profile, or each place a class's roster
    // names.
    let here = target::command_line(settings);
    let mut places = vec![here.clone()];
    for region in &settings.more_regions {
        if !places
            .iter()
            .any(|p| p.region.as_deref() == Some(region.as_str()))
        {
            places.push(client::Settings {
                region: Some(region.clone()),
                ..here.clone()
            });
        }
    }
    if let Some(csv) = each {
        places.clear();
        for s in crate::app::roster::read_places(csv)? {
            let place = target::place(settings, s);
            if !places.iter().any(|p| {
                p.region == place.region
                    && p.profile == place.profile
                    && p.role_arn == place.role_arn
            }) {
                places.push(place);
            }
        }
    }
    // Ctrl-C (or SIGTERM) stops the deletes at their next wait, as it stops a run.
    let interrupt = CancellationToken::new();
    let rt = super::session::runtime(&interrupt);
    // A run's resources, and a class's, are also where the runs acted (their own region and
    // their steps' `region:`), as their journals say when they are at hand (sweep needs none).
    if let Some(tag) = tag {
        // The region the environment or profile gives, named, so that a run's own region is not
        // looked in a second time as if it were another.
        if let Some(first) = places.first_mut().filter(|p| p.region.is_none()) {
            if let Ok(clients) = rt.block_on(client::for_settings(first)) {
                first.region = Some(clients.region.clone());
            }
        }
        for region in journal_regions(settings, tag) {
            let Some(here) = places.first().cloned() else {
                break;
            };
            if !places
                .iter()
                .any(|p| p.region.as_deref() == Some(region.as_str()))
            {
                places.push(client::Settings {
                    region: Some(region),
                    ..here
                });
            }
        }
    }
    let mut exit = Exit::Success;
    let mut deleted = 0;
    for (i, place) in places.iter().enumerate() {
        // Route 53's resources are the account's: listed in the first region looked in.
        let scope = if places[..i].iter().any(|p| same_account(p, place)) {
            sweep::Scope::RegionOnly
        } else {
            sweep::Scope::WithGlobal
        };
        let several = places
            .iter()
            .filter(|p| same_account(p, place))
            .nth(1)
            .is_some();
        let look = Look {
            scope,
            several,
            dry_run,
            yes,
        };
        let (found, removed) = sweep_place(&rt, place, &select, look, &interrupt)?;
        deleted += removed;
        if found == Exit::RollbackIncomplete {
            exit = found;
        }
        if interrupt.is_cancelled() {
            return Ok(Exit::Interrupted);
        }
    }
    if let Some(tag) = tag.filter(|_| deleted > 0) {
        journals_behind(settings, tag);
    }
    Ok(exit)
}

/// The regions the runs a tag selects acted in (`runbook:run=ID`, or a label such as
/// `runbook:class=spring`): each run's own and its steps', from the journals at hand; none when
/// there are none.
fn journal_regions(settings: &Settings, tag: &(String, String)) -> Vec<String> {
    let states = match runs_at_hand(settings, tag) {
        Ok(states) => states,
        Err(e) => {
            ui::note!(
                "The runs in `{}` could not be read ({e}): only the regions given with --region (or the default one) are looked in, not the other regions the runs acted in.",
                settings.state_dir.display()
            );
            return Vec::new();
        }
    };
    let mut regions = Vec::new();
    for state in states.iter().filter(|s| target::state_uses_aws(s)) {
        let own = target::Recorded::of(state).region;
        for region in own.into_iter().chain(state.regions()) {
            if !regions.contains(&region) {
                regions.push(region);
            }
        }
    }
    regions
}

/// The runs a tag selects whose journals are at hand (this state directory or bucket); a state
/// that could not be read is said, never taken for one without runs.
fn runs_at_hand(
    settings: &Settings,
    (key, value): &(String, String),
) -> Result<Vec<crate::engine::state::RunState>, String> {
    use crate::engine::state::RunState;
    let store = super::state::open(settings).map_err(|e| e.message())?;
    if key == "runbook:run" {
        if store.exists(value).map_err(|e| e.to_string())? {
            store
                .read(value)
                .map(|entries| vec![RunState::from_entries(&entries)])
                .map_err(|e| e.to_string())
        } else {
            Ok(Vec::new())
        }
    } else {
        Ok(store
            .list()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter_map(|(_, state)| state.ok())
            .filter(|state| state.labels.iter().any(|(k, v)| k == key && v == value))
            .collect())
    }
}

/// After a sweep removed what runs at hand still list: how their journals learn it.
fn journals_behind(settings: &Settings, tag: &(String, String)) {
    // A state that cannot be read was said when the regions were looked for.
    let behind: Vec<String> = runs_at_hand(settings, tag)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !s.alive().is_empty())
        .map(|s| s.run_id)
        .collect();
    if behind.is_empty() {
        return;
    }
    let command = match (tag.0.as_str(), behind.as_slice()) {
        ("runbook:class", _) => format!("rollback --class {} --expect-gone", tag.1),
        (_, [run]) => format!("rollback {run} --expect-gone"),
        _ => "rollback RUN --expect-gone".to_owned(),
    };
    ui::note!(
        "The journal{} of {} still list{} what this sweep removed; `{}` records that it is gone{}.",
        if behind.len() == 1 { "" } else { "s" },
        crate::runbook::suggest::list(&behind),
        if behind.len() == 1 { "s" } else { "" },
        settings.command(&command),
        if behind.len() > 1 && tag.0 != "runbook:class" {
            ", for each"
        } else {
            ""
        }
    );
}

/// Two places reach the same account and endpoint (their regions aside).
pub(crate) fn same_account(a: &client::Settings, b: &client::Settings) -> bool {
    a.profile == b.profile && a.role_arn == b.role_arn && a.endpoint_url == b.endpoint_url
}

/// How one region is swept.
#[derive(Clone, Copy)]
struct Look {
    /// Whether the account's global resources are listed here.
    scope: sweep::Scope,
    /// Whether the sweep looks in more than one region of the account (then the region that
    /// lists Route 53's resources says so).
    several: bool,
    dry_run: bool,
    yes: bool,
}

/// Sweep one account and region (and the account's global resources, when `look` says): how it
/// ended, and how many resources it deleted.
fn sweep_place(
    rt: &tokio::runtime::Runtime,
    place: &client::Settings,
    select: &sweep::Select,
    look: Look,
    interrupt: &CancellationToken,
) -> Result<(Exit, usize), Error> {
    let Look {
        scope,
        several,
        dry_run,
        yes,
    } = look;
    let what = select.describe();
    let usage = |e: ActionError| Error::Usage {
        message: e.message,
        help: e.hint,
    };
    let clients = rt.block_on(client::for_settings(place)).map_err(usage)?;
    let region = rt
        .block_on(client::check_credentials(clients))
        .map_err(usage)?;
    rt.block_on(client::identify(clients)).map_err(usage)?;
    let region = match &place.role_arn {
        Some(role) => format!("{region} (as {role})"),
        None => region,
    };
    let found = rt
        .block_on(sweep::find(clients, select, scope))
        .map_err(|e| {
            Error::usage(
                e.message,
                e.hint
                    .unwrap_or_else(|| "check the credentials and the region".into()),
            )
        })?;
    // Route 53's resources belong to no region: said so, not counted in the region's.
    let place_name = if several && scope == sweep::Scope::WithGlobal {
        format!("{region} (and Route 53, which is global)")
    } else {
        region.clone()
    };
    if found.is_empty() {
        ui::note!("Nothing in {place_name} carries {what}.");
        return Ok((Exit::Success, 0));
    }
    ui::note!(
        "{} in {place_name} {} {what}:",
        crate::runbook::suggest::count(found.len(), "resource"),
        if found.len() == 1 { "carries" } else { "carry" }
    );
    for r in &found {
        let global = if several && sweep::is_global(r) {
            " [global]"
        } else {
            ""
        };
        match &r.name {
            Some(name) => ui::note!("  {} {} ({name}){global}", r.kind, r.id),
            None => ui::note!("  {} {}{global}", r.kind, r.id),
        }
    }
    if dry_run {
        ui::note!("Dry run: nothing was deleted.");
        return Ok((Exit::Success, 0));
    }
    if !yes {
        let Some(sure) = ui::ask::confirm_once("Delete them all?", false) else {
            return Err(Error::usage(
                "sweep deletes these resources and nobody can confirm it without a terminal",
                "add --yes to delete them, or --dry-run to only list them",
            ));
        };
        if !sure {
            ui::note!("Nothing was deleted.");
            return Ok((Exit::Success, 0));
        }
    }
    let remaining = rt.block_on(delete_all(clients, &found, interrupt));
    let deleted = found.len() - remaining.len();
    if remaining.is_empty() {
        ui::note!("Sweep complete: nothing in {place_name} carries {what} any more.");
        Ok((Exit::Success, deleted))
    } else {
        ui::note!(
            "{} remain; run the same sweep again later (AWS may still be releasing them).",
            crate::runbook::suggest::count(remaining.len(), "resource")
        );
        Ok((Exit::RollbackIncomplete, deleted))
    }
}

/// Delete what was found, kind by kind in dependency order; what could not be deleted.
/// An interrupt stops the deletes at their next wait and leaves the kinds not yet begun.
async fn delete_all<'f>(
    clients: &client::Clients,
    found: &'f [sweep::Found],
    interrupt: &CancellationToken,
) -> Vec<&'f sweep::Found> {
    let (long, _, unanswered) = super::session::undo_retries();
    let window = (long, unanswered);
    let mut remaining = Vec::new();
    for kind in sweep::order() {
        let batch: Vec<&sweep::Found> = found.iter().filter(|r| r.kind == kind).collect();
        if interrupt.is_cancelled() {
            remaining.extend(batch);
            continue;
        }
        let results =
            futures::future::join_all(batch.iter().map(|r| delete(clients, r, window, interrupt)))
                .await;
        for (r, result) in batch.into_iter().zip(results) {
            match result {
                Ok(Undone::Removed) => ui::note!("deleted {} {}", r.kind, r.id),
                Ok(Undone::AlreadyGone | Undone::Moot) => {
                    ui::note!("{} {} was already gone", r.kind, r.id);
                }
                Err(e) => {
                    ui::note!("could not delete {} {}: {}", r.kind, r.id, e.message);
                    if let Some(hint) = &e.hint {
                        ui::note!("  {hint}");
                    }
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
    scope: sweep::Scope,
    interrupt: &CancellationToken,
) -> Result<usize, ActionError> {
    let found = sweep::find(clients, select, scope).await?;
    Ok(delete_all(clients, &found, interrupt).await.len())
}

/// Status lines of a sweep's deletes, on stderr.
struct Lines<'a>(&'a str);

impl Progress for Lines<'_> {
    fn status(&self, text: &str) {
        ui::note!("  {}: {text}", self.0);
    }

    fn message(&self, text: &str) {
        ui::note!("  {}: {text}", self.0);
    }
}

/// Delete one resource with the undo of the action that creates its kind, retrying what AWS
/// refuses for now (a group or subnet still in use while interfaces are released) for `window`.
async fn delete(
    clients: &client::Clients,
    r: &sweep::Found,
    (long, unanswered): (std::time::Duration, std::time::Duration),
    interrupt: &CancellationToken,
) -> Result<Undone, ActionError> {
    let (action, undo) = sweep::undo_of(clients, r).await?;
    let def = crate::actions::find(action).expect("sweep names built-in actions");
    let what = format!("{} {}", r.kind, r.id);
    let progress = Lines(&what);
    let cancel = interrupt.child_token();
    let params = serde_json::Value::Null;
    let ctx = Context {
        secrets: &[],
        region: None,
        run_id: "sweep",
        step_id: "sweep",
        key: "sweep",
        params: &params,
        progress: &progress,
        ask: &TerminalAsk::never(),
        yes: true,
        cancel: &cancel,
        labels: &[],
        services: clients,
        adopting: false,
        solving: false,
        declared: &crate::engine::action::NOTHING_DECLARED,
        journal: None,
        deadline: None,
    };
    let resource = Resource {
        kind: r.kind.into(),
        id: r.id.clone(),
        undo,
        changed: Vec::new(),
        region: None,
    };
    crate::engine::retry::within(
        |e: &ActionError| {
            if e.unreachable {
                unanswered.min(long)
            } else {
                long
            }
        },
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

#[cfg(test)]
mod tests {
    /// `sweep --help` names every kind sweep deletes, in the kinds table's order: a kind added to
    /// the table is in the help without anyone writing it there.
    #[test]
    fn the_help_lists_the_kinds_in_the_tables_order() {
        let about = super::about();
        let mut at = 0;
        for kind in super::sweep::order() {
            let plural = format!("{kind}s");
            let found = about[at..]
                .find(&plural)
                .unwrap_or_else(|| panic!("{plural} missing or out of order: {about}"));
            at += found + plural.len();
        }
        assert!(about.ends_with("in that order"), "{about}");
    }
}
