//! `runbook web` against the emulator: the pages over a kept lab, the lab's stand-in for the
//! internet following a stop made behind the tool's back, a class's board, the token a listener
//! beyond loopback requires, and the pages as a person sees them in headless Chromium.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::aws::{Lab, boto3, ok};
use crate::test::BIN;

/// A `runbook web` over a lab's state directory, stopped when dropped.
struct Server {
    child: Child,
    /// Where it listens, as it printed it (with `?token=…` when it needs one).
    url: String,
}

impl Server {
    fn start(lab: &Lab, listen: &str) -> Server {
        Server::over(lab, listen, &["--state-dir", ".runbook"])
    }

    /// Over another state directory (`--state-dir s3://…`, with its endpoint).
    fn over(lab: &Lab, listen: &str, state: &[&str]) -> Server {
        let mut args = vec!["--listen", listen];
        args.extend(state);
        Server::launch(lab.dir.path(), &args)
    }

    /// `runbook web ARGS` in `dir`, once it has printed where it listens.
    fn launch(dir: &std::path::Path, args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .arg("web")
            .args(args)
            .current_dir(dir)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("RUNBOOK_WEB_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("runbook web starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("http://"),
            "it prints its address: {line:?}"
        );
        Server {
            child,
            url: line.trim().to_owned(),
        }
    }

    /// The address of `path`, on loopback (a server on 0.0.0.0 is reached there too), without
    /// the token.
    fn at(&self, path: &str) -> String {
        let base = self.url.split('?').next().unwrap().trim_end_matches('/');
        format!("{}{path}", base.replace("0.0.0.0", "127.0.0.1"))
    }

