//! A run's lease in S3: who drives the run and until when, so that exactly one process writes
//! its records, and a crashed one locks nobody out for longer than its lease.
//!
//! `runs/RUN/lease.json` holds the holder (user, host, pid), a token of the process's own, and
//! when the lease expires. It is created with `If-None-Match: *` and renewed every third of its
//! duration with `If-Match` on its `ETag`. A process that finds a live lease refuses (unless told
//! to take it over, `--take-over`); one that finds an expired or released lease takes it with
//! `If-Match` on the `ETag` it read, so of two takers exactly one wins. A holder whose renewal is
//! refused (taken over) or that could not renew it before it ran out has lost it: it writes no
//! further record. Expiry is judged by S3's clock: the lease's duration against how long ago S3
//! last stored it (its `Date` less the object's `Last-Modified`), so machines whose clocks are
//! minutes apart (a laptop after sleep, a drifting runner) neither take a live lease nor wait out
//! a dead one. Only where S3 does not say both is the holder's `expires` read by the local clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::s3::{Bucket, Condition, Failure};
use crate::engine::journal::JournalError;
use crate::engine::store::TakeOver;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Body {
    /// `user@host (pid N)`, as others are told.
    holder: String,
    host: String,
    pid: u32,
    /// This process's, to recognise its own write when a retried call was refused.
    token: String,
    acquired: String,
    /// By the holder's clock, for people; expiry is judged by S3's (`lease_ms`).
    expires: String,
    /// How long the lease holds after each write, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_ms: Option<u64>,
    /// Let go on purpose: the next process takes it at once, without a word.
    #[serde(default)]
    released: bool,
}

impl Body {
    fn new(token: &str, duration: Duration) -> Body {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "someone".to_owned());
        let pid = std::process::id();
        let now = SystemTime::now();
        Body {
            holder: format!("{user}@{host} (pid {pid})"),
            host,
            pid,
            token: token.to_owned(),
            acquired: stamp(now),
            expires: stamp(now + duration),
            lease_ms: Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
            released: false,
        }
    }

    /// How long the lease holds yet, judged by S3's clock when `age` (how long ago S3 stored
    /// it) is known, else by this machine's; `None` once it has expired or was let go.
    fn left(&self, age: Option<Duration>) -> Option<Duration> {
        if self.released {
            return None;
        }
        let left = match (age, self.lease_ms) {
            (Some(age), Some(ms)) => Duration::from_millis(ms).checked_sub(age),
            _ => humantime::parse_rfc3339_weak(&self.expires)
                .ok()
                .and_then(|t| t.duration_since(SystemTime::now()).ok()),
        };
        left.filter(|d| !d.is_zero())
    }

    fn expired(&self, age: Option<Duration>) -> bool {
        self.left(age).is_none()
    }

    /// "at 2026-12-02T10:00:00Z, in 1m 40s".
    fn expiry(&self, age: Option<Duration>) -> String {
        let left = self
            .left(age)
            .map(|d| {
                format!(
                    ", in {}",
                    humantime::format_duration(Duration::from_secs(d.as_secs()))
                )
            })
            .unwrap_or_default();
        format!("{}{left}", self.expires)
    }
}

fn stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The lease this process holds on a run.
pub(super) struct Lease {
    run: String,
    key: String,
    duration: Duration,
    token: String,
    held: Mutex<Held>,
    /// Cancelled when the lease is lost.
    pub lost: CancellationToken,
    reason: Mutex<Option<String>>,
    /// What taking it meant, to tell the person (an expired lease taken over).
    pub note: Option<String>,
}

struct Held {
    etag: String,
    acquired: String,
    /// Until when this process may write: the lease's end as of its last renewal, less a margin.
    valid_until: Instant,
}

/// How long before its end a holder counts its lease as gone: a tenth, at least a second, and
/// never the whole lease.
fn margin(duration: Duration) -> Duration {
    (duration / 10)
        .max(Duration::from_secs(1))
        .min(duration / 2)
}

