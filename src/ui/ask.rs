//! Questions to a person, only ever on a terminal (dialoguer, on stderr). Without one, or with
//! `--yes`, nothing is asked and the caller decides what no answer means: nothing waits for
//! input that cannot come. While a question is open, live spinners are paused.

use std::io::IsTerminal;
use std::sync::Mutex;

use dialoguer::console::Term;
use dialoguer::{Input, Password};
use indicatif::MultiProgress;

use dialoguer::console::style;

use crate::engine::action::{After, Ask, ByHand, Choice, ExerciseChoice, ExerciseIntro, StepIntro};

// Each flag is a separate setting the session chooses; grouping them would hide which.
#[allow(clippy::struct_excessive_bools)]
pub struct TerminalAsk {
    interactive: bool,
    /// The walkthrough: before each step, show what it does and ask run, skip, explain or quit.
    guided: bool,
    /// Bold headers (not with `NO_COLOR` or `--no-color`).
    color: bool,
    /// A step the person already chose to run again (after it failed): not asked again.
    again: Mutex<Option<String>>,
    /// Spinners to pause while asking.
    progress: Mutex<Option<MultiProgress>>,
    /// Where the by-hand AWS CLI commands must go to act where the run does (`--region …`,
    /// `--endpoint-url …`), added to each `aws` command shown.
    cli_target: Mutex<String>,
    /// An exercise run: the steps before the first exercise run without a question each (they
    /// only build what the exercises need), and the walkthrough asks again from it on.
    exercises: bool,
    /// The first exercise has come.
    exercise_reached: std::sync::atomic::AtomicBool,
    /// A watched exercise's prompt is on the screen, waiting for its line.
    prompt_open: std::sync::atomic::AtomicBool,
}

/// Ctrl-C was pressed at a question (the prompt reads keys itself, so the key comes back as an
/// error rather than a signal the run hears): the person asked to stop, not answered no.
static CTRL_C: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether Ctrl-C was pressed at a question of this process.
pub fn ctrl_c_pressed() -> bool {
    CTRL_C.load(std::sync::atomic::Ordering::SeqCst)
}

