//! AWS actions: EC2, Elastic Load Balancing v2 and Route 53.
//!
//! Each service file ([`ec2`], [`instances`], [`elbv2`], [`route53`]) holds its actions'
//! definitions and what is their own: parameters, the create call and the calls that finish it,
//! their checks. What every created resource shares is written once: [`kinds`] has one entry per
//! kind (console page, how to list it by tag, look at it and delete it), and [`life`] turns an
//! action's create into run, reconcile, adoption and undo. Beside them: the failover check
//! ([`failover`]), a plan's readiness checks ([`readiness`]) and a class's quota preflight
//! ([`quota`]), the SDK clients and rate limits ([`client`], [`limit`]), shared polls
//! ([`shared`]), tags ([`tags`]), prices ([`cost`]) and sweep ([`sweep`]).

/// Every item of every page of a paginated SDK call, or the call's error as an `ActionError`.
macro_rules! pages {
    ($request:expr, $operation:literal) => {
        $request
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error($operation, &e))?
    };
}

pub mod aws_cli;
pub mod batch;
pub mod client;
pub mod cost;
pub mod ec2;
pub mod elbv2;
pub mod existing;
pub mod failover;
pub mod instances;
pub mod kinds;
pub mod life;
pub mod limit;
pub mod quota;
pub mod readiness;
pub mod records;
pub mod route53;
#[cfg(test)]
mod scripted;
pub mod shared;
pub mod site;
pub mod sweep;
pub mod tags;
pub mod watch;

use indexmap::IndexMap;

use crate::engine::action::{ActionError, Context, Undone};
use crate::engine::retry::Backoff;

/// Extra tags to put on what an action creates (besides `Name` and the `runbook:*` tags).
pub type Tags = IndexMap<String, String>;

/// The AWS actions, in the order `runbook actions` lists them.
pub fn all() -> impl Iterator<Item = &'static crate::actions::ActionDef> {
    ec2::ACTIONS
        .iter()
        .chain(instances::ACTIONS)
        .chain(elbv2::ACTIONS)
        .chain(existing::ACTIONS)
        .chain(route53::ACTIONS)
}

/// Whether the action of this name calls AWS (and so needs a region and credentials).
pub fn calls_aws(action: &str) -> bool {
    all().any(|a| a.name == action)
}

pub mod defaults {
    pub fn yes() -> bool {
        true
    }

    pub fn port_80() -> u16 {
        80
    }

    pub fn http() -> String {
        "HTTP".into()
    }

    pub fn slash() -> String {
        "/".into()
    }

    /// An optional string a template may render empty (`"{{ vars.zone_id }}"` with no value): empty
    /// is absent.
    pub fn empty_is_none<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<String>, D::Error> {
        let s: Option<String> = serde::Deserialize::deserialize(d)?;
        Ok(s.filter(|s| !s.trim().is_empty()))
    }
}

/// The tags every created resource carries: `Name`, and what ties it to its run and step
/// (`runbook:key` is the step's idempotency key, which reconcile searches for).
pub fn standard_tags(ctx: &Context<'_>, name: Option<&str>, extra: &Tags) -> Vec<(String, String)> {
    let mut tags = vec![
        ("runbook:run".to_owned(), ctx.run_id.to_owned()),
        ("runbook:step".to_owned(), ctx.step_id.to_owned()),
        ("runbook:key".to_owned(), ctx.key.to_owned()),
    ];
    if let Some(name) = name {
        tags.push(("Name".to_owned(), name.to_owned()));
    }
    tags.extend(ctx.labels.iter().cloned());
    tags.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    tags
}

/// An SDK error as the engine's error: the operation, the AWS error code and message, whether
/// trying again may help, and a hint where one helps. Classified by the error's code accessor.
/// The innermost cause of an error, as it words it.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// AWS refused a request for the time it was signed at: this machine's clock is off (EC2's
/// `RequestExpired`; elsewhere `SignatureDoesNotMatch` saying "Signature expired").
pub(super) fn clock_off(code: &str, message: &str) -> bool {
    code == "RequestExpired"
        || (code == "SignatureDoesNotMatch" && message.to_lowercase().contains("expired"))
}

/// An SDK call's error, with the HTTP answer it came with.
pub type SdkError<E> = aws_smithy_runtime_api::client::result::SdkError<
    E,
    aws_smithy_runtime_api::client::orchestrator::HttpResponse,
>;

