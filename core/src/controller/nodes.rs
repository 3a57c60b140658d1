//! The Node side of the controller: a kube-rs watcher feeding a small in-memory index of only
//! the fields routing needs ([`NodeInfo`] plus the current `NetworkUnavailable` condition), and a
//! trigger that fires when a routing-relevant field changes. Keeping our own index instead of a
//! reflector of whole Node objects is what keeps a 5,000-node controller small: a Node object is
//! ~10 KiB of images and labels we never read.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use futures::TryStreamExt;
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::model::NodeInfo;
use crate::provider_id::parse_provider_id;

/// The `NetworkUnavailable` condition as last seen on the Node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenCondition {
    pub status: String,
    pub reason: String,
}

/// One indexed Node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchedNode {
    pub info: NodeInfo,
    pub condition: Option<SeenCondition>,
    /// When the node's current Pod CIDRs were first seen, for event-to-route latency.
    pub cidrs_seen_at: Option<Instant>,
}

/// Extracts what routing needs from a Node. Unparsable podCIDRs are dropped with a warning; the
/// API server validates them, so this only happens with a broken or fake API.
pub fn node_info(node: &Node) -> Option<NodeInfo> {
    let name = node.metadata.name.clone()?;
    let spec = node.spec.as_ref();
    let raw: Vec<String> = spec
        .and_then(|s| {
            s.pod_cidrs
                .clone()
                .filter(|v| !v.is_empty())
                .or_else(|| s.pod_cidr.clone().map(|c| vec![c]))
        })
        .unwrap_or_default();
    let pod_cidrs = raw
        .iter()
        .filter_map(|c| match c.parse::<IpNet>() {
            Ok(n) => Some(n),
            Err(_) => {
                warn!(node = %name, cidr = %c, "ignoring unparsable podCIDR");
                None
            }
        })
        .collect();
    let target = parse_provider_id(spec.and_then(|s| s.provider_id.as_deref()).unwrap_or(""));
    let status = node.status.as_ref();
    let internal_ips = status
        .and_then(|s| s.addresses.as_ref())
        .map(|addrs| {
            addrs
                .iter()
                .filter(|a| a.type_ == "InternalIP")
                .filter_map(|a| a.address.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let ready = condition(node, "Ready").is_some_and(|c| c.status == "True");
    Some(NodeInfo {
        name,
        uid: node.metadata.uid.clone().unwrap_or_default(),
        pod_cidrs,
        target,
        internal_ips,
        ready,
    })
}

fn condition(node: &Node, type_: &str) -> Option<SeenCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| SeenCondition {
            status: c.status.clone(),
            reason: c.reason.clone().unwrap_or_default(),
        })
}

/// The shared index plus the change signal. Cheap to clone.
#[derive(Clone, Default)]
pub struct NodeStore {
    inner: Arc<RwLock<StoreInner>>,
    changed: Arc<Notify>,
}

#[derive(Default)]
struct StoreInner {
    nodes: BTreeMap<String, WatchedNode>,
    /// Buffer for a relist in progress; swapped in at `InitDone`.
    pending: Option<BTreeMap<String, WatchedNode>>,
    ready: bool,
}

impl NodeStore {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, StoreInner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, StoreInner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// True once the first full list has arrived: before that, an empty store would look like
    /// "every node was deleted" and plan away every route.
    pub fn is_ready(&self) -> bool {
        self.read().ready
    }

    pub fn snapshot(&self) -> Vec<WatchedNode> {
        self.read().nodes.values().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<WatchedNode> {
        self.read().nodes.get(name).cloned()
    }

    pub fn len(&self) -> usize {
        self.read().nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves when something routing-relevant changed since the last call.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Records the condition we are writing (or, after a failed write, what was there before),
    /// so the next pass does not patch it again and the watch's echo of our own write is not
    /// taken for somebody else's change.
    pub fn set_condition(&self, name: &str, condition: Option<SeenCondition>) {
        if let Some(n) = self.write().nodes.get_mut(name) {
            n.condition = condition;
        }
    }

    /// Clears the latency start once the node's routes are in.
    pub fn clear_seen_at(&self, name: &str) {
        if let Some(n) = self.write().nodes.get_mut(name) {
            n.cidrs_seen_at = None;
        }
    }

    fn upsert(map: &mut BTreeMap<String, WatchedNode>, node: &Node) -> bool {
        let Some(info) = node_info(node) else {
            return false;
        };
        let condition = condition(node, "NetworkUnavailable");
        match map.get_mut(&info.name) {
            Some(old) => {
                let relevant = old.info != info;
                if old.info.pod_cidrs != info.pod_cidrs {
                    old.cidrs_seen_at = (!info.pod_cidrs.is_empty()).then(Instant::now);
                }
                let condition_changed = old.condition != condition;
                old.info = info;
                old.condition = condition;
                // A condition someone else changed must be put back, so it counts as a change.
                relevant || condition_changed
            }
            None => {
                let seen = (!info.pod_cidrs.is_empty()).then(Instant::now);
                map.insert(
                    info.name.clone(),
                    WatchedNode {
                        info,
                        condition,
                        cidrs_seen_at: seen,
                    },
                );
                true
            }
        }
    }

    /// Applies one watcher event; returns whether a pass is needed.
    pub fn apply(&self, event: &watcher::Event<Node>) -> bool {
        let mut inner = self.write();
        match event {
            watcher::Event::Apply(node) => Self::upsert(&mut inner.nodes, node),
            watcher::Event::Delete(node) => node
                .metadata
                .name
                .as_ref()
                .is_some_and(|name| inner.nodes.remove(name).is_some()),
            watcher::Event::Init => {
                inner.pending = Some(BTreeMap::new());
                false
            }
            watcher::Event::InitApply(node) => {
                // Keep latency starts and seen conditions of nodes we already knew.
                let mut pending = inner.pending.take().unwrap_or_default();
                if let Some(name) = node.metadata.name.as_ref()
                    && let Some(old) = inner.nodes.get(name)
                {
                    pending.insert(name.clone(), old.clone());
                }
                Self::upsert(&mut pending, node);
                inner.pending = Some(pending);
                false
            }
            watcher::Event::InitDone => {
                let fresh = inner.pending.take().unwrap_or_default();
                let changed = fresh != inner.nodes || !inner.ready;
                inner.nodes = fresh;
                inner.ready = true;
                changed
            }
        }
    }

    /// Wakes the reconcile loop (used by the watch task and by tests).
    pub fn notify(&self) {
        self.changed.notify_one();
    }
}

/// Runs the Node watcher until `shutdown`, feeding `store`. Watch errors are retried by the
/// watcher's own backoff; they never end the task.
pub async fn watch_nodes(api: Api<Node>, store: NodeStore, shutdown: CancellationToken) {
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            next = stream.try_next() => next,
        };
        match next {
            Ok(Some(event)) => {
                if store.apply(&event) {
                    debug!("node change: waking reconcile");
                    store.notify();
                }
            }
            Ok(None) => return,
            Err(error) => warn!(%error, "node watch failed; retrying with backoff"),
        }
    }
}
