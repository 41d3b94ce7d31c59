//! Real AWS behaviours the emulator does not show, as scripted SDK responses (aws-smithy-mocks):
//! each test gives the actions the answers AWS gives and checks what they make of them.
//! Time is paused, so waits and retry windows pass at once.

use std::sync::Mutex;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_types::error::ErrorMetadata;
use serde_json::{Value as Json, json};
use tokio_util::sync::CancellationToken;

use super::client::Clients;
use crate::engine::action::{ActionError, Ask, Context, Outcome, Progress, Resource};

const REGION: &str = "ap-south-1";

/// Status lines and messages an action showed.
#[derive(Default)]
struct Shown(Mutex<Vec<String>>);

impl Progress for Shown {
    fn status(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_owned());
    }

    fn message(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_owned());
    }
}

impl Shown {
    fn any(&self, part: &str) -> bool {
        self.0.lock().unwrap().iter().any(|l| l.contains(part))
    }

    fn all(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

struct Nobody;

impl Ask for Nobody {
    fn confirm(&self, _: &str, _: bool) -> Option<bool> {
        None
    }
}

/// Rules for each service; every call without a rule fails the test's action.
#[derive(Default)]
struct Script {
    ec2: Vec<Rule>,
    elbv2: Vec<Rule>,
    route53: Vec<Rule>,
    real_aws: bool,
}

fn interceptor(rules: &[Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        MockResponseInterceptor::with_rule,
    )
}

impl Script {
    /// Clients that answer from the rules; the SDK's own retries are off, so what is retried is
    /// what the actions retry.
    fn clients(&self) -> Clients {
        let retry = aws_config::retry::RetryConfig::disabled();
        let creds = Credentials::new("AKIDTEST", "secret", None, None, "scripted");
        let region = aws_config::Region::new(REGION);
        let ec2 = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region.clone())
            .credentials_provider(creds.clone())
            .retry_config(retry.clone())
            .http_client(create_mock_http_client())
            .interceptor(interceptor(&self.ec2))
            .build();
        let elbv2 = aws_sdk_elasticloadbalancingv2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region.clone())
            .credentials_provider(creds.clone())
            .retry_config(retry.clone())
            .http_client(create_mock_http_client())
            .interceptor(interceptor(&self.elbv2))
            .build();
        let route53 = aws_sdk_route53::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region.clone())
            .credentials_provider(creds)
            .retry_config(retry)
            .http_client(create_mock_http_client())
            .interceptor(interceptor(&self.route53))
            .build();
        let mut clients = Clients::of(
            aws_sdk_ec2::Client::from_conf(ec2),
            aws_sdk_elasticloadbalancingv2::Client::from_conf(elbv2),
            aws_sdk_route53::Client::from_conf(route53),
            REGION.to_owned(),
            aws_config::SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(region)
                .build(),
        );
        clients.emulated = !self.real_aws;
        clients
    }
}

