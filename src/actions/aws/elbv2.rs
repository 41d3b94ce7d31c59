//! Elastic Load Balancing v2: target groups, application load balancers and listeners.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Tags;
use crate::actions::{
    ActionDef, Effect, Exercisable, Need, Outputs, ParamProblem, Params, Usage, out,
};

/// How the load balancer checks a target's health.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "health check")]
pub struct HealthCheck {
    /// The path to GET.
    #[serde(default = "super::defaults::slash")]
    pub path: String,
    /// Seconds between checks (AWS default 30).
    pub interval_seconds: Option<u32>,
    /// Seconds before a check counts as failed (AWS default 5).
    pub timeout_seconds: Option<u32>,
    /// Passing checks in a row before a target is healthy (AWS default 5).
    pub healthy_threshold: Option<u32>,
    /// Failing checks in a row before a target is unhealthy (AWS default 2).
    pub unhealthy_threshold: Option<u32>,
    /// The status codes that count as healthy, for example `200` or `200-299`.
    pub matcher: Option<String>,
}

/// Create a target group.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.elbv2.create_target_group")]
pub struct CreateTargetGroupParams {
    /// At most 32 letters, digits and hyphens.
    pub name: String,
    pub vpc_id: String,
    #[serde(default = "super::defaults::port_80")]
    pub port: u16,
    #[serde(default = "super::defaults::http")]
    pub protocol: String,
    pub health_check: Option<HealthCheck>,
    #[serde(default)]
    pub tags: Tags,
}

/// Register instances with a target group.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.elbv2.register_targets")]
pub struct RegisterTargetsParams {
    pub target_group_arn: String,
    /// Instance ids; they must be running.
    pub targets: Vec<String>,
    /// The port on the targets (default: the target group's).
    pub port: Option<u16>,
}

/// Internet-facing or internal.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    #[default]
    InternetFacing,
    Internal,
}

/// Create an application load balancer.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.elbv2.create_load_balancer")]
pub struct CreateLoadBalancerParams {
    /// At most 32 letters, digits and hyphens.
    pub name: String,
    /// Subnets in at least two availability zones.
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    #[serde(default)]
    pub scheme: Scheme,
    /// Wait until the load balancer is active.
    #[serde(default = "super::defaults::yes")]
    pub wait: bool,
    #[serde(default)]
    pub tags: Tags,
}

/// Wait until a load balancer is active.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.elbv2.wait_load_balancer")]
pub struct WaitLoadBalancerParams {
    pub arn: String,
}

/// Create a listener that forwards to a target group.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.elbv2.create_listener")]
pub struct CreateListenerParams {
    pub load_balancer_arn: String,
    pub target_group_arn: String,
    #[serde(default = "super::defaults::port_80")]
    pub port: u16,
    #[serde(default = "super::defaults::http")]
    pub protocol: String,
}

/// A target health state to wait for.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    Healthy,
    Unhealthy,
    /// Not in service: what a stopped instance shows.
    Unused,
    /// Anything but healthy.
    NotHealthy,
}

/// Wait until targets reach a health state.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.elbv2.wait_target_health")]
pub struct WaitTargetHealthParams {
    pub target_group_arn: String,
    pub state: TargetState,
    /// Only these instance ids (default: every registered target).
    pub targets: Option<Vec<String>>,
    /// A time (RFC 3339, a stop or start step's `stopped_at` or `started_at`) the wait is measured
    /// from, as a drill's moment: polled every 2 s, and `seconds_since` says how long after it the
    /// targets were seen in the state.
    pub since: Option<String>,
}

fn load_balancer_usage(params: &serde_json::Value) -> Usage {
    Usage {
        hourly: Some(super::cost::load_balancer()),
        quota: Need {
            load_balancers: 1,
            ..Need::default()
        },
        names: taken("load balancer", params),
        ..Usage::default()
    }
}

fn target_group_usage(params: &serde_json::Value) -> Usage {
    Usage {
        names: taken("target group", params),
        ..Usage::default()
    }
}

/// The name a step takes in its region, when the plan knows it.
fn taken(kind: &str, params: &serde_json::Value) -> Vec<String> {
    let name = params["name"]
        .as_str()
        .filter(|n| !n.starts_with("(known after run"));
    name.map(|n| format!("{kind} {n}")).into_iter().collect()
}

/// A name AWS refuses, before anything runs.
fn lint_name(known: &serde_json::Value, kind: &str, load_balancer: bool) -> Option<ParamProblem> {
    let name = known.get("name").and_then(serde_json::Value::as_str)?;
    let problem = check_elb_name(name, load_balancer).err()?;
    Some(ParamProblem {
        param: "name",
        code: "aws-name",
        message: format!("`{name}` is not a valid {kind} name: {problem}"),
        help: "AWS allows at most 32 letters, digits and hyphens, without a hyphen at either end",
    })
}

/// Its name, and its health check's numbers within what `CreateTargetGroup` accepts.
fn lint_target_group(_step: &str, known: &serde_json::Value) -> Vec<ParamProblem> {
    let mut problems: Vec<ParamProblem> = lint_name(known, "target group", false)
        .into_iter()
        .collect();
    let Some(check) = known.get("health_check").filter(|c| c.is_object()) else {
        return problems;
    };
    let number = |field: &str| check.get(field).and_then(serde_json::Value::as_u64);
    for (field, low, high) in [
        ("interval_seconds", 5, 300),
        ("timeout_seconds", 2, 120),
        ("healthy_threshold", 2, 10),
        ("unhealthy_threshold", 2, 10),
    ] {
        if let Some(n) = number(field).filter(|n| !(low..=high).contains(n)) {
            problems.push(ParamProblem {
                param: "health_check",
                code: "health-check",
                message: format!("the health check's `{field}` is {n}; AWS accepts {low} to {high}"),
                help: "a target is judged unhealthy after `unhealthy_threshold` failed checks `interval_seconds` apart: 2 × 10 s is as fast as it goes with the defaults' 5 s timeout",
            });
        }
    }
    let (timeout, interval) = (
        number("timeout_seconds").unwrap_or(5),
        number("interval_seconds").unwrap_or(30),
    );
    if timeout >= interval {
        problems.push(ParamProblem {
            param: "health_check",
            code: "health-check",
            message: format!(
                "the health check's timeout ({timeout} s) is not shorter than its interval ({interval} s); AWS refuses that"
            ),
            help: "make `timeout_seconds` less than `interval_seconds` (AWS's defaults: 5 and 30)",
        });
    }
    if let Some(path) = check
        .get("path")
        .and_then(serde_json::Value::as_str)
        .filter(|p| !p.starts_with('/'))
    {
        problems.push(ParamProblem {
            param: "health_check",
            code: "health-check",
            message: format!("the health check's path `{path}` does not start with `/`"),
            help: "write the path as the web server sees it, for example `/` or `/health`",
        });
    }
    problems
}

