//! Runs kept in S3 (`--state-dir s3://BUCKET/PREFIX`), shared by every machine that can reach
//! the bucket.
//!
//! Layout under the prefix:
//! - `runbook-state.json`: marks the prefix as runbook's state (a prefix holding anything else
//!   is refused);
//! - `runs/RUN/journal/00000042.json`: one object per record, written with `If-None-Match: *`, so
//!   a second writer can never overwrite history. Each carries the record and two numbers: the
//!   first record its writer wrote (`base`) and how far its writer knew every record to be
//!   durable (`settled`). Records written side by side go out side by side, so a crash can leave
//!   a gap; a gap that a later record says was written is an error, any other was in flight at
//!   the crash (its step never started its action) and is skipped;
//! - `runs/RUN/lease.json`: who drives the run and until when ([`lease`]);
//! - `runs/RUN/summary.json`: every record of the run in one object, written when its driver
//!   lets go and deleted when one takes it, so `runs` reads one object per run.
//!
//! Every call runs on this module's own runtime ([`block`]), so the store can be used from any
//! thread, inside or outside the application's runtime.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use futures::future::BoxFuture;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::lease::{self, Lease};
use crate::engine::journal::{self, Entry, Journal, JournalError, Log, Unread};
use crate::engine::state::RunState;
use crate::engine::store::{Listed, Store, TakeOver};

/// Objects read or written at once.
const AT_ONCE: usize = 16;

/// The runtime every S3 call of the state runs on: its own, so that a blocking read from a
/// command and an append from the engine's tasks both work, and never dropped.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("runbook-state")
            .enable_all()
            .build()
            .expect("a Tokio runtime for the state")
    })
}

/// Run `work` on the state's runtime and wait for it, from any thread.
pub(super) fn block<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    futures::executor::block_on(runtime().spawn(work)).expect("a state task never panics")
}

/// What went wrong with one S3 call, sorted by what the caller does about it.
pub(super) enum Failure {
    /// 412: a conditional write lost (the key exists, or its `ETag` changed); or 409, another
    /// conditional write of the key was in progress (S3 answers `ConditionalRequestConflict`):
    /// either way, look at what is there now.
    Precondition,
    /// 404: no such key.
    NotFound,
    /// Anything else, as the message and hint to show.
    Other(JournalError),
}

/// The AWS CLI command that creates bucket `name` in `region`: outside us-east-1, S3 refuses a
/// create that does not name its region as the location constraint.
fn create_bucket(name: &str, region: Option<&str>) -> String {
    match region {
        Some(region) if region != "us-east-1" => format!(
            "aws s3api create-bucket --bucket {name} --region {region} --create-bucket-configuration LocationConstraint={region}"
        ),
        _ => format!("aws s3api create-bucket --bucket {name}"),
    }
}

/// The bucket, the prefix and the client: what every call needs.
#[derive(Clone)]
pub(super) struct Bucket {
    pub client: aws_sdk_s3::Client,
    pub name: String,
    /// Empty, or ending with `/`.
    pub prefix: String,
}

/// Keeps the `Date` an S3 answer carries: S3's clock, for [`Bucket::get_aged`].
#[derive(Debug)]
struct ServerDate(Arc<Mutex<Option<String>>>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for ServerDate {
    fn name(&self) -> &'static str {
        "ServerDate"
    }

    fn read_before_deserialization(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(date) = context.response().headers().get("date") {
            *self.0.lock().expect("never poisoned") = Some(date.to_owned());
        }
        Ok(())
    }
}

