//! One run, and the commands that drive one from the terminal.
//!
//! [`Session`] is a run as this application drives it — new, resumed, or a class's lab: it
//! journals the start, runs the steps through the engine and rolls back, with the run's target
//! and its actions' AWS clients. `run`, `resume` and `rollback` check the runbook, open the
//! journal, and wrap a session in `Attended`: who answers questions, the runtime and its
//! interrupt, and the failure policy (ask, roll back or keep) with what it tells the person.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use super::check::{check_file, known, missing_vars, region_var};
use super::settings::{Exec, NewRun, OnFailure, Settings, Undo, Vars};
use super::state;
pub(crate) use super::state::{engine_error, journal_error};
use super::target::{self, Recorded, Target};
use crate::actions::aws::calls_aws;
use crate::actions::aws::client::{self, Caller};
use crate::engine::action::{Ask, Services};
use crate::engine::journal::{Journal, JournalError, Record};
use crate::engine::rollback::{Outcome as RollbackOutcome, Rollback};
use crate::engine::runs;
use crate::engine::schedule::{Finish, Options, Run};
use crate::engine::state::RunState;
use crate::engine::store::{self, Store};
use crate::engine::{Event, Reporter};
use crate::error::{Error, Exit};
use crate::plan::workflow::RunbookWorkflow;
use crate::runbook::load::StepKind;
use crate::runbook::render::Renderer;
use crate::runbook::validate::Checked;
use crate::runbook::vars::{self, Source};
use crate::ui::ask::TerminalAsk;
use crate::ui::junit::Junit;
use crate::ui::{self, Format};

/// Attempts and first wait for undos that fail in a retryable way.
/// How long undos retry retryable errors, and the first wait. AWS releases a deleted load
/// balancer's network interfaces in minutes (Terraform waits up to 20 for a subnet); 20 minutes
/// by default, `RUNBOOK_UNDO_WINDOW` (`90s`, `30m`) changes it.
pub(crate) fn undo_retries() -> (
    std::time::Duration,
    std::time::Duration,
    std::time::Duration,
) {
    let from_env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|t| humantime::parse_duration(&t).ok())
            .unwrap_or(std::time::Duration::from_secs(default))
    };
    (
        from_env("RUNBOOK_UNDO_WINDOW", 20 * 60),
        std::time::Duration::from_secs(1),
        // An endpoint that does not answer at all is tried for a minute, not twenty.
        from_env("RUNBOOK_UNREACHABLE_WINDOW", 60),
    )
}

/// How long a step may say nothing before its status says so (`RUNBOOK_QUIET_AFTER`, default
/// 20 s): a call that does not answer shows, with what the step was doing, well before its
/// attempts run out (docs/running.md).
pub(crate) fn quiet_after() -> std::time::Duration {
    std::env::var("RUNBOOK_QUIET_AFTER")
        .ok()
        .and_then(|t| humantime::parse_duration(&t).ok())
        .unwrap_or(std::time::Duration::from_secs(20))
}

/// The one way this application rolls a run back: every built-in action, eight undos at a time,
/// each retrying for [`undo_retries`].
pub(crate) fn rollback_of<'a>(
    state: &'a RunState,
    journal: &'a Journal,
    reporter: &'a dyn Reporter,
    ask: &'a dyn Ask,
    yes: bool,
    interrupt: CancellationToken,
    services: &'a Services,
) -> Rollback<'a> {
    Rollback {
        registry: &crate::actions::Builtin,
        state,
        journal,
        reporter,
        ask,
        yes,
        parallelism: 8,
        part: false,
        retries: undo_retries(),
        quiet_after: Some(quiet_after()),
        interrupt,
        services,
        leftovers: services
            .downcast_ref::<client::Clients>()
            .map(|c| -> &'a dyn crate::engine::rollback::Leftovers { c }),
    }
}

/// A run's reporter, the `JUnit` collector whose file is written at the end, and where a write
/// error of the events file is kept.
type Reporters = (
    Box<dyn ui::report::RunReporter>,
    Option<Arc<Junit>>,
    Arc<std::sync::Mutex<Option<String>>>,
);

/// The reporter for the chosen output, plus the `JUnit` collector and the events file when asked
/// for.
fn reporters(
    settings: &Settings,
    exec: &Exec,
    (name, steps): (&str, Vec<String>),
    secrets: &[String],
    ask: &TerminalAsk,
    console: Option<String>,
    pending: &[String],
) -> Result<Reporters, Error> {
    let junit = exec
        .junit
        .as_ref()
        .map(|_| Arc::new(Junit::new(name, steps, secrets.to_vec())));
    // On a terminal, outside the walkthrough and without -v: one line per step (docs/running.md, "What a
    // run shows").
    let brief = (!ask.is_guided() && settings.verbose == 0).then_some(pending);
    let reporter = ui::report::for_run(
        exec.output,
        settings.no_color,
        secrets,
        ask,
        console,
        junit.clone(),
        brief,
    );
    let failed = Arc::new(std::sync::Mutex::new(None));
    let Some(path) = &exec.events else {
        return Ok((reporter, junit, failed));
    };
    let file = open_events(path)?;
    let events =
        ui::report::JsonLines::new(Box::new(file), secrets.to_vec()).failing_into(failed.clone());
    Ok((
        Box::new(ui::report::Tee(vec![reporter, Box::new(events)])),
        junit,
        failed,
    ))
}

/// A runtime whose first Ctrl-C (or SIGTERM) cancels `interrupt`, and whose second exits at once.
pub(crate) fn runtime(interrupt: &CancellationToken) -> tokio::runtime::Runtime {
    runtime_of_run(interrupt, None)
}

/// [`runtime`] for a run (or a class): a second Ctrl-C says, as it exits, how to go on with it
/// (`then`).
pub(crate) fn runtime_of_run(
    interrupt: &CancellationToken,
    then: Option<String>,
) -> tokio::runtime::Runtime {
    let rt = bare_runtime();
    on_interrupt(&rt, interrupt, then);
    rt
}

/// What a second Ctrl-C says of a run as it exits: where to see how far it got, and how to
/// remove what it made.
fn stopped_at_once(settings: &Settings, run_id: &str) -> String {
    format!(
        "`{}` shows how far it got; `{}` removes what it made",
        settings.command(&format!("show {run_id}")),
        rollback_command(settings, run_id)
    )
}

