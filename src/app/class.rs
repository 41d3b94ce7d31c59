//! Classroom mode: `run FILE --class NAME --each students.csv` runs one lab per student in this
//! process (so every lab shares the AWS rate limits), and `rollback --class NAME` removes them
//! all, then the class's shared resources (its hosted zone).
//!
//! The roster is a CSV file with a header line: a `student` column, optional `region`, `profile`
//! and `role_arn` columns (where that student's lab goes), and any of the runbook's vars. Each
//! lab is an ordinary run with its own journal, labelled `runbook:class` and `runbook:student`;
//! running the same command again skips the labs that are done and resumes the unfinished ones.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::StreamExt;
use serde_json::{Map, Value as Json};
use tokio_util::sync::CancellationToken;

use super::check::{check_file, known, region_var};
use super::session::{self as ex, Drive, Session};
use super::settings::{Exec, OnFailure, Settings, Undo, Vars};
use super::target::{self, Target};
use crate::actions::aws::{client, quota};
use crate::app::roster::{Student, read_roster_with_problems};
use crate::engine::action::{Ask, Services};
use crate::engine::journal;
use crate::engine::rollback::Outcome as RollbackOutcome;
use crate::engine::runs;
use crate::engine::schedule::Finish;
use crate::engine::state::RunState;
use crate::engine::{Event, Reporter};
use crate::error::{Error, Exit};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::suggest;
use crate::runbook::validate::Checked;
use crate::ui::ask::TerminalAsk;
use crate::ui::class::{Board, LabResult, LabStatus, Left, Stop, table};
use crate::ui::report::{JsonLines, Lines};
use crate::ui::{self, Format};

/// One student's lab: its checked runbook (with the row's vars) and its run.
struct Lab {
    student: Student,
    checked: Checked,
    run_id: String,
    /// What an earlier run of this class did for the student, when it is resumed.
    prior: Option<RunState>,
    /// A lab set up earlier whose resources went missing: the steps that made them, and what is
    /// missing. They and their dependents are undone and run again.
    rebuild: Option<(BTreeSet<String>, String)>,
}

/// What the class's earlier runs did for each student: the latest run that is not rolled back.
fn earlier_labs(settings: &Settings, class: &str) -> Result<HashMap<String, RunState>, Error> {
    let mut latest = HashMap::new();
    let store = super::state::open(settings)?;
    for (_, state) in store.list().map_err(ex::journal_error)? {
        let Ok(state) = state else { continue };
        if label(&state, "runbook:class") != Some(class) || state.rollback_complete == Some(true) {
            continue;
        }
        if let Some(student) = label(&state, "runbook:student") {
            latest.insert(student.to_owned(), state);
        }
    }
    Ok(latest)
}

fn label<'s>(state: &'s RunState, key: &str) -> Option<&'s str> {
    state
        .labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Options of `run --class`.
pub struct ClassArgs<'a> {
    pub class: &'a str,
    pub each: &'a Path,
    /// Labs at once; all of them when `None` (the AWS rate limits pace them).
    pub parallelism: Option<usize>,
    pub ttl: Option<std::time::Duration>,
    pub labels: &'a [(String, String)],
    pub quotas: &'a [(String, f64)],
    /// Only these students' labs (`--student`); all when empty.
    pub students: &'a [String],
}

