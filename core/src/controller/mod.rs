//! The controller: wires the Node watch, leader election, the reconcile loop, CIDR allocation
//! and the health/metrics server, generic over the cloud provider. `Controller::run` reads top
//! to bottom as the process: every task is `select!`ed, so if one dies the controller exits
//! instead of limping on.
//!
//! Triggers of a pass: a routing-relevant Node change (debounced, so a burst of node updates
//! costs one pass), the resync period, gaining the lease, and a backing-off node becoming ready.
//! Only a Node change may plan from the last listing (where the provider allows it); every other
//! trigger lists, and the resync period counts from the last pass that listed.

pub mod allocate;
pub mod backoff;
pub mod health;
pub mod leader;
mod listing;
pub mod metrics;
pub mod nodes;
pub mod reconcile;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use leader::{LeaderConfig, Leadership};
pub use metrics::Metrics;
pub use nodes::NodeStore;
pub use reconcile::{ListPolicy, PassReport, ReconcileConfig};

use crate::budget::ApiBudget;
use crate::model::ClusterSpec;
use crate::provider::RouteProvider;

/// Why the controller could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("invalid controller configuration: {0}")]
    Config(String),
    #[error("cannot serve metrics on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the Kubernetes API server is unreachable: {0}")]
    ApiUnreachable(#[source] kube::Error),
    #[error("controller task {0} stopped unexpectedly")]
    TaskDied(&'static str),
}

/// Everything `routeplane controller` configures.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    pub spec: ClusterSpec,
    /// Full pass even when nothing changed, to repair drift made behind our back.
    pub resync: Duration,
    /// Coalesces bursts of Node events into one pass.
    pub debounce: Duration,
    pub reconcile: ReconcileConfig,
    /// `None`: this replica always leads (single replica, or tests).
    pub leader: Option<LeaderConfig>,
    pub metrics_addr: Option<SocketAddr>,
    /// Namespace Node events are written to.
    pub event_namespace: String,
    /// `--allocate-node-cidrs`: (cluster CIDR, node mask) per family.
    pub allocate: Option<Vec<(ipnet::IpNet, u8)>>,
    /// Reporter name on Events and conditions.
    pub reporter: String,
    /// The provider's API budget (a handle on the same buckets), emptied when a leader term
    /// starts: what the previous holder spent is unknown, so it is assumed all spent.
    pub budget: Option<ApiBudget>,
}

impl ControllerConfig {
    /// Sensible defaults around a spec.
    pub fn new(spec: ClusterSpec) -> Self {
        Self {
            spec,
            resync: Duration::from_secs(60),
            debounce: Duration::from_millis(10),
            reconcile: ReconcileConfig::default(),
            leader: None,
            metrics_addr: None,
            event_namespace: "default".into(),
            allocate: None,
            reporter: "routeplane".into(),
            budget: None,
        }
    }
}

/// The route controller for one cluster on one cloud.
pub struct Controller<P> {
    provider: Arc<P>,
    cfg: ControllerConfig,
    metrics: Metrics,
    store: NodeStore,
    reports: watch::Sender<Option<Arc<PassReport>>>,
}

impl<P: RouteProvider> Controller<P> {
    pub fn new(provider: P, cfg: ControllerConfig) -> Self {
        Self::with_shared_provider(Arc::new(provider), cfg)
    }

    /// For callers that keep a handle on the provider (the demo reads its call counts).
    pub fn with_shared_provider(provider: Arc<P>, cfg: ControllerConfig) -> Self {
        let (reports, _) = watch::channel(None);
        Self {
            provider,
            cfg,
            metrics: Metrics::new(),
            store: NodeStore::default(),
            reports,
        }
    }

    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// The Node index, for status displays.
    pub fn store(&self) -> NodeStore {
        self.store.clone()
    }

    /// Every pass's report, as it finishes.
    pub fn reports(&self) -> watch::Receiver<Option<Arc<PassReport>>> {
        self.reports.subscribe()
    }