impl Bucket {
    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    /// Sort an SDK error for `action` (`read`, `write`, `list`, `delete`) on `key`.
    pub fn failure<E>(&self, action: &str, key: &str, err: &SdkError<E>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().unwrap_or_default();
        let url = self.url(key);
        let store = |message: String, hint: &str| {
            Failure::Other(JournalError::Store {
                message,
                hint: hint.to_owned(),
            })
        };
        match (status, code) {
            (Some(412 | 409), _) | (_, "PreconditionFailed" | "ConditionalRequestConflict") => {
                Failure::Precondition
            }
            (_, "NoSuchBucket") => store(
                format!("the state bucket `{}` does not exist", self.name),
                &format!(
                    "create it (`{}`, with versioning recommended), or fix --state-dir",
                    create_bucket(&self.name, self.client.config().region().map(AsRef::as_ref))
                ),
            ),
            (Some(404), _) | (_, "NoSuchKey") => Failure::NotFound,
            (Some(403), _) | (_, "AccessDenied") => store(
                format!("no permission to {action} `{url}`"),
                "grant the runbook state permissions on the prefix (docs/iam-state-policy.json), or pass --state-profile for the account that owns the bucket",
            ),
            (Some(301), _) | (_, "PermanentRedirect" | "AuthorizationHeaderMalformed") => {
                // S3 says where the bucket is.
                let region = err
                    .raw_response()
                    .and_then(|r| r.headers().get("x-amz-bucket-region"))
                    .map(str::to_owned);
                match region {
                    Some(region) => store(
                        format!("the state bucket `{}` is in {region}", self.name),
                        &format!("pass --state-region {region}"),
                    ),
                    None => store(
                        format!("the state bucket `{}` is in another region", self.name),
                        "pass --state-region with the bucket's region",
                    ),
                }
            }
            (None, _) => store(
                format!(
                    "could not reach S3 to {action} `{url}`: {}",
                    aws_sdk_s3::error::DisplayErrorContext(err)
                ),
                "check the network, --state-region and --endpoint-url; nothing goes on without its record, and `runbook resume` continues once S3 answers",
            ),
            _ => store(
                format!(
                    "S3 refused to {action} `{url}`: {code}{}",
                    err.message().map(|m| format!(": {m}")).unwrap_or_default()
                ),
                "check --state-dir and the bucket's settings",
            ),
        }
    }

    /// Write `body` to `key`: only if it does not exist (`if_absent`), or only over `if_match`
    /// (an `ETag`). The new `ETag`.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        condition: Condition<'_>,
    ) -> Result<String, Failure> {
        let mut put = self
            .client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        put = match condition {
            Condition::Absent => put.if_none_match("*"),
            Condition::Matches(etag) => put.if_match(etag),
        };
        match put.send().await {
            Ok(out) => Ok(out.e_tag().unwrap_or_default().to_owned()),
            Err(e) => Err(self.failure("write", key, &e)),
        }
    }

    /// The object at `key` and its `ETag`.
    pub async fn get(&self, key: &str) -> Result<(Vec<u8>, String), Failure> {
        self.get_aged(key).await.map(|(body, etag, _)| (body, etag))
    }

    /// An object, its `ETag`, and how long ago it was last written by S3's own clock (its
    /// `Date` less the object's `Last-Modified`), where S3 said both: an age no machine's clock
    /// can skew.
    pub async fn get_aged(
        &self,
        key: &str,
    ) -> Result<(Vec<u8>, String, Option<Duration>), Failure> {
        use aws_smithy_types::date_time::{DateTime, Format};
        let date: Arc<Mutex<Option<String>>> = Arc::default();
        let seen = date.clone();
        let out = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .customize()
            .interceptor(ServerDate(seen))
            .send()
            .await
            .map_err(|e| self.failure("read", key, &e))?;
        let now = date
            .lock()
            .expect("never poisoned")
            .as_deref()
            .and_then(|d| DateTime::from_str(d, Format::HttpDate).ok());
        let age = match (now, out.last_modified()) {
            (Some(now), Some(written)) => u64::try_from(now.secs() - written.secs())
                .ok()
                .map(Duration::from_secs),
            _ => None,
        };
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let body = out.body.collect().await.map_err(|e| {
            Failure::Other(JournalError::Store {
                message: format!("could not read `{}`: {e}", self.url(key)),
                hint: "check the network; nothing was changed".to_owned(),
            })
        })?;
        Ok((body.into_bytes().to_vec(), etag, age))
    }

    pub async fn delete(&self, key: &str) -> Result<(), Failure> {
        self.client
            .delete_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map(drop)
            .map_err(|e| self.failure("delete", key, &e))
    }

    /// Keys under `prefix` (with `delimiter`, the common prefixes instead), every page.
    pub async fn list(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        max: Option<i32>,
    ) -> Result<Vec<String>, JournalError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.name)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_owned))
            .set_max_keys(max)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| match self.failure("list", prefix, &e) {
                Failure::Other(e) => e,
                Failure::Precondition | Failure::NotFound => JournalError::Store {
                    message: format!("could not list `{}`", self.url(prefix)),
                    hint: "check --state-dir".to_owned(),
                },
            })?;
            if delimiter.is_some() {
                keys.extend(
                    page.common_prefixes()
                        .iter()
                        .filter_map(|p| p.prefix().map(str::to_owned)),
                );
            } else {
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_owned)),
                );
            }
            if max.is_some() {
                break;
            }
        }
        Ok(keys)
    }
}