/// A prompt's answer, noting Ctrl-C; `None` for Ctrl-C and for input that ended.
fn answered<T>(read: Result<T, dialoguer::Error>) -> Option<T> {
    match read {
        Ok(answer) => Some(answer),
        Err(dialoguer::Error::IO(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
            CTRL_C.store(true, std::sync::atomic::Ordering::SeqCst);
            None
        }
        Err(_) => None,
    }
}

impl TerminalAsk {
    /// Asks only when both stdin and stderr are terminals.
    pub fn new() -> Self {
        TerminalAsk {
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            guided: false,
            color: false,
            again: Mutex::new(None),
            progress: Mutex::new(None),
            cli_target: Mutex::default(),
            exercises: false,
            exercise_reached: std::sync::atomic::AtomicBool::new(false),
            prompt_open: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Never asks.
    pub fn never() -> Self {
        TerminalAsk {
            interactive: false,
            ..Self::new()
        }
    }

    pub fn interactive(&self) -> bool {
        self.interactive
    }

    /// Walk through the steps one by one (only on a terminal).
    #[must_use]
    pub fn guided(mut self, on: bool) -> Self {
        self.guided = on && self.interactive;
        self
    }

    /// An exercise run: no question before each step until the first exercise.
    #[must_use]
    pub fn exercises(mut self, on: bool) -> Self {
        self.exercises = on;
        self
    }

    /// Whether headers may be bold.
    #[must_use]
    pub fn color(mut self, on: bool) -> Self {
        self.color = on;
        self
    }

    /// The options that point the by-hand AWS CLI commands where the run goes.
    pub fn cli_target(&self, options: String) {
        *self.cli_target.lock().expect("never poisoned") = options;
    }

    /// The person chose to try `step` again: run it without asking once more.
    pub fn run_again(&self, step: &str) {
        *self.again.lock().expect("never poisoned") = Some(step.to_owned());
    }

    pub fn is_guided(&self) -> bool {
        self.guided
    }

    /// Pause these spinners while a question is open.
    pub fn attach(&self, multi: MultiProgress) {
        *self.progress.lock().expect("never poisoned") = Some(multi);
    }

    fn paused<R>(&self, f: impl FnOnce() -> R) -> R {
        let progress = self.progress.lock().expect("never poisoned").clone();
        match progress {
            Some(multi) => multi.suspend(f),
            None => f(),
        }
    }

    /// A value typed by the person, checked by `check` as they go (a bad value is asked again);
    /// `secret` hides what is typed. `None` without a terminal, or when input ends.
    pub fn input(
        &self,
        prompt: &str,
        default: Option<&str>,
        secret: bool,
        check: &dyn Fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        if !self.interactive {
            return None;
        }
        self.paused(|| {
            let term = Term::stderr();
            if secret {
                loop {
                    let value = Password::new().with_prompt(prompt).interact_on(&term);
                    let value = answered(value)?;
                    match check(&value) {
                        Ok(()) => return Some(value),
                        Err(e) => {
                            let _ = term.write_line(&format!("{e}; try again."));
                        }
                    }
                }
            }
            let mut input = Input::<String>::new()
                .with_prompt(prompt)
                .validate_with(|v: &String| check(v));
            if let Some(d) = default {
                input = input.default(d.to_owned());
            }
            answered(input.interact_text_on(&term))
        })
    }
}

impl Default for TerminalAsk {
    fn default() -> Self {
        TerminalAsk::new()
    }
}

/// Terminal width for wrapping (80 when unknown), at most 100 for readability.
fn width() -> usize {
    Term::stderr()
        .size_checked()
        .map_or(80, |(_, w)| usize::from(w))
        .clamp(40, 100)
}

/// `text` in bold, where colours are on.
fn bold(text: &str, color: bool) -> String {
    if color {
        style(text).bold().to_string()
    } else {
        text.to_owned()
    }
}

impl StepIntro<'_> {
    /// "Step 3 of 12: Create the VPC", after `lead` ("Step", "Exercise, step").
    fn heading(&self, lead: &str) -> String {
        format!("{lead} {} of {}: {}", self.number, self.total, self.title)
    }
}

/// What the walkthrough shows before a step: header, guide, parameters, the AWS CLI commands.
pub fn step_intro(step: &StepIntro<'_>, width: usize, color: bool, cli_target: &str) -> String {
    use std::fmt::Write as _;
    let bold = |t: &str| bold(t, color);
    let mut out = String::new();
    let _ = writeln!(out, "\n{}", bold(&step.heading("Step")));
    let _ = writeln!(
        out,
        "  ({}, {} — {})",
        step.id,
        step.action.name(),
        step.action.effect_of(step.params).as_str()
    );
    let def = crate::actions::find(step.action.name());
    if let Some(guide) = step.guide {
        let _ = write!(out, "\n{}", super::wrap(&super::reflow(guide), width, "  "));
    }
    super::plan::params(
        &mut out,
        &format!("\n  {}", bold("Parameters:")),
        step.params,
        4,
    );
    if let Some(cli) = def.and_then(|d| d.cli) {
        let _ = writeln!(out, "\n  {}", bold("By hand, with the AWS CLI:"));
        for line in cli(step.params) {
            let _ = writeln!(out, "    $ {}", targeted(&line, cli_target));
        }
    }
    if let Some(undo) = def.and_then(|d| d.undo_of(step.params)) {
        let _ = writeln!(out, "\n  Rollback {undo}.");
    }
    if let Some(question) = step.confirm {
        let _ = writeln!(out, "\n  {}", bold(question));
    }
    out
}

/// Each `aws SERVICE OPERATION` of a command line, followed by the options that point it where
/// the run goes, so that the line runs as shown.
fn targeted(line: &str, options: &str) -> String {
    if options.is_empty() {
        return line.to_owned();
    }
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("aws ") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let words: Vec<&str> = from.splitn(5, ' ').collect();
        // `aws`, the service, the operation (a waiter's name too): the options go after them.
        let n = if words.get(2) == Some(&"wait") { 4 } else { 3 };
        if words.len() >= n && !before.ends_with(|c: char| c.is_ascii_alphanumeric()) {
            let head = words[..n]
                .iter()
                .map(|w| w.trim_end_matches(')'))
                .collect::<Vec<_>>()
                .join(" ");
            out.push_str(&head);
            out.push(' ');
            out.push_str(options);
            rest = &from[head.len()..];
        } else {
            out.push_str("aws ");
            rest = &from[4..];
        }
    }
    out.push_str(rest);
    out
}

/// What "explain" shows: the action's documentation.
pub fn explain(step: &StepIntro<'_>, width: usize) -> String {
    let name = step.action.name();
    let Some(def) = crate::actions::find(name) else {
        return format!("\n  {name}\n");
    };
    let mut out = format!("\n  {}: {}\n", def.name, def.summary);
    out.push_str(&super::wrap(&super::reflow(def.docs), width, "  "));
    let outputs = def.output_names();
    if !outputs.is_empty() {
        out.push_str(&format!(
            "  Later steps can read its outputs: {}.\n",
            outputs.join(", ")
        ));
    }
    out.push_str(&format!(
        "  `runbook actions {name}` lists its parameters.\n"
    ));
    out
}

/// Parse an answer to the walkthrough's question.
fn choice(answer: &str, skippable: bool) -> Result<Option<Choice>, String> {
    match answer.trim().to_ascii_lowercase().as_str() {
        "" | "r" | "run" | "y" | "yes" => Ok(Some(Choice::Run)),
        "s" | "skip" if skippable => Ok(Some(Choice::Skip)),
        "s" | "skip" => Err("later steps need this one, so it cannot be skipped".into()),
        "e" | "explain" | "?" => Ok(None),
        "q" | "quit" => Ok(Some(Choice::Quit)),
        other => Err(format!("`{other}` is not a choice: answer r, s, e or q")),
    }
}

impl Ask for TerminalAsk {
    fn before_step(&self, step: &StepIntro<'_>) -> Option<Choice> {
        if !self.guided {
            return None;
        }
        let mut again = self.again.lock().expect("never poisoned");
        if again.as_deref() == Some(step.id) {
            *again = None;
            return Some(Choice::Run);
        }
        drop(again);
        // An exercise run gets to the point: what comes before the first exercise only builds
        // for it, and runs with a line each (a step's own question is still asked).
        if self.exercises
            && step.confirm.is_none()
            && !self
                .exercise_reached
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Some(Choice::Run);
        }
        let color = self.color;
        // After it, a step that only reads (a wait, a check) is explained but not asked about:
        // it observes what the learner did, and a question would make the learner's pause part
        // of what it measures (the drill's failover time).
        let observes = self.exercises
            && step.confirm.is_none()
            && step.action.effect_of(step.params) == crate::engine::action::Effect::Reads;
        self.paused(|| {
            let term = Term::stderr();
            let width = width();
            let target = self.cli_target.lock().expect("never poisoned").clone();
            let _ = term.write_str(&step_intro(step, width, color, &target));
            if observes {
                return Some(Choice::Run);
            }
            let prompt = if step.skippable {
                "[R]un it, [s]kip it, [e]xplain the action, or [q]uit?"
            } else {
                "[R]un it, [e]xplain the action, or [q]uit?"
            };
            loop {
                let Some(answer) = answered(
                    Input::<String>::new()
                        .with_prompt(prompt)
                        .allow_empty(true)
                        .report(false)
                        .validate_with(|v: &String| choice(v, step.skippable).map(drop))
                        .interact_text_on(&term),
                ) else {
                    return Some(if ctrl_c_pressed() {
                        Choice::Interrupted
                    } else {
                        Choice::Quit
                    });
                };
                match choice(&answer, step.skippable) {
                    Ok(Some(c)) => return Some(c),
                    Ok(None) => {
                        let _ = term.write_str(&explain(step, width));
                    }
                    Err(_) => {}
                }
            }
        })
        .or(Some(Choice::Quit))
    }

    fn interrupted(&self) -> bool {
        ctrl_c_pressed()
    }

    fn confirm(&self, question: &str, default: bool) -> Option<bool> {
        if !self.interactive {
            return None;
        }
        self.paused(|| yes_no(&Term::stderr(), question, default))
    }

    fn exercise_done(&self, what: &str) {
        if self
            .prompt_open
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            let _ = Term::stderr().write_line(&format!("\n  Seen: {what}. The run goes on."));
        }
    }

    fn exercise(&self, ex: &ExerciseIntro<'_>) -> Option<ExerciseChoice> {
        if !self.interactive {
            return None;
        }
        self.exercise_reached
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let color = self.color;
        self.paused(|| {
            let term = Term::stderr();
            let open = std::sync::atomic::Ordering::SeqCst;
            // A quiet look that found nothing new leaves the prompt as it is on the screen.
            let quiet = ex.after == After::Look && ex.failed.is_none();
            if !(quiet && self.prompt_open.load(open)) {
                let _ = term.write_str(&exercise_text(ex, width(), color));
            }
            let left = ex.hints.len() - ex.shown.min(ex.hints.len());
            let check = if ex.watch.is_some() {
                "[C]heck now"
            } else {
                "[C]heck what you made"
            };
            let prompt = if left > 0 {
                format!("{check}, a [h]int ({left} left), [s]olve it for me, or [q]uit?")
            } else {
                format!("{check}, [s]olve it for me, or [q]uit?")
            };
            let answer = match ex.watch {
                None => answered(
                    Input::<String>::new()
                        .with_prompt(prompt)
                        .allow_empty(true)
                        .report(false)
                        .validate_with(|v: &String| exercise_choice(v, left).map(drop))
                        .interact_text_on(&term),
                )?,
                Some(every) => {
                    if !(quiet && self.prompt_open.load(open)) {
                        let _ = term.write_str(&format!("{prompt} "));
                        self.prompt_open.store(true, open);
                    }
                    // The terminal edits the line; it is read once Enter completes it.
                    match line_within(every) {
                        Ok(Some(line)) => {
                            self.prompt_open.store(false, open);
                            if let Err(e) = exercise_choice(&line, left) {
                                // Asked again (after a look) with the prompt shown anew.
                                let _ = term.write_line(&format!("  {e}"));
                                return Some(ExerciseChoice::Look);
                            }
                            line
                        }
                        Ok(None) => return Some(ExerciseChoice::Look),
                        Err(_) => {
                            self.prompt_open.store(false, open);
                            return None;
                        }
                    }
                }
            };
            let choice = exercise_choice(&answer, left).ok()?;
            if choice == ExerciseChoice::Solve {
                // What the runbook is about to do, as the learner would have typed it.
                let target = self.cli_target.lock().expect("never poisoned").clone();
                let cli = crate::actions::find(ex.step.action.name()).and_then(|d| d.cli);
                let mut text = String::from("\n  The runbook does it now");
                match cli {
                    Some(cli) => {
                        text.push_str(". By hand, with the AWS CLI, that is:\n");
                        for line in cli(ex.step.params) {
                            text.push_str(&format!("    $ {}\n", targeted(&line, &target)));
                        }
                    }
                    None => text.push_str(".\n"),
                }
                let _ = term.write_str(&text);
            }
            Some(choice)
        })
        .or(Some(ExerciseChoice::Quit))
    }
}

