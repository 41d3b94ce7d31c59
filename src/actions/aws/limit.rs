//! Client-side rate limits, one per AWS service, shared by every step of every run in the process.
//!
//! AWS throttles per account and region; the SDK retries a throttled call, but a runbook with many
//! concurrent steps (or a class of thirty labs) can keep the account over the limit long enough to
//! use up those retries. So every HTTP request (each retry included) first takes a token from its
//! service's bucket. Route 53 documents an account-wide bucket of 50 refilled at 10 per second and
//! `CreateHostedZone` at 2 per second, while older documentation and many accounts see 5 per second:
//! the default is the cautious 5, and `--aws-rate` (or `RUNBOOK_AWS_RATE`) changes any of them.
//!
//! When a service's budget is short (a class of thirty labs polling sixty load balancers), the
//! steps' work (creates, deletes and the lookups they make: [`Priority::Work`]) goes before the
//! waits' polls: a class's creates proceed at the rate AWS allows while its waits take what is
//! left, and within each kind requests keep their order, so no poll starves another.
//!
//! The limiter wraps an HTTP client built as the SDK builds its default one (rustls, the proxy
//! from `HTTPS_PROXY`/`NO_PROXY`, the SDK's timeouts), set on each service's client.

use std::collections::BTreeSet;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Requests per second for each service; `None` is no limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    pub ec2: Option<f64>,
    pub elbv2: Option<f64>,
    pub route53: Option<f64>,
}

impl Default for Rates {
    /// EC2 refills its request buckets at 20 per second for describes (mutations at 5, from a
    /// bucket of 200); `ELBv2`'s API limits are around 10; Route 53 as above.
    fn default() -> Self {
        Rates {
            ec2: Some(20.0),
            elbv2: Some(10.0),
            route53: Some(5.0),
        }
    }
}

/// Route 53's own limit for creating hosted zones.
const CREATE_HOSTED_ZONE_PER_SECOND: f64 = 2.0;

impl std::str::FromStr for Rates {
    type Err = String;

    /// `route53=5,ec2=20,elbv2=off`: the services named change, the others keep their default.
    fn from_str(spec: &str) -> Result<Self, String> {
        let mut rates = Rates::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (service, value) = part.split_once('=').ok_or_else(|| {
                format!(
                    "expected SERVICE=REQUESTS_PER_SECOND (for example route53=5), got `{part}`"
                )
            })?;
            let value = match value.trim() {
                "off" | "none" | "unlimited" => None,
                v => match v.parse::<f64>() {
                    Ok(n) if n.is_finite() && n > 0.0 => Some(n),
                    _ => {
                        return Err(format!(
                            "`{v}` is not a rate: give requests per second above 0 (for example 5 or 0.5), or `off`"
                        ));
                    }
                },
            };
            match service.trim() {
                "ec2" => rates.ec2 = value,
                "elbv2" | "elasticloadbalancing" => rates.elbv2 = value,
                "route53" => rates.route53 = value,
                other => {
                    let hint =
                        crate::runbook::suggest::did_you_mean(other, &["ec2", "elbv2", "route53"])
                            .map_or_else(String::new, |s| format!(" ({s})"));
                    return Err(format!(
                        "unknown service `{other}`{hint}: the services are ec2, elbv2 and route53"
                    ));
                }
            }
        }
        Ok(rates)
    }
}

/// Requests spaced evenly at `per_second`, without bursts. AWS's own bucket (Route 53: 5 a
/// second) holds a few requests more than a second's refill; sending at its rate but never in
/// bursts leaves that reserve for timing jitter (a burst of 5 followed by one request every 200
/// ms crossed it: `bench/class` saw 2 throttled requests in a class of 10 before).
fn limiter(per_second: f64) -> DefaultDirectRateLimiter {
    let period = Duration::from_secs_f64(1.0 / per_second);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(NonZeroU32::MIN);
    RateLimiter::direct(quota)
}

