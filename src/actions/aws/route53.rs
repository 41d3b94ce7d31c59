//! Route 53: hosted zones, failover and weighted records, health checks, changes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::actions::{ActionDef, Effect, Exercisable, Outputs, Params, Usage, out};

fn record_a() -> String {
    "A".into()
}

/// Find a hosted zone by name, or create it.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.route53.hosted_zone")]
pub struct HostedZoneParams {
    /// The domain, for example `example.com`.
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// In a class (a run labelled `runbook:class`), the zone belongs to the class rather than to
    /// this run: found or created once for every student, tagged with the class only, and never
    /// deleted by one run's rollback; `runbook rollback --class` or `runbook sweep --tag
    /// runbook:class=NAME` removes it after the students' records. Outside a class it changes
    /// nothing.
    #[serde(default)]
    pub shared: bool,
    /// The zone's id (`Z…`), to choose one when several public zones have this name (Route 53
    /// allows it; only the one the registrar lists answers the internet). A zone chosen by id is
    /// used, never created or deleted. Empty: found by name, and several are refused.
    #[serde(default, deserialize_with = "super::defaults::empty_is_none")]
    pub id: Option<String>,
}

/// The target of an alias record.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "alias")]
pub struct Alias {
    /// The load balancer's DNS name.
    pub dns_name: String,
    /// The load balancer's canonical hosted zone id (not the zone of the record).
    pub hosted_zone_id: String,
    /// Answer with this record only while the target is healthy.
    #[serde(default = "super::defaults::yes")]
    pub evaluate_target_health: bool,
}

/// PRIMARY or SECONDARY.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[serde(alias = "PRIMARY")]
    Primary,
    #[serde(alias = "SECONDARY")]
    Secondary,
}

/// Create or update a failover alias record.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.route53.failover_record")]
pub struct FailoverRecordParams {
    pub zone_id: String,
    /// The record name, for example `example.com` or `www.example.com`.
    pub name: String,
    #[serde(default = "record_a", rename = "type")]
    pub kind: String,
    pub role: Role,
    /// Distinguishes the records that share a name and type.
    pub set_identifier: String,
    pub alias: Alias,
    #[serde(default)]
    pub health_check_id: Option<String>,
    /// A record already at this name and type that this run did not write (the same set
    /// identifier, the same failover role, or a simple record): `refuse` (the default) stops
    /// before writing anything; `adopt` takes it over, and rollback puts it back as it was.
    #[serde(default)]
    pub on_existing: super::existing::OnExisting,
}

/// Create or update a weighted alias record.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.route53.weighted_record")]
pub struct WeightedRecordParams {
    pub zone_id: String,
    pub name: String,
    #[serde(default = "record_a", rename = "type")]
    pub kind: String,
    /// 0 to 255; the share of answers is this weight over the sum of the weights.
    pub weight: u8,
    pub set_identifier: String,
    pub alias: Alias,
    #[serde(default)]
    pub health_check_id: Option<String>,
    /// A record already at this name and type that this run did not write (the same set
    /// identifier, the same failover role, or a simple record): `refuse` (the default) stops
    /// before writing anything; `adopt` takes it over, and rollback puts it back as it was.
    #[serde(default)]
    pub on_existing: super::existing::OnExisting,
}

fn thirty() -> u32 {
    30
}

fn three() -> u32 {
    3
}

/// Create a Route 53 HTTP health check.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.route53.health_check")]
pub struct HealthCheckParams {
    /// The host name to check.
    pub fqdn: String,
    #[serde(default = "super::defaults::port_80")]
    pub port: u16,
    #[serde(default = "super::defaults::slash")]
    pub path: String,
    /// 10 or 30 seconds.
    #[serde(default = "thirty")]
    pub interval_seconds: u32,
    #[serde(default = "three")]
    pub failure_threshold: u32,
}

/// Wait until a change is INSYNC.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.route53.wait_change")]
pub struct WaitChangeParams {
    pub change_id: String,
}

/// Which record of a failover pair Route 53 would answer with.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.route53.check_failover")]
pub struct CheckFailoverParams {
    pub zone_id: String,
    pub name: String,
    #[serde(default = "record_a", rename = "type")]
    pub kind: String,
    /// Wait until Route 53 would answer with this record; fail if it does not within `within`.
    #[serde(default)]
    pub expect: Option<Role>,
    /// How long to wait for the `expect`ed answer (on AWS a failover takes minutes: two failed
    /// health checks 30 s apart, then the records' TTL).
    #[serde(default = "six_minutes")]
    pub within: crate::runbook::format::DurationText,
    /// A time (RFC 3339, for example a stop step's `stopped_at`) to measure the answer from.
    #[serde(default)]
    pub since: Option<String>,
}

fn six_minutes() -> crate::runbook::format::DurationText {
    crate::runbook::format::DurationText(Duration::from_secs(360))
}

fn hosted_zone_usage(_: &serde_json::Value) -> Usage {
    Usage {
        hourly: Some(super::cost::half_dollar_monthly(
            "a hosted zone, if created",
        )),
        ..Usage::default()
    }
}

fn health_check_usage(_: &serde_json::Value) -> Usage {
    Usage {
        hourly: Some(super::cost::half_dollar_monthly("a health check")),
        ..Usage::default()
    }
}

