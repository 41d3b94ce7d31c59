//! The plan as data: each step in execution order, with its parameters rendered as far as they
//! can be before anything runs (`runbook::render`, `runbook::graph`); `ui::plan` prints it.
//! [`workflow`] hands the same checked runbook to the engine.

pub mod workflow;

use serde::Serialize;
use serde_json::Value as Json;

use crate::actions::Effect;
use crate::mask::mask;
use crate::runbook::load::{StepKind, StepRollback};
use crate::runbook::render::{Known, Renderer};
use crate::runbook::validate::Checked;

#[derive(Debug, Serialize)]
pub struct Plan {
    pub runbook: String,
    pub file: String,
    pub steps: Vec<PlannedStep>,
}

#[derive(Debug, Serialize)]
pub struct PlannedStep {
    pub number: usize,
    pub id: String,
    pub title: String,
    pub action: &'static str,
    pub effect: Effect,
    /// Steps this one waits for.
    pub needs: Vec<String>,
    /// No later step needs it, so a walkthrough offers to skip it.
    #[serde(skip)]
    pub skippable: bool,
    /// `runs`, `skipped`, or `decided at run time`.
    pub condition: Condition,
    /// Why it is skipped, when `condition` is `skipped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// Where it acts, when not where the run does (its own or its module's `region:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<String>,
    /// Parameters; values known only after the run read `(known after run: …)`.
    pub params: Json,
    /// The outputs and values those parameters wait for.
    pub known_after_run: Vec<String>,
    /// The vars its `when:` reads: giving one turns the step on or off.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when_reads: Vec<String>,
    /// What rolling this step back does.
    pub rollback: String,
    /// In `run --exercise` the learner makes it by hand, and the runbook checks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exercise: Option<PlannedExercise>,
}

/// An exercise step in the plan: what the check compares (the task is shown when it comes).
#[derive(Debug, Serialize)]
pub struct PlannedExercise {
    /// The parameters the learner must get right.
    pub checks: Vec<String>,
    pub hints: usize,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Runs,
    Skipped,
    AtRunTime,
}

/// What a step waits for, with a whole module written `primary.*` rather than step by step.
fn needs_display(flow: &crate::runbook::resolve::Flow, i: usize) -> Vec<String> {
    let deps: Vec<usize> = flow.steps[i].deps.iter().map(|&(d, _)| d).collect();
    let mut covered = std::collections::HashSet::new();
    let mut out = Vec::new();
    // Outermost scopes first, so a module inside a module collapses into its parent's.
    let mut scopes: Vec<usize> = (1..flow.scopes.len()).collect();
    scopes.sort_by_key(|&s| flow.scopes[s].prefix.matches('.').count());
    for s in scopes {
        let under = flow.steps_under(s);
        if under.len() > 1
            && under
                .iter()
                .all(|u| deps.contains(u) && !covered.contains(u))
        {
            covered.extend(under.iter().copied());
            out.push((
                under[0],
                format!(
                    "{}* ({})",
                    flow.scopes[s].prefix,
                    crate::runbook::suggest::count(under.len(), "step")
                ),
            ));
        }
    }
    out.extend(
        deps.iter()
            .filter(|d| !covered.contains(*d))
            .map(|&d| (d, flow.steps[d].id.clone())),
    );
    out.sort_by_key(|(d, _)| *d);
    out.into_iter().map(|(_, s)| s).collect()
}

/// Build the plan of a checked runbook (which must have an order, i.e. no cycle).
pub fn build(checked: &Checked, known: &Known) -> Plan {
    let project = &checked.project;
    let flow = &checked.flow;
    let renderer = Renderer::new(project, flow, &checked.vars, known.clone());
    let secrets = renderer.secret_values();
    let steps = checked
        .order
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let step = flow.step(project, i);
            let StepKind::Action(def) = step.kind else {
                unreachable!("the flow holds action steps only")
            };
            let with = renderer.params(i);
            let mut params = with.value.clone();
            mask(&mut params, &secrets);
            let mut title = Json::String(renderer.title(i));
            mask(&mut title, &secrets);
            let condition = match renderer.condition(i) {
                None if step.when.is_none() => Condition::Runs,
                Some(Ok(true)) => Condition::Runs,
                Some(Ok(false)) => Condition::Skipped,
                None | Some(Err(_)) => Condition::AtRunTime,
            };
            let rollback = match &step.rollback {
                StepRollback::Skip => "nothing (rollback: skip)".to_owned(),
                StepRollback::Steps(steps) => {
                    let names: Vec<&str> = steps.iter().map(|s| s.action.as_str()).collect();
                    format!("runs {}", names.join(", then "))
                }
                StepRollback::Auto => match def.undo_of(&with.value) {
                    Some(undo) => undo.to_owned(),
                    None if def.undo.is_some() => "nothing to undo (it only looks)".to_owned(),
                    None => "nothing to undo".to_owned(),
                },
            };
            PlannedStep {
                number: n + 1,
                id: flow.steps[i].id.clone(),
                title: title.as_str().unwrap_or_default().to_owned(),
                action: def.name,
                effect: def.effect_of(&with.value),
                needs: needs_display(flow, i),
                skippable: !flow
                    .steps
                    .iter()
                    .any(|o| o.deps.iter().any(|&(d, _)| d == i)),
                skip_reason: (condition == Condition::Skipped).then(|| {
                    let mut reason = Json::String(renderer.skip_reason(i));
                    mask(&mut reason, &secrets);
                    reason.as_str().unwrap_or_default().to_owned()
                }),
                condition,
                region: renderer.region(i).map(|r| match r {
                    Ok(region) => region,
                    Err(waits) => format!("(known after run: {waits})"),
                }),
                confirm: step.confirm.as_ref().map(|c| c.value.clone()),
                timeout: step.timeout.as_ref().map(|t| t.value.to_string()),
                retry: step.retry.as_ref().map(|r| {
                    format!(
                        "{} attempts, first wait {}",
                        r.attempts,
                        r.delay.map_or_else(|| "5s".to_owned(), |d| d.to_string())
                    )
                }),
                params,
                known_after_run: with.waits_for(),
                when_reads: step
                    .when
                    .as_ref()
                    .and_then(crate::runbook::yaml::Node::scalar_text)
                    .and_then(|t| crate::runbook::template::references(&t).ok())
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|r| r.strip_prefix("vars.").map(str::to_owned))
                    .collect(),
                rollback,
                exercise: step.exercise.as_ref().map(|e| PlannedExercise {
                    checks: workflow::exercise_checks(step, e),
                    hints: e.hints.len(),
                }),
            }
        })
        .collect();
    Plan {
        runbook: project.name(),
        file: project.display(0).to_owned(),
        steps,
    }
}
