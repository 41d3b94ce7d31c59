//! Will a class fit? Before a class creates anything, add up what its labs create (VPCs, internet
//! gateways, load balancers, instances' vCPUs) per account and region, and compare it with the
//! account's quotas minus what already exists there.
//!
//! A quota's value comes from `--quota` when given, else the Service Quotas API (the applied
//! value, then AWS's default), else the documented default. The vCPU quota of a new account is
//! not documented as one number, so when the API does not answer it only warns. An emulator
//! enforces no quota: there the preflight is not asked, reports the documented defaults and
//! refuses only with `--quota`.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::client::Clients;
use super::sdk_error;
use crate::engine::action::ActionError;

pub use crate::actions::Need;

/// Add up what the steps of a lab's plan (each its action and planned parameters) count, from
/// each action's `usage`.
pub fn need<'p>(steps: impl IntoIterator<Item = (&'p str, &'p serde_json::Value)>) -> Need {
    let mut need = Need::default();
    for (action, params) in steps {
        let Some(usage) = crate::actions::find(action).and_then(|a| a.usage) else {
            continue;
        };
        let counts = usage(params).quota;
        need.vpcs += counts.vpcs;
        need.internet_gateways += counts.internet_gateways;
        need.load_balancers += counts.load_balancers;
        need.instances.extend(counts.instances);
    }
    need
}

/// What a lab's plan counts in each region it acts in (each step its action, planned
/// parameters and region: `None` for the run's own), the run's own region first: a region's
/// quotas are met by the part of the lab that goes there.
pub fn need_by_region<'p>(
    steps: impl IntoIterator<Item = (&'p str, &'p serde_json::Value, Option<&'p str>)>,
) -> Vec<(Option<&'p str>, Need)> {
    type Steps<'p> = Vec<(&'p str, &'p serde_json::Value)>;
    let mut parts: Vec<(Option<&'p str>, Steps<'p>)> = vec![(None, Vec::new())];
    for (action, params, region) in steps {
        match parts.iter_mut().find(|(r, _)| *r == region) {
            Some((_, steps)) => steps.push((action, params)),
            None => parts.push((region, vec![(action, params)])),
        }
    }
    // A region where the lab creates nothing a quota counts (the run's own, when every stack
    // has a `region:`) is not looked at.
    parts
        .into_iter()
        .map(|(region, steps)| (region, need(steps)))
        .filter(|(_, need)| *need != Need::default())
        .collect()
}

/// The quotas a lab meets first, with their documented defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Vpcs,
    InternetGateways,
    LoadBalancers,
    Vcpus,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Vpcs,
        Kind::InternetGateways,
        Kind::LoadBalancers,
        Kind::Vcpus,
    ];

    fn service(self) -> &'static str {
        match self {
            Kind::Vpcs | Kind::InternetGateways => "vpc",
            Kind::LoadBalancers => "elasticloadbalancing",
            Kind::Vcpus => "ec2",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Kind::Vpcs => "L-F678F1CE",
            Kind::InternetGateways => "L-A4707A72",
            Kind::LoadBalancers => "L-53DA6B97",
            Kind::Vcpus => "L-1216C47A",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Vpcs => "VPCs per Region",
            Kind::InternetGateways => "Internet gateways per Region",
            Kind::LoadBalancers => "Application Load Balancers per Region",
            Kind::Vcpus => "Running On-Demand Standard instances (vCPUs)",
        }
    }

    /// The name `--quota` takes.
    fn flag(self) -> &'static str {
        match self {
            Kind::Vpcs => "vpcs",
            Kind::InternetGateways => "internet-gateways",
            Kind::LoadBalancers => "load-balancers",
            Kind::Vcpus => "vcpus",
        }
    }

    /// Documented defaults; the vCPU one is what many new accounts get, not a fixed number.
    fn documented(self) -> f64 {
        match self {
            Kind::Vpcs | Kind::InternetGateways | Kind::Vcpus => 5.0,
            Kind::LoadBalancers => 50.0,
        }
    }

    fn per_lab(self, need: &Need, vcpus: &HashMap<String, u32>) -> u32 {
        match self {
            Kind::Vpcs => need.vpcs,
            Kind::InternetGateways => need.internet_gateways,
            Kind::LoadBalancers => need.load_balancers,
            Kind::Vcpus => need
                .instances
                .iter()
                .filter(|(t, _)| standard(t))
                .map(|(t, n)| vcpus.get(t).copied().unwrap_or(2) * n)
                .sum(),
        }
    }
}

