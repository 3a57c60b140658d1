//! Fixtures shared by the integration tests: a mock EC2 world with one VPC, three subnets in
//! three AZs and a tagged route table per subnet; a provider pointed at the mock; Nodes; and a
//! tiny apply loop that runs core's planner and calls the provider the way the controller does.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use routeplane_aws::{AwsConfig, AwsProvider, StaticCredentials, TableSelector};
use routeplane_core::budget::ApiBudget;
use routeplane_core::model::{Cloud, ClusterSpec, Mode, NodeInfo};
use routeplane_core::provider_id::InstanceRef;
use routeplane_core::retry::RetryPolicy;
use routeplane_mocks::ec2::{MockEc2, Throttle, World};

pub const CLUSTER: &str = "c1";
pub const TAG: &str = "kubernetes.io/cluster/c1";
pub const VPC: &str = "vpc-0a";
pub const TABLES: [&str; 3] = ["rtb-0a1", "rtb-0b2", "rtb-0c3"];
pub const SUBNETS: [&str; 3] = ["subnet-0a1", "subnet-0b2", "subnet-0c3"];

/// The id of node `i`'s instance.
pub fn instance(i: usize) -> String {
    format!("i-{i:08x}")
}

/// A world with a tagged table per subnet (the first also main), an internet route in each,
/// and `nodes` running instances tagged for the cluster, spread over the subnets.
pub fn world(nodes: usize) -> World {
    let mut w = World::new();
    w.add_vpc(VPC, "10.0.0.0/16").unwrap();
    for (i, (subnet, table)) in SUBNETS.iter().zip(TABLES).enumerate() {
        w.add_subnet(
            subnet,
            VPC,
            &format!("10.0.{}.0/24", i + 1),
            &format!("us-east-1{}", ["a", "b", "c"][i]),
        )
        .unwrap();
        w.add_route_table(table, VPC, i == 0, &[subnet]).unwrap();
        w.tag(table, TAG, "owned").unwrap();
        w.add_route(
            table,
            "0.0.0.0/0",
            routeplane_mocks::ec2::Target::Gateway("igw-0a".into()),
        )
        .unwrap();
    }
    for i in 0..nodes {
        add_instance(&mut w, i);
    }
    w
}

/// Adds node `i`'s instance (tagged for the cluster) to a world.
pub fn add_instance(w: &mut World, i: usize) {
    let id = instance(i);
    w.add_instance(&id, SUBNETS[i % 3]).unwrap();
    w.tag(&id, TAG, "owned").unwrap();
}

/// Starts the mock with EC2's throttling.
pub async fn mock(world: World) -> MockEc2 {
    MockEc2::builder().world(world).start().await.unwrap()
}

/// Starts the mock with the given throttling.
pub async fn mock_with(world: World, throttle: Throttle) -> MockEc2 {
    MockEc2::builder()
        .world(world)
        .throttle(throttle)
        .start()
        .await
        .unwrap()
}

/// A provider configuration for the mock: fixed credentials, fast retries.
pub fn config(mock: &MockEc2, tables: TableSelector) -> AwsConfig {
    let mut cfg = AwsConfig::new(CLUSTER);
    cfg.region = Some("us-east-1".into());
    cfg.endpoint_url = Some(mock.endpoint_url());
    cfg.credentials = Some(StaticCredentials {
        access_key_id: "AKIDTEST".into(),
        secret_access_key: "secret".into(),
    });
    cfg.tables = tables;
    cfg.retry = RetryPolicy {
        max_attempts: 6,
        base: Duration::from_millis(20),
        max_delay: Duration::from_millis(500),
    };
    cfg.call_timeout = Duration::from_secs(5);
    cfg
}

pub async fn provider(mock: &MockEc2, tables: TableSelector) -> AwsProvider {
    AwsProvider::new(config(mock, tables)).await.unwrap()
}

/// A provider that never waits on its own budget (for tests about the mock's throttling).
pub async fn unbudgeted(mock: &MockEc2, tables: TableSelector) -> AwsProvider {
    let mut cfg = config(mock, tables);
    cfg.budget = ApiBudget::unlimited();
    AwsProvider::new(cfg).await.unwrap()
}

pub fn spec() -> ClusterSpec {
    ClusterSpec::new(
        CLUSTER,
        vec![
            "10.244.0.0/16".parse().unwrap(),
            "fd00:10:244::/56".parse().unwrap(),
        ],
        Mode::Cloud,
        Cloud::Aws,
    )
    .unwrap()
}

/// Node `i` with Pod CIDR 10.244.i.0/24 (and fd00:10:244:i::/64 when `dual`).
pub fn node(i: usize, dual: bool) -> NodeInfo {
    let mut b = routeplane_core::testing::node(&format!("node-{i}"))
        .pod_cidr(&format!("10.244.{i}.0/24"))
        .aws(&instance(i));
    if dual {
        b = b.pod_cidr(&format!("fd00:10:244:{i:x}::/64"));
    }
    b.build()
}

pub fn nodes(range: std::ops::Range<usize>, dual: bool) -> Vec<NodeInfo> {
    range.map(|i| node(i, dual)).collect()
}

pub fn refs(nodes: &[NodeInfo]) -> Vec<InstanceRef> {
    nodes.iter().filter_map(|n| n.target.clone().ok()).collect()
}

/// What one pass did.
pub type Pass = routeplane_core::testing::AppliedPass;

/// One controller-like pass: list, plan, apply (forwarding first, then the node's routes).
pub async fn pass(p: &AwsProvider, nodes: &[NodeInfo]) -> Pass {
    routeplane_core::testing::apply_once(p, &spec(), nodes).await
}

/// The routes of `table` in the mock as (destination, instance, state) strings.
pub fn routes_in(mock: &MockEc2, table: &str) -> Vec<(String, Option<String>, String)> {
    mock.world()
        .routes(table)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.destination.to_string(),
                r.instance_id.clone(),
                r.state.as_str().to_string(),
            )
        })
        .collect()
}

/// Whether `table` routes `cidr` to `instance`, actively.
pub fn routes_to(mock: &MockEc2, table: &str, cidr: &str, instance: &str) -> bool {
    routes_in(mock, table)
        .iter()
        .any(|(d, i, s)| d == cidr && i.as_deref() == Some(instance) && s == "active")
}
