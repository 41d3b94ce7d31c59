//! AWS clients, one set per target (region, profile, endpoint, role), handed to the actions
//! through their `Context`.
//!
//! aws-config's default chain finds credentials and the region (environment, shared files, SSO,
//! instance metadata); `--profile`, `--region` and `--endpoint-url` (or `AWS_ENDPOINT_URL`) take
//! precedence, and a named profile's credentials beat the environment's, as in the AWS CLI. `for_settings` makes the clients of a target once and keeps them for the process,
//! so every step of every run to the same target (each lab of a class in one account and
//! region) shares their connection pools and rate limits (`limit`). The application hands them
//! to the engine, which hands them to each action (`clients(ctx)`); unit tests hand an action
//! scripted clients the same way.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;

use super::limit::{Limit, Rates};
use super::shared::{Lookups, Memo, Recent, SharedPoll};
use crate::engine::action::{ActionError, Context};

/// Where AWS calls go: what clients are made from (`app::target` resolves it for a run).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Requests per second per service.
    pub rates: Rates,
    /// A role to assume with the credentials found (one account per student).
    pub role_arn: Option<String>,
    /// `runbook check`: the clients refuse every operation that is not a read.
    pub read_only: bool,
}

pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub route53: aws_sdk_route53::Client,
    pub region: String,
    pub config: aws_config::SdkConfig,
    /// Calls go to an emulator (`--endpoint-url`): it has no data plane and no `TestDNSAnswer`.
    pub emulated: bool,
    /// The profile named for this target (`--profile`, a roster's `profile`), for messages.
    pub profile: Option<String>,
    /// The waits for load balancers and for instances of every run to this target, each kind
    /// served by one poll (`shared`).
    pub load_balancers: SharedPoll<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>,
    pub instances: SharedPoll<aws_sdk_ec2::types::Instance>,
    /// Lookups whose answer holds while the process runs, asked once for every run to this
    /// target: the newest image of a name, the availability zones offering an instance type.
    pub images: Memo<Option<aws_sdk_ec2::types::Image>>,
    pub zones: Memo<Vec<(String, String)>>,
    /// The load balancer and target groups behind each alias a failover check evaluates.
    pub alias_targets: Memo<super::failover::Behind>,
    /// One-off `ELBv2` look-ups of every run, asked together: the tags of resources just
    /// created (whose they are), the load balancers and target groups behind aliases.
    pub elbv2_tags: Lookups<Vec<aws_sdk_elasticloadbalancingv2::types::Tag>>,
    pub aliases: Lookups<super::failover::Behind>,
    /// The records of a name, read with the other runs' reads of its zone.
    pub zone_records: Lookups<Vec<aws_sdk_route53::types::ResourceRecordSet>>,
    /// Record changes, batched per hosted zone, and their status, asked once for every wait.
    pub zone_changes: super::batch::ZoneChanges,
    pub change_status: Recent<String>,
    /// Each target group's health, as last read: two steps reading it a moment apart (a wait for
    /// the primary's targets to fail, then the failover check) make one call.
    pub target_health: Recent<aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput>,
    /// What its clients were made with, for those of another region ([`Clients::in_region`]).
    rates: Rates,
    /// The target they were made for by [`for_settings`] (`None` for clients made otherwise, as
    /// unit tests make them).
    made_for: Option<Key>,
    /// The clients of other regions, for clients not made by [`for_settings`].
    regions: Mutex<HashMap<String, &'static Clients>>,
    /// They refuse every operation that is not a read ([`ReadOnly`]).
    pub read_only: bool,
}

/// `runbook check`'s guard, on every client it uses: an operation that is not a read
/// (`Describe…`, `Get…`, `List…`, `Test…`) is refused before it is signed or sent, so a mistake in
/// an action's evaluation cannot change anything.
#[derive(Debug)]
struct ReadOnly;

