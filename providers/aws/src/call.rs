//! The one path every EC2 request takes: take a token from the action's budget, send under the
//! per-call timeout, classify a failure, retry throttled and transient failures with jittered
//! backoff (core's `retry`), and count the attempt by action and outcome.
//!
//! The SDK's own retries are switched off (see [`crate::config`]), so each attempt here is
//! exactly one HTTP request: the budget and the call counts describe what EC2 really saw.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use routeplane_core::budget::ApiBudget;
use routeplane_core::provider::{ErrorKind, ProviderError};
use routeplane_core::retry::{RetryPolicy, retry};

use crate::action::Action;
use crate::classify::{call_timeout, classify_sdk};

/// Calls made, by (action, outcome); outcome is `ok` or an [`ErrorKind`] label. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct CallCounts(Arc<Mutex<BTreeMap<(String, String), u64>>>);

impl CallCounts {
    fn record(&self, action: Action, outcome: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((action.name().to_string(), outcome.to_string()))
            .or_default() += 1;
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> BTreeMap<(String, String), u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The EC2 client with its budget, retry policy, timeout and counters.
#[derive(Clone, Debug)]
pub struct Ec2 {
    pub(crate) client: aws_sdk_ec2::Client,
    budget: ApiBudget,
    retry: RetryPolicy,
    timeout: Duration,
    counts: CallCounts,
}

impl Ec2 {
    pub fn new(
        client: aws_sdk_ec2::Client,
        budget: ApiBudget,
        retry: RetryPolicy,
        timeout: Duration,
    ) -> Self {
        Self {
            client,
            budget,
            retry,
            timeout,
            counts: CallCounts::default(),
        }
    }

    pub fn counts(&self) -> &CallCounts {
        &self.counts
    }

    /// Runs one logical call. `op` builds the request future; it is created before the budget
    /// wait but SDK futures send nothing until polled, so no request leaves without a token.
    ///
    /// # Errors
    /// The classified failure of the last attempt.
    pub async fn call<T, E, F, Fut>(
        &self,
        action: Action,
        resource: &str,
        mut op: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + StdError + 'static,
    {
        let on_retry = |e: &ProviderError| {
            if e.kind == ErrorKind::Throttled {
                // Our model of EC2's bucket was too generous: start waiting for refills now.
                self.budget.throttled(action.name());
            }
            tracing::debug!(%action, resource, error = %e, "retrying EC2 call");
        };
        retry(self.retry, on_retry, || {
            let request = op();
            async move {
                self.budget.acquire(action.name()).await;
                let result = match tokio::time::timeout(self.timeout, request).await {
                    Err(_) => Err(call_timeout(action, resource, self.timeout)),
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e)) => Err(classify_sdk(action, resource, &e)),
                };
                let outcome = match &result {
                    Ok(_) => "ok",
                    Err(e) => e.kind.as_str(),
                };
                self.counts.record(action, outcome);
                result
            }
        })
        .await
    }
}
