//! Finding what exists: a site's load balancer, by name or ARN, with what stands behind it (its
//! listeners, their target groups, each group's health and registered instances). Only read:
//! nothing found is changed, and rollback never deletes it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::client::{Clients, clients};
use super::sdk_error;
use crate::actions::{ActionDef, Effect, Outputs, Params, out};
use crate::engine::action::{ActionError, Context, Executor, Outcome, Running};

/// Find an Application Load Balancer that exists, by name or ARN.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.elbv2.find_load_balancer")]
pub struct FindLoadBalancerParams {
    /// Its name (`shop-alb`), in the step's region. Give this or `arn`.
    #[serde(default, deserialize_with = "super::defaults::empty_is_none")]
    pub name: Option<String>,
    /// Its ARN. Give this or `name`.
    #[serde(default, deserialize_with = "super::defaults::empty_is_none")]
    pub arn: Option<String>,
    /// Fail unless at least this many of the targets behind it are healthy (0, the default:
    /// however many). A primary with none sends its traffic to the standby the moment a failover
    /// record points at it: better refused before anything is written.
    #[serde(default)]
    pub min_healthy: u32,
}

pub static ACTIONS: &[ActionDef] = &[ActionDef {
    summary: "Find a load balancer that exists, with its listeners, target groups and their health.",
    docs: "Only reads: by `name` (in the step's region) or `arn`. Its outputs are what an alias record \
           needs (`dns_name`, `zone_id`) and what failover rests on: each listener, the target groups \
           behind them, how many targets are healthy and which instances are registered. Nothing is \
           changed, and rollback leaves it alone. Console: EC2 › Load balancers.",
    outputs: Outputs::Fixed(&[
        out("arn", "string", "Its ARN."),
        out("name", "string", "Its name."),
        out("dns_name", "string", "Its DNS name, for an alias record."),
        out(
            "zone_id",
            "string",
            "Its canonical hosted zone id, for an alias record.",
        ),
        out("scheme", "string", "`internet-facing` or `internal`."),
        out(
            "state",
            "string",
            "`active`, `provisioning`, `active_impaired` or `failed`.",
        ),
        out("vpc_id", "string", "Its VPC."),
        out("zones", "list", "Its availability zones."),
        out(
            "listeners",
            "list",
            "Each listener: port, protocol and the target groups it forwards to.",
        ),
        out(
            "target_groups",
            "list",
            "Each target group behind a listener: ARN, healthy and other targets.",
        ),
        out(
            "instance_ids",
            "list",
            "The instances registered in those target groups.",
        ),
        out(
            "healthy",
            "number",
            "How many of their targets are healthy.",
        ),
    ]),
    cli: Some(cli),
    also: &[
        "describe_load_balancers",
        "find_alb",
        "find_lb",
        "get_load_balancer",
        "existing_load_balancer",
    ],
    ..ActionDef::new(
        "aws.elbv2.find_load_balancer",
        Effect::Reads,
        Params::of::<FindLoadBalancerParams>(),
        &FindLoadBalancer,
    )
}];

/// The AWS CLI commands that read the same.
fn cli(p: &Json) -> Vec<String> {
    let which = match (p["name"].as_str(), p["arn"].as_str()) {
        (Some(name), _) if !name.is_empty() => format!("--names {name}"),
        (_, Some(arn)) => format!("--load-balancer-arns {arn}"),
        _ => "--names NAME".to_owned(),
    };
    vec![
        format!("aws elbv2 describe-load-balancers {which}"),
        "aws elbv2 describe-listeners --load-balancer-arn ARN".to_owned(),
        "aws elbv2 describe-target-health --target-group-arn TARGET_GROUP_ARN".to_owned(),
    ]
}

pub(super) struct FindLoadBalancer;