pub fn sdk_error<E>(operation: &str, err: &SdkError<E>) -> ActionError
where
    E: ServiceError,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    let code = err.code().unwrap_or_default().to_owned();
    let message = err.message().unwrap_or_default().to_owned();
    let detail = match (&code, err) {
        (c, _) if !c.is_empty() => format!("{c}: {message}"),
        (_, SdkError::DispatchFailure(f)) => match f.as_connector_error().map(|c| root_cause(c)) {
            // Why, in the system's words ("Connection refused (os error 111)", a DNS failure).
            Some(why) if !why.is_empty() => format!("could not reach the AWS endpoint ({why})"),
            _ => "could not reach the AWS endpoint".to_owned(),
        },
        (_, SdkError::TimeoutError(_)) => "the request timed out".to_owned(),
        // No AWS error in the answer (an HTML page, an empty body): not an AWS API's answer. Its
        // status says enough; the SDK's whole context would print the raw response.
        (_, SdkError::ServiceError(service)) => {
            let status = service.raw().status().as_u16();
            format!(
                "the endpoint answered HTTP {status} with no AWS error in it (is the endpoint an AWS API, and does it serve the region?)"
            )
        }
        _ => aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
    };
    let mut e = ActionError::new(format!("{operation} failed: {detail}"));
    e.retryable = matches!(
        code.as_str(),
        "RequestLimitExceeded"
            | "Throttling"
            | "ThrottlingException"
            | "PriorRequestNotComplete"
            | "DependencyViolation"
            | "InvalidTarget"
    ) || matches!(
        err,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
    );
    // Nothing answered: a refused or dropped connection, or a call that timed out.
    e.unreachable = matches!(
        err,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
    );
    match code.as_str() {
        // The first load balancer of an account makes ELB's service-linked role: the refusal
        // names that IAM action, not the call that needed it.
        "AccessDenied" | "AccessDeniedException" if message.contains("CreateServiceLinkedRole") => {
            e = e.hint(format!(
                "{operation} needs Elastic Load Balancing's service-linked role, which the first load balancer of an account creates: allow `iam:CreateServiceLinkedRole` (for elasticloadbalancing.amazonaws.com) in the policy of the IAM user or role, or have an administrator create the role once (`aws iam create-service-linked-role --aws-service-name elasticloadbalancing.amazonaws.com`)"
            ));
        }
        "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => {
            let action = format!("{}:{operation}", iam_service::<E>());
            e = e.hint(format!(
                "the credentials are not allowed to call {operation}: allow `{action}` in the policy of the IAM user or role (docs/real-aws.md and docs/iam-policy.json list every permission the shipped runbooks need)"
            ));
        }
        "AuthFailure" | "InvalidClientTokenId" | "ExpiredToken" | "ExpiredTokenException"
        | "InvalidToken" | "UnrecognizedClientException" => {
            e = e.hint("the credentials are invalid or expired; refresh them (`aws sso login`, new keys)").invalid_input();
        }
        c if clock_off(c, &message) => {
            e = e.hint("AWS refused the request's time: this machine's clock is more than 5 minutes off; set it right (`timedatectl set-ntp true`, or the system's date settings) and run again").invalid_input();
        }
        "InvalidVpc.Range" | "InvalidVpcRange" => {
            e = e.hint("a VPC's range must be between /16 and /28 (for example 10.0.0.0/16)");
        }
        "InvalidSubnet.Conflict" | "InvalidSubnet.Range" => {
            e = e.hint("the subnet's range must lie inside the VPC's and overlap no other subnet of the VPC");
        }
        "DuplicateLoadBalancerName" | "DuplicateTargetGroupName" | "InvalidGroup.Duplicate" => {
            e = e.hint("the name is taken in this account and region: choose another `prefix` var, or delete the existing resource");
        }
        "VpcLimitExceeded" => e = e.hint("the account's VPC quota (5 per region by default) is used up; delete unused VPCs or ask for more (quota L-F678F1CE)"),
        "InternetGatewayLimitExceeded" => e = e.hint("the account's internet gateway quota (5 per region by default) is used up; delete unused gateways or ask for more (Service Quotas › Amazon VPC › L-A4707A72)"),
        "TooManyLoadBalancers" => e = e.hint("the account's Application Load Balancer quota is used up in this region; delete unused ones or ask for more (Service Quotas › Elastic Load Balancing › L-53DA6B97)"),
        "VcpuLimitExceeded" => e = e.hint("the account's vCPU quota for On-Demand standard instances is used up (a new account's can be 5 or fewer; a t3.micro uses 2): stop or terminate other instances, or ask for more (Service Quotas › Amazon EC2 › L-1216C47A)"),
        // One code, two meanings: deletion protection on a delete, an unverified account on a
        // create.
        "OperationNotPermitted" if operation.starts_with("Delete") || message.to_lowercase().contains("deletion protection") => e = e.hint("deletion protection is on: turn it off (EC2 › Load balancers › the load balancer › Actions › Edit load balancer attributes, or `aws elbv2 modify-load-balancer-attributes --attributes Key=deletion_protection.enabled,Value=false`), then run the rollback again"),
        "OperationNotPermitted" => e = e.hint("the account may not do this yet: new accounts often cannot create load balancers until AWS has verified them; open a case with AWS Support (Account and billing), or try another region"),
        "PendingVerification" => e = e.hint("AWS is still verifying this new account (usually minutes, up to 4 hours); wait for the confirmation email, then run again"),
        "Unsupported" => e = e.hint("this is not offered where asked (an instance type in this availability zone, for example); let the runbook pick zones with aws.ec2.find_zones, or choose another instance type or region"),
        "OptInRequired" => e = e.hint("the account is not subscribed to this service or region; enable the region (Account › AWS Regions) or finish the account's sign-up"),
        _ => {}
    }
    if !code.is_empty() {
        e.code = Some(code);
    }
    e
}

