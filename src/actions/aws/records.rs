//! The record actions (`aws.route53.failover_record`, `aws.route53.weighted_record`): what they
//! write, what they find where they are to write, and how they are undone.
//!
//! A record step never writes over a record the run did not write. Writing over one would change
//! a live site's answers and, on rollback, delete a record nobody can get back; so it reads the
//! name first and refuses the records there (the same set identifier, the same failover role, a
//! simple record), and creates rather than upserts. Told to take them over
//! (`on_existing: adopt`), it replaces them in one change, keeps an exact copy of each in its
//! journal, and its undo puts them back as they were. The exercise check (`by_hand`) finds a
//! record a learner made and says what differs, in words.

use std::time::Duration;

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, ResourceRecordSetRegion, RrType,
};
use serde_json::{Value as Json, json};

use super::client::{Clients, clients};
use super::route53::{
    Alias, FailoverRecordParams, Role, WeightedRecordParams, alias_dns, balancer_name, built, fqdn,
    record_sets,
};
use crate::engine::action::{
    ActionError, ByHand, Checking, Context, Evaluating, Executor, Outcome, Reconciling, Resource,
    Running, Undoing, Undone, Verdict,
};

/// What a record step does with a record already at its name and type.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OnExisting {
    /// Stop before writing anything, showing the record that is there.
    #[default]
    Refuse,
    /// Take it over: replace it, and put it back exactly as it was on rollback.
    Adopt,
}

/// The records among `sets` that writing `wanted` would replace or that Route 53 refuses beside
/// it: the one with its set identifier, one with its failover role, and a simple record (no set
/// identifier) of its name and type.
pub fn conflicts<'s>(
    wanted: &ResourceRecordSet,
    sets: &'s [ResourceRecordSet],
) -> Vec<&'s ResourceRecordSet> {
    sets.iter()
        .filter(|s| same_name(s, wanted) && s.r#type() == wanted.r#type())
        .filter(|s| {
            s.set_identifier().is_none()
                || s.set_identifier() == wanted.set_identifier()
                || (wanted.failover().is_some() && s.failover() == wanted.failover())
        })
        .collect()
}

fn same_name(a: &ResourceRecordSet, b: &ResourceRecordSet) -> bool {
    a.name()
        .trim_end_matches('.')
        .eq_ignore_ascii_case(b.name().trim_end_matches('.'))
}

/// The same record with the same answers: what a step that wrote `wanted` and was interrupted
/// finds when it is taken up again.
pub fn same(a: &ResourceRecordSet, b: &ResourceRecordSet) -> bool {
    let alias = |s: &ResourceRecordSet| {
        s.alias_target().map(|t| {
            (
                alias_dns(t),
                t.hosted_zone_id().to_owned(),
                t.evaluate_target_health(),
            )
        })
    };
    let values = |s: &ResourceRecordSet| {
        let mut v: Vec<String> = s
            .resource_records()
            .iter()
            .map(|r| r.value().to_owned())
            .collect();
        v.sort();
        v
    };
    same_name(a, b)
        && a.r#type() == b.r#type()
        && a.set_identifier() == b.set_identifier()
        && a.failover() == b.failover()
        && a.weight() == b.weight()
        && a.health_check_id() == b.health_check_id()
        && alias(a) == alias(b)
        && a.ttl() == b.ttl()
        && values(a) == values(b)
}

/// An exact copy of a record, to put back; or why it cannot be kept exactly (a routing policy
/// this tool does not copy), in words.
pub fn keep(set: &ResourceRecordSet) -> Result<Json, String> {
    if set.geo_location().is_some()
        || set.geo_proximity_location().is_some()
        || set.cidr_routing_config().is_some()
        || set.traffic_policy_instance_id().is_some()
    {
        return Err("it uses geolocation, geoproximity, IP-based routing or a traffic policy, which this tool cannot copy exactly to put back".to_owned());
    }
    Ok(json!({
        "name": set.name(),
        "type": set.r#type().as_str(),
        "set_identifier": set.set_identifier(),
        "failover": set.failover().map(ResourceRecordSetFailover::as_str),
        "weight": set.weight(),
        "region": set.region().map(ResourceRecordSetRegion::as_str),
        "multi_value_answer": set.multi_value_answer(),
        "ttl": set.ttl(),
        "values": set.resource_records().iter().map(ResourceRecord::value).collect::<Vec<_>>(),
        "alias": set.alias_target().map(|a| json!({
            "dns_name": a.dns_name(),
            "hosted_zone_id": a.hosted_zone_id(),
            "evaluate_target_health": a.evaluate_target_health(),
        })),
        "health_check_id": set.health_check_id(),
    }))
}

