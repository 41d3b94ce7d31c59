//! EC2: VPCs, subnets, gateways, routes, security groups and instances.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Tags;
use crate::actions::{
    ActionDef, Effect, Exercisable, Need, Outputs, ParamProblem, Params, Usage, out,
};
use crate::runbook::format::Cidr;

/// Create a VPC (DNS hostnames and DNS support on).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.create_vpc")]
pub struct CreateVpcParams {
    /// The VPC's IPv4 range, for example `10.0.0.0/16`.
    pub cidr: Cidr,
    /// The `Name` tag.
    pub name: String,
    #[serde(default)]
    pub tags: Tags,
}

/// Create a subnet.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.create_subnet")]
pub struct CreateSubnetParams {
    pub vpc_id: String,
    /// A range inside the VPC's, for example `{{ cidrsubnet(vars.cidr, 8, 1) }}`.
    pub cidr: Cidr,
    /// For example `ap-south-1a`.
    pub availability_zone: String,
    /// Give instances launched here a public IP address.
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

/// Create an internet gateway and attach it to a VPC.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.create_internet_gateway")]
pub struct CreateInternetGatewayParams {
    pub vpc_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

/// A route in a route table.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "route")]
pub struct Route {
    /// For example `0.0.0.0/0`.
    pub destination: Cidr,
    /// An internet gateway id.
    pub gateway_id: String,
}

/// Create a route table with routes, associated with subnets.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.create_route_table")]
pub struct CreateRouteTableParams {
    pub vpc_id: String,
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Subnets to associate with the table.
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

fn tcp() -> String {
    "tcp".into()
}

/// An inbound rule: a port (or range) from a CIDR range or from another security group.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "ingress rule")]
pub struct IngressRule {
    pub port: u16,
    /// The last port of a range (default: `port`).
    #[serde(default)]
    pub to_port: Option<u16>,
    #[serde(default = "tcp")]
    pub protocol: String,
    /// Allow from this range, for example `0.0.0.0/0`.
    #[serde(default)]
    pub cidr: Option<Cidr>,
    /// Allow from members of this security group.
    #[serde(default)]
    pub source_security_group_id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// Create a security group with inbound rules.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.create_security_group")]
pub struct CreateSecurityGroupParams {
    pub vpc_id: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub ingress: Vec<IngressRule>,
    #[serde(default)]
    pub tags: Tags,
}

fn al2023_pattern() -> String {
    "al2023-ami-2023.*-x86_64".into()
}

fn amazon() -> String {
    "amazon".into()
}

fn x86_64() -> String {
    "x86_64".into()
}

/// Find the newest image matching a name pattern.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.find_image")]
pub struct FindImageParams {
    /// An image name pattern (`*` matches anything).
    #[serde(default = "al2023_pattern")]
    pub name_pattern: String,
    /// The owner: an account id or `amazon`.
    #[serde(default = "amazon")]
    pub owner: String,
    #[serde(default = "x86_64")]
    pub architecture: String,
}

/// An instance type is FAMILY.SIZE (`t3.micro`, `m7g.2xlarge`): a typo found by validation, not
/// after minutes of building when `RunInstances` refuses it.
fn lint_instance_type(_step: &str, known: &serde_json::Value) -> Vec<ParamProblem> {
    match known
        .get("instance_type")
        .and_then(serde_json::Value::as_str)
    {
        Some(kind) if !instance_type_form(kind) => vec![ParamProblem {
            param: "instance_type",
            code: "instance-type",
            message: format!("`{kind}` is not an EC2 instance type"),
            help: "an instance type is a family and a size, such as t3.micro or m7g.large (EC2 › Instance types)",
        }],
        _ => Vec::new(),
    }
}

/// FAMILY.SIZE: a family of letters and digits (with a digit: `t3`, `c7gn`, `u-6tb1`), a dot, a
/// size (`micro`, `2xlarge`, `metal-48xl`). Validation uses it to catch a typo before anything
/// is created.
fn instance_type_form(kind: &str) -> bool {
    let Some((family, size)) = kind.split_once('.') else {
        return false;
    };
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    word(family)
        && word(size)
        && family.starts_with(|c: char| c.is_ascii_lowercase())
        && family.chars().any(|c| c.is_ascii_digit())
}

fn t3_micro() -> String {
    "t3.micro".into()
}

fn one() -> u32 {
    1
}

fn two() -> u32 {
    2
}

/// Find availability zones this account sees in the region, that offer an instance type.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.find_zones")]
pub struct FindZonesParams {
    /// Only zones where this instance type is offered.
    #[serde(default)]
    pub instance_type: Option<String>,
    /// How many zones are needed (an Application Load Balancer needs two).
    #[serde(default = "two")]
    pub count: u32,
}

/// Launch instances.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.run_instances")]
pub struct RunInstancesParams {
    pub image_id: String,
    #[serde(default = "t3_micro")]
    pub instance_type: String,
    pub subnet_id: String,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// A script run at first boot (cloud-init).
    #[serde(default)]
    pub user_data: Option<String>,
    #[serde(default = "one")]
    pub count: u32,
    /// The `Name` tag.
    pub name: String,
    /// Wait until the instances are running.
    #[serde(default = "super::defaults::yes")]
    pub wait: bool,
    #[serde(default)]
    pub tags: Tags,
}

/// An instance state to wait for.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InstanceState {
    Running,
    Stopped,
    Terminated,
}

/// Wait until instances reach a state.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.wait_instances")]
pub struct WaitInstancesParams {
    pub instance_ids: Vec<String>,
    pub state: InstanceState,
}

/// Stop or start instances.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "instances")]
pub struct InstancesParams {
    pub instance_ids: Vec<String>,
    /// Wait until they are stopped (or running).
    #[serde(default = "super::defaults::yes")]
    pub wait: bool,
}

fn vpc_usage(_: &serde_json::Value) -> Usage {
    Usage {
        quota: Need {
            vpcs: 1,
            ..Need::default()
        },
        ..Usage::default()
    }
}

fn internet_gateway_usage(_: &serde_json::Value) -> Usage {
    Usage {
        quota: Need {
            internet_gateways: 1,
            ..Need::default()
        },
        ..Usage::default()
    }
}

/// Instances by type and count, with the parameter struct's defaults.
fn run_instances_usage(params: &serde_json::Value) -> Usage {
    let kind = params["instance_type"]
        .as_str()
        .map_or_else(t3_micro, str::to_owned);
    let count = params["count"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or_else(one);
    Usage {
        hourly: Some(super::cost::instances(&kind, count)),
        quota: Need {
            instances: vec![(kind, count)],
            ..Need::default()
        },
        ..Usage::default()
    }
}

pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "aws.ec2.create_vpc",
        summary: "Create a VPC with DNS hostnames on.",
        docs: "Creates a VPC with the given IPv4 range and turns on DNS support and DNS hostnames. \
               Console: VPC › Your VPCs › Create VPC.",
        effect: Effect::Creates,
        params: Params::of::<CreateVpcParams>(),
        outputs: Outputs::Fixed(&[
            out("vpc_id", "string", "The VPC's id."),
            out("cidr", "string", "Its range."),
        ]),
        undo: Some("deletes the VPC"),
        executor: &CreateVpc,
        cli: Some(super::aws_cli::create_vpc),
        creates: &[kinds::VPC],
        noun: Some("VPC"),
        usage: Some(vpc_usage),
        exercise: None,
    },
    ActionDef {
        name: "aws.ec2.create_subnet",
        summary: "Create a subnet in one availability zone.",
        docs: "Creates a subnet; with `public: true` instances launched in it get public IP addresses. \
               Console: VPC › Subnets › Create subnet.",
        effect: Effect::Creates,
        params: Params::of::<CreateSubnetParams>(),
        outputs: Outputs::Fixed(&[
            out("subnet_id", "string", "The subnet's id."),
            out("availability_zone", "string", "Its availability zone."),
            out("cidr", "string", "Its range."),
        ]),
        undo: Some("deletes the subnet, retrying while AWS still releases network interfaces"),
        executor: &CreateSubnet,
        cli: Some(super::aws_cli::create_subnet),
        creates: &[kinds::SUBNET],
        noun: Some("subnet"),
        usage: None,
        exercise: Some(Exercisable {
            looks: "the VPC's subnets with the step's range",
            compares: &["availability_zone", "public"],
            watch: false,
        }),
    },
    ActionDef {
        name: "aws.ec2.create_internet_gateway",
        summary: "Create an internet gateway and attach it to a VPC.",
        docs: "Without an internet gateway nothing in the VPC reaches the internet, and an internet-facing \
               load balancer cannot be created. Console: VPC › Internet gateways.",
        effect: Effect::Creates,
        params: Params::of::<CreateInternetGatewayParams>(),
        outputs: Outputs::Fixed(&[out("internet_gateway_id", "string", "The gateway's id.")]),
        undo: Some("detaches the gateway from the VPC and deletes it"),
        executor: &CreateInternetGateway,
        cli: Some(super::aws_cli::create_internet_gateway),
        creates: &[kinds::INTERNET_GATEWAY],
        noun: Some("internet gateway"),
        usage: Some(internet_gateway_usage),
        exercise: None,
    },
    ActionDef {
        name: "aws.ec2.create_route_table",
        summary: "Create a route table with routes and associate it with subnets.",
        docs: "A subnet is public when its route table sends 0.0.0.0/0 to an internet gateway. \
               Console: VPC › Route tables.",
        effect: Effect::Creates,
        params: Params::of::<CreateRouteTableParams>(),
        outputs: Outputs::Fixed(&[out("route_table_id", "string", "The table's id.")]),
        undo: Some("disassociates the table from its subnets and deletes it"),
        executor: &CreateRouteTable,
        cli: Some(super::aws_cli::create_route_table),
        creates: &[kinds::ROUTE_TABLE],
        noun: Some("route table"),
        usage: None,
        exercise: None,
    },
    ActionDef {
        name: "aws.ec2.create_security_group",
        summary: "Create a security group with inbound rules.",
        docs: "A security group is a stateful firewall on network interfaces. Rules allow a port from a CIDR \
               range or from another group. Console: EC2 › Security Groups.",
        effect: Effect::Creates,
        params: Params::of::<CreateSecurityGroupParams>(),
        outputs: Outputs::Fixed(&[out("security_group_id", "string", "The group's id.")]),
        undo: Some("deletes the group, retrying while AWS still releases network interfaces"),
        executor: &CreateSecurityGroup,
        cli: Some(super::aws_cli::create_security_group),
        creates: &[kinds::SECURITY_GROUP],
        noun: Some("security group"),
        usage: None,
        exercise: Some(Exercisable {
            looks: "the VPC's security groups with the step's name",
            compares: &["ingress"],
            watch: false,
        }),
    },
    ActionDef {
        name: "aws.ec2.find_image",
        summary: "Find the newest machine image matching a name pattern.",
        docs: "Looks up images by name pattern, owner and architecture and picks the newest by creation \
               date, then by name. The default finds the latest Amazon Linux 2023. Console: EC2 › AMI Catalog.",
        effect: Effect::Reads,
        params: Params::of::<FindImageParams>(),
        outputs: Outputs::Fixed(&[
            out("image_id", "string", "The image's id."),
            out("name", "string", "Its name."),
            out("creation_date", "string", "When it was made."),
        ]),
        undo: None,
        executor: &FindImage,
        cli: Some(super::aws_cli::find_image),
        creates: &[],
        noun: None,
        usage: None,
        exercise: None,
    },
    ActionDef {
        name: "aws.ec2.find_zones",
        summary: "Find availability zones of the region that offer an instance type.",
        docs: "Zone letters are mapped per account: `ap-south-1b` in one account can be another data centre, \
               or missing, in the next, and not every instance type is offered in every zone. This asks the \
               account which zones it sees (DescribeAvailabilityZones, standard zones only) and where the \
               instance type is offered (DescribeInstanceTypeOfferings), and picks the first `count` by name; \
               fewer than `count` is an error before anything is created. Console: EC2 › Settings › Zones.",
        effect: Effect::Reads,
        params: Params::of::<FindZonesParams>().linted(lint_instance_type),
        outputs: Outputs::Fixed(&[
            out(
                "first",
                "string",
                "The first zone's name, for example `ap-south-1a`.",
            ),
            out(
                "second",
                "string",
                "The second zone's name (empty when `count` is 1).",
            ),
            out("names", "list", "Every zone picked, by name."),
            out(
                "zone_ids",
                "list",
                "Their zone ids (`aps1-az1`), the same in every account.",
            ),
        ]),
        undo: None,
        executor: &FindZones,
        cli: Some(super::aws_cli::find_zones),
        creates: &[],
        noun: None,
        usage: None,
        exercise: None,
    },
    ActionDef {
        name: "aws.ec2.run_instances",
        summary: "Launch EC2 instances and (by default) wait until they run.",
        docs: "Launches `count` instances with the given image, type, subnet, security groups and user data. \
               Console: EC2 › Instances › Launch instances.",
        effect: Effect::Creates,
        params: Params::of::<RunInstancesParams>().linted(lint_instance_type),
        outputs: Outputs::Fixed(&[
            out("instance_ids", "list", "The instances' ids."),
            out("private_ips", "list", "Their private IP addresses."),
            out(
                "public_ips",
                "list",
                "Their public IP addresses, where they have one.",
            ),
        ]),
        undo: Some("terminates the instances and waits until they are terminated"),
        executor: &RunInstances,
        cli: Some(super::aws_cli::run_instances),
        creates: &[kinds::INSTANCE],
        noun: Some("EC2 instance"),
        usage: Some(run_instances_usage),
        exercise: None,
    },
    ActionDef {
        name: "aws.ec2.wait_instances",
        summary: "Wait until instances are running, stopped or terminated.",
        docs: "Polls the instances' state, showing what it sees, until all of them are in `state`.",
        effect: Effect::Reads,
        params: Params::of::<WaitInstancesParams>(),
        outputs: Outputs::Fixed(&[]),
        undo: None,
        executor: &WaitInstances,
        cli: Some(super::aws_cli::wait_instances),
        creates: &[],
        noun: None,
        usage: None,
        exercise: None,
    },
    ActionDef {
        name: "aws.ec2.stop_instances",
        summary: "Stop instances.",
        docs: "Stops the instances and (by default) waits until they are stopped. Console: EC2 › Instances › \
               Instance state › Stop instance.",
        effect: Effect::Changes,
        params: Params::of::<InstancesParams>(),
        outputs: Outputs::Fixed(&[out(
            "stopped_at",
            "string",
            "When the stop was requested (RFC 3339).",
        )]),
        undo: Some("starts the instances again"),
        executor: &Power { start: false },
        cli: Some(super::aws_cli::stop_instances),
        creates: &[],
        noun: None,
        usage: None,
        exercise: Some(Exercisable {
            looks: "the step's instances: each stopping or stopped",
            compares: &[],
            watch: true,
        }),
    },
    ActionDef {
        name: "aws.ec2.start_instances",
        summary: "Start stopped instances.",
        docs: "Starts the instances and (by default) waits until they are running.",
        effect: Effect::Changes,
        params: Params::of::<InstancesParams>(),
        outputs: Outputs::Fixed(&[out(
            "started_at",
            "string",
            "When the start was requested (RFC 3339).",
        )]),
        undo: Some("stops the instances again"),
        executor: &Power { start: true },
        cli: Some(super::aws_cli::start_instances),
        creates: &[],
        noun: None,
        usage: None,
        exercise: None,
    },
];

// ---- Execution -------------------------------------------------------------------------------
//
// Every create tags what it makes with `runbook:key` (the step's idempotency key) before anything
// else can happen to it, so `reconcile` finds it after a crash by that tag alone (ClientToken is
// not relied on: emulators ignore it). Undo treats "not found" as removed and `DependencyViolation`
// (network interfaces still being released) as retryable.

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification,
    UserIdGroupPair,
};

use super::client::clients;
use super::kinds::{self, remove_resent};
use super::watch::noting_unanswered;
use super::{Seen, Typical, code, consistent, deleted, found, sdk_error, standard_tags};
use crate::engine::action::{
    ActionError, BoxFuture, ByHand, Context, Executor, Outcome, Resource, Undone,
};

/// Tag a resource a learner made by hand as the step's, like one it made: `sweep --tag` and
/// resume find it, and rollback removes it.
async fn tag_as_steps(
    ctx: &Context<'_>,
    c: &super::client::Clients,
    (kind, id): (ResourceType, &str),
    name: Option<&str>,
    extra: &Tags,
) -> Result<(), ActionError> {
    let spec = tag_spec(kind, ctx, name, extra);
    c.ec2
        .create_tags()
        .resources(id)
        .set_tags(Some(spec.tags().to_vec()))
        .send()
        .await
        .map_err(|e| sdk_error("CreateTags", &e))?;
    Ok(())
}

fn tag_spec(
    kind: ResourceType,
    ctx: &Context<'_>,
    name: Option<&str>,
    extra: &Tags,
) -> TagSpecification {
    let tags = standard_tags(ctx, name, extra)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build());
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tags.collect()))
        .build()
}