pub fn run(
    settings: &Settings,
    file: &Path,
    vars: &Vars,
    args: &ClassArgs<'_>,
    exec: &Exec,
) -> Result<Exit, Error> {
    let base = check_file(settings, file, vars);
    if base.diags.has_errors() {
        return Err(Error::Invalid {
            diagnostics: base.diags.0,
            sources: base.project.sources,
        });
    }
    if exec.junit.is_some() {
        return Err(Error::usage(
            "--junit does not work with --class yet: a class is many runs",
            "use --output json (each event names its student, and `class_finished` lists every lab), or run one lab with --junit",
        ));
    }
    if exec.events.is_some() {
        return Err(Error::usage(
            "--events does not work with --class: a class writes its events with --output json",
            "use --output json (each event names its student); a student's own run (`resume --class NAME --student S`) takes --events",
        ));
    }
    let mut students = check_class(settings, file, vars, args.each, args.class)?;
    if let Some((_, checked)) = students.first() {
        super::session::check_until(exec, checked)?;
    }
    if !args.students.is_empty() {
        let names: Vec<String> = students.iter().map(|(s, _)| s.name.clone()).collect();
        let wanted = only_named(args.students, &names, &args.each.display().to_string())?;
        students.retain(|(s, _)| wanted.contains(&s.name));
    }
    // One class, one driver: held before its labs are looked for, so a second `run --class`
    // started at the same moment cannot plan the same students' labs again.
    let _held = hold(settings, args.class)?;
    let earlier = earlier_labs(settings, args.class)?;
    let mut labs = Vec::new();
    let mut done_already = Vec::new();
    let mut set_up = Vec::new();
    for (student, checked) in students {
        let prior = earlier.get(&student.name).cloned();
        if let Some(state) = &prior {
            if state.status == Some(journal::RunStatus::Succeeded) {
                set_up.push((student, checked, state.clone()));
                continue;
            }
            if !state.resumable() {
                // A rollback that did not finish: a new lab would meet the old one's names.
                return Err(Error::usage(
                    format!(
                        "the lab of `{}` (run {}) was being rolled back and that did not finish",
                        student.name, state.run_id
                    ),
                    format!(
                        "finish it with `runbook rollback {}` (or `{}`), then run the class again",
                        state.run_id,
                        rollback_class_command(settings, args.class)
                    ),
                ));
            }
        }
        let run_id = prior.as_ref().map_or_else(
            || runs::new_id(Path::new(&format!("{}-{}", args.class, student.name))),
            |s| s.run_id.clone(),
        );
        labs.push(Lab {
            student,
            checked,
            run_id,
            prior,
            rebuild: None,
        });
    }
    // A lab set up earlier is checked against AWS (only reading): what was deleted behind its
    // back is rebuilt (the steps that made it and every step after them are undone and run
    // again, as a resume), rather than passing for "set up".
    for (student, checked, state) in set_up {
        let seen = super::runs::look(settings, &state)?;
        let name = student.name.clone();
        let run_id = state.run_id.clone();
        if seen.missing.is_empty() {
            ui::note!("{name}: lab already set up (run {run_id}); skipped");
            done_already.push((name, run_id));
            continue;
        }
        let text = format!(
            "{} missing ({})",
            suggest::count(seen.missing.len(), "resource"),
            seen.missing.join(", ")
        );
        ui::note!(
            "{name}: lab set up (run {run_id}), but {text}: rebuilding {}",
            if seen.lost_steps.len() == 1 {
                format!(
                    "step `{}` and what follows it",
                    seen.lost_steps.first().expect("one")
                )
            } else {
                format!(
                    "steps `{}` and what follows them",
                    seen.lost_steps
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("`, `")
                )
            }
        );
        labs.push(Lab {
            student,
            checked,
            run_id,
            prior: Some(state),
            rebuild: Some((seen.lost_steps, text)),
        });
    }
    if labs.is_empty() {
        ui::note!("Every student's lab of class {} is set up.", args.class);
        return Ok(Exit::Success);
    }

    let interrupt = CancellationToken::new();
    let rt = ex::runtime_of_run(
        &interrupt,
        Some(format!(
            "`{}` lists each lab and how far it got; `{}` removes them",
            settings.command("runs"),
            rollback_class_command(settings, args.class)
        )),
    );
    let uses_aws = ex::uses_aws(&base);
    // Every lab's clients: one set per region, profile and role, shared by the labs using it.
    let mut clients = Vec::new();
    for lab in &labs {
        let region = settings
            .region
            .clone()
            .or(lab.student.region.clone())
            .or(region_var(&lab.checked));
        let s = target::lab(settings, &lab.student, region);
        if uses_aws {
            let c = rt
                .block_on(client::for_settings(&s))
                .map_err(|e| Error::Usage {
                    message: format!("{}: {}", lab.student.name, e.message),
                    help: e.hint,
                })?;
            clients.push(Some((c, s, None)));
        } else {
            clients.push(None);
        }
    }
    if uses_aws {
        // Who the credentials are, once per distinct target: each lab records its account, and
        // a resumed lab is refused in another account than the one it started in.
        let mut callers: HashMap<String, Option<client::Caller>> = HashMap::new();
        for (lab, c) in labs.iter().zip(&mut clients) {
            let Some((c, s, account)) = c else { continue };
            let key = format!("{:?}", (&s.region, &s.profile, &s.role_arn));
            let found = if let Some(found) = callers.get(&key) {
                found.clone()
            } else {
                {
                    let found = rt
                        .block_on(async {
                            client::check_credentials(c).await?;
                            client::identify(c).await
                        })
                        .map_err(|e| Error::Usage {
                            message: format!("the lab of `{}`: {}", lab.student.name, e.message),
                            help: e.hint,
                        })?;
                    callers.insert(key, found.clone());
                    found
                }
            };
            if let Some(prior) = &lab.prior {
                target::check_account(prior, found.as_ref(), false, "resume")?;
            }
            *account = found;
        }
        let new_labs: Vec<(quota::Need, &client::Clients)> = labs
            .iter()
            .zip(&clients)
            .filter(|(lab, _)| lab.prior.is_none())
            .filter_map(|(lab, c)| {
                let (c, _, _) = c.as_ref()?;
                let plan =
                    crate::plan::build(&lab.checked, &known(settings, Some(c.region.clone())));
                // Each region's part of the lab, with that region's clients (the same set for
                // every lab there, so the labs of a region are added up together).
                let parts = quota::need_by_region(
                    plan.steps
                        .iter()
                        .map(|s| (s.action, &s.params, s.region.as_deref())),
                );
                Some(
                    parts
                        .into_iter()
                        .map(|(region, need)| (need, region.map_or(*c, |r| c.in_region(r))))
                        .collect::<Vec<_>>(),
                )
            })
            .flatten()
            .collect();
        let report = rt
            .block_on(quota::preflight(&new_labs, args.quotas))
            .map_err(|e| Error::usage(e.message, e.hint.unwrap_or_default()))?;
        ui::note_part!("{}", report.text);
        if !report.fits {
            return Err(Error::usage(
                format!(
                    "class {} does not fit the account's quotas: nothing was created",
                    args.class
                ),
                report.advice,
            ));
        }
    }

    let ask = if exec.yes {
        TerminalAsk::never()
    } else {
        TerminalAsk::new()
    };
    if ask.interactive() {
        let resumed = labs.iter().filter(|l| l.prior.is_some()).count();
        let question = format!(
            "Set up {} for class {}{}?",
            suggest::count(labs.len(), "lab"),
            args.class,
            if resumed > 0 {
                format!(" ({resumed} resumed)")
            } else {
                String::new()
            }
        );
        if ask.confirm(&question, true) != Some(true) {
            ui::note!("Nothing was run.");
            return Ok(Exit::Success);
        }
    }
    let policy = exec.on_failure.unwrap_or(if ask.interactive() {
        OnFailure::Ask
    } else {
        OnFailure::Rollback
    });

    let mut labels = vec![("runbook:class".to_owned(), args.class.to_owned())];
    labels.extend(
        args.labels
            .iter()
            .filter(|(k, _)| k != "runbook:class" && k != "runbook:student")
            .cloned(),
    );
    if let Some(ttl) = args.ttl {
        let expires = std::time::SystemTime::now() + ttl;
        labels.push((
            "runbook:expires".to_owned(),
            humantime::format_rfc3339_seconds(expires).to_string(),
        ));
    }
    let runbook = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let name = base.project.name();

    let live = exec.output == Format::Human && ui::stderr_is_terminal() && !settings.quiet;
    let board = live.then(|| {
        Board::new(
            &labs
                .iter()
                .map(|l| (l.student.name.clone(), l.checked.flow.steps.len()))
                .collect::<Vec<_>>(),
            Vec::new(),
        )
    });
    let class_run = ClassRun {
        settings,
        exec,
        runbook: runbook.display().to_string(),
        name,
        labels,
        policy,
        interrupt: interrupt.clone(),
    };
    let results: Vec<LabResult> = rt.block_on(async {
        futures::stream::iter(labs.iter().zip(clients).enumerate())
            .map(|(i, (lab, c))| {
                let reporter = match &board {
                    Some(b) => b.student(i),
                    None => class_run.reporter(lab),
                };
                class_run.lab(lab, c, reporter)
            })
            .buffered(args.parallelism.unwrap_or(labs.len()).max(1))
            .collect()
            .await
    });
    if let Some(b) = &board {
        b.finish();
    }
    class_run.finish(&labs, results, &done_already, &ask, &rt)
}

