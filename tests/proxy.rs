//! A proxy in front of the emulator that makes it behave more like AWS: it throttles a share of
//! calls (each service answering in its own error format) or everything above a Route 53 token
//! bucket, answers a share with 5xx errors or a dropped connection, answers `DependencyViolation`
//! for a while after a load balancer or an instance is deleted, and holds slow transitions for a
//! number of polls (a load balancer `provisioning`, a Route 53 change `PENDING`, an instance
//! `pending`), which the emulator otherwise finishes at once. Loopback only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What the proxy does to traffic.
#[derive(Default)]
// Independent switches, each a fault to inject: an enum would not say more.
#[allow(clippy::struct_excessive_bools)]
pub struct Faults {
    /// Percent of calls answered with the service's throttling error instead of being forwarded.
    pub throttle_percent: u64,
    /// Polls that still show the old state: load balancers, changes, instances.
    pub slow_polls: u32,
    /// Answer the first `n` calls of an operation with this error code: (operation, n, code).
    pub fail_first: Vec<(&'static str, u32, &'static str)>,
    /// Route 53 as AWS throttles it: a token bucket holding this many requests, refilled at this
    /// many per second; a request that finds it empty gets `Throttling`.
    pub route53_per_second: Option<u32>,
    /// Percent of calls answered with a 5xx error (`InternalError`, `ServiceUnavailable`).
    pub server_error_percent: u64,
    /// Percent of calls whose connection is dropped without an answer (before forwarding).
    pub reset_percent: u64,
    /// After a load balancer is deleted or instances are terminated, the next `n` calls of each
    /// network delete answer `DependencyViolation`, as AWS does while interfaces are released.
    pub dependency_violations: u32,
    /// Real AWS's durations, multiplied by this scale: a load balancer provisions for 180 s, an
    /// instance is pending for 30 s and stopping for 20 s, a Route 53 change is PENDING for 45 s
    /// (timed from the call that started each; the benchmark in bench/ uses this).
    pub aws_timings: Option<f64>,
    /// EC2's eventual consistency: for this long after a create, any EC2 call naming the new
    /// resource's id answers its `….NotFound` error, as AWS may.
    pub not_found_window: Option<std::time::Duration>,
    /// The availability-zone letters this account sees (`["a", "c"]`): the others are missing
    /// from `DescribeAvailabilityZones` and `DescribeInstanceTypeOfferings`, and `CreateSubnet` in
    /// them is refused, as for an account whose mapping lacks them.
    pub zones: Option<&'static [&'static str]>,
    /// Route 53's rule: one PRIMARY and one SECONDARY failover record per name and type; another
    /// set identifier in the same role is refused (`InvalidChangeBatch`), which the emulator
    /// otherwise accepts.
    pub one_record_per_role: bool,
    /// After this many requests, stop answering: every later request hangs (an endpoint that
    /// died, or a paused emulator, mid-run).
    pub hang_after: Option<u64>,
    /// Forward S3 writes without their `If-None-Match` and `If-Match` headers, as some
    /// S3-compatible stores ignore them.
    pub strip_conditions: bool,
    /// Route 53's refusal of the names AWS reserves (example.com, .net and .org and the names
    /// under them; `.example`, `.test`, `.invalid`, `.localhost`): `CreateHostedZone` answers
    /// `InvalidDomainName`, which the emulator does not.
    pub reserved_domains: bool,
    /// The first call of each EC2 and `ELBv2` create is carried out (forwarded, answered by the
    /// emulator) and its answer lost (the connection dropped), as on a network that drops an
    /// answer: the SDK sends the call again.
    pub lose_first_answer: bool,
    /// The first `ChangeResourceRecordSets` is carried out and its answer lost, likewise: the
    /// SDK sends the same change batch again, which Route 53 refuses (what it creates exists,
    /// what it deletes is gone).
    pub lose_first_record_change: bool,
}

/// The creates whose first answer `lose_first_answer` loses.
const LOSABLE: [&str; 9] = [
    "CreateVpc",
    "CreateSubnet",
    "CreateInternetGateway",
    "CreateRouteTable",
    "CreateSecurityGroup",
    "RunInstances",
    "CreateTargetGroup",
    "CreateLoadBalancer",
    "CreateListener",
];

