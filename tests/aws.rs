//! AWS actions against the emulator, checked through the SDK directly (not the tool's output).

use std::process::{Command, Output, Stdio};

use aws_sdk_ec2::types::Filter;

use crate::emulator::{Emulator, REGION, isolate};
use crate::test::{BIN, text};

const NETWORK: &str = r#"runbook: 1
name: Network
vars:
  region: {default: ap-south-1}
steps:
  - {id: image, action: aws.ec2.find_image}
  - {id: vpc, action: aws.ec2.create_vpc, with: {cidr: 10.0.0.0/16, name: lab-primary}}
  - {id: subnet_a, action: aws.ec2.create_subnet, with: {vpc_id: "{{ steps.vpc.vpc_id }}", cidr: 10.0.1.0/24, availability_zone: "{{ aws.region }}a", public: true}}
  - {id: subnet_b, action: aws.ec2.create_subnet, with: {vpc_id: "{{ steps.vpc.vpc_id }}", cidr: 10.0.2.0/24, availability_zone: "{{ aws.region }}b", public: true}}
  - {id: igw, action: aws.ec2.create_internet_gateway, with: {vpc_id: "{{ steps.vpc.vpc_id }}"}}
  - id: routes
    action: aws.ec2.create_route_table
    with:
      vpc_id: "{{ steps.vpc.vpc_id }}"
      routes: [{destination: 0.0.0.0/0, gateway_id: "{{ steps.igw.internet_gateway_id }}"}]
      subnet_ids: ["{{ steps.subnet_a.subnet_id }}", "{{ steps.subnet_b.subnet_id }}"]
  - {id: alb_sg, action: aws.ec2.create_security_group, with: {vpc_id: "{{ steps.vpc.vpc_id }}", name: alb, description: HTTP in, ingress: [{port: 80, cidr: 0.0.0.0/0}]}}
  - {id: web_sg, action: aws.ec2.create_security_group, with: {vpc_id: "{{ steps.vpc.vpc_id }}", name: web, description: from the ALB, ingress: [{port: 80, source_security_group_id: "{{ steps.alb_sg.security_group_id }}"}]}}
"#;

pub(crate) struct Lab {
    pub dir: tempfile::TempDir,
    pub emulator: Emulator,
    pub rt: tokio::runtime::Runtime,
}

/// How many of each kind of resource exist (all of them, or those of one run).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Counts {
    vpcs: usize,
    subnets: usize,
    gateways: usize,
    route_tables: usize,
    groups: usize,
}

impl Lab {
    pub fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("net.yaml"), NETWORK).unwrap();
        Lab {
            dir,
            emulator: Emulator::start(),
            rt: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        isolate(&mut cmd, self.dir.path());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `run runbooks/route53-failover.yaml --yes --endpoint-url ENDPOINT`, then `args`.
    pub fn failover(&self, endpoint: &str, args: &[&str]) -> Output {
        let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
        let mut all = vec![
            "run",
            runbook.to_str().unwrap(),
            "--yes",
            "--endpoint-url",
            endpoint,
        ];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// A proxy to the lab's emulator that answers the first `times` calls of `operation` with
    /// the error `code`.
    fn refusing(
        &self,
        operation: &'static str,
        times: u32,
        code: &'static str,
    ) -> crate::proxy::Proxy {
        crate::proxy::Proxy::start(
            &self.emulator.url,
            crate::proxy::Faults {
                fail_first: vec![(operation, times, code)],
                ..crate::proxy::Faults::default()
            },
        )
    }

    /// `check runbooks/route53-failover.yaml --var domain=lab.example.org --endpoint-url ENDPOINT`.
    fn check_lab(&self, endpoint: &str) -> Output {
        let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
        self.run(&[
            "check",
            runbook.to_str().unwrap(),
            "--var",
            "domain=lab.example.org",
            "--endpoint-url",
            endpoint,
        ])
    }

    fn run_id(&self) -> String {
        self.run_ids().remove(0)
    }

    pub(crate) fn run_ids(&self) -> Vec<String> {
        crate::test::run_ids(&self.dir.path().join(".runbook"))
    }

    /// The A records of a zone (the first page).
    fn a_records(&self, zone: &str) -> Vec<aws_sdk_route53::types::ResourceRecordSet> {
        self.rt.block_on(async {
            self.emulator
                .route53()
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .send()
                .await
                .unwrap()
                .resource_record_sets()
                .iter()
                .filter(|r| r.r#type().as_str() == "A")
                .cloned()
                .collect()
        })
    }

    /// The id of the emulator's first hosted zone named `name`.
    fn zone_id(&self, name: &str) -> String {
        self.rt.block_on(async {
            self.emulator
                .route53()
                .list_hosted_zones_by_name()
                .dns_name(name)
                .send()
                .await
                .unwrap()
                .hosted_zones()[0]
                .id()
                .to_owned()
        })
    }

    /// Run `net.yaml` (a VPC, its subnets, gateway, route table and security groups) on the
    /// emulator, unattended; its run id.
    fn network(&self) -> String {
        ok(&self.run(&[
            "run",
            "net.yaml",
            "--yes",
            "--endpoint-url",
            &self.emulator.url,
        ]));
        self.run_ids().pop().expect("the run's id")
    }

    /// The instances in `region`, or only those `step` made (its `runbook:step` tag).
    fn instance_ids(&self, region: &str, step: Option<&str>) -> Vec<String> {
        let ec2 = self.emulator.ec2_in(region);
        self.rt.block_on(async {
            ec2.describe_instances()
                .set_filters(step.map(|step| {
                    vec![
                        Filter::builder()
                            .name("tag:runbook:step")
                            .values(step)
                            .build(),
                    ]
                }))
                .send()
                .await
                .unwrap()
                .reservations()
                .iter()
                .flat_map(aws_sdk_ec2::types::Reservation::instances)
                .filter_map(|i| i.instance_id().map(str::to_owned))
                .collect()
        })
    }

    /// Stop instances in `region` as a person would (or start them again, `start`).
    fn stop_or_start(&self, region: &str, ids: &[String], start: bool) {
        let ec2 = self.emulator.ec2_in(region);
        let ids = Some(ids.to_vec());
        self.rt.block_on(async {
            if start {
                ec2.start_instances()
                    .set_instance_ids(ids)
                    .send()
                    .await
                    .unwrap();
            } else {
                ec2.stop_instances()
                    .set_instance_ids(ids)
                    .send()
                    .await
                    .unwrap();
            }
        });
    }

    /// The VPCs of a run in a region: each one's range and `Name` tag.
    fn run_vpcs(&self, region: &str, run: &str) -> Vec<(String, String)> {
        let ec2 = self.emulator.ec2_in(region);
        self.rt.block_on(async {
            ec2.describe_vpcs()
                .filters(
                    Filter::builder()
                        .name("tag:runbook:run")
                        .values(run)
                        .build(),
                )
                .send()
                .await
                .unwrap()
                .vpcs()
                .iter()
                .map(|v| {
                    let name = v
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some("Name"))
                        .and_then(|t| t.value())
                        .unwrap_or_default();
                    (
                        v.cidr_block().unwrap_or_default().to_owned(),
                        name.to_owned(),
                    )
                })
                .collect()
        })
    }

    fn counts(&self, run: Option<&str>) -> Counts {
        let ec2 = self.emulator.ec2();
        let filters: Vec<Filter> = run
            .map(|r| Filter::builder().name("tag:runbook:run").values(r).build())
            .into_iter()
            .collect();
        self.rt.block_on(async {
            Counts {
                vpcs: ec2
                    .describe_vpcs()
                    .set_filters(Some(filters.clone()))
                    .send()
                    .await
                    .unwrap()
                    .vpcs()
                    .len(),
                subnets: ec2
                    .describe_subnets()
                    .set_filters(Some(filters.clone()))
                    .send()
                    .await
                    .unwrap()
                    .subnets()
                    .len(),
                gateways: ec2
                    .describe_internet_gateways()
                    .set_filters(Some(filters.clone()))
                    .send()
                    .await
                    .unwrap()
                    .internet_gateways()
                    .len(),
                route_tables: ec2
                    .describe_route_tables()
                    .set_filters(Some(filters.clone()))
                    .send()
                    .await
                    .unwrap()
                    .route_tables()
                    .len(),
                groups: ec2
                    .describe_security_groups()
                    .set_filters(Some(filters.clone()))
                    .send()
                    .await
                    .unwrap()
                    .security_groups()
                    .len(),
            }
        })
    }
}

pub(crate) fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{:?}", text(out));
}