impl aws_smithy_runtime_api::client::interceptors::Intercept for ReadOnly {
    fn name(&self) -> &'static str {
        "ReadOnly"
    }

    // Not `read_before_execution`: the operation's name is in the configuration only once its
    // runtime plugins have run.
    fn read_before_serialization(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let operation = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map_or(
                "",
                aws_smithy_runtime_api::client::orchestrator::Metadata::name,
            );
        if is_read(operation) {
            Ok(())
        } else {
            Err(format!("runbook check only reads, and refused {operation}").into())
        }
    }
}

/// An operation that only reads, by its name.
fn is_read(operation: &str) -> bool {
    ["Describe", "Get", "List", "Test"]
        .iter()
        .any(|read| operation.starts_with(read))
}

/// What a set of clients is made for: a target without its rate limits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
    role_arn: Option<String>,
    read_only: bool,
}

impl Key {
    fn of(settings: &Settings) -> Key {
        Key {
            region: settings.region.clone(),
            profile: settings.profile.clone(),
            endpoint_url: settings.endpoint_url.clone(),
            role_arn: settings.role_arn.clone(),
            read_only: settings.read_only,
        }
    }

    fn in_region(&self, region: Option<&str>) -> Key {
        Key {
            region: region.map(str::to_owned),
            ..self.clone()
        }
    }
}

/// Every set of clients made for a target, kept for the process: each run, each lab of a class
/// and each step with its own `region:` that go to the same account, endpoint and region share
/// one set, so its rate limits (AWS's are per account and region) hold for all of them.
static MADE: LazyLock<Mutex<HashMap<Key, &'static Clients>>> = LazyLock::new(Default::default);

/// Route 53 is global: one client per credentials and endpoint, whatever the region of the
/// clients it belongs to, so its rate limit (AWS's is the account's, five requests a second)
/// holds across regions.
static ROUTE53: LazyLock<Mutex<HashMap<Key, aws_sdk_route53::Client>>> =
    LazyLock::new(Default::default);

/// The clients of `key` made by `make` and kept, or those made before (by another run, or by a
/// step in another region); Route 53's shared with every other region's.
fn keep(key: Key, build: impl FnOnce() -> Clients) -> &'static Clients {
    let mut made = MADE.lock().expect("never poisoned");
    if let Some(c) = made.get(&key) {
        return c;
    }
    let mut clients = build();
    // Made for the default region, they are that region's: those made for it before serve.
    let resolved = key.in_region(Some(&clients.region));
    if let Some(c) = made.get(&resolved).copied() {
        made.insert(key, c);
        return c;
    }
    let route53 = ROUTE53
        .lock()
        .expect("never poisoned")
        .entry(key.in_region(None))
        .or_insert_with(|| clients.route53.clone())
        .clone();
    clients.route53 = route53;
    clients.made_for = Some(key.clone());
    let clients: &'static Clients = Box::leak(Box::new(clients));
    made.insert(resolved, clients);
    made.insert(key, clients);
    clients
}

async fn load_with(settings: &Settings) -> Result<Clients, ActionError> {
    let (config, region) = sdk_config(settings).await?;
    let mut clients = Clients::made(config, region, &settings.rates, settings.read_only);
    clients.emulated = settings
        .endpoint_url
        .as_deref()
        .is_some_and(|u| !u.is_empty());
    clients.profile.clone_from(&settings.profile);
    Ok(clients)
}

