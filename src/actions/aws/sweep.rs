//! Sweep: find every resource of the lab's kinds that carries a tag, and delete them in
//! dependency order, without any journal. What a teacher runs when the laptop with the state
//! directory is gone, or to clean up after runs nobody rolled back.
//!
//! Order: instances (terminated, waited for), load balancers (waited until gone), target groups,
//! security groups (their rules first, since groups refer to each other), internet gateways
//! (detached), route tables (disassociated), subnets, VPCs, Route 53 health checks, then hosted
//! zones (their records first). Each is deleted by the undo of the action that creates its kind,
//! so a sweep deletes exactly as a rollback does (the caller retries what AWS refuses while it
//! releases network interfaces).

use aws_sdk_ec2::types::Filter;

use super::client::Clients;
use super::sdk_error;
use crate::engine::action::ActionError;

/// One resource found by its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub kind: &'static str,
    pub id: String,
    /// Its `Name` tag, when it has one.
    pub name: Option<String>,
}

/// The kinds in the order they are deleted.
pub const ORDER: [&str; 10] = [
    "instance",
    "load balancer",
    "target group",
    "security group",
    "internet gateway",
    "route table",
    "subnet",
    "vpc",
    "health check",
    "hosted zone",
];

/// Which resources a sweep takes.
#[derive(Clone, Debug)]
pub enum Select {
    /// Those carrying this tag.
    Tag(String, String),
    /// Those whose `runbook:expires` tag (set by `run --ttl`) is before this time.
    ExpiredBefore(std::time::SystemTime),
}

/// The tag `run --ttl` sets.
pub const EXPIRES: &str = "runbook:expires";

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

fn ec2_tags(
    tags: &[aws_sdk_ec2::types::Tag],
) -> impl Iterator<Item = (Option<&str>, Option<&str>)> {
    tags.iter().map(|t| (t.key(), t.value()))
}

fn name_of(tags: &[aws_sdk_ec2::types::Tag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(|t| t.value().map(str::to_owned))
}

/// Everything `select` takes, in deletion order.
pub async fn find(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    let mut found = Vec::new();
    let f = || select.filter();
    let instances = c
        .ec2
        .describe_instances()
        .filters(f())
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
    for i in instances
        .reservations()
        .iter()
        .flat_map(aws_sdk_ec2::types::Reservation::instances)
        .filter(|i| select.matches(ec2_tags(i.tags())))
    {
        found.push(Found {
            kind: "instance",
            id: i.instance_id().unwrap_or_default().to_owned(),
            name: name_of(i.tags()),
        });
    }
    // ELBv2 has no tag filter: describe all, then their tags, 20 at a time.
    let lbs = super::elbv2::all_load_balancers(c).await?;
    let arns: Vec<String> = lbs
        .iter()
        .filter_map(|l| l.load_balancer_arn().map(str::to_owned))
        .collect();
    found.extend(tagged_elb(c, &arns, "load balancer", select).await?);
    let groups = c
        .elbv2
        .describe_target_groups()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_error("DescribeTargetGroups", &e))?;
    let arns: Vec<String> = groups
        .iter()
        .filter_map(|g| g.target_group_arn().map(str::to_owned))
        .collect();
    found.extend(tagged_elb(c, &arns, "target group", select).await?);
    let sgs = c
        .ec2
        .describe_security_groups()
        .filters(f())
        .send()
        .await
        .map_err(|e| sdk_error("DescribeSecurityGroups", &e))?;
    for g in sgs
        .security_groups()
        .iter()
        .filter(|g| select.matches(ec2_tags(g.tags())))
    {
        found.push(Found {
            kind: "security group",
            id: g.group_id().unwrap_or_default().to_owned(),
            name: name_of(g.tags()).or_else(|| g.group_name().map(str::to_owned)),
        });
    }
    let igws = c
        .ec2
        .describe_internet_gateways()
        .filters(f())
        .send()
        .await
        .map_err(|e| sdk_error("DescribeInternetGateways", &e))?;
    for g in igws
        .internet_gateways()
        .iter()
        .filter(|g| select.matches(ec2_tags(g.tags())))
    {
        found.push(Found {
            kind: "internet gateway",
            id: g.internet_gateway_id().unwrap_or_default().to_owned(),
            name: name_of(g.tags()),
        });
    }
    let tables = c
        .ec2
        .describe_route_tables()
        .filters(f())
        .send()
        .await
        .map_err(|e| sdk_error("DescribeRouteTables", &e))?;
    for t in tables
        .route_tables()
        .iter()
        .filter(|t| select.matches(ec2_tags(t.tags())))
    {
        found.push(Found {
            kind: "route table",
            id: t.route_table_id().unwrap_or_default().to_owned(),
            name: name_of(t.tags()),
        });
    }
    let subnets = c
        .ec2
        .describe_subnets()
        .filters(f())
        .send()
        .await
        .map_err(|e| sdk_error("DescribeSubnets", &e))?;
    for s in subnets
        .subnets()
        .iter()
        .filter(|s| select.matches(ec2_tags(s.tags())))
    {
        found.push(Found {
            kind: "subnet",
            id: s.subnet_id().unwrap_or_default().to_owned(),
            name: name_of(s.tags()),
        });
    }
    let vpcs = c
        .ec2
        .describe_vpcs()
        .filters(f())
        .send()
        .await
        .map_err(|e| sdk_error("DescribeVpcs", &e))?;
    for v in vpcs
        .vpcs()
        .iter()
        .filter(|v| select.matches(ec2_tags(v.tags())))
    {
        found.push(Found {
            kind: "vpc",
            id: v.vpc_id().unwrap_or_default().to_owned(),
            name: name_of(v.tags()),
        });
    }
    found.extend(tagged_route53(c, select).await?);
    Ok(found)
}

