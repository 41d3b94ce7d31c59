//! The AWS CLI commands that do by hand what each AWS action does, from its rendered parameters:
//! the walkthrough shows them before a step runs, so that a newcomer can repeat it later. Values
//! that AWS returns on the way (an id) appear as `$NAME` shell variables.

use serde_json::Value as Json;

/// A parameter as text (`?` when missing, as in a plan with unknown values).
fn s(p: &Json, key: &str) -> String {
    match &p[key] {
        Json::String(v) => v.clone(),
        Json::Null => "?".to_owned(),
        other => other.to_string(),
    }
}

/// Quote for a POSIX shell when needed.
fn q(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn list(p: &Json, key: &str) -> Vec<String> {
    p[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn name_tag(kind: &str, name: &str) -> String {
    q(&format!(
        "ResourceType={kind},Tags=[{{Key=Name,Value={name}}}]"
    ))
}

pub fn create_vpc(p: &Json) -> Vec<String> {
    vec![
        format!(
            "VPC_ID=$(aws ec2 create-vpc --cidr-block {} --tag-specifications {} --query Vpc.VpcId --output text)",
            s(p, "cidr"),
            name_tag("vpc", &s(p, "name"))
        ),
        "aws ec2 modify-vpc-attribute --vpc-id $VPC_ID --enable-dns-hostnames '{\"Value\":true}'"
            .to_owned(),
    ]
}

pub fn create_subnet(p: &Json) -> Vec<String> {
    let mut out = vec![format!(
        "SUBNET_ID=$(aws ec2 create-subnet --vpc-id {} --cidr-block {} --availability-zone {} --query Subnet.SubnetId --output text)",
        q(&s(p, "vpc_id")),
        s(p, "cidr"),
        q(&s(p, "availability_zone"))
    )];
    if p["public"].as_bool() == Some(true) {
        out.push(
            "aws ec2 modify-subnet-attribute --subnet-id $SUBNET_ID --map-public-ip-on-launch"
                .to_owned(),
        );
    }
    out
}

pub fn create_internet_gateway(p: &Json) -> Vec<String> {
    vec![
        "IGW_ID=$(aws ec2 create-internet-gateway --query InternetGateway.InternetGatewayId --output text)".to_owned(),
        format!(
            "aws ec2 attach-internet-gateway --internet-gateway-id $IGW_ID --vpc-id {}",
            q(&s(p, "vpc_id"))
        ),
    ]
}

pub fn create_route_table(p: &Json) -> Vec<String> {
    let mut out = vec![format!(
        "RTB_ID=$(aws ec2 create-route-table --vpc-id {} --query RouteTable.RouteTableId --output text)",
        q(&s(p, "vpc_id"))
    )];
    for route in p["routes"].as_array().into_iter().flatten() {
        out.push(format!(
            "aws ec2 create-route --route-table-id $RTB_ID --destination-cidr-block {} --gateway-id {}",
            s(route, "destination"),
            q(&s(route, "gateway_id"))
        ));
    }
    for subnet in list(p, "subnet_ids") {
        out.push(format!(
            "aws ec2 associate-route-table --route-table-id $RTB_ID --subnet-id {}",
            q(&subnet)
        ));
    }
    out
}

pub fn create_security_group(p: &Json) -> Vec<String> {
    let mut out = vec![format!(
        "SG_ID=$(aws ec2 create-security-group --vpc-id {} --group-name {} --description {} --query GroupId --output text)",
        q(&s(p, "vpc_id")),
        q(&s(p, "name")),
        q(&s(p, "description"))
    )];
    for rule in p["ingress"].as_array().into_iter().flatten() {
        let source = if rule["source_security_group_id"].is_string() {
            format!("--source-group {}", q(&s(rule, "source_security_group_id")))
        } else {
            format!("--cidr {}", s(rule, "cidr"))
        };
        let protocol = rule["protocol"].as_str().unwrap_or("tcp");
        out.push(format!(
            "aws ec2 authorize-security-group-ingress --group-id $SG_ID --protocol {protocol} --port {} {source}",
            s(rule, "port")
        ));
    }
    out
}

pub fn find_zones(p: &Json) -> Vec<String> {
    let mut out = vec![
        "aws ec2 describe-availability-zones --filters Name=zone-type,Values=availability-zone --query 'AvailabilityZones[].[ZoneName,ZoneId]' --output text".to_owned(),
    ];
    if let Some(kind) = p["instance_type"].as_str() {
        out.push(format!(
            "aws ec2 describe-instance-type-offerings --location-type availability-zone --filters Name=instance-type,Values={} --query 'InstanceTypeOfferings[].Location' --output text",
            q(kind)
        ));
    }
    out
}

pub fn find_image(p: &Json) -> Vec<String> {
    let pattern = p["name_pattern"]
        .as_str()
        .unwrap_or("al2023-ami-2023.*-x86_64");
    let owner = p["owner"].as_str().unwrap_or("amazon");
    vec![format!(
        "aws ec2 describe-images --owners {owner} --filters Name=name,Values={} --query 'sort_by(Images, &CreationDate)[-1].ImageId' --output text",
        q(pattern)
    )]
}

pub fn run_instances(p: &Json) -> Vec<String> {
    let groups = list(p, "security_group_ids").join(" ");
    let mut cmd = format!(
        "INSTANCE_IDS=$(aws ec2 run-instances --image-id {} --instance-type {} --count {} --subnet-id {} --security-group-ids {} --tag-specifications {}",
        q(&s(p, "image_id")),
        q(p["instance_type"].as_str().unwrap_or("t3.micro")),
        p["count"].as_u64().unwrap_or(1),
        q(&s(p, "subnet_id")),
        groups,
        name_tag("instance", &s(p, "name"))
    );
    // The AWS CLI base64-encodes the script itself.
    if let Some(script) = p["user_data"].as_str() {
        cmd.push_str(" --user-data ");
        cmd.push_str(&q(script));
    }
    cmd.push_str(" --query 'Instances[].InstanceId' --output text)");
    let mut out = vec![cmd];
    if p["wait"].as_bool() != Some(false) {
        out.push("aws ec2 wait instance-running --instance-ids $INSTANCE_IDS".to_owned());
    }
    out
}

pub fn wait_instances(p: &Json) -> Vec<String> {
    let state = p["state"].as_str().unwrap_or("running");
    let waiter = match state {
        "stopped" => "instance-stopped",
        "terminated" => "instance-terminated",
        _ => "instance-running",
    };
    vec![format!(
        "aws ec2 wait {waiter} --instance-ids {}",
        list(p, "instance_ids").join(" ")
    )]
}

pub fn stop_instances(p: &Json) -> Vec<String> {
    let ids = list(p, "instance_ids").join(" ");
    vec![
        format!("aws ec2 stop-instances --instance-ids {ids}"),
        format!("aws ec2 wait instance-stopped --instance-ids {ids}"),
    ]
}

pub fn start_instances(p: &Json) -> Vec<String> {
    let ids = list(p, "instance_ids").join(" ");
    vec![
        format!("aws ec2 start-instances --instance-ids {ids}"),
        format!("aws ec2 wait instance-running --instance-ids {ids}"),
    ]
}

pub fn create_target_group(p: &Json) -> Vec<String> {
    let mut cmd = format!(
        "aws elbv2 create-target-group --name {} --protocol {} --port {} --vpc-id {} --target-type instance",
        q(&s(p, "name")),
        p["protocol"].as_str().unwrap_or("HTTP"),
        p["port"].as_u64().unwrap_or(80),
        q(&s(p, "vpc_id"))
    );
    let h = &p["health_check"];
    if h.is_object() {
        cmd.push_str(&format!(
            " --health-check-path {}",
            q(h["path"].as_str().unwrap_or("/"))
        ));
        if let Some(v) = h["interval_seconds"].as_u64() {
            cmd.push_str(&format!(" --health-check-interval-seconds {v}"));
        }
        if let Some(v) = h["unhealthy_threshold"].as_u64() {
            cmd.push_str(&format!(" --unhealthy-threshold-count {v}"));
        }
    }
    vec![cmd]
}

pub fn register_targets(p: &Json) -> Vec<String> {
    let targets: Vec<String> = list(p, "targets")
        .iter()
        .map(|id| format!("Id={id}"))
        .collect();
    vec![format!(
        "aws elbv2 register-targets --target-group-arn {} --targets {}",
        q(&s(p, "target_group_arn")),
        targets.join(" ")
    )]
}

pub fn create_load_balancer(p: &Json) -> Vec<String> {
    let scheme = p["scheme"].as_str().unwrap_or("internet-facing");
    let mut out = vec![format!(
        "LB_ARN=$(aws elbv2 create-load-balancer --name {} --type application --scheme {scheme} --subnets {} --security-groups {} --query 'LoadBalancers[0].LoadBalancerArn' --output text)",
        q(&s(p, "name")),
        list(p, "subnet_ids").join(" "),
        list(p, "security_group_ids").join(" ")
    )];
    if p["wait"].as_bool() != Some(false) {
        out.push("aws elbv2 wait load-balancer-available --load-balancer-arns $LB_ARN".to_owned());
    }
    out
}

pub fn wait_load_balancer(p: &Json) -> Vec<String> {
    vec![format!(
        "aws elbv2 wait load-balancer-available --load-balancer-arns {}",
        q(&s(p, "arn"))
    )]
}

pub fn create_listener(p: &Json) -> Vec<String> {
    vec![format!(
        "aws elbv2 create-listener --load-balancer-arn {} --protocol {} --port {} --default-actions Type=forward,TargetGroupArn={}",
        q(&s(p, "load_balancer_arn")),
        p["protocol"].as_str().unwrap_or("HTTP"),
        p["port"].as_u64().unwrap_or(80),
        q(&s(p, "target_group_arn"))
    )]
}

pub fn wait_target_health(p: &Json) -> Vec<String> {
    let arn = q(&s(p, "target_group_arn"));
    match p["state"].as_str() {
        Some("healthy") => vec![format!(
            "aws elbv2 wait target-in-service --target-group-arn {arn}"
        )],
        _ => vec![format!(
            "aws elbv2 describe-target-health --target-group-arn {arn} --query 'TargetHealthDescriptions[].TargetHealth.State'   # repeat until it shows {}",
            p["state"].as_str().unwrap_or("the state")
        )],
    }
}

pub fn hosted_zone(p: &Json) -> Vec<String> {
    let name = q(&s(p, "name"));
    vec![
        format!(
            "aws route53 list-hosted-zones-by-name --dns-name {name} --max-items 1   # use it if it exists"
        ),
        format!("aws route53 create-hosted-zone --name {name} --caller-reference \"$(date +%s)\""),
    ]
}

fn record_change(p: &Json, routing: &str) -> Vec<String> {
    let alias = &p["alias"];
    let record = format!(
        "{{\"Changes\":[{{\"Action\":\"UPSERT\",\"ResourceRecordSet\":{{\"Name\":\"{}\",\"Type\":\"{}\",\"SetIdentifier\":\"{}\",{routing},\"AliasTarget\":{{\"DNSName\":\"{}\",\"HostedZoneId\":\"{}\",\"EvaluateTargetHealth\":{}}}}}}}]}}",
        s(p, "name"),
        p["type"].as_str().unwrap_or("A"),
        s(p, "set_identifier"),
        s(alias, "dns_name"),
        s(alias, "hosted_zone_id"),
        alias["evaluate_target_health"].as_bool().unwrap_or(true)
    );
    vec![format!(
        "aws route53 change-resource-record-sets --hosted-zone-id {} --change-batch {}",
        q(&s(p, "zone_id")),
        q(&record)
    )]
}

pub fn failover_record(p: &Json) -> Vec<String> {
    let role = p["role"].as_str().unwrap_or("primary").to_uppercase();
    record_change(p, &format!("\"Failover\":\"{role}\""))
}

pub fn weighted_record(p: &Json) -> Vec<String> {
    record_change(p, &format!("\"Weight\":{}", s(p, "weight")))
}

pub fn health_check(p: &Json) -> Vec<String> {
    let config = format!(
        "{{\"Type\":\"HTTP\",\"FullyQualifiedDomainName\":\"{}\",\"Port\":{},\"ResourcePath\":\"{}\",\"RequestInterval\":{},\"FailureThreshold\":{}}}",
        s(p, "fqdn"),
        p["port"].as_u64().unwrap_or(80),
        p["path"].as_str().unwrap_or("/"),
        p["interval_seconds"].as_u64().unwrap_or(30),
        p["failure_threshold"].as_u64().unwrap_or(3)
    );
    vec![format!(
        "aws route53 create-health-check --caller-reference \"$(date +%s)\" --health-check-config {}",
        q(&config)
    )]
}

pub fn wait_change(p: &Json) -> Vec<String> {
    vec![format!(
        "aws route53 wait resource-record-sets-changed --id {}",
        q(&s(p, "change_id"))
    )]
}

pub fn check_failover(p: &Json) -> Vec<String> {
    let zone = q(&s(p, "zone_id"));
    let name = q(&s(p, "name"));
    vec![
        format!("aws route53 list-resource-record-sets --hosted-zone-id {zone} --query \"ResourceRecordSets[?Name=='{}.']\"", s(p, "name").trim_end_matches('.')),
        "# and for each record's load balancer: aws elbv2 describe-target-health --target-group-arn ARN".to_owned(),
        format!("aws route53 test-dns-answer --hosted-zone-id {zone} --record-name {name} --record-type {}", p["type"].as_str().unwrap_or("A")),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn commands_use_the_rendered_parameters_and_quote_for_the_shell() {
        let vpc = super::create_vpc(&json!({"cidr": "10.0.0.0/16", "name": "lab-primary"}));
        assert_eq!(
            vpc[0],
            "VPC_ID=$(aws ec2 create-vpc --cidr-block 10.0.0.0/16 --tag-specifications 'ResourceType=vpc,Tags=[{Key=Name,Value=lab-primary}]' --query Vpc.VpcId --output text)"
        );
        let sg = super::create_security_group(&json!({
            "vpc_id": "vpc-1", "name": "web", "description": "HTTP from the load balancer's group",
            "ingress": [{"port": 80, "source_security_group_id": "sg-9"}]
        }));
        assert!(
            sg[0].contains("--description 'HTTP from the load balancer'\\''s group'"),
            "{}",
            sg[0]
        );
        assert!(
            sg[1].ends_with("--protocol tcp --port 80 --source-group sg-9"),
            "{}",
            sg[1]
        );
        let record = super::failover_record(&json!({
            "zone_id": "Z1", "name": "example.com", "role": "secondary", "set_identifier": "secondary",
            "alias": {"dns_name": "b.elb.amazonaws.com", "hosted_zone_id": "ZP97RAFLXTNZK", "evaluate_target_health": true}
        }));
        assert!(
            record[0].contains("\"Failover\":\"SECONDARY\""),
            "{}",
            record[0]
        );
        assert!(
            record[0].contains("\"HostedZoneId\":\"ZP97RAFLXTNZK\""),
            "{}",
            record[0]
        );
    }
}
