//! The execution engine, driven through the real binary with the test actions (`test.create`
//! makes a file in a store folder and logs every call with a millisecond timestamp).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::test::{BIN, text, unindent};

/// A folder with a runbook, a state directory and a resource store.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(runbook: &str) -> Lab {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("rb.yaml"), unindent(runbook)).expect("write the runbook");
        std::fs::create_dir_all(dir.path().join("store")).expect("the store");
        Lab { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.path())
            .env("RUNBOOK_TEST_STORE", self.path().join("store"))
            .env_remove("NO_COLOR")
            .env_remove("AWS_ENDPOINT_URL")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run the binary")
    }

    /// Names of the resources in the store.
    fn resources(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path().join("store"))
            .expect("the store")
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".resource"))
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        names
    }

    /// The call log: (milliseconds, words).
    /// How many times each resource in the store was created (recorded in the resource itself).
    fn creations(&self) -> Vec<(String, u64)> {
        self.resources()
            .into_iter()
            .map(|name| {
                let text =
                    std::fs::read_to_string(self.path().join(format!("store/{name}.resource")))
                        .expect("the resource");
                let body: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                (name, body["created"].as_u64().unwrap_or(0))
            })
            .collect()
    }

    fn calls(&self) -> Vec<(u128, Vec<String>)> {
        std::fs::read_to_string(self.path().join("store/calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let mut words = l.split_whitespace().map(str::to_owned);
                let ms = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                (ms, words.collect())
            })
            .collect()
    }

    fn first(&self, what: &str, step: &str) -> u128 {
        self.calls()
            .iter()
            .find(|(_, w)| w[0] == what && w[1] == step)
            .unwrap_or_else(|| panic!("no `{what} {step}` in {:?}", self.calls()))
            .0
    }

    fn run_ids(&self) -> Vec<String> {
        crate::test::run_ids(&self.path().join(".runbook"))
    }

    fn journal_path(&self, run_id: &str) -> PathBuf {
        self.path()
            .join(".runbook/runs")
            .join(run_id)
            .join("journal.jsonl")
    }

    fn journal(&self, run_id: &str) -> String {
        std::fs::read_to_string(self.journal_path(run_id)).expect("a journal")
    }
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn independent_steps_overlap_and_dependents_wait() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Fan out
        steps:
          - {id: a, action: test.create, with: {name: a, sleep: 400ms}}
          - {id: b, action: test.create, with: {name: b, sleep: 400ms}}
          - {id: c, action: test.create, with: {name: c, sleep: 400ms}}
          - {id: d, action: test.create, needs: [a, b, c], with: {name: d}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    let (a, b, c) = (
        lab.first("start", "a"),
        lab.first("start", "b"),
        lab.first("start", "c"),
    );
    let ends = [
        lab.first("end", "a"),
        lab.first("end", "b"),
        lab.first("end", "c"),
    ];
    // All three started before any of them ended: they ran at the same time.
    assert!(
        a.max(b).max(c) < *ends.iter().min().unwrap(),
        "{:?}",
        lab.calls()
    );
    // d started only after the last of them ended.
    assert!(
        lab.first("start", "d") >= *ends.iter().max().unwrap(),
        "{:?}",
        lab.calls()
    );
    assert_eq!(lab.resources(), ["a", "b", "c", "d"]);
}

#[test]
fn parallelism_limits_how_many_steps_run_at_once() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Two at a time
        steps:
          - {id: a, action: test.create, with: {name: a, sleep: 300ms}}
          - {id: b, action: test.create, with: {name: b, sleep: 300ms}}
          - {id: c, action: test.create, with: {name: c, sleep: 300ms}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--parallelism", "2"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    // c waits for a free slot: it starts after a or b ended.
    assert!(
        lab.first("start", "c") >= lab.first("end", "a").min(lab.first("end", "b")),
        "{:?}",
        lab.calls()
    );
}

#[test]
fn a_failure_rolls_back_in_reverse_dependency_order() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Fails at the end
        steps:
          - {id: vpc, action: test.create, with: {name: vpc}}
          - {id: subnet_a, action: test.create, needs: [vpc], with: {name: subnet-a}}
          - {id: subnet_b, action: test.create, needs: [vpc], with: {name: subnet-b}}
          - {id: instance, action: test.create, needs: [subnet_a], with: {name: instance}}
          - {id: check, action: test.fail, needs: [instance, subnet_b], with: {message: the check failed}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(1), "{stderr}");
    assert!(stderr.contains("FAIL  check failed after"), "{stderr}");
    assert!(stderr.contains("Rollback complete"), "{stderr}");
    assert!(lab.resources().is_empty(), "left: {:?}", lab.resources());
    let undo: Vec<String> = lab
        .calls()
        .into_iter()
        .filter(|(_, w)| w[0] == "undo")
        .map(|(_, w)| w[1].clone())
        .collect();
    let pos = |s: &str| {
        undo.iter()
            .position(|u| u == s)
            .unwrap_or_else(|| panic!("{s} not undone: {undo:?}"))
    };
    assert!(pos("instance") < pos("subnet_a"), "{undo:?}");
    assert!(
        pos("subnet_a") < pos("vpc") && pos("subnet_b") < pos("vpc"),
        "{undo:?}"
    );
}

#[test]
fn keep_leaves_everything_and_prints_the_rollback_command() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Keep
        steps:
          - {id: made, action: test.create, with: {name: made}}
          - {id: boom, action: test.fail, needs: [made]}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--on-failure", "keep"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(1), "{stderr}");
    assert_eq!(lab.resources(), ["made"]);
    let id = &lab.run_ids()[0];
    assert!(
        stderr.contains(&format!(
            "Kept everything this run created.\n  To go on with it (once the cause is fixed): {BIN} resume {id}\n  To undo it: {BIN} rollback {id}\n"
        )),
        "both ways on, as they must be typed here: {stderr}"
    );
    let out = lab.run(&["rollback", id, "--yes"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    assert!(lab.resources().is_empty());
}

/// An undo says whether it removed its resource or found it already gone: a rollback where only
/// some were gone says which; one where all were gone removed nothing and exits 4 with a warning,
/// unless `--expect-gone` says that was expected; `show` and `runs` keep the distinction.
#[test]
fn rollback_tells_removed_from_already_gone() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Gone
        steps:
          - {id: one, action: test.create, with: {name: one}}
          - {id: two, action: test.create, with: {name: two}}
        ",
    );
    let store = lab.path().join("store");
    ok_run(&lab.run(&["run", "rb.yaml", "--yes"]));
    std::fs::remove_file(store.join("one.resource")).unwrap();
    let out = lab.run(&["rollback", "--yes", "--output", "plain"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(0), "{stderr}");
    assert!(
        stderr.contains("undo one: already gone: test resource one"),
        "{stderr}"
    );
    assert!(
        stderr.contains("undo two: removed test resource two"),
        "{stderr}"
    );
    assert!(
        stderr.contains("left nothing behind (1 removed, 1 already gone)"),
        "{stderr}"
    );
    let id = lab.run_ids()[0].clone();
    let (shown, _) = text(&lab.run(&["show", &id]));
    assert!(
        shown.contains("one: succeeded, undone (already gone)"),
        "{shown}"
    );
    assert!(
        shown.contains("Rolled back: 1 removed, 1 already gone"),
        "{shown}"
    );

    // All gone: a warning and exit 4, but the run is rolled back (gone is gone).
    ok_run(&lab.run(&["run", "rb.yaml", "--yes"]));
    for name in ["one", "two"] {
        std::fs::remove_file(store.join(format!("{name}.resource"))).unwrap();
    }
    let out = lab.run(&["rollback", "--yes", "--output", "plain"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(4), "{stderr}");
    assert!(
        stderr.contains("Rollback removed nothing: all 2 resources of"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Warning: every resource of run") && stderr.contains("--expect-gone"),
        "{stderr}"
    );
    let (listed, _) = text(&lab.run(&["runs"]));
    assert!(listed.contains("rolled back, all gone"), "{listed}");

    // Expected: exit 0 and no warning.
    ok_run(&lab.run(&["run", "rb.yaml", "--yes"]));
    for name in ["one", "two"] {
        std::fs::remove_file(store.join(format!("{name}.resource"))).unwrap();
    }
    let out = lab.run(&["rollback", "--yes", "--expect-gone"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(0), "{stderr}");
    assert!(!stderr.contains("Warning"), "{stderr}");
}

/// A create whose follow-up call failed leaves a resource the journal does not list (its step
/// failed): rollback looks for it by the step's key and removes it, and a resume adopts it
/// rather than creating it twice.
#[test]
fn what_a_failed_create_made_is_found_by_rollback_and_adopted_by_resume() {
    let runbook = "
        runbook: 1
        name: Half made
        vars:
          broken: {type: boolean, default: true}
        steps:
          - {id: half, action: test.create, with: {name: half, fail_after_create: \"{{ vars.broken }}\"}}
        ";
    let lab = Lab::new(runbook);
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(1), "{stderr}");
    assert!(
        lab.resources().is_empty(),
        "the rollback removed it: {stderr}"
    );
    assert!(stderr.contains("removed test resource half"), "{stderr}");

    let lab = Lab::new(runbook);
    let out = lab.run(&["run", "rb.yaml", "--yes", "--on-failure", "keep"]);
    assert_eq!(code(&out), Some(1), "{:?}", text(&out));
    assert_eq!(lab.resources(), ["half"]);
    let out = lab.run(&["resume", "--yes", "--var", "broken=false"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    assert_eq!(
        lab.creations(),
        [("half".to_owned(), 1)],
        "adopted, not created again"
    );
    ok_run(&lab.run(&["rollback", "--yes"]));
    assert!(lab.resources().is_empty());
}

/// README's CI cleanup step (`runbook rollback --yes` under `if: always()`) succeeds after a run
/// that rolled itself back, again after that, and with no run at all.
#[test]
fn rollback_with_nothing_left_to_undo_exits_0() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Cleanup
        steps:
          - {id: made, action: test.create, with: {name: made}}
          - {id: boom, action: test.fail, needs: [made]}
        ",
    );
    let out = lab.run(&["rollback", "--yes"]);
    assert_eq!(code(&out), Some(0), "no run at all: {:?}", text(&out));
    assert!(
        text(&out).1.contains("Nothing to roll back"),
        "{:?}",
        text(&out)
    );
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    assert_eq!(code(&out), Some(1), "{:?}", text(&out));
    assert!(lab.resources().is_empty(), "it rolled itself back");
    for _ in 0..2 {
        let out = lab.run(&["rollback", "--yes"]);
        let (_, stderr) = text(&out);
        assert_eq!(code(&out), Some(0), "{stderr}");
        assert!(stderr.contains("Nothing to roll back"), "{stderr}");
    }
}

/// A run's output from a step that did not run (its `when:` was false) says so once the run
/// has ended, naming the step and its reason, rather than "known after run".
#[test]
fn outputs_of_steps_that_did_not_run_say_so() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Optional
        vars:
          drill: {type: boolean, default: false}
        steps:
          - {id: timed, action: core.set, when: \"{{ vars.drill }}\", with: {seconds: 42}}
          - id: back
            action: core.set
            when: \"{{ vars.drill }}\"
            skip_reason: the drill is off (--var drill=true turns it on)
            with: {seconds: 7}
        outputs:
          failover_seconds: \"{{ steps.timed.seconds }}\"
          failback_seconds: \"{{ steps.back.seconds }}\"
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--output", "json"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    let finished: serde_json::Value = text(&out)
        .0
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "run_finished")
        .unwrap();
    // Which step did not run, and why.
    assert_eq!(
        finished["outputs"]["failover_seconds"],
        "(not run: `timed` was skipped: its `when` is false)"
    );
    assert_eq!(
        finished["outputs"]["failback_seconds"],
        "(not run: the drill is off (--var drill=true turns it on))"
    );
}

fn ok_run(out: &Output) {
    assert_eq!(code(out), Some(0), "{:?}", text(out));
}

#[test]
fn an_undo_that_keeps_failing_is_exit_3_listing_what_remains() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Stuck
        steps:
          - {id: stuck, action: test.create, with: {name: stuck, undo_fails: true}}
          - {id: other, action: test.create, with: {name: other}}
          - {id: boom, action: test.fail, needs: [stuck, other]}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(3), "{stderr}");
    assert!(
        stderr.contains("Rollback incomplete: 1 resource remains"),
        "{stderr}"
    );
    assert!(
        stderr.contains("test resource stuck (step stuck)"),
        "{stderr}"
    );
    // What to do about it is said where the undo failed.
    let lines: Vec<&str> = stderr.lines().collect();
    let failed = lines
        .iter()
        .position(|l| l.contains("undo stuck: stuck cannot be removed (on purpose)"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        lines[failed + 1].ends_with("  hint: remove it by hand, then roll back again"),
        "{stderr}"
    );
    assert_eq!(lab.resources(), ["stuck"]);
}

#[test]
fn retries_only_retryable_errors_with_backoff() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Flaky
        steps:
          - {id: flaky, action: test.create, retry: {attempts: 3, delay: 50ms}, with: {name: flaky, fail_attempts: 2}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    let fails = lab.calls().iter().filter(|(_, w)| w[0] == "fail").count();
    assert_eq!(fails, 2);
    assert_eq!(lab.resources(), ["flaky"]);
}

#[test]
fn a_timeout_cancels_the_action() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Slow
        steps:
          - {id: slow, action: test.create, timeout: 200ms, with: {name: slow, sleep: 10s}}
        ",
    );
    let started = Instant::now();
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(1), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout did not cancel the wait"
    );
    assert!(stderr.contains("timed out after 200ms"), "{stderr}");
}