/// Its name, and an internet-facing load balancer's subnets: at least two (one per zone).
fn lint_load_balancer(step: &str, known: &serde_json::Value) -> Vec<ParamProblem> {
    let mut problems: Vec<ParamProblem> = lint_name(known, "load balancer", true)
        .into_iter()
        .collect();
    let internet_facing = known
        .get("scheme")
        .and_then(serde_json::Value::as_str)
        .is_none_or(|s| s == "internet-facing");
    if let (true, Some(serde_json::Value::Array(subnets))) =
        (internet_facing, known.get("subnet_ids"))
    {
        if subnets.len() < 2 {
            problems.push(ParamProblem {
                param: "subnet_ids",
                code: "alb-subnets",
                message: format!(
                    "load balancer `{step}` has {} subnet; an application load balancer needs subnets in at least two availability zones",
                    subnets.len()
                ),
                help: "create a second subnet in another availability zone and list both",
            });
        }
    }
    problems
}

/// AWS's rules for load balancer and target group names.
pub fn check_elb_name(name: &str, load_balancer: bool) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > 32 {
        return Err(format!("it has {} characters, more than 32", name.len()));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!("`{bad}` is not a letter, digit or hyphen"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("it starts or ends with a hyphen".into());
    }
    if load_balancer && name.starts_with("internal-") {
        return Err("a load balancer name cannot start with `internal-`".into());
    }
    Ok(())
}

pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        summary: "Create a target group with an HTTP health check.",
        docs: "A target group is the set of instances a load balancer sends traffic to, and how it checks \
               that they are healthy. Console: EC2 › Target Groups.",
        outputs: Outputs::Fixed(&[
            out("arn", "string", "The target group's ARN."),
            out("name", "string", "Its name."),
        ]),
        undo: Some("deletes the target group"),
        cli: Some(super::aws_cli::create_target_group),
        creates: &[TARGET_GROUP],
        noun: Some("target group"),
        exercise: Some(Exercisable {
            looks: "the region's target groups with the step's name (a name is the account's, one per region)",
            compares: &["vpc_id", "port", "protocol", "health_check"],
            watch: false,
        }),
        usage: Some(target_group_usage),
        also: &["target_group", "create_tg", "tg", "elb_target_group"],
        ..ActionDef::new(
            "aws.elbv2.create_target_group",
            Effect::Creates,
            Params::of::<CreateTargetGroupParams>().linted(lint_target_group),
            &super::life::Life(CreateTargetGroup),
        )
    },
    ActionDef {
        summary: "Register running instances with a target group.",
        docs: "AWS accepts only running instances. Console: EC2 › Target Groups › Targets › Register targets.",
        undo: Some("deregisters the targets"),
        cli: Some(super::aws_cli::register_targets),
        also: &[
            "register_target",
            "register_instances",
            "attach_instances",
            "add_targets",
        ],
        ..ActionDef::new(
            "aws.elbv2.register_targets",
            Effect::Changes,
            Params::of::<RegisterTargetsParams>(),
            &RegisterTargets,
        )
    },
    ActionDef {
        summary: "Create an application load balancer and (by default) wait until it is active.",
        docs: "An internet-facing load balancer needs subnets in two availability zones and an internet \
               gateway on its VPC. It usually takes a few minutes to become active; its DNS name and \
               canonical hosted zone id are known at once. Console: EC2 › Load Balancers.",
        outputs: Outputs::Fixed(&[
            out("arn", "string", "The load balancer's ARN."),
            out("name", "string", "Its name."),
            out("dns_name", "string", "Its DNS name."),
            out(
                "canonical_hosted_zone_id",
                "string",
                "The hosted zone id to use in alias records.",
            ),
        ]),
        undo: Some("deletes the load balancer and waits until it is gone"),
        cli: Some(super::aws_cli::create_load_balancer),
        creates: &[LOAD_BALANCER],
        noun: Some("Application Load Balancer"),
        usage: Some(load_balancer_usage),
        also: &[
            "load_balancer",
            "create_alb",
            "alb",
            "create_elb",
            "elb",
            "lb",
            "create_lb",
            "elb_application_lb",
            "application_load_balancer",
        ],
        ..ActionDef::new(
            "aws.elbv2.create_load_balancer",
            Effect::Creates,
            Params::of::<CreateLoadBalancerParams>().linted(lint_load_balancer),
            &super::life::Life(CreateLoadBalancer),
        )
    },
    ActionDef {
        summary: "Wait until a load balancer is active.",
        docs: "Polls the load balancer's state (provisioning, active), showing what it sees.",
        cli: Some(super::aws_cli::wait_load_balancer),
        also: &[
            "wait_alb",
            "wait_lb",
            "wait_elb",
            "load_balancer_available",
            "wait_load_balancer_available",
        ],
        follows: true,
        ..ActionDef::new(
            "aws.elbv2.wait_load_balancer",
            Effect::Reads,
            Params::of::<WaitLoadBalancerParams>(),
            &WaitLoadBalancer,
        )
    },
    ActionDef {
        summary: "Create a listener that forwards to a target group.",
        docs: "The listener is the port the load balancer accepts traffic on. Console: EC2 › Load Balancers › \
               Listeners and rules.",
        outputs: Outputs::Fixed(&[out("arn", "string", "The listener's ARN.")]),
        undo: Some("deletes the listener"),
        cli: Some(super::aws_cli::create_listener),
        creates: &[LISTENER],
        noun: Some("listener"),
        also: &["listener", "add_listener"],
        ..ActionDef::new(
            "aws.elbv2.create_listener",
            Effect::Creates,
            Params::of::<CreateListenerParams>(),
            &super::life::Life(CreateListener),
        )
    },
    ActionDef {
        summary: "Wait until targets are healthy, unhealthy, unused, or anything but healthy.",
        docs: "Polls the target group's target health, showing each target's state and reason. A stopped \
               instance shows `unused` (Target.InvalidState), not `unhealthy`, until it is started: a wait \
               for `healthy` or `unhealthy` on one fails at once, saying so, instead of waiting out its bound.",
        outputs: Outputs::Fixed(&[
            out("states", "mapping", "Each target's state."),
            out(
                "reached_at",
                "string",
                "When the targets were seen in that state (RFC 3339).",
            ),
            out(
                "seconds_since",
                "integer",
                "With `since`: whole seconds from it until the targets were seen in that state.",
            ),
        ]),
        cli: Some(super::aws_cli::wait_target_health),
        also: &[
            "target_health",
            "describe_target_health",
            "wait_healthy",
            "wait_for_healthy",
        ],
        follows: true,
        ..ActionDef::new(
            "aws.elbv2.wait_target_health",
            Effect::Reads,
            Params::of::<WaitTargetHealthParams>(),
            &WaitTargetHealth,
        )
    },
];