/// Which requests go first when a bucket is short of tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// A step doing its work: a create, a delete, the lookups a create makes.
    Work,
    /// A wait's poll (`DescribeLoadBalancers` until active, `GetChange` until INSYNC).
    Poll,
}

tokio::task_local! {
    static POLLING: ();
}

/// Run `f` as a wait's poll: its requests yield to every step's work when the budget is short.
pub async fn as_poll<F: Future>(f: F) -> F::Output {
    POLLING.scope((), f).await
}

impl Priority {
    /// The priority of a request made now: a poll's inside [`as_poll`], else work. (The SDK
    /// sends a request from the calling task, so the caller's mark is seen here.)
    pub fn now() -> Priority {
        if POLLING.try_with(|()| ()).is_ok() {
            Priority::Poll
        } else {
            Priority::Work
        }
    }
}

/// One bucket and the requests it applies to, with the requests waiting for its tokens: the
/// first of the highest priority waits for the next token, the others for their turn.
struct Bucket {
    name: &'static str,
    applies: fn(&HttpRequest) -> bool,
    limiter: DefaultDirectRateLimiter,
    queue: Mutex<Queue>,
    turn: tokio::sync::Notify,
}

#[derive(Default)]
struct Queue {
    waiting: BTreeSet<(Priority, u64)>,
    taken: u64,
    /// One request at a time waits for the bucket's next token.
    serving: bool,
}

impl Bucket {
    fn new(name: &'static str, applies: fn(&HttpRequest) -> bool, per_second: f64) -> Bucket {
        Bucket {
            name,
            applies,
            limiter: limiter(per_second),
            queue: Mutex::default(),
            turn: tokio::sync::Notify::new(),
        }
    }

    /// Wait for this request's token: changes before reads, each in the order they came.
    async fn take(&self, priority: Priority) {
        let ticket = {
            let mut q = self.queue.lock().expect("never poisoned");
            q.taken += 1;
            let ticket = (priority, q.taken);
            q.waiting.insert(ticket);
            ticket
        };
        // Leaves the queue however this ends (a token, or the call dropped by a timeout), and
        // wakes the waiters so that the next one takes its turn.
        let mut place = Place {
            bucket: self,
            ticket,
            serving: false,
        };
        loop {
            let turn = self.turn.notified();
            tokio::pin!(turn);
            turn.as_mut().enable();
            {
                let mut q = self.queue.lock().expect("never poisoned");
                if !q.serving && q.waiting.first() == Some(&ticket) {
                    q.waiting.remove(&ticket);
                    q.serving = true;
                    place.serving = true;
                    break;
                }
            }
            turn.await;
        }
        self.limiter.until_ready().await;
    }
}

/// A request's place in a bucket's queue, or its turn at the next token.
struct Place<'b> {
    bucket: &'b Bucket,
    ticket: (Priority, u64),
    serving: bool,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        {
            let mut q = self.bucket.queue.lock().expect("never poisoned");
            if self.serving {
                q.serving = false;
            } else {
                q.waiting.remove(&self.ticket);
            }
        }
        self.bucket.turn.notify_waiters();
    }
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn every(_: &HttpRequest) -> bool {
    true
}

/// Route 53's `CreateHostedZone`: `POST /2013-04-01/hostedzone`.
fn creates_hosted_zone(req: &HttpRequest) -> bool {
    req.method() == "POST" && req.uri().trim_end_matches('/').ends_with("/hostedzone")
}

/// A service's buckets.
#[derive(Clone, Debug)]
pub struct Limit {
    buckets: Arc<Vec<Bucket>>,
}

impl Limit {
    fn new(buckets: Vec<Bucket>) -> Option<Limit> {
        (!buckets.is_empty()).then(|| Limit {
            buckets: Arc::new(buckets),
        })
    }

