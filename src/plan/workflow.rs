//! A checked runbook as the engine's [`Workflow`]: the step graph, and rendering of each step's
//! parameters, conditions and rollback steps from vars and the outputs so far.

use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::engine::journal::UndoStep;
use crate::engine::{Exercise, Outputs, Prepared, Step, Workflow};
use crate::runbook::load::{StepKind, StepRollback};
use crate::runbook::render::{Known, Renderer};
use crate::runbook::resolve::Site;
use crate::runbook::validate::Checked;

pub struct RunbookWorkflow<'a> {
    checked: &'a Checked,
    known: Known,
    steps: Vec<Step>,
}

fn hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(12).fold(String::new(), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl<'a> RunbookWorkflow<'a> {
    /// `known.run_id` must be set: templates may read `run.id`.
    pub fn new(checked: &'a Checked, known: Known) -> Self {
        let project = &checked.project;
        let flow = &checked.flow;
        let plan_renderer = Renderer::new(project, flow, &checked.vars, known.clone());
        let steps = (0..flow.steps.len())
            .map(|i| {
                let step = flow.step(project, i);
                let StepKind::Action(action) = step.kind else {
                    unreachable!("the flow holds action steps only")
                };
                Step {
                    id: flow.steps[i].id.clone(),
                    title: plan_renderer.title(i),
                    deps: flow.steps[i].deps.iter().map(|&(d, _)| d).collect(),
                    reads: flow.steps[i].reads.clone(),
                    action,
                    timeout: step.timeout.as_ref().map(|t| t.value.0),
                    retry: step
                        .retry
                        .as_ref()
                        .map(|r| (r.attempts, r.delay.map_or(Duration::from_secs(5), |d| d.0))),
                    keep: matches!(step.rollback, StepRollback::Skip),
                    hash: hash(&format!(
                        "{}\n{}",
                        flow.steps[i].id,
                        project.sources.text(step.span)
                    )),
                }
            })
            .collect();
        RunbookWorkflow {
            checked,
            known,
            steps,
        }
    }

    fn renderer<'r>(&'r self, done: &'r Outputs) -> Renderer<'r> {
        Renderer::at(
            &self.checked.project,
            &self.checked.flow,
            &self.checked.vars,
            self.known.clone(),
            done,
        )
    }

    /// A hash of every source file, to notice an edit between a run and its resume.
    pub fn source_hash(&self) -> String {
        let project = &self.checked.project;
        let all: String = project
            .modules
            .iter()
            .map(|m| project.sources.get(m.file).text.as_str())
            .collect::<Vec<_>>()
            .join("\u{0}");
        hash(&all)
    }

    pub fn step_hashes(&self) -> BTreeMap<String, String> {
        self.steps
            .iter()
            .map(|s| (s.id.clone(), s.hash.clone()))
            .collect()
    }

    /// The steps that carry an `exercise:`, in order.
    pub fn exercises(&self) -> Vec<String> {
        let (project, flow) = (&self.checked.project, &self.checked.flow);
        (0..flow.steps.len())
            .filter(|&i| flow.step(project, i).exercise.is_some())
            .map(|i| flow.steps[i].id.clone())
            .collect()
    }

    pub fn graph(&self) -> IndexMap<String, Vec<String>> {
        self.steps
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    s.deps.iter().map(|&d| self.steps[d].id.clone()).collect(),
                )
            })
            .collect()
    }
}