/// What an exercise shows: the task when it is set, each check's result, each hint.
pub fn exercise_text(ex: &ExerciseIntro<'_>, width: usize, color: bool) -> String {
    use std::fmt::Write as _;
    let bold = |t: &str| bold(t, color);
    let mut out = String::new();
    match ex.after {
        After::Start => {
            let step = ex.step;
            let _ = writeln!(out, "\n{}", bold(&step.heading("Exercise, step")));
            if let Some(guide) = step.guide {
                let _ = write!(out, "\n{}", super::wrap(&super::reflow(guide), width, "  "));
            }
            let _ = writeln!(out, "\n  {}", bold("Your task:"));
            out.push_str(&super::wrap(&super::reflow(ex.task), width, "    "));
            if !ex.files.is_empty() {
                let _ = writeln!(out, "\n  {}", bold("Written for you:"));
                for file in ex.files {
                    let _ = writeln!(out, "    {file}");
                }
            }
            let _ = writeln!(
                out,
                "\n  {}",
                if ex.watch.is_some() {
                    "The runbook watches for it and goes on by itself once it is done (Enter checks now)."
                } else {
                    "When you have made it, press Enter: the runbook looks for it and checks it."
                }
            );
        }
        After::Check => match (ex.failed, ex.last) {
            (Some(failed), _) => {
                let _ = writeln!(out, "\n  Could not check: {failed}");
            }
            (None, Some(ByHand::Differs { what, differences })) => {
                let _ = writeln!(out, "\n  Found {what}, but:");
                for d in differences {
                    out.push_str(&super::wrap(d, width, "    - "));
                }
                let _ = writeln!(
                    out,
                    "  Fix it (or delete it and make it again), then check again."
                );
            }
            (None, Some(ByHand::Several { candidates })) => {
                let _ = writeln!(out, "\n  Found more than one that could be it; keep one:");
                for c in candidates {
                    let _ = writeln!(out, "    - {c}");
                }
            }
            (None, Some(ByHand::Nothing { looked, seen })) => {
                let _ = writeln!(out, "\n  Nothing found yet. Looked at {looked}.");
                for s in seen {
                    let _ = writeln!(out, "    there: {s}");
                }
                let _ = writeln!(
                    out,
                    "  Is it in the right region and account, with the name the task gives?"
                );
            }
            (None, Some(ByHand::Matches { .. }) | None) => {}
        },
        After::Look => {
            if let Some(failed) = ex.failed {
                let _ = writeln!(out, "\n  Could not look: {failed}");
            }
        }
        After::Hint => match ex.shown.checked_sub(1).and_then(|n| ex.hints.get(n)) {
            Some(hint) => {
                let _ = writeln!(out, "\n  Hint {} of {}:", ex.shown, ex.hints.len());
                out.push_str(&super::wrap(hint, width, "    "));
            }
            None => {
                let _ = writeln!(
                    out,
                    "\n  No more hints: check what you made, or let the runbook solve it."
                );
            }
        },
    }
    out
}

