//! Runs kept in S3 (`--state-dir s3://…`) against the emulator's S3: one emulator serves the lab
//! and the state. Each "machine" is a working directory of its own with no local state; what the
//! runs made is checked through the SDK.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::aws::{Lab, inventory, ok};
use crate::emulator::{REGION, isolate};
use crate::proxy::{Faults, Proxy};
use crate::test::{BIN, text};

const BUCKET: &str = "team-state";

/// A runbook of test resources whose middle step takes a while.
const SLOW: &str = r"runbook: 1
name: Slow
steps:
  - {id: a, action: test.create, with: {name: a}}
  - {id: b, action: test.create, needs: [a], with: {name: b, sleep: 4s}}
  - {id: c, action: test.create, needs: [b], with: {name: c}}
";

/// Two test resources, the second after the first: `--until b` leaves a run to resume.
const TWO: &str = "runbook: 1\nname: Two\nsteps:\n  - {id: a, action: test.create, with: {name: a}}\n  - {id: b, action: test.create, needs: [a], with: {name: b}}\n";

/// The lab, its bucket, a shared test store (what the test actions create, as AWS would hold it)
/// and the state's location.
struct Team {
    lab: Lab,
    store: tempfile::TempDir,
    state: String,
}

impl Team {
    fn new(prefix: &str) -> Team {
        let lab = Lab::new();
        lab.rt.block_on(lab.emulator.create_bucket(BUCKET));
        Team {
            lab,
            store: tempfile::tempdir().unwrap(),
            state: format!("s3://{BUCKET}/{prefix}"),
        }
    }

