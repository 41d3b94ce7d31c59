//! `runbook check`: what a run would meet now, found only by reading. Each step in the graph's
//! order gets a [`Verdict`]: a step that only reads runs (briefly: its waits give up after
//! `read_for`); any other is evaluated by its action ([`Executor::evaluate`]). Nothing is
//! journaled, and the application hands clients that refuse every call that is not a read.
//!
//! What a step in place returns feeds the steps after it, as in a run. A step whose inputs come
//! from a step that the run would still have to make is `ready` after it: nothing more can be
//! seen before that step exists. One that waits for a step that would fail (or whose inputs
//! come from one) is `unknown`, a run stopping before it, unless it is in place or would fail
//! whatever the run did. A step whose `when` is false is `skipped`, whatever it would read.

use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::action::{Ask, Context, Effect, Progress, Services, Verdict};
use super::{Outputs, Workflow};

const WOULD_FAIL: &str = "would fail: a run stops before this step";
const NOT_LOOKED: &str = "could not be looked at";

/// One step's verdict.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Evaluated {
    pub step: String,
    pub title: String,
    pub action: String,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// What a check needs besides the workflow.
pub struct Check<'a> {
    pub workflow: &'a dyn Workflow,
    /// The run whose keys find what an earlier run of the runbook made (its latest), or a new id.
    pub run_id: &'a str,
    /// Each step's key, by step id (an earlier run's, where it has one).
    pub key: &'a (dyn Fn(&str) -> String + Sync),
    pub labels: &'a [(String, String)],
    pub services: &'a Services,
    pub ask: &'a dyn Ask,
    /// How long a reading step's waits may wait.
    pub read_for: Duration,
    /// The runbook's secret values: masked in what the reads show and in every verdict.
    pub secrets: &'a [String],
}

/// A step's progress, kept: its last message says what a read found.
#[derive(Default)]
struct Kept(Mutex<Vec<String>>);

impl Progress for Kept {
    fn status(&self, _: &str) {}

    fn message(&self, text: &str) {
        self.0.lock().expect("never poisoned").push(text.to_owned());
    }
}