fn by_key(ctx: &Context<'_>) -> Filter {
    Filter::builder()
        .name("tag:runbook:key")
        .values(ctx.key)
        .build()
}

fn cidr_text(c: Cidr, what: &str) -> Result<String, ActionError> {
    c.0.map(|n| n.to_string())
        .ok_or_else(|| ActionError::new(format!("{what} has no value")).invalid_input())
}

fn missing(what: &str) -> ActionError {
    ActionError::new(format!("AWS answered without the {what}"))
}

fn created(kind: kinds::ResourceKind, id: &str, outputs: &[(&str, serde_json::Value)]) -> Outcome {
    let mut o = Outcome::default();
    for (k, v) in outputs {
        o.outputs.insert((*k).to_owned(), v.clone());
    }
    o.resources.push(Resource {
        kind: kind.into(),
        id: id.to_owned(),
        undo: serde_json::Value::Null,
        changed: Vec::new(),
    });
    o
}

pub(super) struct CreateVpc;

impl Executor for CreateVpc {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> BoxFuture<'a, Result<Outcome, ActionError>> {
        Box::pin(async move {
            let p: CreateVpcParams = ctx.params()?;
            let cidr = cidr_text(p.cidr, "cidr")?;
            let c = clients(ctx)?;
            ctx.progress.status(&format!("creating VPC {cidr}"));
            // No client token: a resend after a lost answer may make a second VPC.
            let (out, resent) = noting_unanswered(Box::pin(
                c.ec2
                    .create_vpc()
                    .cidr_block(&cidr)
                    .tag_specifications(tag_spec(ResourceType::Vpc, ctx, Some(&p.name), &p.tags))
                    .send(),
            ))
            .await;
            let out = out.map_err(|e| sdk_error("CreateVpc", &e))?;
            let id = out
                .vpc()
                .and_then(|v| v.vpc_id())
                .ok_or_else(|| missing("VPC id"))?
                .to_owned();
            let made = created(
                kinds::VPC,
                &id,
                &[("vpc_id", id.clone().into()), ("cidr", cidr.into())],
            );
            if resent {
                remove_resent(ctx, c, &made).await?;
            }
            enable_dns(ctx, c, &id).await?;
            Ok(made)
        })
    }

    fn looks(&self) -> bool {
        true
    }

    fn reconcile<'a>(
        &'a self,
        ctx: &'a Context<'a>,
    ) -> BoxFuture<'a, Result<Option<Outcome>, ActionError>> {
        Box::pin(async move {
            let c = clients(ctx)?;
            let out = c
                .ec2
                .describe_vpcs()
                .filters(by_key(ctx))
                .send()
                .await
                .map_err(|e| sdk_error("DescribeVpcs", &e))?;
            let Some(vpc) = out.vpcs().first() else {
                return Ok(None);
            };
            let id = vpc.vpc_id().ok_or_else(|| missing("VPC id"))?.to_owned();
            if ctx.adopting {
                enable_dns(ctx, c, &id).await?;
            }
            let cidr = vpc.cidr_block().unwrap_or_default().to_owned();
            Ok(Some(created(
                kinds::VPC,
                &id,
                &[("vpc_id", id.clone().into()), ("cidr", cidr.into())],
            )))
        })
    }

    fn undo<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        r: &'a Resource,
    ) -> BoxFuture<'a, Result<Undone, ActionError>> {
        Box::pin(async move {
            let c = clients(ctx)?;
            ctx.progress.status(&format!("deleting VPC {}", r.id));
            deleted(
                "DeleteVpc",
                c.ec2.delete_vpc().vpc_id(&r.id).send().await,
                &["InvalidVpcID.NotFound"],
            )
        })
    }
}