/// What every lab of a class run shares.
struct ClassRun<'a> {
    settings: &'a Settings,
    exec: &'a Exec,
    runbook: String,
    name: String,
    labels: Vec<(String, String)>,
    policy: OnFailure,
    interrupt: CancellationToken,
}

/// A reporter that remembers the run's outputs.
struct Capture {
    inner: Box<dyn Reporter>,
    outputs: Mutex<Map<String, Json>>,
}

impl Reporter for Capture {
    fn event(&self, event: &Event) {
        if let Event::RunFinished { outputs, .. } = event {
            outputs.clone_into(&mut self.outputs.lock().expect("never poisoned"));
        }
        self.inner.event(event);
    }
}

impl ClassRun<'_> {
    /// In logs and JSON, each student's events marked with the student.
    fn reporter(&self, lab: &Lab) -> Box<dyn Reporter> {
        let secrets = ex::secrets_of(&lab.checked);
        if self.exec.output == Format::Json {
            Box::new(JsonLines::stdout(secrets).with_field("student", &lab.student.name))
        } else if self.settings.quiet {
            Box::new(ui::report::Tee(Vec::new()))
        } else {
            Box::new(Lines::stderr(secrets).with_prefix(&lab.student.name))
        }
    }

    /// One student's lab: run it (or resume it), then roll it back or keep it if it failed.
    async fn lab(
        &self,
        lab: &Lab,
        clients: Option<(
            &'static client::Clients,
            client::Settings,
            Option<client::Caller>,
        )>,
        reporter: Box<dyn Reporter>,
    ) -> LabResult {
        let result = |status: LabStatus, failure: Option<String>| LabResult {
            student: lab.student.name.clone(),
            run_id: lab.run_id.clone(),
            status,
            url: None,
            failure,
        };
        let Some((c, s, account)) = clients else {
            return self
                .drive(lab, None, None, &(), reporter)
                .await
                .unwrap_or_else(|e| result(LabStatus::Error, Some(e)));
        };
        // The region the clients found (from --region, the roster, the runbook's `region` var or
        // the AWS configuration) is the lab's: its templates' `aws.region` and its journal's.
        let target = Target {
            region: Some(c.region.clone()),
            ..s
        };
        self.drive(lab, Some(target), account, c, reporter)
            .await
            .unwrap_or_else(|e| result(LabStatus::Error, Some(e)))
    }

    async fn drive(
        &self,
        lab: &Lab,
        target: Option<Target>,
        account: Option<client::Caller>,
        services: &'static Services,
        reporter: Box<dyn Reporter>,
    ) -> Result<LabResult, String> {
        let store = super::state::open(self.settings).map_err(|e| e.message())?;
        let journal =
            super::state::open_journal(store.as_ref(), &lab.run_id, self.settings, &|_| None)
                .map_err(|e| e.message())?;
        let mut known = known(self.settings, region_var(&lab.checked));
        if let Some(region) = target.as_ref().and_then(|s| s.region.clone()) {
            known.region = Some(region);
        }
        super::session::belongs_to(&mut known, &lab.run_id);
        let mut session = Session::new(
            &lab.checked,
            lab.run_id.clone(),
            store,
            journal,
            known,
            target.unwrap_or_default(),
            services,
        );
        session.account = account;
        // A resumed lab keeps the labels it started with (its expiry among them).
        session.labels = lab.prior.as_ref().map_or_else(
            || {
                let mut labels = self.labels.clone();
                labels.push(("runbook:student".to_owned(), lab.student.name.clone()));
                labels
            },
            |p| p.labels.clone(),
        );
        let changed = lab
            .prior
            .as_ref()
            .is_some_and(|p| p.hash != session.workflow.source_hash());
        if lab.prior.is_none() || changed {
            session
                .record_start(&self.runbook, &self.name)
                .map_err(|e| e.to_string())?;
        }
        let reporter = Capture {
            inner: reporter,
            outputs: Mutex::default(),
        };
        reporter.event(&Event::RunStarted {
            run_id: lab.run_id.clone(),
            name: self.name.clone(),
            steps: lab.checked.flow.steps.len(),
            resumed: lab.prior.is_some(),
        });
        // A lab whose lease is taken (its class driven from another machine now) stops at once:
        // its steps are cancelled, and nothing more of it is done here.
        let interrupt = self.interrupt.child_token();
        let _watch = session.journal.lost().map(|lost| {
            let interrupt = interrupt.clone();
            AbortOnDrop(tokio::spawn(async move {
                lost.cancelled().await;
                interrupt.cancel();
            }))
        });
        let never = TerminalAsk::never();
        let how = |interrupt| Drive {
            reporter: &reporter,
            ask: &never,
            yes: true,
            parallelism: 8,
            interrupt,
            exercise: false,
            until: self.exec.until.clone(),
        };
        let mut prior = lab.prior.clone().unwrap_or_default();
        if let Some((lost, reason)) = &lab.rebuild {
            let outcome = session
                .rebuild(lost, reason, how(interrupt.clone()))
                .await
                .map_err(|e| e.to_string())?;
            if !outcome.complete {
                return Ok(LabResult {
                    student: lab.student.name.clone(),
                    run_id: lab.run_id.clone(),
                    status: LabStatus::Stopped(Stop::Failed, Left::RollbackIncomplete),
                    url: None,
                    failure: Some(format!(
                        "{reason}, and what depends on it could not be undone to rebuild it"
                    )),
                });
            }
            prior = session.state().map_err(|e| e.to_string())?;
        }
        let finish = session.execute(&prior, how(interrupt.clone())).await;
        // Taken over: stop here, roll nothing back (the lab is the new driver's), say why.
        if let Some(lost) = session.lease_lost() {
            return Ok(LabResult {
                student: lab.student.name.clone(),
                run_id: lab.run_id.clone(),
                status: LabStatus::TakenOver,
                url: None,
                failure: Some(
                    finish
                        .err()
                        .map_or_else(|| lost.message(), |e| e.to_string()),
                ),
            });
        }
        let finish = finish.map_err(|e| e.to_string())?;
        let url = reporter
            .outputs
            .lock()
            .expect("never poisoned")
            .get("url")
            .and_then(Json::as_str)
            .map(str::to_owned);
        let (what, failure) = match &finish {
            Finish::Succeeded => {
                return Ok(LabResult {
                    student: lab.student.name.clone(),
                    run_id: lab.run_id.clone(),
                    status: if lab.rebuild.is_some() {
                        LabStatus::Rebuilt
                    } else {
                        LabStatus::Succeeded
                    },
                    url,
                    failure: None,
                });
            }
            Finish::Failed { step, error } => {
                (Stop::Failed, Some(format!("{step}: {}", error.message)))
            }
            Finish::Interrupted | Finish::Quit => (Stop::Interrupted, None),
            Finish::Paused { .. } => {
                return Ok(LabResult {
                    student: lab.student.name.clone(),
                    run_id: lab.run_id.clone(),
                    status: LabStatus::Paused,
                    url,
                    failure: None,
                });
            }
        };
        let status = if self.policy == OnFailure::Rollback {
            let outcome = session
                .roll_back(how(CancellationToken::new()))
                .await
                .map_err(|e| e.to_string())?;
            if outcome.complete {
                LabStatus::Stopped(what, Left::RolledBack)
            } else {
                LabStatus::Stopped(what, Left::RollbackIncomplete)
            }
        } else {
            LabStatus::Stopped(what, Left::Kept)
        };
        Ok(LabResult {
            student: lab.student.name.clone(),
            run_id: lab.run_id.clone(),
            status,
            url,
            failure,
        })
    }

    /// The table of every lab, the question for kept failures (`--on-failure ask`), the exit.
    fn finish(
        &self,
        labs: &[Lab],
        mut results: Vec<LabResult>,
        done_already: &[(String, String)],
        ask: &TerminalAsk,
        rt: &tokio::runtime::Runtime,
    ) -> Result<Exit, Error> {
        let kept: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r.status, LabStatus::Stopped(_, Left::Kept)))
            .map(|(i, _)| i)
            .collect();
        // The table is of the whole class: the labs set up by an earlier run too (after the
        // labs of this one, whose places `kept` counts).
        results.extend(done_already.iter().map(|(student, run_id)| LabResult {
            student: student.clone(),
            run_id: run_id.clone(),
            status: LabStatus::Succeeded,
            url: None,
            failure: None,
        }));
        let human = self.exec.output != Format::Json && !self.settings.quiet;
        if human {
            ui::note_part!("\n{}", table(&results));
        }
        if self.policy == OnFailure::Ask && !kept.is_empty() {
            let question = format!(
                "{} did not finish. Roll {} back now?",
                suggest::count(kept.len(), "lab"),
                if kept.len() == 1 { "it" } else { "them" }
            );
            if ask.confirm(&question, false).unwrap_or(false) {
                for i in kept {
                    let lab = &labs[i];
                    let outcome = rollback_one(
                        self.settings,
                        &lab.run_id,
                        &Lines::stderr(Vec::new()).with_prefix(&lab.student.name),
                        rt,
                    );
                    if let LabStatus::Stopped(stop, _) = results[i].status {
                        let left = match outcome {
                            Ok(o) if o.complete => Left::RolledBack,
                            _ => Left::RollbackIncomplete,
                        };
                        results[i].status = LabStatus::Stopped(stop, left);
                    }
                    if human {
                        ui::note!("{}: {}", lab.student.name, results[i].status);
                    }
                }
            }
        }
        let interrupted = self.interrupt.is_cancelled();
        if self.exec.output == Format::Json {
            let summary = serde_json::json!({"event": "class_finished", "labs": results});
            ui::output!("{summary}")?;
        }
        let failed = results.iter().filter(|r| !r.status.set_up()).count();
        if !self.settings.quiet {
            ui::note!(
                "{} of {} set up. To remove every lab of the class: {}",
                suggest::count(results.len() - failed, "lab"),
                results.len(),
                rollback_class_command(self.settings, self.labels[0].1.as_str())
            );
            let paused = results
                .iter()
                .filter(|r| r.status == LabStatus::Paused)
                .count();
            if paused > 0 {
                ui::note!(
                    "{} paused before {}, as --until asked. Each student goes on with: {}",
                    suggest::count(paused, "lab"),
                    suggest::list(&self.exec.until),
                    self.settings.command(&format!(
                        "resume --class {} --student NAME --exercise",
                        self.labels[0].1
                    ))
                );
            }
        }
        Ok(if interrupted {
            Exit::Interrupted
        } else if results.iter().any(|r| r.status.incomplete()) {
            Exit::RollbackIncomplete
        } else if failed > 0 {
            Exit::Failed
        } else {
            Exit::Success
        })
    }
}

