//! Benchmark: a class of N failover labs at the tool's default settings (bench/class, not a test).
//!
//! The test proxy in front of the emulator gives it real AWS's state timings scaled by `--scale`
//! (a load balancer provisions 180 s, a change is PENDING 45 s, an instance stops in 20 s; the
//! default scale 0.2 makes one lab's critical path 49 s) and throttles Route 53 as AWS does (a
//! bucket of 5 refilled at 5 per second). For each N the class's wall time is printed next to
//! one lab's critical path, with the labs that failed, the requests the proxy refused for
//! throttling (the tool retries them; a failed lab would show a throttle it did not), and each
//! service's request count. Each class is rolled back (`rollback --class`, where it ran) before the next.
//!
//! `class_timings --bin target/debug/runbook [--sizes 1,10,30] [--scale 0.2] [--parallelism N] [--calls]`
//! (`--calls`: each operation's request count too; `--timeline`: when each step started and
//! ended, the earliest and latest lab)

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Instant;

mod support;
use support::{emulator, proxy};

const ROUTE53_PER_SECOND: u32 = 5;

/// `class_timings --bin PATH [--sizes 1,10,30] [--scale F] [--parallelism N] [--calls] [--timeline]`
#[derive(clap::Parser)]
struct Args {
    /// The runbook binary.
    #[arg(long, default_value = "target/debug/runbook")]
    bin: PathBuf,
    /// The class sizes to time, one class each.
    #[arg(long, value_delimiter = ',', default_value = "1,10,30")]
    sizes: Vec<usize>,
    /// Real AWS's timings multiplied by this.
    #[arg(long, default_value_t = 0.2)]
    scale: f64,
    /// Passed to `run --class` as its `--parallelism`.
    #[arg(long)]
    parallelism: Option<String>,
    /// Each operation's request count too.
    #[arg(long)]
    calls: bool,
    /// When each step started and ended, the earliest and latest lab.
    #[arg(long)]
    timeline: bool,
}