/// A runtime that leaves Ctrl-C alone: for AWS calls made while the terminal still asks
/// questions, which Ctrl-C answers by quitting.
fn bare_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// From now on, Ctrl-C stops the steps in flight (and a second one exits at once, saying `then`
/// of the run where there is one).
fn on_interrupt(rt: &tokio::runtime::Runtime, interrupt: &CancellationToken, then: Option<String>) {
    let token = interrupt.clone();
    rt.spawn(async move {
        wait_for_signal().await;
        token.cancel();
        ui::note!("Interrupted: stopping the steps in flight. Press Ctrl-C again to exit at once.");
        wait_for_signal().await;
        // The journal is written ahead, so it stays consistent: `resume` or `rollback` go on.
        match then {
            Some(then) => ui::note!("Stopped at once: {then}."),
            None => ui::note!("Stopped at once."),
        }
        std::process::exit(Exit::Interrupted.code());
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The exact command that undoes a run.
fn rollback_command(settings: &Settings, run_id: &str) -> String {
    settings.command(&format!("rollback {run_id}"))
}

/// A secret var given with `--var` is masked in everything the run shows and keeps, but the
/// command line itself is seen by other users of the machine (`ps`) and kept in shell history:
/// said once, with the ways that keep it out of both.
fn secrets_typed(checked: &Checked) {
    let root = checked.project.root();
    for (name, (_, source)) in &checked.vars.values {
        let typed = matches!(source, Source::Flag(by) if by.starts_with("--var"));
        if typed && root.vars.get(name).is_some_and(|v| v.def.secret) {
            ui::note!(
                "Warning: the secret var `{name}` was given with --var: the run masks it, but the command line is seen by other users of this machine and kept in your shell's history. Give it as {} in the environment, in a --vars-file, or let the run ask for it on a terminal.",
                vars::env_name(name)
            );
        }
    }
}

/// Ask for vars without a value, on a terminal and without `--yes`; otherwise exit 2.
pub(crate) fn fill_missing(checked: &mut Checked, ask: &TerminalAsk) -> Result<(), Error> {
    if checked.vars.missing.is_empty() {
        return Ok(());
    }
    if !ask.interactive() {
        return Err(missing_vars(checked));
    }
    for name in checked.vars.missing.clone() {
        let var = &checked.project.root().vars[&name];
        let kind = var
            .def
            .kind
            .as_ref()
            .map_or(crate::runbook::format::VarType::String, |k| k.value);
        if let Some(d) = &var.def.description {
            ui::note!("{name}: {d}");
        }
        let question = var
            .def
            .prompt
            .clone()
            .unwrap_or_else(|| format!("Value for `{name}`?"));
        let parse = |text: &str| {
            vars::parse_text(kind, text)
                .and_then(|v| vars::check_constraints(&var.def, &v).map(|()| v))
        };
        let Some(text) = ask.input(&question, None, var.def.secret, &|t| parse(t).map(drop)) else {
            return Err(missing_vars(checked));
        };
        let value = parse(&text).map_err(|e| Error::usage(e, "give the value with --var"))?;
        checked
            .vars
            .values
            .insert(name.clone(), (value, Source::Prompt));
    }
    checked.vars.missing.clear();
    Ok(())
}

/// Secret var values, to mask everywhere.
fn secrets(checked: &Checked, known: &crate::runbook::render::Known) -> Vec<String> {
    Renderer::new(
        &checked.project,
        &checked.flow,
        &checked.vars,
        known.clone(),
    )
    .secret_values()
}

fn masked_vars(checked: &Checked) -> (serde_json::Map<String, Json>, Vec<String>) {
    let root = checked.project.root();
    let mut out = serde_json::Map::new();
    let mut secret_names = Vec::new();
    for (name, (value, _)) in &checked.vars.values {
        if root.vars.get(name).is_some_and(|v| v.def.secret) {
            secret_names.push(name.clone());
            out.insert(name.clone(), Json::String("***".into()));
        } else {
            out.insert(name.clone(), value.clone());
        }
    }
    (out, secret_names)
}

pub fn run(settings: &Settings, new: &NewRun, exec: &Exec) -> Result<Exit, Error> {
    let name = new.file.file_stem().map_or_else(
        || "runbook".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    reported(exec, &name, start_run(settings, new, exec))
}

/// Whatever happened, a run's reports exist: one that failed outside its steps (before the
/// first: a dead endpoint, missing credentials, an invalid runbook; or a journal that cannot be
/// written) gets a `JUnit` report whose `(run)` case fails with the reason, and on `--output json`
/// an `error` event, with the exit code.
fn reported(exec: &Exec, name: &str, result: Result<Exit, Error>) -> Result<Exit, Error> {
    let Err(e) = &result else {
        return result;
    };
    let (message, help) = e.describe();
    if let Some(path) = &exec.junit {
        if !ui::junit::written() {
            let junit = Junit::new(name, Vec::new(), Vec::new());
            junit.fail_run(&message, help.as_deref());
            // The run's own error is the one to report; a report that cannot be written is said.
            if let Err(w) = junit.write(path) {
                ui::note!("cannot write the JUnit report `{}`: {w}", path.display());
            }
        }
    }
    if exec.output == Format::Json {
        ui::report::json_error(&message, help.as_deref(), e.exit().code());
    }
    result
}

/// The events file, opened for appending (made if need be, with its folder).
fn open_events(path: &Path) -> Result<std::fs::File, Error> {
    let cannot = |e: std::io::Error| {
        Error::usage(
            format!("--events {}: cannot write to it: {e}", path.display()),
            "give a file in a folder you may write to",
        )
    };
    make_folder(path).map_err(cannot)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(cannot)
}

/// The folder a report goes in, made if it does not exist (as pytest and nextest make theirs):
/// a CI job writes `--junit reports/runbook.xml` without a step that makes `reports`.
pub(crate) fn make_folder(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(folder) => std::fs::create_dir_all(folder),
        None => Ok(()),
    }
}

/// The files a run will write its reports to can be written, checked before anything is
/// (an events file is opened for appending now; a `JUnit` report's folder is made now): a
/// refused option leaves no run behind, and a report is never found unwritable only after the
/// run.
fn check_outputs(exec: &Exec) -> Result<(), Error> {
    if let Some(path) = &exec.events {
        open_events(path)?;
    }
    if let Some(path) = &exec.junit {
        make_folder(path).map_err(|e| {
            Error::usage(
                format!("--junit {}: its folder cannot be made: {e}", path.display()),
                "give a path in a folder you may write to",
            )
        })?;
    }
    Ok(())
}

fn start_run(settings: &Settings, new: &NewRun, exec: &Exec) -> Result<Exit, Error> {
    let NewRun {
        file,
        vars,
        parallelism,
        ttl,
        labels,
    } = new;
    let mut checked = super::check::valid_file(settings, file, vars)?;
    check_until(exec, &checked)?;
    check_outputs(exec)?;
    secrets_typed(&checked);
    let ask = asker(settings, exec);
    if exec.exercise {
        exercise_refused(exec, &ask)?;
    }
    let store = state::open(settings)?;
    let runbook = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
    if ask.is_guided() {
        if let Some(id) = offer_resume(store.as_ref(), &runbook, &ask) {
            return start_resume(settings, Some(&id), false, false, vars, exec);
        }
    }
    // On a terminal, credentials and the endpoint are checked before any question that they
    // would make pointless (unless the region itself is one of the questions). Without one, the
    // invocation's own problems (a missing var, a question nobody can answer) come first: they
    // are found without calling anything.
    let rt = bare_runtime();
    let asks_region = checked.vars.missing.iter().any(|n| n == "region");
    let early = if asks_region || !ask.interactive() {
        None
    } else {
        let target = target::new_run(settings, known(settings, region_var(&checked)).region);
        Some(aws_setup(&checked, &target, &rt)?)
    };
    fill_missing(&mut checked, &ask)?;
    let run_id = runs::new_id(file);
    let mut known = known(settings, region_var(&checked));
    belongs_to(&mut known, &run_id);
    questions_up_front(&checked, &known, &ask, exec.yes)?;
    let services = early.as_ref().map(|(s, _)| *s);
    if ask.is_guided() && !start_walkthrough(&checked, &known, &ask, exec.exercise, (services, &rt))
    {
        ui::note!("Nothing was run.");
        return Ok(Exit::Success);
    }
    let interrupt = CancellationToken::new();
    on_interrupt(&rt, &interrupt, Some(stopped_at_once(settings, &run_id)));
    let mut target = target::new_run(settings, known.region.clone());
    let (services, account) = match early {
        Some(setup) => setup,
        None => aws_setup(&checked, &target, &rt)?,
    };
    // A region the SDK found by itself (a profile's) is the run's too: recorded, so that resume
    // and rollback never depend on the shell they are run from.
    if let Some(c) = services.downcast_ref::<client::Clients>() {
        known.region.get_or_insert_with(|| c.region.clone());
        target.region.get_or_insert_with(|| c.region.clone());
        ready(&checked, &known, c, &rt)?;
    }
    let journal = state::open_journal(store.as_ref(), &run_id, settings, &|q| {
        ask.confirm(q, false)
    })?;
    let name = checked.project.name();
    let mut session = Session::new(&checked, run_id, store, journal, known, target, services);
    session.account = account;
    session.labels.extend(labels.iter().cloned());
    if let Some(ttl) = ttl {
        let expires = std::time::SystemTime::now() + *ttl;
        session.labels.push((
            "runbook:expires".to_owned(),
            humantime::format_rfc3339_seconds(expires).to_string(),
        ));
    }
    session
        .record_start(&runbook.display().to_string(), &name)
        .map_err(journal_error)?;
    ask.cli_target(cli_options(&session));
    let attended = Attended {
        session,
        settings,
        exec,
        ask,
        rt,
        interrupt,
        rebuild: None,
    };
    attended.drive(&name, &RunState::default(), *parallelism, false)
}

/// The AWS CLI options that act where the session's calls go, for the commands the walkthrough
/// shows.
fn cli_options(session: &Session<'_>) -> String {
    let rest = session.known.cli();
    match &session.known.region {
        Some(region) if rest.is_empty() => format!("--region {region}"),
        Some(region) => format!("--region {region} {rest}"),
        None => rest,
    }
}

/// `--until STEP` names one of the runbook's steps (a module's as `module.step`), or the command
/// is refused before anything runs.
pub(crate) fn check_until(exec: &Exec, checked: &Checked) -> Result<(), Error> {
    let ids: Vec<&str> = checked.flow.steps.iter().map(|s| s.id.as_str()).collect();
    let Some(until) = exec.until.iter().find(|u| !ids.contains(&u.as_str())) else {
        return Ok(());
    };
    let hint = crate::runbook::suggest::did_you_mean(until, ids.iter().copied()).map_or_else(
        || format!("its steps are: {}", crate::runbook::suggest::list(&ids)),
        |s| format!("{s} (`runbook plan` lists the steps)"),
    );
    Err(Error::usage(
        format!("--until `{until}`: the runbook has no such step"),
        hint,
    ))
}

/// What templates know once the run exists: `run.id`, and where its exercise files are written
/// for the learner (`run.files`): a folder of the run's own in the system's temporary folder, so
/// that the path is absolute and short, and the same when the run is resumed.
pub(crate) fn belongs_to(known: &mut crate::runbook::render::Known, run_id: &str) {
    known.run_id = Some(run_id.to_owned());
    known.files = Some(
        std::env::temp_dir()
            .join(format!("runbook-{run_id}"))
            .display()
            .to_string(),
    );
}

/// `--exercise` is a walkthrough in which a learner acts: it needs one at a terminal.
fn exercise_refused(exec: &Exec, ask: &TerminalAsk) -> Result<(), Error> {
    let why = if exec.yes {
        "`--yes` answers for nobody"
    } else if !ask.interactive() {
        "this run has no terminal to ask at"
    } else if !ask.is_guided() {
        "it is a walkthrough, and `--no-guide` or `--output` turns the walkthrough off"
    } else {
        return Ok(());
    };
    Err(Error::usage(
        format!("`--exercise` needs a learner at a terminal: {why}"),
        "run it in a terminal without --yes, --no-guide or --output; for an unattended run drop --exercise (the runbook then does every step itself)",
    ))
}

/// Who answers questions: nobody with `--yes`; on a terminal, the walkthrough unless
/// `--no-guide` or another output than human is asked for.
fn asker(settings: &Settings, exec: &Exec) -> TerminalAsk {
    if exec.yes {
        TerminalAsk::never()
    } else {
        TerminalAsk::new()
            .guided(!exec.no_guide && exec.output == Format::Human)
            .exercises(exec.exercise)
            .color(ui::use_color(settings.no_color, true))
    }
}

/// An unfinished run of the same runbook file: offer to resume it instead of starting over.
fn offer_resume(store: &dyn Store, runbook: &Path, ask: &TerminalAsk) -> Option<String> {
    let path = runbook.display().to_string();
    let id = store::latest(store, |s| s.resumable() && s.runbook == path).ok()??;
    let state = RunState::from_entries(&store.read(&id).ok()?);
    let done = state
        .steps
        .values()
        .filter(|s| matches!(s, crate::engine::state::StepState::Succeeded(_)))
        .count();
    let question = format!(
        "Run {id} of this runbook is unfinished ({}, {done} of {} steps done, started {}). Resume it instead of starting a new run?",
        state.summary(),
        state.graph.len(),
        state.started_at
    );
    (ask.confirm(&question, true) == Some(true)).then_some(id)
}

/// The walkthrough's introduction (what the runbook does, creates and costs), then "start?".
fn start_walkthrough(
    checked: &Checked,
    known: &crate::runbook::render::Known,
    ask: &TerminalAsk,
    exercise: bool,
    (services, rt): (Option<&Services>, &tokio::runtime::Runtime),
) -> bool {
    let plan = crate::plan::build(checked, known);
    let (vars, _) = masked_vars(checked);
    let width = ui::width().clamp(40, 100);
    let prices = prices_for(&plan, known.region.as_deref(), services, rt);
    let costs = ui::guide::Costs {
        prices: &prices,
        region: known.region.as_deref(),
    };
    ui::note_part!(
        "{}",
        ui::guide::intro(
            &plan,
            checked.project.root().description.as_deref(),
            &vars,
            exercise,
            &costs,
            width
        )
    );
    ask.confirm("Start?", true) == Some(true)
}

/// The list prices of what `plan` creates, in each region it acts in (`region` for the steps
/// without their own): asked of the AWS Price List when the run goes to AWS, the built-in
/// us-east-1 table's for what it does not answer and on an emulator.
fn prices_for(
    plan: &crate::plan::Plan,
    region: Option<&str>,
    services: Option<&Services>,
    rt: &tokio::runtime::Runtime,
) -> crate::actions::Prices {
    use crate::actions::aws::cost;
    let Some(c) = services
        .and_then(|s| s.downcast_ref::<client::Clients>())
        .filter(|c| !c.emulated)
    else {
        return crate::actions::Prices::default();
    };
    let mut regions: Vec<String> = Vec::new();
    let mut items: Vec<cost::Item> = Vec::new();
    for s in &plan.steps {
        let Some(bill) = crate::actions::hourly(s.action, &s.params) else {
            continue;
        };
        if let Some(r) = s.region.as_deref().or(region) {
            if !regions.iter().any(|k| k == r) {
                regions.push(r.to_owned());
            }
        }
        for (item, _) in bill.items {
            if !items.contains(&item) {
                items.push(item);
            }
        }
    }
    rt.block_on(cost::look_up(&c.config, &regions, &items))
}

/// The journal's first record: what the run is (file, hashes, vars with secrets masked, graph).
pub(crate) fn start_record(
    checked: &Checked,
    workflow: &RunbookWorkflow<'_>,
    run_id: &str,
    (runbook, name): (&str, &str),
    known: &crate::runbook::render::Known,
    (target, caller): (&Target, Option<&Caller>),
    labels: &[(String, String)],
) -> Record {
    let (vars, secret_vars) = masked_vars(checked);
    Record::RunStarted {
        run_id: run_id.to_owned(),
        runbook: runbook.to_owned(),
        name: name.to_owned(),
        hash: workflow.source_hash(),
        step_hashes: workflow.step_hashes(),
        vars,
        secret_vars,
        target: Recorded::new(
            known.region.clone().or_else(|| target.region.clone()),
            known.emulated,
            target,
            caller,
        )
        .to_map(),
        graph: workflow.graph(),
        labels: labels.to_vec(),
        exercises: workflow.exercises(),
    }
}

/// One run as this application drives it — a new run, a resumed one, or a class's lab: its
/// journal, its workflow, its secrets, where its AWS calls go and what its actions are handed.
/// Starting it, running its steps and rolling it back happen here and nowhere else.
pub(crate) struct Session<'a> {
    pub checked: &'a Checked,
    pub run_id: String,
    /// Where the run is kept.
    pub store: Arc<dyn Store>,
    pub journal: Journal,
    pub known: crate::runbook::render::Known,
    pub workflow: RunbookWorkflow<'a>,
    pub secrets: Vec<String>,
    /// Where its AWS calls go (recorded in its journal).
    pub target: Target,
    /// What its actions are handed: the target's AWS clients, or nothing.
    pub services: &'static Services,
    /// Labels for what the run creates (`runbook:expires` with `--ttl`, a class's).
    pub labels: Vec<(String, String)>,
    /// Who its credentials act as, when AWS said (recorded in its journal).
    pub account: Option<Caller>,
}

impl<'a> Session<'a> {
    /// When this process lost its lease on the run (another took it over, or it ran out): the
    /// error that says so. The process then stops: it rolls nothing back and writes nothing more,
    /// since the run is another's now.
    pub fn lease_lost(&self) -> Option<Error> {
        self.journal.lost_reason().map(|reason| {
            journal_error(JournalError::LeaseLost {
                run: self.run_id.clone(),
                reason,
            })
        })
    }

    /// A session on an open journal (opening it takes the run's lock).
    pub fn new(
        checked: &'a Checked,
        run_id: String,
        store: Arc<dyn Store>,
        mut journal: Journal,
        known: crate::runbook::render::Known,
        target: Target,
        services: &'static Services,
    ) -> Self {
        let workflow = RunbookWorkflow::new(checked, known.clone());
        let secrets = secrets(checked, &known);
        journal.set_secrets(&secrets);
        Session {
            checked,
            run_id,
            store,
            journal,
            known,
            workflow,
            secrets,
            target,
            services,
            labels: Vec::new(),
            account: None,
        }
    }

    /// Journal what the run is: its file, hashes, vars (secrets masked), target and graph.
    pub fn record_start(&self, runbook: &str, name: &str) -> Result<(), JournalError> {
        self.journal
            .append_now(start_record(
                self.checked,
                &self.workflow,
                &self.run_id,
                (runbook, name),
                &self.known,
                (&self.target, self.account.as_ref()),
                &self.labels,
            ))
            .map(drop)
    }

    /// What the journal says now.
    pub fn state(&self) -> Result<RunState, JournalError> {
        Ok(RunState::from_entries(&self.store.read(&self.run_id)?))
    }

    /// Run every step that `prior` has not done.
    pub async fn execute(
        &self,
        prior: &RunState,
        how: Drive<'_>,
    ) -> Result<Finish, crate::engine::EngineError> {
        Run {
            run_id: &self.run_id,
            workflow: &self.workflow,
            journal: &self.journal,
            reporter: how.reporter,
            ask: how.ask,
            options: Options {
                parallelism: how.parallelism,
                yes: how.yes,
                secrets: self.secrets.clone(),
                labels: self.labels.clone(),
                quiet_after: Some(quiet_after()),
                exercise: how.exercise,
                files_dir: self.known.files.as_ref().map(PathBuf::from),
                until: how.until,
            },
            interrupt: how.interrupt,
            quit: std::sync::atomic::AtomicBool::new(false),
            services: self.services,
        }
        .execute(prior)
        .await
    }

    /// Undo what the run left, as its journal says now.
    pub async fn roll_back(
        &self,
        how: Drive<'_>,
    ) -> Result<RollbackOutcome, crate::engine::EngineError> {
        self.undo(&self.state()?, how, true).await
    }

    /// Undo what `state` (the run's, or part of it: `whole` is false) holds. Only a whole run's
    /// rollback ends looking for what is tagged with the run and not in its journal: a part's
    /// would find the rest of the run.
    async fn undo(
        &self,
        state: &RunState,
        how: Drive<'_>,
        whole: bool,
    ) -> Result<RollbackOutcome, crate::engine::EngineError> {
        let mut rollback = rollback_of(
            state,
            &self.journal,
            how.reporter,
            how.ask,
            how.yes,
            how.interrupt,
            self.services,
        );
        if !whole {
            rollback.leftovers = None;
            rollback.part = true;
        }
        rollback.execute().await
    }

    /// Undo the `lost` steps (some of what they made is gone) and every step that depends on
    /// them, then mark them all to run again (`Record::Rebuild`, with new keys): `execute` from
    /// the state after it rebuilds them, creating nothing twice. When the rollback could not
    /// undo everything, nothing is marked and the run says its rollback is incomplete.
    pub async fn rebuild(
        &self,
        lost: &std::collections::BTreeSet<String>,
        reason: &str,
        how: Drive<'_>,
    ) -> Result<RollbackOutcome, crate::engine::EngineError> {
        let state = self.state()?;
        let steps = state.with_dependents(lost);
        let outcome = self.undo(&state.only(&steps), how, false).await?;
        if outcome.complete {
            self.journal
                .append(Record::Rebuild {
                    steps: steps.into_iter().collect(),
                    reason: reason.to_owned(),
                })
                .await?;
        }
        Ok(outcome)
    }
}

/// How a session's steps or undos are driven: who hears, who answers, how many at once, and
/// what stops them.
pub(crate) struct Drive<'d> {
    pub reporter: &'d dyn Reporter,
    pub ask: &'d dyn Ask,
    pub yes: bool,
    pub parallelism: usize,
    pub interrupt: CancellationToken,
    /// An exercise run (`run --exercise`).
    pub exercise: bool,
    /// The steps to pause before (`--until`).
    pub until: Vec<String>,
}

/// A run driven from the terminal (`run`, `resume`): a session, and the person or pipeline
/// behind it — their settings, who answers questions, the runtime and the interrupt.
struct Attended<'a> {
    session: Session<'a>,
    settings: &'a Settings,
    exec: &'a Exec,
    ask: TerminalAsk,
    rt: tokio::runtime::Runtime,
    interrupt: CancellationToken,
    /// `resume --from`: undo these steps first, then run them again.
    rebuild: Option<std::collections::BTreeSet<String>>,
}

