//! AWS actions: EC2, Elastic Load Balancing v2 and Route 53.
//!
//! This module holds their definitions (parameters, outputs, effect, undo); the calls to AWS are
//! made by the execution layer.

pub mod client;
pub mod ec2;
pub mod elbv2;
pub mod limit;
pub mod route53;
#[cfg(test)]
mod scripted;

use indexmap::IndexMap;

use crate::engine::action::{ActionError, Context};

/// Extra tags to put on what an action creates (besides `Name` and the `runbook:*` tags).
pub type Tags = IndexMap<String, String>;

/// Default values shared by the parameter structs (serde's `default = "…"` needs functions).
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
    tags.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    tags
}

/// An SDK error as the engine's error: the operation, the AWS error code and message, whether
/// trying again may help, and a hint where one helps. Classified by the error's code accessor.
pub fn sdk_error<E, R>(
    operation: &str,
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> ActionError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    let code = err.code().unwrap_or_default().to_owned();
    let message = err.message().unwrap_or_default().to_owned();
    let detail = match (&code, err) {
        (c, _) if !c.is_empty() => format!("{c}: {message}"),
        (_, SdkError::DispatchFailure(_)) => "could not reach the AWS endpoint".to_owned(),
        (_, SdkError::TimeoutError(_)) => "the request timed out".to_owned(),
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
    match code.as_str() {
        "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => {
            let action = format!("{}:{operation}", iam_service::<E>());
            e = e.hint(format!(
                "the credentials are not allowed to call {operation}: allow `{action}` in the policy of the IAM user or role (README › Real AWS lists every permission the shipped runbooks need)"
            ));
        }
        "AuthFailure" | "InvalidClientTokenId" | "ExpiredToken" | "UnrecognizedClientException" => {
            e = e.hint("the credentials are invalid or expired; refresh them (`aws sso login`, new keys)").invalid_input();
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
        _ => {}
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

/// Run a delete; "not found" (any of `gone`) counts as deleted.
pub fn deleted<T, E, R>(
    op: &str,
    result: Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
    gone: &[&str],
) -> Result<(), ActionError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if code(&e).is_some_and(|c| gone.contains(&c.as_str())) => Ok(()),
        Err(e) => Err(sdk_error(op, &e)),
    }
}

/// Retry one AWS call while AWS says "not yet" (`retry_if` on its code and message), with waits
/// from 1 s doubling to 10 s, for at most `window`, showing why on the step's status line.
/// For errors that settle by themselves: `RegisterTargets`' `InvalidTarget` while an instance
/// starts, Route 53's `PriorRequestNotComplete`, an alias target AWS cannot see yet.
pub async fn settle<T, E, R, F, Fut>(
    ctx: &Context<'_>,
    operation: &str,
    window: std::time::Duration,
    retry_if: impl Fn(&str, &str) -> bool,
    mut call: F,
) -> Result<T, ActionError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>>,
{
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    let started = tokio::time::Instant::now();
    let mut wait = std::time::Duration::from_secs(1);
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let (code, message) = (
                    e.code().unwrap_or_default().to_owned(),
                    e.message().unwrap_or_default().to_owned(),
                );
                if !retry_if(&code, &message) || started.elapsed() + wait > window {
                    return Err(sdk_error(operation, &e));
                }
                ctx.progress.status(&format!(
                    "{operation}: {code} ({message}); trying again in {}s ({}s so far)",
                    wait.as_secs(),
                    started.elapsed().as_secs()
                ));
                ctx.sleep(wait).await?;
                wait = (wait * 2).min(std::time::Duration::from_secs(10));
            }
        }
    }
}

/// First and longest wait between two polls of an AWS wait.
pub const POLL_FIRST: std::time::Duration = std::time::Duration::from_secs(2);
pub const POLL_MAX: std::time::Duration = std::time::Duration::from_secs(15);

/// What one poll of a wait saw.
pub enum Seen<T> {
    /// The wait is over.
    Done(T),
    /// Not yet: what was seen, in words (`provisioning`, `i-1 pending, i-2 running`).
    Waiting(String),
}

/// Poll at once, then after `first`, doubling up to [`POLL_MAX`], until `check` says done; each
/// poll shows `waiting for {what} to be {target}: {seen} ({n}s)` on the step's status line, so a
/// wait always says what it waits for, what it sees and for how long. Cancelled with the run.
pub async fn poll<T, F, Fut>(
    ctx: &Context<'_>,
    what: &str,
    target: &str,
    first: std::time::Duration,
    mut check: F,
) -> Result<T, ActionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Seen<T>, ActionError>>,
{
    let started = tokio::time::Instant::now();
    let mut interval = first;
    loop {
        match check().await? {
            Seen::Done(v) => return Ok(v),
            Seen::Waiting(seen) => ctx.progress.status(&format!(
                "waiting for {what} to be {target}: {seen} ({}s)",
                started.elapsed().as_secs()
            )),
        }
        ctx.sleep(interval).await?;
        interval = (interval * 2).min(POLL_MAX);
    }
}

/// A describe call for something that may not exist: "not found" (any of `gone`) is `None`.
pub fn found<T, E, R>(
    op: &str,
    result: Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
    gone: &[&str],
) -> Result<Option<T>, ActionError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if code(&e).is_some_and(|c| gone.contains(&c.as_str())) => Ok(None),
        Err(e) => Err(sdk_error(op, &e)),
    }
}
