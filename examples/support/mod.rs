//! What the timing examples share: the tests' emulator and proxy, and the root they need.

#[path = "../../tests/emulator.rs"]
#[allow(dead_code)]
pub mod emulator;
#[path = "../../tests/proxy.rs"]
#[allow(dead_code)]
pub mod proxy;

/// What tests/emulator.rs expects beside it (the test crate's `test::root`).
#[allow(dead_code)]
pub mod test {
    pub fn root() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }
}

/// The tool under time: its binary, run in a home of its own, isolated as the tests isolate it.
pub struct Tool {
    pub bin: std::path::PathBuf,
    pub home: tempfile::TempDir,
}

impl Tool {
    /// The binary at `bin` (built first), in a new temporary home.
    pub fn new(bin: &std::path::Path) -> Tool {
        Tool {
            bin: std::fs::canonicalize(bin).expect("the runbook binary (build it first)"),
            home: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// The command `runbook ARGS` in the tool's home, without input.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.bin);
        cmd.args(args)
            .current_dir(self.home.path())
            .stdin(std::process::Stdio::null());
        emulator::isolate(&mut cmd, self.home.path());
        cmd
    }

    #[allow(dead_code)] // not every benchmark runs it plainly
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().expect("run the tool")
    }
}

/// The shipped failover lab.
pub fn failover_lab() -> String {
    test::root()
        .join("runbooks/route53-failover.yaml")
        .to_str()
        .expect("a UTF-8 path")
        .to_owned()
}

/// `run` of the failover lab for bench.example.com, unattended, its events as JSON, against
/// `endpoint`.
#[allow(dead_code)] // not every benchmark runs one lab
pub fn run_lab<'a>(runbook: &'a str, endpoint: &'a str) -> [&'a str; 9] {
    [
        "run",
        runbook,
        "--yes",
        "--output",
        "json",
        "--var",
        "domain=bench.example.com",
        "--endpoint-url",
        endpoint,
    ]
}