impl Attended<'_> {
    fn drive_with<'d>(&'d self, reporter: &'d dyn Reporter, parallelism: usize) -> Drive<'d> {
        Drive {
            reporter,
            ask: &self.ask,
            yes: self.exec.yes,
            parallelism,
            exercise: self.exec.exercise,
            until: self.exec.until.clone(),
            interrupt: self.interrupt.clone(),
        }
    }

    /// Run every step not done in `prior`, then handle a failure or an interrupt.
    fn drive(
        &self,
        name: &str,
        prior: &RunState,
        parallelism: usize,
        resumed: bool,
    ) -> Result<Exit, Error> {
        let step_ids: Vec<String> = self
            .session
            .checked
            .flow
            .steps
            .iter()
            .map(|s| s.id.clone())
            .collect();
        let console = self
            .session
            .known
            .region
            .clone()
            .filter(|_| !self.session.known.emulated);
        let pending: Vec<String> = step_ids
            .iter()
            .filter(|s| {
                self.rebuild
                    .as_ref()
                    .is_some_and(|r| r.contains(s.as_str()))
                    || !matches!(
                        prior.steps.get(s.as_str()),
                        Some(
                            crate::engine::state::StepState::Succeeded(_)
                                | crate::engine::state::StepState::Skipped(_)
                        )
                    )
            })
            .cloned()
            .collect();
        let (reporter, junit, events_failed) = reporters(
            self.settings,
            self.exec,
            (name, step_ids.clone()),
            &self.session.secrets,
            &self.ask,
            console,
            &pending,
        )?;
        reporter.event(&Event::RunStarted {
            run_id: self.session.run_id.clone(),
            name: name.to_owned(),
            steps: step_ids.len(),
            resumed,
        });
        // Steps marked done by hand before this run: their cases say so.
        if let Some(junit) = &junit {
            for (id, step) in &prior.steps {
                if let crate::engine::state::StepState::Succeeded(crate::engine::state::Done {
                    marked: Some(m),
                    ..
                }) = step
                {
                    junit.marked(id, &m.by, &m.at);
                }
            }
        }
        let rt = &self.rt;
        // The walkthrough goes one step at a time, in the runbook's order.
        let parallelism = if self.ask.is_guided() { 1 } else { parallelism };
        let how = || self.drive_with(reporter.as_ref(), parallelism);
        state::stop_when_lost(&self.session.journal, &self.interrupt, rt);
        // `resume --from`: undo those steps first (a rollback of them alone), then run them
        // again from the state that leaves, with new keys.
        let rebuilt;
        let prior = match &self.rebuild {
            None => prior,
            Some(steps) => {
                let from = self.exec.from.as_deref().unwrap_or_default();
                let outcome = rt
                    .block_on(self.session.rebuild(
                        &std::iter::once(from.to_owned()).collect(),
                        &format!("resume --from {from}"),
                        how(),
                    ))
                    .map_err(engine_error)?;
                if !outcome.complete {
                    ui::note!(
                        "`--from {from}`: the {} could not all be undone, so none of them runs again; what remains is listed above. `{}` tries again.",
                        crate::runbook::suggest::count(steps.len(), "step"),
                        self.settings
                            .command(&format!("resume {} --from {from}", self.session.run_id))
                    );
                    write_junit(self.exec.junit.as_deref(), junit.as_deref())?;
                    return Ok(Exit::RollbackIncomplete);
                }
                rebuilt = self.session.state().map_err(journal_error)?;
                &rebuilt
            }
        };
        let finished = rt
            .block_on(self.session.execute(prior, how()))
            .map_err(engine_error);
        let mut finish = match finished {
            Ok(finish) => finish,
            Err(e) => {
                if let Some(junit) = &junit {
                    let (message, help) = e.describe();
                    junit.fail_run(&message, help.as_deref());
                }
                write_junit(self.exec.junit.as_deref(), junit.as_deref())?;
                return Err(e);
            }
        };
        // In the walkthrough a failed step can be tried again (after fixing its cause), before
        // the usual question of rolling back or keeping what exists.
        while let Finish::Failed { step, error } = &finish {
            if !self.ask.is_guided() || error.invalid_input {
                break;
            }
            let question = format!("Step {step} failed. Try it again (after fixing the cause)?");
            if self.ask.confirm(&question, true) != Some(true) {
                break;
            }
            self.ask.run_again(step);
            let state = self.session.state().map_err(journal_error)?;
            finish = rt
                .block_on(self.session.execute(&state, how()))
                .map_err(engine_error)?;
        }
        // The drill's figures and timeline, read from the journal: the report ends with them.
        if let Some(drill) = self
            .session
            .state()
            .ok()
            .and_then(|state| super::runs::drill_of(&state))
        {
            reporter.drill(&drill);
        }
        let mut exit = self.conclude(&finish, reporter.as_ref());
        // An events file that could not be written fails the run loudly (its reader would take
        // a silent file for a quiet run).
        if let (Ok(_), Some(why)) = (&exit, events_failed.lock().expect("never poisoned").clone()) {
            exit = Err(Error::runtime(
                format!(
                    "the events file `{}` could not be written: {why}",
                    self.exec
                        .events
                        .as_deref()
                        .map(Path::display)
                        .map(|d| d.to_string())
                        .unwrap_or_default()
                ),
                "free some space or choose another file; the run itself is recorded in its journal",
            ));
        }
        if let Some(junit) = &junit {
            match &exit {
                Err(e) => {
                    let (message, help) = e.describe();
                    junit.fail_run(&message, help.as_deref());
                }
                Ok(Exit::Interrupted) => junit.fail_run(
                    "the run was interrupted before it finished (exit 130)",
                    Some(
                        "`runbook resume` goes on with it; `runbook rollback` removes what it made",
                    ),
                ),
                Ok(_) => {}
            }
        }
        write_junit(self.exec.junit.as_deref(), junit.as_deref())?;
        exit
    }

    /// After the engine stops: success, or a failure/interrupt handled per `--on-failure`.
    fn conclude(&self, finish: &Finish, reporter: &dyn Reporter) -> Result<Exit, Error> {
        if let Some(lost) = self.session.lease_lost() {
            return Err(lost);
        }
        let (settings, exec, ask, rt) = (self.settings, self.exec, &self.ask, &self.rt);
        let run_id = self.session.run_id.as_str();
        let interrupt = &self.interrupt;
        let next = self.session.checked.project.root().next.as_deref();
        let base = match finish {
            Finish::Succeeded => {
                let state = self.session.state().map_err(journal_error)?;
                let alive = state.alive();
                // The walkthrough ends with what exists and what to try next; a log (plain output)
                // keeps what exists too.
                let log = exec.output == Format::Plain
                    || (exec.output == Format::Human && !ui::stderr_is_terminal());
                if (ask.is_guided() || log) && !settings.quiet {
                    let recorded = Recorded::of(&state);
                    let next = next.filter(|_| ask.is_guided());
                    ui::note_part!(
                        "{}",
                        ui::guide::summary(
                            &state,
                            (recorded.region.as_deref(), recorded.emulated),
                            next,
                            100
                        )
                    );
                }
                if !alive.is_empty() && !settings.quiet {
                    let count = crate::runbook::suggest::count;
                    let changes = alive
                        .iter()
                        .filter(|(_, r)| crate::actions::is_change(&r.kind))
                        .count();
                    let made = alive.len() - changes;
                    // Instances stopped or targets registered are changes, not things made.
                    let (what, undo) = match (made, changes) {
                        (made, 0) => (format!("created {}", count(made, "resource")), "remove"),
                        (0, changes) => (format!("made {}", count(changes, "change")), "undo"),
                        (made, changes) => (
                            format!(
                                "created {} (and made {}, which rollback undoes too)",
                                count(made, "resource"),
                                count(changes, "change")
                            ),
                            "remove",
                        ),
                    };
                    ui::note!(
                        "It {what}. To {undo} them: {}",
                        rollback_command(settings, run_id)
                    );
                }
                return Ok(Exit::Success);
            }
            Finish::Paused { before } => {
                let before = crate::runbook::suggest::list(before);
                // Where it was asked to stop: nothing failed, and nothing is rolled back.
                if !settings.quiet {
                    let resume = settings.command(&format!("resume {run_id}"));
                    ui::note!(
                        "Paused before {before}, as --until asked. To go on: {resume} (with --exercise to do the exercises yourself); to remove what it made: {}",
                        rollback_command(settings, run_id)
                    );
                }
                return Ok(Exit::Success);
            }
            Finish::Interrupted | Finish::Quit => Exit::Interrupted,
            Finish::Failed { error, .. } if error.invalid_input => Exit::Invalid,
            Finish::Failed { .. } => Exit::Failed,
        };
        let state = self.session.state().map_err(journal_error)?;
        if state.alive().is_empty() && !may_have_left(&state) {
            if matches!(finish, Finish::Failed { .. }) {
                return Ok(base);
            }
            ui::note!("Nothing was created, so there is nothing to keep or undo.");
            // Quitting before anything was made is a choice, not a failure.
            return Ok(if matches!(finish, Finish::Quit) {
                Exit::Success
            } else {
                base
            });
        }
        let policy = exec.on_failure.unwrap_or(if ask.interactive() {
            OnFailure::Ask
        } else {
            OnFailure::Rollback
        });
        let undo = match policy {
            OnFailure::Rollback => true,
            OnFailure::Keep => false,
            OnFailure::Ask => {
                let alive = state.alive();
                if alive.is_empty() {
                    ui::note!(
                        "A step that stopped part way may have created something; rollback looks for it by the step's tags."
                    );
                } else {
                    ui::note!(
                        "This run created {}:",
                        crate::runbook::suggest::count(alive.len(), "resource")
                    );
                }
                for (step, r) in &alive {
                    ui::note!("  {} {} (step {step})", r.kind, r.id);
                }
                ask.confirm("Roll it back now?", false).unwrap_or(false)
            }
        };
        if !undo {
            ui::note!("Kept everything this run created.");
            if state.resumable() {
                let when = if matches!(finish, Finish::Failed { .. }) {
                    " (once the cause is fixed)"
                } else {
                    ""
                };
                ui::note!(
                    "  To go on with it{when}: {}",
                    settings.command(&format!("resume {run_id}"))
                );
            }
            ui::note!("  To undo it: {}", rollback_command(settings, run_id));
            return Ok(base);
        }
        // After a failure, a first Ctrl-C stops the rollback at its next wait; after an interrupt
        // (the Ctrl-C already came), the next one exits at once. The journal lets `rollback` go on.
        let stop = if interrupt.is_cancelled() {
            CancellationToken::new()
        } else {
            interrupt.clone()
        };
        let outcome = rt
            .block_on(self.session.roll_back(Drive {
                reporter,
                ask,
                yes: exec.yes,
                parallelism: 8,
                interrupt: stop.clone(),
                exercise: false,
                until: Vec::new(),
            }))
            .map_err(engine_error)?;
        if !outcome.complete {
            if stop.is_cancelled() {
                ui::note!(
                    "Rollback interrupted. To go on with it: {}",
                    rollback_command(settings, run_id)
                );
                return Ok(Exit::Interrupted);
            }
            ui::note!(
                "To try again once the cause is fixed: {}",
                rollback_command(settings, run_id)
            );
            return Ok(Exit::RollbackIncomplete);
        }
        Ok(base)
    }
}

