//! A resource's life, written once: create, find by tag, adopt, delete.
//!
//! An action that creates one kind of resource says only what is its own, as a [`Make`]: the
//! create call (and how to read the new id and outputs from its answer), the follow-up calls that
//! finish it (attributes, routes, rules, a wait), and, where the step's key tag is not how it is
//! found, how to find it. [`Life`] turns that into the engine's executor, so the rules that must
//! hold for every kind hold by construction:
//!
//! - a create whose answer was lost and that the SDK sent again leaves exactly one resource
//!   ([`kinds::remove_resent`]), and a resend refused because the first attempt made it adopts
//!   what that attempt made ([`Make::made_before`]);
//! - reconcile only reads unless it adopts, and an adopted resource is finished like a new one;
//! - undo deletes through the kind's entry in [`kinds::KINDS`]: it looks first where a delete
//!   succeeds on nothing, and says "already gone" only when AWS says so ([`undo`]).

use serde_json::{Map, Value as Json};

use super::client::{Clients, clients};
use super::kinds::{self, Found, ResourceKind};
use crate::engine::action::{
    ActionError, BoxFuture, Checking, Context, Evaluating, Executor, Outcome, Reconciling,
    Resource, Running, Undoing, Undone, Verdict,
};

/// The step a [`Make`] works for: its context, the run's clients and its parameters.
pub struct Step<'a, P> {
    pub ctx: &'a Context<'a>,
    pub c: &'a Clients,
    pub p: &'a P,
}

impl<'a, P> Step<'a, P> {
    fn new(ctx: &'a Context<'a>, p: &'a P) -> Result<Self, ActionError> {
        Ok(Step {
            ctx,
            c: clients(ctx)?,
            p,
        })
    }
}

impl<P> Clone for Step<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Step<'_, P> {}

/// A sent create's answer (the new resource), and whether the SDK sent the call more than once
/// because an answer was lost.
pub type Sent = (Result<Outcome, ActionError>, bool);
/// A create: `Err` when it failed before AWS could have made anything (bad input), else what
/// was sent.
pub type Creating<'a> = BoxFuture<'a, Result<Sent, ActionError>>;
/// A look for what an earlier attempt of the step made.
pub type Finding<'a> = Reconciling<'a>;
/// The follow-up calls that finish what a create made.
pub type Finishing<'a> = BoxFuture<'a, Result<(), ActionError>>;

/// What an action that creates one kind of resource does that is its own.
pub trait Make: Sync {
    type Params: serde::de::DeserializeOwned + Send + Sync;
    /// The kind it creates.
    const KIND: ResourceKind;

    /// Send the create (saying what it does on `ctx.progress`) and read the new resource.
    fn create<'a>(&'a self, s: Step<'a, Self::Params>) -> Creating<'a>;

    /// Whether a create refused with this code was made by an earlier send of the same step
    /// (`resent`: this one was sent again), so that what it made is found and adopted.
    fn made_before(&self, _code: &str, _resent: bool) -> bool {
        false
    }

    /// What an earlier attempt of this step made, only reading: by default what carries the
    /// step's key tag, read as sweep reads it (every page), with the outputs its listing gives.
    fn find<'a>(&'a self, s: Step<'a, Self::Params>) -> Finding<'a> {
        Box::pin(async move {
            let found = kinds::with_key(s.c, Self::KIND, s.ctx.key).await?;
            Ok(found.into_iter().next().map(adopted))
        })
    }

    /// The calls that finish what the create made, on its outcome (idempotent: run again on
    /// what an earlier attempt made when it is adopted).
    fn finish<'a>(&'a self, _s: Step<'a, Self::Params>, _made: &'a mut Outcome) -> Finishing<'a> {
        Box::pin(async { Ok(()) })
    }

    /// An exercise's check (see [`Executor::by_hand`]).
    fn by_hand<'a>(
        &'a self,
        _ctx: &'a Context<'a>,
        _c: &'a Clients,
        _p: Self::Params,
        _compare: &'a [String],
    ) -> Checking<'a> {
        Box::pin(async {
            Err(ActionError::new(
                "this action cannot check what was made by hand",
            ))
        })
    }
}

/// The executor of a [`Make`].
pub struct Life<M>(pub M);

impl<M: Make> Executor for Life<M> {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: M::Params = ctx.params()?;
            let s = Step::new(ctx, &p)?;
            let (sent, resent) = self.0.create(s).await?;
            let mut made = match sent {
                Ok(made) => made,
                Err(e)
                    if e.code
                        .as_deref()
                        .is_some_and(|k| self.0.made_before(k, resent)) =>
                {
                    match self.0.find(s).await? {
                        Some(made) => made,
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            if resent {
                kinds::remove_resent(ctx, s.c, &made).await?;
            }
            self.0.finish(s, &mut made).await?;
            Ok(made)
        })
    }

