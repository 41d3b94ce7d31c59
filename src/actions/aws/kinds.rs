//! Every kind of AWS resource the actions create, one entry each: its page in the console, and
//! how `sweep` finds it by tag (every page) and deletes it without a journal. The table's order is
//! the order sweep deletes in: instances before the groups and subnets they use, load balancers
//! before their target groups, VPCs after everything in them, a hosted zone after its records.
//!
//! An action names the kinds it creates on its definition (`ActionDef::creates`); a unit test
//! below fails when one of them has no entry here, so a new kind cannot reach a user's sweep
//! without a way to delete it.

use aws_sdk_ec2::types::Filter;
use serde_json::{Value as Json, json};

use super::client::Clients;
use super::sdk_error;
use crate::engine::action::{ActionError, BoxFuture};

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

/// How sweep treats a kind.
#[derive(Clone, Copy)]
pub enum Sweep {
    /// Found by its tags with `list`, deleted by the undo of the action `deleted_by`.
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
    /// Its page in the AWS console, from its id and the region.
    pub console: Option<fn(&str, &str) -> String>,
    pub sweep: Sweep,
    /// For a kind whose delete succeeds on an id that does not exist (AWS documents it for
    /// `DeleteLoadBalancer`; the emulator does it for health checks too): how to look before
    /// deleting, so that its undo says "already gone", never "removed", for what was not there.
    /// `None` where the delete itself answers "not found". A test deletes a missing resource of
    /// every kind and expects "already gone".
    pub look_first: Option<Look>,
}