fn main() {
    let Args {
        bin,
        sizes,
        scale,
        parallelism,
        calls,
        timeline,
    } = clap::Parser::parse();
    let emulator = emulator::Emulator::start();
    // The emulator reads its catalogues (images, instance types) on first use, seconds that the
    // first class would count as the tool's: ask for them once before timing.
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            let ec2 = emulator.ec2();
            let _ = ec2
                .describe_images()
                .owners("amazon")
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("name")
                        .values("al2023-ami-2023.*-x86_64")
                        .build(),
                )
                .send()
                .await;
            let _ = ec2.describe_availability_zones().send().await;
            let _ = ec2.describe_instance_type_offerings().send().await;
        });
    let tool = support::Tool::new(&bin);
    let home = &tool.home;
    let runbook = support::failover_lab();
    let run = |args: &[&str]| tool.run(args);

    let critical =
        scale * (proxy::LB_PROVISIONING + proxy::CHANGE_PENDING + proxy::INSTANCE_STOPPING);
    println!(
        "classes of failover labs: real AWS timings x{scale} (one lab's critical path {critical:.1} s), Route 53 limited to {ROUTE53_PER_SECOND}/s, {}",
        parallelism.as_ref().map_or_else(
            || "the tool's default settings".to_owned(),
            |p| format!("--parallelism {p}")
        )
    );
    println!(
        "  labs   wall s   ÷ critical path   failed labs   throttled (retried)   requests: all   ec2   elbv2   route53   sts"
    );
    for n in sizes {
        let csv = home.path().join(format!("class-{n}.csv"));
        let mut text = String::from("student,domain\n");
        for i in 1..=n {
            text.push_str(&format!("s{i:02},s{i:02}.class.example\n"));
        }
        std::fs::write(&csv, text).expect("write the roster");
        let proxy = proxy::Proxy::start(
            &emulator.url,
            proxy::Faults {
                route53_per_second: Some(ROUTE53_PER_SECOND),
                aws_timings: Some(scale),
                ..proxy::Faults::default()
            },
        );
        let class = format!("bench{n}");
        let mut args = vec![
            "run",
            &runbook,
            "--class",
            &class,
            "--each",
            csv.to_str().expect("a UTF-8 path"),
            "--var",
            "zone=class.example",
            "--yes",
            "--output",
            "json",
            "--endpoint-url",
            &proxy.url,
        ];
        if let Some(p) = &parallelism {
            args.extend(["--parallelism", p.as_str()]);
        }
        let started = Instant::now();
        let (out, events) = run_timed(&tool, &args);
        let wall = started.elapsed().as_secs_f64();
        // The class's last event lists every lab and how it ended.
        let failed = events
            .iter()
            .map(|(_, e)| e)
            .filter(|e| e["event"] == "class_finished")
            .map(|e| {
                e["labs"].as_array().map_or(n, |labs| {
                    labs.iter()
                        .filter(|l| l["status"] != "succeeded" && l["status"] != "rebuilt")
                        .count()
                })
            })
            .next_back()
            .unwrap_or(n);
        let by_service = proxy
            .stats
            .by_service
            .lock()
            .expect("never poisoned")
            .clone();
        let count = |s: &str| by_service.get(s).copied().unwrap_or(0);
        println!(
            "  {n:4}   {wall:6.1}   {:15.2}   {failed:11}   {:19}   {:14}   {:3}   {:5}   {:7}   {:3}",
            wall / critical,
            proxy.stats.over_rate.load(Ordering::Relaxed),
            by_service.values().sum::<u64>(),
            count("ec2"),
            count("elbv2"),
            count("route53"),
            count("sts"),
        );
        if timeline {
            print_timeline(&events);
        }
        if let Ok(path) = std::env::var("CLASS_TIMINGS_EVENTS") {
            // Every event with the second it came, for a closer look.
            let lines: Vec<String> = events
                .iter()
                .map(|(at, e)| format!("{at:7.2} {e}"))
                .collect();
            std::fs::write(format!("{path}.{n}"), lines.join("\n")).expect("write the events");
            // And every request the proxy forwarded, with its second.
            let calls: Vec<String> = proxy
                .stats
                .log
                .lock()
                .expect("never poisoned")
                .iter()
                .map(|(at, op)| {
                    format!(
                        "{:7.2} {op}",
                        at.saturating_duration_since(started).as_secs_f64()
                    )
                })
                .collect();
            std::fs::write(format!("{path}.{n}.calls"), calls.join("\n")).expect("write the calls");
        }
        if calls {
            let by_operation = proxy.stats.by_operation.lock().expect("never poisoned");
            for (op, count) in by_operation.iter() {
                println!("         {op:40} {count:5}");
            }
        }
        if !out.0.success() {
            eprintln!("the class of {n} did not succeed:\n{}", out.1);
        }
        let out = run(&["rollback", "--class", &class, "--yes"]);
        assert!(
            out.status.success(),
            "rollback of the class of {n} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Run the tool with JSON output, noting when each event came (seconds from the start); the exit
/// status and standard error.
fn run_timed(
    tool: &support::Tool,
    args: &[&str],
) -> (
    (std::process::ExitStatus, String),
    Vec<(f64, serde_json::Value)>,
) {
    use std::io::{BufRead, Read};
    let mut cmd = tool.command(args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("run the tool");
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let events = std::io::BufReader::new(child.stdout.take().expect("piped"))
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .map(|e| (started.elapsed().as_secs_f64(), e))
        .collect();
    let status = child.wait().expect("the tool ends");
    ((status, errors.join().unwrap_or_default()), events)
}

/// Each step's start and end over the labs: the earliest and the latest.
fn print_timeline(events: &[(f64, serde_json::Value)]) {
    let mut steps: std::collections::BTreeMap<String, [f64; 4]> = std::collections::BTreeMap::new();
    let mut order = Vec::new();
    for (at, e) in events {
        let (Some(kind), Some(step)) = (e["event"].as_str(), e["step"].as_str()) else {
            continue;
        };
        let entry = steps.entry(step.to_owned()).or_insert_with(|| {
            order.push(step.to_owned());
            [f64::MAX, 0.0, f64::MAX, 0.0]
        });
        match kind {
            "step_started" => {
                entry[0] = entry[0].min(*at);
                entry[1] = entry[1].max(*at);
            }
            "step_succeeded" | "step_failed" | "step_skipped" => {
                entry[2] = entry[2].min(*at);
                entry[3] = entry[3].max(*at);
            }
            _ => {}
        }
    }
    println!("         step                          started (first-last)   ended (first-last)");
    for step in order {
        let [s0, s1, e0, e1] = steps[&step];
        // Never seen (a step skipped before it started): shown as 0.
        let s0 = if s0 < f64::MAX { s0 } else { 0.0 };
        let e0 = if e0 < f64::MAX { e0 } else { 0.0 };
        println!("         {step:30} {s0:6.1} - {s1:6.1}        {e0:6.1} - {e1:6.1}");
    }
}
