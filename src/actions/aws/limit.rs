//! Client-side rate limits, one set per AWS service, shared by every step of every run in the process.
//!
//! AWS throttles per account and region; the SDK retries a throttled call, but a runbook with many
//! concurrent steps (or a class of thirty labs) can keep the account over the limit long enough to
//! use up those retries. So every HTTP request (each retry included) first takes a token from its
//! bucket, shaped like AWS's own token buckets: a capacity spent at once, refilled at a rate.
//!
//! - **EC2** buckets each API on its own: a `Describe…` bucket holds 100 and refills at 20 a
//!   second, a mutating API's holds 200 and refills at 5 ("Request throttling for the Amazon EC2
//!   API"). The tool takes half of each capacity as its burst (the other half is left to whatever
//!   else uses the account) and AWS's refill rate: a class's sixty `CreateSubnet` calls go at
//!   once rather than queueing behind one another.
//! - **`ELBv2`** keeps a bucket for its non-mutating API (40, refilled at 10 a second); the tool
//!   keeps one alike for the other calls, and spends half of each at once again.
//! - **Route 53** documents an account-wide bucket of 50 refilled at 10 per second and
//!   `CreateHostedZone` at 2 per second, while older documentation and many accounts see 5 per
//!   second: the default is the cautious 5, without bursts.
//!
//! `--aws-rate` (or `RUNBOOK_AWS_RATE`) sets a service's rate (EC2's and `ELBv2`'s describes;
//! their other buckets scale with it).
//!
//! When a service's budget is short (a class of thirty labs polling sixty load balancers), the
//! steps' work (creates, deletes and the lookups they make: [`Priority::Work`]) goes before the
//! waits' polls: a class's creates proceed at the rate AWS allows while its waits take what is
//! left, and within each kind requests keep their order, so no poll starves another.
//!
//! The limiter wraps an HTTP client built as the SDK builds its default one (rustls, the proxy
//! from `HTTPS_PROXY`/`NO_PROXY`, the SDK's timeouts), set on each service's client.

use std::collections::{BTreeSet, HashMap};
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
    /// EC2 refills each describe API's bucket at 20 per second; `ELBv2` its describes at 10;
    /// Route 53 as above.
    fn default() -> Self {
        Rates {
            ec2: Some(EC2_DESCRIBES.refill),
            elbv2: Some(ELBV2_DESCRIBES.refill),
            route53: Some(5.0),
        }
    }
}

/// One of AWS's token buckets: how many requests it holds and how many a second refill it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Shape {
    capacity: f64,
    refill: f64,
}

/// EC2, per API: non-mutating (`Describe…`, `Get…`) and mutating.
const EC2_DESCRIBES: Shape = Shape {
    capacity: 100.0,
    refill: 20.0,
};
const EC2_CHANGES: Shape = Shape {
    capacity: 200.0,
    refill: 5.0,
};
/// `ELBv2`: its non-mutating API (documented), and the rest, sized alike (no published figure;
/// the refill is the 10 a second the tool always used for them).
const ELBV2_DESCRIBES: Shape = Shape {
    capacity: 40.0,
    refill: 10.0,
};
const ELBV2_CHANGES: Shape = ELBV2_DESCRIBES;

/// The share of an AWS bucket's capacity the tool spends at once: the rest stays for the other
/// users of the account, and for timing jitter.
const BURST_SHARE: f64 = 0.5;

impl Shape {
    /// This shape with its rate scaled to `per_second` for the describes (`--aws-rate`): the
    /// capacity and any other bucket of the service scale alike.
    fn scaled(self, describes: Shape, per_second: f64) -> Shape {
        let factor = per_second / describes.refill;
        Shape {
            capacity: self.capacity * factor,
            refill: self.refill * factor,
        }
    }

