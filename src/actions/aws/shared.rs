//! Concurrent waits of one kind served by one describe call.
//!
//! A class of thirty labs waits for sixty load balancers at once; polled one by one, the waits
//! spend the service's whole request budget (and queue the class's creates behind them). Where
//! an API takes many ids in one call (`DescribeLoadBalancers` twenty ARNs, `DescribeInstances`
//! many instance ids), the waits of one target share a [`SharedPoll`]: when any wait's next poll
//! is due, one poll asks about every id being waited for, and every wait gets its answer. Each
//! wait reports its own resource's state and its own elapsed time, and is never polled later
//! than alone. The waits pool their polling budget: N waits sharing a poll make it N times as
//! often as one would (but at most every [`MIN_GAP`]), so a shared call costs each wait no more
//! than its own poll would, and each sees its resource change within seconds.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::engine::action::ActionError;

/// The shortest time between two shared polls.
pub const MIN_GAP: std::time::Duration = std::time::Duration::from_secs(2);

/// What one poll said of one id: `None` when AWS does not know it (not yet, or no more).
pub type Answer<V> = Result<Option<V>, ActionError>;

/// What a describe call says of each of `ids`, `size` to a call (`ask` gives each id it names with
/// its value; an id it leaves out is unknown: `None`). A call naming one unknown or malformed id
/// fails whole, so a chunk that failed is asked again one id at a time, where an error whose
/// code `gone` takes means "no such id" (`None`): one bad id never fails the others. Also how
/// many calls that took.
pub async fn each_of<V, F, Fut>(
    ids: Vec<String>,
    size: usize,
    gone: fn(&str) -> bool,
    ask: F,
) -> (HashMap<String, Answer<V>>, u64)
where
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<(String, V)>, ActionError>>,
{
    let mut answers = HashMap::new();
    let mut calls = 0;
    let is_gone = |e: &ActionError| e.code.as_deref().is_some_and(gone);
    for chunk in ids.chunks(size) {
        calls += 1;
        match ask(chunk.to_vec()).await {
            Ok(found) => answers.extend(found.into_iter().map(|(id, v)| (id, Ok(Some(v))))),
            Err(_) if chunk.len() > 1 => {
                for id in chunk {
                    calls += 1;
                    let answer = match ask(vec![id.clone()]).await {
                        Ok(found) => Ok(found.into_iter().next().map(|(_, v)| v)),
                        Err(e) if is_gone(&e) => Ok(None),
                        Err(e) => Err(e),
                    };
                    answers.insert(id.clone(), answer);
                }
            }
            Err(e) if is_gone(&e) => {
                answers.insert(chunk[0].clone(), Ok(None));
            }
            Err(e) => answers.extend(chunk.iter().map(|id| (id.clone(), Err(e.clone())))),
        }
    }
    (answers, calls)
}

/// The waits of one kind (load balancers, instances) of one target, and the latest answers.
pub struct SharedPoll<V> {
    state: Mutex<State<V>>,
    answered: Notify,
}

struct State<V> {
    /// The ids being waited for, with how many waits want each.
    waiting: HashMap<String, usize>,
    /// The latest answer about each id being waited for, with the round that brought it.
    latest: HashMap<String, (u64, Answer<V>)>,
    /// Polls made so far.
    round: u64,
    /// Waits sharing the poll.
    watches: usize,
    /// A poll is under way.
    polling: bool,
    /// Calls made (one poll of many ids may take several), for tests and the curious.
    calls: u64,
}

impl<V> Default for SharedPoll<V> {
    fn default() -> Self {
        SharedPoll {
            state: Mutex::new(State {
                waiting: HashMap::new(),
                latest: HashMap::new(),
                round: 0,
                watches: 0,
                polling: false,
                calls: 0,
            }),
            answered: Notify::new(),
        }
    }
}

impl<V> std::fmt::Debug for SharedPoll<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedPoll").finish_non_exhaustive()
    }
}

impl<V: Clone> SharedPoll<V> {
    /// Start waiting for `ids` (until the watch is dropped).
    pub fn watch(&self, ids: &[String]) -> Watch<'_, V> {
        let mut s = self.lock();
        for id in ids {
            *s.waiting.entry(id.clone()).or_insert(0) += 1;
        }
        s.watches += 1;
        Watch {
            shared: self,
            ids: ids.to_vec(),
            seen: AtomicU64::new(s.round),
            answered: Mutex::new(Instant::now()),
        }
    }

    /// Calls made by the polls so far (one poll of more ids than a call takes makes several).
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<V>> {
        self.state.lock().expect("never poisoned")
    }
}