/// An endpoint with nothing listening fails `run` in seconds, naming it, before any journal is
/// written; a rollback sent there on purpose (`--retarget`) fails as fast. The journal records
/// the account the credentials act in.
#[test]
fn an_unreachable_endpoint_fails_in_seconds_and_the_account_is_recorded() {
    use std::time::{Duration, Instant};
    let lab = Lab::new();
    let dead = "http://127.0.0.1:9";
    let runs = lab.dir.path().join(".runbook/runs");
    let started = Instant::now();
    let out = lab.run(&["run", "net.yaml", "--yes", "--endpoint-url", dead]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(dead), "names the endpoint: {stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        std::fs::read_dir(&runs).map_or(true, |mut d| d.next().is_none()),
        "no journal was written"
    );
    let id = lab.network();
    let journal = std::fs::read_to_string(runs.join(&id).join("journal.jsonl")).unwrap();
    assert!(
        journal.contains("\"account\":\"123456789012\"")
            && journal.contains("\"partition\":\"aws\""),
        "the account and its partition are recorded: {journal}"
    );
    let started = Instant::now();
    let out = lab.run(&["rollback", "--yes", "--endpoint-url", dead, "--retarget"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(dead), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
    ok(&lab.run(&["rollback", "--yes"]));
}

/// SIGTERM while calls hang (the endpoint stopped answering mid-run) stops the calls in flight:
/// the run exits 130 within seconds, its journal intact, and once the endpoint answers again a
/// rollback removes everything.
/// `run net.yaml --yes --on-failure keep` against `endpoint`, in the background, returned once
/// its journal records a started step.
fn run_until_a_step_starts(lab: &Lab, endpoint: &str) -> std::process::Child {
    use std::time::{Duration, Instant};
    let mut child = lab
        .command(&[
            "run",
            "net.yaml",
            "--yes",
            "--on-failure",
            "keep",
            "--endpoint-url",
            endpoint,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let runs = lab.dir.path().join(".runbook/runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_dir(&runs)
        .ok()
        .and_then(|mut d| d.next())
        .is_some_and(|e| {
            std::fs::read_to_string(e.unwrap().path().join("journal.jsonl"))
                .is_ok_and(|j| j.contains("step_started"))
        })
    {
        assert!(Instant::now() < deadline, "the run never started a step");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended too soon"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

/// Send SIGTERM and wait at most five seconds for the exit (`Err` after killing it, if not).
fn terminate(child: &mut std::process::Child) -> Result<std::process::ExitStatus, String> {
    use std::time::{Duration, Instant};
    let sent = Instant::now();
    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(signalled);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Ok(status);
        }
        if sent.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            return Err("still running 5 s after SIGTERM".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_while_calls_hang_exits_at_once_with_the_journal_intact() {
    let lab = Lab::new();
    let before = lab.counts(None);
    let mut child = run_until_a_step_starts(&lab, &lab.emulator.url);
    lab.emulator.signal("STOP");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let status = terminate(&mut child);
    lab.emulator.signal("CONT");
    assert_eq!(status.unwrap().code(), Some(130));
    let shown = lab.run(&["show", "--output", "json"]);
    assert_eq!(shown.status.code(), Some(0), "{:?}", text(&shown));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert!(shown["steps"].is_array(), "{shown}");
    ok(&lab.run(&["rollback", "--yes"]));
    assert_eq!(lab.counts(None), before, "the rollback removed everything");
}

/// A run belongs to where it ran: `resume` and `rollback` pointed at another region, at another
/// endpoint on the command line, or at a second emulator through `AWS_ENDPOINT_URL` in the
/// environment, are refused with exit 2 before any call, naming both values, and leave everything;
/// without those, `rollback` goes to the journal's own target and removes it all.
#[test]
fn resume_and_rollback_pointed_elsewhere_are_refused_and_leave_everything() {
    let lab = Lab::new();
    let other = Emulator::start();
    let before = lab.counts(None);
    // Killed after its subnet, so that the run can be resumed as well as rolled back.
    let out = lab
        .command(&[
            "run",
            "net.yaml",
            "--yes",
            "--endpoint-url",
            &lab.emulator.url,
        ])
        .env("RUNBOOK_TEST_CRASH_AFTER", "subnet_a")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{:?}", text(&out));
    let id = lab.run_id();
    let built = lab.counts(Some(&id));
    assert_eq!(built.vpcs, 1, "{built:?}");
    let elsewhere: [(Vec<&str>, Option<&str>, [&str; 2]); 3] = [
        (
            vec!["--region", "us-east-1"],
            None,
            ["`us-east-1`", "`ap-south-1`"],
        ),
        (
            vec!["--endpoint-url", "http://127.0.0.1:9"],
            None,
            ["`http://127.0.0.1:9`", lab.emulator.url.as_str()],
        ),
        (
            vec![],
            Some(other.url.as_str()),
            [other.url.as_str(), lab.emulator.url.as_str()],
        ),
    ];
    for verb in ["resume", "rollback"] {
        for (extra, env, names) in &elsewhere {
            let mut cmd = lab.command(&[&[verb, "--yes"][..], extra].concat());
            if let Some(url) = env {
                cmd.env("AWS_ENDPOINT_URL", url);
            }
            let out = cmd.output().unwrap();
            let (_, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(2), "{verb} {extra:?}: {stderr}");
            for name in names {
                assert!(
                    stderr.contains(name),
                    "{verb} {extra:?} names {name}: {stderr}"
                );
            }
            assert!(stderr.contains("--retarget"), "{stderr}");
            assert_eq!(
                lab.counts(Some(&id)),
                built,
                "{verb} {extra:?} touched nothing"
            );
        }
    }
    let runs = lab.run(&["runs", "--output", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs[0]["status"], "unfinished", "{runs}");
    // Sent on purpose to an endpoint with nothing listening, resume fails in seconds naming it.
    let started = std::time::Instant::now();
    let dead = "http://127.0.0.1:9";
    let out = lab.run(&["resume", "--yes", "--endpoint-url", dead, "--retarget"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(dead), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(lab.counts(Some(&id)), built);
    ok(&lab.run(&["rollback", "--yes"]));
    assert_eq!(
        lab.counts(None),
        before,
        "the run's own target removes it all"
    );
}

/// `show --check` asks AWS whether what the journal holds alive still exists: a security group
/// deleted in the console is reported missing, the rest present, and nothing is changed.
#[test]
fn show_check_reports_what_was_deleted_behind_the_runs_back() {
    let lab = Lab::new();
    let id = lab.network();
    let shown = lab.run(&["show", "--output", "json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let web_sg = shown["alive"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["step"] == "web_sg")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    lab.rt.block_on(async {
        lab.emulator
            .ec2()
            .delete_security_group()
            .group_id(&web_sg)
            .send()
            .await
            .unwrap();
    });
    let before = lab.counts(Some(&id));
    let out = lab.run(&["show", "--check"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!("security group {web_sg} (step web_sg) — missing")),
        "{stdout}"
    );
    assert!(
        stdout.contains("Checked against AWS: 1 resource missing"),
        "{stdout}"
    );
    let out = lab.run(&["show", "--check", "--output", "json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<&str> = shown["alive"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["checked"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "missing").count(),
        1,
        "{states:?}"
    );
    assert!(
        states.iter().filter(|s| **s == "present").count() >= 5,
        "{states:?}"
    );
    // `runs --check` does the same for every run at once.
    let out = lab.run(&["runs", "--check"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(id.as_str()) && l.ends_with("(1 missing)")),
        "{stdout}"
    );
    let out = lab.run(&["runs", "--check", "--output", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        listed[0]["missing"],
        serde_json::json!([web_sg]),
        "{listed}"
    );
    assert_eq!(lab.counts(Some(&id)), before, "looking changed nothing");
    // A run whose endpoint does not answer is "could not check", never "all present" (exit 1).
    let dead = lab.dir.path().join("dead");
    let mut journal = std::fs::read_to_string(
        lab.dir
            .path()
            .join(format!(".runbook/runs/{id}/journal.jsonl")),
    )
    .unwrap();
    journal = journal.replace(&lab.emulator.url, "http://127.0.0.1:9");
    std::fs::create_dir_all(dead.join(format!("runs/{id}"))).unwrap();
    std::fs::write(dead.join(format!("runs/{id}/journal.jsonl")), journal).unwrap();
    let out = lab
        .command(&["runs", "--check", "--state-dir", dead.to_str().unwrap()])
        .env("RUNBOOK_CALL_TIMEOUT", "1s")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("(could not check: "), "{stdout}");
    ok(&lab.run(&["rollback", "--yes"]));
}

/// Everything a run made was deleted behind its back (here by `sweep`): its rollback says
/// "already gone" for each resource rather than "removed", warns that this usually means the
/// wrong account, region or endpoint, and exits 4; its JSON events and `runs` carry the
/// distinction.
#[test]
fn a_rollback_whose_resources_are_all_gone_says_so_and_exits_4() {
    let lab = Lab::new();
    let id = lab.network();
    ok(&lab.run(&[
        "sweep",
        "--tag",
        &format!("runbook:run={id}"),
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
        "--region",
        REGION,
    ]));
    assert_eq!(lab.counts(Some(&id)).vpcs, 0, "swept");
    let out = lab.run(&["rollback", "--yes", "--output", "json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("already gone"), "{stderr}");
    assert!(stderr.contains("--expect-gone"), "{stderr}");
    assert!(
        stderr.contains("account 123456789012") && stderr.contains("region ap-south-1"),
        "says where it looked: {stderr}"
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let undone: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "undo_succeeded")
        .flat_map(|e| e["resources"].as_array().unwrap())
        .collect();
    assert!(undone.len() >= 7, "every resource: {undone:?}");
    for r in &undone {
        assert_eq!(r["outcome"], "already_gone", "{r}");
    }
    let finished = events
        .iter()
        .find(|e| e["event"] == "rollback_finished")
        .unwrap();
    assert_eq!(finished["removed"], 0, "{finished}");
    assert_eq!(finished["already_gone"], undone.len(), "{finished}");
    let runs = lab.run(&["runs", "--output", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs[0]["already_gone"], undone.len(), "{runs}");
    assert_eq!(runs[0]["removed"], 0, "{runs}");
    let shown = lab.run(&["show", &id]);
    let (shown, _) = text(&shown);
    assert!(shown.contains("were already gone"), "{shown}");
    assert!(
        shown.contains(&format!(
            "Where: account 123456789012 (aws), region ap-south-1, endpoint {}",
            lab.emulator.url
        )),
        "show says where the run went: {shown}"
    );
}

#[test]
fn the_network_is_built_as_asked_and_rollback_leaves_what_was_there_before() {
    let lab = Lab::new();
    let before = lab.counts(None);
    let id = lab.network();
    assert_eq!(
        lab.counts(Some(&id)),
        Counts {
            vpcs: 1,
            subnets: 2,
            gateways: 1,
            route_tables: 1,
            groups: 2
        }
    );
    let ec2 = lab.emulator.ec2();
    lab.rt.block_on(async {
        let by_run = Filter::builder()
            .name("tag:runbook:run")
            .values(&id)
            .build();
        let vpc = ec2
            .describe_vpcs()
            .filters(by_run.clone())
            .send()
            .await
            .unwrap()
            .vpcs()[0]
            .clone();
        assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
        let vpc_id = vpc.vpc_id().unwrap();
        let tags: Vec<(String, String)> = vpc
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().into(), t.value().unwrap().into()))
            .collect();
        assert!(
            tags.contains(&("Name".into(), "lab-primary".into())),
            "{tags:?}"
        );
        assert!(
            tags.contains(&("runbook:step".into(), "vpc".into())),
            "{tags:?}"
        );
        let dns = ec2
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
            .send()
            .await
            .unwrap();
        assert_eq!(
            dns.enable_dns_hostnames()
                .and_then(aws_sdk_ec2::types::AttributeBooleanValue::value),
            Some(true)
        );
        let subnets = ec2
            .describe_subnets()
            .filters(by_run.clone())
            .send()
            .await
            .unwrap();
        let mut zones: Vec<&str> = subnets
            .subnets()
            .iter()
            .map(|s| s.availability_zone().unwrap())
            .collect();
        zones.sort_unstable();
        assert_eq!(zones, [format!("{REGION}a"), format!("{REGION}b")]);
        assert!(
            subnets
                .subnets()
                .iter()
                .all(|s| s.map_public_ip_on_launch() == Some(true) && s.vpc_id() == Some(vpc_id))
        );
        let igw = ec2
            .describe_internet_gateways()
            .filters(by_run.clone())
            .send()
            .await
            .unwrap()
            .internet_gateways()[0]
            .clone();
        assert_eq!(igw.attachments()[0].vpc_id(), Some(vpc_id));
        let table = ec2
            .describe_route_tables()
            .filters(by_run.clone())
            .send()
            .await
            .unwrap()
            .route_tables()[0]
            .clone();
        assert!(
            table
                .routes()
                .iter()
                .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")
                    && r.gateway_id() == igw.internet_gateway_id())
        );
        assert_eq!(
            table
                .associations()
                .iter()
                .filter(|a| a.subnet_id().is_some())
                .count(),
            2
        );
        let groups = ec2
            .describe_security_groups()
            .filters(by_run)
            .send()
            .await
            .unwrap();
        let alb = groups
            .security_groups()
            .iter()
            .find(|g| g.group_name() == Some("alb"))
            .unwrap();
        let web = groups
            .security_groups()
            .iter()
            .find(|g| g.group_name() == Some("web"))
            .unwrap();
        assert_eq!(
            alb.ip_permissions()[0].ip_ranges()[0].cidr_ip(),
            Some("0.0.0.0/0")
        );
        assert_eq!(
            web.ip_permissions()[0].user_id_group_pairs()[0].group_id(),
            alb.group_id()
        );
    });
    // The endpoint was recorded with the run: rollback needs no flags.
    ok(&lab.run(&["rollback", "--yes"]));
    assert_eq!(
        lab.counts(None),
        before,
        "the emulator holds exactly what it held before"
    );
}

#[test]
fn a_crash_after_any_create_then_resume_creates_nothing_twice() {
    let lab = Lab::new();
    for step in ["vpc", "subnet_a", "igw", "routes", "web_sg"] {
        let out = lab
            .command(&[
                "run",
                "net.yaml",
                "--yes",
                "--endpoint-url",
                &lab.emulator.url,
            ])
            .env("RUNBOOK_TEST_CRASH_AFTER", step)
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "the crash hook fired at {step}");
        let id = lab.run_id();
        ok(&lab.run(&["resume", "--yes"]));
        assert_eq!(
            lab.counts(Some(&id)),
            Counts {
                vpcs: 1,
                subnets: 2,
                gateways: 1,
                route_tables: 1,
                groups: 2
            },
            "after a crash at {step}"
        );
        ok(&lab.run(&["rollback", "--yes"]));
        assert_eq!(
            lab.counts(Some(&id)),
            Counts {
                vpcs: 0,
                subnets: 0,
                gateways: 0,
                route_tables: 0,
                groups: 0
            },
            "rollback after a crash at {step}"
        );
        std::fs::remove_dir_all(lab.dir.path().join(".runbook")).unwrap();
    }
}

/// Without credentials a run for AWS stops before any call (no endpoint is given, so this would
/// be AWS: the missing credentials stop it before anything is sent), while a run against an
/// emulator on this machine, which accepts any, goes on with dummy ones.
#[test]
fn missing_credentials_fail_before_anything_with_how_to_fix_it() {
    let lab = Lab::new();
    let out = lab
        .command(&["run", "net.yaml", "--yes", "--region", "ap-south-1"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no usable AWS credentials"), "{stderr}");
    assert!(
        stderr.contains("AWS_ACCESS_KEY_ID") && stderr.contains("aws sso login"),
        "{stderr}"
    );
    assert!(
        !lab.dir.path().join(".runbook").exists(),
        "no run was recorded"
    );
    let before = lab.counts(None);
    let emulated = |args: &[&str]| {
        lab.command(args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .output()
            .unwrap()
    };
    ok(&emulated(&[
        "run",
        "net.yaml",
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
    ]));
    ok(&emulated(&["rollback", "--yes"]));
    assert_eq!(lab.counts(None), before);
}

/// Credentials the endpoint rejects (`InvalidClientTokenId`, as AWS answers a key that does not
/// exist) fail `run` with exit 2 in seconds, naming the fix, with no journal and nothing created.
#[test]
fn rejected_credentials_fail_run_in_seconds_with_nothing_created() {
    use std::time::{Duration, Instant};
    let lab = Lab::new();
    let proxy = lab.refusing("GetCallerIdentity", u32::MAX, "InvalidClientTokenId");
    let before = lab.counts(None);
    let started = Instant::now();
    let out = lab.run(&["run", "net.yaml", "--yes", "--endpoint-url", &proxy.url]);
    let took = started.elapsed();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(stderr.contains("rejected"), "{stderr}");
    assert!(
        stderr.contains("AWS_ACCESS_KEY_ID") && stderr.contains("aws sso login"),
        "names the fix: {stderr}"
    );
    assert!(
        !lab.dir.path().join(".runbook").exists(),
        "no run was recorded"
    );
    assert_eq!(lab.counts(None), before, "nothing was created");
}

/// SIGTERM while every call fails (an endpoint answering 5xx, which the SDK and the step retry)
/// stops the calls in flight: exit 130 within seconds, the journal readable and the step left
/// `started` for rollback to look at.
#[test]
fn sigterm_while_calls_fail_exits_at_once_with_the_journal_intact() {
    let lab = Lab::new();
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            server_error_percent: 100,
            ..crate::proxy::Faults::default()
        },
    );
    let mut child = run_until_a_step_starts(&lab, &proxy.url);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "still retrying");
    let status = terminate(&mut child).unwrap();
    assert_eq!(status.code(), Some(130));
    let shown = lab.run(&["show", "--output", "json"]);
    assert_eq!(shown.status.code(), Some(0), "{:?}", text(&shown));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["status"], "interrupted", "{shown}");
}

/// An endpoint that stops answering mid-run (every request hangs): no call waits for ever. With
/// calls cut off after a second (`RUNBOOK_CALL_TIMEOUT`; 30 s by default, README states both),
/// the run fails in seconds rather than hanging, and a rollback at the emulator afterwards
/// removes what it made, the steps cut off in flight included.
#[test]
fn a_hung_endpoint_fails_the_run_in_bounded_time() {
    use std::time::{Duration, Instant};
    let lab = Lab::new();
    let before = lab.counts(None);
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            hang_after: Some(6),
            ..crate::proxy::Faults::default()
        },
    );
    let started = Instant::now();
    let out = lab
        .command(&[
            "run",
            "net.yaml",
            "--yes",
            "--on-failure",
            "keep",
            "--endpoint-url",
            &proxy.url,
        ])
        .env("RUNBOOK_CALL_TIMEOUT", "1s")
        .env("RUNBOOK_QUIET_AFTER", "1s")
        .output()
        .unwrap();
    let took = started.elapsed();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(took < Duration::from_secs(40), "took {took:?}: {stderr}");
    // Not silent while it waits: the step's status says what it was doing and for how long
    // nothing came back.
    assert!(stderr.contains("(nothing new for 1s)"), "{stderr}");
    ok(&lab.run(&[
        "rollback",
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
        "--retarget",
    ]));
    assert_eq!(lab.counts(None), before, "everything it made is removed");
}

/// An endpoint that dies during a rollback: the undo that meets it gives up after the short window
/// for an endpoint that does not answer (not the 20 minutes meant for `DependencyViolation`), no
/// other undo starts, and the rollback ends with exit 3 listing what remains; once the endpoint is
/// back, the next rollback removes the rest.
#[test]
fn an_endpoint_dying_mid_rollback_ends_it_with_exit_3_in_seconds() {
    use std::time::{Duration, Instant};
    let lab = Lab::new();
    let before = lab.counts(None);
    lab.network();
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            hang_after: Some(3),
            ..crate::proxy::Faults::default()
        },
    );
    let started = Instant::now();
    let out = lab
        .command(&[
            "rollback",
            "--yes",
            "--endpoint-url",
            &proxy.url,
            "--retarget",
        ])
        .env("RUNBOOK_CALL_TIMEOUT", "1s")
        .env("RUNBOOK_UNREACHABLE_WINDOW", "3s")
        .output()
        .unwrap();
    let took = started.elapsed();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(took < Duration::from_secs(60), "took {took:?}: {stderr}");
    assert!(stderr.contains("Rollback incomplete"), "{stderr}");
    ok(&lab.run(&["rollback", "--yes"]));
    assert_eq!(
        lab.counts(None),
        before,
        "the next rollback removes the rest"
    );
}

/// A gateway made but never attached (its attach failed for good): the step failed and its
/// journal lists nothing, yet the rollback that follows finds the gateway by the step's key, only
/// reading (no second attach), and removes it.
#[test]
fn a_half_made_gateway_is_found_and_removed_by_rollback() {
    let lab = Lab::new();
    let before = lab.counts(None);
    let proxy = lab.refusing("AttachInternetGateway", u32::MAX, "InvalidParameterValue");
    let out = lab.run(&[
        "run",
        "net.yaml",
        "--yes",
        "--output",
        "json",
        "--endpoint-url",
        &proxy.url,
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains("\"event\":\"undo_succeeded\",") && stdout.contains("\"step\":\"igw\""),
        "the gateway's step was undone: {stdout}"
    );
    assert!(stdout.contains("\"complete\":true"), "{stdout}");
    assert_eq!(
        lab.counts(None),
        before,
        "the unattached gateway is gone too"
    );
    let attaches = proxy
        .stats
        .by_operation
        .lock()
        .unwrap()
        .get("AttachInternetGateway")
        .copied()
        .unwrap_or(0);
    assert_eq!(attaches, 0, "every attach was refused; none was forwarded");
}

#[test]
fn a_missing_region_fails_before_anything_with_how_to_fix_it() {
    let lab = Lab::new();
    std::fs::write(
        lab.dir.path().join("noregion.yaml"),
        NETWORK.replace("vars:\n  region: {default: ap-south-1}\n", ""),
    )
    .unwrap();
    let out = lab.run(&[
        "run",
        "noregion.yaml",
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no AWS region is set"), "{stderr}");
    assert!(stderr.contains("--region"), "{stderr}");
}

const INSTANCES: &str = r##"runbook: 1
name: Web servers
vars:
  region: {default: ap-south-1}
steps:
  - {id: image, action: aws.ec2.find_image}
  - {id: vpc, action: aws.ec2.create_vpc, with: {cidr: 10.0.0.0/16, name: lab}}
  - {id: subnet, action: aws.ec2.create_subnet, with: {vpc_id: "{{ steps.vpc.vpc_id }}", cidr: 10.0.1.0/24, availability_zone: "{{ aws.region }}a", public: true}}
  - {id: sg, action: aws.ec2.create_security_group, with: {vpc_id: "{{ steps.vpc.vpc_id }}", name: web, description: web, ingress: [{port: 80, cidr: 0.0.0.0/0}]}}
  - id: web
    action: aws.ec2.run_instances
    with:
      image_id: "{{ steps.image.image_id }}"
      subnet_id: "{{ steps.subnet.subnet_id }}"
      security_group_ids: ["{{ steps.sg.security_group_id }}"]
      count: 2
      name: lab-web
      user_data: "#!/bin/bash\necho hello\n"
  - {id: stop, action: aws.ec2.stop_instances, with: {instance_ids: "{{ steps.web.instance_ids }}"}}
"##;

impl Lab {
    /// Instances of a run by state name.
    fn instance_states(&self, run: &str) -> Vec<String> {
        let ec2 = self.emulator.ec2();
        self.rt.block_on(async {
            let out = ec2
                .describe_instances()
                .filters(
                    Filter::builder()
                        .name("tag:runbook:run")
                        .values(run)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            let mut states: Vec<String> = out
                .reservations()
                .iter()
                .flat_map(aws_sdk_ec2::types::Reservation::instances)
                .map(|i| {
                    i.state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or_default()
                })
                .collect();
            states.sort();
            states
        })
    }
}

#[test]
fn instances_launch_from_the_found_image_stop_and_are_terminated_by_rollback() {
    let lab = Lab::new();
    std::fs::write(lab.dir.path().join("web.yaml"), INSTANCES).unwrap();
    ok(&lab.run(&[
        "run",
        "web.yaml",
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
    ]));
    let id = lab.run_id();
    assert_eq!(lab.instance_states(&id), ["stopped", "stopped"]);
    let ec2 = lab.emulator.ec2();
    lab.rt.block_on(async {
        let out = ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("tag:runbook:run")
                    .values(&id)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let instance = out.reservations()[0].instances()[0].clone();
        // The newest Amazon Linux 2023 x86_64 image of the region: latest creation date, then
        // name (the emulator lists one release with three kernels; the name decides).
        let images = ec2
            .describe_images()
            .owners("amazon")
            .filters(
                Filter::builder()
                    .name("name")
                    .values("al2023-ami-2023.*-x86_64")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let newest = images
            .images()
            .iter()
            .max_by(|a, b| (a.creation_date(), a.name()).cmp(&(b.creation_date(), b.name())))
            .unwrap();
        assert!(
            images.images().len() > 1,
            "the choice is tested among several images"
        );
        assert_eq!(instance.image_id(), newest.image_id());
        let data = ec2
            .describe_instance_attribute()
            .instance_id(instance.instance_id().unwrap())
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
            .send()
            .await
            .unwrap();
        let encoded = data.user_data().and_then(|u| u.value()).unwrap().to_owned();
        assert_eq!(
            aws_smithy_types::base64::decode(encoded).unwrap(),
            b"#!/bin/bash\necho hello\n"
        );
    });
    let out = lab.run(&["rollback", "--yes", "--output", "plain"]);
    ok(&out);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("not undoing stopped instances") && !stderr.contains("starting i-"),
        "the stopped instances are terminated, not started first: {stderr}"
    );
    assert_eq!(lab.instance_states(&id), ["terminated", "terminated"]);
    assert_eq!(
        lab.counts(Some(&id)),
        Counts {
            vpcs: 0,
            subnets: 0,
            gateways: 0,
            route_tables: 0,
            groups: 0
        }
    );
}

#[test]
fn a_crash_right_after_launching_then_resume_launches_nothing_more() {
    let lab = Lab::new();
    std::fs::write(lab.dir.path().join("web.yaml"), INSTANCES).unwrap();
    let out = lab
        .command(&[
            "run",
            "web.yaml",
            "--yes",
            "--endpoint-url",
            &lab.emulator.url,
        ])
        .env("RUNBOOK_TEST_CRASH_AFTER", "web")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let id = lab.run_id();
    ok(&lab.run(&["resume", "--yes"]));
    assert_eq!(
        lab.instance_states(&id),
        ["stopped", "stopped"],
        "two instances, not four"
    );
    ok(&lab.run(&["rollback", "--yes"]));
    assert_eq!(lab.instance_states(&id), ["terminated", "terminated"]);
}

#[test]
fn the_shipped_web_stack_module_builds_a_load_balanced_stack_and_rolls_back_to_nothing() {
    let lab = Lab::new();
    let module = crate::test::root().join("runbooks/modules/web-stack.yaml");
    let wrapper = format!(
        "runbook: 1\nname: One stack\nvars:\n  region: {{default: {REGION}}}\nsteps:\n  - id: primary\n    uses: {}\n    with: {{name: primary, cidr: 10.0.0.0/16}}\noutputs:\n  dns: \"{{{{ steps.primary.alb_dns_name }}}}\"\n",
        module.display()
    );
    std::fs::write(lab.dir.path().join("one.yaml"), wrapper).unwrap();
    let elb = lab.emulator.elbv2();
    let balancers = |elb: &aws_sdk_elasticloadbalancingv2::Client| {
        lab.rt.block_on(async {
            elb.describe_load_balancers()
                .send()
                .await
                .unwrap()
                .load_balancers()
                .len()
        })
    };
    let (ec2_before, lbs_before) = (lab.counts(None), balancers(&elb));
    // The shipped module, from outside this runbook's folder: named with --module-dir.
    let modules = crate::test::root().join("runbooks/modules");
    let out = lab.run(&[
        "run",
        "one.yaml",
        "--yes",
        "--module-dir",
        modules.to_str().unwrap(),
        "--endpoint-url",
        &lab.emulator.url,
    ]);
    ok(&out);
    let id = lab.run_id();
    assert_eq!(
        lab.counts(Some(&id)),
        Counts {
            vpcs: 1,
            subnets: 2,
            gateways: 1,
            route_tables: 1,
            groups: 2
        }
    );
    lab.rt.block_on(async {
        let lb = elb
            .describe_load_balancers()
            .names("lab-primary-alb")
            .send()
            .await
            .unwrap()
            .load_balancers()[0]
            .clone();
        assert_eq!(lb.availability_zones().len(), 2);
        assert_eq!(
            lb.scheme()
                .map(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::as_str),
            Some("internet-facing")
        );
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(lb.load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap();
        let listener = &listeners.listeners()[0];
        assert_eq!(listener.port(), Some(80));
        let tg_arn = listener.default_actions()[0]
            .target_group_arn()
            .unwrap()
            .to_owned();
        let tg = elb
            .describe_target_groups()
            .target_group_arns(&tg_arn)
            .send()
            .await
            .unwrap()
            .target_groups()[0]
            .clone();
        assert_eq!(tg.target_group_name(), Some("lab-primary-tg"));
        assert_eq!(tg.health_check_path(), Some("/"));
        let health = elb
            .describe_target_health()
            .target_group_arn(&tg_arn)
            .send()
            .await
            .unwrap();
        let states: Vec<&str> = health
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target_health()?.state())
            .map(aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum::as_str)
            .collect();
        assert_eq!(states, ["healthy"]);
    });
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains("dns: lab-primary-alb-1.ap-south-1.elb.amazonaws.com")
            || stdout.contains("lab-primary-alb"),
        "{stderr}"
    );
    ok(&lab.run(&["rollback", "--yes"]));
    assert_eq!(lab.counts(None), ec2_before);
    assert_eq!(balancers(&elb), lbs_before);
}

/// Everything of every kind the failover lab makes, for before/after comparisons.
pub(crate) fn inventory(lab: &Lab) -> Vec<usize> {
    let (ec2, elb, r53) = (
        lab.emulator.ec2(),
        lab.emulator.elbv2(),
        lab.emulator.route53(),
    );
    let c = lab.counts(None);
    lab.rt.block_on(async {
        let zones = r53.list_hosted_zones().send().await.unwrap();
        let mut records = 0;
        for z in zones.hosted_zones() {
            records += r53
                .list_resource_record_sets()
                .hosted_zone_id(z.id())
                .send()
                .await
                .unwrap()
                .resource_record_sets()
                .len();
        }
        let health_checks = r53
            .list_health_checks()
            .send()
            .await
            .unwrap()
            .health_checks()
            .len();
        let running = ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .values("stopped")
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .reservations()
            .len();
        vec![
            c.vpcs,
            c.subnets,
            c.gateways,
            c.route_tables,
            c.groups,
            running,
            elb.describe_load_balancers()
                .send()
                .await
                .unwrap()
                .load_balancers()
                .len(),
            elb.describe_target_groups()
                .send()
                .await
                .unwrap()
                .target_groups()
                .len(),
            zones.hosted_zones().len(),
            records,
            health_checks,
        ]
    })
}

/// Run the shipped failover runbook unattended against `endpoint`.
fn failover(lab: &Lab, endpoint: &str, json: bool) -> Output {
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let mut args = vec![
        "run",
        runbook.to_str().unwrap(),
        "--yes",
        "--var",
        "domain=lab.example.com",
        "--endpoint-url",
        endpoint,
    ];
    if json {
        args.extend(["--output", "json"]);
    }
    lab.run(&args)
}

#[test]
fn the_failover_lab_builds_the_whole_topology_fails_over_and_rolls_back_to_exactly_what_was_there()
{
    let lab = Lab::new();
    let before = inventory(&lab);
    let out = failover(&lab, &lab.emulator.url, false);
    ok(&out);
    let id = lab.run_id();
    let (ec2, elb, r53) = (
        lab.emulator.ec2(),
        lab.emulator.elbv2(),
        lab.emulator.route53(),
    );
    lab.rt.block_on(async {
        let by_run = Filter::builder()
            .name("tag:runbook:run")
            .values(&id)
            .build();
        let vpcs = ec2
            .describe_vpcs()
            .filters(by_run.clone())
            .send()
            .await
            .unwrap();
        let mut cidrs: Vec<&str> = vpcs.vpcs().iter().filter_map(|v| v.cidr_block()).collect();
        cidrs.sort_unstable();
        assert_eq!(cidrs, ["10.0.0.0/16", "11.0.0.0/16"]);
        let subnets = ec2
            .describe_subnets()
            .filters(by_run.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(subnets.subnets().len(), 4);
        let gateways = ec2
            .describe_internet_gateways()
            .filters(by_run.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(gateways.internet_gateways().len(), 2);
        // The load balancers, each with a port 80 listener and a registered target.
        let mut lb_by_name = std::collections::HashMap::new();
        for name in ["lab-primary-alb", "lab-secondary-alb"] {
            let lb = elb
                .describe_load_balancers()
                .names(name)
                .send()
                .await
                .unwrap()
                .load_balancers()[0]
                .clone();
            let listeners = elb
                .describe_listeners()
                .load_balancer_arn(lb.load_balancer_arn().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(listeners.listeners()[0].port(), Some(80), "{name}");
            let tg = listeners.listeners()[0].default_actions()[0]
                .target_group_arn()
                .unwrap()
                .to_owned();
            let health = elb
                .describe_target_health()
                .target_group_arn(tg)
                .send()
                .await
                .unwrap();
            assert_eq!(health.target_health_descriptions().len(), 1, "{name}");
            lb_by_name.insert(name, lb);
        }
        // The zone and its failover pair, pointing at the right load balancers.
        let zones = r53
            .list_hosted_zones_by_name()
            .dns_name("lab.example.com.")
            .send()
            .await
            .unwrap();
        let zone = zones
            .hosted_zones()
            .iter()
            .find(|z| z.name() == "lab.example.com.")
            .expect("the zone");
        let sets = r53
            .list_resource_record_sets()
            .hosted_zone_id(zone.id())
            .send()
            .await
            .unwrap();
        for (role, lb) in [
            ("PRIMARY", "lab-primary-alb"),
            ("SECONDARY", "lab-secondary-alb"),
        ] {
            let set = sets
                .resource_record_sets()
                .iter()
                .find(|s| {
                    s.failover()
                        .map(aws_sdk_route53::types::ResourceRecordSetFailover::as_str)
                        == Some(role)
                })
                .unwrap_or_else(|| panic!("no {role} record"));
            assert_eq!(set.name(), "lab.example.com.");
            assert_eq!(set.r#type().as_str(), "A");
            let alias = set.alias_target().unwrap();
            let lb = &lb_by_name[lb];
            assert_eq!(
                alias.dns_name().trim_end_matches('.'),
                lb.dns_name().unwrap()
            );
            assert_eq!(
                alias.hosted_zone_id(),
                lb.canonical_hosted_zone_id().unwrap()
            );
            assert!(alias.evaluate_target_health());
        }
    });
    // After the drill the primary's instance is stopped and the secondary's runs.
    let state_of = |name: &str| {
        lab.rt.block_on(async {
            let out = ec2
                .describe_instances()
                .filters(Filter::builder().name("tag:Name").values(name).build())
                .filters(
                    Filter::builder()
                        .name("tag:runbook:run")
                        .values(&id)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            out.reservations()[0].instances()[0]
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_owned())
                .unwrap()
        })
    };
    assert_eq!(state_of("lab-primary-web"), "stopped");
    assert_eq!(state_of("lab-secondary-web"), "running");
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("answer = secondary"),
        "check_failover answers secondary: {stderr}"
    );
    assert!(
        stderr.contains("skipped: the emulator has no data plane"),
        "the data-plane checks are skipped on the emulator: {stderr}"
    );
    ok(&lab.run(&["rollback", "--yes"]));
    assert_eq!(
        inventory(&lab),
        before,
        "the emulator holds exactly what it held before"
    );
}

#[test]
fn with_a_third_of_calls_throttled_and_slow_transitions_the_whole_lab_still_comes_up_and_goes() {
    use std::sync::atomic::Ordering;
    let lab = Lab::new();
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            throttle_percent: 30,
            slow_polls: 3,
            ..crate::proxy::Faults::default()
        },
    );
    let before = inventory(&lab);
    let out = failover(&lab, &proxy.url, true);
    ok(&out);
    let (stdout, _) = text(&out);
    assert!(
        proxy.stats.throttled.load(Ordering::Relaxed) > 20,
        "throttled {}",
        proxy.stats.throttled.load(Ordering::Relaxed)
    );
    assert!(
        proxy.stats.held.load(Ordering::Relaxed) >= 3,
        "slow transitions were shown"
    );
    // The waits report what they see while they poll.
    assert!(
        stdout.contains("to be active: provisioning"),
        "a load balancer wait shows its state"
    );
    assert!(
        stdout.contains("to be INSYNC: PENDING"),
        "a change wait shows its status"
    );
    ok(&lab.run(&["rollback", "--yes"]));
    assert_eq!(inventory(&lab), before);
}

/// What a real account shows and the emulator hides, all at once: every new EC2 id unknown to
/// other calls for two seconds after its create, an account that sees only zones `a` and `c`, and
/// Route 53's one record per failover role. The whole lab still comes up, the waits say which
/// error they wait out, and rollback leaves exactly what was there before.
#[test]
fn eventual_consistency_hidden_zones_and_route53s_rules_are_handled() {
    use std::sync::atomic::Ordering;
    let lab = Lab::new();
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            not_found_window: Some(std::time::Duration::from_secs(2)),
            zones: Some(&["a", "c"]),
            one_record_per_role: true,
            ..crate::proxy::Faults::default()
        },
    );
    let before = inventory(&lab);
    let out = failover(&lab, &proxy.url, true);
    ok(&out);
    let (stdout, _) = text(&out);
    assert!(
        proxy.stats.not_found.load(Ordering::Relaxed) >= 5,
        "calls met the NotFound window: {}",
        proxy.stats.not_found.load(Ordering::Relaxed)
    );
    assert!(
        stdout.contains(".NotFound"),
        "a wait names what it waits out"
    );
    assert_eq!(
        proxy.stats.hidden_zone.load(Ordering::Relaxed),
        0,
        "no subnet asked for a zone the account does not see"
    );
    assert!(stdout.contains("ap-south-1c"), "the second zone is c");
    ok(&lab.run(&["rollback", "--yes"]));
    assert_eq!(inventory(&lab), before);
}

/// An account that sees a single zone in the region cannot hold the lab (a load balancer needs
/// two): the lab is refused with exit 2 before any EC2 resource is created (each VPC waits for
/// its stack's zones), naming the zone it sees, and nothing is left (the hosted zone, made
/// alongside, is rolled back).
#[test]
fn a_region_with_one_zone_is_refused_and_leaves_nothing() {
    let lab = Lab::new();
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            zones: Some(&["a"]),
            ..crate::proxy::Faults::default()
        },
    );
    let before = inventory(&lab);
    let out = failover(&lab, &proxy.url, false);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("needs 2 availability zones offering t3.micro")
            && stderr.contains("ap-south-1a (aps1-az1)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("created vpc"),
        "no VPC was created: {stderr}"
    );
    assert_eq!(inventory(&lab), before, "nothing is left");
}

/// Readiness before anything is created: a zone that exists already with a simple record at the
/// lab's name, or another PRIMARY failover record there, would make the record steps fail on AWS
/// (or overwrite another lab's records) after minutes of building. The run is refused with exit 2
/// first, naming the record, and nothing is created.
#[test]
fn records_that_would_collide_refuse_the_run_before_anything_is_created() {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
        ResourceRecordSetFailover, RrType,
    };
    let lab = Lab::new();
    let r53 = lab.emulator.route53();
    let zone = lab.rt.block_on(async {
        r53.create_hosted_zone()
            .name("lab.example.com")
            .caller_reference("someone-else")
            .send()
            .await
            .unwrap()
            .hosted_zone()
            .unwrap()
            .id()
            .to_owned()
    });
    let change = |action: ChangeAction, set: ResourceRecordSet| {
        lab.rt
            .block_on(
                r53.change_resource_record_sets()
                    .hosted_zone_id(&zone)
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
                    .send(),
            )
            .unwrap();
    };
    let record = |failover: Option<&str>| {
        let mut b = ResourceRecordSet::builder()
            .name("lab.example.com.")
            .r#type(RrType::A)
            .ttl(60)
            .resource_records(
                ResourceRecord::builder()
                    .value("192.0.2.1")
                    .build()
                    .unwrap(),
            );
        if let Some(set) = failover {
            b = b
                .set_identifier(set)
                .failover(ResourceRecordSetFailover::Primary);
        }
        b.build().unwrap()
    };
    change(ChangeAction::Create, record(None));
    let before = inventory(&lab);
    let out = failover(&lab, &lab.emulator.url, false);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // Both records of the pair meet it, and it is said once.
    assert_eq!(
        stderr
            .matches("a simple A record already exists at lab.example.com")
            .count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("nothing was created"), "{stderr}");
    // The way out fits what was met: a record that is there may be deleted or taken over.
    assert!(
        stderr.contains("help: delete the record if it may go")
            && stderr.contains("on_existing: adopt"),
        "{stderr}"
    );
    assert_eq!(inventory(&lab), before, "nothing was created");

    change(ChangeAction::Delete, record(None));
    change(ChangeAction::Create, record(Some("other-primary")));
    let before = inventory(&lab);
    let out = failover(&lab, &lab.emulator.url, false);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("a PRIMARY failover record already exists at lab.example.com")
            && stderr.contains("`other-primary`")
            && stderr.contains("help: something already fails over at this name"),
        "{stderr}"
    );
    assert_eq!(inventory(&lab), before, "nothing was created");

    // One under the lab's own set identifier: another lab of the same prefix, or one left.
    change(ChangeAction::Delete, record(Some("other-primary")));
    change(ChangeAction::Create, record(Some("lab-primary")));
    let out = failover(&lab, &lab.emulator.url, false);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("an A record with set identifier `lab-primary` already exists")
            && stderr.contains("choose another prefix"),
        "{stderr}"
    );
    assert_eq!(inventory(&lab), before, "nothing was created");
}

/// A load balancer's or target group's name is unique in a region: a second lab of the same
/// prefix beside one that was kept is refused before anything is made, naming the run that has
/// the names and how to roll it back; another prefix runs. Before, the second lab built its
/// network and stopped at `CreateTargetGroup` (`DuplicateTargetGroupName`).
#[test]
fn a_lab_whose_names_are_taken_in_the_region_is_refused_before_it_makes_anything() {
    let lab = Lab::new();
    let url = lab.emulator.url.clone();
    ok(&lab.failover(
        &url,
        &["--var", "domain=one.example.com", "--var", "drill=false"],
    ));
    let kept = lab.run_ids().pop().unwrap();
    let before = inventory(&lab);
    let out = lab.failover(&url, &["--var", "domain=two.example.com"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for said in [
        format!(
            "a target group named lab-primary-tg already exists in ap-south-1, made by run {kept}"
        ),
        format!(
            "a load balancer named lab-secondary-alb already exists in ap-south-1, made by run {kept}"
        ),
        format!(
            "help: a load balancer's or target group's name is unique in a region: roll back run {kept} (`runbook rollback {kept}`"
        ),
        "nothing was created".to_owned(),
    ] {
        assert!(stderr.contains(&said), "{said}\n{stderr}");
    }
    assert_eq!(inventory(&lab), before, "nothing was created");
    // `check`, in a state folder where the runbook never ran, says the same of the steps that
    // would meet the names (exit 1).
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let out = lab.run(&[
        "check",
        runbook.to_str().unwrap(),
        "--endpoint-url",
        &url,
        "--var",
        "domain=two.example.com",
        "--state-dir",
        "elsewhere",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.lines().any(|l| l.trim_start().starts_with("primary.tg")
            && l.contains("would fail  a new run is refused before its first step: a target group named lab-primary-tg")),
        "{stdout}"
    );
    ok(&lab.failover(
        &url,
        &[
            "--var",
            "domain=two.example.com",
            "--var",
            "prefix=two",
            "--var",
            "drill=false",
        ],
    ));
    // Where the runbook's latest run is alive, `check` looks at that lab: its own names are in
    // place, not taken. Once it is rolled back, a new run's preflight counts again.
    let check = || {
        let out = lab.run(&[
            "check",
            runbook.to_str().unwrap(),
            "--endpoint-url",
            &url,
            "--var",
            "domain=two.example.com",
            "--var",
            "prefix=two",
        ]);
        text(&out).0
    };
    let alive = check();
    assert!(!alive.contains("a new run is refused"), "{alive}");
    let second = lab.run_ids().pop().unwrap();
    ok(&lab.run(&["rollback", &second, "--yes", "--endpoint-url", &url]));
    let gone = check();
    assert!(
        !gone.contains("a new run is refused"),
        "prefix two is free again: {gone}"
    );
    let out = lab.run(&[
        "check",
        runbook.to_str().unwrap(),
        "--endpoint-url",
        &url,
        "--var",
        "domain=two.example.com",
    ]);
    assert!(
        text(&out).0.contains(&format!(
            "a target group named lab-primary-tg already exists in ap-south-1, made by run {kept}"
        )),
        "after a rolled-back run, the kept lab's names count: {:?}",
        text(&out)
    );
}

/// `InvalidTarget` (an instance not running yet) and an alias target Route 53 cannot see yet are
/// waited out by the actions. (`PriorRequestNotComplete` the Route 53 SDK already retries.)
#[test]
fn errors_that_settle_by_themselves_are_waited_out_inside_the_action() {
    use std::sync::atomic::Ordering;
    let lab = Lab::new();
    let faults = crate::proxy::Faults {
        fail_first: vec![
            ("RegisterTargets", 2, "InvalidTarget"),
            ("ChangeResourceRecordSets", 2, "InvalidChangeBatch"),
        ],
        ..crate::proxy::Faults::default()
    };
    let proxy = crate::proxy::Proxy::start(&lab.emulator.url, faults);
    let out = failover(&lab, &proxy.url, true);
    ok(&out);
    assert_eq!(proxy.stats.injected.load(Ordering::Relaxed), 4);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("RegisterTargets: InvalidTarget"),
        "the wait says why: {stdout}"
    );
    assert!(
        stdout.contains("ChangeResourceRecordSets: InvalidChangeBatch"),
        "{stdout}"
    );
    ok(&lab.run(&["rollback", "--yes"]));
}

/// A zone with weighted records and health checks, all at once: many Route 53 calls in a moment.
fn busy_zone() -> String {
    let mut doc = String::from(
        "runbook: 1\nname: Busy zone\nvars:\n  region: {default: ap-south-1}\nsteps:\n  - {id: zone, action: aws.route53.hosted_zone, with: {name: busy.example.com}}\n",
    );
    for i in 0..8 {
        doc += &format!(
            "  - id: w{i}\n    action: aws.route53.weighted_record\n    with:\n      zone_id: \"{{{{ steps.zone.zone_id }}}}\"\n      name: busy.example.com\n      weight: {i}\n      set_identifier: w{i}\n      alias: {{dns_name: web-{i}.ap-south-1.elb.amazonaws.com, hosted_zone_id: ZP97RAFLXTNZK}}\n  - {{id: sync{i}, action: aws.route53.wait_change, with: {{change_id: \"{{{{ steps.w{i}.change_id }}}}\"}}}}\n"
        );
    }
    for i in 0..2 {
        doc += &format!(
            "  - {{id: check{i}, action: aws.route53.health_check, with: {{fqdn: web-{i}.busy.example.com, path: /health}}}}\n"
        );
    }
    doc
}

/// Route 53 throttles an account above a few requests per second. The tool's own per-service
/// limit keeps a burst of concurrent steps under it: not one request is throttled, where the same
/// runbook without the limit is.
#[test]
fn concurrent_route53_steps_stay_under_the_client_side_rate_limit() {
    use std::sync::atomic::Ordering;
    let lab = Lab::new();
    std::fs::write(lab.dir.path().join("busy.yaml"), busy_zone()).unwrap();
    let before = inventory(&lab);
    let aws_like = || crate::proxy::Faults {
        route53_per_second: Some(5),
        ..crate::proxy::Faults::default()
    };

    let proxy = crate::proxy::Proxy::start(&lab.emulator.url, aws_like());
    let args = [
        "run",
        "busy.yaml",
        "--yes",
        "--parallelism",
        "20",
        "--endpoint-url",
        &proxy.url,
    ];
    ok(&lab.run(&[&args[..], &["--aws-rate", "route53=4"]].concat()));
    let zones = lab.rt.block_on(async {
        let r53 = lab.emulator.route53();
        let zone = r53
            .list_hosted_zones_by_name()
            .dns_name("busy.example.com")
            .send()
            .await
            .unwrap()
            .hosted_zones()[0]
            .id()
            .to_owned();
        let records = r53
            .list_resource_record_sets()
            .hosted_zone_id(&zone)
            .send()
            .await
            .unwrap();
        let weighted = records
            .resource_record_sets()
            .iter()
            .filter(|r| r.weight().is_some())
            .count();
        let checks = r53.list_health_checks().send().await.unwrap();
        (weighted, checks.health_checks().len())
    });
    assert_eq!(
        zones,
        (8, 2),
        "eight weighted records and two health checks"
    );
    ok(&lab.run(&[
        "rollback",
        "--yes",
        "--endpoint-url",
        &proxy.url,
        "--aws-rate",
        "route53=4",
    ]));
    assert_eq!(
        inventory(&lab),
        before,
        "rollback removed records, checks and zone"
    );
    let requests = proxy.stats.route53.load(Ordering::Relaxed);
    assert!(
        requests >= 20,
        "a busy runbook: {requests} Route 53 requests"
    );
    assert_eq!(
        proxy.stats.over_rate.load(Ordering::Relaxed),
        0,
        "no request went over Route 53's rate"
    );

    // The same without the limit: the burst is throttled (and the SDK's retries carry it through).
    let proxy = crate::proxy::Proxy::start(&lab.emulator.url, aws_like());
    let _ = lab.run(&[
        "run",
        "busy.yaml",
        "--yes",
        "--parallelism",
        "20",
        "--endpoint-url",
        &proxy.url,
        "--aws-rate",
        "route53=off",
    ]);
    assert!(
        proxy.stats.over_rate.load(Ordering::Relaxed) > 0,
        "without the limit the same burst goes over the rate"
    );
    let _ = lab.run(&[
        "rollback",
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
        "--retarget",
    ]);
}

/// 5xx answers and dropped connections are retried; deletes refused with `DependencyViolation`
/// while AWS releases network interfaces are retried until the window passes; nothing is left.
#[test]
fn server_errors_dropped_connections_and_dependency_windows_are_survived() {
    use std::sync::atomic::Ordering;
    let lab = Lab::new();
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            server_error_percent: 8,
            reset_percent: 4,
            dependency_violations: 2,
            ..crate::proxy::Faults::default()
        },
    );
    let before = inventory(&lab);
    ok(&failover(&lab, &proxy.url, false));
    let out = lab.run(&["rollback", "--yes", "--output", "json"]);
    ok(&out);
    assert_eq!(inventory(&lab), before, "nothing is left");
    let stats = &proxy.stats;
    assert!(stats.server_errors.load(Ordering::Relaxed) > 5);
    assert!(stats.resets.load(Ordering::Relaxed) > 2);
    assert!(
        stats.violations.load(Ordering::Relaxed) >= 4,
        "deletes met dependency windows: {}",
        stats.violations.load(Ordering::Relaxed)
    );
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("DependencyViolation"),
        "the retries are shown: {stdout}"
    );
}

/// Killed right after a load balancer, target group, listener, zone or record was created (the
/// journal says started, the resource exists; steps running alongside are cut off too), then
/// resumed: every resource exists exactly once, and rollback leaves what was there before.
#[test]
fn killed_after_an_elbv2_or_route53_create_then_resumed_nothing_exists_twice() {
    let lab = Lab::new();
    let before = inventory(&lab);
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    for step in [
        "primary.tg",
        "primary.alb",
        "secondary.listener",
        "zone",
        "primary_record",
        "primary.register",
    ] {
        let out = lab
            .command(&[
                "run",
                runbook.to_str().unwrap(),
                "--yes",
                "--var",
                "domain=lab.example.com",
                "--endpoint-url",
                &lab.emulator.url,
            ])
            .env("RUNBOOK_TEST_CRASH_AFTER", step)
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "the crash hook fired at {step}");
        ok(&lab.run(&["resume", "--yes"]));
        let (elb, r53) = (lab.emulator.elbv2(), lab.emulator.route53());
        lab.rt.block_on(async {
            let lbs = elb.describe_load_balancers().send().await.unwrap();
            let mut names: Vec<&str> = lbs
                .load_balancers()
                .iter()
                .filter_map(|l| l.load_balancer_name())
                .collect();
            names.sort_unstable();
            assert_eq!(names, ["lab-primary-alb", "lab-secondary-alb"], "{step}");
            for lb in lbs.load_balancers() {
                let listeners = elb
                    .describe_listeners()
                    .load_balancer_arn(lb.load_balancer_arn().unwrap())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(listeners.listeners().len(), 1, "one listener each: {step}");
            }
            let groups = elb.describe_target_groups().send().await.unwrap();
            assert_eq!(groups.target_groups().len(), 2, "{step}");
            let zones = r53.list_hosted_zones().send().await.unwrap();
            assert_eq!(zones.hosted_zones().len(), 1, "one zone: {step}");
            let records = r53
                .list_resource_record_sets()
                .hosted_zone_id(zones.hosted_zones()[0].id())
                .send()
                .await
                .unwrap();
            let failover = records
                .resource_record_sets()
                .iter()
                .filter(|r| r.failover().is_some())
                .count();
            assert_eq!(failover, 2, "one PRIMARY and one SECONDARY record: {step}");
        });
        ok(&lab.run(&["rollback", "--yes"]));
        assert_eq!(inventory(&lab), before, "rollback after a crash at {step}");
        std::fs::remove_dir_all(lab.dir.path().join(".runbook")).unwrap();
    }
}

/// The weighted-routing runbook reuses the stack module: two stacks, one zone, two weighted alias
/// records (70/30 by default) pointing at the right load balancers; rollback leaves nothing.
#[test]
fn the_weighted_routing_lab_splits_traffic_70_30_and_rolls_back_to_nothing() {
    let lab = Lab::new();
    let before = inventory(&lab);
    let runbook = crate::test::root().join("runbooks/weighted-routing.yaml");
    ok(&lab.run(&[
        "run",
        runbook.to_str().unwrap(),
        "--yes",
        "--var",
        "domain=weighted.example.com",
        "--endpoint-url",
        &lab.emulator.url,
    ]));
    let (elb, r53) = (lab.emulator.elbv2(), lab.emulator.route53());
    lab.rt.block_on(async {
        let zones = r53
            .list_hosted_zones_by_name()
            .dns_name("weighted.example.com")
            .send()
            .await
            .unwrap();
        let zone = zones.hosted_zones()[0].id().to_owned();
        let records = r53
            .list_resource_record_sets()
            .hosted_zone_id(&zone)
            .send()
            .await
            .unwrap();
        let mut weighted: Vec<(String, i64, String, String)> = records
            .resource_record_sets()
            .iter()
            .filter(|r| r.weight().is_some())
            .map(|r| {
                let alias = r.alias_target().unwrap();
                (
                    r.set_identifier().unwrap().to_owned(),
                    r.weight().unwrap(),
                    alias.dns_name().trim_end_matches('.').to_owned(),
                    alias.hosted_zone_id().to_owned(),
                )
            })
            .collect();
        weighted.sort();
        assert_eq!(weighted.len(), 2);
        for ((set, weight, dns, zone_id), (want_set, want_weight)) in
            weighted.iter().zip([("wlab-blue", 70), ("wlab-green", 30)])
        {
            assert_eq!((set.as_str(), *weight), (want_set, want_weight));
            let lb = elb
                .describe_load_balancers()
                .names(format!("{set}-alb"))
                .send()
                .await
                .unwrap()
                .load_balancers()[0]
                .clone();
            assert_eq!(
                Some(dns.as_str()),
                lb.dns_name(),
                "{set} points at its own load balancer"
            );
            assert_eq!(Some(zone_id.as_str()), lb.canonical_hosted_zone_id());
        }
    });
    ok(&lab.run(&["rollback", "--yes"]));
    assert_eq!(inventory(&lab), before);
}

/// With the state directory lost, `sweep` finds a run's resources by their tag and deletes them
/// in dependency order; `--dry-run` only lists them; nothing is deleted without --yes or a person.
#[test]
fn sweep_removes_a_lost_run_by_its_tag_without_the_journal() {
    let lab = Lab::new();
    let before = inventory(&lab);
    ok(&failover(&lab, &lab.emulator.url, false));
    let run = lab.run_id();
    std::fs::remove_dir_all(lab.dir.path().join(".runbook")).unwrap();
    let tag = format!("runbook:run={run}");
    let url = lab.emulator.url.clone();

    let out = lab.run(&[
        "sweep",
        "--tag",
        &tag,
        "--dry-run",
        "--endpoint-url",
        &url,
        "--region",
        "ap-south-1",
    ]);
    ok(&out);
    let (_, listed) = text(&out);
    assert!(
        listed.contains("21 resources in ap-south-1 carry the tag"),
        "{listed}"
    );
    for kind in [
        "instance i-",
        "load balancer arn:",
        "target group arn:",
        "security group sg-",
        "internet gateway igw-",
        "route table rtb-",
        "subnet subnet-",
        "vpc vpc-",
        "hosted zone ",
    ] {
        assert!(listed.contains(kind), "{kind} listed: {listed}");
    }
    assert!(listed.contains("Dry run: nothing was deleted."));
    assert_ne!(inventory(&lab), before, "a dry run deletes nothing");

    let out = lab.run(&[
        "sweep",
        "--tag",
        &tag,
        "--endpoint-url",
        &url,
        "--region",
        "ap-south-1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no terminal and no --yes: {:?}",
        text(&out)
    );

    let out = lab.run(&[
        "sweep",
        "--tag",
        "Name=lab-primary",
        "--yes",
        "--endpoint-url",
        &url,
        "--region",
        "ap-south-1",
    ]);
    assert_eq!(out.status.code(), Some(2), "only runbook's own tags");

    let out = lab.run(&[
        "sweep",
        "--tag",
        &tag,
        "--yes",
        "--endpoint-url",
        &url,
        "--region",
        "ap-south-1",
    ]);
    ok(&out);
    let (_, swept) = text(&out);
    assert!(swept.contains("Sweep complete"), "{swept}");
    assert_eq!(
        inventory(&lab),
        before,
        "the emulator holds exactly what it held before"
    );
}

/// A run in the region the environment gives (`AWS_REGION`, no --region) is swept there once:
/// the journal's region is the same region, not a second one to look in (which listed Route 53
/// as if several regions were swept, and said "Nothing in …" after "Sweep complete"). The run's
/// journal, which still lists what was swept, is named with the rollback that closes it.
#[test]
fn sweep_of_a_run_looks_once_in_the_region_the_environment_gives() {
    let lab = Lab::new();
    std::fs::write(
        lab.dir.path().join("vpc.yaml"),
        "runbook: 1\nname: V\nsteps:\n  - {id: vpc, action: aws.ec2.create_vpc, with: {cidr: 10.9.0.0/16, name: v}}\n",
    )
    .unwrap();
    let url = lab.emulator.url.clone();
    let in_env = |args: &[&str]| {
        let mut cmd = lab.command(args);
        cmd.env("AWS_REGION", "eu-west-1");
        cmd.output().unwrap()
    };
    ok(&in_env(&[
        "run",
        "vpc.yaml",
        "--yes",
        "--endpoint-url",
        &url,
    ]));
    let tag = format!("runbook:run={}", lab.run_id());
    let out = in_env(&["sweep", "--tag", &tag, "--yes", "--endpoint-url", &url]);
    ok(&out);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("1 resource in eu-west-1 carries the tag"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Sweep complete: nothing in eu-west-1 carries"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Nothing in eu-west-1") && !stderr.contains("which is global"),
        "one region, looked in once: {stderr}"
    );
    let run = &tag["runbook:run=".len()..];
    assert!(lab.run_vpcs("eu-west-1", run).is_empty());
    // The run's journal still lists the VPC: the sweep says how it learns otherwise.
    assert!(
        stderr.contains(&format!(
            "The journal of `{run}` still lists what this sweep removed; `{BIN} rollback {run} --expect-gone` records that it is gone."
        )),
        "{stderr}"
    );
    let closed = in_env(&["rollback", run, "--expect-gone", "--endpoint-url", &url]);
    ok(&closed);
    let listed = in_env(&["runs", "--output", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(runs[0]["alive"], 0, "{runs}");
    // State that cannot be read (here a file where the runs' folder belongs) is said: the
    // regions the runs acted in are not known, and "nothing carries the tag" covers only those
    // looked in.
    std::fs::create_dir_all(lab.dir.path().join("broken")).unwrap();
    std::fs::write(lab.dir.path().join("broken/runs"), "not a folder").unwrap();
    let out = in_env(&[
        "sweep",
        "--tag",
        "runbook:class=spring",
        "--state-dir",
        "broken",
        "--yes",
        "--endpoint-url",
        &url,
    ]);
    ok(&out);
    assert!(
        text(&out)
            .1
            .contains("The runs in `broken` could not be read (cannot use the journal"),
        "{:?}",
        text(&out)
    );
}

/// A machine whose clock is minutes off signs requests AWS refuses as expired: the first look at
/// the account says the clock is off, not that the credentials are missing.
#[test]
fn a_clock_minutes_off_is_named_as_such_not_as_missing_credentials() {
    let lab = Lab::new();
    let proxy = lab.refusing("GetCallerIdentity", 10, "SignatureDoesNotMatch");
    let out = lab.run(&["run", "net.yaml", "--yes", "--endpoint-url", &proxy.url]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Signature expired") && stderr.contains("clock is more than 5 minutes off"),
        "{stderr}"
    );
    assert!(!stderr.contains("no usable AWS credentials"), "{stderr}");
}

/// `run --ttl` tags everything a run creates with its expiry; `sweep --expired` removes the
/// runs whose time has passed and leaves the others.
#[test]
fn sweep_expired_removes_only_labs_whose_time_has_passed() {
    let lab = Lab::new();
    let url = lab.emulator.url.clone();
    ok(&lab.run(&[
        "run",
        "net.yaml",
        "--yes",
        "--ttl",
        "1s",
        "--endpoint-url",
        &url,
    ]));
    let short = lab.run_id();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(&lab.run(&[
        "run",
        "net.yaml",
        "--yes",
        "--ttl",
        "3h",
        "--endpoint-url",
        &url,
    ]));
    let runs = crate::test::run_ids(&lab.dir.path().join(".runbook"));
    let long = runs.into_iter().find(|r| *r != short).unwrap();
    let both = Counts {
        vpcs: 1,
        subnets: 2,
        gateways: 1,
        route_tables: 1,
        groups: 2,
    };
    assert_eq!(lab.counts(Some(&short)), both);
    assert_eq!(lab.counts(Some(&long)), both);
    std::thread::sleep(std::time::Duration::from_secs(2));

    let out = lab.run(&[
        "sweep",
        "--expired",
        "--yes",
        "--endpoint-url",
        &url,
        "--region",
        "ap-south-1",
    ]);
    ok(&out);
    let (_, swept) = text(&out);
    assert!(
        swept.contains("7 resources in ap-south-1 carry an expired runbook:expires tag"),
        "{swept}"
    );
    let none = Counts {
        vpcs: 0,
        subnets: 0,
        gateways: 0,
        route_tables: 0,
        groups: 0,
    };
    assert_eq!(lab.counts(Some(&short)), none, "the expired lab is gone");
    assert_eq!(lab.counts(Some(&long)), both, "the other is untouched");
    ok(&lab.run(&["rollback", &long, "--yes"]));
}

/// A class's labs carry the class's label; when the teacher's state directory is lost, one sweep
/// by that label removes every lab of the class and no other.
#[test]
fn a_class_label_lets_one_sweep_remove_every_lab_of_the_class() {
    let lab = Lab::new();
    let url = lab.emulator.url.clone();
    for (class, student) in [("spring", "alice"), ("spring", "bob"), ("autumn", "carol")] {
        let class = format!("runbook:class={class}");
        let student = format!("runbook:student={student}");
        ok(&lab.run(&[
            "run",
            "net.yaml",
            "--yes",
            "--label",
            &class,
            "--label",
            &student,
            "--endpoint-url",
            &url,
        ]));
    }
    let out = lab.run(&[
        "run",
        "net.yaml",
        "--yes",
        "--label",
        "Name=x",
        "--endpoint-url",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(2), "labels are runbook: tags");
    let vpcs = |key: &str, value: &str| {
        let ec2 = lab.emulator.ec2();
        lab.rt.block_on(async {
            ec2.describe_vpcs()
                .filters(
                    Filter::builder()
                        .name(format!("tag:{key}"))
                        .values(value)
                        .build(),
                )
                .send()
                .await
                .unwrap()
                .vpcs()
                .len()
        })
    };
    assert_eq!(vpcs("runbook:class", "spring"), 2);
    assert_eq!(vpcs("runbook:student", "carol"), 1);
    std::fs::remove_dir_all(lab.dir.path().join(".runbook")).unwrap();
    let out = lab.run(&[
        "sweep",
        "--tag",
        "runbook:class=spring",
        "--yes",
        "--endpoint-url",
        &url,
        "--region",
        "ap-south-1",
    ]);
    ok(&out);
    assert_eq!(
        vpcs("runbook:class", "spring"),
        0,
        "the spring class is gone"
    );
    assert_eq!(
        vpcs("runbook:class", "autumn"),
        1,
        "the autumn class is untouched"
    );
}

/// A missing resource of every kind sweep and rollback delete, as its undo sees it: an id that
/// does not (or no longer does) exist. AWS and the emulator answer some of these deletes with
/// success (`DeleteLoadBalancer`; the emulator's `DeleteHealthCheck`).
fn missing_id(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "instance" => "i-0123456789abcdef0",
        "load balancer" => {
            "arn:aws:elasticloadbalancing:ap-south-1:123456789012:loadbalancer/app/gone/0123456789abcdef"
        }
        "target group" => {
            "arn:aws:elasticloadbalancing:ap-south-1:123456789012:targetgroup/gone/0123456789abcdef"
        }
        "security group" => "sg-0123456789abcdef0",
        "internet gateway" => "igw-0123456789abcdef0",
        "route table" => "rtb-0123456789abcdef0",
        "subnet" => "subnet-0123456789abcdef0",
        "vpc" => "vpc-0123456789abcdef0",
        "health check" => "01234567-89ab-cdef-0123-456789abcdef",
        "hosted zone" => "Z0123456789ABCDEFGHIJ",
        _ => return None,
    })
}

struct Quiet;

impl runbook::engine::action::Progress for Quiet {
    fn status(&self, _: &str) {}
    fn message(&self, _: &str) {}
}

impl runbook::engine::action::Ask for Quiet {
    fn confirm(&self, _: &str, _: bool) -> Option<bool> {
        None
    }
}

/// Every kind in the kinds table, deleted behind the run's back, is undone as "already gone",
/// never "removed": whether something was there is read, not taken from a delete's success. A
/// kind added to the table without a missing id here fails this test, so none can skip it.
#[test]
fn every_kind_deleted_behind_the_runs_back_is_undone_as_already_gone() {
    use runbook::actions::aws::kinds::{KINDS, Sweep};
    use runbook::engine::action::{Context, Resource, Undone};
    let emulator = Emulator::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clients = rt.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&emulator.url)
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await;
        runbook::actions::aws::client::Clients::new(
            config,
            REGION.to_owned(),
            &runbook::actions::aws::limit::Rates::default(),
        )
    });
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut checked = 0;
    for kind in KINDS {
        let Sweep::Tagged { deleted_by, .. } = kind.sweep else {
            continue;
        };
        let id = missing_id(kind.name.name())
            .unwrap_or_else(|| panic!("add a missing id of a {} to missing_id", kind.name));
        let def = runbook::actions::find(deleted_by).unwrap();
        let resource = Resource {
            kind: kind.name.into(),
            id: id.to_owned(),
            undo: serde_json::Value::Null,
            changed: Vec::new(),
            region: None,
        };
        let ctx = Context {
            secrets: &[],
            region: None,
            run_id: "r",
            step_id: "s",
            key: "r/s",
            params: &serde_json::Value::Null,
            progress: &Quiet,
            ask: &Quiet,
            yes: true,
            cancel: &cancel,
            labels: &[],
            services: &clients,
            deadline: None,
            adopting: false,
            solving: false,
            declared: &runbook::engine::action::NOTHING_DECLARED,
            journal: None,
        };
        let undone = rt.block_on(def.executor.undo(&ctx, &resource));
        assert_eq!(
            undone.as_ref().ok(),
            Some(&Undone::AlreadyGone),
            "a missing {} ({deleted_by}): {undone:?}",
            kind.name
        );
        checked += 1;
    }
    assert!(checked >= 10, "every deletable kind: {checked}");
}