/// The record slot a record step writes, when its name is known before the run.
fn record_slot(params: &serde_json::Value, which: Option<String>) -> Usage {
    let name = params["name"]
        .as_str()
        .filter(|n| !n.starts_with("(known after run"));
    let kind = params["type"].as_str().unwrap_or("A");
    match (name, which) {
        (Some(name), Some(which)) => Usage {
            records: vec![crate::actions::Slot {
                name: name.trim_end_matches('.').to_lowercase(),
                kind: kind.to_uppercase(),
                which,
            }],
            ..Usage::default()
        },
        _ => Usage::default(),
    }
}

fn failover_usage(params: &serde_json::Value) -> Usage {
    record_slot(params, params["role"].as_str().map(str::to_uppercase))
}

fn weighted_usage(params: &serde_json::Value) -> Usage {
    record_slot(
        params,
        params["set_identifier"]
            .as_str()
            .filter(|s| !s.starts_with("(known after run"))
            .map(|s| format!("set {s}")),
    )
}

pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "aws.route53.hosted_zone",
        summary: "Find a public hosted zone by exact name, or create it.",
        docs: "A hosted zone holds a domain's DNS records; Route 53 gives it four name servers, which the \
               registrar must point at. With `shared: true` in a class run the zone is the class's: \
               created once for all students, removed by `rollback --class`. Console: Route 53 › Hosted zones.",
        effect: Effect::Creates,
        params: Params::of::<HostedZoneParams>(),
        outputs: Outputs::Fixed(&[
            out("zone_id", "string", "The zone's id."),
            out("name_servers", "list", "Its four name servers."),
            out("created", "boolean", "Whether this run created it."),
        ]),
        undo: Some(
            "deletes the zone, only if this run created it (and it is not a class's shared zone), after removing the records this run added",
        ),
        executor: &HostedZone,
        cli: Some(super::aws_cli::hosted_zone),
        creates: &[super::kinds::HOSTED_ZONE],
        noun: Some("hosted zone (unless it exists)"),
        usage: Some(hosted_zone_usage),
        exercise: None,
    },
    ActionDef {
        name: "aws.route53.failover_record",
        summary: "Create a PRIMARY or SECONDARY failover alias record (never over one the run did not write).",
        docs: "Route 53 answers with the PRIMARY record while it is healthy, else with the SECONDARY. With \
               `evaluate_target_health`, an alias to a load balancer is healthy while its target group has a \
               healthy target. Console: Route 53 › Hosted zones › <zone> › Create record › Routing policy: \
               Failover.",
        effect: Effect::Creates,
        params: Params::of::<FailoverRecordParams>(),
        outputs: Outputs::Fixed(&[out("change_id", "string", "The change to wait for.")]),
        undo: Some("deletes exactly this record, or puts back the record it took over"),
        executor: &Record { weighted: false },
        cli: Some(super::aws_cli::failover_record),
        creates: &[super::kinds::RECORD],
        noun: Some("failover record"),
        usage: Some(failover_usage),
        exercise: Some(Exercisable {
            looks: "the zone's records of the step's name and type: the one with its set identifier, else the one with its failover role",
            compares: &["role", "alias", "set_identifier", "health_check_id"],
            watch: false,
        }),
    },
    ActionDef {
        name: "aws.route53.weighted_record",
        summary: "Create a weighted alias record (never over one the run did not write).",
        docs: "Route 53 answers with each record in proportion to its weight. Console: Route 53 › Hosted \
               zones › <zone> › Create record › Routing policy: Weighted.",
        effect: Effect::Creates,
        params: Params::of::<WeightedRecordParams>(),
        outputs: Outputs::Fixed(&[out("change_id", "string", "The change to wait for.")]),
        undo: Some("deletes exactly this record, or puts back the record it took over"),
        executor: &Record { weighted: true },
        cli: Some(super::aws_cli::weighted_record),
        creates: &[super::kinds::RECORD],
        noun: Some("weighted record"),
        usage: Some(weighted_usage),
        exercise: Some(Exercisable {
            looks: "the zone's records of the step's name and type: the one with its set identifier",
            compares: &["weight", "alias", "set_identifier", "health_check_id"],
            watch: false,
        }),
    },
    ActionDef {
        name: "aws.route53.health_check",
        summary: "Create an HTTP health check.",
        docs: "Route 53 health checkers request the endpoint from several regions. Console: Route 53 › \
               Health checks.",
        effect: Effect::Creates,
        params: Params::of::<HealthCheckParams>(),
        outputs: Outputs::Fixed(&[out("health_check_id", "string", "The health check's id.")]),
        undo: Some("deletes the health check"),
        executor: &super::life::Life(HealthCheck),
        cli: Some(super::aws_cli::health_check),
        creates: &[HEALTH_CHECK],
        noun: Some("health check"),
        usage: Some(health_check_usage),
        exercise: None,
    },
    ActionDef {
        name: "aws.route53.wait_change",
        summary: "Wait until a change is INSYNC on all Route 53 name servers.",
        docs: "A change is PENDING until every Route 53 name server has it, usually within 60 seconds.",
        effect: Effect::Reads,
        params: Params::of::<WaitChangeParams>(),
        outputs: Outputs::Fixed(&[out("status", "string", "The last status seen.")]),
        undo: None,
        executor: &WaitChange,
        cli: Some(super::aws_cli::wait_change),
        creates: &[],
        noun: None,
        usage: None,
        exercise: None,
    },
    ActionDef {
        name: "aws.route53.check_failover",
        summary: "Tell which record of a failover pair Route 53 would answer with, and why.",
        docs: "Reads the PRIMARY and SECONDARY records for a name, evaluates each alias target through its \
               load balancer's target health (or each health check) and reports which one Route 53 would \
               answer with; on AWS it also asks Route 53 itself (TestDNSAnswer). With `expect` it waits until \
               that is the answer (up to `within`), and `since` reports how long after a given time it came.",
        effect: Effect::Reads,
        params: Params::of::<CheckFailoverParams>(),
        outputs: Outputs::Fixed(&[
            out("answer", "string", "`primary` or `secondary`."),
            out("reason", "string", "Why."),
            out(
                "seconds_since",
                "number",
                "Seconds from `since` to the answer (with `since`).",
            ),
        ]),
        undo: None,
        executor: &super::failover::CheckFailover,
        cli: Some(super::aws_cli::check_failover),
        creates: &[],
        noun: None,
        usage: None,
        exercise: None,
    },
];

