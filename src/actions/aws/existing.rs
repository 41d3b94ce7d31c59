//! What a record step finds where it is to write: the records at its name and type that the run
//! did not write. Writing over one of them would change a live site's answers and, on rollback,
//! delete a record nobody can get back; so a record step refuses them, unless told to take them
//! over (`on_existing: adopt`): then it keeps an exact copy of each in its journal, and its undo
//! puts them back as they were.

use aws_sdk_route53::types::{
    AliasTarget, ResourceRecord, ResourceRecordSet, ResourceRecordSetFailover,
    ResourceRecordSetRegion, RrType,
};
use serde_json::{Value as Json, json};

use crate::engine::action::ActionError;

/// What a record step does with a record already at its name and type.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OnExisting {
    /// Stop before writing anything, showing the record that is there.
    #[default]
    Refuse,
    /// Take it over: replace it, and put it back exactly as it was on rollback.
    Adopt,
}

/// The records among `sets` that writing `wanted` would replace or that Route 53 refuses beside
/// it: the one with its set identifier, one with its failover role, and a simple record (no set
/// identifier) of its name and type.
pub fn conflicts<'s>(
    wanted: &ResourceRecordSet,
    sets: &'s [ResourceRecordSet],
) -> Vec<&'s ResourceRecordSet> {
    sets.iter()
        .filter(|s| same_name(s, wanted) && s.r#type() == wanted.r#type())
        .filter(|s| {
            s.set_identifier().is_none()
                || s.set_identifier() == wanted.set_identifier()
                || (wanted.failover().is_some() && s.failover() == wanted.failover())
        })
        .collect()
}

fn same_name(a: &ResourceRecordSet, b: &ResourceRecordSet) -> bool {
    a.name()
        .trim_end_matches('.')
        .eq_ignore_ascii_case(b.name().trim_end_matches('.'))
}

/// The same record with the same answers: what a step that wrote `wanted` and was interrupted
/// finds when it is taken up again.
pub fn same(a: &ResourceRecordSet, b: &ResourceRecordSet) -> bool {
    let alias = |s: &ResourceRecordSet| {
        s.alias_target().map(|t| {
            (
                super::route53::alias_dns(t),
                t.hosted_zone_id().to_owned(),
                t.evaluate_target_health(),
            )
        })
    };
    let values = |s: &ResourceRecordSet| {
        let mut v: Vec<String> = s
            .resource_records()
            .iter()
            .map(|r| r.value().to_owned())
            .collect();
        v.sort();
        v
    };
    same_name(a, b)
        && a.r#type() == b.r#type()
        && a.set_identifier() == b.set_identifier()
        && a.failover() == b.failover()
        && a.weight() == b.weight()
        && a.health_check_id() == b.health_check_id()
        && alias(a) == alias(b)
        && a.ttl() == b.ttl()
        && values(a) == values(b)
}

/// An exact copy of a record, to put back; or why it cannot be kept exactly (a routing policy
/// this tool does not copy), in words.
pub fn keep(set: &ResourceRecordSet) -> Result<Json, String> {
    if set.geo_location().is_some()
        || set.geo_proximity_location().is_some()
        || set.cidr_routing_config().is_some()
        || set.traffic_policy_instance_id().is_some()
    {
        return Err("it uses geolocation, geoproximity, IP-based routing or a traffic policy, which this tool cannot copy exactly to put back".to_owned());
    }
    Ok(json!({
        "name": set.name(),
        "type": set.r#type().as_str(),
        "set_identifier": set.set_identifier(),
        "failover": set.failover().map(ResourceRecordSetFailover::as_str),
        "weight": set.weight(),
        "region": set.region().map(ResourceRecordSetRegion::as_str),
        "multi_value_answer": set.multi_value_answer(),
        "ttl": set.ttl(),
        "values": set.resource_records().iter().map(ResourceRecord::value).collect::<Vec<_>>(),
        "alias": set.alias_target().map(|a| json!({
            "dns_name": a.dns_name(),
            "hosted_zone_id": a.hosted_zone_id(),
            "evaluate_target_health": a.evaluate_target_health(),
        })),
        "health_check_id": set.health_check_id(),
    }))
}

