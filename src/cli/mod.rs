//! The command line: the arguments (clap), parsed once into the application's plain settings
//! (`app::settings`), and dispatch to the application. The one error print is here.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::settings::{self, Exec, NewRun, Settings, Vars};
use crate::app::{check, class, mark, readiness, runs, session, sweep, web};
use crate::error::{Error, Exit};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::source::Sources;
use crate::ui::{self, Format};

/// The first thing `runbook --help` shows after its usage: how to begin.
const START_HERE: &str = "\
Start here:
  scripts/lab                                  the failover lab on this machine, no AWS account
                                               needed (from a clone of the repository)
  runbook plan runbooks/route53-failover.yaml  what the lab does, step by step, calling nothing
  runbook run runbooks/route53-failover.yaml   the same in your AWS account, as a walkthrough
  runbook run FILE --yes --output plain        unattended (CI): no question, exit code says how
  runbook rollback                             remove what the latest run made";

#[derive(Debug, Parser)]
#[command(
    name = "runbook",
    version,
    about = "Execute declarative YAML runbooks step by step, with a plan, prompts, progress and rollback.",
    help_template = "{about-with-newline}\n{usage-heading} {usage}\n\n{before-help}{all-args}{after-help}",
    before_help = START_HERE
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted before or after the subcommand.
#[derive(Debug, Args)]
pub struct Global {
    /// Where runs are recorded: a folder, or `s3://BUCKET/PREFIX` to share runs between machines.
    #[arg(
        help_heading = "State",
        long,
        global = true,
        env = "RUNBOOK_STATE_DIR",
        default_value = ".runbook",
        value_name = "DIR|s3://BUCKET/PREFIX"
    )]
    pub state_dir: PathBuf,
    /// AWS profile for the state bucket, when it is in another account than the lab.
    #[arg(
        help_heading = "State",
        long,
        global = true,
        env = "RUNBOOK_STATE_PROFILE",
        value_name = "NAME"
    )]
    pub state_profile: Option<String>,
    /// The state bucket's region, when it differs from the lab's.
    #[arg(
        help_heading = "State",
        long,
        global = true,
        env = "RUNBOOK_STATE_REGION",
        value_name = "REGION"
    )]
    pub state_region: Option<String>,
    /// How long a run's lease in S3 state lasts unless renewed (renewed every third of it);
    /// after a crash, another machine may take the run over once it has expired.
    #[arg(help_heading = "State", 
        long,
        global = true,
        env = "RUNBOOK_LEASE",
        value_name = "DURATION",
        default_value = "2m",
        value_parser = parse_lease
    )]
    pub lease: std::time::Duration,
    /// Take over a run whose lease another process holds and has not expired (asks first on a
    /// terminal); that process stops at its next record.
    #[arg(help_heading = "State", long, global = true)]
    pub take_over: bool,
    /// AWS region (default: the runbook's `region` var, then the AWS configuration); `sweep`
    /// takes it more than once, to look in each.
    #[arg(
        help_heading = "AWS target",
        long,
        global = true,
        value_name = "REGION",
        action = clap::ArgAction::Append
    )]
    pub region: Vec<String>,
    /// AWS profile from the shared configuration files.
    #[arg(help_heading = "AWS target", long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Send AWS calls to this endpoint (an emulator); `aws.emulated` is then true.
    #[arg(
        help_heading = "AWS target",
        long,
        global = true,
        env = "AWS_ENDPOINT_URL",
        value_name = "URL"
    )]
    pub endpoint_url: Option<String>,
    /// Client-side AWS request rates, shared by all steps: `route53=5,ec2=20,elbv2=10` (the
    /// defaults; for EC2 and `ELBv2` the describes' rate, their other buckets scale with it); a
    /// service not named keeps its default, `off` removes a limit.
    #[arg(
        help_heading = "AWS target",
        long,
        global = true,
        env = "RUNBOOK_AWS_RATE",
        value_name = "SERVICE=N,…",
        default_value = "",
        hide_default_value = true
    )]
    pub aws_rate: String,
    /// A folder modules may come from besides the runbook's own (repeatable): `uses:` reads
    /// nothing outside these.
    #[arg(long = "module-dir", global = true, value_name = "DIR")]
    pub module_dirs: Vec<PathBuf>,
    /// No colours (`NO_COLOR` does the same).
    #[arg(help_heading = "Output", long, global = true)]
    pub no_color: bool,
    /// More detail.
    #[arg(help_heading = "Output", short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors.
    #[arg(help_heading = "Output", short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct VarArgs {
    /// Set a var: `--var domain=example.com` (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Read vars from a YAML file of `name: value` pairs.
    #[arg(long, value_name = "FILE")]
    pub vars_file: Option<PathBuf>,
}