// ---- Execution -------------------------------------------------------------------------------
//
// ELBv2 cannot filter by tag, and names are unique per region: reconcile looks a resource up by
// its name and adopts it only if its `runbook:key` tag is this step's; a same-named resource of
// someone else is reported, never adopted or deleted.

use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum,
    Matcher, ProtocolEnum, Tag, TargetDescription, TargetTypeEnum,
};

use std::collections::HashMap;

use aws_sdk_elasticloadbalancingv2::types::LoadBalancer;

use super::client::{Clients, clients};
use super::kinds::{LISTENER, LOAD_BALANCER, ResourceKind, TARGET_GROUP};
use super::life::{Creating, Finding, Finishing, Make, Step, made, missing};
use super::shared::{Answer, each_of};
use super::{Seen, Typical, code, found, sdk_error, standard_tags};
use crate::engine::action::{
    ActionError, ByHand, Checking, Context, Evaluating, Executor, Outcome, Resource, Running,
    Undoing, Undone, Verdict,
};

fn tags(ctx: &Context<'_>, name: &str, extra: &Tags) -> Vec<Tag> {
    standard_tags(ctx, Some(name), extra)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn valid_name(name: &str, load_balancer: bool) -> Result<(), ActionError> {
    check_elb_name(name, load_balancer).map_err(|problem| {
        ActionError::new(format!(
            "`{name}` is not a valid {} name: {problem}",
            if load_balancer {
                "load balancer"
            } else {
                "target group"
            }
        ))
        .hint("AWS allows at most 32 letters, digits and hyphens, without a hyphen at either end")
        .invalid_input()
    })
}

/// Whether the resource `arn` carries this step's key; `Err` when it belongs to someone else.
/// `Ok` when the resource carries this step's key. When it does not, a step going on with it
/// fails (the name is taken); rollback's look (`!ctx.adopting`) is told `Ok(false)`: not ours.
/// The tags are asked together with every other run's (`Clients::elbv2_tags`): a class's sixty
/// creates cost a few `DescribeTags` calls, not sixty of the ten reads a second `ELBv2` allows.
async fn owned(c: &Clients, ctx: &Context<'_>, arn: &str, what: &str) -> Result<bool, ActionError> {
    let elbv2 = c.elbv2.clone();
    let tags = c
        .elbv2_tags
        .get(arn, move |arns| describe_tags(elbv2, arns))
        .await?
        .unwrap_or_default();
    let mine = super::tags::has(super::tags::elbv2(&tags), super::tags::KEY, ctx.key);
    if mine || !ctx.adopting {
        Ok(mine)
    } else {
        Err(ActionError::new(format!(
            "{what} already exists and was not created by this step"
        ))
        .hint("choose another name (a different `prefix` var), or delete the existing one"))
    }
}

/// The tags of each of `arns` (load balancers, target groups), twenty to a call ([`each_of`]).
/// Also how many calls that took.
pub(super) async fn describe_tags(
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    arns: Vec<String>,
) -> (HashMap<String, Answer<Vec<Tag>>>, u64) {
    each_of(
        arns,
        20,
        |_| false,
        |arns| {
            let elbv2 = elbv2.clone();
            async move {
                let out = elbv2
                    .describe_tags()
                    .set_resource_arns(Some(arns))
                    .send()
                    .await
                    .map_err(|e| sdk_error("DescribeTags", &e))?;
                Ok(out
                    .tag_descriptions()
                    .iter()
                    .filter_map(|d| Some((d.resource_arn()?.to_owned(), d.tags().to_vec())))
                    .collect())
            }
        },
    )
    .await
}

fn protocol(p: &str) -> ProtocolEnum {
    ProtocolEnum::from(p.to_ascii_uppercase().as_str())
}

pub(super) struct CreateTargetGroup;

fn group_outcome(arn: &str, name: &str) -> Outcome {
    made(TARGET_GROUP, arn, &[("name", name.into())])
}

/// The account's other regions with a target group of this name: a learner who built it with the
/// console set to another region is told where it is. Only a hint beside "none in the run's
/// region": a region that cannot be asked (not enabled, refused) is left out.
async fn groups_elsewhere(c: &Clients, name: &str) -> Vec<String> {
    let Ok(regions) = c.ec2.describe_regions().send().await else {
        return Vec::new();
    };
    let asks = regions
        .regions()
        .iter()
        .filter_map(|r| r.region_name())
        .filter(|r| *r != c.region)
        .map(|region| {
            let config = c
                .elbv2
                .config()
                .to_builder()
                .region(aws_config::Region::new(region.to_owned()))
                .build();
            let client = aws_sdk_elasticloadbalancingv2::Client::from_conf(config);
            let region = region.to_owned();
            async move {
                let out = client.describe_target_groups().names(name).send().await;
                out.ok()
                    .filter(|o| !o.target_groups().is_empty())
                    .map(|_| region)
            }
        });
    let mut found: Vec<String> = futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect();
    found.sort();
    found
}

/// How a target group made by hand differs from the step's, in the parameters compared.
fn group_differences(
    p: &CreateTargetGroupParams,
    group: &aws_sdk_elasticloadbalancingv2::types::TargetGroup,
    compare: &[String],
) -> Vec<String> {
    let compared = |name: &str| compare.iter().any(|c| c == name);
    let mut differences = Vec::new();
    let vpc = group.vpc_id().unwrap_or("?");
    if compared("vpc_id") && vpc != p.vpc_id {
        differences.push(format!(
            "the target group is in VPC {vpc}; this step needs VPC {}",
            p.vpc_id
        ));
    }
    let port = group.port().unwrap_or_default();
    if compared("port") && port != i32::from(p.port) {
        differences.push(format!("its port is {port}; this step needs {}", p.port));
    }
    let protocol = group.protocol().map_or("?", ProtocolEnum::as_str);
    if compared("protocol") && !protocol.eq_ignore_ascii_case(&p.protocol) {
        differences.push(format!(
            "its protocol is {protocol}; this step needs {}",
            p.protocol.to_ascii_uppercase()
        ));
    }
    if let (true, Some(h)) = (compared("health_check"), &p.health_check) {
        let path = group.health_check_path().unwrap_or("/");
        if path != h.path {
            differences.push(format!(
                "its health check asks for {path}; this step needs {}",
                h.path
            ));
        }
    }
    differences
}

impl Make for CreateTargetGroup {
    type Params = CreateTargetGroupParams;
    const KIND: ResourceKind = TARGET_GROUP;

    fn create<'a>(&'a self, s: Step<'a, Self::Params>) -> Creating<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
            valid_name(&p.name, false)?;
            ctx.progress
                .status(&format!("creating target group {}", p.name));
            let mut req = c
                .elbv2
                .create_target_group()
                .name(&p.name)
                .protocol(protocol(&p.protocol))
                .port(i32::from(p.port))
                .vpc_id(&p.vpc_id)
                .target_type(TargetTypeEnum::Instance)
                .set_tags(Some(tags(ctx, &p.name, &p.tags)));
            if let Some(h) = &p.health_check {
                req = req
                    .health_check_path(&h.path)
                    .set_health_check_interval_seconds(
                        h.interval_seconds
                            .map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
                    )
                    .set_health_check_timeout_seconds(
                        h.timeout_seconds
                            .map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
                    )
                    .set_healthy_threshold_count(
                        h.healthy_threshold
                            .map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
                    )
                    .set_unhealthy_threshold_count(
                        h.unhealthy_threshold
                            .map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
                    );
                if let Some(m) = &h.matcher {
                    req = req.matcher(Matcher::builder().http_code(m).build());
                }
            }
            // A VPC made seconds ago may be unknown to ELB for a while (EC2 is eventually
            // consistent): "The VPC ID '…' is not found" is waited out like EC2's own NotFound.
            let (out, resent) = super::watch::noting_unanswered(super::settle(
                ctx,
                "CreateTargetGroup",
                super::CONSISTENCY,
                |code, message| code == "ValidationError" && vpc_not_found_yet(message),
                || req.clone().send(),
            ))
            .await;
            let outcome = match out {
                Ok(out) => match out
                    .target_groups()
                    .first()
                    .and_then(|g| g.target_group_arn())
                {
                    // AWS answers a create with an existing group's name and settings with that
                    // group: never adopt (and later delete) one that another run or person made.
                    Some(arn) => owned(c, ctx, arn, &format!("target group `{}`", p.name))
                        .await
                        .map(|_| group_outcome(arn, &p.name)),
                    None => Err(missing("target group ARN")),
                },
                Err(e) => Err(e),
            };
            Ok((outcome, resent))
        })
    }

    /// AWS answers a resend with the group it made; an emulator may refuse the name.
    fn made_before(&self, code: &str, resent: bool) -> bool {
        resent && code == "DuplicateTargetGroupName"
    }

    /// The group of the step's name, when it carries the step's key.
    fn find<'a>(&'a self, s: Step<'a, Self::Params>) -> Finding<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
            let Some(out) = found(
                "DescribeTargetGroups",
                c.elbv2.describe_target_groups().names(&p.name).send().await,
                &["TargetGroupNotFound"],
            )?
            else {
                return Ok(None);
            };
            let Some(arn) = out
                .target_groups()
                .first()
                .and_then(|g| g.target_group_arn())
            else {
                return Ok(None);
            };
            if !owned(c, ctx, arn, &format!("target group `{}`", p.name)).await? {
                return Ok(None);
            }
            Ok(Some(group_outcome(arn, &p.name)))
        })
    }

    fn by_hand<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        c: &'a Clients,
        p: Self::Params,
        compare: &'a [String],
    ) -> Checking<'a> {
        Box::pin(async move {
            ctx.progress
                .status(&format!("looking for the target group {}", p.name));
            let out = found(
                "DescribeTargetGroups",
                c.elbv2.describe_target_groups().names(&p.name).send().await,
                &["TargetGroupNotFound"],
            )?;
            let Some(group) = out.and_then(|o| o.target_groups().first().cloned()) else {
                let seen = groups_elsewhere(c, &p.name)
                    .await
                    .into_iter()
                    .map(|region| {
                        format!(
                            "a target group named {} is in {region}: this run works in {} (the console's region is at its top right)",
                            p.name, c.region
                        )
                    })
                    .collect();
                return Ok(ByHand::Nothing {
                    looked: format!("target groups named {} in {}", p.name, c.region),
                    seen,
                });
            };
            let arn = group.target_group_arn().unwrap_or_default().to_owned();
            let what = format!("target group {} ({arn})", p.name);
            let differences = group_differences(&p, &group, compare);
            if !differences.is_empty() {
                return Ok(ByHand::Differs { what, differences });
            }
            if ctx.adopting {
                // Tagged as the step's, like one it made: `sweep --tag` and resume find it.
                c.elbv2
                    .add_tags()
                    .resource_arns(&arn)
                    .set_tags(Some(tags(ctx, &p.name, &p.tags)))
                    .send()
                    .await
                    .map_err(|e| sdk_error("AddTags", &e))?;
            }
            Ok(ByHand::Matches {
                outcome: group_outcome(&arn, &p.name),
                what,
            })
        })
    }
}

