//! The one path every cloud request of a provider takes: take a token from the request's budget
//! class, send under the per-request timeout, count the attempt by method and outcome, and retry
//! throttled and transient failures with jittered backoff ([`crate::retry`]). A throttling
//! answer drains the class's bucket, so the following requests wait for refills.
//!
//! Providers switch their SDK's own retries off and classify each attempt's failure themselves;
//! so every attempt here is exactly one HTTP request, and the budget and the counts describe
//! what the cloud really saw.

use std::future::Future;
use std::time::Duration;

use crate::budget::{ApiBudget, CallCounts};
use crate::provider::{ErrorKind, ProviderError};
use crate::retry::{RetryPolicy, retry};

/// Budget, retry policy, timeout and counters of one provider's requests. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Caller {
    budget: ApiBudget,
    retry: RetryPolicy,
    timeout: Duration,
    counts: CallCounts,
}

impl Caller {
    pub fn new(budget: ApiBudget, retry: RetryPolicy, timeout: Duration) -> Self {
        Self {
            budget,
            retry,
            timeout,
            counts: CallCounts::default(),
        }
    }

    pub fn counts(&self) -> &CallCounts {
        &self.counts
    }

    pub fn budget(&self) -> &ApiBudget {
        &self.budget
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Runs one logical call. `op` builds one attempt (SDK futures send nothing until polled,
    /// so no request leaves before its token) and returns its classified result. `class` is the
    /// budget bucket, `label` the method counted, `resource` what the call is about (for
    /// messages).
    ///
    /// # Errors
    /// The classified failure of the last attempt.
    pub async fn call<T, F, Fut>(
        &self,
        class: &str,
        label: &str,
        resource: &str,
        mut op: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let on_retry = |e: &ProviderError| {
            if e.kind == ErrorKind::Throttled {
                // Our model of the cloud's bucket was too generous: wait for refills now.
                self.budget.throttled(class);
            }
            tracing::debug!(label, resource, error = %e, "retrying cloud call");
        };
        retry(self.retry, on_retry, || {
            // Boxed: an SDK request future is tens of KiB in debug builds; inline, a few of them
            // nested in the controller's pass overflow a 2 MiB thread stack.
            let request = Box::pin(op());
            async move {
                self.budget.acquire(class).await;
                let result = match tokio::time::timeout(self.timeout, request).await {
                    Ok(r) => r,
                    Err(_) => Err(timed_out(label, resource, self.timeout)),
                };
                let outcome = match &result {
                    Ok(_) => "ok",
                    Err(e) => e.kind.as_str(),
                };
                self.counts.record(label, outcome);
                result
            }
        })
        .await
    }
}

/// The error of a request that outlived its deadline.
pub fn timed_out(label: &str, resource: &str, after: Duration) -> ProviderError {
    let on = if resource.is_empty() {
        String::new()
    } else {
        format!(" on {resource}")
    };
    ProviderError::new(
        ErrorKind::Transient,
        format!("{label}{on} timed out after {after:?}"),
    )
    .with_code("Timeout")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::BucketSpec;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn counts_every_attempt_and_drains_the_bucket_on_throttling() {
        let budget = ApiBudget::new([("w", BucketSpec::new(10.0, 1.0))]);
        let caller = Caller::new(budget, RetryPolicy::default(), Duration::from_secs(1));
        let n = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let out = caller
            .call("w", "things.insert", "x", || async {
                if n.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(ProviderError::new(ErrorKind::Throttled, "slow down"))
                } else {
                    Ok(5)
                }
            })
            .await;
        assert_eq!(out, Ok(5));
        // The second attempt waited for a refilled token (1 per second).
        assert!(start.elapsed() >= Duration::from_millis(900));
        let counts = caller.counts().snapshot();
        assert_eq!(counts[&("things.insert".into(), "throttled".into())], 1);
        assert_eq!(counts[&("things.insert".into(), "ok".into())], 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_past_its_deadline_is_a_transient_timeout() {
        let caller = Caller::new(
            ApiBudget::unlimited(),
            RetryPolicy::none(),
            Duration::from_millis(100),
        );
        let out: Result<(), _> = caller
            .call("r", "things.get", "x", || async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            })
            .await;
        let e = out.unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_deref()),
            (ErrorKind::Transient, Some("Timeout"))
        );
        assert!(
            e.message.contains("things.get on x timed out"),
            "{}",
            e.message
        );
    }
}