/// The record a copy made by [`keep`] describes.
pub fn restore(kept: &Json) -> Result<ResourceRecordSet, ActionError> {
    let text = |k: &str| kept[k].as_str().map(str::to_owned);
    let broken = |what: &str| ActionError::new(format!("the journal's copy of a record {what}"));
    let mut b = ResourceRecordSet::builder()
        .name(text("name").ok_or_else(|| broken("has no name"))?)
        .r#type(RrType::from(
            text("type").ok_or_else(|| broken("has no type"))?.as_str(),
        ))
        .set_set_identifier(text("set_identifier"))
        .set_failover(text("failover").map(|f| ResourceRecordSetFailover::from(f.as_str())))
        .set_weight(kept["weight"].as_i64())
        .set_region(text("region").map(|r| ResourceRecordSetRegion::from(r.as_str())))
        .set_multi_value_answer(kept["multi_value_answer"].as_bool())
        .set_ttl(kept["ttl"].as_i64())
        .set_health_check_id(text("health_check_id"));
    for value in kept["values"].as_array().into_iter().flatten() {
        let value = value
            .as_str()
            .ok_or_else(|| broken("has a value that is not text"))?;
        b = b.resource_records(
            ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(|e| broken(&format!("could not be rebuilt: {e}")))?,
        );
    }
    if let Some(alias) = kept["alias"].as_object() {
        let field = |k: &str| alias.get(k).and_then(Json::as_str).unwrap_or_default();
        b = b.alias_target(
            AliasTarget::builder()
                .dns_name(field("dns_name"))
                .hosted_zone_id(field("hosted_zone_id"))
                .evaluate_target_health(
                    alias
                        .get("evaluate_target_health")
                        .and_then(Json::as_bool)
                        .unwrap_or(false),
                )
                .build()
                .map_err(|e| broken(&format!("could not be rebuilt: {e}")))?,
        );
    }
    b.build()
        .map_err(|e| broken(&format!("could not be rebuilt: {e}")))
}

/// The record set a record action writes, from its parameters.
fn record_set(
    name: &str,
    kind: &str,
    set_id: &str,
    alias: &Alias,
    health_check: Option<&String>,
    role: Option<Role>,
    weight: Option<u8>,
) -> Result<ResourceRecordSet, ActionError> {
    let target = built(
        AliasTarget::builder()
            .hosted_zone_id(&alias.hosted_zone_id)
            .dns_name(&alias.dns_name)
            .evaluate_target_health(alias.evaluate_target_health)
            .build(),
    )?;
    let mut b = ResourceRecordSet::builder()
        .name(fqdn(name))
        .r#type(RrType::from(kind))
        .set_identifier(set_id)
        .alias_target(target);
    if let Some(role) = role {
        b = b.failover(match role {
            Role::Primary => ResourceRecordSetFailover::Primary,
            Role::Secondary => ResourceRecordSetFailover::Secondary,
        });
    }
    if let Some(w) = weight {
        b = b.weight(i64::from(w));
    }
    if let Some(h) = health_check {
        b = b.health_check_id(h);
    }
    built(b.build())
}

/// Send one change to a zone, in a batch with the other runs' changes to it ([`super::batch`]):
/// its change id.
async fn change(
    c: &Clients,
    zone: &str,
    action: ChangeAction,
    set: ResourceRecordSet,
) -> Result<String, ActionError> {
    let change = Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .map_err(|e| ActionError::new(format!("a record change could not be built: {e}")))?;
    c.zone_changes.submit(&c.route53, zone, change).await
}

/// A record written by a step: the change to wait for, and the record for undo (which rebuilds
/// it from the step's parameters).
fn record_outcome(ctx: &Context<'_>, zone: &str, label: String, change_id: String) -> Outcome {
    let mut o = Outcome::default();
    o.outputs.insert("change_id".into(), change_id.into());
    o.resources.push(Resource {
        kind: super::kinds::RECORD.into(),
        id: label,
        undo: serde_json::json!({ "zone_id": zone, "params": ctx.params }),
        changed: Vec::new(),
        region: None,
    });
    o
}

/// Failover or weighted record: refused where a record the run did not write stands (unless told
/// to take it over); undo deletes exactly the record written, or puts back what it took over.
pub(super) struct Record {
    pub weighted: bool,
}

/// What a record step writes: its zone, the record set, its label for people, and what it does
/// with a record already there.
struct Written {
    zone: String,
    set: ResourceRecordSet,
    label: String,
    on_existing: OnExisting,
}

impl Record {
    fn set(&self, ctx: &Context<'_>) -> Result<(String, ResourceRecordSet, String), ActionError> {
        self.written(ctx).map(|w| (w.zone, w.set, w.label))
    }

    fn written(&self, ctx: &Context<'_>) -> Result<Written, ActionError> {
        if self.weighted {
            let p: WeightedRecordParams = ctx.params()?;
            let set = record_set(
                &p.name,
                &p.kind,
                &p.set_identifier,
                &p.alias,
                p.health_check_id.as_ref(),
                None,
                Some(p.weight),
            )?;
            Ok(Written {
                zone: p.zone_id,
                set,
                label: format!("{} {} weight {}", p.name, p.kind, p.weight),
                on_existing: p.on_existing,
            })
        } else {
            let p: FailoverRecordParams = ctx.params()?;
            let role = if p.role == Role::Primary {
                "PRIMARY"
            } else {
                "SECONDARY"
            };
            let set = record_set(
                &p.name,
                &p.kind,
                &p.set_identifier,
                &p.alias,
                p.health_check_id.as_ref(),
                Some(p.role),
                None,
            )?;
            Ok(Written {
                zone: p.zone_id,
                set,
                label: format!("{} {} {role}", p.name, p.kind),
                on_existing: p.on_existing,
            })
        }
    }
}