/// Delete a target group (looked at first: its delete succeeds on nothing); one a listener still
/// uses is retried.
pub(super) async fn delete_target_group(
    ctx: &Context<'_>,
    c: &Clients,
    r: &Resource,
) -> Result<Undone, ActionError> {
    ctx.progress
        .status(&format!("deleting target group {}", r.id));
    match c
        .elbv2
        .delete_target_group()
        .target_group_arn(&r.id)
        .send()
        .await
    {
        Ok(_) => Ok(Undone::Removed),
        Err(e) if code(&e).as_deref() == Some("TargetGroupNotFound") => Ok(Undone::AlreadyGone),
        Err(e) if code(&e).as_deref() == Some("ResourceInUse") => Err(ActionError::retryable(
            format!("target group {} is still used by a listener", r.id),
        )),
        Err(e) => Err(sdk_error("DeleteTargetGroup", &e)),
    }
}

pub(super) struct RegisterTargets;

fn targets(ids: &[String], port: Option<u16>) -> Vec<TargetDescription> {
    ids.iter()
        .map(|id| {
            TargetDescription::builder()
                .id(id)
                .set_port(port.map(i32::from))
                .build()
        })
        .collect()
}

impl Executor for RegisterTargets {
    /// In place when every target is registered in the group; else ready.
    fn evaluate<'a>(&'a self, ctx: &'a Context<'a>) -> Evaluating<'a> {
        Box::pin(async move {
            let p: RegisterTargetsParams = ctx.params()?;
            let health = target_health(clients(ctx)?, &p.target_group_arn).await?;
            let registered: Vec<&str> = health
                .target_health_descriptions()
                .iter()
                .filter_map(|d| d.target()?.id())
                .collect();
            Ok(
                if p.targets.iter().all(|t| registered.contains(&t.as_str())) {
                    (
                        Verdict::InPlace {
                            what: format!("{} registered", p.targets.join(", ")),
                        },
                        Some(Outcome::default()),
                    )
                } else {
                    (
                        Verdict::Ready {
                            why: "the run would register the targets".to_owned(),
                        },
                        None,
                    )
                },
            )
        })
    }

    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: RegisterTargetsParams = ctx.params()?;
            let c = clients(ctx)?;
            ctx.progress
                .status(&format!("registering {}", p.targets.join(", ")));
            // Registering is idempotent: a resume simply registers again. AWS accepts only
            // running instances: `InvalidTarget` settles within a couple of minutes.
            super::settle(
                ctx,
                "RegisterTargets",
                Duration::from_secs(180),
                |code, _| code == "InvalidTarget",
                || {
                    c.elbv2
                        .register_targets()
                        .target_group_arn(&p.target_group_arn)
                        .set_targets(Some(targets(&p.targets, p.port)))
                        .send()
                },
            )
            .await?;
            let mut o = Outcome::default();
            o.resources.push(Resource {
                kind: super::kinds::REGISTERED_TARGETS.into(),
                id: p.target_group_arn.clone(),
                undo: serde_json::json!({ "targets": p.targets, "port": p.port }),
                changed: Vec::new(),
                region: None,
            });
            Ok(o)
        })
    }

    fn undo<'a>(&'a self, ctx: &'a Context<'a>, r: &'a Resource) -> Undoing<'a> {
        Box::pin(async move {
            let unreadable = |e: serde_json::Error| {
                ActionError::new(format!(
                    "the journal's record of the targets of {} is unreadable: {e}",
                    r.id
                ))
            };
            let ids: Vec<String> =
                serde_json::from_value(r.undo["targets"].clone()).map_err(unreadable)?;
            let port: Option<u16> =
                serde_json::from_value(r.undo["port"].clone()).map_err(unreadable)?;
            let c = clients(ctx)?;
            // Deregistering what is not registered succeeds: look first, so that targets (or a
            // group) removed behind the run's back read "already gone".
            let Some(health) = found(
                "DescribeTargetHealth",
                c.elbv2
                    .describe_target_health()
                    .target_group_arn(&r.id)
                    .send()
                    .await,
                &["TargetGroupNotFound"],
            )?
            else {
                return Ok(Undone::AlreadyGone);
            };
            let registered: Vec<String> = health
                .target_health_descriptions()
                .iter()
                .filter_map(|d| d.target()?.id().map(str::to_owned))
                .filter(|id| ids.contains(id))
                .collect();
            if registered.is_empty() {
                return Ok(Undone::AlreadyGone);
            }
            ctx.progress
                .status(&format!("deregistering {}", registered.join(", ")));
            match c
                .elbv2
                .deregister_targets()
                .target_group_arn(&r.id)
                .set_targets(Some(targets(&registered, port)))
                .send()
                .await
            {
                Ok(_) => Ok(Undone::Removed),
                Err(e)
                    if matches!(
                        code(&e).as_deref(),
                        Some("TargetGroupNotFound" | "InvalidTarget")
                    ) =>
                {
                    Ok(Undone::AlreadyGone)
                }
                Err(e) => Err(sdk_error("DeregisterTargets", &e)),
            }
        })
    }
}