/// The whole failover lab deleted behind its back (here by `sweep`): its rollback says "already
/// gone" for every resource, load balancers, target groups, registered targets and records
/// included, never "removed"; the drill's stop is not undone (its instances are gone too) and
/// is not counted as removed; so the all-gone warning holds and the rollback exits 4.
#[test]
fn a_failover_lab_deleted_behind_its_back_rolls_back_as_all_already_gone() {
    let lab = Lab::new();
    ok(&failover(&lab, &lab.emulator.url, false));
    let id = lab.run_id();
    ok(&lab.run(&[
        "sweep",
        "--tag",
        &format!("runbook:run={id}"),
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
        "--region",
        REGION,
    ]));
    let out = lab.run(&["rollback", "--yes", "--output", "json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let undone: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "undo_succeeded")
        .flat_map(|e| e["resources"].as_array().unwrap())
        .collect();
    let kinds: std::collections::BTreeSet<&str> =
        undone.iter().filter_map(|r| r["kind"].as_str()).collect();
    for kind in [
        "load balancer",
        "target group",
        "listener",
        "instance",
        "record",
        "hosted zone",
        "vpc",
    ] {
        assert!(kinds.contains(kind), "{kind} among {kinds:?}");
    }
    for r in &undone {
        assert_ne!(r["outcome"], "removed", "nothing was there to remove: {r}");
    }
    let finished = events
        .iter()
        .find(|e| e["event"] == "rollback_finished")
        .unwrap();
    assert_eq!(finished["removed"], 0, "{finished}");
    assert!(stderr.contains("was already gone"), "{stderr}");
    let stop = undone
        .iter()
        .find(|r| r["changed"].as_array().is_some_and(|c| !c.is_empty()))
        .expect("the drill's stop is in the rollback");
    assert_eq!(stop["outcome"], "moot", "{stop}");
}

/// A domain AWS reserves costs nothing: the zone's step goes first, Route 53's refusal (here from
/// the test proxy, as the emulator accepts any name) fails the run before any EC2 or `ELBv2` create,
/// in words that say what to do, with exit 2 (the input's fault).
#[test]
fn a_domain_aws_reserves_fails_before_any_ec2_or_elbv2_create() {
    let lab = Lab::new();
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            reserved_domains: true,
            ..crate::proxy::Faults::default()
        },
    );
    let out = failover(&lab, &proxy.url, false);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("lab.example.com is reserved by AWS"),
        "{stderr}"
    );
    assert!(stderr.contains("use a domain you own"), "{stderr}");
    assert_eq!(
        proxy
            .stats
            .reserved
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let calls = proxy.stats.by_operation.lock().unwrap().clone();
    let made: Vec<&String> = calls
        .keys()
        .filter(|op| op.starts_with("Create") || op.as_str() == "RunInstances")
        .collect();
    assert!(made.is_empty(), "nothing was made: {made:?}");
}

