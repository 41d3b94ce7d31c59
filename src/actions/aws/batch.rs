//! Route 53 changes to one hosted zone, sent together; a change's status, asked once.
//!
//! A class in one account writes sixty failover records into one zone at about the same time.
//! Sent one by one they queue for Route 53's few requests a second, and on AWS a change sent
//! while an earlier one to the same zone is being processed is refused (`PriorRequestNotComplete`).
//! So the changes of every run to a target go through one [`ZoneChanges`]: one request to a zone
//! at a time, and whatever changes arrive meanwhile go in the next request as one change batch
//! (group commit: a change that finds the zone idle goes at once, alone). Every change of a batch
//! gets the batch's change id. A batch is all or nothing on AWS: when Route 53 refuses one
//! (`InvalidChangeBatch`, one change in it is wrong), each of its changes is sent again alone, so
//! each step gets its own answer and no step fails for another's record.
//!
//! The waits for those changes then share their `GetChange` polls (`Clients::change_status`, a
//! [`super::shared::Recent`]): an answer at most a second old serves every wait for that change,
//! and `INSYNC`, which never goes back, is kept.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_sdk_route53::types::{Change, ChangeBatch};
use tokio::sync::oneshot;

use crate::engine::action::ActionError;

/// The most changes sent in one batch (AWS takes up to 1,000 and 32,000 characters of values).
pub const MAX_BATCH: usize = 100;

/// One change waiting for its batch, and where its answer goes.
struct Pending {
    change: Change,
    reply: oneshot::Sender<Result<String, ActionError>>,
}

/// One zone's changes not yet sent, and its turn to send (one request to a zone at a time).
#[derive(Default)]
struct Zone {
    queue: Mutex<Vec<Pending>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// The record changes of every run to one target, batched per zone.
#[derive(Default)]
pub struct ZoneChanges {
    zones: Mutex<HashMap<String, Arc<Zone>>>,
    /// Requests made, for tests and the curious.
    requests: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for ZoneChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneChanges").finish_non_exhaustive()
    }
}

/// Sends one change batch to a zone: the change id, or the error in the tool's words.
pub trait Sender: Clone + Send + Sync + 'static {
    fn send(
        &self,
        zone: String,
        changes: Vec<Change>,
    ) -> impl Future<Output = Result<String, ActionError>> + Send;
}

/// Route 53 itself.
impl Sender for aws_sdk_route53::Client {
    async fn send(&self, zone: String, changes: Vec<Change>) -> Result<String, ActionError> {
        let batch = ChangeBatch::builder()
            .set_changes(Some(changes))
            .build()
            .map_err(|e| ActionError::new(format!("a change batch could not be built: {e}")))?;
        let out = self
            .change_resource_record_sets()
            .hosted_zone_id(&zone)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| super::sdk_error("ChangeResourceRecordSets", &e))?;
        Ok(out
            .change_info()
            .map(|i| super::route53::bare_id(i.id()))
            .unwrap_or_default())
    }
}

/// The record a change is about: two changes of one record never share a batch.
fn record_of(change: &Change) -> (String, String, String) {
    change
        .resource_record_set()
        .map_or_else(Default::default, |s| {
            (
                s.name().trim_end_matches('.').to_lowercase(),
                s.r#type().as_str().to_owned(),
                s.set_identifier().unwrap_or_default().to_owned(),
            )
        })
}

