//! `scripts/lab`, the one command of the README's local lab: it starts the emulator on a free
//! port, runs the failover runbook, shows the run, rolls it back and stops the emulator.

use std::process::{Command, Stdio};

use crate::emulator::isolate;
use crate::test::{BIN, root, text};

#[test]
fn the_lab_script_runs_the_failover_lab_rolls_it_back_and_stops_the_emulator() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("lab-state");
    let mut cmd = Command::new(root().join("scripts/lab"));
    cmd.arg("--yes")
        .env("RUNBOOK_BIN", BIN)
        .env("LAB_STATE_DIR", &state)
        .stdin(Stdio::null());
    isolate(&mut cmd, home.path());
    let out = cmd.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for expected in [
        "Starting the emulator on http://127.0.0.1:",
        "Run succeeded",
        "Route 53 answers lab.example.com with the SECONDARY record",
        "What the run created: runbook show",
        "Rollback complete",
        "left nothing behind",
        "Stopped the emulator",
    ] {
        assert!(
            stdout.contains(expected) || stderr.contains(expected),
            "`{expected}` missing:\n{stdout}\n{stderr}"
        );
    }
    // `show` lists the steps in the order they run, the stacks first.
    let show = &stdout[stdout.find("Steps:").expect("the run is shown")..];
    assert!(
        show.find("primary.vpc").unwrap() < show.find("check_secondary").unwrap(),
        "{show}"
    );
    // The emulator is gone: its port no longer answers.
    let port: u16 = stderr
        .split("Starting the emulator on http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("the port is reported");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the emulator on port {port} was stopped"
    );
    assert!(
        state.join("runs").is_dir(),
        "runs are recorded in LAB_STATE_DIR"
    );
}