fn write_junit(path: Option<&Path>, junit: Option<&Junit>) -> Result<(), Error> {
    if let (Some(path), Some(junit)) = (path, junit) {
        junit.write(path).map_err(|e| {
            Error::runtime(
                format!("cannot write the JUnit report `{}`: {e}", path.display()),
                "check the path",
            )
        })?;
    }
    Ok(())
}

/// Whether a step may have made something the journal does not list: one interrupted without an
/// outcome, or a create that failed after its create call; rollback looks for those by key.
fn may_have_left(state: &RunState) -> bool {
    use crate::engine::state::{StepState, Tried};
    state.steps.values().any(|s| match s {
        // One that only reads made nothing, however it ended.
        StepState::Started { action, .. } => crate::actions::find(action)
            .is_none_or(|d| d.effect != crate::engine::action::Effect::Reads),
        StepState::Failed(_, Some(Tried { action, .. })) => crate::actions::find(action)
            .is_some_and(|d| d.effect == crate::engine::action::Effect::Creates),
        _ => false,
    })
}

/// Whether any step of the runbook calls AWS.
pub(crate) fn uses_aws(checked: &Checked) -> bool {
    (0..checked.flow.steps.len()).any(|i| {
        matches!(checked.flow.step(&checked.project, i).kind, StepKind::Action(d) if calls_aws(d.name))
    })
}