fn json(body: &Body) -> Vec<u8> {
    serde_json::to_vec(body).expect("JSON")
}

impl Lease {
    /// Take the lease on `run`: create it, or take it over when it expired, was released, or
    /// (`take_over`) is live. Refused with who holds it otherwise.
    pub async fn take(
        bucket: &Bucket,
        run: &str,
        duration: Duration,
        take_over: TakeOver,
    ) -> Result<Lease, JournalError> {
        let key = bucket.key(&format!("runs/{run}/lease.json"));
        Lease::take_key(bucket, run, key, duration, take_over).await
    }

    /// [`Lease::take`] of the lease at `key` (a run's, or a class's), named `run` in messages.
    pub async fn take_key(
        bucket: &Bucket,
        run: &str,
        key: String,
        duration: Duration,
        take_over: TakeOver,
    ) -> Result<Lease, JournalError> {
        let token: String = (0..12).map(|_| fastrand::alphanumeric()).collect();
        let other = |f: Failure| match f {
            Failure::Other(e) => e,
            _ => JournalError::Store {
                message: format!("could not take the lease `{}`", bucket.url(&key)),
                hint: "try again".to_owned(),
            },
        };
        for _ in 0..5 {
            let started = Instant::now();
            let mine = Body::new(&token, duration);
            let (etag, note) = match bucket.put(&key, json(&mine), Condition::Absent).await {
                Ok(etag) => (etag, None),
                Err(Failure::Precondition) => {
                    let (body, etag, age) = match bucket.get_aged(&key).await {
                        Ok(found) => found,
                        Err(Failure::NotFound) => continue,
                        Err(f) => return Err(other(f)),
                    };
                    let theirs: Option<Body> = serde_json::from_slice(&body).ok();
                    let note = match &theirs {
                        Some(t) if t.released => None,
                        Some(t) if t.expired(age) => Some(format!(
                            "Took over run `{run}`: its lease, held by {}, expired at {}.",
                            t.holder, t.expires
                        )),
                        Some(t) if take_over == TakeOver::No => {
                            return Err(JournalError::Leased {
                                run: run.to_owned(),
                                holder: t.holder.clone(),
                                expires: t.expiry(age),
                            });
                        }
                        Some(t) => Some(format!(
                            "Took over run `{run}` from {} (--take-over): it stops at its next record.",
                            t.holder
                        )),
                        None => Some(format!(
                            "Took over run `{run}`: its lease `{}` was unreadable.",
                            bucket.url(&key)
                        )),
                    };
                    match bucket
                        .put(&key, json(&mine), Condition::Matches(&etag))
                        .await
                    {
                        Ok(etag) => (etag, note),
                        // Someone else took it or renewed it in between: look again.
                        Err(Failure::Precondition | Failure::NotFound) => continue,
                        Err(f) => return Err(other(f)),
                    }
                }
                Err(f) => return Err(other(f)),
            };
            return Ok(Lease {
                run: run.to_owned(),
                key,
                duration,
                token,
                held: Mutex::new(Held {
                    etag,
                    acquired: mine.acquired,
                    valid_until: started + duration.saturating_sub(margin(duration)),
                }),
                lost: CancellationToken::new(),
                reason: Mutex::new(None),
                note,
            });
        }
        Err(JournalError::Store {
            message: format!(
                "the lease `{}` kept changing while this process tried to take it",
                bucket.url(&key)
            ),
            hint: "another process is taking the run at the same moment: `runbook runs` shows its state; try again".to_owned(),
        })
    }

    /// Why this process may no longer write, if it may not: lost, or not renewed in time.
    pub fn lost_reason(&self) -> Option<String> {
        if let Some(reason) = self.reason.lock().expect("never poisoned").clone() {
            return Some(reason);
        }
        let valid_until = self.held.lock().expect("never poisoned").valid_until;
        if Instant::now() >= valid_until {
            self.lose("it ran out before it could be renewed".to_owned());
            return self.lost_reason();
        }
        None
    }