async fn enable_dns(
    ctx: &Context<'_>,
    c: &super::client::Clients,
    vpc_id: &str,
) -> Result<(), ActionError> {
    consistent(ctx, "ModifyVpcAttribute", || {
        c.ec2
            .modify_vpc_attribute()
            .vpc_id(vpc_id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
            .send()
    })
    .await?;
    Ok(())
}

pub(super) struct CreateSubnet;

/// Why AWS refused a subnet's range, naming both ranges: the VPC's when the subnet lies outside
/// it, or the existing subnet it overlaps. `None` when the describes do not tell.
async fn subnet_conflict(c: &super::client::Clients, vpc_id: &str, cidr: &str) -> Option<String> {
    let wanted: ipnet::Ipv4Net = cidr.parse().ok()?;
    let vpcs = c.ec2.describe_vpcs().vpc_ids(vpc_id).send().await.ok()?;
    let ranges: Vec<ipnet::Ipv4Net> = vpcs
        .vpcs()
        .iter()
        .flat_map(aws_sdk_ec2::types::Vpc::cidr_block_association_set)
        .filter_map(|a| a.cidr_block()?.parse().ok())
        .collect();
    if !ranges.is_empty() && !ranges.iter().any(|r| r.contains(&wanted)) {
        let shown: Vec<String> = ranges.iter().map(ToString::to_string).collect();
        return Some(format!(
            "{cidr} is not inside {vpc_id}'s range {}: pick a subnet range within it (for example with cidrsubnet(vpc_cidr, 8, N))",
            shown.join(", ")
        ));
    }
    let subnets = c
        .ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .send()
        .await
        .ok()?;
    subnets.subnets().iter().find_map(|s| {
        let theirs: ipnet::Ipv4Net = s.cidr_block()?.parse().ok()?;
        (theirs.contains(&wanted) || wanted.contains(&theirs)).then(|| {
            format!(
                "{cidr} overlaps {theirs} of subnet {} in {vpc_id}: give each subnet its own range (cidrsubnet(vpc_cidr, 8, N) with a different N)",
                s.subnet_id().unwrap_or("?")
            )
        })
    })
}

impl Executor for CreateSubnet {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> BoxFuture<'a, Result<Outcome, ActionError>> {
        Box::pin(async move {
            let p: CreateSubnetParams = ctx.params()?;
            let cidr = cidr_text(p.cidr, "cidr")?;
            let c = clients(ctx)?;
            ctx.progress.status(&format!(
                "creating subnet {cidr} in {}",
                p.availability_zone
            ));
            let (out, resent) = noting_unanswered(consistent(ctx, "CreateSubnet", || {
                c.ec2
                    .create_subnet()
                    .vpc_id(&p.vpc_id)
                    .cidr_block(&cidr)
                    .availability_zone(&p.availability_zone)
                    .tag_specifications(tag_spec(
                        ResourceType::Subnet,
                        ctx,
                        p.name.as_deref(),
                        &p.tags,
                    ))
                    .send()
            }))
            .await;
            let out = match out {
                Ok(out) => out,
                // The resend of a create that did land meets its own subnet: adopt it.
                Err(err) if resent && err.code.as_deref() == Some("InvalidSubnet.Conflict") => {
                    return match self.reconcile(ctx).await? {
                        Some(made) => {
                            remove_resent(ctx, c, &made).await?;
                            Ok(made)
                        }
                        None => Err(err),
                    };
                }
                Err(mut err) => {
                    if matches!(
                        err.code.as_deref(),
                        Some("InvalidSubnet.Conflict" | "InvalidSubnet.Range")
                    ) {
                        if let Some(why) = subnet_conflict(c, &p.vpc_id, &cidr).await {
                            err = err.hint(why);
                        }
                    }
                    return Err(err);
                }
            };
            let id = out
                .subnet()
                .and_then(|s| s.subnet_id())
                .ok_or_else(|| missing("subnet id"))?
                .to_owned();
            let made = created(
                kinds::SUBNET,
                &id,
                &[
                    ("subnet_id", id.clone().into()),
                    ("availability_zone", p.availability_zone.into()),
                    ("cidr", cidr.into()),
                ],
            );
            if resent {
                remove_resent(ctx, c, &made).await?;
            }
            finish_subnet(ctx, c, &id, p.public).await?;
            Ok(made)
        })
    }

    fn looks(&self) -> bool {
        true
    }

    fn reconcile<'a>(
        &'a self,
        ctx: &'a Context<'a>,
    ) -> BoxFuture<'a, Result<Option<Outcome>, ActionError>> {
        Box::pin(async move {
            let p: CreateSubnetParams = ctx.params()?;
            let c = clients(ctx)?;
            let out = c
                .ec2
                .describe_subnets()
                .filters(by_key(ctx))
                .send()
                .await
                .map_err(|e| sdk_error("DescribeSubnets", &e))?;
            let Some(subnet) = out.subnets().first() else {
                return Ok(None);
            };
            let id = subnet
                .subnet_id()
                .ok_or_else(|| missing("subnet id"))?
                .to_owned();
            if ctx.adopting {
                finish_subnet(ctx, c, &id, p.public).await?;
            }
            let az = subnet.availability_zone().unwrap_or_default().to_owned();
            let cidr = subnet.cidr_block().unwrap_or_default().to_owned();
            Ok(Some(created(
                kinds::SUBNET,
                &id,
                &[
                    ("subnet_id", id.clone().into()),
                    ("availability_zone", az.into()),
                    ("cidr", cidr.into()),
                ],
            )))
        })
    }

    fn by_hand<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        compare: &'a [String],
    ) -> BoxFuture<'a, Result<ByHand, ActionError>> {
        Box::pin(async move {
            let p: CreateSubnetParams = ctx.params()?;
            let cidr = cidr_text(p.cidr, "cidr")?;
            let c = clients(ctx)?;
            ctx.progress
                .status(&format!("looking for the subnet {cidr} in {}", p.vpc_id));
            let out = c
                .ec2
                .describe_subnets()
                .filters(Filter::builder().name("vpc-id").values(&p.vpc_id).build())
                .send()
                .await
                .map_err(|e| sdk_error("DescribeSubnets", &e))?;
            let describe = |s: &aws_sdk_ec2::types::Subnet| {
                format!(
                    "{} {} in {}",
                    s.subnet_id().unwrap_or("?"),
                    s.cidr_block().unwrap_or("?"),
                    s.availability_zone().unwrap_or("?")
                )
            };
            let Some(subnet) = out
                .subnets()
                .iter()
                .find(|s| s.cidr_block() == Some(cidr.as_str()))
            else {
                return Ok(ByHand::Nothing {
                    looked: format!("the subnets of VPC {} with the range {cidr}", p.vpc_id),
                    seen: out.subnets().iter().map(describe).collect(),
                });
            };
            let id = subnet.subnet_id().unwrap_or_default().to_owned();
            let compared = |name: &str| compare.iter().any(|c| c == name);
            let mut differences = Vec::new();
            let az = subnet.availability_zone().unwrap_or("?");
            if compared("availability_zone") && az != p.availability_zone {
                differences.push(format!(
                    "the subnet is in {az}; this step needs {}",
                    p.availability_zone
                ));
            }
            if compared("public") && p.public && subnet.map_public_ip_on_launch() != Some(true) {
                differences.push(
                    "it does not give instances a public IP address; this step needs it to \
                     (VPC › Subnets › Edit subnet settings › Enable auto-assign public IPv4 address)"
                        .to_owned(),
                );
            }
            if !differences.is_empty() {
                return Ok(ByHand::Differs {
                    what: format!("subnet {}", describe(subnet)),
                    differences,
                });
            }
            if ctx.adopting {
                tag_as_steps(
                    ctx,
                    c,
                    (ResourceType::Subnet, &id),
                    p.name.as_deref(),
                    &p.tags,
                )
                .await?;
            }
            Ok(ByHand::Matches {
                outcome: created(
                    kinds::SUBNET,
                    &id,
                    &[
                        ("subnet_id", id.clone().into()),
                        ("availability_zone", az.to_owned().into()),
                        ("cidr", cidr.clone().into()),
                    ],
                ),
                what: format!("subnet {}", describe(subnet)),
            })
        })
    }

    fn undo<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        r: &'a Resource,
    ) -> BoxFuture<'a, Result<Undone, ActionError>> {
        Box::pin(async move {
            let c = clients(ctx)?;
            ctx.progress.status(&format!("deleting subnet {}", r.id));
            deleted(
                "DeleteSubnet",
                c.ec2.delete_subnet().subnet_id(&r.id).send().await,
                &["InvalidSubnetID.NotFound"],
            )
        })
    }
}

