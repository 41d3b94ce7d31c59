//! The guided walkthrough, driven as a person would: the real binary on a pseudo-terminal
//! (expectrl), answering its questions, against the emulator. What the screen shows is checked at
//! each point, and the emulator is checked through the SDK at the end.

use std::process::Command;
use std::time::Duration;

use expectrl::{Eof, Expect, Regex, Session};

use crate::emulator::{Emulator, isolate};
use crate::test::{BIN, root, strip};

/// The screen so far, as text (escape codes and carriage returns left in).
struct Screen {
    session: expectrl::session::OsSession,
    seen: String,
}

impl Screen {
    fn start(dir: &std::path::Path, args: &[&str]) -> Screen {
        Screen::spawn(Screen::command(dir, args), 90)
    }

    /// The binary in `dir`, 120 columns wide, only ever talking to the emulator.
    fn command(dir: &std::path::Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).current_dir(dir).env("COLUMNS", "120");
        isolate(&mut cmd, dir);
        cmd
    }

    /// A session whose test actions keep their store in `dir/store`.
    fn start_in(dir: &std::path::Path, args: &[&str]) -> Screen {
        let mut cmd = Screen::command(dir, args);
        cmd.env("RUNBOOK_TEST_STORE", dir.join("store"));
        Screen::spawn(cmd, 90)
    }

    fn spawn(cmd: Command, timeout_secs: u64) -> Screen {
        let mut session = Session::spawn(cmd).expect("a pseudo-terminal");
        session.set_expect_timeout(Some(Duration::from_secs(timeout_secs)));
        Screen {
            session,
            seen: String::new(),
        }
    }

    /// Wait for `text`; what came before it is kept in `seen`.
    fn expect(&mut self, text: &str) -> String {
        match self.session.expect(text) {
            Ok(found) => {
                let before = String::from_utf8_lossy(found.before()).into_owned();
                self.seen.push_str(&before);
                self.seen.push_str(text);
                before
            }
            Err(e) => panic!(
                "waiting for {text:?}: {e}\n--- the screen so far ---\n{}",
                self.seen
            ),
        }
    }

    /// Wait for the next step header; its number and title.
    fn next_step(&mut self) -> (usize, String) {
        let found = self
            .session
            .expect(Regex(r"Step (\d+) of \d+: ([^\r\n]+)"))
            .unwrap_or_else(|e| panic!("waiting for a step: {e}\n{}", self.seen));
        self.seen.push_str(&String::from_utf8_lossy(found.before()));
        let all = String::from_utf8_lossy(found.get(0).unwrap()).into_owned();
        self.seen.push_str(&all);
        let number = String::from_utf8_lossy(found.get(1).unwrap())
            .parse()
            .unwrap();
        let title = strip(&String::from_utf8_lossy(found.get(2).unwrap()));
        (number, title)
    }

    /// Wait for the walkthrough's question, then answer it.
    fn choose(&mut self, answer: &str) {
        self.expect("[q]uit?");
        self.session.send_line(answer).unwrap();
    }

    fn line(&mut self, text: &str) {
        self.session.send_line(text).unwrap();
    }

    /// Everything up to the end of the output (the pty reports EIO when the child is gone).
    fn finish(mut self) -> String {
        if let Ok(found) = self.session.expect(Eof) {
            self.seen.push_str(&String::from_utf8_lossy(found.before()));
        } else {
            use std::io::Read as _;
            let mut rest = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = self.session.read(&mut buf) {
                if n == 0 {
                    break;
                }
                rest.extend_from_slice(&buf[..n]);
            }
            self.seen.push_str(&String::from_utf8_lossy(&rest));
        }
        self.seen
    }
}

/// Everything the emulator holds that a lab creates.
fn leftovers(emulator: &Emulator) -> (usize, usize, usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let vpcs = emulator
            .ec2()
            .describe_vpcs()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag-key")
                    .values("runbook:run")
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .vpcs()
            .len();
        let lbs = emulator
            .elbv2()
            .describe_load_balancers()
            .send()
            .await
            .unwrap()
            .load_balancers()
            .len();
        let zones = emulator
            .route53()
            .list_hosted_zones()
            .send()
            .await
            .unwrap()
            .hosted_zones()
            .len();
        (vpcs, lbs, zones)
    })
}

fn failover_args(emulator: &Emulator) -> Vec<String> {
    vec![
        "run".into(),
        root()
            .join("runbooks/route53-failover.yaml")
            .display()
            .to_string(),
        "--endpoint-url".into(),
        emulator.url.clone(),
    ]
}

