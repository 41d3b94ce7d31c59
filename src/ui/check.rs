//! `runbook check`'s answer: each step's verdict (in place, ready, would fail, unknown,
//! skipped, could not look) and why, for people or as JSON, then the count of each.

use std::fmt::Write as _;

use super::Format;
use crate::engine::action::Verdict;
use crate::engine::check::Evaluated;

/// The verdicts, as `format` asks.
pub fn render(name: &str, verdicts: &[Evaluated], format: Format) -> String {
    if format == Format::Json {
        let failing = verdicts
            .iter()
            .filter(|v| {
                matches!(
                    v.verdict,
                    Verdict::WouldFail { .. } | Verdict::CouldNotLook { .. }
                )
            })
            .count();
        return format!(
            "{}\n",
            serde_json::json!({
                "runbook": name,
                "ready": failing == 0,
                "steps": verdicts,
            })
        );
    }
    let mut out = format!("Check: {name} (nothing was changed)\n");
    let width = verdicts.iter().map(|v| v.step.len()).max().unwrap_or(0);
    let mut counts = [0_usize; 6];
    for v in verdicts {
        let (i, label, why) = match &v.verdict {
            Verdict::InPlace { what } => (0, "in place", what.clone()),
            Verdict::Ready { why } => (1, "ready", why.clone()),
            Verdict::WouldFail { reason, fix } => (
                2,
                "would fail",
                match fix {
                    Some(fix) => format!("{reason}\n{:width$}                help: {fix}", ""),
                    None => reason.clone(),
                },
            ),
            Verdict::Unknown { why } => (3, "unknown", why.clone()),
            Verdict::Skipped { why } => (4, "skipped", why.clone()),
            Verdict::CouldNotLook { why } => (5, "no answer", why.clone()),
        };
        counts[i] += 1;
        let _ = writeln!(out, "  {:width$}  {label:<10}  {why}", v.step);
    }
    let names = [
        "in place",
        "ready",
        "would fail",
        "unknown",
        "skipped",
        "no answer",
    ];
    let summary: Vec<String> = counts
        .iter()
        .zip(names)
        .filter(|(n, _)| **n > 0)
        .map(|(n, name)| format!("{n} {name}"))
        .collect();
    let _ = writeln!(
        out,
        "{}: {}",
        if counts[2] > 0 {
            "Not ready"
        } else if counts[5] > 0 {
            "Could not tell (a read failed)"
        } else {
            "Ready"
        },
        summary.join(", ")
    );
    out
}