impl Check<'_> {
    /// Every step's verdict, in the graph's order.
    pub async fn run(&self) -> Vec<Evaluated> {
        let steps = self.workflow.steps();
        let mut outputs = Outputs::new();
        // Steps whose outputs exist now (in place, or read); the others would be made by the run.
        let mut known = vec![false; steps.len()];
        let mut in_place = vec![false; steps.len()];
        let mut skipped = vec![false; steps.len()];
        // The step that holds each one back, and how: it would fail (a run stops there) or could
        // not be looked at.
        let mut blocked_by: Vec<Option<(usize, &str)>> = vec![None; steps.len()];
        let mut verdicts: Vec<Option<Evaluated>> = vec![None; steps.len()];
        let cancel = CancellationToken::new();
        for i in order(self.workflow) {
            let step = &steps[i];
            // A step it waits for that would fail or could not be looked at (or that waits for
            // one; one that would fail first): nothing more can be told of this step.
            let blocked = step
                .deps
                .iter()
                .filter_map(|d| blocked_by[*d])
                .min_by_key(|(_, how)| *how != WOULD_FAIL);
            let verdict = match (self.workflow.prepare(i, &outputs), blocked) {
                (Err(_), Some((origin, how))) => {
                    blocked_by[i] = blocked;
                    Verdict::Unknown {
                        why: format!("after `{}`, which {how}", steps[origin].id),
                    }
                }
                (prepared, _) => match prepared {
                    // It reads what a step a run skips would have made: a run skips it too.
                    Err(_) if step.reads.iter().any(|d| skipped[*d]) => {
                        let d = step
                            .reads
                            .iter()
                            .find(|d| skipped[**d])
                            .copied()
                            .unwrap_or(i);
                        Verdict::Skipped {
                            why: format!(
                                "it reads the outputs of `{}`, which a run skips",
                                steps[d].id
                            ),
                        }
                    }
                    // The nearest step it waits for whose outputs do not exist yet (a skipped one
                    // it only follows does not hold it back).
                    Err(why) => match step
                        .deps
                        .iter()
                        .filter(|d| !known[**d] && !skipped[**d])
                        .max()
                    {
                        // What it would use is a by-product of making something that is there
                        // already (a change id): nothing to do.
                        Some(d) if in_place[*d] => Verdict::InPlace {
                            what: format!("nothing to do: `{}` is in place", steps[*d].id),
                        },
                        Some(d) => Verdict::Ready {
                            why: format!(
                                "after `{}`, which the run would do first: nothing more can be seen before then",
                                steps[*d].id
                            ),
                        },
                        None => Verdict::Unknown { why },
                    },
                    Ok(prepared) if prepared.skip.is_some() => Verdict::Skipped {
                        why: prepared.skip.unwrap_or_default(),
                    },
                    Ok(prepared) => {
                        let key = (self.key)(&step.id);
                        let kept = Kept::default();
                        let ctx = Context {
                            run_id: self.run_id,
                            step_id: &step.id,
                            key: &key,
                            params: &prepared.params,
                            progress: &kept,
                            ask: self.ask,
                            yes: true,
                            cancel: &cancel,
                            labels: self.labels,
                            services: self.services,
                            adopting: false,
                            solving: false,
                            declared: &super::action::NOTHING_DECLARED,
                            journal: None,
                            deadline: Some(tokio::time::Instant::now() + self.read_for),
                            secrets: self.secrets,
                            region: prepared.region.as_deref(),
                        };
                        let executor = step.action.executor();
                        if step.action.effect() == Effect::Reads {
                            match executor.run(&ctx).await {
                                Ok(outcome) => {
                                    outputs.insert(i, outcome.outputs);
                                    known[i] = true;
                                    let said = kept.0.lock().expect("never poisoned").join(" ");
                                    Verdict::Ready {
                                        why: if said.is_empty() {
                                            "read: it answers".to_owned()
                                        } else {
                                            said
                                        },
                                    }
                                }
                                Err(e) => Verdict::WouldFail {
                                    reason: e.message,
                                    fix: e.hint,
                                },
                            }
                        } else {
                            match executor.evaluate(&ctx).await {
                                Ok((verdict, outcome)) => {
                                    if let Some(o) = outcome {
                                        outputs.insert(i, o.outputs);
                                        known[i] = true;
                                    }
                                    in_place[i] = matches!(verdict, Verdict::InPlace { .. });
                                    verdict
                                }
                                // What AWS would refuse (a name taken by someone else's resource).
                                Err(e) if e.invalid_input => Verdict::WouldFail {
                                    reason: e.message,
                                    fix: e.hint,
                                },
                                Err(e) => Verdict::CouldNotLook {
                                    why: match e.hint {
                                        Some(hint) => format!("{} ({hint})", e.message),
                                        None => e.message,
                                    },
                                },
                            }
                        }
                    }
                },
            };
            // A run stops before a step that waits for one that would fail: only what holds
            // whatever the run does is told of it (what it would make is in place; it would fail
            // on its own). A read, a "ready", a "could not look" are what it would meet after
            // the steps before it, so unknown.
            let verdict = match (verdict, blocked) {
                (verdict, Some((origin, how)))
                    if how == WOULD_FAIL
                        && !matches!(
                            verdict,
                            Verdict::InPlace { .. }
                                | Verdict::Skipped { .. }
                                | Verdict::Unknown { .. }
                        )
                        && !(matches!(verdict, Verdict::WouldFail { .. })
                            && step.action.effect() != Effect::Reads) =>
                {
                    blocked_by[i] = blocked;
                    Verdict::Unknown {
                        why: format!("after `{}`, which {how}", steps[origin].id),
                    }
                }
                (verdict, _) => verdict,
            };
            skipped[i] = matches!(verdict, Verdict::Skipped { .. });
            match verdict {
                Verdict::WouldFail { .. } => blocked_by[i] = Some((i, WOULD_FAIL)),
                Verdict::CouldNotLook { .. } => blocked_by[i] = Some((i, NOT_LOOKED)),
                _ => {}
            }
            verdicts[i] = Some(Evaluated {
                step: step.id.clone(),
                title: step.title.clone(),
                action: step.action.name().to_owned(),
                verdict: masked(verdict, self.secrets),
            });
        }
        verdicts.into_iter().flatten().collect()
    }
}

/// A verdict's texts with the secrets masked: what a read found may quote a secret.
fn masked(mut verdict: Verdict, secrets: &[String]) -> Verdict {
    let texts: Vec<&mut String> = match &mut verdict {
        Verdict::InPlace { what } => vec![what],
        Verdict::WouldFail { reason, fix } => std::iter::once(reason).chain(fix).collect(),
        Verdict::Ready { why }
        | Verdict::Unknown { why }
        | Verdict::CouldNotLook { why }
        | Verdict::Skipped { why } => vec![why],
    };
    for text in texts {
        *text = crate::mask::mask_text(text, secrets);
    }
    verdict
}

/// The steps in an order where each comes after those it waits for (the runbook's order where
/// it allows).
fn order(workflow: &dyn Workflow) -> Vec<usize> {
    let steps = workflow.steps();
    let mut done = vec![false; steps.len()];
    let mut out = Vec::with_capacity(steps.len());
    while out.len() < steps.len() {
        let before = out.len();
        for (i, step) in steps.iter().enumerate() {
            if !done[i] && step.deps.iter().all(|d| done[*d]) {
                done[i] = true;
                out.push(i);
            }
        }
        if out.len() == before {
            // A cycle cannot pass validation; should one ever reach here, the rest in order.
            out.extend((0..steps.len()).filter(|i| !done[*i]));
            break;
        }
    }
    out
}