    /// EC2 and `ELBv2` keep separate buckets for reads and for changes (AWS: EC2 buckets each
    /// API on its own, non-mutating and mutating ones with their own sizes and rates; `ELBv2`
    /// buckets its non-mutating actions apart from the mutating ones): a class's creates never
    /// wait behind its waits' polls, and each kind gets the service's rate.
    pub fn ec2(rates: &Rates) -> Option<Limit> {
        Limit::new(read_and_change_buckets(
            ("ec2 reads", "ec2 changes"),
            rates.ec2,
        ))
    }

    pub fn elbv2(rates: &Rates) -> Option<Limit> {
        Limit::new(read_and_change_buckets(
            ("elbv2 reads", "elbv2 changes"),
            rates.elbv2,
        ))
    }

    pub fn route53(rates: &Rates) -> Option<Limit> {
        let mut buckets: Vec<Bucket> = rates
            .route53
            .map(|r| service_bucket("route53", r))
            .into_iter()
            .collect();
        let zone_rate = rates.route53.map_or(CREATE_HOSTED_ZONE_PER_SECOND, |r| {
            r.min(CREATE_HOSTED_ZONE_PER_SECOND)
        });
        buckets.push(Bucket::new(
            "route53 CreateHostedZone",
            creates_hosted_zone,
            zone_rate,
        ));
        Limit::new(buckets)
    }

    /// The default HTTPS client behind these buckets.
    pub fn http_client(&self) -> SharedHttpClient {
        SharedHttpClient::new(Limited {
            inner: default_https_client(),
            buckets: self.buckets.clone(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        })
    }
}

fn service_bucket(name: &'static str, per_second: f64) -> Bucket {
    Bucket::new(name, every, per_second)
}

fn read_and_change_buckets(
    (reads, changes): (&'static str, &'static str),
    per_second: Option<f64>,
) -> Vec<Bucket> {
    per_second
        .map(|r| {
            vec![
                Bucket::new(reads, reads_only, r),
                Bucket::new(changes, changes_only, r),
            ]
        })
        .unwrap_or_default()
}

/// A query-protocol request (EC2, `ELBv2`) that only reads: `Action=Describe…` or `Get…`.
fn reads_only(req: &HttpRequest) -> bool {
    let body = req.body().bytes().unwrap_or_default();
    let action = body
        .split(|&b| b == b'&')
        .find_map(|kv| kv.strip_prefix(b"Action="))
        .unwrap_or_default();
    action.starts_with(b"Describe") || action.starts_with(b"Get")
}

fn changes_only(req: &HttpRequest) -> bool {
    !reads_only(req)
}

/// What the SDK uses when given no client: hyper with rustls (aws-lc), the proxy from the
/// environment, the connector settings and sleep of the calling client.
fn default_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, Connector};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut builder = Connector::builder().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    })
}