/// The values of the runbook's secret vars, to mask everywhere.
pub(crate) fn secrets_of(checked: &Checked) -> Vec<String> {
    secrets(checked, &crate::runbook::render::Known::default())
}

/// Before a new run creates anything: the DNS records it would write must not collide with
/// records that exist in zones that exist, and on AWS it must fit the account's quotas (exit 2,
/// naming each).
fn ready(
    checked: &Checked,
    known: &crate::runbook::render::Known,
    c: &client::Clients,
    rt: &tokio::runtime::Runtime,
) -> Result<(), Error> {
    let plan = crate::plan::build(checked, known);
    let found = rt
        .block_on(crate::actions::aws::readiness::collisions(
            c,
            plan.steps
                .iter()
                .map(|s| (s.action, &s.params, s.region.as_deref())),
        ))
        .map_err(|e| Error::Usage {
            message: e.message,
            help: e.hint,
        })?;
    // On AWS, the quotas too: a new account's five VPCs (one used by the default VPC) or its
    // handful of vCPUs, found before minutes of building rather than at the failing create.
    if found.is_empty() && !c.emulated {
        let parts: Vec<_> = crate::actions::aws::quota::need_by_region(
            plan.steps
                .iter()
                .map(|s| (s.action, &s.params, s.region.as_deref())),
        )
        .into_iter()
        .map(|(region, need)| (need, region.map_or(c, |r| c.in_region(r))))
        .collect();
        let report = rt
            .block_on(crate::actions::aws::quota::preflight(&parts, &[]))
            .map_err(|e| Error::Usage {
                message: e.message,
                help: e.hint,
            })?;
        if !report.fits {
            ui::note_part!("{}", report.text);
            return Err(Error::usage(
                "this run does not fit the account's quotas: nothing was created",
                report.advice,
            ));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    // Each kind of finding's own way out, once.
    let mut fixes: Vec<&str> = Vec::new();
    for met in &found {
        if !fixes.contains(&met.fix.as_str()) {
            fixes.push(&met.fix);
        }
    }
    Err(Error::usage(
        format!(
            "this run would meet what is in the account: {}; nothing was created",
            found
                .iter()
                .map(|m| m.what.as_str())
                // Two steps that meet one thing (both records of a pair at one simple record)
                // say it once.
                .fold(Vec::new(), |mut said, what| {
                    if !said.contains(&what) {
                        said.push(what);
                    }
                    said
                })
                .join("; ")
        ),
        fixes.join("; "),
    ))
}

/// Every question a run would ask, known before its first step: without a terminal and without
/// `--yes` a `confirm:` or a manual step is refused now (exit 2), listing each and how to answer
/// it, rather than after minutes of building; under `--yes` (which answers every `confirm:` and
/// skips optional manual steps) only a required manual step is.
fn questions_up_front(
    checked: &Checked,
    known: &crate::runbook::render::Known,
    ask: &TerminalAsk,
    yes: bool,
) -> Result<(), Error> {
    if ask.interactive() && !yes {
        return Ok(());
    }
    let plan = crate::plan::build(checked, known);
    let mut questions = Vec::new();
    let mut off = Vec::new();
    for step in plan
        .steps
        .iter()
        .filter(|s| s.condition != crate::plan::Condition::Skipped)
    {
        let manual = crate::actions::core::asks(step.action, &step.params);
        let what = match (&step.confirm, manual) {
            (Some(q), _) if !yes => format!("`{}` asks \"{q}\"", step.id),
            (_, Some(optional)) if !yes || !optional => {
                format!(
                    "`{}` is a manual step{}",
                    step.id,
                    if optional { "" } else { " (required)" }
                )
            }
            _ => continue,
        };
        questions.push(what);
        off.extend(step.when_reads.iter().map(|v| format!("--var {v}=false")));
    }
    if questions.is_empty() {
        return Ok(());
    }
    off.sort();
    off.dedup();
    let mut help = if yes {
        "run it on a terminal, where a person can confirm it".to_owned()
    } else {
        "add --yes to answer yes to every question and skip optional manual steps, or run on a terminal".to_owned()
    };
    if !off.is_empty() {
        help.push_str(&format!("; or turn those steps off ({})", off.join(", ")));
    }
    Err(Error::usage(
        format!(
            "nobody can answer this run's questions {}: {}; nothing was run",
            if yes {
                "under --yes"
            } else {
                "without a terminal"
            },
            questions.join("; ")
        ),
        help,
    ))
}

/// What a run hands its actions: for a runbook with AWS actions, the clients of its target,
/// checked before anything is recorded to have a region and credentials.
fn aws_setup(
    checked: &Checked,
    target: &Target,
    rt: &tokio::runtime::Runtime,
) -> Result<(&'static Services, Option<Caller>), Error> {
    if !uses_aws(checked) {
        return Ok((&(), None));
    }
    clients_for(target, rt)
}

/// The clients of `target`, checked to have a region and credentials.
fn clients_for(
    target: &Target,
    rt: &tokio::runtime::Runtime,
) -> Result<(&'static Services, Option<Caller>), Error> {
    match rt.block_on(client::preflight(target)) {
        Ok((clients, account)) => Ok((clients, account)),
        Err(e) => Err(Error::Usage {
            message: e.message,
            help: e.hint,
        }),
    }
}

/// The run to act on: the one named, or the latest one that `pred` accepts (on a shared store,
/// of one's own). `what` names such a run in errors ("unfinished"), `command` is the one that
/// acts on it by name.
fn pick(
    settings: &Settings,
    store: &dyn Store,
    run_id: Option<&str>,
    pred: impl Fn(&RunState) -> bool,
    (what, command): (&str, &str),
) -> Result<String, Error> {
    let id = match run_id {
        // The latest is one that exists (on a shared store, one's own).
        None => {
            return match latest(store, pred)? {
                Latest::Mine(id) => Ok(id),
                Latest::Others { id, by } => Err(Error::usage(
                    format!(
                        "the latest {what} run in `{}`, {id}, was started by {by}, not by you ({})",
                        store.location(),
                        target::who()
                    ),
                    format!(
                        "a team's runs are acted on by name: `{}` (`{}` lists them)",
                        settings.command(&format!("{command} {id}")),
                        settings.command("runs")
                    ),
                )),
                Latest::None => Err(Error::usage(
                    format!("no {what} run in `{}`", store.location()),
                    "`runbook runs` lists the runs; name one, or set --state-dir",
                )),
            };
        }
        Some(id) => id.to_owned(),
    };
    if !store.exists(&id).map_err(journal_error)? {
        return Err(state::no_such_run(settings, store, &id));
    }
    Ok(id)
}

/// The run a command that names none takes up.
enum Latest {
    None,
    Mine(String),
    /// On a shared store, only runs started by others (or by a runbook too old to record who):
    /// the latest of them, and by whom.
    Others {
        id: String,
        by: String,
    },
}

/// The latest run that satisfies `pred`. On a shared store (a team's bucket) the latest that
/// this user on this machine started: a CI job's `rollback --yes` after a run that never started
/// must not roll back a teammate's lab. A damaged journal newer than the one found is refused,
/// as [`store::latest`] does.
fn latest(store: &dyn Store, pred: impl Fn(&RunState) -> bool) -> Result<Latest, Error> {
    if !store.shared() {
        return Ok(store::latest(store, pred)
            .map_err(journal_error)?
            .map_or(Latest::None, Latest::Mine));
    }
    let me = target::who();
    let mut others = None;
    for (id, state) in store.list().map_err(journal_error)?.into_iter().rev() {
        let state = state.map_err(journal_error)?;
        if !pred(&state) {
            continue;
        }
        match Recorded::of(&state).started_by {
            Some(by) if by == me => return Ok(Latest::Mine(id)),
            by => {
                others.get_or_insert(Latest::Others {
                    id,
                    by: by
                        .unwrap_or_else(|| "an older runbook, which did not record who".to_owned()),
                });
            }
        }
    }
    Ok(others.unwrap_or(Latest::None))
}

/// `resume`; `retarget`: go on where the command line points even if the run was made elsewhere.
pub fn resume_run(
    settings: &Settings,
    run_id: Option<&str>,
    force: bool,
    retarget: bool,
    vars: &Vars,
    exec: &Exec,
) -> Result<Exit, Error> {
    reported(
        exec,
        run_id.unwrap_or("resume"),
        start_resume(settings, run_id, force, retarget, vars, exec),
    )
}

fn start_resume(
    settings: &Settings,
    run_id: Option<&str>,
    force: bool,
    retarget: bool,
    vars: &Vars,
    exec: &Exec,
) -> Result<Exit, Error> {
    check_outputs(exec)?;
    let store = state::open(settings)?;
    // `--from` takes up a finished run too: the latest run not rolled back.
    let from = exec.from.as_deref();
    let run_id = pick(
        settings,
        store.as_ref(),
        run_id,
        |s: &RunState| s.resumable() || (from.is_some() && !s.rollback_started),
        (if from.is_some() { "" } else { "unfinished" }, "resume"),
    )?;
    let ask = asker(settings, exec);
    if exec.exercise {
        exercise_refused(exec, &ask)?;
    }
    let journal = state::open_journal(store.as_ref(), &run_id, settings, &|q| {
        ask.confirm(q, false)
    })?;
    let state = RunState::from_entries(&store.read(&run_id).map_err(journal_error)?);
    if !state.resumable() && (from.is_none() || state.rollback_started) {
        return Err(Error::usage(
            format!("run `{run_id}` cannot be resumed: it {}", state.summary()),
            format!(
                "undo it with `{}`, or start a new run",
                rollback_command(settings, &run_id)
            ),
        ));
    }
    target::check_recorded(settings, &state, retarget, "resume")?;
    // The run's own vars, then what the command line adds (secrets, which are never stored).
    let mut inputs = Vars::default();
    for (name, value) in &state.vars {
        if !state.secret_vars.contains(name) {
            inputs.vars.push((name.clone(), vars::json_text(value)));
        }
    }
    inputs.vars.extend(vars.vars.iter().cloned());
    inputs.vars_file.clone_from(&vars.vars_file);
    let runbook = PathBuf::from(&state.runbook);
    let mut checked = check_file(settings, &runbook, &inputs);
    if checked.diags.has_errors() {
        return Err(Error::Invalid {
            diagnostics: checked.diags.0,
            sources: checked.project.sources,
        });
    }
    check_until(exec, &checked)?;
    fill_missing(&mut checked, &ask)?;
    let mut known = known(
        settings,
        region_var(&checked).or(Recorded::of(&state).region),
    );
    belongs_to(&mut known, &run_id);
    let target = target::resumed(settings, &state, known.region.clone());
    known.emulated = target
        .endpoint_url
        .as_deref()
        .is_some_and(|u| !u.is_empty());
    known.endpoint_url.clone_from(&target.endpoint_url);
    known.profile.clone_from(&target.profile);
    let interrupt = CancellationToken::new();
    let rt = runtime_of_run(&interrupt, Some(stopped_at_once(settings, &run_id)));
    let (services, account) = aws_setup(&checked, &target, &rt)?;
    target::check_account(&state, account.as_ref(), retarget, "resume")?;
    let mut session = Session::new(
        &checked,
        run_id.clone(),
        store,
        journal,
        known,
        target,
        services,
    );
    session.labels.clone_from(&state.labels);
    session.account = account;
    if session.workflow.source_hash() != state.hash {
        let now = session.workflow.step_hashes();
        let mut changed: Vec<String> = now
            .iter()
            .filter(|(id, h)| state.step_hashes.get(*id) != Some(h))
            .map(|(id, _)| id.clone())
            .collect();
        changed.extend(
            state
                .step_hashes
                .keys()
                .filter(|id| !now.contains_key(*id))
                .map(|id| format!("{id} (removed)")),
        );
        // `--from` a step that, with what depends on it, redoes every changed step that acted
        // takes the change as meant: those run again as the runbook says now.
        let acted = acted_changes(&state, &changed);
        let redone = from.is_some_and(|from| {
            let again = state.with_dependents(&std::collections::BTreeSet::from([from.to_owned()]));
            acted.iter().all(|step| again.contains(*step))
        });
        if !force && !redone {
            let list = if changed.is_empty() {
                "no step changed, but the files did".to_owned()
            } else {
                format!("changed steps: {}", changed.join(", "))
            };
            return Err(Error::usage(
                format!(
                    "`{}` changed since run `{run_id}` started ({list})",
                    runbook.display()
                ),
                changed_runbook_help(settings, &state.run_id, &changed, &acted),
            ));
        }
        session
            .record_start(&state.runbook, &state.name)
            .map_err(journal_error)?;
    }
    let rebuild = match from {
        Some(from) => match rebuild_from(settings, &state, from, exec, &ask)? {
            Some(steps) => Some(steps),
            None => return Ok(Exit::Success),
        },
        None => None,
    };
    ask.cli_target(cli_options(&session));
    let attended = Attended {
        session,
        settings,
        exec,
        ask,
        rt,
        interrupt,
        rebuild,
    };
    attended.drive(&state.name, &state, 8, true)
}

/// The changed steps (of `changed`) that have acted, in the run's order: done, skipped, or
/// stopped part way (a resume adopts what it may have made as the runbook said then). A failed
/// one runs again on resume, as the runbook says now.
fn acted_changes<'a>(state: &'a RunState, changed: &[String]) -> Vec<&'a String> {
    use crate::engine::state::StepState;
    state
        .graph
        .keys()
        .filter(|id| {
            changed.contains(id)
                && matches!(
                    state.steps.get(*id),
                    Some(
                        StepState::Succeeded(_) | StepState::Skipped(_) | StepState::Started { .. }
                    )
                )
        })
        .collect()
}