/// The AWS configuration for `settings` (region, profile, endpoint, role, retries and timeouts)
/// and its region: what every client of this tool is made from, the actions' and the state's.
pub async fn sdk_config(
    settings: &Settings,
) -> Result<(aws_config::SdkConfig, String), ActionError> {
    let region =
        RegionProviderChain::first_try(settings.region.clone().map(aws_config::Region::new))
            .or_default_provider();
    // Standard retries with more attempts: throttling and transient errors back off and retry.
    // Not the SDK's adaptive mode: with 30% of calls throttled (tests/aws.rs, through the test
    // proxy), its client-side limiter kept slowing down and the failover lab took 565 s instead
    // of 21 s. The per-service rate limits of `limit` keep the process under AWS's limits.
    let retry = aws_config::retry::RetryConfig::standard().with_max_attempts(10);
    // A request waits for its rate-limit token inside the HTTP client (`limit`), before its
    // body is sent: the SDK's upload stall protection (meant for streamed uploads; these bodies
    // are small and in memory) took a wait of over 5 s in a class of thirty labs for a stalled
    // upload and failed the call as unreachable. Downloads stay protected.
    let stall = aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig::enabled()
        .upload_enabled(false)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .retry_config(retry)
        .timeout_config(call_timeouts())
        .stalled_stream_protection(stall);
    if let Some(profile) = &settings.profile {
        // A profile named for this run is where its credentials come from, as with the AWS CLI:
        // the SDK's default chain would take AWS_ACCESS_KEY_ID from the shell first, and a
        // class's labs, each with its own profile, would all land in the shell's account.
        let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .profile_name(profile)
            .build();
        loader = loader
            .profile_name(profile)
            .credentials_provider(credentials);
    }
    if let Some(url) = settings.endpoint_url.as_deref().filter(|u| !u.is_empty()) {
        loader = loader.endpoint_url(url);
    }
    let mut config = loader.load().await;
    if settings.endpoint_url.as_deref().is_some_and(is_loopback) && settings.role_arn.is_none() {
        config = with_emulator_credentials(config).await;
    }
    if let Some(role) = &settings.role_arn {
        let provider = aws_config::sts::AssumeRoleProvider::builder(role)
            .session_name("runbook")
            .configure(&config)
            .build()
            .await;
        config = config
            .into_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build();
    }
    let region = config.region().map(ToString::to_string).ok_or_else(|| {
        ActionError::new("no AWS region is set")
            .hint("pass --region (for example --region ap-south-1), set AWS_REGION, or set a region in the profile")
            .invalid_input()
    })?;
    // A name that cannot be a region (`eu-west1`, `ap-south-1a`, a zone) is refused before any
    // call: AWS would not resolve it, an emulator answers it with errors of its own. Only its
    // form is judged, never whether AWS is known to have it (AWS opens new regions); an
    // S3-compatible store at an address of its own may name its region as it likes.
    let custom = settings
        .endpoint_url
        .as_deref()
        .is_some_and(|u| !u.is_empty() && !is_loopback(u));
    if !custom && !crate::runbook::resolve::is_region_name(&region) {
        let near = crate::runbook::suggest::closest(&region, KNOWN_REGIONS);
        return Err(ActionError::new(format!("`{region}` is not an AWS region name"))
            .hint(match near {
                Some(near) => format!("did you mean `{near}`? (from --region, AWS_REGION or the profile)"),
                None => "a region is written like `us-east-1` (`aws ec2 describe-regions` lists them): check --region, AWS_REGION or the profile".to_owned(),
            })
            .invalid_input());
    }
    Ok((config, region))
}

/// An endpoint on this machine (the local emulator), which real AWS never is.
fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| {
        let host = u.host_str().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

/// A local emulator accepts any credentials: when none are configured, use dummy ones rather
/// than fail a run (or its rollback, from another shell) that can reach nothing but this machine.
async fn with_emulator_credentials(config: aws_config::SdkConfig) -> aws_config::SdkConfig {
    use aws_credential_types::provider::ProvideCredentials as _;
    if let Some(provider) = config.credentials_provider() {
        if provider.provide_credentials().await.is_ok() {
            return config;
        }
    }
    let dummy = aws_credential_types::Credentials::new(
        "testing",
        "testing",
        None,
        None,
        "runbook: dummy credentials for a local emulator",
    );
    config
        .into_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(dummy))
        .build()
}

impl Clients {
    /// One client per service from `config`, each behind its service's rate limit.
    pub fn new(config: aws_config::SdkConfig, region: String, rates: &Rates) -> Clients {
        Clients::made(config, region, rates, false)
    }

