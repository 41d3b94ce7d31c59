//! Benchmark: the failover lab with its runs kept locally and in S3, side by side (bench/state,
//! not a test).
//!
//! One emulator serves the lab and the state bucket. Each round runs the lab and rolls it back
//! once with `--state-dir` a local folder and once with `s3://…`, alternating which goes first;
//! the medians of the runs' and rollbacks' wall times are compared. With `--scale F` the lab's
//! calls go through the test proxy with real AWS's timings scaled by F (the state's pass through
//! it unchanged); by
//! default they go straight to the emulator, where nothing waits and the journal's cost shows
//! most.
//!
//! `state_timings --bin target/debug/runbook [--rounds 3] [--scale F]`

use std::path::PathBuf;

use std::time::Instant;

mod support;
use support::{emulator, proxy};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        f64::midpoint(xs[n / 2 - 1], xs[n / 2])
    }
}

/// `state_timings --bin PATH [--rounds N] [--scale F]`
#[derive(clap::Parser)]
struct Args {
    /// The runbook binary.
    #[arg(long, default_value = "target/debug/runbook")]
    bin: PathBuf,
    /// Rounds, each a run and a rollback with local and with S3 state.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Send the lab's calls through the proxy with real AWS's timings multiplied by this.
    #[arg(long)]
    scale: Option<f64>,
}

fn main() {
    let Args { bin, rounds, scale } = clap::Parser::parse();
    let emulator = emulator::Emulator::start();
    let proxy = scale.map(|s| {
        proxy::Proxy::start(
            &emulator.url,
            proxy::Faults {
                aws_timings: Some(s),
                ..proxy::Faults::default()
            },
        )
    });
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(emulator.create_bucket("bench-state"));
    let tool = support::Tool::new(&bin);
    let home = &tool.home;
    let runbook = support::failover_lab();
    let lab_url = proxy
        .as_ref()
        .map_or(emulator.url.clone(), |p| p.url.clone());
    // With --scale the state's calls pass through the proxy too, which only forwards them.
    let time = |args: &[&str], state: &str| {
        let mut cmd = tool.command(args);
        cmd.args(["--state-dir", state, "--region", emulator::REGION]);
        let started = Instant::now();
        let out = cmd.output().expect("run the tool");
        assert!(
            out.status.success(),
            "{args:?} with {state} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed().as_secs_f64()
    };
    let run_args = support::run_lab(&runbook, &lab_url);
    let rollback_args = [
        "rollback",
        "--yes",
        "--output",
        "json",
        "--endpoint-url",
        &lab_url,
    ];
    let local = home.path().join("state").display().to_string();
    let s3 = "s3://bench-state/runs".to_owned();
    let mut times: std::collections::BTreeMap<(&str, &str), Vec<f64>> =
        std::collections::BTreeMap::default();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [("local", &local), ("s3", &s3)]
        } else {
            [("s3", &s3), ("local", &local)]
        };
        for (name, state) in order {
            let run = time(&run_args, state);
            let rollback = time(&rollback_args, state);
            eprintln!("round {round}: {name:5} run {run:6.1} s, rollback {rollback:6.1} s");
            times.entry((name, "run")).or_default().push(run);
            times.entry((name, "rollback")).or_default().push(rollback);
        }
    }
    let label = scale.map_or("the emulator as it is (no waits)".to_owned(), |s| {
        format!("real AWS timings x{s}")
    });
    println!("failover lab, {label}, median of {rounds} rounds");
    println!("  {:9} {:>10} {:>10} {:>8}", "", "local", "S3", "S3/local");
    for what in ["run", "rollback"] {
        let l = median(times[&("local", what)].clone());
        let s = median(times[&("s3", what)].clone());
        println!("  {what:9} {l:8.1} s {s:8.1} s {:8.2}", s / l);
    }
}