    /// A working directory of its own: another machine.
    fn machine() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("slow.yaml"), SLOW).unwrap();
        std::fs::write(dir.path().join("two.yaml"), TWO).unwrap();
        dir
    }

    fn command(&self, dir: &Path, args: &[&str], endpoint: &str) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .args([
                "--state-dir",
                &self.state,
                "--endpoint-url",
                endpoint,
                "--region",
                REGION,
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .env("RUNBOOK_TEST_STORE", self.store.path());
        isolate(&mut cmd, dir);
        cmd
    }

    /// Started, not waited for; its output kept for `wait_with_output`.
    fn spawn(&self, dir: &Path, args: &[&str]) -> std::process::Child {
        self.command(dir, args, &self.lab.emulator.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Started to be killed: its output thrown away (nothing reads it, so no pipe fills up).
    fn spawn_to_kill(&self, dir: &Path, args: &[&str]) -> std::process::Child {
        self.command(dir, args, &self.lab.emulator.url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(dir, args, &self.lab.emulator.url)
            .output()
            .unwrap()
    }

    /// The keys under the state's prefix.
    fn keys(&self) -> Vec<String> {
        let s3 = self.lab.emulator.s3();
        let prefix = self.state.trim_start_matches(&format!("s3://{BUCKET}/"));
        self.lab.rt.block_on(async {
            let out = s3
                .list_objects_v2()
                .bucket(BUCKET)
                .prefix(prefix)
                .send()
                .await
                .unwrap();
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned))
                .collect()
        })
    }

    fn records(&self) -> Vec<String> {
        self.keys()
            .into_iter()
            .filter(|k| k.contains("/journal/"))
            .collect()
    }

    /// Every record's event, in order, of the only run.
    fn events(&self) -> Vec<String> {
        let s3 = self.lab.emulator.s3();
        let mut keys = self.records();
        keys.sort();
        self.lab.rt.block_on(async {
            let mut out = Vec::new();
            for key in keys {
                let body = s3
                    .get_object()
                    .bucket(BUCKET)
                    .key(&key)
                    .send()
                    .await
                    .unwrap()
                    .body
                    .collect()
                    .await
                    .unwrap()
                    .into_bytes();
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let entry = &v["entry"];
                out.push(format!(
                    "{} {}",
                    entry["event"].as_str().unwrap(),
                    entry["step"].as_str().unwrap_or_default()
                ));
            }
            out
        })
    }

    fn put(&self, key: &str, body: &str) {
        let s3 = self.lab.emulator.s3();
        self.lab.rt.block_on(async {
            s3.put_object()
                .bucket(BUCKET)
                .key(key)
                .body(body.as_bytes().to_vec().into())
                .send()
                .await
                .unwrap();
        });
    }

    fn created(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.store.path())
            .unwrap()
            .filter_map(|e| {
                e.unwrap()
                    .file_name()
                    .into_string()
                    .unwrap()
                    .strip_suffix(".resource")
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        names
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Two processes resume one run at once: exactly one drives it, the other exits 2 naming the
/// holder and when its lease expires; nothing is created twice.
#[test]
fn two_processes_resuming_one_run_at_once_exactly_one_drives() {
    let team = Team::new("resume");
    let (laptop, ci) = (Team::machine(), Team::machine());
    // CI's run dies (SIGKILL) in its second step: its lease, 2 minutes by default, stays.
    let mut child = team.spawn_to_kill(
        ci.path(),
        &["run", "slow.yaml", "--yes", "--output", "plain"],
    );
    wait_until("step b to start", || {
        team.events().iter().any(|e| e == "step_started b")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = team
        .keys()
        .iter()
        .find_map(|k| k.strip_prefix("resume/runs/")?.split('/').next())
        .unwrap()
        .to_owned();
    // Its lease (2 minutes by default) is live: nobody may resume it now...
    let refused = team.run(laptop.path(), &["resume", &killed, "--yes"]);
    assert_eq!(refused.status.code(), Some(2), "{:?}", text(&refused));
    let (_, stderr) = text(&refused);
    assert!(
        stderr.contains(&format!("run `{killed}` is being driven by"))
            && stderr.contains("(pid ")
            && stderr.contains("its lease expires at"),
        "names the holder and the expiry: {stderr}"
    );
    // ...but --take-over takes it; two at once: exactly one drives.
    let start = |dir: &Path| {
        team.spawn(
            dir,
            &["resume", &killed, "--yes", "--take-over", "--lease", "5s"],
        )
    };
    let one = start(laptop.path());
    wait_until("the first resume to start step b again", || {
        team.events()
            .iter()
            .filter(|e| *e == "step_started b")
            .count()
            == 2
    });
    // `runs` on another machine says who drives it now.
    let listed = team.run(ci.path(), &["runs", "--output", "json"]);
    ok(&listed);
    let listed: serde_json::Value = serde_json::from_str(&text(&listed).0).unwrap();
    let driver = listed[0]["driven_by"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        driver.contains("(pid ") && driver.contains("lease until"),
        "{listed}"
    );
    let other = team.run(ci.path(), &["resume", &killed, "--yes"]);
    let one = one.wait_with_output().unwrap();
    ok(&one);
    assert_eq!(other.status.code(), Some(2), "{:?}", text(&other));
    assert!(
        text(&other).1.contains("is being driven by"),
        "{:?}",
        text(&other)
    );
    assert_eq!(
        team.created(),
        ["a", "b", "c"],
        "each test resource exists once"
    );
}

/// A run killed with SIGKILL mid-lab is resumed from a second machine (no local state) once its
/// short lease has expired, creating nothing twice; `runs` and `show` agree on both machines; a
/// rollback from the second machine leaves what was there before; a lost record is named.
#[test]
fn a_run_killed_mid_lab_is_resumed_and_rolled_back_from_another_machine() {
    let team = Team::new("lab");
    let before = inventory(&team.lab);
    let (ci, laptop) = (Team::machine(), Team::machine());
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let mut child = team.spawn_to_kill(
        ci.path(),
        &[
            "run",
            runbook.to_str().unwrap(),
            "--yes",
            "--var",
            "domain=lab.example.com",
            "--lease",
            "4s",
            "--output",
            "plain",
        ],
    );
    wait_until("the lab to be part way", || {
        team.events()
            .iter()
            .any(|e| e.starts_with("step_succeeded primary.alb"))
    });
    child.kill().unwrap();
    child.wait().unwrap();
    // The lease is still live for a few seconds: refused, naming the holder.
    let early = team.run(laptop.path(), &["resume", "--yes"]);
    assert_eq!(early.status.code(), Some(2), "{:?}", text(&early));
    std::thread::sleep(Duration::from_secs(5));
    let resumed = team.run(laptop.path(), &["resume", "--yes", "--output", "plain"]);
    ok(&resumed);
    let (_, stderr) = text(&resumed);
    assert!(
        stderr.contains("Took over run") && stderr.contains("expired at"),
        "says it took over an expired lease: {stderr}"
    );
    assert!(
        !laptop.path().join(".runbook").exists() && !ci.path().join(".runbook").exists(),
        "no local state on either machine"
    );
    let (elb, r53) = (team.lab.emulator.elbv2(), team.lab.emulator.route53());
    team.lab.rt.block_on(async {
        let lbs = elb.describe_load_balancers().send().await.unwrap();
        assert_eq!(
            lbs.load_balancers().len(),
            2,
            "two load balancers, once each"
        );
        let zones = r53.list_hosted_zones().send().await.unwrap();
        assert_eq!(zones.hosted_zones().len(), 1, "one zone");
    });
    // Both machines see the same runs, and the same run.
    let runs = |dir: &Path| {
        let out = team.run(dir, &["runs", "--output", "json"]);
        ok(&out);
        text(&out).0
    };
    assert_eq!(runs(ci.path()), runs(laptop.path()));
    let listed: serde_json::Value = serde_json::from_str(&runs(ci.path())).unwrap();
    assert_eq!(listed[0]["status"], "succeeded", "{listed}");
    let run_id = listed[0]["run_id"].as_str().unwrap().to_owned();
    let show = |dir: &Path| {
        let out = team.run(dir, &["show", &run_id, "--output", "json"]);
        ok(&out);
        text(&out).0
    };
    assert_eq!(show(ci.path()), show(laptop.path()));
    ok(&team.run(ci.path(), &["rollback", "--yes"]));
    assert_eq!(
        inventory(&team.lab),
        before,
        "rollback from the other machine"
    );
    // A record lost from the middle of the journal is named, never skipped.
    let lost = format!("lab/runs/{run_id}/journal/00000003.json");
    let s3 = team.lab.emulator.s3();
    team.lab.rt.block_on(async {
        s3.delete_object()
            .bucket(BUCKET)
            .key(&lost)
            .send()
            .await
            .unwrap();
    });
    let damaged = team.run(laptop.path(), &["show", &run_id]);
    assert_eq!(damaged.status.code(), Some(1), "{:?}", text(&damaged));
    assert!(
        text(&damaged).1.contains(&format!(
            "record 3 of run `{run_id}` is missing (`s3://{BUCKET}/{lost}`)"
        )),
        "{:?}",
        text(&damaged)
    );
}

/// A class set up from one machine is rolled back with `rollback --class` from another: its
/// labs and its shared zone are found through the bucket, and nothing is left.
#[test]
fn a_class_is_torn_down_from_another_machine() {
    let team = Team::new("class");
    let before = inventory(&team.lab);
    let (teacher, assistant) = (Team::machine(), Team::machine());
    let csv = teacher.path().join("students.csv");
    std::fs::write(
        &csv,
        "student,domain\nann,ann.class.example\nbob,bob.class.example\n",
    )
    .unwrap();
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    ok(&team.run(
        teacher.path(),
        &[
            "run",
            runbook.to_str().unwrap(),
            "--class",
            "c1",
            "--each",
            csv.to_str().unwrap(),
            "--var",
            "zone=class.example",
            "--yes",
            "--output",
            "plain",
        ],
    ));
    let listed = team.run(assistant.path(), &["runs"]);
    ok(&listed);
    let (stdout, _) = text(&listed);
    assert!(
        stdout.contains("ann") && stdout.contains("bob") && stdout.contains("c1"),
        "the assistant sees the class's labs: {stdout}"
    );
    ok(&team.run(assistant.path(), &["rollback", "--class", "c1", "--yes"]));
    assert_eq!(inventory(&team.lab), before, "nothing of the class is left");
    assert!(!assistant.path().join(".runbook").exists());
}

/// A store that ignores `If-None-Match` (the proxy strips it) is refused before any record is
/// written, with the reason.
#[test]
fn a_store_that_ignores_conditional_writes_is_refused() {
    let team = Team::new("loose");
    let proxy = Proxy::start(
        &team.lab.emulator.url,
        Faults {
            strip_conditions: true,
            ..Faults::default()
        },
    );
    let dir = Team::machine();
    let out = team
        .command(dir.path(), &["run", "slow.yaml", "--yes"], &proxy.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!(
            "`s3://{BUCKET}/loose` does not honour conditional writes"
        )),
        "{stderr}"
    );
    assert!(team.records().is_empty(), "no record written");
    assert!(team.created().is_empty(), "no step ran");
    assert!(
        !dir.path().join(".runbook").exists(),
        "no local journal instead"
    );
}

/// A run whose lease is taken from it (its renewal refused) stops starting steps, says why, and
/// exits non-zero; the step after never starts.
#[test]
fn a_run_that_loses_its_lease_stops_cleanly() {
    let team = Team::new("lost");
    let dir = Team::machine();
    let child = team.spawn(
        dir.path(),
        &[
            "run",
            "slow.yaml",
            "--yes",
            "--lease",
            "3s",
            "--output",
            "plain",
        ],
    );
    wait_until("step b to start", || {
        team.events().iter().any(|e| e == "step_started b")
    });
    let lease = team
        .keys()
        .into_iter()
        .find(|k| k.ends_with("/lease.json"))
        .unwrap();
    let far =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(600));
    team.put(
        &lease,
        &format!(
            r#"{{"holder":"ta@other-laptop (pid 7)","host":"other-laptop","pid":7,"token":"x","acquired":"{far}","expires":"{far}"}}"#
        ),
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("lost the lease on run")
            && stderr.contains("ta@other-laptop (pid 7) took it over"),
        "{stderr}"
    );
    let events = team.events();
    assert!(
        !events.iter().any(|e| e == "step_started c"),
        "no step starts after the lease is lost: {events:?}"
    );
    assert!(
        !team.created().contains(&"c".to_owned()),
        "{:?}",
        team.created()
    );
}

/// S3 stops answering mid-run (the emulator paused): the run stops with the bucket and key it
/// could not write, no step starts without its record, and once S3 answers again the run is
/// resumed and finishes, creating nothing twice.
#[test]
fn a_run_whose_state_cannot_be_written_stops_and_resumes_later() {
    let team = Team::new("net");
    let dir = Team::machine();
    let child = team
        .command(
            dir.path(),
            &["run", "slow.yaml", "--yes", "--output", "plain"],
            &team.lab.emulator.url,
        )
        .env("RUNBOOK_CALL_TIMEOUT", "1s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("step b to start", || {
        team.events().iter().any(|e| e == "step_started b")
    });
    team.lab.emulator.signal("STOP");
    let out = child.wait_with_output().unwrap();
    team.lab.emulator.signal("CONT");
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!("s3://{BUCKET}/net/runs/")),
        "names the bucket and key: {stderr}"
    );
    let events = team.events();
    assert!(
        !events.iter().any(|e| e == "step_started c"),
        "no step starts without its record: {events:?}"
    );
    assert!(
        !dir.path().join(".runbook").exists(),
        "no local journal instead"
    );
    // Its lease could not be released while S3 was away: take it over rather than wait.
    let resumed = team.run(
        dir.path(),
        &["resume", "--yes", "--take-over", "--output", "plain"],
    );
    ok(&resumed);
    assert_eq!(team.created(), ["a", "b", "c"], "each once");
}

fn signal(child: &std::process::Child, signal: &str) {
    let ok = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "could not send {signal}");
}

