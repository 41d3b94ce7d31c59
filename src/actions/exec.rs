//! `core.exec`: a step that runs a command, with an undo that rollback runs and a reconcile that
//! says, after a crash, whether the command ran. Its stdout gives the step's outputs (one JSON
//! object) when it names some, and is shown line by line when not; its stderr is the step's
//! progress. The command runs in a process group of its own, stopped whole on an interrupt or a
//! timeout. Secrets in its command line, environment and output are masked wherever the run
//! shows or keeps them; they are never stored, so an undo that needs one is refused at rollback
//! with the command to run by hand.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};

use super::{ActionDef, Outputs, Params};
use crate::engine::action::{
    ActionError, Context, Effect, Executor, Outcome, Reconciling, Resource, Running, Undoing,
    Undone,
};
use crate::runbook::format::DurationText;

/// Run a command.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "core.exec")]
pub struct ExecParams {
    /// The command as a list: `[terraform, apply, -auto-approve]`. No shell unless the list
    /// starts one: `[sh, -c, 'touch "$DIR/a"']`.
    pub command: Vec<String>,
    /// Variables added to its environment (values may be templates, secrets too).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The folder it runs in (default: where runbook runs).
    pub workdir: Option<String>,
    /// How long it may run before its process group is stopped (default 10m).
    pub timeout: Option<DurationText>,
    /// The outputs it gives: the keys of the one JSON object it prints on stdout (without them,
    /// what it prints there is shown).
    #[serde(default)]
    pub outputs: Vec<String>,
    /// What rollback runs to undo it: a command list, with the same environment and folder.
    pub undo: Option<Vec<String>>,
    /// After a crash, what says whether the command ran: a command list that prints a JSON
    /// object of the outputs (it ran: the step counts as done) or `null` (it did not: it runs).
    /// Without it, a resume asks whether to run the command again (and fails under `--yes`).
    pub reconcile: Option<Vec<String>>,
}

pub static ACTIONS: &[ActionDef] = &[ActionDef {
    summary: "Run a command (effect unknown), with an undo rollback runs.",
    docs: "Runs `command` (a list: no shell unless it starts one) with `env` added, in `workdir`, \
           for at most `timeout`. With `outputs`, its stdout is one JSON object that gives them; \
           without, its stdout is shown line by line. Its stderr is shown as the step's progress; \
           a non-zero exit fails the step. `undo` runs at rollback; after a crash, `reconcile` \
           says whether it ran (a JSON object of outputs, or null). Interrupts and timeouts stop \
           its whole process group. Commands run with your rights: validation says so.",
    outputs: Outputs::Listed,
    undo: Some("runs the step's `undo` command, when it has one"),
    also: &[
        "shell", "command", "cmd", "script", "sh", "bash", "raw", "execute",
    ],
    ..ActionDef::new("core.exec", Effect::Runs, Params::of::<ExecParams>(), &Exec)
}];

/// The kind of the resource a command with an undo stands for: what rollback undoes.
pub const COMMAND: &str = "command";

/// What a command printed, and how it ended.
struct Ran {
    stdout: String,
}

/// Longest stdout read (the outputs' object): more is an error, not a hang.
const STDOUT_LIMIT: usize = 1 << 20;
/// Longest line of a command's output shown (a longer one is said to be there, not shown).
const LINE_LIMIT: usize = 64 * 1024;
/// How long a stopped command has to end after SIGTERM before its group is killed.
const GRACE: Duration = Duration::from_secs(5);