/// One wait's interest in some ids.
pub struct Watch<'s, V> {
    shared: &'s SharedPoll<V>,
    ids: Vec<String>,
    /// The round of the last answer this wait took.
    seen: AtomicU64,
    /// When it took it.
    answered: Mutex<Instant>,
}

impl<V: Clone> Watch<'_, V> {
    /// The next answers about this wait's ids, in their order: brought by any wait's poll since
    /// this wait's last answer, or, at `due`, by a poll this wait makes of every id being waited
    /// for. `fetch` makes that poll: given the ids, it answers for each (an id it leaves out is
    /// `None`), in as many calls as it needs (it knows how many ids a call takes), and says how
    /// many calls it made.
    pub async fn next<F, Fut>(&self, due: Instant, fetch: F) -> Vec<Answer<V>>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = (HashMap<String, Answer<V>>, u64)>,
    {
        let mut fetch = Some(fetch);
        // Its share of the pooled budget: with N waits, a poll N times as often.
        let due = {
            let last = *self.answered.lock().expect("never poisoned");
            let watches = u32::try_from(self.shared.lock().watches.max(1)).unwrap_or(u32::MAX);
            let interval = due.saturating_duration_since(last);
            due.min(last + (interval / watches).max(MIN_GAP))
        };
        loop {
            let answered = self.shared.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            let lead = {
                let mut s = self.shared.lock();
                let seen = self.seen.load(Ordering::Relaxed);
                let fresh: Option<Vec<&(u64, Answer<V>)>> = self
                    .ids
                    .iter()
                    .map(|id| s.latest.get(id).filter(|(round, _)| *round > seen))
                    .collect();
                if let Some(fresh) = fresh {
                    let round = fresh.iter().map(|(r, _)| *r).min().unwrap_or(s.round);
                    self.seen.store(round, Ordering::Relaxed);
                    *self.answered.lock().expect("never poisoned") = Instant::now();
                    return fresh.into_iter().map(|(_, a)| a.clone()).collect();
                }
                if !s.polling && Instant::now() >= due {
                    s.polling = true;
                    let mut ids: Vec<String> = s.waiting.keys().cloned().collect();
                    ids.sort();
                    Some(ids)
                } else {
                    None
                }
            };
            match lead {
                Some(ids) => {
                    let mut polling = Polling {
                        shared: self.shared,
                        done: false,
                    };
                    let fetch = fetch
                        .take()
                        .expect("a wait leads at most one poll per answer");
                    let (mut answers, calls) = fetch(ids.clone()).await;
                    let mut s = self.shared.lock();
                    s.round += 1;
                    s.calls += calls;
                    let round = s.round;
                    for id in ids {
                        if s.waiting.contains_key(&id) {
                            let answer = answers.remove(&id).unwrap_or(Ok(None));
                            s.latest.insert(id, (round, answer));
                        }
                    }
                    s.polling = false;
                    polling.done = true;
                    drop(s);
                    self.shared.answered.notify_waiters();
                }
                // Another wait's poll is under way (it answers this one too), or this wait's
                // own time has not come.
                None if Instant::now() >= due => answered.await,
                None => {
                    tokio::select! {
                        () = &mut answered => {}
                        () = tokio::time::sleep_until(due) => {}
                    }
                }
            }
        }
    }
}

impl<V> Drop for Watch<'_, V> {
    fn drop(&mut self) {
        let mut s = self.shared.state.lock().expect("never poisoned");
        s.watches -= 1;
        for id in &self.ids {
            if let Some(n) = s.waiting.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    s.waiting.remove(id);
                    s.latest.remove(id);
                }
            }
        }
    }
}

/// Answers that do not change while the process runs (a region's availability zones, the newest
/// image of a name), asked once per target and shared by every run to it: a class's thirty labs
/// ask once rather than thirty times. A failed ask is not kept: the next asks again.
pub type Memo<T> = Keyed<tokio::sync::OnceCell<T>>;