// ---- Execution -------------------------------------------------------------------------------

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeStatus, HealthCheckConfig, HealthCheckType,
    ResourceRecordSet, ResourceRecordSetFailover, RrType, Tag, TagResourceType,
};

use super::client::{Clients, clients};
use super::kinds::{HEALTH_CHECK, ResourceKind};
use super::life::{Creating, Make, Step, made};
use super::shared::Answer;
use super::{Seen, code, sdk_error, standard_tags};
use crate::engine::action::{
    ActionError, ByHand, Checking, Context, Executor, Outcome, Reconciling, Resource, Running,
    Undoing, Undone,
};

fn built<T>(
    r: Result<T, aws_smithy_types::error::operation::BuildError>,
) -> Result<T, ActionError> {
    r.map_err(|e| ActionError::new(format!("incomplete Route 53 request: {e}")).invalid_input())
}

/// `example.com.` for `example.com`, and the zone id without its `/hostedzone/` prefix.
pub(super) fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

pub(super) fn bare_id(id: &str) -> String {
    id.rsplit('/').next().unwrap_or(id).to_owned()
}

/// Find-or-create of one zone name is serialized within the process, so concurrent runs never
/// create the same zone twice.
static ZONE_LOCKS: LazyLock<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

fn zone_lock(name: &str) -> Arc<tokio::sync::Mutex<()>> {
    ZONE_LOCKS
        .lock()
        .expect("never poisoned")
        .entry(fqdn(name).to_lowercase())
        .or_default()
        .clone()
}

/// The public zone of that name: its id, and whether the step with `key` created it (its caller
/// reference starts with the key, which holds even when a crash came before it was tagged).
/// The public zone of this name the step uses, and whether this step's key made it: the one
/// chosen by `id`, else the one this step made, else the only one. Several, none of them this
/// step's, are refused (the run would verify failover in a zone the internet may not ask), naming
/// each, before anything else of the run is made (the zone's step goes first).
pub(super) async fn find_zone(
    c: &Clients,
    p: &HostedZoneParams,
    key: &str,
) -> Result<Option<(String, bool)>, ActionError> {
    let wanted = fqdn(&p.name).to_lowercase();
    if let Some(id) = &p.id {
        let zone = c.route53.get_hosted_zone().id(id).send().await;
        let zone = match zone {
            Ok(out) => out,
            Err(e) if code(&e).as_deref() == Some("NoSuchHostedZone") => {
                return Err(ActionError::new(format!("there is no hosted zone {id}"))
                    .hint(format!("list the zones named {} with `aws route53 list-hosted-zones-by-name --dns-name {}`, or leave the zone id empty to find it by name", p.name, p.name))
                    .invalid_input());
            }
            Err(e) => return Err(sdk_error("GetHostedZone", &e)),
        };
        let name = zone
            .hosted_zone()
            .map(|z| z.name().to_lowercase())
            .unwrap_or_default();
        if name != wanted {
            return Err(ActionError::new(format!(
                "hosted zone {id} is {}, not {}",
                name.trim_end_matches('.'),
                p.name
            ))
            .hint("give the id of a zone with the step's name")
            .invalid_input());
        }
        return Ok(Some((bare_id(id), false)));
    }
    let out = c
        .route53
        .list_hosted_zones_by_name()
        .dns_name(&wanted)
        .send()
        .await
        .map_err(|e| sdk_error("ListHostedZonesByName", &e))?;
    let zones: Vec<(String, bool)> = out
        .hosted_zones()
        .iter()
        .filter(|z| {
            z.name().to_lowercase() == wanted
                && !z
                    .config()
                    .is_some_and(aws_sdk_route53::types::HostedZoneConfig::private_zone)
        })
        .map(|z| {
            (
                bare_id(z.id()),
                z.caller_reference().starts_with(&format!("{key}-")),
            )
        })
        .collect();
    if let Some(mine) = zones.iter().find(|(_, made_here)| *made_here) {
        return Ok(Some(mine.clone()));
    }
    match zones.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        several => {
            let ids: Vec<&str> = several.iter().map(|(id, _)| id.as_str()).collect();
            Err(ActionError::new(format!(
                "{} public hosted zones are named {}: {}; Route 53 answers the internet only from the one the domain's registrar lists",
                ids.len(),
                p.name,
                ids.join(", ")
            ))
            .hint(format!(
                "choose one with `--var zone_id={}` (the hosted_zone step's `id`), or delete the one left over (Route 53 › Hosted zones)",
                ids[0]
            ))
            .invalid_input())
        }
    }
}

