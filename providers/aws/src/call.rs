//! The one path every EC2 request takes: core's [`Caller`] (budget token per action, per-call
//! timeout, jittered retries of throttled and transient failures, counts by action and outcome)
//! with EC2's error classification ([`crate::classify`]).
//!
//! The SDK's own retries are switched off (see [`crate::config`]), so each attempt here is
//! exactly one HTTP request: the budget and the call counts describe what EC2 really saw.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use routeplane_core::budget::ApiBudget;
use routeplane_core::call::Caller;
use routeplane_core::provider::ProviderError;
use routeplane_core::retry::RetryPolicy;

pub use routeplane_core::budget::CallCounts;

use crate::action::Action;
use crate::classify::classify_sdk;

/// The EC2 client with its budget, retry policy, timeout and counters.
#[derive(Clone, Debug)]
pub struct Ec2 {
    pub(crate) client: aws_sdk_ec2::Client,
    caller: Caller,
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
            caller: Caller::new(budget, retry, timeout),
        }
    }

    pub fn counts(&self) -> &CallCounts {
        self.caller.counts()
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
        self.caller
            .call(action.name(), action.name(), resource, || {
                let request = op();
                async move {
                    request
                        .await
                        .map_err(|e| classify_sdk(action, resource, &e))
                }
            })
            .await
    }
}
