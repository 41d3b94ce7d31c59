//! Every kind of AWS resource the actions create, one entry each: its page in the console, and
//! how `sweep` finds it by tag (every page) and deletes it without a journal. The table's order is
//! the order sweep deletes in: instances before the groups and subnets they use, load balancers
//! before their target groups, VPCs after everything in them, a hosted zone after its records.
//!
//! An action names the kinds it creates on its definition (`ActionDef::creates`); a unit test
//! below fails when one of them has no entry here, so a new kind cannot reach a user's sweep
//! without a way to delete it.

use aws_sdk_ec2::types::Filter;
use serde_json::Value as Json;

use super::client::Clients;
use super::{deleted, sdk_error};
use crate::engine::action::{ActionError, BoxFuture, Context, Resource, Undoing, Undone};

/// A kind of resource, as the journal, undo, sweep and the console name it (`vpc`, `load
/// balancer`). Only the constants below exist, so a misspelled kind does not compile; each kind a
/// create makes has an entry in [`KINDS`] (a test checks it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKind(&'static str);

impl ResourceKind {
    /// Its name, as written in journals and shown to people.
    pub const fn name(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl From<ResourceKind> for String {
    fn from(kind: ResourceKind) -> String {
        kind.0.to_owned()
    }
}

impl PartialEq<str> for ResourceKind {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for ResourceKind {
    fn eq(&self, other: &String) -> bool {
        self.0 == other
    }
}

pub const INSTANCE: ResourceKind = ResourceKind("instance");
pub const LISTENER: ResourceKind = ResourceKind("listener");
pub const LOAD_BALANCER: ResourceKind = ResourceKind("load balancer");
pub const TARGET_GROUP: ResourceKind = ResourceKind("target group");
pub const SECURITY_GROUP: ResourceKind = ResourceKind("security group");
pub const INTERNET_GATEWAY: ResourceKind = ResourceKind("internet gateway");
pub const ROUTE_TABLE: ResourceKind = ResourceKind("route table");
pub const SUBNET: ResourceKind = ResourceKind("subnet");
pub const VPC: ResourceKind = ResourceKind("vpc");
pub const HEALTH_CHECK: ResourceKind = ResourceKind("health check");
pub const RECORD: ResourceKind = ResourceKind("record");
pub const HOSTED_ZONE: ResourceKind = ResourceKind("hosted zone");
/// Changes a step makes to resources that exist rather than resources it creates: undone by
/// their step, never swept, so they have no entry in [`KINDS`].
pub const REGISTERED_TARGETS: ResourceKind = ResourceKind("registered targets");
pub const STOPPED_INSTANCES: ResourceKind = ResourceKind("stopped instances");
pub const STARTED_INSTANCES: ResourceKind = ResourceKind("started instances");
/// The kinds of change above, for what tells made from changed.
pub const CHANGES: [ResourceKind; 3] = [REGISTERED_TARGETS, STOPPED_INSTANCES, STARTED_INSTANCES];
/// What the test actions make (in their own store, never in AWS).
#[cfg(feature = "test-actions")]
pub const TEST_RESOURCE: ResourceKind = ResourceKind("test resource");

/// Finds every resource of a kind that a selection takes.
pub type List =
    for<'a> fn(&'a Clients, &'a Select) -> BoxFuture<'a, Result<Vec<Found>, ActionError>>;

/// Finds what the deleting undo needs besides the id (an internet gateway's VPC), and clears what
/// must go first (a hosted zone's records).
pub type Prepare = for<'a> fn(&'a Clients, &'a Found) -> BoxFuture<'a, Result<Json, ActionError>>;

/// Whether one resource of a kind exists, read by its id (`Ok(false)`: AWS says it does not).
pub type Look = for<'a> fn(&'a Clients, &'a str) -> BoxFuture<'a, Result<bool, ActionError>>;

/// Deletes one resource of a kind: `Removed` once AWS deleted it, `AlreadyGone` only when AWS
/// says it does not exist, an error for anything else (a failed read or delete).
pub type Delete = for<'a> fn(&'a Context<'a>, &'a Clients, &'a Resource) -> Undoing<'a>;

/// How sweep treats a kind.
#[derive(Clone, Copy)]
pub enum Sweep {
    /// Found by its tags with `list`; `deleted_by` names the action that creates it, whose
    /// undo (the kind's `delete`) sweep runs.
    Tagged {
        list: List,
        deleted_by: &'static str,
        prepare: Option<Prepare>,
    },
    /// Removed with a resource of another kind (a listener with its load balancer, a record with
    /// its hosted zone).
    With(ResourceKind),
}

/// One kind of resource.
#[derive(Clone, Copy)]
pub struct Kind {
    /// As `Resource::kind` and sweep name it: `vpc`, `load balancer`.
    pub name: ResourceKind,
    /// One for the account, not one per region (Route 53's): listed once however many regions
    /// a sweep or a rollback's last look covers, and found from any region's clients.
    pub global: bool,
    /// Its page in the AWS console, from its id and the region.
    pub console: Option<fn(&str, &str) -> String>,
    pub sweep: Sweep,
    /// For a kind whose delete succeeds on an id that does not exist (AWS documents it for
    /// `DeleteLoadBalancer`; the emulator does it for health checks too): how to look before
    /// deleting, so that its undo says "already gone", never "removed", for what was not there.
    /// `None` where the delete itself answers "not found". A test deletes a missing resource of
    /// every kind and expects "already gone".
    pub look_first: Option<Look>,
    /// How a run's undo, a resent create's clean-up and sweep delete it (`None` for a record,
    /// which its own action deletes by rewriting it from the step's parameters).
    pub delete: Option<Delete>,
    /// The output, of every action that creates it, that holds its id (a list of ids for
    /// instances): `runbook mark` offers rollback what a person made by hand from it.
    pub id_output: Option<&'static str>,
}

/// Say what is being deleted, then delete it with `call`, whose "not found" `codes` mean gone.
async fn delete_one<T, E>(
    ctx: &Context<'_>,
    what: String,
    operation: &str,
    call: impl Future<Output = Result<T, super::SdkError<E>>>,
    codes: &[&str],
) -> Result<Undone, ActionError>
where
    E: super::ServiceError,
{
    ctx.progress.status(&format!("deleting {what}"));
    deleted(operation, call.await, codes)
}

/// Every kind, in the order sweep deletes them.
pub static KINDS: &[Kind] = &[
    Kind {
        name: INSTANCE,
        id_output: Some("instance_ids"),
        global: false,
        console: Some(|id, region| format!("{}#InstanceDetails:instanceId={id}", ec2(region))),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(instances(c, s)),
            deleted_by: "aws.ec2.run_instances",
            prepare: None,
        },
        look_first: None,
        delete: Some(|ctx, c, r| Box::pin(super::instances::terminate(ctx, c, r))),
    },
    Kind {
        name: LISTENER,
        id_output: Some("arn"),
        global: false,
        console: None,
        sweep: Sweep::With(LOAD_BALANCER),
        look_first: None,
        delete: Some(|ctx, c, r| {
            let call = c.elbv2.delete_listener().listener_arn(&r.id).send();
            let what = format!("listener {}", r.id);
            Box::pin(delete_one(
                ctx,
                what,
                "DeleteListener",
                call,
                &["ListenerNotFound"],
            ))
        }),
    },
    Kind {
        name: LOAD_BALANCER,
        id_output: Some("arn"),
        global: false,
        console: Some(|id, region| format!("{}#LoadBalancer:loadBalancerArn={id}", ec2(region))),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(load_balancers(c, s)),
            deleted_by: "aws.elbv2.create_load_balancer",
            prepare: None,
        },
        look_first: Some(|c, id| Box::pin(load_balancer_exists(c, id))),
        delete: Some(|ctx, c, r| Box::pin(super::elbv2::delete_load_balancer(ctx, c, r))),
    },
    Kind {
        name: TARGET_GROUP,
        id_output: Some("arn"),
        global: false,
        console: Some(|id, region| format!("{}#TargetGroup:targetGroupArn={id}", ec2(region))),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(target_groups(c, s)),
            deleted_by: "aws.elbv2.create_target_group",
            prepare: None,
        },
        look_first: Some(|c, id| Box::pin(target_group_exists(c, id))),
        delete: Some(|ctx, c, r| Box::pin(super::elbv2::delete_target_group(ctx, c, r))),
    },
    Kind {
        name: SECURITY_GROUP,
        id_output: Some("security_group_id"),
        global: false,
        console: Some(|id, region| format!("{}#SecurityGroup:groupId={id}", ec2(region))),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(security_groups(c, s)),
            deleted_by: "aws.ec2.create_security_group",
            prepare: None,
        },
        look_first: None,
        delete: Some(|ctx, c, r| {
            let call = c.ec2.delete_security_group().group_id(&r.id).send();
            let what = format!("security group {}", r.id);
            Box::pin(delete_one(
                ctx,
                what,
                "DeleteSecurityGroup",
                call,
                &["InvalidGroup.NotFound"],
            ))
        }),
    },
    Kind {
        name: INTERNET_GATEWAY,
        id_output: Some("internet_gateway_id"),
        global: false,
        console: Some(|id, region| {
            format!(
                "{}#InternetGateway:internetGatewayId={id}",
                vpc_console(region)
            )
        }),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(internet_gateways(c, s)),
            deleted_by: "aws.ec2.create_internet_gateway",
            prepare: None,
        },
        look_first: None,
        delete: Some(|ctx, c, r| Box::pin(super::ec2::delete_internet_gateway(ctx, c, r))),
    },
    Kind {
        name: ROUTE_TABLE,
        id_output: Some("route_table_id"),
        global: false,
        console: Some(|id, region| {
            format!(
                "{}#RouteTableDetails:RouteTableId={id}",
                vpc_console(region)
            )
        }),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(route_tables(c, s)),
            deleted_by: "aws.ec2.create_route_table",
            prepare: None,
        },
        look_first: None,
        delete: Some(|ctx, c, r| Box::pin(super::ec2::delete_route_table(ctx, c, r))),
    },
    Kind {
        name: SUBNET,
        id_output: Some("subnet_id"),
        global: false,
        console: Some(|id, region| format!("{}#SubnetDetails:subnetId={id}", vpc_console(region))),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(subnets(c, s)),
            deleted_by: "aws.ec2.create_subnet",
            prepare: None,
        },
        look_first: None,
        delete: Some(|ctx, c, r| {
            let call = c.ec2.delete_subnet().subnet_id(&r.id).send();
            let what = format!("subnet {}", r.id);
            Box::pin(delete_one(
                ctx,
                what,
                "DeleteSubnet",
                call,
                &["InvalidSubnetID.NotFound"],
            ))
        }),
    },
    Kind {
        name: VPC,
        id_output: Some("vpc_id"),
        global: false,
        console: Some(|id, region| format!("{}#VpcDetails:VpcId={id}", vpc_console(region))),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(vpcs(c, s)),
            deleted_by: "aws.ec2.create_vpc",
            prepare: None,
        },
        look_first: None,
        delete: Some(|ctx, c, r| {
            let call = c.ec2.delete_vpc().vpc_id(&r.id).send();
            let what = format!("VPC {}", r.id);
            Box::pin(delete_one(
                ctx,
                what,
                "DeleteVpc",
                call,
                &["InvalidVpcID.NotFound"],
            ))
        }),
    },
    Kind {
        name: HEALTH_CHECK,
        id_output: Some("health_check_id"),
        global: true,
        console: Some(|id, _| {
            format!("https://console.aws.amazon.com/route53/healthchecks/home#/details/{id}")
        }),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(health_checks(c, s)),
            deleted_by: "aws.route53.health_check",
            prepare: None,
        },
        look_first: Some(|c, id| Box::pin(health_check_exists(c, id))),
        delete: Some(|ctx, c, r| {
            let call = c
                .route53
                .delete_health_check()
                .health_check_id(&r.id)
                .send();
            let what = format!("health check {}", r.id);
            Box::pin(delete_one(
                ctx,
                what,
                "DeleteHealthCheck",
                call,
                &["NoSuchHealthCheck"],
            ))
        }),
    },
    Kind {
        name: RECORD,
        id_output: None,
        global: true,
        console: None,
        sweep: Sweep::With(HOSTED_ZONE),
        look_first: None,
        delete: None,
    },
    Kind {
        name: HOSTED_ZONE,
        id_output: Some("zone_id"),
        global: true,
        console: Some(|id, _| {
            format!("https://console.aws.amazon.com/route53/v2/hostedzones#ListRecordSets/{id}")
        }),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(hosted_zones(c, s)),
            deleted_by: "aws.route53.hosted_zone",
            prepare: Some(|c, r| {
                Box::pin(async move {
                    clear_zone(c, r).await?;
                    Ok(Json::Null)
                })
            }),
        },
        look_first: None,
        delete: Some(|ctx, c, r| Box::pin(super::route53::delete_zone(ctx, c, r))),
    },
];