impl Executor for FindLoadBalancer {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: FindLoadBalancerParams = ctx.params()?;
            let c = clients(ctx)?;
            let (wanted, by_name) = match (&p.name, &p.arn) {
                (Some(name), None) => (name.clone(), true),
                (None, Some(arn)) => (arn.clone(), false),
                _ => {
                    return Err(ActionError::new(
                        "give the load balancer's `name` or its `arn`, one of them",
                    )
                    .invalid_input());
                }
            };
            ctx.progress.status(&format!(
                "looking for the load balancer {wanted} in {}",
                c.region
            ));
            let mut req = c.elbv2.describe_load_balancers();
            req = if by_name {
                req.names(&wanted)
            } else {
                req.load_balancer_arns(&wanted)
            };
            let lb = match req.send().await {
                Ok(out) => out.load_balancers().first().cloned(),
                Err(e) if super::code(&e).as_deref() == Some("LoadBalancerNotFound") => None,
                Err(e) => return Err(sdk_error("DescribeLoadBalancers", &e)),
            };
            let Some(lb) = lb else {
                return Err(not_found(c, &wanted).await);
            };
            // A load balancer AWS could not provision serves nothing: no record should point
            // at it.
            if let Some(state) = lb.state().filter(|s| {
                s.code()
                    == Some(&aws_sdk_elasticloadbalancingv2::types::LoadBalancerStateEnum::Failed)
            }) {
                return Err(ActionError::new(format!(
                    "the load balancer {wanted} has failed ({})",
                    state.reason().unwrap_or("AWS gave no reason")
                ))
                .hint("look at it in EC2 › Load balancers; a failed one must be created again")
                .invalid_input());
            }
            let arn = lb.load_balancer_arn().unwrap_or_default().to_owned();
            let (listeners, groups) = behind(c, &arn).await?;
            let mut outcome = Outcome::default();
            let mut put = |k: &str, v: Json| {
                outcome.outputs.insert(k.to_owned(), v);
            };
            put("arn", json!(arn));
            put("name", json!(lb.load_balancer_name()));
            put("dns_name", json!(lb.dns_name()));
            put("zone_id", json!(lb.canonical_hosted_zone_id()));
            put(
                "scheme",
                json!(
                    lb.scheme()
                        .map(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::as_str)
                ),
            );
            put(
                "state",
                json!(
                    lb.state()
                        .and_then(|s| s.code())
                        .map(aws_sdk_elasticloadbalancingv2::types::LoadBalancerStateEnum::as_str)
                ),
            );
            put("vpc_id", json!(lb.vpc_id()));
            put(
                "zones",
                json!(
                    lb.availability_zones()
                        .iter()
                        .filter_map(|z| z.zone_name())
                        .collect::<Vec<_>>()
                ),
            );
            let healthy: usize = groups.iter().map(|g| g.healthy).sum();
            let mut instances: Vec<String> =
                groups.iter().flat_map(|g| g.instances.clone()).collect();
            instances.sort();
            instances.dedup();
            let count = crate::runbook::suggest::count;
            ctx.progress.message(&format!(
                "found {} ({}): {}, {} in {}",
                lb.load_balancer_name().unwrap_or_default(),
                lb.state()
                    .and_then(|s| s.code())
                    .map_or("state unknown", |s| s.as_str()),
                count(listeners.len(), "listener"),
                count(healthy, "healthy target"),
                count(groups.len(), "target group")
            ));
            put("listeners", Json::Array(listeners));
            put(
                "target_groups",
                json!(
                    groups
                        .iter()
                        .map(|g| json!({"arn": g.arn, "healthy": g.healthy, "other": g.other}))
                        .collect::<Vec<_>>()
                ),
            );
            put("instance_ids", json!(instances));
            put("healthy", json!(healthy));
            if healthy < p.min_healthy as usize {
                return Err(too_few_healthy(&wanted, healthy, p.min_healthy, &groups));
            }
            Ok(outcome)
        })
    }
}

/// A target group behind a listener, as its health says.
struct Group {
    arn: String,
    healthy: usize,
    other: usize,
    instances: Vec<String>,
    /// Each target that is not healthy, with its state (`i-0abc unused`).
    not_healthy: Vec<String>,
}