/// The run of one student's lab in a class (`resume --class NAME --student NAME`): the latest
/// that is not rolled back.
pub fn lab_run(settings: &Settings, class: &str, student: &str) -> Result<String, Error> {
    let labs = earlier_labs(settings, class)?;
    if labs.is_empty() {
        return Err(Error::usage(
            format!(
                "class {class} has no lab in `{}` to resume",
                settings.state_dir.display()
            ),
            "`runbook runs` lists the runs and their classes; --state-dir (or RUNBOOK_STATE_DIR) says where they are recorded",
        ));
    }
    let mut names: Vec<String> = labs.keys().cloned().collect();
    names.sort();
    let name = only_named(&[student.to_owned()], &names, &format!("class {class}"))?;
    Ok(labs[&name[0]].run_id.clone())
}

/// Every `--student` name must be one of `names` (the roster's, or the class's labs').
/// Each is taken as the roster wrote it too (`Ann Lee` for `ann-lee`) and in any case (`bob`
/// for `Bob`); the names they are.
fn only_named(wanted: &[String], names: &[String], among: &str) -> Result<Vec<String>, Error> {
    wanted
        .iter()
        .map(|w| {
            // Names are one student whatever their case, as the roster tells them apart.
            let name = super::roster::student_name(w).unwrap_or_else(|_| w.clone());
            if let Some(found) = names.iter().find(|n| n.eq_ignore_ascii_case(&name)) {
                return Ok(found.clone());
            }
            let help = suggest::did_you_mean(w, names)
                .unwrap_or_else(|| format!("the students are: {}", names.join(", ")));
            Err(Error::usage(format!("no student `{w}` in {among}"), help))
        })
        .collect()
}

