//! Readiness: what a plan would meet in the account, found before the run creates anything (AWS's
//! Region switch plans call these plan evaluations). The steps come rendered as far as they can
//! be; a value known only after the run counts as unknown.

use std::collections::HashMap;

use aws_sdk_route53::types::ResourceRecordSet;

use super::client::Clients;
use super::route53::{HostedZoneParams, find_zone, fqdn, record_sets, zones_beside};
use crate::engine::action::ActionError;

/// A step's DNS name, lower-case and without the final dot, when the plan knows it.
fn known_name(v: &serde_json::Value) -> Option<String> {
    v.as_str()
        .filter(|s| !s.starts_with("(known after run"))
        .map(|s| s.trim_end_matches('.').to_lowercase())
}

/// Records whose name is outside every zone the plan finds or creates: Route 53 refuses them
/// ("not permitted in zone"), but only after everything before them was built. In words.
pub fn outside_zones<'p>(
    steps: impl Iterator<Item = (&'p str, &'p serde_json::Value)>,
) -> Vec<String> {
    let mut zones = Vec::new();
    let mut names = Vec::new();
    for (action, params) in steps {
        match action {
            "aws.route53.hosted_zone" => zones.extend(known_name(&params["name"])),
            "aws.route53.failover_record" | "aws.route53.weighted_record" => {
                names.extend(known_name(&params["name"]));
            }
            _ => {}
        }
    }
    if zones.is_empty() {
        return Vec::new();
    }
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| {
            !zones
                .iter()
                .any(|z| n == z || n.ends_with(&format!(".{z}")))
        })
        .map(|n| {
            format!(
                "the record {n} is not inside the zone {}",
                zones.join(" or ")
            )
        })
        .collect()
}

/// What a run would meet in the account, in words, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Met {
    /// The step that would meet it: its place among the steps given.
    pub step: usize,
    pub what: String,
    pub fix: String,
}

const NO_ZONE: &str = "check the domain (`--var domain=…`, or `--var zone=…` where the runbook has it) and that the credentials are for the account that holds the zone: a zone the runbook only finds must exist";
const SIMPLE_RECORD: &str = "delete the record if it may go (Route 53 › Hosted zones › the zone), choose another domain, or take it over with `on_existing: adopt` on the record step (`--var on_existing=adopt` where the runbook offers it: rollback puts it back)";
const ROLE_TAKEN: &str = "something already fails over at this name: roll back the run that wrote it (`runbook runs` lists runs), choose another domain, or take it over with `on_existing: adopt`";
const SAME_SET: &str = "choose another prefix (`--var prefix=…`) or domain, or roll back the run that wrote it (`runbook runs` lists runs)";