/// The entry of a kind.
pub fn find(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == *name)
}

/// What carries a step's key tag, of one kind, read as sweep reads it (every page): how a
/// step's reconcile finds what a crashed attempt made.
pub async fn with_key(
    c: &Clients,
    kind: ResourceKind,
    key: &str,
) -> Result<Vec<Found>, ActionError> {
    let Some(Kind {
        sweep: Sweep::Tagged { list, .. },
        ..
    }) = find(kind.name())
    else {
        return Err(ActionError::new(format!(
            "no entry in the kinds table lists a {kind} by its tags"
        )));
    };
    list(c, &Select::Tag(super::tags::KEY.to_owned(), key.to_owned())).await
}

/// After a create that AWS may have carried out twice (an attempt's answer was lost and the SDK
/// sent it again; most EC2 creates take no client token): every resource of the outcome's kinds
/// that carries the step's key, besides the outcome's own, is a second one nobody's journal
/// would know. Each is deleted (as its kind's undo deletes), so exactly one stays, and the step
/// says so. The search is exact: what the tool makes is tagged at creation.
pub async fn remove_resent(
    ctx: &Context<'_>,
    c: &Clients,
    made: &crate::engine::action::Outcome,
) -> Result<(), ActionError> {
    let select = Select::Tag(super::tags::KEY.to_owned(), ctx.key.to_owned());
    let mut kinds: Vec<&str> = made.resources.iter().map(|r| r.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for name in kinds {
        let Some(Kind {
            sweep: Sweep::Tagged { list, .. },
            ..
        }) = find(name)
        else {
            continue;
        };
        let kept: Vec<&str> = made
            .resources
            .iter()
            .filter(|r| r.kind == name)
            .map(|r| r.id.as_str())
            .collect();
        for extra in list(c, &select)
            .await?
            .into_iter()
            .filter(|f| !kept.contains(&f.id.as_str()))
        {
            let resource = Resource {
                kind: name.to_owned(),
                id: extra.id.clone(),
                undo: Json::Null,
                changed: Vec::new(),
                region: None,
            };
            super::life::undo(ctx, &resource).await?;
            ctx.progress.message(&format!(
                "removed {name} {}: AWS made it a second time when the create's answer was lost and the call was sent again",
                extra.id
            ));
        }
    }
    Ok(())
}

async fn load_balancer_exists(c: &Clients, arn: &str) -> Result<bool, ActionError> {
    let (mut answers, _) = super::elbv2::describe_load_balancers(c, vec![arn.to_owned()]).await;
    Ok(answers.remove(arn).transpose()?.flatten().is_some())
}

async fn target_group_exists(c: &Clients, arn: &str) -> Result<bool, ActionError> {
    let out = super::found(
        "DescribeTargetGroups",
        c.elbv2
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await,
        &["TargetGroupNotFound"],
    )?;
    Ok(out.is_some_and(|o| !o.target_groups().is_empty()))
}

async fn health_check_exists(c: &Clients, id: &str) -> Result<bool, ActionError> {
    let out = super::found(
        "GetHealthCheck",
        c.route53
            .get_health_check()
            .health_check_id(id)
            .send()
            .await,
        &["NoSuchHealthCheck"],
    )?;
    Ok(out.is_some_and(|o| o.health_check().is_some()))
}

/// A resource's page in the AWS console, where its kind has one.
pub fn console_url(kind: &str, id: &str, region: &str) -> Option<String> {
    find(kind)
        .and_then(|k| k.console)
        .map(|url| url(id, region))
}

fn ec2(region: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/ec2/home?region={region}")
}

fn vpc_console(region: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/vpcconsole/home?region={region}")
}

/// One EC2 resource as a listing shows it: its id, tags, a name for when it has no `Name` tag,
/// and its outputs besides the id (named `id_output`).
type Ec2Item<'t> = (
    Option<&'t str>,
    &'t [aws_sdk_ec2::types::Tag],
    Option<&'t str>,
    Vec<(&'static str, Json)>,
);

/// Each EC2 resource a selection takes, with its `Name` tag (or fallback) as its name.
fn ec2_found<'t>(
    (kind, id_output): (ResourceKind, &str),
    select: &Select,
    items: impl IntoIterator<Item = Ec2Item<'t>>,
) -> Vec<Found> {
    items
        .into_iter()
        .filter(|(_, tags, _, _)| select.matches(super::tags::ec2(tags)))
        .map(|(id, tags, fallback, outputs)| {
            let id = id.unwrap_or_default().to_owned();
            let mut all = serde_json::Map::new();
            all.insert(id_output.to_owned(), id.clone().into());
            all.extend(outputs.into_iter().map(|(k, v)| (k.to_owned(), v)));
            Found {
                kind,
                id,
                name: super::tags::name(super::tags::ec2(tags)).or(fallback.map(str::to_owned)),
                outputs: all,
                records: Vec::new(),
            }
        })
        .collect()
}

