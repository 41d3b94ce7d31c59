//! Benchmark: the failover lab with real AWS's timings (bench/failover, not a test).
//!
//! The emulator finishes everything at once; the test proxy in front of it makes a load balancer
//! provision for 180 s, an instance stay pending 30 s and stopping 20 s, and a Route 53 change
//! PENDING 45 s, all multiplied by `--scale`. The run is timed and compared with the critical
//! path those timings allow (the slowest load balancer, then the records' INSYNC, then the stop
//! of the drill), and the polls each kind of wait cost are counted.
//!
//! `failover_timings --bin target/debug/runbook [--scale 1.0]`

use std::path::PathBuf;

use std::time::Instant;

mod support;
use support::{emulator, proxy};

/// `failover_timings --bin PATH [--scale F]`
#[derive(clap::Parser)]
struct Args {
    /// The runbook binary.
    #[arg(long, default_value = "target/debug/runbook")]
    bin: PathBuf,
    /// Real AWS's timings multiplied by this.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
}

fn main() {
    let Args { bin, scale } = clap::Parser::parse();
    let emulator = emulator::Emulator::start();
    let proxy = proxy::Proxy::start(
        &emulator.url,
        proxy::Faults {
            aws_timings: Some(scale),
            ..proxy::Faults::default()
        },
    );
    let tool = support::Tool::new(&bin);
    let runbook = support::failover_lab();
    let run = |args: &[&str]| tool.run(args);

    let started = Instant::now();
    let out = run(&support::run_lab(&runbook, &proxy.url));
    let wall = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "the run failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = proxy
        .stats
        .by_operation
        .lock()
        .expect("never poisoned")
        .clone();

    // The slowest step of each kind of wait, from the events.
    let mut slowest: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if event["event"] != "step_succeeded" {
            continue;
        }
        let step = event["step"].as_str().unwrap_or_default();
        let kind = match step.rsplit('.').next().unwrap_or_default() {
            "ready" => "load balancer active",
            "web" => "instances running",
            "primary_insync" | "secondary_insync" => "change INSYNC",
            "stop_primary" => "instances stopped",
            _ => continue,
        };
        let seconds = event["seconds"].as_f64().unwrap_or_default();
        let entry = slowest.entry(kind).or_insert(0.0);
        *entry = entry.max(seconds);
    }

    let critical =
        scale * (proxy::LB_PROVISIONING + proxy::CHANGE_PENDING + proxy::INSTANCE_STOPPING);
    println!("failover lab with real AWS timings x{scale}");
    println!("  wall time       {wall:7.1} s");
    println!(
        "  critical path   {critical:7.1} s  (load balancer {:.0} s + change {:.0} s + stop {:.0} s)",
        scale * proxy::LB_PROVISIONING,
        scale * proxy::CHANGE_PENDING,
        scale * proxy::INSTANCE_STOPPING
    );
    println!(
        "  overhead        {:7.1} %",
        (wall / critical - 1.0) * 100.0
    );
    println!("  waits (slowest step of each kind, and the polls they cost in all):");
    for (kind, op, modelled) in [
        (
            "load balancer active",
            "DescribeLoadBalancers",
            proxy::LB_PROVISIONING,
        ),
        (
            "instances running",
            "DescribeInstances",
            proxy::INSTANCE_PENDING,
        ),
        ("change INSYNC", "GetChange", proxy::CHANGE_PENDING),
        (
            "instances stopped",
            "DescribeInstances",
            proxy::INSTANCE_STOPPING,
        ),
    ] {
        println!(
            "    {kind:22} {:6.1} s of {:5.1} s modelled   {op}: {} calls",
            slowest.get(kind).copied().unwrap_or_default(),
            scale * modelled,
            calls.get(op).copied().unwrap_or_default()
        );
    }
    println!("  all calls       {}", calls.values().sum::<u64>());
    let out = run(&["rollback", "--yes"]);
    assert!(
        out.status.success(),
        "rollback failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
