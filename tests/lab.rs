//! `scripts/lab`, the one command of the README's local lab: it starts the emulator on a free
//! port and runs the failover runbook; unattended it rolls back and stops the emulator, and a lab
//! that is kept keeps its emulator, to be resumed, rolled back or stopped later.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use crate::emulator::isolate;
use crate::test::{BIN, root, strip, text};

fn lab(state: &std::path::Path, home: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(root().join("scripts/lab"));
    cmd.args(args)
        .env("RUNBOOK_BIN", BIN)
        .env("LAB_STATE_DIR", state)
        .stdin(Stdio::null());
    isolate(&mut cmd, home);
    cmd
}

/// The port the lab's emulator was started on, from what the script said.
fn port_of(stderr: &str) -> u16 {
    stderr
        .split("Starting the emulator on http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("the port is reported")
}

/// The port of the lab's pages (`runbook web`), from what the script said.
fn pages_port_of(stderr: &str) -> u16 {
    stderr
        .split("The lab's pages: http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("the pages' port is reported")
}

fn answers(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn the_lab_script_runs_the_failover_lab_rolls_it_back_and_stops_the_emulator() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("lab-state");
    let out = lab(&state, home.path(), &["--yes"]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for expected in [
        "Starting the emulator on http://127.0.0.1:",
        "Run succeeded",
        "Route 53 answers lab.example.com with the SECONDARY record",
        "Rollback complete",
        "left nothing behind",
        // In the run's words: the resources it created, by kind.
        "resources from",
        "Removed: ",
        "1 hosted zone",
        "Stopped the emulator",
        // The page checks load the site from the lab's stand-in for the internet.
        "done  http_primary: Load the site and see the primary's page",
        "done  http_secondary: Load the site and see the secondary's page",
        "the secondary's page served",
    ] {
        assert!(
            stdout.contains(expected) || stderr.contains(expected),
            "`{expected}` missing:\n{stdout}\n{stderr}"
        );
    }
    assert!(
        !answers(port_of(&stderr)),
        "the emulator was stopped once the lab was rolled back"
    );
    assert!(
        !answers(pages_port_of(&stderr)),
        "the lab's pages stopped with it"
    );
    assert!(
        state.join("runs").is_dir(),
        "runs are recorded in LAB_STATE_DIR"
    );
    assert!(!state.join("emulator").exists(), "no emulator is recorded");
    assert!(
        !stderr.contains("Installing") && !stderr.contains("Building"),
        "nothing is installed or built that already is: {stderr}"
    );

    // A second lab starts afresh, and says that it drops the first one's runs.
    let out = lab(&state, home.path(), &["--yes"]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("the earlier lab's runs in") && stderr.contains("are dropped"),
        "{stderr}"
    );
    // A run that was no exercise has nothing to say about a learner's exercises.
    let out = Command::new(BIN)
        .args(["runs", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("route53-failover"), "{stdout}\n{stderr}");
    assert!(!stdout.contains("exercises:"), "{stdout}");
}

/// Ctrl-C in the middle of a kept lab: the emulator keeps running (it holds the lab), the script
/// says how to come back, the commands it and the tool print work as printed (in a shell without
/// the lab's credentials), `--resume` finishes the same run and `--rollback` removes it and stops
/// the emulator.
#[test]
fn a_kept_lab_keeps_its_emulator_and_is_resumed_then_rolled_back() {
    use std::os::unix::process::CommandExt as _;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("lab-state");
    let mut cmd = lab(&state, home.path(), &["--yes", "--keep"]);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let pgid = child.id();
    let stdout = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let mut stderr = String::new();
    let mut interrupted = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if !interrupted && line.contains("start primary.listener") {
            // What a Ctrl-C on the terminal does: SIGINT to the foreground process group.
            Command::new("kill")
                .args(["-INT", "--", &format!("-{pgid}")])
                .status()
                .unwrap();
            interrupted = true;
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let status = child.wait().unwrap();
    let stdout = stdout.join().unwrap();
    assert!(interrupted, "the run reached the listener: {stderr}");
    assert_eq!(status.code(), Some(130), "{stdout}\n{stderr}");
    let port = port_of(&stderr);
    assert!(answers(port), "the kept lab's emulator still runs");
    let pages = pages_port_of(&stderr);
    assert!(answers(pages), "and its pages");
    for hint in [
        "scripts/lab --resume",
        "scripts/lab --rollback",
        "scripts/lab --stop",
    ] {
        assert!(stderr.contains(hint), "`{hint}` missing: {stderr}");
    }
    // The tool's and the script's "what to type next", run as printed in a shell without the
    // lab's credentials or state dir: they only read here (`show`) or are tried below.
    let printed = |prefix: &str| -> String {
        stderr
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line: {stderr}"))
            .trim()
            .to_owned()
    };
    let look = printed("Look around:");
    let resume = printed("To go on with it:");
    let undo = printed("To undo it:");
    let shell = |command: &str| {
        let mut sh = Command::new("sh");
        sh.args(["-c", command]).current_dir(home.path());
        isolate(&mut sh, home.path());
        sh.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("RUNBOOK_STATE_DIR");
        sh.output().unwrap()
    };
    let shown = shell(&look);
    assert_eq!(shown.status.code(), Some(0), "`{look}`: {:?}", text(&shown));
    assert!(
        text(&shown).0.contains("(interrupted)"),
        "{:?}",
        text(&shown)
    );
    assert!(
        resume.contains(" resume ") && undo.contains(" rollback "),
        "{resume} / {undo}"
    );
    assert!(
        resume.contains("--state-dir") && undo.contains("--state-dir"),
        "the lab's state dir is in the commands: {resume} / {undo}"
    );

    let out = lab(&state, home.path(), &["--resume", "--keep"])
        .output()
        .unwrap();
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}\n{e}");
    assert!(e.contains("Resuming") && e.contains("Run succeeded"), "{e}");
    assert!(answers(port), "kept again: the emulator runs");
    assert!(
        !e.contains("scripts/lab --resume"),
        "nothing left to resume: {e}"
    );
    // Asked again, a finished lab is not an error: it says what to do instead.
    let out = lab(&state, home.path(), &["--resume"]).output().unwrap();
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}\n{e}");
    assert!(
        e.contains("nothing left to resume") && e.contains("scripts/lab --rollback"),
        "{e}"
    );
    assert!(!e.contains("Kept:"), "said once, not again: {e}");

    // The tool's own rollback command, as printed, from a shell without credentials.
    let out = shell(&undo);
    assert_eq!(out.status.code(), Some(0), "`{undo}`: {:?}", text(&out));
    assert!(
        text(&out).1.contains("Rollback complete"),
        "{:?}",
        text(&out)
    );

    let out = lab(&state, home.path(), &["--rollback"]).output().unwrap();
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}\n{e}");
    assert!(e.contains("Stopped the emulator"), "{e}");
    assert!(!answers(port), "the emulator was stopped");
    assert!(!answers(pages), "and its pages");
    let out = lab(&state, home.path(), &["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("no lab is kept"), "{:?}", text(&out));
}

/// On a terminal, an unattended lab fits a screen or two: one line per step (a module's steps
/// folded into one), the waits live, the summary once. Counted as a terminal shows it.
#[test]
fn the_lab_on_a_terminal_prints_about_a_screen() {
    use std::io::Read as _;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("lab-state");
    let mut cmd = lab(&state, home.path(), &["--yes"]);
    cmd.env("COLUMNS", "100")
        .env("LINES", "40")
        .env("TERM", "xterm");
    cmd.stdin(Stdio::inherit());
    let mut session = expectrl::Session::spawn(cmd).expect("a pseudo-terminal");
    session.get_process_mut().set_window_size(100, 40).unwrap();
    // Everything until the script ends (the pty reports EIO once it has).
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = session.read(&mut buf) {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let size = |n: u16| std::num::NonZero::new(n).unwrap();
    let mut terminal = vt100::Parser::new(size(40), size(100), 100_000);
    terminal.process(&raw);
    let visible: Vec<String> = terminal.screen().rows(0, 100).collect();
    let shown = visible
        .iter()
        .rposition(|r| !r.trim().is_empty())
        .map_or(0, |i| i + 1);
    terminal.screen_mut().set_scrollback(usize::MAX);
    let scrolled = terminal.screen().scrollback();
    let lines = scrolled + shown;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("Rollback complete"), "{text}");
    assert!(
        text.contains("primary.* (") && text.contains("secondary.* ("),
        "each stack's steps in one line: {text}"
    );
    // The whole of it, for the message: the same bytes on a screen tall enough to hold them.
    let mut tall = vt100::Parser::new(size(1000), size(100), 0);
    tall.process(&raw);
    let all: Vec<String> = tall.screen().rows(0, 100).collect();
    // 60 lines for the lab, and a few for the drill's timeline at the end (issue 35).
    assert!(
        lines <= 66,
        "{lines} lines on the terminal:\n{}",
        all.join("\n").trim_end()
    );
}

/// The lab asks cargo where it put the binary (so `CARGO_TARGET_DIR` works) rather than assuming
/// `target/debug`: here cargo is a stand-in that reports, as its artifact, a wrapper of the test
/// binary that leaves a mark when it is run, with `CARGO_TARGET_DIR` pointing somewhere else.
#[test]
fn the_lab_runs_the_binary_cargo_reports_wherever_the_target_dir_is() {
    use std::os::unix::fs::PermissionsExt as _;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("lab-state");
    let tools = home.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    let mark = home.path().join("ran");
    let wrapper = tools.join("runbook");
    let cargo = tools.join("cargo");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ntouch '{}'\nexec '{BIN}' \"$@\"\n",
            mark.display()
        ),
    )
    .unwrap();
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\n[ \"$1\" = build ] || exit 1\necho '{{\"reason\":\"compiler-artifact\",\"target\":{{\"name\":\"runbook\",\"kind\":[\"bin\"]}},\"executable\":\"{}\"}}'\n",
            wrapper.display()
        ),
    )
    .unwrap();
    for tool in [&wrapper, &cargo] {
        std::fs::set_permissions(tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = lab(&state, home.path(), &["--yes"]);
    cmd.env_remove("RUNBOOK_BIN")
        .env("CARGO_TARGET_DIR", home.path().join("elsewhere"))
        .env(
            "PATH",
            format!("{}:{}", tools.display(), std::env::var("PATH").unwrap()),
        );
    let out = cmd.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("Rollback complete"), "{stderr}");
    assert!(
        mark.exists(),
        "the binary cargo reported is the one that ran"
    );
}

/// Without escape codes, `\r` or the spinner's erased lines.
fn screen_lines(text: &str) -> Vec<String> {
    strip(text)
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect()
}

/// A block a learner copies from must paste: at 80 columns no line cuts a `command` in two (an
/// odd number of backticks) or a name at its hyphen.
fn assert_pastes(what: &str, block: &str) {
    for line in screen_lines(block) {
        assert!(
            line.matches('`').count() % 2 == 0,
            "{what}: a command is cut at the line's end: {line:?}\n{block}"
        );
        assert!(
            !line.trim_end().ends_with('-'),
            "{what}: a name is cut at its hyphen: {line:?}\n{block}"
        );
    }
}

/// What the terminal shows until `what`.
fn upto<S: expectrl::Expect>(session: &mut S, what: &str) -> String {
    let found = session
        .expect(what)
        .unwrap_or_else(|e| panic!("waiting for {what:?}: {e}"));
    String::from_utf8_lossy(found.before()).into_owned()
}

/// The lab's AWS CLI, pointed at its emulator, as the learner runs it.
fn learner_cli(cli: &str, endpoint: &str, home: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(cli)
        .args(args)
        .args(["--endpoint-url", endpoint])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "ap-south-1")
        .env("HOME", home)
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the AWS CLI runs");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "aws {args:?}: {stderr}");
    stdout
}

/// `scripts/lab --exercise` in an 80-column terminal, as a learner goes through it: it installs
/// the AWS CLI into its own virtualenv and prints the form that points it at the lab's emulator;
/// the infrastructure is built without a question until the first exercise; each task gives what
/// it asks for (the load balancer's DNS name and hosted zone id, a change batch file to fill in)
/// in lines that paste; the drill is done by hand with the command the task prints, and the
/// failover time is Route 53's, from when the instances stopped, not from a keypress. Without a
/// terminal it is refused.
#[test]
fn the_exercise_lab_gives_what_it_asks_for_in_commands_that_paste() {
    use expectrl::Expect as _;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("lab-state");
    let out = lab(&state, home.path(), &["--exercise"]).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--exercise needs you at a terminal"),
        "{stderr}"
    );

    let mut cmd = lab(
        &state,
        home.path(),
        &["--exercise", "--", "--var", "domain=lab.example.com"],
    );
    cmd.env("COLUMNS", "80")
        .env("LINES", "40")
        .stdin(Stdio::inherit());
    let mut session = expectrl::Session::spawn(cmd).expect("a pseudo-terminal");
    session.get_process_mut().set_window_size(80, 40).unwrap();
    session.set_expect_timeout(Some(std::time::Duration::from_secs(300)));
    let found = session
        .expect(expectrl::Regex(r"alias aws='(\S+) --endpoint-url (\S+)'"))
        .expect("the AWS CLI's form");
    let cli = String::from_utf8_lossy(found.get(1).unwrap()).into_owned();
    let endpoint = String::from_utf8_lossy(found.get(2).unwrap()).into_owned();
    let intro = screen_lines(&upto(&mut session, "Start?"))
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        intro.contains("You do 3 of them yourself")
            && intro.contains("Create the PRIMARY failover record"),
        "the introduction says which steps are the learner's:\n{intro}"
    );
    session.send_line("y").unwrap();

    // One keypress (the `y` above) reaches the first exercise: nothing asks on the way.
    let before = upto(&mut session, "Exercise, step");
    assert!(
        !before.contains("[q]uit"),
        "a step asked before the first exercise:\n{before}"
    );
    let primary = upto(&mut session, "[q]uit?");
    assert_pastes("the PRIMARY task", &primary);
    let described = learner_cli(
        &cli,
        &endpoint,
        home.path(),
        &[
            "elbv2",
            "describe-load-balancers",
            "--names",
            "lab-primary-alb",
            "--query",
            "LoadBalancers[0].[DNSName,CanonicalHostedZoneId]",
            "--output",
            "text",
        ],
    );
    let mut words = described.split_whitespace();
    let (dns_name, lb_zone) = (words.next().unwrap(), words.next().unwrap());
    let flat = screen_lines(&primary).join(" ");
    assert!(
        flat.contains(dns_name) && flat.contains(lb_zone),
        "the task gives the load balancer's DNS name {dns_name} and zone id {lb_zone}:\n{primary}"
    );
    let file = regex::Regex::new(r"file://(/\S+?\.json)")
        .unwrap()
        .captures(&flat)
        .map_or_else(
            || panic!("the command names a change batch file:\n{primary}"),
            |c| c[1].to_owned(),
        );
    let batch = std::fs::read_to_string(&file).expect("the change batch file is written");
    assert!(
        batch.contains("___") && batch.contains("PRIMARY"),
        "a skeleton with blanks:\n{batch}"
    );
    assert!(
        learner_cli(
            &cli,
            &endpoint,
            home.path(),
            &["route53", "list-hosted-zones"]
        )
        .contains("lab.example.com"),
        "the learner's CLI sees the lab's zone"
    );

    // A hint, then the runbook solves it; what it did is shown as commands that paste too.
    session.send_line("h").unwrap();
    let hint = upto(&mut session, "[q]uit?");
    assert!(hint.contains("2 left"), "{hint}");
    assert_pastes("a hint", &hint);
    session.send_line("s").unwrap();
    let solved = upto(&mut session, "Exercise, step");
    assert!(solved.contains("By hand"), "{solved}");
    assert_pastes("the PRIMARY record by hand", &solved);
    let secondary = upto(&mut session, "[q]uit?");
    assert_pastes("the SECONDARY task", &secondary);
    session.send_line("s").unwrap();

    // The waits and checks between the records and the drill are explained, not asked about.
    let drill = upto(&mut session, "[q]uit?");
    assert!(
        drill.contains("Exercise, step"),
        "only the exercises ask:\n{drill}"
    );
    // The drill, by hand: the command exactly as the task prints it.
    assert!(drill.contains("Failover drill"), "{drill}");
    assert_pastes("the drill", &drill);
    let command = regex::Regex::new(r"`aws (ec2 stop-instances [^`]+)`")
        .unwrap()
        .captures(&screen_lines(&drill).join(" "))
        .map_or_else(
            || panic!("the drill gives its command:\n{drill}"),
            |c| c[1].to_owned(),
        );
    let args: Vec<&str> = command.split_whitespace().collect();
    learner_cli(&cli, &endpoint, home.path(), &args);
    // The runbook watches for it and goes on by itself: the learner, who waits 5 s before
    // looking, is asked nothing more (the waits and checks after it only read), and the failover
    // time counts from when EC2 stopped the instances.
    std::thread::sleep(std::time::Duration::from_secs(5));
    upto(&mut session, "Seen:");
    let found = session
        .expect(expectrl::Regex(r"\[q\]uit\?|failover_seconds\D+(\d+)"))
        .expect("the drill's time");
    let seconds: u64 = String::from_utf8_lossy(
        found
            .get(1)
            .expect("no question between the drill and the run's outputs"),
    )
    .parse()
    .unwrap();
    assert!(
        seconds < 5,
        "Route 53's time from the stop, not the learner's: {seconds} s"
    );
    upto(&mut session, "[y/N]");
    session.send_line("y").unwrap();
    upto(&mut session, "Rollback complete");
    session.expect(expectrl::Eof).expect("the lab ends");
    assert!(!state.join("emulator").exists(), "the emulator was stopped");
}

/// Quitting an exercise lab keeps it, to resume; `--stop` ends it and its emulator.
#[test]
fn a_quit_exercise_lab_is_kept_to_resume_and_stopped() {
    use expectrl::Expect as _;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("lab-state");
    let mut cmd = lab(
        &state,
        home.path(),
        &["--exercise", "--", "--var", "domain=lab.example.com"],
    );
    cmd.env("COLUMNS", "120").stdin(Stdio::inherit());
    let mut session = expectrl::Session::spawn(cmd).expect("a pseudo-terminal");
    session.set_expect_timeout(Some(std::time::Duration::from_secs(300)));
    session.expect("Start?").expect("the walkthrough");
    session.send_line("y").unwrap();
    session.expect("[q]uit?").expect("the first exercise");
    session.send_line("q").unwrap();
    session.expect("[y/N]").expect("whether to roll back");
    session.send_line("n").unwrap();
    session
        .expect("scripts/lab --resume")
        .expect("how to come back");
    session.expect(expectrl::Eof).expect("the lab ends");
    let out = lab(&state, home.path(), &["--stop"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(!state.join("emulator").exists(), "the emulator was stopped");
}