    /// The tool's bucket for it: [`BURST_SHARE`] of its capacity (at least one), its refill.
    fn limiter(self) -> DefaultDirectRateLimiter {
        let burst = (self.capacity * BURST_SHARE)
            .floor()
            .clamp(1.0, f64::from(u32::MAX));
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let burst = NonZeroU32::new(burst as u32).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs_f64(1.0 / self.refill);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        RateLimiter::direct(quota)
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

/// How a bucket hands out its tokens.
#[derive(Clone, Copy, Debug)]
enum Pace {
    /// Spaced evenly at this many a second, never in a burst.
    Even(f64),
    /// Shaped like one of AWS's buckets.
    Like(Shape),
}

impl Pace {
    fn limiter(self) -> DefaultDirectRateLimiter {
        match self {
            Pace::Even(per_second) => limiter(per_second),
            Pace::Like(shape) => shape.limiter(),
        }
    }
}

/// One bucket, with the requests waiting for its tokens: the first of the highest priority waits
/// for the next token, the others for their turn.
struct Bucket {
    name: String,
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
    fn new(name: impl Into<String>, pace: Pace) -> Bucket {
        Bucket {
            name: name.into(),
            limiter: pace.limiter(),
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

/// The buckets for one kind of request: one bucket, or one per API (EC2 throttles each API on
/// its own), each made when a request first needs it.
struct Family {
    name: &'static str,
    applies: fn(&HttpRequest) -> bool,
    per_api: bool,
    pace: Pace,
    buckets: Mutex<HashMap<String, Arc<Bucket>>>,
}

impl Family {
    fn new(name: &'static str, applies: fn(&HttpRequest) -> bool, pace: Pace) -> Family {
        Family {
            name,
            applies,
            per_api: false,
            pace,
            buckets: Mutex::default(),
        }
    }

    fn per_api(mut self) -> Family {
        self.per_api = true;
        self
    }

    /// The bucket `request` takes its token from.
    fn bucket(&self, request: &HttpRequest) -> Arc<Bucket> {
        let api = if self.per_api {
            String::from_utf8_lossy(action(request)).into_owned()
        } else {
            String::new()
        };
        let mut buckets = self.buckets.lock().expect("never poisoned");
        buckets
            .entry(api)
            .or_insert_with_key(|api| {
                let name = if api.is_empty() {
                    self.name.to_owned()
                } else {
                    format!("{} {api}", self.name)
                };
                Arc::new(Bucket::new(name, self.pace))
            })
            .clone()
    }
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A service's buckets.
#[derive(Clone, Debug)]
pub struct Limit {
    families: Arc<Vec<Family>>,
}

impl Limit {
    fn new(families: Vec<Family>) -> Limit {
        Limit {
            families: Arc::new(families),
        }
    }

    /// EC2: a bucket per API, describes and changes shaped as AWS shapes them (see the module's
    /// documentation): a class's creates never wait behind its waits' polls, nor one API's
    /// calls behind another's.
    pub fn ec2(rates: &Rates) -> Limit {
        Limit::new(rates.ec2.map_or_else(Vec::new, |r| {
            vec![
                Family::new(
                    "ec2",
                    reads_only,
                    Pace::Like(EC2_DESCRIBES.scaled(EC2_DESCRIBES, r)),
                )
                .per_api(),
                Family::new(
                    "ec2",
                    changes_only,
                    Pace::Like(EC2_CHANGES.scaled(EC2_DESCRIBES, r)),
                )
                .per_api(),
            ]
        }))
    }

    /// `ELBv2`: one bucket for the describes, one for the changes.
    pub fn elbv2(rates: &Rates) -> Limit {
        Limit::new(rates.elbv2.map_or_else(Vec::new, |r| {
            vec![
                Family::new(
                    "elbv2 reads",
                    reads_only,
                    Pace::Like(ELBV2_DESCRIBES.scaled(ELBV2_DESCRIBES, r)),
                ),
                Family::new(
                    "elbv2 changes",
                    changes_only,
                    Pace::Like(ELBV2_CHANGES.scaled(ELBV2_DESCRIBES, r)),
                ),
            ]
        }))
    }

    pub fn route53(rates: &Rates) -> Limit {
        let mut families: Vec<Family> = rates
            .route53
            .map(|r| Family::new("route53", every, Pace::Even(r)))
            .into_iter()
            .collect();
        let zone_rate = rates.route53.map_or(CREATE_HOSTED_ZONE_PER_SECOND, |r| {
            r.min(CREATE_HOSTED_ZONE_PER_SECOND)
        });
        families.push(Family::new(
            "route53 CreateHostedZone",
            creates_hosted_zone,
            Pace::Even(zone_rate),
        ));
        Limit::new(families)
    }

    /// The default HTTPS client behind these buckets, and behind `watch` (whether the target's
    /// endpoint still answers).
    pub fn http_client(&self, watch: Arc<super::watch::Watch>) -> SharedHttpClient {
        SharedHttpClient::new(Limited {
            inner: default_https_client(),
            families: self.families.clone(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
            watch,
        })
    }
}

/// A query-protocol request's (EC2, `ELBv2`) action: `Action=DescribeVpcs` anywhere in the body.
fn action(req: &HttpRequest) -> &[u8] {
    req.body()
        .bytes()
        .unwrap_or_default()
        .split(|&b| b == b'&')
        .find_map(|kv| kv.strip_prefix(b"Action="))
        .unwrap_or_default()
}

/// A query-protocol request that only reads: `Action=Describe…` or `Get…`.
fn reads_only(req: &HttpRequest) -> bool {
    let action = action(req);
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
    families: Arc<Vec<Family>>,
    in_flight: Arc<tokio::sync::Semaphore>,
    watch: Arc<super::watch::Watch>,
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
            families: self.families.clone(),
            in_flight: self.in_flight.clone(),
            watch: self.watch.clone(),
        })
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    families: Arc<Vec<Family>>,
    in_flight: Arc<tokio::sync::Semaphore>,
    watch: Arc<super::watch::Watch>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let families = self.families.clone();
        let in_flight = self.in_flight.clone();
        let watch = self.watch.clone();
        let priority = Priority::now();
        HttpConnectorFuture::new(async move {
            for family in families.iter().filter(|f| (f.applies)(&request)) {
                family.bucket(&request).take(priority).await;
            }
            let _open = in_flight.acquire_owned().await;
            watch.call(&inner, request).await
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
        let bucket = Arc::new(Bucket::new("test", super::Pace::Even(5.0)));
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
        let bucket = Arc::new(Bucket::new("test", super::Pace::Even(2.0)));
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
        let describe = query("Action=DescribeLoadBalancers&Version=2015-12-01");
        let create = query("Action=CreateLoadBalancer&Version=2015-12-01&Name=lab");
        let get = query("Version=2016-11-15&Action=GetConsoleOutput");
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

    fn query(body: &'static str) -> aws_smithy_runtime_api::client::orchestrator::HttpRequest {
        let mut r = aws_smithy_runtime_api::client::orchestrator::HttpRequest::empty();
        *r.body_mut() = aws_smithy_types::body::SdkBody::from(body);
        r
    }

    /// EC2 throttles each API on its own, from a bucket of 100 describes (200 changes): half of
    /// it goes at once, then the refill; another API's calls never wait for this one's.
    #[test]
    fn ec2_spends_half_of_each_apis_bucket_at_once_and_apis_never_share_one() {
        let ec2 = super::Limit::ec2(&Rates::default());
        let (reads, changes) = (&ec2.families[0], &ec2.families[1]);
        let subnets = query("Action=DescribeSubnets&Version=2016-11-15");
        let bucket = reads.bucket(&subnets);
        for n in 0..50 {
            assert!(bucket.limiter.check().is_ok(), "describe {n} goes at once");
        }
        assert!(
            bucket.limiter.check().is_err(),
            "the 51st waits for the refill"
        );
        let vpcs = query("Action=DescribeVpcs&Version=2016-11-15");
        assert!(
            reads.bucket(&vpcs).limiter.check().is_ok(),
            "DescribeVpcs has a bucket of its own"
        );
        assert!(
            Arc::ptr_eq(&bucket, &reads.bucket(&subnets)),
            "one bucket per API"
        );
        let create = changes.bucket(&query("Action=CreateSubnet&Version=2016-11-15"));
        for n in 0..100 {
            assert!(create.limiter.check().is_ok(), "create {n} goes at once");
        }
        assert!(create.limiter.check().is_err());
    }

    /// `--aws-rate ec2=2` (a tenth of the default) makes every EC2 bucket a tenth as large.
    #[test]
    fn a_lower_rate_shrinks_the_bursts_too() {
        let ec2 = super::Limit::ec2(&"ec2=2".parse().unwrap());
        let bucket = ec2.families[0].bucket(&query("Action=DescribeVpcs"));
        for _ in 0..5 {
            assert!(bucket.limiter.check().is_ok());
        }
        assert!(bucket.limiter.check().is_err(), "5 at once, not 50");
    }

    /// Route 53 keeps its even spacing, one bucket for the whole service.
    #[test]
    fn route53_has_one_bucket_without_bursts() {
        let route53 = super::Limit::route53(&Rates::default());
        let family = &route53.families[0];
        let get = query("");
        assert!(family.bucket(&get).limiter.check().is_ok());
        assert!(family.bucket(&get).limiter.check().is_err());
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
