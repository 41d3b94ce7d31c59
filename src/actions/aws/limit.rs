//! Client-side rate limits, one per AWS service, shared by every step of every run in the process.
//!
//! AWS throttles per account and region; the SDK retries a throttled call, but a runbook with many
//! concurrent steps (or a class of thirty labs) can keep the account over the limit long enough to
//! use up those retries. So every HTTP request (each retry included) first takes a token from its
//! service's bucket. Route 53 documents an account-wide bucket of 50 refilled at 10 per second and
//! `CreateHostedZone` at 2 per second, while older documentation and many accounts see 5 per second:
//! the default is the cautious 5, and `--aws-rate` (or `RUNBOOK_AWS_RATE`) changes any of them.
//!
//! The limiter wraps an HTTP client built as the SDK builds its default one (rustls, the proxy
//! from `HTTPS_PROXY`/`NO_PROXY`, the SDK's timeouts), set on each service's client.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
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

/// One bucket and the requests it applies to.
struct Bucket {
    name: &'static str,
    applies: fn(&HttpRequest) -> bool,
    limiter: DefaultDirectRateLimiter,
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

    pub fn ec2(rates: &Rates) -> Option<Limit> {
        Limit::new(
            rates
                .ec2
                .map(|r| service_bucket("ec2", r))
                .into_iter()
                .collect(),
        )
    }

    pub fn elbv2(rates: &Rates) -> Option<Limit> {
        Limit::new(
            rates
                .elbv2
                .map(|r| service_bucket("elbv2", r))
                .into_iter()
                .collect(),
        )
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
        buckets.push(Bucket {
            name: "route53 CreateHostedZone",
            applies: creates_hosted_zone,
            limiter: limiter(zone_rate),
        });
        Limit::new(buckets)
    }

    /// The default HTTPS client behind these buckets.
    pub fn http_client(&self) -> SharedHttpClient {
        SharedHttpClient::new(Limited {
            inner: default_https_client(),
            buckets: self.buckets.clone(),
        })
    }
}

fn service_bucket(name: &'static str, per_second: f64) -> Bucket {
    Bucket {
        name,
        applies: every,
        limiter: limiter(per_second),
    }
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
}

impl HttpClient for Limited {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            buckets: self.buckets.clone(),
        })
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    buckets: Arc<Vec<Bucket>>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let buckets = self.buckets.clone();
        HttpConnectorFuture::new(async move {
            for bucket in buckets.iter().filter(|b| (b.applies)(&request)) {
                bucket.limiter.until_ready().await;
            }
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Rates;

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
