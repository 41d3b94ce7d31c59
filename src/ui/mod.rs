//! Everything that prints or asks. Other modules produce data (diagnostics, plans, action
//! definitions, events, outcomes); the functions here turn it into text for people or JSON for
//! tools. The application's own lines go through [`note!`] (stderr) and [`output!`] (stdout).

pub mod actions;
pub mod ask;
pub mod check;
pub mod class;
pub mod diagnostics;
pub mod guide;
pub mod junit;
pub mod plan;
pub mod report;
pub mod runs;
pub mod web;

use std::io::{IsTerminal, Write};

/// A line for the person running the command, on stderr: notices, hints, what to type next.
/// Results for tools go to stdout ([`output`]).
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::ui::write_note(format_args!($($arg)*), true)
    };
}

/// The same without a line end.
macro_rules! note_part {
    ($($arg:tt)*) => {
        $crate::ui::write_note(format_args!($($arg)*), false)
    };
}

/// A line of results on stdout (a table, JSON); an error is a closed pipe or a full disk.
macro_rules! output {
    ($($arg:tt)*) => {
        $crate::ui::write_output(format_args!($($arg)*))
    };
}

pub(crate) use {note, note_part, output};

/// Where [`note!`] writes.
pub fn write_note(text: std::fmt::Arguments<'_>, line: bool) {
    let mut err = std::io::stderr().lock();
    let _ = if line {
        writeln!(err, "{text}")
    } else {
        write!(err, "{text}")
    };
}

/// Where [`output!`] writes.
pub fn write_output(text: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    writeln!(std::io::stdout().lock(), "{text}")
}

/// Text on stdout as it is (it ends with its own line end, or should not have one).
pub fn output_raw(text: &str) -> std::io::Result<()> {
    std::io::stdout().lock().write_all(text.as_bytes())
}

/// Write a file whole or not at all: to a new file beside it (same folder, so the rename stays on
/// one file system), flushed to disk, then renamed over it.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} is not a file name", path.display())))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Make sure everything written to stdout is out (before the process exits).
pub fn flush_output() {
    let _ = std::io::stdout().flush();
}

/// The terminal's width on stderr, for wrapping prose (80 when it is not a terminal).
pub fn width() -> usize {
    dialoguer::console::Term::stderr()
        .size_checked()
        .map_or(80, |(_, w)| usize::from(w))
}

/// How output should look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// For people: on a terminal with colour, otherwise plain text.
    #[default]
    Human,
    /// Plain text, no escape codes: for a run, one timestamped line per event (a log).
    Plain,
    /// JSON for tools.
    Json,
}

/// Colour is used only on a terminal, and never with `NO_COLOR` or `--no-color`.
pub fn use_color(no_color_flag: bool, stream_is_terminal: bool) -> bool {
    let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color_flag && !no_color_env && stream_is_terminal
}

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Join the hard-wrapped lines of prose into paragraphs, so that `wrap` can fill the terminal:
/// blank lines, and lines that start a list item (`- `, `* `), are indented, or start with
/// `Console:` or `AWS CLI:`, keep their line break.
pub fn reflow(text: &str) -> String {
    let mut out = String::new();
    for line in text.trim_end().lines() {
        let keeps_break = line.trim().is_empty()
            || line.starts_with(char::is_whitespace)
            || line.starts_with("- ")
            || line.starts_with("* ")
            || line.starts_with("Console:")
            || line.starts_with("AWS CLI:");
        if out.is_empty() || out.ends_with('\n') || keeps_break {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(line);
            if line.trim().is_empty() {
                out.push('\n');
            }
        } else {
            out.push(' ');
            out.push_str(line.trim());
        }
    }
    out
}

/// `text` as a sentence of its own: its first letter in upper case ("there is…": "There is…").
pub fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Wrap text to a width, keeping paragraphs and indenting continuation lines.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    for line in text.trim_end().lines() {
        if line.trim().is_empty() {
            out.push('\n');
            continue;
        }
        // A line's own leading spaces (a list item's) are kept on each of its wrapped lines.
        let lead: String = line.chars().take_while(|c| c.is_whitespace()).collect();
        let prefix = format!("{indent}{lead}");
        // Nothing a person may copy is cut: lines break only at spaces (not after a `/` of a
        // path, nor at a hyphen of a command, an id or a name), and a `code span` is one word, so a command stays on one
        // line; one longer than a line gets a line of its own, as wide as it is.
        let options = textwrap::Options::new(width.max(prefix.len() + 1))
            .initial_indent(&prefix)
            .subsequent_indent(&prefix)
            .break_words(false)
            .word_separator(textwrap::WordSeparator::AsciiSpace)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        let filled = textwrap::fill(&glue_code_spans(line.trim_start()), options);
        out.push_str(&filled.replace(GLUE, " "));
        out.push('\n');
    }
    out
}