impl Executor for Record {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let Written {
                zone,
                set,
                label,
                on_existing,
            } = self.written(ctx)?;
            let c = clients(ctx)?;
            // Taking over, this name's turn: held until the change is sent.
            let _turn = match on_existing {
                OnExisting::Adopt => Some(takeover_turn(&zone, &set).await),
                OnExisting::Refuse => None,
            };
            // What is there already, read before anything is written. A failed read is no empty
            // answer, and it wrote nothing: not a lost answer for the engine to look behind.
            ctx.progress
                .status(&format!("looking for records already at {label}"));
            let sets = at_name(c, &zone, &set).await.map_err(|mut e| {
                e.retryable = false;
                e
            })?;
            let there = conflicts(&set, &sets);
            // Solving an exercise, what is there is the learner's attempt: replaced, and not put
            // back by rollback (the run's own zone could not be deleted with it in).
            let attempt = ctx.solving;
            let mut previous = Vec::new();
            for found in there.iter().filter(|_| !attempt) {
                if on_existing == OnExisting::Refuse {
                    return Err(taken(&label, found));
                }
                previous.push(keep(found).map_err(|why| {
                    ActionError::new(format!(
                        "the record {} cannot be taken over: {why}",
                        describe_set(found)
                    ))
                    .hint("change it by hand, or write the failover records at another name")
                    .invalid_input()
                })?);
            }
            ctx.progress.status(&format!(
                "writing the record {label} → {}{}",
                set.alias_target().map_or("", |a| a.dns_name()),
                if there.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", {} {}",
                        if attempt {
                            "in place of the learner's"
                        } else {
                            "taking over"
                        },
                        there
                            .iter()
                            .map(|s| describe_set(s))
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                }
            ));
            // What rollback must put back is journaled before it is replaced: after a crash or a
            // lost answer it could not be read again (the change deleted it).
            let described: Vec<String> = if attempt {
                Vec::new()
            } else {
                there.iter().map(|s| describe_set(s)).collect()
            };
            if !previous.is_empty() {
                ctx.declare(json!({ "previous": previous, "changed": described }))
                    .await?;
            }
            // Created, never upserted: a record written there meanwhile is refused by Route 53
            // rather than overwritten. What is taken over goes in the same change batch.
            let mut changes: Vec<Change> = there
                .iter()
                .map(|old| change_of(ChangeAction::Delete, (*old).clone()))
                .collect::<Result<_, _>>()?;
            changes.push(change_of(ChangeAction::Create, set.clone())?);
            // An earlier change to the zone still in progress, or an alias target AWS cannot see
            // yet (a load balancer just created), settle by themselves.
            let settles = |code: &str, message: &str| {
                code == "PriorRequestNotComplete"
                    || (code == "InvalidChangeBatch" && message.contains("not found"))
            };
            let taken_over: Vec<ResourceRecordSet> = there.iter().map(|s| (*s).clone()).collect();
            let write = super::settle_errors(ctx, Duration::from_secs(300), settles, || {
                let changes = changes.clone();
                let (zone, set, taken_over) = (zone.clone(), set.clone(), taken_over.clone());
                async move {
                    let answer = match changes.as_slice() {
                        [one] => c.zone_changes.submit(&c.route53, &zone, one.clone()).await,
                        _ => super::batch::Sender::send(&c.route53, zone.clone(), changes).await,
                    };
                    match answer {
                        Err(e) if refused_resend(&e, !taken_over.is_empty()) => {
                            after_refusal(c, &zone, set, &taken_over, e).await
                        }
                        other => other,
                    }
                }
            });
            // Meanwhile, what an alias to a load balancer rests on is looked up for the failover
            // checks that follow (kept while the process runs): now, while ELBv2's ten reads a
            // second are spare, rather than in a class's drill, when sixty checks want them at
            // once. A failed look-up is not kept: the check asks again and reports it.
            let rests_on = async {
                if let Some(alias) = set.alias_target().filter(|a| a.evaluate_target_health()) {
                    let dns = alias_dns(alias);
                    if dns.contains(".elb.") {
                        let _ = super::failover::behind(c, &dns).await;
                    }
                }
            };
            let (written, ()) = tokio::join!(write, rests_on);
            let id = written.map_err(|mut err| {
                if err.message.contains("not found") || err.message.contains("does not lie within") {
                    err = err.hint("the alias target must exist and use the load balancer's own CanonicalHostedZoneId");
                } else if err.message.contains("already exists") {
                    err = err.hint("a record was written at this name meanwhile, by someone else: nothing was overwritten; look at the zone's records, then run again");
                }
                err
            })?;
            let mut outcome = record_outcome(ctx, &zone, label, id);
            if let Some(written) = outcome.resources.first_mut() {
                written.undo["previous"] = serde_json::Value::Array(previous);
                // Taken over: rollback puts these back (reported as undone, not removed).
                written.changed = described;
            }
            Ok(outcome)
        })
    }

    /// Taken up again after an interruption (a resume, a lost answer): the record exactly as
    /// the step writes it is the step's own (it is refused when there before, so only the step
    /// can have written it), and writing it again gives the change id to wait for, changing
    /// nothing. Rollback's look (`adopting: false`) claims no record (one there may be anyone's)
    /// unless the step declared a take-over before writing: then the record as written, with
    /// none of what it took over left, is the step's, and what it took over is put back.
    fn reconcile<'a>(&'a self, ctx: &'a Context<'a>) -> Reconciling<'a> {
        Box::pin(async move {
            // A take-over declared what it replaces before writing: its record, found as
            // written with none of those left, is the step's, even to rollback's look.
            let declared = ctx.declared.get();
            if !ctx.adopting && declared.is_none() {
                return Ok(None);
            }
            let (zone, set, label) = self.set(ctx)?;
            let c = clients(ctx)?;
            let sets = at_name(c, &zone, &set).await?;
            if !sets.iter().any(|s| same(s, &set)) {
                return Ok(None);
            }
            let previous: Vec<Json> = declared
                .as_ref()
                .and_then(|d| d["previous"].as_array().cloned())
                .unwrap_or_default();
            let taken_over: Vec<ResourceRecordSet> =
                previous.iter().map(restore).collect::<Result<_, _>>()?;
            if taken_over
                .iter()
                .any(|old| sets.iter().any(|s| same(s, old)))
            {
                // Its change was not made (a change batch is all or nothing).
                return Ok(None);
            }
            // Writing the same record again changes nothing and gives the change id to wait for;
            // rollback's look only reads.
            let id = if ctx.adopting {
                change(c, &zone, ChangeAction::Upsert, set).await?
            } else {
                String::new()
            };
            let mut outcome = record_outcome(ctx, &zone, label, id);
            if let (Some(written), Some(declared)) = (outcome.resources.first_mut(), &declared) {
                written.undo["previous"] = Json::Array(previous);
                written.changed = declared["changed"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect();
            }
            Ok(Some(outcome))
        })
    }

    /// In place when the record is there exactly as the step writes it; would fail when a record
    /// the step would refuse is there; else ready.
    fn evaluate<'a>(&'a self, ctx: &'a Context<'a>) -> Evaluating<'a> {
        Box::pin(async move {
            let Written {
                zone,
                set,
                label,
                on_existing,
            } = self.written(ctx)?;
            let c = clients(ctx)?;
            let sets = at_name(c, &zone, &set).await?;
            if sets.iter().any(|s| same(s, &set)) {
                return Ok((
                    Verdict::InPlace {
                        what: describe_set(&set),
                    },
                    None,
                ));
            }
            let there = conflicts(&set, &sets);
            let verdict = match (there.first(), on_existing) {
                (None, _) => Verdict::Ready {
                    why: format!("{label} is not there: the run would write it"),
                },
                (Some(found), OnExisting::Refuse) => {
                    let e = taken(&label, found);
                    Verdict::WouldFail {
                        reason: e.message,
                        fix: e.hint,
                    }
                }
                (Some(_), OnExisting::Adopt) => Verdict::Ready {
                    why: format!(
                        "the run would take over {} (on_existing: adopt)",
                        there
                            .iter()
                            .map(|s| describe_set(s))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                },
            };
            Ok((verdict, None))
        })
    }

    fn by_hand<'a>(&'a self, ctx: &'a Context<'a>, compare: &'a [String]) -> Checking<'a> {
        Box::pin(async move {
            let (zone, wanted, label) = self.set(ctx)?;
            let c = clients(ctx)?;
            let name = wanted.name().to_lowercase();
            let kind = wanted.r#type().as_str().to_owned();
            ctx.progress
                .status(&format!("looking for the record {label} in zone {zone}"));
            let sets = record_sets(c, &zone, Some((&name, &kind))).await?;
            let found = match hand_made(&wanted, &sets) {
                Ok(Some(found)) => found,
                Ok(None) => {
                    let seen = sets
                        .iter()
                        .filter(|s| s.name().eq_ignore_ascii_case(&name))
                        .map(describe_set)
                        .collect();
                    return Ok(ByHand::Nothing {
                        looked: format!(
                            "the records named {} of type {kind} in hosted zone {zone} ({})",
                            name.trim_end_matches('.'),
                            c.region
                        ),
                        seen,
                    });
                }
                Err(several) => {
                    return Ok(ByHand::Several {
                        candidates: several.into_iter().map(describe_set).collect(),
                    });
                }
            };
            let what = describe_set(found);
            let differences = differences(&wanted, found, &compared(compare));
            if !differences.is_empty() {
                return Ok(ByHand::Differs { what, differences });
            }
            // Right in everything checked: made the step's own by writing the step's record over
            // it (the same record, so nothing changes in DNS), which also gives the change id
            // that the step's INSYNC wait reads and makes undo delete exactly what it wrote.
            let change_id = if ctx.adopting {
                change(c, &zone, ChangeAction::Upsert, wanted.clone()).await?
            } else {
                String::new()
            };
            Ok(ByHand::Matches {
                outcome: record_outcome(ctx, &zone, label, change_id),
                what,
            })
        })
    }

    fn undo<'a>(&'a self, ctx: &'a Context<'a>, r: &'a Resource) -> Undoing<'a> {
        Box::pin(async move {
            let params = r.undo["params"].clone();
            let key_ctx = Context {
                params: &params,
                ..*ctx
            };
            let (zone, set, _) = self.set(&key_ctx)?;
            let c = clients(ctx)?;
            let previous: Vec<ResourceRecordSet> = r.undo["previous"]
                .as_array()
                .into_iter()
                .flatten()
                .map(restore)
                .collect::<Result<_, _>>()?;
            if !previous.is_empty() {
                return put_back(ctx, c, &zone, set, previous, &r.id).await;
            }
            ctx.progress
                .status(&format!("deleting the record {}", r.id));
            match change(c, &zone, ChangeAction::Delete, set).await {
                Ok(_) => Ok(Undone::Removed),
                Err(e) if e.code.as_deref() == Some("NoSuchHostedZone") => Ok(Undone::AlreadyGone),
                Err(e)
                    if e.code.as_deref() == Some("InvalidChangeBatch")
                        && e.message.contains("not found") =>
                {
                    Ok(Undone::AlreadyGone)
                }
                Err(e) => Err(e),
            }
        })
    }
}

