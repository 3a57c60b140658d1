//! What routeplane needs to know about a node's instance, from `instances.get`, cached per
//! instance: whether it may forward packets (`canIpForward`, which GCE only lets you set when
//! the instance is created or stopped) and which networks its NICs are in. A route to an
//! instance that cannot forward is a silent blackhole, so the provider checks before the first
//! route and reports the node instead.
//!
//! A positive answer is kept for the life of the process; a negative one is asked again after
//! [`RECHECK_AFTER`], so an instance that was fixed is picked up. Concurrent callers asking
//! about the same instance wait for one request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use routeplane_core::provider::ProviderError;
use tokio::time::Instant;

use crate::call::Compute;
use crate::method::Method;
use crate::urls::key_of;

/// How long "this instance cannot forward" is believed.
pub const RECHECK_AFTER: Duration = Duration::from_secs(60);

/// The facts about one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceFacts {
    pub can_ip_forward: bool,
    /// Network keys (`projects/p/global/networks/n`) of its NICs.
    pub networks: Vec<String>,
}

type Cell = Arc<tokio::sync::Mutex<Option<(InstanceFacts, Instant)>>>;

/// Instance facts by instance key.
#[derive(Debug, Default)]
pub struct InstanceCache {
    entries: Mutex<HashMap<String, Cell>>,
}

impl InstanceCache {
    /// The facts of `project/zone/name`, from the cache when still believable.
    ///
    /// # Errors
    /// The classified failure of `instances.get` (`NotFound` for a missing instance).
    pub async fn facts(
        &self,
        compute: &Compute,
        project: &str,
        zone: &str,
        name: &str,
    ) -> Result<InstanceFacts, ProviderError> {
        let key = format!("projects/{project}/zones/{zone}/instances/{name}");
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(entries.entry(key.clone()).or_default())
        };
        let mut entry = cell.lock().await;
        if let Some((facts, at)) = entry.as_ref()
            && (facts.can_ip_forward || at.elapsed() < RECHECK_AFTER)
        {
            return Ok(facts.clone());
        }
        let instance = compute
            .call(Method::InstancesGet, &key, || {
                compute
                    .instances
                    .get()
                    .set_project(project)
                    .set_zone(zone)
                    .set_instance(name)
                    .send()
            })
            .await?;
        let facts = InstanceFacts {
            can_ip_forward: instance.can_ip_forward.unwrap_or(false),
            networks: instance
                .network_interfaces
                .iter()
                .filter_map(|nic| nic.network.as_deref().and_then(key_of))
                .map(str::to_string)
                .collect(),
        };
        *entry = Some((facts.clone(), Instant::now()));
        Ok(facts)
    }
}
