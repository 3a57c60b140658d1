//! The in-process control plane that `demo` and `lab` share: the real AWS provider pointed at
//! the mock EC2, the real controller against the fake Kubernetes API, and a poll-until helper.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use routeplane_aws::{AwsConfig, AwsProvider, StaticCredentials, TableSelector};
use routeplane_core::controller::{Controller, ControllerConfig, ControllerError};
use routeplane_core::provider::RouteProvider;
use routeplane_mocks::ec2::MockEc2;
use tokio_util::sync::CancellationToken;

/// The AWS provider for `cluster`, talking to `ec2` with static demo credentials and managing
/// every table tagged for the cluster.
pub async fn mock_aws_provider(
    cluster: &str,
    ec2: &MockEc2,
    route_limit: usize,
    unlimited_budget: bool,
) -> anyhow::Result<Arc<AwsProvider>> {
    let mut aws = mock_aws_config(cluster, ec2, route_limit);
    if unlimited_budget {
        aws.budget = routeplane_core::budget::ApiBudget::unlimited();
    }
    Ok(Arc::new(
        AwsProvider::new(aws)
            .await
            .context("setting up the AWS provider")?,
    ))
}

/// The AWS provider configuration for `cluster` against `ec2` (static demo credentials, every
/// table tagged for the cluster), for callers that also tune its budget or retries.
pub fn mock_aws_config(cluster: &str, ec2: &MockEc2, route_limit: usize) -> AwsConfig {
    let mut aws = AwsConfig::new(cluster);
    aws.region = Some(ec2.region().to_string());
    aws.endpoint_url = Some(ec2.endpoint_url());
    aws.tables = TableSelector::Tagged;
    aws.route_limit = route_limit;
    aws.credentials = Some(StaticCredentials {
        access_key_id: "AKIDDEMO".into(),
        secret_access_key: "demo".into(),
    });
    aws
}

/// A task on the runtime with its own shutdown token, stopped by [`Background::stop`].
pub struct Background<T> {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<T>,
}

impl<T: Send + 'static> Background<T> {
    /// Spawns `run` with the token it must watch.
    pub fn spawn<F>(run: impl FnOnce(CancellationToken) -> F) -> Self
    where
        F: std::future::Future<Output = T> + Send + 'static,
    {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(shutdown.clone()));
        Self { shutdown, task }
    }

    /// Whether the task ended on its own.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks it to stop, waits up to 5 s, then aborts it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            // Not detached: a controller left running would keep calling a mock that is gone
            // and take CPU from whatever runs next.
            abort.abort();
        }
    }
}

/// A controller running on the runtime until [`RunningController::stop`].
pub struct RunningController(Background<Result<(), ControllerError>>);

impl RunningController {
    /// Starts the real controller with `provider` against the API server at `kube_url`.
    pub fn start<P: RouteProvider>(
        provider: Arc<P>,
        cfg: ControllerConfig,
        kube_url: &str,
    ) -> anyhow::Result<Self> {
        let controller = Controller::with_shared_provider(provider, cfg);
        let client = kube::Client::try_from(kube::Config::new(kube_url.parse()?))?;
        Ok(Self(Background::spawn(|token| async move {
            controller.run(client, token).await
        })))
    }

    /// Whether the controller stopped on its own (it never should).
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    /// Asks it to stop, waits up to 5 s, then aborts it.
    pub async fn stop(self) {
        self.0.stop().await;
    }
}

/// Polls `done` every 20 ms until it holds; returns how long that took.
pub async fn wait_for(
    what: &str,
    within: Duration,
    mut done: impl FnMut() -> bool,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > within {
            bail!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(start.elapsed())
}