/// Two public zones with the domain's name are refused before anything is made, naming both
/// and how to choose; `--var zone_id=` chooses one, the records go there, and rollback keeps
/// both zones (the run made neither).
#[test]
fn two_zones_of_one_name_are_refused_before_anything_and_zone_id_chooses_one() {
    let lab = Lab::new();
    let r53 = lab.emulator.route53();
    let ids: Vec<String> = lab.rt.block_on(async {
        let mut ids = Vec::new();
        for reference in ["old-lab", "re-registered"] {
            let zone = r53
                .create_hosted_zone()
                .name("twice.example.org")
                .caller_reference(reference)
                .send()
                .await
                .unwrap();
            ids.push(
                zone.hosted_zone()
                    .unwrap()
                    .id()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            );
        }
        ids
    });
    let before = lab.counts(None);
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let runbook = runbook.to_str().unwrap();
    let base = [
        "run",
        runbook,
        "--yes",
        "--var",
        "domain=twice.example.org",
        "--endpoint-url",
        &lab.emulator.url,
    ];
    let out = lab.run(&base);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    for id in &ids {
        assert!(stderr.contains(id.as_str()), "names {id}: {stderr}");
    }
    assert!(stderr.contains("--var zone_id="), "{stderr}");
    assert_eq!(lab.counts(None), before, "nothing was made");

    let chosen = format!("zone_id={}", ids[1]);
    let mut args = base.to_vec();
    args.extend(["--var", &chosen]);
    ok(&lab.run(&args));
    let records = |zone: &str| lab.a_records(zone).len();
    assert_eq!(
        records(&ids[1]),
        2,
        "PRIMARY and SECONDARY in the chosen zone"
    );
    assert_eq!(records(&ids[0]), 0, "nothing in the other");
    ok(&lab.run(&["rollback", "--yes"]));
    let zones = lab.rt.block_on(async {
        r53.list_hosted_zones_by_name()
            .dns_name("twice.example.org")
            .send()
            .await
            .unwrap()
            .hosted_zones()
            .len()
    });
    assert_eq!(zones, 2, "the run made neither zone");
    assert_eq!(records(&ids[1]), 0, "its records are gone");
}

/// A new account refused load balancers (`OperationNotPermitted` on the create) pays for no
/// instance: the web servers launch only after the load balancer's create is accepted, and the
/// hint says what the refusal means on a create.
#[test]
fn a_refused_load_balancer_costs_no_instance() {
    let lab = Lab::new();
    let proxy = lab.refusing("CreateLoadBalancer", 100, "OperationNotPermitted");
    let out = failover(&lab, &proxy.url, false);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("new accounts"), "{stderr}");
    let calls = proxy.stats.by_operation.lock().unwrap().clone();
    assert!(
        !calls.contains_key("RunInstances"),
        "no web server was launched: {calls:?}"
    );
    assert_eq!(lab.counts(Some(&lab.run_id())).vpcs, 0, "rolled back");
}

/// An endpoint that stops answering mid-run (every request from the 40th on hangs, as a paused
/// emulator's do), with the default timeouts: the process ends within 150 s of the hang, never
/// silent for more than 20 s meanwhile (each line of `--output plain` carries its time), the
/// rollback's looks included; it exits 3 listing what may remain, a step whose look failed
/// included. Once the endpoint is back, a rollback removes everything.
#[test]
fn a_hung_endpoint_ends_the_process_within_150_s_and_says_so_every_20_s() {
    use std::time::{Duration, Instant};
    let lab = Lab::new();
    let before = lab.counts(None);
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            hang_after: Some(40),
            ..crate::proxy::Faults::default()
        },
    );
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let mut child = lab
        .command(&[
            "run",
            runbook.to_str().unwrap(),
            "--yes",
            "--var",
            "domain=lab.example.com",
            "--output",
            "plain",
            "--endpoint-url",
            &proxy.url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(400) {
            let _ = child.kill();
            panic!("still running after 400 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let took = started.elapsed();
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert!(took < Duration::from_secs(150), "took {took:?}: {stderr}");
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("stopped answering"), "{stderr}");
    assert!(stderr.contains("Rollback incomplete"), "{stderr}");
    assert!(stderr.contains("may exist:"), "{stderr}");
    let times: Vec<std::time::SystemTime> = stderr
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|t| humantime::parse_rfc3339(t).ok())
        .collect();
    assert!(times.len() > 10, "{stderr}");
    let longest = times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).unwrap_or_default())
        .max()
        .unwrap();
    assert!(
        longest <= Duration::from_secs(21),
        "silent for {longest:?}: {stderr}"
    );
    ok(&lab.run(&[
        "rollback",
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
        "--retarget",
    ]));
    assert_eq!(lab.counts(None), before, "everything it made is removed");
}

/// The test proxy carries out the first call of every EC2 and `ELBv2` create and loses its answer,
/// so the SDK sends each again (most EC2 creates take no client token, and the emulator honours
/// none): the lab still comes up with exactly what it asked for (two VPCs, two instances, two
/// load balancers), each second copy found by the step's key and removed, and the rollback
/// leaves nothing behind.
#[test]
fn creates_whose_first_answer_is_lost_leave_no_orphan() {
    let lab = Lab::new();
    let before = inventory(&lab);
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            lose_first_answer: true,
            ..crate::proxy::Faults::default()
        },
    );
    let out = failover(&lab, &proxy.url, false);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(
        proxy
            .stats
            .lost_answers
            .load(std::sync::atomic::Ordering::Relaxed),
        9,
        "every kind of create lost one answer"
    );
    let id = lab.run_id();
    let (ec2, elb) = (lab.emulator.ec2(), lab.emulator.elbv2());
    let by_run = Filter::builder()
        .name("tag:runbook:run")
        .values(&id)
        .build();
    let (vpcs, instances, balancers, groups) = lab.rt.block_on(async {
        let vpcs = ec2
            .describe_vpcs()
            .filters(by_run.clone())
            .send()
            .await
            .unwrap()
            .vpcs()
            .len();
        let instances: usize = ec2
            .describe_instances()
            .filters(by_run.clone())
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .values("stopped")
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum();
        let balancers = elb
            .describe_load_balancers()
            .send()
            .await
            .unwrap()
            .load_balancers()
            .len();
        let groups = elb
            .describe_target_groups()
            .send()
            .await
            .unwrap()
            .target_groups()
            .len();
        (vpcs, instances, balancers, groups)
    });
    assert_eq!(
        (vpcs, instances, balancers, groups),
        (2, 2, 2, 2),
        "{stderr}"
    );
    assert_eq!(lab.counts(Some(&id)).subnets, 4, "{stderr}");
    assert_eq!(lab.counts(Some(&id)).gateways, 2, "{stderr}");
    assert_eq!(lab.counts(Some(&id)).route_tables, 2, "{stderr}");
    assert_eq!(lab.counts(Some(&id)).groups, 4, "{stderr}");
    ok(&lab.run(&["rollback", "--yes"]));
    assert_eq!(inventory(&lab), before, "rollback leaves nothing behind");
}