/// The IAM service prefix of the operation whose error type is `E` (`ec2`, `elasticloadbalancing`,
/// `route53`), read from the SDK crate that defines the type.
fn iam_service<E>() -> &'static str {
    let path = std::any::type_name::<E>();
    if path.starts_with("aws_sdk_elasticloadbalancingv2::") {
        "elasticloadbalancing"
    } else if path.starts_with("aws_sdk_route53::") {
        "route53"
    } else {
        "ec2"
    }
}

/// The error's code, if AWS sent one.
pub fn code<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Option<String>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    err.code().map(str::to_owned)
}

/// Run a delete: it succeeded (removed), or AWS answered "not found" (any of `gone`: already
/// gone). Any other error, a failed connection included, is an error.
pub fn deleted<T, E>(
    op: &str,
    result: Result<T, SdkError<E>>,
    gone: &[&str],
) -> Result<Undone, ActionError>
where
    E: ServiceError,
{
    match result {
        Ok(_) => Ok(Undone::Removed),
        Err(e) if code(&e).is_some_and(|c| gone.contains(&c.as_str())) => Ok(Undone::AlreadyGone),
        Err(e) => Err(sdk_error(op, &e)),
    }
}

/// An AWS service's error, as every SDK operation's is: it has AWS's code and message.
pub trait ServiceError:
    aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static
{
}

impl<T> ServiceError for T where
    T: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static
{
}

/// Retry one AWS call while AWS says "not yet" (`retry_if` on its code and message), with waits
/// from 1 s doubling to 10 s, for at most `window`, showing why on the step's status line.
/// For errors that settle by themselves: `RegisterTargets`' `InvalidTarget` while an instance
/// starts, Route 53's `PriorRequestNotComplete`, an alias target AWS cannot see yet.
pub async fn settle<T, E, F, Fut>(
    ctx: &Context<'_>,
    operation: &str,
    window: std::time::Duration,
    retry_if: impl Fn(&str, &str) -> bool,
    mut call: F,
) -> Result<T, ActionError>
where
    E: ServiceError,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
{
    settle_errors(ctx, window, retry_if, || {
        // Boxed: an SDK call's future is large, and the retry loop holds it.
        let sent = Box::pin(call());
        async move { sent.await.map_err(|e| sdk_error(operation, &e)) }
    })
    .await
}

