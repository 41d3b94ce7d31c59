//! A builder for one run of the `runbook` binary in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pretty_assertions::assert_eq;

pub const BIN: &str = env!("CARGO_BIN_EXE_runbook");

/// The repository root, to reach `runbooks/` and `tests/`.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Environment variables that would change the binary's behaviour, removed for every test.
const CLEARED: &[&str] = &[
    "RUNBOOK_STATE_DIR",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "NO_COLOR",
];

pub struct Test {
    dir: tempfile::TempDir,
    cwd: Option<PathBuf>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdout: Option<String>,
    stderr: Option<String>,
    status: i32,
}

impl Test {
    pub fn new() -> Self {
        Test {
            dir: tempfile::tempdir().expect("a temporary directory"),
            cwd: None,
            args: Vec::new(),
            env: Vec::new(),
            stdout: None,
            stderr: None,
            status: 0,
        }
    }

    /// Write a file (parents created) relative to the test directory.
    pub fn file(self, path: &str, content: &str) -> Self {
        let p = self.dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("create the parent");
        std::fs::write(&p, unindent(content)).expect("write the file");
        self
    }

    /// Run in another directory instead of the temporary one.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn stdout(mut self, s: &str) -> Self {
        self.stdout = Some(unindent(s));
        self
    }

    pub fn stderr(mut self, s: &str) -> Self {
        self.stderr = Some(unindent(s));
        self
    }

    pub fn status(mut self, status: i32) -> Self {
        self.status = status;
        self
    }

    /// Run and check what was set; return the output for further checks.
    pub fn run(self) -> Output {
        let output = self.output();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if let Some(expected) = &self.stdout {
            assert_eq!(&stdout, expected, "stdout differs\nstderr:\n{stderr}");
        }
        if let Some(expected) = &self.stderr {
            assert_eq!(&stderr, expected, "stderr differs\nstdout:\n{stdout}");
        }
        assert_eq!(
            output.status.code(),
            Some(self.status),
            "exit code differs\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        output
    }

    pub fn output(&self) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(&self.args)
            .current_dir(self.cwd.as_deref().unwrap_or(self.dir.path()));
        for key in CLEARED {
            cmd.env_remove(key);
        }
        for (k, _) in std::env::vars() {
            if k.starts_with("RUNBOOK_VAR_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.output().expect("run the runbook binary")
    }
}

/// Remove the common leading indentation of a test's inline text (and the first empty line).
pub fn unindent(s: &str) -> String {
    let s = s.strip_prefix('\n').unwrap_or(s);
    let indent = s
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: String = s
        .lines()
        .map(|l| {
            if l.len() >= indent {
                &l[indent..]
            } else {
                l.trim_start()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    if s.ends_with('\n') {
        out.push('\n');
    }
    // A final line of only spaces marks the end of a block that ended with a newline.
    while out.ends_with(" \n") || out.ends_with(' ') {
        out = out.trim_end_matches(' ').to_owned();
    }
    out
}

/// stdout and stderr as text.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The ids of the runs a state directory holds, sorted.
pub fn run_ids(state: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(state.join("runs"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}

/// A terminal's text without its escape codes.
pub fn strip(text: &str) -> String {
    let re = regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap();
    re.replace_all(text, "").into_owned()
}