    /// The token it printed, if it needs one.
    fn token(&self) -> Option<&str> {
        self.url.split_once("?token=").map(|(_, t)| t)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET a page: its status and body. `html` asks as a browser does (`Accept: text/html`).
fn get(lab: &Lab, url: &str, html: bool) -> (u16, String) {
    lab.rt.block_on(async {
        let mut request = reqwest::Client::new().get(url);
        if html {
            request = request.header("accept", "text/html,application/xhtml+xml");
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    })
}

/// A failover lab run to the end and kept, its drill off: the primary answers.
fn kept_lab(lab: &Lab, domain: &str) -> String {
    ok(&lab.failover(
        &lab.emulator.url,
        &["--var", &format!("domain={domain}"), "--var", "drill=false"],
    ));
    lab.run_ids().pop().unwrap()
}

/// Stop the primary stack's instances, as a person would with boto3, behind the tool's back.
const STOP_PRIMARY: &str = r#"
import sys
import boto3
ec2 = boto3.client("ec2", region_name="ap-south-1", endpoint_url=sys.argv[1])
found = ec2.describe_instances(Filters=[{"Name": "tag:runbook:stack", "Values": ["primary"]},
                                         {"Name": "instance-state-name", "Values": ["running"]}])
ids = [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]
assert ids, "no running primary instance"
ec2.stop_instances(InstanceIds=ids)
"#;

#[test]
fn the_pages_show_a_kept_lab_and_the_stand_in_follows_a_stop() {
    let lab = Lab::new();
    let id = kept_lab(&lab, "web.example.org");
    let server = Server::start(&lab, "127.0.0.1:0");
    assert_eq!(server.token(), None, "loopback needs no token");

    let (status, runs) = get(&lab, &server.at("/"), true);
    assert_eq!(status, 200, "{runs}");
    assert!(runs.contains(&id), "the run is listed: {runs}");
    assert!(
        runs.contains(
            "title=\"primary_record, secondary_record\">2 by the runbook</div><div class=\"exercises\" title=\"stop_primary\">1 skipped</div>"
        ),
        "its exercises in words, the steps on hover: {runs}"
    );
    assert_eq!(
        runs.matches("<h2>").count(),
        0,
        "no heading repeats `Runs`: {runs}"
    );

    let (status, page) = get(&lab, &server.at(&format!("/runs/{id}")), true);
    assert_eq!(status, 200, "{page}");
    for expected in [
        "lab-primary-alb",
        "lab-secondary-alb",
        "primary.vpc",
        "web.example.org A PRIMARY",
        "answers now",
        "rollback",
    ] {
        assert!(page.contains(expected), "{expected}: {page}");
    }

    // The stand-in answers as the primary's web server would, then, once its instance is
    // stopped behind the tool's back, as the secondary's: within 10 s.
    let site = server.at("/site/web.example.org/");
    let (status, body) = get(&lab, &site, false);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<h1>primary</h1>"), "{body}");
    assert!(
        !body.contains("stand-in"),
        "a check gets the page alone: {body}"
    );
    let (_, shown) = get(&lab, &site, true);
    assert!(
        shown.contains("stand-in for the internet") && shown.contains("http://web.example.org/"),
        "a browser sees what this stands in for: {shown}"
    );
    boto3(&lab, STOP_PRIMARY, &[]);
    let stopped = Instant::now();
    let body = loop {
        let (_, body) = get(&lab, &site, false);
        if body.contains("<h1>secondary</h1>") || stopped.elapsed() > Duration::from_secs(10) {
            break body;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        body.contains("<h1>secondary</h1>"),
        "the secondary answers within 10 s of the stop: {body}"
    );
    let (_, page) = get(&lab, &server.at(&format!("/runs/{id}")), true);
    assert!(
        page.contains("with the <strong>SECONDARY</strong> record"),
        "the run's page says which record answers now: {page}"
    );
    let (status, _) = get(&lab, &server.at("/site/nowhere.example.net/"), false);
    assert_eq!(status, 404, "a domain no lab serves");
    let (status, body) = get(&lab, &server.at("/runs/no-such-run"), true);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No run no-such-run"), "{body}");
}

/// Runs kept in S3 by one machine are shown by a server on another.
#[test]
fn the_pages_read_runs_kept_in_s3() {
    let lab = Lab::new();
    lab.rt.block_on(lab.emulator.create_bucket("web-state"));
    let state = "s3://web-state/team";
    ok(&lab.failover(
        &lab.emulator.url,
        &[
            "--state-dir",
            state,
            "--state-region",
            "ap-south-1",
            "--var",
            "domain=s3.example.org",
            "--var",
            "drill=false",
        ],
    ));
    let server = Server::over(
        &lab,
        "127.0.0.1:0",
        &[
            "--state-dir",
            state,
            "--state-region",
            "ap-south-1",
            "--endpoint-url",
            &lab.emulator.url,
        ],
    );
    let (status, runs) = get(&lab, &server.at("/"), true);
    assert_eq!(status, 200, "{runs}");
    assert!(
        runs.contains("route53-failover") && runs.contains("web-state"),
        "{runs}"
    );
    let (status, body) = get(&lab, &server.at("/site/s3.example.org/"), false);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<h1>primary</h1>"), "{body}");
}

#[test]
fn beyond_loopback_every_page_needs_the_token() {
    let lab = Lab::new();
    let id = kept_lab(&lab, "token.example.org");
    let server = Server::start(&lab, "0.0.0.0:0");
    let token = server.token().expect("a token is printed").to_owned();
    assert!(token.len() >= 32, "{token}");
    let pages = [
        "/".to_owned(),
        format!("/runs/{id}"),
        "/class/any".to_owned(),
        "/site/token.example.org/".to_owned(),
    ];
    for page in &pages {
        let (status, body) = get(&lab, &server.at(page), true);
        assert_eq!(status, 401, "{page}: {body}");
        let (status, _) = get(&lab, &server.at(&format!("{page}?token=wrong")), true);
        assert_eq!(status, 401, "{page} with a wrong token");
    }
    let (status, body) = get(&lab, &server.at(&format!("/?token={token}")), true);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&id), "{body}");
    // The cookie the first page set opens the others.
    let status = lab.rt.block_on(async {
        let client = reqwest::Client::builder().build().unwrap();
        let first = client
            .get(server.at(&format!("/?token={token}")))
            .send()
            .await
            .unwrap();
        let cookie = first
            .headers()
            .get("set-cookie")
            .expect("a cookie keeps the token")
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        client
            .get(server.at(&format!("/runs/{id}")))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 200);
}

/// A class of three, its board, and every page in headless Chromium as a person sees it.
#[test]
fn a_class_board_has_a_tile_per_student_and_the_pages_read_right_in_a_browser() {
    let lab = Lab::new();
    let mut csv = String::from("student,domain\n");
    for s in ["ann", "ben", "cat"] {
        csv.push_str(&format!("{s},{s}.board.example\n"));
    }
    let roster = lab.dir.path().join("board.csv");
    std::fs::write(&roster, csv).unwrap();
    ok(&lab.failover(
        &lab.emulator.url,
        &[
            "--class",
            "board",
            "--each",
            roster.to_str().unwrap(),
            "--var",
            "zone=board.example",
            "--var",
            "drill=false",
            "--output",
            "plain",
        ],
    ));
    let server = Server::start(&lab, "127.0.0.1:0");
    let (status, board) = get(&lab, &server.at("/class/board"), true);
    assert_eq!(status, 200, "{board}");
    assert_eq!(board.matches("class=\"card tile\"").count(), 3, "{board}");
    for s in ["ann", "ben", "cat"] {
        assert!(board.contains(s), "{s}: {board}");
    }
    let ann = crate::test::run_ids(&lab.dir.path().join(".runbook"))
        .into_iter()
        .find(|id| {
            let (_, page) = get(&lab, &server.at(&format!("/runs/{id}")), true);
            page.contains("ann.board.example")
        })
        .expect("ann's run");

    let browser = crate::browser::Browser::start();
    let shown = browser.text(&server.at("/"));
    assert!(
        shown.contains(&ann) && shown.contains("Class board"),
        "the runs, by class: {shown}"
    );
    let shown = browser.text(&server.at(&format!("/runs/{ann}")));
    assert!(shown.contains(&ann), "{shown}");
    let answering = browser.texts(&server.at(&format!("/runs/{ann}")), ".card.answering h3");
    assert_eq!(
        answering,
        ["primary ← answers now"],
        "the stack that answers is marked"
    );
    // A stack's resources are grouped by kind: its two subnets and two security groups side by
    // side, not in the order the run happened to make them.
    let kinds = browser.texts(
        &server.at(&format!("/runs/{ann}")),
        ".card.answering div .muted",
    );
    for kind in ["subnet", "security group"] {
        let at: Vec<usize> = (0..kinds.len()).filter(|&i| kinds[i] == kind).collect();
        assert!(
            at.len() == 2 && at[1] == at[0] + 1,
            "{kind} twice, together: {kinds:?}"
        );
    }
    let tiles = browser.texts(&server.at("/class/board"), ".tile .who");
    assert_eq!(tiles, ["ann", "ben", "cat"], "a tile per student");
    let site = browser.text(&server.at("/site/ann.board.example/"));
    assert!(
        site.contains("The lab's stand-in for the internet")
            && site.contains("Route 53 chose the PRIMARY record")
            && site.lines().any(|l| l.trim() == "primary"),
        "a visitor sees the primary's page, under a banner that says what this is: {site}"
    );
}

/// `--port` is what people guess first: the pages on this machine at that port.
#[test]
fn port_serves_the_pages_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::launch(dir.path(), &["--port", "0", "--state-dir", ".runbook"]);
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    assert!(
        !server.url.starts_with("http://127.0.0.1:0/"),
        "a free port was picked: {}",
        server.url
    );
}
