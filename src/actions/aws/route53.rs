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
    /// `false`: only find the zone (a site that exists); none of that name is an error naming
    /// the zones there are, and nothing is created.
    #[serde(default = "super::defaults::yes")]
    pub create: bool,
}

/// A Route 53 health check's numbers within what `CreateHealthCheck` accepts.
fn lint_health_check(_step: &str, known: &serde_json::Value) -> Vec<crate::actions::ParamProblem> {
    let number = |field: &str| known.get(field).and_then(serde_json::Value::as_u64);
    let mut problems = Vec::new();
    if let Some(n) = number("interval_seconds").filter(|n| *n != 10 && *n != 30) {
        problems.push(crate::actions::ParamProblem {
            param: "interval_seconds",
            code: "health-check",
            message: format!("a Route 53 health check's interval is 10 or 30 seconds, not {n}"),
            help: "10 (a \"fast\" check, billed higher) or 30 (standard)",
        });
    }
    if let Some(n) = number("failure_threshold").filter(|n| !(1..=10).contains(n)) {
        problems.push(crate::actions::ParamProblem {
            param: "failure_threshold",
            code: "health-check",
            message: format!("a Route 53 health check's failure threshold is 1 to 10, not {n}"),
            help: "how many failed checks in a row make the endpoint unhealthy (AWS's default: 3)",
        });
    }
    problems
}

/// A zone step that only finds its zone: told not to create one, or given the zone's id.
fn zone_only_found(p: &serde_json::Value) -> bool {
    let create_off = match p.get("create") {
        Some(serde_json::Value::Bool(b)) => !b,
        Some(serde_json::Value::String(s)) => s.trim() == "false",
        _ => false,
    };
    let by_id = p
        .get("id")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|id| !id.trim().is_empty());
    create_off || by_id
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
    pub health_check_id: Option<String>,
    /// A record already at this name and type that this run did not write (the same set
    /// identifier, the same failover role, or a simple record): `refuse` (the default) stops
    /// before writing anything; `adopt` takes it over, and rollback puts it back as it was.
    #[serde(default)]
    pub on_existing: super::records::OnExisting,
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
    pub health_check_id: Option<String>,
    /// A record already at this name and type that this run did not write (the same set
    /// identifier, the same failover role, or a simple record): `refuse` (the default) stops
    /// before writing anything; `adopt` takes it over, and rollback puts it back as it was.
    #[serde(default)]
    pub on_existing: super::records::OnExisting,
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
    pub expect: Option<Role>,
    /// How long to wait for the `expect`ed answer (on AWS a failover takes minutes: two failed
    /// health checks 30 s apart, then the records' TTL).
    #[serde(default = "six_minutes")]
    pub within: crate::runbook::format::DurationText,
    /// A time (RFC 3339, for example a stop step's `stopped_at`) to measure the answer from.
    pub since: Option<String>,
    /// A recovery-time gate: fail when the `expect`ed answer came later than this after `since`
    /// (`90s`, `5m`), saying the time measured and the limit. Empty: no limit.
    #[serde(default, deserialize_with = "super::defaults::empty_is_none")]
    pub limit: Option<String>,
    /// Also fail unless failover would work now: the SECONDARY healthy, and with at least as
    /// many healthy targets as the PRIMARY, so that it can carry the primary's traffic.
    #[serde(default)]
    pub ready_to_fail_over: bool,
}

fn six_minutes() -> crate::runbook::format::DurationText {
    crate::runbook::format::DurationText(Duration::from_secs(360))
}