    /// Runs until `shutdown` is cancelled or a task dies.
    ///
    /// # Errors
    /// [`ControllerError`] when start-up fails (bad config, port in use, API server unreachable)
    /// or a task stops unexpectedly.
    pub async fn run(
        self,
        client: kube::Client,
        shutdown: CancellationToken,
    ) -> Result<(), ControllerError> {
        if let Some(l) = &self.cfg.leader {
            l.validate()?;
        }
        // Fail fast and clearly when the API server is not there, instead of a watcher retrying
        // forever with nobody told.
        client
            .apiserver_version()
            .await
            .map_err(ControllerError::ApiUnreachable)?;

        let tasks = shutdown.child_token();
        let _stop_tasks = tasks.clone().drop_guard();

        let leadership = match self.cfg.leader.clone() {
            Some(cfg) => {
                let (elector, leadership) = leader::Elector::new(client.clone(), cfg);
                let elector = elector.spend_budget_on_new_term(self.cfg.budget.clone());
                let token = tasks.clone();
                tokio::spawn(async move { elector.run(token).await });
                leadership
            }
            None => {
                // Without an election the process start is the term start.
                if let Some(budget) = &self.cfg.budget {
                    budget.spend_all();
                }
                Leadership::always()
            }
        };

        let health = match self.cfg.metrics_addr {
            Some(addr) => Some(
                health::serve(
                    addr,
                    self.metrics.clone(),
                    self.store.clone(),
                    tasks.clone(),
                )
                .await?,
            ),
            None => None,
        };

        let watch = tokio::spawn(nodes::watch_nodes(
            Api::<Node>::all(client.clone()),
            self.store.clone(),
            tasks.clone(),
        ));
        let status = status::StatusWriter::new(
            client.clone(),
            &self.cfg.event_namespace,
            self.cfg.reconcile.call_timeout.min(Duration::from_secs(10)),
            &self.cfg.reporter,
        );
        let allocator = match &self.cfg.allocate {
            Some(pools) => Some(allocate::NodeCidrAllocator::new(
                client.clone(),
                pools,
                self.metrics.clone(),
            )?),
            None => None,
        };
        let reconciler = reconcile::Reconciler::new(
            self.provider.clone(),
            self.cfg.spec.clone(),
            self.store.clone(),
            leadership.clone(),
            Some(status),
            self.metrics.clone(),
            self.cfg.reconcile.clone(),
        );
        let loop_task = tokio::spawn(run_loop(LoopParts {
            reconciler,
            allocator,
            store: self.store.clone(),
            leadership,
            metrics: self.metrics.clone(),
            resync: self.cfg.resync,
            debounce: self.cfg.debounce,
            reports: self.reports.clone(),
            shutdown: tasks.clone(),
        }));

        info!(cluster = %self.cfg.spec.name, cloud = %self.cfg.spec.cloud, mode = %self.cfg.spec.mode, "controller started");
        let died = tokio::select! {
            () = shutdown.cancelled() => None,
            _ = watch => Some("node watch"),
            _ = loop_task => Some("reconcile loop"),
        };
        let result = match died {
            Some(task) if !shutdown.is_cancelled() => Err(ControllerError::TaskDied(task)),
            _ => Ok(()),
        };
        tasks.cancel();
        if let Some(h) = health {
            let _ = h.await;
        }
        // Give the elector a moment to release the lease so a standby takes over at once.
        tokio::time::sleep(Duration::from_millis(50)).await;
        info!("controller stopped");
        result
    }
}

struct LoopParts<P> {
    reconciler: reconcile::Reconciler<P>,
    allocator: Option<allocate::NodeCidrAllocator>,
    store: NodeStore,
    leadership: Leadership,
    metrics: Metrics,
    resync: Duration,
    debounce: Duration,
    reports: watch::Sender<Option<Arc<PassReport>>>,
    shutdown: CancellationToken,
}

/// The reconcile loop: wait for a trigger, run a pass, schedule the next.
async fn run_loop<P: RouteProvider>(mut p: LoopParts<P>) {
    let mut leader_rx = p.leadership.subscribe();
    // Nothing is planned before the first full list: an empty store would delete every route.
    while !p.store.is_ready() {
        tokio::select! {
            () = p.shutdown.cancelled() => return,
            () = p.store.changed() => {}
        }
    }
    let mut list_failures: u32 = 0;
    let mut last_listed: Option<Instant> = None;
    let mut woken_by_nodes = false;
    loop {
        let leading = p.leadership.is_leader();
        p.metrics.leader.set(i64::from(leading));
        let mut next = Instant::now() + p.resync;
        if leading {
            if let Some(alloc) = p.allocator.as_mut() {
                alloc.allocate_missing(&p.store).await;
            }
            let resync_due = last_listed.is_none_or(|t| t.elapsed() >= p.resync);
            let policy = if woken_by_nodes && !resync_due {
                ListPolicy::ReuseLast
            } else {
                ListPolicy::Fresh
            };
            // A pass lists first thing, so the resync period counts from its start.
            let started = Instant::now();
            match p.reconciler.pass(policy).await {
                Ok(report) => {
                    list_failures = 0;
                    if report.listed {
                        last_listed = Some(started);
                    }
                    if let Some(t) = last_listed {
                        next = t + p.resync;
                    }
                    if let Some(retry) = report.next_retry {
                        next = next.min(retry);
                    }
                    p.reports.send_replace(Some(Arc::new(report)));
                }
                Err(error) => {
                    list_failures = list_failures.saturating_add(1);
                    let wait = Duration::from_millis(500)
                        .saturating_mul(1 << list_failures.min(7))
                        .min(p.resync);
                    warn!(%error, retry_in_ms = wait.as_millis(), "listing cloud routes failed");
                    next = next.min(Instant::now() + wait);
                }
            }
        }
        woken_by_nodes = false;
        tokio::select! {
            () = p.shutdown.cancelled() => return,
            () = p.store.changed() => {
                // Let a burst of node events land, then plan once for all of them.
                tokio::time::sleep(p.debounce).await;
                woken_by_nodes = true;
            }
            r = leader_rx.changed() => {
                if r.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep_until(next) => {}
        }
    }
}