/// Why Route 53 refused to create a zone, in words: a name it reserves says so and what to do.
fn refused_zone(name: &str, e: ActionError) -> ActionError {
    if e.code.as_deref() == Some("InvalidDomainName") && e.message.contains("reserved") {
        return ActionError::new(format!(
            "{name} is reserved by AWS: Route 53 makes no hosted zone for it (nor for any name under example.com, .net or .org, .example, .test, .invalid or .localhost)"
        ))
        .hint("use a domain you own (`--var domain=…`), or run the local lab (`scripts/lab`), which needs no AWS account")
        .invalid_input();
    }
    e
}

async fn zone_outcome(c: &Clients, id: &str, created: bool) -> Result<Outcome, ActionError> {
    let zone = c
        .route53
        .get_hosted_zone()
        .id(id)
        .send()
        .await
        .map_err(|e| sdk_error("GetHostedZone", &e))?;
    let servers: Vec<String> = zone
        .delegation_set()
        .map(|d| d.name_servers().to_vec())
        .unwrap_or_default();
    let mut o = Outcome::default();
    o.outputs.insert("zone_id".into(), id.into());
    o.outputs.insert("name_servers".into(), servers.into());
    o.outputs.insert("created".into(), created.into());
    if created {
        o.resources.push(Resource {
            kind: super::kinds::HOSTED_ZONE.into(),
            id: id.to_owned(),
            undo: serde_json::Value::Null,
            changed: Vec::new(),
            region: None,
        });
    }
    Ok(o)
}

/// A zone's or health check's tags.
pub(super) async fn tags_of(
    c: &Clients,
    kind: TagResourceType,
    id: &str,
) -> Result<Vec<Tag>, ActionError> {
    let out = c
        .route53
        .list_tags_for_resource()
        .resource_type(kind)
        .resource_id(id)
        .send()
        .await
        .map_err(|e| sdk_error("ListTagsForResource", &e))?;
    Ok(out
        .resource_tag_set()
        .map(|s| s.tags().to_vec())
        .unwrap_or_default())
}

async fn tagged_with_key(
    c: &Clients,
    kind: TagResourceType,
    id: &str,
    key: &str,
) -> Result<bool, ActionError> {
    let tags = tags_of(c, kind, id).await?;
    Ok(super::tags::has(
        super::tags::route53(&tags),
        super::tags::KEY,
        key,
    ))
}

