//! A MODEL of the Kubernetes route controller's strategy (k8s.io/cloud-provider
//! `controllers/route`), for side-by-side comparison only — not routeplane code. What it keeps:
//! a full pass every sync period (10 s) that lists the routes, at most 200 nodes' creates in
//! flight, and no retry inside a pass: whatever failed (including a rate-limit refusal) waits
//! for the next pass. It drives the same provider over the same HTTP mock as routeplane.
//! - AWS: a re-read of the route table before every create, 2 mutating calls per new node
//!   (the route and the source/dest check), no client-side budget; unlike the original it
//!   writes all 3 tables (the original handles one).
//! - GCE: per missing node one `routes.insert`, then it waits for the operation while holding
//!   its slot; only the operation polls are rate-limited (the GCE cloud provider's 5/s limiter,
//!   a poll a second) — the provider is configured so in `super::gce`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use routeplane_core::model::{DesiredRoute, RouteState, RouteTarget};
use routeplane_core::{InstanceRef, RouteProvider, parse_provider_id};

use super::cloud::ModelStrategy;
use crate::cli::provider::CloudProvider;
use crate::cli::sim::Background;

/// Creates in flight at once, as in the route controller.
const MAX_CONCURRENT: usize = 200;

/// The model running on the runtime until [`RunningModel::stop`].
pub struct RunningModel(Background<()>);

impl RunningModel {
    pub fn start(
        provider: Arc<CloudProvider>,
        strategy: ModelStrategy,
        kube_url: &str,
        period: Duration,
    ) -> anyhow::Result<Self> {
        let client = kube::Client::try_from(kube::Config::new(kube_url.parse()?))?;
        Ok(Self(Background::spawn(|token| async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = token.cancelled() => return,
                    _ = tick.tick() => {}
                }
                tokio::select! {
                    () = token.cancelled() => return,
                    () = pass(&provider, strategy, &client) => {}
                }
            }
        })))
    }

    /// Asks it to stop, waits up to 5 s, then aborts it.
    pub async fn stop(self) {
        self.0.stop().await;
    }
}

/// A node as the route controller sees it from its informer.
struct ModelNode {
    name: String,
    cidr: ipnet::IpNet,
    instance: InstanceRef,
}

/// One reconcile pass; every error is dropped (the next pass retries).
async fn pass(provider: &CloudProvider, strategy: ModelStrategy, client: &kube::Client) {
    let api: kube::Api<Node> = kube::Api::all(client.clone());
    let Ok(list) = api.list(&Default::default()).await else {
        return;
    };
    let nodes: Vec<ModelNode> = list
        .items
        .into_iter()
        .filter_map(|n| {
            let spec = n.spec?;
            Some(ModelNode {
                name: n.metadata.name?,
                cidr: spec.pod_cidr?.parse().ok()?,
                instance: parse_provider_id(&spec.provider_id?).ok()?,
            })
        })
        .collect();
    let refs: Vec<InstanceRef> = nodes.iter().map(|n| n.instance.clone()).collect();
    let Ok(snapshot) = provider.list_routes(&refs).await else {
        return;
    };
    // Routes of ours whose node is gone.
    let stale: Vec<_> = snapshot
        .routes
        .iter()
        .filter(|r| r.claimed && !nodes.iter().any(|n| n.cidr == r.destination))
        .cloned()
        .collect();
    futures::stream::iter(stale)
        .for_each_concurrent(MAX_CONCURRENT, |r| async move {
            let _ = provider.delete_route(&r).await;
        })
        .await;
    // Nodes missing a route in some table: one task per node, 200 at a time.
    let missing: Vec<(&ModelNode, Vec<DesiredRoute>)> = nodes
        .iter()
        .map(|n| {
            let key = n.instance.key();
            let want: Vec<DesiredRoute> = snapshot
                .tables
                .iter()
                .filter(|t| {
                    !snapshot.routes.iter().any(|r| {
                        r.table == t.id
                            && r.destination == n.cidr
                            && r.state == RouteState::Active
                            && r.target == RouteTarget::Instance(key.clone())
                    })
                })
                .map(|t| DesiredRoute {
                    table: t.id.clone(),
                    destination: n.cidr,
                    target: key.clone(),
                    node: n.name.clone(),
                })
                .collect();
            (n, want)
        })
        .filter(|(_, want)| !want.is_empty())
        .collect();
    futures::stream::iter(missing)
        .for_each_concurrent(MAX_CONCURRENT, |(n, want)| {
            let refs = &refs;
            let snapshot = &snapshot;
            async move {
                if strategy.ensure_forwarding
                    && provider.ensure_forwarding(&n.instance).await.is_err()
                {
                    return;
                }
                for route in want {
                    // The AWS route controller re-reads the table before every create; GCE's
                    // goes by the pass's list.
                    let reread;
                    let now = if strategy.reread_before_create {
                        match provider.list_routes(refs).await {
                            Ok(fresh) => {
                                reread = fresh;
                                &reread
                            }
                            Err(_) => return,
                        }
                    } else {
                        snapshot
                    };
                    let existing = now
                        .routes
                        .iter()
                        .find(|r| r.table == route.table && r.destination == route.destination);
                    let done = match existing {
                        Some(r)
                            if r.target == route.route_target()
                                && r.state == RouteState::Active =>
                        {
                            Ok(())
                        }
                        Some(r) => provider.replace_route(r, &route).await.map(|_| ()),
                        None => provider.create_route(&route).await,
                    };
                    if done.is_err() {
                        return;
                    }
                }
            }
        })
        .await;
}
