//! The run's memory: an append-only JSON-lines journal, written ahead.
//!
//! Every record is written and flushed to disk (`fsync`) before the engine goes on, and a step's
//! `step_started` is on disk before its action's first call, so after a crash the journal tells
//! exactly which steps may have done something. A torn last line (a crash mid-write) is ignored
//! on read; a damaged line anywhere else is an error. A lock file stops a second process from
//! driving the same run. That is the local journal (`FileLog`); [`Log`] is what any other place
//! that keeps records (the S3 state of `app::state`) provides, with the same promise: a record
//! is durable when `write` returns.
//!
//! The journal holds everything rollback needs (each step's action, resources, dependencies and
//! rendered rollback steps), so a run can be undone even if its runbook file changed or is gone.

use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::action::{ActionError, Resource};

pub const JOURNAL: &str = "journal.jsonl";
pub const LOCK: &str = "lock";

/// How a run ended (or `Running` while it has no end record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
    Interrupted,
    /// Stopped where it was asked to (`--until`): every step before it ran; `resume` goes on.
    Paused,
}

/// A step undone by running other steps instead of its action's own undo.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UndoStep {
    pub action: String,
    pub params: Json,
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
// One `RunStarted` per journal, read once: boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Record {
    RunStarted {
        run_id: String,
        /// Absolute path of the runbook file.
        runbook: String,
        name: String,
        /// Hash of every source file of the runbook, to notice edits before a resume.
        hash: String,
        /// Hash of each step's definition, to say which steps changed.
        step_hashes: BTreeMap<String, String>,
        /// Resolved vars; secret ones are `***` and must be given again to resume.
        vars: Map<String, Json>,
        secret_vars: Vec<String>,
        /// Where the run's calls went (its region, endpoint, profile, role), as the application
        /// recorded it, for resume and rollback: the engine keeps it and never reads it. Its
        /// fields stand beside the others in the journal's line.
        #[serde(flatten)]
        target: Map<String, Json>,
        /// Each step's direct dependencies (step ids), for rollback order.
        graph: IndexMap<String, Vec<String>>,
        /// Labels the run's actions put on what they create (`runbook:expires`), kept for resume.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        labels: Vec<(String, String)>,
        /// The runbook's exercise steps, in order: what `runs` reports a learner's progress on.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        exercises: Vec<String>,
    },
    StepStarted {
        step: String,
        action: String,
        key: String,
        attempt: u32,
        /// The rendered parameters (secrets masked), for reconcile after a crash.
        params: Json,
        /// Where the step acts, when not where the run does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
    StepSucceeded {
        step: String,
        action: String,
        outputs: Map<String, Json>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        resources: Vec<Resource>,
        /// Found by reconcile after a crash rather than created by this attempt.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        adopted: bool,
        /// Made by hand by a learner (an exercise) and adopted.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_hand: bool,
        /// `rollback: skip`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        keep: bool,
        /// The step's own `rollback:` steps, rendered, when it has them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        undo_steps: Option<Vec<UndoStep>>,
        /// Done by hand and marked so (`runbook mark`): who said so, and when. Its outputs are
        /// theirs; it holds no resources, so rollback leaves what they made alone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        marked: Option<Marked>,
    },
    /// What a step was about to do that its undo needs and could not learn afterwards (the
    /// records a take-over replaces), written before it did it ([`super::action::Context::declare`]).
    StepIntent {
        step: String,
        intent: Json,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    /// The learner let the runbook do an exercise (`solve`): the step runs as in any run.
    ExerciseSolved {
        step: String,
    },
    StepFailed {
        step: String,
        error: ActionError,
    },
    RunFinished {
        status: RunStatus,
    },
    RollbackStarted,
    UndoSucceeded {
        step: String,
        /// Ids of the step's resources that were already gone (the rest were removed). Absent
        /// in journals written before the distinction was kept: those count as removed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        already_gone: Vec<String>,
        /// Ids of changes not undone because this rollback removed what they changed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        moot: Vec<String>,
    },
    UndoFailed {
        step: String,
        error: ActionError,
        remaining: Vec<Resource>,
    },
    RollbackFinished {
        complete: bool,
    },
    /// These steps are to be run again: what they made went missing (deleted behind the run's
    /// back), and a rollback of them and of every step that depends on them has just completed.
    /// Their next attempts carry a new key, so that nothing an earlier attempt made (or an
    /// idempotency token AWS still remembers) is taken for theirs.
    Rebuild {
        steps: Vec<String>,
        reason: String,
    },
}

impl Record {
    /// Secrets out of the values a record carries: parameters (of a step and of its rollback
    /// steps), error messages and hints, reasons. Never out of its structure (its name, step ids,
    /// action names, keys, resource kinds and ids, times), so a secret equal to `e`, `vpc` or a
    /// year cannot change what a record is or names. A step's outputs are the engine's to mask:
    /// it knows which step's parameters held a secret.
    pub fn mask_values(&mut self, secrets: &[String]) {
        use crate::mask::{mask, mask_text};
        if secrets.is_empty() {
            return;
        }
        let error = |e: &mut ActionError| {
            e.message = mask_text(&e.message, secrets);
            if let Some(hint) = &mut e.hint {
                *hint = mask_text(hint, secrets);
            }
        };
        match self {
            Record::StepStarted { params, .. } | Record::StepIntent { intent: params, .. } => {
                mask(params, secrets);
            }
            Record::StepSucceeded {
                undo_steps: Some(steps),
                ..
            } => {
                for s in steps {
                    mask(&mut s.params, secrets);
                }
            }
            Record::StepSkipped { reason, .. } | Record::Rebuild { reason, .. } => {
                *reason = mask_text(reason, secrets);
            }
            Record::StepFailed { error: e, .. } | Record::UndoFailed { error: e, .. } => error(e),
            _ => {}
        }
    }
}

/// Who marked a step done (or skipped) by hand, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marked {
    /// `user@host`.
    pub by: String,
    /// RFC 3339.
    pub at: String,
}