/// How to go on with a run whose runbook changed: `--force` where no changed step has acted yet
/// (they run as the runbook says now); where some have, `--from` the first of them, which undoes
/// it and what depends on it and runs them again as the runbook says now.
fn changed_runbook_help(
    settings: &Settings,
    run_id: &str,
    changed: &[String],
    acted: &[&String],
) -> String {
    let force = settings.command(&format!("resume {run_id} --force"));
    let rollback = rollback_command(settings, run_id);
    match acted.first() {
        None if changed.is_empty() => {
            format!("no step does anything else: `{force}` goes on; or `{rollback}`")
        }
        None => format!(
            "no changed step is done yet: `{force}` runs them as the runbook says now; or \
             `{rollback}`"
        ),
        Some(first) => format!(
            "{} ran as the runbook said then: `{}` undoes {} and what depends on {} and runs \
             them again as it says now; `{force}` goes on without redoing {}; or `{rollback}`",
            crate::runbook::suggest::list(acted),
            settings.command(&format!("resume {run_id} --from {first}")),
            if acted.len() == 1 { "it" } else { "the first" },
            if acted.len() == 1 { "it" } else { "that" },
            if acted.len() == 1 { "it" } else { "them" },
        ),
    }
}

/// `resume --from STEP`: the steps to undo and run again (STEP and every recorded step that
/// depends on it), once the plan was shown and agreed to (`--yes`, or yes on a terminal);
/// `None` when the person said no. Refused where a step's undo is not the tool's to do.
fn rebuild_from(
    settings: &Settings,
    state: &RunState,
    from: &str,
    exec: &Exec,
    ask: &TerminalAsk,
) -> Result<Option<std::collections::BTreeSet<String>>, Error> {
    use crate::engine::state::StepState;
    let run_id = &state.run_id;
    if !state.graph.contains_key(from) {
        let ids: Vec<&String> = state.graph.keys().collect();
        return Err(Error::usage(
            format!("run `{run_id}` has no step `{from}`"),
            crate::runbook::suggest::did_you_mean(from, ids.iter().copied()).unwrap_or_else(|| {
                format!(
                    "`{}` lists its steps",
                    settings.command(&format!("show {run_id}"))
                )
            }),
        ));
    }
    let steps = state.with_dependents(&std::iter::once(from.to_owned()).collect());
    // A step kept on rollback (`rollback: skip`) would be run again over what it left.
    let kept: Vec<&String> = steps
        .iter()
        .filter(|s| matches!(state.steps.get(*s), Some(StepState::Succeeded(d)) if d.keep && !d.resources.is_empty()))
        .collect();
    if !kept.is_empty() {
        return Err(Error::usage(
            format!(
                "`--from {from}` would run {} again over what {} left: {} `rollback: skip`, so its undo is not the tool's to do",
                crate::runbook::suggest::list(&kept),
                if kept.len() == 1 { "it" } else { "they" },
                if kept.len() == 1 {
                    "it says"
                } else {
                    "they say"
                },
            ),
            "remove what it made by hand and mark it with `runbook mark`, or start from a step after it",
        ));
    }
    let resources: usize = steps
        .iter()
        .filter_map(|s| match state.steps.get(s) {
            Some(StepState::Succeeded(d)) if !d.undone => Some(d.resources.len()),
            _ => None,
        })
        .sum();
    let list: Vec<&String> = steps.iter().collect();
    let plan = format!(
        "Resuming run {run_id} from `{from}`: {} undone, then run again: {}; first {} removed (what is already gone counts as gone).",
        crate::runbook::suggest::count(steps.len(), "step"),
        crate::runbook::suggest::list(&list),
        crate::runbook::suggest::count(resources, "resource"),
    );
    if exec.yes {
        ui::note!("{plan}");
        return Ok(Some(steps));
    }
    match ask.confirm(&format!("{plan} Go on?"), false) {
        Some(true) => Ok(Some(steps)),
        Some(false) => {
            ui::note!("Nothing was undone.");
            Ok(None)
        }
        None => Err(Error::usage(
            format!("{plan} That needs a yes"),
            "add --yes to undo and run them again without a question",
        )),
    }
}