/// How an action was called: run, reconcile or undo of a resource.
enum Call<'r> {
    Run,
    /// Run as a step whose `timeout:` ends then.
    RunUntil(tokio::time::Instant),
    Undo(&'r Resource),
    /// An exercise's check, comparing these parameters: its answer as the output `by_hand`.
    ByHand(&'r [String]),
}

/// Call the action `name` with `params` against the script.
async fn call(
    script: &Script,
    name: &str,
    params: Json,
    how: Call<'_>,
) -> (Result<Outcome, ActionError>, Shown) {
    let def = crate::actions::find(name).expect("a known action");
    let shown = Shown::default();
    let cancel = CancellationToken::new();
    let clients = script.clients();
    let ctx = Context {
        secrets: &[],
        region: None,
        run_id: "run-1",
        step_id: "step",
        key: "run-1/step",
        params: &params,
        progress: &shown,
        ask: &Nobody,
        yes: true,
        cancel: &cancel,
        labels: &[],
        services: &clients,
        adopting: true,
        solving: false,
        declared: &crate::engine::action::NOTHING_DECLARED,
        journal: None,
        deadline: None,
    };
    let result = match how {
        Call::Run => def.executor.run(&ctx).await,
        Call::RunUntil(deadline) => {
            let ctx = Context {
                deadline: Some(deadline),
                ..ctx
            };
            def.executor.run(&ctx).await
        }
        // An undo's answer (removed or already gone) as the output `undone`.
        Call::Undo(r) => def.executor.undo(&ctx, r).await.map(|how| {
            let mut o = Outcome::default();
            o.outputs.insert("undone".into(), serde_json::json!(how));
            o
        }),
        Call::ByHand(compare) => def.executor.by_hand(&ctx, compare).await.map(|found| {
            let mut o = Outcome::default();
            o.outputs.insert("by_hand".into(), serde_json::json!(found));
            o
        }),
    };
    (result, shown)
}

/// An exercise's check of the action `name` against the script, comparing `compare`: what it
/// found, as JSON (`found`, `differences`, `looked`, `seen`, `outcome`).
async fn by_hand(script: &Script, name: &str, params: Json, compare: &[String]) -> Json {
    let (result, _) = call(script, name, params, Call::ByHand(compare)).await;
    result.expect("the check answers").outputs["by_hand"].clone()
}

fn resource(kind: &str, id: &str) -> Resource {
    Resource {
        kind: kind.to_owned(),
        id: id.to_owned(),
        undo: Json::Null,
        changed: Vec::new(),
        region: None,
    }
}

fn aws_error(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

// ---- EC2 --------------------------------------------------------------------------------------

mod ec2 {
    pub use aws_sdk_ec2::Client;
    pub use aws_sdk_ec2::operation::create_subnet::CreateSubnetError;
    pub use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
    pub use aws_sdk_ec2::operation::create_vpc::{CreateVpcError, CreateVpcOutput};
    pub use aws_sdk_ec2::operation::delete_security_group::{
        DeleteSecurityGroupError, DeleteSecurityGroupOutput,
    };
    pub use aws_sdk_ec2::operation::describe_availability_zones::DescribeAvailabilityZonesOutput;
    pub use aws_sdk_ec2::operation::describe_instance_type_offerings::DescribeInstanceTypeOfferingsOutput;
    pub use aws_sdk_ec2::operation::describe_instances::{
        DescribeInstancesError, DescribeInstancesOutput,
    };
    pub use aws_sdk_ec2::operation::describe_internet_gateways::DescribeInternetGatewaysOutput;
    pub use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
    pub use aws_sdk_ec2::operation::describe_subnets::{
        DescribeSubnetsError, DescribeSubnetsOutput,
    };
    pub use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
    pub use aws_sdk_ec2::operation::modify_vpc_attribute::{
        ModifyVpcAttributeError, ModifyVpcAttributeOutput,
    };
    pub use aws_sdk_ec2::operation::run_instances::RunInstancesError;
    pub use aws_sdk_ec2::types::*;
}

/// AWS keeps a security group busy while the network interfaces of a deleted load balancer or
/// instance are released: the undo says so and is retryable (the engine's rollback retries it
/// for the undo window, tests/engine.rs). "Not found" is "already gone", a delete that
/// succeeded is "removed".
#[tokio::test(start_paused = true)]
async fn a_security_group_in_use_is_a_retryable_undo_error() {
    let busy = mock!(ec2::Client::delete_security_group).then_error(|| {
        ec2::DeleteSecurityGroupError::generic(aws_error(
            "DependencyViolation",
            "resource sg-1 has a dependent object",
        ))
    });
    let script = Script {
        ec2: vec![busy],
        ..Script::default()
    };
    let sg = resource("security group", "sg-1");
    let (result, _) = call(
        &script,
        "aws.ec2.create_security_group",
        Json::Null,
        Call::Undo(&sg),
    )
    .await;
    let err = result.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(
        err.message.contains("DependencyViolation"),
        "{}",
        err.message
    );

    // Once AWS lets go, the same undo succeeds; "not found" also counts as deleted.
    let gone = mock!(ec2::Client::delete_security_group).then_error(|| {
        ec2::DeleteSecurityGroupError::generic(aws_error("InvalidGroup.NotFound", "no sg-1"))
    });
    let script = Script {
        ec2: vec![gone],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.ec2.create_security_group",
        Json::Null,
        Call::Undo(&sg),
    )
    .await;
    assert_eq!(
        result.unwrap().outputs["undone"],
        "already_gone",
        "AWS said not found: already gone, not removed"
    );
    let freed = mock!(ec2::Client::delete_security_group)
        .then_output(|| ec2::DeleteSecurityGroupOutput::builder().build());
    let script = Script {
        ec2: vec![freed],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.ec2.create_security_group",
        Json::Null,
        Call::Undo(&sg),
    )
    .await;
    assert_eq!(result.unwrap().outputs["undone"], "removed");
}

/// A subnet whose range AWS refuses: the message names both ranges.
#[tokio::test(start_paused = true)]
async fn a_subnet_conflict_names_both_ranges() {
    let refused = mock!(ec2::Client::create_subnet).then_error(|| {
        ec2::CreateSubnetError::generic(aws_error(
            "InvalidSubnet.Conflict",
            "The CIDR '10.0.1.0/24' conflicts with another subnet",
        ))
    });
    let vpc = mock!(ec2::Client::describe_vpcs).then_output(|| {
        ec2::DescribeVpcsOutput::builder()
            .vpcs(
                ec2::Vpc::builder()
                    .vpc_id("vpc-1")
                    .cidr_block_association_set(
                        ec2::VpcCidrBlockAssociation::builder()
                            .cidr_block("10.0.0.0/16")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let existing = mock!(ec2::Client::describe_subnets).then_output(|| {
        ec2::DescribeSubnetsOutput::builder()
            .subnets(
                ec2::Subnet::builder()
                    .subnet_id("subnet-old")
                    .cidr_block("10.0.0.0/23")
                    .build(),
            )
            .build()
    });
    let script = Script {
        ec2: vec![refused, vpc, existing],
        ..Script::default()
    };
    let params =
        json!({"vpc_id": "vpc-1", "cidr": "10.0.1.0/24", "availability_zone": "ap-south-1a"});
    let (result, _) = call(&script, "aws.ec2.create_subnet", params, Call::Run).await;
    let err = result.unwrap_err();
    assert!(
        err.message.contains("InvalidSubnet.Conflict"),
        "{}",
        err.message
    );
    let hint = err.hint.unwrap_or_default();
    assert!(
        hint.contains("10.0.1.0/24 overlaps 10.0.0.0/23 of subnet subnet-old in vpc-1"),
        "{hint}"
    );

    // Outside the VPC: the VPC's range is named.
    let outside = mock!(ec2::Client::create_subnet).then_error(|| {
        ec2::CreateSubnetError::generic(aws_error(
            "InvalidSubnet.Range",
            "The CIDR '11.0.1.0/24' is invalid.",
        ))
    });
    let vpc = mock!(ec2::Client::describe_vpcs).then_output(|| {
        ec2::DescribeVpcsOutput::builder()
            .vpcs(
                ec2::Vpc::builder()
                    .cidr_block_association_set(
                        ec2::VpcCidrBlockAssociation::builder()
                            .cidr_block("10.0.0.0/16")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let script = Script {
        ec2: vec![outside, vpc],
        ..Script::default()
    };
    let params =
        json!({"vpc_id": "vpc-1", "cidr": "11.0.1.0/24", "availability_zone": "ap-south-1a"});
    let (result, _) = call(&script, "aws.ec2.create_subnet", params, Call::Run).await;
    let hint = result.unwrap_err().hint.unwrap_or_default();
    assert!(
        hint.contains("11.0.1.0/24 is not inside vpc-1's range 10.0.0.0/16"),
        "{hint}"
    );
}

/// What `aws.ec2.create_vpc` fails with when its `CreateVpc` is answered by `rule`.
async fn create_vpc_failing(rule: Rule) -> ActionError {
    let script = Script {
        ec2: vec![rule],
        ..Script::default()
    };
    let params = json!({"cidr": "10.0.0.0/16", "name": "lab"});
    let (result, _) = call(&script, "aws.ec2.create_vpc", params, Call::Run).await;
    result.expect_err("the create fails")
}

/// Errors are classified by their code: throttling retries; a denied call names the IAM action.
#[tokio::test(start_paused = true)]
async fn throttling_is_retryable_and_a_denied_call_names_the_iam_action() {
    for (code, retryable) in [
        ("RequestLimitExceeded", true),
        ("UnauthorizedOperation", false),
    ] {
        let rule = mock!(ec2::Client::create_vpc).then_error(move || {
            ec2::CreateVpcError::generic(aws_error(code, "You are not authorized / slow down"))
        });
        let err = create_vpc_failing(rule).await;
        assert_eq!(err.retryable, retryable, "{code}");
        if code == "UnauthorizedOperation" {
            assert!(
                err.hint
                    .as_deref()
                    .unwrap_or_default()
                    .contains("`ec2:CreateVpc`"),
                "{err:?}"
            );
        }
    }
}

/// An endpoint that answers with something that is not an AWS answer (an HTML error page, as an
/// emulator gives for a region it does not serve) is told by its status, never by the SDK's whole
/// context, which prints the raw response.
#[tokio::test(start_paused = true)]
async fn an_answer_that_is_not_aws_is_told_by_its_status() {
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_types::body::SdkBody;
    let rule = mock!(ec2::Client::create_vpc).then_http_response(|| {
        HttpResponse::new(
            500.try_into().unwrap(),
            SdkBody::from("<!doctype html>\n<title>500 Internal Server Error</title>\n"),
        )
    });
    let err = create_vpc_failing(rule).await;
    assert!(
        err.message
            .contains("CreateVpc failed: the endpoint answered HTTP 500 with no AWS error in it"),
        "{err:?}"
    );
    assert!(
        !err.message.contains("SdkBody") && !err.message.contains("doctype"),
        "{err:?}"
    );
}

/// Credentials that ran out (an SSO session, a role's hour) and a clock that is minutes off are
/// told apart, each with what sets it right.
#[tokio::test(start_paused = true)]
async fn expired_credentials_and_a_wrong_clock_say_what_sets_them_right() {
    for (code, message, hint) in [
        (
            "ExpiredToken",
            "The security token included in the request is expired",
            "aws sso login",
        ),
        (
            "ExpiredTokenException",
            "The security token included in the request is expired",
            "aws sso login",
        ),
        (
            "RequestExpired",
            "Request has expired.",
            "clock is more than 5 minutes off",
        ),
        (
            "SignatureDoesNotMatch",
            "Signature expired: 20261207T100000Z is now earlier than 20261207T101000Z",
            "clock is more than 5 minutes off",
        ),
    ] {
        let rule = mock!(ec2::Client::create_vpc)
            .then_error(move || ec2::CreateVpcError::generic(aws_error(code, message)));
        let err = create_vpc_failing(rule).await;
        assert!(
            err.hint.as_deref().is_some_and(|h| h.contains(hint)),
            "{code}: {err:?}"
        );
        assert!(!err.retryable, "{code} does not settle by itself");
    }
}

/// A resume after the runbook changed: AWS refuses the old client token with other parameters;
/// what the earlier attempt launched carries the step's key and is adopted.
#[tokio::test(start_paused = true)]
async fn idempotent_parameter_mismatch_adopts_what_the_earlier_attempt_launched() {
    let mismatch = mock!(ec2::Client::run_instances).then_error(|| {
        ec2::RunInstancesError::generic(aws_error(
            "IdempotentParameterMismatch",
            "The client token you have provided is associated with a resource that is already deleted or has different parameters",
        ))
    });
    let running = || {
        ec2::DescribeInstancesOutput::builder()
            .reservations(
                ec2::Reservation::builder()
                    .instances(
                        ec2::Instance::builder()
                            .instance_id("i-earlier")
                            .private_ip_address("10.0.1.5")
                            .tags(
                                ec2::Tag::builder()
                                    .key("runbook:key")
                                    .value("run-1/step")
                                    .build(),
                            )
                            .state(
                                ec2::InstanceState::builder()
                                    .name(ec2::InstanceStateName::Running)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build()
    };
    let found = mock!(ec2::Client::describe_instances).then_output(running);
    let script = Script {
        ec2: vec![mismatch, found],
        ..Script::default()
    };
    let params = json!({
        "image_id": "ami-1", "instance_type": "t3.micro", "subnet_id": "subnet-1",
        "security_group_ids": ["sg-1"], "name": "web", "count": 1
    });
    let (result, _) = call(&script, "aws.ec2.run_instances", params, Call::Run).await;
    let outcome = result.unwrap();
    assert_eq!(outcome.outputs["instance_ids"], json!(["i-earlier"]));
    assert_eq!(outcome.resources.len(), 1);
}

/// EC2 is eventually consistent: right after `CreateVpc`, `ModifyVpcAttribute` may not see the new
/// VPC. The `NotFound` is waited out (twice here), shown on the status line, and the step succeeds
/// with its VPC; a `NotFound` that lasts past the window fails it.
#[tokio::test(start_paused = true)]
async fn not_found_right_after_a_create_is_waited_out() {
    let created = || {
        mock!(ec2::Client::create_vpc).then_output(|| {
            ec2::CreateVpcOutput::builder()
                .vpc(ec2::Vpc::builder().vpc_id("vpc-new").build())
                .build()
        })
    };
    let not_yet = || {
        ec2::ModifyVpcAttributeError::generic(aws_error(
            "InvalidVpcID.NotFound",
            "The vpc ID 'vpc-new' does not exist",
        ))
    };
    let modify = mock!(ec2::Client::modify_vpc_attribute)
        .sequence()
        .error(not_yet)
        .times(2)
        .output(|| ec2::ModifyVpcAttributeOutput::builder().build())
        .build();
    let script = Script {
        ec2: vec![created(), modify.clone()],
        ..Script::default()
    };
    let params = json!({"cidr": "10.0.0.0/16", "name": "lab"});
    let (result, shown) = call(&script, "aws.ec2.create_vpc", params.clone(), Call::Run).await;
    let outcome = result.unwrap();
    assert_eq!(outcome.outputs["vpc_id"], json!("vpc-new"));
    assert_eq!(modify.num_calls(), 3, "two NotFound, then done");
    assert!(
        shown.any("ModifyVpcAttribute: InvalidVpcID.NotFound"),
        "{}",
        shown.all()
    );

    let never = mock!(ec2::Client::modify_vpc_attribute)
        .sequence()
        .error(not_yet)
        .repeatedly()
        .build();
    let script = Script {
        ec2: vec![created(), never],
        ..Script::default()
    };
    let started = tokio::time::Instant::now();
    let (result, _) = call(&script, "aws.ec2.create_vpc", params, Call::Run).await;
    let err = result.expect_err("not for ever");
    assert_eq!(err.code.as_deref(), Some("InvalidVpcID.NotFound"));
    assert!(
        started.elapsed() <= super::CONSISTENCY,
        "{:?}",
        started.elapsed()
    );
}

/// Zones come from the account: the ones it sees that offer the instance type, by name; fewer
/// than asked for is refused before anything is created, naming what the account sees.
#[tokio::test(start_paused = true)]
async fn zones_are_the_accounts_and_too_few_are_refused() {
    let zones = || {
        mock!(ec2::Client::describe_availability_zones).then_output(|| {
            ["ap-south-1c", "ap-south-1a", "ap-south-1b"]
                .iter()
                .zip(["aps1-az2", "aps1-az1", "aps1-az3"])
                .fold(
                    ec2::DescribeAvailabilityZonesOutput::builder(),
                    |b, (name, id)| {
                        b.availability_zones(
                            ec2::AvailabilityZone::builder()
                                .zone_name(*name)
                                .zone_id(id)
                                .build(),
                        )
                    },
                )
                .build()
        })
    };
    let offered = |where_: &'static [&'static str]| {
        mock!(ec2::Client::describe_instance_type_offerings).then_output(move || {
            where_
                .iter()
                .fold(
                    ec2::DescribeInstanceTypeOfferingsOutput::builder(),
                    |b, zone| {
                        b.instance_type_offerings(
                            ec2::InstanceTypeOffering::builder()
                                .instance_type(ec2::InstanceType::T3Micro)
                                .location(*zone)
                                .build(),
                        )
                    },
                )
                .build()
        })
    };
    let params = json!({"instance_type": "t3.micro", "count": 2});
    let script = Script {
        ec2: vec![zones(), offered(&["ap-south-1a", "ap-south-1c"])],
        ..Script::default()
    };
    let (result, shown) = call(&script, "aws.ec2.find_zones", params.clone(), Call::Run).await;
    let outcome = result.unwrap();
    assert_eq!(outcome.outputs["first"], json!("ap-south-1a"));
    assert_eq!(
        outcome.outputs["second"],
        json!("ap-south-1c"),
        "b does not offer the type"
    );
    assert_eq!(outcome.outputs["zone_ids"], json!(["aps1-az1", "aps1-az2"]));
    assert!(shown.any("using ap-south-1a (aps1-az1) and ap-south-1c (aps1-az2)"));

    let script = Script {
        ec2: vec![zones(), offered(&["ap-south-1b"])],
        ..Script::default()
    };
    let (result, _) = call(&script, "aws.ec2.find_zones", params, Call::Run).await;
    let err = result.expect_err("one zone is not enough");
    assert!(err.invalid_input, "{err:?}");
    assert!(
        err.message
            .contains("needs 2 availability zones offering t3.micro")
            && err.message.contains("ap-south-1b (aps1-az3)"),
        "{}",
        err.message
    );
}

/// What new and small accounts answer gets a hint that names the quota or the way out.
#[tokio::test(start_paused = true)]
async fn new_account_refusals_say_what_to_do() {
    for (code, hint) in [
        ("VcpuLimitExceeded", "L-1216C47A"),
        ("Unsupported", "aws.ec2.find_zones"),
        ("PendingVerification", "verifying this new account"),
        ("OptInRequired", "enable the region"),
    ] {
        let refused = mock!(ec2::Client::run_instances)
            .then_error(move || ec2::RunInstancesError::generic(aws_error(code, "refused")));
        let script = Script {
            ec2: vec![refused],
            ..Script::default()
        };
        let params = json!({
            "image_id": "ami-1", "instance_type": "t3.micro", "subnet_id": "subnet-1",
            "security_group_ids": ["sg-1"], "name": "web", "count": 1
        });
        let (result, _) = call(&script, "aws.ec2.run_instances", params, Call::Run).await;
        let err = result.expect_err(code);
        assert!(
            err.hint.as_deref().is_some_and(|h| h.contains(hint)),
            "{code}: {err:?}"
        );
        assert!(!err.retryable, "{code} does not settle by itself");
    }
}

// ---- ELBv2 ------------------------------------------------------------------------------------

mod elb {
    pub use aws_sdk_elasticloadbalancingv2::Client;
    pub use aws_sdk_elasticloadbalancingv2::operation::add_tags::AddTagsOutput;
    pub use aws_sdk_elasticloadbalancingv2::operation::create_load_balancer::{
        CreateLoadBalancerError, CreateLoadBalancerOutput,
    };
    pub use aws_sdk_elasticloadbalancingv2::operation::create_target_group::{
        CreateTargetGroupError, CreateTargetGroupOutput,
    };
    pub use aws_sdk_elasticloadbalancingv2::operation::delete_load_balancer::{
        DeleteLoadBalancerError, DeleteLoadBalancerOutput,
    };
    pub use aws_sdk_elasticloadbalancingv2::operation::delete_target_group::DeleteTargetGroupError;
    pub use aws_sdk_elasticloadbalancingv2::operation::describe_load_balancers::{
        DescribeLoadBalancersError, DescribeLoadBalancersOutput,
    };
    pub use aws_sdk_elasticloadbalancingv2::operation::describe_tags::DescribeTagsOutput;
    pub use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
    pub use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
    pub use aws_sdk_elasticloadbalancingv2::operation::register_targets::{
        RegisterTargetsError, RegisterTargetsOutput,
    };
    pub use aws_sdk_elasticloadbalancingv2::types::*;
}

const LB_ARN: &str = "arn:aws:elasticloadbalancing:ap-south-1:123456789012:loadbalancer/app/lab-primary-alb/50dc6c495c0c9188";

fn balancer(name: &str, dns: &str, state: elb::LoadBalancerStateEnum) -> elb::LoadBalancer {
    elb::LoadBalancer::builder()
        .load_balancer_arn(LB_ARN.replace("lab-primary-alb", name))
        .load_balancer_name(name)
        .dns_name(dns)
        .canonical_hosted_zone_id("ZP97RAFLXTNZK")
        .state(elb::LoadBalancerState::builder().code(state).build())
        .build()
}

/// Deleting a load balancer is asynchronous: the undo waits until it is gone, showing so.
#[tokio::test(start_paused = true)]
async fn a_load_balancer_undo_waits_until_it_is_gone() {
    let delete = mock!(elb::Client::delete_load_balancer)
        .then_output(|| elb::DeleteLoadBalancerOutput::builder().build());
    let describe = mock!(elb::Client::describe_load_balancers)
        .sequence()
        .output(|| {
            elb::DescribeLoadBalancersOutput::builder()
                .load_balancers(balancer(
                    "lab-primary-alb",
                    "lab.elb.amazonaws.com",
                    elb::LoadBalancerStateEnum::Active,
                ))
                .build()
        })
        .times(2)
        .error(|| {
            elb::DescribeLoadBalancersError::generic(aws_error("LoadBalancerNotFound", "gone"))
        })
        .build();
    let script = Script {
        elbv2: vec![delete, describe.clone()],
        ..Script::default()
    };
    let lb = resource("load balancer", LB_ARN);
    let (result, shown) = call(
        &script,
        "aws.elbv2.create_load_balancer",
        Json::Null,
        Call::Undo(&lb),
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(describe.num_calls(), 3, "polled until it was gone");
    assert!(
        shown.any("waiting for load balancer lab-primary-alb to be gone: still there"),
        "{}",
        shown.all()
    );
}

/// A shared poll names several waits' load balancers in one call, and AWS fails the whole call
/// for one bad ARN: each is then asked on its own, so only the bad one's wait hears of it.
#[tokio::test]
async fn one_bad_arn_in_a_shared_poll_fails_only_its_own_wait() {
    const BAD: &str = "arn:aws:elasticloadbalancing:ap-south-1:123456789012:loadbalancer/app/typo";
    let whole = mock!(elb::Client::describe_load_balancers)
        .match_requests(|r| r.load_balancer_arns().len() > 1)
        .then_error(|| {
            elb::DescribeLoadBalancersError::generic(aws_error("ValidationError", "bad ARN"))
        });
    let bad = mock!(elb::Client::describe_load_balancers)
        .match_requests(|r| r.load_balancer_arns() == [BAD])
        .then_error(|| {
            elb::DescribeLoadBalancersError::generic(aws_error("ValidationError", "bad ARN"))
        });
    let good = mock!(elb::Client::describe_load_balancers).then_output(|| {
        elb::DescribeLoadBalancersOutput::builder()
            .load_balancers(balancer(
                "lab-primary-alb",
                "lab.elb.amazonaws.com",
                elb::LoadBalancerStateEnum::Active,
            ))
            .build()
    });
    let script = Script {
        elbv2: vec![whole.clone(), bad, good],
        ..Script::default()
    };
    let c = script.clients();
    let (answers, calls) =
        super::elbv2::describe_load_balancers(&c, vec![LB_ARN.to_owned(), BAD.to_owned()]).await;
    assert_eq!(whole.num_calls(), 1);
    assert_eq!(calls, 3, "the chunk, then each ARN");
    assert!(
        matches!(&answers[LB_ARN], Ok(Some(lb)) if lb.load_balancer_name() == Some("lab-primary-alb")),
        "{answers:?}"
    );
    assert!(
        matches!(&answers[BAD], Err(e) if e.message.contains("ValidationError") || e.code.as_deref() == Some("ValidationError")),
        "{answers:?}"
    );
}

/// Targets that never become healthy (the web server's user data failed): the wait gives up at
/// its default deadline, not never, with the last state AWS showed, its reason code and words,
/// and what to check next; a step's `timeout:` moves the deadline.
#[tokio::test(start_paused = true)]
async fn a_stuck_wait_gives_up_with_aws_reason_and_what_to_check() {
    let unhealthy = || {
        mock!(elb::Client::describe_target_health)
            .sequence()
            .output(|| {
                elb::DescribeTargetHealthOutput::builder()
                    .target_health_descriptions(
                        elb::TargetHealthDescription::builder()
                            .target(elb::TargetDescription::builder().id("i-1").build())
                            .target_health(
                                elb::TargetHealth::builder()
                                    .state(elb::TargetHealthStateEnum::Unhealthy)
                                    .reason(elb::TargetHealthReasonEnum::FailedHealthChecks)
                                    .description("Health checks failed")
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            })
            .repeatedly()
            .build()
    };
    let params = json!({"target_group_arn": "arn:aws:elasticloadbalancing:ap-south-1:1:targetgroup/lab-tg/1", "state": "healthy"});
    let started = tokio::time::Instant::now();
    let script = Script {
        elbv2: vec![unhealthy()],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.elbv2.wait_target_health",
        params.clone(),
        Call::Run,
    )
    .await;
    let waited = started.elapsed();
    let err = result.expect_err("a stuck wait gives up");
    assert_eq!(err.code.as_deref(), Some(super::WAIT_GAVE_UP), "{err:?}");
    assert!(
        err.message
            .contains("i-1 unhealthy (Target.FailedHealthChecks: Health checks failed)"),
        "{}",
        err.message
    );
    let hint = err.hint.unwrap_or_default();
    assert!(
        hint.contains("cloud-init-output.log") && hint.contains("timeout:"),
        "{hint}"
    );
    assert!(
        waited >= super::Typical::TARGETS.deadline()
            && waited < super::Typical::TARGETS.deadline() + std::time::Duration::from_secs(30),
        "gave up at the default deadline: {waited:?}"
    );

    // With a step deadline of 20 minutes, the same wait goes on until just before it.
    let script = Script {
        elbv2: vec![unhealthy()],
        ..Script::default()
    };
    let started = tokio::time::Instant::now();
    let (result, _) = call(
        &script,
        "aws.elbv2.wait_target_health",
        params,
        Call::RunUntil(started + std::time::Duration::from_secs(1200)),
    )
    .await;
    assert!(result.is_err());
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(1190)
            && waited < std::time::Duration::from_secs(1200),
        "the step's timeout replaces the default: {waited:?}"
    );
}

/// A target group still used by a listener cannot be deleted yet: retryable.
#[tokio::test(start_paused = true)]
async fn a_target_group_in_use_is_a_retryable_undo_error() {
    let in_use = mock!(elb::Client::delete_target_group).then_error(|| {
        elb::DeleteTargetGroupError::generic(aws_error("ResourceInUse", "in use by a listener"))
    });
    // It is there (looked at first: a delete of a missing group may succeed).
    let there = mock!(elb::Client::describe_target_groups).then_output(|| {
        elb::DescribeTargetGroupsOutput::builder()
            .target_groups(
                elb::TargetGroup::builder()
                    .target_group_arn("arn:tg/lab-tg/1")
                    .build(),
            )
            .build()
    });
    let script = Script {
        elbv2: vec![there, in_use],
        ..Script::default()
    };
    let tg = resource("target group", "arn:tg/lab-tg/1");
    let (result, _) = call(
        &script,
        "aws.elbv2.create_target_group",
        Json::Null,
        Call::Undo(&tg),
    )
    .await;
    let err = result.unwrap_err();
    assert!(err.retryable);
    assert!(
        err.message.contains("still used by a listener"),
        "{}",
        err.message
    );
}

/// `RegisterTargets` accepts only running instances: `InvalidTarget` is waited out for a while,
/// then reported.
#[tokio::test(start_paused = true)]
async fn register_targets_waits_out_instances_that_are_not_running_yet() {
    let params = json!({"target_group_arn": "arn:tg", "targets": ["i-1"]});
    let settling = mock!(elb::Client::register_targets)
        .sequence()
        .error(|| {
            elb::RegisterTargetsError::generic(aws_error(
                "InvalidTarget",
                "The following targets are not in a running state",
            ))
        })
        .times(3)
        .output(|| elb::RegisterTargetsOutput::builder().build())
        .build();
    let script = Script {
        elbv2: vec![settling.clone()],
        ..Script::default()
    };
    let (result, shown) = call(
        &script,
        "aws.elbv2.register_targets",
        params.clone(),
        Call::Run,
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(settling.num_calls(), 4);
    assert!(
        shown.any("RegisterTargets: InvalidTarget"),
        "{}",
        shown.all()
    );

    let never = mock!(elb::Client::register_targets).then_error(|| {
        elb::RegisterTargetsError::generic(aws_error("InvalidTarget", "not running"))
    });
    let script = Script {
        elbv2: vec![never],
        ..Script::default()
    };
    let started = tokio::time::Instant::now();
    let (result, _) = call(&script, "aws.elbv2.register_targets", params, Call::Run).await;
    assert!(result.unwrap_err().message.contains("InvalidTarget"));
    let waited = started.elapsed().as_secs();
    assert!(
        (150..=180).contains(&waited),
        "gave up after the 3-minute window: {waited}s"
    );
}

fn subnets_in(zones: &[&str]) -> ec2::DescribeSubnetsOutput {
    let mut out = ec2::DescribeSubnetsOutput::builder();
    for (i, z) in zones.iter().enumerate() {
        out = out.subnets(
            ec2::Subnet::builder()
                .subnet_id(format!("subnet-{i}"))
                .vpc_id("vpc-1")
                .availability_zone(*z)
                .build(),
        );
    }
    out.build()
}

/// The subnets' VPC has an internet gateway.
fn a_gateway() -> Rule {
    mock!(ec2::Client::describe_internet_gateways).then_output(|| {
        ec2::DescribeInternetGatewaysOutput::builder()
            .internet_gateways(
                ec2::InternetGateway::builder()
                    .internet_gateway_id("igw-1")
                    .build(),
            )
            .build()
    })
}

/// The load balancer AWS answers with (`lab-alb`) carries this step's key: it is the step's own.
fn tagged_as_ours() -> Rule {
    mock!(elb::Client::describe_tags).then_output(|| {
        elb::DescribeTagsOutput::builder()
            .tag_descriptions(
                elb::TagDescription::builder()
                    .resource_arn(LB_ARN.replace("lab-primary-alb", "lab-alb"))
                    .tags(
                        elb::Tag::builder()
                            .key("runbook:key")
                            .value("run-1/step")
                            .build(),
                    )
                    .build(),
            )
            .build()
    })
}

/// Before `CreateLoadBalancer`: subnets in two zones and an internet gateway on their VPC, or a
/// message that says what to add (and no call to create anything).
#[tokio::test(start_paused = true)]
async fn an_internet_facing_load_balancer_is_checked_before_it_is_created() {
    let params = json!({"name": "lab-alb", "subnet_ids": ["subnet-0", "subnet-1"], "wait": false});
    let create = mock!(elb::Client::create_load_balancer).then_output(|| {
        elb::CreateLoadBalancerOutput::builder()
            .load_balancers(balancer(
                "lab-alb",
                "lab-alb.elb.amazonaws.com",
                elb::LoadBalancerStateEnum::Provisioning,
            ))
            .build()
    });

    let one_zone = mock!(ec2::Client::describe_subnets)
        .then_output(|| subnets_in(&["ap-south-1a", "ap-south-1a"]));
    let script = Script {
        ec2: vec![one_zone],
        elbv2: vec![create.clone()],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.elbv2.create_load_balancer",
        params.clone(),
        Call::Run,
    )
    .await;
    let err = result.unwrap_err();
    assert!(
        err.message.contains("at least two availability zones"),
        "{}",
        err.message
    );
    assert!(err.message.contains("ap-south-1a"), "{}", err.message);

    let two_zones = mock!(ec2::Client::describe_subnets)
        .then_output(|| subnets_in(&["ap-south-1a", "ap-south-1b"]));
    let no_gateway = mock!(ec2::Client::describe_internet_gateways)
        .then_output(|| ec2::DescribeInternetGatewaysOutput::builder().build());
    let script = Script {
        ec2: vec![two_zones, no_gateway],
        elbv2: vec![create.clone()],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.elbv2.create_load_balancer",
        params.clone(),
        Call::Run,
    )
    .await;
    let err = result.unwrap_err();
    assert!(
        err.message.contains("VPC vpc-1 has no internet gateway"),
        "{}",
        err.message
    );
    assert!(
        err.hint
            .unwrap_or_default()
            .contains("aws.ec2.create_internet_gateway")
    );
    assert_eq!(create.num_calls(), 0, "nothing was created");

    let two_zones = mock!(ec2::Client::describe_subnets)
        .then_output(|| subnets_in(&["ap-south-1a", "ap-south-1b"]));
    let gateway = a_gateway();
    let ours = tagged_as_ours();
    let script = Script {
        ec2: vec![two_zones, gateway],
        elbv2: vec![create.clone(), ours],
        ..Script::default()
    };
    let (result, _) = call(&script, "aws.elbv2.create_load_balancer", params, Call::Run).await;
    let outcome = result.unwrap();
    assert_eq!(create.num_calls(), 1);
    // Known as soon as it is created, while AWS still provisions it.
    assert_eq!(
        outcome.outputs["dns_name"],
        json!("lab-alb.elb.amazonaws.com")
    );
    assert_eq!(
        outcome.outputs["canonical_hosted_zone_id"],
        json!("ZP97RAFLXTNZK")
    );
}

/// Subnets, security groups and a gateway made moments ago may be unknown to ELB for a while
/// (EC2 is eventually consistent): `InvalidSubnet` and `InvalidSecurityGroup` from
/// `CreateLoadBalancer` are waited out, shown on the status line, and the load balancer is made
/// once; so is a `NotFound` from the subnets' own check.
#[tokio::test(start_paused = true)]
async fn a_load_balancer_on_fresh_subnets_waits_out_eventual_consistency() {
    let params = json!({"name": "lab-alb", "subnet_ids": ["subnet-0", "subnet-1"], "wait": false});
    let subnets = mock!(ec2::Client::describe_subnets)
        .sequence()
        .error(|| {
            ec2::DescribeSubnetsError::generic(aws_error(
                "InvalidSubnetID.NotFound",
                "The subnet ID 'subnet-1' does not exist",
            ))
        })
        .output(|| subnets_in(&["ap-south-1a", "ap-south-1b"]))
        .build();
    let gateway = a_gateway();
    let create = mock!(elb::Client::create_load_balancer)
        .sequence()
        .error(|| {
            elb::CreateLoadBalancerError::generic(aws_error(
                "InvalidSubnet",
                "VPC vpc-1 has no internet gateway",
            ))
        })
        .error(|| {
            elb::CreateLoadBalancerError::generic(aws_error(
                "InvalidSecurityGroup",
                "One or more security groups are invalid",
            ))
        })
        .output(|| {
            elb::CreateLoadBalancerOutput::builder()
                .load_balancers(balancer(
                    "lab-alb",
                    "lab-alb.elb.amazonaws.com",
                    elb::LoadBalancerStateEnum::Provisioning,
                ))
                .build()
        })
        .build();
    let ours = tagged_as_ours();
    let script = Script {
        ec2: vec![subnets.clone(), gateway],
        elbv2: vec![create.clone(), ours],
        ..Script::default()
    };
    let (result, shown) = call(&script, "aws.elbv2.create_load_balancer", params, Call::Run).await;
    let outcome = result.unwrap();
    assert_eq!(
        outcome.outputs["dns_name"],
        json!("lab-alb.elb.amazonaws.com")
    );
    assert_eq!(subnets.num_calls(), 2, "the subnets' check waited once");
    assert_eq!(create.num_calls(), 3, "two refusals, then created once");
    assert!(
        shown.any("CreateLoadBalancer: InvalidSubnet") && shown.any("InvalidSecurityGroup"),
        "{}",
        shown.all()
    );
}

/// A target group naming a VPC made seconds ago: ELB may not know the VPC yet and answers
/// `ValidationError` "The VPC ID '…' is not found"; that is waited out, and the group made once.
#[tokio::test(start_paused = true)]
async fn a_target_group_on_a_fresh_vpc_waits_out_eventual_consistency() {
    const TG: &str = "arn:aws:elasticloadbalancing:ap-south-1:123456789012:targetgroup/lab-tg/1";
    let params = json!({"name": "lab-tg", "vpc_id": "vpc-1"});
    let create = mock!(elb::Client::create_target_group)
        .sequence()
        .error(|| {
            elb::CreateTargetGroupError::generic(aws_error(
                "ValidationError",
                "The VPC ID 'vpc-1' is not found",
            ))
        })
        .output(|| {
            elb::CreateTargetGroupOutput::builder()
                .target_groups(
                    elb::TargetGroup::builder()
                        .target_group_arn(TG)
                        .target_group_name("lab-tg")
                        .build(),
                )
                .build()
        })
        .build();
    let ours = mock!(elb::Client::describe_tags).then_output(|| {
        elb::DescribeTagsOutput::builder()
            .tag_descriptions(
                elb::TagDescription::builder()
                    .resource_arn(TG)
                    .tags(
                        elb::Tag::builder()
                            .key("runbook:key")
                            .value("run-1/step")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let script = Script {
        elbv2: vec![create.clone(), ours],
        ..Script::default()
    };
    let (result, shown) = call(&script, "aws.elbv2.create_target_group", params, Call::Run).await;
    assert_eq!(result.unwrap().outputs["arn"], json!(TG));
    assert_eq!(create.num_calls(), 2, "refused once, then made once");
    assert!(shown.any("is not found; trying again"), "{}", shown.all());
}

/// The gateway this run attached seconds ago may not show in a read by attachment yet: the
/// check waits for it rather than call the VPC gateway-less; a VPC with no gateway of this run
/// fails at once.
#[tokio::test(start_paused = true)]
async fn a_fresh_gateway_attachment_is_waited_for_and_a_missing_one_fails_at_once() {
    let params = json!({"name": "lab-alb", "subnet_ids": ["subnet-0", "subnet-1"], "wait": false});
    let by_attachment = |found: &'static [bool]| {
        let mut rule = mock!(ec2::Client::describe_internet_gateways)
            .match_requests(|r| {
                r.filters()
                    .iter()
                    .any(|f| f.name() == Some("attachment.vpc-id"))
            })
            .sequence();
        for &one in found {
            rule = rule.output(move || {
                let mut out = ec2::DescribeInternetGatewaysOutput::builder();
                if one {
                    out = out.internet_gateways(
                        ec2::InternetGateway::builder()
                            .internet_gateway_id("igw-1")
                            .build(),
                    );
                }
                out.build()
            });
        }
        rule.build()
    };
    let of_this_run = |made: bool| {
        mock!(ec2::Client::describe_internet_gateways).then_output(move || {
            let mut out = ec2::DescribeInternetGatewaysOutput::builder();
            if made {
                out = out.internet_gateways(
                    ec2::InternetGateway::builder()
                        .internet_gateway_id("igw-1")
                        .build(),
                );
            }
            out.build()
        })
    };
    let subnets = || {
        mock!(ec2::Client::describe_subnets)
            .then_output(|| subnets_in(&["ap-south-1a", "ap-south-1b"]))
    };
    let create = mock!(elb::Client::create_load_balancer).then_output(|| {
        elb::CreateLoadBalancerOutput::builder()
            .load_balancers(balancer(
                "lab-alb",
                "lab-alb.elb.amazonaws.com",
                elb::LoadBalancerStateEnum::Provisioning,
            ))
            .build()
    });
    let attached = by_attachment(&[false, false, true]);
    let script = Script {
        ec2: vec![subnets(), attached.clone(), of_this_run(true)],
        elbv2: vec![create.clone(), tagged_as_ours()],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.elbv2.create_load_balancer",
        params.clone(),
        Call::Run,
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(attached.num_calls(), 3, "read again until it showed");
    assert_eq!(create.num_calls(), 1);

    let never = by_attachment(&[false]);
    let script = Script {
        ec2: vec![subnets(), never, of_this_run(false)],
        elbv2: vec![create.clone()],
        ..Script::default()
    };
    let (result, _) = call(&script, "aws.elbv2.create_load_balancer", params, Call::Run).await;
    let err = result.unwrap_err();
    assert!(err.message.contains("has no internet gateway"), "{err:?}");
    assert_eq!(create.num_calls(), 1, "nothing more was created");
}

/// `OperationNotPermitted` on a delete is deletion protection, not a new account; an
/// `AccessDenied` for ELB's service-linked role names `iam:CreateServiceLinkedRole`.
#[tokio::test(start_paused = true)]
async fn elb_refusals_with_two_meanings_get_the_right_hint() {
    let there = mock!(elb::Client::describe_load_balancers).then_output(|| {
        elb::DescribeLoadBalancersOutput::builder()
            .load_balancers(balancer(
                "lab-primary-alb",
                "lab.elb.amazonaws.com",
                elb::LoadBalancerStateEnum::Active,
            ))
            .build()
    });
    let protected = mock!(elb::Client::delete_load_balancer).then_error(|| {
        elb::DeleteLoadBalancerError::generic(aws_error(
            "OperationNotPermitted",
            "Load balancer 'arn:…' cannot be deleted because deletion protection is enabled",
        ))
    });
    let script = Script {
        elbv2: vec![there, protected],
        ..Script::default()
    };
    let lb = resource("load balancer", LB_ARN);
    let (result, _) = call(
        &script,
        "aws.elbv2.create_load_balancer",
        Json::Null,
        Call::Undo(&lb),
    )
    .await;
    let hint = result.unwrap_err().hint.unwrap_or_default();
    assert!(hint.contains("deletion protection is on"), "{hint}");
    assert!(!hint.contains("new accounts"), "{hint}");

    let params = json!({"name": "lab-alb", "subnet_ids": ["subnet-0", "subnet-1"], "wait": false});
    let denied = mock!(elb::Client::create_load_balancer).then_error(|| {
        elb::CreateLoadBalancerError::generic(aws_error(
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/lab is not authorized to perform: iam:CreateServiceLinkedRole on resource: arn:aws:iam::123456789012:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing",
        ))
    });
    let script = Script {
        ec2: vec![
            mock!(ec2::Client::describe_subnets)
                .then_output(|| subnets_in(&["ap-south-1a", "ap-south-1b"])),
            a_gateway(),
        ],
        elbv2: vec![denied],
        ..Script::default()
    };
    let (result, _) = call(&script, "aws.elbv2.create_load_balancer", params, Call::Run).await;
    let hint = result.unwrap_err().hint.unwrap_or_default();
    assert!(hint.contains("`iam:CreateServiceLinkedRole`"), "{hint}");
    assert!(
        !hint.contains("elasticloadbalancing:CreateLoadBalancer"),
        "{hint}"
    );
}

/// On AWS, creating a load balancer with the name and settings of an existing one returns that
/// one. Another run's (or person's) load balancer is never adopted, so rollback cannot delete it.
#[tokio::test(start_paused = true)]
async fn a_load_balancer_that_aws_returns_for_an_existing_name_is_not_adopted() {
    let params = json!({"name": "lab-alb", "subnet_ids": ["subnet-0", "subnet-1"], "wait": false});
    let subnets = mock!(ec2::Client::describe_subnets)
        .then_output(|| subnets_in(&["ap-south-1a", "ap-south-1b"]));
    let gateway = a_gateway();
    let existing = mock!(elb::Client::create_load_balancer).then_output(|| {
        elb::CreateLoadBalancerOutput::builder()
            .load_balancers(balancer(
                "lab-alb",
                "lab-alb.elb.amazonaws.com",
                elb::LoadBalancerStateEnum::Active,
            ))
            .build()
    });
    let theirs = mock!(elb::Client::describe_tags).then_output(|| {
        elb::DescribeTagsOutput::builder()
            .tag_descriptions(
                elb::TagDescription::builder()
                    .resource_arn(LB_ARN.replace("lab-primary-alb", "lab-alb"))
                    .tags(
                        elb::Tag::builder()
                            .key("runbook:key")
                            .value("other-run/alb")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let script = Script {
        ec2: vec![subnets, gateway],
        elbv2: vec![existing, theirs],
        ..Script::default()
    };
    let (result, _) = call(&script, "aws.elbv2.create_load_balancer", params, Call::Run).await;
    let err = result.unwrap_err();
    assert!(
        err.message
            .contains("load balancer `lab-alb` already exists and was not created by this step"),
        "{}",
        err.message
    );
    assert!(err.hint.unwrap_or_default().contains("prefix"));
}

// ---- Route 53 ---------------------------------------------------------------------------------

mod r53 {
    pub use aws_sdk_route53::Client;
    pub use aws_sdk_route53::operation::change_resource_record_sets::{
        ChangeResourceRecordSetsError, ChangeResourceRecordSetsOutput,
    };
    pub use aws_sdk_route53::operation::change_tags_for_resource::ChangeTagsForResourceOutput;
    pub use aws_sdk_route53::operation::create_hosted_zone::CreateHostedZoneError;
    pub use aws_sdk_route53::operation::get_change::GetChangeOutput;
    pub use aws_sdk_route53::operation::get_hosted_zone::GetHostedZoneOutput;
    pub use aws_sdk_route53::operation::list_hosted_zones::ListHostedZonesError;
    pub use aws_sdk_route53::operation::list_hosted_zones_by_name::ListHostedZonesByNameOutput;
    pub use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
    pub use aws_sdk_route53::operation::list_tags_for_resource::ListTagsForResourceOutput;
    pub use aws_sdk_route53::operation::test_dns_answer::TestDnsAnswerOutput;
    pub use aws_sdk_route53::types::*;
}

/// A listing by name that finds no zone.
fn no_zones_named() -> r53::ListHostedZonesByNameOutput {
    r53::ListHostedZonesByNameOutput::builder()
        .set_hosted_zones(Some(Vec::new()))
        .is_truncated(false)
        .max_items(100)
        .build()
        .unwrap()
}

fn change_info(status: r53::ChangeStatus) -> r53::ChangeInfo {
    r53::ChangeInfo::builder()
        .id("/change/C1")
        .status(status)
        .submitted_at(aws_smithy_types::DateTime::from_secs(0))
        .build()
        .unwrap()
}

fn record_params() -> Json {
    json!({
        "zone_id": "Z1", "name": "lab.example.com", "role": "primary", "set_identifier": "primary",
        "alias": {"dns_name": "lab-primary-alb.elb.amazonaws.com", "hosted_zone_id": "ZP97RAFLXTNZK"}
    })
}

/// The records at a name, as `ListResourceRecordSets` answers (one page).
fn records_there(sets: Vec<r53::ResourceRecordSet>) -> Rule {
    mock!(r53::Client::list_resource_record_sets).then_output(move || list_of(sets.clone()))
}

/// One page of records.
fn list_of(sets: Vec<r53::ResourceRecordSet>) -> r53::ListResourceRecordSetsOutput {
    r53::ListResourceRecordSetsOutput::builder()
        .set_resource_record_sets(Some(sets))
        .is_truncated(false)
        .max_items(300)
        .build()
        .unwrap()
}

/// A failover alias record at lab.example.com A: its set identifier, role, target (a load
/// balancer's DNS name and zone id) and whether it evaluates the target's health.
fn failover_alias(
    set_id: &str,
    role: r53::ResourceRecordSetFailover,
    (dns, zone): (&str, &str),
    evaluate: bool,
) -> r53::ResourceRecordSet {
    r53::ResourceRecordSet::builder()
        .name("lab.example.com.")
        .r#type(r53::RrType::A)
        .set_identifier(set_id)
        .failover(role)
        .alias_target(
            r53::AliasTarget::builder()
                .dns_name(dns)
                .hosted_zone_id(zone)
                .evaluate_target_health(evaluate)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// A live site's PRIMARY record at the name the step writes, under another set identifier.
fn live_primary() -> r53::ResourceRecordSet {
    failover_alias(
        "site-primary",
        r53::ResourceRecordSetFailover::Primary,
        ("site-alb-7.us-east-1.elb.amazonaws.com.", "Z35SXDOTRQ7X7K"),
        true,
    )
}

/// A record step never writes over a record the run did not write: with a live PRIMARY at the
/// name it is refused (invalid input, not retried, no change sent), naming the record there.
/// Told to adopt it, it deletes that record and creates its own in one change, keeps an exact
/// copy, and its undo puts the record back in the same way.
#[tokio::test(start_paused = true)]
async fn a_record_already_there_is_refused_or_taken_over_and_put_back() {
    let written = mock!(r53::Client::change_resource_record_sets)
        .match_requests(|r| {
            let changes = r
                .change_batch()
                .map(r53::ChangeBatch::changes)
                .unwrap_or_default();
            changes.len() == 2
                && changes[0].action() == &r53::ChangeAction::Delete
                && changes[0]
                    .resource_record_set()
                    .and_then(|s| s.set_identifier())
                    == Some("site-primary")
                && changes[1].action() == &r53::ChangeAction::Create
                && changes[1]
                    .resource_record_set()
                    .and_then(|s| s.set_identifier())
                    == Some("primary")
        })
        .then_output(|| {
            r53::ChangeResourceRecordSetsOutput::builder()
                .change_info(change_info(r53::ChangeStatus::Pending))
                .build()
        });
    let put_back = mock!(r53::Client::change_resource_record_sets)
        .match_requests(|r| {
            let changes = r
                .change_batch()
                .map(r53::ChangeBatch::changes)
                .unwrap_or_default();
            changes.len() == 2
                && changes[0].action() == &r53::ChangeAction::Delete
                && changes[0]
                    .resource_record_set()
                    .and_then(|s| s.set_identifier())
                    == Some("primary")
                && changes[1].action() == &r53::ChangeAction::Upsert
                && changes[1].resource_record_set() == Some(&live_primary())
        })
        .then_output(|| {
            r53::ChangeResourceRecordSetsOutput::builder()
                .change_info(change_info(r53::ChangeStatus::Pending))
                .build()
        });
    let script = Script {
        route53: vec![
            records_there(vec![live_primary()]),
            written.clone(),
            put_back.clone(),
        ],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.route53.failover_record",
        record_params(),
        Call::Run,
    )
    .await;
    let refused = result.unwrap_err();
    assert!(
        refused
            .message
            .contains("a record is already where lab.example.com A PRIMARY would go")
            && refused
                .message
                .contains("set identifier site-primary, PRIMARY, alias to site-alb"),
        "{}",
        refused.message
    );
    assert!(refused.invalid_input && !refused.retryable);
    assert!(
        refused
            .hint
            .unwrap_or_default()
            .contains("on_existing: adopt")
    );
    assert_eq!(
        written.num_calls() + put_back.num_calls(),
        0,
        "nothing was written"
    );

    let mut adopt = record_params();
    adopt["on_existing"] = json!("adopt");
    let (result, _) = call(
        &script,
        "aws.route53.failover_record",
        adopt.clone(),
        Call::Run,
    )
    .await;
    let outcome = result.unwrap();
    assert_eq!(written.num_calls(), 1);
    let record = &outcome.resources[0];
    assert_eq!(record.undo["previous"][0]["set_identifier"], "site-primary");
    assert_eq!(
        record.changed.len(),
        1,
        "the rollback says it undid, not removed: {record:?}"
    );
    let journaled = journaled(record, adopt);
    let (undone, _) = undo_record(&script, &journaled).await;
    assert_eq!(undone.unwrap().outputs["undone"], json!("removed"));
    assert_eq!(put_back.num_calls(), 1, "the live record is back, exactly");
}

/// The undo of a failover record step, as rollback calls it.
async fn undo_record(
    script: &Script,
    journaled: &Resource,
) -> (Result<Outcome, ActionError>, Shown) {
    call(
        script,
        "aws.route53.failover_record",
        json!({}),
        Call::Undo(journaled),
    )
    .await
}

/// A record's resource as a journal keeps it (through JSON), with the parameters its undo reads.
fn journaled(record: &Resource, params: Json) -> Resource {
    let mut kept: Resource = serde_json::from_str(&serde_json::to_string(record).unwrap()).unwrap();
    kept.undo["params"] = params;
    kept
}

/// A site's simple record, which failover records replace.
fn live_simple() -> r53::ResourceRecordSet {
    r53::ResourceRecordSet::builder()
        .name("lab.example.com.")
        .r#type(r53::RrType::A)
        .ttl(300)
        .resource_records(
            r53::ResourceRecord::builder()
                .value("192.0.2.10")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// The PRIMARY that took over a simple record puts it back only once the SECONDARY the run wrote
/// beside it is gone: Route 53 refuses a simple record beside a failover record, and the two
/// undos run side by side. While the SECONDARY is there it waits, saying so; one that stays is
/// named, with what to do, rather than sent to be refused.
#[tokio::test(start_paused = true)]
async fn a_simple_record_is_put_back_once_the_failover_records_beside_it_are_gone() {
    let failover = |role: r53::ResourceRecordSetFailover| {
        let name = role.as_str().to_lowercase();
        let dns = format!("lab-{name}-alb.elb.amazonaws.com");
        failover_alias(&name, role, (&dns, "ZP97RAFLXTNZK"), false)
    };
    let own = failover(r53::ResourceRecordSetFailover::Primary);
    let partner = failover(r53::ResourceRecordSetFailover::Secondary);
    let (o, p) = (own.clone(), partner.clone());
    let listed = mock!(r53::Client::list_resource_record_sets)
        .sequence()
        .output(|| list_of(vec![live_simple()]))
        .output(move || list_of(vec![o.clone(), p.clone()]))
        .output(move || list_of(vec![own.clone()]))
        .build();
    let changed = mock!(r53::Client::change_resource_record_sets).then_output(|| {
        r53::ChangeResourceRecordSetsOutput::builder()
            .change_info(change_info(r53::ChangeStatus::Pending))
            .build()
    });
    let script = Script {
        route53: vec![listed.clone(), changed.clone()],
        ..Script::default()
    };
    let mut adopt = record_params();
    adopt["on_existing"] = json!("adopt");
    let (result, _) = call(
        &script,
        "aws.route53.failover_record",
        adopt.clone(),
        Call::Run,
    )
    .await;
    let journaled = journaled(&result.unwrap().resources[0], adopt);
    let (undone, shown) = undo_record(&script, &journaled).await;
    assert_eq!(undone.unwrap().outputs["undone"], json!("removed"));
    assert_eq!(
        listed.num_calls(),
        3,
        "it looked until the SECONDARY was gone"
    );
    assert_eq!(
        changed.num_calls(),
        2,
        "the take-over, then the put-back once"
    );
    assert!(
        shown.any("waiting for lab.example.com A, set identifier secondary, SECONDARY"),
        "{}",
        shown.all()
    );

    // A SECONDARY that stays: named, and nothing sent.
    let stays = mock!(r53::Client::list_resource_record_sets)
        .then_output(move || list_of(vec![partner.clone()]));
    let changed = mock!(r53::Client::change_resource_record_sets).then_output(|| {
        r53::ChangeResourceRecordSetsOutput::builder()
            .change_info(change_info(r53::ChangeStatus::Pending))
            .build()
    });
    let script = Script {
        route53: vec![stays, changed.clone()],
        ..Script::default()
    };
    let (undone, _) = undo_record(&script, &journaled).await;
    let err = undone.unwrap_err();
    assert!(
        err.message.contains("the simple record cannot be put back at lab.example.com: Route 53 allows none beside lab.example.com A, set identifier secondary"),
        "{}",
        err.message
    );
    assert_eq!(changed.num_calls(), 0, "nothing sent to be refused");
}

/// Route 53 refuses an alias to a load balancer it cannot see yet, and a change while an earlier
/// one to the zone is still processed: both settle, and are waited out. A wrong zone id does not
/// settle: it fails at once with a hint.
#[tokio::test(start_paused = true)]
async fn record_changes_wait_out_what_settles_and_explain_what_does_not() {
    let settling = mock!(r53::Client::change_resource_record_sets)
        .sequence()
        .error(|| {
            r53::ChangeResourceRecordSetsError::generic(aws_error(
                "InvalidChangeBatch",
                "Tried to create an alias that targets lab-primary-alb.elb.amazonaws.com., type A in zone ZP97RAFLXTNZK, but the alias target name was not found",
            ))
        })
        .error(|| {
            r53::ChangeResourceRecordSetsError::generic(aws_error(
                "PriorRequestNotComplete",
                "The request was rejected because Route 53 was still processing a prior request.",
            ))
        })
        .output(|| {
            r53::ChangeResourceRecordSetsOutput::builder()
                .change_info(change_info(r53::ChangeStatus::Pending))
                .build()
        })
        .build();
    let script = Script {
        route53: vec![records_there(Vec::new()), settling.clone()],
        ..Script::default()
    };
    let (result, shown) = call(
        &script,
        "aws.route53.failover_record",
        record_params(),
        Call::Run,
    )
    .await;
    assert_eq!(result.unwrap().outputs["change_id"], json!("C1"));
    assert_eq!(settling.num_calls(), 3);
    assert!(shown.any("InvalidChangeBatch"), "{}", shown.all());
    assert!(shown.any("PriorRequestNotComplete"), "{}", shown.all());

    let wrong_zone = mock!(r53::Client::change_resource_record_sets).then_error(|| {
        r53::ChangeResourceRecordSetsError::generic(aws_error(
            "InvalidChangeBatch",
            "Tried to create an alias that targets x., type A in zone Z2, but the alias target name does not lie within the target zone",
        ))
    });
    let script = Script {
        route53: vec![records_there(Vec::new()), wrong_zone.clone()],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.route53.failover_record",
        record_params(),
        Call::Run,
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(wrong_zone.num_calls(), 1, "not retried");
    assert!(
        err.hint
            .unwrap_or_default()
            .contains("CanonicalHostedZoneId")
    );
}

/// An exercise's check of a record a learner made: found by its set identifier and told apart
/// from the step's in words; once right, written over with the step's own (the same record) for
/// a change id, and adopted; nothing at the name says where it looked.
#[tokio::test(start_paused = true)]
async fn a_hand_made_record_is_compared_then_adopted() {
    let made = |role: r53::ResourceRecordSetFailover, stack: &str| {
        let dns = format!("lab-{stack}-alb-42.elb.amazonaws.com.");
        failover_alias("primary", role, (&dns, "ZP97RAFLXTNZK"), true)
    };
    let listing = |sets: Vec<r53::ResourceRecordSet>| {
        mock!(r53::Client::list_resource_record_sets).then_output(move || {
            r53::ListResourceRecordSetsOutput::builder()
                .set_resource_record_sets(Some(sets.clone()))
                .is_truncated(false)
                .max_items(300)
                .build()
                .unwrap()
        })
    };
    let mut params = record_params();
    params["alias"]["dns_name"] = json!("lab-primary-alb-42.elb.amazonaws.com");
    let all = ["role", "alias", "set_identifier"].map(str::to_owned);

    let wrong = Script {
        route53: vec![listing(vec![made(
            r53::ResourceRecordSetFailover::Secondary,
            "secondary",
        )])],
        ..Script::default()
    };
    let found = &by_hand(&wrong, "aws.route53.failover_record", params.clone(), &all).await;
    assert_eq!(found["found"], "differs");
    assert_eq!(
        found["differences"],
        json!([
            "the record's failover role is SECONDARY; this step needs PRIMARY",
            "the alias points at lab-secondary-alb; it should point at lab-primary-alb"
        ])
    );

    let upsert = mock!(r53::Client::change_resource_record_sets).then_output(|| {
        r53::ChangeResourceRecordSetsOutput::builder()
            .change_info(change_info(r53::ChangeStatus::Pending))
            .build()
    });
    let right = Script {
        route53: vec![
            listing(vec![made(
                r53::ResourceRecordSetFailover::Primary,
                "primary",
            )]),
            upsert.clone(),
        ],
        ..Script::default()
    };
    let found = &by_hand(&right, "aws.route53.failover_record", params.clone(), &all).await;
    assert_eq!(found["found"], "matches", "{found}");
    assert_eq!(found["outcome"]["outputs"]["change_id"], "C1");
    assert_eq!(found["outcome"]["resources"][0]["kind"], "record");
    assert_eq!(
        upsert.num_calls(),
        1,
        "written over once, for its change id"
    );

    let empty = Script {
        route53: vec![listing(Vec::new())],
        ..Script::default()
    };
    let found = &by_hand(&empty, "aws.route53.failover_record", params, &all).await;
    assert_eq!(found["found"], "nothing");
    assert!(
        found["looked"]
            .as_str()
            .unwrap()
            .starts_with("the records named lab.example.com of type A in hosted zone Z1"),
        "{found}"
    );
}

/// A change is PENDING for a while: the wait polls at once, then on the change's schedule, and
/// shows the status.
#[tokio::test(start_paused = true)]
async fn a_change_wait_polls_until_insync_and_shows_the_status() {
    let polls = mock!(r53::Client::get_change)
        .sequence()
        .output(|| {
            r53::GetChangeOutput::builder()
                .change_info(change_info(r53::ChangeStatus::Pending))
                .build()
        })
        .times(3)
        .output(|| {
            r53::GetChangeOutput::builder()
                .change_info(change_info(r53::ChangeStatus::Insync))
                .build()
        })
        .build();
    let script = Script {
        route53: vec![polls.clone()],
        ..Script::default()
    };
    let started = tokio::time::Instant::now();
    let (result, shown) = call(
        &script,
        "aws.route53.wait_change",
        json!({"change_id": "/change/C1"}),
        Call::Run,
    )
    .await;
    assert_eq!(result.unwrap().outputs["status"], json!("INSYNC"));
    assert_eq!(polls.num_calls(), 4);
    // At once, then every 2 s while it is early (a quarter of the time waited, at least 2 s).
    assert_eq!(started.elapsed().as_millis(), 6_000);
    assert!(
        shown.any("waiting for change C1 to be INSYNC: PENDING (4s)"),
        "{}",
        shown.all()
    );
}

/// A zone a step only finds, not there: when the account's zones cannot be listed for the
/// error, it says so, and does not call the account empty (a failed read is no answer).
#[tokio::test(start_paused = true)]
async fn a_zone_not_found_with_the_zones_unlisted_says_they_could_not_be_listed() {
    let by_name = mock!(r53::Client::list_hosted_zones_by_name).then_output(no_zones_named);
    let listed = mock!(r53::Client::list_hosted_zones).then_error(|| {
        r53::ListHostedZonesError::generic(aws_error("AccessDenied", "not allowed to list"))
    });
    let script = Script {
        route53: vec![by_name, listed],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.route53.hosted_zone",
        json!({"name": "lab.example.com", "create": false}),
        Call::Run,
    )
    .await;
    let e = result.unwrap_err();
    assert!(
        e.message.contains("there is no public hosted zone named lab.example.com (the account's zones could not be listed: ")
            && e.message.contains("not allowed to list"),
        "{}",
        e.message
    );
    assert!(
        !e.message.contains("has no public hosted zone"),
        "{}",
        e.message
    );
}

/// An existing zone of the same name is used, not created again; one this run did not create
/// (no tag with the step's key) is not the run's to delete.
#[tokio::test(start_paused = true)]
async fn an_existing_zone_is_used_and_only_a_zone_this_run_created_is_undone() {
    let zone = || {
        r53::HostedZone::builder()
            .id("/hostedzone/Z1")
            .name("lab.example.com.")
            .caller_reference("someone")
            .build()
            .unwrap()
    };
    let listed = mock!(r53::Client::list_hosted_zones_by_name).then_output(move || {
        r53::ListHostedZonesByNameOutput::builder()
            .hosted_zones(zone())
            .is_truncated(false)
            .max_items(100)
            .build()
            .unwrap()
    });
    let tags = mock!(r53::Client::list_tags_for_resource)
        .then_output(|| r53::ListTagsForResourceOutput::builder().build());
    let got = mock!(r53::Client::get_hosted_zone).then_output(move || {
        r53::GetHostedZoneOutput::builder()
            .hosted_zone(zone())
            .delegation_set(
                r53::DelegationSet::builder()
                    .name_servers("ns-1.awsdns-01.org")
                    .name_servers("ns-2.awsdns-02.com")
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let create = mock!(r53::Client::create_hosted_zone).then_error(|| {
        aws_sdk_route53::operation::create_hosted_zone::CreateHostedZoneError::generic(aws_error(
            "HostedZoneAlreadyExists",
            "must not be called",
        ))
    });
    let script = Script {
        route53: vec![listed, tags, got, create.clone()],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.route53.hosted_zone",
        json!({"name": "lab.example.com"}),
        Call::Run,
    )
    .await;
    let outcome = result.unwrap();
    assert_eq!(create.num_calls(), 0);
    assert_eq!(outcome.outputs["zone_id"], json!("Z1"));
    assert_eq!(outcome.outputs["created"], json!(false));
    assert_eq!(outcome.outputs["name_servers"].as_array().unwrap().len(), 2);
    assert!(
        outcome.resources.is_empty(),
        "nothing for rollback to delete"
    );
}

/// A zone this step created before a crash cut it off from its tags is still known as this
/// step's by its caller reference, and rollback deletes it.
#[tokio::test(start_paused = true)]
async fn a_zone_created_before_its_tags_is_known_by_its_caller_reference() {
    let zone = || {
        r53::HostedZone::builder()
            .id("/hostedzone/Z9")
            .name("lab.example.com.")
            .caller_reference("run-1/step-2026-11-25T18:00:00.000Z")
            .build()
            .unwrap()
    };
    let listed = mock!(r53::Client::list_hosted_zones_by_name).then_output(move || {
        r53::ListHostedZonesByNameOutput::builder()
            .hosted_zones(zone())
            .is_truncated(false)
            .max_items(100)
            .build()
            .unwrap()
    });
    let tags = mock!(r53::Client::list_tags_for_resource)
        .then_output(|| r53::ListTagsForResourceOutput::builder().build());
    let got = mock!(r53::Client::get_hosted_zone).then_output(move || {
        r53::GetHostedZoneOutput::builder()
            .hosted_zone(zone())
            .build()
    });
    let script = Script {
        route53: vec![listed, tags.clone(), got],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.route53.hosted_zone",
        json!({"name": "lab.example.com"}),
        Call::Run,
    )
    .await;
    let outcome = result.unwrap();
    assert_eq!(outcome.outputs["created"], json!(true));
    assert_eq!(outcome.resources.len(), 1, "rollback deletes it");
    assert_eq!(tags.num_calls(), 0, "the caller reference was proof enough");
}

/// A create whose answer was lost is sent again by the SDK with the same caller reference, and
/// AWS answers `HostedZoneAlreadyExists`: the zone it made the first time is this step's (its
/// caller reference says so) and is adopted, tagged and undone like a zone created at once.
#[tokio::test(start_paused = true)]
async fn a_zone_whose_create_answer_was_lost_is_adopted() {
    let zone = || {
        r53::HostedZone::builder()
            .id("/hostedzone/Z9")
            .name("lab.example.com.")
            .caller_reference("run-1/step-2026-12-02T01:00:00.000Z")
            .build()
            .unwrap()
    };
    // Not there at first (the create is in flight); there once AWS refused the resend.
    let listed = mock!(r53::Client::list_hosted_zones_by_name)
        .sequence()
        .output(no_zones_named)
        .output(move || {
            r53::ListHostedZonesByNameOutput::builder()
                .hosted_zones(zone())
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        })
        .build();
    let refused = mock!(r53::Client::create_hosted_zone).then_error(|| {
        r53::CreateHostedZoneError::generic(aws_error(
            "HostedZoneAlreadyExists",
            "A hosted zone with the specified caller reference already exists",
        ))
    });
    let tagged = mock!(r53::Client::change_tags_for_resource)
        .then_output(|| r53::ChangeTagsForResourceOutput::builder().build());
    let got = mock!(r53::Client::get_hosted_zone).then_output(move || {
        r53::GetHostedZoneOutput::builder()
            .hosted_zone(zone())
            .build()
    });
    let script = Script {
        route53: vec![listed, refused, tagged.clone(), got],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.route53.hosted_zone",
        json!({"name": "lab.example.com"}),
        Call::Run,
    )
    .await;
    let outcome = result.unwrap();
    assert_eq!(outcome.outputs["zone_id"], json!("Z9"));
    assert_eq!(outcome.outputs["created"], json!(true));
    assert_eq!(outcome.resources.len(), 1, "rollback deletes it");
    assert_eq!(tagged.num_calls(), 1, "tagged as this run's");
}

/// A subnet made by hand is found by its VPC and range: one in another zone is told apart in
/// words, one made right is adopted and tagged as the step's, and none says what the VPC has.
#[tokio::test]
async fn a_subnet_made_by_hand_is_found_by_vpc_and_range() {
    let params =
        json!({"vpc_id": "vpc-1", "cidr": "10.0.1.0/24", "availability_zone": "ap-south-1a"});
    let all: Vec<String> = ["availability_zone", "public"].map(str::to_owned).to_vec();
    let subnets = |cidr: &'static str, az: &'static str| {
        mock!(ec2::Client::describe_subnets).then_output(move || {
            aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput::builder()
                .subnets(
                    ec2::Subnet::builder()
                        .subnet_id("subnet-9")
                        .vpc_id("vpc-1")
                        .cidr_block(cidr)
                        .availability_zone(az)
                        .build(),
                )
                .build()
        })
    };
    let check = |script: Script| {
        let (params, all) = (params.clone(), all.clone());
        async move { by_hand(&script, "aws.ec2.create_subnet", params, &all).await }
    };
    let found = check(Script {
        ec2: vec![subnets("10.0.1.0/24", "ap-south-1b")],
        ..Script::default()
    })
    .await;
    assert_eq!(found["found"], "differs", "{found}");
    assert_eq!(
        found["differences"],
        json!(["the subnet is in ap-south-1b; this step needs ap-south-1a"])
    );
    let found = check(Script {
        ec2: vec![subnets("10.0.9.0/24", "ap-south-1a")],
        ..Script::default()
    })
    .await;
    assert_eq!(found["found"], "nothing", "{found}");
    assert_eq!(
        found["seen"],
        json!(["subnet-9 10.0.9.0/24 in ap-south-1a"]),
        "what the VPC has instead"
    );
    let tagged = mock!(ec2::Client::create_tags)
        .match_requests(|r| r.resources() == ["subnet-9"])
        .then_output(|| ec2::CreateTagsOutput::builder().build());
    let found = check(Script {
        ec2: vec![subnets("10.0.1.0/24", "ap-south-1a"), tagged.clone()],
        ..Script::default()
    })
    .await;
    assert_eq!(found["found"], "matches", "{found}");
    assert_eq!(tagged.num_calls(), 1, "tagged as the step's");
}

/// A security group made by hand is found by its VPC and name, and its inbound rules compared by
/// port and source: a missing rule is named, with what the group allows instead.
#[tokio::test]
async fn a_security_group_made_by_hand_is_compared_rule_by_rule() {
    let params = json!({"vpc_id": "vpc-1", "name": "lab-alb-sg", "description": "web",
        "ingress": [{"port": 80, "cidr": "0.0.0.0/0"}]});
    let all = vec!["ingress".to_owned()];
    let group = |port: i32| {
        mock!(ec2::Client::describe_security_groups).then_output(move || {
            aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput::builder(
            )
            .security_groups(
                ec2::SecurityGroup::builder()
                    .group_id("sg-7")
                    .group_name("lab-alb-sg")
                    .vpc_id("vpc-1")
                    .ip_permissions(
                        ec2::IpPermission::builder()
                            .ip_protocol("tcp")
                            .from_port(port)
                            .to_port(port)
                            .ip_ranges(ec2::IpRange::builder().cidr_ip("0.0.0.0/0").build())
                            .build(),
                    )
                    .build(),
            )
            .build()
        })
    };
    let script = Script {
        ec2: vec![group(22)],
        ..Script::default()
    };
    let found = &by_hand(
        &script,
        "aws.ec2.create_security_group",
        params.clone(),
        &all,
    )
    .await;
    assert_eq!(found["found"], "differs", "{found}");
    assert_eq!(
        found["differences"],
        json!([
            "it has no inbound rule allowing tcp port 80 from 0.0.0.0/0 (it allows tcp port 22 from 0.0.0.0/0); this step needs one"
        ])
    );
    let tagged = mock!(ec2::Client::create_tags)
        .match_requests(|r| r.resources() == ["sg-7"])
        .then_output(|| ec2::CreateTagsOutput::builder().build());
    let script = Script {
        ec2: vec![group(80), tagged.clone()],
        ..Script::default()
    };
    let found = &by_hand(&script, "aws.ec2.create_security_group", params, &all).await;
    assert_eq!(found["found"], "matches", "{found}");
    assert_eq!(tagged.num_calls(), 1, "tagged as the step's");
}

/// A target group made by hand: one in the wrong VPC with the wrong port is told apart in words,
/// one made right is adopted and tagged as the step's; none is where the check looked.
#[tokio::test]
async fn a_target_group_made_by_hand_is_compared_then_adopted() {
    let params = json!({"name": "lab-tg", "vpc_id": "vpc-right", "port": 80,
        "health_check": {"path": "/health"}});
    let all: Vec<String> = ["vpc_id", "port", "protocol", "health_check"]
        .map(str::to_owned)
        .to_vec();
    let group = |vpc: &'static str, port: i32| {
        mock!(elb::Client::describe_target_groups).then_output(move || {
            elb::DescribeTargetGroupsOutput::builder()
                .target_groups(
                    elb::TargetGroup::builder()
                        .target_group_name("lab-tg")
                        .target_group_arn("arn:aws:elasticloadbalancing:ap-south-1:123456789012:targetgroup/lab-tg/1")
                        .vpc_id(vpc)
                        .port(port)
                        .protocol(elb::ProtocolEnum::Http)
                        .health_check_path("/health")
                        .build(),
                )
                .build()
        })
    };
    let wrong = Script {
        elbv2: vec![group("vpc-other", 8080)],
        ..Script::default()
    };
    let found = &by_hand(
        &wrong,
        "aws.elbv2.create_target_group",
        params.clone(),
        &all,
    )
    .await;
    assert_eq!(found["found"], "differs", "{found}");
    assert_eq!(
        found["differences"],
        json!([
            "the target group is in VPC vpc-other; this step needs VPC vpc-right",
            "its port is 8080; this step needs 80"
        ])
    );

    let tagged = mock!(elb::Client::add_tags)
        .match_requests(|r| r.tags().iter().any(|t| t.key() == Some("runbook:key")))
        .then_output(|| elb::AddTagsOutput::builder().build());
    let right = Script {
        elbv2: vec![group("vpc-right", 80), tagged.clone()],
        ..Script::default()
    };
    let found = &by_hand(
        &right,
        "aws.elbv2.create_target_group",
        params.clone(),
        &all,
    )
    .await;
    assert_eq!(found["found"], "matches", "{found}");
    assert_eq!(tagged.num_calls(), 1, "tagged as the step's");

    // None in the run's region; the learner's console was set to us-east-1.
    let regions = mock!(ec2::Client::describe_regions).then_output(|| {
        aws_sdk_ec2::operation::describe_regions::DescribeRegionsOutput::builder()
            .regions(ec2::Region::builder().region_name("ap-south-1").build())
            .regions(ec2::Region::builder().region_name("us-east-1").build())
            .build()
    });
    let none_then_elsewhere = mock!(elb::Client::describe_target_groups)
        .sequence()
        .error(|| {
            aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsError::generic(
                aws_error("TargetGroupNotFound", "One or more target groups not found"),
            )
        })
        .output(|| {
            elb::DescribeTargetGroupsOutput::builder()
                .target_groups(elb::TargetGroup::builder().target_group_name("lab-tg").build())
                .build()
        })
        .build();
    let elsewhere = Script {
        ec2: vec![regions],
        elbv2: vec![none_then_elsewhere],
        ..Script::default()
    };
    let found = &by_hand(&elsewhere, "aws.elbv2.create_target_group", params, &all).await;
    assert_eq!(found["found"], "nothing", "{found}");
    assert_eq!(found["looked"], "target groups named lab-tg in ap-south-1");
    assert_eq!(
        found["seen"],
        json!([
            "a target group named lab-tg is in us-east-1: this run works in ap-south-1 (the console's region is at its top right)"
        ])
    );
}

/// A class's checks read the records of several names of one zone at once: one listing from the
/// first name (in Route 53's order) serves them all, and a name it did not show is asked alone,
/// never taken for absent.
#[tokio::test]
async fn several_names_of_one_zone_are_read_in_one_listing() {
    let set = |name: &str| {
        r53::ResourceRecordSet::builder()
            .name(name)
            .r#type(r53::RrType::A)
            .ttl(60)
            .resource_records(
                r53::ResourceRecord::builder()
                    .value("192.0.2.1")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let listing = mock!(r53::Client::list_resource_record_sets)
        .match_requests(|r| r.start_record_name() == Some("a.class.example."))
        .then_output(move || {
            r53::ListResourceRecordSetsOutput::builder()
                .resource_record_sets(set("a.class.example."))
                .resource_record_sets(set("b.class.example."))
                .is_truncated(false)
                .max_items(300)
                .build()
                .unwrap()
        });
    let alone = mock!(r53::Client::list_resource_record_sets)
        .match_requests(|r| r.start_record_name() == Some("zz.class.example."))
        .then_output(|| {
            r53::ListResourceRecordSetsOutput::builder()
                .set_resource_record_sets(Some(Vec::new()))
                .is_truncated(false)
                .max_items(300)
                .build()
                .unwrap()
        });
    let script = Script {
        route53: vec![listing.clone(), alone.clone()],
        ..Script::default()
    };
    let c = script.clients();
    let keys = [
        "Z1 zz.class.example.",
        "Z1 b.class.example.",
        "Z1 a.class.example.",
    ]
    .map(str::to_owned)
    .to_vec();
    let (answers, calls) = super::route53::records_of_names(c.route53.clone(), keys).await;
    let names = |key: &str| -> Vec<String> {
        answers[key]
            .as_ref()
            .unwrap()
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| s.name().to_owned())
            .collect()
    };
    assert_eq!(names("Z1 a.class.example."), ["a.class.example."]);
    assert_eq!(names("Z1 b.class.example."), ["b.class.example."]);
    assert!(names("Z1 zz.class.example.").is_empty());
    assert_eq!(listing.num_calls(), 1, "one listing for a and b");
    assert_eq!(
        alone.num_calls(),
        1,
        "the name the listing did not show, asked alone"
    );
    assert_eq!(calls, 2);
}

fn failover_pair() -> r53::ListResourceRecordSetsOutput {
    let record = |role: r53::ResourceRecordSetFailover, dns: &str| {
        let id = role.as_str().to_owned();
        failover_alias(
            &id,
            role,
            (&format!("dualstack.{dns}."), "ZP97RAFLXTNZK"),
            true,
        )
    };
    r53::ListResourceRecordSetsOutput::builder()
        .resource_record_sets(record(
            r53::ResourceRecordSetFailover::Primary,
            "primary.elb.amazonaws.com",
        ))
        .resource_record_sets(record(
            r53::ResourceRecordSetFailover::Secondary,
            "secondary.elb.amazonaws.com",
        ))
        .is_truncated(false)
        .max_items(100)
        .build()
        .unwrap()
}

/// The `ELBv2` side of a failover pair: the primary's only target is stopped (`unused`), the
/// secondary's is healthy.
fn drill_elbv2() -> Vec<Rule> {
    let lbs = mock!(elb::Client::describe_load_balancers).then_output(|| {
        elb::DescribeLoadBalancersOutput::builder()
            .load_balancers(balancer(
                "primary",
                "primary.elb.amazonaws.com",
                elb::LoadBalancerStateEnum::Active,
            ))
            .load_balancers(balancer(
                "secondary",
                "secondary.elb.amazonaws.com",
                elb::LoadBalancerStateEnum::Active,
            ))
            .build()
    });
    let groups = mock!(elb::Client::describe_target_groups).then_compute_output(|req| {
        let lb = req.load_balancer_arn().unwrap_or_default();
        let name = if lb.contains("/primary/") {
            "primary-tg"
        } else {
            "secondary-tg"
        };
        elb::DescribeTargetGroupsOutput::builder()
            .target_groups(elb::TargetGroup::builder().target_group_arn(name).build())
            .build()
    });
    let health = mock!(elb::Client::describe_target_health).then_compute_output(|req| {
        let (state, reason) = if req.target_group_arn() == Some("primary-tg") {
            (
                elb::TargetHealthStateEnum::Unused,
                Some(elb::TargetHealthReasonEnum::InvalidState),
            )
        } else {
            (elb::TargetHealthStateEnum::Healthy, None)
        };
        elb::DescribeTargetHealthOutput::builder()
            .target_health_descriptions(
                elb::TargetHealthDescription::builder()
                    .target(elb::TargetDescription::builder().id("i-1").build())
                    .target_health(
                        elb::TargetHealth::builder()
                            .state(state)
                            .set_reason(reason)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    vec![lbs, groups, health]
}

/// A stopped instance's target is `unused`, not `unhealthy`; Route 53 treats a load balancer
/// whose target groups have no healthy target as unhealthy, so the answer is the secondary.
#[tokio::test(start_paused = true)]
async fn check_failover_counts_stopped_targets_as_unhealthy() {
    let records = mock!(r53::Client::list_resource_record_sets).then_output(failover_pair);
    let script = Script {
        route53: vec![records],
        elbv2: drill_elbv2(),
        ..Script::default()
    };
    let params = json!({"zone_id": "Z1", "name": "lab.example.com", "expect": "secondary"});
    let (result, shown) = call(&script, "aws.route53.check_failover", params, Call::Run).await;
    let outcome = result.unwrap();
    assert_eq!(outcome.outputs["answer"], json!("secondary"));
    assert!(shown.any("i-1 unused"), "{}", shown.all());

    let records = mock!(r53::Client::list_resource_record_sets).then_output(failover_pair);
    let script = Script {
        route53: vec![records],
        elbv2: drill_elbv2(),
        ..Script::default()
    };
    let params = json!({"zone_id": "Z1", "name": "lab.example.com", "expect": "primary"});
    let (result, _) = call(&script, "aws.route53.check_failover", params, Call::Run).await;
    assert!(
        result
            .unwrap_err()
            .message
            .contains("would answer with the SECONDARY record")
    );
}

/// A record with a Route 53 health check is healthy as its checkers say, and the reason says how
/// long that check takes to see a failure (its interval times its threshold), which lengthens
/// failover beyond the alias's TTL.
#[tokio::test(start_paused = true)]
async fn a_health_checked_record_says_how_long_a_failure_takes_to_be_seen() {
    let checked = |role: r53::ResourceRecordSetFailover, hc: &str| {
        r53::ResourceRecordSet::builder()
            .name("lab.example.com.")
            .r#type(r53::RrType::A)
            .set_identifier(role.as_str())
            .failover(role)
            .health_check_id(hc)
            .ttl(60)
            .resource_records(
                r53::ResourceRecord::builder()
                    .value("192.0.2.1")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let records = mock!(r53::Client::list_resource_record_sets).then_output(move || {
        r53::ListResourceRecordSetsOutput::builder()
            .resource_record_sets(checked(r53::ResourceRecordSetFailover::Primary, "hc-1"))
            .resource_record_sets(checked(r53::ResourceRecordSetFailover::Secondary, "hc-2"))
            .is_truncated(false)
            .max_items(300)
            .build()
            .unwrap()
    });
    let status = mock!(r53::Client::get_health_check_status).then_output(|| {
        aws_sdk_route53::operation::get_health_check_status::GetHealthCheckStatusOutput::builder()
            .health_check_observations(
                r53::HealthCheckObservation::builder()
                    .status_report(
                        r53::StatusReport::builder()
                            .status("Success: HTTP 200")
                            .build(),
                    )
                    .build(),
            )
            .build()
            .unwrap()
    });
    let config = mock!(r53::Client::get_health_check).then_output(|| {
        aws_sdk_route53::operation::get_health_check::GetHealthCheckOutput::builder()
            .health_check(
                r53::HealthCheck::builder()
                    .id("hc-1")
                    .caller_reference("x")
                    .health_check_version(1)
                    .health_check_config(
                        r53::HealthCheckConfig::builder()
                            .r#type(r53::HealthCheckType::Http)
                            .request_interval(30)
                            .failure_threshold(3)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let script = Script {
        route53: vec![records, status, config],
        ..Script::default()
    };
    let params = json!({"zone_id": "Z1", "name": "lab.example.com"});
    let (result, shown) = call(&script, "aws.route53.check_failover", params, Call::Run).await;
    let outcome = result.unwrap_or_else(|e| panic!("{e:?}\n{}", shown.all()));
    assert_eq!(outcome.outputs["answer"], json!("primary"));
    let reason = outcome.outputs["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "health check hc-1: 1 of 1 checkers see it healthy; a failure is seen after about 90 s"
        ),
        "{reason}"
    );
}

/// Route 53's rule for a load balancer with several target groups: it is healthy only if every
/// group has a healthy target; one group whose targets are all unhealthy, or one with no targets,
/// makes it unhealthy even though another group is healthy.
#[tokio::test(start_paused = true)]
async fn check_failover_needs_a_healthy_target_in_every_target_group() {
    for second_group_empty in [false, true] {
        let (lbs, _, _) = {
            let mut rules = drill_elbv2();
            let health = rules.pop().unwrap();
            let groups = rules.pop().unwrap();
            (rules.pop().unwrap(), groups, health)
        };
        let groups = mock!(elb::Client::describe_target_groups).then_compute_output(|req| {
            let lb = req.load_balancer_arn().unwrap_or_default();
            let names: &[&str] = if lb.contains("/primary/") {
                &["primary-tg", "primary-extra-tg"]
            } else {
                &["secondary-tg"]
            };
            names
                .iter()
                .fold(elb::DescribeTargetGroupsOutput::builder(), |b, n| {
                    b.target_groups(
                        elb::TargetGroup::builder()
                            .target_group_arn(*n)
                            .target_group_name(*n)
                            .build(),
                    )
                })
                .build()
        });
        let health = mock!(elb::Client::describe_target_health).then_compute_output(move |req| {
            let state = match req.target_group_arn() {
                Some("primary-extra-tg") if second_group_empty => {
                    return elb::DescribeTargetHealthOutput::builder().build();
                }
                Some("primary-extra-tg") => elb::TargetHealthStateEnum::Unhealthy,
                _ => elb::TargetHealthStateEnum::Healthy,
            };
            elb::DescribeTargetHealthOutput::builder()
                .target_health_descriptions(
                    elb::TargetHealthDescription::builder()
                        .target(elb::TargetDescription::builder().id("i-1").build())
                        .target_health(elb::TargetHealth::builder().state(state).build())
                        .build(),
                )
                .build()
        });
        let records = mock!(r53::Client::list_resource_record_sets).then_output(failover_pair);
        let script = Script {
            route53: vec![records],
            elbv2: vec![lbs, groups, health],
            ..Script::default()
        };
        let params = json!({"zone_id": "Z1", "name": "lab.example.com", "expect": "secondary"});
        let (result, shown) = call(&script, "aws.route53.check_failover", params, Call::Run).await;
        let outcome = result.unwrap_or_else(|e| panic!("{e:?}\n{}", shown.all()));
        assert_eq!(
            outcome.outputs["answer"],
            json!("secondary"),
            "empty: {second_group_empty}"
        );
        let expected = if second_group_empty {
            "primary-extra-tg: no targets (counts as unhealthy)"
        } else {
            "primary-extra-tg: i-1 unhealthy"
        };
        assert!(shown.any(expected), "{}", shown.all());
    }
}

/// What `TestDNSAnswer` says: these addresses for lab.example.com.
fn dns_answer(addresses: &[&str]) -> r53::TestDnsAnswerOutput {
    addresses
        .iter()
        .fold(r53::TestDnsAnswerOutput::builder(), |b, ip| {
            b.record_data(*ip)
        })
        .nameserver("ns-1.awsdns-01.org")
        .record_name("lab.example.com.")
        .record_type(r53::RrType::A)
        .response_code("NOERROR")
        .protocol("UDP")
        .build()
        .unwrap()
}

/// The load balancers' network interfaces: the primary's has 13.200.1.1, the secondary's 15.1.1.1.
fn balancer_interfaces() -> Rule {
    mock!(ec2::Client::describe_network_interfaces).then_compute_output(|req| {
        let wanted = req.filters()[0].values()[0].clone();
        let ip = if wanted == "ELB app/primary/50dc6c495c0c9188" {
            "13.200.1.1"
        } else {
            "15.1.1.1"
        };
        ec2::DescribeNetworkInterfacesOutput::builder()
            .network_interfaces(
                ec2::NetworkInterface::builder()
                    .association(
                        ec2::NetworkInterfaceAssociation::builder()
                            .public_ip(ip)
                            .build(),
                    )
                    .build(),
            )
            .build()
    })
}

/// On AWS, `check_failover` also asks Route 53 what it answers (`TestDNSAnswer`) and matches the
/// addresses to a load balancer's network interfaces; that answer wins over the evaluation.
#[tokio::test(start_paused = true)]
async fn on_aws_check_failover_asks_route53_what_it_answers() {
    let records = mock!(r53::Client::list_resource_record_sets).then_output(failover_pair);
    let answer = mock!(r53::Client::test_dns_answer)
        .then_output(|| dns_answer(&["13.200.1.1", "13.200.1.2"]));
    // The primary's interfaces have the answered addresses: DNS still answers primary (the
    // health checks have not caught up), whatever the targets say.
    let interfaces = balancer_interfaces();
    let script = Script {
        route53: vec![records, answer],
        elbv2: drill_elbv2(),
        ec2: vec![interfaces],
        real_aws: true,
    };
    let params = json!({"zone_id": "Z1", "name": "lab.example.com"});
    let (result, shown) = call(&script, "aws.route53.check_failover", params, Call::Run).await;
    let outcome = result.unwrap();
    assert_eq!(outcome.outputs["answer"], json!("primary"));
    assert!(
        shown.any(
            "TestDNSAnswer returns 13.200.1.1, 13.200.1.2, the primary load balancer's addresses"
        ),
        "{}",
        shown.all()
    );
}

/// With `expect`, the check waits until Route 53 gives that answer: on AWS, DNS goes on answering
/// with the primary for a while after its targets stop.
#[tokio::test(start_paused = true)]
async fn check_failover_waits_for_the_expected_answer() {
    let records = mock!(r53::Client::list_resource_record_sets).then_output(failover_pair);
    let answer = |ip: &'static str| move || dns_answer(&[ip]);
    let answers = mock!(r53::Client::test_dns_answer)
        .sequence()
        .output(answer("13.200.1.1"))
        .times(2)
        .output(answer("15.1.1.1"))
        .build();
    let interfaces = balancer_interfaces();
    let elbv2 = drill_elbv2();
    let (lbs, groups, health) = (elbv2[0].clone(), elbv2[1].clone(), elbv2[2].clone());
    let script = Script {
        route53: vec![records, answers.clone()],
        elbv2,
        ec2: vec![interfaces],
        real_aws: true,
    };
    let since = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let params =
        json!({"zone_id": "Z1", "name": "lab.example.com", "expect": "secondary", "since": since});
    let (result, shown) = call(&script, "aws.route53.check_failover", params, Call::Run).await;
    let outcome = result.unwrap();
    assert_eq!(outcome.outputs["answer"], json!("secondary"));
    assert_eq!(answers.num_calls(), 3, "asked until the answer changed");
    // Each poll reads the targets' health; the load balancers and their target groups behind
    // the two aliases are looked up once.
    assert_eq!(health.num_calls(), 6, "two groups, three polls");
    assert_eq!(groups.num_calls(), 2, "each alias's groups, once");
    assert_eq!(lbs.num_calls(), 2, "each alias's load balancer, once");
    assert!(
        shown.any("waiting for Route 53's answer for lab.example.com to be SECONDARY: PRIMARY"),
        "{}",
        shown.all()
    );
    assert!(outcome.outputs["seconds_since"].is_u64());
    assert!(shown.any("with the SECONDARY record "), "{}", shown.all());
}

/// The undo of `stop_instances` restarts what it stopped: when `DescribeInstances` fails it cannot
/// know what is stopped, so the undo fails (and the run stays not rolled back) instead of
/// passing for "nothing to restart"; instances AWS no longer knows are already gone.
#[tokio::test(start_paused = true)]
async fn a_failed_read_fails_the_undo_of_stop_instances() {
    let stopped = Resource {
        kind: "stopped instances".into(),
        id: "i-1".into(),
        undo: json!({"instance_ids": ["i-1"]}),
        changed: Vec::new(),
        region: None,
    };
    let unreachable = mock!(ec2::Client::describe_instances).then_error(|| {
        ec2::DescribeInstancesError::generic(aws_error("InternalError", "try later"))
    });
    let script = Script {
        ec2: vec![unreachable],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.ec2.stop_instances",
        Json::Null,
        Call::Undo(&stopped),
    )
    .await;
    let err = result.expect_err("a failed read fails the undo");
    assert!(err.message.contains("DescribeInstances"), "{}", err.message);

    let gone = mock!(ec2::Client::describe_instances).then_error(|| {
        ec2::DescribeInstancesError::generic(aws_error("InvalidInstanceID.NotFound", "no i-1"))
    });
    let script = Script {
        ec2: vec![gone],
        ..Script::default()
    };
    let (result, _) = call(
        &script,
        "aws.ec2.stop_instances",
        Json::Null,
        Call::Undo(&stopped),
    )
    .await;
    assert_eq!(
        result.unwrap().outputs["undone"],
        "already_gone",
        "an instance that is gone needs no restart"
    );

    // A journal record whose instance ids cannot be read fails the undo too.
    let unreadable = Resource {
        undo: json!({"instance_ids": "i-1"}),
        ..stopped
    };
    let (result, _) = call(
        &Script::default(),
        "aws.ec2.stop_instances",
        Json::Null,
        Call::Undo(&unreadable),
    )
    .await;
    let err = result.expect_err("unreadable ids are no answer");
    assert!(err.message.contains("instance ids"), "{}", err.message);
}