/// The condition of a write.
pub(super) enum Condition<'a> {
    /// `If-None-Match: *`: the key must not exist.
    Absent,
    /// `If-Match`: the object must still be this version.
    Matches(&'a str),
}

/// One record as stored: the entry, and what its writer knew (see the module's comment).
#[derive(Serialize, Deserialize)]
struct Stored<E = Entry> {
    base: u64,
    settled: u64,
    entry: E,
}

/// A run's records in one object, written when its driver lets go.
#[derive(Serialize, Deserialize)]
struct Summary {
    /// The number of each record, beside `entries`.
    seqs: Vec<u64>,
    entries: Vec<Entry>,
}

/// The run's records from its summary when the journal's keys are exactly the summary's (one
/// listing instead of reading every record); otherwise from the records themselves.
async fn read_for_open(
    bucket: &Bucket,
    run: &str,
) -> Result<Vec<(u64, Option<Entry>)>, JournalError> {
    if let Ok((body, _)) = bucket
        .get(&bucket.key(&format!("runs/{run}/summary.json")))
        .await
    {
        if let Ok(summary) = serde_json::from_slice::<Summary>(&body) {
            let dir = bucket.key(&format!("runs/{run}/journal/"));
            let keys: Vec<String> = bucket.list(&dir, None, None).await?;
            let expected: Vec<String> = summary
                .seqs
                .iter()
                .map(|seq| format!("{dir}{seq:08}.json"))
                .collect();
            if keys == expected && summary.seqs.len() == summary.entries.len() {
                return Ok(summary
                    .seqs
                    .into_iter()
                    .zip(summary.entries.into_iter().map(Some))
                    .collect());
            }
        }
    }
    read_numbered(bucket, run).await
}

/// Runs in `s3://BUCKET/PREFIX`.
pub struct S3 {
    bucket: Bucket,
    location: String,
    lease: Duration,
    /// Set once this process has seen the bucket refuse a second conditional write.
    honours_conditions: OnceLock<()>,
    /// The prefix carries runbook's marker.
    marked: std::sync::atomic::AtomicBool,
    /// The runs this process has open, read from memory rather than from S3.
    open_runs: Mutex<HashMap<String, Weak<Mutex<Writer>>>>,
}

