//! What the `routeplane` package's integration tests share: a one-table AWS cluster (mock EC2,
//! fake API server with its Nodes, a kubeconfig) for running the binary, the real controller run
//! in-process, and a poll-until helper. Each test file uses part of it (`mod support;`).
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use routeplane_core::controller::{Controller, ControllerConfig, ControllerError};
use routeplane_core::{Cloud, ClusterSpec, Mode, RouteProvider};
use routeplane_mocks::ec2::{MockEc2, World};
use routeplane_mocks::kube_api::{FakeKube, node};
use tokio_util::sync::CancellationToken;

/// Polls `ok` every 20 ms until it holds; fails the test after `within`.
pub async fn eventually(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fake API server serving `nodes`, with a kubeconfig for it at `<dir>/kubeconfig`.
pub async fn fake_kube(
    nodes: impl IntoIterator<Item = serde_json::Value>,
) -> (FakeKube, tempfile::TempDir) {
    let kube = FakeKube::start().await.unwrap();
    for n in nodes {
        kube.add_node(n).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    kube.write_kubeconfig(dir.path().join("kubeconfig"))
        .unwrap();
    (kube, dir)
}

/// A small AWS cluster named `cluster` for running the binary against: VPC `vpc-0<id>1` with
/// subnet `subnet-0<id>1` in us-east-1a and its main table `rtb-0<id>1` tagged for the cluster,
/// instances `i-0<id>1..=n`, and Nodes `n1..=n` (Pod CIDR 10.244.<i>.0/24) at those instances.
/// `seed` adds to the world (routes, say) before the mock starts.
pub async fn aws_cluster(
    cluster: &str,
    id: char,
    n: usize,
    seed: impl FnOnce(&mut World),
) -> (MockEc2, FakeKube, tempfile::TempDir) {
    let (vpc, subnet, table) = (
        format!("vpc-0{id}1"),
        format!("subnet-0{id}1"),
        format!("rtb-0{id}1"),
    );
    let instance = |i: usize| format!("i-0{id}{i}");
    let mut w = World::new();
    w.add_vpc(&vpc, "10.0.0.0/16").unwrap();
    w.add_subnet(&subnet, &vpc, "10.0.1.0/24", "us-east-1a")
        .unwrap();
    w.add_route_table(&table, &vpc, true, &[subnet.as_str()])
        .unwrap();
    w.tag(&table, &format!("kubernetes.io/cluster/{cluster}"), "owned")
        .unwrap();
    for i in 1..=n {
        w.add_instance(&instance(i), &subnet).unwrap();
    }
    seed(&mut w);
    let ec2 = MockEc2::builder().world(w).start().await.unwrap();
    let (kube, dir) = fake_kube((1..=n).map(|i| {
        node(&format!("n{i}"))
            .pod_cidr(&format!("10.244.{i}.0/24"))
            .provider_id(&format!("aws:///us-east-1a/{}", instance(i)))
            .build()
    }))
    .await;
    (ec2, kube, dir)
}

/// The controller settings of the end-to-end tests: a dual-stack cluster (10.244.0.0/16 and
/// fd00:10:244::/48) in cloud mode, a pass every `resync`, and backoff short enough that a
/// repaired failure is retried within the test.
pub fn controller_config(cluster: &str, cloud: Cloud, resync: Duration) -> ControllerConfig {
    let spec = ClusterSpec::new(
        cluster,
        vec![
            "10.244.0.0/16".parse().unwrap(),
            "fd00:10:244::/48".parse().unwrap(),
        ],
        Mode::Cloud,
        cloud,
    )
    .unwrap();
    let mut cfg = ControllerConfig::new(spec);
    cfg.resync = resync;
    cfg.reconcile.backoff_base = Duration::from_millis(100);
    cfg.reconcile.backoff_max = Duration::from_millis(500);
    cfg
}

/// The real controller running on the test's runtime against the fake API server.
pub struct RunningController {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ControllerError>>,
}

impl RunningController {
    /// Starts the controller with `provider` against `kube` through a real kube-rs client.
    pub fn start<P: RouteProvider + 'static>(
        provider: P,
        cfg: ControllerConfig,
        kube: &FakeKube,
    ) -> Self {
        let controller = Controller::new(provider, cfg);
        let client =
            kube::Client::try_from(kube::Config::new(kube.url().parse().unwrap())).unwrap();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move { controller.run(client, token).await });
        Self { shutdown, task }
    }

    /// Stops it and checks that it ended cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}