/// Secrets equal to words, ids and times of the journal's own text (`e`, `vpc`, `run_started`,
/// the current year) are masked in what the run carries, never in what names things: the run
/// succeeds, its journal reads back, and its rollback removes everything it made.
#[test]
fn secrets_equal_to_the_journals_own_words_never_corrupt_it() {
    let lab = Lab::new();
    let before = lab.counts(None);
    let runbook = NETWORK.replace("vars:\n", "vars:\n  token: {secret: true}\n")
        + "  - {id: say, action: core.note, with: {text: \"the token is {{ vars.token }}\"}}\n";
    std::fs::write(lab.dir.path().join("secret.yaml"), runbook).unwrap();
    let year = humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..4].to_owned();
    for secret in ["e", "vpc", "run_started", year.as_str()] {
        let out = lab
            .command(&[
                "run",
                "secret.yaml",
                "--yes",
                "--output",
                "json",
                "--endpoint-url",
                &lab.emulator.url,
            ])
            .env("RUNBOOK_VAR_TOKEN", secret)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{secret}: {stderr}");
        for line in stdout.lines() {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(
                !event["event"].as_str().unwrap().contains("***"),
                "{secret}: {line}"
            );
        }
        let runs = lab.run(&["runs", "--output", "json"]);
        assert_eq!(runs.status.code(), Some(0), "{secret}: {:?}", text(&runs));
        let out = lab
            .command(&["rollback", "--yes"])
            .env("RUNBOOK_VAR_TOKEN", secret)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{secret}: {:?}", text(&out));
        assert_eq!(lab.counts(None), before, "{secret}: rolled back to nothing");
    }
    for id in std::fs::read_dir(lab.dir.path().join(".runbook/runs")).unwrap() {
        let journal = std::fs::read_to_string(id.unwrap().path().join("journal.jsonl")).unwrap();
        assert!(
            journal.contains("\"event\":\"run_started\"") && journal.contains("\"kind\":\"vpc\""),
            "{journal}"
        );
        assert!(
            journal.contains(" is ***\""),
            "the secret is masked: {journal}"
        );
    }
}

/// A journal is trusted only when whole. Cut short mid-way (the records of later creates lost),
/// the rollback removes what it knows, then finds what is still tagged with the run and says so
/// (exit 3, never "left nothing behind"); with a garbage line, emptied, or without its first
/// record, every command that would act on the run refuses (exit 1), says what is damaged and
/// how to go on (a sweep by the run's tag), and the latest-run choice never skips it silently.
#[test]
fn a_damaged_journal_is_never_read_as_clean() {
    let lab = Lab::new();
    let before = lab.counts(None);
    let id = lab.network();
    let path = lab
        .dir
        .path()
        .join(format!(".runbook/runs/{id}/journal.jsonl"));
    let whole = std::fs::read_to_string(&path).unwrap();
    // Cut in the middle of the first subnet's success: what came after is lost.
    let cut = whole
        .find("\"event\":\"step_succeeded\",\"step\":\"subnet_a\"")
        .expect("the subnet's record");
    std::fs::write(&path, &whole[..cut]).unwrap();
    // The VPC cannot go while the subnets no record names are in it: the window is short here.
    let out = lab
        .command(&["rollback", "--yes"])
        .env("RUNBOOK_UNDO_WINDOW", "3s")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(!stderr.contains("left nothing behind"), "{stderr}");
    assert!(
        stderr.contains("tagged with the run, not in its journal")
            && stderr.contains("runbook sweep --tag runbook:run="),
        "{stderr}"
    );
    // The look belongs to no step, and says so without an empty step name.
    assert!(
        stderr.contains("Z   looking for anything still tagged with the run\n"),
        "{stderr}"
    );
    ok(&lab.run(&[
        "sweep",
        "--tag",
        &format!("runbook:run={id}"),
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
        "--region",
        REGION,
    ]));
    assert_eq!(lab.counts(None), before);

    let lines: Vec<&str> = whole.lines().collect();
    let garbage = format!(
        "{}\n{{not json\n{}\n",
        lines[..3].join("\n"),
        lines[3..].join("\n")
    );
    let headless = format!("{}\n", lines[1..].join("\n"));
    for (what, text_of) in [
        ("a garbage line", garbage.as_str()),
        ("no record", ""),
        ("no first record", headless.as_str()),
    ] {
        std::fs::write(&path, text_of).unwrap();
        for args in [
            vec!["rollback", "--yes"],
            vec!["rollback", "--yes", id.as_str()],
            vec!["resume", "--yes"],
        ] {
            let out = lab.run(&args);
            let (stdout, stderr) = text(&out);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{what}, {args:?}: {stdout}{stderr}"
            );
            assert!(
                stderr.contains("is damaged")
                    && stderr.contains("runbook sweep --tag runbook:run="),
                "{what}, {args:?}: {stderr}"
            );
            assert!(!stderr.contains("Nothing to roll back"), "{stderr}");
        }
    }
}

/// Route 53 is global and an alias may point at a load balancer in another region than the
/// run's: the failover check finds each load balancer in the region its DNS name says, so a
/// secondary built in us-east-1 counts as healthy for a run in ap-south-1, and the drill sees
/// Route 53 switch to it (before, the check looked in the run's own region, found no such load
/// balancer, counted both sides unhealthy and waited out its deadline).
#[test]
fn the_failover_check_finds_a_secondary_load_balancer_in_another_region() {
    let lab = Lab::new();
    let module = crate::test::root().join("runbooks/modules/web-stack.yaml");
    let secondary = format!(
        "runbook: 1\nname: Secondary\nvars:\n  region: {{default: us-east-1}}\nsteps:\n  - id: secondary\n    uses: {}\n    with: {{name: secondary, cidr: 11.0.0.0/16}}\n",
        module.display()
    );
    std::fs::write(lab.dir.path().join("secondary.yaml"), secondary).unwrap();
    let modules = crate::test::root().join("runbooks/modules");
    let modules = modules.to_str().unwrap();
    ok(&lab.run(&[
        "run",
        "secondary.yaml",
        "--yes",
        "--module-dir",
        modules,
        "--endpoint-url",
        &lab.emulator.url,
    ]));
    let far = lab.emulator.elbv2_in("us-east-1");
    let (dns, zone) = lab.rt.block_on(async {
        let out = far
            .describe_load_balancers()
            .names("lab-secondary-alb")
            .send()
            .await
            .unwrap();
        let lb = &out.load_balancers()[0];
        (
            lb.dns_name().unwrap().to_owned(),
            lb.canonical_hosted_zone_id().unwrap().to_owned(),
        )
    });
    assert!(dns.contains(".us-east-1."), "{dns}");
    let primary = format!(
        r#"runbook: 1
name: Primary here, secondary elsewhere
vars:
  region: {{default: {REGION}}}
  secondary_dns: {{}}
  secondary_zone: {{}}
steps:
  - id: primary
    uses: {module}
    with: {{name: primary, cidr: 10.0.0.0/16}}
  - id: zone
    action: aws.route53.hosted_zone
    with: {{name: far.example.org}}
  - id: primary_record
    action: aws.route53.failover_record
    with:
      zone_id: "{{{{ steps.zone.zone_id }}}}"
      name: far.example.org
      role: primary
      set_identifier: primary
      alias: {{dns_name: "{{{{ steps.primary.alb_dns_name }}}}", hosted_zone_id: "{{{{ steps.primary.alb_zone_id }}}}", evaluate_target_health: true}}
  - id: secondary_record
    action: aws.route53.failover_record
    with:
      zone_id: "{{{{ steps.zone.zone_id }}}}"
      name: far.example.org
      role: secondary
      set_identifier: secondary
      alias: {{dns_name: "{{{{ vars.secondary_dns }}}}", hosted_zone_id: "{{{{ vars.secondary_zone }}}}", evaluate_target_health: true}}
  - id: check_primary
    action: aws.route53.check_failover
    needs: [primary_record, secondary_record]
    with: {{zone_id: "{{{{ steps.zone.zone_id }}}}", name: far.example.org, expect: primary, within: 20s}}
  - id: stop_primary
    action: aws.ec2.stop_instances
    needs: [check_primary]
    with: {{instance_ids: "{{{{ steps.primary.instance_ids }}}}"}}
  - id: primary_down
    action: aws.elbv2.wait_target_health
    needs: [stop_primary]
    with: {{target_group_arn: "{{{{ steps.primary.target_group_arn }}}}", state: not_healthy}}
  - id: check_secondary
    action: aws.route53.check_failover
    needs: [primary_down]
    with: {{zone_id: "{{{{ steps.zone.zone_id }}}}", name: far.example.org, expect: secondary, within: 20s}}
"#,
        module = module.display()
    );
    std::fs::write(lab.dir.path().join("primary.yaml"), primary).unwrap();
    let out = lab.run(&[
        "run",
        "primary.yaml",
        "--yes",
        "--module-dir",
        modules,
        "--var",
        &format!("secondary_dns={dns}"),
        "--var",
        &format!("secondary_zone={zone}"),
        "--endpoint-url",
        &lab.emulator.url,
        "--output",
        "json",
    ]);
    ok(&out);
    let (stdout, _) = text(&out);
    let reasons: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("\"check_secondary\"") && l.contains("lab-secondary-alb"))
        .collect();
    assert!(
        !reasons.is_empty(),
        "the check read the secondary's load balancer in us-east-1: {stdout}"
    );
}

/// A step with `region:` acts in that region, and so does every step of a module used with one
/// (whose `aws.region` is that region); the plan says where, the journal remembers it, and
/// rollback removes what was made in each region from that region.
#[test]
fn steps_and_modules_with_a_region_act_there_and_roll_back_there() {
    let lab = Lab::new();
    std::fs::write(
        lab.dir.path().join("far.yaml"),
        "runbook: 1\nname: Far\nsteps:\n  - id: vpc\n    action: aws.ec2.create_vpc\n    with: {cidr: 12.0.0.0/16, name: \"far-{{ aws.region }}\"}\n",
    )
    .unwrap();
    std::fs::write(
        lab.dir.path().join("two.yaml"),
        r#"runbook: 1
name: Two regions
vars:
  region: {default: ap-south-1}
  far: {default: us-east-1}
steps:
  - id: here
    action: aws.ec2.create_vpc
    with: {cidr: 10.0.0.0/16, name: here}
  - id: there
    action: aws.ec2.create_vpc
    region: "{{ vars.far }}"
    with: {cidr: 11.0.0.0/16, name: there}
  - id: there_subnet
    action: aws.ec2.create_subnet
    region: "{{ vars.far }}"
    with: {vpc_id: "{{ steps.there.vpc_id }}", cidr: 11.0.1.0/24, availability_zone: us-east-1a}
  - id: module
    uses: far.yaml
    region: us-west-2
"#,
    )
    .unwrap();
    let plan = lab.run(&["plan", "two.yaml"]);
    ok(&plan);
    let (shown, _) = text(&plan);
    assert!(
        shown.contains("region: us-east-1") && shown.contains("region: us-west-2"),
        "the plan says where steps act elsewhere: {shown}"
    );
    let out = lab.run(&[
        "run",
        "two.yaml",
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
    ]);
    ok(&out);
    let id = lab.run_id();
    let vpcs = |region: &str| lab.run_vpcs(region, &id);
    assert_eq!(
        vpcs(REGION),
        [("10.0.0.0/16".to_owned(), "here".to_owned())]
    );
    assert_eq!(
        vpcs("us-east-1"),
        [("11.0.0.0/16".to_owned(), "there".to_owned())]
    );
    assert_eq!(
        vpcs("us-west-2"),
        [("12.0.0.0/16".to_owned(), "far-us-west-2".to_owned())],
        "a module used with a region acts there, and its aws.region says so"
    );
    // Sweep finds the run's resources in every region its journal names.
    let tag = format!("runbook:run={id}");
    let sweep = |lab: &Lab| {
        let out = lab.run(&[
            "sweep",
            "--tag",
            &tag,
            "--dry-run",
            "--endpoint-url",
            &lab.emulator.url,
            "--region",
            REGION,
        ]);
        ok(&out);
        text(&out).1
    };
    let before = sweep(&lab);
    // The first region looked in lists Route 53's resources too (they belong to no region).
    let place = |region: &str| {
        if region == REGION {
            format!("{region} (and Route 53, which is global)")
        } else {
            region.to_owned()
        }
    };
    for region in [REGION, "us-east-1", "us-west-2"] {
        assert!(
            // "1 resource … carries", "2 resources … carry".
            before.contains(&format!("in {} carr", place(region))),
            "sweep looks in {region}: {before}"
        );
    }
    let back = lab.run(&["rollback", &id, "--yes"]);
    ok(&back);
    let (_, said) = text(&back);
    assert!(said.contains("left nothing behind"), "{said}");
    for region in [REGION, "us-east-1", "us-west-2"] {
        assert!(vpcs(region).is_empty(), "nothing is left in {region}");
    }
    let after = sweep(&lab);
    for region in [REGION, "us-east-1", "us-west-2"] {
        assert!(
            after.contains(&format!("Nothing in {} carries", place(region))),
            "{after}"
        );
    }
}

/// A `region:` that is not a region name is refused before anything runs, where it is written.
#[test]
fn a_step_region_that_is_not_a_region_name_is_refused() {
    let lab = Lab::new();
    std::fs::write(
        lab.dir.path().join("bad.yaml"),
        "runbook: 1\nname: Bad\nsteps:\n  - id: vpc\n    action: aws.ec2.create_vpc\n    region: us-east\n    with: {cidr: 10.0.0.0/16, name: x}\n",
    )
    .unwrap();
    let out = lab.run(&["validate", "bad.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    let (_, err) = text(&out);
    assert!(
        err.contains("`us-east` is not an AWS region name") && err.contains("bad.yaml:6"),
        "{err}"
    );
}

/// A run killed (SIGKILL) while a step in another region waits for its instance: the journal
/// says where the step acted, so resume finds that instance there by the step's key and adopts
/// it (nothing is launched twice), and rollback terminates it there.
#[test]
fn a_run_killed_mid_step_in_another_region_resumes_there_without_launching_twice() {
    use std::time::{Duration, Instant};
    let lab = Lab::new();
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            aws_timings: Some(0.3),
            ..crate::proxy::Faults::default()
        },
    );
    std::fs::write(
        lab.dir.path().join("far.yaml"),
        r#"runbook: 1
name: Far instance
vars:
  region: {default: ap-south-1}
steps:
  - id: vpc
    action: aws.ec2.create_vpc
    region: us-east-1
    with: {cidr: 11.0.0.0/16, name: far}
  - id: subnet
    action: aws.ec2.create_subnet
    region: us-east-1
    with: {vpc_id: "{{ steps.vpc.vpc_id }}", cidr: 11.0.1.0/24, availability_zone: us-east-1a}
  - id: image
    action: aws.ec2.find_image
    region: us-east-1
  - id: web
    action: aws.ec2.run_instances
    region: us-east-1
    with: {image_id: "{{ steps.image.image_id }}", subnet_id: "{{ steps.subnet.subnet_id }}", name: far-web}
"#,
    )
    .unwrap();
    let far = lab.emulator.ec2_in("us-east-1");
    let live = |run: Option<&str>| -> Vec<String> {
        lab.rt.block_on(async {
            let mut req = far.describe_instances().filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .build(),
            );
            if let Some(run) = run {
                req = req.filters(
                    Filter::builder()
                        .name("tag:runbook:run")
                        .values(run)
                        .build(),
                );
            }
            req.send()
                .await
                .unwrap()
                .reservations()
                .iter()
                .flat_map(aws_sdk_ec2::types::Reservation::instances)
                .filter_map(|i| i.instance_id().map(str::to_owned))
                .collect()
        })
    };
    // Start the run and kill it once its instance is launched, while the step waits for it:
    // the step has no outcome yet.
    let killed = || -> String {
        let before = lab.run_ids();
        let mut child = lab
            .command(&["run", "far.yaml", "--yes", "--endpoint-url", &proxy.url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let id = loop {
            let new: Vec<String> = lab
                .run_ids()
                .into_iter()
                .filter(|r| !before.contains(r))
                .collect();
            if let Some(id) = new.first().filter(|id| !live(Some(id)).is_empty()) {
                break id.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no instance was launched in us-east-1"
            );
            assert!(child.try_wait().unwrap().is_none(), "the run ended early");
            std::thread::sleep(Duration::from_millis(50));
        };
        child.kill().unwrap();
        child.wait().unwrap();
        id
    };
    let id = killed();
    let launched = live(Some(&id));
    assert_eq!(launched.len(), 1, "{launched:?}");
    ok(&lab.run(&["resume", &id, "--yes", "--endpoint-url", &proxy.url]));
    assert_eq!(
        live(Some(&id)),
        launched,
        "resume adopted the instance launched before the kill, in us-east-1"
    );
    ok(&lab.run(&["rollback", &id, "--yes", "--endpoint-url", &proxy.url]));
    assert!(live(Some(&id)).is_empty(), "rollback terminated it there");
    // Rolled back without a resume, the interrupted step is looked for where it acted.
    let id = killed();
    ok(&lab.run(&["rollback", &id, "--yes", "--endpoint-url", &proxy.url]));
    assert!(
        live(Some(&id)).is_empty(),
        "rollback found the interrupted step's instance in us-east-1 and terminated it"
    );
}

/// Run a boto3 script (the emulator's own Python SDK, from the project's virtualenv) against the
/// lab's emulator: its arguments are the endpoint, then `args`; it must succeed.
pub(crate) fn boto3(lab: &Lab, script: &str, args: &[&str]) -> Output {
    let out = Command::new(crate::test::root().join(".venv/bin/python"))
        .args(["-c", script, &lab.emulator.url])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("the emulator's virtualenv has python");
    assert!(out.status.success(), "{:?}", text(&out));
    out
}

/// boto3's look at a two-region run (argv: endpoint, run id, domain): each region's VPC ranges
/// and load balancers (DNS name, canonical zone id) of the run, and the domain's failover
/// aliases, as JSON.
const BOTO3_LOOK: &str = r#"
import json, sys
import boto3
url, run, domain = sys.argv[1:4]
out = {"regions": {}, "aliases": []}
for region in ["ap-south-1", "us-east-1"]:
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=url)
    elb = boto3.client("elbv2", region_name=region, endpoint_url=url)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:runbook:run", "Values": [run]}])["Vpcs"]
    lbs = elb.describe_load_balancers()["LoadBalancers"]
    out["regions"][region] = {
        "vpcs": sorted(v["CidrBlock"] for v in vpcs),
        "balancers": sorted([lb["DNSName"].lower(), lb["CanonicalHostedZoneId"]] for lb in lbs),
    }
r53 = boto3.client("route53", region_name="us-east-1", endpoint_url=url)
zone = r53.list_hosted_zones_by_name(DNSName=domain)["HostedZones"][0]["Id"]
for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]:
    if "AliasTarget" in r and "Failover" in r:
        a = r["AliasTarget"]
        out["aliases"].append([r["Failover"], a["DNSName"].rstrip(".").lower(), a["HostedZoneId"]])
out["aliases"].sort()
print(json.dumps(out))
"#;