/// Whether AWS reserves this domain name (Route 53 makes no hosted zone for it).
fn reserved(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_lowercase();
    let tld = name.rsplit('.').next().unwrap_or_default();
    ["example.com", "example.net", "example.org"]
        .iter()
        .any(|r| name == *r || name.ends_with(&format!(".{r}")))
        || ["example", "test", "invalid", "localhost"].contains(&tld)
}

/// The creates whose new ids the `NotFound` window applies to, with the response tag of the id and
/// the error AWS answers for an id it does not see yet.
const CREATES: [(&str, &str, &str); 6] = [
    ("CreateVpc", "vpcId", "InvalidVpcID.NotFound"),
    ("CreateSubnet", "subnetId", "InvalidSubnetID.NotFound"),
    (
        "CreateInternetGateway",
        "internetGatewayId",
        "InvalidInternetGatewayID.NotFound",
    ),
    (
        "CreateRouteTable",
        "routeTableId",
        "InvalidRouteTableID.NotFound",
    ),
    ("CreateSecurityGroup", "groupId", "InvalidGroup.NotFound"),
    ("RunInstances", "instanceId", "InvalidInstanceID.NotFound"),
];

/// Seconds of real AWS, before scaling: (what, seconds).
pub const LB_PROVISIONING: f64 = 180.0;
pub const INSTANCE_PENDING: f64 = 30.0;
pub const INSTANCE_STOPPING: f64 = 20.0;
pub const CHANGE_PENDING: f64 = 45.0;

/// The deletes AWS refuses while network interfaces are being released.
const NETWORK_DELETES: [&str; 4] = [
    "DeleteSecurityGroup",
    "DeleteSubnet",
    "DetachInternetGateway",
    "DeleteVpc",
];

#[derive(Default)]
pub struct Stats {
    pub injected: AtomicU64,
    pub forwarded: AtomicU64,
    pub throttled: AtomicU64,
    pub held: AtomicU64,
    /// Route 53 requests, and those over its bucket.
    pub route53: AtomicU64,
    pub over_rate: AtomicU64,
    pub server_errors: AtomicU64,
    pub resets: AtomicU64,
    pub violations: AtomicU64,
    /// Calls answered `NotFound` for an id created moments before.
    pub not_found: AtomicU64,
    /// Subnets refused in a zone the account does not see; failover records refused as a
    /// second record in one role.
    pub hidden_zone: AtomicU64,
    pub role_taken: AtomicU64,
    /// Hosted zones refused for a reserved name.
    pub reserved: AtomicU64,
    /// Creates carried out whose answer was dropped.
    pub lost_answers: AtomicU64,
    /// Calls forwarded, by operation.
    pub by_operation: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    /// Requests received (throttled ones too), by service: `ec2`, `elbv2`, `route53`.
    pub by_service: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// The access key ids requests were signed with.
    pub access_keys: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The most ids one poll named: `DescribeLoadBalancers` ARNs, `DescribeInstances` ids.
    pub widest_poll: std::sync::Mutex<std::collections::BTreeMap<&'static str, usize>>,
    /// Every call forwarded: when, and which operation.
    pub log: std::sync::Mutex<Vec<(std::time::Instant, String)>>,
}

pub struct Proxy {
    pub url: String,
    pub stats: Arc<Stats>,
    _runtime: tokio::runtime::Runtime,
}