/// Take-overs of one name and type in one zone, one at a time in this process. The PRIMARY and
/// SECONDARY steps of a pair that replaces a simple record run side by side: both would read the
/// simple record and both would delete it in their change, and the second change would be
/// refused (Route 53: the record to delete is gone) or, on an emulator, delete the first's record
/// with it. In turn, the second reads what the first left: its partner, which it keeps beside it.
async fn takeover_turn(zone: &str, set: &ResourceRecordSet) -> tokio::sync::OwnedMutexGuard<()> {
    type Turns =
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>;
    static TURNS: std::sync::LazyLock<Turns> = std::sync::LazyLock::new(Turns::default);
    let key = format!(
        "{zone} {} {}",
        set.name().trim_end_matches('.').to_lowercase(),
        set.r#type().as_str()
    );
    let turn = TURNS
        .lock()
        .expect("never poisoned")
        .entry(key)
        .or_default()
        .clone();
    turn.lock_owned().await
}

/// The records at `set`'s name and type (and those listed after them on the same page).
async fn at_name(
    c: &Clients,
    zone: &str,
    set: &ResourceRecordSet,
) -> Result<Vec<ResourceRecordSet>, ActionError> {
    record_sets(
        c,
        zone,
        Some((&set.name().to_lowercase(), set.r#type().as_str())),
    )
    .await
}

/// A record change, built.
fn change_of(action: ChangeAction, set: ResourceRecordSet) -> Result<Change, ActionError> {
    Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .map_err(|e| ActionError::new(format!("a record change could not be built: {e}")))
}

/// Whether Route 53 refused a change in a way a resend of it would be refused (what it creates
/// exists; for a take-over, what it deletes is gone): the first send may have been carried out
/// and its answer lost.
fn refused_resend(e: &ActionError, takes_over: bool) -> bool {
    e.message.contains("already exists")
        || (takes_over
            && e.code.as_deref() == Some("InvalidChangeBatch")
            && e.message.contains("not found"))
}

/// A write refused as a resend would be: look at the name. The zone as the write leaves it
/// (the record exactly as written, none of what it takes over) is the write done, its answer
/// lost: done, and what it took over is still kept for rollback to put back. With nothing in the
/// way (the emulator refuses to create again a record created and deleted before), the record
/// is written after all. Anything else was written there since it was read, by someone else:
/// refused. Either way the change id comes from writing the record again, which changes nothing.
async fn after_refusal(
    c: &Clients,
    zone: &str,
    set: ResourceRecordSet,
    taken_over: &[ResourceRecordSet],
    refused: ActionError,
) -> Result<String, ActionError> {
    let sets = at_name(c, zone, &set).await?;
    let done = sets.iter().any(|s| same(s, &set))
        && !taken_over
            .iter()
            .any(|old| sets.iter().any(|s| same(s, old)));
    let clear = conflicts(&set, &sets).is_empty() && refused.message.contains("already exists");
    if done || clear {
        return change(c, zone, ChangeAction::Upsert, set).await;
    }
    Err(refused)
}

/// A record step refused: `found` is at its name and the run did not write it.
fn taken(label: &str, found: &ResourceRecordSet) -> ActionError {
    ActionError::new(format!(
        "a record is already where {label} would go: {}; this run did not write it, and nothing was written",
        describe_set(found)
    ))
    .hint("writing over it would change what the site answers now, and rollback would delete it: choose another name (or set identifier), delete that record if it may go, or set `on_existing: adopt` on the step to take it over (rollback then puts it back exactly)")
    .invalid_input()
}

/// Undo a record that took over others: its own record out and theirs back, in one change, so
/// the name never answers with neither; theirs alone when its own is gone already.
async fn put_back(
    ctx: &Context<'_>,
    c: &Clients,
    zone: &str,
    own: ResourceRecordSet,
    previous: Vec<ResourceRecordSet>,
    label: &str,
) -> Result<Undone, ActionError> {
    ctx.progress.status(&format!(
        "putting back {} in place of the record {label}",
        previous
            .iter()
            .map(describe_set)
            .collect::<Vec<_>>()
            .join("; ")
    ));
    // A simple record cannot stand beside records with set identifiers: its partners of the
    // pair the run wrote in its place (the other failover record, whose undo runs beside this
    // one) must be gone first.
    if previous.iter().any(|p| p.set_identifier().is_none()) {
        partners_gone(ctx, c, zone, &own).await?;
    }
    // Upserted: what is put back is the record as it was, whatever holds its place now.
    let back: Vec<Change> = previous
        .into_iter()
        .map(|set| change_of(ChangeAction::Upsert, set))
        .collect::<Result<_, _>>()?;
    let mut both = vec![change_of(ChangeAction::Delete, own)?];
    both.extend(back.iter().cloned());
    match super::batch::Sender::send(&c.route53, zone.to_owned(), both).await {
        Ok(_) => Ok(Undone::Removed),
        Err(e) if e.code.as_deref() == Some("NoSuchHostedZone") => Ok(Undone::AlreadyGone),
        // Its own record is gone (deleted by hand): put theirs back all the same.
        Err(e)
            if e.code.as_deref() == Some("InvalidChangeBatch")
                && e.message.contains("not found") =>
        {
            super::batch::Sender::send(&c.route53, zone.to_owned(), back)
                .await
                .map(|_| Undone::AlreadyGone)
        }
        Err(e) => Err(e),
    }
}

/// How long a put-back of a simple record waits for the other records at its name to go.
const PARTNERS_GONE: Duration = Duration::from_secs(90);

/// Wait until no record but `own` with a set identifier is at its name and type: Route 53 refuses
/// a simple record beside them. Those left after [`PARTNERS_GONE`] are said, for a person to
/// remove (someone else's, or a partner whose undo failed).
async fn partners_gone(
    ctx: &Context<'_>,
    c: &Clients,
    zone: &str,
    own: &ResourceRecordSet,
) -> Result<(), ActionError> {
    let deadline = tokio::time::Instant::now() + PARTNERS_GONE;
    loop {
        let sets = at_name(c, zone, own).await?;
        let beside: Vec<String> = sets
            .iter()
            .filter(|s| {
                same_name(s, own)
                    && s.r#type() == own.r#type()
                    && s.set_identifier().is_some()
                    && s.set_identifier() != own.set_identifier()
            })
            .map(describe_set)
            .collect();
        if beside.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ActionError::new(format!(
                "the simple record cannot be put back at {}: Route 53 allows none beside {}",
                own.name().trim_end_matches('.'),
                beside.join("; ")
            ))
            .hint("remove those records (a rollback of the run that wrote them), then run this rollback again"));
        }
        ctx.progress.status(&format!(
            "waiting for {} to go: a simple record cannot be put back beside it",
            beside.join("; ")
        ));
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = ctx.cancel.cancelled() => return Err(ActionError::cancelled()),
        }
    }
}