async fn finish_subnet(
    ctx: &Context<'_>,
    c: &super::client::Clients,
    id: &str,
    public: bool,
) -> Result<(), ActionError> {
    if public {
        consistent(ctx, "ModifySubnetAttribute", || {
            c.ec2
                .modify_subnet_attribute()
                .subnet_id(id)
                .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
                .send()
        })
        .await?;
    }
    Ok(())
}

pub(super) struct CreateInternetGateway;

/// Attach the gateway unless it already is (a reconciled gateway may have been created but not
/// attached before a crash).
async fn attach(
    ctx: &Context<'_>,
    c: &super::client::Clients,
    igw: &str,
    vpc: &str,
) -> Result<(), ActionError> {
    let attached = consistent(ctx, "AttachInternetGateway", || {
        c.ec2
            .attach_internet_gateway()
            .internet_gateway_id(igw)
            .vpc_id(vpc)
            .send()
    })
    .await;
    match attached {
        Err(e) if e.code.as_deref() != Some("Resource.AlreadyAssociated") => Err(e),
        _ => Ok(()),
    }
}

fn gateway_outcome(id: &str, vpc: &str) -> Outcome {
    let mut o = created(
        kinds::INTERNET_GATEWAY,
        id,
        &[("internet_gateway_id", id.into())],
    );
    o.resources[0].undo = serde_json::json!({ "vpc_id": vpc });
    o
}

impl Executor for CreateInternetGateway {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> BoxFuture<'a, Result<Outcome, ActionError>> {
        Box::pin(async move {
            let p: CreateInternetGatewayParams = ctx.params()?;
            let c = clients(ctx)?;
            ctx.progress.status("creating an internet gateway");
            let (out, resent) = noting_unanswered(Box::pin(
                c.ec2
                    .create_internet_gateway()
                    .tag_specifications(tag_spec(
                        ResourceType::InternetGateway,
                        ctx,
                        p.name.as_deref(),
                        &p.tags,
                    ))
                    .send(),
            ))
            .await;
            let out = out.map_err(|e| sdk_error("CreateInternetGateway", &e))?;
            let id = out
                .internet_gateway()
                .and_then(|g| g.internet_gateway_id())
                .ok_or_else(|| missing("gateway id"))?
                .to_owned();
            if resent {
                remove_resent(ctx, c, &gateway_outcome(&id, &p.vpc_id)).await?;
            }
            ctx.progress
                .status(&format!("attaching {id} to {}", p.vpc_id));
            attach(ctx, c, &id, &p.vpc_id).await?;
            Ok(gateway_outcome(&id, &p.vpc_id))
        })
    }

    fn looks(&self) -> bool {
        true
    }

    fn reconcile<'a>(
        &'a self,
        ctx: &'a Context<'a>,
    ) -> BoxFuture<'a, Result<Option<Outcome>, ActionError>> {
        Box::pin(async move {
            let p: CreateInternetGatewayParams = ctx.params()?;
            let c = clients(ctx)?;
            let out = c
                .ec2
                .describe_internet_gateways()
                .filters(by_key(ctx))
                .send()
                .await
                .map_err(|e| sdk_error("DescribeInternetGateways", &e))?;
            let Some(id) = out
                .internet_gateways()
                .first()
                .and_then(|g| g.internet_gateway_id())
            else {
                return Ok(None);
            };
            if ctx.adopting {
                attach(ctx, c, id, &p.vpc_id).await?;
            }
            Ok(Some(gateway_outcome(id, &p.vpc_id)))
        })
    }

    fn undo<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        r: &'a Resource,
    ) -> BoxFuture<'a, Result<Undone, ActionError>> {
        Box::pin(async move {
            let c = clients(ctx)?;
            if let Some(vpc) = r.undo.get("vpc_id").and_then(|v| v.as_str()) {
                ctx.progress
                    .status(&format!("detaching {} from {vpc}", r.id));
                deleted(
                    "DetachInternetGateway",
                    c.ec2
                        .detach_internet_gateway()
                        .internet_gateway_id(&r.id)
                        .vpc_id(vpc)
                        .send()
                        .await,
                    &[
                        "Gateway.NotAttached",
                        "InvalidInternetGatewayID.NotFound",
                        "InvalidVpcID.NotFound",
                    ],
                )?;
            }
            ctx.progress
                .status(&format!("deleting internet gateway {}", r.id));
            deleted(
                "DeleteInternetGateway",
                c.ec2
                    .delete_internet_gateway()
                    .internet_gateway_id(&r.id)
                    .send()
                    .await,
                &["InvalidInternetGatewayID.NotFound"],
            )
        })
    }
}

pub(super) struct CreateRouteTable;

/// Add the routes and associations a table should have (idempotent: what exists is kept).
async fn furnish_route_table(
    ctx: &Context<'_>,
    c: &super::client::Clients,
    id: &str,
    p: &CreateRouteTableParams,
) -> Result<(), ActionError> {
    let current = consistent(ctx, "DescribeRouteTables", || {
        c.ec2.describe_route_tables().route_table_ids(id).send()
    })
    .await?;
    let table = current.route_tables().first();
    for route in &p.routes {
        let dest = cidr_text(route.destination, "destination")?;
        if table.is_some_and(|t| {
            t.routes()
                .iter()
                .any(|r| r.destination_cidr_block() == Some(dest.as_str()))
        }) {
            continue;
        }
        consistent(ctx, "CreateRoute", || {
            c.ec2
                .create_route()
                .route_table_id(id)
                .destination_cidr_block(&dest)
                .gateway_id(&route.gateway_id)
                .send()
        })
        .await?;
    }
    for subnet in &p.subnet_ids {
        if table.is_some_and(|t| {
            t.associations()
                .iter()
                .any(|a| a.subnet_id() == Some(subnet.as_str()))
        }) {
            continue;
        }
        consistent(ctx, "AssociateRouteTable", || {
            c.ec2
                .associate_route_table()
                .route_table_id(id)
                .subnet_id(subnet)
                .send()
        })
        .await?;
    }
    Ok(())
}

