//! Classroom mode against the emulator: a lab per student from a CSV file, the class's shared
//! zone, the quota preflight, `rollback --class`, and `sweep` of a class whose state dir is lost.
//! Checked through the SDK, not the tool's output.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;

use crate::aws::{Lab, inventory, ok};
use crate::test::{Test, text};

fn roster(lab: &Lab, name: &str, students: &[&str]) -> String {
    let mut csv = String::from("student,domain\n");
    for s in students {
        csv.push_str(&format!("{s},{s}.class.example\n"));
    }
    let path = lab.dir.path().join(name);
    std::fs::write(&path, csv).unwrap();
    path.to_str().unwrap().to_owned()
}

fn class_args<'a>(
    class: &'a str,
    csv: &'a str,
    endpoint: &'a str,
    runbook: &'a str,
) -> Vec<&'a str> {
    vec![
        "run",
        runbook,
        "--class",
        class,
        "--each",
        csv,
        "--var",
        "zone=class.example",
        "--yes",
        "--output",
        "plain",
        "--endpoint-url",
        endpoint,
    ]
}

/// Each lab's resources by `runbook:student`, for one class: (VPCs, load balancer names, instances).
fn by_student(lab: &Lab, class: &str) -> BTreeMap<String, (usize, Vec<String>, usize)> {
    let (ec2, elb) = (lab.emulator.ec2(), lab.emulator.elbv2());
    lab.rt.block_on(async {
        let mut out: BTreeMap<String, (usize, Vec<String>, usize)> = BTreeMap::new();
        let class_filter = Filter::builder()
            .name("tag:runbook:class")
            .values(class)
            .build();
        let student = |tags: &[aws_sdk_ec2::types::Tag]| {
            tags.iter()
                .find(|t| t.key() == Some("runbook:student"))
                .and_then(|t| t.value())
                .unwrap_or("(none)")
                .to_owned()
        };
        for vpc in ec2
            .describe_vpcs()
            .filters(class_filter.clone())
            .send()
            .await
            .unwrap()
            .vpcs()
        {
            out.entry(student(vpc.tags())).or_default().0 += 1;
        }
        for r in ec2
            .describe_instances()
            .filters(class_filter.clone())
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
        {
            for i in r.instances() {
                out.entry(student(i.tags())).or_default().2 += 1;
            }
        }
        let lbs = elb.describe_load_balancers().send().await.unwrap();
        for lb in lbs.load_balancers() {
            let tags = elb
                .describe_tags()
                .resource_arns(lb.load_balancer_arn().unwrap())
                .send()
                .await
                .unwrap();
            let tags: Vec<_> = tags.tag_descriptions()[0].tags().to_vec();
            let tag = |k: &str| {
                tags.iter()
                    .find(|t| t.key() == Some(k))
                    .and_then(|t| t.value())
                    .map(str::to_owned)
            };
            if tag("runbook:class").as_deref() == Some(class) {
                let who = tag("runbook:student").unwrap_or_else(|| "(none)".into());
                out.entry(who)
                    .or_default()
                    .1
                    .push(lb.load_balancer_name().unwrap().to_owned());
            }
        }
        out
    })
}

