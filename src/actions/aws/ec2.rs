//! EC2 networking: VPCs, subnets, gateways, routes and security groups, and the look-ups of an
//! image and of availability zones. Instances are in [`super::instances`].

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

/// An IPv4 range AWS takes for a VPC or a subnet: from /16 to /28. Found by validation, not by
/// `CreateVpc` (or, for a VPC too small for its subnets, `CreateSubnet`) minutes into a run.
fn range_problem(known: &serde_json::Value, what: &str) -> Vec<ParamProblem> {
    let Some(net) = known
        .get("cidr")
        .and_then(serde_json::Value::as_str)
        .and_then(|c| c.parse::<ipnet::IpNet>().ok())
    else {
        return Vec::new();
    };
    let why = match net {
        ipnet::IpNet::V6(_) => "is an IPv6 range; this action takes an IPv4 one",
        ipnet::IpNet::V4(v4) if v4.prefix_len() < 16 => "is larger than AWS allows (at most /16)",
        ipnet::IpNet::V4(v4) if v4.prefix_len() > 28 => "is smaller than AWS allows (at least /28)",
        ipnet::IpNet::V4(_) => return Vec::new(),
    };
    vec![ParamProblem {
        param: "cidr",
        code: "cidr-size",
        message: format!("`{net}` {why} for {what}"),
        help: "a VPC or subnet range is from /16 (65,536 addresses) to /28 (16); the shipped runbooks take a /16 for a VPC and a /24 of it for each subnet",
    }]
}

fn lint_vpc(_step: &str, known: &serde_json::Value) -> Vec<ParamProblem> {
    range_problem(known, "a VPC")
}

