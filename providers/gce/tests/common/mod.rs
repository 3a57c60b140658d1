//! Fixtures shared by the provider tests: a mock GCE project with one network and `n` node
//! instances, a provider pointed at it (anonymous credentials, fast polling), Nodes, and core's
//! one-pass apply loop.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use routeplane_core::model::{Cloud, ClusterSpec, Mode, NodeInfo};
use routeplane_core::retry::RetryPolicy;
use routeplane_core::testing::{AppliedPass, apply_once};
use routeplane_gce::{GceConfig, GceProvider};
use routeplane_mocks::gce::{GceWorld, MockGce, NextHop, Route, Throttle};

pub const PROJECT: &str = "rp-test-project";
pub const NETWORK: &str = "vpc-test";
pub const ZONE: &str = "us-central1-a";
pub const CLUSTER: &str = "c1";

/// The name of node `i`'s instance.
pub fn instance(i: usize) -> String {
    format!("node-{i}")
}

/// A project with the network, an internet route, and `n` instances that may forward.
pub fn world(n: usize) -> GceWorld {
    let mut w = GceWorld::new()
        .project(PROJECT)
        .network(NETWORK)
        .route(Route::new("internet", "0.0.0.0/0", NextHop::internet()).network(NETWORK));
    for i in 0..n {
        w = w.instance(ZONE, &instance(i), &format!("10.128.0.{}", i + 2), true);
    }
    w
}

/// The mock without rate quotas (tests about throttling set their own) and with `op_delay`.
pub async fn mock(world: GceWorld, op_delay: Duration) -> MockGce {
    MockGce::builder()
        .project(PROJECT)
        .world(world)
        .op_delay(op_delay)
        .throttle(Throttle::off())
        .start()
        .await
        .unwrap()
}

/// A configuration for the mock: anonymous, fast retries and polls.
pub fn config(mock: &MockGce, cluster: &str) -> GceConfig {
    let mut cfg = GceConfig::new(cluster);
    cfg.project = Some(PROJECT.into());
    cfg.network = Some(NETWORK.into());
    cfg.endpoint = Some(mock.endpoint_url());
    cfg.anonymous = true;
    cfg.retry = RetryPolicy {
        max_attempts: 5,
        base: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
    };
    cfg.call_timeout = Duration::from_secs(5);
    cfg.operation_timeout = Duration::from_secs(10);
    cfg.poll_initial = Duration::from_millis(20);
    cfg.poll_max = Duration::from_millis(100);
    cfg
}

pub async fn provider(mock: &MockGce) -> GceProvider {
    GceProvider::new(config(mock, CLUSTER)).await.unwrap()
}

pub fn spec_for(cluster: &str) -> ClusterSpec {
    ClusterSpec::new(
        cluster,
        vec![
            "10.244.0.0/16".parse().unwrap(),
            "fd00:10:244::/56".parse().unwrap(),
        ],
        Mode::Cloud,
        Cloud::Gce,
    )
    .unwrap()
}

/// Node `i` with Pod CIDR 10.244.i.0/24 (and fd00:10:244:i::/64 when `dual`).
pub fn node(i: usize, dual: bool) -> NodeInfo {
    let mut b = routeplane_core::testing::node(&format!("node-{i}"))
        .pod_cidr(&format!("10.244.{i}.0/24"))
        .gce(PROJECT, ZONE, &instance(i));
    if dual {
        b = b.pod_cidr(&format!("fd00:10:244:{i:x}::/64"));
    }
    b.build()
}

pub fn nodes(range: std::ops::Range<usize>, dual: bool) -> Vec<NodeInfo> {
    range.map(|i| node(i, dual)).collect()
}

/// One controller-like pass for cluster `c1`.
pub async fn pass(p: &GceProvider, nodes: &[NodeInfo]) -> AppliedPass {
    apply_once(p, &spec_for(CLUSTER), nodes).await
}

/// Whether the mock routes `cidr` to instance `i` (by any route name).
pub fn routes_to(mock: &MockGce, cidr: &str, i: usize) -> bool {
    mock.world()
        .routes()
        .iter()
        .any(|r| r.dest_range == cidr && r.next_hop == NextHop::instance(ZONE, &instance(i)))
}