/// A readable list of what could not be rendered.
fn problems(r: &crate::runbook::render::Rendered) -> Option<String> {
    if !r.errors.is_empty() {
        return Some(
            r.errors
                .iter()
                .map(|(_, m)| m.clone())
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    (!r.unknown.is_empty()).then(|| format!("no value yet for {}", r.waits_for().join(", ")))
}

impl Workflow for RunbookWorkflow<'_> {
    fn steps(&self) -> &[Step] {
        &self.steps
    }

    fn prepare(&self, i: usize, done: &Outputs) -> Result<Prepared, String> {
        let r = self.renderer(done);
        // `when` first: a step it skips is skipped for its own reason, even where its parameters
        // read what will never exist (the outputs of a step `check` cannot run, or one skipped).
        let skip = match r.condition(i) {
            None if self
                .checked
                .flow
                .step(&self.checked.project, i)
                .when
                .is_none() =>
            {
                false
            }
            Some(Ok(value)) => !value,
            Some(Err(e)) => return Err(format!("cannot evaluate `when`: {e}")),
            None => return Err("cannot evaluate `when` yet".into()),
        };
        let params = if skip {
            Json::Null
        } else {
            let params = r.params(i);
            if let Some(p) = problems(&params) {
                return Err(p);
            }
            params.value
        };
        let step = self.checked.flow.step(&self.checked.project, i);
        let scope = self.checked.flow.steps[i].scope;
        let skip = skip.then(|| r.skip_reason(i));
        if skip.is_some() {
            // Nothing else of a skipped step is asked, shown or sent.
            return Ok(Prepared {
                region: None,
                title: r.title(i),
                params,
                skip,
                confirm: None,
                guide: None,
                exercise: None,
            });
        }
        let confirm = match &step.confirm {
            None => None,
            Some(c) => match r.render_site(
                scope,
                &Site {
                    text: c,
                    span: c.span,
                    expression: false,
                },
            ) {
                Ok(Json::String(q)) => Some(q),
                Ok(other) => Some(other.to_string()),
                Err(e) => return Err(format!("cannot render `confirm`: {}", e.join(", "))),
            },
        };
        // The guide may use templates ("{{ vars.domain }}"); if one cannot render, the text as written.
        let guide = step.guide.as_ref().map(|g| {
            match r.render_site(
                scope,
                &Site {
                    text: g,
                    span: g.span,
                    expression: false,
                },
            ) {
                Ok(Json::String(text)) => text,
                _ => g.value.clone(),
            }
        });
        let text = |t: &str, span| match r.render_site(
            scope,
            &Site {
                text: t,
                span,
                expression: false,
            },
        ) {
            Ok(Json::String(text)) => Ok(text),
            Ok(other) => Ok(other.to_string()),
            Err(e) => Err(format!("cannot render the exercise: {}", e.join(", "))),
        };
        let exercise = match &step.exercise {
            None => None,
            Some(e) => Some(Exercise {
                task: text(&e.task, e.task.span)?,
                hints: e
                    .hints
                    .iter()
                    .map(|h| text(h, h.span))
                    .collect::<Result<_, _>>()?,
                compare: exercise_checks(step, e),
                files: e
                    .files
                    .iter()
                    .map(|(name, content)| Ok((name.value.clone(), text(content, content.span)?)))
                    .collect::<Result<_, String>>()?,
            }),
        };
        let region = match r.region(i) {
            None => None,
            Some(Ok(region)) => Some(region),
            Some(Err(e)) => return Err(format!("cannot tell the step's region: {e}")),
        };
        Ok(Prepared {
            region,
            title: r.title(i),
            params,
            skip,
            confirm,
            guide,
            exercise,
        })
    }

    fn undo_steps(&self, i: usize, done: &Outputs) -> Result<Option<Vec<UndoStep>>, String> {
        let step = self.checked.flow.step(&self.checked.project, i);
        let StepRollback::Steps(list) = &step.rollback else {
            return Ok(None);
        };
        let r = self.renderer(done);
        let scope = self.checked.flow.steps[i].scope;
        let mut out = Vec::new();
        for u in list {
            let params = match &u.with {
                Some(with) => {
                    let rendered = r.render_node(scope, with);
                    if let Some(p) = problems(&rendered) {
                        return Err(p);
                    }
                    rendered.value
                }
                None => Json::Object(Map::new()),
            };
            out.push(UndoStep {
                action: u.action.value.clone(),
                params,
            });
        }
        Ok(Some(out))
    }

    /// Rendered when the run has ended: what a step that did not run (a drill left out) would
    /// have given is "not run", not "known after run".
    fn outputs(&self, done: &Outputs) -> Map<String, Json> {
        let r = self.renderer(done);
        let mut outputs = r.root_outputs();
        for value in outputs.values_mut() {
            if let Some(rest) = value
                .as_str()
                .and_then(|t| t.strip_prefix("(known after run: "))
            {
                // The step it reads, skipped by its `when`: why, in its own words.
                let skipped = self
                    .steps
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| rest.starts_with(&format!("steps.{}.", s.id)))
                    .max_by_key(|(_, s)| s.id.len())
                    .filter(|(i, _)| matches!(r.condition(*i), Some(Ok(false))));
                // Its own reason says which step it is; without one, the step is named.
                *value = Json::String(match skipped {
                    Some((i, step)) => {
                        match &self.checked.flow.step(&self.checked.project, i).skip_reason {
                            Some(_) => format!("(not run: {})", r.skip_reason(i)),
                            None => format!(
                                "(not run: `{}` was skipped: {})",
                                step.id,
                                r.skip_reason(i)
                            ),
                        }
                    }
                    None => format!("(not run: {rest}"),
                });
            }
        }
        outputs
    }
}

/// The parameters an exercise's check compares: those it names, else all its action can.
pub fn exercise_checks(
    step: &crate::runbook::load::Step,
    exercise: &crate::runbook::format::Exercise,
) -> Vec<String> {
    if exercise.check.is_empty() {
        match step.kind {
            StepKind::Action(def) => def
                .exercise
                .map(|x| x.compares.iter().map(|&c| c.to_owned()).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    } else {
        exercise.check.iter().map(|c| c.value.clone()).collect()
    }
}