/// An exercise's record, as a learner reads it: "lab.example.com A, set identifier lab-primary,
/// PRIMARY, alias to lab-primary-alb".
fn describe_set(set: &ResourceRecordSet) -> String {
    let mut text = format!(
        "{} {}",
        set.name().trim_end_matches('.'),
        set.r#type().as_str()
    );
    if let Some(id) = set.set_identifier() {
        text.push_str(&format!(", set identifier {id}"));
    }
    if let Some(role) = set.failover() {
        text.push_str(&format!(", {}", role.as_str()));
    }
    if let Some(weight) = set.weight() {
        text.push_str(&format!(", weight {weight}"));
    }
    match set.alias_target() {
        Some(alias) => text.push_str(&format!(", alias to {}", alias_name(alias))),
        None if set.failover().is_none() && set.weight().is_none() => {
            text.push_str(" (a simple record)");
        }
        None => {}
    }
    text
}

/// An alias target by the load balancer's name where its DNS name gives one (`lab-primary-alb`),
/// else by the DNS name.
fn alias_name(alias: &AliasTarget) -> String {
    let dns = alias_dns(alias);
    balancer_name(&dns).map_or(dns.clone(), str::to_owned)
}

/// What differs between the record a step writes (`wanted`) and one a learner made (`found`), in
/// the parameters compared, each in words.
fn differences(
    wanted: &ResourceRecordSet,
    found: &ResourceRecordSet,
    compare: &[String],
) -> Vec<String> {
    let compared = |p: &str| compare.iter().any(|c| c == p);
    let mut out = Vec::new();
    if compared("set_identifier") && wanted.set_identifier() != found.set_identifier() {
        out.push(format!(
            "the record's set identifier is {}; this step needs {}",
            found.set_identifier().unwrap_or("(none)"),
            wanted.set_identifier().unwrap_or("(none)")
        ));
    }
    if compared("role") && wanted.failover() != found.failover() {
        out.push(match found.failover() {
            Some(role) => format!(
                "the record's failover role is {}; this step needs {}",
                role.as_str(),
                wanted.failover().map_or("none", |r| r.as_str())
            ),
            None => format!(
                "the record's routing policy is not failover; this step needs a failover record with role {}",
                wanted.failover().map_or("none", |r| r.as_str())
            ),
        });
    }
    if compared("weight") && wanted.weight() != found.weight() {
        out.push(format!(
            "the record's weight is {}; this step needs {}",
            found
                .weight()
                .map_or("(none)".to_owned(), |w| w.to_string()),
            wanted
                .weight()
                .map_or("(none)".to_owned(), |w| w.to_string())
        ));
    }
    if compared("alias") {
        match (wanted.alias_target(), found.alias_target()) {
            (Some(w), Some(f)) => {
                if alias_dns(w) != alias_dns(f) {
                    out.push(format!(
                        "the alias points at {}; it should point at {}",
                        alias_name(f),
                        alias_name(w)
                    ));
                } else if w.hosted_zone_id() != f.hosted_zone_id() {
                    out.push(format!(
                        "the alias's hosted zone id is {}; the load balancer's is {}",
                        f.hosted_zone_id(),
                        w.hosted_zone_id()
                    ));
                }
                if w.evaluate_target_health() != f.evaluate_target_health() {
                    out.push(format!(
                        "\"Evaluate target health\" is {}; this step needs it {}",
                        if f.evaluate_target_health() {
                            "on"
                        } else {
                            "off"
                        },
                        if w.evaluate_target_health() {
                            "on"
                        } else {
                            "off"
                        }
                    ));
                }
            }
            (Some(w), None) => out.push(format!(
                "the record is not an alias; it should be an alias to {}",
                alias_name(w)
            )),
            _ => {}
        }
    }
    if compared("health_check_id") && wanted.health_check_id() != found.health_check_id() {
        out.push(format!(
            "the record's health check is {}; this step needs {}",
            found.health_check_id().unwrap_or("none"),
            wanted.health_check_id().unwrap_or("none")
        ));
    }
    out
}

