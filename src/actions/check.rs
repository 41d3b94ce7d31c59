//! Checks against the outside world.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ActionDef, Effect, Outputs, Params, out};
use crate::runbook::format::DurationText;

fn status_ok() -> u16 {
    200
}

fn one_minute() -> DurationText {
    DurationText(std::time::Duration::from_secs(60))
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
    executor: &crate::engine::action::NotBuilt,
}];
