//! Benchmark: a class of N failover labs at once against the emulator (bench/class, not a test).
//!
//! The test proxy in front of the emulator throttles Route 53 as AWS does (a bucket of 5 refilled
//! at 5 per second), and the tool runs with its default client-side limit (5 per second). For
//! each N the class's wall time is printed next to the lower bound that limit sets (the Route 53
//! requests the class made divided by 5 per second), with the throttled requests (expected: 0).
//! Each class is rolled back (`rollback --class`) before the next.
//!
//! `class_timings --bin target/debug/runbook [--sizes 1,10,30]`

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Instant;

#[path = "../tests/emulator.rs"]
#[allow(dead_code)]
mod emulator;
#[path = "../tests/proxy.rs"]
#[allow(dead_code)]
mod proxy;

/// What tests/emulator.rs expects of the test crate.
mod test {
    pub fn root() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }
}

/// The tool's default rates per service (Route 53's is also the proxy's).
const RATES: [(&str, f64); 3] = [("route53", 5.0), ("ec2", 20.0), ("elbv2", 10.0)];
const ROUTE53_PER_SECOND: f64 = RATES[0].1;
const MAX_AT_ONCE: usize = 10;

fn main() {
    let mut bin = PathBuf::from("target/debug/runbook");
    let mut sizes = vec![1_usize, 10, 30];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bin" => bin = PathBuf::from(args.next().expect("--bin PATH")),
            "--sizes" => {
                sizes = args
                    .next()
                    .expect("--sizes 1,10,30")
                    .split(',')
                    .map(|n| n.trim().parse().expect("a class size"))
                    .collect();
            }
            other => panic!("unknown argument {other}: class_timings --bin PATH [--sizes 1,10,30]"),
        }
    }
    let bin = std::fs::canonicalize(&bin).expect("the runbook binary (build it first)");
    let emulator = emulator::Emulator::start();
    let home = tempfile::tempdir().expect("a temporary directory");
    let runbook = test::root().join("runbooks/route53-failover.yaml");
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&bin);
        cmd.args(args).current_dir(home.path()).stdin(Stdio::null());
        emulator::isolate(&mut cmd, home.path());
        cmd.output().expect("run the tool")
    };

    println!(
        "a class of failover labs against the emulator, Route 53 limited to {ROUTE53_PER_SECOND}/s, up to {MAX_AT_ONCE} labs at once"
    );
    println!(
        "  labs   wall s   Route 53 requests   lower bound s   wall / bound   throttled   EC2 / ELBv2 (20/s, 10/s)     all services' bound s"
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
                route53_per_second: Some(5),
                ..proxy::Faults::default()
            },
        );
        let class = format!("bench{n}");
        // Labs at once: all of them up to 10. The emulator is one Python process; with 30 labs
        // of 8 concurrent steps each it stops accepting connections (AWS does not).
        let parallelism = n.min(MAX_AT_ONCE).to_string();
        let started = Instant::now();
        let out = run(&[
            "run",
            runbook.to_str().expect("a UTF-8 path"),
            "--class",
            &class,
            "--each",
            csv.to_str().expect("a UTF-8 path"),
            "--var",
            "zone=class.example",
            "--parallelism",
            &parallelism,
            "--yes",
            "--output",
            "plain",
            "--endpoint-url",
            &proxy.url,
        ]);
        let wall = started.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "the class of {n} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let requests = proxy.stats.route53.load(Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)]
        let bound = requests as f64 / ROUTE53_PER_SECOND;
        let by_service = proxy
            .stats
            .by_service
            .lock()
            .expect("never poisoned")
            .clone();
        // Every service's requests at its rate: the slowest is the class's real lower bound.
        let mut slowest = bound;
        let other: Vec<String> = RATES[1..]
            .iter()
            .map(|(service, rate)| {
                let n = by_service.get(service).copied().unwrap_or(0);
                #[allow(clippy::cast_precision_loss)]
                let seconds = n as f64 / rate;
                slowest = slowest.max(seconds);
                format!("{n} ({seconds:.1} s)")
            })
            .collect();
        println!(
            "  {n:4}   {wall:6.1}   {requests:17}   {bound:13.1}   {:12.2}   {:9}   {:<28}   {slowest:.1}",
            wall / bound,
            proxy.stats.over_rate.load(Ordering::Relaxed),
            other.join(" / ")
        );
        let out = run(&[
            "rollback",
            "--class",
            &class,
            "--yes",
            "--endpoint-url",
            &emulator.url,
        ]);
        assert!(
            out.status.success(),
            "rollback of the class of {n} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