/// [`settle`] for a call that answers in the tool's errors ([`sdk_error`]'s, with AWS's code):
/// `retry_if` is given the code and the message.
pub async fn settle_errors<T, F, Fut>(
    ctx: &Context<'_>,
    window: std::time::Duration,
    retry_if: impl Fn(&str, &str) -> bool,
    mut call: F,
) -> Result<T, ActionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ActionError>>,
{
    let started = tokio::time::Instant::now();
    let mut backoff = Backoff::new(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(10),
    )
    .exact();
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let code = e.code.clone().unwrap_or_default();
                if !retry_if(&code, &e.message) || started.elapsed() + backoff.peek() > window {
                    return Err(e);
                }
                let wait = backoff.next_wait();
                // Not failed yet: "RegisterTargets: InvalidTarget: …; trying again in 2s".
                ctx.progress.status(&format!(
                    "{}; trying again in {}s ({}s so far)",
                    e.message.replacen(" failed: ", ": ", 1),
                    wait.as_secs(),
                    started.elapsed().as_secs()
                ));
                ctx.sleep(wait).await?;
            }
        }
    }
}

/// How long a call naming something created moments ago waits out EC2's eventual consistency.
pub const CONSISTENCY: std::time::Duration = std::time::Duration::from_secs(120);

/// Whether an error code is EC2's "no such id" (`InvalidVpcID.NotFound`, `InvalidGroup.NotFound`,
/// `InvalidInstanceID.NotFound`, …), which AWS may answer for a while after the id was created.
pub fn not_found_yet(code: &str) -> bool {
    code.ends_with(".NotFound")
}

/// One EC2 call naming resources created moments ago: a `….NotFound` answer is waited out (AWS
/// documents that EC2 is eventually consistent) for [`CONSISTENCY`], saying so on the status line.
pub async fn consistent<T, E: ServiceError, Fut>(
    ctx: &Context<'_>,
    operation: &str,
    call: impl FnMut() -> Fut,
) -> Result<T, ActionError>
where
    Fut: Future<Output = Result<T, SdkError<E>>>,
{
    settle(
        ctx,
        operation,
        CONSISTENCY,
        |code, _| not_found_yet(code),
        call,
    )
    .await
}

/// The longest wait between two polls.
pub const POLL_MAX: std::time::Duration = std::time::Duration::from_secs(15);

/// How long what a wait waits for usually takes on AWS: polls are sparse before that and dense
/// around it, so a wait ends soon after the change and a long wait still costs few calls
/// (bench/failover measures both).
#[derive(Clone, Copy, Debug)]
pub struct Typical(
    pub std::time::Duration,
    Option<std::time::Duration>,
    /// Measured: polled every [`MEASURED_EVERY`] however long it takes, so the moment it is done
    /// is known within that (the drill's figures).
    bool,
);

/// How far apart a measured wait's polls are.
pub const MEASURED_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl Typical {
    /// A load balancer provisioning, a Route 53 change, an instance starting or stopping.
    /// Gives up after 30 minutes, not five times the usual: AWS reports load balancers taking
    /// 10–30 minutes in rare cases, and giving up sooner costs the whole lab.
    pub const LOAD_BALANCER: Typical = Typical(
        std::time::Duration::from_secs(180),
        Some(std::time::Duration::from_secs(30 * 60)),
        false,
    );
    pub const CHANGE: Typical = Typical(std::time::Duration::from_secs(45), None, false);
    pub const INSTANCE: Typical = Typical(std::time::Duration::from_secs(30), None, false);
    /// Target health: a few health checks (30 s apart by default).
    pub const TARGETS: Typical = Typical(std::time::Duration::from_secs(90), None, false);
    /// Load balancer deletion.
    pub const DELETION: Typical = Typical(std::time::Duration::from_secs(30), None, false);

    /// The same wait, measured: polled every [`MEASURED_EVERY`] however long it takes (a drill's
    /// moments: each figure within 2 s of when it became observable), with the same deadline.
    #[must_use]
    pub const fn measured(self) -> Typical {
        Typical(self.0, self.1, true)
    }

    /// How long a wait goes on by default before it gives up (a step's `timeout:` replaces it):
    /// five times the usual time, and at least ten minutes, so only what is stuck gives up (or
    /// the kind's own deadline, where it has one).
    pub fn deadline(self) -> std::time::Duration {
        self.1
            .unwrap_or_else(|| (self.0 * 5).max(std::time::Duration::from_secs(600)))
    }

    /// The wait before the next poll, `elapsed` into the wait: until three quarters of the
    /// typical time, a quarter of the time waited so far (at least 2 s), growing to a sixth of
    /// the typical time (at most [`POLL_MAX`]); then a fortieth (at least 1 s) until twice it;
    /// then doubling up to [`POLL_MAX`]. So what is done sooner than usual (a load balancer
    /// active in 40 s, where 3 minutes is usual) is seen within a quarter of the time it took,
    /// not a whole sparse interval later; a 3-minute wait costs 7 more polls for it.
    pub fn next(
        self,
        elapsed: std::time::Duration,
        last: std::time::Duration,
    ) -> std::time::Duration {
        use std::time::Duration;
        let typical = self.0;
        if self.2 {
            return MEASURED_EVERY;
        }
        if elapsed < typical.mul_f64(0.75) {
            let sparse = (typical / 6).clamp(Duration::from_secs(2), POLL_MAX);
            (elapsed / 4).clamp(Duration::from_secs(2), sparse)
        } else if elapsed < typical * 2 {
            (typical / 40).max(Duration::from_secs(1))
        } else {
            (last * 2).clamp(Duration::from_secs(2), POLL_MAX)
        }
    }
}