/// Readiness, before a run creates anything (AWS's Region switch plans call these plan
/// evaluations): the records already in existing zones that the run's record steps would collide
/// with, and a zone it only finds that is not there. `steps` are the plan's actions and
/// parameters, rendered as far as they can be; a record goes in the longest zone of the plan
/// whose name ends its name.
pub async fn collisions<'p>(
    c: &Clients,
    steps: impl Iterator<Item = (&'p str, &'p serde_json::Value, Option<&'p str>)>,
) -> Result<Vec<Met>, ActionError> {
    let mut zones = Vec::new();
    let mut chosen = HashMap::new();
    let mut find_only = Vec::new();
    let mut writes = Vec::new();
    let mut balancing = Vec::new();
    let mut zone_steps = HashMap::new();
    for (i, (action, params, region)) in steps.enumerate() {
        match action {
            "aws.elbv2.create_load_balancer" | "aws.elbv2.create_target_group" => {
                if let Some(name) = params["name"]
                    .as_str()
                    .filter(|n| !n.starts_with("(known after run"))
                {
                    let load_balancer = action == "aws.elbv2.create_load_balancer";
                    balancing.push((i, load_balancer, name.to_owned(), region));
                }
            }
            "aws.route53.hosted_zone" => {
                if let Some(name) = known_name(&params["name"]) {
                    if let Some(id) = params["id"].as_str().filter(|id| !id.trim().is_empty()) {
                        chosen.insert(name.clone(), id.to_owned());
                    }
                    if params["create"] == false {
                        find_only.push(name.clone());
                    }
                    zone_steps.insert(name.clone(), i);
                    zones.push(name);
                }
            }
            // A step told to take over what is there (`on_existing: adopt`) collides with
            // nothing.
            "aws.route53.failover_record" | "aws.route53.weighted_record"
                if params["on_existing"] != "adopt" =>
            {
                if let (Some(name), Some(set)) = (
                    known_name(&params["name"]),
                    params["set_identifier"].as_str(),
                ) {
                    let kind = params["type"].as_str().unwrap_or("A").to_uppercase();
                    let role = params["role"].as_str().map(str::to_uppercase);
                    writes.push((i, name, kind, role, set.to_owned()));
                }
            }
            _ => {}
        }
    }
    // Each zone as its step would find it: several zones of one name are refused here, before
    // anything is made.
    let mut ids = HashMap::new();
    let mut found = Vec::new();
    for zone in &zones {
        let p = HostedZoneParams {
            name: zone.clone(),
            comment: None,
            shared: false,
            id: chosen.get(zone).cloned(),
            create: true,
        };
        match find_zone(c, &p, "").await? {
            Some((id, _)) => {
                ids.insert(zone.clone(), id);
            }
            // A zone the run only finds: the run would stop at its first step.
            None if find_only.contains(zone) => {
                let (there, closest) = zones_beside(c, zone).await;
                found.push(Met {
                    step: zone_steps[zone],
                    what: format!(
                        "there is no public hosted zone named {zone} ({there}), and the runbook only finds one (`create: false`)"
                    ),
                    fix: match closest {
                        // A record in a zone of another name: the runbook's `zone` says so.
                        Some((found, true)) => format!(
                            "{zone} is a name in the zone {found}: give that zone (`--var zone={found}` where the runbook has it, or the step's `name: {found}`)"
                        ),
                        Some((found, false)) => format!("did you mean {found}? Otherwise, {NO_ZONE}"),
                        None => NO_ZONE.to_owned(),
                    },
                });
            }
            None => {}
        }
    }
    for (step, name, kind, role, set) in writes {
        let Some(zone) = zones
            .iter()
            .filter(|z| name == **z || name.ends_with(&format!(".{z}")))
            .max_by_key(|z| z.len())
        else {
            continue;
        };
        let Some(zone_id) = ids.get(zone).cloned() else {
            continue;
        };
        let here: Vec<ResourceRecordSet> = record_sets(c, &zone_id, Some((&fqdn(&name), &kind)))
            .await?
            .into_iter()
            .filter(|r| {
                r.name().trim_end_matches('.').to_lowercase() == name && r.r#type().as_str() == kind
            })
            .collect();
        for r in here {
            let theirs = r.set_identifier().unwrap_or_default();
            let their_role = r.failover().map(|f| f.as_str().to_owned());
            let why = match (&role, r.set_identifier(), &their_role) {
                (_, None, _) => Some(Met {
                    step,
                    what: format!(
                        "a simple {kind} record already exists at {name} (zone {zone}); Route 53 allows no other record of that name and type beside it"
                    ),
                    fix: SIMPLE_RECORD.to_owned(),
                }),
                (Some(mine), Some(_), Some(r_role)) if r_role == mine && theirs != set => {
                    Some(Met {
                        step,
                        what: format!(
                            "a {mine} failover record already exists at {name} (zone {zone}) under set identifier `{theirs}`; Route 53 keeps one {mine} record per name and type"
                        ),
                        fix: ROLE_TAKEN.to_owned(),
                    })
                }
                (_, Some(_), _) if theirs == set => Some(Met {
                    step,
                    what: format!(
                        "{} record with set identifier `{set}` already exists at {name} (zone {zone}): another lab with the same prefix and domain, or one not rolled back, would be overwritten",
                        crate::runbook::suggest::a_or_an(&kind)
                    ),
                    fix: SAME_SET.to_owned(),
                }),
                _ => None,
            };
            found.extend(why);
        }
    }
    for (step, load_balancer, name, region) in balancing {
        let c = region.map_or(c, |r| c.in_region(r));
        found.extend(name_taken(c, step, load_balancer, &name).await?);
    }
    Ok(found)
}

/// Load balancer and target group names are unique in an account's region: one of the step's
/// name that exists already fails the step (`Duplicate…Name`) after everything before it was
/// built. Whose it is comes from its `runbook:run` tag, when it has one.
async fn name_taken(
    c: &Clients,
    step: usize,
    load_balancer: bool,
    name: &str,
) -> Result<Option<Met>, ActionError> {
    let arn = if load_balancer {
        let out = c.elbv2.describe_load_balancers().names(name).send().await;
        super::found("DescribeLoadBalancers", out, &["LoadBalancerNotFound"])?.and_then(|o| {
            o.load_balancers()
                .first()?
                .load_balancer_arn()
                .map(String::from)
        })
    } else {
        let out = c.elbv2.describe_target_groups().names(name).send().await;
        super::found("DescribeTargetGroups", out, &["TargetGroupNotFound"])?.and_then(|o| {
            o.target_groups()
                .first()?
                .target_group_arn()
                .map(String::from)
        })
    };
    let Some(arn) = arn else {
        return Ok(None);
    };
    let tags = c
        .elbv2
        .describe_tags()
        .resource_arns(&arn)
        .send()
        .await
        .map_err(|e| super::sdk_error("DescribeTags", &e))?;
    let run = tags.tag_descriptions().first().and_then(|d| {
        super::tags::value(super::tags::elbv2(d.tags()), super::tags::RUN).map(str::to_owned)
    });
    let what = if load_balancer {
        "load balancer"
    } else {
        "target group"
    };
    let region = &c.region;
    Ok(Some(match run {
        Some(run) => Met {
            step,
            what: format!(
                "a {what} named {name} already exists in {region}, made by run {run}"
            ),
            fix: format!(
                "a load balancer's or target group's name is unique in a region: roll back run {run} (`runbook rollback {run}`, with the state folder it ran with; `runbook resume {run}` if it did not finish; `runbook sweep --tag runbook:run={run}` if its state folder is gone), or give this run other names (`--var prefix=…` where the runbook has it)"
            ),
        },
        None => Met {
            step,
            what: format!(
                "a {what} named {name} already exists in {region}, not made by runbook"
            ),
            fix: "a load balancer's or target group's name is unique in a region: give this run other names (`--var prefix=…` where the runbook has it)".to_owned(),
        },
    }))
}