    /// [`Clients::new`], refusing every operation that is not a read when `read_only`.
    fn made(
        config: aws_config::SdkConfig,
        region: String,
        rates: &Rates,
        read_only: bool,
    ) -> Clients {
        // One watch for the target: a hung endpoint found by one service's call ends the others'.
        let watch = std::sync::Arc::new(super::watch::Watch::default());
        let mut ec2 = aws_sdk_ec2::config::Builder::from(&config)
            .http_client(Limit::ec2(rates).http_client(watch.clone()));
        let mut elbv2 = aws_sdk_elasticloadbalancingv2::config::Builder::from(&config)
            .http_client(Limit::elbv2(rates).http_client(watch.clone()));
        let mut route53 = aws_sdk_route53::config::Builder::from(&config)
            .http_client(Limit::route53(rates).http_client(watch));
        if read_only {
            ec2 = ec2.interceptor(ReadOnly);
            elbv2 = elbv2.interceptor(ReadOnly);
            route53 = route53.interceptor(ReadOnly);
        }
        let mut clients = Clients::of(
            aws_sdk_ec2::Client::from_conf(ec2.build()),
            aws_sdk_elasticloadbalancingv2::Client::from_conf(elbv2.build()),
            aws_sdk_route53::Client::from_conf(route53.build()),
            region,
            config,
        )
        .with_rates(*rates);
        clients.read_only = read_only;
        clients
    }

    fn with_rates(mut self, rates: Rates) -> Clients {
        self.rates = rates;
        self
    }

    /// The clients of `region` for the same account, credentials and endpoint (a step's
    /// `region:`, or an alias pointing at a load balancer in another region than the run's):
    /// these, when it is theirs; else those [`for_settings`] made for that region, or made now
    /// from these with the region changed, and kept. Their EC2 and `ELBv2` rate limits are the
    /// region's (AWS's are per region); Route 53's is these clients' (it is global).
    pub fn in_region(&self, region: &str) -> &Clients {
        if region == self.region {
            return self;
        }
        let make = || {
            let config = self
                .config
                .to_builder()
                .region(aws_config::Region::new(region.to_owned()))
                .build();
            let mut other = Clients::made(config, region.to_owned(), &self.rates, self.read_only);
            other.emulated = self.emulated;
            other.route53 = self.route53.clone();
            other
        };
        if let Some(key) = &self.made_for {
            return keep(key.in_region(Some(region)), make);
        }
        let mut regions = self.regions.lock().expect("never poisoned");
        regions
            .entry(region.to_owned())
            .or_insert_with(|| Box::leak(Box::new(make())))
    }

    /// Clients made of these SDK clients, with nothing shared or remembered yet.
    pub fn of(
        ec2: aws_sdk_ec2::Client,
        elbv2: aws_sdk_elasticloadbalancingv2::Client,
        route53: aws_sdk_route53::Client,
        region: String,
        config: aws_config::SdkConfig,
    ) -> Clients {
        Clients {
            ec2,
            elbv2,
            route53,
            region,
            config,
            emulated: false,
            profile: None,
            load_balancers: SharedPoll::default(),
            instances: SharedPoll::default(),
            images: Memo::default(),
            zones: Memo::default(),
            zone_changes: super::batch::ZoneChanges::default(),
            change_status: Recent::default(),
            target_health: Recent::default(),
            alias_targets: Memo::default(),
            elbv2_tags: Lookups::default(),
            aliases: Lookups::default(),
            zone_records: Lookups::default(),
            rates: Rates::default(),
            made_for: None,
            regions: Mutex::default(),
            read_only: false,
        }
    }
}

