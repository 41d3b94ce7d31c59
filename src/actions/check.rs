//! Checks against the outside world.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::time::{Duration, Instant};

use super::{ActionDef, Effect, Outputs, Params, out};
use crate::engine::action::{ActionError, BoxFuture, Context, Executor, Outcome};
use crate::runbook::format::DurationText;

fn status_ok() -> u16 {
    200
}

fn one_minute() -> DurationText {
    DurationText(Duration::from_secs(60))
}

/// GET a URL until it answers as expected.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "check.http")]
pub struct HttpParams {
    /// The URL to GET.
    pub url: String,
    /// The status code to wait for.
    #[serde(default = "status_ok")]
    pub expect_status: u16,
    /// Text the body must contain.
    #[serde(default)]
    pub expect_body: Option<String>,
    /// How long to keep trying.
    #[serde(default = "one_minute")]
    pub timeout: DurationText,
    /// Connect to this address instead of resolving the URL's host name (the request still sends
    /// the host name), to check a site before DNS points at it.
    #[serde(default)]
    pub resolve: Option<String>,
}

pub static ACTIONS: &[ActionDef] = &[ActionDef {
    name: "check.http",
    summary: "GET a URL until it answers with the expected status and body.",
    docs: "Sends GET requests to `url` until the response has `expect_status` and, if given, contains \
           `expect_body`, or until `timeout` passes. `resolve` sends the request to another address with \
           the URL's host name, like `curl --resolve`.",
    effect: Effect::Reads,
    params: Params::of::<HttpParams>(),
    outputs: Outputs::Fixed(&[
        out("status", "integer", "The last status code seen."),
        out(
            "body",
            "string",
            "The start of the last body seen (at most 4 KiB).",
        ),
        out(
            "elapsed_seconds",
            "integer",
            "Seconds until the answer matched.",
        ),
    ]),
    undo: None,
    executor: &Http,
}];

/// Longest wait between two requests.
const MAX_INTERVAL: Duration = Duration::from_secs(10);
/// Most of a body kept in the `body` output.
const BODY_OUTPUT: usize = 4096;

struct Http;

/// What one request got.
enum Seen {
    Answer { status: u16, body: String },
    Error(String),
}

impl Seen {
    fn describe(&self) -> String {
        match self {
            Seen::Answer { status, .. } => format!("status {status}"),
            Seen::Error(e) => e.clone(),
        }
    }
}

async fn client(p: &HttpParams, url: &reqwest::Url) -> Result<reqwest::Client, ActionError> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")));
    if let Some(target) = &p.resolve {
        let host = url
            .host_str()
            .ok_or_else(|| ActionError::new(format!("`{url}` has no host name")).invalid_input())?;
        let port = url.port_or_known_default().unwrap_or(80);
        let addr = tokio::net::lookup_host((target.as_str(), port))
            .await
            .map_err(|e| ActionError::retryable(format!("cannot resolve `{target}`: {e}")))?
            .next()
            .ok_or_else(|| ActionError::retryable(format!("`{target}` has no address")))?;
        builder = builder.resolve(host, addr);
    }
    builder
        .build()
        .map_err(|e| ActionError::new(format!("cannot make an HTTP client: {e}")))
}

async fn fetch(client: &reqwest::Client, url: &reqwest::Url) -> Seen {
    match client.get(url.clone()).send().await {
        Err(e) => Seen::Error(if e.is_timeout() {
            "no answer within 10s".into()
        } else if e.is_connect() {
            "cannot connect".into()
        } else {
            e.to_string()
        }),
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            Seen::Answer { status, body }
        }
    }
}

impl Executor for Http {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> BoxFuture<'a, Result<Outcome, ActionError>> {
        Box::pin(async move {
            let p: HttpParams = ctx.params()?;
            let url = reqwest::Url::parse(&p.url).map_err(|e| {
                ActionError::new(format!("`{}` is not a URL: {e}", p.url)).invalid_input()
            })?;
            let client = client(&p, &url).await?;
            let started = Instant::now();
            let mut interval = Duration::from_secs(1);
            let want = match &p.expect_body {
                Some(text) => format!("{} containing `{text}`", p.expect_status),
                None => p.expect_status.to_string(),
            };
            loop {
                let seen = fetch(&client, &url).await;
                if let Seen::Answer { status, body } = &seen {
                    let body_ok = p
                        .expect_body
                        .as_ref()
                        .is_none_or(|t| body.contains(t.as_str()));
                    if *status == p.expect_status && body_ok {
                        let mut outcome = Outcome::default();
                        outcome.outputs.insert("status".into(), (*status).into());
                        let excerpt: String = body.chars().take(BODY_OUTPUT).collect();
                        outcome.outputs.insert("body".into(), excerpt.into());
                        outcome
                            .outputs
                            .insert("elapsed_seconds".into(), started.elapsed().as_secs().into());
                        return Ok(outcome);
                    }
                }
                let elapsed = started.elapsed();
                if elapsed >= p.timeout.0 {
                    let mut error = ActionError::new(format!(
                        "GET {url} did not answer {want} within {}; last: {}",
                        p.timeout,
                        seen.describe()
                    ));
                    if let Seen::Answer { status, body } = &seen {
                        if *status == p.expect_status {
                            let excerpt: String = body.chars().take(200).collect();
                            error = error.hint(format!(
                                "the body did not contain the expected text; it began: {excerpt}"
                            ));
                        }
                    }
                    return Err(error);
                }
                ctx.progress.status(&format!(
                    "GET {url}: {}, waiting for {want} ({}s of {})",
                    seen.describe(),
                    elapsed.as_secs(),
                    p.timeout
                ));
                ctx.sleep(interval.min(p.timeout.0.saturating_sub(elapsed)))
                    .await?;
                interval = (interval * 2).min(MAX_INTERVAL);
            }
        })
    }
}
