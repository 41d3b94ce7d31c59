//! The walkthrough's text around the steps: what a runbook is about, what it will create and
//! roughly cost before anything runs, and at the end what was made, where to see it, what to try
//! next and how to undo it. The questions themselves are in `ask`.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::actions::Effect;
use crate::plan::{Condition, Plan};

/// Before the first step: title, description, the vars, which steps are the learner's (in an
/// exercise run), what will be created and its cost.
pub fn intro(
    plan: &Plan,
    description: Option<&str>,
    vars: &serde_json::Map<String, Json>,
    exercise: bool,
    width: usize,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{}\n", plan.runbook);
    if let Some(d) = description {
        out.push_str(&super::wrap(&super::reflow(d), width, "  "));
        out.push('\n');
    }
    // An empty value is the var's "not given" (a zone of the domain's own): nothing to show.
    let given: Vec<_> = vars
        .iter()
        .filter(|(_, v)| v.as_str() != Some(""))
        .collect();
    if !given.is_empty() {
        let _ = writeln!(out, "  With:");
        for (k, v) in given {
            super::plan::value(&mut out, k, v, 4);
        }
        out.push('\n');
    }
    let runs: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| s.condition != Condition::Skipped)
        .collect();
    let mut creates: Vec<(&str, u64)> = Vec::new();
    for s in runs.iter().filter(|s| s.effect == Effect::Creates) {
        // An action with a `count` (instances) makes that many.
        let n = s.params.get("count").and_then(Json::as_u64).unwrap_or(1);
        let what = noun(s.action);
        match creates.iter_mut().find(|(a, _)| *a == what) {
            Some((_, m)) => *m += n,
            None => creates.push((what, n)),
        }
    }
    let skipped = plan.steps.len() - runs.len();
    let skipped = if skipped > 0 {
        format!(" ({skipped} of them skipped here: their conditions are false)")
    } else {
        String::new()
    };
    // Skip is offered only for a step nothing later needs: promise it only where it is.
    let skippable = plan.steps.iter().filter(|s| s.skippable).count();
    let choices = if skippable > 0 {
        "run it, read more, or quit (or skip it, where no later step needs it)"
    } else {
        "run it, read more, or quit"
    };
    let exercises: Vec<_> = runs.iter().filter(|s| s.exercise.is_some()).collect();
    let text = match exercises.first() {
        Some(first) if exercise => {
            let mut text = format!(
                "{} steps{skipped}. You do {} of them yourself, in the console or with the AWS CLI, and the runbook checks what you made (a hint, or the runbook doing it for you, is a keypress away):\n",
                plan.steps.len(),
                exercises.len()
            );
            for s in &exercises {
                let _ = writeln!(text, "  step {}: {}", s.number, s.title);
            }
            let before = runs.iter().filter(|s| s.number < first.number).count();
            if before > 0 {
                let _ = write!(
                    text,
                    "The {before} steps before step {} build what the exercises need and run by themselves, one line each. From step {} on, each step is explained before it runs. One that makes or changes something asks first: you choose to {choices}. Waits and checks, which only look at what you made, just run.",
                    first.number, first.number
                );
            } else {
                let _ = write!(
                    text,
                    "Each step is explained before it runs. One that makes or changes something asks first: you choose to {choices}. Waits and checks, which only look at what you made, just run."
                );
            }
            text
        }
        _ => format!(
            "{} steps, one at a time{skipped}; before each you see what it does and why, its parameters and the AWS CLI commands that do the same, and choose to {choices}.",
            plan.steps.len()
        ),
    };
    out.push_str(&super::wrap(&text, width, "  "));
    if !creates.is_empty() {
        let listed: Vec<String> = creates
            .iter()
            .map(|(what, n)| super::unbroken(&format!("{n} × {what}")))
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
        if let Some((price, what)) = crate::actions::hourly(s.action, &s.params) {
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
                format!(
                    "{} ({what}) ${price:.4} each",
                    super::unbroken(&format!("{n} ×"))
                )
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
                // A resource made in a step's own region has its page there.
                r
                    .region
                    .as_deref()
                    .or(region)
                    .and_then(|reg| crate::actions::console_url(&r.kind, &r.id, reg))
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
