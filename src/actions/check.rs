//! Checks against the outside world.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::time::{Duration, Instant};

use super::{ActionDef, Effect, Outputs, Params, out};
use crate::engine::action::{ActionError, Context, Executor, Outcome, Running};
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
    /// Text the body must contain (looked for in its first MiB).
    pub expect_body: Option<String>,
    /// How long to keep trying.
    #[serde(default = "one_minute")]
    pub timeout: DurationText,
    /// Connect to this address instead of resolving the URL's host name (the request still sends
    /// the host name), to check a site before DNS points at it.
    pub resolve: Option<String>,
    /// Ask these name servers for the URL's host name on every attempt (a hosted zone's own
    /// `name_servers`, `host` or `host:port`), instead of the system's resolver: what the domain
    /// answers before the registrar points at them, and with no resolver cache in the way.
    #[serde(default)]
    pub nameservers: Vec<String>,
    /// A time (RFC 3339, such as a stop step's `stopped_at`) the answer is measured from, as a
    /// drill's moment: requests at most 2 s apart, and `seconds_since` says how long after it the
    /// expected answer came.
    pub since: Option<String>,
}

pub static ACTIONS: &[ActionDef] = &[ActionDef {
    summary: "GET a URL until it answers with the expected status and body.",
    docs: "Sends GET requests to `url` until the response has `expect_status` and, if given, contains \
           `expect_body`, or until `timeout` passes. `resolve` sends the request to another address with \
           the URL's host name, like `curl --resolve`; `nameservers` looks the host name up at those \
           name servers on every attempt (a zone's own, so a DNS change is seen at once).",
    outputs: Outputs::Fixed(&[
        out("status", "integer", "The last status code seen."),
        out(
            "body",
            "string",
            "The start of the last body seen (at most 4 KiB).",
        ),
        out(
            "address",
            "string",
            "The address the last request went to (with `resolve` or `nameservers`).",
        ),
        out(
            "elapsed_seconds",
            "integer",
            "Seconds until the answer matched.",
        ),
        out(
            "answered_at",
            "string",
            "When the expected answer came (RFC 3339).",
        ),
        out(
            "seconds_since",
            "integer",
            "With `since`: whole seconds from it until the expected answer came.",
        ),
    ]),
    also: &[
        "uri",
        "curl",
        "wget",
        "get_url",
        "request",
        "url",
        "probe",
        "wait_for_http",
        "fetch",
    ],
    follows: true,
    ..ActionDef::new(
        "check.http",
        Effect::Reads,
        Params::of::<HttpParams>(),
        &Http,
    )
}];

/// Longest wait between two requests.
const MAX_INTERVAL: Duration = Duration::from_secs(10);
/// Longest wait between two requests of a measured check (`since`).
const MEASURED_INTERVAL: Duration = Duration::from_secs(2);
/// Most of a body kept in the `body` output.
const BODY_OUTPUT: usize = 4096;
/// Most of a body read: `expect_body` is looked for in its first MiB.
const BODY_READ: usize = 1 << 20;

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

/// An HTTP client that sends the URL's host name to `address`, if given.
fn client(
    url: &reqwest::Url,
    address: Option<std::net::SocketAddr>,
) -> Result<reqwest::Client, ActionError> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")));
    if let (Some(addr), Some(host)) = (address, url.host_str()) {
        builder = builder.resolve(host, addr);
    }
    builder
        .build()
        .map_err(|e| ActionError::new(format!("cannot make an HTTP client: {e}")))
}