async fn instances(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let live = Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .values("stopping")
        .values("stopped")
        .build();
    let reservations = pages!(
        c.ec2
            .describe_instances()
            .filters(select.filter())
            .filters(live),
        "DescribeInstances"
    );
    Ok(ec2_found(
        (INSTANCE, "instance_id"),
        select,
        reservations
            .iter()
            .flat_map(aws_sdk_ec2::types::Reservation::instances)
            .map(|i| {
                let ips = vec![
                    ("private_ip", i.private_ip_address().into()),
                    ("public_ip", i.public_ip_address().into()),
                ];
                (i.instance_id(), i.tags(), None, ips)
            }),
    ))
}

async fn security_groups(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let groups = pages!(
        c.ec2.describe_security_groups().filters(select.filter()),
        "DescribeSecurityGroups"
    );
    Ok(ec2_found(
        (SECURITY_GROUP, "security_group_id"),
        select,
        groups
            .iter()
            .map(|g| (g.group_id(), g.tags(), g.group_name(), Vec::new())),
    ))
}

async fn internet_gateways(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let gateways = pages!(
        c.ec2.describe_internet_gateways().filters(select.filter()),
        "DescribeInternetGateways"
    );
    Ok(ec2_found(
        (INTERNET_GATEWAY, "internet_gateway_id"),
        select,
        gateways
            .iter()
            .map(|g| (g.internet_gateway_id(), g.tags(), None, Vec::new())),
    ))
}