pub(super) struct CreateLoadBalancer;

fn balancer_outcome(lb: &LoadBalancer) -> Outcome {
    let arn = lb.load_balancer_arn().unwrap_or_default();
    let outputs = [
        ("name", lb.load_balancer_name().unwrap_or_default().into()),
        ("dns_name", lb.dns_name().unwrap_or_default().into()),
        (
            "canonical_hosted_zone_id",
            lb.canonical_hosted_zone_id().unwrap_or_default().into(),
        ),
    ];
    made(LOAD_BALANCER, arn, &outputs)
}

/// ELB's words for a VPC it does not know (yet): `The VPC ID 'vpc-…' is not found`.
fn vpc_not_found_yet(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("vpc") && message.contains("not found")
}

/// The internet gateways attached to a VPC, as EC2 describes them by the attachment filter.
async fn gateways_of(c: &Clients, vpc: &str) -> Result<usize, ActionError> {
    let gateways = c
        .ec2
        .describe_internet_gateways()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("attachment.vpc-id")
                .values(vpc)
                .build(),
        )
        .send()
        .await
        .map_err(|e| sdk_error("DescribeInternetGateways", &e))?;
    Ok(gateways.internet_gateways().len())
}

/// Whether this run made an internet gateway: its attachment, seconds old, may not show in a
/// filtered read yet (EC2 is eventually consistent).
async fn run_made_a_gateway(ctx: &Context<'_>, c: &Clients) -> Result<bool, ActionError> {
    let gateways = c
        .ec2
        .describe_internet_gateways()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:runbook:run")
                .values(ctx.run_id)
                .build(),
        )
        .send()
        .await
        .map_err(|e| sdk_error("DescribeInternetGateways", &e))?;
    Ok(!gateways.internet_gateways().is_empty())
}

