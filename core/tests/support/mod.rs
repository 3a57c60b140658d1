//! Shared harness for the controller integration tests: a fake API server, the in-memory
//! provider, and a real kube-rs client between them.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::time::Duration;

use routeplane_core::controller::{Controller, ControllerConfig, LeaderConfig};
use routeplane_core::testing::{MemoryProvider, spec};
use routeplane_core::{Cloud, RouteProvider};
use routeplane_mocks::kube_api::FakeKube;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub async fn client(fake: &FakeKube, agent: &str) -> kube::Client {
    let mut cfg = kube::Config::new(fake.url().parse().unwrap());
    cfg.headers
        .push((http::header::USER_AGENT, agent.parse().unwrap()));
    kube::Client::try_from(cfg).unwrap()
}

/// Fast timings so tests converge in well under a second.
pub fn config() -> ControllerConfig {
    let mut cfg = ControllerConfig::new(spec());
    cfg.debounce = Duration::from_millis(5);
    cfg.resync = Duration::from_secs(30);
    cfg.reconcile.backoff_base = Duration::from_millis(100);
    cfg.reconcile.backoff_max = Duration::from_millis(800);
    cfg.reconcile.call_timeout = Duration::from_secs(2);
    cfg
}

pub fn leader(identity: &str) -> LeaderConfig {
    LeaderConfig {
        namespace: "kube-system".into(),
        name: "routeplane".into(),
        identity: identity.into(),
        lease_duration: Duration::from_millis(1500),
        renew_deadline: Duration::from_millis(1000),
        retry_period: Duration::from_millis(200),
    }
}

pub struct Running {
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<Result<(), routeplane_core::controller::ControllerError>>,
    pub metrics: routeplane_core::controller::Metrics,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.handle).await;
    }
}

pub async fn start<P: RouteProvider>(
    fake: &FakeKube,
    provider: P,
    cfg: ControllerConfig,
    agent: &str,
) -> Running {
    let controller = Controller::new(provider, cfg);
    let metrics = controller.metrics();
    let shutdown = CancellationToken::new();
    let client = client(fake, agent).await;
    let token = shutdown.clone();
    let handle = tokio::spawn(async move { controller.run(client, token).await });
    Running {
        shutdown,
        handle,
        metrics,
    }
}

pub fn memory() -> MemoryProvider {
    MemoryProvider::new(Cloud::Aws, &["rtb-a", "rtb-b"])
}

/// Polls `check` every 10 ms until it holds or `within` passes.
pub async fn eventually<F: FnMut() -> bool>(within: Duration, what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + within;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Like [`eventually`] for async checks.
pub async fn eventually_async<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