impl ZoneChanges {
    /// Send `change` to `zone`, with whatever other changes to it are waiting: its change id,
    /// or why it was refused (its own error, never another change's).
    pub async fn submit<S: Sender>(
        &self,
        sender: &S,
        zone: &str,
        change: Change,
    ) -> Result<String, ActionError> {
        let z = Arc::clone(
            self.zones
                .lock()
                .expect("never poisoned")
                .entry(zone.to_owned())
                .or_default(),
        );
        let (reply, mut answer) = oneshot::channel();
        z.queue
            .lock()
            .expect("never poisoned")
            .push(Pending { change, reply });
        loop {
            let turn = Arc::clone(&z.turn).lock_owned().await;
            // A batch sent before this turn may have carried this change: it answered before
            // it gave up the turn.
            match answer.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(ActionError::new(
                        "ChangeResourceRecordSets: the batch carrying this change was abandoned",
                    ));
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let batch = take_batch(&mut z.queue.lock().expect("never poisoned"));
            if batch.is_empty() {
                continue;
            }
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Sent from a task of its own, holding the zone's turn: a run cancelled while its
            // batch is under way does not leave the other runs' changes unanswered.
            let sender = sender.clone();
            let zone = zone.to_owned();
            let sent = tokio::spawn(async move {
                send_batch(&sender, &zone, batch).await;
                drop(turn);
            });
            let _ = sent.await;
        }
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The next batch: the oldest waiting changes, at most [`MAX_BATCH`], none two of one record
/// (a later change of a record waits for the next batch, so changes to it keep their order).
fn take_batch(queue: &mut Vec<Pending>) -> Vec<Pending> {
    let mut records = std::collections::HashSet::new();
    let mut batch = Vec::new();
    let mut rest = Vec::new();
    for p in queue.drain(..) {
        // Its step is gone (its run was cancelled while the change waited): never sent, so
        // nothing is made that no journal knows of.
        if p.reply.is_closed() {
            continue;
        }
        // A record seen first when the batch is full stays behind too, with its later changes.
        let first = records.insert(record_of(&p.change));
        if first && batch.len() < MAX_BATCH {
            batch.push(p);
        } else {
            rest.push(p);
        }
    }
    *queue = rest;
    batch
}

/// Send a batch and answer each of its changes; a refused batch of several is sent again change
/// by change, so each gets its own answer.
async fn send_batch<S: Sender>(sender: &S, zone: &str, batch: Vec<Pending>) {
    let changes: Vec<Change> = batch.iter().map(|p| p.change.clone()).collect();
    let result = sender.send(zone.to_owned(), changes).await;
    let refused = result
        .as_ref()
        .err()
        .is_some_and(|e| e.code.as_deref() == Some("InvalidChangeBatch"));
    if batch.len() > 1 && refused {
        for p in batch {
            let own = sender.send(zone.to_owned(), vec![p.change.clone()]).await;
            let _ = p.reply.send(own);
        }
        return;
    }
    for p in batch {
        let _ = p.reply.send(result.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_route53::types::{ChangeAction, ResourceRecordSet, RrType};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn change(name: &str, set_id: &str) -> Change {
        Change::builder()
            .action(ChangeAction::Upsert)
            .resource_record_set(
                ResourceRecordSet::builder()
                    .name(name)
                    .r#type(RrType::A)
                    .set_identifier(set_id)
                    .build()
                    .expect("name and type"),
            )
            .build()
            .expect("action and set")
    }

    /// A zone that takes a while to answer and refuses any batch holding a record named `bad.`.
    #[derive(Clone, Default)]
    struct Slow {
        sent: Arc<Mutex<Vec<Vec<String>>>>,
        open: Arc<AtomicUsize>,
    }

    impl Sender for Slow {
        async fn send(&self, _zone: String, changes: Vec<Change>) -> Result<String, ActionError> {
            assert_eq!(
                self.open.fetch_add(1, Ordering::SeqCst),
                0,
                "one request to a zone at a time"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.open.fetch_sub(1, Ordering::SeqCst);
            let names: Vec<String> = changes.iter().map(|c| record_of(c).0).collect();
            let mut sent = self.sent.lock().unwrap();
            sent.push(names.clone());
            if names.iter().any(|n| n == "bad") {
                let mut e = ActionError::new("InvalidChangeBatch: bad is wrong");
                e.code = Some("InvalidChangeBatch".into());
                return Err(e);
            }
            Ok(format!("C{}", sent.len()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn changes_arriving_while_a_batch_is_sent_go_together_in_the_next() {
        let zones = Arc::new(ZoneChanges::default());
        let slow = Slow::default();
        let mut tasks = Vec::new();
        for i in 0..10 {
            let (zones, slow) = (Arc::clone(&zones), slow.clone());
            tasks.push(tokio::spawn(async move {
                zones
                    .submit(&slow, "Z1", change(&format!("r{i}"), "a"))
                    .await
            }));
        }
        let ids: Vec<String> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.unwrap().unwrap())
            .collect();
        let sent = slow.sent.lock().unwrap().clone();
        // The first change goes alone, at once; the nine that came meanwhile go in one batch.
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert_eq!(sent[1].len(), 9);
        assert_eq!(ids.iter().filter(|id| *id == "C2").count(), 9);
        assert_eq!(zones.requests(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_batch_is_sent_again_change_by_change_so_only_the_wrong_one_fails() {
        let zones = Arc::new(ZoneChanges::default());
        let slow = Slow::default();
        let mut tasks = Vec::new();
        for name in ["first", "good", "bad", "fine"] {
            let (zones, slow) = (Arc::clone(&zones), slow.clone());
            tasks.push(tokio::spawn(async move {
                (name, zones.submit(&slow, "Z1", change(name, "a")).await)
            }));
        }
        for (name, result) in futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(Result::unwrap)
        {
            match name {
                "bad" => assert_eq!(
                    result.unwrap_err().code.as_deref(),
                    Some("InvalidChangeBatch")
                ),
                _ => assert!(result.is_ok(), "{name}: {result:?}"),
            }
        }
        // first alone; then good+bad+fine refused together; then each alone.
        let sent = slow.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 5, "{sent:?}");
        assert_eq!(sent[1].len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_whose_step_was_cancelled_while_it_waited_is_never_sent() {
        let zones = Arc::new(ZoneChanges::default());
        let slow = Slow::default();
        let first = {
            let (zones, slow) = (Arc::clone(&zones), slow.clone());
            tokio::spawn(async move { zones.submit(&slow, "Z1", change("first", "a")).await })
        };
        tokio::task::yield_now().await;
        // Queued behind the first batch, then its step is cancelled.
        let cancelled = {
            let (zones, slow) = (Arc::clone(&zones), slow.clone());
            tokio::spawn(async move { zones.submit(&slow, "Z1", change("gone", "a")).await })
        };
        tokio::task::yield_now().await;
        cancelled.abort();
        let later = {
            let (zones, slow) = (Arc::clone(&zones), slow.clone());
            tokio::spawn(async move { zones.submit(&slow, "Z1", change("later", "a")).await })
        };
        assert!(first.await.unwrap().is_ok());
        assert!(later.await.unwrap().is_ok());
        let sent: Vec<String> = slow.sent.lock().unwrap().concat();
        assert_eq!(sent, ["first", "later"]);
    }

    #[test]
    fn two_changes_of_one_record_never_share_a_batch_and_keep_their_order() {
        let (tx, _rx) = oneshot::channel();
        let (tx2, _rx2) = oneshot::channel();
        let (tx3, _rx3) = oneshot::channel();
        let mut queue = vec![
            Pending {
                change: change("a", "1"),
                reply: tx,
            },
            Pending {
                change: change("a", "1"),
                reply: tx2,
            },
            Pending {
                change: change("b", "1"),
                reply: tx3,
            },
        ];
        let batch = take_batch(&mut queue);
        let names: Vec<String> = batch.iter().map(|p| record_of(&p.change).0).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(queue.len(), 1);
    }
}