/// The record a learner made for `wanted`, among the zone's records of its name and type: the
/// one with its set identifier; else the only one with its failover role (or, for a failover
/// record, the only failover record there).
fn hand_made<'s>(
    wanted: &ResourceRecordSet,
    sets: &'s [ResourceRecordSet],
) -> Result<Option<&'s ResourceRecordSet>, Vec<&'s ResourceRecordSet>> {
    let here: Vec<&ResourceRecordSet> = sets
        .iter()
        .filter(|s| s.name().eq_ignore_ascii_case(wanted.name()) && s.r#type() == wanted.r#type())
        .collect();
    if let Some(same) = here
        .iter()
        .find(|s| s.set_identifier() == wanted.set_identifier())
    {
        return Ok(Some(same));
    }
    let pick = |c: Vec<&'s ResourceRecordSet>| match c.len() {
        0 => Ok(None),
        1 => Ok(Some(c[0])),
        _ => Err(c),
    };
    let same_role: Vec<_> = here
        .iter()
        .copied()
        .filter(|s| wanted.failover().is_some() && s.failover() == wanted.failover())
        .collect();
    if !same_role.is_empty() {
        return pick(same_role);
    }
    if wanted.failover().is_some() {
        let failover: Vec<_> = here
            .iter()
            .copied()
            .filter(|s| s.failover().is_some())
            .collect();
        if failover.len() == 1 {
            return Ok(Some(failover[0]));
        }
    }
    // A simple record where the step wants a failover one: that is what the learner made.
    let simple: Vec<_> = here
        .iter()
        .copied()
        .filter(|s| s.set_identifier().is_none())
        .collect();
    pick(simple)
}

