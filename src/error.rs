//! The one error type users see, and the exit codes.
//!
//! Commands return `Result<Exit, Error>`; `cli::main` renders an error once, at the top, and
//! exits with its code.

use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::source::Sources;

/// Documented exit codes (docs/running.md, "Exit codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Success,
    /// 1: a step or a verification failed.
    Failed,
    /// 2: invalid runbook, usage error or missing input.
    Invalid,
    /// 3: rollback incomplete: something could not be removed.
    RollbackIncomplete,
    /// 4: a rollback removed nothing: everything it was to remove was already gone (the wrong
    /// account, region or endpoint, or deleted behind the run's back); `--expect-gone` accepts it.
    NothingRemoved,
    /// 130: interrupted.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Invalid => 2,
            Exit::RollbackIncomplete => 3,
            Exit::NothingRemoved => 4,
            Exit::Interrupted => 130,
        }
    }
}

#[derive(Debug)]
pub enum Error {
    /// The runbook or its inputs have problems; the sources render their excerpts.
    Invalid {
        diagnostics: Vec<Diagnostic>,
        sources: Sources,
    },
    /// The command line asks for something that cannot be done.
    Usage {
        message: String,
        help: Option<String>,
    },
    /// The tool could not do its work though the input was right: the state directory cannot be
    /// written, a journal cannot be read, a report cannot be written (exit 1).
    Runtime {
        message: String,
        help: Option<String>,
    },
    /// Writing output failed (a closed pipe is not an error: see `cli::main`).
    Io(std::io::Error),
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Invalid { .. } | Error::Usage { .. } => Exit::Invalid,
            Error::Runtime { .. } | Error::Io(_) => Exit::Failed,
        }
    }

    /// The message alone, for a place that reports one line (a class's lab, `runs --check`).
    pub fn message(&self) -> String {
        match self {
            Error::Usage { message, .. } | Error::Runtime { message, .. } => message.clone(),
            Error::Io(e) => e.to_string(),
            Error::Invalid { .. } => "the runbook or its inputs are invalid".to_owned(),
        }
    }

    /// The message and the help, for a report that holds text (a JSON `error` event, a `JUnit`
    /// case): an invalid runbook's problems, each with its own message, joined.
    pub fn describe(&self) -> (String, Option<String>) {
        match self {
            Error::Usage { message, help } | Error::Runtime { message, help } => {
                (message.clone(), help.clone())
            }
            Error::Io(e) => (e.to_string(), None),
            Error::Invalid { diagnostics, .. } => {
                let errors: Vec<&str> = diagnostics
                    .iter()
                    .filter(|d| d.severity == crate::runbook::diagnostic::Severity::Error)
                    .map(|d| d.message.as_str())
                    .collect();
                let message = if errors.is_empty() {
                    self.message()
                } else {
                    format!(
                        "the runbook or its inputs are invalid: {}",
                        errors.join("; ")
                    )
                };
                let help = diagnostics.iter().find_map(|d| d.help.clone());
                (message, help)
            }
        }
    }

    pub fn runtime(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Runtime {
            message: message.into(),
            help: Some(help.into()),
        }
    }

    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            help: Some(help.into()),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}