impl S3 {
    /// The store at `location` (`s3://BUCKET/PREFIX`), with `client`; checks that the prefix is
    /// runbook's state or empty.
    pub fn connect(
        client: aws_sdk_s3::Client,
        location: &str,
        lease: Duration,
    ) -> Result<S3, JournalError> {
        let rest = location.trim_start_matches("s3://");
        let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        if name.is_empty() {
            return Err(JournalError::Store {
                message: format!("`{location}` names no bucket"),
                hint: "write it as s3://BUCKET/PREFIX, for example s3://team-runbook-state/labs"
                    .to_owned(),
            });
        }
        let store = S3 {
            bucket: Bucket {
                client,
                name: name.to_owned(),
                prefix,
            },
            location: location.trim_end_matches('/').to_owned(),
            lease: lease.max(Duration::from_secs(3)),
            honours_conditions: OnceLock::new(),
            marked: std::sync::atomic::AtomicBool::new(false),
            open_runs: Mutex::default(),
        };
        if store.check_prefix()? {
            store
                .marked
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(store)
    }

    fn run_key(&self, run: &str, rest: &str) -> String {
        self.bucket.key(&format!("runs/{run}/{rest}"))
    }

    /// The prefix holds runbook's state (its marker: `true`), or nothing at all (`false`).
    fn check_prefix(&self) -> Result<bool, JournalError> {
        let bucket = self.bucket.clone();
        let location = self.location.clone();
        block(async move {
            let marker = bucket.key(MARKER);
            match bucket.get(&marker).await {
                Ok(_) => return Ok(true),
                Err(Failure::NotFound | Failure::Precondition) => {}
                Err(Failure::Other(e)) => return Err(e),
            }
            let any = bucket.list(&bucket.prefix, None, Some(5)).await?;
            match any.iter().find(|k| !k.contains(PROBE)) {
                None => Ok(false),
                Some(key) => Err(JournalError::Store {
                    message: format!(
                        "`{location}` holds objects that are not runbook state (for example `{}`)",
                        bucket.url(key)
                    ),
                    hint: format!(
                        "give runbook a prefix of its own, for example --state-dir s3://{}/runbook",
                        bucket.name
                    ),
                }),
            }
        })
    }

    /// Before the first write: a second `If-None-Match: *` write of one key must be refused, or
    /// two processes could both write a run's records. Then the prefix is marked as state.
    fn check_conditions(&self) -> Result<(), JournalError> {
        if self.honours_conditions.get().is_some() {
            return Ok(());
        }
        let bucket = self.bucket.clone();
        let location = self.location.clone();
        let marked = self.marked.load(std::sync::atomic::Ordering::Relaxed);
        block(async move {
            let probe = bucket.key(&format!(
                "{PROBE}-{}",
                (0..8).map(|_| fastrand::alphanumeric()).collect::<String>()
            ));
            let other = |f: Failure, what: &str| match f {
                Failure::Other(e) => e,
                _ => JournalError::Store {
                    message: format!("S3 refused {what} `{}`", bucket.url(&probe)),
                    hint: "check --state-dir".to_owned(),
                },
            };
            bucket
                .put(&probe, b"{}".to_vec(), Condition::Absent)
                .await
                .map_err(|f| other(f, "a first conditional write to"))?;
            let second = bucket.put(&probe, b"{}".to_vec(), Condition::Absent).await;
            let _ = bucket.delete(&probe).await;
            match second {
                Err(Failure::Precondition) => {}
                Ok(_) => {
                    return Err(JournalError::Store {
                        message: format!(
                            "`{location}` does not honour conditional writes: a second write of `{}` with `If-None-Match: *` was accepted",
                            bucket.url(&probe)
                        ),
                        hint: "keep runbook's state in Amazon S3 or a store that refuses that write (without it, two processes could both write one run's records), or in a local folder (--state-dir DIR)".to_owned(),
                    });
                }
                Err(f) => return Err(other(f, "a second conditional write to")),
            }
            if marked {
                return Ok(());
            }
            let mark = serde_json::to_vec(&serde_json::json!({
                "runbook": "state",
                "format": 1,
                "created": journal::now(),
            }))
            .expect("JSON");
            match bucket
                .put(&bucket.key(MARKER), mark, Condition::Absent)
                .await
            {
                Ok(_) | Err(Failure::Precondition) => Ok(()),
                Err(f) => Err(other(f, "the marker")),
            }
        })?;
        let _ = self.honours_conditions.set(());
        Ok(())
    }
}

const MARKER: &str = "runbook-state.json";
const PROBE: &str = "runbook-state.probe";

/// Of the numbers missing among `records` (number, writer's first, writer's settled mark), the
/// first that a record says was written: lost, where the others were in flight at a crash.
fn lost_record(records: &[(u64, u64, u64)]) -> Option<u64> {
    let present: BTreeSet<u64> = records.iter().map(|(seq, _, _)| *seq).collect();
    let last = *present.last()?;
    (0..last).filter(|k| !present.contains(k)).find(|&k| {
        records
            .iter()
            .any(|&(_, base, settled)| base <= k && k < settled)
    })
}

/// A run's records, in order (see the module's comment for gaps).
async fn read_run(bucket: &Bucket, run: &str) -> Result<Vec<Entry>, JournalError> {
    let entries = read_numbered(bucket, run)
        .await?
        .into_iter()
        .filter_map(|(_, e)| e)
        .collect();
    journal::whole(
        entries,
        bucket
            .url(&bucket.key(&format!("runs/{run}/journal/")))
            .into(),
    )
}

/// A run's records with their numbers, in order: `None` for a newer runbook's optional record,
/// which this version passes over but whose number is taken.
async fn read_numbered(
    bucket: &Bucket,
    run: &str,
) -> Result<Vec<(u64, Option<Entry>)>, JournalError> {
    let dir = bucket.key(&format!("runs/{run}/journal/"));
    let keys = bucket.list(&dir, None, None).await?;
    let mut numbered = Vec::with_capacity(keys.len());
    for key in keys {
        let seq = key
            .strip_prefix(&dir)
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| JournalError::Store {
                message: format!(
                    "run `{run}` holds `{}`, which is not a journal record",
                    bucket.url(&key)
                ),
                hint: "remove it; only runbook writes under the journal's prefix".to_owned(),
            })?;
        numbered.push((seq, key));
    }
    numbered.sort();
    let records: Vec<(u64, Stored<Option<Entry>>)> = futures::stream::iter(numbered)
        .map(|(seq, key)| async move {
            let (body, _) = bucket.get(&key).await.map_err(|f| match f {
                Failure::Other(e) => e,
                _ => JournalError::Store {
                    message: format!("record `{}` of run `{run}` went away while it was read", bucket.url(&key)),
                    hint: "someone deleted it: restore it from the bucket's versions".to_owned(),
                },
            })?;
            let damaged = |e: String| JournalError::Store {
                message: format!(
                    "record `{}` of run `{run}` is damaged: {e}",
                    bucket.url(&key)
                ),
                hint: "restore it from the bucket's versions (versioning is recommended); `runbook sweep` finds what the run made without its journal".to_owned(),
            };
            let stored: Stored<serde_json::Value> =
                serde_json::from_slice(&body).map_err(|e| damaged(e.to_string()))?;
            let entry = match journal::from_json(stored.entry) {
                Ok(entry) => entry,
                Err(Unread::Newer(event)) => {
                    return Err(JournalError::Newer {
                        path: bucket.url(&key).into(),
                        line: 1,
                        event,
                    });
                }
                Err(Unread::Damaged(e)) => return Err(damaged(e)),
            };
            let stored = Stored {
                base: stored.base,
                settled: stored.settled,
                entry,
            };
            Ok::<_, JournalError>((seq, stored))
        })
        .buffered(AT_ONCE)
        .try_collect()
        .await?;
    let marks: Vec<(u64, u64, u64)> = records
        .iter()
        .map(|(seq, r)| (*seq, r.base, r.settled))
        .collect();
    if let Some(missing) = lost_record(&marks) {
        return Err(JournalError::Store {
            message: format!(
                "record {missing} of run `{run}` is missing (`{}`), though later records say it was written",
                bucket.url(&format!("{dir}{missing:08}.json"))
            ),
            hint: "restore it from the bucket's versions (versioning is recommended); `runbook sweep` finds what the run made without its journal".to_owned(),
        });
    }
    Ok(records.into_iter().map(|(seq, r)| (seq, r.entry)).collect())
}