/// Parse `--quota NAME=N` (NAME: vpcs, internet-gateways, load-balancers, vcpus, or a quota code).
pub fn parse_override(spec: &str) -> Result<(String, f64), String> {
    let (name, value) = spec
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=N (for example vpcs=20), got `{spec}`"))?;
    let name = name.trim();
    let known = Kind::ALL
        .iter()
        .any(|k| k.flag() == name || k.code().eq_ignore_ascii_case(name));
    if !known {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.flag()).collect();
        let hint = crate::runbook::suggest::did_you_mean(name, &names)
            .map_or_else(String::new, |s| format!(" ({s})"));
        return Err(format!(
            "unknown quota `{name}`{hint}: use vpcs, internet-gateways, load-balancers, vcpus or a quota code such as L-F678F1CE"
        ));
    }
    let n: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("`{value}` is not a quota: give a number"))?;
    Ok((name.to_owned(), n))
}

/// The standard families the vCPU quota counts (A, C, D, H, I, M, R, T, Z).
fn standard(instance_type: &str) -> bool {
    instance_type
        .chars()
        .next()
        .is_some_and(|c| "acdhimrtz".contains(c))
}

/// The preflight's answer.
#[derive(Debug)]
pub struct Report {
    pub fits: bool,
    /// What was compared, a line per quota.
    pub text: String,
    /// When it does not fit: how many fit, what to raise, the alternatives.
    pub advice: String,
}

/// A quota's value and where it came from.
struct Value {
    limit: f64,
    source: &'static str,
    /// Refuse when exceeded (not for an undocumented default, nor on an emulator).
    enforced: bool,
}

async fn quota_value(c: &Clients, kind: Kind, overrides: &[(String, f64)]) -> Value {
    if let Some((_, n)) = overrides
        .iter()
        .find(|(name, _)| name == kind.flag() || name.eq_ignore_ascii_case(kind.code()))
    {
        return Value {
            limit: *n,
            source: "--quota",
            enforced: true,
        };
    }
    let enforced = !c.emulated || !overrides.is_empty();
    let documented = Value {
        limit: kind.documented(),
        source: "documented default",
        enforced: enforced && kind != Kind::Vcpus,
    };
    // An emulator enforces no quota and may not answer for them (moto's server fails
    // `GetAWSDefaultServiceQuota`, and the retry held every class's start for seconds).
    if c.emulated {
        return documented;
    }
    // An answer or not, quickly: the preflight falls back to documented defaults.
    let sq = aws_sdk_servicequotas::Client::new(&super::client::quick(&c.config, 10));
    let (service, code) = (kind.service(), kind.code());
    let applied = sq
        .get_service_quota()
        .service_code(service)
        .quota_code(code);
    let found = if let Some(limit) = applied.send().await.ok().and_then(|o| o.quota()?.value()) {
        Some((limit, "Service Quotas"))
    } else {
        let default = sq.get_aws_default_service_quota();
        let default = default.service_code(service).quota_code(code).send().await;
        default
            .ok()
            .and_then(|o| Some((o.quota()?.value()?, "AWS default")))
    };
    match found {
        Some((limit, source)) => Value {
            limit,
            source,
            enforced,
        },
        None => documented,
    }
}

/// vCPUs per instance type, from `DescribeInstanceTypes`.
async fn vcpus(c: &Clients, types: &[String]) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    if types.is_empty() {
        return out;
    }
    let Ok(answer) = c
        .ec2
        .describe_instance_types()
        .set_instance_types(Some(
            types
                .iter()
                .map(|t| aws_sdk_ec2::types::InstanceType::from(t.as_str()))
                .collect(),
        ))
        .send()
        .await
    else {
        return out;
    };
    for t in answer.instance_types() {
        if let (Some(kind), Some(n)) = (
            t.instance_type(),
            t.v_cpu_info()
                .and_then(aws_sdk_ec2::types::VCpuInfo::default_v_cpus),
        ) {
            out.insert(kind.as_str().to_owned(), u32::try_from(n).unwrap_or(2));
        }
    }
    out
}