async fn route_tables(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let tables = pages!(
        c.ec2.describe_route_tables().filters(select.filter()),
        "DescribeRouteTables"
    );
    Ok(ec2_found(
        (ROUTE_TABLE, "route_table_id"),
        select,
        tables
            .iter()
            .map(|t| (t.route_table_id(), t.tags(), None, Vec::new())),
    ))
}

async fn subnets(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let subnets = pages!(
        c.ec2.describe_subnets().filters(select.filter()),
        "DescribeSubnets"
    );
    Ok(ec2_found(
        (SUBNET, "subnet_id"),
        select,
        subnets.iter().map(|s| {
            let outputs = vec![
                ("availability_zone", s.availability_zone().into()),
                ("cidr", s.cidr_block().into()),
            ];
            (s.subnet_id(), s.tags(), None, outputs)
        }),
    ))
}

async fn vpcs(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let vpcs = pages!(
        c.ec2.describe_vpcs().filters(select.filter()),
        "DescribeVpcs"
    );
    Ok(ec2_found(
        (VPC, "vpc_id"),
        select,
        vpcs.iter().map(|v| {
            (
                v.vpc_id(),
                v.tags(),
                None,
                vec![("cidr", v.cidr_block().into())],
            )
        }),
    ))
}

async fn load_balancers(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let arns: Vec<String> = super::elbv2::all_load_balancers(c)
        .await?
        .iter()
        .filter_map(|l| l.load_balancer_arn().map(str::to_owned))
        .collect();
    tagged_elb(c, &arns, LOAD_BALANCER, select).await
}