/// The failover lab for lab.example.com on a terminal, its introduction answered: at its first
/// step.
fn started_lab(emulator: &Emulator, dir: &std::path::Path) -> Screen {
    let mut args = failover_args(emulator);
    args.extend(["--var".into(), "domain=lab.example.com".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut screen = Screen::start(dir, &args);
    screen.expect("Start?");
    screen.line("y");
    screen
}

/// A newcomer's session: a wrong domain then a right one, the introduction with its cost, a few
/// steps with their guide, parameters and AWS CLI commands, an explanation, a skipped step, then
/// quit and roll back: the emulator ends as it began.
#[test]
fn a_guided_run_explains_each_step_and_quitting_rolls_back() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let args = failover_args(&emulator);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut screen = Screen::start(dir.path(), &args);

    screen.expect("Which domain should the failover site answer on?");
    screen.line("Not A Domain");
    // Said in words, not as a regular expression.
    screen.expect("is not a domain name: it has no dot");
    // Case does not matter and a final dot is dropped.
    screen.line("Lab.Example.com.");
    let intro = strip(&screen.expect("Start?"));
    assert!(
        intro.contains("Route 53 failover between two load-balanced web stacks"),
        "{intro}"
    );
    assert!(intro.contains("domain: lab.example.com"), "{intro}");
    assert!(intro.contains("2 × VPC, 4 × subnet"), "{intro}");
    assert!(intro.contains("costs about US$"), "{intro}");
    screen.line("y");

    // Step 1: the zone, before anything that costs money (a name Route 53 refuses fails here).
    let (n, title) = screen.next_step();
    assert_eq!(
        (n, title.as_str()),
        (1, "Find or create the hosted zone lab.example.com")
    );
    screen.choose("");

    // Step 2: read its explanation, then run it.
    let (n, title) = screen.next_step();
    assert_eq!(
        (n, title.as_str()),
        (2, "Find the latest Amazon Linux 2023 image")
    );
    let shown = strip(&screen.expect("[q]uit?"));
    assert!(
        shown.contains("Every EC2 instance starts from an Amazon Machine Image"),
        "guide: {shown}"
    );
    assert!(
        shown.contains("$ aws ec2 describe-images --region ap-south-1 --endpoint-url http://")
            && shown.contains(" --owners amazon"),
        "CLI: {shown}"
    );
    screen.line("e");
    let explained = strip(&screen.expect("[q]uit?"));
    assert!(
        explained.contains("runbook actions aws.ec2.find_image"),
        "{explained}"
    );
    screen.line("");

    // Step 3: the zones, asked of the account rather than guessed by letter.
    let (n, title) = screen.next_step();
    assert_eq!(
        (n, title.as_str()),
        (
            3,
            "Pick two availability zones that offer the web servers' instance type"
        )
    );
    let explained = strip(&screen.expect("[q]uit?"));
    assert!(explained.contains("Zone letters"), "{explained}");
    screen.line("");

    // Step 4: the VPC, its parameters and commands; it runs and says what it created.
    let (n, title) = screen.next_step();
    assert_eq!(
        (n, title.as_str()),
        (4, "Create the primary VPC (10.0.0.0/16)")
    );
    let shown = strip(&screen.expect("[q]uit?"));
    assert!(shown.contains("cidr: 10.0.0.0/16"), "{shown}");
    assert!(
        shown.contains("$ VPC_ID=$(aws ec2 create-vpc --region ap-south-1 --endpoint-url http://")
            && shown.contains(" --cidr-block 10.0.0.0/16"),
        "{shown}"
    );
    assert!(shown.contains("Rollback deletes the VPC."), "{shown}");
    screen.line("r");
    screen.expect("created vpc vpc-");

    // On through the stacks (the registrar step is skipped on the emulator, its zone being on
    // no internet); quit before the first record.
    loop {
        let (_, title) = screen.next_step();
        assert_ne!(title, "Point the domain at Route 53");
        if title.starts_with("Create the PRIMARY failover record") {
            screen.choose("q");
            break;
        }
        screen.choose("");
    }
    screen.expect("Roll it back now?");
    screen.line("y");
    screen.expect("Rollback complete");
    let all = strip(&screen.finish());
    assert!(
        all.contains("Step 31 of 47"),
        "one step at a time, in order"
    );
    assert_eq!(leftovers(&emulator), (0, 0, 0), "nothing is left:\n{all}");
}

/// Answering every question runs the whole failover lab, one step at a time, and ends with what
/// exists, what to try next and how to roll back.
#[test]
fn a_guided_run_answered_throughout_completes_the_failover_lab() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let mut screen = started_lab(&emulator, dir.path());
    let mut last = 0;
    let mut offered = 0;
    loop {
        let found = screen
            .session
            .expect(Regex(
                r"Step (\d+) of 47: ([^\r\n]+)|To remove them: \S*runbook rollback",
            ))
            .unwrap_or_else(|e| panic!("{e}\n{}", screen.seen));
        let text = String::from_utf8_lossy(found.get(0).unwrap()).into_owned();
        screen
            .seen
            .push_str(&String::from_utf8_lossy(found.before()));
        screen.seen.push_str(&text);
        if text.starts_with("To remove them") {
            break;
        }
        let n: usize = String::from_utf8_lossy(found.get(1).unwrap())
            .parse()
            .unwrap();
        let title = strip(&String::from_utf8_lossy(found.get(2).unwrap()));
        assert!(
            n > last,
            "steps come one at a time, in order: {n} after {last}"
        );
        last = n;
        offered += 1;
        let shown = strip(&screen.expect("[q]uit?"));
        if title.starts_with("Failover drill") {
            assert!(
                shown.contains("Stop the primary web servers to test failover?"),
                "{shown}"
            );
            // The by-hand command runs as shown: it goes where the run goes.
            assert!(
                shown.contains(&format!(
                    "$ aws ec2 stop-instances --region ap-south-1 --endpoint-url {} --instance-ids i-",
                    emulator.url
                )),
                "{shown}"
            );
        }
        screen.line("");
    }
    let end = strip(&screen.seen);
    assert!(end.contains("Run succeeded"), "{end}");
    assert!(
        end.contains("Route 53 answers lab.example.com with the SECONDARY record"),
        "{end}"
    );
    assert!(end.contains("What exists now"), "{end}");
    assert!(
        end.contains("stop_primary: Failover drill: stop the primary web servers stopping i-"),
        "the spinner shows the running step's status: {end}"
    );
    assert!(end.contains("What to try next"), "{end}");
    assert!(
        end.contains(&format!("To remove them: {BIN} rollback")),
        "the command as it must be typed here: {end}"
    );
    assert_eq!(
        offered,
        47 - 6,
        "all steps but the six skipped on the emulator (the registrar, the two page loads, the three of the failback, which is off) were offered"
    );
    assert!(
        end.contains("skipped: the emulator has no data plane"),
        "{end}"
    );
}