impl Store for S3 {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn shared(&self) -> bool {
        true
    }

    fn ids(&self) -> Result<Vec<String>, JournalError> {
        let bucket = self.bucket.clone();
        block(async move {
            let runs = bucket.key("runs/");
            let mut ids: Vec<String> = bucket
                .list(&runs, Some("/"), None)
                .await?
                .into_iter()
                .filter_map(|p| {
                    p.strip_prefix(&runs)
                        .map(|id| id.trim_end_matches('/').to_owned())
                })
                .collect();
            ids.sort();
            Ok(ids)
        })
    }

    fn exists(&self, run: &str) -> Result<bool, JournalError> {
        let bucket = self.bucket.clone();
        let dir = self.run_key(run, "journal/");
        block(async move { Ok(!bucket.list(&dir, None, Some(1)).await?.is_empty()) })
    }

    fn read(&self, run: &str) -> Result<Vec<Entry>, JournalError> {
        // A run this process drives: what it wrote is what there is.
        if let Some(writer) = self
            .open_runs
            .lock()
            .expect("never poisoned")
            .get(run)
            .and_then(Weak::upgrade)
        {
            let mut written = writer.lock().expect("never poisoned").written.clone();
            written.sort_by_key(|(seq, _)| *seq);
            return Ok(written.into_iter().map(|(_, e)| e).collect());
        }
        let bucket = self.bucket.clone();
        let run = run.to_owned();
        block(async move { read_run(&bucket, &run).await })
    }