/// What AWS checks before it creates an internet-facing load balancer, asked first so that the
/// message can say what to change: subnets in at least two availability zones, and an internet
/// gateway attached to their VPC (AWS: `ValidationError`, `InvalidSubnet` "VPC … has no internet
/// gateway").
async fn internet_ready(
    ctx: &Context<'_>,
    c: &Clients,
    subnet_ids: &[String],
) -> Result<(), ActionError> {
    // Subnets created moments ago may not be visible yet (EC2 is eventually consistent).
    let out = super::consistent(ctx, "DescribeSubnets", || {
        c.ec2
            .describe_subnets()
            .set_subnet_ids(Some(subnet_ids.to_vec()))
            .send()
    })
    .await?;
    let mut zones: Vec<&str> = out
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone())
        .collect();
    zones.sort_unstable();
    zones.dedup();
    if zones.len() < 2 {
        return Err(ActionError::new(format!(
            "an internet-facing load balancer needs subnets in at least two availability zones; {} {} in {}",
            subnet_ids.join(", "),
            if subnet_ids.len() == 1 { "is" } else { "are all" },
            zones.first().copied().unwrap_or("one zone")
        ))
        .hint("create a second subnet in another zone (for example `{{ aws.region }}b`) and list both in `subnet_ids`")
        .invalid_input());
    }
    let mut vpcs: Vec<&str> = out.subnets().iter().filter_map(|s| s.vpc_id()).collect();
    vpcs.sort_unstable();
    vpcs.dedup();
    for vpc in vpcs {
        if gateways_of(c, vpc).await? > 0 {
            continue;
        }
        let missing = || {
            ActionError::new(format!(
                "VPC {vpc} has no internet gateway, and an internet-facing load balancer needs one"
            ))
            .hint("add an aws.ec2.create_internet_gateway step for the VPC and make this step use one of its outputs so that it runs after it")
            .invalid_input()
        };
        // None attached: wrong at once, unless this run has just made one, whose attachment a
        // filtered read may not show yet; that is waited out as EC2's NotFound is.
        if !run_made_a_gateway(ctx, c).await? {
            return Err(missing());
        }
        super::settle_errors(
            ctx,
            super::CONSISTENCY,
            |code, _| code == "GatewayNotVisibleYet",
            || async {
                if gateways_of(c, vpc).await? > 0 {
                    Ok(())
                } else {
                    let mut e = ActionError::new(format!(
                        "the internet gateway of VPC {vpc} is not visible yet"
                    ));
                    e.code = Some("GatewayNotVisibleYet".into());
                    Err(e)
                }
            },
        )
        .await
        .map_err(|e| {
            if e.code.as_deref() == Some("GatewayNotVisibleYet") {
                missing()
            } else {
                e
            }
        })?;
    }
    Ok(())
}

/// A load balancer's name, from its ARN (`…:loadbalancer/app/NAME/ID`).
/// Every load balancer of the account and region, page after page (a class's account holds more
/// than one page: 400 on AWS, 50 on the emulator).
pub(super) async fn all_load_balancers(c: &Clients) -> Result<Vec<LoadBalancer>, ActionError> {
    Ok(pages!(
        c.elbv2.describe_load_balancers(),
        "DescribeLoadBalancers"
    ))
}

pub(super) fn short_name(arn: &str) -> &str {
    arn.rsplit('/').nth(1).unwrap_or(arn)
}

/// What `DescribeLoadBalancers` says of each of `arns`, twenty to a call ([`each_of`]); one AWS
/// does not know is `None`. Also how many calls that took. Every wait for load balancers of a
/// target polls through this, shared (`Clients::load_balancers`).
pub(super) async fn describe_load_balancers(
    c: &Clients,
    arns: Vec<String>,
) -> (HashMap<String, Answer<LoadBalancer>>, u64) {
    each_of(
        arns,
        20,
        |code| code == "LoadBalancerNotFound",
        |arns| async move {
            let out = c
                .elbv2
                .describe_load_balancers()
                .set_load_balancer_arns(Some(arns))
                .send()
                .await
                .map_err(|e| sdk_error("DescribeLoadBalancers", &e))?;
            Ok(out
                .load_balancers()
                .iter()
                .filter_map(|lb| Some((lb.load_balancer_arn()?.to_owned(), lb.clone())))
                .collect())
        },
    )
    .await
}

/// Poll until the load balancer is active, showing its state and the time; the poll is shared
/// with every other wait for load balancers of the target.
async fn wait_active(ctx: &Context<'_>, c: &Clients, arn: &str) -> Result<(), ActionError> {
    let what = format!("load balancer {}", short_name(arn));
    let started = tokio::time::Instant::now();
    let watch = c.load_balancers.watch(&[arn.to_owned()]);
    super::poll_shared(
        ctx,
        (&what, "active"),
        Typical::LOAD_BALANCER,
        "look at the load balancer's state reason (EC2 › Load balancers › the load balancer) and the AWS Health Dashboard for the region",
        |due| {
            let watch = &watch;
            async move {
                let answer = watch.next(due, |arns| describe_load_balancers(c, arns));
                let answer = answer.await.pop().unwrap_or(Ok(None))?;
                let Some(lb) = answer else {
                    // Just created, it may be unknown for a moment (ELB is eventually consistent).
                    if started.elapsed() < super::CONSISTENCY {
                        return Ok(Seen::Waiting("not visible yet".to_owned()));
                    }
                    return Err(ActionError::new(format!("load balancer {arn} does not exist"))
                        .hint("it was deleted while this step waited for it: run the step again (resume) to create it anew"));
                };
                let state = lb.state().and_then(|s| s.code()).cloned();
                match state {
                    Some(LoadBalancerStateEnum::Active) => Ok(Seen::Done(())),
                    Some(LoadBalancerStateEnum::Failed) => Err(ActionError::new(format!(
                        "load balancer {arn} failed to provision"
                    ))
                    .hint("see its state reason in the EC2 console (EC2 › Load Balancers)")),
                    other => Ok(Seen::Waiting(
                        other
                            .as_ref()
                            .map_or("unknown", LoadBalancerStateEnum::as_str)
                            .to_owned(),
                    )),
                }
            }
        },
    )
    .await
}

impl Make for CreateLoadBalancer {
    type Params = CreateLoadBalancerParams;
    const KIND: ResourceKind = LOAD_BALANCER;