/// `validate FILE --each ROSTER`: the class checked as `run --class` will, nothing run.
pub fn validate_roster(
    settings: &Settings,
    files: &[PathBuf],
    vars: &Vars,
    each: &Path,
) -> Result<Exit, Error> {
    for file in files {
        let students = check_class(settings, file, vars, each, "check")?;
        if !settings.quiet {
            ui::note!(
                "{}: valid for {} in {}",
                file.display(),
                suggest::count(students.len(), "student"),
                each.display()
            );
            for (student, _) in &students {
                if let Some(written) = &student.written {
                    ui::note!(
                        "  `{written}` is `{}` in tags, run ids and --student",
                        student.name
                    );
                }
            }
        }
    }
    Ok(Exit::Success)
}

/// A class checked whole before anything is created, every problem at once: the roster's own
/// (columns, names, prefixes), each student's row checked as a run of its own (its values named
/// by their line of the roster), two labs that would write one DNS record, and records outside
/// the zone they go in. `run --class` and `validate --each` both use it.
pub fn check_class(
    settings: &Settings,
    file: &Path,
    vars: &Vars,
    each: &Path,
    class: &str,
) -> Result<Vec<(Student, Checked)>, Error> {
    let base = check_file(settings, file, vars);
    if base.diags.has_errors() {
        return Err(Error::Invalid {
            diagnostics: base.diags.0,
            sources: base.project.sources,
        });
    }
    let declared: Vec<String> = base.project.root().vars.keys().cloned().collect();
    let roster = read_roster_with_problems(each, class, Some(&declared))?;
    if !roster.ignored.is_empty() && !settings.quiet {
        ui::note!(
            "{}: not read: the {} {} (no var of the runbook has such a name)",
            each.display(),
            if roster.ignored.len() == 1 {
                "column"
            } else {
                "columns"
            },
            suggest::list(&roster.ignored)
        );
    }
    let (students, problems) = (roster.students, roster.problems);
    let mut diagnostics: Vec<Diagnostic> = problems
        .into_iter()
        .map(|p| Diagnostic::error("roster", format!("{}: {p}", each.display())).help(p.help))
        .collect();
    let mut sources = base.project.sources.clone();
    let mut checked_students = Vec::new();
    // The DNS record slots each student's lab writes, to refuse two labs writing one record.
    let mut slots: Vec<(crate::actions::Slot, String)> = Vec::new();
    // The names each lab takes in its account's region (load balancers, target groups).
    let mut names: Vec<((String, String, String), String)> = Vec::new();
    for student in students {
        let mut inputs = vars.clone();
        inputs.row = Some((
            format!("line {} of {}", student.line, each.display()),
            student.vars.clone(),
        ));
        let checked = check_file(settings, file, &inputs);
        let row = format!(
            "in line {} of {} (student `{}`)",
            student.line,
            each.display(),
            student.name
        );
        if checked.diags.has_errors() || !checked.vars.missing.is_empty() {
            let mut found: Vec<Diagnostic> = checked
                .diags
                .0
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect();
            if found.is_empty() {
                if let Error::Invalid { diagnostics: d, .. } = super::check::missing_vars(&checked)
                {
                    found = d
                        .into_iter()
                        .map(|d| d.help("add a column of that name to the CSV file, or give it to every student with --var"))
                        .collect();
                }
            }
            diagnostics.extend(found.into_iter().map(|d| d.note(row.clone())));
            sources = checked.project.sources.clone();
            continue;
        }
        let plan = crate::plan::build(&checked, &known(settings, region_var(&checked)));
        for outside in crate::actions::aws::readiness::outside_zones(
            plan.steps.iter().map(|s| (s.action, &s.params)),
        ) {
            diagnostics.push(
                Diagnostic::error("roster", outside)
                    .help("give the student a domain inside the class's zone (for example NAME.ZONE), or another zone")
                    .note(row.clone()),
            );
        }
        slots.extend(
            record_slots(settings, &checked)
                .into_iter()
                .map(|slot| (slot, student.name.clone())),
        );
        names.extend(
            regional_names(&plan, &student)
                .into_iter()
                .map(|name| (name, student.name.clone())),
        );
        checked_students.push((student, checked));
    }
    if let Err(Error::Usage { message, help }) = shared_records(slots) {
        diagnostics.push(Diagnostic::error("roster", message).help_opt(help));
    }
    if let Some(clash) = shared_names(names) {
        diagnostics.push(clash);
    }
    if !diagnostics.is_empty() {
        return Err(Error::Invalid {
            diagnostics,
            sources,
        });
    }
    Ok(checked_students)
}