/// The shipped two-region runbook: the primary stack in one region, the secondary in another,
/// failover between them, the drill checked; each stack is where it should be, each record aliases
/// its own load balancer, sweep finds the run in both regions, and rollback leaves nothing in
/// either. Against the emulator, the summary links nothing to the AWS console, also for
/// what was made in the secondary's region.
#[test]
fn the_two_region_failover_lab_builds_a_stack_in_each_region_and_rolls_back_both() {
    let lab = Lab::new();
    let runbook = crate::test::root().join("runbooks/two-region-failover.yaml");
    let out = lab.run(&[
        "run",
        runbook.to_str().unwrap(),
        "--yes",
        "--var",
        "domain=two.example.org",
        "--var",
        "primary_region=ap-south-1",
        "--var",
        "secondary_region=us-east-1",
        "--endpoint-url",
        &lab.emulator.url,
    ]);
    ok(&out);
    let id = lab.run_id();
    let (_, said) = text(&out);
    assert!(
        said.contains("failover_seconds"),
        "the drill was checked: {said}"
    );
    assert!(
        said.contains("What exists now") && !said.contains("console.aws.amazon.com"),
        "no console links to an emulator's resources: {said}"
    );
    // Its resources are in two regions: each says which.
    assert!(
        said.contains("(step primary.vpc, ap-south-1)")
            && said.contains("(step secondary.vpc, us-east-1)")
            && said.contains("(step zone)"),
        "{said}"
    );
    let (shown, _) = text(&lab.run(&["show", &id]));
    assert!(
        shown.contains("(step secondary.vpc, us-east-1)\n")
            && shown.contains("(step primary.vpc, ap-south-1)\n"),
        "show says where too: {shown}"
    );
    let vpcs = |region: &str| -> Vec<String> {
        lab.run_vpcs(region, &id)
            .into_iter()
            .map(|(cidr, _)| cidr)
            .collect()
    };
    let balancer = |region: &str, name: &str| -> Option<(String, String)> {
        let elb = lab.emulator.elbv2_in(region);
        lab.rt.block_on(async {
            let out = elb
                .describe_load_balancers()
                .names(name)
                .send()
                .await
                .ok()?;
            let lb = out.load_balancers().first()?;
            Some((
                lb.dns_name()?.to_lowercase(),
                lb.canonical_hosted_zone_id()?.to_owned(),
            ))
        })
    };
    assert_eq!(vpcs("ap-south-1"), ["10.0.0.0/16"]);
    assert_eq!(vpcs("us-east-1"), ["11.0.0.0/16"]);
    let primary = balancer("ap-south-1", "lab-primary-alb")
        .expect("the primary's load balancer in ap-south-1");
    let secondary = balancer("us-east-1", "lab-secondary-alb")
        .expect("the secondary's load balancer in us-east-1");
    assert!(balancer("us-east-1", "lab-primary-alb").is_none());
    assert!(balancer("ap-south-1", "lab-secondary-alb").is_none());
    let r53 = lab.emulator.route53();
    let aliases: Vec<(String, String, String)> = lab.rt.block_on(async {
        let zones = r53
            .list_hosted_zones_by_name()
            .dns_name("two.example.org")
            .send()
            .await
            .unwrap();
        let zone = zones.hosted_zones()[0].id().to_owned();
        r53.list_resource_record_sets()
            .hosted_zone_id(zone)
            .send()
            .await
            .unwrap()
            .resource_record_sets()
            .iter()
            .filter_map(|r| {
                let a = r.alias_target()?;
                Some((
                    r.failover()?.as_str().to_owned(),
                    a.dns_name().trim_end_matches('.').to_lowercase(),
                    a.hosted_zone_id().to_owned(),
                ))
            })
            .collect()
    });
    assert!(
        aliases.contains(&("PRIMARY".to_owned(), primary.0.clone(), primary.1.clone())),
        "{aliases:?}"
    );
    assert!(
        aliases.contains(&(
            "SECONDARY".to_owned(),
            secondary.0.clone(),
            secondary.1.clone()
        )),
        "{aliases:?}"
    );
    // The same look through boto3 (the emulator's own Python SDK), independent of this crate's
    // SDK: each region holds its stack, and each record aliases its region's load balancer.
    let look = boto3(&lab, BOTO3_LOOK, &[&id, "two.example.org"]);
    let seen: serde_json::Value = serde_json::from_slice(&look.stdout).expect("JSON");
    assert_eq!(
        seen["regions"],
        serde_json::json!({
            "ap-south-1": {"vpcs": ["10.0.0.0/16"], "balancers": [[primary.0, primary.1]]},
            "us-east-1": {"vpcs": ["11.0.0.0/16"], "balancers": [[secondary.0, secondary.1]]},
        }),
        "{seen}"
    );
    assert_eq!(
        seen["aliases"],
        serde_json::json!([
            ["PRIMARY", primary.0, primary.1],
            ["SECONDARY", secondary.0, secondary.1],
        ]),
        "{seen}"
    );
    let tag = format!("runbook:run={id}");
    let sweep = || {
        let out = lab.run(&[
            "sweep",
            "--tag",
            &tag,
            "--dry-run",
            "--endpoint-url",
            &lab.emulator.url,
            "--region",
            "ap-south-1",
        ]);
        ok(&out);
        text(&out).1
    };
    let before = sweep();
    assert!(
        before.contains("in ap-south-1 (and Route 53, which is global) carry")
            && before.contains("in us-east-1 carry"),
        "{before}"
    );
    // Without the journal (another machine), each `--region` given is looked in, and Route 53's
    // resources, which belong to no region, are listed once.
    let elsewhere = tempfile::tempdir().unwrap();
    let blind = lab.run(&[
        "sweep",
        "--tag",
        &tag,
        "--dry-run",
        "--endpoint-url",
        &lab.emulator.url,
        "--region",
        "ap-south-1",
        "--region",
        "us-east-1",
        "--state-dir",
        elsewhere.path().to_str().unwrap(),
    ]);
    ok(&blind);
    let blind = text(&blind).1;
    assert_eq!(
        blind.matches("hosted zone ").count(),
        1,
        "the hosted zone once: {blind}"
    );
    // Each region's listing: its header line and the indented lines under it.
    let listed = |region: &str| -> Vec<String> {
        let mut lines = blind
            .lines()
            .skip_while(|l| !l.contains(&format!("in {region}")));
        lines
            .next()
            .unwrap_or_else(|| panic!("no listing for {region}: {blind}"));
        lines
            .take_while(|l| l.starts_with("  "))
            .map(str::to_owned)
            .collect()
    };
    for region in ["ap-south-1", "us-east-1"] {
        let here = listed(region);
        assert_eq!(
            here.iter()
                .filter(|l| l.trim_start().starts_with("vpc "))
                .count(),
            1,
            "one VPC in {region}: {blind}"
        );
    }
    assert!(
        listed("us-east-1").iter().all(|l| !l.contains("[global]")),
        "{blind}"
    );
    let refused = lab.run(&[
        "show",
        &id,
        "--region",
        "ap-south-1",
        "--region",
        "us-east-1",
    ]);
    assert_eq!(refused.status.code(), Some(2), "{:?}", text(&refused));
    assert!(
        text(&refused)
            .1
            .contains("only `sweep` looks in more than one region"),
        "{:?}",
        text(&refused)
    );
    // The run's region is where its steps without a `region:` acted: another one given now is
    // refused, whichever of the run's regions it names, and the message says where it acted.
    let elsewhere = lab.run(&["rollback", &id, "--yes", "--region", "us-east-1"]);
    assert_eq!(elsewhere.status.code(), Some(2), "{:?}", text(&elsewhere));
    assert!(
        text(&elsewhere).1.contains(
            "the run's is `ap-south-1`; its steps with their own region acted in `us-east-1`"
        ),
        "{:?}",
        text(&elsewhere)
    );
    let shown = text(&lab.run(&["show", &id])).0;
    assert!(shown.contains("steps also in us-east-1"), "{shown}");
    let back = lab.run(&["rollback", &id, "--yes"]);
    ok(&back);
    assert!(
        text(&back).1.contains("left nothing behind"),
        "{:?}",
        text(&back)
    );
    assert!(vpcs("ap-south-1").is_empty() && vpcs("us-east-1").is_empty());
    let after = sweep();
    assert!(
        after.contains("Nothing in ap-south-1 (and Route 53, which is global) carries")
            && after.contains("Nothing in us-east-1 carries"),
        "{after}"
    );
}

/// Failover records in front of a site that exists: its zone, a live PRIMARY record and `www`.
const SITE_RECORDS: &str = r#"
runbook: 1
name: Failover records in front of a site
vars:
  region: {default: ap-south-1}
  set: {default: shop-primary}
  on_existing: {default: refuse}
steps:
  - id: zone
    action: aws.route53.hosted_zone
    with: {name: site.example.org}
  - id: primary
    action: aws.route53.failover_record
    with:
      zone_id: "{{ steps.zone.zone_id }}"
      name: site.example.org
      role: primary
      set_identifier: "{{ vars.set }}"
      alias:
        dns_name: new-alb-2.ap-south-1.elb.amazonaws.com
        hosted_zone_id: ZP97RAFLXTNZK
      on_existing: "{{ vars.on_existing }}"
"#;

/// A record already at the name a run writes, which the run did not write, is never written
/// over: under another set identifier or the same one the run is refused before anything is
/// written (exit 2) and the record is as it was; with `on_existing: adopt` the run takes it over,
/// and its rollback puts it back exactly, leaving the zone and `www` alone.
#[test]
fn a_record_the_run_did_not_write_is_refused_or_taken_over_and_put_back() {
    use aws_sdk_route53::types::{
        AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
        ResourceRecordSetFailover, RrType,
    };
    let lab = Lab::new();
    std::fs::write(lab.dir.path().join("site.yaml"), SITE_RECORDS).unwrap();
    let r53 = lab.emulator.route53();
    let live = ResourceRecordSet::builder()
        .name("site.example.org.")
        .r#type(RrType::A)
        .set_identifier("old-primary")
        .failover(ResourceRecordSetFailover::Primary)
        .alias_target(
            AliasTarget::builder()
                .dns_name("old-alb-1.ap-south-1.elb.amazonaws.com")
                .hosted_zone_id("ZP97RAFLXTNZK")
                .evaluate_target_health(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let www = ResourceRecordSet::builder()
        .name("www.site.example.org.")
        .r#type(RrType::A)
        .ttl(300)
        .resource_records(
            ResourceRecord::builder()
                .value("192.0.2.10")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let zone = lab.rt.block_on(async {
        let zone = r53
            .create_hosted_zone()
            .name("site.example.org")
            .caller_reference("site")
            .send()
            .await
            .unwrap()
            .hosted_zone()
            .unwrap()
            .id()
            .to_owned();
        let changes = [live.clone(), www.clone()].map(|set| {
            Change::builder()
                .action(ChangeAction::Create)
                .resource_record_set(set)
                .build()
                .unwrap()
        });
        r53.change_resource_record_sets()
            .hosted_zone_id(&zone)
            .change_batch(
                ChangeBatch::builder()
                    .set_changes(Some(changes.to_vec()))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        zone
    });
    let records = || -> Vec<ResourceRecordSet> {
        lab.rt.block_on(async {
            r53.list_resource_record_sets()
                .hosted_zone_id(&zone)
                .send()
                .await
                .unwrap()
                .resource_record_sets()
                .iter()
                .filter(|r| !matches!(r.r#type(), RrType::Ns | RrType::Soa))
                .cloned()
                .collect()
        })
    };
    let before = records();
    assert_eq!(before.len(), 2, "{before:?}");
    let run = |vars: &[&str]| {
        let mut args = vec![
            "run",
            "site.yaml",
            "--yes",
            "--endpoint-url",
            &lab.emulator.url,
        ];
        for v in vars {
            args.extend(["--var", v]);
        }
        lab.run(&args)
    };
    for set in ["set=shop-primary", "set=old-primary"] {
        let out = run(&[set]);
        assert_eq!(out.status.code(), Some(2), "{set}: {:?}", text(&out));
        assert!(
            text(&out)
                .1
                .contains("PRIMARY failover record already exists at site.example.org")
                || text(&out)
                    .1
                    .contains("set identifier `old-primary` already exists"),
            "{set}: {:?}",
            text(&out)
        );
        assert_eq!(records(), before, "{set}: the live record is untouched");
    }

    let out = run(&["on_existing=adopt"]);
    ok(&out);
    let now = records();
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(now.contains(&www));
    let primary = now.iter().find(|r| r.failover().is_some()).unwrap();
    assert_eq!(primary.set_identifier(), Some("shop-primary"));
    assert!(
        primary
            .alias_target()
            .unwrap()
            .dns_name()
            .starts_with("new-alb-2"),
        "{primary:?}"
    );

    let id = lab.run_id();
    let back = lab.run(&["rollback", &id, "--yes"]);
    ok(&back);
    assert!(
        text(&back)
            .1
            .contains("undid record site.example.org A PRIMARY"),
        "{:?}",
        text(&back)
    );
    assert_eq!(
        records(),
        before,
        "the live record is back exactly, www untouched"
    );
    let zones = lab.rt.block_on(async {
        r53.list_hosted_zones()
            .send()
            .await
            .unwrap()
            .hosted_zones()
            .len()
    });
    assert_eq!(zones, 1, "the zone the run found is kept");

    // The take-over again, its answer lost (the change made, the SDK's resend refused): the run
    // sees its change made and keeps what it took over, so that rollback puts it back.
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            lose_first_record_change: true,
            ..crate::proxy::Faults::default()
        },
    );
    let out = lab.run(&[
        "run",
        "site.yaml",
        "--yes",
        "--endpoint-url",
        &proxy.url,
        "--var",
        "on_existing=adopt",
        // Not the set identifier of the first take-over: the emulator refuses to create again
        // a record it has deleted.
        "--var",
        "set=shop-primary-2",
    ]);
    ok(&out);
    assert_eq!(
        proxy
            .stats
            .lost_answers
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(records().len(), 2, "taken over: {:?}", records());
    let id = lab.run_ids().pop().unwrap();
    ok(&lab.run(&["rollback", &id, "--yes"]));
    assert_eq!(records(), before, "put back after a lost answer too");

    // The run killed once the take-over is made, before it is journaled: what it replaced was
    // journaled first, so a rollback straight away puts it back, and so does one after a resume.
    for (set, resume) in [("set=shop-primary-3", false), ("set=shop-primary-4", true)] {
        let killed = lab
            .command(&[
                "run",
                "site.yaml",
                "--yes",
                "--endpoint-url",
                &lab.emulator.url,
                "--var",
                "on_existing=adopt",
                "--var",
                set,
            ])
            .env("RUNBOOK_TEST_CRASH_AFTER", "primary")
            .output()
            .unwrap();
        assert!(!killed.status.success(), "{set}: {:?}", text(&killed));
        assert_eq!(records().len(), 2, "{set}: taken over: {:?}", records());
        let id = lab.run_ids().pop().unwrap();
        if resume {
            ok(&lab.run(&["resume", &id, "--yes"]));
        }
        let back = lab.run(&["rollback", &id, "--yes"]);
        ok(&back);
        assert!(
            text(&back)
                .1
                .contains("undid record site.example.org A PRIMARY"),
            "{set}: {:?}",
            text(&back)
        );
        assert_eq!(records(), before, "{set}: put back after a crash");
    }
}

/// A failover pair put in place of a site's simple record (`on_existing: adopt` on both record
/// steps, which run side by side): both records are written and the simple record is gone;
/// rollback puts it back and leaves no failover record. Before, both steps read the simple
/// record and both deleted it in their change: on Route 53 the second change was refused for
/// five minutes, and on the emulator it deleted the PRIMARY with it.
#[test]
fn a_failover_pair_takes_over_a_simple_record_and_puts_it_back() {
    let lab = Lab::new();
    boto3(
        &lab,
        r#"
import sys
import boto3
r53 = boto3.client("route53", region_name="us-east-1", endpoint_url=sys.argv[1])
zone = r53.create_hosted_zone(Name="pair.example.org", CallerReference="pair")["HostedZone"]["Id"]
r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
    "Name": "www.pair.example.org", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "192.0.2.10"}]}}]})
"#,
        &[],
    );
    let record = |role: &str| {
        format!(
            "
  - id: {role}
    action: aws.route53.failover_record
    with:
      zone_id: \"{{{{ steps.zone.zone_id }}}}\"
      name: www.pair.example.org
      role: {role}
      set_identifier: {role}
      alias: {{dns_name: {role}-alb-1.ap-south-1.elb.amazonaws.com, hosted_zone_id: ZP97RAFLXTNZK}}
      on_existing: adopt"
        )
    };
    std::fs::write(
        lab.dir.path().join("pair.yaml"),
        format!(
            "runbook: 1\nname: Pair\nsteps:\n  - {{id: zone, action: aws.route53.hosted_zone, with: {{name: pair.example.org, create: false}}}}{}{}\n",
            record("primary"),
            record("secondary")
        ),
    )
    .unwrap();
    let zone = lab.zone_id("pair.example.org");
    let records = || -> Vec<String> {
        let mut found: Vec<String> = lab
            .a_records(&zone)
            .iter()
            .map(|r| format!("{} {}", r.name(), r.set_identifier().unwrap_or("simple")))
            .collect();
        found.sort();
        found
    };
    assert_eq!(records(), ["www.pair.example.org. simple"]);
    ok(&lab.run(&[
        "run",
        "pair.yaml",
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
        "--region",
        "ap-south-1",
    ]));
    assert_eq!(
        records(),
        [
            "www.pair.example.org. primary",
            "www.pair.example.org. secondary"
        ]
    );
    let id = lab.run_ids().pop().unwrap();
    ok(&lab.run(&[
        "rollback",
        &id,
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
    ]));
    assert_eq!(records(), ["www.pair.example.org. simple"], "put back");
}

/// A site that exists, made with boto3/// A site that exists, made with boto3 (argv: endpoint, then REGION=NAME for each stack): in each
/// region a VPC, two subnets, a security group, an instance, a target group it is registered in,
/// an Application Load Balancer named NAME and its listener; then the zone shop.example.org with
/// a `www` record. Prints nothing.
const BOTO3_SITE: &str = r#"
import sys
import boto3
url = sys.argv[1]
for arg in sys.argv[2:]:
    region, name = arg.split("=")
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=url)
    elb = boto3.client("elbv2", region_name=region, endpoint_url=url)
    vpc = ec2.create_vpc(CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"172.31.{i}.0/24", AvailabilityZone=region + z)["Subnet"]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    sg = ec2.create_security_group(GroupName=name, Description="site", VpcId=vpc)["GroupId"]
    web = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnets[0])["Instances"][0]["InstanceId"]
    lb = elb.create_load_balancer(Name=name, Subnets=subnets, SecurityGroups=[sg], Scheme="internet-facing", Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name=name + "-tg", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": web}])
    elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
r53 = boto3.client("route53", region_name="us-east-1", endpoint_url=url)
zone = r53.create_hosted_zone(Name="shop.example.org", CallerReference="site")["HostedZone"]["Id"]
r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
    "Name": "www.shop.example.org", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "192.0.2.10"}]}}]})
"#;

/// Failover added in front of a site that exists (`runbooks/add-failover.yaml`): the run finds
/// the zone and both load balancers and, against the test proxy that counts every call, makes no
/// call but reads and the records' change; the records alias each load balancer; rollback
/// removes exactly the two records and leaves the zone, `www` and both load balancers.
#[test]
fn failover_is_added_in_front_of_a_site_that_exists_and_rolled_back_to_it() {
    let lab = Lab::new();
    boto3(
        &lab,
        BOTO3_SITE,
        &["ap-south-1=shop-primary-alb", "us-east-1=shop-standby-alb"],
    );
    let r53 = lab.emulator.route53();
    let zone = lab.zone_id("shop.example.org");
    let records = || -> Vec<(String, Option<String>, Option<String>)> {
        let mut out: Vec<_> = lab
            .a_records(&zone)
            .iter()
            .map(|r| {
                (
                    r.name().to_owned(),
                    r.failover().map(|f| f.as_str().to_owned()),
                    r.alias_target().map(|a| a.dns_name().to_lowercase()),
                )
            })
            .collect();
        out.sort();
        out
    };
    let balancers = |region: &str| -> Vec<String> {
        let elb = lab.emulator.elbv2_in(region);
        lab.rt.block_on(async {
            elb.describe_load_balancers()
                .send()
                .await
                .unwrap()
                .load_balancers()
                .iter()
                .filter_map(|lb| lb.dns_name().map(str::to_lowercase))
                .collect()
        })
    };
    let (primary, standby) = (balancers("ap-south-1"), balancers("us-east-1"));
    assert_eq!((primary.len(), standby.len()), (1, 1));
    let before = records();

    let runbook = crate::test::root().join("runbooks/add-failover.yaml");
    // A zone that is not there is refused before anything runs; a load balancer that is not
    // there fails its step, naming those there are; neither writes anything.
    let attempt = |domain: &str, primary: &str| {
        lab.run(&[
            "run",
            runbook.to_str().unwrap(),
            "--yes",
            "--var",
            &format!("domain={domain}"),
            "--var",
            &format!("primary_lb={primary}"),
            "--var",
            "primary_region=ap-south-1",
            "--var",
            "secondary_lb=shop-standby-alb",
            "--var",
            "secondary_region=us-east-1",
            "--endpoint-url",
            &lab.emulator.url,
        ])
    };
    let no_zone = attempt("shop.example.net", "shop-primary-alb");
    assert_eq!(no_zone.status.code(), Some(2), "{:?}", text(&no_zone));
    assert!(
        text(&no_zone).1.contains(
            "there is no public hosted zone named shop.example.net (the account's public zones are shop.example.org)"
        ) && text(&no_zone).1.contains("did you mean shop.example.org?"),
        "{:?}",
        text(&no_zone)
    );
    // A name in the zone, given as the domain: the zone to give is named, once for both records.
    let in_zone = text(&attempt("www.shop.example.org", "shop-primary-alb")).1;
    assert!(
        in_zone.contains(
            "help: www.shop.example.org is a name in the zone shop.example.org: give that zone (`--var zone=shop.example.org`"
        ),
        "{in_zone}"
    );
    let typo = attempt("shop.example.org", "shop-primry-alb");
    assert_ne!(typo.status.code(), Some(0));
    let said = text(&typo).1;
    assert!(
        said.contains("there is no load balancer shop-primry-alb")
            && said.contains("did you mean `shop-primary-alb`"),
        "{said}"
    );
    assert_eq!(records(), before, "nothing was written");
    for id in lab.run_ids() {
        ok(&lab.run(&["rollback", &id, "--yes"]));
    }
    let proxy = crate::proxy::Proxy::start(&lab.emulator.url, crate::proxy::Faults::default());
    let out = lab.run(&[
        "run",
        runbook.to_str().unwrap(),
        "--yes",
        "--var",
        "domain=shop.example.org",
        "--var",
        "primary_lb=shop-primary-alb",
        "--var",
        "primary_region=ap-south-1",
        "--var",
        "secondary_lb=shop-standby-alb",
        "--var",
        "secondary_region=us-east-1",
        "--endpoint-url",
        &proxy.url,
    ]);
    ok(&out);
    assert!(
        text(&out)
            .1
            .contains("Route 53 answers shop.example.org with the PRIMARY record"),
        "{:?}",
        text(&out)
    );
    let calls = proxy.stats.by_operation.lock().unwrap().clone();
    let query_writes: Vec<&String> = calls
        .keys()
        .filter(|op| !op.starts_with('/'))
        .filter(|op| {
            !["Describe", "List", "Get"]
                .iter()
                .any(|read| op.starts_with(read))
                && *op != "ChangeResourceRecordSets"
        })
        .collect();
    assert!(
        query_writes.is_empty(),
        "no EC2 or ELBv2 change: {query_writes:?} in {calls:?}"
    );
    assert!(calls.contains_key("ChangeResourceRecordSets"), "{calls:?}");
    let mut expected = before.clone();
    expected.push((
        "shop.example.org.".to_owned(),
        Some("PRIMARY".to_owned()),
        Some(primary[0].clone()),
    ));
    expected.push((
        "shop.example.org.".to_owned(),
        Some("SECONDARY".to_owned()),
        Some(standby[0].clone()),
    ));
    expected.sort();
    let now: Vec<_> = records()
        .into_iter()
        .map(|(n, f, a)| (n, f, a.map(|d| d.trim_end_matches('.').to_owned())))
        .collect();
    assert_eq!(
        now, expected,
        "the two records, each aliasing its load balancer"
    );

    let id = lab.run_ids().pop().unwrap();
    let back = lab.run(&["rollback", &id, "--yes"]);
    ok(&back);
    assert_eq!(
        records(),
        before,
        "exactly the two records are gone, www stays"
    );
    assert_eq!(balancers("ap-south-1"), primary);
    assert_eq!(balancers("us-east-1"), standby);
    let zones = lab.rt.block_on(async {
        r53.list_hosted_zones()
            .send()
            .await
            .unwrap()
            .hosted_zones()
            .len()
    });
    assert_eq!(zones, 1, "the zone stays");

    // The drill, asked for: the primary's instance is stopped, Route 53 switches to the standby,
    // and the instance runs again at the end and after the rollback.
    let out = lab.run(&[
        "run",
        runbook.to_str().unwrap(),
        "--yes",
        "--var",
        "domain=shop.example.org",
        "--var",
        "primary_lb=shop-primary-alb",
        "--var",
        "primary_region=ap-south-1",
        "--var",
        "secondary_lb=shop-standby-alb",
        "--var",
        "secondary_region=us-east-1",
        "--var",
        "drill=true",
        "--endpoint-url",
        &lab.emulator.url,
    ]);
    ok(&out);
    assert!(
        text(&out)
            .1
            .contains("Route 53 answers shop.example.org with the SECONDARY record"),
        "{:?}",
        text(&out)
    );
    // The drill stopped and started an instance of the site: changes, not things it made.
    let said = text(&out).1;
    assert!(
        said.contains("\nWhat exists now (2):\n")
            && said.contains("\nWhat it changed (2):\n  stopped instances")
            && said.contains("It created 2 resources (and made 2 changes, which rollback undoes too). To remove them: "),
        "{said}"
    );
    let running = || -> Vec<String> {
        let ec2 = lab.emulator.ec2_in("ap-south-1");
        lab.rt.block_on(async {
            ec2.describe_instances()
                .send()
                .await
                .unwrap()
                .reservations()
                .iter()
                .flat_map(aws_sdk_ec2::types::Reservation::instances)
                .filter_map(|i| i.state()?.name().map(|n| n.as_str().to_owned()))
                .collect()
        })
    };
    assert_eq!(running(), ["running"], "started again at the end");
    let drill = lab.run_ids().pop().unwrap();
    let back = lab.run(&["rollback", &drill, "--yes"]);
    ok(&back);
    // The drill's stop was undone by its own start: the rollback says so, not "undid".
    let said = text(&back).1;
    assert!(
        said.contains("undo stop_primary: already undone: stopped instances")
            && said.contains("left nothing behind (2 removed, 1 already undone)"),
        "{said}"
    );
    let (shown, _) = text(&lab.run(&["show", &drill]));
    assert!(
        shown.contains("stop_primary: succeeded, undone (already undone)")
            && shown.contains("(rolled back)")
            && !shown.contains("already gone"),
        "nothing was gone behind the run's back: {shown}"
    );
    assert_eq!(running(), ["running"]);
    assert_eq!(records(), before);
}