/// The record a copy made by [`keep`] describes.
pub fn restore(kept: &Json) -> Result<ResourceRecordSet, ActionError> {
    let text = |k: &str| kept[k].as_str().map(str::to_owned);
    let broken = |what: &str| ActionError::new(format!("the journal's copy of a record {what}"));
    let mut b = ResourceRecordSet::builder()
        .name(text("name").ok_or_else(|| broken("has no name"))?)
        .r#type(RrType::from(
            text("type").ok_or_else(|| broken("has no type"))?.as_str(),
        ))
        .set_set_identifier(text("set_identifier"))
        .set_failover(text("failover").map(|f| ResourceRecordSetFailover::from(f.as_str())))
        .set_weight(kept["weight"].as_i64())
        .set_region(text("region").map(|r| ResourceRecordSetRegion::from(r.as_str())))
        .set_multi_value_answer(kept["multi_value_answer"].as_bool())
        .set_ttl(kept["ttl"].as_i64())
        .set_health_check_id(text("health_check_id"));
    for value in kept["values"].as_array().into_iter().flatten() {
        let value = value
            .as_str()
            .ok_or_else(|| broken("has a value that is not text"))?;
        b = b.resource_records(
            ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(|e| broken(&format!("could not be rebuilt: {e}")))?,
        );
    }
    if let Some(alias) = kept["alias"].as_object() {
        let field = |k: &str| alias.get(k).and_then(Json::as_str).unwrap_or_default();
        b = b.alias_target(
            AliasTarget::builder()
                .dns_name(field("dns_name"))
                .hosted_zone_id(field("hosted_zone_id"))
                .evaluate_target_health(
                    alias
                        .get("evaluate_target_health")
                        .and_then(Json::as_bool)
                        .unwrap_or(false),
                )
                .build()
                .map_err(|e| broken(&format!("could not be rebuilt: {e}")))?,
        );
    }
    b.build()
        .map_err(|e| broken(&format!("could not be rebuilt: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(set_id: Option<&str>, role: Option<&str>, dns: &str) -> ResourceRecordSet {
        let mut b = ResourceRecordSet::builder()
            .name("shop.example.org.")
            .r#type(RrType::A)
            .set_set_identifier(set_id.map(str::to_owned))
            .set_failover(role.map(ResourceRecordSetFailover::from));
        b = if dns.is_empty() {
            b.ttl(300).resource_records(
                ResourceRecord::builder()
                    .value("192.0.2.10")
                    .build()
                    .unwrap(),
            )
        } else {
            b.alias_target(
                AliasTarget::builder()
                    .dns_name(dns)
                    .hosted_zone_id("ZP97RAFLXTNZK")
                    .evaluate_target_health(true)
                    .build()
                    .unwrap(),
            )
        };
        b.build().unwrap()
    }

    /// A record conflicts by its set identifier, its failover role, or by being a simple record;
    /// the other role's record, and other names, do not.
    #[test]
    fn what_a_failover_record_would_replace_or_be_refused_beside() {
        let wanted = record(
            Some("shop-primary"),
            Some("PRIMARY"),
            "a.ap-south-1.elb.amazonaws.com",
        );
        let same_id = record(
            Some("shop-primary"),
            Some("SECONDARY"),
            "b.elb.amazonaws.com",
        );
        let same_role = record(Some("old-primary"), Some("PRIMARY"), "c.elb.amazonaws.com");
        let other_role = record(
            Some("shop-secondary"),
            Some("SECONDARY"),
            "d.elb.amazonaws.com",
        );
        let simple = record(None, None, "");
        let sets = vec![
            same_id.clone(),
            same_role.clone(),
            other_role,
            simple.clone(),
        ];
        let found = conflicts(&wanted, &sets);
        assert_eq!(found, [&same_id, &same_role, &simple]);
        let mut www = ResourceRecordSet::builder()
            .name("www.example.org.")
            .r#type(RrType::A);
        www = www.ttl(60).resource_records(
            ResourceRecord::builder()
                .value("192.0.2.1")
                .build()
                .unwrap(),
        );
        assert!(conflicts(&wanted, &[www.build().unwrap()]).is_empty());
        assert!(same(&wanted, &wanted.clone()));
        assert!(!same(&wanted, &same_role));
    }

    /// A record kept in the journal comes back exactly as it was, alias or values; a routing
    /// policy the copy cannot hold is refused rather than put back wrong.
    #[test]
    fn a_kept_record_is_put_back_exactly() {
        for set in [
            record(
                Some("old"),
                Some("PRIMARY"),
                "old-alb-1.us-east-1.elb.amazonaws.com",
            ),
            record(None, None, ""),
        ] {
            let kept = keep(&set).unwrap();
            let back = restore(&serde_json::from_str(&kept.to_string()).unwrap()).unwrap();
            assert_eq!(back, set);
        }
        let geo = ResourceRecordSet::builder()
            .name("shop.example.org.")
            .r#type(RrType::A)
            .set_identifier("eu")
            .geo_location(
                aws_sdk_route53::types::GeoLocation::builder()
                    .continent_code("EU")
                    .build(),
            )
            .ttl(60)
            .resource_records(
                ResourceRecord::builder()
                    .value("192.0.2.1")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert!(keep(&geo).unwrap_err().contains("geolocation"));
        assert!(restore(&json!({"type": "A"})).is_err());
    }
}