/// No call waits for ever: a connection is made within 5 s, an attempt answers within 30 s (a
/// hung endpoint's attempt is cut off and retried like any transient error), and a call with all
/// its retries ends within 2 minutes. `RUNBOOK_CALL_TIMEOUT` sets the attempt's limit (the
/// call's is four times it).
pub fn call_timeouts() -> aws_config::timeout::TimeoutConfig {
    use std::time::Duration;
    let attempt = std::env::var("RUNBOOK_CALL_TIMEOUT")
        .ok()
        .and_then(|t| humantime::parse_duration(&t).ok())
        .unwrap_or(Duration::from_secs(30));
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5).min(attempt))
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * 4)
        .build()
}

/// Clients for `settings`, made once per distinct settings and kept for the process.
pub async fn for_settings(settings: &Settings) -> Result<&'static Clients, ActionError> {
    let key = Key::of(settings);
    if let Some(c) = MADE.lock().expect("never poisoned").get(&key) {
        return Ok(c);
    }
    let made = load_with(settings).await?;
    Ok(keep(key, || made))
}

/// The clients of the run an action belongs to, handed to it through its context.
pub fn clients<'c>(ctx: &'c Context<'_>) -> Result<&'c Clients, ActionError> {
    let own = ctx.service::<Clients>().ok_or_else(|| {
        ActionError::new("this run has no AWS clients: it was started without an AWS target")
            .invalid_input()
    })?;
    // A step with its own `region:` (or the undo of what it made) acts there.
    Ok(ctx.region.map_or(own, |region| own.in_region(region)))
}

/// Who the credentials act as, as STS said: the account and its partition (`aws`, `aws-cn`,
/// `aws-us-gov`), which a run records and which resume and rollback compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub partition: Option<String>,
}

/// Before the first step: clients for `settings` with a region and credentials, the endpoint
/// reachable and the credentials accepted, and who they act as (when AWS said); or a message
/// saying what is wrong and how to fix it, within seconds.
pub async fn preflight(
    settings: &Settings,
) -> Result<(&'static Clients, Option<Caller>), ActionError> {
    let clients = for_settings(settings).await?;
    check_credentials(clients).await?;
    let account = identify(clients).await?;
    Ok((clients, account))
}

/// Who the credentials are (STS `GetCallerIdentity`). One call with three tries
/// and short timeouts, so an endpoint that refuses connections or does not answer, and
/// credentials it rejects, fail in seconds rather than after the first step's retries. A busy
/// answer (throttling, a server error) is no verdict: `None`, and the run goes on.
pub async fn identify(clients: &Clients) -> Result<Option<Caller>, ActionError> {
    use aws_smithy_runtime_api::client::result::SdkError;
    use std::time::Duration;
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .build();
    let config = aws_sdk_sts::config::Builder::from(&clients.config)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .timeout_config(timeouts)
        .build();
    let where_to = clients.config.endpoint_url().map_or_else(
        || format!("AWS in {}", clients.region),
        |url| format!("the endpoint {url}"),
    );
    let e = match aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(me) => {
            return Ok(me.account().map(|account| Caller {
                account: account.to_owned(),
                // arn:PARTITION:sts::ACCOUNT:assumed-role/…
                partition: me
                    .arn()
                    .and_then(|arn| arn.split(':').nth(1))
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            }));
        }
        Err(e) => e,
    };
    match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => Err(ActionError::new(format!(
            "could not reach {where_to}: {}",
            if matches!(e, SdkError::TimeoutError(_)) {
                "it did not answer in time"
            } else {
                "the connection failed"
            }
        ))
        .hint(unreachable_hint(
            clients.config.endpoint_url(),
            &clients.region,
        ))
        .invalid_input()),
        _ => {
            let err = super::sdk_error("GetCallerIdentity", &e);
            match err.code.as_deref() {
                // The keys are fine; the clock that signed with them is not.
                Some(code) if super::clock_off(code, &err.message) => Err(err),
                Some(
                    "InvalidClientTokenId"
                    | "SignatureDoesNotMatch"
                    | "ExpiredToken"
                    | "UnrecognizedClientException",
                ) => Err(no_credentials(&format!(
                    "{where_to} rejected them ({})",
                    err.message
                ))),
                _ => Ok(None),
            }
        }
    }
}