/// What exists already in the clients' account and region, for each quota.
async fn in_use(
    c: &Clients,
    vcpus: &HashMap<String, u32>,
) -> Result<HashMap<Kind, u32>, ActionError> {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let mut used = HashMap::new();
    let vpcs = pages!(c.ec2.describe_vpcs(), "DescribeVpcs");
    used.insert(Kind::Vpcs, count(vpcs.len()));
    let igws = pages!(
        c.ec2.describe_internet_gateways(),
        "DescribeInternetGateways"
    );
    used.insert(Kind::InternetGateways, count(igws.len()));
    let lbs = super::elbv2::all_load_balancers(c).await?;
    let albs = lbs
        .iter()
        .filter(|lb| {
            lb.r#type()
                == Some(&aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Application)
        })
        .count();
    used.insert(Kind::LoadBalancers, count(albs));
    let running_now = aws_sdk_ec2::types::Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .build();
    let reservations = pages!(
        c.ec2.describe_instances().filters(running_now),
        "DescribeInstances"
    );
    let running: u32 = reservations
        .iter()
        .flat_map(aws_sdk_ec2::types::Reservation::instances)
        .filter_map(|i| i.instance_type().map(|t| t.as_str().to_owned()))
        .filter(|t| standard(t))
        .map(|t| vcpus.get(&t).copied().unwrap_or(2))
        .sum();
    used.insert(Kind::Vcpus, running);
    Ok(used)
}

/// Compare each account and region's labs with its quotas.
pub async fn preflight(
    labs: &[(Need, &Clients)],
    overrides: &[(String, f64)],
) -> Result<Report, ActionError> {
    // Labs grouped by their clients: one group per account and region.
    let mut groups: Vec<(&Clients, Vec<&Need>)> = Vec::new();
    for (need, c) in labs {
        match groups.iter_mut().find(|(g, _)| std::ptr::eq(*g, *c)) {
            Some((_, needs)) => needs.push(need),
            None => groups.push((c, vec![need])),
        }
    }
    let mut text = String::new();
    let mut advice = Vec::new();
    let mut fits = true;
    for (c, needs) in groups {
        let mut types: Vec<String> = needs
            .iter()
            .flat_map(|n| n.instances.iter().map(|(t, _)| t.clone()))
            .collect();
        types.sort();
        types.dedup();
        let vcpus = vcpus(c, &types).await;
        // Every quota at once: each lookup may wait for a retry or fall back to a second call.
        let (used, values) = futures::join!(
            in_use(c, &vcpus),
            futures::future::join_all(Kind::ALL.map(|kind| quota_value(c, kind, overrides)))
        );
        let used = used?;
        let labs_here = needs.len();
        let _ = writeln!(
            text,
            "Quotas in {}{} for {}:",
            c.region,
            if c.emulated {
                " (the emulator: it enforces none)"
            } else {
                ""
            },
            crate::runbook::suggest::count(labs_here, "new lab")
        );
        let mut room = labs_here;
        let mut short = Vec::new();
        for (kind, value) in Kind::ALL.into_iter().zip(values) {
            let per_lab: Vec<u32> = needs.iter().map(|n| kind.per_lab(n, &vcpus)).collect();
            let total: u32 = per_lab.iter().sum();
            if total == 0 {
                continue;
            }
            let in_use = used.get(&kind).copied().unwrap_or(0);
            let free = (value.limit - f64::from(in_use)).max(0.0);
            // Labs that fit, taken in roster order.
            let mut left = free;
            let fit = per_lab
                .iter()
                .take_while(|n| {
                    left -= f64::from(**n);
                    left >= 0.0
                })
                .count();
            let _ = writeln!(
                text,
                "  {} ({}): {} needed, {} in use, quota {} ({}){}",
                kind.title(),
                kind.code(),
                total,
                in_use,
                value.limit,
                value.source,
                if fit < labs_here {
                    format!(": room for {}", crate::runbook::suggest::count(fit, "lab"))
                } else {
                    String::new()
                }
            );
            if fit < labs_here {
                if value.enforced {
                    room = room.min(fit);
                    short.push((kind, f64::from(in_use) + f64::from(total)));
                } else if kind == Kind::Vcpus {
                    let _ = writeln!(
                        text,
                        "  warning: the vCPU quota could not be read; a new account's can be as low as 5. If labs fail with VcpuLimitExceeded, ask for {} ({})",
                        f64::from(in_use) + f64::from(total),
                        kind.code()
                    );
                }
            }
        }
        if !short.is_empty() {
            fits = false;
            let mut a = if labs_here == 1 {
                format!("The lab does not fit in {}. Raise ", c.region)
            } else {
                format!("{room} of {labs_here} students fit in {}. Raise ", c.region)
            };
            let raises: Vec<String> = short
                .iter()
                .map(|(k, want)| {
                    format!(
                        "{} ({}, service {}) to at least {want} (aws service-quotas request-service-quota-increase --service-code {} --quota-code {} --desired-value {want})",
                        k.title(),
                        k.code(),
                        k.service(),
                        k.service(),
                        k.code()
                    )
                })
                .collect();
            a.push_str(&raises.join("; and "));
            a.push_str(if labs_here == 1 {
                ", or run it in another region (--region) or account (--profile)"
            } else {
                ", or spread the class: a `region` column puts students in other regions, a `role_arn` (or `profile`) column gives each student an account of their own"
            });
            advice.push(a);
        }
    }
    Ok(Report {
        fits,
        text,
        advice: advice.join("\n"),
    })
}