/// The DNS record slots a lab's plan writes, where its parameters name them before the run.
fn record_slots(settings: &Settings, checked: &Checked) -> Vec<crate::actions::Slot> {
    let plan = crate::plan::build(checked, &known(settings, region_var(checked)));
    let mut out: Vec<crate::actions::Slot> = plan
        .steps
        .iter()
        .filter_map(|s| {
            let def = crate::actions::find(s.action)?;
            Some((def.usage?)(&s.params).records)
        })
        .flatten()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Two labs that would write the same record would overwrite each other (and one's rollback
/// would delete the other's): refused before anything is created, naming the students.
fn shared_records(slots: Vec<(crate::actions::Slot, String)>) -> Result<(), Error> {
    let mut by_slot: std::collections::BTreeMap<crate::actions::Slot, Vec<String>> =
        std::collections::BTreeMap::new();
    for (slot, student) in slots {
        by_slot.entry(slot).or_default().push(student);
    }
    let clashes: Vec<String> = by_slot
        .into_iter()
        .filter(|(_, students)| students.len() > 1)
        .map(|(slot, students)| format!("{} ({})", slot, students.join(", ")))
        .collect();
    if clashes.is_empty() {
        return Ok(());
    }
    Err(Error::usage(
        format!(
            "students' labs would write the same DNS records, and overwrite each other: {}; nothing was created",
            clashes.join("; ")
        ),
        "give each student a domain of their own (the roster's `domain` column), for example NAME.class.example under one class zone",
    ))
}

/// The names a student's lab takes that are unique in an account's region, each with its
/// account (the student's profile or role, `` for the class's own) and region (the step's, the
/// student's, or `` for the class's).
fn regional_names(plan: &crate::plan::Plan, student: &Student) -> Vec<(String, String, String)> {
    let account = student
        .role_arn
        .clone()
        .or_else(|| student.profile.clone())
        .unwrap_or_default();
    plan.steps
        .iter()
        .filter_map(|s| {
            let usage = (crate::actions::find(s.action)?.usage?)(&s.params);
            let region = s.region.clone().or_else(|| student.region.clone());
            let account = account.clone();
            Some(
                usage
                    .names
                    .into_iter()
                    .map(move |name| (account.clone(), region.clone().unwrap_or_default(), name)),
            )
        })
        .flatten()
        .collect()
}

/// Two labs in one account's region that take one load balancer or target group name: all but
/// the first would fail at their create, after building their networks.
fn shared_names(names: Vec<((String, String, String), String)>) -> Option<Diagnostic> {
    // (the students, the region): the names they would each take there.
    type Students = (Vec<String>, String);
    let mut by_name: std::collections::BTreeMap<(String, String, String), Vec<String>> =
        std::collections::BTreeMap::new();
    for (name, student) in names {
        let students = by_name.entry(name).or_default();
        if !students.contains(&student) {
            students.push(student);
        }
    }
    // Said once per group of students and region: `ann and ben would both take …`.
    let mut groups: Vec<(Students, Vec<String>)> = Vec::new();
    for ((_, region, name), students) in by_name {
        if students.len() < 2 {
            continue;
        }
        let key = (students, region);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, names)) => names.push(name),
            None => groups.push((key, vec![name])),
        }
    }
    let clashes: Vec<String> = groups
        .into_iter()
        .map(|((students, region), names)| {
            let region = if region.is_empty() {
                String::new()
            } else {
                format!(" in {region}")
            };
            format!(
                "{} would each take {}{region}",
                suggest::list(&students),
                names.join(", ")
            )
        })
        .collect();
    (!clashes.is_empty()).then(|| {
        Diagnostic::error(
            "roster",
            format!(
                "students' labs would take the same names, which are unique in an account's region: {}",
                clashes.join("; ")
            ),
        )
        .help("give each student a prefix of their own (the roster's `prefix` column), or leave the column and --var prefix out: each student's prefix is then made from the name")
    })
}

fn rollback_class_command(settings: &Settings, class: &str) -> String {
    settings.command(&format!("rollback --class {class}"))
}

/// Roll one run back with its own clients; `Ok(complete)`.
fn rollback_one(
    settings: &Settings,
    run_id: &str,
    reporter: &dyn Reporter,
    rt: &tokio::runtime::Runtime,
) -> Result<RollbackOutcome, Error> {
    let store = super::state::open(settings)?;
    let state = RunState::from_entries(&store.read(run_id).map_err(ex::journal_error)?);
    rt.block_on(undo_run(
        settings,
        &state,
        reporter,
        &CancellationToken::new(),
    ))
    .map_err(|e| Error::runtime(e, "check the state directory"))
}

