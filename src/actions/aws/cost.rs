//! What the resources a step creates cost per hour on AWS, roughly: a small price table for the
//! resource types the labs use, at us-east-1 On-Demand list prices (other regions cost up to about
//! 20% more). It is an estimate for the walkthrough's "what this costs" line, not a bill.

/// Public IPv4 addresses, per address and hour.
const PUBLIC_IPV4: f64 = 0.005;

/// Linux On-Demand per hour, us-east-1.
fn instance_price(kind: &str) -> Option<f64> {
    Some(match kind {
        "t3.nano" => 0.0052,
        "t3.micro" => 0.0104,
        "t3.small" => 0.0208,
        "t3.medium" => 0.0416,
        "t2.micro" => 0.0116,
        "t2.small" => 0.023,
        "t4g.micro" => 0.0084,
        "t4g.small" => 0.0168,
        "m5.large" => 0.096,
        _ => return None,
    })
}

/// What `count` instances of a type cost per hour, each with a public IPv4 address.
pub fn instances(kind: &str, count: u32) -> (f64, String) {
    let n = f64::from(count);
    match instance_price(kind) {
        Some(price) => (
            n * (price + PUBLIC_IPV4),
            format!("{count} × {kind} with a public IPv4 address"),
        ),
        None => (
            n * PUBLIC_IPV4,
            format!("{count} × {kind} (not in the price table: add its hourly price)"),
        ),
    }
}

/// An Application Load Balancer: $0.0225 an hour, one capacity unit at $0.008, a public IPv4
/// address in each of two zones.
pub const LOAD_BALANCER: f64 = 0.0225 + 0.008 + 2.0 * PUBLIC_IPV4;

/// A hosted zone or a health check: $0.50 a month (a zone is not charged if deleted within 12
/// hours).
pub const MONTHLY_HALF_DOLLAR: f64 = 0.50 / 730.0;

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn instances_count_their_type_and_address() {
        let (price, what) = crate::actions::hourly(
            "aws.ec2.run_instances",
            &json!({"instance_type": "t3.micro", "count": 2}),
        )
        .unwrap();
        assert!((price - 2.0 * 0.0154).abs() < 1e-9, "{price}");
        assert_eq!(what, "2 × t3.micro with a public IPv4 address");
        assert!(crate::actions::hourly("aws.ec2.create_vpc", &json!({})).is_none());
    }
}