/// A step whose `timeout:` runs out says what it was last doing, as it said it: what it waited
/// for is the first thing to look at.
#[test]
fn a_timeout_says_what_the_step_was_last_doing() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Waits
        steps:
          - id: wait
            action: core.exec
            timeout: 1s
            with:
              command: [sh, -c, 'echo waiting for the lock >&2; sleep 30']
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(1), "{stderr}");
    assert!(
        stderr.contains("timed out after 1s (last: waiting for the lock)"),
        "{stderr}"
    );
}

const TEN_STEPS: usize = 10;

fn ten_step_chain() -> String {
    let mut rb = String::from("runbook: 1\nname: Ten steps\nsteps:\n");
    for i in 1..=TEN_STEPS {
        let needs = if i > 1 {
            format!(", needs: [s{}]", i - 1)
        } else {
            String::new()
        };
        rb.push_str(&format!("  - {{id: s{i}, action: test.create{needs}, with: {{name: r{i}, sleep_after: 150ms}}}}\n"));
    }
    rb
}

/// Run until `marker` appears in the call log, then SIGKILL the process.
fn kill_at(lab: &Lab, marker: &[&str]) {
    let mut child = lab
        .command(&["run", "rb.yaml", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if lab
            .calls()
            .iter()
            .any(|(_, w)| w.iter().map(String::as_str).eq(marker.iter().copied()))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {marker:?}: {:?}",
            lab.calls()
        );
        if let Ok(Some(_)) = child.try_wait() {
            panic!("the run ended before {marker:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

#[test]
fn killed_at_any_point_then_resumed_every_resource_exists_exactly_once_and_rollback_removes_all() {
    // Killed mid-step (created, not yet journaled as done) and at each step boundary.
    let mut points: Vec<Vec<String>> = Vec::new();
    for i in 1..=TEN_STEPS {
        points.push(vec!["create".into(), format!("s{i}"), format!("r{i}")]);
        // Between this step and the next (after the last there is nothing left to resume).
        if i < TEN_STEPS {
            points.push(vec!["end".into(), format!("s{i}")]);
        }
    }
    points.push(vec!["start".into(), "s1".into()]);
    for point in points {
        let lab = Lab::new(&ten_step_chain());
        let marker: Vec<&str> = point.iter().map(String::as_str).collect();
        kill_at(&lab, &marker);
        let out = lab.run(&["resume", "--yes"]);
        assert_eq!(
            code(&out),
            Some(0),
            "resume after {point:?}: {:?}",
            text(&out)
        );
        let expected: Vec<String> = (1..=TEN_STEPS)
            .map(|i| format!("r{i}"))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(lab.resources(), expected, "after {point:?}");
        // Counted in the resources themselves: a kill can land between a creation and its log
        // line, and resume must then adopt it, not create it again.
        assert!(
            lab.creations().iter().all(|(_, n)| *n == 1),
            "something was created twice after {point:?}: {:?} {:?}",
            lab.creations(),
            lab.calls()
        );
        let out = lab.run(&["rollback", "--yes"]);
        assert_eq!(
            code(&out),
            Some(0),
            "rollback after {point:?}: {:?}",
            text(&out)
        );
        assert!(
            lab.resources().is_empty(),
            "left after {point:?}: {:?}",
            lab.resources()
        );
    }
}

#[test]
fn a_run_killed_mid_step_can_be_rolled_back_without_resuming() {
    let lab = Lab::new(&ten_step_chain());
    kill_at(&lab, &["create", "s3", "r3"]);
    let out = lab.run(&["rollback", "--yes"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    // r3 was created but never journaled as done: rollback found it by its key.
    assert!(lab.resources().is_empty(), "left: {:?}", lab.resources());
}

/// Rollback looks for what a killed step left; when that look fails, the rollback says so and
/// stays incomplete (exit 3) rather than report that nothing was left, and the next rollback
/// looks again.
#[test]
fn a_failed_look_for_an_interrupted_steps_leftovers_keeps_the_rollback_incomplete() {
    let lab = Lab::new(
        "runbook: 1\nname: Unchecked\nsteps:\n  - {id: s1, action: test.create, with: {name: r1, sleep_after: 5s, reconcile_fails: true}}\n",
    );
    kill_at(&lab, &["create", "s1", "r1"]);
    for _ in 0..2 {
        let out = lab.run(&["rollback", "--yes"]);
        let (_, stderr) = text(&out);
        assert_eq!(code(&out), Some(3), "{stderr}");
        assert!(
            stderr.contains("could not check what the interrupted step left"),
            "{stderr}"
        );
        assert_eq!(lab.resources(), vec!["r1".to_owned()], "r1 is still there");
    }
}

#[test]
fn a_torn_journal_line_is_tolerated() {
    let lab = Lab::new(&ten_step_chain());
    kill_at(&lab, &["end", "s2"]);
    let id = lab.run_ids()[0].clone();
    let path = lab.journal_path(&id);
    let mut journal = std::fs::read_to_string(&path).unwrap();
    journal.push_str("{\"at\":\"2026-11-25T00:00:00Z\",\"event\":\"step_suc");
    std::fs::write(&path, journal).unwrap();
    let out = lab.run(&["resume", &id, "--yes"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    assert_eq!(lab.resources().len(), TEN_STEPS);
}

/// A run a newer runbook wrote or resumed (CI upgraded, a laptop not yet) holds records this one
/// does not know. It is refused as a newer runbook's, with the way on, never called damaged or
/// sent to `sweep`, which would delete a healthy run's resources. A record the newer runbook marked
/// optional is passed over, and the run is acted on as usual.
#[test]
fn a_record_of_a_newer_runbook_is_refused_as_such_and_an_optional_one_is_passed_over() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Newer
        steps:
          - {id: a, action: test.create, with: {name: a}}
        ",
    );
    ok_run(&lab.run(&["run", "rb.yaml", "--yes"]));
    let id = lab.run_ids()[0].clone();
    let path = lab.journal_path(&id);
    let written = std::fs::read_to_string(&path).unwrap();
    let newer = "{\"at\":\"2026-12-07T00:00:00Z\",\"event\":\"step_checkpoint\",\"step\":\"a\"";
    std::fs::write(&path, format!("{written}{newer}}}\n")).unwrap();
    let listed = lab.run(&["runs"]);
    assert!(
        text(&listed).0.contains(&format!(
            "holds a `step_checkpoint` record (line {}), which this runbook",
            written.lines().count() + 1
        )),
        "{:?}",
        text(&listed)
    );
    let refused = lab.run(&["rollback", &id, "--yes"]);
    let (_, stderr) = text(&refused);
    assert_eq!(code(&refused), Some(1), "{stderr}");
    assert!(
        stderr.contains("a newer runbook wrote it")
            && stderr.contains("upgrade this one")
            && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("damaged") && !stderr.contains("sweep"),
        "{stderr}"
    );
    assert_eq!(lab.resources(), ["a"], "nothing was undone");
    std::fs::write(&path, format!("{written}{newer},\"optional\":true}}\n")).unwrap();
    let out = lab.run(&["rollback", &id, "--yes"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    assert!(lab.resources().is_empty());
}

#[test]
fn a_second_process_on_the_same_run_is_refused() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Long
        steps:
          - {id: long, action: test.create, with: {name: long, sleep: 3s}}
        ",
    );
    let mut child = lab
        .command(&["run", "rb.yaml", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    while lab.calls().is_empty() {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let id = lab.run_ids()[0].clone();
    let out = lab.run(&["resume", &id, "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "run `{id}` is being driven by another runbook process (pid {})",
            child.id()
        )),
        "{stderr}"
    );
    let out = lab.run(&["rollback", &id, "--yes"]);
    assert_eq!(code(&out), Some(2), "{:?}", text(&out));
    assert!(child.wait().expect("the run ends").success());
}

#[test]
fn a_missing_var_under_yes_is_exit_2_before_anything_happens() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Needs a name
        vars:
          who: {description: Whom to create for.}
        steps:
          - {id: a, action: test.create, with: {name: \"{{ vars.who }}\"}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(2), "{stderr}");
    assert!(
        stderr.contains("error[missing-var]: the var `who` has no value"),
        "{stderr}"
    );
    assert!(stderr.contains("`--var who=VALUE`"), "{stderr}");
    assert!(lab.calls().is_empty());
    assert!(lab.run_ids().is_empty(), "no run was recorded");
}

#[test]
fn a_required_manual_step_under_yes_is_exit_2() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Manual
        steps:
          - {id: made, action: test.create, with: {name: made}}
          - {id: registrar, action: core.manual, needs: [made], with: {instructions: Point the domain at Route 53., required: true}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(2), "{stderr}");
    assert!(
        stderr.contains("`registrar` is a manual step (required); nothing was run"),
        "{stderr}"
    );
    assert!(
        lab.calls().is_empty() && lab.resources().is_empty(),
        "refused before the first step: {:?}",
        lab.calls()
    );
}

#[test]
fn a_question_without_a_terminal_and_without_yes_fails_instead_of_waiting() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Asks
        steps:
          - {id: risky, action: test.create, confirm: Really?, with: {name: risky}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(2), "{stderr}");
    assert!(
        stderr.contains("`risky` asks \"Really?\"") && stderr.contains("nothing was run"),
        "{stderr}"
    );
    assert!(stderr.contains("add --yes to answer yes"), "{stderr}");
    assert!(
        !lab.path().join(".runbook").exists() && lab.calls().is_empty(),
        "refused before its first step, with no journal"
    );
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
}

/// A step that reads the outputs of a skipped step is skipped, saying which; one that only
/// follows it (`needs:`) runs.
#[test]
fn a_step_reading_a_skipped_step_is_skipped_and_one_that_only_follows_it_runs() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Skips
        steps:
          - {id: off, action: test.create, when: false, with: {name: off}}
          - {id: reader, action: core.note, with: {text: \"{{ steps.off.id }}\"}}
          - {id: follower, action: core.note, needs: [off], with: {text: after}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--output", "json"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    let (stdout, _) = text(&out);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let ended = |step: &str| {
        events
            .iter()
            .find(|e| {
                e["step"] == step
                    && ["step_skipped", "step_succeeded"].contains(&e["event"].as_str().unwrap())
            })
            .cloned()
            .unwrap_or_else(|| panic!("{step} in {stdout}"))
    };
    assert_eq!(ended("reader")["event"], "step_skipped", "{stdout}");
    assert!(
        ended("reader")
            .to_string()
            .contains("it reads the outputs of skipped step `off`"),
        "{stdout}"
    );
    assert_eq!(ended("follower")["event"], "step_succeeded", "{stdout}");
}

#[test]
fn every_json_line_parses_and_the_junit_report_has_a_case_per_step() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Report
        steps:
          - {id: made, action: test.create, with: {name: made}}
          - {id: slow, action: test.create, with: {name: slow, sleep: 30s}}
          - {id: skipped, action: core.note, when: false, with: {text: no}}
          - {id: boom, action: test.fail, needs: [made], with: {message: it broke}}
        ",
    );
    let out = lab.run(&[
        "run",
        "rb.yaml",
        "--yes",
        "--output",
        "json",
        "--junit",
        "report.xml",
    ]);
    assert_eq!(code(&out), Some(1), "{:?}", text(&out));
    let (stdout, _) = text(&out);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "run_started",
        "step_started",
        "step_succeeded",
        "step_skipped",
        "step_failed",
        "step_cancelled",
        "run_finished",
        "rollback_started",
        "undo_succeeded",
        "rollback_finished",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let xml = std::fs::read_to_string(lab.path().join("report.xml")).expect("the JUnit report");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    let cancelled = events
        .iter()
        .find(|e| e["event"] == "step_cancelled")
        .unwrap();
    assert_eq!(cancelled["step"], "slow");
    assert_eq!(cancelled["reason"], "cancelled: `boom` failed");
    let suite = &report.test_suites[0];
    assert_eq!(
        suite.test_cases.len(),
        5,
        "a case per step and the rollback"
    );
    assert_eq!(suite.failures, 1);
    assert!(xml.contains("it broke"), "{xml}");
    // The attributes the JUnit schema requires (Ant/Jenkins): a suite's name and counts, a case's
    // name and class, a failure's or skip's message.
    for line in [
        "<testsuite name=\"Report\" tests=\"5\" skipped=\"2\" errors=\"0\" failures=\"1\">",
        "<testcase name=\"skipped\" classname=\"Report\">",
        "<skipped message=\"cancelled: `boom` failed\"/>",
        "<skipped message=\"its `when` is false\"/>",
        "<failure message=\"it broke\"/>",
    ] {
        assert!(xml.contains(line), "{line} missing from:\n{xml}");
    }
    assert!(
        xml.contains("<testcase name=\"made\" classname=\"Report\" time=\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase name=\"(rollback)\" classname=\"Report\""),
        "the rollback after the failure is a case: {xml}"
    );
}

/// A secret appears nowhere the run shows or keeps it, in plain or JSON output, the `JUnit`
/// report or the journal, whether it comes from the environment or `--var`.
#[test]
fn a_secret_appears_nowhere() {
    let secret = "s3cr3t-T0KEN-value";
    let lab = Lab::new(
        "
        runbook: 1
        name: Secret
        vars:
          token: {secret: true}
        steps:
          - {id: use, action: core.set, with: {header: \"Bearer {{ vars.token }}\"}}
          - {id: say, action: core.note, with: {text: \"token is {{ vars.token }}\"}}
          - {id: boom, action: test.fail, needs: [use, say], with: {message: \"failed with {{ vars.token }}\"}}
        outputs:
          header: \"{{ steps.use.header }}\"
        ",
    );
    for output in ["plain", "json"] {
        let out = lab
            .command(&[
                "run",
                "rb.yaml",
                "--yes",
                "--output",
                output,
                "--junit",
                "report.xml",
            ])
            .env("RUNBOOK_VAR_TOKEN", secret)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{output}: {stdout}{stderr}"
        );
        assert!(
            stderr.contains("***") || stdout.contains("***"),
            "masked values are shown as ***"
        );
        let xml = std::fs::read_to_string(lab.path().join("report.xml")).unwrap();
        assert!(!xml.contains(secret), "{xml}");
        // Given in the environment, nothing is said of how it was given.
        assert!(!stderr.contains("Warning"), "{stderr}");
    }
    // Typed with `--var`, it is masked all the same, and the run warns that the command line is
    // seen by others on the machine and kept in shell history, naming the way to give it instead.
    let typed = format!("token={secret}");
    let out = lab.run(&["run", "rb.yaml", "--yes", "--var", &typed]);
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains("Warning: the secret var `token` was given with --var")
            && stderr.contains("Give it as RUNBOOK_VAR_TOKEN in the environment")
            && !stdout.contains(secret)
            && !stderr.contains(secret),
        "{stderr}"
    );
    for id in lab.run_ids() {
        assert!(
            !lab.journal(&id).contains(secret),
            "the journal holds the secret"
        );
    }
}

#[test]
fn runs_and_show_list_what_the_state_directory_remembers() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Remembered
        steps:
          - {id: made, action: test.create, with: {name: made}}
        ",
    );
    assert_eq!(code(&lab.run(&["run", "rb.yaml", "--yes"])), Some(0));
    let id = lab.run_ids()[0].clone();
    let (stdout, _) = text(&lab.run(&["runs"]));
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("succeeded") && line.ends_with("Remembered"),
        "{line}"
    );
    let (stdout, _) = text(&lab.run(&["show", &id]));
    assert!(
        stdout.contains("made: succeeded\n    id = made"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Alive: \n  test resource made (step made)"),
        "{stdout}"
    );
    let shown: serde_json::Value =
        serde_json::from_slice(&lab.run(&["show", &id, "--output", "json"]).stdout).unwrap();
    assert_eq!(shown["alive"][0]["id"], "made");
    let out = lab.run(&["show", "nope"]);
    assert_eq!(code(&out), Some(2));
}

#[test]
fn resume_refuses_a_changed_runbook_unless_forced() {
    let lab = Lab::new(&ten_step_chain());
    kill_at(&lab, &["end", "s2"]);
    let changed = ten_step_chain().replace("name: r5,", "name: r5-renamed,");
    std::fs::write(lab.path().join("rb.yaml"), changed).unwrap();
    let out = lab.run(&["resume", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(2), "{stderr}");
    assert!(stderr.contains("changed steps: s5"), "{stderr}");
    let out = lab.run(&["resume", "--yes", "--force"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    assert!(lab.resources().contains(&"r5-renamed".to_owned()));
}

/// A runbook changed after a step failed: where only steps not done yet changed (the fix of
/// the failed one), the refusal says `--force` runs them as they are now; where a done step
/// changed, it names that step and `resume --from` it, which runs it again as it is now with no
/// `--force`.
#[test]
fn a_changed_runbook_says_which_way_to_go_on() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Changed
        steps:
          - {id: a, action: test.create, with: {name: a}}
          - {id: b, action: test.fail, needs: [a], with: {message: not yet}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--on-failure", "keep"]);
    assert_eq!(code(&out), Some(1), "{:?}", text(&out));
    let id = crate::test::run_ids(&lab.path().join(".runbook")).remove(0);
    let rb = lab.path().join("rb.yaml");
    let fixed = std::fs::read_to_string(&rb).unwrap().replace(
        "test.fail, needs: [a], with: {message: not yet}",
        "test.create, needs: [a], with: {name: b}",
    );
    std::fs::write(&rb, &fixed).unwrap();
    let out = lab.run(&["resume", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(2), "{stderr}");
    assert!(
        stderr.contains("no changed step is done yet")
            && stderr.contains(&format!(
                "resume {id} --force` runs them as the runbook says now"
            )),
        "{stderr}"
    );
    std::fs::write(&rb, fixed.replace("{name: a}", "{name: a2}")).unwrap();
    let out = lab.run(&["resume", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(2), "{stderr}");
    assert!(
        stderr.contains("`a` ran as the runbook said then")
            && stderr.contains(&format!("resume {id} --from a` undoes it")),
        "{stderr}"
    );
    let out = lab.run(&["resume", "--yes", "--from", "a"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    assert_eq!(lab.resources(), ["a2", "b"]);
}

fn interrupt(pid: u32) {
    let ok = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "could not signal {pid}");
}

fn wait_for(lab: &Lab, what: &str, step: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lab
        .calls()
        .iter()
        .any(|(_, w)| w.len() > 1 && w[0] == what && w[1] == step)
    {
        assert!(
            Instant::now() < deadline,
            "never saw `{what} {step}`: {:?}",
            lab.calls()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn ctrl_c_stops_cancels_the_wait_applies_on_failure_and_exits_130() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Interrupt me
        steps:
          - {id: made, action: test.create, with: {name: made}}
          - {id: slow, action: test.create, needs: [made], with: {name: slow, sleep: 60s}}
          - {id: after, action: test.create, needs: [slow], with: {name: after}}
        ",
    );
    let child = lab
        .command(&["run", "rb.yaml", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for(&lab, "start", "slow");
    let started = Instant::now();
    interrupt(child.id());
    let out = child.wait_with_output().expect("the run ends");
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(130), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the 60 s wait was not cancelled"
    );
    assert!(stderr.contains("Run interrupted"), "{stderr}");
    assert!(
        stderr.contains("Rollback complete"),
        "--yes rolls back: {stderr}"
    );
    assert!(lab.resources().is_empty(), "{:?}", lab.resources());
    assert!(
        !lab.calls().iter().any(|(_, w)| w[1] == "after"),
        "no step starts after an interrupt"
    );
}

/// `show` says who started a run: the user's name (`USER`), else the system's name for the
/// process's user, as in a container or CI runner that sets no `USER`; never a made-up name.
#[test]
fn show_names_who_started_the_run_even_where_user_is_not_set() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Whose
        steps:
          - {id: made, action: test.create, with: {name: made}}
        ",
    );
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let run = |user: Option<&str>| {
        let mut cmd = lab.command(&["run", "rb.yaml", "--yes"]);
        cmd.env_remove("USERNAME");
        match user {
            Some(user) => cmd.env("USER", user),
            None => cmd.env_remove("USER"),
        };
        assert!(cmd.output().expect("run").status.success());
        let (stdout, _) = text(&lab.run(&["show"]));
        stdout
    };
    let shown = run(Some("ann"));
    assert!(shown.contains(&format!(" by ann@{host}\n")), "{shown}");
    let shown = run(None);
    let me = whoami::username().expect("the system names this process's user");
    assert!(shown.contains(&format!(" by {me}@{host}\n")), "{shown}");
}

/// A step that only reads (a sleep, a wait) leaves nothing when it is interrupted: the rollback
/// looks for what the interrupted creates may have made, and not for what a sleep made.
#[test]
fn an_interrupted_sleep_is_not_searched_for_leftovers() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Interrupt a sleep
        steps:
          - {id: made, action: test.create, with: {name: made}}
          - {id: pause, action: core.sleep, needs: [made], with: {duration: 60s}}
        ",
    );
    let mut child = lab
        .command(&["run", "rb.yaml", "--yes", "--output", "plain"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = String::new();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        child.stderr.take().expect("stderr"),
    ));
    for line in lines.by_ref() {
        let line = line.expect("a line");
        stderr.push_str(&line);
        stderr.push('\n');
        if line.contains("sleeping for") {
            break;
        }
    }
    interrupt(child.id());
    for line in lines {
        stderr.push_str(&line.expect("a line"));
        stderr.push('\n');
    }
    let status = child.wait().expect("the run ends");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("Rollback complete"), "{stderr}");
    assert!(
        !stderr.contains("may have made"),
        "a sleep makes nothing to look for: {stderr}"
    );
    assert!(lab.resources().is_empty(), "{:?}", lab.resources());
}

#[test]
fn a_second_ctrl_c_exits_at_once_and_the_journal_stays_usable() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Slow to undo
        steps:
          - {id: made, action: test.create, with: {name: made, undo_sleep: 60s}}
          - {id: slow, action: test.create, needs: [made], with: {name: slow, sleep: 60s}}
        ",
    );
    let child = lab
        .command(&["run", "rb.yaml", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The first Ctrl-C stops the run, which then rolls back (slowly); the second exits at once.
    wait_for(&lab, "start", "slow");
    interrupt(child.id());
    wait_for(&lab, "undo-wait", "made");
    let started = Instant::now();
    interrupt(child.id());
    let out = child.wait_with_output().expect("the run ends");
    assert_eq!(code(&out), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the second Ctrl-C did not exit at once"
    );
    // It says, as it exits, how to see where the run is and how to remove what it made.
    let id = crate::test::run_ids(&lab.path().join(".runbook")).remove(0);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("Stopped at once: `")
            && stderr.contains(&format!("runbook show {id}` shows how far it got"))
            && stderr.contains(&format!("runbook rollback {id}` removes what it made")),
        "{stderr}"
    );
    // The journal is whole: `runs` reads it, and a rollback can be resumed (the resource is
    // still there; its slow undo is simply started again).
    let (stdout, _) = text(&lab.run(&["runs"]));
    assert!(stdout.contains("rolling back"), "{stdout}");
    assert_eq!(lab.resources(), ["made"]);
}

/// After a failure the run rolls back by itself; a Ctrl-C then stops that rollback at its next
/// wait (exit 130) and says how to go on with it.
#[test]
fn ctrl_c_during_the_rollback_after_a_failure_stops_it_and_says_how_to_go_on() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Slow to undo
        steps:
          - {id: made, action: test.create, with: {name: made, undo_sleep: 60s}}
          - {id: boom, action: test.fail, needs: [made]}
        ",
    );
    let child = lab
        .command(&["run", "rb.yaml", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for(&lab, "undo-wait", "made");
    let started = Instant::now();
    interrupt(child.id());
    let out = child.wait_with_output().expect("the run ends");
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(130), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the rollback's wait was not cancelled"
    );
    assert!(
        stderr.contains(&format!(
            "Rollback interrupted. To go on with it: {BIN} rollback"
        )),
        "{stderr}"
    );
    assert_eq!(lab.resources(), ["made"], "nothing was half-removed");
}

/// A loopback HTTP server answering `answers` in turn (then the last one forever), recording the
/// Host header of each request.
fn serve(
    answers: Vec<(u16, &'static str)>,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    let hosts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = hosts.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|r| r > 2) {
                if let Some(host) = line.to_ascii_lowercase().strip_prefix("host:") {
                    seen.lock().unwrap().push(host.trim().to_owned());
                }
                line.clear();
            }
            let (status, body) = answers[n.min(answers.len() - 1)];
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, hosts)
}

#[test]
fn check_http_waits_for_the_expected_answer_and_can_resolve_elsewhere() {
    let (port, hosts) = serve(vec![
        (503, "warming up"),
        (200, "<h1>secondary</h1>"),
        (200, "<h1>primary</h1>"),
    ]);
    let lab = Lab::new(&format!(
        "
        runbook: 1
        name: HTTP
        steps:
          - id: page
            action: check.http
            with: {{url: \"http://site.example:{port}/\", resolve: 127.0.0.1, expect_body: primary, timeout: 20s}}
        "
    ));
    let out = lab.run(&["run", "rb.yaml", "--yes", "--output", "json"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    let (stdout, _) = text(&out);
    let done: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "step_succeeded")
        .unwrap();
    assert_eq!(done["outputs"]["status"], 200);
    assert_eq!(done["outputs"]["body"], "<h1>primary</h1>");
    assert!(
        stdout.contains("waiting for 200 containing `primary`"),
        "progress shows what it waits for: {stdout}"
    );
    let hosts = hosts.lock().unwrap().clone();
    assert_eq!(hosts.len(), 3, "{hosts:?}");
    assert!(
        hosts.iter().all(|h| h == &format!("site.example:{port}")),
        "the URL's host name is sent: {hosts:?}"
    );
}

#[test]
fn a_measured_page_check_says_when_it_answered_and_how_long_after_since() {
    let (port, _) = serve(vec![(503, "stopping"), (200, "<h1>secondary</h1>")]);
    let since =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() - Duration::from_secs(30))
            .to_string();
    let runbook = |since: &str| {
        format!(
            "
            runbook: 1
            name: HTTP
            steps:
              - id: page
                action: check.http
                with: {{url: \"http://site.example:{port}/\", resolve: 127.0.0.1, expect_body: secondary, timeout: 20s, since: \"{since}\"}}
            "
        )
    };
    let lab = Lab::new(&runbook(&since));
    let out = lab.run(&["run", "rb.yaml", "--yes", "--output", "json"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    let done: serde_json::Value = text(&out)
        .0
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "step_succeeded")
        .unwrap();
    let seconds = done["outputs"]["seconds_since"].as_u64().unwrap();
    assert!((30..60).contains(&seconds), "{done}");
    let answered =
        humantime::parse_rfc3339_weak(done["outputs"]["answered_at"].as_str().unwrap()).unwrap();
    assert!(
        answered > humantime::parse_rfc3339_weak(&since).unwrap(),
        "{done}"
    );

    // A `since` that is not a time is the runbook's mistake: exit 2, saying what to give.
    let lab = Lab::new(&runbook("after the stop"));
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    assert_eq!(code(&out), Some(2), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("`since` is not an RFC 3339 time"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn check_http_fails_with_what_it_saw_when_time_runs_out() {
    let (port, _) = serve(vec![(200, "<h1>primary</h1>")]);
    let lab = Lab::new(&format!(
        "
        runbook: 1
        name: HTTP
        steps:
          - {{id: page, action: check.http, with: {{url: \"http://127.0.0.1:{port}/\", expect_body: secondary, timeout: 1s}}}}
        "
    ));
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("GET http://127.0.0.1:{port}/ did not answer 200 containing `secondary` within 1s; last: status 200")), "{stderr}");
    assert!(
        stderr.contains(
            "hint: the body did not contain the expected text; it began: <h1>primary</h1>"
        ),
        "{stderr}"
    );
}

/// A body cut off before its end is no answer (not an empty page that a check without
/// `expect_body` would pass); a large one is read only as far as its first MiB, where
/// `expect_body` is looked for.
#[test]
fn check_http_takes_a_cut_off_body_for_no_answer_and_reads_a_large_one_in_part() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|r| r > 2) {
                line.clear();
            }
            // 100 bytes promised, 10 sent, then the connection closes.
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
            );
        }
    });
    let lab = Lab::new(&format!(
        "
        runbook: 1
        name: HTTP
        steps:
          - {{id: page, action: check.http, with: {{url: \"http://127.0.0.1:{port}/\", timeout: 1s}}}}
        "
    ));
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(1), "{stderr}");
    assert!(
        stderr.contains("last: status 200, but the body was cut off"),
        "{stderr}"
    );

    let large: &'static str =
        Box::leak(format!("<h1>primary</h1>{}", "x".repeat(3 << 20)).into_boxed_str());
    let (port, _) = serve(vec![(200, large)]);
    let lab = Lab::new(&format!(
        "
        runbook: 1
        name: HTTP
        steps:
          - {{id: page, action: check.http, with: {{url: \"http://127.0.0.1:{port}/\", expect_body: primary, timeout: 20s}}}}
        "
    ));
    let out = lab.run(&["run", "rb.yaml", "--yes", "--output", "json"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out).1);
    let done: serde_json::Value = text(&out)
        .0
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "step_succeeded")
        .unwrap();
    assert_eq!(done["outputs"]["body"].as_str().map(str::len), Some(4096));
}

/// A page that quotes a secret where `check.http` cuts what it keeps (the `body` output's 4 KiB,
/// the 200 characters of a failure's hint) shows none of it: the secret is masked before the cut,
/// which would otherwise leave its start for the masking to miss. `runbook check` masks it too.
#[test]
fn a_secret_that_a_cut_body_would_split_shows_nothing_of_itself() {
    let secret = "s3cr3t-T0KEN-value";
    let start = &secret[..8];
    let at = |n: usize| -> &'static str {
        Box::leak(format!("{}{secret} and more", "x".repeat(n)).into_boxed_str())
    };
    // A page that quotes the secret after `before` characters, checked for `expect`.
    let lab = |before: usize, expect: &str| {
        let (port, _) = serve(vec![(200, at(before))]);
        Lab::new(&format!(
            "
            runbook: 1
            name: HTTP
            vars:
              token: {{secret: true}}
            steps:
              - {{id: page, action: check.http, with: {{url: \"http://127.0.0.1:{port}/\", expect_body: {expect}, timeout: 2s}}}}
            "
        ))
    };
    let lab_cut = lab(4090, "and more");
    let out = lab_cut
        .command(&["run", "rb.yaml", "--yes", "--output", "json"])
        .env("RUNBOOK_VAR_TOKEN", secret)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), Some(0), "{stderr}");
    let done: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "step_succeeded")
        .unwrap();
    let body = done["outputs"]["body"].as_str().unwrap();
    assert_eq!(
        body.chars().count(),
        4096,
        "the output is still cut to 4 KiB"
    );
    assert!(body.ends_with("x*** an"), "{}", &body[4080..]);
    assert!(
        !stdout.contains(start) && !stderr.contains(start),
        "{stdout}{stderr}"
    );

    let lab = lab(190, "secondary");
    for command in [&["run", "rb.yaml", "--yes"][..], &["check", "rb.yaml"]] {
        let out = lab
            .command(command)
            .env("RUNBOOK_VAR_TOKEN", secret)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(code(&out), Some(1), "{command:?}: {stdout}{stderr}");
        assert!(
            format!("{stdout}{stderr}").contains("it began: xxxx"),
            "{command:?}: {stdout}{stderr}"
        );
        assert!(
            !stdout.contains(start) && !stderr.contains(start),
            "{command:?}: {stdout}{stderr}"
        );
    }
}

#[test]
fn a_successful_run_ends_with_the_command_that_undoes_it() {
    let lab = Lab::new(
        "runbook: 1\nname: Made\nsteps:\n  - {id: made, action: test.create, with: {name: made}}\n",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--state-dir", "st"]);
    let (_, stderr) = text(&out);
    let id = crate::test::run_ids(&lab.path().join("st")).remove(0);
    assert!(
        stderr.ends_with(&format!(
            "It created 1 resource. To remove them: {BIN} rollback {id} --state-dir st\n"
        )),
        "{stderr}"
    );
}

#[test]
fn module_outputs_and_vars_flow_between_steps_at_run_time() {
    // Regression: rendering a module's vars from the parent while the parent's other module
    // outputs were being rendered once indexed a scope that did not exist yet (a panic).
    let lab = Lab::new(
        "
        runbook: 1
        name: Modules
        steps:
          - {id: base, action: test.create, with: {name: base}}
          - id: first
            uses: mod.yaml
            with: {label: \"one-{{ steps.base.id }}\"}
          - id: second
            uses: mod.yaml
            with: {label: \"two-{{ steps.first.made }}\"}
          - {id: last, action: test.create, with: {name: \"last-{{ steps.second.made }}\"}}
        outputs:
          chain: \"{{ steps.last.id }}\"
        ",
    );
    std::fs::write(
        lab.path().join("mod.yaml"),
        "runbook: 1\nname: M\nvars:\n  label: {}\nsteps:\n  - {id: item, action: test.create, with: {name: \"{{ vars.label }}\"}}\noutputs:\n  made: \"{{ steps.item.id }}\"\n",
    )
    .unwrap();
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(0), "{stderr}");
    assert_eq!(
        lab.resources(),
        ["base", "last-two-one-base", "one-base", "two-one-base"]
    );
    assert!(stderr.contains("chain: last-two-one-base"), "{stderr}");
}

#[test]
fn an_undo_that_fails_retryably_is_retried_until_it_succeeds_within_the_window() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Busy
        steps:
          - {id: busy, action: test.create, with: {name: busy, undo_fail_attempts: 2}}
          - {id: boom, action: test.fail, needs: [busy]}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes"]);
    assert_eq!(code(&out), Some(1), "{:?}", text(&out));
    let retries = lab
        .calls()
        .iter()
        .filter(|(_, w)| w[0] == "undo-retry")
        .count();
    assert_eq!(retries, 2);
    assert!(lab.resources().is_empty());
}

#[test]
fn an_undo_still_failing_when_the_window_closes_is_exit_3() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Busy for long
        steps:
          - {id: busy, action: test.create, with: {name: busy, undo_fail_attempts: 1000}}
          - {id: boom, action: test.fail, needs: [busy]}
        ",
    );
    let out = lab
        .command(&["run", "rb.yaml", "--yes"])
        .env("RUNBOOK_UNDO_WINDOW", "3s")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "busy is still in use (DependencyViolation, on purpose) (still failing after"
        ),
        "{stderr}"
    );
    assert_eq!(lab.resources(), ["busy"]);
}

/// A loopback DNS server (UDP) answering every A query with `answers` in turn (then the last
/// one), counting the queries.
fn dns(answers: Vec<[u8; 4]>) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use hickory_proto::op::{Message, OpCode};
    use hickory_proto::rr::{RData, Record, rdata::A};
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a loopback port");
    let port = socket.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut answer = Message::response(query.metadata.id, OpCode::Query);
            for q in &query.queries {
                answer.add_query(q.clone());
                if q.query_type() != hickory_proto::rr::RecordType::A {
                    continue;
                }
                let i = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let ip = answers[i.min(answers.len() - 1)];
                answer.add_answer(Record::from_rdata(
                    q.name().clone(),
                    60,
                    RData::A(A::new(ip[0], ip[1], ip[2], ip[3])),
                ));
            }
            let _ = socket.send_to(&answer.to_vec().unwrap(), from);
        }
    });
    (port, count)
}

/// `nameservers` asks the zone's own name servers on every attempt, with no cache: when the
/// answer changes (a failover), the next request goes to the new address.
#[test]
fn check_http_asks_the_given_name_servers_on_every_attempt() {
    let (port, hosts) = serve(vec![(200, "<h1>secondary</h1>")]);
    // First the old answer (nothing listens there), then the new one.
    let (dns_port, queries) = dns(vec![[127, 0, 0, 2], [127, 0, 0, 1]]);
    let lab = Lab::new(&format!(
        "
        runbook: 1
        name: HTTP
        steps:
          - id: page
            action: check.http
            with: {{url: \"http://site.example:{port}/\", nameservers: [\"127.0.0.1:{dns_port}\"], expect_body: secondary, timeout: 30s}}
        "
    ));
    let out = lab.run(&["run", "rb.yaml", "--yes", "--output", "json"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    let (stdout, _) = text(&out);
    let done: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "step_succeeded")
        .unwrap();
    assert_eq!(done["outputs"]["address"], "127.0.0.1");
    assert!(
        stdout.contains(&format!(
            "GET http://site.example:{port}/ via 127.0.0.2: cannot connect"
        )),
        "the first attempt went where DNS pointed then: {stdout}"
    );
    assert!(
        queries.load(std::sync::atomic::Ordering::Relaxed) >= 2,
        "asked again, no cache"
    );
    assert_eq!(
        hosts.lock().unwrap().clone(),
        [format!("site.example:{port}")]
    );
}

/// In a class, one student's failing lab does not stop the others: it is rolled back (or kept
/// with `--on-failure keep`) while the rest finish, and the table and exit code say so.
#[test]
fn a_failing_lab_in_a_class_is_rolled_back_or_kept_and_the_others_finish() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Class lab
        vars:
          prefix: {default: x}
          broken: {type: boolean, default: false}
        outputs:
          url: \"http://{{ vars.prefix }}.example/\"
        steps:
          - {id: made, action: test.create, with: {name: \"{{ vars.prefix }}\", sleep: 200ms}}
          - {id: check, action: test.fail, when: \"{{ vars.broken }}\", needs: [made], with: {message: the check failed}}
        ",
    );
    std::fs::write(
        lab.path().join("students.csv"),
        "student,prefix,broken\nann,ann,false\nben,ben,true\ncid,cid,false\n",
    )
    .unwrap();
    let args = [
        "run",
        "rb.yaml",
        "--class",
        "c1",
        "--each",
        "students.csv",
        "--yes",
        "--output",
        "plain",
    ];
    let out = lab.run(&args);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(1), "{stderr}");
    let row = |who: &str| {
        stderr
            .lines()
            .find(|l| l.starts_with(&format!("{who} ")))
            .unwrap_or_else(|| panic!("no row for {who}:\n{stderr}"))
            .to_owned()
    };
    assert!(
        row("ann").contains("succeeded") && row("ann").contains("http://ann.example/"),
        "{stderr}"
    );
    assert!(row("ben").contains("failed, rolled back"), "{stderr}");
    assert!(row("ben").contains("check: the check failed"), "{stderr}");
    assert!(row("cid").contains("succeeded"), "{stderr}");
    assert!(stderr.contains("2 labs of 3 set up"), "{stderr}");
    assert_eq!(lab.resources(), ["ann", "cid"], "ben's lab was rolled back");

    // Again: the labs that are set up are skipped; ben's is kept this time.
    let out = lab.run(&[&args[..], &["--on-failure", "keep"]].concat());
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(1), "{stderr}");
    assert!(stderr.contains("ann: lab already set up"), "{stderr}");
    assert!(stderr.contains("failed, kept"), "{stderr}");
    assert_eq!(lab.resources(), ["ann", "ben", "cid"]);

    // JSON: every event names its student, and the class ends with the table as an object.
    let out = lab.run(&["rollback", "--class", "c1", "--yes", "--output", "json"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    let (stdout, _) = text(&out);
    assert!(
        stdout
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["student"].is_string()),
        "{stdout}"
    );
    assert!(
        lab.resources().is_empty(),
        "rollback --class removed every lab"
    );

    let out = lab.run(&[&args[..], &["--junit", "report.xml"]].concat());
    assert_eq!(code(&out), Some(2), "{:?}", text(&out));
    assert!(
        text(&out)
            .1
            .contains("--junit does not work with --class yet"),
        "{:?}",
        text(&out)
    );
    assert!(lab.resources().is_empty(), "refused before anything ran");
}

/// A create whose answer is lost (a dropped connection after the work was done) is found by
/// reconcile and adopted: not created again by a retry, not left behind by a rollback.
#[test]
fn a_create_whose_answer_was_lost_is_adopted_not_repeated_or_leaked() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Lost answer
        steps:
          - {id: made, action: test.create, retry: {attempts: 3, delay: 10ms}, with: {name: made, lose_answer: true}}
          - {id: after, action: test.create, needs: [made], with: {name: after}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--output", "plain"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(0), "{stderr}");
    assert!(
        stderr.contains("found what it had created all the same"),
        "{stderr}"
    );
    assert_eq!(
        lab.creations(),
        [("after".to_owned(), 1), ("made".to_owned(), 1)],
        "created once, not once per attempt"
    );
    let out = lab.run(&["rollback", "--yes"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    assert!(
        lab.resources().is_empty(),
        "the adopted resource was rolled back"
    );
}

/// A lab whose rollback could not finish is reported (exit 3), and the class is not run again
/// over it: a new lab would meet the old one's names.
#[test]
fn a_class_lab_whose_rollback_did_not_finish_blocks_a_rerun_until_it_is_rolled_back() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Class lab
        vars:
          prefix: {default: x}
        steps:
          - {id: made, action: test.create, with: {name: \"{{ vars.prefix }}\", undo_fails: true}}
          - {id: check, action: test.fail, needs: [made]}
        ",
    );
    std::fs::write(lab.path().join("students.csv"), "student\nann\n").unwrap();
    let args = [
        "run",
        "rb.yaml",
        "--class",
        "c3",
        "--each",
        "students.csv",
        "--yes",
        "--output",
        "plain",
    ];
    let out = lab.run(&args);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(3), "{stderr}");
    assert!(stderr.contains("failed, rollback incomplete"), "{stderr}");
    let out = lab.run(&args);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(2), "{stderr}");
    assert!(
        stderr.contains("was being rolled back and that did not finish"),
        "{stderr}"
    );
    assert!(stderr.contains("runbook rollback --class c3"), "{stderr}");
}

/// `--until STEP` runs every step that does not need STEP, pauses before it (exit 0, nothing
/// rolled back), `runs` lists the run as paused, and `resume` goes on from there; a step the
/// runbook lacks is refused before anything runs, with the closest id.
#[test]
fn until_pauses_before_a_step_and_its_dependents_and_resume_goes_on() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Pauses
        steps:
          - {id: vpc, action: test.create, with: {name: vpc}}
          - {id: exercise, action: test.create, needs: [vpc], with: {name: record}}
          - {id: after, action: test.create, needs: [exercise], with: {name: after}}
          - {id: aside, action: test.create, needs: [vpc], with: {name: aside}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--until", "exercize"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(2), "{stderr}");
    assert!(
        stderr.contains("--until `exercize`: the runbook has no such step")
            && stderr.contains("did you mean `exercise`?"),
        "{stderr}"
    );
    assert!(lab.resources().is_empty(), "nothing ran");

    let out = lab.run(&["run", "rb.yaml", "--yes", "--until", "exercise"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(0), "{stderr}");
    assert_eq!(
        lab.resources(),
        ["aside", "vpc"],
        "the steps that do not need `exercise` ran, it and its dependents did not"
    );
    let id = lab.run_ids()[0].clone();
    assert!(
        stderr.contains("Paused before `exercise`, as --until asked.")
            && stderr.contains(&format!("{BIN} resume {id}")),
        "{stderr}"
    );
    assert!(
        lab.journal(&id).contains(r#""status":"paused""#),
        "journaled as paused"
    );
    let runs = lab.run(&["runs", "--output", "json"]);
    let (stdout, _) = text(&runs);
    let listed: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(listed[0]["status"], "paused", "{stdout}");

    let out = lab.run(&["resume", &id, "--yes"]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(0), "{stderr}");
    assert_eq!(lab.resources(), ["after", "aside", "record", "vpc"]);
    assert_eq!(
        lab.creations().iter().map(|(_, n)| *n).max(),
        Some(1),
        "nothing made twice"
    );
}

/// `--events FILE` appends every event as JSON lines beside the chosen output; a file that cannot
/// be written is refused before anything runs (exit 2), saying which and why.
#[test]
fn events_go_to_a_file_beside_the_output() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Events
        steps:
          - {id: made, action: test.create, with: {name: made}}
        ",
    );
    // A folder that cannot be made (its parent is a file) is refused before anything runs.
    let out = lab.run(&[
        "run",
        "rb.yaml",
        "--yes",
        "--events",
        "rb.yaml/events.jsonl",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(2), "{stderr}");
    assert!(
        stderr.contains("--events rb.yaml/events.jsonl: cannot write to it"),
        "{stderr}"
    );
    assert!(lab.resources().is_empty(), "nothing ran");
    let out = lab.run(&[
        "run",
        "rb.yaml",
        "--yes",
        "--output",
        "plain",
        "--events",
        "events.jsonl",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), Some(0), "{stderr}");
    assert!(
        !stdout.contains("step_succeeded"),
        "the output stays plain: {stdout}"
    );
    let events: Vec<serde_json::Value> = std::fs::read_to_string(lab.path().join("events.jsonl"))
        .expect("the events file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        names,
        [
            "run_started",
            "step_started",
            "step_succeeded",
            "run_finished"
        ],
        "{events:?}"
    );
}

/// A run that fails before its first step still writes the reports CI reads: a `JUnit` report
/// whose `(run)` case fails with the reason, and, with `--output json`, an `error` event with the
/// exit code as its last line.
#[test]
fn a_run_failing_before_its_first_step_writes_a_failed_junit_report_and_a_json_error() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Needs a name
        vars:
          who: {description: Who is greeted}
        steps:
          - {id: hello, action: core.note, with: {text: \"hello {{ vars.who }}\"}}
        ",
    );
    let out = lab.run(&[
        "run",
        "rb.yaml",
        "--yes",
        "--output",
        "json",
        "--junit",
        "report.xml",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), Some(2), "{stderr}");
    let xml = std::fs::read_to_string(lab.path().join("report.xml")).expect("the JUnit report");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    assert_eq!(report.test_suites[0].failures, 1, "{xml}");
    assert!(xml.contains("<testcase name=\"(run)\""), "{xml}");
    assert!(xml.contains("who"), "the reason names the var: {xml}");
    let last: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a JSON line")).unwrap();
    assert_eq!(last["event"], "error", "{stdout}");
    assert_eq!(last["exit"], 2, "{stdout}");
    assert!(
        last["message"].as_str().unwrap().contains("who"),
        "{stdout}"
    );
}

/// An interrupted run is a failed suite, never a green one: its `(run)` case fails saying so,
/// whatever its steps' cases say.
#[test]
fn an_interrupted_run_is_a_failed_junit_suite() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Interrupt me
        steps:
          - {id: made, action: test.create, with: {name: made}}
          - {id: slow, action: test.create, needs: [made], with: {name: slow, sleep: 60s}}
        ",
    );
    let child = lab
        .command(&["run", "rb.yaml", "--yes", "--junit", "report.xml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for(&lab, "start", "slow");
    interrupt(child.id());
    let out = child.wait_with_output().expect("the run ends");
    assert_eq!(code(&out), Some(130), "{:?}", text(&out));
    let xml = std::fs::read_to_string(lab.path().join("report.xml")).expect("the JUnit report");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    assert!(report.test_suites[0].failures >= 1, "{xml}");
    assert!(xml.contains("interrupted"), "{xml}");
    let leftovers: Vec<_> = std::fs::read_dir(lab.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "written atomically: {leftovers:?}");
}

/// A value computed from a secret (`upper`, a slice of it) and the secret percent-encoded (as a
/// URL carries it) or JSON-escaped (as a command prints it) are secret too: in no output mode,
/// events file, `JUnit` report, plan or journal.
#[test]
fn a_derived_or_percent_encoded_secret_appears_nowhere() {
    let secret = "pässwörd zz";
    let forms = [
        "PÄSSWÖRD ZZ",
        "p%C3%A4ssw%C3%B6rd%20zz",
        "%C3%A4ssw",
        "pässw",
        "p\\u00e4ssw",
    ];
    let lab = Lab::new(
        "
        runbook: 1
        name: Derived
        vars:
          token: {secret: true}
        steps:
          - {id: loud, action: core.set, with: {value: \"{{ vars.token | upper }}\"}}
          - {id: head, action: core.set, with: {value: \"{{ vars.token[:5] }}\"}}
          - id: said
            action: core.exec
            with:
              command: [python3, -c, \"import json, os, sys; print(json.dumps(os.environ['T']), file=sys.stderr); print('{}')\"]
              env: {T: \"{{ vars.token }}\"}
          - {id: url, action: check.http, timeout: 2s, with: {url: \"http://127.0.0.1:9/{{ vars.token }}\"}}
        ",
    );
    let mut seen = String::new();
    for output in ["plain", "json"] {
        let out = lab
            .command(&[
                "run",
                "rb.yaml",
                "--yes",
                "--output",
                output,
                "--junit",
                "report.xml",
                "--events",
                "events.jsonl",
            ])
            .env("RUNBOOK_VAR_TOKEN", secret)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        seen.push_str(&stdout);
        seen.push_str(&stderr);
        seen.push_str(&std::fs::read_to_string(lab.path().join("report.xml")).unwrap());
    }
    let plan = lab
        .command(&["plan", "rb.yaml"])
        .env("RUNBOOK_VAR_TOKEN", secret)
        .output()
        .unwrap();
    seen.push_str(&text(&plan).0);
    seen.push_str(&std::fs::read_to_string(lab.path().join("events.jsonl")).unwrap());
    for id in lab.run_ids() {
        seen.push_str(&lab.journal(&id));
    }
    assert!(seen.contains("***"), "masked values are shown as ***");
    assert!(
        seen.contains("said: \"***\""),
        "the command's stderr, masked: {seen}"
    );
    for form in forms.iter().chain([&secret]) {
        assert!(!seen.contains(form), "{form} appears:\n{seen}");
    }
}

/// The state directory holds only regular files the tool made: a lock or a journal planted as a
/// link is refused (exit 1) and its target left as it was; a path given as a run id names no run
/// and nothing is written there; what the tool makes is private (folders 0700, files 0600).
#[test]
fn links_in_the_state_directory_are_refused_and_what_it_makes_is_private() {
    use std::os::unix::fs::{PermissionsExt as _, symlink};
    let lab = Lab::new(
        "
        runbook: 1
        name: Links
        steps:
          - {id: made, action: test.create, with: {name: made}}
          - {id: boom, action: test.fail, needs: [made], with: {message: it broke}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--on-failure", "keep"]);
    assert_eq!(code(&out), Some(1), "{:?}", text(&out));
    let id = lab.run_ids()[0].clone();
    let run_dir = lab.path().join(".runbook/runs").join(&id);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&run_dir), 0o700);
    assert_eq!(mode(&run_dir.join("journal.jsonl")), 0o600);
    assert_eq!(mode(&run_dir.join("lock")), 0o600);

    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("precious");
    std::fs::write(&target, "keep me\n").unwrap();
    std::fs::remove_file(run_dir.join("lock")).unwrap();
    symlink(&target, run_dir.join("lock")).unwrap();
    let out = lab.run(&["resume", "--yes", &id]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(1), "{stderr}");
    assert!(stderr.contains("is a link"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    std::fs::remove_file(run_dir.join("lock")).unwrap();

    let journal = run_dir.join("journal.jsonl");
    let copy = elsewhere.path().join("journal.jsonl");
    std::fs::rename(&journal, &copy).unwrap();
    let kept = std::fs::read_to_string(&copy).unwrap();
    symlink(&copy, &journal).unwrap();
    let out = lab.run(&["rollback", "--yes", &id]);
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), Some(1), "{stderr}");
    assert!(stderr.contains("is a link"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        kept,
        "the copy is untouched"
    );

    let folder = elsewhere.path().join("some-folder");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(&copy, folder.join("journal.jsonl")).unwrap();
    let out = lab.run(&["rollback", "--yes", folder.to_str().unwrap()]);
    assert_eq!(code(&out), Some(2), "{:?}", text(&out));
    assert!(!folder.join("lock").exists(), "nothing is written there");
    assert_eq!(
        std::fs::read_to_string(folder.join("journal.jsonl")).unwrap(),
        kept
    );
}

/// Report options are checked before anything runs: an events file that cannot be opened or a
/// `JUnit` report in a folder that cannot be made is refused (exit 2) and leaves no run behind; a
/// folder that does not exist yet is made; an events file
/// whose writes fail (a full disk: /dev/full) fails the run loudly rather than go quiet.
#[test]
fn report_files_are_checked_first_and_their_write_errors_fail_the_run() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Reports
        steps:
          - {id: made, action: test.create, with: {name: made}}
        ",
    );
    // A folder that cannot be made (its parent is a file).
    for args in [
        vec!["run", "rb.yaml", "--yes", "--events", "rb.yaml/e.jsonl"],
        vec!["run", "rb.yaml", "--yes", "--junit", "rb.yaml/report.xml"],
    ] {
        let out = lab.run(&args);
        assert_eq!(code(&out), Some(2), "{args:?}: {:?}", text(&out));
        assert!(lab.run_ids().is_empty(), "{args:?} left a run behind");
        assert!(lab.resources().is_empty());
    }
    // A folder that does not exist yet is made, as pytest and nextest make theirs: a CI job's
    // `--junit reports/runbook.xml` needs no step that makes `reports`.
    let out = lab.run(&[
        "run",
        "rb.yaml",
        "--yes",
        "--junit",
        "reports/runbook.xml",
        "--events",
        "logs/events.jsonl",
    ]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    for made in ["reports/runbook.xml", "logs/events.jsonl"] {
        let written = std::fs::read_to_string(lab.path().join(made)).unwrap_or_default();
        assert!(written.contains("made"), "{made}: {written}");
    }
    assert_eq!(code(&lab.run(&["rollback", "--yes"])), Some(0));
    let out = lab.run(&["resume", "--yes"]);
    assert_eq!(code(&out), Some(2), "nothing to resume: {:?}", text(&out));
    if Path::new("/dev/full").exists() {
        let out = lab.run(&["run", "rb.yaml", "--yes", "--events", "/dev/full"]);
        let (_, stderr) = text(&out);
        assert_eq!(code(&out), Some(1), "{stderr}");
        assert!(stderr.contains("could not be written"), "{stderr}");
    }
}

/// One class, one driver: two `run --class` of one class started together make one lab per
/// student: the second is refused (exit 2) naming the process that holds the class.
#[test]
fn two_classes_of_one_name_started_together_make_one_lab_per_student() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Class
        steps:
          - {id: made, action: test.create, with: {name: \"made-{{ run.id }}\", sleep: 2s}}
        ",
    );
    std::fs::write(lab.path().join("c.csv"), "student\nann\nbob\n").unwrap();
    let args = [
        "run", "rb.yaml", "--class", "c7", "--each", "c.csv", "--yes",
    ];
    let first = lab
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let second = lab
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    let mut codes = [code(&first), code(&second)];
    codes.sort_unstable();
    assert_eq!(
        codes,
        [Some(0), Some(2)],
        "{:?} {:?}",
        text(&first),
        text(&second)
    );
    let refused = if code(&first) == Some(2) {
        &first
    } else {
        &second
    };
    assert!(
        text(refused)
            .1
            .contains("class `c7` is being driven by pid"),
        "{:?}",
        text(refused)
    );
    assert_eq!(lab.run_ids().len(), 2, "one run per student");
    assert_eq!(lab.resources().len(), 2, "one lab per student");
}

/// A failed step nothing needs may be marked skipped, and the run then finishes; one that
/// others need is refused, naming them; a step that succeeded has nothing to mark.
#[test]
fn a_failed_step_nothing_needs_is_marked_skipped_and_the_run_goes_on() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Skip
        steps:
          - {id: made, action: test.create, with: {name: made}}
          - {id: optional, action: test.fail, needs: [made], with: {message: a flaky extra}}
          - {id: checked, action: test.fail, with: {message: needed}}
          - {id: after, action: test.create, needs: [checked], with: {name: after}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--on-failure", "keep"]);
    assert_eq!(code(&out), Some(1), "{:?}", text(&out));
    let id = crate::test::run_ids(&lab.path().join(".runbook")).remove(0);

    let out = lab.run(&["mark", &id, "checked", "--skip"]);
    assert_eq!(code(&out), Some(2), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("`after` needs it") && text(&out).1.contains("--done"),
        "{:?}",
        text(&out)
    );
    let out = lab.run(&["mark", &id, "made", "--skip"]);
    assert_eq!(code(&out), Some(2), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("already succeeded"),
        "{:?}",
        text(&out)
    );
    let out = lab.run(&["mark", &id, "optionl", "--skip"]);
    assert_eq!(code(&out), Some(2), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("did you mean `optional`"),
        "{:?}",
        text(&out)
    );

    assert_eq!(
        code(&lab.run(&["mark", &id, "optional", "--skip"])),
        Some(0)
    );
    // `checked` has no outputs: done by hand, `after` may run.
    assert_eq!(code(&lab.run(&["mark", &id, "checked", "--done"])), Some(0));
    let junit = lab.path().join("report.xml");
    let junit_arg = format!("--junit={}", junit.display());
    let out = lab.run(&["resume", &id, "--yes", &junit_arg]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    assert_eq!(lab.resources(), ["after", "made"]);
    let report = std::fs::read_to_string(&junit).unwrap();
    assert!(
        report.contains("marked done by hand by "),
        "the JUnit case says so: {report}"
    );
    let (runs, _) = text(&lab.run(&["runs"]));
    assert!(runs.contains("(marked done by hand: checked)"), "{runs}");
    let listed: serde_json::Value =
        serde_json::from_slice(&lab.run(&["runs", "--output", "json"]).stdout).unwrap();
    assert_eq!(listed[0]["marked"], serde_json::json!(["checked"]));
    let (shown, _) = text(&lab.run(&["show", &id]));
    assert!(
        shown.contains("optional: skipped: marked skipped by hand by ")
            && shown.contains("checked: succeeded: marked done by hand by "),
        "{shown}"
    );
}

/// The outputs that later steps read are named in the command that marks a step done: refused a
/// skip, and refused a `--done` without them, the user is shown `mark … --done --output
/// word=VALUE` to fill in, not a `KEY=VALUE` to look up.
#[test]
fn marking_a_step_done_shows_the_outputs_to_give() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Mark
        steps:
          - {id: checked, action: core.exec, with: {command: [sh, -c, exit 3], outputs: [word]}}
          - {id: after, action: test.create, with: {name: \"{{ steps.checked.word }}\"}}
        ",
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--on-failure", "keep"]);
    assert_eq!(code(&out), Some(1), "{:?}", text(&out));
    let id = crate::test::run_ids(&lab.path().join(".runbook")).remove(0);
    let wanted = format!("mark {id} checked --done --output word=VALUE");
    for how in ["--skip", "--done"] {
        let out = lab.run(&["mark", &id, "checked", how]);
        assert_eq!(code(&out), Some(2), "{:?}", text(&out));
        assert!(text(&out).1.contains(&wanted), "{how}: {:?}", text(&out));
    }
    assert_eq!(
        code(&lab.run(&["mark", &id, "checked", "--done", "--output", "word=w"])),
        Some(0)
    );
    assert_eq!(code(&lab.run(&["resume", &id, "--yes"])), Some(0));
    assert_eq!(lab.resources(), ["w"]);
}

/// `resume --from` a step whose undo is not the tool's to do (`rollback: skip`) is refused, naming
/// it; from the step after it, only that step and what follows are undone and made again.
#[test]
fn resume_from_refuses_a_step_kept_on_rollback_and_rebuilds_only_what_follows() {
    let lab = Lab::new(
        "
        runbook: 1
        name: Again
        steps:
          - {id: base, action: test.create, rollback: skip, with: {name: base}}
          - {id: top, action: test.create, needs: [base], with: {name: top}}
          - {id: side, action: test.create, with: {name: side}}
        ",
    );
    assert_eq!(code(&lab.run(&["run", "rb.yaml", "--yes"])), Some(0));
    let id = crate::test::run_ids(&lab.path().join(".runbook")).remove(0);
    let out = lab.run(&["resume", &id, "--from", "base", "--yes"]);
    assert_eq!(code(&out), Some(2), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("`base`") && text(&out).1.contains("rollback: skip"),
        "{:?}",
        text(&out)
    );
    let out = lab.run(&["resume", &id, "--from", "top", "--yes"]);
    assert_eq!(code(&out), Some(0), "{:?}", text(&out));
    assert_eq!(lab.resources(), ["base", "side", "top"]);
    // Said as what it is: a part undone to be made again, never the run rolled back.
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!(
            "Undoing 1 step of {id} to run it again: 1 resource"
        )) && stderr.contains("Undone, to be made again: 1 test resource"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Rollback complete") && !stderr.contains("left nothing behind"),
        "{stderr}"
    );
    let calls: Vec<String> = lab.calls().into_iter().map(|(_, w)| w.join(" ")).collect();
    let count = |what: &str| calls.iter().filter(|c| c.starts_with(what)).count();
    assert_eq!(count("create top"), 2, "top made again: {calls:?}");
    assert_eq!(count("undo top"), 1, "after its undo: {calls:?}");
    assert_eq!(count("create base"), 1, "{calls:?}");
    assert_eq!(count("create side"), 1, "{calls:?}");
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("undo base") || c.starts_with("undo side")),
        "{calls:?}"
    );
}

/// The runbook of `core.exec` steps the issue describes: each makes a file and says where, each
/// has an undo, the middle one answers after a crash whether it ran, the last one is handed a
/// secret.
const COMMANDS: &str = r#"
runbook: 1
name: Commands
vars:
  dir: {}
  token: {secret: true}
steps:
  - id: a
    action: core.exec
    with:
      command: [sh, -c, 'echo run-a >> "$DIR/log"; touch "$DIR/a"; echo "{\"path\": \"$DIR/a\"}"']
      env: {DIR: "{{ vars.dir }}"}
      undo: [sh, -c, 'rm -f "$DIR/a"; echo undo-a >> "$DIR/log"']
      outputs: [path]
  - id: b
    needs: [a]
    action: core.exec
    with:
      command: [sh, -c, 'echo run-b >> "$DIR/log"; sleep 2; touch "$DIR/b"; echo "{\"path\": \"$DIR/b\"}"']
      env: {DIR: "{{ vars.dir }}"}
      undo: [sh, -c, 'rm -f "$DIR/b"; echo undo-b >> "$DIR/log"']
      reconcile: [sh, -c, 'if [ -e "$DIR/b" ]; then echo "{\"path\": \"$DIR/b\"}"; else echo null; fi']
      outputs: [path]
  - id: c
    needs: [b]
    action: core.exec
    with:
      command: [sh, -c, 'echo "using $TOKEN" >&2; echo run-c >> "$DIR/log"; touch "$DIR/c"; echo "{\"path\": \"$DIR/c\", \"said\": \"token $TOKEN\"}"']
      env: {DIR: "{{ vars.dir }}", TOKEN: "{{ vars.token }}"}
      undo: [sh, -c, 'rm -f "$DIR/c"; echo undo-c >> "$DIR/log"']
      outputs: [path, said]
"#;

/// Killed with SIGKILL in the middle of a command, resumed: no finished command runs twice (the
/// interrupted one is adopted by its `reconcile`); rollback runs every undo in reverse order; the
/// secret never shows or is kept.
#[test]
fn commands_resume_after_a_kill_without_running_twice_and_roll_back_in_reverse() {
    let lab = Lab::new(COMMANDS);
    let work = lab.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let dir = format!("dir={}", work.display());
    let secret = "s3cr3t-t0ken-value";
    let token = format!("token={secret}");
    let events = lab.path().join("events.jsonl");
    let events_arg = format!("--events={}", events.display());
    let log = || std::fs::read_to_string(work.join("log")).unwrap_or_default();

    let mut child = lab
        .command(&[
            "run",
            "rb.yaml",
            "--yes",
            "--var",
            &dir,
            "--var",
            &token,
            &events_arg,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !log().contains("run-b") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "b never started: {}",
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The interrupted command goes on without the tool, and finishes.
    while !work.join("b").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "b never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let validate = lab.run(&["validate", "rb.yaml"]);
    assert!(
        text(&validate)
            .1
            .contains("runs commands (`a`, `b` and `c`) with the rights of whoever runs it"),
        "{:?}",
        text(&validate)
    );
    let plan = lab.run(&["plan", "rb.yaml", "--var", &dir, "--var", &token]);
    assert!(
        text(&plan).0.contains("3 run a command (effect unknown)"),
        "{:?}",
        text(&plan)
    );

    let junit = lab.path().join("report.xml");
    let junit_arg = format!("--junit={}", junit.display());
    let resumed = lab.run(&[
        "resume",
        "--yes",
        "--var",
        &token,
        "--output",
        "json",
        &events_arg,
        &junit_arg,
    ]);
    assert_eq!(code(&resumed), Some(0), "{:?}", text(&resumed));
    assert_eq!(
        log().lines().collect::<Vec<_>>(),
        ["run-a", "run-b", "run-c"],
        "each command ran once"
    );

    let rolled = lab.run(&["rollback", "--yes", "--output", "json", &events_arg]);
    assert_eq!(code(&rolled), Some(0), "{:?}", text(&rolled));
    assert_eq!(
        log().lines().skip(3).collect::<Vec<_>>(),
        ["undo-c", "undo-b", "undo-a"],
        "every undo, in reverse order"
    );
    for f in ["a", "b", "c"] {
        assert!(!work.join(f).exists(), "{f} removed");
    }

    // The secret: in no output, report, event or journal.
    let mut seen = vec![
        text(&resumed).0,
        text(&resumed).1,
        text(&rolled).0,
        text(&rolled).1,
        text(&plan).0,
        std::fs::read_to_string(&events).unwrap(),
        std::fs::read_to_string(&junit).unwrap(),
        text(&lab.run(&["show", "--output", "json"])).0,
    ];
    for entry in walk(&lab.path().join(".runbook")) {
        seen.push(std::fs::read_to_string(entry).unwrap_or_default());
    }
    for text in &seen {
        assert!(!text.contains(secret), "the secret leaked: {text}");
    }
    assert!(
        seen.iter().any(|t| t.contains("token ***")),
        "the output that held it is masked"
    );
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A command with no `outputs` speaks to whoever runs it: each line of its stdout is shown under
/// the step's one heading (and as `step_message` events), secrets masked, bytes that are not UTF-8
/// replaced rather than ending the read. One with `outputs` that prints more than the outputs'
/// object allows fails saying so, instead of blocking on a full pipe until its timeout.
#[test]
fn a_commands_stdout_is_shown_and_too_much_of_it_fails_rather_than_hangs() {
    let lab = Lab::new(
        r#"
        runbook: 1
        name: Speaks
        vars:
          token: {secret: true, default: hunter2-token}
        steps:
          - id: hello
            action: core.exec
            with:
              command: [sh, -c, 'echo hello world; echo "token $TOKEN"; printf "odd \377 byte\n"; echo last']
              env: {TOKEN: "{{ vars.token }}"}
        "#,
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--output", "plain"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let said: Vec<&str> = stderr
        .lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest))
        .skip_while(|l| *l != "  hello:")
        .take(5)
        .collect();
    assert_eq!(
        said,
        [
            "  hello:",
            "    hello world",
            "    token ***",
            "    odd \u{fffd} byte",
            "    last"
        ],
        "{stderr}"
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--output", "json"]);
    let messages: Vec<String> = text(&out)
        .0
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "step_message")
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(messages[..2], ["hello world", "token ***"]);

    let lab = Lab::new(
        r#"
        runbook: 1
        name: Floods
        steps:
          - id: flood
            action: core.exec
            timeout: 5m
            with:
              command: [sh, -c, 'head -c 3000000 /dev/zero | tr "\0" x']
              outputs: [word]
              timeout: 4m
        "#,
    );
    let out = lab.run(&["run", "rb.yaml", "--yes", "--output", "plain"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for said in [
        "printed more than 1024 KiB on stdout",
        "hint: write logs and other output to stderr",
    ] {
        assert!(stderr.contains(said), "{stderr}");
    }
}

/// An interrupt stops a command with its whole process group; after a crash, a command with no
/// `reconcile:` is not run again under `--yes`: the resume fails saying why and what to do.
#[test]
fn an_interrupt_stops_the_command_and_a_crash_without_reconcile_is_not_run_twice() {
    let lab = Lab::new(
        r#"
        runbook: 1
        name: Long
        vars:
          dir: {}
        steps:
          - id: long
            action: core.exec
            with:
              command: [sh, -c, 'sleep 60 & echo $! > "$DIR/pid"; echo started >> "$DIR/log"; wait']
              env: {DIR: "{{ vars.dir }}"}
        "#,
    );
    let work = lab.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let dir = format!("dir={}", work.display());
    let started = |lab: &Lab| {
        let child = lab
            .command(&["run", "rb.yaml", "--yes", "--var", &dir])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while !work.join("pid").exists() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the command never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        child
    };
    // Running, not a zombie that nobody has reaped yet (a container's first process may not).
    let alive = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
    };

    let mut child = started(&lab);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let pid = std::fs::read_to_string(work.join("pid")).unwrap();
    let t = Instant::now();
    while alive(&pid) && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !alive(&pid),
        "the command's own children were stopped with it"
    );

    std::fs::remove_file(work.join("pid")).unwrap();
    let mut child = started(&lab);
    child.kill().unwrap();
    child.wait().unwrap();
    let pid = std::fs::read_to_string(work.join("pid")).unwrap();
    let _ = Command::new("kill").args(["-9", pid.trim()]).status();
    let out = lab.run(&["resume", "--yes"]);
    assert_eq!(code(&out), Some(1), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("may have run before the run stopped")
            && text(&out).1.contains("reconcile"),
        "{:?}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(work.join("log"))
            .unwrap()
            .lines()
            .count(),
        2,
        "not run a third time"
    );
}