/// `rollback --class NAME`: every run of the class, then what the class shares (its zone),
/// found by the `runbook:class` tag in every account and region the runs used.
/// `rollback --class`.
pub fn rollback(
    settings: &Settings,
    class: &str,
    students: &[String],
    options: Undo,
    exec: &Exec,
) -> Result<Exit, Error> {
    let retarget = options.retarget;
    let store = super::state::open(settings)?;
    let _held = hold(settings, class)?;
    let listed = store.list().map_err(ex::journal_error)?;
    let mut runs: Vec<RunState> = listed
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok().cloned())
        .filter(|s| label(s, "runbook:class") == Some(class))
        .collect();
    if !students.is_empty() && !runs.is_empty() {
        let names: Vec<String> = runs
            .iter()
            .filter_map(|s| label(s, "runbook:student").map(str::to_owned))
            .collect();
        let wanted = only_named(students, &names, &format!("class {class}"))?;
        runs.retain(|s| label(s, "runbook:student").is_some_and(|n| wanted.iter().any(|w| w == n)));
    }
    if runs.is_empty() {
        let classes: BTreeSet<String> = listed
            .into_iter()
            .filter_map(|(_, s)| s.ok())
            .filter_map(|s| label(&s, "runbook:class").map(str::to_owned))
            .collect();
        let names: Vec<String> = classes.into_iter().collect();
        let help = suggest::did_you_mean(class, &names).unwrap_or_else(|| {
            "`runbook runs` lists the runs; without the state directory, `runbook sweep --tag runbook:class=NAME` finds a class's resources in AWS".to_owned()
        });
        return Err(Error::usage(
            format!("no run of class `{class}` in `{}`", store.location()),
            help,
        ));
    }
    let pending: Vec<&RunState> = runs
        .iter()
        .filter(|s| s.rollback_complete != Some(true))
        .collect();
    for state in &pending {
        target::check_recorded(settings, state, retarget, "roll back")?;
    }
    let ask = if exec.yes {
        TerminalAsk::never()
    } else {
        TerminalAsk::new()
    };
    if ask.interactive() {
        let alive: usize = pending.iter().map(|s| s.alive().len()).sum();
        let question = format!(
            "Class {class}: roll back {} ({} alive){}?",
            suggest::count(pending.len(), "lab"),
            suggest::count(alive, "resource"),
            if students.is_empty() {
                " and delete the class's shared resources"
            } else {
                ""
            }
        );
        if ask.confirm(&question, false) != Some(true) {
            return Ok(Exit::Success);
        }
    }
    let interrupt = CancellationToken::new();
    let rt = ex::runtime_of_run(
        &interrupt,
        Some(format!(
            "`{}` finishes the rollback",
            settings.command(&format!(
                "rollback --class {class}{}",
                students
                    .iter()
                    .map(|s| format!(" --student {s}"))
                    .collect::<Vec<_>>()
                    .concat()
            ))
        )),
    );
    // Before any delete: every target reachable and its credentials accepted (once per
    // target), and each lab's account the one it ran in.
    let mut callers: HashMap<String, Option<client::Caller>> = HashMap::new();
    for state in pending.iter().filter(|s| target::state_uses_aws(s)) {
        let target = target::of_run(settings, state);
        let key = format!(
            "{:?}",
            (
                &target.region,
                &target.profile,
                &target.endpoint_url,
                &target.role_arn
            )
        );
        let caller = if let Some(caller) = callers.get(&key) {
            caller.clone()
        } else {
            let (_, caller) =
                rt.block_on(client::preflight(&target))
                    .map_err(|e| Error::Usage {
                        message: format!("run `{}`: {}", state.run_id, e.message),
                        help: e.hint,
                    })?;
            callers.insert(key, caller.clone());
            caller
        };
        target::check_account(state, caller.as_ref(), retarget, "roll back")?;
    }
    let who = |s: &RunState| label(s, "runbook:student").unwrap_or(&s.run_id).to_owned();
    // On a terminal, the same live line per student as `run --class`, then a table.
    let live = exec.output == Format::Human && ui::stderr_is_terminal() && !settings.quiet;
    let board = live.then(|| {
        Board::new(
            &pending
                .iter()
                .map(|s| {
                    let steps: BTreeSet<String> =
                        s.alive().into_iter().map(|(step, _)| step).collect();
                    (who(s), steps.len())
                })
                .collect::<Vec<_>>(),
            Vec::new(),
        )
    });
    let reporters: Vec<Box<dyn Reporter>> = pending
        .iter()
        .enumerate()
        .map(|(i, s)| -> Box<dyn Reporter> {
            if let Some(b) = &board {
                return b.student(i);
            }
            if exec.output == Format::Json {
                Box::new(JsonLines::stdout(Vec::new()).with_field("student", &who(s)))
            } else if settings.quiet {
                Box::new(ui::report::Tee(Vec::new()))
            } else {
                Box::new(Lines::stderr(Vec::new()).with_prefix(&who(s)))
            }
        })
        .collect();
    let mut incomplete = Vec::new();
    let (mut removed, mut already_gone) = (0, 0);
    // The labs one account and region at a time share the rate limits; rolled back 8 at a time.
    let outcomes: Vec<Result<RollbackOutcome, String>> = rt.block_on(
        futures::stream::iter(pending.iter().zip(&reporters))
            .map(|(state, reporter)| undo_run(settings, state, reporter.as_ref(), &interrupt))
            .buffered(8)
            .collect(),
    );
    if let Some(b) = &board {
        b.finish();
    }
    let mut rows = Vec::new();
    for (state, outcome) in pending.iter().zip(outcomes) {
        let mut row = ui::class::Undone {
            student: who(state),
            complete: false,
            removed: 0,
            already_gone: 0,
            remaining: 0,
            error: None,
        };
        match outcome {
            Ok(o) => {
                removed += o.removed;
                already_gone += o.already_gone;
                (row.complete, row.removed, row.already_gone, row.remaining) =
                    (o.complete, o.removed, o.already_gone, o.remaining.len());
                if !o.complete {
                    incomplete.push(state.run_id.clone());
                }
            }
            Err(e) => {
                row.error = Some(e);
                incomplete.push(state.run_id.clone());
            }
        }
        rows.push(row);
    }
    if exec.output == Format::Human && !settings.quiet {
        ui::note_part!("\n{}", ui::class::rollback_table(&rows));
    } else {
        for row in rows.iter().filter(|r| r.error.is_some()) {
            ui::note!(
                "{}: {}",
                row.student,
                row.error.as_deref().unwrap_or_default()
            );
        }
    }
    if interrupt.is_cancelled() {
        ui::note!(
            "Rollback interrupted. To go on with it: {}",
            rollback_class_command(settings, class)
        );
        return Ok(Exit::Interrupted);
    }
    if !incomplete.is_empty() {
        ui::note!(
            "{} could not be rolled back completely ({}). To try again: {}",
            suggest::count(incomplete.len(), "lab"),
            incomplete.join(", "),
            rollback_class_command(settings, class)
        );
        return Ok(Exit::RollbackIncomplete);
    }
    if !students.is_empty() {
        // Only some labs: the class's shared resources (its zone) stay for the others.
        ui::note!(
            "Rolled back the lab of {}; the class's shared resources stay ({} removes them).",
            students.join(", "),
            rollback_class_command(settings, class)
        );
        return Ok(
            if removed == 0 && already_gone > 0 && !options.expect_gone {
                Exit::NothingRemoved
            } else {
                Exit::Success
            },
        );
    }
    // What the class shares, once every lab is gone: in each account and region this rollback's
    // labs used. A class name used again keeps its earlier runs, rolled back long ago, whose
    // endpoint or account may be gone; only when every lab was rolled back before (a rollback
    // run again to finish the shared part) are all the class's places looked in.
    let from: Vec<&RunState> = if pending.is_empty() {
        runs.iter().collect()
    } else {
        pending.clone()
    };
    let mut places: Vec<client::Settings> = Vec::new();
    for state in from.into_iter().filter(|s| target::state_uses_aws(s)) {
        let home = target::of_run(settings, state);
        // And every region its steps acted in with their own `region:`.
        let elsewhere = state.regions().into_iter().map(|r| client::Settings {
            region: Some(r),
            ..home.clone()
        });
        for s in std::iter::once(home.clone()).chain(elsewhere) {
            if !places
                .iter()
                .any(|p| p.region == s.region && super::sweep::same_account(p, &s))
            {
                places.push(s);
            }
        }
    }
    let select = crate::actions::aws::sweep::Select::Tag("runbook:class".into(), class.to_owned());
    let mut remaining = 0;
    for (i, place) in places.iter().enumerate() {
        let scope = if places[..i]
            .iter()
            .any(|p| super::sweep::same_account(p, place))
        {
            crate::actions::aws::sweep::Scope::RegionOnly
        } else {
            crate::actions::aws::sweep::Scope::WithGlobal
        };
        match rt.block_on(async {
            let c = client::for_settings(place).await?;
            super::sweep::sweep_in(c, &select, scope, &interrupt).await
        }) {
            Ok(left) => remaining += left,
            // Every lab is gone, but what the class shares may not be: the rollback is not
            // complete (exit 3), whatever the reason AWS could not be asked.
            Err(e) => {
                ui::note!(
                    "Every lab is rolled back, but the class's shared resources could not be looked for: {}{}",
                    e.message,
                    e.hint.map(|h| format!(" ({h})")).unwrap_or_default()
                );
                remaining += 1;
            }
        }
    }
    if remaining > 0 {
        ui::note!("To try again: {}", rollback_class_command(settings, class));
        return Ok(Exit::RollbackIncomplete);
    }
    if removed == 0 && already_gone > 0 && !options.expect_gone {
        let places: Vec<String> = callers
            .values()
            .flatten()
            .map(|c| format!("account {}", c.account))
            .collect();
        ui::note!(
            "Warning: every resource of the labs of class {class} was already gone, so this rollback removed none{}.",
            if places.is_empty() {
                String::new()
            } else {
                format!(" (it looked in {})", places.join(", "))
            }
        );
        ui::note!(
            "  If they were deleted on purpose (by hand, or by `runbook sweep`), all is well: add --expect-gone to exit 0 next time. Otherwise check the accounts, regions and endpoint the labs ran in."
        );
        return Ok(Exit::NothingRemoved);
    }
    ui::note!(
        "Class {class} is rolled back: {} and the class's shared resources are gone.",
        suggest::count(pending.len(), "lab")
    );
    Ok(Exit::Success)
}