fn route53_tags(ctx: &Context<'_>, name: &str) -> Vec<Tag> {
    standard_tags(ctx, Some(name), &super::Tags::new())
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The class whose shared zone this is: `shared: true` in a run labelled `runbook:class`.
fn class_of<'c>(ctx: &'c Context<'_>, p: &HostedZoneParams) -> Option<&'c str> {
    if !p.shared {
        return None;
    }
    ctx.labels
        .iter()
        .find(|(k, _)| k == "runbook:class")
        .map(|(_, v)| v.as_str())
}

/// A class's zone carries the class (and its expiry), not the run or student that happened to
/// create it: `sweep --tag runbook:student=…` must not take the whole class's zone.
fn class_zone_tags(ctx: &Context<'_>, name: &str) -> Vec<Tag> {
    let mut tags = vec![("Name".to_owned(), name.to_owned())];
    tags.extend(
        ctx.labels
            .iter()
            .filter(|(k, _)| k == "runbook:class" || k == "runbook:expires")
            .cloned(),
    );
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Tag a zone the step made: a class's zone with the class, any other with the run's tags.
async fn tag_zone(
    ctx: &Context<'_>,
    c: &Clients,
    id: &str,
    p: &HostedZoneParams,
) -> Result<(), ActionError> {
    let tags = match class_of(ctx, p) {
        Some(_) => class_zone_tags(ctx, &p.name),
        None => route53_tags(ctx, &p.name),
    };
    c.route53
        .change_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(id)
        .set_add_tags(Some(tags))
        .send()
        .await
        .map_err(|e| sdk_error("ChangeTagsForResource", &e))?;
    Ok(())
}

pub(super) struct HostedZone;

impl Executor for HostedZone {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: HostedZoneParams = ctx.params()?;
            let c = clients(ctx)?;
            let lock = zone_lock(&p.name);
            let _held = lock.lock().await;
            ctx.progress
                .status(&format!("looking for the hosted zone {}", p.name));
            let class = class_of(ctx, &p);
            if let Some((id, made_here)) = find_zone(c, &p, ctx.key).await? {
                let mine = class.is_none()
                    && (made_here
                        || tagged_with_key(c, TagResourceType::Hostedzone, &id, ctx.key).await?);
                return zone_outcome(c, &id, mine).await;
            }
            ctx.progress
                .status(&format!("creating the hosted zone {}", p.name));
            let mut req = c
                .route53
                .create_hosted_zone()
                .name(&p.name)
                .caller_reference(format!("{}-{}", ctx.key, crate::engine::journal::now()));
            if let Some(comment) = &p.comment {
                req = req.hosted_zone_config(
                    aws_sdk_route53::types::HostedZoneConfig::builder()
                        .comment(comment)
                        .build(),
                );
            }
            let id = match req.send().await {
                Ok(out) => bare_id(
                    out.hosted_zone()
                        .map(aws_sdk_route53::types::HostedZone::id)
                        .ok_or_else(|| ActionError::new("AWS answered without the zone's id"))?,
                ),
                // The answer to this very request was lost and the SDK sent it again: AWS made
                // the zone the first time and refuses the same caller reference. Adopt it.
                Err(e) if code(&e).as_deref() == Some("HostedZoneAlreadyExists") => {
                    match find_zone(c, &p, ctx.key).await? {
                        Some((id, true)) => id,
                        _ => return Err(sdk_error("CreateHostedZone", &e)),
                    }
                }
                Err(e) => return Err(refused_zone(&p.name, sdk_error("CreateHostedZone", &e))),
            };
            tag_zone(ctx, c, &id, &p).await?;
            let mut outcome = zone_outcome(c, &id, class.is_none()).await?;
            if class.is_some() {
                outcome.outputs.insert("created".into(), true.into());
                ctx.progress.message(&format!(
                    "created {} for the class: `runbook rollback --class` removes it",
                    p.name
                ));
            }
            Ok(outcome)
        })
    }

    fn looks(&self) -> bool {
        true
    }

    fn reconcile<'a>(&'a self, ctx: &'a Context<'a>) -> Reconciling<'a> {
        Box::pin(async move {
            let p: HostedZoneParams = ctx.params()?;
            let c = clients(ctx)?;
            let Some((id, made_here)) = find_zone(c, &p, ctx.key).await? else {
                return Ok(None);
            };
            let mine = class_of(ctx, &p).is_none()
                && (made_here
                    || tagged_with_key(c, TagResourceType::Hostedzone, &id, ctx.key).await?);
            if made_here && ctx.adopting {
                // A crash between creating and tagging: tag it now, as the create would have.
                tag_zone(ctx, c, &id, &p).await?;
            }
            zone_outcome(c, &id, mine).await.map(Some)
        })
    }

    fn undo<'a>(&'a self, ctx: &'a Context<'a>, r: &'a Resource) -> Undoing<'a> {
        Box::pin(super::life::undo(ctx, r))
    }
}

/// Delete a hosted zone; one that still holds records no undo removed is kept, and says which.
pub(super) async fn delete_zone(
    ctx: &Context<'_>,
    c: &Clients,
    r: &Resource,
) -> Result<Undone, ActionError> {
    ctx.progress
        .status(&format!("deleting the hosted zone {}", r.id));
    match c.route53.delete_hosted_zone().id(&r.id).send().await {
        Ok(_) => Ok(Undone::Removed),
        Err(e) if code(&e).as_deref() == Some("NoSuchHostedZone") => Ok(Undone::AlreadyGone),
        Err(e) if code(&e).as_deref() == Some("HostedZoneNotEmpty") => {
            Err(kept_zone(c, &r.id).await)
        }
        Err(e) => Err(sdk_error("DeleteHostedZone", &e)),
    }
}

