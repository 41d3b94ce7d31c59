//! Sweep: find every resource of the lab's kinds that carries a tag, and delete them in
//! dependency order, without any journal. What a teacher runs when the laptop with the state
//! directory is gone, or to clean up after runs nobody rolled back.
//!
//! Order: instances (terminated, waited for), load balancers (waited until gone), target groups,
//! security groups (their rules first, since groups refer to each other), internet gateways
//! (detached), route tables (disassociated), subnets, VPCs, Route 53 health checks, then hosted
//! zones (their records first). `DependencyViolation` and `ResourceInUse`, which AWS answers
//! while network interfaces are released, are retried within a window.

use std::time::Duration;

use aws_sdk_ec2::types::Filter;

use super::client::Clients;
use super::{code, sdk_error};
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

fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

fn name_of(tags: &[aws_sdk_ec2::types::Tag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(|t| t.value().map(str::to_owned))
}

/// Everything carrying `key=value`, in deletion order.
pub async fn find(c: &Clients, key: &str, value: &str) -> Result<Vec<Found>, ActionError> {
    let mut found = Vec::new();
    let f = || tag_filter(key, value);
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
    {
        found.push(Found {
            kind: "instance",
            id: i.instance_id().unwrap_or_default().to_owned(),
            name: name_of(i.tags()),
        });
    }
    // ELBv2 has no tag filter: describe all, then their tags, 20 at a time.
    let lbs = c
        .elbv2
        .describe_load_balancers()
        .send()
        .await
        .map_err(|e| sdk_error("DescribeLoadBalancers", &e))?;
    let arns: Vec<String> = lbs
        .load_balancers()
        .iter()
        .filter_map(|l| l.load_balancer_arn().map(str::to_owned))
        .collect();
    found.extend(tagged_elb(c, &arns, "load balancer", key, value).await?);
    let groups = c
        .elbv2
        .describe_target_groups()
        .send()
        .await
        .map_err(|e| sdk_error("DescribeTargetGroups", &e))?;
    let arns: Vec<String> = groups
        .target_groups()
        .iter()
        .filter_map(|g| g.target_group_arn().map(str::to_owned))
        .collect();
    found.extend(tagged_elb(c, &arns, "target group", key, value).await?);
    let sgs = c
        .ec2
        .describe_security_groups()
        .filters(f())
        .send()
        .await
        .map_err(|e| sdk_error("DescribeSecurityGroups", &e))?;
    for g in sgs.security_groups() {
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
    for g in igws.internet_gateways() {
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
    for t in tables.route_tables() {
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
    for s in subnets.subnets() {
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
    for v in vpcs.vpcs() {
        found.push(Found {
            kind: "vpc",
            id: v.vpc_id().unwrap_or_default().to_owned(),
            name: name_of(v.tags()),
        });
    }
    found.extend(tagged_route53(c, key, value).await?);
    Ok(found)
}

async fn tagged_elb(
    c: &Clients,
    arns: &[String],
    kind: &'static str,
    key: &str,
    value: &str,
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
            let has = d
                .tags()
                .iter()
                .any(|t| t.key() == Some(key) && t.value() == Some(value));
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

async fn tagged_route53(c: &Clients, key: &str, value: &str) -> Result<Vec<Found>, ActionError> {
    use aws_sdk_route53::types::TagResourceType;
    let mut found = Vec::new();
    let checks = c
        .route53
        .list_health_checks()
        .send()
        .await
        .map_err(|e| sdk_error("ListHealthChecks", &e))?;
    let zones = c
        .route53
        .list_hosted_zones()
        .send()
        .await
        .map_err(|e| sdk_error("ListHostedZones", &e))?;
    let candidates = checks
        .health_checks()
        .iter()
        .map(|h| {
            (
                "health check",
                TagResourceType::Healthcheck,
                h.id().to_owned(),
            )
        })
        .chain(zones.hosted_zones().iter().map(|z| {
            (
                "hosted zone",
                TagResourceType::Hostedzone,
                z.id().rsplit('/').next().unwrap_or_default().to_owned(),
            )
        }));
    for (kind, tag_kind, id) in candidates {
        let tags = c
            .route53
            .list_tags_for_resource()
            .resource_type(tag_kind)
            .resource_id(&id)
            .send()
            .await
            .map_err(|e| sdk_error("ListTagsForResource", &e))?;
        let set = tags.resource_tag_set();
        let has = set.is_some_and(|s| {
            s.tags()
                .iter()
                .any(|t| t.key() == Some(key) && t.value() == Some(value))
        });
        if has {
            let name = set.and_then(|s| {
                s.tags()
                    .iter()
                    .find(|t| t.key() == Some("Name"))
                    .and_then(|t| t.value().map(str::to_owned))
            });
            found.push(Found { kind, id, name });
        }
    }
    Ok(found)
}

/// Retry a delete while AWS says something still depends on the resource, for up to `window`.
async fn settled<F, Fut>(
    what: &str,
    window: Duration,
    progress: &dyn Fn(&str),
    mut call: F,
) -> Result<(), ActionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ActionError>>,
{
    let started = tokio::time::Instant::now();
    let mut wait = Duration::from_secs(1);
    loop {
        match call().await {
            Ok(()) => return Ok(()),
            Err(e) if e.retryable && started.elapsed() + wait < window => {
                progress(&format!(
                    "{what}: {}; trying again in {}s",
                    e.message,
                    wait.as_secs()
                ));
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    }
}

fn in_use(mut e: ActionError, codes: &[&str], actual: Option<&str>) -> ActionError {
    e.retryable = e.retryable || actual.is_some_and(|c| codes.contains(&c));
    e
}

/// Delete one resource (with what must go first: rules, attachments, associations, records),
/// retrying while something still depends on it; "not found" counts as deleted.
pub async fn delete(
    c: &Clients,
    r: &Found,
    window: Duration,
    progress: &dyn Fn(&str),
) -> Result<(), ActionError> {
    let what = format!("{} {}", r.kind, r.id);
    settled(&what, window, progress, || delete_once(c, r)).await?;
    match r.kind {
        "instance" | "load balancer" => wait_gone(c, r, progress).await,
        _ => Ok(()),
    }
}

async fn delete_once(c: &Clients, r: &Found) -> Result<(), ActionError> {
    let gone =
        |e: &Option<String>, codes: &[&str]| e.as_deref().is_some_and(|c| codes.contains(&c));
    match r.kind {
        "instance" => match c.ec2.terminate_instances().instance_ids(&r.id).send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(&code(&e), &["InvalidInstanceID.NotFound"]) => Ok(()),
            Err(e) => Err(sdk_error("TerminateInstances", &e)),
        },
        "load balancer" => match c
            .elbv2
            .delete_load_balancer()
            .load_balancer_arn(&r.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if gone(&code(&e), &["LoadBalancerNotFound"]) => Ok(()),
            Err(e) => Err(sdk_error("DeleteLoadBalancer", &e)),
        },
        "target group" => match c
            .elbv2
            .delete_target_group()
            .target_group_arn(&r.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if gone(&code(&e), &["TargetGroupNotFound"]) => Ok(()),
            Err(e) => Err(in_use(
                sdk_error("DeleteTargetGroup", &e),
                &["ResourceInUse"],
                code(&e).as_deref(),
            )),
        },
        "security group" => {
            // Groups of a lab refer to each other (web servers accept the load balancer's
            // group): drop the group's rules first so that the order of deletes does not matter.
            if let Ok(out) = c
                .ec2
                .describe_security_groups()
                .group_ids(&r.id)
                .send()
                .await
            {
                for g in out.security_groups() {
                    if !g.ip_permissions().is_empty() {
                        let _ = c
                            .ec2
                            .revoke_security_group_ingress()
                            .group_id(&r.id)
                            .set_ip_permissions(Some(g.ip_permissions().to_vec()))
                            .send()
                            .await;
                    }
                }
            }
            match c.ec2.delete_security_group().group_id(&r.id).send().await {
                Ok(_) => Ok(()),
                Err(e) if gone(&code(&e), &["InvalidGroup.NotFound"]) => Ok(()),
                Err(e) => Err(sdk_error("DeleteSecurityGroup", &e)),
            }
        }
        "internet gateway" => {
            if let Ok(out) = c
                .ec2
                .describe_internet_gateways()
                .internet_gateway_ids(&r.id)
                .send()
                .await
            {
                for g in out.internet_gateways() {
                    for a in g.attachments() {
                        if let Some(vpc) = a.vpc_id() {
                            if let Err(e) = c
                                .ec2
                                .detach_internet_gateway()
                                .internet_gateway_id(&r.id)
                                .vpc_id(vpc)
                                .send()
                                .await
                            {
                                if !gone(&code(&e), &["Gateway.NotAttached"]) {
                                    return Err(sdk_error("DetachInternetGateway", &e));
                                }
                            }
                        }
                    }
                }
            }
            match c
                .ec2
                .delete_internet_gateway()
                .internet_gateway_id(&r.id)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if gone(&code(&e), &["InvalidInternetGatewayID.NotFound"]) => Ok(()),
                Err(e) => Err(sdk_error("DeleteInternetGateway", &e)),
            }
        }
        "route table" => {
            if let Ok(out) = c
                .ec2
                .describe_route_tables()
                .route_table_ids(&r.id)
                .send()
                .await
            {
                for t in out.route_tables() {
                    for a in t.associations().iter().filter(|a| a.main() != Some(true)) {
                        if let Some(id) = a.route_table_association_id() {
                            let _ = c
                                .ec2
                                .disassociate_route_table()
                                .association_id(id)
                                .send()
                                .await;
                        }
                    }
                }
            }
            match c
                .ec2
                .delete_route_table()
                .route_table_id(&r.id)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if gone(&code(&e), &["InvalidRouteTableID.NotFound"]) => Ok(()),
                Err(e) => Err(sdk_error("DeleteRouteTable", &e)),
            }
        }
        "subnet" => match c.ec2.delete_subnet().subnet_id(&r.id).send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(&code(&e), &["InvalidSubnetID.NotFound"]) => Ok(()),
            Err(e) => Err(sdk_error("DeleteSubnet", &e)),
        },
        "vpc" => match c.ec2.delete_vpc().vpc_id(&r.id).send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(&code(&e), &["InvalidVpcID.NotFound"]) => Ok(()),
            Err(e) => Err(sdk_error("DeleteVpc", &e)),
        },
        "health check" => match c
            .route53
            .delete_health_check()
            .health_check_id(&r.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if gone(&code(&e), &["NoSuchHealthCheck"]) => Ok(()),
            Err(e) => Err(in_use(
                sdk_error("DeleteHealthCheck", &e),
                &["HealthCheckInUse"],
                code(&e).as_deref(),
            )),
        },
        "hosted zone" => delete_zone(c, &r.id).await,
        other => Err(ActionError::new(format!(
            "sweep does not know how to delete a {other}"
        ))),
    }
}

/// A hosted zone: its records (all but the zone's own NS and SOA) first, then the zone.
async fn delete_zone(c: &Clients, id: &str) -> Result<(), ActionError> {
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, RrType};
    let records = match c
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if code(&e).as_deref() == Some("NoSuchHostedZone") => return Ok(()),
        Err(e) => return Err(sdk_error("ListResourceRecordSets", &e)),
    };
    let changes: Vec<Change> = records
        .resource_record_sets()
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
    if !changes.is_empty() {
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
    }
    match c.route53.delete_hosted_zone().id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if code(&e).as_deref() == Some("NoSuchHostedZone") => Ok(()),
        Err(e) => Err(sdk_error("DeleteHostedZone", &e)),
    }
}