async fn tagged_elb(
    c: &Clients,
    arns: &[String],
    kind: &'static str,
    select: &Select,
) -> Result<Vec<Found>, ActionError> {
    let mut found = Vec::new();
    for chunk in arns.chunks(20) {
        let tags = c
            .elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTags", &e))?;
        for d in tags.tag_descriptions() {
            let has = select.matches(d.tags().iter().map(|t| (t.key(), t.value())));
            if has {
                let name = d
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some("Name"))
                    .and_then(|t| t.value().map(str::to_owned));
                found.push(Found {
                    kind,
                    id: d.resource_arn().unwrap_or_default().to_owned(),
                    name,
                });
            }
        }
    }
    Ok(found)
}

async fn tagged_route53(c: &Clients, select: &Select) -> Result<Vec<Found>, ActionError> {
    use aws_sdk_route53::types::TagResourceType;
    let mut found = Vec::new();
    // Every page: a class's account can hold more than one page (100) of either.
    let checks = c
        .route53
        .list_health_checks()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_error("ListHealthChecks", &e))?;
    let zones = c
        .route53
        .list_hosted_zones()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_error("ListHostedZones", &e))?;
    let candidates = checks
        .iter()
        .map(|h| {
            (
                "health check",
                TagResourceType::Healthcheck,
                h.id().to_owned(),
            )
        })
        .chain(zones.iter().map(|z| {
            (
                "hosted zone",
                TagResourceType::Hostedzone,
                z.id().rsplit('/').next().unwrap_or_default().to_owned(),
            )
        }));
    for (kind, tag_kind, id) in candidates {
        let tags = super::route53::tags_of(c, tag_kind, &id).await?;
        if select.matches(
            tags.iter()
                .map(|(k, v)| (Some(k.as_str()), Some(v.as_str()))),
        ) {
            let name = tags
                .iter()
                .find(|(k, _)| k == "Name")
                .map(|(_, v)| v.clone());
            found.push(Found { kind, id, name });
        }
    }
    Ok(found)
}

/// The action whose undo deletes a resource of this kind, and what that undo needs besides the
/// id (an internet gateway's VPC, to detach it first).
pub async fn undo_of(
    c: &Clients,
    r: &Found,
) -> Result<(&'static str, serde_json::Value), ActionError> {
    let action = match r.kind {
        "instance" => "aws.ec2.run_instances",
        "load balancer" => "aws.elbv2.create_load_balancer",
        "target group" => "aws.elbv2.create_target_group",
        "security group" => "aws.ec2.create_security_group",
        "internet gateway" => "aws.ec2.create_internet_gateway",
        "route table" => "aws.ec2.create_route_table",
        "subnet" => "aws.ec2.create_subnet",
        "vpc" => "aws.ec2.create_vpc",
        "health check" => "aws.route53.health_check",
        "hosted zone" => "aws.route53.hosted_zone",
        other => {
            return Err(ActionError::new(format!(
                "sweep does not know how to delete a {other}"
            )));
        }
    };
    let mut undo = serde_json::Value::Null;
    if r.kind == "internet gateway" {
        let out = c
            .ec2
            .describe_internet_gateways()
            .internet_gateway_ids(&r.id)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeInternetGateways", &e))?;
        if let Some(vpc) = out
            .internet_gateways()
            .iter()
            .flat_map(aws_sdk_ec2::types::InternetGateway::attachments)
            .find_map(aws_sdk_ec2::types::InternetGatewayAttachment::vpc_id)
        {
            undo = serde_json::json!({ "vpc_id": vpc });
        }
    }
    if r.kind == "hosted zone" {
        clear_zone(c, &r.id).await?;
    }
    Ok((action, undo))
}

/// A hosted zone's records, all but its own NS and SOA: nobody's undo removes them when the
/// journal is gone, and a zone with records cannot be deleted.
async fn clear_zone(c: &Clients, id: &str) -> Result<(), ActionError> {
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, RrType};
    let records = match super::route53::record_sets(c, id, None).await {
        Ok(sets) => sets,
        Err(e) if e.message.contains("NoSuchHostedZone") => return Ok(()),
        Err(e) => return Err(e),
    };
    let changes: Vec<Change> = records
        .iter()
        .filter(|r| !matches!(r.r#type(), RrType::Ns | RrType::Soa))
        .filter_map(|r| {
            Change::builder()
                .action(ChangeAction::Delete)
                .resource_record_set(r.clone())
                .build()
                .ok()
        })
        .collect();
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
