//! Elastic Load Balancing v2: target groups, application load balancers and listeners.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Tags;
use crate::actions::{ActionDef, Effect, Outputs, Params, out};

/// How the load balancer checks a target's health.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "health check")]
pub struct HealthCheck {
    /// The path to GET.
    #[serde(default = "super::defaults::slash")]
    pub path: String,
    /// Seconds between checks (AWS default 30).
    #[serde(default)]
    pub interval_seconds: Option<u32>,
    /// Seconds before a check counts as failed (AWS default 5).
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
    /// Passing checks in a row before a target is healthy (AWS default 5).
    #[serde(default)]
    pub healthy_threshold: Option<u32>,
    /// Failing checks in a row before a target is unhealthy (AWS default 2).
    #[serde(default)]
    pub unhealthy_threshold: Option<u32>,
    /// The status codes that count as healthy, for example `200` or `200-299`.
    #[serde(default)]
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
    #[serde(default)]
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
    #[serde(default)]
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
    #[serde(default)]
    pub targets: Option<Vec<String>>,
}

pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "aws.elbv2.create_target_group",
        summary: "Create a target group with an HTTP health check.",
        docs: "A target group is the set of instances a load balancer sends traffic to, and how it checks \
               that they are healthy. Console: EC2 › Target Groups.",
        effect: Effect::Creates,
        params: Params::of::<CreateTargetGroupParams>(),
        outputs: Outputs::Fixed(&[
            out("arn", "string", "The target group's ARN."),
            out("name", "string", "Its name."),
        ]),
        undo: Some("deletes the target group"),
        executor: &crate::engine::action::NotBuilt,
    },
    ActionDef {
        name: "aws.elbv2.register_targets",
        summary: "Register running instances with a target group.",
        docs: "AWS accepts only running instances. Console: EC2 › Target Groups › Targets › Register targets.",
        effect: Effect::Changes,
        params: Params::of::<RegisterTargetsParams>(),
        outputs: Outputs::Fixed(&[]),
        undo: Some("deregisters the targets"),
        executor: &crate::engine::action::NotBuilt,
    },
    ActionDef {
        name: "aws.elbv2.create_load_balancer",
        summary: "Create an application load balancer and (by default) wait until it is active.",
        docs: "An internet-facing load balancer needs subnets in two availability zones and an internet \
               gateway on its VPC. It usually takes a few minutes to become active; its DNS name and \
               canonical hosted zone id are known at once. Console: EC2 › Load Balancers.",
        effect: Effect::Creates,
        params: Params::of::<CreateLoadBalancerParams>(),
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
        executor: &crate::engine::action::NotBuilt,
    },
    ActionDef {
        name: "aws.elbv2.wait_load_balancer",
        summary: "Wait until a load balancer is active.",
        docs: "Polls the load balancer's state (provisioning, active), showing what it sees.",
        effect: Effect::Reads,
        params: Params::of::<WaitLoadBalancerParams>(),
        outputs: Outputs::Fixed(&[]),
        undo: None,
        executor: &crate::engine::action::NotBuilt,
    },
    ActionDef {
        name: "aws.elbv2.create_listener",
        summary: "Create a listener that forwards to a target group.",
        docs: "The listener is the port the load balancer accepts traffic on. Console: EC2 › Load Balancers › \
               Listeners and rules.",
        effect: Effect::Creates,
        params: Params::of::<CreateListenerParams>(),
        outputs: Outputs::Fixed(&[out("arn", "string", "The listener's ARN.")]),
        undo: Some("deletes the listener"),
        executor: &crate::engine::action::NotBuilt,
    },
    ActionDef {
        name: "aws.elbv2.wait_target_health",
        summary: "Wait until targets are healthy, unhealthy, unused, or anything but healthy.",
        docs: "Polls the target group's target health, showing each target's state and reason. A stopped \
               instance shows `unused` (Target.InvalidState), not `unhealthy`.",
        effect: Effect::Reads,
        params: Params::of::<WaitTargetHealthParams>(),
        outputs: Outputs::Fixed(&[out("states", "mapping", "Each target's state.")]),
        undo: None,
        executor: &crate::engine::action::NotBuilt,
    },
];