fn hosted_zone_usage(params: &serde_json::Value) -> Usage {
    if params["create"] == false {
        return Usage::default();
    }
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
        summary: "Find a public hosted zone by exact name, or create it.",
        docs: "A hosted zone holds a domain's DNS records; Route 53 gives it four name servers, which the \
               registrar must point at. With `shared: true` in a class run the zone is the class's: \
               created once for all students, removed by `rollback --class`. Console: Route 53 › Hosted zones.",
        outputs: Outputs::Fixed(&[
            out("zone_id", "string", "The zone's id."),
            out("name_servers", "list", "Its four name servers."),
            out("created", "boolean", "Whether this run created it."),
        ]),
        undo: Some(
            "deletes the zone, only if this run created it (and it is not a class's shared zone), after removing the records this run added",
        ),
        cli: Some(super::aws_cli::hosted_zone),
        creates: &[super::kinds::HOSTED_ZONE],
        noun: Some("hosted zone (unless it exists)"),
        usage: Some(hosted_zone_usage),
        reads_only: Some(zone_only_found),
        also: &[
            "create_hosted_zone",
            "zone",
            "create_zone",
            "route53_zone",
            "find_zone",
            "CreateHostedZone",
        ],
        ..ActionDef::new(
            "aws.route53.hosted_zone",
            Effect::Creates,
            Params::of::<HostedZoneParams>(),
            &HostedZone,
        )
    },
    ActionDef {
        summary: "Create a PRIMARY or SECONDARY failover alias record (never over one the run did not write).",
        docs: "Route 53 answers with the PRIMARY record while it is healthy, else with the SECONDARY. With \
               `evaluate_target_health`, an alias to a load balancer is healthy while its target group has a \
               healthy target. Console: Route 53 › Hosted zones › <zone> › Create record › Routing policy: \
               Failover.",
        outputs: Outputs::Fixed(&[out("change_id", "string", "The change to wait for.")]),
        undo: Some("deletes exactly this record, or puts back the record it took over"),
        cli: Some(super::aws_cli::failover_record),
        creates: &[super::kinds::RECORD],
        noun: Some("failover record"),
        usage: Some(failover_usage),
        exercise: Some(Exercisable {
            looks: "the zone's records of the step's name and type: the one with its set identifier, else the one with its failover role",
            compares: &["role", "alias", "set_identifier", "health_check_id"],
            watch: false,
        }),
        also: &[
            "create_record",
            "record",
            "change_resource_record_sets",
            "route53_record",
            "alias_record",
            "record_set",
            "create_failover_record",
            "failover",
            "upsert_record",
            "dns_record",
        ],
        ..ActionDef::new(
            "aws.route53.failover_record",
            Effect::Creates,
            Params::of::<FailoverRecordParams>(),
            &super::records::Record { weighted: false },
        )
    },
    ActionDef {
        summary: "Create a weighted alias record (never over one the run did not write).",
        docs: "Route 53 answers with each record in proportion to its weight. Console: Route 53 › Hosted \
               zones › <zone> › Create record › Routing policy: Weighted.",
        outputs: Outputs::Fixed(&[out("change_id", "string", "The change to wait for.")]),
        undo: Some("deletes exactly this record, or puts back the record it took over"),
        cli: Some(super::aws_cli::weighted_record),
        creates: &[super::kinds::RECORD],
        noun: Some("weighted record"),
        usage: Some(weighted_usage),
        exercise: Some(Exercisable {
            looks: "the zone's records of the step's name and type: the one with its set identifier",
            compares: &["weight", "alias", "set_identifier", "health_check_id"],
            watch: false,
        }),
        also: &[
            "create_record",
            "record",
            "change_resource_record_sets",
            "create_weighted_record",
            "weighted",
        ],
        ..ActionDef::new(
            "aws.route53.weighted_record",
            Effect::Creates,
            Params::of::<WeightedRecordParams>(),
            &super::records::Record { weighted: true },
        )
    },
    ActionDef {
        summary: "Create an HTTP health check.",
        docs: "Route 53 health checkers request the endpoint from several regions. Console: Route 53 › \
               Health checks.",
        outputs: Outputs::Fixed(&[out("health_check_id", "string", "The health check's id.")]),
        undo: Some("deletes the health check"),
        cli: Some(super::aws_cli::health_check),
        creates: &[HEALTH_CHECK],
        noun: Some("health check"),
        usage: Some(health_check_usage),
        also: &["create_health_check", "route53_health_check"],
        ..ActionDef::new(
            "aws.route53.health_check",
            Effect::Creates,
            Params::of::<HealthCheckParams>().linted(lint_health_check),
            &super::life::Life(HealthCheck),
        )
    },
    ActionDef {
        summary: "Wait until a change is INSYNC on all Route 53 name servers.",
        docs: "A change is PENDING until every Route 53 name server has it, usually within 60 seconds.",
        outputs: Outputs::Fixed(&[out("status", "string", "The last status seen.")]),
        cli: Some(super::aws_cli::wait_change),
        also: &[
            "get_change",
            "wait_insync",
            "insync",
            "wait_for_change",
            "wait_record",
            "resource_record_sets_changed",
        ],
        follows: true,
        ..ActionDef::new(
            "aws.route53.wait_change",
            Effect::Reads,
            Params::of::<WaitChangeParams>(),
            &WaitChange,
        )
    },
    ActionDef {
        summary: "Tell which record of a failover pair Route 53 would answer with, and why.",
        docs: "Reads the PRIMARY and SECONDARY records for a name, evaluates each alias target through its \
               load balancer's target health (or each health check) and reports which one Route 53 would \
               answer with; on AWS it also asks Route 53 itself (TestDNSAnswer). With `expect` it waits until \
               that is the answer (up to `within`), and `since` reports how long after a given time it came.",
        outputs: Outputs::Fixed(&[
            out("answer", "string", "`primary` or `secondary`."),
            out("reason", "string", "Why."),
            out(
                "seconds_since",
                "number",
                "Seconds from `since` to the answer (with `since`: measured, polls 2 s apart).",
            ),
            out(
                "answered_at",
                "string",
                "When Route 53 was seen answering so (RFC 3339).",
            ),
        ]),
        cli: Some(super::aws_cli::check_failover),
        also: &[
            "test_dns_answer",
            "dig",
            "nslookup",
            "resolve",
            "dns",
            "test_failover",
            "verify_failover",
            "check_dns",
        ],
        follows: true,
        ..ActionDef::new(
            "aws.route53.check_failover",
            Effect::Reads,
            Params::of::<CheckFailoverParams>().linted(super::failover::lint_limit),
            &super::failover::CheckFailover,
        )
    },
];