impl From<&VarArgs> for Vars {
    fn from(a: &VarArgs) -> Self {
        Vars {
            vars: a.vars.clone(),
            vars_file: a.vars_file.clone(),
            row: None,
        }
    }
}

/// `--lease`: a duration (`2m`, `90s`) of at least 3 seconds.
fn parse_lease(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{e} (for example 2m or 90s)"))?;
    if d < std::time::Duration::from_secs(3) {
        return Err("a lease must last at least 3s".to_owned());
    }
    Ok(d)
}

/// How the tool was invoked: a path as typed (`./target/debug/runbook`), or `runbook` when it was
/// found on the PATH.
fn program() -> String {
    std::env::args()
        .next()
        .filter(|a| a.contains(std::path::MAIN_SEPARATOR) || a.contains('/'))
        .unwrap_or_else(|| "runbook".to_owned())
}

impl TryFrom<&Global> for Settings {
    type Error = Error;

    fn try_from(g: &Global) -> Result<Self, Error> {
        Ok(Settings {
            state_dir: g.state_dir.clone(),
            state_profile: g.state_profile.clone(),
            state_region: g.state_region.clone(),
            lease: g.lease,
            take_over: g.take_over,
            region: g.region.first().cloned(),
            more_regions: g.region.iter().skip(1).cloned().collect(),
            profile: g.profile.clone(),
            endpoint_url: g.endpoint_url.clone(),
            aws_rate: settings::aws_rates(&g.aws_rate)?,
            module_dirs: g.module_dirs.clone(),
            no_color: g.no_color,
            verbose: g.verbose,
            quiet: g.quiet,
            program: program(),
        })
    }
}

impl From<&ExecArgs> for Exec {
    fn from(a: &ExecArgs) -> Self {
        Exec {
            yes: a.yes,
            from: None,
            on_failure: a.on_failure.map(|f| match f {
                OnFailure::Ask => settings::OnFailure::Ask,
                OnFailure::Rollback => settings::OnFailure::Rollback,
                OnFailure::Keep => settings::OnFailure::Keep,
            }),
            output: a.output,
            junit: a.junit.clone(),
            events: a.events.clone(),
            no_guide: a.no_guide,
            exercise: a.exercise,
            until: Vec::new(),
        }
    }
}

/// `--ttl`: a duration, not zero. Zero would mark what a run makes as expired as it is made, for
/// any `sweep --expired` to delete while the run goes on.
fn parse_ttl(s: &str) -> Result<std::time::Duration, String> {
    let ttl = humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); for example 3h, 90m, 1h30m"))?;
    if ttl.is_zero() {
        return Err(format!(
            "`{s}` would mark what the run makes as expired as it is made, for `sweep --expired` \
             to delete while the run goes on; give how long the lab should live (for example \
             3h), or leave --ttl out for no expiry"
        ));
    }
    Ok(ttl)
}

/// A run label: a `runbook:` tag other than the ones runbook sets itself.
fn parse_label(s: &str) -> Result<(String, String), String> {
    let (key, value) = parse_var(s)?;
    let reserved = [
        "runbook:run",
        "runbook:step",
        "runbook:key",
        "runbook:expires",
    ];
    if !key.starts_with("runbook:") || key == "runbook:" {
        return Err(format!(
            "labels are runbook: tags, such as runbook:class=spring; `{key}` is not"
        ));
    }
    if reserved.contains(&key.as_str()) {
        return Err(format!(
            "`{key}` is set by runbook itself (use --ttl for runbook:expires)"
        ));
    }
    if value.is_empty() || value.len() > 200 {
        return Err(format!("the value of `{key}` must be 1 to 200 characters"));
    }
    Ok((key, value))
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got `{s}`")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnFailure {
    Ask,
    Rollback,
    Keep,
}