    fn create<'a>(&'a self, s: Step<'a, Self::Params>) -> Creating<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
            valid_name(&p.name, true)?;
            if p.scheme == Scheme::InternetFacing && p.subnet_ids.len() < 2 {
                return Err(ActionError::new("an internet-facing application load balancer needs subnets in at least two availability zones").invalid_input());
            }
            if p.scheme == Scheme::InternetFacing {
                ctx.progress
                    .status("checking the subnets' zones and the VPC's internet gateway");
                internet_ready(ctx, c, &p.subnet_ids).await?;
            }
            ctx.progress
                .status(&format!("creating load balancer {}", p.name));
            let scheme = match p.scheme {
                Scheme::InternetFacing => LoadBalancerSchemeEnum::InternetFacing,
                Scheme::Internal => LoadBalancerSchemeEnum::Internal,
            };
            // Subnets and security groups made moments ago may be unknown to ELB for a while
            // (`InvalidSubnet`, `InvalidSecurityGroup`; a gateway just attached, "has no internet
            // gateway"): what EC2 says was checked above, so those are waited out.
            let (out, resent) = super::watch::noting_unanswered(super::settle(
                ctx,
                "CreateLoadBalancer",
                super::CONSISTENCY,
                |code, _| matches!(code, "InvalidSubnet" | "InvalidSecurityGroup"),
                || {
                    c.elbv2
                        .create_load_balancer()
                        .name(&p.name)
                        .r#type(LoadBalancerTypeEnum::Application)
                        .scheme(scheme.clone())
                        .set_subnets(Some(p.subnet_ids.clone()))
                        .set_security_groups(Some(p.security_group_ids.clone()))
                        .set_tags(Some(tags(ctx, &p.name, &p.tags)))
                        .send()
                },
            ))
            .await;
            let outcome = match out {
                Ok(out) => match out.load_balancers().first() {
                    // As for target groups: the same name and settings give the existing one on
                    // AWS.
                    Some(lb) => {
                        let arn = lb.load_balancer_arn().unwrap_or_default();
                        owned(c, ctx, arn, &format!("load balancer `{}`", p.name))
                            .await
                            .map(|_| balancer_outcome(lb))
                    }
                    None => Err(missing("load balancer")),
                },
                Err(e) => Err(e),
            };
            Ok((outcome, resent))
        })
    }

    /// AWS answers a resend with the load balancer it made; an emulator may refuse.
    fn made_before(&self, code: &str, resent: bool) -> bool {
        resent && code == "DuplicateLoadBalancerName"
    }

    /// The load balancer of the step's name, when it carries the step's key.
    fn find<'a>(&'a self, s: Step<'a, Self::Params>) -> Finding<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
            let Some(out) = found(
                "DescribeLoadBalancers",
                c.elbv2
                    .describe_load_balancers()
                    .names(&p.name)
                    .send()
                    .await,
                &["LoadBalancerNotFound"],
            )?
            else {
                return Ok(None);
            };
            let Some(lb) = out.load_balancers().first() else {
                return Ok(None);
            };
            let arn = lb.load_balancer_arn().unwrap_or_default();
            if !owned(c, ctx, arn, &format!("load balancer `{}`", p.name)).await? {
                return Ok(None);
            }
            Ok(Some(balancer_outcome(lb)))
        })
    }

    fn finish<'a>(&'a self, s: Step<'a, Self::Params>, made: &'a mut Outcome) -> Finishing<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
            if p.wait {
                wait_active(ctx, c, &made.resources[0].id).await?;
            }
            Ok(())
        })
    }
}

/// Delete a load balancer (looked at first: its delete succeeds on nothing) and wait until it is
/// gone: until then its subnets and security groups stay busy.
pub(super) async fn delete_load_balancer(
    ctx: &Context<'_>,
    c: &Clients,
    r: &Resource,
) -> Result<Undone, ActionError> {
    ctx.progress
        .status(&format!("deleting load balancer {}", r.id));
    match c
        .elbv2
        .delete_load_balancer()
        .load_balancer_arn(&r.id)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if code(&e).as_deref() == Some("LoadBalancerNotFound") => {
            return Ok(Undone::AlreadyGone);
        }
        Err(e) => return Err(sdk_error("DeleteLoadBalancer", &e)),
    }
    // Deletion is asynchronous: its subnets and security groups stay busy until it is gone.
    let what = format!("load balancer {}", short_name(&r.id));
    let watch = c.load_balancers.watch(std::slice::from_ref(&r.id));
    super::poll_shared(
        ctx,
        (&what, "gone"),
        Typical::DELETION,
        "look for it in EC2 › Load balancers; deletion protection keeps a load balancer",
        |due| {
            let watch = &watch;
            async move {
                let answer = watch.next(due, |arns| describe_load_balancers(c, arns));
                match answer.await.pop().unwrap_or(Ok(None))? {
                    None => Ok(Seen::Done(())),
                    Some(_) => Ok(Seen::Waiting("still there".to_owned())),
                }
            }
        },
    )
    .await?;
    Ok(Undone::Removed)
}

pub(super) struct WaitLoadBalancer;

impl Executor for WaitLoadBalancer {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: WaitLoadBalancerParams = ctx.params()?;
            let c = clients(ctx)?;
            wait_active(ctx, c, &p.arn).await?;
            Ok(Outcome::default())
        })
    }
}

pub(super) struct CreateListener;

fn listener_outcome(arn: &str) -> Outcome {
    made(LISTENER, arn, &[])
}

impl Make for CreateListener {
    type Params = CreateListenerParams;
    const KIND: ResourceKind = LISTENER;

    fn create<'a>(&'a self, s: Step<'a, Self::Params>) -> Creating<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
            ctx.progress
                .status(&format!("creating a listener on port {}", p.port));
            let forward = Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(&p.target_group_arn)
                .build();
            let (out, resent) = super::watch::noting_unanswered(Box::pin(
                c.elbv2
                    .create_listener()
                    .load_balancer_arn(&p.load_balancer_arn)
                    .protocol(protocol(&p.protocol))
                    .port(i32::from(p.port))
                    .default_actions(forward)
                    .send(),
            ))
            .await;
            let outcome = out
                .map_err(|e| sdk_error("CreateListener", &e))
                .and_then(|out| {
                    let arn = out.listeners().first().and_then(|l| l.listener_arn());
                    arn.map(listener_outcome)
                        .ok_or_else(|| missing("listener ARN"))
                });
            Ok((outcome, resent))
        })
    }

    /// A resend meets the listener the first call made (one per port).
    fn made_before(&self, code: &str, resent: bool) -> bool {
        resent && code == "DuplicateListener"
    }

    /// The load balancer's listener on the step's port (it has one per port).
    fn find<'a>(&'a self, s: Step<'a, Self::Params>) -> Finding<'a> {
        let Step { c, p, .. } = s;
        Box::pin(async move {
            let Some(out) = found(
                "DescribeListeners",
                c.elbv2
                    .describe_listeners()
                    .load_balancer_arn(&p.load_balancer_arn)
                    .send()
                    .await,
                &["LoadBalancerNotFound"],
            )?
            else {
                return Ok(None);
            };
            let found = out
                .listeners()
                .iter()
                .find(|l| l.port() == Some(i32::from(p.port)))
                .and_then(|l| l.listener_arn());
            Ok(found.map(listener_outcome))
        })
    }
}