/// The regions AWS had when this was written, for a "did you mean" when a region cannot be
/// reached: never to refuse one (AWS opens new ones).
const KNOWN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
];

/// What to check when nothing answered: the endpoint given (an emulator), or, on AWS itself, the
/// region's name and the way out of this machine.
fn unreachable_hint(endpoint: Option<&str>, region: &str) -> String {
    if endpoint.is_some() {
        return "check --endpoint-url (or AWS_ENDPOINT_URL) and that the endpoint is up; `scripts/emulator` starts the local one".to_owned();
    }
    let spelled = if KNOWN_REGIONS.contains(&region) {
        String::new()
    } else {
        match crate::runbook::suggest::closest(region, KNOWN_REGIONS) {
            Some(near) => format!(
                "`{region}` is not a region AWS is known to have: did you mean `{near}`? Else "
            ),
            None => format!(
                "`{region}` is not a region AWS is known to have: check --region (or AWS_REGION). Else "
            ),
        }
    };
    format!(
        "{spelled}check that this machine reaches AWS (`curl -sI https://sts.{region}.amazonaws.com`): a proxy goes in HTTPS_PROXY; an emulator's address goes in --endpoint-url"
    )
}

/// `clients` have a region and credentials that work (a role is assumed here, once).
pub async fn check_credentials(clients: &Clients) -> Result<String, ActionError> {
    let Some(provider) = clients.config.credentials_provider() else {
        return Err(no_credentials("no credentials provider is configured"));
    };
    provider
        .provide_credentials()
        .await
        .map_err(|e| match (&clients.profile, &e) {
            // The profile files are missing, or the profile has no credentials in them.
            (Some(profile), CredentialsError::CredentialsNotLoaded(_)) => ActionError::new(format!(
                "no usable AWS credentials: the profile `{profile}` has none (looked in {})",
                profile_files()
            ))
            .hint(format!(
                "`aws configure --profile {profile}` sets it up (`aws configure list-profiles` lists the profiles there are), \
                 or `aws sso login --profile {profile}` if it is an SSO profile"
            ))
            .invalid_input(),
            (Some(profile), _) => ActionError::new(format!(
                "no usable AWS credentials from the profile `{profile}`: {}",
                with_sources(&e)
            ))
            .hint(format!(
                "check the profile in {}, or run `aws sso login --profile {profile}` if its SSO session expired",
                profile_files()
            ))
            .invalid_input(),
            (None, _) => no_credentials(&with_sources(&e)),
        })?;
    Ok(clients.region.clone())
}