struct State {
    upstream: String,
    faults: Faults,
    stats: Arc<Stats>,
    client: reqwest::Client,
    polls: [AtomicU32; 3],
    failed: std::sync::Mutex<std::collections::HashMap<&'static str, u32>>,
    seed: AtomicU64,
    /// Route 53's bucket: tokens left and when it was last refilled.
    bucket: std::sync::Mutex<(f64, std::time::Instant)>,
    /// Network deletes refused so far in the current window, by operation.
    violated: std::sync::Mutex<Option<std::collections::HashMap<String, u32>>>,
    /// When each load balancer, instance launch, instance stop and change started.
    born: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// EC2 ids created recently: (id, when, the `NotFound` code for it).
    fresh: std::sync::Mutex<Vec<(String, std::time::Instant, &'static str)>>,
    /// Requests received so far.
    received: AtomicU64,
    changes: AtomicU64,
    /// Failover records by (zone, name, type, role): their set identifier.
    roles: std::sync::Mutex<std::collections::HashMap<(String, String, String, String), String>>,
    /// The creates whose first answer was lost already.
    lost: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Every `<tag>value</tag>` of an XML text.
/// A describe answer with each member rewritten on its own: `<tag>` opens each member's id (it
/// comes before the member's state), and the text from one id to the next is that member's.
fn per_member(text: &str, tag: &str, rewrite: impl Fn(&str, &str) -> String) -> String {
    let open = format!("<{tag}>");
    let mut parts = text.split(open.as_str());
    let mut out = parts.next().unwrap_or_default().to_owned();
    for member in parts {
        let id = member.split('<').next().unwrap_or_default();
        out.push_str(&open);
        out.push_str(&rewrite(id, member));
    }
    out
}

fn values<'t>(text: &'t str, tag: &str) -> Vec<&'t str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    text.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split(&close).next())
        .collect()
}

/// The values of a query-protocol list parameter (`InstanceId.1=…&InstanceId.2=…`).
fn params(body: &str, prefix: &str) -> Vec<String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// The access key id a request was signed with (`Credential=AKID/…` of its `SigV4` header).
fn access_key(req: &Request<Incoming>) -> Option<String> {
    let auth = req.headers().get("authorization")?.to_str().ok()?;
    let rest = &auth[auth.find("Credential=")? + "Credential=".len()..];
    Some(rest.split('/').next()?.to_owned())
}

/// Which service a signed request is for, from its credential scope.
fn service(req: &Request<Incoming>) -> &'static str {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth.contains("/ec2/") {
        "ec2"
    } else if auth.contains("/elasticloadbalancing/") {
        "elbv2"
    } else if auth.contains("/route53/") {
        "route53"
    } else {
        "other"
    }
}

/// The operation of a request: `Action=` of the query protocols (EC2, `ELBv2`), or Route 53's
/// REST path.
fn operation(method: &hyper::Method, path: &str, body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    if let Some(action) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return action.to_owned();
    }
    if path.trim_end_matches('/').ends_with("/rrset") {
        return if method == hyper::Method::GET {
            "ListResourceRecordSets"
        } else {
            "ChangeResourceRecordSets"
        }
        .to_owned();
    }
    path.to_owned()
}

/// An AWS error in the service's own format.
fn error(service: &str, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = if service == "ec2" {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>proxy</RequestID></Response>"
        )
    } else {
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
        )
    };
    Response::builder()
        .status(400)
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from(body)))
        .expect("a response")
}

fn server_error(service: &str) -> Response<Full<Bytes>> {
    let body = if service == "ec2" {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred</Message></Error></Errors><RequestID>proxy</RequestID></Response>"
    } else {
        "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>Service is unavailable</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
    };
    Response::builder()
        .status(if service == "ec2" { 500 } else { 503 })
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from(body)))
        .expect("a response")
}

fn throttling(service: &str) -> Response<Full<Bytes>> {
    let (status, body) = match service {
        "ec2" => (
            503,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>proxy</RequestID></Response>",
        ),
        "route53" => (
            400,
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>proxy</RequestId></ErrorResponse>",
        ),
        _ => (
            400,
            "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>proxy</RequestId></ErrorResponse>",
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from(body)))
        .expect("a response")
}

impl State {
    /// A cheap deterministic pseudo-random number per call (xorshift).
    fn roll(&self) -> u64 {
        let mut x = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % 100
    }

