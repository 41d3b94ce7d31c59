//! What the command line asked for, as plain values: `cli` parses the arguments once into these,
//! and the application reads nothing else of the command line.

use std::path::PathBuf;

use crate::actions::aws::limit::Rates;
use crate::runbook::vars::Inputs;
use crate::ui::Format;

/// `--aws-rate` as given (`route53=5,ec2=20`): the client-side rates, or a usage error.
pub fn aws_rates(spec: &str) -> Result<Rates, crate::error::Error> {
    spec.parse().map_err(|e: String| {
        crate::error::Error::usage(
            format!("--aws-rate `{spec}`: {e}"),
            "for example --aws-rate route53=5,ec2=20,elbv2=10 (or RUNBOOK_AWS_RATE)",
        )
    })
}

/// `--quota NAME=N` as given, each parsed, or a usage error naming the one that is wrong.
pub fn quota_overrides(specs: &[String]) -> Result<Vec<(String, f64)>, crate::error::Error> {
    specs
        .iter()
        .map(|spec| {
            crate::actions::aws::quota::parse_override(spec).map_err(|e| {
                crate::error::Error::usage(
                    format!("--quota `{spec}`: {e}"),
                    "for example --quota vpcs=20 --quota vcpus=64",
                )
            })
        })
        .collect()
}

/// Options every command takes.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Where runs are recorded: a folder, or `s3://BUCKET/PREFIX` (`app::state`).
    pub state_dir: PathBuf,
    /// `--state-profile`, `--state-region`: the state bucket's account and region, when not the
    /// lab's.
    pub state_profile: Option<String>,
    pub state_region: Option<String>,
    /// `--lease`: how long a run's lease in S3 lasts unless renewed.
    pub lease: std::time::Duration,
    /// `--take-over`: take a live lease.
    pub take_over: bool,
    /// `--region` (the first, when given more than once).
    pub region: Option<String>,
    /// The further `--region`s, which only `sweep` takes (it looks in each).
    pub more_regions: Vec<String>,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--endpoint-url` (or `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// Client-side AWS request rates.
    pub aws_rate: Rates,
    /// `--module-dir`: folders modules may come from besides the runbook's own.
    pub module_dirs: Vec<PathBuf>,
    pub no_color: bool,
    pub verbose: u8,
    pub quiet: bool,
    /// How the tool was invoked (`runbook`, or the path typed: `./target/debug/runbook`), so that
    /// the commands it suggests work as printed.
    pub program: String,
}

impl Settings {
    /// A command to type next, as it must be typed here: this program, `args`, and the state
    /// directory when it is not the default. Every "what to type next" line is made here.
    pub fn command(&self, args: &str) -> String {
        let program = if self.program.is_empty() {
            "runbook"
        } else {
            self.program.as_str()
        };
        let mut line = format!("{program} {args}");
        if self.state_dir != std::path::Path::new(".runbook")
            && !self.state_dir.as_os_str().is_empty()
        {
            line.push_str(&format!(" --state-dir {}", self.state_dir.display()));
        }
        for (flag, value) in [
            ("--state-profile", &self.state_profile),
            ("--state-region", &self.state_region),
        ] {
            if let Some(value) = value {
                line.push_str(&format!(" {flag} {value}"));
            }
        }
        line
    }
}

/// `runbook web`: where to listen, and the token a listener beyond loopback requires (made up
/// and printed when not given).
#[derive(Clone, Debug, Default)]
pub struct Web {
    pub listen: String,
    pub token: Option<String>,
}

/// What to do when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    Ask,
    Rollback,
    Keep,
}

/// What `run` starts: a runbook, its vars, and what the new run is.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub file: PathBuf,
    pub vars: Vars,
    /// `--parallelism` (default 8).
    pub parallelism: usize,
    /// `--ttl`: the run's resources are tagged to expire after it.
    pub ttl: Option<std::time::Duration>,
    /// `--label KEY=VALUE`, tagged on everything the run makes.
    pub labels: Vec<(String, String)>,
}

/// Options of the commands that execute (`run`, `resume`, `rollback`).
#[derive(Clone, Debug, Default)]
pub struct Exec {
    /// Answer yes to every question; never prompt.
    pub yes: bool,
    /// `resume --from STEP`: undo that step and every step that depends on it, then run them
    /// again.
    pub from: Option<String>,
    /// Default: ask on a terminal, roll back with `--yes`.
    pub on_failure: Option<OnFailure>,
    pub output: Format,
    /// Where to write a `JUnit` XML report.
    pub junit: Option<PathBuf>,
    /// A file to append every event to as JSON lines, beside what `output` shows.
    pub events: Option<PathBuf>,
    /// On a terminal, run without the step-by-step walkthrough.
    pub no_guide: bool,
    /// The walkthrough in which the learner does the exercise steps by hand, and the run checks.
    pub exercise: bool,
    /// Stop before this step and every step that needs it: the run is paused, and `resume` goes
    /// on from there (a teacher sets a class up to its first exercise).
    pub until: Vec<String>,
}

/// Options of `rollback` (of a run or of a class).
#[derive(Clone, Copy, Debug, Default)]
pub struct Undo {
    /// Undo where the command line points even where the run recorded another target.
    pub retarget: bool,
    /// Everything being already gone is expected (removed by hand or by `sweep`): not an error.
    pub expect_gone: bool,
}

/// Vars given on the command line.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    /// `--var NAME=VALUE`, in order.
    pub vars: Vec<(String, String)>,
    /// `--vars-file`.
    pub vars_file: Option<PathBuf>,
    /// A class roster's row (see `runbook::vars::Inputs::row`).
    pub row: Option<(String, Vec<(String, String)>)>,
}

impl Vars {
    pub fn inputs(&self) -> Inputs {
        Inputs {
            flags: self.vars.clone(),
            vars_file: self.vars_file.clone(),
            row: self.row.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Settings;

    #[test]
    fn a_suggested_command_is_written_as_it_must_be_typed_here() {
        let mut s = Settings {
            state_dir: ".runbook".into(),
            ..Settings::default()
        };
        assert_eq!(s.command("rollback r1"), "runbook rollback r1");
        s.program = "./target/debug/runbook".into();
        s.state_dir = ".lab".into();
        assert_eq!(
            s.command("resume r1"),
            "./target/debug/runbook resume r1 --state-dir .lab"
        );
    }
}
