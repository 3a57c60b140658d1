//! `--allocate-node-cidrs`: gives Nodes without a Pod CIDR one per family, for clusters whose
//! control plane does not (EKS; kubeadm without `--allocate-node-cidrs`). The allocator is
//! rebuilt from every Node's current ranges before each round, plus the ranges we patched but
//! have not yet seen echoed by the watch, so neither a restart nor a slow watch can hand a
//! range out twice. Runs on the leader only.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::{Patch, PatchParams};
use tracing::{info, warn};

use super::ControllerError;
use super::metrics::Metrics;
use super::nodes::NodeStore;
use crate::alloc::CidrAllocator;

pub struct NodeCidrAllocator {
    api: Api<Node>,
    pools: Vec<(IpNet, u8)>,
    /// Ranges patched onto a node that the store does not show yet.
    in_flight: BTreeMap<String, Vec<IpNet>>,
    metrics: Metrics,
}

impl NodeCidrAllocator {
    /// # Errors
    /// [`ControllerError::Config`] when a pool's node mask does not fit its CIDR.
    pub fn new(
        client: kube::Client,
        pools: &[(IpNet, u8)],
        metrics: Metrics,
    ) -> Result<Self, ControllerError> {
        CidrAllocator::new(pools).map_err(|e| ControllerError::Config(e.to_string()))?;
        Ok(Self {
            api: Api::all(client),
            pools: pools.to_vec(),
            in_flight: BTreeMap::new(),
            metrics,
        })
    }

    /// Allocates and patches a range for every node that has none.
    pub async fn allocate_missing(&mut self, store: &NodeStore) {
        let nodes = store.snapshot();
        self.in_flight.retain(|name, _| {
            nodes
                .iter()
                .any(|n| &n.info.name == name && n.info.pod_cidrs.is_empty())
        });
        let Ok(mut alloc) = CidrAllocator::new(&self.pools) else {
            return;
        };
        alloc.mark_used(nodes.iter().flat_map(|n| n.info.pod_cidrs.iter()));
        alloc.mark_used(self.in_flight.values().flatten());
        for node in nodes.iter().filter(|n| n.info.pod_cidrs.is_empty()) {
            let name = &node.info.name;
            if self.in_flight.contains_key(name) {
                continue;
            }
            let cidrs = match alloc.allocate() {
                Ok(c) => c,
                Err(error) => {
                    warn!(node = %name, %error, "cannot allocate a Pod CIDR");
                    return;
                }
            };
            let strings: Vec<String> = cidrs.iter().map(ToString::to_string).collect();
            let patch = serde_json::json!({"spec": {"podCIDR": strings[0], "podCIDRs": strings}});
            let (params, patch) = (PatchParams::default(), Patch::Merge(patch));
            let call = self.api.patch(name, &params, &patch);
            match tokio::time::timeout(Duration::from_secs(10), call).await {
                Ok(Ok(_)) => {
                    info!(node = %name, cidrs = ?strings, "allocated Pod CIDR");
                    self.metrics.cidrs_allocated.inc();
                    self.in_flight.insert(name.clone(), cidrs);
                }
                Ok(Err(error)) => warn!(node = %name, %error, "could not set the node's Pod CIDR"),
                Err(_) => warn!(node = %name, "setting the node's Pod CIDR timed out"),
            }
        }
    }
}