/// A record with its time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// RFC 3339, milliseconds.
    pub at: String,
    #[serde(flatten)]
    pub record: Record,
}

pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Why a journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot use the journal `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the journal `{path}` is damaged at line {line}: {reason}")]
    Damaged {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// A record of a kind this version does not know: a newer runbook wrote or resumed the run.
    #[error(
        "the journal `{path}` holds a `{event}` record (line {line}), which this runbook ({}) does not know: a newer runbook wrote it",
        env!("CARGO_PKG_VERSION")
    )]
    Newer {
        path: PathBuf,
        line: usize,
        event: String,
    },
    #[error("run `{run}` is being driven by another runbook process{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { run: String, pid: Option<u32> },
    /// Another process holds the run's lease, and it has not expired.
    #[error("run `{run}` is being driven by {holder}; its lease expires at {expires}")]
    Leased {
        run: String,
        holder: String,
        expires: String,
    },
    /// Another process drives the class (`run --class` or `rollback --class`).
    #[error("class `{class}` is being driven by {holder}")]
    ClassHeld { class: String, holder: String },
    /// This process no longer holds the run's lease: it must not write another record.
    #[error("lost the lease on run `{run}`: {reason}")]
    LeaseLost { run: String, reason: String },
    /// The store that keeps the journal failed or refused (where, what, and what to do).
    #[error("{message}")]
    Store { message: String, hint: String },
}

/// Where a journal's records are made durable: a file, or a remote store. `write` returns only
/// once the record is durable; records written concurrently may go out concurrently.
pub trait Log: Send + Sync {
    /// Make one record (its JSON, one line without a newline) durable.
    fn write(&self, line: String) -> BoxFuture<'_, Result<(), JournalError>>;
    /// Cancelled when this process may no longer write (its lease on the run was taken over or
    /// could not be renewed): whoever drives the run stops starting steps.
    fn lost(&self) -> Option<CancellationToken> {
        None
    }

    /// Why this process may no longer write, once it may not.
    fn lost_reason(&self) -> Option<String> {
        None
    }
}

/// The open journal of one run, held with its lock (or lease).
pub struct Journal {
    log: Box<dyn Log>,
    /// Values replaced by `***` in every record written.
    secrets: Vec<String>,
}

impl Journal {
    /// Take the run's lock and open its journal file for appending (creating both if needed).
    pub fn open(dir: &Path) -> Result<Journal, JournalError> {
        Ok(Journal::new(Box::new(FileLog::open(dir)?)))
    }

    /// A journal that writes to `log`.
    pub fn new(log: Box<dyn Log>) -> Journal {
        Journal {
            log,
            secrets: Vec::new(),
        }
    }

    /// Never write these values: whatever record carries them (an error message, an output),
    /// they are stored as `***`.
    pub fn set_secrets(&mut self, secrets: &[String]) {
        self.secrets = secrets.iter().filter(|s| !s.is_empty()).cloned().collect();
    }

    /// Write one record; it is durable when this returns. Secrets are masked in its values
    /// (parameters, messages, reasons), never in what names things ([`Record::mask_values`]).
    pub async fn append(&self, mut record: Record) -> Result<Entry, JournalError> {
        record.mask_values(&self.secrets);
        let entry = Entry { at: now(), record };
        let line = serde_json::to_string(&entry).expect("records serialize");
        self.log.write(line).await?;
        Ok(entry)
    }

    /// [`Journal::append`] outside of async code.
    pub fn append_now(&self, record: Record) -> Result<Entry, JournalError> {
        futures::executor::block_on(self.append(record))
    }

    /// Cancelled when this process may no longer write to the run (see [`Log::lost`]).
    pub fn lost(&self) -> Option<CancellationToken> {
        self.log.lost()
    }

    /// Why this process may no longer write to the run, once it may not (its lease was taken
    /// over or ran out): whoever drives the run then stops, rolls nothing back, writes nothing.
    pub fn lost_reason(&self) -> Option<String> {
        self.log.lost_reason()
    }
}

/// The local journal: `journal.jsonl` in the run's folder, each record flushed to disk
/// (`fsync`) before `write` returns, and a lock file held while the journal is open.
struct FileLog {
    file: Mutex<File>,
    path: PathBuf,
    _lock: File,
}

impl FileLog {
    fn open(dir: &Path) -> Result<FileLog, JournalError> {
        let io = |source| JournalError::Io {
            path: dir.to_path_buf(),
            source,
        };
        private_dirs(dir).map_err(io)?;
        let lock = match take_lock(&dir.join(LOCK))? {
            Ok(lock) => lock,
            Err(pid) => {
                let run = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Err(JournalError::Locked { run, pid });
            }
        };
        let path = dir.join(JOURNAL);
        let file = open_regular(&path, OpenOptions::new().create(true).append(true))?;
        let log = FileLog {
            file: Mutex::new(file),
            path,
            _lock: lock,
        };
        log.drop_torn_tail()?;
        Ok(log)
    }

    /// A crash mid-write can leave a last line without its newline: cut it off before appending,
    /// so the next record starts on a line of its own.
    fn drop_torn_tail(&self) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let text = std::fs::read(&self.path).map_err(io)?;
        if text.is_empty() || text.ends_with(b"\n") {
            return Ok(());
        }
        let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let file = self.file.lock().expect("never poisoned");
        file.set_len(keep as u64).map_err(io)?;
        file.sync_all().map_err(io)
    }
}

impl Log for FileLog {
    fn write(&self, mut line: String) -> BoxFuture<'_, Result<(), JournalError>> {
        line.push('\n');
        let mut file = self.file.lock().expect("never poisoned");
        let written = file
            .write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            });
        Box::pin(std::future::ready(written))
    }
}

/// The kinds of record (`event`) this version reads. A record of another kind was written by a
/// newer runbook: it is refused as such (never as damage), unless it says `"optional": true`,
/// which a newer runbook writes on records an older one may pass over.
pub const EVENTS: &[&str] = &[
    "run_started",
    "step_started",
    "step_succeeded",
    "step_intent",
    "step_skipped",
    "exercise_solved",
    "step_failed",
    "run_finished",
    "rollback_started",
    "undo_succeeded",
    "undo_failed",
    "rollback_finished",
    "rebuild",
];

/// Why a record could not be read.
#[derive(Debug, PartialEq)]
pub enum Unread {
    /// Not a record of this version: its `event`.
    Newer(String),
    /// Not a record at all (torn, edited, not JSON): why.
    Damaged(String),
}

/// One journal line: `None` for a newer runbook's optional record, which this version passes
/// over.
pub fn parse(text: &str) -> Result<Option<Entry>, Unread> {
    match serde_json::from_str::<Entry>(text) {
        Ok(entry) => Ok(Some(entry)),
        Err(e) => match serde_json::from_str::<Json>(text) {
            Ok(v) => newer(&v).unwrap_or_else(|| Err(Unread::Damaged(e.to_string()))),
            Err(_) => Err(Unread::Damaged(e.to_string())),
        },
    }
}

/// One record as a JSON value (an S3 object's entry), as [`parse`] reads a line.
pub fn from_json(v: Json) -> Result<Option<Entry>, Unread> {
    if let Some(newer) = newer(&v) {
        return newer;
    }
    serde_json::from_value(v)
        .map(Some)
        .map_err(|e| Unread::Damaged(e.to_string()))
}

/// A record of a kind this version does not know: passed over when it says it may be, else
/// refused as a newer runbook's.
fn newer(v: &Json) -> Option<Result<Option<Entry>, Unread>> {
    let event = v.get("event")?.as_str()?;
    if EVENTS.contains(&event) {
        return None;
    }
    Some(if v.get("optional") == Some(&Json::Bool(true)) {
        Ok(None)
    } else {
        Err(Unread::Newer(event.to_owned()))
    })
}

/// Read a run's journal. The last line may be torn by a crash and is then ignored.
pub fn read(dir: &Path) -> Result<Vec<Entry>, JournalError> {
    let path = dir.join(JOURNAL);
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut open_regular(&path, OpenOptions::new().read(true))?,
        &mut text,
    )
    .map_err(|source| JournalError::Io {
        path: path.clone(),
        source,
    })?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut entries = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        match parse(line.trim_end()) {
            Ok(Some(entry)) => entries.push(entry),
            Ok(None) => {}
            Err(_) if last && !line.ends_with('\n') => break,
            Err(Unread::Newer(event)) => {
                return Err(JournalError::Newer {
                    path,
                    line: i + 1,
                    event,
                });
            }
            Err(Unread::Damaged(reason)) => {
                return Err(JournalError::Damaged {
                    path,
                    line: i + 1,
                    reason,
                });
            }
        }
    }
    Ok(entries)
}

/// Take the lock file at `path` for this process, its pid written in it (`Ok(Ok)`), or say which
/// process holds it (`Ok(Err(pid))`). Held until the file is dropped.
pub fn take_lock(path: &Path) -> Result<Result<File, Option<u32>>, JournalError> {
    let mut lock = open_regular(
        path,
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true),
    )?;
    if lock.try_lock().is_err() {
        let pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        return Ok(Err(pid));
    }
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    lock.set_len(0).map_err(io)?;
    write!(lock, "{}", std::process::id()).map_err(io)?;
    Ok(Ok(lock))
}

/// The state directory's folders, made private (0700) where this process makes them.
pub fn private_dirs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Open a file of the state directory only if it is a regular file this process may trust: not
/// a link (to anywhere) nor a device, FIFO or folder, checked before opening and again on what
/// was opened (the same file, still regular). Files it creates are private (0600).
pub fn open_regular(path: &Path, options: &mut OpenOptions) -> Result<File, JournalError> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    let refused = |what: &str| {
        JournalError::Store {
        message: format!("`{}` is {what}, not a file runbook made", path.display()),
        hint: "the state directory holds only regular files runbook writes: remove it, and check who put it there".to_owned(),
    }
    };
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let before = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(refused("a link")),
        Ok(meta) if !meta.file_type().is_file() => return Err(refused("not a regular file")),
        Ok(meta) => Some((meta.dev(), meta.ino())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let file = options.mode(0o600).open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() || before.is_some_and(|b| b != (meta.dev(), meta.ino())) {
        return Err(refused("not the file that was checked"));
    }
    if before.is_none() {
        // Made just now: a link put in its place meanwhile is not it.
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_file() && (m.dev(), m.ino()) == (meta.dev(), meta.ino()) => {}
            _ => return Err(refused("not the file that was made")),
        }
    }
    Ok(file)
}

/// A run's records, trusted only when whole: at least one, the first of them the run's start
/// record (which holds what rollback needs: its target, its graph). An empty journal or one
/// whose beginning is lost is damaged, never "nothing to undo".
pub fn whole(entries: Vec<Entry>, path: PathBuf) -> Result<Vec<Entry>, JournalError> {
    match entries.first().map(|e| &e.record) {
        Some(Record::RunStarted { .. }) => Ok(entries),
        Some(_) => Err(JournalError::Damaged {
            path,
            line: 1,
            reason: "it does not begin with the run's start record (`run_started`): its beginning is lost".to_owned(),
        }),
        None => Err(JournalError::Damaged {
            path,
            line: 1,
            reason: "it holds no record".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(step: &str) -> Record {
        Record::StepStarted {
            step: step.into(),
            action: "core.note".into(),
            key: format!("r/{step}"),
            attempt: 1,
            params: Json::Null,
            region: None,
        }
    }

    /// `EVENTS` is every record kind this version reads: serde lists them when it meets another.
    #[test]
    fn events_are_the_record_kinds_this_version_reads() {
        let e = serde_json::from_str::<Record>(r#"{"event":"no_such_kind"}"#).unwrap_err();
        let message = e.to_string();
        let expected = message
            .split_once("expected one of ")
            .map(|(_, list)| list.split(" at line").next().unwrap_or(list))
            .expect("serde names the kinds it expects");
        let named: Vec<&str> = expected.split(", ").map(|k| k.trim_matches('`')).collect();
        assert_eq!(named, EVENTS);
    }

    #[test]
    fn an_unknown_kind_of_record_is_newer_and_optional_ones_are_passed_over() {
        let line = |extra: &str| {
            format!(r#"{{"at":"2026-12-07T00:00:00Z","event":"step_checkpoint"{extra}}}"#)
        };
        assert_eq!(
            parse(&line("")).unwrap_err(),
            Unread::Newer("step_checkpoint".to_owned())
        );
        assert_eq!(parse(&line(r#","optional":true"#)), Ok(None));
        assert!(matches!(
            parse(r#"{"at":"2026-12-07T00:00:00Z","event":"step_started","step":1}"#),
            Err(Unread::Damaged(_))
        ));
        assert!(matches!(parse("not json"), Err(Unread::Damaged(_))));
        let known = r#"{"at":"2026-12-07T00:00:00Z","event":"run_finished","status":"succeeded","later":1}"#;
        assert!(
            matches!(parse(known), Ok(Some(_))),
            "a newer field is passed over"
        );
    }

    #[test]
    fn records_round_trip_and_a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let j = Journal::open(dir.path()).unwrap();
            j.append_now(started("a")).unwrap();
            j.append_now(started("b")).unwrap();
        }
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(JOURNAL))
            .unwrap();
        f.write_all(b"{\"at\":\"2026-01-01T00:00:00Z\",\"event\":\"step_sta")
            .unwrap();
        let entries = read(dir.path()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].record, started("b"));
        // Appending after a torn line starts cleanly on a new line.
        Journal::open(dir.path())
            .unwrap()
            .append_now(started("c"))
            .unwrap();
        assert_eq!(read(dir.path()).unwrap().len(), 3);
    }

    #[test]
    fn a_damaged_line_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(JOURNAL),
            "not json\n{\"at\":\"x\",\"event\":\"rollback_started\"}\n",
        )
        .unwrap();
        assert!(matches!(
            read(dir.path()),
            Err(JournalError::Damaged { line: 1, .. })
        ));
    }

    #[test]
    fn a_second_opener_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Journal::open(dir.path()).unwrap();
        match Journal::open(dir.path()) {
            Err(JournalError::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Locked, got {:?}", other.map(|_| ())),
        }
    }
}