/// Options of the commands that execute (`run`, `resume`, `rollback`).
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Never prompt: answer yes to every `confirm:` question and skip manual steps (a
    /// `required: true` one is an error). Without it and without a terminal, a run that would ask
    /// anything is refused before its first step.
    #[arg(help_heading = "Run", long, short = 'y')]
    pub yes: bool,
    /// What to do when a step fails (default: ask on a terminal, rollback with --yes).
    #[arg(help_heading = "Run", long, value_enum)]
    pub on_failure: Option<OnFailure>,
    #[arg(help_heading = "Output", long, value_enum, default_value_t = Format::Human)]
    pub output: Format,
    /// Write a `JUnit` XML report here.
    #[arg(help_heading = "Output", long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Also append every event to this file as JSON lines (docs/events.md), whatever --output
    /// shows: a teacher's tooling can follow an exercise on a learner's terminal.
    #[arg(help_heading = "Output", long, value_name = "PATH")]
    pub events: Option<PathBuf>,
    /// On a terminal, run without the step-by-step walkthrough (still asking what must be asked).
    #[arg(help_heading = "Run", long)]
    pub no_guide: bool,
    /// The walkthrough as an exercise: you build the runbook's exercise steps by hand (in the
    /// console or with the AWS CLI) and the runbook checks what you made. Needs a terminal.
    #[arg(help_heading = "Run", long)]
    pub exercise: bool,
}

/// Where a run (`run`, `resume`) pauses.
#[derive(Debug, Args)]
pub struct UntilArgs {
    /// Stop before this step and every step that needs it (repeatable): the rest run, the run
    /// ends paused (exit 0), and `runbook resume RUN` goes on from there. With --class, naming
    /// the exercises sets every lab up to them, for each student to go on with
    /// `resume --class NAME --student S --exercise`.
    #[arg(help_heading = "Run", long, value_name = "STEP")]
    pub until: Vec<String>,
}