    /// This process may no longer write: say why once, and cancel `lost` (its driver stops).
    pub(super) fn lose(&self, reason: String) {
        let mut slot = self.reason.lock().expect("never poisoned");
        if slot.is_none() {
            crate::ui::note!("Lost the lease on run `{}`: {reason}.", self.run);
            *slot = Some(reason);
        }
        self.lost.cancel();
    }

    /// Whether this process still holds the lease, proven by renewing it now (a conditional
    /// write that fails if anyone else took it): what must hold before a last write.
    pub(super) async fn still_held(&self, bucket: &Bucket) -> bool {
        self.lost_reason().is_none() && matches!(self.renew_once(bucket).await, Ok(true))
    }

    /// Renew once: `Ok(true)` renewed, `Ok(false)` lost, `Err` could not tell (try again).
    async fn renew_once(&self, bucket: &Bucket) -> Result<bool, String> {
        let started = Instant::now();
        let (etag, acquired) = {
            let held = self.held.lock().expect("never poisoned");
            (held.etag.clone(), held.acquired.clone())
        };
        let mut body = Body::new(&self.token, self.duration);
        body.acquired = acquired;
        let renewed = match bucket
            .put(&self.key, json(&body), Condition::Matches(&etag))
            .await
        {
            Ok(etag) => Some(etag),
            Err(Failure::Precondition | Failure::NotFound) => {
                // Refused: another process has it, unless what is there is this very write (an
                // attempt that landed before its answer was lost).
                match bucket.get(&self.key).await {
                    Ok((there, etag)) if there == json(&body) => Some(etag),
                    Ok((there, etag)) => {
                        let theirs = serde_json::from_slice::<Body>(&there).ok();
                        // Still this process's: the write conflicted with another that did not
                        // land, or an earlier renewal landed unanswered. Go on from what is there.
                        if theirs.as_ref().is_some_and(|b| b.token == self.token) {
                            self.held.lock().expect("never poisoned").etag = etag;
                            return Err("the lease changed while it was renewed".to_owned());
                        }
                        let holder =
                            theirs.map_or_else(|| "another process".to_owned(), |b| b.holder);
                        self.lose(format!("{holder} took it over"));
                        return Ok(false);
                    }
                    Err(Failure::NotFound) => {
                        self.lose("its lease object was deleted".to_owned());
                        return Ok(false);
                    }
                    Err(Failure::Other(e)) => return Err(e.to_string()),
                    Err(Failure::Precondition) => return Err("refused".to_owned()),
                }
            }
            Err(Failure::Other(e)) => return Err(e.to_string()),
        };
        if let Some(etag) = renewed {
            let mut held = self.held.lock().expect("never poisoned");
            held.etag = etag;
            held.valid_until = started + self.duration.saturating_sub(margin(self.duration));
        }
        Ok(true)
    }

    /// Let go, so the next process need not wait for the expiry. Best effort: a lease that
    /// cannot be released still expires.
    pub async fn release(&self, bucket: &Bucket) {
        let etag = self.held.lock().expect("never poisoned").etag.clone();
        let mut body = Body::new(&self.token, Duration::ZERO);
        body.released = true;
        let _ = bucket
            .put(&self.key, json(&body), Condition::Matches(&etag))
            .await;
    }
}

/// Who holds the lease on `run`, while it is live: "user@host (pid N), lease until T".
pub(super) async fn holder(bucket: &Bucket, run: &str) -> Option<String> {
    let key = bucket.key(&format!("runs/{run}/lease.json"));
    let (body, _, age) = bucket.get_aged(&key).await.ok()?;
    let body: Body = serde_json::from_slice(&body).ok()?;
    (!body.expired(age)).then(|| format!("{}, lease until {}", body.holder, body.expires))
}