    /// One object per run (its summary) when its driver let go; the whole journal otherwise.
    fn list(&self) -> Result<Vec<Listed>, JournalError> {
        let ids = self.ids()?;
        let bucket = self.bucket.clone();
        Ok(crate::engine::store::in_start_order(block(async move {
            futures::stream::iter(ids)
                .map(|id| {
                    let bucket = &bucket;
                    async move {
                        let key = bucket.key(&format!("runs/{id}/summary.json"));
                        let entries = match bucket.get(&key).await {
                            Ok((body, _)) => match serde_json::from_slice::<Summary>(&body) {
                                Ok(summary) => Ok(summary.entries),
                                Err(_) => read_run(bucket, &id).await,
                            },
                            Err(Failure::Other(e)) => Err(e),
                            Err(_) => read_run(bucket, &id).await,
                        };
                        let state = entries.map(|e| RunState::from_entries(&e));
                        (id, state)
                    }
                })
                .buffered(AT_ONCE)
                .collect::<Vec<_>>()
                .await
        })))
    }

    fn hold_class(
        &self,
        class: &str,
        take_over: TakeOver,
    ) -> Result<Box<dyn std::any::Any + Send>, JournalError> {
        self.check_conditions()?;
        let bucket = self.bucket.clone();
        let key = bucket.key(&format!("classes/{class}/lease.json"));
        let (name, duration) = (format!("class {class}"), self.lease);
        let lease =
            block(async move { Lease::take_key(&bucket, &name, key, duration, take_over).await })
                .map_err(|e| match e {
                JournalError::Leased { holder, .. } => JournalError::ClassHeld {
                    class: class.to_owned(),
                    holder,
                },
                other => other,
            })?;
        let lease = Arc::new(lease);
        let renewal = runtime().spawn(lease::renew(self.bucket.clone(), lease.clone()));
        Ok(Box::new(ClassHold {
            bucket: self.bucket.clone(),
            lease,
            renewal,
        }))
    }

    fn driver(&self, run: &str) -> Option<String> {
        let bucket = self.bucket.clone();
        let run = run.to_owned();
        block(async move { lease::holder(&bucket, &run).await })
    }