impl UntilArgs {
    fn exec(&self, exec: &ExecArgs) -> Exec {
        let mut e = Exec::from(exec);
        e.until.clone_from(&self.until);
        e
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check runbooks without calling anything: exit 0 when valid, 2 when not.
    Validate {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        output: Format,
        /// Check a class's roster with the runbook, as `run --class` will before its first lab:
        /// every problem at once, by line and student.
        #[arg(long, value_name = "CSV")]
        each: Option<PathBuf>,
    },
    /// Show the steps in execution order with their parameters, without calling anything.
    Plan {
        /// The runbook (YAML), for example runbooks/route53-failover.yaml.
        file: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        output: Format,
    },
    /// What a run would meet now, against the account, changing nothing: each step in place,
    /// ready, would fail (with the fix), unknown or skipped, or no answer (a read failed). Exit 0
    /// when nothing would fail and every read answered, 1 otherwise.
    #[command(after_help = "Examples:
  runbook check runbooks/add-failover.yaml --var domain=shop.example.com --var primary_lb=shop-alb --var secondary_lb=shop-standby-alb
  runbook check runbooks/route53-failover.yaml --var domain=lab.example.com --output json

Every AWS call it makes is a read (the clients refuse anything else), and it writes no journal.
Where the runbook ran before, its latest run's resources show as in place.")]
    Check {
        /// The runbook (YAML).
        file: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        output: Format,
        /// Also write a `JUnit` XML report: a test case per step.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Run a runbook: on a terminal, a walkthrough that explains each step before it runs.
    #[command(after_help = "Examples:
  runbook run runbooks/route53-failover.yaml                  the walkthrough, asking for the domain
  runbook run runbooks/route53-failover.yaml --yes --var domain=lab.example.com
                                                              unattended (CI): no questions
  runbook run runbooks/route53-failover.yaml --var drill=false --ttl 6h
                                                              no drill; `sweep --expired` removes it after 6 h
  runbook run FILE --class spring --each students.csv --yes   a lab per student of a class")]
    Run {
        /// The runbook (YAML), for example runbooks/route53-failover.yaml.
        file: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        /// Steps that may run at the same time (default 8); with --class, labs at once (default:
        /// every lab, paced by the AWS rate limits).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        parallelism: Option<u16>,
        /// Tag everything the run creates as expiring after this long (`3h`, `90m`), so that
        /// `runbook sweep --expired` removes it even if nobody rolls it back.
        #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
        ttl: Option<std::time::Duration>,
        /// Tag everything the run creates with this `runbook:` tag too (repeatable), for example
        /// `--label runbook:class=spring --label runbook:student=alice`; `sweep --tag` finds it.
        #[arg(long = "label", value_name = "runbook:KEY=VALUE", value_parser = parse_label)]
        labels: Vec<(String, String)>,
        /// Run one lab per student of this class (with --each): each run labelled
        /// `runbook:class=NAME` and `runbook:student=…`; every lab at once unless `--parallelism`.
        #[arg(help_heading = "Class", long, value_name = "NAME", requires = "each", value_parser = crate::app::roster::parse_class)]
        class: Option<String>,
        /// The class's roster: a CSV file with a `student` column, optional `region`, `profile`
        /// and `role_arn` columns, and the runbook's vars as other columns.
        #[arg(help_heading = "Class", long, value_name = "CSV", requires = "class")]
        each: Option<PathBuf>,
        /// With --class: assume this quota instead of asking Service Quotas (repeatable):
        /// `vpcs=20`, `internet-gateways=20`, `load-balancers=50`, `vcpus=64`, or a quota code.
        #[arg(
            help_heading = "Class",
            long = "quota",
            value_name = "NAME=N",
            requires = "class"
        )]
        quotas: Vec<String>,
        /// With --class: only this student's lab (repeatable).
        #[arg(
            help_heading = "Class",
            long = "student",
            value_name = "NAME",
            requires = "class"
        )]
        students: Vec<String>,
        #[command(flatten)]
        until: UntilArgs,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Continue an unfinished run (default: the latest).
    Resume {
        /// The run to go on with (`runbook runs` lists them); default: the latest unfinished one.
        run_id: Option<String>,
        /// With --student: the class whose lab to resume.
        #[arg(
            long,
            value_name = "NAME",
            conflicts_with = "run_id",
            requires = "student"
        )]
        class: Option<String>,
        /// With --class: the student whose lab to resume (on this terminal, as a run of its own).
        #[arg(long, value_name = "NAME", requires = "class")]
        student: Option<String>,
        /// Resume even though the runbook changed since the run started.
        #[arg(long)]
        force: bool,
        /// Undo this step and every step that depends on it (what is gone counts as gone), then
        /// run them again; also on a finished run. The plan is shown first, and asked (--yes on
        /// a terminal's behalf).
        #[arg(long, value_name = "STEP", conflicts_with = "class")]
        from: Option<String>,
        /// Values for secret vars (never stored), or to override the run's.
        #[command(flatten)]
        vars: VarArgs,
        /// Go on with the region, endpoint or profile given now where they differ from the ones
        /// the run recorded (without it, such a difference is refused).
        #[arg(long)]
        retarget: bool,
        #[command(flatten)]
        until: UntilArgs,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Undo what a run created (default: the latest run).
    Rollback {
        /// The run to undo (`runbook runs` lists them); default: the latest one with something
        /// left.
        run_id: Option<String>,
        /// Every run of this class, then the class's shared resources (its hosted zone).
        #[arg(long, value_name = "NAME", conflicts_with = "run_id")]
        class: Option<String>,
        /// Undo with the region, endpoint or profile given now where they differ from the ones
        /// the run recorded (without it, such a difference is refused).
        #[arg(long)]
        retarget: bool,
        /// Finding every resource already gone is expected (removed by hand or by `sweep`):
        /// exit 0 rather than 4.
        #[arg(long)]
        expect_gone: bool,
        /// With --class: only this student's lab (repeatable); the class's shared resources stay.
        #[arg(long = "student", value_name = "NAME", requires = "class")]
        students: Vec<String>,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// List the runs in the state directory.
    Runs {
        /// Ask AWS (only reading) whether what each run holds alive still exists, and say how
        /// much is missing; exit 1 when a run could not be checked.
        #[arg(long)]
        check: bool,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        output: Format,
    },
    /// Past failover drills from the state directory: when, where, failover and failback
    /// seconds, and whether each passed its gate.
    Drills {
        /// Only the drills of this runbook (its path, or its name).
        runbook: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        output: Format,
    },
    /// Record that a step was done by hand, with the outputs later steps read (`--done`), or
    /// that a failed step nothing needs may be left out (`--skip`); `resume` goes on from there.
    #[command(group(clap::ArgGroup::new("how").required(true).args(["done", "skip"])))]
    Mark {
        /// The run.
        run_id: String,
        /// The step, as `show` names it (`primary.alb` inside a module).
        step: String,
        /// It was done by hand: later steps read the outputs given with --output.
        #[arg(long)]
        done: bool,
        /// It failed and may be left out (nothing needs it).
        #[arg(long)]
        skip: bool,
        /// An output of the step (repeatable): `--output arn=arn:aws:…`. A value that reads as
        /// JSON (a list, a number) is taken so.
        #[arg(long = "output", value_name = "KEY=VALUE", value_parser = parse_var, requires = "done")]
        outputs: Vec<(String, String)>,
        /// When an output names what the step's action makes (a load balancer's `arn`), hand it
        /// to rollback without asking (without this, and without a terminal, rollback leaves it).
        #[arg(long)]
        yes: bool,
    },
    /// Serve pages of the runs on this machine: the runs, each run's stacks and drill, a class's
    /// board, and on the emulator a stand-in for the internet (`/site/DOMAIN/`). Read-only.
    Web {
        /// Where to listen (ADDR:PORT; port 0 picks a free one). Beyond loopback every page
        /// needs the token printed at start.
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
        listen: String,
        /// The same on this machine only: `--port 9000` is `--listen 127.0.0.1:9000`.
        #[arg(long, value_name = "PORT", conflicts_with = "listen")]
        port: Option<u16>,
        /// The token pages need beyond loopback (default: made up and printed at start).
        #[arg(long, env = "RUNBOOK_WEB_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    // What it deletes, and in which order, is read from the kinds table.
    #[command(about = sweep::about())]
    Sweep {
        /// The tag, `runbook:run=RUN_ID` for example.
        #[arg(long, value_name = "KEY=VALUE", value_parser = parse_var, conflicts_with = "expired")]
        tag: Option<(String, String)>,
        /// What `run --ttl` marked as expiring, whose time has passed (for cron or CI).
        #[arg(long)]
        expired: bool,
        /// Look in every region, profile and account (`role_arn`) this class roster names.
        #[arg(long, value_name = "CSV")]
        each: Option<PathBuf>,
        /// List what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Show one run: its steps, outputs and live resources.
    Show {
        /// The run (default: the latest).
        run_id: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        output: Format,
        /// Ask AWS whether what the journal holds alive still exists (only reading).
        #[arg(long)]
        check: bool,
    },
    /// List the built-in actions, or describe one.
    Actions {
        name: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        output: Format,
    },
    /// Print the JSON Schema of the runbook format.
    Schema,
    /// Print a shell completion script: `runbook completions bash > ~/.local/share/bash-completion/completions/runbook`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Parse the command line, run, print any error once, and return the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Invalid.code()
            } else {
                Exit::Success.code()
            };
        }
    };
    let color = ui::use_color(cli.global.no_color, ui::stderr_is_terminal());
    match run(&cli) {
        Ok(exit) => exit.code(),
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Success.code(),
        Err(e) => {
            report(&e, color);
            e.exit().code()
        }
    }
}