// ---- Execution -------------------------------------------------------------------------------

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aws_sdk_route53::types::{
    AliasTarget, ChangeStatus, HealthCheckConfig, HealthCheckType, ResourceRecordSet, RrType, Tag,
    TagResourceType,
};

use super::client::{Clients, clients};
use super::kinds::{HEALTH_CHECK, ResourceKind};
use super::life::{Creating, Make, Step, made};
use super::shared::Answer;
use super::{Seen, code, sdk_error, standard_tags};
use crate::engine::action::{
    ActionError, Context, Evaluating, Executor, Outcome, Reconciling, Resource, Running, Undoing,
    Undone, Verdict,
};

pub(super) fn built<T>(
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

/// No public zone has the name a find-only step asks for: the error names the zones there are
/// (the closest first), since the usual cause is a name off by a label or a letter.
async fn no_zone(c: &Clients, name: &str) -> ActionError {
    let (there, closest) = zones_beside(c, name).await;
    ActionError::new(format!(
        "there is no public hosted zone named {name} ({there}), and the step only finds one (`create: false`)"
    ))
    .hint(match closest {
        Some((zone, true)) => format!(
            "did you mean `{zone}`? (the zone is the domain itself, not a name in it such as www)"
        ),
        Some((zone, false)) => format!("did you mean `{zone}`?"),
        None => "check the domain (its zone is the domain itself, not a name in it such as www), the account and the credentials".to_owned(),
    })
    .invalid_input()
}

/// For a zone that is not there: which public zones the account has, in words, and the one
/// `name` was probably meant to be ([`closest_zone`]). A list that failed is said to have failed,
/// not taken for an account without zones.
pub(super) async fn zones_beside(c: &Clients, name: &str) -> (String, Option<(String, bool)>) {
    let listed = c.route53.list_hosted_zones().max_items(100).send().await;
    let names: Result<Vec<String>, String> = listed
        .map(|out| {
            out.hosted_zones()
                .iter()
                .filter(|z| {
                    !z.config()
                        .is_some_and(aws_sdk_route53::types::HostedZoneConfig::private_zone)
                })
                .map(|z| z.name().trim_end_matches('.').to_owned())
                .collect()
        })
        .map_err(|e| sdk_error("ListHostedZones", &e).message);
    match &names {
        Err(e) => (
            format!("the account's zones could not be listed: {e}"),
            None,
        ),
        Ok(none) if none.is_empty() => ("the account has no public hosted zone".to_owned(), None),
        Ok(some) => (
            format!("the account's public zones are {}", some.join(", ")),
            closest_zone(name, some),
        ),
    }
}

/// The zone `name` was probably meant to be: the zone it is a name in (`www.shop.example.org`:
/// `shop.example.org`, and `true`), one whose name goes on from it (`shop.example`:
/// `shop.example.org`), else one spelled alike.
fn closest_zone(name: &str, zones: &[String]) -> Option<(String, bool)> {
    let name = name.trim_end_matches('.').to_lowercase();
    if let Some(zone) = zones
        .iter()
        .filter(|z| name.ends_with(&format!(".{}", z.to_lowercase())))
        .max_by_key(|z| z.len())
    {
        return Some((zone.clone(), true));
    }
    let mut longer = zones
        .iter()
        .filter(|z| z.to_lowercase().starts_with(&format!("{name}.")));
    if let (Some(zone), None) = (longer.next(), longer.next()) {
        return Some((zone.clone(), false));
    }
    crate::runbook::suggest::closest(&name, zones).map(|z| (z.to_owned(), false))
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
            if !p.create {
                return Err(no_zone(c, &p.name).await);
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

    /// In place when the zone is there (found as the run would find it); would fail when the
    /// step only finds it and it is not; else ready to be created.
    fn evaluate<'a>(&'a self, ctx: &'a Context<'a>) -> Evaluating<'a> {
        Box::pin(async move {
            let p: HostedZoneParams = ctx.params()?;
            let c = clients(ctx)?;
            Ok(match find_zone(c, &p, ctx.key).await? {
                Some((id, _)) => (
                    Verdict::InPlace {
                        what: format!("hosted zone {} ({id})", p.name),
                    },
                    Some(zone_outcome(c, &id, false).await?),
                ),
                None if !p.create => {
                    let e = no_zone(c, &p.name).await;
                    (
                        Verdict::WouldFail {
                            reason: e.message,
                            fix: e.hint,
                        },
                        None,
                    )
                }
                None => (
                    Verdict::Ready {
                        why: format!("there is no zone {}: the run would create it", p.name),
                    },
                    None,
                ),
            })
        })
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
        "nothing is deleted that no run made: if another run wrote them (`runbook runs` shows the runs still holding something), roll that run back first; if they are someone's and may go, delete them (Route 53 › Hosted zones › the zone, or `aws route53 change-resource-record-sets --hosted-zone-id {id}` with a DELETE change); then roll back again, or keep the zone"
    ))
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
            let outcome = tagged.map(|_| made(HEALTH_CHECK, &id, &[]));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The zone a missing one was meant to be: the zone a name is in, one that goes on from it,
    /// one spelled alike; none where nothing is close.
    #[test]
    fn the_zone_meant_is_the_one_a_name_is_in_then_one_alike() {
        let zones = ["try1.example".to_owned(), "shop.example.org".to_owned()];
        let meant = |name: &str| closest_zone(name, &zones);
        assert_eq!(
            meant("www.shop.example.org"),
            Some(("shop.example.org".to_owned(), true))
        );
        assert_eq!(
            meant("shop.example"),
            Some(("shop.example.org".to_owned(), false))
        );
        assert_eq!(
            meant("shop.exampel.org"),
            Some(("shop.example.org".to_owned(), false))
        );
        assert_eq!(meant("totally.different"), None);
    }

    #[test]
    fn a_load_balancers_region_is_read_from_its_dns_name() {
        assert_eq!(
            balancer_region("lab-secondary-alb-1.us-east-1.elb.amazonaws.com"),
            Some("us-east-1")
        );
        assert_eq!(
            balancer_region("internal-web-42.cn-north-1.elb.amazonaws.com.cn."),
            Some("cn-north-1")
        );
        assert_eq!(balancer_region("www.example.com"), None);
    }

    #[test]
    fn a_load_balancer_is_named_by_its_dns_name() {
        assert_eq!(
            balancer_name("lab-primary-alb-1234567890.ap-south-1.elb.amazonaws.com"),
            Some("lab-primary-alb")
        );
        assert_eq!(
            balancer_name("internal-web-42.eu-west-1.elb.amazonaws.com"),
            Some("web")
        );
        assert_eq!(balancer_name("nohyphen.elb.amazonaws.com"), None);
    }
}