impl Executor for CreateRouteTable {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> BoxFuture<'a, Result<Outcome, ActionError>> {
        Box::pin(async move {
            let p: CreateRouteTableParams = ctx.params()?;
            let c = clients(ctx)?;
            ctx.progress
                .status(&format!("creating a route table in {}", p.vpc_id));
            // Its client token makes a resend the same create on AWS; emulators ignore it, so a
            // second table is looked for all the same.
            let (out, resent) = noting_unanswered(consistent(ctx, "CreateRouteTable", || {
                c.ec2
                    .create_route_table()
                    .client_token(client_token(ctx.key))
                    .vpc_id(&p.vpc_id)
                    .tag_specifications(tag_spec(
                        ResourceType::RouteTable,
                        ctx,
                        p.name.as_deref(),
                        &p.tags,
                    ))
                    .send()
            }))
            .await;
            let id = out?
                .route_table()
                .and_then(|t| t.route_table_id())
                .ok_or_else(|| missing("route table id"))?
                .to_owned();
            let made = created(
                kinds::ROUTE_TABLE,
                &id,
                &[("route_table_id", id.clone().into())],
            );
            if resent {
                remove_resent(ctx, c, &made).await?;
            }
            furnish_route_table(ctx, c, &id, &p).await?;
            Ok(made)
        })
    }

    fn looks(&self) -> bool {
        true
    }

    fn reconcile<'a>(
        &'a self,
        ctx: &'a Context<'a>,
    ) -> BoxFuture<'a, Result<Option<Outcome>, ActionError>> {
        Box::pin(async move {
            let p: CreateRouteTableParams = ctx.params()?;
            let c = clients(ctx)?;
            let out = c
                .ec2
                .describe_route_tables()
                .filters(by_key(ctx))
                .send()
                .await
                .map_err(|e| sdk_error("DescribeRouteTables", &e))?;
            let Some(id) = out
                .route_tables()
                .first()
                .and_then(|t| t.route_table_id())
                .map(str::to_owned)
            else {
                return Ok(None);
            };
            if ctx.adopting {
                furnish_route_table(ctx, c, &id, &p).await?;
            }
            Ok(Some(created(
                kinds::ROUTE_TABLE,
                &id,
                &[("route_table_id", id.clone().into())],
            )))
        })
    }

    fn undo<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        r: &'a Resource,
    ) -> BoxFuture<'a, Result<Undone, ActionError>> {
        Box::pin(async move {
            let c = clients(ctx)?;
            let Some(out) = found(
                "DescribeRouteTables",
                c.ec2
                    .describe_route_tables()
                    .route_table_ids(&r.id)
                    .send()
                    .await,
                &["InvalidRouteTableID.NotFound"],
            )?
            else {
                return Ok(Undone::AlreadyGone);
            };
            for assoc in out
                .route_tables()
                .iter()
                .flat_map(aws_sdk_ec2::types::RouteTable::associations)
            {
                if assoc.main() == Some(true) {
                    continue;
                }
                if let Some(a) = assoc.route_table_association_id() {
                    ctx.progress.status(&format!(
                        "disassociating {} from {}",
                        r.id,
                        assoc.subnet_id().unwrap_or("?")
                    ));
                    deleted(
                        "DisassociateRouteTable",
                        c.ec2
                            .disassociate_route_table()
                            .association_id(a)
                            .send()
                            .await,
                        &["InvalidAssociationID.NotFound"],
                    )?;
                }
            }
            ctx.progress
                .status(&format!("deleting route table {}", r.id));
            deleted(
                "DeleteRouteTable",
                c.ec2
                    .delete_route_table()
                    .route_table_id(&r.id)
                    .send()
                    .await,
                &["InvalidRouteTableID.NotFound"],
            )
        })
    }
}

pub(super) struct CreateSecurityGroup;

fn permission(rule: &IngressRule) -> Result<IpPermission, ActionError> {
    let mut b = IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .from_port(i32::from(rule.port))
        .to_port(i32::from(rule.to_port.unwrap_or(rule.port)));
    match (&rule.cidr, &rule.source_security_group_id) {
        (Some(cidr), None) => {
            let mut range = IpRange::builder().cidr_ip(cidr_text(*cidr, "cidr")?);
            if let Some(d) = &rule.description {
                range = range.description(d);
            }
            b = b.ip_ranges(range.build());
        }
        (None, Some(group)) => {
            let mut pair = UserIdGroupPair::builder().group_id(group);
            if let Some(d) = &rule.description {
                pair = pair.description(d);
            }
            b = b.user_id_group_pairs(pair.build());
        }
        _ => {
            return Err(ActionError::new(format!(
                "the rule for port {} needs exactly one of `cidr` and `source_security_group_id`",
                rule.port
            ))
            .invalid_input());
        }
    }
    Ok(b.build())
}

async fn authorize(
    ctx: &Context<'_>,
    c: &super::client::Clients,
    id: &str,
    p: &CreateSecurityGroupParams,
) -> Result<(), ActionError> {
    if p.ingress.is_empty() {
        return Ok(());
    }
    let permissions = p
        .ingress
        .iter()
        .map(permission)
        .collect::<Result<Vec<_>, _>>()?;
    let authorized = consistent(ctx, "AuthorizeSecurityGroupIngress", || {
        c.ec2
            .authorize_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(permissions.clone()))
            .send()
    })
    .await;
    match authorized {
        Err(e) if e.code.as_deref() != Some("InvalidPermission.Duplicate") => Err(e),
        _ => Ok(()),
    }
}

/// A rule in words: `tcp port 80 from 0.0.0.0/0`, `tcp ports 8000-8080 from sg-1`.
fn rule_words(protocol: &str, from: i32, to: i32, source: &str) -> String {
    let protocol = if protocol == "-1" {
        "all traffic"
    } else {
        protocol
    };
    if from == to {
        format!("{protocol} port {from} from {source}")
    } else {
        format!("{protocol} ports {from}-{to} from {source}")
    }
}

/// The inbound rules of a group, each in words.
fn rules_of(group: &aws_sdk_ec2::types::SecurityGroup) -> Vec<String> {
    let mut rules = Vec::new();
    for perm in group.ip_permissions() {
        let (protocol, from, to) = (
            perm.ip_protocol().unwrap_or("?"),
            perm.from_port().unwrap_or(-1),
            perm.to_port().unwrap_or(-1),
        );
        for range in perm.ip_ranges() {
            rules.push(rule_words(
                protocol,
                from,
                to,
                range.cidr_ip().unwrap_or("?"),
            ));
        }
        for pair in perm.user_id_group_pairs() {
            rules.push(rule_words(
                protocol,
                from,
                to,
                pair.group_id().unwrap_or("?"),
            ));
        }
    }
    rules
}

