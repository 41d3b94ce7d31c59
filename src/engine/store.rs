//! Where runs are kept: a [`Store`] lists runs, reads one's journal and opens it for writing
//! (taking the run's lock or lease). [`Local`] is a folder (`--state-dir`, `.runbook` by
//! default); the application adds others (S3, `app::state`). Everything that reads or writes
//! runs goes through a store, so every command works the same with any of them.

use std::path::{Path, PathBuf};

use super::journal::{self, Entry, Journal, JournalError};
use super::runs;
use super::state::RunState;

/// Whether to take a run's lease from a holder whose lease is still live (`--take-over`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakeOver {
    No,
    Yes,
}

/// A run's journal, or why it could not be read.
pub type Listed = (String, Result<RunState, JournalError>);

pub trait Store: Send + Sync {
    /// Where runs are kept, as the user names it (`.runbook`, `s3://bucket/prefix`).
    fn location(&self) -> String;

    /// The id of every run, in order (ids sort by time). An error is never an empty answer.
    fn ids(&self) -> Result<Vec<String>, JournalError>;

    /// Whether a run of this id is kept here.
    fn exists(&self, run: &str) -> Result<bool, JournalError>;

    /// A run's records, in order.
    fn read(&self, run: &str) -> Result<Vec<Entry>, JournalError>;

    /// Open a run's journal for writing: only one process at a time may hold it.
    fn open(&self, run: &str, take_over: TakeOver) -> Result<Journal, JournalError>;

    /// Every run with its state (or why it could not be read), oldest first ([`in_start_order`]).
    fn list(&self) -> Result<Vec<Listed>, JournalError> {
        Ok(in_start_order(
            self.ids()?
                .into_iter()
                .map(|id| {
                    let state = self.read(&id).map(|e| RunState::from_entries(&e));
                    (id, state)
                })
                .collect(),
        ))
    }

    /// Who drives `run` now, when a process holds it (its lock or live lease): for `runs`.
    fn driver(&self, _run: &str) -> Option<String> {
        None
    }

    /// Hold `class` while this process drives it (`run --class`, `rollback --class`): a second
    /// process is refused while the guard lives (`ClassHeld`), naming the holder.
    fn hold_class(
        &self,
        class: &str,
        take_over: TakeOver,
    ) -> Result<Box<dyn std::any::Any + Send>, JournalError>;

    /// Whether this is the local folder `dir`.
    fn is_folder(&self, _dir: &Path) -> bool {
        false
    }

    /// Whether others' runs are kept here too (a team's bucket), not only this machine's.
    fn shared(&self) -> bool {
        false
    }
}

/// Runs oldest first. An id sorts by the second its run started, then by its runbook's name and a
/// random suffix: two runs started in the same second (a script's two runs, a class) are put in
/// the order of their start records' milliseconds, so that "the latest run" is the one started
/// last. A run whose journal could not be read keeps its id's place.
pub fn in_start_order(mut listed: Vec<Listed>) -> Vec<Listed> {
    const SECOND: usize = "20261125-114200".len();
    listed.sort_by(|(a, a_state), (b, b_state)| {
        let started = |s: &Result<RunState, JournalError>| {
            s.as_ref()
                .map_or_else(|_| String::new(), |s| s.started_at.clone())
        };
        let second = |id: &str| id.get(..SECOND).unwrap_or(id).to_owned();
        (second(a), started(a_state), a.as_str()).cmp(&(second(b), started(b_state), b.as_str()))
    });
    listed
}