/// The text of an object under the state's prefix.
fn object(team: &Team, key: &str) -> Option<Vec<u8>> {
    let s3 = team.lab.emulator.s3();
    team.lab.rt.block_on(async {
        let out = s3.get_object().bucket(BUCKET).key(key).send().await.ok()?;
        Some(out.body.collect().await.ok()?.into_bytes().to_vec())
    })
}

/// A holder paused (a laptop closed mid-run) while another machine takes the run over and rolls
/// it back: when it wakes, the call it had in flight finishes, and the record of it is refused
/// (another process wrote that record first). From that moment it is stopped: it starts no step,
/// rolls nothing back, writes no record and no summary, says what its last call made that no
/// journal holds and how to remove it, and exits 1; `runs` on another machine still shows the
/// take-over's truth.
#[test]
fn a_holder_paused_past_a_take_over_writes_nothing_and_starts_nothing_when_it_wakes() {
    let team = Team::new("paused");
    let (laptop, ta) = (Team::machine(), Team::machine());
    std::fs::write(
        laptop.path().join("slow.yaml"),
        SLOW.replace("sleep: 4s", "sleep: 3s"),
    )
    .unwrap();
    let child = team.spawn(
        laptop.path(),
        &[
            "run",
            "slow.yaml",
            "--yes",
            "--lease",
            "60s",
            "--output",
            "plain",
        ],
    );
    wait_until("step b to start", || {
        team.events().iter().any(|e| e == "step_started b")
    });
    signal(&child, "STOP");
    let out = team.run(
        ta.path(),
        &["rollback", "--yes", "--take-over", "--output", "plain"],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let records = team.records();
    let summary = team
        .keys()
        .into_iter()
        .find(|k| k.ends_with("/summary.json"))
        .expect("the take-over's summary");
    let truth = object(&team, &summary);
    assert!(team.created().is_empty(), "{:?}", team.created());
    // Longer than step b's sleep: its call finishes the moment the process wakes.
    std::thread::sleep(Duration::from_secs(4));

    signal(&child, "CONT");
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lost the lease on run"), "{stderr}");
    assert!(
        stderr.contains("step `b` made test resource b that the journal does not hold")
            && stderr.contains("runbook sweep --tag runbook:run="),
        "says what no journal holds and how to remove it: {stderr}"
    );
    assert!(
        !stderr.contains("Rolling back"),
        "rolls nothing back: {stderr}"
    );
    assert_eq!(
        team.records(),
        records,
        "no record was written after the take-over"
    );
    assert_eq!(
        object(&team, &summary),
        truth,
        "the summary is the take-over's"
    );
    assert_eq!(
        team.created(),
        ["b"],
        "no step started after the lease was lost (only b's call, in flight, finished)"
    );
    let (stdout, _) = text(&team.run(ta.path(), &["runs"]));
    assert!(stdout.contains("rolled back"), "{stdout}");
}

/// The same for a class driven from a paused laptop while an assistant takes the class over and
/// rolls it back: when the laptop wakes, each lab stops at its refused record, none starts
/// another step or rolls anything back, no summary is overwritten, and the class exits 1.
#[test]
fn a_class_paused_past_a_take_over_stops_every_lab_when_it_wakes() {
    let team = Team::new("pausedclass");
    let (laptop, ta) = (Team::machine(), Team::machine());
    std::fs::write(
        laptop.path().join("slow.yaml"),
        SLOW.replace("sleep: 4s", "sleep: 3s"),
    )
    .unwrap();
    let csv = laptop.path().join("students.csv");
    std::fs::write(&csv, "student\nann\nbob\n").unwrap();
    let child = team.spawn(
        laptop.path(),
        &[
            "run",
            "slow.yaml",
            "--class",
            "c2",
            "--each",
            csv.to_str().unwrap(),
            "--yes",
            "--lease",
            "60s",
            "--output",
            "plain",
        ],
    );
    let started = |team: &Team| {
        team.events()
            .iter()
            .filter(|e| *e == "step_started b")
            .count()
    };
    wait_until("both labs' step b to start", || started(&team) == 2);
    signal(&child, "STOP");
    let out = team.run(
        ta.path(),
        &["rollback", "--class", "c2", "--yes", "--take-over"],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let records = team.records();
    let summaries: Vec<(String, Option<Vec<u8>>)> = team
        .keys()
        .into_iter()
        .filter(|k| k.ends_with("/summary.json"))
        .map(|k| {
            let body = object(&team, &k);
            (k, body)
        })
        .collect();
    assert_eq!(summaries.len(), 2, "{summaries:?}");
    std::thread::sleep(Duration::from_secs(4));

    signal(&child, "CONT");
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lost the lease on run"), "{stderr}");
    assert!(!stderr.contains("Rolling back"), "{stderr}");
    assert_eq!(team.records(), records, "no record after the take-over");
    for (key, body) in &summaries {
        assert_eq!(&object(&team, key), body, "{key} is the take-over's");
    }
    assert!(
        !team.created().iter().any(|c| c == "c"),
        "no step started: {:?}",
        team.created()
    );
    let (stdout, _) = text(&team.run(ta.path(), &["runs"]));
    assert_eq!(stdout.matches("rolled back").count(), 2, "{stdout}");
}

/// In S3 as on disk: a record of a newer runbook is refused as such (never as damage), and one it
/// marked optional is passed over, its number kept: this runbook's next record comes after it.
#[test]
fn a_newer_runbooks_record_in_s3_is_refused_and_an_optional_one_keeps_its_number() {
    let team = Team::new("newer");
    let laptop = Team::machine();
    ok(&team.run(laptop.path(), &["run", "two.yaml", "--yes", "--until", "b"]));
    let journal: Vec<String> = team
        .keys()
        .into_iter()
        .filter(|k| k.contains("/journal/"))
        .collect();
    let next = journal.len();
    let dir = journal[0]
        .rsplit_once('/')
        .expect("a journal key")
        .0
        .to_owned();
    let run = dir
        .trim_end_matches("/journal")
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let newer = |optional: bool| {
        format!(
            r#"{{"base":{next},"settled":{next},"entry":{{"at":"2026-12-07T00:00:00Z","event":"step_checkpoint","optional":{optional}}}}}"#
        )
    };
    team.put(&format!("{dir}/{next:08}.json"), &newer(false));
    let refused = team.run(laptop.path(), &["resume", &run, "--yes"]);
    let (_, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("holds a `step_checkpoint` record")
            && stderr.contains("a newer runbook wrote it"),
        "{stderr}"
    );
    assert!(!stderr.contains("damaged"), "{stderr}");
    assert_eq!(team.created(), ["a"], "nothing ran");
    team.put(&format!("{dir}/{next:08}.json"), &newer(true));
    ok(&team.run(laptop.path(), &["resume", &run, "--yes"]));
    assert_eq!(team.created(), ["a", "b"]);
    let after: Vec<String> = team
        .keys()
        .into_iter()
        .filter(|k| k.contains("/journal/"))
        .collect();
    assert!(
        after.contains(&format!("{dir}/{:08}.json", next + 1)),
        "the next record follows the optional one: {after:?}"
    );
    let show = team.run(laptop.path(), &["show", &run, "--output", "json"]);
    ok(&show);
    assert!(text(&show).0.contains("\"succeeded\""), "{:?}", text(&show));
}

/// A lease is judged by S3's clock, not by the clocks of the machines: one written a moment ago
/// by a machine whose clock is ten minutes behind is live, and one written by a machine ten
/// minutes ahead expires when its duration has passed in S3, not ten minutes later.
#[test]
fn a_lease_is_judged_by_s3s_clock_whatever_the_holders_clock_says() {
    let team = Team::new("skew");
    let laptop = Team::machine();
    ok(&team.run(laptop.path(), &["run", "two.yaml", "--yes", "--until", "b"]));
    let key = team
        .keys()
        .into_iter()
        .find(|k| k.ends_with("/lease.json"))
        .expect("the run's lease");
    let run = key.split('/').rev().nth(1).unwrap().to_owned();
    let lease = |offset: i64, lease: Duration| {
        let now = std::time::SystemTime::now();
        let shifted = |by: Duration| {
            let t = if offset < 0 {
                now - Duration::from_secs(offset.unsigned_abs())
            } else {
                now + Duration::from_secs(offset.unsigned_abs())
            };
            humantime::format_rfc3339_seconds(t + by).to_string()
        };
        serde_json::json!({
            "holder": "ci@runner (pid 7)",
            "host": "runner",
            "pid": 7,
            "token": "theirs",
            "acquired": shifted(Duration::ZERO),
            "expires": shifted(lease),
            "lease_ms": lease.as_millis(),
        })
        .to_string()
    };
    // Written just now, by a clock ten minutes behind: its `expires` has passed by this clock.
    team.put(&key, &lease(-600, Duration::from_secs(120)));
    let refused = team.run(laptop.path(), &["resume", &run, "--yes"]);
    let (_, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is being driven by ci@runner (pid 7)"),
        "{stderr}"
    );
    assert_eq!(team.created(), ["a"], "nothing ran");
    // Written by a clock ten minutes ahead, for 2 s: once 2 s have passed in S3, it has expired.
    team.put(&key, &lease(600, Duration::from_secs(2)));
    std::thread::sleep(Duration::from_secs(4));
    let resumed = team.run(laptop.path(), &["resume", &run, "--yes"]);
    let (_, stderr) = text(&resumed);
    assert_eq!(resumed.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Took over run") && stderr.contains("held by ci@runner (pid 7), expired"),
        "{stderr}"
    );
    assert_eq!(team.created(), ["a", "b"]);
}

/// On a team's bucket, a command that names no run takes up only the latest of one's own
/// (`user@host` recorded when the run started): the CI job's `if: always()` rollback after a run
/// that never started must not roll back a teammate's lab. It says whose the latest run is and
/// the command that acts on it by name; that run's owner rolls it back as before.
#[test]
fn a_command_naming_no_run_takes_up_only_ones_own_on_a_shared_bucket() {
    let team = Team::new("mine");
    let (alice, ci) = (Team::machine(), Team::machine());
    let as_user = |dir: &Path, user: &str, args: &[&str]| {
        team.command(dir, args, &team.lab.emulator.url)
            .env("USER", user)
            .output()
            .unwrap()
    };
    ok(&as_user(
        alice.path(),
        "alice",
        &["run", "two.yaml", "--yes", "--until", "b"],
    ));
    assert_eq!(team.created(), ["a"]);

    let out = as_user(ci.path(), "runner", &["rollback", "--yes"]);
    ok(&out);
    let (_, said) = text(&out);
    assert!(
        said.contains("Nothing of yours (runner@")
            && said.contains("was started by alice@")
            && said.contains("rollback 20"),
        "{said}"
    );
    assert_eq!(team.created(), ["a"], "alice's lab is left alone");
    let out = as_user(ci.path(), "runner", &["resume", "--yes"]);
    let (_, said) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("was started by alice@") && said.contains("not by you (runner@"),
        "{said}"
    );

    ok(&as_user(alice.path(), "alice", &["rollback", "--yes"]));
    assert!(team.created().is_empty(), "{:?}", team.created());
}

/// A `--state-dir` that cannot name a bucket is a usage error (exit 2) said before any call:
/// no bucket, a name S3 would refuse (and whose "create it" command would fail too), or
/// `s3:/…` with one slash, which would otherwise become a local folder named `s3:`.
#[test]
fn a_state_dir_that_cannot_name_a_bucket_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for (location, said) in [
        ("s3://", "`s3://` names no bucket"),
        (
            "s3://Team_State/labs",
            "`Team_State` is not a valid S3 bucket name",
        ),
        (
            "s3:/team-state/labs",
            "did you mean `s3://team-state/labs`?",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["runs", "--state-dir", location])
            .current_dir(dir.path())
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{location}: {stderr}");
        assert!(stderr.contains(said), "{location}: {stderr}");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no folder was made"
    );
}

/// A state bucket that does not exist is named with the command that creates it where the lab
/// runs: outside us-east-1, S3 refuses a create without its region as the location constraint.
#[test]
fn a_missing_state_bucket_is_named_with_the_create_command_for_its_region() {
    let lab = Lab::new();
    let out = lab.run(&[
        "runs",
        "--state-dir",
        "s3://no-such-state-bucket/labs",
        "--region",
        "ap-south-1",
        "--endpoint-url",
        &lab.emulator.url,
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the state bucket `no-such-state-bucket` does not exist")
            && stderr.contains(
                "aws s3api create-bucket --bucket no-such-state-bucket --region ap-south-1 --create-bucket-configuration LocationConstraint=ap-south-1"
            ),
        "{stderr}"
    );
}