/// `runbook check` tells what a run would meet, changing nothing. On the emulator, with a site
/// made by boto3: before the failover records exist it exits 1 naming the missing pair, through a
/// proxy that sees nothing but reads and with no journal written; after the run both records are
/// in place (exit 0); with the SECONDARY deleted by hand it exits 1 again, saying the record is
/// not there, in JSON and in a `JUnit` report too. The failover lab on an empty account is ready
/// throughout, again with nothing but reads.
#[test]
fn check_tells_what_a_run_would_meet_and_changes_nothing() {
    let lab = Lab::new();
    boto3(
        &lab,
        BOTO3_SITE,
        &["ap-south-1=shop-primary-alb", "us-east-1=shop-standby-alb"],
    );
    let runbook = crate::test::root().join("runbooks/add-failover.yaml");
    let runbook = runbook.to_str().unwrap();
    let site = |command: &str, endpoint: &str, more: &[&str]| {
        let mut args = vec![
            command,
            runbook,
            "--var",
            "domain=shop.example.org",
            "--var",
            "primary_lb=shop-primary-alb",
            "--var",
            "primary_region=ap-south-1",
            "--var",
            "secondary_lb=shop-standby-alb",
            "--var",
            "secondary_region=us-east-1",
            "--endpoint-url",
            endpoint,
        ];
        args.extend(more);
        lab.run(&args)
    };
    // Only reads reach AWS: the query protocol's actions, and Route 53's record changes.
    let only_reads = |proxy: &crate::proxy::Proxy| {
        let calls = proxy.stats.by_operation.lock().unwrap().clone();
        let writes: Vec<&String> = calls
            .keys()
            .filter(|op| {
                *op == "ChangeResourceRecordSets"
                    || (!op.starts_with('/')
                        && !["Describe", "List", "Get"]
                            .iter()
                            .any(|r| op.starts_with(r)))
            })
            .collect();
        assert!(
            writes.is_empty(),
            "nothing but reads: {writes:?} in {calls:?}"
        );
        assert!(!calls.is_empty());
    };
    let proxy = crate::proxy::Proxy::start(&lab.emulator.url, crate::proxy::Faults::default());
    let before = site("check", &proxy.url, &[]);
    assert_eq!(before.status.code(), Some(1), "{:?}", text(&before));
    let (said, _) = text(&before);
    assert!(
        said.contains("check_primary")
            && said.contains("has no PRIMARY and SECONDARY failover pair"),
        "{said}"
    );
    assert!(said.contains("zone              in place"), "{said}");
    assert!(
        said.contains(
            "found shop-primary-alb (active): 1 listener, 1 healthy target in 1 target group"
        ),
        "{said}"
    );
    only_reads(&proxy);
    assert!(lab.run_ids().is_empty(), "check writes no journal");

    ok(&site("run", &lab.emulator.url, &["--yes"]));
    let after = site("check", &lab.emulator.url, &[]);
    let (said, _) = text(&after);
    assert_eq!(after.status.code(), Some(0), "{said}");
    for step in ["primary_record    in place", "secondary_record  in place"] {
        assert!(said.contains(step), "{step}: {said}");
    }
    // With the drill asked for, its stop is evaluated: the primary's instance, running.
    let drill = site("check", &lab.emulator.url, &["--var", "drill=true"]);
    let (said, _) = text(&drill);
    assert!(
        said.contains("stop_primary      ready       the run would stop i-")
            && said.contains("(running)"),
        "{said}"
    );

    // The standby's web server stopped: failover would not work, and check says so.
    let web = lab.instance_ids("us-east-1", None);
    let stop_start = |stop: bool| lab.stop_or_start("us-east-1", &web, !stop);
    stop_start(true);
    let down = site("check", &lab.emulator.url, &[]);
    let (said, _) = text(&down);
    assert_eq!(down.status.code(), Some(1), "{said}");
    assert!(said.contains("the SECONDARY is not healthy"), "{said}");
    stop_start(false);

    // The SECONDARY record deleted by hand.
    let r53 = lab.emulator.route53();
    let zone = lab.zone_id("shop.example.org");
    lab.rt.block_on(async {
        use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch};
        let secondary = r53
            .list_resource_record_sets()
            .hosted_zone_id(&zone)
            .send()
            .await
            .unwrap()
            .resource_record_sets()
            .iter()
            .find(|r| r.set_identifier() == Some("secondary"))
            .cloned()
            .unwrap();
        r53.change_resource_record_sets()
            .hosted_zone_id(&zone)
            .change_batch(
                ChangeBatch::builder()
                    .changes(
                        Change::builder()
                            .action(ChangeAction::Delete)
                            .resource_record_set(secondary)
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
    let report = lab.dir.path().join("check.xml");
    let gone = site(
        "check",
        &lab.emulator.url,
        &["--output", "json", "--junit", report.to_str().unwrap()],
    );
    assert_eq!(gone.status.code(), Some(1), "{:?}", text(&gone));
    let json: serde_json::Value = serde_json::from_slice(&gone.stdout).expect("JSON");
    assert_eq!(json["ready"], false);
    let verdict = |step: &str| step_verdict(&json, step);
    assert_eq!(verdict("primary_record")["verdict"], "in_place");
    assert_eq!(verdict("secondary_record")["verdict"], "ready");
    assert!(
        verdict("secondary_record")["why"]
            .as_str()
            .unwrap()
            .contains("shop.example.org A SECONDARY is not there"),
        "{json}"
    );
    assert_eq!(verdict("check_primary")["verdict"], "would_fail");
    let xml = std::fs::read_to_string(&report).expect("the JUnit report");
    let junit = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    let failed: Vec<String> = junit.test_suites[0]
        .test_cases
        .iter()
        .filter(|c| matches!(c.status, quick_junit::TestCaseStatus::NonSuccess { .. }))
        .map(|c| c.name.to_string())
        .collect();
    assert_eq!(failed, ["check_primary"]);

    // The failover lab, before it exists: ready throughout, and only read.
    let empty = Lab::new();
    let proxy = crate::proxy::Proxy::start(&empty.emulator.url, crate::proxy::Faults::default());
    let lab_runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let fresh = empty.check_lab(&proxy.url);
    let (said, _) = text(&fresh);
    assert_eq!(fresh.status.code(), Some(0), "{said}");
    assert!(
        !said.contains("would fail") && said.contains("Ready: "),
        "{said}"
    );
    only_reads(&proxy);
    // And after it was set up: everything it makes is in place, found by its run's keys.
    let lab_args = |command: &'static str| {
        vec![
            command,
            lab_runbook.to_str().unwrap(),
            "--var",
            "domain=lab.example.org",
            "--var",
            "drill=false",
            "--endpoint-url",
            &empty.emulator.url,
        ]
    };
    let mut run = lab_args("run");
    run.push("--yes");
    ok(&empty.run(&run));
    let mut check = lab_args("check");
    check.extend(["--output", "json"]);
    let set_up = empty.run(&check);
    assert_eq!(set_up.status.code(), Some(0), "{:?}", text(&set_up));
    let json: serde_json::Value = serde_json::from_slice(&set_up.stdout).expect("JSON");
    let creates: Vec<&serde_json::Value> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            runbook::actions::find(s["action"].as_str().unwrap())
                .is_some_and(|a| a.effect == runbook::actions::Effect::Creates)
        })
        .collect();
    assert!(creates.len() > 20, "{json}");
    for step in creates {
        assert_eq!(step["verdict"], "in_place", "{step}");
    }

    // Its primary web server stopped: the wait for its health would fail, and what the run made
    // after that wait is still told as in place (a run would stop before it, but it is there).
    let web = empty.instance_ids(REGION, Some("primary.web"));
    assert_eq!(web.len(), 1);
    empty.stop_or_start(REGION, &web, false);
    let down = empty.run(&check);
    let json: serde_json::Value = serde_json::from_slice(&down.stdout).expect("JSON");
    assert_eq!(down.status.code(), Some(1), "{json}");
    assert_eq!(
        step_verdict(&json, "primary.healthy")["verdict"],
        "would_fail",
        "{json}"
    );
    assert_eq!(
        step_verdict(&json, "primary_record")["verdict"],
        "in_place",
        "{json}"
    );
}

/// One step's verdict in `runbook check --output json`.
fn step_verdict(json: &serde_json::Value, step: &str) -> serde_json::Value {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step)
        .cloned()
        .unwrap_or_else(|| panic!("no step {step} in {json}"))
}

/// `--profile NAME` is where a run's credentials come from, as with the AWS CLI, even with other
/// credentials in the environment: a teacher's shell with `AWS_ACCESS_KEY_ID` set must not put a
/// student's lab (a roster's `profile`) in the teacher's account. Without `--profile`, the
/// environment's.
#[test]
fn a_named_profile_signs_the_calls_even_with_keys_in_the_environment() {
    let lab = Lab::new();
    let credentials = lab.dir.path().join("credentials");
    std::fs::write(
        &credentials,
        "[student]\naws_access_key_id = AKIASTUDENTPROFILE\naws_secret_access_key = s3cret\n",
    )
    .unwrap();
    let proxy = crate::proxy::Proxy::start(&lab.emulator.url, crate::proxy::Faults::default());
    let run = |profile: &[&str]| {
        let mut args = vec!["run", "net.yaml", "--yes", "--endpoint-url", &proxy.url];
        args.extend(profile);
        let out = lab
            .command(&args)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .output()
            .unwrap();
        ok(&out);
        std::mem::take(&mut *proxy.stats.access_keys.lock().unwrap())
    };
    let keys = run(&["--profile", "student"]);
    assert_eq!(
        keys.into_iter().collect::<Vec<_>>(),
        ["AKIASTUDENTPROFILE"],
        "every call signed with the profile's key"
    );
    let keys = run(&[]);
    assert_eq!(keys.into_iter().collect::<Vec<_>>(), ["testing"]);

    // A profile with no credentials is named, with where it was looked for, before any call
    // (the endpoint is never asked: it does not exist).
    let runs = lab.run_ids().len();
    let out = lab.run(&[
        "run",
        "net.yaml",
        "--yes",
        "--profile",
        "nosuch",
        "--endpoint-url",
        "http://aws.example.invalid",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("no usable AWS credentials: the profile `nosuch` has none (looked in ")
            && stderr.contains("aws configure --profile nosuch"),
        "{stderr}"
    );
    assert_eq!(lab.run_ids().len(), runs, "no run was started");
}

/// A wait for targets to be `healthy` while their instance is stopped, or `unhealthy` after a
/// stop (a stopped instance's target is `unused`, never `unhealthy`), can never end: it fails at
/// once, naming the instance and what to do, instead of waiting out its bound; `unused` is met.
#[test]
fn a_wait_for_target_health_a_stopped_instance_cannot_reach_fails_at_once() {
    use std::time::{Duration, Instant};
    let lab = Lab::new();
    boto3(&lab, BOTO3_SITE, &["ap-south-1=shop-primary-alb"]);
    let web = lab.instance_ids(REGION, None);
    assert_eq!(web.len(), 1);
    lab.stop_or_start(REGION, &web, false);
    let group = lab.rt.block_on(async {
        let groups = lab.emulator.elbv2().describe_target_groups().send().await;
        groups.unwrap().target_groups()[0]
            .target_group_arn()
            .unwrap()
            .to_owned()
    });
    let wait = |state: &str| {
        std::fs::write(
            lab.dir.path().join("wait.yaml"),
            format!(
                "runbook: 1\nname: Wait\nsteps:\n  - id: up\n    action: aws.elbv2.wait_target_health\n    with: {{target_group_arn: \"{group}\", state: {state}}}\n"
            ),
        )
        .unwrap();
        let started = Instant::now();
        let out = lab.run(&[
            "run",
            "wait.yaml",
            "--yes",
            "--region",
            REGION,
            "--endpoint-url",
            &lab.emulator.url,
        ]);
        (out, started.elapsed())
    };
    let (out, took) = wait("healthy");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the targets cannot become healthy: instance {} is stopped",
            web[0]
        )) && stderr.contains("aws.ec2.start_instances"),
        "{stderr}"
    );
    assert!(
        took < Duration::from_secs(60),
        "failed at once, not at the bound: {took:?}"
    );
    let (out, _) = wait("unhealthy");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("never `unhealthy`") && stderr.contains("wait for `state: unused`"),
        "{stderr}"
    );
    let (out, _) = wait("unused");
    ok(&out);
}

/// A primary load balancer with no healthy target (its web server stopped) would send the site's
/// traffic to the standby the moment the records exist: `check` says the `primary` step would
/// fail, naming the target and its state (and the steps that wait for it unknown), and a run
/// stops at that step, before writing any
/// record or waiting for Route 53, and rolls nothing back because it made nothing.
#[test]
fn failover_is_not_added_in_front_of_a_primary_with_no_healthy_target() {
    let lab = Lab::new();
    boto3(
        &lab,
        BOTO3_SITE,
        &["ap-south-1=shop-primary-alb", "us-east-1=shop-standby-alb"],
    );
    let web = lab.instance_ids(REGION, None);
    lab.stop_or_start(REGION, &web, false);
    assert_eq!(web.len(), 1);
    let runbook = crate::test::root().join("runbooks/add-failover.yaml");
    let site = |command: &str, more: &[&str]| {
        let mut args = vec![
            command,
            runbook.to_str().unwrap(),
            "--var",
            "domain=shop.example.org",
            "--var",
            "primary_lb=shop-primary-alb",
            "--var",
            "secondary_lb=shop-standby-alb",
            "--var",
            "secondary_region=us-east-1",
            "--endpoint-url",
            &lab.emulator.url,
        ];
        args.extend(more);
        lab.run(&args)
    };
    let check = site("check", &["--output", "json"]);
    assert_eq!(check.status.code(), Some(1), "{:?}", text(&check));
    let json: serde_json::Value = serde_json::from_slice(&check.stdout).expect("JSON");
    let primary = step_verdict(&json, "primary");
    assert_eq!(primary["verdict"], "would_fail", "{json}");
    let reason = primary["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("shop-primary-alb has 0 healthy targets and needs at least 1")
            && reason.contains(&web[0]),
        "{primary}"
    );
    // The failover check waits for the records, which a run never writes: unknown, not judged
    // by the records missing now.
    let after = step_verdict(&json, "check_primary");
    assert_eq!(after["verdict"], "unknown", "{json}");
    assert!(
        after["why"]
            .as_str()
            .unwrap_or_default()
            .contains("after `primary`, which would fail"),
        "{after}"
    );

    let out = site("run", &["--yes"]);
    let (_, said) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("has 0 healthy targets and needs at least 1")
            && said.contains("aws elbv2 describe-target-health --target-group-arn arn:"),
        "{said}"
    );
    assert!(
        !said.contains("start primary_record") && !said.contains("start check_primary"),
        "stopped before writing or waiting: {said}"
    );
    let failover_records = zone_records(&lab, "shop.example.org.")
        .iter()
        .filter(|r| r.failover().is_some())
        .count();
    assert_eq!(failover_records, 0, "no record was written");
}