fn lint_subnet(_step: &str, known: &serde_json::Value) -> Vec<ParamProblem> {
    range_problem(known, "a subnet")
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
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

/// Create an internet gateway and attach it to a VPC.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.create_internet_gateway")]
pub struct CreateInternetGatewayParams {
    pub vpc_id: String,
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
    pub to_port: Option<u16>,
    #[serde(default = "tcp")]
    pub protocol: String,
    /// Allow from this range, for example `0.0.0.0/0`.
    pub cidr: Option<Cidr>,
    /// Allow from members of this security group.
    pub source_security_group_id: Option<String>,
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

fn two() -> u32 {
    2
}

/// Find availability zones this account sees in the region, that offer an instance type.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.find_zones")]
pub struct FindZonesParams {
    /// Only zones where this instance type is offered.
    pub instance_type: Option<String>,
    /// How many zones are needed (an Application Load Balancer needs two).
    #[serde(default = "two")]
    pub count: u32,
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
pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        summary: "Create a VPC with DNS hostnames on.",
        docs: "Creates a VPC with the given IPv4 range and turns on DNS support and DNS hostnames. \
               Console: VPC › Your VPCs › Create VPC.",
        outputs: Outputs::Fixed(&[
            out("vpc_id", "string", "The VPC's id."),
            out("cidr", "string", "Its range."),
        ]),
        undo: Some("deletes the VPC"),
        cli: Some(super::aws_cli::create_vpc),
        creates: &[kinds::VPC],
        noun: Some("VPC"),
        usage: Some(vpc_usage),
        also: &["vpc", "ec2_vpc_net"],
        ..ActionDef::new(
            "aws.ec2.create_vpc",
            Effect::Creates,
            Params::of::<CreateVpcParams>().linted(lint_vpc),
            &Life(CreateVpc),
        )
    },
    ActionDef {
        summary: "Create a subnet in one availability zone.",
        docs: "Creates a subnet; with `public: true` instances launched in it get public IP addresses. \
               Console: VPC › Subnets › Create subnet.",
        outputs: Outputs::Fixed(&[
            out("subnet_id", "string", "The subnet's id."),
            out("availability_zone", "string", "Its availability zone."),
            out("cidr", "string", "Its range."),
        ]),
        undo: Some("deletes the subnet, retrying while AWS still releases network interfaces"),
        cli: Some(super::aws_cli::create_subnet),
        creates: &[kinds::SUBNET],
        noun: Some("subnet"),
        exercise: Some(Exercisable {
            looks: "the VPC's subnets with the step's range",
            compares: &["availability_zone", "public"],
            watch: false,
        }),
        also: &["subnet", "ec2_vpc_subnet"],
        ..ActionDef::new(
            "aws.ec2.create_subnet",
            Effect::Creates,
            Params::of::<CreateSubnetParams>().linted(lint_subnet),
            &Life(CreateSubnet),
        )
    },
    ActionDef {
        summary: "Create an internet gateway and attach it to a VPC.",
        docs: "Without an internet gateway nothing in the VPC reaches the internet, and an internet-facing \
               load balancer cannot be created. Console: VPC › Internet gateways.",
        outputs: Outputs::Fixed(&[out("internet_gateway_id", "string", "The gateway's id.")]),
        undo: Some("detaches the gateway from the VPC and deletes it"),
        cli: Some(super::aws_cli::create_internet_gateway),
        creates: &[kinds::INTERNET_GATEWAY],
        noun: Some("internet gateway"),
        usage: Some(internet_gateway_usage),
        also: &[
            "igw",
            "internet_gateway",
            "create_igw",
            "ec2_vpc_igw",
            "attach_internet_gateway",
        ],
        ..ActionDef::new(
            "aws.ec2.create_internet_gateway",
            Effect::Creates,
            Params::of::<CreateInternetGatewayParams>(),
            &Life(CreateInternetGateway),
        )
    },
    ActionDef {
        summary: "Create a route table with routes and associate it with subnets.",
        docs: "A subnet is public when its route table sends 0.0.0.0/0 to an internet gateway. \
               Console: VPC › Route tables.",
        outputs: Outputs::Fixed(&[out("route_table_id", "string", "The table's id.")]),
        undo: Some(
            "disassociates the table from the subnets its step associated and deletes it (refused, naming it, while a subnet someone else associated is still on it)",
        ),
        cli: Some(super::aws_cli::create_route_table),
        creates: &[kinds::ROUTE_TABLE],
        noun: Some("route table"),
        also: &[
            "route_table",
            "create_route",
            "route",
            "ec2_vpc_route_table",
            "associate_route_table",
        ],
        ..ActionDef::new(
            "aws.ec2.create_route_table",
            Effect::Creates,
            Params::of::<CreateRouteTableParams>(),
            &Life(CreateRouteTable),
        )
    },
    ActionDef {
        summary: "Create a security group with inbound rules.",
        docs: "A security group is a stateful firewall on network interfaces. Rules allow a port from a CIDR \
               range or from another group. Console: EC2 › Security Groups.",
        outputs: Outputs::Fixed(&[out("security_group_id", "string", "The group's id.")]),
        undo: Some("deletes the group, retrying while AWS still releases network interfaces"),
        cli: Some(super::aws_cli::create_security_group),
        creates: &[kinds::SECURITY_GROUP],
        noun: Some("security group"),
        exercise: Some(Exercisable {
            looks: "the VPC's security groups with the step's name",
            compares: &["ingress"],
            watch: false,
        }),
        also: &[
            "security_group",
            "sg",
            "create_sg",
            "ec2_security_group",
            "authorize_security_group_ingress",
            "firewall",
        ],
        ..ActionDef::new(
            "aws.ec2.create_security_group",
            Effect::Creates,
            Params::of::<CreateSecurityGroupParams>(),
            &Life(CreateSecurityGroup),
        )
    },
    ActionDef {
        summary: "Find the newest machine image matching a name pattern.",
        docs: "Looks up images by name pattern, owner and architecture and picks the newest by creation \
               date, then by name. The default finds the latest Amazon Linux 2023. Console: EC2 › AMI Catalog.",
        outputs: Outputs::Fixed(&[
            out("image_id", "string", "The image's id."),
            out("name", "string", "Its name."),
            out("creation_date", "string", "When it was made."),
        ]),
        cli: Some(super::aws_cli::find_image),
        also: &[
            "ami",
            "image",
            "find_ami",
            "describe_images",
            "ec2_ami_info",
            "get_ami",
        ],
        ..ActionDef::new(
            "aws.ec2.find_image",
            Effect::Reads,
            Params::of::<FindImageParams>(),
            &FindImage,
        )
    },
    ActionDef {
        summary: "Find availability zones of the region that offer an instance type.",
        docs: "Zone letters are mapped per account: `ap-south-1b` in one account can be another data centre, \
               or missing, in the next, and not every instance type is offered in every zone. This asks the \
               account which zones it sees (DescribeAvailabilityZones, standard zones only) and where the \
               instance type is offered (DescribeInstanceTypeOfferings), and picks the first `count` by name; \
               fewer than `count` is an error before anything is created. Console: EC2 › Settings › Zones.",
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
        cli: Some(super::aws_cli::find_zones),
        also: &[
            "availability_zones",
            "find_azs",
            "az",
            "zones",
            "describe_availability_zones",
            "aws_az_info",
        ],
        ..ActionDef::new(
            "aws.ec2.find_zones",
            Effect::Reads,
            Params::of::<FindZonesParams>().linted(super::instances::lint_instance_type),
            &FindZones,
        )
    },
];

// ---- Execution -------------------------------------------------------------------------------
//
// Every create tags what it makes with `runbook:key` (the step's idempotency key) in the create
// itself, so a reconcile finds it after a crash by that tag alone (ClientToken is not relied on:
// emulators ignore it). The life they share (find by tag, adopt, resent creates, undo) is
// `life::Life`; how each kind is deleted is its entry in `kinds`.

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification,
    UserIdGroupPair,
};

