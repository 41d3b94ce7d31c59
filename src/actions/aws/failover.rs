//! The failover check (`aws.route53.check_failover`): which record of a failover pair Route 53
//! answers with now, and why, read from the records, their health checks, the load balancers
//! their aliases name and those balancers' targets. It only reads: what it learns of a load
//! balancer is kept for the run's other checks (`Clients::alias_targets`), since a class's drill
//! asks sixty times at once.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_route53::types::{ResourceRecordSet, ResourceRecordSetFailover, RrType};

use super::client::{Clients, clients};
use super::route53::{
    CheckFailoverParams, Role, alias_dns, balancer_name, balancer_region, bare_id, fqdn,
    records_named,
};
use super::shared::Answer;
use super::{Seen, code, sdk_error};
use crate::actions::ParamProblem;
use crate::engine::action::{ActionError, Context, Executor, Outcome, Running};

pub(super) struct CheckFailover;

/// The clients of the region a load balancer's DNS name names: an alias may point at a load
/// balancer in another region than the run's (Route 53 is global). The run's own for any other
/// name.
pub(super) fn regional<'c>(c: &'c Clients, dns: &str) -> &'c Clients {
    balancer_region(dns).map_or(c, |region| c.in_region(region))
}

/// The public addresses of a load balancer: those of its network interfaces, which EC2 describes
/// as `ELB app/NAME/ID`.
async fn balancer_addresses(
    c: &Clients,
    set: &ResourceRecordSet,
) -> Result<Vec<String>, ActionError> {
    let Some(alias) = set.alias_target() else {
        return Ok(Vec::new());
    };
    let dns = alias_dns(alias);
    let Some(lb) = behind(c, &dns).await? else {
        return Ok(Vec::new());
    };
    let c = regional(c, &dns);
    let Some((_, path)) = lb.arn.split_once(":loadbalancer/") else {
        return Ok(Vec::new());
    };
    let out = c
        .ec2
        .describe_network_interfaces()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("description")
                .values(format!("ELB {path}"))
                .build(),
        )
        .send()
        .await
        .map_err(|e| sdk_error("DescribeNetworkInterfaces", &e))?;
    Ok(out
        .network_interfaces()
        .iter()
        .filter_map(|n| n.association()?.public_ip().map(str::to_owned))
        .collect())
}