/// Where this attempt's request goes: `resolve`'s address, the address `nameservers` give now,
/// or `None` for the system's resolver.
async fn address(
    p: &HttpParams,
    url: &reqwest::Url,
) -> Result<Option<std::net::SocketAddr>, String> {
    let port = url.port_or_known_default().unwrap_or(80);
    if let Some(target) = &p.resolve {
        let addr = tokio::net::lookup_host((target.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve `{target}`: {e}"))?
            .next()
            .ok_or_else(|| format!("`{target}` has no address"))?;
        return Ok(Some(addr));
    }
    if p.nameservers.is_empty() {
        return Ok(None);
    }
    let host = url.host_str().unwrap_or_default();
    let ip = ask_nameservers(&p.nameservers, host).await?;
    Ok(Some(std::net::SocketAddr::new(ip, port)))
}

/// Look `host` up at these name servers only, without a cache.
async fn ask_nameservers(nameservers: &[String], host: &str) -> Result<std::net::IpAddr, String> {
    use hickory_resolver::config::{
        ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
    };
    let mut servers = Vec::new();
    for ns in nameservers {
        let (name, port) = match ns.rsplit_once(':') {
            Some((name, port)) if port.parse::<u16>().is_ok() => (name, port.parse().unwrap_or(53)),
            _ => (ns.as_str(), 53),
        };
        let name = name.trim_end_matches('.');
        let Ok(addrs) = tokio::net::lookup_host((name, port)).await else {
            continue;
        };
        for addr in addrs {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            servers.push(NameServerConfig::new(addr.ip(), true, vec![udp]));
        }
    }
    if servers.is_empty() {
        return Err(format!(
            "cannot resolve the name servers {}",
            nameservers.join(", ")
        ));
    }
    let mut options = ResolverOpts::default();
    options.cache_size = 0;
    // IPv4 only: one query per attempt, and every load balancer has IPv4 addresses.
    options.ip_strategy = hickory_resolver::config::LookupIpStrategy::Ipv4Only;
    options.attempts = 2;
    options.timeout = Duration::from_secs(3);
    let resolver = hickory_resolver::Resolver::builder_with_config(
        ResolverConfig::from_name_servers(servers),
        hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .map_err(|e| format!("cannot ask the name servers: {e}"))?;
    let answer = resolver
        .lookup_ip(format!("{}.", host.trim_end_matches('.')))
        .await
        .map_err(|e| format!("the name servers do not answer for {host}: {e}"))?;
    answer
        .iter()
        .find(std::net::IpAddr::is_ipv4)
        .or_else(|| answer.iter().next())
        .ok_or_else(|| format!("the name servers have no address for {host}"))
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
        Ok(mut response) => {
            let status = response.status().as_u16();
            // The body's start, read as it comes: a page that turns out to be a large download
            // is not held whole, and a body cut off is no answer, not an empty page.
            let mut body = Vec::new();
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        body.extend_from_slice(&chunk[..chunk.len().min(BODY_READ - body.len())]);
                        if body.len() >= BODY_READ {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        return Seen::Error(format!(
                            "status {status}, but the body was cut off: {e}"
                        ));
                    }
                }
            }
            Seen::Answer {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        }
    }
}

impl Executor for Http {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: HttpParams = ctx.params()?;
            let url = reqwest::Url::parse(&p.url).map_err(|e| {
                ActionError::new(format!("`{}` is not a URL: {e}", p.url)).invalid_input()
            })?;
            if p.resolve.is_some() && !p.nameservers.is_empty() {
                return Err(
                    ActionError::new("give `resolve` or `nameservers`, not both").invalid_input(),
                );
            }
            if url.host_str().is_none() {
                return Err(ActionError::new(format!("`{url}` has no host name")).invalid_input());
            }
            let since = super::measured_from(p.since.as_deref())?;
            // A drill's moment is measured: never more than 2 s between requests.
            let longest = if since.is_some() {
                MEASURED_INTERVAL
            } else {
                MAX_INTERVAL
            };
            let started = Instant::now();
            let mut interval = Duration::from_secs(1);
            let want = match &p.expect_body {
                Some(text) => format!("{} containing `{text}`", p.expect_status),
                None => p.expect_status.to_string(),
            };
            loop {
                let target = address(&p, &url).await;
                let seen = match &target {
                    Ok(addr) => fetch(&client(&url, *addr)?, &url).await,
                    Err(e) => Seen::Error(e.clone()),
                };
                let via = match &target {
                    Ok(Some(addr)) => format!(" via {}", addr.ip()),
                    _ => String::new(),
                };
                if let Seen::Answer { status, body } = &seen {
                    let body_ok = p
                        .expect_body
                        .as_ref()
                        .is_none_or(|t| body.contains(t.as_str()));
                    if *status == p.expect_status && body_ok {
                        let mut outcome = Outcome::default();
                        outcome.outputs.insert("status".into(), (*status).into());
                        let excerpt = ctx.excerpt(body, BODY_OUTPUT);
                        outcome.outputs.insert("body".into(), excerpt.into());
                        if let Ok(Some(addr)) = &target {
                            outcome
                                .outputs
                                .insert("address".into(), addr.ip().to_string().into());
                        }
                        outcome
                            .outputs
                            .insert("elapsed_seconds".into(), started.elapsed().as_secs().into());
                        outcome
                            .outputs
                            .insert("answered_at".into(), crate::engine::journal::now().into());
                        if let Some(at) = since {
                            let seconds = super::seconds_since(at);
                            outcome
                                .outputs
                                .insert("seconds_since".into(), seconds.into());
                        }
                        return Ok(outcome);
                    }
                }
                let elapsed = started.elapsed();
                if elapsed >= p.timeout.0 {
                    let mut error = ActionError::new(format!(
                        "GET {url}{via} did not answer {want} within {}; last: {}",
                        p.timeout,
                        seen.describe()
                    ));
                    if let Seen::Answer { status, body } = &seen {
                        if *status == p.expect_status {
                            let excerpt = ctx.excerpt(body, 200);
                            error = error.hint(format!(
                                "the body did not contain the expected text; it began: {excerpt}"
                            ));
                        }
                    }
                    return Err(error);
                }
                ctx.progress.status(&format!(
                    "GET {url}{via}: {}, waiting for {want} ({}s of {})",
                    seen.describe(),
                    elapsed.as_secs(),
                    p.timeout
                ));
                ctx.sleep(interval.min(p.timeout.0.saturating_sub(elapsed)))
                    .await?;
                interval = (interval * 2).min(longest);
            }
        })
    }
}