/// What one poll of a wait saw.
pub enum Seen<T> {
    /// The wait is over.
    Done(T),
    /// Not yet: what was seen, in words (`provisioning`, `i-1 pending, i-2 running`).
    Waiting(String),
}

/// The error code of a wait that gave up.
pub const WAIT_GAVE_UP: &str = "WaitGaveUp";

/// Poll at once, then on the schedule of `typical`, until `check` says done; each poll shows
/// `waiting for {what} to be {target}: {seen} ({n}s)` on the step's status line, so a wait
/// always says what it waits for, what it sees and for how long. Cancelled with the run.
/// It gives up at the step's `timeout:` (just before, so that this message wins) or else after
/// [`Typical::deadline`], failing with the last thing seen and `next`: what to check.
pub async fn poll<T, F, Fut>(
    ctx: &Context<'_>,
    labels: (&str, &str),
    typical: Typical,
    next: &str,
    mut check: F,
) -> Result<T, ActionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Seen<T>, ActionError>>,
{
    wait(ctx, labels, typical, next, false, |_| check()).await
}

/// [`poll`] for a wait whose polls are shared with others ([`shared::SharedPoll`]): `check` is
/// given the time its next poll is due and answers then, or sooner when another wait's poll
/// brought news.
pub async fn poll_shared<T, F, Fut>(
    ctx: &Context<'_>,
    labels: (&str, &str),
    typical: Typical,
    next: &str,
    check: F,
) -> Result<T, ActionError>
where
    F: FnMut(tokio::time::Instant) -> Fut,
    Fut: Future<Output = Result<Seen<T>, ActionError>>,
{
    wait(ctx, labels, typical, next, true, check).await
}

async fn wait<T, F, Fut>(
    ctx: &Context<'_>,
    (what, target): (&str, &str),
    typical: Typical,
    next: &str,
    shared: bool,
    mut check: F,
) -> Result<T, ActionError>
where
    F: FnMut(tokio::time::Instant) -> Fut,
    Fut: Future<Output = Result<Seen<T>, ActionError>>,
{
    use std::time::Duration;
    let started = tokio::time::Instant::now();
    let give_up = ctx.deadline.map_or_else(
        || started + typical.deadline(),
        |d| d.checked_sub(Duration::from_secs(1)).unwrap_or(d),
    );
    let mut interval = Duration::ZERO;
    let mut due = started;
    loop {
        if !shared {
            ctx.sleep(due.saturating_duration_since(tokio::time::Instant::now()))
                .await?;
        }
        let seen = tokio::select! {
            // Boxed: a check's future can be large, and it lives across the select.
            seen = Box::pin(limit::as_poll(check(due))) => seen?,
            () = ctx.cancel.cancelled() => return Err(ActionError::cancelled()),
        };
        let seen = match seen {
            Seen::Done(v) => return Ok(v),
            Seen::Waiting(seen) => seen,
        };
        ctx.progress.status(&format!(
            "waiting for {what} to be {target}: {seen} ({}s)",
            started.elapsed().as_secs()
        ));
        let now = tokio::time::Instant::now();
        if now >= give_up {
            let mut error = ActionError::new(format!(
                "gave up waiting for {what} to be {target} after {}: last seen {seen}",
                humantime::format_duration(Duration::from_secs(started.elapsed().as_secs()))
            ))
            .hint(format!(
                "{next}; if it only needs longer, give the step a longer `timeout:`, or keep what exists (`--on-failure keep`) and `runbook resume` later: the step waits again and creates nothing twice"
            ));
            error.code = Some(WAIT_GAVE_UP.to_owned());
            return Err(error);
        }
        interval = typical.next(started.elapsed(), interval).min(give_up - now);
        due = now + interval;
    }
}

