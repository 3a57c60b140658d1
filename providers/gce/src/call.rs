//! The Compute clients and the one path every request takes: core's [`Caller`] (a budget
//! token from the method's class, the per-request timeout, jittered retries of throttled and
//! transient failures, counts by method and outcome) with GCE's error classification
//! ([`crate::classify`]). The SDK's own retries are off (see [`crate::provider`]), so every
//! attempt is one HTTP request.

use std::future::Future;

use google_cloud_compute_v1::client::{Instances, Networks, Routes};
use routeplane_core::budget::CallCounts;
use routeplane_core::call::Caller;
use routeplane_core::provider::ProviderError;

use crate::classify::classify_gax;
use crate::method::Method;

/// The three Compute clients routeplane uses, with their shared call path.
#[derive(Clone, Debug)]
pub struct Compute {
    pub(crate) routes: Routes,
    pub(crate) instances: Instances,
    pub(crate) networks: Networks,
    caller: Caller,
}

impl Compute {
    pub fn new(routes: Routes, instances: Instances, networks: Networks, caller: Caller) -> Self {
        Self {
            routes,
            instances,
            networks,
            caller,
        }
    }

    pub fn counts(&self) -> &CallCounts {
        self.caller.counts()
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// Runs one logical call of `method` about `resource`.
    ///
    /// # Errors
    /// The classified failure of the last attempt.
    pub async fn call<T, F, Fut>(
        &self,
        method: Method,
        resource: &str,
        mut op: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = google_cloud_compute_v1::Result<T>>,
    {
        self.caller
            .call(method.class().name(), method.name(), resource, || {
                let request = op();
                async move {
                    request
                        .await
                        .map_err(|e| classify_gax(method, resource, &e))
                }
            })
            .await
    }
}