impl Executor for CreateSecurityGroup {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> BoxFuture<'a, Result<Outcome, ActionError>> {
        Box::pin(async move {
            let p: CreateSecurityGroupParams = ctx.params()?;
            let c = clients(ctx)?;
            ctx.progress
                .status(&format!("creating security group {}", p.name));
            let (out, resent) = noting_unanswered(consistent(ctx, "CreateSecurityGroup", || {
                c.ec2
                    .create_security_group()
                    .group_name(&p.name)
                    .description(&p.description)
                    .vpc_id(&p.vpc_id)
                    .tag_specifications(tag_spec(
                        ResourceType::SecurityGroup,
                        ctx,
                        Some(&p.name),
                        &p.tags,
                    ))
                    .send()
            }))
            .await;
            let out = match out {
                Ok(out) => out,
                // The resend of a create that did land meets its own group (a group's name is
                // unique in its VPC): adopt it, finishing its rules.
                Err(err) if resent && err.code.as_deref() == Some("InvalidGroup.Duplicate") => {
                    return match self.reconcile(ctx).await? {
                        Some(made) => Ok(made),
                        None => Err(err),
                    };
                }
                Err(err) => return Err(err),
            };
            let id = out
                .group_id()
                .ok_or_else(|| missing("group id"))?
                .to_owned();
            authorize(ctx, c, &id, &p).await?;
            Ok(created(
                kinds::SECURITY_GROUP,
                &id,
                &[("security_group_id", id.clone().into())],
            ))
        })
    }

    fn looks(&self) -> bool {
        true
    }

    fn reconcile<'a>(
        &'a self,
        ctx: &'a Context<'a>,
    ) -> BoxFuture<'a, Result<Option<Outcome>, ActionError>> {
        Box::pin(async move {
            let p: CreateSecurityGroupParams = ctx.params()?;
            let c = clients(ctx)?;
            let out = c
                .ec2
                .describe_security_groups()
                .filters(by_key(ctx))
                .send()
                .await
                .map_err(|e| sdk_error("DescribeSecurityGroups", &e))?;
            let Some(id) = out
                .security_groups()
                .first()
                .and_then(|g| g.group_id())
                .map(str::to_owned)
            else {
                return Ok(None);
            };
            if ctx.adopting {
                authorize(ctx, c, &id, &p).await?;
            }
            Ok(Some(created(
                kinds::SECURITY_GROUP,
                &id,
                &[("security_group_id", id.clone().into())],
            )))
        })
    }

    fn by_hand<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        compare: &'a [String],
    ) -> BoxFuture<'a, Result<ByHand, ActionError>> {
        Box::pin(async move {
            let p: CreateSecurityGroupParams = ctx.params()?;
            let c = clients(ctx)?;
            ctx.progress.status(&format!(
                "looking for the security group {} in {}",
                p.name, p.vpc_id
            ));
            let out = c
                .ec2
                .describe_security_groups()
                .filters(Filter::builder().name("vpc-id").values(&p.vpc_id).build())
                .send()
                .await
                .map_err(|e| sdk_error("DescribeSecurityGroups", &e))?;
            let Some(group) = out
                .security_groups()
                .iter()
                .find(|g| g.group_name() == Some(p.name.as_str()))
            else {
                return Ok(ByHand::Nothing {
                    looked: format!("the security groups of VPC {} named {}", p.vpc_id, p.name),
                    seen: out
                        .security_groups()
                        .iter()
                        .map(|g| {
                            format!(
                                "{} {}",
                                g.group_id().unwrap_or("?"),
                                g.group_name().unwrap_or("?")
                            )
                        })
                        .collect(),
                });
            };
            let id = group.group_id().unwrap_or_default().to_owned();
            let what = format!("security group {} ({id})", p.name);
            let have = rules_of(group);
            let mut differences = Vec::new();
            if compare.iter().any(|c| c == "ingress") {
                for rule in &p.ingress {
                    let source = match (&rule.cidr, &rule.source_security_group_id) {
                        (Some(cidr), _) => cidr_text(*cidr, "cidr")?,
                        (None, Some(group)) => group.clone(),
                        (None, None) => "?".to_owned(),
                    };
                    let wanted = rule_words(
                        &rule.protocol.to_ascii_lowercase(),
                        i32::from(rule.port),
                        i32::from(rule.to_port.unwrap_or(rule.port)),
                        &source,
                    );
                    if !have.contains(&wanted) {
                        differences.push(format!(
                            "it has no inbound rule allowing {wanted} ({}); this step needs one",
                            if have.is_empty() {
                                "it has no inbound rules".to_owned()
                            } else {
                                format!("it allows {}", have.join(", "))
                            }
                        ));
                    }
                }
            }
            if !differences.is_empty() {
                return Ok(ByHand::Differs { what, differences });
            }
            if ctx.adopting {
                let group = (ResourceType::SecurityGroup, id.as_str());
                tag_as_steps(ctx, c, group, Some(&p.name), &p.tags).await?;
            }
            Ok(ByHand::Matches {
                outcome: created(
                    kinds::SECURITY_GROUP,
                    &id,
                    &[("security_group_id", id.clone().into())],
                ),
                what,
            })
        })
    }

    fn undo<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        r: &'a Resource,
    ) -> BoxFuture<'a, Result<Undone, ActionError>> {
        Box::pin(async move {
            let c = clients(ctx)?;
            ctx.progress
                .status(&format!("deleting security group {}", r.id));
            deleted(
                "DeleteSecurityGroup",
                c.ec2.delete_security_group().group_id(&r.id).send().await,
                &["InvalidGroup.NotFound"],
            )
        })
    }
}

pub(super) struct FindImage;

impl Executor for FindImage {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> BoxFuture<'a, Result<Outcome, ActionError>> {
        Box::pin(async move {
            let p: FindImageParams = ctx.params()?;
            let c = clients(ctx)?;
            ctx.progress.status(&format!(
                "looking for the newest image named {}",
                p.name_pattern
            ));
            let key = format!("{} {} {}", p.owner, p.name_pattern, p.architecture);
            let newest = c
                .images
                .get(&key, || async {
                    let out = c
                        .ec2
                        .describe_images()
                        .owners(&p.owner)
                        .filters(
                            Filter::builder()
                                .name("name")
                                .values(&p.name_pattern)
                                .build(),
                        )
                        .filters(
                            Filter::builder()
                                .name("architecture")
                                .values(&p.architecture)
                                .build(),
                        )
                        .filters(Filter::builder().name("state").values("available").build())
                        .send()
                        .await
                        .map_err(|e| sdk_error("DescribeImages", &e))?;
                    // Newest by creation date, then by name (images of one release share a date).
                    Ok(out
                        .images()
                        .iter()
                        .max_by(|a, b| {
                            (a.creation_date(), a.name()).cmp(&(b.creation_date(), b.name()))
                        })
                        .cloned())
                })
                .await?;
            let newest = newest.ok_or_else(|| {
                ActionError::new(format!(
                    "no {} image named `{}` owned by {} in {}",
                    p.architecture, p.name_pattern, p.owner, c.region
                ))
                .hint("check the name pattern and owner; image names and ids differ per region")
            })?;
            let mut o = Outcome::default();
            o.outputs.insert(
                "image_id".into(),
                newest.image_id().unwrap_or_default().into(),
            );
            o.outputs
                .insert("name".into(), newest.name().unwrap_or_default().into());
            o.outputs.insert(
                "creation_date".into(),
                newest.creation_date().unwrap_or_default().into(),
            );
            Ok(o)
        })
    }
}

pub(super) struct FindZones;