    fn looks(&self) -> bool {
        true
    }

    fn reconcile<'a>(&'a self, ctx: &'a Context<'a>) -> Reconciling<'a> {
        Box::pin(async move {
            let p: M::Params = ctx.params()?;
            let s = Step::new(ctx, &p)?;
            match self.0.find(s).await? {
                Some(mut made) if ctx.adopting => {
                    self.0.finish(s, &mut made).await?;
                    Ok(Some(made))
                }
                found => Ok(found),
            }
        })
    }

    fn by_hand<'a>(&'a self, ctx: &'a Context<'a>, compare: &'a [String]) -> Checking<'a> {
        Box::pin(async move {
            let p: M::Params = ctx.params()?;
            self.0.by_hand(ctx, clients(ctx)?, p, compare).await
        })
    }

    fn undo<'a>(&'a self, ctx: &'a Context<'a>, r: &'a Resource) -> Undoing<'a> {
        Box::pin(undo(ctx, r))
    }

    /// In place when what the step makes is found as a reconcile finds it (by the key of the
    /// runbook's last run: only reading); else ready to be made.
    fn evaluate<'a>(&'a self, ctx: &'a Context<'a>) -> Evaluating<'a> {
        Box::pin(async move {
            let p: M::Params = ctx.params()?;
            let s = Step::new(ctx, &p)?;
            Ok(match self.0.find(s).await? {
                Some(made) => (
                    Verdict::InPlace {
                        what: made
                            .resources
                            .iter()
                            .map(|r| format!("{} {}", r.kind, r.id))
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                    Some(made),
                ),
                None => (
                    Verdict::Ready {
                        why: "the run would make it".to_owned(),
                    },
                    None,
                ),
            })
        })
    }
}

/// Remove one resource a run made, as its kind's entry deletes it: for a kind whose delete
/// succeeds on an id that does not exist, looked at first, so that "removed" is said only of what
/// was there. A failed read is an error, never "already gone".
pub async fn undo(ctx: &Context<'_>, r: &Resource) -> Result<Undone, ActionError> {
    let c = clients(ctx)?;
    let Some((kind, delete)) = kinds::find(&r.kind).and_then(|k| Some((k, k.delete?))) else {
        return Err(ActionError::new(format!(
            "no entry in the kinds table deletes a {}",
            r.kind
        )));
    };
    if let Some(look) = kind.look_first {
        if !look(c, &r.id).await? {
            return Ok(Undone::AlreadyGone);
        }
    }
    delete(ctx, c, r).await
}

/// The outcome of a resource made (or found) now, as the one resource: its id under the output
/// its kind's entry names (`vpc_id`), then `outputs`.
pub fn made(kind: ResourceKind, id: &str, outputs: &[(&str, Json)]) -> Outcome {
    let id_output = kinds::find(kind.name()).and_then(|k| k.id_output);
    let outputs: Map<String, Json> = id_output
        .map(|name| (name.to_owned(), Json::from(id)))
        .into_iter()
        .chain(outputs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())))
        .collect();
    with_outputs(kind, id, outputs)
}

/// [`made`] from a create's answer, which must name the new resource's id.
pub fn made_from(
    kind: ResourceKind,
    id: Option<&str>,
    outputs: &[(&str, Json)],
) -> Result<Outcome, ActionError> {
    let id = id.ok_or_else(|| missing(&format!("{kind} id")))?;
    Ok(made(kind, id, outputs))
}

/// The outcome of a resource found by its tag, with the outputs its listing gave.
pub fn adopted(found: Found) -> Outcome {
    with_outputs(found.kind, &found.id, found.outputs)
}

fn with_outputs(kind: ResourceKind, id: &str, outputs: Map<String, Json>) -> Outcome {
    Outcome {
        outputs,
        resources: vec![Resource {
            kind: kind.into(),
            id: id.to_owned(),
            undo: Json::Null,
            changed: Vec::new(),
            region: None,
        }],
        skipped: None,
    }
}

/// "AWS answered without the …": a create's answer that lacks what it must have.
pub fn missing(what: &str) -> ActionError {
    ActionError::new(format!("AWS answered without the {what}"))
}

/// The client token of a step's create (for the creates that take one: `RunInstances`,
/// `CreateRouteTable`): at most 64 characters, the same for every attempt of the step, so that
/// AWS makes it once (it keeps a token for 24 hours).
pub fn client_token(key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    digest.iter().take(24).fold(String::new(), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}