/// An error and what it says it comes from ("… not properly configured: profile `x` was not
/// defined").
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Where the SDK reads profiles: `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`, or their
/// places under the home folder.
fn profile_files() -> String {
    let file = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.to_owned());
    format!(
        "{} and {}",
        file("AWS_CONFIG_FILE", "~/.aws/config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    )
}

fn no_credentials(detail: &str) -> ActionError {
    ActionError::new(format!("no usable AWS credentials: {detail}"))
        .hint(
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile NAME for a profile in ~/.aws, \
             or run `aws sso login --profile NAME` if the SSO session expired",
        )
        .invalid_input()
}

/// `config` for a question whose answer may be done without (the price list, a quota): two
/// tries, each given at most `seconds`; the caller falls back to what it knows.
pub fn quick(config: &aws_config::SdkConfig, seconds: u64) -> aws_config::SdkConfig {
    config
        .to_builder()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(std::time::Duration::from_secs(seconds))
                .build(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unreachable_region_that_is_misspelt_is_named_with_the_nearest() {
        let hint = |region: &str, endpoint: Option<&str>| super::unreachable_hint(endpoint, region);
        let typo = hint("us-east-9", None);
        assert!(typo.contains("did you mean `us-east-1`?"), "{typo}");
        assert!(typo.contains("sts.us-east-9.amazonaws.com"), "{typo}");
        let known = hint("eu-west-3", None);
        assert!(!known.contains("not a region"), "{known}");
        assert!(known.contains("HTTPS_PROXY"), "{known}");
        let emulator = hint("us-east-9", Some("http://127.0.0.1:5000"));
        assert!(emulator.contains("scripts/emulator"), "{emulator}");
        assert!(!emulator.contains("did you mean"), "{emulator}");
    }

    #[test]
    fn only_an_endpoint_on_this_machine_gets_dummy_credentials() {
        for url in [
            "http://127.0.0.1:5000",
            "http://localhost:4566",
            "http://[::1]:5000/",
            "http://127.1.2.3",
        ] {
            assert!(super::is_loopback(url), "{url}");
        }
        for url in [
            "https://ec2.ap-south-1.amazonaws.com",
            "http://10.0.0.5:5000",
            "http://localhost.example.com",
            "not a url",
        ] {
            assert!(!super::is_loopback(url), "{url}");
        }
    }

    /// `runbook check`'s clients refuse a write before it is signed or sent (nothing listens on
    /// the endpoint: a call that went out would fail otherwise), in every region; reads pass.
    #[tokio::test]
    async fn check_clients_refuse_every_call_that_is_not_a_read() {
        let settings = super::Settings {
            region: Some("eu-west-1".to_owned()),
            endpoint_url: Some("http://127.0.0.1:9/read-only".to_owned()),
            read_only: true,
            ..super::Settings::default()
        };
        let c = super::for_settings(&settings).await.unwrap();
        let refused = |e: &dyn std::error::Error| {
            aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
        };
        let vpc = c.ec2.create_vpc().cidr_block("10.0.0.0/16").send().await;
        assert!(
            refused(&vpc.unwrap_err()).contains("runbook check only reads, and refused CreateVpc")
        );
        let there = c.in_region("eu-central-1");
        assert!(there.read_only);
        let lb = there
            .elbv2
            .delete_load_balancer()
            .load_balancer_arn("arn")
            .send()
            .await;
        assert!(refused(&lb.unwrap_err()).contains("refused DeleteLoadBalancer"));
        let record = c
            .route53
            .change_resource_record_sets()
            .hosted_zone_id("Z1")
            .send()
            .await;
        assert!(refused(&record.unwrap_err()).contains("refused ChangeResourceRecordSets"));
        for read in [
            "DescribeVpcs",
            "GetChange",
            "ListResourceRecordSets",
            "TestDNSAnswer",
        ] {
            assert!(super::is_read(read), "{read}");
        }
        for write in [
            "CreateVpc",
            "RunInstances",
            "ModifyVpcAttribute",
            "RegisterTargets",
        ] {
            assert!(!super::is_read(write), "{write}");
        }
        let writable = super::Settings {
            read_only: false,
            ..settings
        };
        assert!(!super::for_settings(&writable).await.unwrap().read_only);
    }

    /// A step in another region and a run in that region share one set of clients, so the
    /// region's rate limits hold for both; clients made for a region serve it whoever asks.
    #[tokio::test]
    async fn each_region_of_a_target_has_one_set_of_clients() {
        let at = |region: &str| super::Settings {
            region: Some(region.to_owned()),
            endpoint_url: Some("http://127.0.0.1:9/one-set-per-region".to_owned()),
            ..super::Settings::default()
        };
        let home = super::for_settings(&at("eu-west-1")).await.unwrap();
        let there = home.in_region("eu-central-1");
        assert_eq!(there.region, "eu-central-1");
        let direct = super::for_settings(&at("eu-central-1")).await.unwrap();
        assert!(std::ptr::eq(there, direct));
        assert!(std::ptr::eq(direct.in_region("eu-west-1"), home));
        assert!(std::ptr::eq(home.in_region("eu-west-1"), home));
        assert!(there.emulated);
    }
}