#[cfg(test)]
mod tests {
    /// Each region's part of a lab counts what goes there; a region with nothing to count is
    /// left out, and the run's own region comes first.
    #[test]
    fn a_lab_in_two_regions_needs_each_regions_part_there() {
        use serde_json::json;
        let vpc = json!({"cidr": "10.0.0.0/16", "name": "a"});
        let gateway = json!({"vpc_id": "vpc-1", "name": "a"});
        let web = json!({"instance_type": "t3.micro", "count": 2});
        let zone = json!({"name": "example.org"});
        let steps = [
            ("aws.ec2.create_vpc", &vpc, Some("ap-south-1")),
            (
                "aws.ec2.create_internet_gateway",
                &gateway,
                Some("ap-south-1"),
            ),
            ("aws.ec2.run_instances", &web, Some("ap-south-1")),
            ("aws.ec2.create_vpc", &vpc, Some("us-east-1")),
            ("aws.route53.hosted_zone", &zone, None),
        ];
        let parts = need_by_region(steps);
        let regions: Vec<Option<&str>> = parts.iter().map(|(r, _)| *r).collect();
        assert_eq!(regions, [Some("ap-south-1"), Some("us-east-1")]);
        assert_eq!(parts[0].1.vpcs, 1);
        assert_eq!(parts[0].1.internet_gateways, 1);
        assert_eq!(parts[0].1.instances, [("t3.micro".to_owned(), 2)]);
        assert_eq!(parts[1].1.vpcs, 1);
        assert!(parts[1].1.instances.is_empty());
        let home = need_by_region([("aws.ec2.create_vpc", &vpc, None)]);
        assert_eq!(home.len(), 1);
        assert_eq!(home[0].0, None);
    }

    use super::*;

    #[test]
    fn quota_overrides_take_names_or_codes() {
        assert_eq!(parse_override("vpcs=20").unwrap(), ("vpcs".into(), 20.0));
        assert_eq!(
            parse_override("L-1216C47A=64").unwrap(),
            ("L-1216C47A".into(), 64.0)
        );
        let e = parse_override("vpc=3").unwrap_err();
        assert!(e.contains("did you mean `vpcs`"), "{e}");
        assert!(parse_override("vpcs=lots").is_err());
        assert!(parse_override("vpcs").is_err());
    }

    #[test]
    fn only_standard_families_count_against_the_vcpu_quota() {
        assert!(standard("t3.micro"));
        assert!(standard("m5.large"));
        assert!(!standard("g5.xlarge"));
        assert!(!standard("p4d.24xlarge"));
        let need = Need {
            instances: vec![("t3.micro".into(), 2), ("g5.xlarge".into(), 1)],
            ..Need::default()
        };
        let vcpus = HashMap::from([("t3.micro".to_owned(), 2)]);
        assert_eq!(Kind::Vcpus.per_lab(&need, &vcpus), 4);
    }
}
