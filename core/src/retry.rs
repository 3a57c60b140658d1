//! Retrying one provider call: jittered exponential backoff for errors the cloud says are
//! temporary (throttled, 5xx, timeouts), a hard cap on attempts, and nothing for errors that
//! will not change by waiting (quota, auth, invalid). Per-node backoff *across* passes lives in
//! the controller (`controller::backoff`); this is the short, in-call loop.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::provider::{ErrorKind, ProviderError};

/// How a single call is retried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, including the first.
    pub max_attempts: u32,
    pub base: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries: for tests that want to see the first error.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// "Full jitter" backoff: a random delay in [0, min(max, base·2^attempt)], so many callers
    /// that failed together do not retry together.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.min(16));
        let cap = exp.min(self.max_delay);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

/// Runs `op` until it succeeds, fails with a non-retryable error, or runs out of attempts.
/// `on_retry` sees each retried error (for metrics and budget feedback).
///
/// # Errors
/// The last error.
pub async fn retry<T, F, Fut>(
    policy: RetryPolicy,
    mut on_retry: impl FnMut(&ProviderError),
    mut op: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt + 1 < policy.max_attempts && retry_in_call(e.kind) => {
                on_retry(&e);
                let wait = e.retry_after.unwrap_or_default().max(policy.delay(attempt));
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A conflict is resolved by the next pass's fresh list, not by repeating the same call.
fn retry_in_call(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Throttled | ErrorKind::Transient)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_then_succeeds() {
        let calls = AtomicU32::new(0);
        let mut retried = 0;
        let out = retry(
            RetryPolicy::default(),
            |_| retried += 1,
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(ProviderError::new(ErrorKind::Throttled, "slow down"))
                } else {
                    Ok(7)
                }
            },
        )
        .await;
        assert_eq!(out, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(retried, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_quota_auth_or_invalid() {
        for kind in [
            ErrorKind::Quota,
            ErrorKind::Auth,
            ErrorKind::Invalid,
            ErrorKind::Conflict,
        ] {
            let calls = AtomicU32::new(0);
            let out: Result<(), _> = retry(
                RetryPolicy::default(),
                |_| {},
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(ProviderError::new(kind, "no"))
                },
            )
            .await;
            assert_eq!(out.map_err(|e| e.kind), Err(kind));
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{kind}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let out: Result<(), _> = retry(
            policy,
            |_| {},
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(ProviderError::new(ErrorKind::Transient, "503"))
            },
        )
        .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn jittered_delay_stays_under_the_cap() {
        let policy = RetryPolicy::default();
        for attempt in 0..40 {
            assert!(policy.delay(attempt) <= policy.max_delay);
        }
    }
}