/// Without a terminal the same run never asks and writes no escape codes.
#[test]
fn without_a_terminal_nothing_is_asked_and_no_escape_codes_are_written() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(failover_args(&emulator))
        .args(["--var", "domain=lab.example.com", "--yes"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null());
    isolate(&mut cmd, dir.path());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let all = [out.stdout, out.stderr].concat();
    assert!(!all.contains(&0x1b), "no escape codes");
    let text = String::from_utf8_lossy(&all);
    assert!(
        !text.contains("[q]uit?"),
        "no walkthrough without a terminal"
    );
    assert!(
        text.contains("start primary.vpc: Create the primary VPC (10.0.0.0/16)"),
        "{text}"
    );
}

/// An unfinished run of the same runbook is offered for resume before a new one starts.
#[test]
fn a_guided_run_offers_to_resume_an_unfinished_run_of_the_same_runbook() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = root().join("runbooks/examples/resume.yaml");
    let runbook = runbook.to_str().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "run",
        runbook,
        "--yes",
        "--var",
        "ready=false",
        "--on-failure",
        "keep",
    ])
    .current_dir(dir.path())
    .stdin(std::process::Stdio::null());
    isolate(&mut cmd, dir.path());
    assert_eq!(
        cmd.output().unwrap().status.code(),
        Some(1),
        "the first run stops at its check"
    );

    let mut screen = Screen::start(dir.path(), &["run", runbook, "--var", "ready=true"]);
    // A question longer than the terminal is wrapped at words above its `[Y/n]`.
    let question = strip(&screen.expect("[Y/n]"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        question.contains("is unfinished (failed, 1 of 3 steps done")
            && question.contains("Resume it instead of starting a new run?"),
        "{question}"
    );
    screen.line("y");
    screen.expect("Resuming");
    screen.choose("");
    screen.choose("");
    screen.expect("Run succeeded");
}

/// `run rb.yaml` on a terminal in `dir`, `rb.yaml` being `runbook` (test actions, their store in
/// `dir/store`).
fn test_actions_run(dir: &std::path::Path, runbook: &str) -> Screen {
    std::fs::write(dir.join("rb.yaml"), runbook).unwrap();
    std::fs::create_dir(dir.join("store")).unwrap();
    let mut cmd = Screen::command(dir, &["run", "rb.yaml"]);
    cmd.env("RUNBOOK_TEST_STORE", dir.join("store"));
    Screen::spawn(cmd, 60)
}

/// A step that fails in the walkthrough shows the error and offers to try it again; trying again
/// (the cause gone) finishes the run.
#[test]
fn a_failed_step_can_be_tried_again_in_the_walkthrough() {
    let dir = tempfile::tempdir().unwrap();
    let mut screen = test_actions_run(
        dir.path(),
        "runbook: 1\nname: Flaky\nsteps:\n  - {id: flaky, name: Make the flaky thing, action: test.create, with: {name: flaky, fail_attempts: 1}}\n",
    );
    screen.expect("Start?");
    screen.line("y");
    screen.choose("");
    let failed = strip(&screen.expect("Try it again (after fixing the cause)?"));
    assert!(
        failed.contains("attempt 1 failed on purpose"),
        "the error is shown: {failed}"
    );
    screen.line("y");
    screen.expect("Run succeeded");
    assert!(dir.path().join("store/flaky.resource").exists());
}

/// Every question takes a whole answer ended with Enter: `n⏎` answers "try again?" and the
/// Enter does not answer the next question, which is still asked; a question whose yes destroys
/// something (rolling back) defaults to no.
#[test]
fn a_whole_answer_answers_one_question_and_destructive_ones_default_to_no() {
    let dir = tempfile::tempdir().unwrap();
    let mut screen = test_actions_run(
        dir.path(),
        "runbook: 1\nname: Broken\nsteps:\n  - {id: made, name: Make a thing, action: test.create, with: {name: kept}}\n  - {id: extra, name: Make an extra thing, action: test.create, with: {name: extra}, needs: [made]}\n  - {id: broken, name: Make the broken thing, action: test.create, with: {name: broken, fail_attempts: 9}, needs: [made]}\n",
    );
    screen.expect("Start? [Y/n]");
    screen.line("y");
    // The `y⏎` started the walkthrough and nothing more: the first step is still shown and asked.
    screen.choose("");
    // A step nothing depends on can be skipped.
    let shown = strip(&screen.expect("[q]uit?"));
    assert!(
        shown.contains("Make an extra thing") && shown.contains("[s]kip it"),
        "{shown}"
    );
    screen.line("s");
    screen.expect("(skipped: you chose to skip it)");
    screen.choose("");
    screen.expect("Try it again (after fixing the cause)? [Y/n]");
    screen.line("n");
    let asked = strip(&screen.expect("Roll it back now? [y/N]"));
    assert!(
        asked.contains("test resource"),
        "what would go is listed: {asked}"
    );
    // Enter alone takes the default, which keeps everything.
    screen.line("");
    screen.expect("Kept everything this run created.");
    screen.expect("To undo it: ");
    assert!(
        dir.path().join("store/kept.resource").exists(),
        "nothing was rolled back without a yes"
    );
}