async fn target_groups(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let groups = pages!(c.elbv2.describe_target_groups(), "DescribeTargetGroups");
    let arns: Vec<String> = groups
        .iter()
        .filter_map(|g| g.target_group_arn().map(str::to_owned))
        .collect();
    tagged_elb(c, &arns, TARGET_GROUP, select).await
}

/// One resource found by its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub kind: ResourceKind,
    pub id: String,
    /// Its `Name` tag, when it has one.
    pub name: Option<String>,
    /// What a step that made it gives as outputs, as far as its listing tells (`vpc_id`,
    /// `cidr`): what a reconcile that finds it by tag records.
    pub outputs: serde_json::Map<String, Json>,
    /// For a hosted zone: the records in it that the selection made (`NAME TYPE SET`), which its
    /// clean-up deletes; any other record keeps the zone (nobody's record is deleted unasked).
    pub records: Vec<String>,
}

/// Which resources a sweep takes.
#[derive(Clone, Debug)]
pub enum Select {
    /// Those carrying this tag.
    Tag(String, String),
    /// Those whose `runbook:expires` tag (set by `run --ttl`) is before this time.
    ExpiredBefore(std::time::SystemTime),
}

/// The tag `run --ttl` sets.
pub const EXPIRES: &str = super::tags::EXPIRES;

