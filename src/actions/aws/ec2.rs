//! EC2: VPCs, subnets, gateways, routes, security groups and instances.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Tags;
use crate::actions::{ActionDef, Effect, Outputs, Params, out};
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

fn t3_micro() -> String {
    "t3.micro".into()
}

fn one() -> u32 {
    1
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
        executor: &crate::engine::action::NotBuilt,
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
        executor: &crate::engine::action::NotBuilt,
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
        executor: &crate::engine::action::NotBuilt,
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
        executor: &crate::engine::action::NotBuilt,
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
        executor: &crate::engine::action::NotBuilt,
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
        executor: &crate::engine::action::NotBuilt,
    },
    ActionDef {
        name: "aws.ec2.run_instances",
        summary: "Launch EC2 instances and (by default) wait until they run.",
        docs: "Launches `count` instances with the given image, type, subnet, security groups and user data. \
               Console: EC2 › Instances › Launch instances.",
        effect: Effect::Creates,
        params: Params::of::<RunInstancesParams>(),
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
        executor: &crate::engine::action::NotBuilt,
    },
    ActionDef {
        name: "aws.ec2.wait_instances",
        summary: "Wait until instances are running, stopped or terminated.",
        docs: "Polls the instances' state, showing what it sees, until all of them are in `state`.",
        effect: Effect::Reads,
        params: Params::of::<WaitInstancesParams>(),
        outputs: Outputs::Fixed(&[]),
        undo: None,
        executor: &crate::engine::action::NotBuilt,
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
        executor: &crate::engine::action::NotBuilt,
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
        executor: &crate::engine::action::NotBuilt,
    },
];