/// The id of the latest run that satisfies `pred`.
pub fn latest(
    store: &dyn Store,
    pred: impl Fn(&RunState) -> bool,
) -> Result<Option<String>, JournalError> {
    // Newest first. A damaged run newer than the one found is never skipped silently: it may be
    // the very run meant, so the choice is refused, naming it.
    for (id, state) in store.list()?.into_iter().rev() {
        match state {
            Ok(state) if pred(&state) => return Ok(Some(id)),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Runs in a local folder: `<dir>/runs/<run-id>/journal.jsonl`, locked while open.
pub struct Local {
    pub dir: PathBuf,
}

impl Local {
    /// A run's folder; a run id is one name, never a path.
    fn run_dir(&self, run: &str) -> Result<PathBuf, JournalError> {
        if runs::is_id(run) {
            Ok(runs::run_dir(&self.dir, run))
        } else {
            Err(JournalError::Store {
                message: format!("`{run}` is not a run id: a run id is one name, not a path"),
                hint: "`runbook runs` lists the runs".to_owned(),
            })
        }
    }
}

impl Store for Local {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn ids(&self) -> Result<Vec<String>, JournalError> {
        let root = runs::runs_dir(&self.dir);
        let entries = match std::fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(JournalError::Io { path: root, source }),
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| {
                std::fs::symlink_metadata(e.path().join(journal::JOURNAL))
                    .is_ok_and(|m| m.file_type().is_file() || m.file_type().is_symlink())
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn exists(&self, run: &str) -> Result<bool, JournalError> {
        // A run id is one name: a path given as one (`rollback /some/folder`) names no run.
        Ok(runs::is_id(run)
            && std::fs::symlink_metadata(runs::run_dir(&self.dir, run).join(journal::JOURNAL))
                .is_ok())
    }

    fn read(&self, run: &str) -> Result<Vec<Entry>, JournalError> {
        let dir = self.run_dir(run)?;
        journal::whole(journal::read(&dir)?, dir.join(journal::JOURNAL))
    }

    fn open(&self, run: &str, _: TakeOver) -> Result<Journal, JournalError> {
        Journal::open(&self.run_dir(run)?)
    }

    fn hold_class(
        &self,
        class: &str,
        _: TakeOver,
    ) -> Result<Box<dyn std::any::Any + Send>, JournalError> {
        let dir = self.dir.join("classes").join(class);
        if !runs::is_id(class) {
            return Err(JournalError::Store {
                message: format!("`{class}` is not a class name"),
                hint: "a class name is one word".to_owned(),
            });
        }
        journal::private_dirs(&dir).map_err(|source| JournalError::Io {
            path: dir.clone(),
            source,
        })?;
        match journal::take_lock(&dir.join(journal::LOCK))? {
            Ok(lock) => Ok(Box::new(lock)),
            Err(pid) => Err(JournalError::ClassHeld {
                class: class.to_owned(),
                holder: format!(
                    "pid {} on this machine",
                    pid.map_or_else(|| "?".to_owned(), |p| p.to_string())
                ),
            }),
        }
    }

    fn driver(&self, run: &str) -> Option<String> {
        let path = runs::run_dir(&self.dir, run).join(journal::LOCK);
        let lock = std::fs::OpenOptions::new().read(true).open(&path).ok()?;
        if lock.try_lock_shared().is_ok() {
            return None;
        }
        let pid = std::fs::read_to_string(&path).unwrap_or_default();
        Some(format!("pid {} on this machine", pid.trim()))
    }

    fn is_folder(&self, dir: &Path) -> bool {
        self.dir == dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, started_at: &str) -> Listed {
        let state = RunState {
            run_id: id.to_owned(),
            started_at: started_at.to_owned(),
            ..RunState::default()
        };
        (id.to_owned(), Ok(state))
    }

    /// Two runs started in the same second sort by when each started, not by their runbooks'
    /// names: `zeta` started first, so the latest is `alpha`. Other seconds keep the ids' order.
    #[test]
    fn runs_of_the_same_second_sort_by_their_start() {
        let listed = vec![
            run("20261207-200309-zeta-aaaa", "2026-12-07T20:03:09.999Z"),
            run("20261207-200310-alpha-xxxx", "2026-12-07T20:03:10.900Z"),
            run("20261207-200310-zeta-bbbb", "2026-12-07T20:03:10.100Z"),
            run("20261207-200311-alpha-yyyy", "2026-12-07T20:03:11.000Z"),
        ];
        let ids: Vec<String> = in_start_order(listed)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(
            ids,
            [
                "20261207-200309-zeta-aaaa",
                "20261207-200310-zeta-bbbb",
                "20261207-200310-alpha-xxxx",
                "20261207-200311-alpha-yyyy",
            ]
        );
    }
}