/// Instances until terminated, load balancers until gone: what depends on them is busy till then.
async fn wait_gone(c: &Clients, r: &Found, progress: &dyn Fn(&str)) -> Result<(), ActionError> {
    let started = tokio::time::Instant::now();
    let mut wait = Duration::from_secs(2);
    loop {
        let gone = if r.kind == "instance" {
            let out = c
                .ec2
                .describe_instances()
                .instance_ids(&r.id)
                .send()
                .await
                .map_err(|e| sdk_error("DescribeInstances", &e))?;
            out.reservations()
                .iter()
                .flat_map(aws_sdk_ec2::types::Reservation::instances)
                .all(|i| {
                    i.state()
                        .and_then(aws_sdk_ec2::types::InstanceState::name)
                        .map(aws_sdk_ec2::types::InstanceStateName::as_str)
                        == Some("terminated")
                })
        } else {
            match c
                .elbv2
                .describe_load_balancers()
                .load_balancer_arns(&r.id)
                .send()
                .await
            {
                Ok(out) => out.load_balancers().is_empty(),
                Err(e) if code(&e).as_deref() == Some("LoadBalancerNotFound") => true,
                Err(e) => return Err(sdk_error("DescribeLoadBalancers", &e)),
            }
        };
        if gone {
            return Ok(());
        }
        progress(&format!(
            "waiting for {} {} to be gone ({}s)",
            r.kind,
            r.id,
            started.elapsed().as_secs()
        ));
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(super::POLL_MAX);
    }
}