    /// Rewrite a finished state into the one before it for the first polls.
    /// Only the responses of the polls (`op`) are held: a change's own answer also says INSYNC
    /// on the emulator, and holding it would use up the holds meant for `GetChange`.
    fn hold(&self, op: &str, body: String) -> String {
        let rules: [(&str, &str, &str); 3] = [
            (
                "DescribeLoadBalancers",
                "<Code>active</Code>",
                "<Code>provisioning</Code>",
            ),
            (
                "/change/",
                "<Status>INSYNC</Status>",
                "<Status>PENDING</Status>",
            ),
            (
                "DescribeInstances",
                "<name>running</name>",
                "<name>pending</name>",
            ),
        ];
        for (i, (poll, done, before)) in rules.iter().enumerate() {
            if op.contains(poll)
                && body.contains(done)
                && self.polls[i].fetch_add(1, Ordering::Relaxed) < self.faults.slow_polls
            {
                self.stats.held.fetch_add(1, Ordering::Relaxed);
                let held = body.replace(done, before);
                return if i == 2 {
                    held.replace("<code>16</code>", "<code>0</code>")
                } else {
                    held
                };
            }
        }
        body
    }

    /// Real AWS's timings: note when things start, and show the state before the final one until
    /// their time has passed.
    fn as_aws_takes_time(&self, op: &str, request: &str, text: String, scale: f64) -> String {
        let now = std::time::Instant::now();
        let mut born = self.born.lock().expect("never poisoned");
        let young =
            |key: &str,
             seconds: f64,
             born: &std::collections::HashMap<String, std::time::Instant>| {
                born.get(key)
                    .is_some_and(|t| now.duration_since(*t).as_secs_f64() < seconds * scale)
            };
        match op {
            "CreateLoadBalancer" => {
                for arn in values(&text, "LoadBalancerArn") {
                    born.entry(arn.to_owned()).or_insert(now);
                }
                text
            }
            "RunInstances" => {
                for id in values(&text, "instanceId") {
                    born.entry(format!("launch {id}")).or_insert(now);
                }
                text
            }
            "StopInstances" => {
                for id in params(request, "InstanceId.") {
                    born.insert(format!("stop {id}"), now);
                }
                text
            }
            // The emulator answers every change with the same id; AWS gives each its own, and
            // each is PENDING for its own time (the emulator's GetChange answers any id).
            "ChangeResourceRecordSets" => {
                let mut text = text.clone();
                for id in values(&text.clone(), "Id") {
                    let bare = id.rsplit('/').next().unwrap_or(id);
                    let unique =
                        format!("{bare}{:06}", self.changes.fetch_add(1, Ordering::Relaxed));
                    text = text.replace(id, &format!("/change/{unique}"));
                    born.insert(unique, now);
                }
                text
            }
            // One poll may ask about many (a class's shared polls): each member is rewritten by
            // its own age.
            "DescribeLoadBalancers" => per_member(&text, "LoadBalancerArn", |arn, member| {
                if young(arn, LB_PROVISIONING, &born) {
                    member.replace("<Code>active</Code>", "<Code>provisioning</Code>")
                } else {
                    member.to_owned()
                }
            }),
            "DescribeInstances" => per_member(&text, "instanceId", |id, member| {
                if young(&format!("launch {id}"), INSTANCE_PENDING, &born) {
                    member
                        .replace("<name>running</name>", "<name>pending</name>")
                        .replace("<code>16</code>", "<code>0</code>")
                } else if young(&format!("stop {id}"), INSTANCE_STOPPING, &born) {
                    member
                        .replace("<name>stopped</name>", "<name>stopping</name>")
                        .replace("<code>80</code>", "<code>64</code>")
                } else {
                    member.to_owned()
                }
            }),
            change if change.contains("/change/") => {
                let id = change.rsplit('/').next().unwrap_or_default();
                if young(id, CHANGE_PENDING, &born) {
                    text.replace("<Status>INSYNC</Status>", "<Status>PENDING</Status>")
                } else {
                    text
                }
            }
            _ => text,
        }
    }