use super::client::{Clients, clients};
use super::kinds;
use super::life::{Creating, Finishing, Life, Make, Step, client_token, made, made_from};
use super::watch::noting_unanswered;
use super::{consistent, deleted, found, sdk_error, standard_tags};
use crate::engine::action::{
    ActionError, ByHand, Checking, Context, Executor, Outcome, Resource, Running, Undone,
};

/// Tag a resource a learner made by hand as the step's, like one it made: `sweep --tag` and
/// resume find it, and rollback removes it.
async fn tag_as_steps(
    ctx: &Context<'_>,
    c: &Clients,
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

pub(super) fn tag_spec(
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

fn cidr_text(c: Cidr, what: &str) -> Result<String, ActionError> {
    c.0.map(|n| n.to_string())
        .ok_or_else(|| ActionError::new(format!("{what} has no value")).invalid_input())
}

pub(super) struct CreateVpc;

impl Make for CreateVpc {
    type Params = CreateVpcParams;
    const KIND: kinds::ResourceKind = kinds::VPC;

    fn create<'a>(&'a self, s: Step<'a, Self::Params>) -> Creating<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
            let cidr = cidr_text(p.cidr, "cidr")?;
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
            let outcome = out.map_err(|e| sdk_error("CreateVpc", &e)).and_then(|out| {
                let id = out.vpc().and_then(|v| v.vpc_id());
                made_from(kinds::VPC, id, &[("cidr", cidr.into())])
            });
            Ok((outcome, resent))
        })
    }

    fn finish<'a>(&'a self, s: Step<'a, Self::Params>, made: &'a mut Outcome) -> Finishing<'a> {
        Box::pin(enable_dns(s.ctx, s.c, &made.resources[0].id))
    }
}