async fn undo_run(
    settings: &Settings,
    state: &RunState,
    reporter: &dyn Reporter,
    interrupt: &CancellationToken,
) -> Result<RollbackOutcome, String> {
    let store = super::state::open(settings).map_err(|e| e.message())?;
    let journal = super::state::open_journal(store.as_ref(), &state.run_id, settings, &|_| None)
        .map_err(|e| e.message())?;
    let never = TerminalAsk::never();
    let services: &'static Services = if target::state_uses_aws(state) {
        let target = target::of_run(settings, state);
        client::for_settings(&target).await.map_err(|e| e.message)?
    } else {
        &()
    };
    let rollback = ex::rollback_of(
        state,
        &journal,
        reporter,
        &never,
        true,
        interrupt.clone(),
        services,
    );
    rollback.execute().await.map_err(|e| e.to_string())
}

/// A task aborted when this is dropped (a lab's watch on its lease ends with the lab).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Hold the class while this process drives it (`--take-over` takes it from another).
fn hold(settings: &Settings, class: &str) -> Result<Box<dyn std::any::Any + Send>, Error> {
    let store = super::state::open(settings)?;
    let take_over = if settings.take_over {
        crate::engine::store::TakeOver::Yes
    } else {
        crate::engine::store::TakeOver::No
    };
    store
        .hold_class(class, take_over)
        .map_err(ex::journal_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--student` takes a student as the roster wrote them, or as they go by.
    #[test]
    fn a_student_is_named_as_the_roster_wrote_them_or_as_they_go_by() {
        let names = ["ann-lee".to_owned(), "Bob".to_owned()];
        let wanted = ["Ann Lee".to_owned(), "ann-lee".to_owned(), "bob".to_owned()];
        assert_eq!(
            only_named(&wanted, &names, "class spring").unwrap(),
            ["ann-lee", "ann-lee", "Bob"]
        );
        let Err(Error::Usage { message, help }) =
            only_named(&["Ann Le".to_owned()], &names, "class spring")
        else {
            panic!("a student not in the class is refused");
        };
        assert_eq!(message, "no student `Ann Le` in class spring");
        assert_eq!(help.as_deref(), Some("did you mean `ann-lee`?"));
    }
}