/// A check where a step would fail says nothing hopeful about the steps after it: a run stops
/// there, so they are unknown (naming the step), not ready; and the drill's steps, off by
/// default, are skipped for that reason even though they read what the failing step would find.
#[test]
fn check_after_a_step_that_would_fail_is_unknown_and_a_false_when_is_skipped() {
    let lab = Lab::new();
    let runbook = crate::test::root().join("runbooks/add-failover.yaml");
    let out = lab.run(&[
        "check",
        runbook.to_str().unwrap(),
        "--var",
        "domain=shop.example.org",
        "--var",
        "primary_lb=no-such-alb",
        "--var",
        "secondary_lb=no-such-standby",
        "--endpoint-url",
        &lab.emulator.url,
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let verdict = |step: &str| step_verdict(&json, step);
    assert_eq!(verdict("primary")["verdict"], "would_fail", "{json}");
    for step in ["primary_record", "primary_insync", "check_primary"] {
        let v = verdict(step);
        assert_eq!(v["verdict"], "unknown", "{step}: {json}");
        assert!(
            v["why"].as_str().unwrap().contains("which would fail"),
            "{step}: {v}"
        );
    }
    for step in ["stop_primary", "check_secondary", "start_primary"] {
        let v = verdict(step);
        assert_eq!(v["verdict"], "skipped", "{step}: {json}");
        assert!(
            v["why"].as_str().unwrap().contains("the drill is off"),
            "{step}: {v}"
        );
    }

    // A run of it stops before anything, with the way out that fits a missing zone.
    let run = lab.run(&[
        "run",
        runbook.to_str().unwrap(),
        "--var",
        "domain=shop.example.org",
        "--var",
        "primary_lb=no-such-alb",
        "--var",
        "secondary_lb=no-such-standby",
        "--endpoint-url",
        &lab.emulator.url,
        "--yes",
    ]);
    let (_, stderr) = text(&run);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("there is no public hosted zone named shop.example.org")
            && stderr.contains("help: check the domain")
            && !stderr.contains("prefix"),
        "{stderr}"
    );

    // A step that only follows a skipped one (`needs:`) runs: the two-region lab on the emulator
    // skips loading the page, and the drill after it still stops the primary.
    let two = crate::test::root().join("runbooks/two-region-failover.yaml");
    let out = lab.run(&[
        "check",
        two.to_str().unwrap(),
        "--var",
        "domain=two.example.org",
        "--endpoint-url",
        &lab.emulator.url,
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let verdict = |step: &str| step_verdict(&json, step);
    assert_eq!(verdict("http_primary")["verdict"], "skipped", "{json}");
    for step in ["stop_primary", "primary_down", "check_secondary"] {
        assert_eq!(verdict(step)["verdict"], "ready", "{step}: {json}");
    }
}

/// A read that `check` needs and AWS refuses is never a good answer: the step says it got no
/// answer, with why and the fix, the headline is not "Ready", and the exit is 1.
#[test]
fn check_with_a_refused_read_is_not_ready_and_exits_1() {
    let lab = Lab::new();
    let proxy = lab.refusing("DescribeVpcs", 1000, "UnauthorizedOperation");
    let out = lab.check_lab(&proxy.url);
    let (said, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}{stderr}");
    let line = |step: &str| {
        said.lines()
            .find(|l| l.trim_start().starts_with(&format!("{step} ")))
            .unwrap_or_else(|| panic!("{step}: {said}"))
            .to_owned()
    };
    let vpc = line("primary.vpc");
    assert!(
        vpc.contains("no answer")
            && vpc.contains("DescribeVpcs failed: UnauthorizedOperation")
            && vpc.contains("allow `ec2:DescribeVpcs`"),
        "{said}"
    );
    // What follows it cannot be told either.
    assert!(
        line("primary.subnet_a")
            .contains("unknown     after `primary.vpc`, which could not be looked at"),
        "{said}"
    );
    assert!(
        said.contains("Could not tell (a read failed):") && !said.contains("\nReady:"),
        "{said}"
    );
}

/// The drill's way back and its gate, at real AWS's timings scaled down through the test proxy:
/// with `--var failback=true` the primary is started again after the failover, its targets turn
/// healthy and Route 53 answers with the PRIMARY again, each way measured; with
/// `--var max_failover=1s` the run fails (exit 1) naming the time measured and the limit.
#[test]
fn the_drill_fails_back_when_asked_and_a_slow_failover_fails_the_gate() {
    let lab = Lab::new();
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            aws_timings: Some(0.05),
            ..crate::proxy::Faults::default()
        },
    );
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let run = |vars: &[&str]| {
        let mut args = vec![
            "run",
            runbook.to_str().unwrap(),
            "--yes",
            "--endpoint-url",
            &proxy.url,
        ];
        for v in vars {
            if v.starts_with("--") {
                args.push(v);
            } else {
                args.extend(["--var", v]);
            }
        }
        lab.run(&args)
    };
    let events = lab.dir.path().join("drill-events.jsonl");
    let junit = lab.dir.path().join("drill-junit.xml");
    let out = run(&[
        "domain=back.example.org",
        "failback=true",
        &format!("--events={}", events.display()),
        &format!("--junit={}", junit.display()),
    ]);
    ok(&out);
    let (_, said) = text(&out);
    assert!(
        said.contains("failover_seconds") && said.contains("failback_seconds"),
        "{said}"
    );
    // The run's own report ends with the drill: its figures, then a line per moment.
    let headline = said
        .lines()
        .position(|l| l.contains("Drill: failover ") && l.ends_with(": passed"))
        .unwrap_or_else(|| panic!("the drill's headline: {said}"));
    let after: Vec<&str> = said.lines().skip(headline + 1).collect();
    assert!(
        after.iter().any(|l| l.contains("stop requested"))
            && after
                .iter()
                .any(|l| l.contains("Route 53 answers with the PRIMARY again")),
        "{said}"
    );
    // The events file carries it as one `drill` event, the JUnit report as properties.
    let events = std::fs::read_to_string(&events).unwrap();
    let drill_event: serde_json::Value = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "drill")
        .unwrap_or_else(|| panic!("a drill event: {events}"));
    assert!(
        drill_event["dns_secondary"].is_string() && drill_event["failback_seconds"].is_u64(),
        "{drill_event}"
    );
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(
        junit.contains(r#"name="drill.failover_seconds""#)
            && junit.contains(r#"name="drill.targets_out""#)
            && junit.contains(r#"name="drill.dns_primary""#),
        "{junit}"
    );
    let back = said
        .lines()
        .find(|l| {
            l.contains("Route 53 answers back.example.org with the PRIMARY record")
                && l.contains(" s after ")
        })
        .unwrap_or_else(|| panic!("the way back measured: {said}"));
    assert!(back.contains("the primary is healthy"), "{back}");
    let id = lab.run_ids().pop().unwrap();
    // The timeline: every moment, in order, each when it became observable.
    let shown = lab.run(&["show", &id, "--output", "json"]);
    ok(&shown);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    let drill = &shown["drill"];
    let at = |name: &str| -> std::time::SystemTime {
        humantime::parse_rfc3339_weak(
            drill[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {drill}")),
        )
        .unwrap()
    };
    let order = [
        "stop_requested",
        "stopped",
        "targets_out",
        "dns_secondary",
        "start_requested",
        "running",
        "targets_healthy",
        "dns_primary",
    ];
    for pair in order.windows(2) {
        assert!(
            at(pair[0]) <= at(pair[1]),
            "{} before {}: {drill}",
            pair[0],
            pair[1]
        );
    }
    assert!(
        drill["page_secondary"].is_null(),
        "no page on the emulator: {drill}"
    );
    let secs = |from: &str, to: &str| at(to).duration_since(at(from)).unwrap().as_secs_f64();
    // The proxy holds `stopping` for 20 s × 0.05.
    assert!(secs("stop_requested", "stopped") >= 1.0, "{drill}");
    assert!(secs("targets_out", "dns_secondary") <= 3.0, "{drill}");
    assert!(
        drill["failover_seconds"].is_u64() && drill["failback_seconds"].is_u64(),
        "{drill}"
    );
    let human = text(&lab.run(&["show", &id])).0;
    assert!(
        human.contains("Drill:") && human.contains("Route 53 answers with the SECONDARY"),
        "{human}"
    );
    ok(&lab.run(&["rollback", &id, "--yes"]));

    let gated = run(&["domain=gate.example.org", "prefix=gate", "max_failover=1s"]);
    let (_, said) = text(&gated);
    assert_eq!(gated.status.code(), Some(1), "{said}");
    assert!(
        said.contains("over the limit of 1s") && said.contains(" s after "),
        "the time measured and the limit: {said}"
    );
    assert!(
        said.lines()
            .any(|l| l.contains("Drill: failed: ") && l.contains("over the limit of 1s")),
        "the report ends with the failed drill: {said}"
    );

    // The history: both drills, with their figures and verdicts.
    let listed = lab.run(&["drills", "--output", "json"]);
    ok(&listed);
    let drills: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let drills = drills.as_array().unwrap();
    assert_eq!(drills.len(), 2, "{drills:?}");
    assert_eq!(drills[0]["run_id"], id.as_str());
    assert!(drills[0]["failover_seconds"].is_u64(), "{drills:?}");
    assert!(drills[0]["failback_seconds"].is_u64(), "{drills:?}");
    assert_eq!(drills[0]["passed"], true);
    assert_eq!(drills[0]["regions"], serde_json::json!(["ap-south-1"]));
    assert_eq!(drills[1]["passed"], false);
    assert_eq!(drills[1]["max_failover"], "1s");
    assert!(
        drills[1]["failure"]
            .as_str()
            .unwrap()
            .contains("over the limit of 1s"),
        "{drills:?}"
    );
    let text_list = lab.run(&["drills", runbook.to_str().unwrap()]);
    ok(&text_list);
    let (shown, _) = text(&text_list);
    assert_eq!(shown.lines().count(), 2, "{shown}");
    assert!(
        shown.lines().next().unwrap().contains(": failover ")
            && shown.lines().next().unwrap().ends_with(": passed"),
        "{shown}"
    );
    assert!(shown.contains("(limits: failover 1s): failed: "), "{shown}");
}

/// The records of the hosted zone named `zone` (`marked.example.org.`), as the emulator holds them.
fn zone_records(lab: &Lab, zone: &str) -> Vec<aws_sdk_route53::types::ResourceRecordSet> {
    lab.rt.block_on(async {
        let r53 = lab.emulator.route53();
        let zones = r53.list_hosted_zones().send().await.unwrap();
        let id = zones
            .hosted_zones()
            .iter()
            .find(|z| z.name() == zone)
            .unwrap_or_else(|| panic!("no zone {zone}"))
            .id()
            .to_owned();
        r53.list_resource_record_sets()
            .hosted_zone_id(id)
            .send()
            .await
            .unwrap()
            .resource_record_sets()
            .to_vec()
    })
}

/// boto3 makes a load balancer by hand in a stack's subnets (argv: endpoint, stack), as an
/// operator would after the runbook's own create failed; prints its ARN, name, DNS name and
/// canonical zone id as JSON.
const HANDMADE_ALB: &str = r#"
import json, sys
import boto3
url, stack = sys.argv[1:3]
ec2 = boto3.client("ec2", region_name="ap-south-1", endpoint_url=url)
elb = boto3.client("elbv2", region_name="ap-south-1", endpoint_url=url)
def tagged(step):
    return [{"Name": "tag:runbook:step", "Values": [step]}]
subnets = [s["SubnetId"] for step in ("subnet_a", "subnet_b")
           for s in ec2.describe_subnets(Filters=tagged(f"{stack}.{step}"))["Subnets"]]
groups = [g["GroupId"] for g in ec2.describe_security_groups(Filters=tagged(f"{stack}.alb_sg"))["SecurityGroups"]]
lb = elb.create_load_balancer(Name=f"handmade-{stack}", Subnets=subnets, SecurityGroups=groups,
                              Scheme="internet-facing", Type="application")["LoadBalancers"][0]
print(json.dumps({"arn": lb["LoadBalancerArn"], "name": lb["LoadBalancerName"],
                  "dns_name": lb["DNSName"], "zone": lb["CanonicalHostedZoneId"]}))
"#;

/// A create that failed, done by hand instead and marked so: `mark` refuses outputs the
/// action does not have and names those the runbook reads that are missing; `resume` goes on
/// with the outputs given (the records point at the load balancer made by hand); `show` says
/// who marked it; rollback removes what the run made and leaves the hand-made load balancer.
#[test]
fn a_step_done_by_hand_is_marked_with_its_outputs_and_resume_finishes_with_them() {
    let lab = Lab::new();
    let proxy = lab.refusing("CreateLoadBalancer", 1, "AccessDenied");
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let out = lab.run(&[
        "run",
        runbook.to_str().unwrap(),
        "--yes",
        "--on-failure",
        "keep",
        "--endpoint-url",
        &proxy.url,
        "--var",
        "domain=marked.example.org",
        "--var",
        "drill=false",
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let id = lab.run_id();
    let shown: serde_json::Value =
        serde_json::from_slice(&lab.run(&["show", &id, "--output", "json"]).stdout).unwrap();
    let failed = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "failed")
        .unwrap_or_else(|| panic!("a failed step: {shown}"))["step"]
        .as_str()
        .unwrap()
        .to_owned();
    let stack = failed
        .strip_suffix(".alb")
        .unwrap_or_else(|| panic!("a load balancer failed: {failed}"))
        .to_owned();
    let made: serde_json::Value =
        serde_json::from_slice(&boto3(&lab, HANDMADE_ALB, &[&stack]).stdout).unwrap();
    let arn = format!("arn={}", made["arn"].as_str().unwrap());
    let dns = format!("dns_name={}", made["dns_name"].as_str().unwrap());

    let mark = |extra: &[&str]| {
        let mut args = vec!["mark", id.as_str(), failed.as_str(), "--done"];
        for o in extra {
            args.extend(["--output", o]);
        }
        lab.run(&args)
    };
    let refused = mark(&[&arn, &dns, "dns=oops"]);
    assert_eq!(refused.status.code(), Some(2), "{:?}", text(&refused));
    assert!(
        text(&refused).1.contains("declares no output `dns`"),
        "{:?}",
        text(&refused)
    );
    let refused = mark(&[&arn, &dns]);
    assert_eq!(refused.status.code(), Some(2), "{:?}", text(&refused));
    assert!(
        text(&refused).1.contains("`canonical_hosted_zone_id`")
            && text(&refused).1.contains("`name`"),
        "the outputs the runbook reads are named: {:?}",
        text(&refused)
    );
    let name = format!("name={}", made["name"].as_str().unwrap());
    let zone = format!(
        "canonical_hosted_zone_id={}",
        made["zone"].as_str().unwrap()
    );
    let marked = mark(&[&arn, &dns, &name, &zone]);
    ok(&marked);
    assert!(
        text(&marked).1.contains(&format!(
            "Rollback leaves the load balancer {} alone",
            made["arn"].as_str().unwrap()
        )),
        "without --yes or a terminal, what was made by hand stays out of rollback: {:?}",
        text(&marked)
    );
    let (said, _) = text(&lab.run(&["show", &id]));
    assert!(
        said.contains(&format!("{failed}: succeeded: marked done by hand by ")),
        "{said}"
    );

    ok(&lab.run(&["resume", &id, "--yes", "--endpoint-url", &proxy.url]));
    // The records point at the load balancer made by hand.
    let aliases: Vec<String> = zone_records(&lab, "marked.example.org.")
        .iter()
        .filter_map(|r| {
            Some(
                r.alias_target()?
                    .dns_name()
                    .trim_end_matches('.')
                    .to_lowercase(),
            )
        })
        .collect();
    let handmade = made["dns_name"].as_str().unwrap().to_lowercase();
    assert!(
        aliases
            .iter()
            .any(|a| a.trim_start_matches("dualstack.") == handmade),
        "{aliases:?} / {handmade}"
    );

    ok(&lab.run(&["rollback", &id, "--yes", "--endpoint-url", &proxy.url]));
    let left = lab.rt.block_on(async {
        lab.emulator
            .elbv2()
            .describe_load_balancers()
            .send()
            .await
            .unwrap()
            .load_balancers()
            .iter()
            .filter_map(|lb| lb.load_balancer_name().map(str::to_owned))
            .collect::<Vec<_>>()
    });
    assert_eq!(
        left,
        [format!("handmade-{stack}")],
        "what was made by hand is left alone"
    );
}

/// `resume --from primary_record` on a finished lab: the plan says what is undone and run
/// again; the PRIMARY record and every step after it are removed and made again, counted at the
/// wire, and nothing else is touched (no VPC, instance or load balancer is made or deleted, the
/// SECONDARY record stays); a misspelled step is refused with the one meant.
#[test]
fn resume_from_a_step_undoes_it_and_what_depends_on_it_then_runs_them_again() {
    let lab = Lab::new();
    ok(&lab.failover(&lab.emulator.url, &["--var", "domain=again.example.org"]));
    let id = lab.run_id();
    let refused = lab.run(&["resume", &id, "--from", "primary_recrd", "--yes"]);
    assert_eq!(refused.status.code(), Some(2), "{:?}", text(&refused));
    assert!(
        text(&refused).1.contains("did you mean `primary_record`"),
        "{:?}",
        text(&refused)
    );
    let unasked = lab.run(&["resume", &id, "--from", "primary_record"]);
    assert_eq!(unasked.status.code(), Some(2), "{:?}", text(&unasked));
    assert!(text(&unasked).1.contains("--yes"), "{:?}", text(&unasked));

    let proxy = crate::proxy::Proxy::start(&lab.emulator.url, crate::proxy::Faults::default());
    let out = lab.run(&[
        "resume",
        &id,
        "--from",
        "primary_record",
        "--yes",
        "--retarget",
        "--endpoint-url",
        &proxy.url,
    ]);
    let (_, said) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("from `primary_record`")
            && said.contains("`primary_record`")
            && said.contains("`check_secondary`")
            && !said.contains("`secondary_record`,"),
        "the plan: {said}"
    );
    let calls = proxy.stats.by_operation.lock().unwrap().clone();
    let touched: Vec<&String> = calls
        .keys()
        .filter(|op| {
            op.starts_with("Create")
                || op.starts_with("Delete")
                || op.as_str() == "RunInstances"
                || op.as_str() == "TerminateInstances"
        })
        .collect();
    assert!(
        touched.is_empty(),
        "nothing but records is made or removed: {touched:?}"
    );
    // The PRIMARY record removed, then made again: a DELETE and a CREATE (the emulator refuses
    // to CREATE again a record it deleted, and the step then writes it with an UPSERT).
    let changes = calls.get("ChangeResourceRecordSets").copied().unwrap_or(0);
    assert!((2..=3).contains(&changes), "{calls:?}");
    for untouched in ["secondary_record", "secondary.", "primary.", "zone"] {
        assert!(
            !said.contains(&format!("start {untouched}")),
            "{untouched} is not run again: {said}"
        );
    }
    for again in [
        "primary_record",
        "primary_insync",
        "check_primary",
        "stop_primary",
        "check_secondary",
    ] {
        assert!(
            said.contains(&format!("start {again}")),
            "{again} runs again: {said}"
        );
    }
    assert_eq!(
        calls.get("StartInstances").copied(),
        Some(1),
        "the drill's stop undone: {calls:?}"
    );
    assert_eq!(
        calls.get("StopInstances").copied(),
        Some(1),
        "and run again: {calls:?}"
    );
    let records: std::collections::BTreeSet<String> = zone_records(&lab, "again.example.org.")
        .iter()
        .filter_map(|r| r.failover().map(|f| f.as_str().to_owned()))
        .collect();
    assert_eq!(
        records,
        ["PRIMARY", "SECONDARY"].map(str::to_owned).into(),
        "both records are there"
    );
    ok(&lab.run(&[
        "rollback",
        &id,
        "--yes",
        "--retarget",
        "--endpoint-url",
        &proxy.url,
    ]));
}

/// `mark --yes` with an output that names what the step's action makes (a VPC's id) hands it to
/// rollback, which removes it as if the step had made it.
#[test]
fn a_resource_made_by_hand_is_handed_to_rollback_when_mark_is_told_so() {
    let lab = Lab::new();
    std::fs::write(
        lab.dir.path().join("vpc.yaml"),
        "runbook: 1\nname: One VPC\nvars:\n  region: {default: ap-south-1}\nsteps:\n  - {id: vpc, action: aws.ec2.create_vpc, with: {cidr: 10.9.0.0/16, name: lab-one}}\n",
    )
    .unwrap();
    let proxy = lab.refusing("CreateVpc", 1, "AccessDenied");
    let out = lab.run(&[
        "run",
        "vpc.yaml",
        "--yes",
        "--on-failure",
        "keep",
        "--endpoint-url",
        &proxy.url,
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let id = lab.run_id();
    let vpc = lab.rt.block_on(async {
        lab.emulator
            .ec2()
            .create_vpc()
            .cidr_block("10.9.0.0/16")
            .send()
            .await
            .unwrap()
            .vpc()
            .unwrap()
            .vpc_id()
            .unwrap()
            .to_owned()
    });
    let out = lab.run(&[
        "mark",
        &id,
        "vpc",
        "--done",
        "--output",
        &format!("vpc_id={vpc}"),
        "--yes",
    ]);
    ok(&out);
    assert!(
        text(&out)
            .1
            .contains(&format!("Rollback will remove the vpc {vpc}")),
        "{:?}",
        text(&out)
    );
    let out = lab.run(&["rollback", &id, "--yes", "--endpoint-url", &proxy.url]);
    ok(&out);
    assert!(text(&out).1.contains("1 vpc"), "{:?}", text(&out));
    let left = lab.rt.block_on(async {
        lab.emulator
            .ec2()
            .describe_vpcs()
            .send()
            .await
            .unwrap()
            .vpcs()
            .iter()
            .filter_map(|v| v.vpc_id().map(str::to_owned))
            .collect::<Vec<_>>()
    });
    assert!(!left.contains(&vpc), "removed: {left:?}");
}

/// Undoing a route table disassociates only the subnets its step associated. A subnet someone
/// added to the run's VPC and routed through the run's table stops that undo before anything is
/// changed: the error names the subnet and its association, the association stays, and so does
/// everything the table's undo waits for; once the person moves their subnet, a rollback
/// finishes and leaves nothing of the run.
#[test]
fn a_route_table_is_not_taken_from_a_subnet_the_run_did_not_route() {
    let lab = Lab::new();
    let id = lab.network();
    let ec2 = lab.emulator.ec2();
    let tagged = |key: &str, value: &str| {
        Filter::builder()
            .name(format!("tag:{key}"))
            .values(value)
            .build()
    };
    let (theirs, association) = lab.rt.block_on(async {
        let vpc = ec2
            .describe_vpcs()
            .filters(tagged("runbook:run", &id))
            .send()
            .await
            .unwrap()
            .vpcs()[0]
            .vpc_id()
            .unwrap()
            .to_owned();
        let table = ec2
            .describe_route_tables()
            .filters(tagged("runbook:run", &id))
            .send()
            .await
            .unwrap()
            .route_tables()[0]
            .route_table_id()
            .unwrap()
            .to_owned();
        let subnet = ec2
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block("10.0.9.0/24")
            .send()
            .await
            .unwrap()
            .subnet()
            .unwrap()
            .subnet_id()
            .unwrap()
            .to_owned();
        let association = ec2
            .associate_route_table()
            .route_table_id(table)
            .subnet_id(&subnet)
            .send()
            .await
            .unwrap()
            .association_id()
            .unwrap()
            .to_owned();
        (subnet, association)
    });

    let out = lab.run(&["rollback", &id, "--yes"]);
    let (_, said) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains(&format!("is also associated with {theirs} ({association})"))
            && said.contains(&format!(
                "aws ec2 disassociate-route-table --association-id {association}"
            )),
        "{said}"
    );
    let still = lab.rt.block_on(async {
        ec2.describe_route_tables()
            .filters(
                Filter::builder()
                    .name("association.subnet-id")
                    .values(&theirs)
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .route_tables()
            .len()
    });
    assert_eq!(still, 1, "their subnet keeps its route table");

    lab.rt.block_on(async {
        ec2.disassociate_route_table()
            .association_id(&association)
            .send()
            .await
            .unwrap();
        ec2.delete_subnet().subnet_id(&theirs).send().await.unwrap();
    });
    ok(&lab.run(&["rollback", &id, "--yes"]));
    assert!(lab.run_vpcs(REGION, &id).is_empty());
}