async fn enable_dns(ctx: &Context<'_>, c: &Clients, vpc_id: &str) -> Result<(), ActionError> {
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
async fn subnet_conflict(c: &Clients, vpc_id: &str, cidr: &str) -> Option<String> {
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

impl Make for CreateSubnet {
    type Params = CreateSubnetParams;
    const KIND: kinds::ResourceKind = kinds::SUBNET;

    fn create<'a>(&'a self, s: Step<'a, Self::Params>) -> Creating<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
            let cidr = cidr_text(p.cidr, "cidr")?;
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
            let outcome = match out {
                Ok(out) => made_from(
                    kinds::SUBNET,
                    out.subnet().and_then(|s| s.subnet_id()),
                    &[
                        ("availability_zone", p.availability_zone.clone().into()),
                        ("cidr", cidr.into()),
                    ],
                ),
                Err(mut err) => {
                    let code = err.code.as_deref();
                    let refused = code == Some("InvalidSubnet.Range")
                        || (code == Some("InvalidSubnet.Conflict") && !resent);
                    if refused {
                        if let Some(why) = subnet_conflict(c, &p.vpc_id, &cidr).await {
                            err = err.hint(why);
                        }
                    }
                    Err(err)
                }
            };
            Ok((outcome, resent))
        })
    }

    /// The resend of a create that did land meets its own subnet.
    fn made_before(&self, code: &str, resent: bool) -> bool {
        resent && code == "InvalidSubnet.Conflict"
    }

    fn finish<'a>(&'a self, s: Step<'a, Self::Params>, made: &'a mut Outcome) -> Finishing<'a> {
        Box::pin(finish_subnet(s.ctx, s.c, &made.resources[0].id, s.p.public))
    }

    fn by_hand<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        c: &'a Clients,
        p: Self::Params,
        compare: &'a [String],
    ) -> Checking<'a> {
        Box::pin(async move {
            let cidr = cidr_text(p.cidr, "cidr")?;
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
                outcome: made(
                    kinds::SUBNET,
                    &id,
                    &[
                        ("availability_zone", az.to_owned().into()),
                        ("cidr", cidr.clone().into()),
                    ],
                ),
                what: format!("subnet {}", describe(subnet)),
            })
        })
    }
}

async fn finish_subnet(
    ctx: &Context<'_>,
    c: &Clients,
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
async fn attach(ctx: &Context<'_>, c: &Clients, igw: &str, vpc: &str) -> Result<(), ActionError> {
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

impl Make for CreateInternetGateway {
    type Params = CreateInternetGatewayParams;
    const KIND: kinds::ResourceKind = kinds::INTERNET_GATEWAY;

    fn create<'a>(&'a self, s: Step<'a, Self::Params>) -> Creating<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
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
            let outcome = out
                .map_err(|e| sdk_error("CreateInternetGateway", &e))
                .and_then(|out| {
                    let id = out.internet_gateway().and_then(|g| g.internet_gateway_id());
                    made_from(kinds::INTERNET_GATEWAY, id, &[])
                });
            Ok((outcome, resent))
        })
    }

    /// Attached to the VPC, which its undo detaches it from.
    fn finish<'a>(&'a self, s: Step<'a, Self::Params>, made: &'a mut Outcome) -> Finishing<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
            let gateway = &mut made.resources[0];
            ctx.progress
                .status(&format!("attaching {} to {}", gateway.id, p.vpc_id));
            attach(ctx, c, &gateway.id, &p.vpc_id).await?;
            gateway.undo = serde_json::json!({ "vpc_id": p.vpc_id });
            Ok(())
        })
    }
}

/// Detach an internet gateway from its VPC (the one its step attached it to, or for a gateway
/// found by tag, the one AWS says), then delete it.
pub(super) async fn delete_internet_gateway(
    ctx: &Context<'_>,
    c: &Clients,
    r: &Resource,
) -> Result<Undone, ActionError> {
    let vpc = match r.undo.get("vpc_id").and_then(|v| v.as_str()) {
        Some(vpc) => Some(vpc.to_owned()),
        None => found(
            "DescribeInternetGateways",
            c.ec2
                .describe_internet_gateways()
                .internet_gateway_ids(&r.id)
                .send()
                .await,
            &["InvalidInternetGatewayID.NotFound"],
        )?
        .and_then(|out| {
            out.internet_gateways()
                .iter()
                .flat_map(aws_sdk_ec2::types::InternetGateway::attachments)
                .find_map(|a| a.vpc_id().map(str::to_owned))
        }),
    };
    if let Some(vpc) = vpc {
        ctx.progress
            .status(&format!("detaching {} from {vpc}", r.id));
        deleted(
            "DetachInternetGateway",
            c.ec2
                .detach_internet_gateway()
                .internet_gateway_id(&r.id)
                .vpc_id(&vpc)
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
}

pub(super) struct CreateRouteTable;

/// Add the routes and associations a table should have (idempotent: what exists is kept).
async fn furnish_route_table(
    ctx: &Context<'_>,
    c: &Clients,
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

impl Make for CreateRouteTable {
    type Params = CreateRouteTableParams;
    const KIND: kinds::ResourceKind = kinds::ROUTE_TABLE;

    fn create<'a>(&'a self, s: Step<'a, Self::Params>) -> Creating<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
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
            let outcome = out.and_then(|out| {
                let id = out.route_table().and_then(|t| t.route_table_id());
                made_from(kinds::ROUTE_TABLE, id, &[])
            });
            Ok((outcome, resent))
        })
    }

    fn finish<'a>(&'a self, s: Step<'a, Self::Params>, made: &'a mut Outcome) -> Finishing<'a> {
        Box::pin(async move {
            let table = &mut made.resources[0];
            furnish_route_table(s.ctx, s.c, &table.id, s.p).await?;
            // What undo may disassociate: the step's subnets, no other.
            table.undo = serde_json::json!({ "subnet_ids": s.p.subnet_ids });
            Ok(())
        })
    }
}

