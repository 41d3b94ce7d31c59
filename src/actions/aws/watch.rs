//! Whether an endpoint still answers: one watch per target (shared by its EC2, `ELBv2` and Route 53
//! clients), at the HTTP layer, under every call and every retry.
//!
//! A hung endpoint (a paused emulator, a dead proxy, a network that drops packets) accepts
//! connections and never answers, so each attempt waits out its whole timeout and is retried:
//! minutes per call, and a rollback after it as long again. Instead, a request that has had no
//! answer for [`PROBE_AFTER`] makes the watch ask the endpoint itself something cheap (a plain
//! `GET /`, which any live endpoint answers with some HTTP status). No answer within
//! [`PROBE_TIMEOUT`]: the endpoint is down. Every request in flight then ends at once, and new
//! ones fail at once (an error the SDK does not retry, which the tool reports as "could not reach
//! the AWS endpoint"), until a probe, at most every [`PROBE_EVERY`], finds it answering again.
//! So a hung endpoint fails its calls within about 20 s of the hang, and a rollback after it
//! makes one short attempt per undo rather than waiting out every timeout.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{HttpConnector as _, SharedHttpConnector};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use tokio_util::sync::CancellationToken;

/// How long a request may go without an answer before the endpoint is probed.
pub const PROBE_AFTER: Duration = Duration::from_secs(10);
/// How long a probe waits for an answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// While the endpoint is down, how often a request may probe it again.
pub const PROBE_EVERY: Duration = Duration::from_secs(10);

tokio::task_local! {
    static UNANSWERED: std::cell::Cell<bool>;
}

/// Run `call` (a create), and say whether an attempt of it was sent and got no answer (a
/// dropped connection, a timeout): the SDK then sent it again, and AWS may have carried out both.
/// (The SDK sends a request from the calling task, so the mark made below is seen here.)
pub async fn noting_unanswered<F: Future>(call: F) -> (F::Output, bool) {
    UNANSWERED
        .scope(std::cell::Cell::new(false), async move {
            let out = call.await;
            (out, UNANSWERED.with(std::cell::Cell::get))
        })
        .await
}

/// An attempt sent and not (yet) answered; dropped unanswered, it marks the calling task's
/// [`noting_unanswered`].
struct Sent {
    answered: bool,
}

impl Drop for Sent {
    fn drop(&mut self) {
        if !self.answered {
            let _ = UNANSWERED.try_with(|lost| lost.set(true));
        }
    }
}

/// The endpoint's state, as far as this process has seen.
#[derive(Debug, Default)]
pub struct Watch {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Since when the endpoint is known down, and why (`None`: it answers, as far as known).
    down: Option<(Instant, String)>,
    /// Cancelled when the endpoint is found down: ends every request in flight.
    went_down: CancellationToken,
    /// A probe is under way.
    probing: bool,
    /// When the last probe ended.
    probed: Option<Instant>,
}

/// The endpoint did not answer: what the SDK sees as a connector error it does not retry.
#[derive(Debug)]
struct Down(String);

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Down {}

fn down_error(why: &str) -> ConnectorError {
    ConnectorError::user(Box::new(Down(why.to_owned())))
}

/// The scheme and host of a request's URI: what a probe asks.
fn origin(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let host = rest.split('/').next()?;
    Some(format!("{scheme}://{host}/"))
}

impl Watch {
    /// Send `request` through `inner`, unless the endpoint is known down; end it when the
    /// endpoint is found down meanwhile.
    pub async fn call(
        &self,
        inner: &SharedHttpConnector,
        request: HttpRequest,
    ) -> Result<aws_smithy_runtime_api::client::orchestrator::HttpResponse, ConnectorError> {
        let origin = origin(request.uri());
        if let Some(why) = self.still_down(inner, origin.as_deref()).await {
            return Err(down_error(&why));
        }
        let went_down = self.state.lock().expect("never poisoned").went_down.clone();
        let mut attempt = Sent { answered: false };
        let sent = inner.call(request);
        tokio::pin!(sent);
        let timer = tokio::time::sleep(PROBE_AFTER);
        tokio::pin!(timer);
        let mut probed = false;
        loop {
            tokio::select! {
                answer = &mut sent => {
                    attempt.answered = answer.is_ok();
                    return answer;
                }
                () = went_down.cancelled() => {
                    let why = self.reason().unwrap_or_else(|| "the endpoint stopped answering".to_owned());
                    return Err(down_error(&why));
                }
                () = &mut timer, if !probed => {
                    probed = true;
                    if let Some(origin) = origin.as_deref() {
                        self.probe(inner, origin).await;
                    }
                }
            }
        }
    }

    fn reason(&self) -> Option<String> {
        self.state
            .lock()
            .expect("never poisoned")
            .down
            .as_ref()
            .map(|(_, why)| why.clone())
    }

    /// While the endpoint is down: why, unless a probe (at most one every [`PROBE_EVERY`])
    /// finds it answering again.
    async fn still_down(
        &self,
        inner: &SharedHttpConnector,
        origin: Option<&str>,
    ) -> Option<String> {
        let due = {
            let state = self.state.lock().expect("never poisoned");
            state.down.as_ref()?;
            !state.probing && state.probed.is_none_or(|at| at.elapsed() >= PROBE_EVERY)
        };
        if due {
            if let Some(origin) = origin {
                self.probe(inner, origin).await;
            }
        }
        self.reason()
    }

    /// Ask the endpoint something cheap; mark it down if it gives no answer at all, up if it
    /// gives any. One probe at a time.
    async fn probe(&self, inner: &SharedHttpConnector, origin: &str) {
        {
            let mut state = self.state.lock().expect("never poisoned");
            if state.probing {
                return;
            }
            state.probing = true;
        }
        let answered = match HttpRequest::get(origin) {
            Ok(request) => matches!(
                tokio::time::timeout(PROBE_TIMEOUT, inner.call(request)).await,
                Ok(Ok(_))
            ),
            Err(_) => true,
        };
        let mut state = self.state.lock().expect("never poisoned");
        state.probing = false;
        state.probed = Some(Instant::now());
        if answered {
            if state.down.take().is_some() {
                state.went_down = CancellationToken::new();
            }
        } else if state.down.is_none() {
            state.down = Some((
                Instant::now(),
                format!(
                    "{origin} stopped answering: a request had no answer for {}s and a probe got none in {}s",
                    PROBE_AFTER.as_secs(),
                    PROBE_TIMEOUT.as_secs()
                ),
            ));
            state.went_down.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn a_probe_asks_the_requests_own_host() {
        assert_eq!(
            origin("https://ec2.ap-south-1.amazonaws.com/?Action=DescribeVpcs").as_deref(),
            Some("https://ec2.ap-south-1.amazonaws.com/")
        );
        assert_eq!(
            origin("http://127.0.0.1:5000/2013-04-01/hostedzone").as_deref(),
            Some("http://127.0.0.1:5000/")
        );
        assert_eq!(origin("not a uri"), None);
    }
}