/// The hosted zones named `class.example.`, with their tags.
fn class_zones(lab: &Lab) -> Vec<Vec<(String, String)>> {
    let r53 = lab.emulator.route53();
    lab.rt.block_on(async {
        let mut out = Vec::new();
        for z in r53.list_hosted_zones().send().await.unwrap().hosted_zones() {
            if z.name() != "class.example." {
                continue;
            }
            let id = z.id().rsplit('/').next().unwrap();
            let tags = r53
                .list_tags_for_resource()
                .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
                .resource_id(id)
                .send()
                .await
                .unwrap();
            out.push(
                tags.resource_tag_set()
                    .map(|s| {
                        s.tags()
                            .iter()
                            .map(|t| {
                                (
                                    t.key().unwrap_or_default().to_owned(),
                                    t.value().unwrap_or_default().to_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            );
        }
        out
    })
}

/// Ten labs, all at once by default, through a proxy that throttles Route 53 above 5 requests
/// per second as AWS does, and takes AWS's time (scaled down) to make a load balancer active or an
/// instance running: every lab completes without one throttled request, each with its own names
/// and tags, in one shared zone made once; the labs' waits share their polls (one call asks about
/// several labs' load balancers and instances); `rollback --class` then leaves what was there
/// before.
#[test]
fn ten_labs_from_a_csv_share_the_rate_limit_and_one_zone_and_roll_back_with_the_class() {
    use std::sync::atomic::Ordering;
    let lab = Lab::new();
    let before = inventory(&lab);
    let students = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    ];
    let csv = roster(&lab, "spring.csv", &students);
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let proxy = crate::proxy::Proxy::start(
        &lab.emulator.url,
        crate::proxy::Faults {
            route53_per_second: Some(5),
            aws_timings: Some(0.05),
            ..crate::proxy::Faults::default()
        },
    );
    let args = class_args("spring", &csv, &proxy.url, runbook.to_str().unwrap());
    let out = lab.run(&args);
    ok(&out);
    let widest = proxy.stats.widest_poll.lock().unwrap().clone();
    assert!(
        widest.get("DescribeLoadBalancers").copied().unwrap_or(0) > 2,
        "one poll asked about more than one lab's two load balancers: {widest:?}"
    );
    assert!(
        widest.get("DescribeInstances").copied().unwrap_or(0) > 2,
        "one poll asked about several labs' instances: {widest:?}"
    );
    let (_, stderr) = text(&out);
    for s in students {
        assert!(
            stderr.lines().any(|l| l.starts_with(s)
                && l.contains("succeeded")
                && l.contains(&format!("http://{s}.class.example/"))),
            "the table has {s}'s lab: {stderr}"
        );
        assert!(
            stderr.contains(&format!("[{s}] ")),
            "{s}'s lines are marked"
        );
    }
    assert!(
        stderr.contains("runbook rollback --class spring"),
        "{stderr}"
    );
    assert_eq!(
        proxy.stats.over_rate.load(Ordering::Relaxed),
        0,
        "no Route 53 request went over the rate"
    );
    // Enough requests that the rate mattered (ten labs' records, waits and checks in seconds;
    // their record writes go in batches and their checks' record reads in shared listings).
    let requests = proxy.stats.route53.load(Ordering::Relaxed);
    assert!(requests >= 30, "ten labs' Route 53 requests: {requests}");
    // Twenty records written at about the same time into one zone go in batches: fewer
    // requests than records, none refused for another's change.
    let changes = proxy
        .stats
        .by_operation
        .lock()
        .expect("never poisoned")
        .get("ChangeResourceRecordSets")
        .copied()
        .unwrap_or(0);
    assert!(
        (1..20).contains(&changes),
        "ten labs' twenty records written in {changes} requests"
    );

    let labs = by_student(&lab, "spring");
    assert_eq!(
        labs.len(),
        10,
        "every resource carries its student: {labs:?}"
    );
    let mut names = Vec::new();
    for s in students {
        let (vpcs, balancers, instances) = &labs[s];
        assert_eq!(*vpcs, 2, "{s}: two VPCs");
        assert_eq!(balancers.len(), 2, "{s}: two load balancers");
        assert!(*instances >= 2, "{s}: web servers");
        assert!(
            balancers.iter().all(|n| n.len() <= 32 && n.starts_with(s)),
            "{balancers:?}"
        );
        names.extend(balancers.clone());
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 20, "no two labs share a load balancer name");
    let zones = class_zones(&lab);
    assert_eq!(zones.len(), 1, "the class's zone was made once: {zones:?}");
    let tags = &zones[0];
    assert!(
        tags.contains(&("runbook:class".into(), "spring".into())),
        "{tags:?}"
    );
    assert!(
        !tags
            .iter()
            .any(|(k, _)| k == "runbook:student" || k == "runbook:run"),
        "the zone is the class's, not one student's: {tags:?}"
    );

    // Running the class again creates nothing: every lab is already set up.
    let again = lab.run(&class_args(
        "spring",
        &csv,
        &lab.emulator.url,
        runbook.to_str().unwrap(),
    ));
    ok(&again);
    assert!(
        text(&again).1.contains("alice: lab already set up"),
        "{:?}",
        text(&again)
    );
    assert_eq!(by_student(&lab, "spring"), labs);

    // One student's rollback leaves the class's zone; the class's rollback removes it last.
    // The class ran through a rate-limiting proxy; its rollback goes to the emulator directly.
    let out = lab.run(&[
        "rollback",
        "--class",
        "spring",
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
        "--retarget",
    ]);
    ok(&out);
    assert!(
        text(&out).1.contains("Class spring is rolled back"),
        "{:?}",
        text(&out)
    );
    assert_eq!(inventory(&lab), before, "rollback --class left nothing");
    let out = lab.run(&["rollback", "--class", "sprung", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("did you mean `spring`"),
        "{:?}",
        text(&out)
    );
}

/// A class that needs more VPCs than the quota leaves is refused before anything is created,
/// saying how many students fit, which quota to raise and the alternatives.
#[test]
fn a_class_over_a_quota_is_refused_before_anything_is_created() {
    let lab = Lab::new();
    let before = inventory(&lab);
    let csv = roster(&lab, "big.csv", &["alice", "bob", "carol"]);
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let url = lab.emulator.url.clone();
    let mut args = class_args("big", &csv, &url, runbook.to_str().unwrap());
    // The emulator's default VPC is in use, so 4 leaves room for one lab of two VPCs.
    args.extend(["--quota", "vpcs=4"]);
    let out = lab.run(&args);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("class big does not fit the account's quotas: nothing was created"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 of 3 students fit in ap-south-1"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "VPCs per Region (L-F678F1CE): 6 needed, 1 in use, quota 4 (--quota): room for 1 lab"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("--quota-code L-F678F1CE --desired-value 7"),
        "{stderr}"
    );
    assert!(stderr.contains("a `region` column"), "{stderr}");
    assert_eq!(inventory(&lab), before, "nothing was created");
    assert!(
        !lab.dir.path().join(".runbook/runs").exists()
            || std::fs::read_dir(lab.dir.path().join(".runbook/runs"))
                .unwrap()
                .next()
                .is_none()
    );

    let out = lab.run(&[&args[..args.len() - 2], &["--quota", "vpc=4"]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("did you mean `vpcs`"),
        "{:?}",
        text(&out)
    );
}

/// A roster that gives two students the same domain: their labs would write the same failover
/// records and overwrite each other (one's rollback deleting the other's). Refused before
/// anything is created, naming the students and the record.
#[test]
fn students_sharing_a_domain_are_refused_before_anything_is_created() {
    let lab = Lab::new();
    let before = inventory(&lab);
    let csv = lab.dir.path().join("same.csv");
    std::fs::write(
        &csv,
        "student,domain\nann,shared.class.example\nben,shared.class.example\ncid,cid.class.example\n",
    )
    .unwrap();
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let url = lab.emulator.url.clone();
    let args = class_args(
        "same",
        csv.to_str().unwrap(),
        &url,
        runbook.to_str().unwrap(),
    );
    let out = lab.run(&args);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the PRIMARY A record of shared.class.example (ann, ben)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("cid)"),
        "cid has a domain of its own: {stderr}"
    );
    assert!(stderr.contains("`domain` column"), "{stderr}");
    assert_eq!(inventory(&lab), before, "nothing was created");
}

/// A roster that gives two students one prefix in one account: their labs would take the same
/// load balancer and target group names, which are unique in a region, and all but one would fail
/// after building their networks. Refused before the run, naming the students and the names; in
/// accounts of their own (a `profile` column) the same names are theirs to take.
#[test]
fn students_sharing_a_prefix_in_one_account_are_refused_before_the_run() {
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let validate = |csv: &str| {
        Test::new()
            .file("roster.csv", csv)
            .args([
                "validate",
                runbook.to_str().unwrap(),
                "--each",
                "roster.csv",
            ])
            .output()
    };
    let out = validate(
        "student,domain,prefix\nann,ann.class.example,lab\nben,ben.class.example,lab\ncid,cid.class.example,cid\n",
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`ann` and `ben` would each take load balancer lab-primary-alb, load balancer lab-secondary-alb, target group lab-primary-tg, target group lab-secondary-tg"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("`cid`"),
        "cid has a prefix of its own: {stderr}"
    );
    assert!(stderr.contains("the roster's `prefix` column"), "{stderr}");

    let out = validate(
        "student,domain,prefix,profile\nann,ann.class.example,lab,ann-account\nben,ben.class.example,lab,ben-account\n",
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// A class killed half way: running it again resumes each lab without duplicates; with the
/// state dir lost, `sweep --tag runbook:class=…` removes every lab and the class's zone.
#[test]
fn an_interrupted_class_resumes_without_duplicates_and_sweep_removes_it_without_the_state_dir() {
    let lab = Lab::new();
    let before = inventory(&lab);
    let csv = roster(&lab, "autumn.csv", &["kim", "lee", "max"]);
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let url = lab.emulator.url.clone();
    let args = class_args("autumn", &csv, &url, runbook.to_str().unwrap());
    let out = lab
        .command(&args)
        .env("RUNBOOK_TEST_CRASH_AFTER", "primary.alb")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "the class was killed");
    let half = by_student(&lab, "autumn");
    assert!(!half.is_empty(), "labs were half way: {half:?}");

    // One student's lab resumed on its own, by class and student rather than by run id.
    let out = lab.run(&[
        "resume",
        "--class",
        "autumn",
        "--student",
        "kym",
        "--yes",
        "--endpoint-url",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("did you mean `kim`"),
        "{:?}",
        text(&out)
    );
    let out = lab.run(&[
        "resume",
        "--class",
        "autumn",
        "--student",
        "kim",
        "--yes",
        "--output",
        "plain",
        "--endpoint-url",
        &url,
    ]);
    ok(&out);
    assert!(text(&out).1.contains("-autumn-kim-"), "{:?}", text(&out));
    let labs = by_student(&lab, "autumn");
    assert_eq!(labs["kim"].1.len(), 2, "kim's lab is finished: {labs:?}");

    let out = lab.run(&args);
    ok(&out);
    let labs = by_student(&lab, "autumn");
    for s in ["kim", "lee", "max"] {
        assert_eq!(labs[s].0, 2, "{s}: two VPCs, none twice: {labs:?}");
        assert_eq!(labs[s].1.len(), 2, "{s}: two load balancers: {labs:?}");
    }
    assert_eq!(class_zones(&lab).len(), 1);
    // `runs` says whose lab each run is.
    let listed = lab.run(&["runs", "--output", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let mut students: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["class"] == "autumn")
        .filter_map(|r| r["student"].as_str())
        .collect();
    students.sort_unstable();
    students.dedup();
    assert_eq!(students, ["kim", "lee", "max"], "{listed}");
    let (table, _) = text(&lab.run(&["runs"]));
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .contains("CLASS         STUDENT"),
        "{table}"
    );
    // One student's lab rolled back on its own; the others and the class's zone stay.
    let out = lab.run(&["rollback", "--class", "autumn", "--student", "kim", "--yes"]);
    ok(&out);
    assert!(
        text(&out).1.contains("Rolled back the lab of kim"),
        "{:?}",
        text(&out)
    );
    let labs = by_student(&lab, "autumn");
    assert!(!labs.contains_key("kim"), "kim's lab is gone: {labs:?}");
    for s in ["lee", "max"] {
        assert_eq!(labs[s].0, 2, "{s}'s lab stays: {labs:?}");
    }
    assert_eq!(class_zones(&lab).len(), 1, "the class's zone stays");
    let out = lab.run(&["rollback", "--class", "autumn", "--student", "kym", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("did you mean `kim`"),
        "{:?}",
        text(&out)
    );

    // A load balancer deleted behind the class's back: re-running the class rebuilds kim's lab
    // (rolled back above), checks the others against AWS, and rebuilds what lee's lost (the load
    // balancer and every step after it) without creating anything twice.
    let lee_lb = labs["lee"].1[0].clone();
    lab.rt.block_on(async {
        let elb = lab.emulator.elbv2();
        let arn = elb
            .describe_load_balancers()
            .names(&lee_lb)
            .send()
            .await
            .unwrap()
            .load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_owned();
        elb.delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
            .unwrap();
    });
    let lee_run = |lab: &Lab| -> String {
        let listed = lab.run(&["runs", "--output", "json"]);
        let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
        listed
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|r| r["student"] == "lee")
            .unwrap()["run_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before_run = lee_run(&lab);
    let out = lab.run(&args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("lee: lab set up (run ")
            && stderr.contains("2 resources missing (")
            && stderr.contains(".alb`, `")
            && stderr.contains(".listener` and what follows them"),
        "{stderr}"
    );
    assert!(stderr.contains("max: lab already set up"), "{stderr}");
    assert!(
        stdout.contains("rebuilt") || stderr.contains("rebuilt"),
        "the table says lee's lab was rebuilt: {stdout}{stderr}"
    );
    let labs = by_student(&lab, "autumn");
    for s in ["kim", "lee", "max"] {
        assert_eq!(labs[s].0, 2, "{s}: two VPCs, none twice: {labs:?}");
        assert_eq!(labs[s].1.len(), 2, "{s}: two load balancers: {labs:?}");
    }
    // The same run, whole again: AWS has everything its journal holds alive.
    assert_eq!(lee_run(&lab), before_run, "rebuilt in the same run");
    let out = lab.run(&["show", &before_run, "--check", "--output", "json"]);
    ok(&out);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !shown.to_string().contains("\"missing\""),
        "nothing is missing after the rebuild: {shown}"
    );
    assert!(
        shown["rebuilt"]
            .as_str()
            .unwrap()
            .contains("2 resources missing"),
        "show says why the run was rebuilt: {shown}"
    );
    let out = lab.run(&args);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("lee: lab already set up"),
        "{:?}",
        text(&out)
    );

    std::fs::remove_dir_all(lab.dir.path().join(".runbook")).unwrap();
    let out = lab.run(&[
        "sweep",
        "--tag",
        "runbook:class=autumn",
        "--yes",
        "--endpoint-url",
        &url,
        "--region",
        "ap-south-1",
    ]);
    ok(&out);
    assert_eq!(
        inventory(&lab),
        before,
        "sweep removed the labs and the class's zone"
    );
}

/// One account per student: a `role_arn` column runs each lab with that role assumed (the
/// emulator keeps each account apart), the journal remembers it for `rollback --class`, and
/// `sweep --each` looks in every student's account.
#[test]
fn a_role_arn_column_puts_each_lab_in_its_own_account_and_sweep_each_follows_it() {
    let lab = Lab::new();
    let before = inventory(&lab);
    let csv = lab.dir.path().join("accounts.csv");
    std::fs::write(
        &csv,
        "student,domain,role_arn\n\
         kim,kim.class.example,arn:aws:iam::111111111111:role/lab\n\
         lee,lee.class.example,arn:aws:iam::222222222222:role/lab\n",
    )
    .unwrap();
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let url = lab.emulator.url.clone();
    let args = class_args(
        "orgs",
        csv.to_str().unwrap(),
        &url,
        runbook.to_str().unwrap(),
    );
    ok(&lab.run(&args));
    assert_eq!(
        inventory(&lab),
        before,
        "the labs are in the students' accounts, not the teacher's"
    );
    let journals: String = std::fs::read_dir(lab.dir.path().join(".runbook/runs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path().join("journal.jsonl")).unwrap())
        .collect();
    assert!(journals.contains("arn:aws:iam::111111111111:role/lab"));
    assert!(journals.contains("arn:aws:iam::222222222222:role/lab"));
    assert!(
        journals.contains("\"account\":\"111111111111\"")
            && journals.contains("\"account\":\"222222222222\""),
        "each lab records the account it ran in"
    );
    // Pointed at another region, the class's rollback is refused before any delete.
    let out = lab.run(&[
        "rollback",
        "--class",
        "orgs",
        "--yes",
        "--region",
        "us-east-1",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`us-east-1`") && stderr.contains("--retarget"),
        "{stderr}"
    );
    let out = lab.run(&["rollback", "--class", "orgs", "--yes"]);
    ok(&out);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("removed load balancer") && !stderr.contains("already gone"),
        "the refused rollback had left everything for this one: {stderr}"
    );
    // A table of the class at the end: a row per student.
    assert!(stderr.contains("STUDENT  RESULT"), "{stderr}");
    for student in ["kim", "lee"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(student) && l.contains("rolled back")),
            "{student}: {stderr}"
        );
    }
    assert!(
        text(&out).1.contains("Class orgs is rolled back"),
        "{:?}",
        text(&out)
    );

    // Again, then lose the state dir: sweep --each finds both accounts' labs by tag.
    ok(&lab.run(&args));
    std::fs::remove_dir_all(lab.dir.path().join(".runbook")).unwrap();
    let sweep = |extra: &[&str]| {
        lab.run(
            &[
                &[
                    "sweep",
                    "--tag",
                    "runbook:class=orgs",
                    "--each",
                    csv.to_str().unwrap(),
                    "--endpoint-url",
                    &url,
                    "--region",
                    "ap-south-1",
                ][..],
                extra,
            ]
            .concat(),
        )
    };
    let out = sweep(&["--yes"]);
    ok(&out);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("(as arn:aws:iam::111111111111:role/lab)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("(as arn:aws:iam::222222222222:role/lab)"),
        "{stderr}"
    );
    assert!(stderr.contains("deleted load balancer"), "{stderr}");
    let out = sweep(&["--dry-run"]);
    ok(&out);
    assert_eq!(
        text(&out).1.matches("Nothing in ap-south-1").count(),
        2,
        "both accounts are empty: {:?}",
        text(&out)
    );
}

/// The failover records of one zone, by name: (name, role).
fn failover_records(lab: &Lab) -> Vec<(String, String)> {
    let r53 = lab.emulator.route53();
    lab.rt.block_on(async {
        let mut out = Vec::new();
        for z in r53.list_hosted_zones().send().await.unwrap().hosted_zones() {
            let sets = r53
                .list_resource_record_sets()
                .hosted_zone_id(z.id())
                .send()
                .await
                .unwrap();
            for s in sets.resource_record_sets() {
                if let Some(role) = s.failover() {
                    out.push((s.name().to_owned(), role.as_str().to_owned()));
                }
            }
        }
        out.sort();
        out
    })
}

/// A teacher sets every lab up to its first exercise (`--until`): the labs stop before their
/// records (exit 0, nothing rolled back, `runs` says paused), and each student goes on with their
/// own lab (`resume --class --student`); `rollback --class` then leaves what was there before.
#[test]
fn a_class_set_up_until_its_first_exercise_pauses_every_lab_for_its_student() {
    let lab = Lab::new();
    let before = inventory(&lab);
    let csv = roster(&lab, "autumn.csv", &["alice", "bob"]);
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let mut args = class_args("autumn", &csv, &lab.emulator.url, runbook.to_str().unwrap());
    args.extend(["--until", "primary_record", "--until", "secondary_record"]);
    let out = lab.run(&args);
    ok(&out);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(
            "2 labs paused before `primary_record` and `secondary_record`, as --until asked."
        ) && stderr.contains("resume --class autumn --student NAME --exercise"),
        "{stderr}"
    );
    assert!(
        stderr.lines().filter(|l| l.contains("paused")).count() >= 2,
        "the table says each lab is paused: {stderr}"
    );
    assert!(
        failover_records(&lab).is_empty(),
        "no lab wrote its records: {:?}",
        failover_records(&lab)
    );
    let labs = by_student(&lab, "autumn");
    assert_eq!(labs.len(), 2, "both labs' stacks are set up: {labs:?}");
    let runs = lab.run(&["runs", "--output", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&text(&runs).0).expect("JSON");
    let statuses: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["class"] == "autumn")
        .map(|r| r["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["paused", "paused"]);
    for run in listed.as_array().unwrap() {
        assert_eq!(
            run["exercises"],
            serde_json::json!([
                {"step": "primary_record", "state": "open"},
                {"step": "secondary_record", "state": "open"},
                {"step": "stop_primary", "state": "open"},
            ]),
            "every exercise is left for the student: {run}"
        );
        let (done, all) = (
            run["steps_done"].as_u64().unwrap(),
            run["steps"].as_u64().unwrap(),
        );
        assert!(done > 20 && done < all, "how far the lab has come: {run}");
    }

    // Alice goes on with her lab (here unattended; on a terminal, with --exercise).
    let out = lab.run(&[
        "resume",
        "--class",
        "autumn",
        "--student",
        "alice",
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
    ]);
    ok(&out);
    assert_eq!(
        failover_records(&lab),
        [
            ("alice.class.example.".to_owned(), "PRIMARY".to_owned()),
            ("alice.class.example.".to_owned(), "SECONDARY".to_owned()),
        ],
        "only alice's lab went on"
    );
    let out = lab.run(&["rollback", "--class", "autumn", "--yes"]);
    ok(&out);
    assert_eq!(inventory(&lab), before, "rollback --class left nothing");
}

/// A class name used again (next term, another endpoint): the new class's rollback looks for
/// its shared resources where its own labs ran, not where the earlier class's long rolled-back
/// labs did (that endpoint is gone), and completes.
#[test]
fn a_class_name_used_again_rolls_back_where_its_own_labs_ran() {
    let lab = Lab::new();
    let before = inventory(&lab);
    let csv = roster(&lab, "winter.csv", &["alice"]);
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let runbook = runbook.to_str().unwrap();
    {
        let last_term =
            crate::proxy::Proxy::start(&lab.emulator.url, crate::proxy::Faults::default());
        let mut args = class_args("winter", &csv, &last_term.url, runbook);
        args.extend(["--var", "drill=false"]);
        ok(&lab.run(&args));
        ok(&lab.run(&["rollback", "--class", "winter", "--yes"]));
    }
    // The earlier class's endpoint is gone now.
    let this_term = crate::proxy::Proxy::start(&lab.emulator.url, crate::proxy::Faults::default());
    let mut args = class_args("winter", &csv, &this_term.url, runbook);
    args.extend(["--var", "drill=false"]);
    ok(&lab.run(&args));
    let out = lab.run(&["rollback", "--class", "winter", "--yes"]);
    ok(&out);
    assert!(
        text(&out).1.contains("Class winter is rolled back"),
        "{:?}",
        text(&out)
    );
    assert_eq!(inventory(&lab), before, "rollback --class left nothing");
}

/// A record a person added to the class's zone is nobody's run's: `rollback --class` leaves it
/// alone, keeps the zone, says which record kept it and how to delete it, and exits 3; once the
/// record is gone, the same rollback removes the zone. `sweep` of the class follows the same rule.
#[test]
fn a_record_a_person_added_keeps_the_class_zone_and_is_untouched() {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };
    let lab = Lab::new();
    let csv = roster(&lab, "autumn.csv", &["alice"]);
    let runbook = crate::test::root().join("runbooks/route53-failover.yaml");
    let mut args = class_args("autumn", &csv, &lab.emulator.url, runbook.to_str().unwrap());
    args.extend(["--var", "drill=false"]);
    ok(&lab.run(&args));
    let r53 = lab.emulator.route53();
    let zone = lab.rt.block_on(async {
        let zones = r53
            .list_hosted_zones_by_name()
            .dns_name("class.example")
            .send()
            .await
            .unwrap();
        zones.hosted_zones()[0]
            .id()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    });
    let txt = |action: ChangeAction| {
        Change::builder()
            .action(action)
            .resource_record_set(
                ResourceRecordSet::builder()
                    .name("notes.class.example")
                    .r#type(RrType::Txt)
                    .ttl(300)
                    .resource_records(
                        ResourceRecord::builder()
                            .value("\"the teacher's\"")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let change = |action: ChangeAction| {
        lab.rt.block_on(
            r53.change_resource_record_sets()
                .hosted_zone_id(&zone)
                .change_batch(ChangeBatch::builder().changes(txt(action)).build().unwrap())
                .send(),
        )
    };
    change(ChangeAction::Create).unwrap();
    let records = || {
        lab.rt.block_on(async {
            r53.list_resource_record_sets()
                .hosted_zone_id(&zone)
                .send()
                .await
                .map(|o| {
                    o.resource_record_sets()
                        .iter()
                        .map(|r| format!("{} {}", r.name(), r.r#type().as_str()))
                        .collect::<Vec<_>>()
                })
        })
    };
    let out = lab.run(&["rollback", "--class", "autumn", "--yes"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(
        stderr.contains("notes.class.example TXT") && stderr.contains("is kept"),
        "{stderr}"
    );
    assert!(stderr.contains("change-resource-record-sets"), "{stderr}");
    let left = records().expect("the zone is kept");
    assert!(
        left.contains(&"notes.class.example. TXT".to_owned()),
        "the person's record is untouched: {left:?}"
    );
    assert!(
        !left.iter().any(|r| r.ends_with(" A")),
        "the labs' own records are gone: {left:?}"
    );
    let out = lab.run(&[
        "sweep",
        "--tag",
        "runbook:class=autumn",
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
        "--region",
        crate::emulator::REGION,
    ]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    assert!(records().is_ok(), "sweep keeps it too");
    change(ChangeAction::Delete).unwrap();
    ok(&lab.run(&["rollback", "--class", "autumn", "--yes"]));
    assert!(
        records().is_err(),
        "the zone is gone once nothing else is in it"
    );
}

/// A class of the two-region lab: the run's region and the primary's come from `--var`, each
/// student's secondary region from the roster's `secondary_region` column. The quota preflight
/// adds up each region's part of the labs; `--until` pauses every lab before its records with
/// both stacks set up; a student's lab goes on; `rollback --class` leaves nothing in any
/// region.
#[test]
fn a_class_of_the_two_region_lab_builds_each_stack_in_its_region_and_tears_all_down() {
    let lab = Lab::new();
    let csv = lab.dir.path().join("far.csv");
    std::fs::write(
        &csv,
        "student,domain,secondary_region\n\
         alice,alice.class.example,us-east-1\n\
         bob,bob.class.example,ap-southeast-1\n",
    )
    .unwrap();
    let runbook = crate::test::root().join("runbooks/two-region-failover.yaml");
    let mut args = class_args(
        "far",
        csv.to_str().unwrap(),
        &lab.emulator.url,
        runbook.to_str().unwrap(),
    );
    args.extend(["--until", "primary_record", "--until", "secondary_record"]);
    let out = lab.run(&args);
    ok(&out);
    let (_, stderr) = text(&out);
    assert!(
        failover_records(&lab).is_empty(),
        "no lab wrote its records"
    );
    for expected in [
        "Quotas in ap-south-1 (the emulator: it enforces none) for 2 new labs:",
        "Quotas in us-east-1 (the emulator: it enforces none) for 1 new lab:",
        "Quotas in ap-southeast-1 (the emulator: it enforces none) for 1 new lab:",
        "2 labs paused before `primary_record` and `secondary_record`",
    ] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    // Each student's VPCs, by region.
    let students = |region: &str| -> Vec<(String, String)> {
        let ec2 = lab.emulator.ec2_in(region);
        lab.rt.block_on(async {
            let vpcs = ec2
                .describe_vpcs()
                .filters(
                    Filter::builder()
                        .name("tag:runbook:class")
                        .values("far")
                        .build(),
                )
                .send()
                .await
                .unwrap();
            let mut out: Vec<(String, String)> = vpcs
                .vpcs()
                .iter()
                .map(|v| {
                    let student = v
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some("runbook:student"))
                        .and_then(|t| t.value())
                        .unwrap_or_default()
                        .to_owned();
                    (student, v.cidr_block().unwrap_or_default().to_owned())
                })
                .collect();
            out.sort();
            out
        })
    };
    let pair = |student: &str, cidr: &str| (student.to_owned(), cidr.to_owned());
    assert_eq!(
        students("ap-south-1"),
        [pair("alice", "10.0.0.0/16"), pair("bob", "10.0.0.0/16")]
    );
    assert_eq!(students("us-east-1"), [pair("alice", "11.0.0.0/16")]);
    assert_eq!(students("ap-southeast-1"), [pair("bob", "11.0.0.0/16")]);

    let out = lab.run(&[
        "resume",
        "--class",
        "far",
        "--student",
        "bob",
        "--yes",
        "--endpoint-url",
        &lab.emulator.url,
    ]);
    ok(&out);
    assert_eq!(
        failover_records(&lab),
        [
            ("bob.class.example.".to_owned(), "PRIMARY".to_owned()),
            ("bob.class.example.".to_owned(), "SECONDARY".to_owned()),
        ],
        "bob's lab went on, its drill checked across regions: {:?}",
        text(&out)
    );
    // A class's drills are listed per student, with both regions of the lab.
    let drills = lab.run(&["drills", "--output", "json"]);
    ok(&drills);
    let drills: serde_json::Value = serde_json::from_slice(&drills.stdout).expect("JSON");
    let bob: Vec<&serde_json::Value> = drills
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["student"] == "bob")
        .collect();
    assert_eq!(bob.len(), 1, "{drills}");
    assert_eq!(
        bob[0]["regions"],
        serde_json::json!(["ap-south-1", "ap-southeast-1"]),
        "{drills}"
    );
    assert!(bob[0]["failover_seconds"].is_u64(), "{drills}");

    // Bob's secondary load balancer deleted behind the class's back, in its region: the class
    // run again finishes alice's lab, finds bob's loss there and rebuilds it in the same run.
    let balancers = |region: &str| -> Vec<String> {
        let elb = lab.emulator.elbv2_in(region);
        lab.rt.block_on(async {
            let mut names: Vec<String> = elb
                .describe_load_balancers()
                .send()
                .await
                .unwrap()
                .load_balancers()
                .iter()
                .filter_map(|lb| lb.load_balancer_name().map(str::to_owned))
                .collect();
            names.sort();
            names
        })
    };
    let lost = balancers("ap-southeast-1");
    assert_eq!(lost.len(), 1, "{lost:?}");
    lab.rt.block_on(async {
        let elb = lab.emulator.elbv2_in("ap-southeast-1");
        let arn = elb
            .describe_load_balancers()
            .names(&lost[0])
            .send()
            .await
            .unwrap()
            .load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_owned();
        elb.delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
            .unwrap();
    });
    let again = class_args(
        "far",
        csv.to_str().unwrap(),
        &lab.emulator.url,
        runbook.to_str().unwrap(),
    );
    let out = lab.run(&again);
    ok(&out);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("bob: lab set up (run ") && stderr.contains("missing ("),
        "{stderr}"
    );
    assert_eq!(
        balancers("ap-southeast-1"),
        lost,
        "rebuilt once, in its region"
    );
    assert_eq!(balancers("us-east-1").len(), 1);
    assert_eq!(balancers("ap-south-1").len(), 2);
    assert_eq!(failover_records(&lab).len(), 4, "both labs finished");
    // A sweep of the class with its journals at hand looks in every region its labs acted in.
    let out = lab.run(&[
        "sweep",
        "--tag",
        "runbook:class=far",
        "--dry-run",
        "--region",
        "ap-south-1",
        "--endpoint-url",
        &lab.emulator.url,
    ]);
    ok(&out);
    let listed = text(&out).1;
    for region in [
        "ap-south-1 (and Route 53, which is global)",
        "us-east-1",
        "ap-southeast-1",
    ] {
        assert!(
            listed.contains(&format!("in {region} carry")),
            "{region}: {listed}"
        );
    }

    let out = lab.run(&["rollback", "--class", "far", "--yes"]);
    ok(&out);
    for region in ["ap-south-1", "us-east-1", "ap-southeast-1"] {
        assert!(
            balancers(region).is_empty(),
            "no load balancer left in {region}"
        );
        assert!(students(region).is_empty(), "nothing left in {region}");
    }
    assert!(failover_records(&lab).is_empty());
}