/// A class on a terminal: one question for the whole class, a live line per student while the
/// labs run, the table at the end; `rollback --class` asks once and leaves nothing.
#[test]
fn a_class_on_a_terminal_shows_a_line_per_student_and_a_table() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("students.csv"),
        "student,domain\nalice,alice.class.example\nbob,bob.class.example\n",
    )
    .unwrap();
    let runbook = root().join("runbooks/route53-failover.yaml");
    let mut screen = Screen::start(
        dir.path(),
        &[
            "run",
            runbook.to_str().unwrap(),
            "--class",
            "pty",
            "--each",
            "students.csv",
            "--var",
            "zone=class.example",
            "--endpoint-url",
            &emulator.url,
        ],
    );
    screen.expect("Quotas in ap-south-1 (the emulator: it enforces none) for 2 new labs:");
    screen.expect("Set up 2 labs for class pty?");
    screen.line("y");
    screen.expect("STUDENT");
    screen.expect(&format!(
        "To remove every lab of the class: {BIN} rollback --class pty"
    ));
    let seen = strip(&screen.finish());
    let lines: Vec<&str> = seen.lines().collect();
    for s in ["alice", "bob"] {
        assert!(
            lines.iter().any(|l| l.contains(&format!("{s} "))
                && l.contains("running")
                && l.contains("/47 done")),
            "a live line for {s} while it runs:\n{seen}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with(s)
                && l.contains("succeeded")
                && l.contains(".class.example/")),
            "{s} in the final table:\n{seen}"
        );
    }
    assert!(seen.contains("STUDENT"), "{seen}");
    assert!(seen.contains("runbook rollback --class pty"), "{seen}");
    assert!(
        !seen.contains("[alice]"),
        "a terminal gets live lines, not log lines"
    );

    let mut screen = Screen::start(
        dir.path(),
        &[
            "rollback",
            "--class",
            "pty",
            "--endpoint-url",
            &emulator.url,
        ],
    );
    screen.expect("Class pty: roll back 2 labs");
    // Destructive: the default is no, so it takes an explicit yes.
    screen.expect("[y/N]");
    screen.line("y");
    screen.expect("Class pty is rolled back");
    let seen = strip(&screen.finish());
    assert_eq!(leftovers(&emulator), (0, 0, 0), "nothing left:\n{seen}");
    // The same live line per student as the class run, then a table.
    assert!(
        seen.lines()
            .any(|l| l.contains("alice") && l.contains("undone")),
        "{seen}"
    );
    assert!(seen.contains("STUDENT  RESULT"), "{seen}");
}