impl Select {
    /// EC2's own filter for it (exact for a tag; the expiry's key for expiry).
    fn filter(&self) -> Filter {
        match self {
            Select::Tag(key, value) => Filter::builder()
                .name(format!("tag:{key}"))
                .values(value)
                .build(),
            Select::ExpiredBefore(_) => Filter::builder().name("tag-key").values(EXPIRES).build(),
        }
    }

    /// Whether a resource with these tags is taken.
    fn matches<'t>(
        &self,
        tags: impl IntoIterator<Item = (Option<&'t str>, Option<&'t str>)>,
    ) -> bool {
        tags.into_iter().any(|(k, v)| match self {
            Select::Tag(key, value) => k == Some(key.as_str()) && v == Some(value.as_str()),
            Select::ExpiredBefore(now) => {
                k == Some(EXPIRES)
                    && v.and_then(|v| humantime::parse_rfc3339_weak(v).ok())
                        .is_some_and(|at| at < *now)
            }
        })
    }

    /// In words, for messages.
    pub fn describe(&self) -> String {
        match self {
            Select::Tag(key, value) => format!("the tag {key}={value}"),
            Select::ExpiredBefore(_) => format!("an expired {EXPIRES} tag"),
        }
    }
}

/// Which of these load balancers or target groups `select` takes (they have no tag filter), their
/// tags read 20 at a time, a failed chunk again one by one.
async fn tagged_elb(
    c: &Clients,
    arns: &[String],
    kind: ResourceKind,
    select: &Select,
) -> Result<Vec<Found>, ActionError> {
    let (mut answers, _) = super::elbv2::describe_tags(c.elbv2.clone(), arns.to_vec()).await;
    let mut found = Vec::new();
    for arn in arns {
        let tags = answers
            .remove(arn)
            .transpose()?
            .flatten()
            .unwrap_or_default();
        if select.matches(super::tags::elbv2(&tags)) {
            found.push(Found {
                kind,
                id: arn.clone(),
                name: super::tags::name(super::tags::elbv2(&tags)),
                outputs: serde_json::Map::new(),
                records: Vec::new(),
            });
        }
    }
    Ok(found)
}