/// Disassociate a route table from its subnets, then delete it. Where its step recorded the
/// subnets it associated, an association with any other subnet (one a person added) is left as
/// it is and the undo refused, naming it, before anything is changed: disassociating it would
/// change the routes of a subnet the run did not route. (A sweep, or a journal from before the
/// subnets were recorded, disassociates every subnet.)
pub(super) async fn delete_route_table(
    ctx: &Context<'_>,
    c: &Clients,
    r: &Resource,
) -> Result<Undone, ActionError> {
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
    let associations: Vec<&aws_sdk_ec2::types::RouteTableAssociation> = out
        .route_tables()
        .iter()
        .flat_map(aws_sdk_ec2::types::RouteTable::associations)
        .filter(|a| a.main() != Some(true))
        .collect();
    if let Some(ours) = r.undo.get("subnet_ids").and_then(|v| v.as_array()) {
        let others: Vec<&&aws_sdk_ec2::types::RouteTableAssociation> = associations
            .iter()
            .filter(|a| {
                !a.subnet_id()
                    .is_some_and(|s| ours.iter().any(|o| o.as_str() == Some(s)))
            })
            .collect();
        if !others.is_empty() {
            let named: Vec<String> = others
                .iter()
                .map(|a| {
                    format!(
                        "{} ({})",
                        a.subnet_id().or(a.gateway_id()).unwrap_or("?"),
                        a.route_table_association_id().unwrap_or("?")
                    )
                })
                .collect();
            let first = others[0]
                .route_table_association_id()
                .unwrap_or("ASSOCIATION_ID");
            return Err(ActionError::new(format!(
                "route table {} is also associated with {}, which its step did not associate: \
                 disassociating {} would change the routes of what the run did not route, so \
                 nothing was changed",
                r.id,
                named.join(", "),
                if others.len() == 1 { "it" } else { "them" }
            ))
            .hint(format!(
                "associate {} with another route table, or disassociate {} yourself \
                 (`aws ec2 disassociate-route-table --association-id {first}`), then roll back \
                 again",
                if others.len() == 1 { "it" } else { "them" },
                if others.len() == 1 { "it" } else { "each" },
            )));
        }
    }
    for assoc in associations {
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
    c: &Clients,
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

impl Make for CreateSecurityGroup {
    type Params = CreateSecurityGroupParams;
    const KIND: kinds::ResourceKind = kinds::SECURITY_GROUP;

    fn create<'a>(&'a self, s: Step<'a, Self::Params>) -> Creating<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
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
            let outcome = out.and_then(|out| made_from(kinds::SECURITY_GROUP, out.group_id(), &[]));
            Ok((outcome, resent))
        })
    }

    /// The resend of a create that did land meets its own group (a group's name is unique in
    /// its VPC).
    fn made_before(&self, code: &str, resent: bool) -> bool {
        resent && code == "InvalidGroup.Duplicate"
    }

    fn finish<'a>(&'a self, s: Step<'a, Self::Params>, made: &'a mut Outcome) -> Finishing<'a> {
        Box::pin(authorize(s.ctx, s.c, &made.resources[0].id, s.p))
    }

    fn by_hand<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        c: &'a Clients,
        p: Self::Params,
        compare: &'a [String],
    ) -> Checking<'a> {
        Box::pin(async move {
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
                outcome: made(kinds::SECURITY_GROUP, &id, &[]),
                what,
            })
        })
    }
}

pub(super) struct FindImage;

impl Executor for FindImage {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
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
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
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