/// The parameters an exercise compares, and always the set identifier (it names the record:
/// adopting one with another identifier would leave the step's own unwritten).
fn compared(compare: &[String]) -> Vec<String> {
    let mut compared: Vec<String> = compare.to_vec();
    if !compared.iter().any(|c| c == "set_identifier") {
        compared.push("set_identifier".to_owned());
    }
    compared
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(set_id: Option<&str>, role: Option<&str>, dns: &str) -> ResourceRecordSet {
        let mut b = ResourceRecordSet::builder()
            .name("shop.example.org.")
            .r#type(RrType::A)
            .set_set_identifier(set_id.map(str::to_owned))
            .set_failover(role.map(ResourceRecordSetFailover::from));
        b = if dns.is_empty() {
            b.ttl(300).resource_records(
                ResourceRecord::builder()
                    .value("192.0.2.10")
                    .build()
                    .unwrap(),
            )
        } else {
            b.alias_target(
                AliasTarget::builder()
                    .dns_name(dns)
                    .hosted_zone_id("ZP97RAFLXTNZK")
                    .evaluate_target_health(true)
                    .build()
                    .unwrap(),
            )
        };
        b.build().unwrap()
    }

    /// A record conflicts by its set identifier, its failover role, or by being a simple record;
    /// the other role's record, and other names, do not.
    #[test]
    fn what_a_failover_record_would_replace_or_be_refused_beside() {
        let wanted = record(
            Some("shop-primary"),
            Some("PRIMARY"),
            "a.ap-south-1.elb.amazonaws.com",
        );
        let same_id = record(
            Some("shop-primary"),
            Some("SECONDARY"),
            "b.elb.amazonaws.com",
        );
        let same_role = record(Some("old-primary"), Some("PRIMARY"), "c.elb.amazonaws.com");
        let other_role = record(
            Some("shop-secondary"),
            Some("SECONDARY"),
            "d.elb.amazonaws.com",
        );
        let simple = record(None, None, "");
        let sets = vec![
            same_id.clone(),
            same_role.clone(),
            other_role,
            simple.clone(),
        ];
        let found = conflicts(&wanted, &sets);
        assert_eq!(found, [&same_id, &same_role, &simple]);
        let mut www = ResourceRecordSet::builder()
            .name("www.example.org.")
            .r#type(RrType::A);
        www = www.ttl(60).resource_records(
            ResourceRecord::builder()
                .value("192.0.2.1")
                .build()
                .unwrap(),
        );
        assert!(conflicts(&wanted, &[www.build().unwrap()]).is_empty());
        assert!(same(&wanted, &wanted.clone()));
        assert!(!same(&wanted, &same_role));
    }

    /// A record kept in the journal comes back exactly as it was, alias or values; a routing
    /// policy the copy cannot hold is refused rather than put back wrong.
    #[test]
    fn a_kept_record_is_put_back_exactly() {
        for set in [
            record(
                Some("old"),
                Some("PRIMARY"),
                "old-alb-1.us-east-1.elb.amazonaws.com",
            ),
            record(None, None, ""),
        ] {
            let kept = keep(&set).unwrap();
            let back = restore(&serde_json::from_str(&kept.to_string()).unwrap()).unwrap();
            assert_eq!(back, set);
        }
        let geo = ResourceRecordSet::builder()
            .name("shop.example.org.")
            .r#type(RrType::A)
            .set_identifier("eu")
            .geo_location(
                aws_sdk_route53::types::GeoLocation::builder()
                    .continent_code("EU")
                    .build(),
            )
            .ttl(60)
            .resource_records(
                ResourceRecord::builder()
                    .value("192.0.2.1")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert!(keep(&geo).unwrap_err().contains("geolocation"));
        assert!(restore(&json!({"type": "A"})).is_err());
    }

    use aws_sdk_route53::types::ResourceRecordSet;

    fn alias(stack: &str, evaluate: bool) -> Alias {
        Alias {
            dns_name: format!("lab-{stack}-alb-123456.ap-south-1.elb.amazonaws.com"),
            hosted_zone_id: "ZP97RAFLXTNZK".into(),
            evaluate_target_health: evaluate,
        }
    }

    fn failover(set_id: &str, role: Role, stack: &str, evaluate: bool) -> ResourceRecordSet {
        record_set(
            "lab.class.example",
            "A",
            set_id,
            &alias(stack, evaluate),
            None,
            Some(role),
            None,
        )
        .unwrap()
    }

    fn all() -> Vec<String> {
        ["role", "alias", "set_identifier", "health_check_id"]
            .map(str::to_owned)
            .to_vec()
    }

    /// A learner's PRIMARY record made with the wrong role and pointing at the wrong load
    /// balancer: each difference in words, naming the load balancers.
    #[test]
    fn each_difference_of_a_hand_made_record_is_said_in_words() {
        let wanted = failover("lab-primary", Role::Primary, "primary", true);
        let made = failover("lab-primary", Role::Secondary, "secondary", false);
        assert_eq!(
            differences(&wanted, &made, &all()),
            [
                "the record's failover role is SECONDARY; this step needs PRIMARY",
                "the alias points at lab-secondary-alb; it should point at lab-primary-alb",
                "\"Evaluate target health\" is off; this step needs it on",
            ]
        );
        assert!(differences(&wanted, &wanted.clone(), &all()).is_empty());
        assert_eq!(
            differences(&wanted, &made, &["role".to_owned()]).len(),
            1,
            "only the parameters checked"
        );
    }

    /// Found by set identifier first, else by role, else the only failover record there; two
    /// records in the role are "several"; another name is never taken.
    #[test]
    fn the_hand_made_record_is_found_by_identifier_then_role() {
        let wanted = failover("lab-primary", Role::Primary, "primary", true);
        let other_id = failover("mine", Role::Primary, "primary", true);
        let wrong_role = failover("mine", Role::Secondary, "primary", true);
        let sets = [wrong_role.clone()];
        assert_eq!(hand_made(&wanted, &sets), Ok(Some(&wrong_role)));
        let sets = [other_id.clone(), wrong_role.clone()];
        assert_eq!(hand_made(&wanted, &sets), Ok(Some(&other_id)));
        let exact = failover("lab-primary", Role::Secondary, "primary", true);
        let sets = [other_id.clone(), exact.clone()];
        assert_eq!(hand_made(&wanted, &sets), Ok(Some(&exact)));
        let elsewhere = record_set(
            "other.class.example",
            "A",
            "lab-primary",
            &alias("primary", true),
            None,
            Some(Role::Primary),
            None,
        )
        .unwrap();
        assert_eq!(hand_made(&wanted, &[elsewhere]), Ok(None));
        assert_eq!(
            describe_set(&wrong_role),
            "lab.class.example A, set identifier mine, SECONDARY, alias to lab-primary-alb"
        );
    }
}