/// The Route 53 health checks `select` takes (every page).
async fn health_checks(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let checks = pages!(c.route53.list_health_checks(), "ListHealthChecks");
    let ids = checks.iter().map(|h| h.id().to_owned());
    tagged_route53(
        c,
        select,
        (
            HEALTH_CHECK,
            aws_sdk_route53::types::TagResourceType::Healthcheck,
            "health_check_id",
        ),
        ids,
    )
    .await
}

/// The hosted zones `select` takes (every page), each with the records in it that the selection
/// made: those aliasing a load balancer the selection takes (records carry no tags; a run's
/// records point at its own load balancers). Read now, while those load balancers exist.
async fn hosted_zones(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let zones = pages!(c.route53.list_hosted_zones(), "ListHostedZones");
    let ids = zones
        .iter()
        .map(|z| z.id().rsplit('/').next().unwrap_or_default().to_owned());
    let mut found = tagged_route53(
        c,
        select,
        (
            HOSTED_ZONE,
            aws_sdk_route53::types::TagResourceType::Hostedzone,
            "zone_id",
        ),
        ids,
    )
    .await?;
    if found.is_empty() {
        return Ok(found);
    }
    let balancers = super::elbv2::all_load_balancers(c).await?;
    let arns: Vec<String> = balancers
        .iter()
        .filter_map(|l| l.load_balancer_arn().map(str::to_owned))
        .collect();
    let selected: Vec<String> = tagged_elb(c, &arns, LOAD_BALANCER, select)
        .await?
        .into_iter()
        .map(|f| f.id)
        .collect();
    let dns: Vec<String> = balancers
        .iter()
        .filter(|l| {
            l.load_balancer_arn()
                .is_some_and(|a| selected.iter().any(|s| s == a))
        })
        .filter_map(|l| l.dns_name().map(str::to_lowercase))
        .collect();
    for zone in &mut found {
        zone.records = super::route53::record_sets(c, &zone.id, None)
            .await?
            .iter()
            .filter(|r| {
                r.alias_target().is_some_and(|a| {
                    let target = a.dns_name().trim_end_matches('.').to_lowercase();
                    let target = target.strip_prefix("dualstack.").unwrap_or(&target);
                    dns.iter().any(|d| d == target)
                })
            })
            .map(record_key)
            .collect();
    }
    Ok(found)
}