/// A cell per key (an id, a target's question), made on its first use and shared by every
/// user of that key: what [`Memo`] and [`Recent`] keep their answers in.
pub struct Keyed<C> {
    cells: Mutex<HashMap<String, std::sync::Arc<C>>>,
}

impl<C> Default for Keyed<C> {
    fn default() -> Self {
        Keyed {
            cells: Mutex::default(),
        }
    }
}

impl<C> std::fmt::Debug for Keyed<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyed").finish_non_exhaustive()
    }
}

impl<C: Default> Keyed<C> {
    /// The cell of `key`, made empty on its first use.
    fn cell(&self, key: &str) -> std::sync::Arc<C> {
        std::sync::Arc::clone(
            self.cells
                .lock()
                .expect("never poisoned")
                .entry(key.to_owned())
                .or_default(),
        )
    }

    /// Forget the cell of `key`: its next user starts afresh.
    pub fn forget(&self, key: &str) {
        self.cells.lock().expect("never poisoned").remove(key);
    }
}

impl<T: Clone> Memo<T> {
    /// The answer for `key`: the one kept, or `ask`'s (concurrent askers of one key wait for
    /// the first).
    pub async fn get<F, Fut>(&self, key: &str, ask: F) -> Result<T, ActionError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ActionError>>,
    {
        self.cell(key).get_or_try_init(ask).await.cloned()
    }
}

/// One-off look-ups of one kind (the tags of a resource just created, the load balancer behind
/// an alias) that many steps make at about the same time, served by as few calls as the API
/// allows: group commit. A look-up that finds no call under way goes at once, alone, so a single
/// run waits for nothing; those that arrive while a call is under way go together in the next
/// (`DescribeTags` and `DescribeLoadBalancers` take twenty ids a call: a class's sixty look-ups
/// cost a few calls, not sixty of the service's ten reads a second). The call is made from a
/// task of its own: a run cancelled meanwhile never leaves the others' look-ups unanswered, and
/// a look-up whose step is gone before its call is made is left out of it.
pub struct Lookups<V> {
    queue: Mutex<Vec<(String, tokio::sync::oneshot::Sender<Answer<V>>)>>,
    turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Calls made, for tests and the curious.
    calls: AtomicU64,
}

impl<V> Default for Lookups<V> {
    fn default() -> Self {
        Lookups {
            queue: Mutex::default(),
            turn: std::sync::Arc::default(),
            calls: AtomicU64::new(0),
        }
    }
}

impl<V> std::fmt::Debug for Lookups<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookups").finish_non_exhaustive()
    }
}

impl<V: Clone + Send + 'static> Lookups<V> {
    /// What AWS says of `id`, asked together with every other id looked up meanwhile. `fetch`
    /// makes the call: given the ids (each once), it answers for each (an id it leaves out is
    /// `None`), in as many calls as it needs, and says how many it made.
    pub async fn get<F, Fut>(&self, id: &str, fetch: F) -> Answer<V>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = (HashMap<String, Answer<V>>, u64)> + Send + 'static,
    {
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        self.queue
            .lock()
            .expect("never poisoned")
            .push((id.to_owned(), reply));
        let mut fetch = Some(fetch);
        loop {
            let turn = std::sync::Arc::clone(&self.turn).lock_owned().await;
            // A call made before this turn may have carried this look-up: it answered before it
            // gave up the turn.
            match answer.try_recv() {
                Ok(found) => return found,
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                    return Err(ActionError::new(
                        "the call carrying this look-up was abandoned",
                    ));
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
            }
            let batch: Vec<_> = self
                .queue
                .lock()
                .expect("never poisoned")
                .drain(..)
                .filter(|(_, reply)| !reply.is_closed())
                .collect();
            if batch.is_empty() {
                continue;
            }
            let mut ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
            ids.sort();
            ids.dedup();
            let Some(fetch) = fetch.take() else {
                // Never: this look-up is in the batch taken at its first turn, and answered
                // before that turn ends.
                return Err(ActionError::new("a look-up was not answered"));
            };
            let call = fetch(ids);
            let made = tokio::spawn(async move {
                let (answers, calls) = call.await;
                for (id, reply) in batch {
                    let _ = reply.send(answers.get(&id).cloned().unwrap_or(Ok(None)));
                }
                drop(turn);
                calls
            });
            if let Ok(calls) = made.await {
                self.calls.fetch_add(calls, Ordering::Relaxed);
            }
        }
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// The latest answer about each id, shared by every asker for a moment: an answer at most
/// [`FRESH`] old serves another asker of that id (the waits for one Route 53 change of a batch;
/// two steps of a lab reading one target group's health a moment apart), and one that `lasts`
/// says never changes (`INSYNC`) is kept. Askers of one id meanwhile wait for the one asking.
pub type Recent<V> = Keyed<tokio::sync::Mutex<Option<(Instant, V)>>>;

/// How old an answer may be and still serve another asker.
pub const FRESH: std::time::Duration = std::time::Duration::from_secs(1);

impl<V: Clone> Recent<V> {
    /// What is known of `id`: an answer that lasts, one at most [`FRESH`] old, or what `ask`
    /// says now. A failed ask is not kept.
    pub async fn of<F, Fut>(
        &self,
        id: &str,
        lasts: impl Fn(&V) -> bool,
        ask: F,
    ) -> Result<V, ActionError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, ActionError>>,
    {
        let asked = Instant::now();
        let slot = self.cell(id);
        let mut latest = slot.lock().await;
        if let Some((at, answer)) = latest.as_ref() {
            if lasts(answer) || *at + FRESH >= asked {
                return Ok(answer.clone());
            }
        }
        let at = Instant::now();
        let answer = ask().await?;
        *latest = Some((at, answer.clone()));
        Ok(answer)
    }
}

/// A poll under way: if the wait making it is dropped (its run cancelled), the others go on.
struct Polling<'s, V> {
    shared: &'s SharedPoll<V>,
    done: bool,
}