/// A describe call for something that may not exist: "not found" (any of `gone`) is `None`.
pub fn found<T, E>(
    op: &str,
    result: Result<T, SdkError<E>>,
    gone: &[&str],
) -> Result<Option<T>, ActionError>
where
    E: ServiceError,
{
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if code(&e).is_some_and(|c| gone.contains(&c.as_str())) => Ok(None),
        Err(e) => Err(sdk_error(op, &e)),
    }
}

#[cfg(test)]
mod tests {
    /// A measured wait (the drill's) polls every 2 s however long it takes, so its figure is
    /// within that; an ordinary one spreads its polls out.
    #[test]
    fn a_measured_wait_polls_every_two_seconds() {
        use std::time::Duration;
        for elapsed in [0, 10, 60, 200, 900] {
            let e = Duration::from_secs(elapsed);
            assert_eq!(
                Typical::TARGETS.measured().next(e, Duration::from_secs(2)),
                Duration::from_secs(2)
            );
        }
        assert!(
            Typical::TARGETS.next(Duration::from_secs(400), Duration::from_secs(10))
                > Duration::from_secs(2)
        );
    }

    use super::Typical;

    #[test]
    fn created_resources_link_to_their_console_page_in_the_region() {
        assert_eq!(
            super::kinds::console_url("vpc", "vpc-1", "ap-south-1").unwrap(),
            "https://ap-south-1.console.aws.amazon.com/vpcconsole/home?region=ap-south-1#VpcDetails:VpcId=vpc-1"
        );
        assert!(
            super::kinds::console_url("hosted zone", "Z1", "eu-west-1")
                .unwrap()
                .ends_with("#ListRecordSets/Z1")
        );
        assert_eq!(super::kinds::console_url("record", "x", "eu-west-1"), None);
    }
    use std::time::Duration;

    /// Sparse before the typical time, dense around it, backing off long after.
    /// A load balancer is waited for 30 minutes before the wait gives up (AWS reports 10–30 in
    /// rare cases); other waits keep five times their usual time, at least ten minutes.
    #[test]
    fn a_load_balancer_is_waited_for_half_an_hour() {
        use std::time::Duration;
        assert_eq!(Typical::LOAD_BALANCER.deadline(), Duration::from_secs(1800));
        assert_eq!(Typical::CHANGE.deadline(), Duration::from_secs(600));
        assert_eq!(Typical::TARGETS.deadline(), Duration::from_secs(600));
    }

    #[test]
    fn polls_are_dense_around_the_typical_time() {
        let lb = Typical::LOAD_BALANCER;
        let s = Duration::from_secs;
        assert_eq!(lb.next(s(0), s(0)), s(2));
        assert_eq!(lb.next(s(20), s(4)), s(5));
        assert_eq!(lb.next(s(100), s(15)), s(15));
        assert_eq!(lb.next(s(140), s(15)), s(4) + Duration::from_millis(500));
        assert_eq!(lb.next(s(400), s(4)), s(8));
        assert_eq!(lb.next(s(500), s(8)), s(15));
        assert_eq!(Typical::CHANGE.next(s(0), s(0)), s(2));
        assert_eq!(
            Typical::CHANGE.next(s(31), s(7)),
            s(7) + Duration::from_millis(500)
        );
        assert_eq!(
            Typical::CHANGE.next(s(40), s(7)),
            s(1) + Duration::from_millis(125)
        );
        // How many polls a wait for something done after `after` costs, and how late it sees it.
        let wait = |typical: Typical, after: Duration| {
            let mut t = Duration::ZERO;
            let mut last = Duration::ZERO;
            let mut polls = 1;
            while t < after {
                last = typical.next(t, last);
                t += last;
                polls += 1;
            }
            (polls, t.saturating_sub(after))
        };
        // A 3-minute wait costs under 30 polls and ends within 5 s of the change.
        let (polls, late) = wait(lb, s(180));
        assert!(polls <= 28, "{polls} polls");
        assert!(late <= s(5), "seen {late:?} late");
        // A load balancer active in 36 s is seen within a quarter of that.
        let (_, late) = wait(lb, s(36));
        assert!(late <= s(9), "seen {late:?} late");
        let (_, late) = wait(Typical::CHANGE, s(9));
        assert!(late <= s(2), "seen {late:?} late");
    }
}