/// A record as a zone's clean-up names it: `NAME TYPE` and its set identifier, if any.
fn record_key(r: &aws_sdk_route53::types::ResourceRecordSet) -> String {
    let mut key = format!("{} {}", r.name().trim_end_matches('.'), r.r#type().as_str());
    if let Some(set) = r.set_identifier() {
        key.push(' ');
        key.push_str(set);
    }
    key
}

/// Which of these Route 53 resources `select` takes, by their tags (one request each).
async fn tagged_route53(
    c: &Clients,
    select: &Select,
    (kind, tag_kind, id_output): (ResourceKind, aws_sdk_route53::types::TagResourceType, &str),
    ids: impl Iterator<Item = String>,
) -> Result<Vec<Found>, ActionError> {
    let mut found = Vec::new();
    for id in ids {
        let tags = super::route53::tags_of(c, tag_kind.clone(), &id).await?;
        if select.matches(super::tags::route53(&tags)) {
            let mut outputs = serde_json::Map::new();
            outputs.insert(id_output.to_owned(), id.clone().into());
            found.push(Found {
                kind,
                name: super::tags::name(super::tags::route53(&tags)),
                id,
                outputs,
                records: Vec::new(),
            });
        }
    }
    Ok(found)
}

/// The records of a hosted zone that the sweep's selection made (found with the zone): nobody's
/// undo removes them when the journal is gone, and a zone with records cannot be deleted. Any
/// other record stays, and keeps the zone (its delete then says which).
async fn clear_zone(c: &Clients, zone: &Found) -> Result<(), ActionError> {
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, RrType};
    let id = zone.id.as_str();
    let records = match super::route53::record_sets(c, id, None).await {
        Ok(sets) => sets,
        Err(e) if e.code.as_deref() == Some("NoSuchHostedZone") => return Ok(()),
        Err(e) => return Err(e),
    };
    let changes: Vec<Change> = records
        .iter()
        .filter(|r| !matches!(r.r#type(), RrType::Ns | RrType::Soa))
        .filter(|r| zone.records.contains(&record_key(r)))
        .map(|r| {
            Change::builder()
                .action(ChangeAction::Delete)
                .resource_record_set(r.clone())
                .build()
                .map_err(|e| ActionError::new(format!("cannot delete a record of {id}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    if changes.is_empty() {
        return Ok(());
    }
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .build()
        .map_err(|e| ActionError::new(e.to_string()))?;
    c.route53
        .change_resource_record_sets()
        .hosted_zone_id(id)
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| sdk_error("ChangeResourceRecordSets", &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{KINDS, Sweep};
    use crate::actions::{self, Effect};

    /// The output that holds a kind's id is one that every action creating it has.
    #[test]
    fn each_kinds_id_output_is_an_output_of_the_actions_that_create_it() {
        for def in actions::all() {
            for kind in def.creates {
                let Some(entry) = KINDS.iter().find(|k| k.name == *kind) else {
                    continue;
                };
                if let Some(output) = entry.id_output {
                    assert!(
                        def.output_names().contains(&output),
                        "{} creates {} but has no output `{output}`",
                        def.name,
                        kind
                    );
                }
            }
        }
    }

    /// Every kind an AWS action creates has an entry, and every kind sweep deletes on its own is
    /// deleted by an action that creates it: forgetting either fails here, not in a user's sweep.
    #[test]
    fn every_kind_an_aws_action_creates_has_an_entry() {
        for def in actions::all().filter(|a| a.name.starts_with("aws.")) {
            if def.effect == Effect::Creates {
                assert!(
                    !def.creates.is_empty(),
                    "{} creates something but names no kind in `creates`",
                    def.name
                );
            }
            for kind in def.creates {
                assert!(
                    super::find(kind.name()).is_some(),
                    "{} creates a {kind}, which has no entry in actions/aws/kinds.rs",
                    def.name
                );
            }
        }
        for kind in KINDS {
            match kind.sweep {
                Sweep::Tagged { deleted_by, .. } => {
                    let def = actions::find(deleted_by).expect("a known action");
                    assert!(
                        def.creates.contains(&kind.name),
                        "{} is deleted by {deleted_by}, which does not create it",
                        kind.name
                    );
                }
                Sweep::With(parent) => {
                    let parent = super::find(parent.name()).expect("a known kind");
                    assert!(
                        matches!(parent.sweep, Sweep::Tagged { .. }),
                        "{} goes with {}, which sweep does not delete itself",
                        kind.name,
                        parent.name
                    );
                }
            }
        }
    }
}