    /// The `NotFound` code for a request naming an EC2 id created within the window, if any.
    fn not_yet(&self, request: &str) -> Option<&'static str> {
        let window = self.faults.not_found_window?;
        let mut fresh = self.fresh.lock().expect("never poisoned");
        fresh.retain(|(_, born, _)| born.elapsed() < window);
        let named: Vec<String> = request
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(_, v)| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        fresh
            .iter()
            .find(|(id, _, _)| named.contains(id))
            .map(|(_, _, code)| *code)
    }

    /// Note the ids a create answered with, for the `NotFound` window.
    fn note_created(&self, op: &str, text: &str) {
        if self.faults.not_found_window.is_none() {
            return;
        }
        if let Some((_, tag, code)) = CREATES.iter().find(|(name, _, _)| *name == op) {
            let mut fresh = self.fresh.lock().expect("never poisoned");
            for id in values(text, tag) {
                fresh.push((id.to_owned(), std::time::Instant::now(), code));
            }
        }
    }

    /// A zone this account does not see, named by a `CreateSubnet`.
    fn hidden_zone(&self, op: &str, request: &str) -> Option<String> {
        let letters = self.faults.zones?;
        if op != "CreateSubnet" {
            return None;
        }
        params(request, "AvailabilityZone")
            .into_iter()
            .find(|z| !letters.iter().any(|l| z.ends_with(l)))
    }

    /// Drop the zones this account does not see from a listing of zones or of offerings.
    fn hide_zones(&self, op: &str, text: String) -> String {
        let Some(letters) = self.faults.zones else {
            return text;
        };
        let tag = match op {
            "DescribeAvailabilityZones" => "zoneName",
            "DescribeInstanceTypeOfferings" => "location",
            _ => return text,
        };
        let mut parts = text.split("<item>");
        let mut out = parts.next().unwrap_or_default().to_owned();
        for item in parts {
            let zone = values(item, tag).first().copied().unwrap_or_default();
            let last = item
                .find("</item>")
                .map_or(item.len(), |i| i + "</item>".len());
            if letters.iter().any(|l| zone.ends_with(l)) {
                out.push_str("<item>");
                out.push_str(item);
            } else {
                out.push_str(&item[last..]);
            }
        }
        out
    }

    /// Route 53's one-record-per-role rule for a change batch: the refusal, if it breaks it;
    /// otherwise the records it would write (`Some(set)`) or delete (`None`), to note once done.
    #[allow(clippy::type_complexity)]
    fn roles_of(
        &self,
        path: &str,
        request: &str,
    ) -> Result<Vec<((String, String, String, String), Option<String>)>, String> {
        let zone = path
            .split("/hostedzone/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_owned();
        let known = self.roles.lock().expect("never poisoned");
        let mut out = Vec::new();
        for change in request.split("<Change>").skip(1) {
            let first = |tag: &str| values(change, tag).first().map(|v| (*v).to_owned());
            let (Some(action), Some(name), Some(kind), Some(role), Some(set)) = (
                first("Action"),
                first("Name"),
                first("Type"),
                first("Failover"),
                first("SetIdentifier"),
            ) else {
                continue;
            };
            let key = (
                zone.clone(),
                name.trim_end_matches('.').to_lowercase(),
                kind,
                role.clone(),
            );
            if action == "DELETE" {
                out.push((key, None));
                continue;
            }
            if let Some(other) = known.get(&key).filter(|other| **other != set) {
                return Err(format!(
                    "RRSet with DNS name {} and type {} already has a {role} failover record (set identifier {other})",
                    key.1, key.2
                ));
            }
            out.push((key, Some(set)));
        }
        Ok(out)
    }

    /// Take a token from Route 53's bucket; `false` when it is empty.
    fn take_token(&self, per_second: u32) -> bool {
        let mut bucket = self.bucket.lock().expect("never poisoned");
        let now = std::time::Instant::now();
        let capacity = f64::from(per_second);
        bucket.0 = (bucket.0 + now.duration_since(bucket.1).as_secs_f64() * capacity).min(capacity);
        bucket.1 = now;
        if bucket.0 >= 1.0 {
            bucket.0 -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether this network delete falls in a `DependencyViolation` window (and counts it).
    fn violates(&self, op: &str) -> bool {
        if self.faults.dependency_violations == 0 || !NETWORK_DELETES.contains(&op) {
            return false;
        }
        let mut violated = self.violated.lock().expect("never poisoned");
        let Some(window) = violated.as_mut() else {
            return false;
        };
        let count = window.entry(op.to_owned()).or_insert(0);
        if *count < self.faults.dependency_violations {
            *count += 1;
            true
        } else {
            false
        }
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let n = self.received.fetch_add(1, Ordering::Relaxed);
        if self.faults.hang_after.is_some_and(|after| n >= after) {
            std::future::pending::<()>().await;
        }
        let service = service(&req);
        if let Some(key) = access_key(&req) {
            self.stats
                .access_keys
                .lock()
                .expect("never poisoned")
                .insert(key);
        }
        *self
            .stats
            .by_service
            .lock()
            .expect("never poisoned")
            .entry(service)
            .or_insert(0) += 1;
        if service == "route53" {
            self.stats.route53.fetch_add(1, Ordering::Relaxed);
            if let Some(rate) = self.faults.route53_per_second {
                if !self.take_token(rate) {
                    self.stats.over_rate.fetch_add(1, Ordering::Relaxed);
                    return Ok(throttling(service));
                }
            }
        }
        if self.faults.throttle_percent > 0 && self.roll() < self.faults.throttle_percent {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            return Ok(throttling(service));
        }
        if self.faults.server_error_percent > 0 && self.roll() < self.faults.server_error_percent {
            self.stats.server_errors.fetch_add(1, Ordering::Relaxed);
            return Ok(server_error(service));
        }
        if self.faults.reset_percent > 0 && self.roll() < self.faults.reset_percent {
            // An error from the service makes hyper close the connection without an answer.
            self.stats.resets.fetch_add(1, Ordering::Relaxed);
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "dropped by the test proxy",
            ));
        }
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let op = operation(&parts.method, parts.uri.path(), &body);
        let request = String::from_utf8_lossy(&body).into_owned();
        for (poll, prefix) in [
            ("DescribeLoadBalancers", "LoadBalancerArns.member."),
            ("DescribeInstances", "InstanceId."),
        ] {
            if op == poll {
                let ids = params(&request, prefix).len();
                let mut widest = self.stats.widest_poll.lock().expect("never poisoned");
                let entry = widest.entry(poll).or_insert(0);
                *entry = (*entry).max(ids);
            }
        }
        if service == "ec2" {
            if let Some(code) = self.not_yet(&request) {
                self.stats.not_found.fetch_add(1, Ordering::Relaxed);
                return Ok(error(
                    service,
                    code,
                    "injected by the test proxy: the id does not exist (eventual consistency)",
                ));
            }
            if let Some(zone) = self.hidden_zone(&op, &request) {
                self.stats.hidden_zone.fetch_add(1, Ordering::Relaxed);
                return Ok(error(
                    service,
                    "InvalidParameterValue",
                    &format!("Value ({zone}) for parameter availabilityZone is invalid"),
                ));
            }
        }
        if self.faults.reserved_domains
            && parts.method == hyper::Method::POST
            && op.trim_end_matches('/').ends_with("/hostedzone")
        {
            if let Some(name) = values(&request, "Name").first().filter(|n| reserved(n)) {
                self.stats.reserved.fetch_add(1, Ordering::Relaxed);
                return Ok(error(
                    service,
                    "InvalidDomainName",
                    &format!("{} is reserved by AWS!", name.trim_end_matches('.')),
                ));
            }
        }
        let mut roles = Vec::new();
        if self.faults.one_record_per_role && op == "ChangeResourceRecordSets" {
            match self.roles_of(parts.uri.path(), &request) {
                Ok(found) => roles = found,
                Err(message) => {
                    self.stats.role_taken.fetch_add(1, Ordering::Relaxed);
                    return Ok(error(service, "InvalidChangeBatch", &message));
                }
            }
        }
        if let Some(&(name, n, code)) = self
            .faults
            .fail_first
            .iter()
            .find(|(name, _, _)| *name == op)
        {
            let mut failed = self.failed.lock().expect("never poisoned");
            let count = failed.entry(name).or_insert(0);
            if *count < n {
                *count += 1;
                self.stats.injected.fetch_add(1, Ordering::Relaxed);
                // A clock that is off, as AWS words it; anything else: a resource not seen yet.
                let message = match code {
                    "SignatureDoesNotMatch" => {
                        "Signature expired: 20261207T100000Z is now earlier than 20261207T101000Z (injected by the test proxy)"
                    }
                    _ => "injected by the test proxy: not found yet",
                };
                return Ok(error(service, code, message));
            }
        }
        if self.violates(&op) {
            self.stats.violations.fetch_add(1, Ordering::Relaxed);
            return Ok(error(
                service,
                "DependencyViolation",
                "injected by the test proxy: network interfaces are still being released",
            ));
        }
        let url = format!(
            "{}{}",
            self.upstream,
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        let mut forward = self
            .client
            .request(parts.method.clone(), url)
            .body(body.clone());
        for (name, value) in &parts.headers {
            let condition = name == "if-none-match" || name == "if-match";
            if name != "host"
                && name != "content-length"
                && !(condition && self.faults.strip_conditions)
            {
                forward = forward.header(name, value);
            }
        }
        let Ok(answer) = forward.send().await else {
            return Ok(Response::builder()
                .status(502)
                .body(Full::new(Bytes::new()))
                .expect("a response"));
        };
        self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
        let status = answer.status().as_u16();
        let losable = (self.faults.lose_first_answer && LOSABLE.contains(&op.as_str()))
            || (self.faults.lose_first_record_change && op == "ChangeResourceRecordSets");
        if losable && status == 200 && self.lost.lock().expect("never poisoned").insert(op.clone())
        {
            self.stats.lost_answers.fetch_add(1, Ordering::Relaxed);
            let _ = answer.bytes().await;
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "answer lost by the test proxy",
            ));
        }
        if status == 200 && matches!(op.as_str(), "DeleteLoadBalancer" | "TerminateInstances") {
            // A new window: each network delete is refused again for a while.
            *self.violated.lock().expect("never poisoned") =
                Some(std::collections::HashMap::default());
        }
        let content_type = answer.headers().get("content-type").cloned();
        let text = answer.text().await.unwrap_or_default();
        if status == 200 {
            self.note_created(&op, &text);
            let mut known = self.roles.lock().expect("never poisoned");
            for (key, set) in roles {
                match set {
                    Some(set) => known.insert(key, set),
                    None => known.remove(&key),
                };
            }
        }
        let text = self.hide_zones(&op, text);
        let text = if self.faults.slow_polls > 0 {
            self.hold(&op, text)
        } else {
            text
        };
        let name = if op.contains("/change/") {
            "GetChange".to_owned()
        } else {
            op.clone()
        };
        self.stats
            .log
            .lock()
            .expect("never poisoned")
            .push((std::time::Instant::now(), name.clone()));
        *self
            .stats
            .by_operation
            .lock()
            .expect("never poisoned")
            .entry(name)
            .or_insert(0) += 1;
        let text = match self.faults.aws_timings {
            Some(scale) => {
                self.as_aws_takes_time(&op, &String::from_utf8_lossy(&body), text, scale)
            }
            None => text,
        };
        let mut out = Response::builder().status(status);
        if let Some(ct) = content_type {
            out = out.header("content-type", ct);
        }
        Ok(out.body(Full::new(Bytes::from(text))).expect("a response"))
    }
}

impl Proxy {
    pub fn start(upstream: &str, faults: Faults) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let counters = Arc::new(Stats::default());
        let full = f64::from(faults.route53_per_second.unwrap_or(0));
        let state = Arc::new(State {
            upstream: upstream.to_owned(),
            faults,
            stats: counters.clone(),
            client: reqwest::Client::new(),
            polls: Default::default(),
            failed: std::sync::Mutex::default(),
            seed: AtomicU64::new(0x2545_F491_4F6C_DD1D),
            bucket: std::sync::Mutex::new((full, std::time::Instant::now())),
            violated: std::sync::Mutex::new(None),
            born: std::sync::Mutex::default(),
            fresh: std::sync::Mutex::default(),
            received: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            roles: std::sync::Mutex::default(),
            lost: std::sync::Mutex::default(),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(SocketAddr::from((
                [127, 0, 0, 1],
                0,
            ))))
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| state.clone().handle(req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy {
            url,
            stats: counters,
            _runtime: runtime,
        }
    }
}