/// Every kind, in the order sweep deletes them.
pub static KINDS: &[Kind] = &[
    Kind {
        name: INSTANCE,
        console: Some(|id, region| format!("{}#InstanceDetails:instanceId={id}", ec2(region))),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(instances(c, s)),
            deleted_by: "aws.ec2.run_instances",
            prepare: None,
        },
        look_first: None,
    },
    Kind {
        name: LISTENER,
        console: None,
        sweep: Sweep::With(LOAD_BALANCER),
        look_first: None,
    },
    Kind {
        name: LOAD_BALANCER,
        console: Some(|id, region| format!("{}#LoadBalancer:loadBalancerArn={id}", ec2(region))),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(load_balancers(c, s)),
            deleted_by: "aws.elbv2.create_load_balancer",
            prepare: None,
        },
        look_first: Some(|c, id| Box::pin(load_balancer_exists(c, id))),
    },
    Kind {
        name: TARGET_GROUP,
        console: Some(|id, region| format!("{}#TargetGroup:targetGroupArn={id}", ec2(region))),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(target_groups(c, s)),
            deleted_by: "aws.elbv2.create_target_group",
            prepare: None,
        },
        look_first: Some(|c, id| Box::pin(target_group_exists(c, id))),
    },
    Kind {
        name: SECURITY_GROUP,
        console: Some(|id, region| format!("{}#SecurityGroup:groupId={id}", ec2(region))),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(security_groups(c, s)),
            deleted_by: "aws.ec2.create_security_group",
            prepare: None,
        },
        look_first: None,
    },
    Kind {
        name: INTERNET_GATEWAY,
        console: Some(|id, region| {
            format!(
                "{}#InternetGateway:internetGatewayId={id}",
                vpc_console(region)
            )
        }),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(internet_gateways(c, s)),
            deleted_by: "aws.ec2.create_internet_gateway",
            prepare: Some(|c, r| Box::pin(attached_vpc(c, r))),
        },
        look_first: None,
    },
    Kind {
        name: ROUTE_TABLE,
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
    },
    Kind {
        name: SUBNET,
        console: Some(|id, region| format!("{}#SubnetDetails:subnetId={id}", vpc_console(region))),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(subnets(c, s)),
            deleted_by: "aws.ec2.create_subnet",
            prepare: None,
        },
        look_first: None,
    },
    Kind {
        name: VPC,
        console: Some(|id, region| format!("{}#VpcDetails:VpcId={id}", vpc_console(region))),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(vpcs(c, s)),
            deleted_by: "aws.ec2.create_vpc",
            prepare: None,
        },
        look_first: None,
    },
    Kind {
        name: HEALTH_CHECK,
        console: Some(|id, _| {
            format!("https://console.aws.amazon.com/route53/healthchecks/home#/details/{id}")
        }),
        sweep: Sweep::Tagged {
            list: |c, s| Box::pin(health_checks(c, s)),
            deleted_by: "aws.route53.health_check",
            prepare: None,
        },
        look_first: Some(|c, id| Box::pin(health_check_exists(c, id))),
    },
    Kind {
        name: RECORD,
        console: None,
        sweep: Sweep::With(HOSTED_ZONE),
        look_first: None,
    },
    Kind {
        name: HOSTED_ZONE,
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
    ctx: &crate::engine::action::Context<'_>,
    c: &Clients,
    made: &crate::engine::action::Outcome,
) -> Result<(), ActionError> {
    use crate::engine::action::Resource;
    let select = Select::Tag(super::tags::KEY.to_owned(), ctx.key.to_owned());
    let mut kinds: Vec<&str> = made.resources.iter().map(|r| r.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for name in kinds {
        let Some(Kind {
            sweep: Sweep::Tagged {
                list, deleted_by, ..
            },
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
        let undo = crate::actions::find(deleted_by)
            .ok_or_else(|| ActionError::new(format!("no action deletes a {name}")))?
            .executor;
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
            };
            undo.undo(ctx, &resource).await?;
            ctx.progress.message(&format!(
                "removed {name} {}: AWS made it a second time when the create's answer was lost and the call was sent again",
                extra.id
            ));
        }
    }
    Ok(())
}

/// Whether a resource of a kind whose delete succeeds on nothing is already gone, read before
/// its undo deletes it (`Ok(false)` for every other kind: its delete tells). A failed read is an
/// error, never "gone".
pub async fn gone_before_delete(c: &Clients, kind: &str, id: &str) -> Result<bool, ActionError> {
    match find(kind).and_then(|k| k.look_first) {
        Some(look) => Ok(!look(c, id).await?),
        None => Ok(false),
    }
}

async fn load_balancer_exists(c: &Clients, arn: &str) -> Result<bool, ActionError> {
    let out = super::found(
        "DescribeLoadBalancers",
        c.elbv2
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await,
        &["LoadBalancerNotFound"],
    )?;
    Ok(out.is_some_and(|o| !o.load_balancers().is_empty()))
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

/// Each EC2 resource a selection takes, with its `Name` tag (or `fallback`) as its name.
fn ec2_found<'t>(
    kind: ResourceKind,
    select: &Select,
    items: impl IntoIterator<
        Item = (
            Option<&'t str>,
            &'t [aws_sdk_ec2::types::Tag],
            Option<&'t str>,
        ),
    >,
) -> Vec<Found> {
    items
        .into_iter()
        .filter(|(_, tags, _)| select.matches(super::tags::ec2(tags)))
        .map(|(id, tags, fallback)| Found {
            kind,
            id: id.unwrap_or_default().to_owned(),
            name: super::tags::name(super::tags::ec2(tags)).or(fallback.map(str::to_owned)),
            records: Vec::new(),
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
        INSTANCE,
        select,
        reservations
            .iter()
            .flat_map(aws_sdk_ec2::types::Reservation::instances)
            .map(|i| (i.instance_id(), i.tags(), None)),
    ))
}

async fn security_groups(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let groups = pages!(
        c.ec2.describe_security_groups().filters(select.filter()),
        "DescribeSecurityGroups"
    );
    Ok(ec2_found(
        SECURITY_GROUP,
        select,
        groups
            .iter()
            .map(|g| (g.group_id(), g.tags(), g.group_name())),
    ))
}

async fn internet_gateways(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let gateways = pages!(
        c.ec2.describe_internet_gateways().filters(select.filter()),
        "DescribeInternetGateways"
    );
    Ok(ec2_found(
        INTERNET_GATEWAY,
        select,
        gateways
            .iter()
            .map(|g| (g.internet_gateway_id(), g.tags(), None)),
    ))
}

async fn route_tables(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let tables = pages!(
        c.ec2.describe_route_tables().filters(select.filter()),
        "DescribeRouteTables"
    );
    Ok(ec2_found(
        ROUTE_TABLE,
        select,
        tables.iter().map(|t| (t.route_table_id(), t.tags(), None)),
    ))
}

async fn subnets(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let subnets = pages!(
        c.ec2.describe_subnets().filters(select.filter()),
        "DescribeSubnets"
    );
    Ok(ec2_found(
        SUBNET,
        select,
        subnets.iter().map(|s| (s.subnet_id(), s.tags(), None)),
    ))
}

async fn vpcs(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let vpcs = pages!(
        c.ec2.describe_vpcs().filters(select.filter()),
        "DescribeVpcs"
    );
    Ok(ec2_found(
        VPC,
        select,
        vpcs.iter().map(|v| (v.vpc_id(), v.tags(), None)),
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

/// The VPC an internet gateway is attached to, which its undo detaches it from first.
async fn attached_vpc(c: &Clients, r: &Found) -> Result<Json, ActionError> {
    let out = c
        .ec2
        .describe_internet_gateways()
        .internet_gateway_ids(&r.id)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeInternetGateways", &e))?;
    Ok(out
        .internet_gateways()
        .iter()
        .flat_map(aws_sdk_ec2::types::InternetGateway::attachments)
        .find_map(aws_sdk_ec2::types::InternetGatewayAttachment::vpc_id)
        .map_or(Json::Null, |vpc| json!({ "vpc_id": vpc })))
}

/// One resource found by its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub kind: ResourceKind,
    pub id: String,
    /// Its `Name` tag, when it has one.
    pub name: Option<String>,
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

/// Which of these load balancers or target groups `select` takes, read 20 at a time (they have
/// no tag filter).
async fn tagged_elb(
    c: &Clients,
    arns: &[String],
    kind: ResourceKind,
    select: &Select,
) -> Result<Vec<Found>, ActionError> {
    let mut found = Vec::new();
    for chunk in arns.chunks(20) {
        let described = c
            .elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTags", &e))?;
        for d in described.tag_descriptions() {
            if select.matches(super::tags::elbv2(d.tags())) {
                found.push(Found {
                    kind,
                    id: d.resource_arn().unwrap_or_default().to_owned(),
                    name: super::tags::name(super::tags::elbv2(d.tags())),
                    records: Vec::new(),
                });
            }
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
    (kind, tag_kind): (ResourceKind, aws_sdk_route53::types::TagResourceType),
    ids: impl Iterator<Item = String>,
) -> Result<Vec<Found>, ActionError> {
    let mut found = Vec::new();
    for id in ids {
        let tags = super::route53::tags_of(c, tag_kind.clone(), &id).await?;
        if select.matches(super::tags::route53(&tags)) {
            found.push(Found {
                kind,
                name: super::tags::name(super::tags::route53(&tags)),
                id,
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