impl<V> Drop for Polling<'_, V> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.state.lock().expect("never poisoned").polling = false;
            self.shared.answered.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Answer, Lookups, SharedPoll};
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;
    use tokio::time::Instant;

    /// A fake describe: each id's state is how many polls have asked about it.
    async fn fetch(
        asked: Arc<AtomicU64>,
        ids: Vec<String>,
    ) -> (HashMap<String, Answer<String>>, u64) {
        asked.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let answers = ids
            .into_iter()
            .filter(|id| id != "unknown")
            .map(|id| {
                let state = format!("{id} seen");
                (id, Ok(Some(state)))
            })
            .collect();
        (answers, 1)
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waits_share_one_poll_and_each_gets_its_own_answer() {
        let shared = Arc::new(SharedPoll::<String>::default());
        let asked = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        let all_waiting = Arc::new(tokio::sync::Barrier::new(11));
        // Ten waits, due at once, and one due much later: all served by the first poll.
        for i in 0..11 {
            let (shared, asked, all_waiting) = (shared.clone(), asked.clone(), all_waiting.clone());
            tasks.push(tokio::spawn(async move {
                let id = format!("lb-{i}");
                let watch = shared.watch(std::slice::from_ref(&id));
                all_waiting.wait().await;
                let due = if i == 10 {
                    start + Duration::from_secs(15)
                } else {
                    start
                };
                let answer = watch.next(due, |ids| fetch(asked.clone(), ids)).await;
                (id, answer, start.elapsed())
            }));
        }
        for t in tasks {
            let (id, answer, took) = t.await.unwrap();
            assert_eq!(answer, vec![Ok(Some(format!("{id} seen")))]);
            assert!(
                took < Duration::from_secs(1),
                "{id} was answered by the first poll, not at its own time"
            );
        }
        assert_eq!(
            asked.load(Ordering::Relaxed),
            1,
            "one call for eleven waits"
        );
        assert_eq!(shared.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_is_never_polled_later_than_its_own_time_and_an_unknown_id_is_none() {
        let shared = SharedPoll::<String>::default();
        let asked = Arc::new(AtomicU64::new(0));
        let ids = vec!["i-1".to_owned(), "unknown".to_owned()];
        let watch = shared.watch(&ids);
        let start = Instant::now();
        let first = watch.next(start, |ids| fetch(asked.clone(), ids)).await;
        assert_eq!(first, vec![Ok(Some("i-1 seen".to_owned())), Ok(None)]);
        // Nobody else polls: the next answer comes at this wait's own due time.
        let due = Instant::now() + Duration::from_secs(5);
        let second = watch.next(due, |ids| fetch(asked.clone(), ids)).await;
        assert_eq!(second.len(), 2);
        let late = Instant::now().duration_since(due);
        assert!(
            late < Duration::from_secs(1),
            "polled at its time ({late:?} late)"
        );
        assert_eq!(asked.load(Ordering::Relaxed), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_pool_their_budget_so_a_shared_poll_comes_sooner() {
        let shared = SharedPoll::<String>::default();
        let asked = Arc::new(AtomicU64::new(0));
        let ids: Vec<String> = (0..5).map(|i| format!("lb-{i}")).collect();
        let watches: Vec<_> = ids
            .iter()
            .map(|id| shared.watch(std::slice::from_ref(id)))
            .collect();
        let start = Instant::now();
        watches[0]
            .next(start, |ids| fetch(asked.clone(), ids))
            .await;
        for w in &watches[1..] {
            assert_eq!(
                w.next(start, |ids| fetch(asked.clone(), ids)).await.len(),
                1
            );
        }
        assert_eq!(
            asked.load(Ordering::Relaxed),
            1,
            "the first poll answered all five"
        );
        // Each wait's own next poll is 15 s away; five of them share: one poll every 3 s.
        let answered = Instant::now();
        let due = answered + Duration::from_secs(15);
        watches[0].next(due, |ids| fetch(asked.clone(), ids)).await;
        let after = Instant::now().duration_since(answered);
        assert!(
            after >= Duration::from_secs(3) && after < Duration::from_secs(4),
            "polled after {after:?}: a fifth of its own interval"
        );
        // Alone, a wait keeps its own interval, and never polls more often than every 2 s.
        drop(watches);
        let alone = shared.watch(&["lb-9".to_owned()]);
        alone
            .next(Instant::now(), |ids| fetch(asked.clone(), ids))
            .await;
        let answered = Instant::now();
        alone
            .next(answered + Duration::from_secs(15), |ids| {
                fetch(asked.clone(), ids)
            })
            .await;
        let after = Instant::now().duration_since(answered);
        assert!(
            after >= Duration::from_secs(15),
            "alone: its own 15 s ({after:?})"
        );
    }

    #[tokio::test]
    async fn a_memo_asks_once_per_key_and_keeps_no_failure() {
        use crate::engine::action::ActionError;
        let memo = super::Memo::<u64>::default();
        let asked = AtomicU64::new(0);
        let ask = || async { Ok::<_, ActionError>(asked.fetch_add(1, Ordering::Relaxed) + 10) };
        let (a, b) = tokio::join!(memo.get("zones", ask), memo.get("zones", ask));
        assert_eq!((a.unwrap(), b.unwrap()), (10, 10));
        assert_eq!(asked.load(Ordering::Relaxed), 1, "two askers, one call");
        assert_eq!(
            memo.get("image", ask).await.unwrap(),
            11,
            "another key asks"
        );
        let failed = memo
            .get("flaky", || async { Err(ActionError::new("throttled")) })
            .await;
        assert!(failed.is_err());
        assert_eq!(
            memo.get("flaky", ask).await.unwrap(),
            12,
            "a failure is not kept"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_poll_hands_the_turn_to_the_next_wait() {
        let shared = Arc::new(SharedPoll::<String>::default());
        let asked = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let (s1, s2) = (shared.clone(), shared.clone());
        let a1 = asked.clone();
        // The first wait starts a poll that never answers and is cancelled with its run.
        let cancelled = tokio::spawn(async move {
            let watch = s1.watch(&["a".to_owned()]);
            let never = |_ids| std::future::pending::<(HashMap<String, Answer<String>>, u64)>();
            tokio::time::timeout(Duration::from_secs(1), watch.next(start, never)).await
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let other = tokio::spawn(async move {
            let watch = s2.watch(&["b".to_owned()]);
            watch.next(start, |ids| fetch(a1, ids)).await
        });
        assert!(cancelled.await.unwrap().is_err(), "the first wait gave up");
        let answer = tokio::time::timeout(Duration::from_secs(5), other)
            .await
            .expect("the second wait is not stuck behind the cancelled poll")
            .unwrap();
        assert_eq!(answer, vec![Ok(Some("b seen".to_owned()))]);
        assert_eq!(asked.load(Ordering::Relaxed), 1);
    }

    type Fetched =
        std::pin::Pin<Box<dyn Future<Output = (HashMap<String, Answer<String>>, u64)> + Send>>;

    /// A fake batched describe: each call is recorded with the ids it named; "unknown" is left
    /// out of the answer.
    fn record(
        calls: &Arc<std::sync::Mutex<Vec<Vec<String>>>>,
    ) -> impl FnOnce(Vec<String>) -> Fetched + use<> {
        let calls = Arc::clone(calls);
        move |ids: Vec<String>| {
            Box::pin(async move {
                calls.lock().unwrap().push(ids.clone());
                tokio::time::sleep(Duration::from_millis(100)).await;
                let answers = ids
                    .into_iter()
                    .filter(|id| id != "unknown")
                    .map(|id| (id.clone(), Ok(Some(format!("{id} tags")))))
                    .collect();
                (answers, 1)
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn lookups_arriving_while_a_call_is_made_go_together_in_the_next() {
        let lookups = Arc::new(Lookups::<String>::default());
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for id in ["first", "b", "c", "b", "unknown", "d"] {
            let (lookups, calls) = (Arc::clone(&lookups), Arc::clone(&calls));
            tasks.push(tokio::spawn(async move {
                lookups.get(id, record(&calls)).await
            }));
            // The first finds no call under way; the others come while its call is made.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap().unwrap());
        }
        assert_eq!(
            answers,
            [
                Some("first tags".to_owned()),
                Some("b tags".to_owned()),
                Some("c tags".to_owned()),
                Some("b tags".to_owned()),
                None,
                Some("d tags".to_owned()),
            ]
        );
        let calls = calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            [
                vec!["first".to_owned()],
                ["b", "c", "d", "unknown"].map(str::to_owned).to_vec()
            ],
            "one alone at once, then one call for the five that came meanwhile (each id once)"
        );
        assert_eq!(lookups.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_lookup_is_left_out_and_a_cancelled_caller_leaves_no_one_unanswered() {
        let lookups = Arc::new(Lookups::<String>::default());
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let start = |id: &'static str| {
            let (lookups, calls) = (Arc::clone(&lookups), Arc::clone(&calls));
            tokio::spawn(async move { lookups.get(id, record(&calls)).await })
        };
        // The first goes alone (its call takes 100 ms); three queue behind it.
        let first = start("first");
        tokio::time::sleep(Duration::from_millis(10)).await;
        let gone = start("gone");
        tokio::time::sleep(Duration::from_millis(10)).await;
        let leader = start("leader");
        tokio::time::sleep(Duration::from_millis(10)).await;
        let later = start("later");
        // One is cancelled before its call is made.
        tokio::time::sleep(Duration::from_millis(10)).await;
        gone.abort();
        assert_eq!(first.await.unwrap().unwrap(), Some("first tags".to_owned()));
        // The next call (made by `leader`, for `later` too) is under way: its caller is cancelled.
        tokio::time::sleep(Duration::from_millis(50)).await;
        leader.abort();
        assert_eq!(
            later.await.unwrap().unwrap(),
            Some("later tags".to_owned()),
            "a look-up carried by a cancelled caller's call is still answered"
        );
        let calls = calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            [
                vec!["first".to_owned()],
                vec!["later".to_owned(), "leader".to_owned()]
            ],
            "the cancelled look-up that was still waiting was never asked"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_one_change_share_a_poll_and_insync_is_kept() {
        let status = super::Recent::<String>::default();
        let insync = |s: &String| s == "INSYNC";
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let ask = || async {
            asked.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok("PENDING".to_owned())
        };
        let (a, b) = tokio::join!(status.of("C1", insync, ask), status.of("C1", insync, ask));
        assert_eq!(
            (a.unwrap(), b.unwrap()),
            ("PENDING".into(), "PENDING".into())
        );
        assert_eq!(
            asked.load(Ordering::SeqCst),
            1,
            "one GetChange for both waits"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        let insync_now = || async {
            asked.fetch_add(1, Ordering::SeqCst);
            Ok("INSYNC".to_owned())
        };
        assert_eq!(status.of("C1", insync, insync_now).await.unwrap(), "INSYNC");
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(status.of("C1", insync, ask).await.unwrap(), "INSYNC");
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }
}