/// A target group's health: read now, or a moment ago by another step (`Clients::target_health`).
pub(super) async fn target_health(
    c: &Clients,
    arn: &str,
) -> Result<
    aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput,
    ActionError,
> {
    c.target_health
        .of(
            arn,
            |_| false,
            || async {
                c.elbv2
                    .describe_target_health()
                    .target_group_arn(arn)
                    .send()
                    .await
                    .map_err(|e| sdk_error("DescribeTargetHealth", &e))
            },
        )
        .await
}

pub(super) struct WaitTargetHealth;

impl Executor for WaitTargetHealth {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: WaitTargetHealthParams = ctx.params()?;
            let c = clients(ctx)?;
            let want = match p.state {
                TargetState::Healthy => "healthy",
                TargetState::Unhealthy => "unhealthy",
                TargetState::Unused => "unused",
                TargetState::NotHealthy => "not healthy",
            };
            let group = short_name(&p.target_group_arn).to_owned();
            let since = crate::actions::measured_from(p.since.as_deref())?;
            // A drill's moment (`since`): polled every 2 s, so the time is within that.
            let typical = if since.is_some() {
                Typical::TARGETS.measured()
            } else {
                Typical::TARGETS
            };
            super::poll(
                ctx,
                (&format!("targets of {group}"), want),
                typical,
                "check that the web servers' security group allows the health-check port from the load balancer's group, \
                 that the health-check path answers 200, and the instance's /var/log/cloud-init-output.log (its user data)",
                || async {
                    let out = target_health(c, &p.target_group_arn).await?;
                    let seen: Vec<(String, String, String)> = out
                        .target_health_descriptions()
                        .iter()
                        .filter_map(|d| {
                            let id = d.target()?.id()?.to_owned();
                            let health = d.target_health();
                            let state = health
                                .and_then(|h| h.state())
                                .map_or("unknown", |s| s.as_str())
                                .to_owned();
                            // AWS's reason code and its words: why a target is not healthy.
                            let reason = match (
                                health.and_then(|h| h.reason()),
                                health.and_then(|h| h.description()),
                            ) {
                                (Some(r), Some(d)) => format!("{}: {d}", r.as_str()),
                                (Some(r), None) => r.as_str().to_owned(),
                                (None, Some(d)) => d.to_owned(),
                                (None, None) => String::new(),
                            };
                            Some((id, state, reason))
                        })
                        .filter(|(id, _, _)| p.targets.as_ref().is_none_or(|t| t.contains(id)))
                        .collect();
                    let done = !seen.is_empty()
                        && seen.iter().all(|(_, state, _)| match p.state {
                            TargetState::NotHealthy => state != "healthy",
                            _ => state == want,
                        });
                    if done {
                        let mut o = Outcome::default();
                        let states: serde_json::Map<String, serde_json::Value> = seen
                            .iter()
                            .map(|(id, s, _)| (id.clone(), s.clone().into()))
                            .collect();
                        o.outputs.insert("states".into(), states.into());
                        o.outputs
                            .insert("reached_at".into(), crate::engine::journal::now().into());
                        if let Some(at) = since {
                            let seconds = crate::actions::seconds_since(at);
                            o.outputs.insert("seconds_since".into(), seconds.into());
                        }
                        return Ok(Seen::Done(o));
                    }
                    if let Some(e) = cannot_reach(c, p.state, &seen).await {
                        return Err(e);
                    }
                    let shown: Vec<String> = seen
                        .iter()
                        .map(|(id, s, r)| {
                            if r.is_empty() {
                                format!("{id} {s}")
                            } else {
                                format!("{id} {s} ({r})")
                            }
                        })
                        .collect();
                    Ok(Seen::Waiting(if shown.is_empty() {
                        "no targets registered".to_owned()
                    } else {
                        shown.join(", ")
                    }))
                },
            )
            .await
        })
    }
}

/// Why a wait for `healthy` or `unhealthy` cannot end, when a target shows `unused` because its
/// instance is stopped (`Target.InvalidState`): it stays so until someone starts the instance,
/// so the wait fails now, saying what to do, rather than at its bound. An instance still
/// starting shows the same reason, which is why its state is looked at.
async fn cannot_reach(
    c: &Clients,
    want: TargetState,
    seen: &[(String, String, String)],
) -> Option<ActionError> {
    if !matches!(want, TargetState::Healthy | TargetState::Unhealthy) {
        return None;
    }
    let unused: Vec<String> = seen
        .iter()
        .filter(|(id, state, reason)| {
            id.starts_with("i-") && state == "unused" && reason.starts_with("Target.InvalidState")
        })
        .map(|(id, _, _)| id.clone())
        .collect();
    if unused.is_empty() {
        return None;
    }
    let stopped = super::instances::out_of_service(c, &unused).await;
    let (id, state) = stopped.first()?;
    let named = stopped
        .iter()
        .map(|(id, state)| format!("{id} is {state}"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(if want == TargetState::Healthy {
        ActionError::new(format!(
            "the targets cannot become healthy: instance {named}, and a stopped instance's target \
             stays `unused` until it is started"
        ))
        .hint(if state == "terminated" || state == "shutting-down" {
            "register a running instance in the target group instead (it is gone for good)"
                .to_owned()
        } else {
            format!(
                "start it (an `aws.ec2.start_instances` step before this one, or \
                 `aws ec2 start-instances --instance-ids {id}`), then go on with `runbook resume`"
            )
        })
    } else {
        ActionError::new(format!(
            "the targets will not show `unhealthy`: instance {named}, and a stopped instance's \
             target shows `unused` (Target.InvalidState), never `unhealthy`"
        ))
        .hint("wait for `state: unused` (or `not_healthy`: anything but healthy) after a stop")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn elb_names_follow_aws_rules() {
        assert!(super::check_elb_name("lab-primary-alb", true).is_ok());
        assert!(super::check_elb_name(&"a".repeat(33), true).is_err());
        assert!(super::check_elb_name("lab_primary", true).is_err());
        assert!(super::check_elb_name("-lab", false).is_err());
        assert!(super::check_elb_name("internal-lab", true).is_err());
        assert!(super::check_elb_name("internal-lab", false).is_ok());
    }
}
