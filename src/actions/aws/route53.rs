//! Route 53: hosted zones, failover and weighted records, health checks, changes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::actions::{ActionDef, Effect, Outputs, Params, out};

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
    /// Fail unless Route 53 would answer with this record.
    #[serde(default)]
    pub expect: Option<Role>,
}

pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "aws.route53.hosted_zone",
        summary: "Find a public hosted zone by exact name, or create it.",
        docs: "A hosted zone holds a domain's DNS records; Route 53 gives it four name servers, which the \
               registrar must point at. Console: Route 53 › Hosted zones.",
        effect: Effect::Creates,
        params: Params::of::<HostedZoneParams>(),
        outputs: Outputs::Fixed(&[
            out("zone_id", "string", "The zone's id."),
            out("name_servers", "list", "Its four name servers."),
            out("created", "boolean", "Whether this run created it."),
        ]),
        undo: Some(
            "deletes the zone, only if this run created it, after removing the records this run added",
        ),
        executor: &crate::engine::action::NotBuilt,
    },
    ActionDef {
        name: "aws.route53.failover_record",
        summary: "Create or update a PRIMARY or SECONDARY failover alias record.",
        docs: "Route 53 answers with the PRIMARY record while it is healthy, else with the SECONDARY. With \
               `evaluate_target_health`, an alias to a load balancer is healthy while its target group has a \
               healthy target. Console: Route 53 › Hosted zones › <zone> › Create record › Routing policy: \
               Failover.",
        effect: Effect::Creates,
        params: Params::of::<FailoverRecordParams>(),
        outputs: Outputs::Fixed(&[out("change_id", "string", "The change to wait for.")]),
        undo: Some("deletes exactly this record"),
        executor: &crate::engine::action::NotBuilt,
    },
    ActionDef {
        name: "aws.route53.weighted_record",
        summary: "Create or update a weighted alias record.",
        docs: "Route 53 answers with each record in proportion to its weight. Console: Route 53 › Hosted \
               zones › <zone> › Create record › Routing policy: Weighted.",
        effect: Effect::Creates,
        params: Params::of::<WeightedRecordParams>(),
        outputs: Outputs::Fixed(&[out("change_id", "string", "The change to wait for.")]),
        undo: Some("deletes exactly this record"),
        executor: &crate::engine::action::NotBuilt,
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
        executor: &crate::engine::action::NotBuilt,
    },
    ActionDef {
        name: "aws.route53.wait_change",
        summary: "Wait until a change is INSYNC on all Route 53 name servers.",
        docs: "A change is PENDING until every Route 53 name server has it, usually within 60 seconds.",
        effect: Effect::Reads,
        params: Params::of::<WaitChangeParams>(),
        outputs: Outputs::Fixed(&[out("status", "string", "The last status seen.")]),
        undo: None,
        executor: &crate::engine::action::NotBuilt,
    },
    ActionDef {
        name: "aws.route53.check_failover",
        summary: "Tell which record of a failover pair Route 53 would answer with, and why.",
        docs: "Reads the PRIMARY and SECONDARY records for a name, evaluates each alias target through its \
               load balancer's target health (or each health check) and reports which one Route 53 would \
               answer with; `expect` makes the step fail otherwise.",
        effect: Effect::Reads,
        params: Params::of::<CheckFailoverParams>(),
        outputs: Outputs::Fixed(&[
            out("answer", "string", "`primary` or `secondary`."),
            out("reason", "string", "Why."),
        ]),
        undo: None,
        executor: &crate::engine::action::NotBuilt,
    },
];