/// Stands for a space inside a code span while wrapping: not a place to break a line.
const GLUE: char = '\u{E000}';

/// Where each of a run's resources is, in words: `step vpc`, or, where they are in more than one
/// region, `step secondary.vpc, us-east-1`. A resource made in a step's own region is there, any
/// other in the run's (`run`); a hosted zone, a record or a health check in none (Route 53's are
/// the account's).
pub fn places(
    alive: &[(String, crate::engine::action::Resource)],
    run: Option<&str>,
) -> Vec<String> {
    let region_of = |r: &crate::engine::action::Resource| -> Option<String> {
        (!crate::actions::is_global(&r.kind))
            .then(|| r.region.as_deref().or(run).map(str::to_owned))
            .flatten()
    };
    let mut regions: Vec<String> = alive.iter().filter_map(|(_, r)| region_of(r)).collect();
    regions.sort_unstable();
    regions.dedup();
    alive
        .iter()
        .map(|(step, r)| match region_of(r) {
            Some(region) if regions.len() > 1 => format!("step {step}, {region}"),
            _ => format!("step {step}"),
        })
        .collect()
}

/// `1 resource remains`, `3 resources remain`: what a rollback could not remove.
pub fn remain(n: usize) -> String {
    let resources = crate::runbook::suggest::count(n, "resource");
    if n == 1 {
        format!("{resources} remains")
    } else {
        format!("{resources} remain")
    }
}

/// What a rollback left, in words: `vpc vpc-1 (step vpc)`, or, for what a step may have made
/// where nobody could look (no id known), `may exist: hosted zone (step zone: could not look)`.
pub fn left_text(step: &str, r: &crate::engine::action::Resource) -> String {
    match (step.is_empty(), r.id.is_empty()) {
        (true, true) => format!("may exist: {}", r.kind),
        (true, false) => format!(
            "{} {} (tagged with the run, not in its journal: `runbook sweep --tag runbook:run=…` removes it)",
            r.kind, r.id
        ),
        (false, true) => format!("may exist: {} (step {step}: could not look)", r.kind),
        (false, false) => format!("{} {} (step {step})", r.kind, r.id),
    }
}

/// Text that `wrap` keeps on one line (`2 × EC2 instance`).
pub(crate) fn unbroken(text: &str) -> String {
    text.replace(' ', &GLUE.to_string())
}

/// The spaces inside each `code span` of a line, glued; a lone backtick glues nothing.
fn glue_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else {
            break;
        };
        let close = open + 1 + len;
        out.push_str(&rest[..open]);
        out.push_str(&rest[open..=close].replace(' ', &GLUE.to_string()));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_rollback_left_agrees_with_its_count() {
        assert_eq!(remain(1), "1 resource remains");
        assert_eq!(remain(2), "2 resources remain");
    }

    #[test]
    fn wraps_words_and_keeps_indentation() {
        assert_eq!(
            wrap("one two three four", 9, "  "),
            "  one two\n  three\n  four\n"
        );
        assert_eq!(wrap("a\n\n  b", 80, ""), "a\n\n  b\n");
    }

    #[test]
    fn code_spans_commands_and_hyphenated_names_are_never_cut() {
        let text = "Stop them: `aws ec2 stop-instances --region ap-south-1 --instance-ids i-1 i-2` \
                    then look at lab-primary-alb-target-group-with-a-long-name and `x y` in \
                    /tmp/runbook-20261206-122200-route53-failover/primary.json.";
        let wrapped = wrap(text, 40, "  ");
        for line in wrapped.lines() {
            assert_eq!(line.matches('`').count() % 2, 0, "{wrapped}");
            assert!(!line.trim_end().ends_with('-'), "{wrapped}");
        }
        assert!(
            wrapped.contains(
                "\n  `aws ec2 stop-instances --region ap-south-1 --instance-ids i-1 i-2`\n"
            ),
            "a command longer than a line has a line of its own: {wrapped}"
        );
        assert!(wrapped.contains("lab-primary-alb-target-group-with-a-long-name"));
        assert!(wrapped.contains("/tmp/runbook-20261206-122200-route53-failover/primary.json"));
        assert_eq!(
            wrap("a ` b c", 3, ""),
            "a `\nb c\n",
            "a lone backtick glues nothing"
        );
    }

    #[test]
    fn reflow_joins_prose_and_keeps_paragraphs_lists_and_console_lines() {
        assert_eq!(
            reflow("One two\nthree.\n\nFour\nConsole: X › Y\n- a\n- b"),
            "One two three.\n\nFour\nConsole: X › Y\n- a\n- b"
        );
    }
}