/// Ask Route 53 what it answers for the name (real AWS only) and which record's load balancer
/// those addresses belong to: the role, if one matches, and the answer in words.
async fn dns_answer(
    c: &Clients,
    p: &CheckFailoverParams,
    records: &[(&'static str, &ResourceRecordSet)],
) -> Result<(Option<&'static str>, String), ActionError> {
    let out = c
        .route53
        .test_dns_answer()
        .hosted_zone_id(bare_id(&p.zone_id))
        .record_name(fqdn(&p.name))
        .record_type(RrType::from(p.kind.as_str()))
        .send()
        .await
        .map_err(|e| sdk_error("TestDNSAnswer", &e))?;
    let data = out.record_data();
    let seen = if data.is_empty() {
        format!("{} with no records", out.response_code())
    } else {
        data.join(", ")
    };
    for (role, set) in records {
        let addresses = balancer_addresses(c, set).await?;
        if data.iter().any(|d| addresses.contains(d)) {
            return Ok((Some(role), seen));
        }
    }
    Ok((None, seen))
}

/// What an alias to a load balancer rests on: the load balancer's name and its target groups
/// (name, ARN).
#[derive(Clone, Debug)]
pub struct Behind {
    balancer: String,
    arn: String,
    groups: Vec<(String, String)>,
}

/// The load balancer with this DNS name and its target groups, looked up once while the process
/// runs (see [`record_health`]), together with the other runs' look-ups (`Clients::aliases`);
/// `None` when no load balancer has the name.
pub(super) async fn behind(c: &Clients, dns: &str) -> Result<Option<Behind>, ActionError> {
    let c = regional(c, dns);
    let found = c
        .alias_targets
        .get(dns, || async {
            let elbv2 = c.elbv2.clone();
            c.aliases
                .get(dns, move |names| behind_each(elbv2, names))
                .await?
                .ok_or_else(|| {
                    let mut e =
                        ActionError::new(format!("no load balancer has the DNS name {dns}"));
                    e.code = Some("LoadBalancerNotFound".into());
                    e
                })
        })
        .await;
    match found {
        Ok(b) => {
            if b.groups.is_empty() {
                // Not kept: its listeners and groups may be on their way.
                c.alias_targets.forget(dns);
            }
            Ok(Some(b))
        }
        Err(e) if e.code.as_deref() == Some("LoadBalancerNotFound") => Ok(None),
        Err(e) => Err(e),
    }
}

/// What rests behind each of these alias DNS names (`None` for one no load balancer has), in as
/// few calls as the API allows: the load balancers by the names in their DNS names, twenty to a
/// call (one not found so is looked for among all the account's); then their target groups: one
/// load balancer's by its ARN, several's from one listing of the account's groups (400 a page),
/// which a class's sixty look-ups at once would otherwise spend sixty calls on. Also how many
/// calls that took.
async fn behind_each(
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    dnss: Vec<String>,
) -> (HashMap<String, Answer<Behind>>, u64) {
    let mut calls = 0;
    let (balancers, failed) = balancers_named(&elbv2, &dnss, &mut calls).await;
    let mut answers: HashMap<String, Answer<Behind>> =
        failed.into_iter().map(|(dns, e)| (dns, Err(e))).collect();
    let groups = match groups_of(&elbv2, &balancers, &mut calls).await {
        Ok(groups) => groups,
        Err(e) => {
            for dns in balancers.keys() {
                answers.insert(dns.clone(), Err(e.clone()));
            }
            return (answers, calls);
        }
    };
    for (dns, lb) in balancers {
        let arn = lb.load_balancer_arn().unwrap_or_default().to_owned();
        let behind = Behind {
            balancer: lb.load_balancer_name().unwrap_or_default().to_owned(),
            groups: groups.get(&arn).cloned().unwrap_or_default(),
            arn,
        };
        answers.insert(dns, Ok(Some(behind)));
    }
    (answers, calls)
}

type LoadBalancer = aws_sdk_elasticloadbalancingv2::types::LoadBalancer;

/// The load balancer with each DNS name (those no load balancer has are left out), and the
/// look-ups that failed.
async fn balancers_named(
    elbv2: &aws_sdk_elasticloadbalancingv2::Client,
    dnss: &[String],
    calls: &mut u64,
) -> (HashMap<String, LoadBalancer>, HashMap<String, ActionError>) {
    const GONE: &[&str] = &["LoadBalancerNotFound", "ValidationError"];
    let matches =
        |lb: &LoadBalancer, dns: &str| lb.dns_name().is_some_and(|d| d.to_lowercase() == dns);
    let mut wanted: Vec<&str> = dnss.iter().filter_map(|d| balancer_name(d)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut seen: Vec<LoadBalancer> = Vec::new();
    let mut failed = HashMap::new();
    for chunk in wanted.chunks(20) {
        *calls += 1;
        let names: Vec<String> = chunk.iter().map(|n| (*n).to_owned()).collect();
        match elbv2
            .describe_load_balancers()
            .set_names(Some(names))
            .send()
            .await
        {
            Ok(out) => seen.extend(out.load_balancers().iter().cloned()),
            // One name AWS does not know fails the call: each is asked alone.
            Err(_) if chunk.len() > 1 => {
                for name in chunk {
                    *calls += 1;
                    match super::found(
                        "DescribeLoadBalancers",
                        elbv2.describe_load_balancers().names(*name).send().await,
                        GONE,
                    ) {
                        Ok(out) => {
                            seen.extend(
                                out.iter().flat_map(|o| o.load_balancers().iter().cloned()),
                            );
                        }
                        Err(e) => {
                            for dns in dnss.iter().filter(|d| balancer_name(d) == Some(name)) {
                                failed.insert(dns.clone(), e.clone());
                            }
                        }
                    }
                }
            }
            Err(e) if code(&e).is_some_and(|c| GONE.contains(&c.as_str())) => {}
            Err(e) => {
                let e = sdk_error("DescribeLoadBalancers", &e);
                for dns in dnss
                    .iter()
                    .filter(|d| balancer_name(d).is_some_and(|n| chunk.contains(&n)))
                {
                    failed.insert(dns.clone(), e.clone());
                }
            }
        }
    }
    let mut found = HashMap::new();
    let mut missing = Vec::new();
    for dns in dnss {
        if failed.contains_key(dns) {
            continue;
        }
        match seen.iter().find(|lb| matches(lb, dns)) {
            Some(lb) => {
                found.insert(dns.clone(), lb.clone());
            }
            None => missing.push(dns),
        }
    }
    // A DNS name without the load balancer's name in it: among every load balancer.
    if !missing.is_empty() {
        let all = elbv2
            .describe_load_balancers()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        *calls += 1;
        match all {
            Ok(all) => {
                for dns in missing {
                    if let Some(lb) = all.iter().find(|lb| matches(lb, dns)) {
                        found.insert(dns.clone(), lb.clone());
                    }
                }
            }
            Err(e) => {
                let e = sdk_error("DescribeLoadBalancers", &e);
                for dns in missing {
                    failed.insert(dns.clone(), e.clone());
                }
            }
        }
    }
    (found, failed)
}

/// The target groups (name, ARN) of each load balancer, by its ARN.
async fn groups_of(
    elbv2: &aws_sdk_elasticloadbalancingv2::Client,
    balancers: &HashMap<String, LoadBalancer>,
    calls: &mut u64,
) -> Result<HashMap<String, Vec<(String, String)>>, ActionError> {
    let arns: std::collections::BTreeSet<&str> = balancers
        .values()
        .filter_map(LoadBalancer::load_balancer_arn)
        .collect();
    let pair = |g: &aws_sdk_elasticloadbalancingv2::types::TargetGroup| {
        (
            g.target_group_name().unwrap_or("?").to_owned(),
            g.target_group_arn().unwrap_or_default().to_owned(),
        )
    };
    let groups = match arns.iter().next() {
        None => return Ok(HashMap::new()),
        Some(only) if arns.len() == 1 => {
            *calls += 1;
            // The emulator answers a load balancer without groups `TargetGroupNotFound`.
            let out = super::found(
                "DescribeTargetGroups",
                elbv2
                    .describe_target_groups()
                    .load_balancer_arn(*only)
                    .send()
                    .await,
                &["TargetGroupNotFound"],
            )?;
            let groups =
                out.map_or_else(Vec::new, |o| o.target_groups().iter().map(pair).collect());
            return Ok(HashMap::from([((*only).to_owned(), groups)]));
        }
        Some(_) => {
            *calls += 1;
            elbv2
                .describe_target_groups()
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| sdk_error("DescribeTargetGroups", &e))?
        }
    };
    let mut by_balancer: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for g in &groups {
        for lb in g.load_balancer_arns() {
            if arns.contains(lb.as_str()) {
                by_balancer.entry(lb.clone()).or_default().push(pair(g));
            }
        }
    }
    Ok(by_balancer)
}

/// Whether Route 53 would consider one failover record healthy, and why; and, for an alias to a
/// load balancer, how many healthy targets stand behind it.
async fn record_health(
    c: &Clients,
    set: &ResourceRecordSet,
) -> Result<(bool, String, Option<usize>), ActionError> {
    if let Some(id) = set.health_check_id() {
        let out = c
            .route53
            .get_health_check_status()
            .health_check_id(id)
            .send()
            .await
            .map_err(|e| sdk_error("GetHealthCheckStatus", &e))?;
        let observations = out.health_check_observations();
        let ok = observations
            .iter()
            .filter(|o| {
                o.status_report()
                    .and_then(|r| r.status())
                    .is_some_and(|s| s.starts_with("Success"))
            })
            .count();
        // Route 53 considers an endpoint healthy when more than 18% of its checkers do.
        let healthy = !observations.is_empty() && ok * 100 > observations.len() * 18;
        // How long a failure takes to be seen: the check's interval times its threshold, which
        // lengthen failover beyond the alias's 60 s TTL.
        let detection = c
            .route53
            .get_health_check()
            .health_check_id(id)
            .send()
            .await
            .ok()
            .and_then(|out| {
                let config = out.health_check()?.health_check_config()?;
                Some(config.request_interval()? * config.failure_threshold()?)
            })
            .map_or_else(String::new, |s| {
                format!("; a failure is seen after about {s} s (interval × failure threshold)")
            });
        return Ok((
            healthy,
            format!(
                "health check {id}: {ok} of {} checkers see it healthy{detection}",
                observations.len()
            ),
            None,
        ));
    }
    let Some(alias) = set.alias_target() else {
        return Ok((
            true,
            "no health check and no alias: always healthy".into(),
            None,
        ));
    };
    if !alias.evaluate_target_health() {
        return Ok((
            true,
            "the alias does not evaluate target health: always healthy".into(),
            None,
        ));
    }
    let dns = alias_dns(alias);
    let c = regional(c, &dns);
    // Which load balancer and target groups an alias rests on does not change while the
    // process runs: looked up once (a class's checks asked it on every poll, four ELBv2 calls of
    // six), and again if a group has gone since.
    let mut fresh = false;
    let (behind, answers) = loop {
        let Some(behind) = behind(c, &dns).await? else {
            return Ok((
                false,
                format!("no load balancer has the DNS name {dns}"),
                Some(0),
            ));
        };
        let mut answers = Vec::new();
        let mut gone = false;
        for (_, arn) in &behind.groups {
            match super::elbv2::target_health(c, arn).await {
                Ok(h) => answers.push(h),
                Err(e) if !fresh && e.code.as_deref() == Some("TargetGroupNotFound") => {
                    gone = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if gone {
            c.alias_targets.forget(&dns);
            fresh = true;
            continue;
        }
        break (behind, answers);
    };
    let name = behind.balancer.clone();
    // Route 53's rule: the load balancer is healthy only if every target group has a healthy
    // target; a group whose targets are all unhealthy, or that has no targets, makes it unhealthy.
    let mut all_healthy = !behind.groups.is_empty();
    let mut described = Vec::new();
    let mut healthy_targets = 0;
    for ((group_name, _), health) in behind.groups.iter().zip(&answers) {
        let states: Vec<String> = health
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let state = d
                    .target_health()
                    .and_then(|h| h.state())
                    .map_or("unknown", |s| s.as_str());
                format!("{} {state}", d.target().and_then(|t| t.id()).unwrap_or("?"))
            })
            .collect();
        let healthy = states.iter().any(|s| s.ends_with(" healthy"));
        healthy_targets += states.iter().filter(|s| s.ends_with(" healthy")).count();
        all_healthy &= healthy;
        described.push(if states.is_empty() {
            format!("{group_name}: no targets (counts as unhealthy)")
        } else {
            format!("{group_name}: {}", states.join(", "))
        });
    }
    let list = if described.is_empty() {
        "no target groups".to_owned()
    } else {
        described.join("; ")
    };
    Ok((
        all_healthy,
        format!("load balancer {name}: {list}"),
        Some(healthy_targets),
    ))
}

/// The load balancer with this DNS name, and the ids of its healthy targets now (the stand-in
/// for the internet sends a visitor to one of them); `None` when no load balancer has the name.
pub(super) async fn healthy_behind(
    c: &Clients,
    dns: &str,
) -> Result<Option<(String, Vec<String>)>, ActionError> {
    let Some(found) = behind(c, dns).await? else {
        return Ok(None);
    };
    let c = regional(c, dns);
    let mut healthy = Vec::new();
    for (_, arn) in &found.groups {
        let health = super::elbv2::target_health(c, arn).await?;
        for d in health.target_health_descriptions() {
            let up = d
                .target_health()
                .and_then(|h| h.state())
                .is_some_and(|s| s.as_str() == "healthy");
            if let (true, Some(id)) = (up, d.target().and_then(|t| t.id())) {
                if !healthy.iter().any(|h| h == id) {
                    healthy.push(id.to_owned());
                }
            }
        }
    }
    Ok(Some((found.balancer, healthy)))
}

/// Failover would not work now, when `ready_to_fail_over` asks: the secondary is not healthy,
/// or has fewer healthy targets than the primary (it could not carry its traffic).
fn not_ready(
    p: &CheckFailoverParams,
    primary: (bool, Option<usize>),
    secondary: (bool, &str, Option<usize>),
) -> Option<ActionError> {
    let (_, primary_targets) = primary;
    let (secondary_ok, secondary_why, secondary_targets) = secondary;
    if !secondary_ok {
        return Some(
            ActionError::new(format!(
                "{} {}: the SECONDARY is not healthy ({secondary_why}): if the primary failed now, Route 53 would keep answering with it",
                p.name, p.kind
            ))
            .hint("make the standby's targets healthy (EC2 › Target groups › the group › Targets shows each one's reason)"),
        );
    }
    match (primary_targets, secondary_targets) {
        (Some(primary), Some(secondary)) if secondary < primary => Some(
            ActionError::new(format!(
                "{} {}: the SECONDARY has {secondary} healthy target(s) and the PRIMARY {primary}: the standby could not carry the primary's traffic",
                p.name, p.kind
            ))
            .hint("give the standby as many healthy targets as the primary (or scale it out on failover, with an Auto Scaling group)"),
        ),
        _ => None,
    }
}

/// Which record Route 53 would answer with now, and why.
pub(super) async fn evaluate(
    c: &Clients,
    p: &CheckFailoverParams,
) -> Result<(&'static str, String), ActionError> {
    let name = fqdn(&p.name).to_lowercase();
    let sets = records_named(c, &bare_id(&p.zone_id), &name).await?;
    let pick = |role: &ResourceRecordSetFailover| {
        sets.iter()
            .find(|s| {
                s.name().to_lowercase() == name
                    && s.r#type().as_str() == p.kind
                    && s.failover() == Some(role)
            })
            .cloned()
    };
    let (Some(primary), Some(secondary)) = (
        pick(&ResourceRecordSetFailover::Primary),
        pick(&ResourceRecordSetFailover::Secondary),
    ) else {
        return Err(ActionError::new(format!(
            "{} {} has no PRIMARY and SECONDARY failover pair",
            p.name, p.kind
        )));
    };
    let (primary_ok, primary_why, primary_targets) = record_health(c, &primary).await?;
    let (secondary_ok, secondary_why, secondary_targets) = record_health(c, &secondary).await?;
    if p.ready_to_fail_over {
        if let Some(e) = not_ready(
            p,
            (primary_ok, primary_targets),
            (secondary_ok, &secondary_why, secondary_targets),
        ) {
            return Err(e);
        }
    }
    // Route 53 answers with the primary while it is healthy; with the secondary when only
    // the secondary is; with the primary again when neither is.
    let (answer, reason) = if primary_ok {
        ("primary", format!("the primary is healthy ({primary_why})"))
    } else if secondary_ok {
        (
            "secondary",
            format!(
                "the primary is unhealthy ({primary_why}) and the secondary is healthy ({secondary_why})"
            ),
        )
    } else {
        (
            "primary",
            format!(
                "both are unhealthy ({primary_why}; {secondary_why}), so Route 53 answers with the primary"
            ),
        )
    };
    // On AWS, Route 53 can say itself what it answers.
    let (answer, reason) = if c.emulated {
        (answer, reason)
    } else {
        match dns_answer(c, p, &[("primary", &primary), ("secondary", &secondary)]).await {
            Ok((Some(role), seen)) => (
                role,
                format!(
                    "Route 53's TestDNSAnswer returns {seen}, the {role} load balancer's addresses (its health evaluation: {reason})"
                ),
            ),
            Ok((None, seen)) => (answer, format!("{reason}; TestDNSAnswer returns {seen}")),
            Err(e) => (
                answer,
                format!("{reason}; TestDNSAnswer could not be asked: {}", e.message),
            ),
        }
    };
    Ok((answer, reason))
}

/// How a recovery-time gate is written.
const LIMIT_FORM: &str = "write it like 90s, 5m or 1m30s";

/// A recovery-time gate (`limit`): a duration with its unit.
fn limit_of(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`limit` is not a duration ({e}): {text}"))
}

/// A gate that is no duration, found by validation rather than when the drill has run.
pub(super) fn lint_limit(_step: &str, known: &serde_json::Value) -> Vec<ParamProblem> {
    let text = match known.get("limit") {
        Some(serde_json::Value::String(t)) if !t.trim().is_empty() => t.clone(),
        Some(n @ serde_json::Value::Number(_)) => n.to_string(),
        _ => return Vec::new(),
    };
    match limit_of(&text) {
        Ok(_) => Vec::new(),
        Err(message) => vec![ParamProblem {
            param: "limit",
            code: "duration",
            message,
            help: LIMIT_FORM,
        }],
    }
}

impl Executor for CheckFailover {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: CheckFailoverParams = ctx.params()?;
            let c = clients(ctx)?;
            ctx.progress
                .status(&format!("reading the failover records of {}", p.name));
            // The recovery-time gate, from `since`: how long the answer may take.
            let since = crate::actions::measured_from(p.since.as_deref())?;
            let limit = p
                .limit
                .as_deref()
                .map(|l| {
                    limit_of(l).map(|d| (l, d)).map_err(|problem| {
                        ActionError::new(problem).hint(LIMIT_FORM).invalid_input()
                    })
                })
                .transpose()?;
            let over = |at: std::time::SystemTime| -> Option<(u64, &str)> {
                let (text, limit) = limit?;
                let took = std::time::SystemTime::now()
                    .duration_since(at)
                    .unwrap_or_default();
                (took > limit).then_some((took.as_secs(), text))
            };
            let (answer, reason) = match p.expect {
                None => evaluate(c, &p).await?,
                Some(expected) => {
                    let want = if expected == Role::Primary {
                        "primary"
                    } else {
                        "secondary"
                    };
                    let started = tokio::time::Instant::now();
                    let what = format!("Route 53's answer for {}", p.name);
                    // Timed from `since` (a drill): polled every 2 s, so the figure is within
                    // that of the moment Route 53 switched (for one lab: a class shares Route 53's
                    // five requests a second, and its polls queue behind each other's).
                    let typical = if since.is_some() {
                        super::Typical::TARGETS.measured()
                    } else {
                        super::Typical::TARGETS
                    };
                    super::poll(ctx, (&what, &want.to_uppercase()), typical, "check the records' health (Route 53 › Hosted zones › the zone)", || async {
                        let (answer, reason) = evaluate(c, &p).await?;
                        if answer == want {
                            Ok(Seen::Done((answer, reason)))
                        } else if let Some((took, limit)) = since.and_then(over) {
                            Err(ActionError::new(format!(
                                "Route 53 still answers with the {} record {took} s after {}: over the limit of {limit}",
                                answer.to_uppercase(),
                                p.since.as_deref().unwrap_or_default()
                            ))
                            .hint("what sets the time: the target group's health check (interval × unhealthy threshold), or a Route 53 health check's (interval × failure threshold), then the record's TTL (60 s for an alias)"))
                        } else if started.elapsed() >= p.within.0 {
                            Err(ActionError::new(format!(
                                "Route 53 would answer with the {} record, not the {} (after waiting {}): {reason}",
                                answer.to_uppercase(),
                                want.to_uppercase(),
                                humantime::format_duration(Duration::from_secs(started.elapsed().as_secs()))
                            )))
                        } else {
                            Ok(Seen::Waiting(format!("{} ({reason})", answer.to_uppercase())))
                        }
                    })
                    .await?
                }
            };
            let mut o = Outcome::default();
            let mut when = String::new();
            if let (Some(at), Some(text)) = (since, &p.since) {
                if let Some((took, limit)) = over(at) {
                    return Err(ActionError::new(format!(
                        "Route 53 answered with the {} record {took} s after {text}: over the limit of {limit}",
                        answer.to_uppercase()
                    ))
                    .hint("what sets the time: the target group's health check (interval × unhealthy threshold), or a Route 53 health check's (interval × failure threshold), then the record's TTL (60 s for an alias)"));
                }
                let seconds = crate::actions::seconds_since(at);
                when = format!(" {seconds} s after {text}");
                o.outputs.insert("seconds_since".into(), seconds.into());
            }
            ctx.progress.message(&format!(
                "Route 53 answers {} with the {} record{when}: {reason}",
                p.name,
                answer.to_uppercase()
            ));
            o.outputs.insert("answer".into(), answer.into());
            o.outputs.insert("reason".into(), reason.into());
            // When Route 53 was seen answering so (within a poll of it): a drill's timeline.
            o.outputs
                .insert("answered_at".into(), crate::engine::journal::now().into());
            Ok(o)
        })
    }
}