/// Why a zone is kept: the records in it that no undo removed (someone else's, or a run's not
/// rolled back), each named, and how to delete them by hand. Nothing is deleted that no run made.
async fn kept_zone(c: &Clients, id: &str) -> ActionError {
    use aws_sdk_route53::types::RrType;
    let held: Vec<String> = match record_sets(c, id, None).await {
        Ok(sets) => sets
            .iter()
            .filter(|r| !matches!(r.r#type(), RrType::Ns | RrType::Soa))
            .map(|r| {
                let mut what =
                    format!("{} {}", r.name().trim_end_matches('.'), r.r#type().as_str());
                if let Some(set) = r.set_identifier() {
                    what.push_str(&format!(" ({set})"));
                }
                what
            })
            .collect(),
        Err(e) => vec![format!("(could not list them: {})", e.message)],
    };
    let shown: Vec<&str> = held.iter().take(10).map(String::as_str).collect();
    let more = held.len().saturating_sub(shown.len());
    ActionError::new(format!(
        "hosted zone {id} is kept: it holds {} that no run of this rollback made: {}{}",
        crate::runbook::suggest::count(held.len(), "record"),
        shown.join(", "),
        if more > 0 { format!(" and {more} more") } else { String::new() }
    ))
    .hint(format!(
        "nothing is deleted that no run made: if those records may go, delete them (Route 53 › Hosted zones › the zone, or `aws route53 change-resource-record-sets --hosted-zone-id {id}` with a DELETE change), then roll back again; or keep the zone"
    ))
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
    on_existing: super::existing::OnExisting,
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
            // What is there already, read before anything is written. A failed read is no empty
            // answer, and it wrote nothing: not a lost answer for the engine to look behind.
            ctx.progress
                .status(&format!("looking for records already at {label}"));
            let sets = record_sets(
                c,
                &zone,
                Some((&set.name().to_lowercase(), set.r#type().as_str())),
            )
            .await
            .map_err(|mut e| {
                e.retryable = false;
                e
            })?;
            let there = super::existing::conflicts(&set, &sets);
            let mut previous = Vec::new();
            for found in &there {
                if on_existing == super::existing::OnExisting::Refuse {
                    return Err(taken(&label, found));
                }
                previous.push(super::existing::keep(found).map_err(|why| {
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
                        ", taking over {}",
                        there
                            .iter()
                            .map(|s| describe_set(s))
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                }
            ));
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
            let write = super::settle_errors(ctx, Duration::from_secs(300), settles, || {
                let changes = changes.clone();
                let (zone, set) = (zone.clone(), set.clone());
                async move {
                    let answer = match changes.as_slice() {
                        [one] => c.zone_changes.submit(&c.route53, &zone, one.clone()).await,
                        _ => super::batch::Sender::send(&c.route53, zone.clone(), changes).await,
                    };
                    match answer {
                        Err(e) if e.message.contains("already exists") => {
                            created_meanwhile(c, &zone, set, e).await
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
                written.changed = there.iter().map(|s| describe_set(s)).collect();
            }
            Ok(outcome)
        })
    }

    /// Taken up again after an interruption (a resume, a lost answer): the record exactly as
    /// the step writes it is the step's own (it is refused when there before, so only the step
    /// can have written it), and writing it again gives the change id to wait for, changing
    /// nothing. Rollback's look (`adopting: false`) claims no record: one there may be anyone's.
    fn reconcile<'a>(&'a self, ctx: &'a Context<'a>) -> Reconciling<'a> {
        Box::pin(async move {
            if !ctx.adopting {
                return Ok(None);
            }
            let (zone, set, label) = self.set(ctx)?;
            let c = clients(ctx)?;
            let sets = record_sets(
                c,
                &zone,
                Some((&set.name().to_lowercase(), set.r#type().as_str())),
            )
            .await?;
            if !sets.iter().any(|s| super::existing::same(s, &set)) {
                return Ok(None);
            }
            let id = change(c, &zone, ChangeAction::Upsert, set).await?;
            Ok(Some(record_outcome(ctx, &zone, label, id)))
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
                .map(super::existing::restore)
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

/// A record change, built.
fn change_of(action: ChangeAction, set: ResourceRecordSet) -> Result<Change, ActionError> {
    Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .map_err(|e| ActionError::new(format!("a record change could not be built: {e}")))
}

/// A create refused with "already exists": a record written at the name since it was read is
/// someone else's, and refused. With nothing in the way (the emulator refuses to create again a
/// record created and deleted before), the record is written after all.
async fn created_meanwhile(
    c: &Clients,
    zone: &str,
    set: ResourceRecordSet,
    refused: ActionError,
) -> Result<String, ActionError> {
    let sets = record_sets(
        c,
        zone,
        Some((&set.name().to_lowercase(), set.r#type().as_str())),
    )
    .await?;
    if !super::existing::conflicts(&set, &sets).is_empty() {
        return Err(refused);
    }
    change(c, zone, ChangeAction::Upsert, set).await
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

pub(super) struct WaitChange;

impl Executor for WaitChange {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: WaitChangeParams = ctx.params()?;
            let c = clients(ctx)?;
            let id = bare_id(&p.change_id);
            // Poll at once, then densely around the usual time: changes take under a minute.
            super::poll(
                ctx,
                (&format!("change {id}"), "INSYNC"),
                super::Typical::CHANGE,
                "look at the AWS Health Dashboard for Route 53; the change is applied and will reach INSYNC",
                || async {
                    // The runs' waits for one change (a batch's) share their polls.
                    let insync = |s: &String| s == ChangeStatus::Insync.as_str();
                    let status = c
                        .change_status
                        .of(&id, insync, || async {
                            let out = c
                                .route53
                                .get_change()
                                .id(&id)
                                .send()
                                .await
                                .map_err(|e| sdk_error("GetChange", &e))?;
                            Ok(out
                                .change_info()
                                .map_or("unknown", |i| i.status().as_str())
                                .to_owned())
                        })
                        .await?;
                    if status == ChangeStatus::Insync.as_str() {
                        let mut o = Outcome::default();
                        o.outputs.insert("status".into(), "INSYNC".into());
                        return Ok(Seen::Done(o));
                    }
                    Ok(Seen::Waiting(status))
                },
            )
            .await
        })
    }
}

pub(super) struct HealthCheck;

impl Make for HealthCheck {
    type Params = HealthCheckParams;
    const KIND: ResourceKind = HEALTH_CHECK;

    fn create<'a>(&'a self, s: Step<'a, Self::Params>) -> Creating<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
            ctx.progress
                .status(&format!("creating an HTTP health check of {}", p.fqdn));
            let config = built(
                HealthCheckConfig::builder()
                    .r#type(HealthCheckType::Http)
                    .fully_qualified_domain_name(&p.fqdn)
                    .port(i32::from(p.port))
                    .resource_path(&p.path)
                    .request_interval(i32::try_from(p.interval_seconds).unwrap_or(30))
                    .failure_threshold(i32::try_from(p.failure_threshold).unwrap_or(3))
                    .build(),
            )?;
            let created = c
                .route53
                .create_health_check()
                .caller_reference(format!("{}-{}", ctx.key, crate::engine::journal::now()))
                .health_check_config(config)
                .send()
                .await
                .map_err(|e| sdk_error("CreateHealthCheck", &e))?;
            let id = created
                .health_check()
                .map(|h| h.id().to_owned())
                .unwrap_or_default();
            let tagged = c
                .route53
                .change_tags_for_resource()
                .resource_type(TagResourceType::Healthcheck)
                .resource_id(&id)
                .set_add_tags(Some(route53_tags(ctx, &p.fqdn)))
                .send()
                .await
                .map_err(|e| sdk_error("ChangeTagsForResource", &e));
            let outcome =
                tagged.map(|_| made(HEALTH_CHECK, &id, &[("health_check_id", id.clone().into())]));
            Ok((outcome, false))
        })
    }
}

/// The records of one name in a zone, read together with the other runs' reads of that zone
/// (`Clients::zone_records`): a class's sixty failover checks, whose records share one zone, cost
/// a few `ListResourceRecordSets` calls of Route 53's five a second, not sixty.
pub(super) async fn records_named(
    c: &Clients,
    zone_id: &str,
    name: &str,
) -> Result<Vec<ResourceRecordSet>, ActionError> {
    let route53 = c.route53.clone();
    Ok(c.zone_records
        .get(&format!("{zone_id} {name}"), move |keys| {
            records_of_names(route53, keys)
        })
        .await?
        .unwrap_or_default())
}

/// Where Route 53 lists a name: by its labels from the last (`www.example.com` as
/// `com.example.www`).
fn listing_order(name: &str) -> Vec<String> {
    name.trim_end_matches('.')
        .to_lowercase()
        .rsplit('.')
        .map(str::to_owned)
        .collect()
}

/// The records of each `ZONE NAME` key. One name's are asked from its name on, as
/// [`record_sets`] does. Several names of one zone are read in one listing from the first of them
/// (in Route 53's order) until past the last, in at most as many pages as there are names (never
/// more calls than asking one by one); a name the listing did not show is asked alone, so a name
/// is never taken for absent on the strength of an order this tool works out.
pub(super) async fn records_of_names(
    route53: aws_sdk_route53::Client,
    keys: Vec<String>,
) -> (HashMap<String, Answer<Vec<ResourceRecordSet>>>, u64) {
    let mut zones: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for key in &keys {
        if let Some((zone, name)) = key.split_once(' ') {
            zones.entry(zone).or_default().push(name);
        }
    }
    let mut answers = HashMap::new();
    let mut calls = 0;
    for (zone, mut names) in zones {
        names.sort_by_key(|n| listing_order(n));
        let mut seen: Vec<ResourceRecordSet> = Vec::new();
        if names.len() > 1 {
            let last = listing_order(names[names.len() - 1]);
            let mut next: Option<(String, Option<RrType>, Option<String>)> =
                Some((names[0].to_owned(), None, None));
            for _ in 0..names.len() {
                let Some((name, kind, id)) = next.take() else {
                    break;
                };
                calls += 1;
                let page = route53
                    .list_resource_record_sets()
                    .hosted_zone_id(zone)
                    .start_record_name(name)
                    .set_start_record_type(kind)
                    .set_start_record_identifier(id)
                    .send()
                    .await;
                let Ok(page) = page else {
                    // Each name is asked alone below, and reports its own error.
                    break;
                };
                seen.extend(page.resource_record_sets().iter().cloned());
                let past = seen.last().is_some_and(|s| listing_order(s.name()) > last);
                if let (false, true, Some(name), Some(kind)) = (
                    past,
                    page.is_truncated(),
                    page.next_record_name(),
                    page.next_record_type(),
                ) {
                    next = Some((
                        name.to_owned(),
                        Some(kind.clone()),
                        page.next_record_identifier().map(str::to_owned),
                    ));
                }
            }
        }
        for name in names {
            let mine: Vec<ResourceRecordSet> = seen
                .iter()
                .filter(|s| {
                    s.name()
                        .trim_end_matches('.')
                        .eq_ignore_ascii_case(name.trim_end_matches('.'))
                })
                .cloned()
                .collect();
            let answer = if mine.is_empty() {
                record_sets_with(&route53, zone, Some((name, None)))
                    .await
                    .map(|(sets, pages)| {
                        calls += pages;
                        Some(sets)
                    })
            } else {
                Ok(Some(mine))
            };
            answers.insert(format!("{zone} {name}"), answer);
        }
    }
    (answers, calls)
}

/// A zone's record sets, page after page: all of them, or from `(name, type)` on until past them
/// (a class's zone holds every student's records).
pub(super) async fn record_sets(
    c: &Clients,
    zone_id: &str,
    from: Option<(&str, &str)>,
) -> Result<Vec<ResourceRecordSet>, ActionError> {
    Ok(
        record_sets_with(&c.route53, zone_id, from.map(|(n, t)| (n, Some(t))))
            .await?
            .0,
    )
}

/// [`record_sets`] through this client, from a name (and a type) on; also how many pages it read.
async fn record_sets_with(
    route53: &aws_sdk_route53::Client,
    zone_id: &str,
    from: Option<(&str, Option<&str>)>,
) -> Result<(Vec<ResourceRecordSet>, u64), ActionError> {
    let mut sets = Vec::new();
    let mut pages = 0;
    let mut next = from.map(|(n, t)| (n.to_owned(), t.map(RrType::from), None::<String>));
    // Bounded: Route 53 pages hold up to 300 records, and a zone up to 10,000 by default.
    for _ in 0..100 {
        let mut req = route53.list_resource_record_sets().hosted_zone_id(zone_id);
        if let Some((name, kind, id)) = next.take() {
            req = req
                .start_record_name(name)
                .set_start_record_type(kind)
                .set_start_record_identifier(id);
        }
        pages += 1;
        let page = req
            .send()
            .await
            .map_err(|e| sdk_error("ListResourceRecordSets", &e))?;
        sets.extend(page.resource_record_sets().iter().cloned());
        // Records of one name come together: once the page has gone past them, stop.
        let past = from.is_some_and(|(name, _)| {
            sets.iter().any(|s| s.name().to_lowercase() == name)
                && sets.last().is_some_and(|s| s.name().to_lowercase() != name)
        });
        match (
            page.is_truncated(),
            page.next_record_name(),
            page.next_record_type(),
        ) {
            (true, Some(name), Some(kind)) if !past => {
                next = Some((
                    name.to_owned(),
                    Some(kind.clone()),
                    page.next_record_identifier().map(str::to_owned),
                ));
            }
            _ => break,
        }
    }
    Ok((sets, pages))
}

/// An alias target's DNS name as load balancers spell theirs (`dualstack.` and the final dot
/// are Route 53's).
pub(super) fn alias_dns(alias: &AliasTarget) -> String {
    let dns = alias.dns_name().trim_end_matches('.').to_lowercase();
    dns.strip_prefix("dualstack.")
        .map_or(dns.clone(), str::to_owned)
}

/// The region in a load balancer's DNS name (`NAME-ID.REGION.elb.amazonaws.com`, `.com.cn` in
/// China), if it is one.
pub(super) fn balancer_region(dns: &str) -> Option<&str> {
    let mut labels = dns.trim_end_matches('.').split('.');
    let region = labels.nth(1)?;
    let rest: Vec<&str> = labels.collect();
    let elb = matches!(
        rest.as_slice(),
        ["elb", "amazonaws", "com"] | ["elb", "amazonaws", "com", "cn"]
    );
    elb.then_some(region)
}

/// The name of the load balancer whose DNS name this is: AWS names an application load balancer
/// `NAME-ID.REGION.elb.amazonaws.com` (`internal-NAME-ID…` when internal).
pub(super) fn balancer_name(dns: &str) -> Option<&str> {
    let host = dns.split('.').next()?;
    let host = host.strip_prefix("internal-").unwrap_or(host);
    let (name, id) = host.rsplit_once('-')?;
    (!name.is_empty() && !id.is_empty() && name.len() <= 32).then_some(name)
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
    #[test]
    fn a_load_balancers_region_is_read_from_its_dns_name() {
        assert_eq!(
            super::balancer_region("lab-secondary-alb-1.us-east-1.elb.amazonaws.com"),
            Some("us-east-1")
        );
        assert_eq!(
            super::balancer_region("internal-web-42.cn-north-1.elb.amazonaws.com.cn."),
            Some("cn-north-1")
        );
        assert_eq!(super::balancer_region("www.example.com"), None);
    }

    #[test]
    fn a_load_balancer_is_named_by_its_dns_name() {
        assert_eq!(
            super::balancer_name("lab-primary-alb-1234567890.ap-south-1.elb.amazonaws.com"),
            Some("lab-primary-alb")
        );
        assert_eq!(
            super::balancer_name("internal-web-42.eu-west-1.elb.amazonaws.com"),
            Some("web")
        );
        assert_eq!(super::balancer_name("nohyphen.elb.amazonaws.com"), None);
    }

    use super::{Alias, Role, record_set};
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
            super::differences(&wanted, &made, &all()),
            [
                "the record's failover role is SECONDARY; this step needs PRIMARY",
                "the alias points at lab-secondary-alb; it should point at lab-primary-alb",
                "\"Evaluate target health\" is off; this step needs it on",
            ]
        );
        assert!(super::differences(&wanted, &wanted.clone(), &all()).is_empty());
        assert_eq!(
            super::differences(&wanted, &made, &["role".to_owned()]).len(),
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
        assert_eq!(super::hand_made(&wanted, &sets), Ok(Some(&wrong_role)));
        let sets = [other_id.clone(), wrong_role.clone()];
        assert_eq!(super::hand_made(&wanted, &sets), Ok(Some(&other_id)));
        let exact = failover("lab-primary", Role::Secondary, "primary", true);
        let sets = [other_id.clone(), exact.clone()];
        assert_eq!(super::hand_made(&wanted, &sets), Ok(Some(&exact)));
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
        assert_eq!(super::hand_made(&wanted, &[elsewhere]), Ok(None));
        assert_eq!(
            super::describe_set(&wrong_role),
            "lab.class.example A, set identifier mine, SECONDARY, alias to lab-primary-alb"
        );
    }
}