/// Fewer healthy targets than `min_healthy`: the error names each group's targets that are not
/// healthy and their state, and how to see why.
fn too_few_healthy(wanted: &str, healthy: usize, min: u32, groups: &[Group]) -> ActionError {
    let behind: Vec<String> = groups
        .iter()
        .map(|g| {
            let group = super::elbv2::short_name(&g.arn);
            match g.not_healthy.as_slice() {
                [] => format!("{group}: no target"),
                some => format!("{group}: {}", some.join(", ")),
            }
        })
        .collect();
    let behind = match behind.as_slice() {
        [] => "no listener forwards to a target group".to_owned(),
        _ => behind.join("; "),
    };
    let first = groups
        .first()
        .map_or("TARGET_GROUP_ARN", |g| g.arn.as_str());
    ActionError::new(format!(
        "the load balancer {wanted} has {healthy} healthy target{} and needs at least {min} \
         (`min_healthy`): {behind}",
        if healthy == 1 { "" } else { "s" }
    ))
    .hint(format!(
        "bring its targets back to health first (`aws elbv2 describe-target-health \
         --target-group-arn {first}` says why each is not), or check that it is the load \
         balancer that serves the site"
    ))
}

/// The load balancer's listeners (port, protocol, the groups each forwards to) and those groups.
async fn behind(c: &Clients, arn: &str) -> Result<(Vec<Json>, Vec<Group>), ActionError> {
    let out = c
        .elbv2
        .describe_listeners()
        .load_balancer_arn(arn)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeListeners", &e))?;
    let mut listeners = Vec::new();
    let mut arns: Vec<String> = Vec::new();
    for l in out.listeners() {
        let mut forwards: Vec<String> = Vec::new();
        for a in l.default_actions() {
            forwards.extend(a.target_group_arn().map(str::to_owned));
            if let Some(config) = a.forward_config() {
                forwards.extend(
                    config
                        .target_groups()
                        .iter()
                        .filter_map(|t| t.target_group_arn().map(str::to_owned)),
                );
            }
        }
        forwards.sort();
        forwards.dedup();
        listeners.push(json!({
            "port": l.port(),
            "protocol": l.protocol().map(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::as_str),
            "target_groups": forwards,
        }));
        for f in forwards {
            if !arns.contains(&f) {
                arns.push(f);
            }
        }
    }
    let mut groups = Vec::new();
    for arn in arns {
        let health = super::elbv2::target_health(c, &arn).await?;
        let mut group = Group {
            arn,
            healthy: 0,
            other: 0,
            instances: Vec::new(),
            not_healthy: Vec::new(),
        };
        for d in health.target_health_descriptions() {
            let healthy = d.target_health().and_then(|h| h.state()).is_some_and(|s| {
                *s == aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum::Healthy
            });
            if healthy {
                group.healthy += 1;
            } else {
                group.other += 1;
                group.not_healthy.push(format!(
                    "{} {}",
                    d.target().and_then(|t| t.id()).unwrap_or("a target"),
                    d.target_health()
                        .and_then(|h| h.state())
                        .map_or("of unknown state", |s| s.as_str())
                ));
            }
            if let Some(id) = d
                .target()
                .and_then(|t| t.id())
                .filter(|id| id.starts_with("i-"))
            {
                group.instances.push(id.to_owned());
            }
        }
        groups.push(group);
    }
    Ok((listeners, groups))
}

/// No load balancer has the name (or ARN) asked for: the error names those in the region, the
/// closest first.
async fn not_found(c: &Clients, wanted: &str) -> ActionError {
    let names: Vec<String> = super::elbv2::all_load_balancers(c)
        .await
        .map(|lbs| {
            lbs.iter()
                .filter_map(|lb| lb.load_balancer_name().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let there = match names.as_slice() {
        [] => format!("{} has no load balancer", c.region),
        some => format!("the load balancers in {} are {}", c.region, some.join(", ")),
    };
    ActionError::new(format!("there is no load balancer {wanted} ({there})"))
        .hint(
            crate::runbook::suggest::did_you_mean(wanted, &names).map_or_else(
                || "check the name, the step's region (`region:`) and the account".to_owned(),
                |m| format!("{m} (or check the step's region and the account)"),
            ),
        )
        .invalid_input()
}
