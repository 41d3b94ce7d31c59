//! Trying again: one backoff (doubling, capped, with jitter so that many runs sharing an account
//! do not retry in step), a wait that a cancellation ends, and a loop that retries a call for as
//! long as a window allows. The scheduler, rollback, sweep and the AWS actions' waits use these.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::action::ActionError;

/// Waits that double from `first` up to `max`.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
    jitter: bool,
}

impl Backoff {
    /// Doubling from `first` to at most `max`, each wait between half and one and a half times
    /// its nominal value.
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            next: first,
            max,
            jitter: true,
        }
    }

    /// The same without jitter: waits exactly as shown to a person ("trying again in 4s").
    #[must_use]
    pub fn exact(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The nominal wait before the next try, without taking it.
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// The wait before the next try; the one after it doubles.
    pub fn next_wait(&mut self) -> Duration {
        let nominal = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        if self.jitter {
            Duration::try_from_secs_f64(nominal.as_secs_f64() * (0.5 + fastrand::f64()))
                .unwrap_or(nominal)
        } else {
            nominal
        }
    }
}

/// Wait, unless `cancel` fires first: false when cancelled.
pub async fn pause(wait: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        () = cancel.cancelled() => false,
    }
}

/// One retry about to happen: what failed, the wait before the next try, and the time so far.
pub struct Retrying<'e> {
    pub error: &'e ActionError,
    pub wait: Duration,
    pub elapsed: Duration,
}

/// Call until it succeeds, fails with an error that is not retryable, the next wait would end
/// past the window for the error at hand (`window`: a long one for what settles by itself, a
/// short one for an endpoint that does not answer), or `cancel` fires (the last error is returned). `on_retry` hears of each retry
/// before its wait. An error still failing when the window closes says for how long it failed.
pub async fn within<T, F, Fut>(
    window: impl Fn(&ActionError) -> Duration,
    mut backoff: Backoff,
    cancel: &CancellationToken,
    mut on_retry: impl FnMut(Retrying<'_>),
    mut call: F,
) -> Result<T, ActionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ActionError>>,
{
    let started = Instant::now();
    loop {
        match call().await {
            Err(e) if e.retryable => {
                if cancel.is_cancelled() || started.elapsed() + backoff.peek() >= window(&e) {
                    return Err(still_failing(e, started.elapsed()));
                }
                let wait = backoff.next_wait();
                on_retry(Retrying {
                    error: &e,
                    wait,
                    elapsed: started.elapsed(),
                });
                if !pause(wait, cancel).await {
                    return Err(e);
                }
            }
            other => return other,
        }
    }
}

fn still_failing(mut e: ActionError, elapsed: Duration) -> ActionError {
    e.message = format!(
        "{} (still failing after {})",
        e.message,
        humantime::format_duration(Duration::from_secs(elapsed.as_secs()))
    );
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_within_their_jitter() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(4));
        let nominal = [1, 2, 4, 4];
        for n in nominal {
            let w = b.next_wait();
            let n = Duration::from_secs(n);
            assert!(w >= n / 2 && w <= n.mul_f64(1.5), "{w:?} for {n:?}");
        }
        let mut exact = Backoff::new(Duration::from_secs(1), Duration::from_secs(3)).exact();
        let waits: Vec<u64> = (0..4).map(|_| exact.next_wait().as_secs()).collect();
        assert_eq!(waits, [1, 2, 3, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success_and_reports_each_retry() {
        let cancel = CancellationToken::new();
        let mut calls = 0;
        let mut retries = 0;
        let result = within(
            |_: &ActionError| Duration::from_secs(60),
            Backoff::new(Duration::from_secs(1), Duration::from_secs(8)),
            &cancel,
            |_| retries += 1,
            || {
                calls += 1;
                let n = calls;
                async move {
                    if n < 3 {
                        Err(ActionError::retryable("busy"))
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(retries, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lasting_failure_ends_with_the_window_and_says_so() {
        let cancel = CancellationToken::new();
        let result: Result<(), _> = within(
            |_: &ActionError| Duration::from_secs(10),
            Backoff::new(Duration::from_secs(1), Duration::from_secs(2)).exact(),
            &cancel,
            |_| {},
            || async { Err(ActionError::retryable("DependencyViolation")) },
        )
        .await;
        let e = result.unwrap_err();
        assert!(
            e.message
                .starts_with("DependencyViolation (still failing after"),
            "{}",
            e.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancellation_ends_the_wait_and_a_final_error_is_not_retried() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let mut calls = 0;
        let result: Result<(), _> = within(
            |_: &ActionError| Duration::from_secs(600),
            Backoff::new(Duration::from_secs(1), Duration::from_secs(2)),
            &cancel,
            |_| {},
            || {
                calls += 1;
                async { Err(ActionError::retryable("busy")) }
            },
        )
        .await;
        assert_eq!(calls, 1);
        assert!(
            result
                .unwrap_err()
                .message
                .starts_with("busy (still failing")
        );
        let result: Result<(), _> = within(
            |_: &ActionError| Duration::from_secs(600),
            Backoff::new(Duration::from_secs(1), Duration::from_secs(2)),
            &CancellationToken::new(),
            |_| panic!("a final error is not retried"),
            || async { Err(ActionError::new("AccessDenied")) },
        )
        .await;
        assert_eq!(result.unwrap_err().message, "AccessDenied");
    }
}
