//! The plan, for people.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::plan::{Condition, Plan};
use crate::runbook::suggest;

/// Longest multi-line string shown whole in a plan; longer ones are cut with a count.
const MAX_BLOCK_LINES: usize = 6;

pub fn human(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Plan: {} ({})", plan.runbook, plan.file);
    let counts = ["creates", "changes", "deletes", "reads"]
        .map(|e| plan.steps.iter().filter(|s| s.effect.as_str() == e).count());
    let commands = plan
        .steps
        .iter()
        .filter(|s| s.effect == crate::engine::action::Effect::Runs)
        .count();
    let _ = writeln!(
        out,
        "{}: {} create, {} change, {} delete, {} only read{}\n",
        suggest::count(plan.steps.len(), "step"),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        if commands == 0 {
            String::new()
        } else {
            format!(", {commands} run a command (effect unknown)")
        }
    );
    for step in &plan.steps {
        let _ = writeln!(out, "{:>3}. {} — {}", step.number, step.id, step.title);
        let _ = writeln!(out, "     {} ({})", step.action, step.effect.as_str());
        if !step.needs.is_empty() {
            let _ = writeln!(out, "     after: {}", step.needs.join(", "));
        } else if step.number > 1 {
            // Order in the file is not order in time: say so where it would surprise.
            let _ = writeln!(
                out,
                "     starts with the run: it waits for no step (`needs:` orders steps)"
            );
        }
        match step.condition {
            Condition::Runs => {}
            Condition::Skipped => {
                let reason = step.skip_reason.as_deref().unwrap_or("its `when` is false");
                let _ = writeln!(out, "     skipped: {reason}");
            }
            Condition::AtRunTime => {
                let _ = writeln!(out, "     when: decided at run time");
            }
        }
        if let Some(region) = &step.region {
            let _ = writeln!(out, "     region: {region}");
        }
        if let Some(confirm) = &step.confirm {
            let _ = writeln!(out, "     asks: {confirm}");
        }
        if let Some(exercise) = &step.exercise {
            let checked = if exercise.checks.is_empty() {
                String::new()
            } else {
                format!(" for {}", exercise.checks.join(", "))
            };
            let _ = writeln!(
                out,
                "     exercise: a learner's to do by hand, checked{checked}"
            );
        }
        if let Some(timeout) = &step.timeout {
            let _ = writeln!(out, "     timeout: {timeout}");
        }
        if let Some(retry) = &step.retry {
            let _ = writeln!(out, "     retry: {retry}");
        }
        params(&mut out, "     with:", &step.params, 7);
        let _ = writeln!(out, "     rollback: {}", step.rollback);
        out.push('\n');
    }
    out
}

/// One parameter as YAML-like lines (`key: value`, nested mappings indented).
/// A step's parameters, one per line under a heading (none when there are none to show). An
/// empty text or a null is a parameter left unset (`id: ""`) and is not shown.
pub(crate) fn params(out: &mut String, heading: &str, params: &Json, indent: usize) {
    let set: Vec<(&String, &Json)> = params
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
                .collect()
        })
        .unwrap_or_default();
    if set.is_empty() {
        return;
    }
    out.push_str(heading);
    out.push('\n');
    for (k, v) in set {
        value(out, k, v, indent);
    }
}

pub(crate) fn value(out: &mut String, key: &str, v: &Json, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Json::Object(map) if !map.is_empty() => {
            let _ = writeln!(out, "{pad}{key}:");
            for (k, v) in map {
                value(out, k, v, indent + 2);
            }
        }
        Json::Array(items) if !items.is_empty() => {
            let _ = writeln!(out, "{pad}{key}:");
            for item in items {
                match item {
                    Json::Object(map) => {
                        let mut first = true;
                        for (k, v) in map {
                            let mut line = String::new();
                            value(&mut line, k, v, indent + 4);
                            if first {
                                line.replace_range(indent + 2..indent + 4, "- ");
                                first = false;
                            }
                            out.push_str(&line);
                        }
                    }
                    other => {
                        let _ = writeln!(out, "{pad}  - {}", scalar(other));
                    }
                }
            }
        }
        Json::String(s) if s.contains('\n') => {
            let lines: Vec<&str> = s.trim_end().lines().collect();
            let _ = writeln!(out, "{pad}{key}: |");
            for line in lines.iter().take(MAX_BLOCK_LINES) {
                let _ = writeln!(out, "{pad}  {line}");
            }
            if lines.len() > MAX_BLOCK_LINES {
                let _ = writeln!(
                    out,
                    "{pad}  … ({} more lines)",
                    lines.len() - MAX_BLOCK_LINES
                );
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{key}: {}", scalar(other));
        }
    }
}

fn scalar(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Array(a) if a.is_empty() => "[]".into(),
        Json::Object(o) if o.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}
