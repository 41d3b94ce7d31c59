//! The walkthrough's text around the steps: what a runbook is about, what it will create and
//! roughly cost before anything runs, and at the end what was made, where to see it, what to try
//! next and how to undo it. The questions themselves are in `ask`.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::actions::{Effect, Prices};
use crate::plan::{Condition, Plan};

/// Before the first step: title, description, the vars, which steps are the learner's (in an
/// exercise run), what will be created and its cost.
pub fn intro(
    plan: &Plan,
    description: Option<&str>,
    vars: &serde_json::Map<String, Json>,
    exercise: bool,
    costs: &Costs<'_>,
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
    let estimate = cost(plan, costs);
    if estimate.total > 0.0 {
        let _ = write!(
            out,
            "\n{}",
            super::wrap(
                &format!(
                    "On real AWS this costs about US${:.2} an hour while it exists ({}: {}). Roll back when you are done.",
                    estimate.total,
                    estimate.basis(),
                    estimate.items.join(", ")
                ),
                width,
                "  "
            )
        );
    }
    out
}

/// What the estimate is priced with: the prices known per region, and the run's own region
/// (where the steps without a `region:` act).
pub struct Costs<'a> {
    pub prices: &'a Prices,
    pub region: Option<&'a str>,
}

/// A plan's estimated hourly cost.
pub struct Estimate {
    pub total: f64,
    /// Its parts, alike parts counted, each with its price.
    pub items: Vec<String>,
    /// The regions priced at their own list prices, and those priced at the built-in us-east-1
    /// table's.
    pub listed: Vec<String>,
    pub from_table: Vec<String>,
    /// Some part has no known price (left out of the total).
    pub incomplete: bool,
}

impl Estimate {
    /// Which prices the estimate is at, in words.
    pub fn basis(&self) -> String {
        let mut basis = match (self.listed.as_slice(), self.from_table.as_slice()) {
            (listed, []) if !listed.is_empty() => {
                format!("an estimate at the list prices of {}", listed.join(" and "))
            }
            (_, table) => format!(
                "an estimate at us-east-1 list prices{}, which most other regions exceed by up to about 20%",
                if table.is_empty() || table == ["us-east-1"] {
                    String::new()
                } else {
                    format!(" for {}", table.join(" and "))
                }
            ),
        };
        if self.incomplete {
            basis.push_str("; without the parts whose price is unknown");
        }
        basis
    }
}

/// The estimated hourly cost of what the plan creates, each step priced in the region it acts
/// in, and its parts (alike parts counted; each part's region named when the plan spans several).
pub fn cost(plan: &Plan, costs: &Costs<'_>) -> Estimate {
    let runs: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| s.condition != Condition::Skipped)
        .filter_map(|s| {
            let bill = crate::actions::hourly(s.action, &s.params)?;
            Some((bill, s.region.as_deref().or(costs.region)))
        })
        .collect();
    let mut regions: Vec<&str> = runs.iter().filter_map(|(_, r)| *r).collect();
    regions.sort_unstable();
    regions.dedup();
    let several = regions.len() > 1;
    let mut estimate = Estimate {
        total: 0.0,
        items: Vec::new(),
        listed: Vec::new(),
        from_table: Vec::new(),
        incomplete: false,
    };
    let mut parts: Vec<(String, usize, f64)> = Vec::new();
    for (bill, region) in &runs {
        let priced = costs.prices.price(bill, *region);
        estimate.total += priced.hourly;
        estimate.incomplete |= priced.incomplete;
        if bill.regional() {
            let name = region.unwrap_or("us-east-1").to_owned();
            let basis = if priced.regional {
                &mut estimate.listed
            } else {
                &mut estimate.from_table
            };
            if !basis.contains(&name) {
                basis.push(name);
            }
        }
        let what = match region {
            Some(r) if several && bill.regional() => {
                format!("{} in {r}", bill.what)
            }
            _ => bill.what.clone(),
        };
        let what = if priced.incomplete {
            format!("{what} (price unknown)")
        } else {
            what
        };
        match parts
            .iter_mut()
            .find(|(w, _, p)| *w == what && (*p - priced.hourly).abs() < 1e-12)
        {
            Some((_, n, _)) => *n += 1,
            None => parts.push((what, 1, priced.hourly)),
        }
    }
    // A region priced from the table for one item and listed for another counts as the table's.
    let table = estimate.from_table.clone();
    estimate.listed.retain(|r| !table.contains(r));
    estimate.listed.sort();
    estimate.from_table.sort();
    estimate.items = parts
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
    estimate
}

/// What an action creates, in words, for the introduction.
fn noun(action: &str) -> &str {
    crate::actions::find(action)
        .and_then(|a| a.noun)
        .unwrap_or(action)
}

/// At the end of a walkthrough: what exists now, with console links, and what to try next.
/// `region` is the run's; `emulated`, whether it ran against an emulator, whose resources have no
/// console page. Where the resources are in more than one region, each says its own.
pub fn summary(
    state: &crate::engine::state::RunState,
    (region, emulated): (Option<&str>, bool),
    next: Option<&str>,
    width: usize,
) -> String {
    let mut out = String::new();
    let alive = state.alive();
    let kind_width = alive.iter().map(|(_, r)| r.kind.len()).max().unwrap_or(0);
    let places = super::places(&alive, region);
    let (changes, made): (Vec<_>, Vec<_>) = alive
        .iter()
        .zip(places)
        .partition(|((_, r), _)| crate::actions::is_change(&r.kind));
    for (title, listed) in [("What exists now", made), ("What it changed", changes)] {
        if listed.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title} ({}):", listed.len());
        for ((_, r), place) in listed {
            let _ = writeln!(out, "  {:kind_width$}  {}  ({place})", r.kind, r.id);
            // A resource made in a step's own region has its page there.
            if let Some(url) = r
                .region
                .as_deref()
                .or(region)
                .filter(|_| !emulated)
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