impl Executor for FindZones {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> BoxFuture<'a, Result<Outcome, ActionError>> {
        Box::pin(async move {
            let p: FindZonesParams = ctx.params()?;
            let c = clients(ctx)?;
            ctx.progress
                .status(&format!("looking for availability zones in {}", c.region));
            let key = p.instance_type.clone().unwrap_or_default();
            let mut zones = c
                .zones
                .get(&key, || async {
                    let listed = c
                        .ec2
                        .describe_availability_zones()
                        .filters(Filter::builder().name("state").values("available").build())
                        .filters(
                            Filter::builder()
                                .name("zone-type")
                                .values("availability-zone")
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| sdk_error("DescribeAvailabilityZones", &e))?;
                    let mut zones: Vec<(String, String)> = listed
                        .availability_zones()
                        .iter()
                        .filter_map(|z| Some((z.zone_name()?.to_owned(), z.zone_id()?.to_owned())))
                        .collect();
                    zones.sort();
                    if let Some(kind) = &p.instance_type {
                        let offered = pages!(
                            c.ec2
                                .describe_instance_type_offerings()
                                .location_type(aws_sdk_ec2::types::LocationType::AvailabilityZone)
                                .filters(
                                    Filter::builder().name("instance-type").values(kind).build()
                                ),
                            "DescribeInstanceTypeOfferings"
                        );
                        let offered: Vec<&str> =
                            offered.iter().filter_map(|o| o.location()).collect();
                        zones.retain(|(name, _)| offered.contains(&name.as_str()));
                    }
                    Ok(zones)
                })
                .await?;
            let wanted = usize::try_from(p.count).unwrap_or(usize::MAX);
            if zones.len() < wanted {
                let seen: Vec<String> = zones.iter().map(|(n, id)| format!("{n} ({id})")).collect();
                return Err(ActionError::new(format!(
                    "{} needs {wanted} availability zones{}, and this account sees {} there{}",
                    c.region,
                    p.instance_type
                        .as_ref()
                        .map_or_else(String::new, |k| format!(" offering {k}")),
                    zones.len(),
                    if seen.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", seen.join(", "))
                    }
                ))
                .hint("choose another region (--region) or another instance type (--var instance_type=…)")
                .invalid_input());
            }
            zones.truncate(wanted);
            ctx.progress.message(&format!(
                "using {}",
                zones
                    .iter()
                    .map(|(n, id)| format!("{n} ({id})"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
            let name = |i: usize| zones.get(i).map_or_else(String::new, |z| z.0.clone());
            let mut o = Outcome::default();
            o.outputs.insert("first".into(), name(0).into());
            o.outputs.insert("second".into(), name(1).into());
            o.outputs.insert(
                "names".into(),
                zones.iter().map(|z| z.0.clone()).collect::<Vec<_>>().into(),
            );
            o.outputs.insert(
                "zone_ids".into(),
                zones.iter().map(|z| z.1.clone()).collect::<Vec<_>>().into(),
            );
            Ok(o)
        })
    }
}

// ---- Instances --------------------------------------------------------------------------------

use std::collections::HashMap;

use aws_sdk_ec2::types::{Instance, InstanceStateName, InstanceType};

use super::shared::Answer;

/// At most 64 characters, the same for every attempt of a step (AWS keeps it for 24 hours).
fn client_token(key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    digest.iter().take(24).fold(String::new(), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

async fn describe(
    c: &super::client::Clients,
    ids: &[String],
) -> Result<Vec<Instance>, ActionError> {
    let out = c
        .ec2
        .describe_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| sdk_error("DescribeInstances", &e))?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(aws_sdk_ec2::types::Reservation::instances)
        .cloned()
        .collect())
}

/// The instances of `ids` that AWS still knows: one that is gone (`InvalidInstanceID.NotFound`)
/// is left out, any other failure is an error.
async fn describe_existing(
    c: &super::client::Clients,
    ids: &[String],
) -> Result<Vec<Instance>, ActionError> {
    let (mut answers, _) = describe_instances(c, ids.to_vec()).await;
    let mut found = Vec::new();
    for id in ids {
        if let Some(instance) = answers.remove(id).transpose()?.flatten() {
            found.push(instance);
        }
    }
    Ok(found)
}

fn state_of(i: &Instance) -> &str {
    i.state()
        .and_then(|s| s.name())
        .map_or("unknown", InstanceStateName::as_str)
}

/// What `DescribeInstances` says of each of `ids`, a hundred to a call; one AWS does not know
/// (yet, or any more) is `None`. A call naming one unknown or malformed id fails whole, so a
/// chunk that failed is asked again one id at a time: one wait's bad id never fails the others. Also how many calls that took. Every wait for instances of a target polls through
/// this, shared (`Clients::instances`).
async fn describe_instances(
    c: &super::client::Clients,
    ids: Vec<String>,
) -> (HashMap<String, Answer<Instance>>, u64) {
    let mut answers = HashMap::new();
    let mut calls = 0;
    let found = |instances: Vec<Instance>, answers: &mut HashMap<String, Answer<Instance>>| {
        for i in instances {
            if let Some(id) = i.instance_id() {
                answers.insert(id.to_owned(), Ok(Some(i.clone())));
            }
        }
    };
    for chunk in ids.chunks(100) {
        calls += 1;
        match describe(c, chunk).await {
            Ok(instances) => found(instances, &mut answers),
            Err(e) if chunk.len() == 1 && e.code.as_deref().is_some_and(super::not_found_yet) => {}
            Err(_) if chunk.len() > 1 => {
                for id in chunk {
                    calls += 1;
                    match describe(c, std::slice::from_ref(id)).await {
                        Ok(instances) => found(instances, &mut answers),
                        Err(e) if e.code.as_deref().is_some_and(super::not_found_yet) => {}
                        Err(e) => {
                            answers.insert(id.clone(), Err(e));
                        }
                    }
                }
            }
            Err(e) => {
                for id in chunk {
                    answers.insert(id.clone(), Err(e.clone()));
                }
            }
        }
    }
    (answers, calls)
}

/// Poll until every instance is in `target`, showing what is seen and for how long; the poll is
/// shared with every other wait for instances of the target.
async fn wait_for(
    ctx: &Context<'_>,
    c: &super::client::Clients,
    ids: &[String],
    target: &str,
) -> Result<Vec<Instance>, ActionError> {
    let what = ids.join(", ");
    let started = tokio::time::Instant::now();
    let next = if target == "running" {
        "look at the instance's state reason and system log (EC2 › Instances › the instance › Actions › Monitor and troubleshoot), and at the account's vCPU quota"
    } else {
        "look at the instance's state reason (EC2 › Instances › the instance › Status)"
    };
    let watch = c.instances.watch(ids);
    super::poll_shared(ctx, (&what, target), Typical::INSTANCE, next, |due| {
        let watch = &watch;
        let what = &what;
        async move {
            let answers = watch.next(due, |ids| describe_instances(c, ids)).await;
            let mut instances = Vec::new();
            let mut unknown = Vec::new();
            for (id, answer) in ids.iter().zip(answers) {
                match answer? {
                    Some(i) => instances.push(i),
                    None => unknown.push(id.as_str()),
                }
            }
            // Instances launched moments ago may be unknown to DescribeInstances for a while (EC2
            // is eventually consistent); instances being terminated vanish in the end.
            if !unknown.is_empty() && target != "terminated" {
                if started.elapsed() < super::CONSISTENCY {
                    return Ok(Seen::Waiting(format!(
                        "not visible yet ({})",
                        unknown.join(", ")
                    )));
                }
                return Err(ActionError::new(format!(
                    "instances {} do not exist (InvalidInstanceID.NotFound)",
                    unknown.join(", ")
                ))
                .hint("they were terminated while this step waited for them: run the step again (resume) to launch them anew"));
            }
            let states: Vec<&str> = instances.iter().map(state_of).collect();
            if states.iter().all(|s| *s == target) {
                return Ok(Seen::Done(instances));
            }
            let doomed = ["terminated", "shutting-down"];
            if target != "terminated" && states.iter().any(|s| doomed.contains(s)) {
                return Err(ActionError::new(format!("instances {what} are {} instead of becoming {target}", states.join(", ")))
                    .hint("look at the instance's state reason in the EC2 console (EC2 › Instances › the instance › Status)"));
            }
            Ok(Seen::Waiting(states.join(", ")))
        }
    })
    .await
}

fn instances_outcome(instances: &[Instance]) -> Outcome {
    let ids: Vec<String> = instances
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect();
    let private: Vec<String> = instances
        .iter()
        .filter_map(|i| i.private_ip_address().map(str::to_owned))
        .collect();
    let public: Vec<String> = instances
        .iter()
        .filter_map(|i| i.public_ip_address().map(str::to_owned))
        .collect();
    let mut o = Outcome::default();
    o.outputs.insert("instance_ids".into(), ids.clone().into());
    o.outputs.insert("private_ips".into(), private.into());
    o.outputs.insert("public_ips".into(), public.into());
    o.resources = ids
        .into_iter()
        .map(|id| Resource {
            kind: kinds::INSTANCE.into(),
            id,
            undo: serde_json::Value::Null,
            changed: Vec::new(),
        })
        .collect();
    o
}

pub(super) struct RunInstances;

impl Executor for RunInstances {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> BoxFuture<'a, Result<Outcome, ActionError>> {
        Box::pin(async move {
            let p: RunInstancesParams = ctx.params()?;
            if p.count == 0 {
                return Err(
                    ActionError::new("`count` is 0: there is nothing to launch").invalid_input()
                );
            }
            let c = clients(ctx)?;
            ctx.progress.status(&format!(
                "launching {} {} instance(s) from {}",
                p.count, p.instance_type, p.image_id
            ));
            let count = i32::try_from(p.count)
                .map_err(|_| ActionError::new("`count` is too large").invalid_input())?;
            let mut req = c
                .ec2
                .run_instances()
                .image_id(&p.image_id)
                .instance_type(InstanceType::from(p.instance_type.as_str()))
                .min_count(count)
                .max_count(count)
                .subnet_id(&p.subnet_id)
                .set_security_group_ids(Some(p.security_group_ids.clone()))
                .client_token(client_token(ctx.key))
                .tag_specifications(tag_spec(
                    ResourceType::Instance,
                    ctx,
                    Some(&p.name),
                    &p.tags,
                ));
            if let Some(script) = &p.user_data {
                req = req.user_data(aws_smithy_types::base64::encode(script.as_bytes()));
            }
            // The subnet and groups may be seconds old: NotFound is waited out. The client token
            // makes every try the same launch.
            let (out, resent) =
                noting_unanswered(consistent(ctx, "RunInstances", || req.clone().send())).await;
            let out = match out {
                Ok(out) => out,
                // The token was used by an earlier attempt of this step with other parameters
                // (the runbook changed between a crash and the resume): AWS remembers it for
                // 24 hours. What that attempt launched carries the step's key: adopt it.
                Err(e) if e.code.as_deref() == Some("IdempotentParameterMismatch") => {
                    return match self.reconcile(ctx).await? {
                        Some(adopted) => Ok(adopted),
                        None => Err(e.hint(
                            "an earlier attempt of this step asked for other instances with the same client token; \
                             roll this run back and start a new one (`runbook rollback`, then `runbook run`)",
                        )),
                    };
                }
                Err(e) => return Err(e),
            };
            if resent {
                // AWS honours the token; an emulator may have launched them twice.
                remove_resent(ctx, c, &instances_outcome(out.instances())).await?;
            }
            let ids: Vec<String> = out
                .instances()
                .iter()
                .filter_map(|i| i.instance_id().map(str::to_owned))
                .collect();
            let instances = if p.wait {
                wait_for(ctx, c, &ids, "running").await?
            } else {
                out.instances().to_vec()
            };
            Ok(instances_outcome(&instances))
        })
    }

    fn looks(&self) -> bool {
        true
    }

    fn reconcile<'a>(
        &'a self,
        ctx: &'a Context<'a>,
    ) -> BoxFuture<'a, Result<Option<Outcome>, ActionError>> {
        Box::pin(async move {
            let p: RunInstancesParams = ctx.params()?;
            let c = clients(ctx)?;
            let out = c
                .ec2
                .describe_instances()
                .filters(by_key(ctx))
                .filters(
                    Filter::builder()
                        .name("instance-state-name")
                        .values("pending")
                        .values("running")
                        .values("stopping")
                        .values("stopped")
                        .build(),
                )
                .send()
                .await
                .map_err(|e| sdk_error("DescribeInstances", &e))?;
            let ids: Vec<String> = out
                .reservations()
                .iter()
                .flat_map(aws_sdk_ec2::types::Reservation::instances)
                .filter_map(|i| i.instance_id().map(str::to_owned))
                .collect();
            if ids.is_empty() {
                return Ok(None);
            }
            let instances = if p.wait && ctx.adopting {
                wait_for(ctx, c, &ids, "running").await?
            } else {
                describe(c, &ids).await?
            };
            Ok(Some(instances_outcome(&instances)))
        })
    }

    fn undo<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        r: &'a Resource,
    ) -> BoxFuture<'a, Result<Undone, ActionError>> {
        Box::pin(async move {
            let c = clients(ctx)?;
            ctx.progress.status(&format!("terminating {}", r.id));
            // AWS keeps a terminated instance visible for about an hour and terminating it
            // again succeeds: its state before this call says whether it was already gone.
            let how = match c.ec2.terminate_instances().instance_ids(&r.id).send().await {
                Ok(out) => {
                    let before = out
                        .terminating_instances()
                        .iter()
                        .find(|i| i.instance_id() == Some(r.id.as_str()))
                        .and_then(|i| i.previous_state())
                        .and_then(|s| s.name());
                    if before == Some(&InstanceStateName::Terminated) {
                        Undone::AlreadyGone
                    } else {
                        Undone::Removed
                    }
                }
                Err(e) if code(&e).as_deref() == Some("InvalidInstanceID.NotFound") => {
                    return Ok(Undone::AlreadyGone);
                }
                Err(e) => return Err(sdk_error("TerminateInstances", &e)),
            };
            wait_for(ctx, c, std::slice::from_ref(&r.id), "terminated").await?;
            Ok(how)
        })
    }
}