    fn open(&self, run: &str, take_over: TakeOver) -> Result<Journal, JournalError> {
        self.check_conditions()?;
        let bucket = self.bucket.clone();
        let owned = run.to_owned();
        let duration = self.lease;
        let (lease, entries) = block(async move {
            let run = owned;
            let lease = Lease::take(&bucket, &run, duration, take_over).await?;
            let entries = match read_for_open(&bucket, &run).await {
                Ok(entries) => entries,
                Err(e) => {
                    lease.release(&bucket).await;
                    return Err(e);
                }
            };
            // A summary is only true while nobody drives the run.
            let summary = bucket.key(&format!("runs/{run}/summary.json"));
            match bucket.delete(&summary).await {
                Ok(()) | Err(Failure::NotFound | Failure::Precondition) => {}
                Err(Failure::Other(e)) => {
                    lease.release(&bucket).await;
                    return Err(e);
                }
            }
            Ok::<_, JournalError>((lease, entries))
        })?;
        if let Some(note) = &lease.note {
            crate::ui::note!("{note}");
        }
        // After every record there is, a newer runbook's optional ones too.
        let next_seq = entries.last().map_or(0, |(seq, _)| seq + 1);
        let entries = entries
            .into_iter()
            .filter_map(|(seq, e)| e.map(|e| (seq, e)))
            .collect();
        let lease = Arc::new(lease);
        let renewal = runtime().spawn(lease::renew(self.bucket.clone(), lease.clone()));
        let writer = Arc::new(Mutex::new(Writer {
            next: next_seq,
            base: next_seq,
            in_flight: BTreeSet::new(),
            written: entries,
        }));
        self.open_runs
            .lock()
            .expect("never poisoned")
            .insert(run.to_owned(), Arc::downgrade(&writer));
        Ok(Journal::new(Box::new(S3Log {
            bucket: self.bucket.clone(),
            run: run.to_owned(),
            lease,
            renewal,
            writer,
        })))
    }
}

/// A class held in S3: its lease, renewed until dropped, then released.
struct ClassHold {
    bucket: Bucket,
    lease: Arc<Lease>,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for ClassHold {
    fn drop(&mut self) {
        self.renewal.abort();
        let (bucket, lease) = (self.bucket.clone(), self.lease.clone());
        block(async move { lease.release(&bucket).await });
    }
}

/// Which records a writer has handed out and which are durable.
struct Writer {
    next: u64,
    /// The first record this writer wrote.
    base: u64,
    /// Handed out and not yet durable (or failed: never counted as written).
    in_flight: BTreeSet<u64>,
    /// Every durable record, for the summary: the ones read at open (numbered before `base`) and
    /// this writer's.
    written: Vec<(u64, Entry)>,
}

/// An open run in S3: records as objects, with the run's lease renewed in the background.
struct S3Log {
    bucket: Bucket,
    run: String,
    lease: Arc<Lease>,
    renewal: tokio::task::JoinHandle<()>,
    writer: Arc<Mutex<Writer>>,
}

impl Log for S3Log {
    fn write(&self, line: String) -> BoxFuture<'_, Result<(), JournalError>> {
        Box::pin(async move {
            if let Some(reason) = self.lease.lost_reason() {
                return Err(JournalError::LeaseLost {
                    run: self.run.clone(),
                    reason,
                });
            }
            let (seq, base, settled) = {
                let mut w = self.writer.lock().expect("never poisoned");
                let seq = w.next;
                w.next += 1;
                w.in_flight.insert(seq);
                let settled = *w.in_flight.first().expect("just inserted");
                (seq, w.base, settled)
            };
            let body = format!(r#"{{"base":{base},"settled":{settled},"entry":{line}}}"#);
            let bucket = self.bucket.clone();
            let key = self
                .bucket
                .key(&format!("runs/{}/journal/{seq:08}.json", self.run));
            let run = self.run.clone();
            let written = runtime()
                .spawn(async move { put_record(&bucket, &key, &run, body.into_bytes()).await })
                .await
                .expect("a state task never panics");
            // Another process wrote this record first: it drives the run now. This process
            // stops at once (its driver cancels what is in flight) and writes nothing more.
            if let Err(JournalError::LeaseLost { reason, .. }) = &written {
                self.lease.lose(reason.clone());
            }
            written?;
            let entry: Entry = serde_json::from_str(&line).expect("the journal wrote an entry");
            let mut w = self.writer.lock().expect("never poisoned");
            w.in_flight.remove(&seq);
            w.written.push((seq, entry));
            Ok(())
        })
    }

    fn lost(&self) -> Option<CancellationToken> {
        Some(self.lease.lost.clone())
    }