/// A line typed at the terminal within `wait`, ended with Enter (`None`: none yet). The
/// terminal is left as it is (line editing, echo): the line is read only once it is complete.
fn line_within(wait: std::time::Duration) -> std::io::Result<Option<String>> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use std::io::BufRead as _;
    let stdin = std::io::stdin();
    let ready = {
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        let timeout = Timespec {
            tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        match poll(&mut fds, Some(&timeout)) {
            Ok(n) => n > 0,
            Err(rustix::io::Errno::INTR) => false,
            Err(e) => return Err(e.into()),
        }
    };
    if !ready {
        return Ok(None);
    }
    let mut line = String::new();
    if stdin.lock().read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(line))
}

/// Parse an answer at an exercise; `left` hints remain.
fn exercise_choice(answer: &str, left: usize) -> Result<ExerciseChoice, String> {
    match answer.trim().to_ascii_lowercase().as_str() {
        "" | "c" | "check" => Ok(ExerciseChoice::Check),
        "h" | "hint" if left > 0 => Ok(ExerciseChoice::Hint),
        "h" | "hint" => Err("no hints left: check, solve or quit".into()),
        "s" | "solve" => Ok(ExerciseChoice::Solve),
        "q" | "quit" => Ok(ExerciseChoice::Quit),
        other => Err(format!("`{other}` is not a choice: answer c, h, s or q")),
    }
}