/// `--take-over` on a terminal asks before taking a run whose lease another process holds:
/// "no" leaves it (exit 2, naming the holder); "yes" takes it and the run finishes.
#[test]
fn taking_over_a_live_lease_asks_first_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(emulator.create_bucket("team-state"));
    std::fs::write(
        dir.path().join("slow.yaml"),
        "runbook: 1\nname: Slow\nsteps:\n  - {id: a, action: test.create, with: {name: a}}\n  - {id: b, action: test.create, needs: [a], with: {name: b, sleep: 3s}}\n",
    )
    .unwrap();
    let common = [
        "--state-dir",
        "s3://team-state/labs",
        "--endpoint-url",
        &emulator.url,
        "--region",
        crate::emulator::REGION,
    ];
    // A run killed in its second step keeps its 2-minute lease.
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "slow.yaml", "--yes"])
        .args(common)
        .current_dir(dir.path())
        .env("RUNBOOK_TEST_STORE", dir.path().join("store"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    isolate(&mut cmd, dir.path());
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !dir.path().join("store/a.resource").exists() {
        assert!(std::time::Instant::now() < deadline, "step a never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();

    let asked = |screen: &mut Screen| {
        let asked = strip(&screen.expect("[y/N]"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            asked.contains("is driven by")
                && asked.contains("(pid ")
                && asked.contains("Take it over?"),
            "names the holder: {asked}"
        );
    };
    let mut args = vec!["resume", "--take-over", "--no-guide"];
    args.extend(common);
    let mut screen = Screen::start_in(dir.path(), &args);
    asked(&mut screen);
    screen.line("n");
    // No: refused, naming the holder again; nothing more is done.
    screen.expect("error");
    screen.expect("is driven by");
    screen.expect("wait for its lease to expire");
    assert!(!dir.path().join("store/b.resource").exists());

    let mut screen = Screen::start_in(dir.path(), &args);
    asked(&mut screen);
    screen.line("y");
    screen.expect("Took over run");
    screen.expect("Run succeeded");
    assert!(dir.path().join("store/b.resource").exists());
}

/// The learner's hand in the emulator, through the SDK: what a person would click in the console.
struct Learner<'e> {
    emulator: &'e Emulator,
    rt: tokio::runtime::Runtime,
    /// Where the primary and the secondary stacks are.
    regions: [&'static str; 2],
}

impl Learner<'_> {
    fn zone_id(&self) -> String {
        self.rt.block_on(async {
            let zones = self
                .emulator
                .route53()
                .list_hosted_zones_by_name()
                .dns_name("lab.example.com")
                .send()
                .await
                .unwrap();
            zones.hosted_zones()[0]
                .id()
                .trim_start_matches("/hostedzone/")
                .to_owned()
        })
    }

    /// The load balancer a record should point at: its DNS name and canonical zone id, read in
    /// its stack's region.
    fn balancer(&self, name: &str) -> (String, String) {
        let region = self.regions[usize::from(name.contains("secondary"))];
        self.rt.block_on(async {
            let out = self
                .emulator
                .elbv2_in(region)
                .describe_load_balancers()
                .names(name)
                .send()
                .await
                .unwrap();
            let lb = &out.load_balancers()[0];
            (
                lb.dns_name().unwrap().to_owned(),
                lb.canonical_hosted_zone_id().unwrap().to_owned(),
            )
        })
    }

    /// Create or delete the failover record `lab.example.com A` with this set identifier.
    fn record(
        &self,
        action: aws_sdk_route53::types::ChangeAction,
        set_id: &str,
        role: aws_sdk_route53::types::ResourceRecordSetFailover,
        balancer: &str,
    ) {
        use aws_sdk_route53::types::{AliasTarget, Change, ChangeBatch, ResourceRecordSet, RrType};
        let zone = self.zone_id();
        let (dns, lb_zone) = self.balancer(balancer);
        let set = ResourceRecordSet::builder()
            .name("lab.example.com.")
            .r#type(RrType::A)
            .set_identifier(set_id)
            .failover(role)
            .alias_target(
                AliasTarget::builder()
                    .dns_name(dns)
                    .hosted_zone_id(lb_zone)
                    .evaluate_target_health(true)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        self.rt.block_on(async {
            self.emulator
                .route53()
                .change_resource_record_sets()
                .hosted_zone_id(zone)
                .change_batch(
                    ChangeBatch::builder()
                        .changes(
                            Change::builder()
                                .action(action)
                                .resource_record_set(set)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        });
    }

    /// Stop the primary stack's web servers, as the drill asks.
    fn stop_primary(&self) -> Vec<String> {
        self.rt.block_on(async {
            let out = self
                .emulator
                .ec2_in(self.regions[0])
                .describe_instances()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("tag:Name")
                        .values("lab-primary-web")
                        .build(),
                )
                .send()
                .await
                .unwrap();
            let ids: Vec<String> = out
                .reservations()
                .iter()
                .flat_map(aws_sdk_ec2::types::Reservation::instances)
                .filter_map(|i| i.instance_id().map(str::to_owned))
                .collect();
            self.emulator
                .ec2_in(self.regions[0])
                .stop_instances()
                .set_instance_ids(Some(ids.clone()))
                .send()
                .await
                .unwrap();
            ids
        })
    }

    fn records(&self) -> usize {
        self.rt.block_on(async {
            let zones = self
                .emulator
                .route53()
                .list_hosted_zones()
                .send()
                .await
                .unwrap();
            let mut n = 0;
            for z in zones.hosted_zones() {
                let sets = self
                    .emulator
                    .route53()
                    .list_resource_record_sets()
                    .hosted_zone_id(z.id())
                    .send()
                    .await
                    .unwrap();
                n += sets
                    .resource_record_sets()
                    .iter()
                    .filter(|s| s.set_identifier().is_some())
                    .count();
            }
            n
        })
    }
}

/// The failover lab as an exercise (issue 19's session): the learner makes the PRIMARY record
/// with the wrong role (the check names the difference), deletes it and makes it right (adopted),
/// makes the SECONDARY record wrong, asks for a hint and then a solve (the runbook writes it in
/// place of the learner's attempt), stops the primary itself for the
/// drill (checked), and the rollback leaves the emulator as it was, the records made by hand
/// included.
#[test]
fn an_exercise_run_checks_what_the_learner_made_and_rollback_removes_it() {
    use aws_sdk_route53::types::{ChangeAction, ResourceRecordSetFailover as Role};
    let emulator = Emulator::start();
    let learner = Learner {
        emulator: &emulator,
        rt: tokio::runtime::Runtime::new().unwrap(),
        regions: [crate::emulator::REGION; 2],
    };
    let before = (leftovers(&emulator), learner.records());
    let dir = tempfile::tempdir().unwrap();
    let mut args = failover_args(&emulator);
    args.extend([
        "--var".into(),
        "domain=lab.example.com".into(),
        "--exercise".into(),
        "--junit".into(),
        "report.xml".into(),
        "--events".into(),
        "events.jsonl".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut screen = Screen::start(dir.path(), &args);
    screen.expect("Start?");
    screen.line("y");
    let mut exercises = Vec::new();
    loop {
        let found = screen
            .session
            .expect(Regex(
                r"(Exercise, step|Step) (\d+) of 47: ([^\r\n]+)|To remove them: \S*runbook rollback",
            ))
            .unwrap_or_else(|e| panic!("{e}\n{}", screen.seen));
        let text = strip(&String::from_utf8_lossy(found.get(0).unwrap()));
        screen
            .seen
            .push_str(&String::from_utf8_lossy(found.before()));
        screen.seen.push_str(&text);
        if text.starts_with("To remove them") {
            break;
        }
        if !text.starts_with("Exercise") {
            // After the first exercise the waits and checks are explained and just run: only
            // the exercises ask (the failover lab has no other step that makes something then).
            continue;
        }
        let title = strip(&String::from_utf8_lossy(found.get(3).unwrap()));
        exercises.push(title.clone());
        let task = strip(&screen.expect("[q]uit?"));
        if title.starts_with("Create the PRIMARY") {
            assert!(task.contains("Your task:"), "{task}");
            let words = task.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(words.contains("record ID lab-primary"), "{task}");
            // Its command goes where the run's calls go: the emulator, not an account.
            assert!(
                words.contains(&format!(
                    "aws route53 change-resource-record-sets --endpoint-url {} --hosted-zone-id",
                    emulator.url
                )),
                "{task}"
            );
            learner.record(
                ChangeAction::Create,
                "lab-primary",
                Role::Secondary,
                "lab-primary-alb",
            );
            screen.line("");
            let checked = strip(&screen.expect("[q]uit?"));
            assert!(
                checked
                    .contains("the record's failover role is SECONDARY; this step needs PRIMARY"),
                "{checked}"
            );
            learner.record(
                ChangeAction::Delete,
                "lab-primary",
                Role::Secondary,
                "lab-primary-alb",
            );
            learner.record(
                ChangeAction::Create,
                "lab-primary",
                Role::Primary,
                "lab-primary-alb",
            );
            screen.line("");
            screen.expect("made by hand: checked and adopted");
        } else if title.starts_with("Create the SECONDARY") {
            // A wrong attempt at the step's place (the primary's load balancer), then the solve:
            // the runbook writes the record in its place, and rollback removes it.
            learner.record(
                ChangeAction::Create,
                "lab-secondary",
                Role::Secondary,
                "lab-primary-alb",
            );
            screen.line("");
            let checked = strip(&screen.expect("[q]uit?"));
            assert!(
                checked.contains(
                    "the alias points at lab-primary-alb; it should point at lab-secondary-alb"
                ),
                "{checked}"
            );
            screen.line("h");
            let hint = strip(&screen.expect("[q]uit?"));
            assert!(hint.contains("Hint 1 of 3:"), "{hint}");
            screen.line("s");
            let solved = strip(&screen.expect("lab-secondary"));
            assert!(solved.contains("The runbook does it now"), "{solved}");
            assert!(
                solved.contains("aws route53 change-resource-record-sets"),
                "the CLI commands it used: {solved}"
            );
        } else {
            assert!(title.starts_with("Failover drill"), "{title}");
            assert!(task.contains("aws ec2 stop-instances"), "{task}");
            assert!(task.contains("watches for it"), "{task}");
            let stopped = learner.stop_primary();
            assert!(!stopped.is_empty());
            // No key to press: the run sees the instances stopped by itself and goes on.
            screen.expect("Seen: ");
            screen.expect("made by hand: checked and adopted");
        }
    }
    assert_eq!(
        exercises.len(),
        3,
        "the two records and the drill: {exercises:?}"
    );
    let end = strip(&screen.finish());
    assert!(end.contains("Run succeeded"), "{end}");
    assert!(
        end.contains("Route 53 answers lab.example.com with the SECONDARY record"),
        "{end}"
    );
    // The teacher's view: each exercise is a test case saying how it went.
    let xml = std::fs::read_to_string(dir.path().join("report.xml")).expect("the JUnit report");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    let cases: Vec<(String, String)> = report.test_suites[0]
        .test_cases
        .iter()
        .filter(|c| c.name.starts_with("exercise: "))
        .map(|c| {
            let status = match &c.status {
                quick_junit::TestCaseStatus::Success { .. } => "passed".to_owned(),
                quick_junit::TestCaseStatus::NonSuccess { message, .. } => format!(
                    "failed: {}",
                    message
                        .as_ref()
                        .map(quick_junit::XmlString::as_str)
                        .unwrap_or_default()
                ),
                quick_junit::TestCaseStatus::Skipped { .. } => "skipped".to_owned(),
            };
            (c.name.to_string(), status)
        })
        .collect();
    assert_eq!(cases.len(), 3, "{cases:?}");
    assert_eq!(
        cases[0],
        ("exercise: primary_record".into(), "passed".into())
    );
    assert!(
        cases[1].0 == "exercise: secondary_record"
            && cases[1]
                .1
                .starts_with("failed: solved by the runbook after"),
        "{cases:?}"
    );
    assert_eq!(cases[2], ("exercise: stop_primary".into(), "passed".into()));
    // The same story as data, for a teacher's tooling, while the learner had the terminal.
    let events: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("events.jsonl"))
        .expect("the events file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    // The drill the learner did by hand is measured from the instances' own stop (EC2's reason
    // for their state), which came before the run saw them stopped and Route 53 switched.
    let drill = events
        .iter()
        .find(|e| e["event"] == "drill")
        .expect("the run ends with its drill");
    let at = |name: &str| {
        humantime::parse_rfc3339_weak(drill[name].as_str().unwrap_or_else(|| panic!("{drill}")))
            .unwrap()
    };
    assert!(
        at("stop_requested") <= at("stopped") && at("stopped") <= at("dns_secondary"),
        "{drill}"
    );
    let story: Vec<String> = events
        .iter()
        .filter(|e| {
            e["event"]
                .as_str()
                .is_some_and(|n| n.starts_with("exercise_"))
        })
        .map(|e| {
            let found = e["found"]
                .as_str()
                .map(|f| format!(" {f}"))
                .unwrap_or_default();
            format!(
                "{} {}{found}",
                e["event"].as_str().unwrap(),
                e["step"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        "exercise_shown primary_record",
        "exercise_checked primary_record differs",
        "exercise_checked primary_record matches",
        "exercise_shown secondary_record",
        "exercise_checked secondary_record differs",
        "exercise_hint secondary_record",
        "exercise_solved secondary_record",
        "exercise_checked stop_primary matches",
    ] {
        assert!(
            story.iter().any(|s| s == expected),
            "{expected} in {story:#?}"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "run_finished" && e["status"] == "succeeded"),
        "the run's end too"
    );
    // `runs` says how far the learner came: which exercises were made by hand, which solved.
    let runs = Screen::command(dir.path(), &["runs", "--output", "json"])
        .output()
        .unwrap();
    let listed: serde_json::Value =
        serde_json::from_slice(&runs.stdout).expect("runs --output json");
    assert_eq!(
        listed[0]["exercises"],
        serde_json::json!([
            {"step": "primary_record", "state": "by_hand"},
            {"step": "secondary_record", "state": "solved"},
            {"step": "stop_primary", "state": "by_hand"},
        ]),
        "{listed}"
    );
    assert_eq!(listed[0]["steps_done"], listed[0]["steps"], "{listed}");
    let runs = Screen::command(dir.path(), &["runs"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&runs.stdout)
            .contains("(exercises: 2 by hand, 1 solved by the runbook)"),
        "{}",
        String::from_utf8_lossy(&runs.stdout)
    );
    let mut rollback = Screen::command(
        dir.path(),
        &["rollback", "--yes", "--endpoint-url", &emulator.url],
    );
    let out = rollback.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        (leftovers(&emulator), learner.records()),
        before,
        "the emulator as it was, the records made by hand removed too"
    );
}

/// The exercises of the two-region lab on a terminal: the SECONDARY record's task says the load
/// balancer is in the other region, the records the learner makes alias a load balancer in each
/// region and are checked and adopted, the drill stops the primary's servers in the primary's
/// region, the run sees Route 53 switch, and rollback leaves nothing in either region.
#[test]
fn an_exercise_run_of_the_two_region_lab_checks_an_alias_in_each_region() {
    use aws_sdk_route53::types::{ChangeAction, ResourceRecordSetFailover as Role};
    let emulator = Emulator::start();
    let learner = Learner {
        emulator: &emulator,
        rt: tokio::runtime::Runtime::new().unwrap(),
        regions: ["ap-south-1", "us-east-1"],
    };
    let dir = tempfile::tempdir().unwrap();
    let runbook = root().join("runbooks/two-region-failover.yaml");
    let args = [
        "run",
        runbook.to_str().unwrap(),
        "--endpoint-url",
        &emulator.url,
        "--var",
        "domain=lab.example.com",
        "--var",
        "primary_region=ap-south-1",
        "--var",
        "secondary_region=us-east-1",
        "--exercise",
    ];
    let mut screen = Screen::start(dir.path(), &args);
    // The cost is each stack's in its region (priced at the built-in us-east-1 table here: an
    // emulator has no price list).
    let intro = strip(&screen.expect("Start?"));
    let words = intro.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("(an Application Load Balancer in ap-south-1)")
            || words.contains("an Application Load Balancer in ap-south-1 $"),
        "{words}"
    );
    assert!(
        words.contains("t3.micro with a public IPv4 address in us-east-1")
            && words.contains("an estimate at us-east-1 list prices for ap-south-1,"),
        "{words}"
    );
    screen.line("y");
    let mut exercises = Vec::new();
    loop {
        let found = screen
            .session
            .expect(Regex(
                r"Exercise, step \d+ of \d+: ([^\r\n]+)|To remove them: \S*runbook rollback",
            ))
            .unwrap_or_else(|e| panic!("{e}\n{}", screen.seen));
        let text = strip(&String::from_utf8_lossy(found.get(0).unwrap()));
        screen
            .seen
            .push_str(&String::from_utf8_lossy(found.before()));
        screen.seen.push_str(&text);
        if text.starts_with("To remove them") {
            break;
        }
        let title = strip(&String::from_utf8_lossy(found.get(1).unwrap()));
        exercises.push(title.clone());
        let task = strip(&screen.expect("[q]uit?"));
        let words = task.split_whitespace().collect::<Vec<_>>().join(" ");
        if title.starts_with("Create the PRIMARY") {
            learner.record(
                ChangeAction::Create,
                "lab-primary",
                Role::Primary,
                "lab-primary-alb",
            );
            screen.line("");
        } else if title.starts_with("Create the SECONDARY") {
            assert!(
                words.contains("choose the region us-east-1")
                    && words.contains(".us-east-1.elb.amazonaws.com"),
                "the task names the secondary's region: {task}"
            );
            learner.record(
                ChangeAction::Create,
                "lab-secondary",
                Role::Secondary,
                "lab-secondary-alb",
            );
            screen.line("");
        } else {
            assert!(title.starts_with("Failover drill"), "{title}");
            assert!(
                words.contains("aws ec2 stop-instances --region ap-south-1"),
                "{task}"
            );
            assert!(!learner.stop_primary().is_empty());
        }
        screen.expect("made by hand: checked and adopted");
    }
    assert_eq!(exercises.len(), 3, "{exercises:?}");
    let end = strip(&screen.finish());
    assert!(end.contains("Run succeeded"), "{end}");
    assert!(
        end.contains("Route 53 answers lab.example.com with the SECONDARY record"),
        "the failover check read the secondary's load balancer in us-east-1: {end}"
    );
    let out = Screen::command(
        dir.path(),
        &["rollback", "--yes", "--endpoint-url", &emulator.url],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        learner.records(),
        0,
        "the records made by hand are gone too"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    for region in learner.regions {
        let (vpcs, lbs) = rt.block_on(async {
            let vpcs = emulator
                .ec2_in(region)
                .describe_vpcs()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("tag-key")
                        .values("runbook:run")
                        .build(),
                )
                .send()
                .await
                .unwrap()
                .vpcs()
                .len();
            let lbs = emulator
                .elbv2_in(region)
                .describe_load_balancers()
                .send()
                .await
                .unwrap()
                .load_balancers()
                .len();
            (vpcs, lbs)
        });
        assert_eq!((vpcs, lbs), (0, 0), "nothing left in {region}");
    }
}

/// `--exercise` needs a learner at a terminal: with `--yes`, without a terminal, or without the
/// walkthrough it is refused before anything runs (exit 2), saying why and what to do instead.
#[test]
fn an_exercise_run_is_refused_without_a_learner_at_a_terminal() {
    let runbook = root().join("runbooks/route53-failover.yaml");
    let runbook = runbook.to_str().unwrap();
    for (extra, why) in [
        (vec!["--yes"], "`--yes` answers for nobody"),
        (vec![], "this run has no terminal to ask at"),
    ] {
        let mut args = vec![
            "run",
            runbook,
            "--exercise",
            "--var",
            "domain=lab.example.com",
        ];
        args.extend(extra);
        let out = crate::test::Test::new().args(args).output();
        let (_, stderr) = crate::test::text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "`--exercise` needs a learner at a terminal: {why}"
            )),
            "{stderr}"
        );
        assert!(stderr.contains("drop --exercise"), "{stderr}");
    }
}

/// On a terminal, `run` checks where it would act before it asks for anything: an endpoint that
/// is down, or credentials that are missing, are said at once, not after the learner has typed a
/// domain for nothing.
#[test]
fn a_run_checks_where_it_acts_before_asking_for_a_var() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = root().join("runbooks/route53-failover.yaml");
    let runbook = runbook.to_str().unwrap();
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{down}");
    let mut screen = Screen::start(dir.path(), &["run", runbook, "--endpoint-url", &endpoint]);
    screen.expect("could not reach");
    let all = screen.finish();
    assert!(
        !all.contains("Which domain"),
        "asked before checking: {all}"
    );

    // No endpoint: this would be AWS, but without credentials nothing is sent (an emulator
    // endpoint would be given dummy ones).
    let mut cmd = Screen::command(dir.path(), &["run", runbook, "--region", "ap-south-1"]);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let mut screen = Screen::spawn(cmd, 60);
    screen.expect("no usable AWS credentials");
    let all = screen.finish();
    assert!(
        !all.contains("Which domain"),
        "asked before checking: {all}"
    );
}

/// Quitting at the first question, before anything was made, is a choice and not a failure: it
/// says there is nothing to keep or undo, asks nothing more and exits 0.
#[test]
fn quitting_before_anything_was_made_says_so_and_exits_0() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let mut screen = started_lab(&emulator, dir.path());
    screen.choose("q");
    screen.expect("Nothing was created, so there is nothing to keep or undo.");
    let status = screen.session.get_process().wait().unwrap();
    let all = screen.finish();
    assert!(
        format!("{status:?}").ends_with(", 0)"),
        "exit 0: {status:?}\n{all}"
    );
    for never in [
        "may have created",
        "Kept everything",
        "Roll it back",
        "Rolling back",
    ] {
        assert!(!all.contains(never), "`{never}`:\n{all}");
    }
}

/// Ctrl-C at the walkthrough's question is an interrupt, as anywhere else: the run says it was
/// interrupted and exits 130 (quitting with `q` is the choice that exits 0).
#[test]
fn ctrl_c_at_the_question_interrupts_the_run_with_exit_130() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let mut screen = started_lab(&emulator, dir.path());
    screen.expect("[q]uit?");
    // As a person would: once the question waits for its answer (the prompt reads keys itself;
    // a Ctrl-C before it does is the terminal's signal, which the run hears as any interrupt).
    std::thread::sleep(Duration::from_millis(500));
    screen.session.send("\x03").unwrap();
    screen.expect("Run interrupted");
    screen.expect("Nothing was created, so there is nothing to keep or undo.");
    let status = screen.session.get_process().wait().unwrap();
    let all = screen.finish();
    assert!(
        format!("{status:?}").ends_with(", 130)"),
        "exit 130: {status:?}\n{all}"
    );
}

/// Ctrl-C at a step's own question (`confirm:`) stops the run as an interrupt: the step is not
/// recorded as skipped (a resume asks it again), the run is interrupted and exits 130 once the
/// person chose whether to keep what it made.
#[test]
fn ctrl_c_at_a_steps_question_interrupts_and_does_not_skip_the_step() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rb.yaml"),
        "runbook: 1\nname: Asks\nsteps:\n  - {id: made, action: test.create, with: {name: made}}\n  - {id: risky, action: test.create, confirm: Do the risky thing?, needs: [made], with: {name: risky}}\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("store")).unwrap();
    let mut cmd = Screen::command(dir.path(), &["run", "rb.yaml", "--no-guide"]);
    cmd.env("RUNBOOK_TEST_STORE", dir.path().join("store"));
    let mut screen = Screen::spawn(cmd, 60);
    screen.expect("Do the risky thing?");
    std::thread::sleep(Duration::from_millis(500));
    screen.session.send("\x03").unwrap();
    screen.expect("Roll it back now? [y/N]");
    screen.line("n");
    screen.expect("Kept everything this run created.");
    let status = screen.session.get_process().wait().unwrap();
    let all = screen.finish();
    assert!(
        format!("{status:?}").ends_with(", 130)"),
        "exit 130: {status:?}\n{all}"
    );
    assert!(!all.contains("you answered no"), "{all}");
    assert!(!dir.path().join("store/risky.resource").exists());
    let runs = crate::test::run_ids(&dir.path().join(".runbook"));
    let journal = std::fs::read_to_string(
        dir.path()
            .join(".runbook/runs")
            .join(&runs[0])
            .join("journal.jsonl"),
    )
    .unwrap();
    assert!(
        !journal.contains("\"step_skipped\"") && journal.contains("\"status\":\"interrupted\""),
        "{journal}"
    );
}