    fn lost_reason(&self) -> Option<String> {
        self.lease.lost_reason()
    }
}

/// Write one record, never over another: a refusal is another writer, unless the object is
/// byte for byte this record (an earlier attempt of this call that did land).
async fn put_record(
    bucket: &Bucket,
    key: &str,
    run: &str,
    body: Vec<u8>,
) -> Result<(), JournalError> {
    let taken = || JournalError::LeaseLost {
        run: run.to_owned(),
        reason: format!("another process wrote record `{}` first", bucket.url(key)),
    };
    for _ in 0..3 {
        match bucket.put(key, body.clone(), Condition::Absent).await {
            Ok(_) => return Ok(()),
            Err(Failure::Other(e)) => return Err(e),
            Err(Failure::NotFound) => {
                return Err(JournalError::Store {
                    message: format!("could not write `{}`", bucket.url(key)),
                    hint: "check --state-dir".to_owned(),
                });
            }
            Err(Failure::Precondition) => match bucket.get(key).await {
                Ok((there, _)) if there == body => return Ok(()),
                // A write that conflicted with one that did not land either: try again.
                Err(Failure::NotFound) => {}
                Err(Failure::Other(e)) => return Err(e),
                _ => return Err(taken()),
            },
        }
    }
    Err(taken())
}

/// Write a run's summary unless the one there holds later records: conditionally, on the version
/// read (or on there being none), so two writers can never put an older summary over a newer.
async fn write_summary(bucket: &Bucket, key: &str, last: Option<u64>, body: Vec<u8>) {
    for _ in 0..3 {
        let there = match bucket.get(key).await {
            Ok((there, etag)) => Some((there, etag)),
            Err(Failure::NotFound) => None,
            Err(_) => return,
        };
        let written = match &there {
            Some((there, etag)) => {
                let theirs = serde_json::from_slice::<Summary>(there)
                    .ok()
                    .and_then(|s| s.seqs.last().copied());
                if theirs > last {
                    return;
                }
                bucket
                    .put(key, body.clone(), Condition::Matches(etag))
                    .await
            }
            None => bucket.put(key, body.clone(), Condition::Absent).await,
        };
        // A version that changed meanwhile: read it again; anything else ends it.
        if !matches!(written, Err(Failure::Precondition)) {
            return;
        }
    }
}

impl Drop for S3Log {
    /// Let go: write the summary (only while the lease is still this process's) and release the
    /// lease, so the next process starts at once rather than after it expires.
    fn drop(&mut self) {
        self.renewal.abort();
        if self.lease.lost_reason().is_some() {
            return;
        }
        let mut written = std::mem::take(&mut self.writer.lock().expect("never poisoned").written);
        written.sort_by_key(|(seq, _)| *seq);
        let (seqs, entries) = written.into_iter().unzip();
        let summary = Summary { seqs, entries };
        let body = serde_json::to_vec(&summary).expect("JSON");
        let bucket = self.bucket.clone();
        let lease = self.lease.clone();
        let key = self.bucket.key(&format!("runs/{}/summary.json", self.run));
        let last = summary.seqs.last().copied();
        block(async move {
            // Only while the lease is provably still this process's (a process paused past a
            // take-over learns it here), and never over a summary of later records.
            if lease.still_held(&bucket).await {
                write_summary(&bucket, &key, last, body).await;
            }
            lease.release(&bucket).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::lost_record;

    #[test]
    fn a_gap_in_flight_at_a_crash_is_skipped_and_a_lost_record_is_named() {
        // A first writer (from 0) wrote 0, 1 and 3 while 2 was in flight when it died: 3 says
        // only what was below 2 was settled. A second writer starts after them, at 4.
        let crashed = [(0, 0, 0), (1, 0, 1), (3, 0, 2), (4, 4, 4), (5, 4, 5)];
        assert_eq!(lost_record(&crashed), None);
        // 1 is gone, though 3 says everything below 2 was written.
        let lost = [(0, 0, 0), (2, 0, 2), (3, 0, 3)];
        assert_eq!(lost_record(&lost), Some(1));
        // The second writer's records say its own were all written.
        let lost_later = [(0, 0, 0), (1, 0, 1), (2, 2, 2), (4, 2, 4)];
        assert_eq!(lost_record(&lost_later), Some(3));
        assert_eq!(lost_record(&[]), None);
    }
}