/// `rollback`.
pub fn rollback(
    settings: &Settings,
    run_id: Option<&str>,
    options: Undo,
    exec: &Exec,
) -> Result<Exit, Error> {
    reported(
        exec,
        run_id.unwrap_or("rollback"),
        start_rollback(settings, run_id, options, exec),
    )
}

fn start_rollback(
    settings: &Settings,
    run_id: Option<&str>,
    options: Undo,
    exec: &Exec,
) -> Result<Exit, Error> {
    let retarget = options.retarget;
    // Cleanup is idempotent: with nothing left to roll back, a CI job's `if: always()` step
    // succeeds rather than fail for a run that already rolled itself back.
    let pending = |s: &RunState| s.rollback_complete != Some(true);
    let store = state::open(settings)?;
    if run_id.is_none() {
        match latest(store.as_ref(), pending)? {
            Latest::None => {
                ui::note!(
                    "Nothing to roll back: no run in `{}` has anything left to undo.",
                    store.location()
                );
                // A cleanup step run from another folder than its run: nothing here, but said,
                // lest a job pass while what its run made stays.
                if let Some(missing) = super::runs::no_such_folder(settings) {
                    ui::note!("{}.", ui::sentence(&missing));
                }
                return Ok(Exit::Success);
            }
            // A team's run is rolled back by name only.
            Latest::Others { id, by } => {
                ui::note!(
                    "Nothing of yours ({}) to roll back in `{}`. The latest run with something \
                     left to undo, {id}, was started by {by}: `{}` rolls it back.",
                    target::who(),
                    store.location(),
                    rollback_command(settings, &id)
                );
                return Ok(Exit::Success);
            }
            Latest::Mine(_) => {}
        }
    }
    let run_id = pick(
        settings,
        store.as_ref(),
        run_id,
        pending,
        ("rolled-back", "rollback"),
    )?;
    let ask = if exec.yes {
        TerminalAsk::never()
    } else {
        TerminalAsk::new()
    };
    let journal = state::open_journal(store.as_ref(), &run_id, settings, &|q| {
        ask.confirm(q, false)
    })?;
    let state = RunState::from_entries(&store.read(&run_id).map_err(journal_error)?);
    target::check_recorded(settings, &state, retarget, "roll back")?;
    let (reporter, _, _) = reporters(
        settings,
        exec,
        (&state.name, Vec::new()),
        &[],
        &ask,
        None,
        &[],
    )?;
    if !exec.yes && ask.interactive() {
        let alive = state.alive();
        ui::note!(
            "Run {run_id} has {} alive.",
            crate::runbook::suggest::count(alive.len(), "resource")
        );
        if ask.confirm("Roll it back?", false) != Some(true) {
            return Ok(Exit::Success);
        }
    }
    let interrupt = CancellationToken::new();
    let rt = runtime_of_run(
        &interrupt,
        Some(format!(
            "`{}` finishes the rollback",
            rollback_command(settings, &run_id)
        )),
    );
    let mut place = None;
    let services = if target::state_uses_aws(&state) {
        let target = target::of_run(settings, &state);
        let (services, account) = clients_for(&target, &rt)?;
        target::check_account(&state, account.as_ref(), retarget, "roll back")?;
        place = Some(target::describe(&target, account.as_ref()));
        services
    } else {
        &()
    };
    state::stop_when_lost(&journal, &interrupt, &rt);
    let outcome = rt
        .block_on(
            rollback_of(
                &state,
                &journal,
                reporter.as_ref(),
                &ask,
                exec.yes,
                interrupt.clone(),
                services,
            )
            .execute(),
        )
        .map_err(engine_error)?;
    ui::flush_output();
    if interrupt.is_cancelled() {
        ui::note!(
            "Rollback interrupted. To go on with it: {}",
            rollback_command(settings, &run_id)
        );
        return Ok(Exit::Interrupted);
    }
    if !outcome.complete {
        ui::note!(
            "To try again once the cause is fixed: {}",
            rollback_command(settings, &run_id)
        );
    }
    if outcome.found_nothing() {
        return Ok(nothing_removed(
            &run_id,
            place.as_deref(),
            options.expect_gone,
        ));
    }
    Ok(if outcome.complete {
        Exit::Success
    } else {
        Exit::RollbackIncomplete
    })
}

/// A rollback found everything already gone: say where it looked and what that usually means;
/// exit 4 unless that was expected.
pub(crate) fn nothing_removed(run_id: &str, place: Option<&str>, expected: bool) -> Exit {
    if expected {
        return Exit::Success;
    }
    ui::note!(
        "Warning: every resource of run {run_id} was already gone, so this rollback removed nothing{}.",
        place.map_or_else(String::new, |p| format!(" (it looked in {p})"))
    );
    ui::note!(
        "  If they were deleted on purpose (by hand, or by `runbook sweep`), all is well: add --expect-gone to exit 0 next time."
    );
    ui::note!(
        "  Otherwise the run's resources may still exist where it made them: check the account, region and endpoint, and look with `runbook sweep --tag runbook:run={run_id} --dry-run` and the right --region or --profile."
    );
    Exit::NothingRemoved
}