fn report(e: &Error, color: bool) {
    let mut stderr = std::io::stderr().lock();
    let text = match e {
        Error::Invalid {
            diagnostics,
            sources,
        } => {
            let rendered: Vec<String> = diagnostics
                .iter()
                .map(|d| ui::diagnostics::render(d, sources, color))
                .collect();
            format!("{}\n", rendered.join("\n\n"))
        }
        Error::Usage { message, help } => {
            let d = Diagnostic::error("usage", message.clone()).help_opt(help.clone());
            format!(
                "{}\n",
                ui::diagnostics::render(&d, &Sources::default(), color)
            )
        }
        Error::Runtime { message, help } => {
            let d = Diagnostic::error("runtime", message.clone()).help_opt(help.clone());
            format!(
                "{}\n",
                ui::diagnostics::render(&d, &Sources::default(), color)
            )
        }
        Error::Io(e) => format!("error: {e}\n"),
    };
    let _ = stderr.write_all(text.as_bytes());
}

pub fn run(cli: &Cli) -> Result<Exit, Error> {
    let settings = Settings::try_from(&cli.global)?;
    let s = &settings;
    if !s.more_regions.is_empty() && !matches!(cli.command, Command::Sweep { .. }) {
        return Err(Error::usage(
            format!(
                "--region is given {} times, and only `sweep` looks in more than one region",
                cli.global.region.len()
            ),
            "give one --region; a runbook acts in other regions through its steps' `region:`",
        ));
    }
    match &cli.command {
        Command::Validate {
            files,
            vars,
            each: Some(each),
            ..
        } => class::validate_roster(s, files, &vars.into(), each),
        Command::Validate {
            files,
            vars,
            output,
            each: None,
        } => check::validate_files(s, files, &vars.into(), *output),
        Command::Plan { file, vars, output } => check::plan_file(s, file, &vars.into(), *output),
        Command::Check {
            file,
            vars,
            output,
            junit,
        } => readiness::check(s, file, &vars.into(), *output, junit.as_deref()),
        Command::Actions { name, output } => check::list_actions(name.as_deref(), *output),
        Command::Schema => check::schema(),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut command, "runbook", &mut out);
            ui::output_raw(&String::from_utf8_lossy(&out))?;
            Ok(Exit::Success)
        }
        Command::Run {
            file,
            vars,
            parallelism,
            ttl,
            labels,
            class: Some(class),
            each: Some(each),
            quotas,
            students,
            until,
            exec,
        } => class::run(
            s,
            file,
            &vars.into(),
            &class::ClassArgs {
                class,
                each,
                parallelism: parallelism.map(usize::from),
                ttl: *ttl,
                labels,
                quotas: &settings::quota_overrides(quotas)?,
                students,
            },
            &until.exec(exec),
        ),
        Command::Run {
            file,
            vars,
            parallelism,
            ttl,
            labels,
            until,
            exec,
            ..
        } => session::run(
            s,
            &NewRun {
                file: file.clone(),
                vars: vars.into(),
                parallelism: parallelism.map_or(8, usize::from),
                ttl: *ttl,
                labels: labels.clone(),
            },
            &until.exec(exec),
        ),
        Command::Resume {
            run_id,
            class,
            student,
            force,
            from,
            vars,
            retarget,
            until,
            exec,
        } => {
            let lab = match (class, student) {
                (Some(class), Some(student)) => Some(class::lab_run(s, class, student)?),
                _ => None,
            };
            let mut exec = until.exec(exec);
            exec.from.clone_from(from);
            session::resume_run(
                s,
                lab.as_deref().or(run_id.as_deref()),
                *force,
                *retarget,
                &vars.into(),
                &exec,
            )
        }
        Command::Rollback {
            run_id,
            class,
            retarget,
            expect_gone,
            students,
            exec,
        } => {
            let undo = settings::Undo {
                retarget: *retarget,
                expect_gone: *expect_gone,
            };
            match class {
                Some(class) => class::rollback(s, class, students, undo, &exec.into()),
                None => session::rollback(s, run_id.as_deref(), undo, &exec.into()),
            }
        }
        Command::Runs { check, output } => runs::list(s, *check, *output),
        Command::Drills { runbook, output } => runs::drills(s, runbook.as_deref(), *output),
        Command::Mark {
            run_id,
            step,
            skip,
            outputs,
            yes,
            ..
        } => mark::mark(
            s,
            run_id,
            &mark::Mark {
                step: step.clone(),
                skip: *skip,
                outputs: outputs.clone(),
                yes: *yes,
            },
        ),
        Command::Web {
            listen,
            port,
            token,
        } => web::serve(
            s,
            &settings::Web {
                listen: port.map_or_else(|| listen.clone(), |p| format!("127.0.0.1:{p}")),
                token: token.clone(),
            },
        ),
        Command::Sweep {
            tag,
            expired,
            each,
            dry_run,
            yes,
        } => sweep::sweep(s, tag.as_ref(), *expired, each.as_deref(), *dry_run, *yes),
        Command::Show {
            run_id,
            output,
            check,
        } => runs::show(s, run_id.as_deref(), *check, *output),
    }
}