/// A yes/no answer, typed whole: `y`, `yes`, `n`, `no` (any case), or nothing for the default.
fn parse_yes_no(answer: &str, default: bool) -> Result<bool, String> {
    match answer.trim().to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "y" | "yes" => Ok(true),
        "n" | "no" => Ok(false),
        other => Err(format!(
            "`{other}` is not an answer: type y or n, then Enter"
        )),
    }
}

/// Ask a yes/no question and read a whole line for it, ended with Enter (like every other
/// question here), so that no key meant for one question answers the next. `None` when input
/// ends.
fn yes_no(term: &Term, question: &str, default: bool) -> Option<bool> {
    let hint = if default { "[Y/n]" } else { "[y/N]" };
    // A prompt longer than the terminal wraps, and the prompt's redraw then leaves its first
    // line behind: a long question goes above, wrapped at words, and the prompt is the hint.
    let prompt = if question.chars().count() + hint.len() + 3 > width() {
        let _ = term.write_line(super::wrap(question, width(), "").trim_end());
        hint.to_owned()
    } else {
        format!("{question} {hint}")
    };
    let answer = answered(
        Input::<String>::new()
            .with_prompt(prompt)
            .allow_empty(true)
            .validate_with(|v: &String| parse_yes_no(v, default).map(drop))
            .interact_text_on(term),
    )?;
    parse_yes_no(&answer, default).ok()
}

/// One yes/no question on the terminal, for a command outside a run (`sweep`); `None` when no
/// terminal can answer it.
pub fn confirm_once(question: &str, default: bool) -> Option<bool> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return None;
    }
    Some(yes_no(&Term::stderr(), question, default).unwrap_or(false))
}

#[cfg(test)]
mod tests {
    #[test]
    fn by_hand_commands_are_pointed_where_the_run_goes() {
        let options = "--region ap-south-1 --endpoint-url http://127.0.0.1:5000";
        assert_eq!(
            super::targeted(
                "VPC_ID=$(aws ec2 create-vpc --cidr-block 10.0.0.0/16 --query Vpc.VpcId --output text)",
                options
            ),
            format!(
                "VPC_ID=$(aws ec2 create-vpc {options} --cidr-block 10.0.0.0/16 --query Vpc.VpcId --output text)"
            )
        );
        assert_eq!(
            super::targeted(
                "aws ec2 wait instance-running --instance-ids $INSTANCE_IDS",
                "--region x"
            ),
            "aws ec2 wait instance-running --region x --instance-ids $INSTANCE_IDS"
        );
        assert_eq!(super::targeted("# a note", options), "# a note");
        assert_eq!(super::targeted("aws ec2 x", ""), "aws ec2 x");
    }
}
