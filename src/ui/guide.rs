//! The walkthrough's text around the steps: what a runbook is about, what it will create and
//! roughly cost before anything runs, and at the end what was made, where to see it, what to try
//! next and how to undo it. The questions themselves are in `ask`.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::actions::Effect;
use crate::plan::{Condition, Plan};

/// Before the first step: title, description, the vars, what will be created and its cost.
pub fn intro(
    plan: &Plan,
    description: Option<&str>,
    vars: &serde_json::Map<String, Json>,
    width: usize,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{}\n", plan.runbook);
    if let Some(d) = description {
        out.push_str(&super::wrap(&super::reflow(d), width, "  "));
        out.push('\n');
    }
    if !vars.is_empty() {
        let _ = writeln!(out, "  With:");
        for (k, v) in vars {
            super::plan::value(&mut out, k, v, 4);
        }
        out.push('\n');
    }
    let runs: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| s.condition != Condition::Skipped)
        .collect();
    let mut creates: Vec<(&str, usize)> = Vec::new();
    for s in runs.iter().filter(|s| s.effect == Effect::Creates) {
        match creates.iter_mut().find(|(a, _)| *a == s.action) {
            Some((_, n)) => *n += 1,
            None => creates.push((s.action, 1)),
        }
    }
    let skipped = plan.steps.len() - runs.len();
    let _ = writeln!(
        out,
        "{}",
        super::wrap(
            &format!(
                "{} steps, one at a time{}; before each you see what it does and why, its parameters and the AWS CLI commands that do the same, and choose to run it, skip it, read more, or quit.",
                plan.steps.len(),
                if skipped > 0 {
                    format!(" ({skipped} of them skipped here, their `when` being false)")
                } else {
                    String::new()
                }
            ),
            width,
            "  "
        )
    );
    if !creates.is_empty() {
        let listed: Vec<String> = creates
            .iter()
            .map(|(a, n)| format!("{n} × {}", noun(a)))
            .collect();
        let _ = write!(
            out,
            "\n{}",
            super::wrap(&format!("It creates: {}.", listed.join(", ")), width, "  ")
        );
    }
    let (total, items) = cost(plan);
    if total > 0.0 {
        let _ = write!(
            out,
            "\n{}",
            super::wrap(
                &format!(
                    "On real AWS this costs about US${total:.2} an hour while it exists (an estimate at us-east-1 list prices, which most other regions exceed by up to about 20%: {}). Roll back when you are done.",
                    items.join(", ")
                ),
                width,
                "  "
            )
        );
    }
    out
}

/// What an action creates, in words, for the introduction.
fn noun(action: &str) -> &str {
    crate::actions::find(action)
        .and_then(|a| a.noun)
        .unwrap_or(action)
}

/// The estimated hourly cost of what the plan creates, and its parts (alike parts counted).
pub fn cost(plan: &Plan) -> (f64, Vec<String>) {
    let mut total = 0.0;
    let mut parts: Vec<(String, usize, f64)> = Vec::new();
    for s in plan
        .steps
        .iter()
        .filter(|s| s.condition != Condition::Skipped)
    {
        if let Some((price, what)) = crate::actions::aws::cost::hourly(s.action, &s.params) {
            total += price;
            match parts
                .iter_mut()
                .find(|(w, _, p)| *w == what && (*p - price).abs() < 1e-12)
            {
                Some((_, n, _)) => *n += 1,
                None => parts.push((what, 1, price)),
            }
        }
    }
    let items = parts
        .into_iter()
        .map(|(what, n, price)| {
            if n == 1 {
                format!("{what} ${price:.4}")
            } else {
                format!("{n} × ({what}) ${price:.4} each")
            }
        })
        .collect();
    (total, items)
}

/// At the end of a walkthrough: what exists now, with console links, and what to try next.
pub fn summary(
    state: &crate::engine::state::RunState,
    region: Option<&str>,
    next: Option<&str>,
    width: usize,
) -> String {
    let mut out = String::new();
    let alive = state.alive();
    if !alive.is_empty() {
        let _ = writeln!(out, "\nWhat exists now ({}):", alive.len());
        let kind_width = alive.iter().map(|(_, r)| r.kind.len()).max().unwrap_or(0);
        for (step, r) in &alive {
            let _ = writeln!(out, "  {:kind_width$}  {}  (step {step})", r.kind, r.id);
            if let Some(url) =
                region.and_then(|reg| crate::actions::aws::console_url(&r.kind, &r.id, reg))
            {
                let _ = writeln!(out, "  {:kind_width$}  {url}", "");
            }
        }
    }
    if let Some(next) = next {
        let _ = write!(
            out,
            "\nWhat to try next:\n{}",
            super::wrap(&super::reflow(next), width, "  ")
        );
    }
    out
}