/// Keep `lease` renewed every third of its duration until it is lost (or the task is aborted
/// when the journal closes). A renewal that cannot reach S3 is tried again every few seconds
/// until the lease would run out.
pub(super) async fn renew(bucket: Bucket, lease: Arc<Lease>) {
    let every = lease.duration / 3;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = lease.lost.cancelled() => return,
        }
        loop {
            match lease.renew_once(&bucket).await {
                Ok(true) => break,
                Ok(false) => return,
                Err(e) => {
                    if lease.lost_reason().is_some() {
                        return;
                    }
                    let valid_until = lease.held.lock().expect("never poisoned").valid_until;
                    if Instant::now() + Duration::from_secs(2) >= valid_until {
                        lease.lose(format!("it could not be renewed ({e})"));
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(2).min(every)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
    use aws_sdk_s3::primitives::ByteStream;
    use aws_smithy_mocks::{
        MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock,
    };
    use aws_smithy_types::error::ErrorMetadata;

    fn bucket(rules: &[Rule]) -> Bucket {
        let interceptor = rules.iter().fold(
            MockResponseInterceptor::new().rule_mode(RuleMode::Sequential),
            MockResponseInterceptor::with_rule,
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("ap-south-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "AKIDTEST", "secret", None, None, "scripted",
            ))
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build();
        Bucket {
            client: aws_sdk_s3::Client::from_conf(config),
            name: "state".to_owned(),
            prefix: "labs/".to_owned(),
        }
    }

    fn put(etag: &'static str) -> Rule {
        mock!(aws_sdk_s3::Client::put_object)
            .then_output(move || PutObjectOutput::builder().e_tag(etag).build())
    }

    fn refused(code: &'static str) -> Rule {
        mock!(aws_sdk_s3::Client::put_object).then_error(move || {
            PutObjectError::generic(ErrorMetadata::builder().code(code).build())
        })
    }

    fn there(token: &'static str, holder: &'static str) -> Rule {
        mock!(aws_sdk_s3::Client::get_object).then_output(move || {
            let mut body = Body::new(token, Duration::from_secs(600));
            body.holder = holder.to_owned();
            GetObjectOutput::builder()
                .body(ByteStream::from(json(&body)))
                .e_tag("e2")
                .build()
        })
    }

    /// S3 answers 409 when another conditional write of the key is in progress: a renewal so
    /// refused, with the lease still this process's, is tried again from what is there, never
    /// taken for a take-over.
    #[tokio::test]
    async fn a_renewal_that_met_a_concurrent_write_is_tried_again() {
        let b = bucket(&[
            put("e1"),
            refused("ConditionalRequestConflict"),
            there("mine", "me@laptop (pid 1)"),
            put("e3"),
        ]);
        let mut lease = Lease::take(&b, "run-1", Duration::from_secs(60), TakeOver::No)
            .await
            .unwrap();
        lease.token = "mine".to_owned();
        assert!(lease.renew_once(&b).await.is_err(), "not renewed yet");
        assert!(lease.lost_reason().is_none(), "and not lost");
        assert_eq!(lease.held.lock().unwrap().etag, "e2", "goes on from there");
        assert_eq!(lease.renew_once(&b).await, Ok(true));
        assert_eq!(lease.held.lock().unwrap().etag, "e3");
    }

    /// A renewal refused because another process holds the lease loses it, naming the holder.
    #[tokio::test]
    async fn a_renewal_refused_for_another_holder_loses_the_lease() {
        let b = bucket(&[
            put("e1"),
            refused("PreconditionFailed"),
            there("theirs", "ta@other (pid 7)"),
        ]);
        let lease = Lease::take(&b, "run-1", Duration::from_secs(60), TakeOver::No)
            .await
            .unwrap();
        assert_eq!(lease.renew_once(&b).await, Ok(false));
        assert!(lease.lost.is_cancelled());
        assert_eq!(
            lease.lost_reason().as_deref(),
            Some("ta@other (pid 7) took it over")
        );
    }
}