pub(super) struct WaitInstances;

impl Executor for WaitInstances {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> BoxFuture<'a, Result<Outcome, ActionError>> {
        Box::pin(async move {
            let p: WaitInstancesParams = ctx.params()?;
            let c = clients(ctx)?;
            let target = match p.state {
                InstanceState::Running => "running",
                InstanceState::Stopped => "stopped",
                InstanceState::Terminated => "terminated",
            };
            wait_for(ctx, c, &p.instance_ids, target).await?;
            Ok(Outcome::default())
        })
    }
}

/// When a person changed an instance's state, from EC2's reason for it: `User initiated
/// (2026-12-02 14:00:00 GMT)` is `2026-12-02T14:00:00.000Z`.
fn when_initiated(reason: &str) -> Option<String> {
    let inside = reason.split_once('(')?.1.split_once(')')?.0;
    let at = humantime::parse_rfc3339_weak(inside.trim_end_matches(" GMT").trim()).ok()?;
    Some(humantime::format_rfc3339_millis(at).to_string())
}

/// Stop or start instances; the undo of one is the other.
pub(super) struct Power {
    pub start: bool,
}

impl Power {
    /// Instances stopped (or started) at `at`: the time as an output, and the change for undo.
    fn outcome(&self, at: String, ids: &[String]) -> Outcome {
        let mut o = Outcome::default();
        o.outputs.insert(
            if self.start {
                "started_at"
            } else {
                "stopped_at"
            }
            .into(),
            at.into(),
        );
        o.resources.push(Resource {
            kind: if self.start {
                kinds::STARTED_INSTANCES
            } else {
                kinds::STOPPED_INSTANCES
            }
            .into(),
            id: ids.join(","),
            undo: serde_json::json!({ "instance_ids": ids }),
            changed: ids.to_vec(),
        });
        o
    }
}

async fn power(
    ctx: &Context<'_>,
    c: &super::client::Clients,
    ids: &[String],
    start: bool,
    wait: bool,
) -> Result<(), ActionError> {
    if start {
        ctx.progress.status(&format!("starting {}", ids.join(", ")));
        c.ec2
            .start_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("StartInstances", &e))?;
    } else {
        ctx.progress.status(&format!("stopping {}", ids.join(", ")));
        c.ec2
            .stop_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("StopInstances", &e))?;
    }
    if wait {
        wait_for(ctx, c, ids, if start { "running" } else { "stopped" }).await?;
    }
    Ok(())
}

impl Executor for Power {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> BoxFuture<'a, Result<Outcome, ActionError>> {
        Box::pin(async move {
            let p: InstancesParams = ctx.params()?;
            let c = clients(ctx)?;
            let at = crate::engine::journal::now();
            power(ctx, c, &p.instance_ids, self.start, p.wait).await?;
            Ok(self.outcome(at, &p.instance_ids))
        })
    }

    fn by_hand<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        _compare: &'a [String],
    ) -> BoxFuture<'a, Result<ByHand, ActionError>> {
        Box::pin(async move {
            let p: InstancesParams = ctx.params()?;
            let c = clients(ctx)?;
            let (wanted, also) = if self.start {
                ("running", "pending")
            } else {
                ("stopped", "stopping")
            };
            ctx.progress
                .status(&format!("looking at {}", p.instance_ids.join(", ")));
            let found = describe_existing(c, &p.instance_ids).await?;
            let missing: Vec<&String> = p
                .instance_ids
                .iter()
                .filter(|id| !found.iter().any(|i| i.instance_id() == Some(id.as_str())))
                .collect();
            if !missing.is_empty() {
                return Ok(ByHand::Nothing {
                    looked: format!(
                        "the instances {} in {}",
                        p.instance_ids.join(", "),
                        c.region
                    ),
                    seen: missing
                        .iter()
                        .map(|id| format!("{id}: EC2 does not know it"))
                        .collect(),
                });
            }
            let what = found
                .iter()
                .map(|i| format!("{} {}", i.instance_id().unwrap_or("?"), state_of(i)))
                .collect::<Vec<_>>()
                .join(", ");
            let differences: Vec<String> = found
                .iter()
                .filter(|i| ![wanted, also].contains(&state_of(i)))
                .map(|i| {
                    format!(
                        "{} is {}; this step needs it {wanted}",
                        i.instance_id().unwrap_or("?"),
                        state_of(i)
                    )
                })
                .collect();
            if !differences.is_empty() {
                return Ok(ByHand::Differs { what, differences });
            }
            if ctx.adopting && p.wait {
                wait_for(ctx, c, &p.instance_ids, wanted).await?;
            }
            // When the learner did it: EC2 says so in the state's reason ("User initiated
            // (2026-12-02 14:00:00 GMT)"); else now.
            let at = found
                .iter()
                .filter_map(|i| when_initiated(i.state_transition_reason()?))
                .max()
                .unwrap_or_else(crate::engine::journal::now);
            Ok(ByHand::Matches {
                outcome: self.outcome(at, &p.instance_ids),
                what,
            })
        })
    }

    fn undo<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        r: &'a Resource,
    ) -> BoxFuture<'a, Result<Undone, ActionError>> {
        Box::pin(async move {
            let ids: Vec<String> =
                serde_json::from_value(r.undo["instance_ids"].clone()).map_err(|e| {
                    ActionError::new(format!(
                        "the journal's record of {} has no readable instance ids: {e}",
                        r.id
                    ))
                })?;
            let c = clients(ctx)?;
            // Instances terminated meanwhile (by the rollback of their own step) need nothing;
            // a failed read is no answer, so it fails the undo rather than pass for "none".
            let live: Vec<String> = describe_existing(c, &ids)
                .await?
                .iter()
                .filter(|i| !["terminated", "shutting-down"].contains(&state_of(i)))
                .filter_map(|i| i.instance_id().map(str::to_owned))
                .collect();
            if live.is_empty() {
                return Ok(Undone::AlreadyGone);
            }
            power(ctx, c, &live, !self.start, true).await?;
            Ok(Undone::Removed)
        })
    }
}

#[cfg(test)]
mod tests {
    /// A learner's stop is dated by EC2's reason for the state, so that the drill measures
    /// from when they stopped the instances rather than from when the runbook looked.
    #[test]
    fn a_stop_by_hand_is_dated_by_ec2s_reason() {
        assert_eq!(
            super::when_initiated("User initiated (2026-12-02 14:00:05 GMT)").as_deref(),
            Some("2026-12-02T14:00:05.000Z")
        );
        assert_eq!(
            super::when_initiated("Server.SpotInstanceTermination"),
            None
        );
    }
}