#[derive(Debug)]
struct Limited {
    inner: SharedHttpClient,
    buckets: Arc<Vec<Bucket>>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// Requests one service's client has open at once (each on a connection of its own): a class of
/// thirty labs makes a few hundred requests wait, and a slow endpoint (an emulator, a proxy) is
/// not buried under as many new connections, which it refuses; AWS answers in well under a
/// second, so at the default rates this never holds a request back there.
const MAX_IN_FLIGHT: usize = 16;

impl HttpClient for Limited {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            buckets: self.buckets.clone(),
            in_flight: self.in_flight.clone(),
        })
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    buckets: Arc<Vec<Bucket>>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let buckets = self.buckets.clone();
        let in_flight = self.in_flight.clone();
        let priority = Priority::now();
        HttpConnectorFuture::new(async move {
            for bucket in buckets.iter().filter(|b| (b.applies)(&request)) {
                bucket.take(priority).await;
            }
            let _open = in_flight.acquire_owned().await;
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Bucket, Priority, Rates};
    use std::sync::{Arc, Mutex};

    // The limiter keeps real time (governor's clock), so these run in real time, at rates that
    // make them quick; they assert order and liveness, never durations.
    #[tokio::test]
    async fn work_takes_tokens_before_polls_and_each_kind_keeps_its_order() {
        let bucket = Arc::new(Bucket::new("test", super::every, 5.0));
        let order = Arc::new(Mutex::new(Vec::new()));
        // The first token goes at once; then three polls queue, and two creates after them.
        bucket.take(Priority::Poll).await;
        let mut tasks = Vec::new();
        for (name, priority) in [
            ("poll 1", Priority::Poll),
            ("poll 2", Priority::Poll),
            ("poll 3", Priority::Poll),
            ("create 1", Priority::Work),
            ("create 2", Priority::Work),
        ] {
            let (bucket, order) = (bucket.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                bucket.take(priority).await;
                order.lock().unwrap().push(name);
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        // "poll 1" was already waiting for the next token when the creates came.
        assert_eq!(
            order,
            ["poll 1", "create 1", "create 2", "poll 2", "poll 3"],
            "creates jump the queue of polls; each kind in order"
        );
    }

    #[tokio::test]
    async fn a_request_given_up_leaves_the_queue() {
        let bucket = Arc::new(Bucket::new("test", super::every, 2.0));
        bucket.take(Priority::Poll).await;
        // A call cut off by its timeout while queued must not block the ones behind it.
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(10),
            bucket.take(Priority::Work),
        )
        .await;
        assert!(gave_up.is_err());
        let took = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            bucket.take(Priority::Poll),
        )
        .await;
        assert!(took.is_ok(), "the next request got the next token");
    }

    #[tokio::test]
    async fn a_waits_requests_are_polls_and_every_other_request_is_work() {
        assert_eq!(Priority::now(), Priority::Work);
        let inside = super::as_poll(async {
            tokio::task::yield_now().await;
            Priority::now()
        })
        .await;
        assert_eq!(inside, Priority::Poll);
        assert_eq!(Priority::now(), Priority::Work, "only inside the poll");
    }

    /// Reads and changes take from separate buckets: a create never waits for a poll's token.
    #[test]
    fn reads_and_changes_are_told_apart() {
        let request = |body: &'static str| {
            let mut r = aws_smithy_runtime_api::client::orchestrator::HttpRequest::empty();
            *r.body_mut() = aws_smithy_types::body::SdkBody::from(body);
            r
        };
        let describe = request("Action=DescribeLoadBalancers&Version=2015-12-01");
        let create = request("Action=CreateLoadBalancer&Version=2015-12-01&Name=lab");
        let get = request("Version=2016-11-15&Action=GetConsoleOutput");
        assert!(super::reads_only(&describe) && !super::changes_only(&describe));
        assert!(super::changes_only(&create) && !super::reads_only(&create));
        assert!(
            super::reads_only(&get),
            "the action is found anywhere in the body"
        );
    }

    #[test]
    fn requests_are_spaced_evenly_never_sent_in_a_burst() {
        let bucket = super::limiter(5.0);
        assert!(bucket.check().is_ok(), "the first request goes at once");
        assert!(
            bucket.check().is_err(),
            "the second waits its 200 ms: no burst eats the server's reserve"
        );
    }

    #[test]
    fn a_spec_changes_only_the_services_it_names() {
        let rates: Rates = "route53=2.5, ec2=off".parse().unwrap();
        assert_eq!(rates.route53, Some(2.5));
        assert_eq!(rates.ec2, None);
        assert_eq!(rates.elbv2, Rates::default().elbv2);
        assert_eq!("".parse::<Rates>().unwrap(), Rates::default());
    }

    #[test]
    fn a_bad_spec_says_what_is_wrong() {
        let err = "route35=5".parse::<Rates>().unwrap_err();
        assert!(err.contains("did you mean `route53`"), "{err}");
        let err = "route53=fast".parse::<Rates>().unwrap_err();
        assert!(err.contains("`fast` is not a rate"), "{err}");
        let err = "route53=0".parse::<Rates>().unwrap_err();
        assert!(err.contains("above 0"), "{err}");
        let err = "route53".parse::<Rates>().unwrap_err();
        assert!(err.contains("SERVICE=REQUESTS_PER_SECOND"), "{err}");
    }
}
