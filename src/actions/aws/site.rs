//! The lab's stand-in for the internet (`runbook web`'s `/site/DOMAIN/`, on the emulator only):
//! what a visitor of a domain would be answered now. Route 53's choice among the domain's records
//! (the same evaluation `aws.route53.check_failover` makes, health included), that load
//! balancer's healthy targets, and the page their web servers serve, as the runbook declared it
//! (the web-stack module's `page`, kept in the instances' `runbook:page` tag). It only reads.

use aws_sdk_route53::types::ResourceRecordSetFailover;

use super::client::Clients;
use super::route53::{alias_dns, fqdn, records_named};
use super::sdk_error;
use crate::engine::action::ActionError;

/// What a visitor of a domain gets now.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Visit {
    /// The domain, as asked.
    pub domain: String,
    /// The hosted zone that holds it.
    pub zone: String,
    /// Which record Route 53 answers with (`primary`, `secondary`, or `alias` for a lone one),
    /// and why.
    pub record: String,
    pub reason: String,
    /// The load balancer that record names.
    pub load_balancer: Option<String>,
    /// The instance that served the page, and the page; `None` when no target is healthy (a
    /// load balancer answers 503 then).
    pub served: Option<Served>,
}

/// The page one web server serves.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Served {
    pub instance_id: String,
    pub private_ip: String,
    /// The stack it belongs to (its `runbook:stack` tag).
    pub stack: Option<String>,
    /// The page, its `${STACK}`, `${INSTANCE_ID}` and `${PRIVATE_IP}` filled in; `None` when
    /// the instance carries no `runbook:page` tag (it was not made by a web-stack module).
    pub page: Option<String>,
}

/// The page with its variables filled in, as the web server's user data writes it.
pub fn fill(page: &str, stack: &str, instance_id: &str, private_ip: &str) -> String {
    page.replace("${STACK}", stack)
        .replace("${INSTANCE_ID}", instance_id)
        .replace("${PRIVATE_IP}", private_ip)
}

/// What a visitor of `domain` would be answered now. `Ok(None)` when no hosted zone holds the
/// domain, or it has no A record a load balancer answers for.
pub async fn visit(c: &Clients, domain: &str) -> Result<Option<Visit>, ActionError> {
    let name = fqdn(domain).to_lowercase();
    let Some((zone_id, zone)) = zone_of(c, &name).await? else {
        return Ok(None);
    };
    let sets = records_named(c, &zone_id, &name).await?;
    let a: Vec<_> = sets
        .iter()
        .filter(|s| s.name().to_lowercase() == name && s.r#type().as_str() == "A")
        .collect();
    let failover = a.iter().any(|s| s.failover().is_some());
    let (record, reason, chosen) = if failover {
        let params: super::route53::CheckFailoverParams =
            serde_json::from_value(serde_json::json!({"zone_id": zone_id, "name": name}))
                .map_err(|e| ActionError::new(e.to_string()))?;
        let (answer, reason) = super::failover::evaluate(c, &params).await?;
        let role = if answer == "primary" {
            ResourceRecordSetFailover::Primary
        } else {
            ResourceRecordSetFailover::Secondary
        };
        let chosen = a.iter().find(|s| s.failover() == Some(&role)).copied();
        (answer.to_owned(), reason, chosen)
    } else if let [only] = a.as_slice() {
        (
            "alias".to_owned(),
            "the only A record of the name".to_owned(),
            Some(*only),
        )
    } else {
        return Ok(None);
    };
    let Some(dns) = chosen.and_then(|s| s.alias_target()).map(alias_dns) else {
        return Ok(None);
    };
    let mut visit = Visit {
        domain: domain.to_owned(),
        zone,
        record,
        reason,
        load_balancer: None,
        served: None,
    };
    let Some((balancer, healthy)) = super::failover::healthy_behind(c, &dns).await? else {
        return Ok(Some(visit));
    };
    visit.load_balancer = Some(balancer);
    // A load balancer spreads requests over its healthy targets: any one of them.
    let Some(id) = fastrand::choice(&healthy).cloned() else {
        return Ok(Some(visit));
    };
    let c = super::failover::regional(c, &dns);
    let out = c
        .ec2
        .describe_instances()
        .instance_ids(&id)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeInstances", &e))?;
    let Some(instance) = out
        .reservations()
        .iter()
        .flat_map(aws_sdk_ec2::types::Reservation::instances)
        .next()
    else {
        return Ok(Some(visit));
    };
    let tag = |key: &str| {
        instance
            .tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
            .map(str::to_owned)
    };
    let private_ip = instance.private_ip_address().unwrap_or_default().to_owned();
    let stack = tag("runbook:stack");
    let page = tag("runbook:page").map(|page| {
        fill(
            &page,
            stack.as_deref().unwrap_or_default(),
            &id,
            &private_ip,
        )
    });
    visit.served = Some(Served {
        instance_id: id,
        private_ip,
        stack,
        page,
    });
    Ok(Some(visit))
}

/// The public hosted zone that holds `name` (the longest whose name ends it): its id and name.
async fn zone_of(c: &Clients, name: &str) -> Result<Option<(String, String)>, ActionError> {
    let mut best: Option<(String, String)> = None;
    let mut marker: Option<String> = None;
    loop {
        let out = c
            .route53
            .list_hosted_zones()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| sdk_error("ListHostedZones", &e))?;
        for z in out.hosted_zones() {
            let zone = z.name().to_lowercase();
            let private = z
                .config()
                .is_some_and(aws_sdk_route53::types::HostedZoneConfig::private_zone);
            let holds = name == zone || name.ends_with(&format!(".{zone}"));
            if holds && !private && best.as_ref().is_none_or(|(_, b)| zone.len() > b.len()) {
                best = Some((super::route53::bare_id(z.id()), zone));
            }
        }
        if !out.is_truncated() {
            return Ok(best);
        }
        marker = out.next_marker().map(str::to_owned);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_is_filled_in_as_the_user_data_writes_it() {
        assert_eq!(
            super::fill(
                "<h1>${STACK}</h1><p>${INSTANCE_ID} ${PRIVATE_IP}</p>",
                "primary",
                "i-1",
                "10.0.1.5"
            ),
            "<h1>primary</h1><p>i-1 10.0.1.5</p>"
        );
    }
}