/// Run `argv` as the step's params say (environment, folder, timeout), its stderr shown as the
/// step's progress; stopped with its whole process group on an interrupt or at the timeout.
async fn run_command(
    ctx: &Context<'_>,
    p: &ExecParams,
    argv: &[String],
    what: &str,
) -> Result<Ran, ActionError> {
    let Some((program, rest)) = argv.split_first() else {
        return Err(ActionError::new(format!("`{what}` is an empty list")).invalid_input());
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(rest)
        .envs(&p.env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &p.workdir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| {
        let error = ActionError::new(format!("cannot start `{program}` ({what}): {e}"));
        if e.kind() == std::io::ErrorKind::NotFound {
            error
                .hint("check the command's name, its PATH and `workdir`")
                .invalid_input()
        } else {
            error
        }
    })?;
    let group = child.id();
    // Whatever ends this future before the command does (an interrupt, a timeout, the run
    // dropping the step) stops the command's whole process group, not just its first process.
    let mut guard = GroupGuard(group.and_then(|g| rustix::process::Pid::from_raw(g.cast_signed())));
    let mut stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let last = std::sync::Mutex::new(Vec::<String>::new());
    let shown = each_line(stderr, |line| {
        ctx.progress.status(&line);
        let mut last = last.lock().expect("never poisoned");
        last.push(line);
        if last.len() > 5 {
            last.remove(0);
        }
    });
    // A command with no outputs speaks on stdout to whoever runs it (`echo`, a script's log):
    // each line is shown as it comes. Otherwise stdout is the outputs' object.
    let speaks = what != "reconcile" && p.outputs.is_empty();
    // Read to its end either way: a command blocked on a full pipe would hang to its timeout.
    let read = async {
        let mut out = Vec::new();
        let mut more = false;
        if speaks {
            each_line(&mut stdout, |line| {
                ctx.progress.message(&line);
                if out.len() < STDOUT_LIMIT {
                    out.extend_from_slice(line.as_bytes());
                    out.push(b'\n');
                }
            })
            .await;
        } else {
            let _ = (&mut stdout)
                .take(STDOUT_LIMIT as u64)
                .read_to_end(&mut out)
                .await;
            more = tokio::io::copy(&mut stdout, &mut tokio::io::sink())
                .await
                .is_ok_and(|n| n > 0);
        }
        (String::from_utf8_lossy(&out).into_owned(), more)
    };
    let timeout = p.timeout.as_ref().map_or(Duration::from_secs(600), |t| t.0);
    let finished = async {
        let ((), out, status) = tokio::join!(shown, read, child.wait());
        (out, status)
    };
    let stop = |signal| {
        if let Some(pid) = group.and_then(|g| rustix::process::Pid::from_raw(g.cast_signed())) {
            let _ = rustix::process::kill_process_group(pid, signal);
        }
    };
    let outcome = tokio::select! {
        done = finished => Some(done),
        () = ctx.cancel.cancelled() => None,
        () = tokio::time::sleep(timeout) => {
            stop(rustix::process::Signal::TERM);
            tokio::time::sleep(GRACE).await;
            stop(rustix::process::Signal::KILL);
            return Err(ActionError::new(format!(
                "`{program}` ({what}) ran longer than {} and was stopped with its process group",
                humantime::format_duration(timeout)
            ))
            .hint("raise `timeout`, or look at what it waits for"));
        }
    };
    let Some(((stdout, more), status)) = outcome else {
        // A moment to end cleanly; then the guard kills what is left as this returns.
        stop(rustix::process::Signal::TERM);
        tokio::time::sleep(Duration::from_millis(200)).await;
        return Err(ActionError::new(format!(
            "`{program}` ({what}) was stopped with its process group: the run was interrupted"
        )));
    };
    // It ended by itself: what it left running in the background is its own business.
    guard.0 = None;
    let status = status.map_err(|e| ActionError::new(format!("`{program}` ({what}): {e}")))?;
    if !status.success() {
        let last = last.lock().expect("never poisoned").join(" / ");
        let how = status
            .code()
            .map_or_else(|| "was killed".to_owned(), |c| format!("exited with {c}"));
        let mut error = ActionError::new(format!("`{program}` ({what}) {how}"));
        if !last.is_empty() {
            error = error.hint(format!("its last words on stderr: {last}"));
        }
        return Err(error);
    }
    if more {
        return Err(ActionError::new(format!(
            "`{program}` ({what}) printed more than {} KiB on stdout, where only the outputs' JSON object belongs",
            STDOUT_LIMIT / 1024
        ))
        .hint("write logs and other output to stderr (`>&2`): it is shown as the step's progress"));
    }
    Ok(Ran { stdout })
}

/// Each line `reader` gives, to its end, as text (bytes that are not UTF-8 replaced: a command
/// that prints them is still read out, never left blocked on a full pipe). A line longer than
/// [`LINE_LIMIT`] is counted, not kept or shown: output without newlines cannot fill memory, and
/// no secret in it can be shown cut in two, where masking could not find it whole.
async fn each_line(reader: impl tokio::io::AsyncRead + Unpin, mut f: impl FnMut(String)) {
    // `length` counts the line's bytes without its newline.
    let mut said = |line: &[u8], length: usize| {
        if length > LINE_LIMIT {
            f(format!(
                "(a line of {length} bytes, longer than {} KiB: not shown)",
                LINE_LIMIT / 1024
            ));
        } else {
            f(String::from_utf8_lossy(line)
                .trim_end_matches('\r')
                .to_owned());
        }
    };
    let mut reader = tokio::io::BufReader::new(reader);
    let mut line = Vec::new();
    let mut length = 0;
    loop {
        let Ok(buf) = reader.fill_buf().await else {
            return;
        };
        if buf.is_empty() {
            if length > 0 {
                said(&line, length);
            }
            return;
        }
        let (text, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (at, true),
            None => (buf.len(), false),
        };
        if length + text <= LINE_LIMIT {
            line.extend_from_slice(&buf[..text]);
        }
        length += text;
        reader.consume(text + usize::from(ended));
        if ended {
            said(&line, length);
            line.clear();
            length = 0;
        }
    }
}

/// Kills a command's process group when dropped while armed.
struct GroupGuard(Option<rustix::process::Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

/// The outputs in what a command printed: one JSON object with every name in `outputs` (and no
/// other), or nothing when it names none and printed no object. `Ok(None)` for `null` (a
/// reconcile's "it did not run").
fn outputs_of(
    p: &ExecParams,
    stdout: &str,
    what: &str,
) -> Result<Option<Map<String, Json>>, ActionError> {
    let text = stdout.trim();
    if p.outputs.is_empty() && !text.starts_with('{') && text != "null" {
        return Ok(Some(Map::new()));
    }
    let value: Json = serde_json::from_str(text).map_err(|e| {
        ActionError::new(format!(
            "`{what}` must print one JSON object with {} on stdout: {e}",
            crate::runbook::suggest::list(&p.outputs)
        ))
        .hint("print only the JSON object on stdout; write everything else to stderr")
    })?;
    let map = match value {
        Json::Null => return Ok(None),
        Json::Object(map) => map,
        other => {
            return Err(ActionError::new(format!(
                "`{what}` printed {other}, not a JSON object"
            )));
        }
    };
    let missing: Vec<&String> = p.outputs.iter().filter(|o| !map.contains_key(*o)).collect();
    if !missing.is_empty() {
        return Err(ActionError::new(format!(
            "`{what}` printed no {}",
            crate::runbook::suggest::list(&missing)
        ))
        .hint("its stdout's object must have every name in `outputs`"));
    }
    let extra: Vec<&String> = map.keys().filter(|k| !p.outputs.contains(k)).collect();
    if !extra.is_empty() {
        return Err(ActionError::new(format!(
            "`{what}` printed {}, which `outputs` does not name",
            crate::runbook::suggest::list(&extra)
        ))
        .hint("add them to `outputs`, or leave them out of stdout"));
    }
    Ok(Some(map))
}

/// A step of it that ran: its outputs, and the command for rollback to undo when it has one.
fn outcome(ctx: &Context<'_>, p: &ExecParams, outputs: Map<String, Json>) -> Outcome {
    let mut o = Outcome {
        outputs,
        ..Outcome::default()
    };
    if p.undo.is_some() {
        o.resources.push(Resource {
            kind: COMMAND.into(),
            id: ctx.step_id.to_owned(),
            // The undo is read from the step's parameters as the journal keeps them (secrets
            // masked): nothing more is stored.
            undo: Json::Null,
            changed: Vec::new(),
            region: None,
        });
    }
    o
}

struct Exec;

impl Executor for Exec {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: ExecParams = ctx.params()?;
            let ran = run_command(ctx, &p, &p.command, "command").await?;
            let outputs = outputs_of(&p, &ran.stdout, "command")?
                .ok_or_else(|| ActionError::new("`command` printed null, not a JSON object"))?;
            Ok(outcome(ctx, &p, outputs))
        })
    }

    /// After a crash mid-step (only then: when only looking, it runs nothing): the `reconcile`
    /// command says whether the command ran; without one, a person is asked, and `--yes` fails
    /// rather than run it twice.
    fn reconcile<'a>(&'a self, ctx: &'a Context<'a>) -> Reconciling<'a> {
        Box::pin(async move {
            if !ctx.adopting {
                return Ok(None);
            }
            let p: ExecParams = ctx.params()?;
            if let Some(reconcile) = &p.reconcile {
                let ran = run_command(ctx, &p, reconcile, "reconcile").await?;
                return Ok(outputs_of(&p, &ran.stdout, "reconcile")?
                    .map(|outputs| outcome(ctx, &p, outputs)));
            }
            let question = format!(
                "Step `{}`'s command may have run before the run stopped, and it has no `reconcile:` to tell. Run it again?",
                ctx.step_id
            );
            if !ctx.yes && ctx.ask.confirm(&question, false) == Some(true) {
                return Ok(None);
            }
            Err(ActionError::new(format!(
                "step `{}`'s command may have run before the run stopped, and nothing tells whether it did: it is not run twice",
                ctx.step_id
            ))
            .hint("give the step a `reconcile:` command that answers, or do what is left by hand and `runbook mark RUN STEP --done`; on a terminal, resume asks"))
        })
    }

    fn undo<'a>(&'a self, ctx: &'a Context<'a>, _resource: &'a Resource) -> Undoing<'a> {
        Box::pin(async move {
            let mut p: ExecParams = ctx.params()?;
            let Some(undo) = p.undo.clone() else {
                return Ok(Undone::Moot);
            };
            // The journal keeps the step's parameters with secrets masked: a command line that
            // held one cannot be run from it; an environment variable that held one is left out
            // (the undo gets no `***` for a value), and named if the undo fails.
            let masked = crate::mask::MASK;
            if undo.iter().any(|a| a.contains(masked))
                || p.workdir.as_deref().is_some_and(|w| w.contains(masked))
            {
                return Err(ActionError::new(format!(
                    "step `{}`'s undo has a secret var's value in its command line or folder, which is never stored: it cannot be run from the journal",
                    ctx.step_id
                ))
                .hint(format!("run it by hand with the secret: {}", undo.join(" "))));
            }
            let secret: Vec<String> = p
                .env
                .iter()
                .filter(|(_, v)| v.contains(masked))
                .map(|(k, _)| k.clone())
                .collect();
            p.env.retain(|k, _| !secret.contains(k));
            match run_command(ctx, &p, &undo, "undo").await {
                Ok(_) => Ok(Undone::Removed),
                Err(e) if !secret.is_empty() => Err(e.hint(format!(
                    "it ran without {} (secret, never stored): run it by hand with {}",
                    crate::runbook::suggest::list(&secret),
                    if secret.len() == 1 { "it" } else { "them" }
                ))),
                Err(e) => Err(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as a command printed them: CRLF and LF alike, bytes that are not UTF-8 replaced, a
    /// last line without a newline kept, and a line longer than the limit counted, not shown.
    #[tokio::test]
    async fn output_is_read_a_line_at_a_time_within_a_bound() {
        let mut printed = b"one\r\ntwo \xff\n".to_vec();
        printed.extend(std::iter::repeat_n(b'x', LINE_LIMIT + 10));
        printed.extend_from_slice(b"\n\nlast");
        let mut lines = Vec::new();
        each_line(printed.as_slice(), |l| lines.push(l)).await;
        assert_eq!(
            lines,
            [
                "one".to_owned(),
                "two \u{fffd}".to_owned(),
                format!(
                    "(a line of {} bytes, longer than 64 KiB: not shown)",
                    LINE_LIMIT + 10
                ),
                String::new(),
                "last".to_owned(),
            ]
        );
    }
}
