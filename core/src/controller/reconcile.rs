//! One reconcile pass over the whole cluster: list the managed routes once (or, after a Node
//! event, reuse the last listing where the provider allows it), `plan()`, apply the plan with
//! bounded concurrency and a timeout on every call, then tell Kubernetes (conditions, Events) and
//! Prometheus what happened. Failures are per node: a node in backoff, or whose call failed,
//! never holds up another node's routes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::join_all;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::backoff::NodeBackoff;
use super::leader::Leadership;
use super::listing::LastListing;
use super::metrics::{Metrics, ReasonLabels};
use super::nodes::{NodeStore, WatchedNode};
use super::status::{EventType, StatusWriter, WantCondition};
use crate::ClusterSpec;
use crate::model::{CloudRoute, DesiredRoute, NodeInfo};
use crate::plan::{Plan, plan};
use crate::provider::{ErrorKind, ProviderError, RouteProvider};
use crate::provider_id::InstanceRef;

/// Node jobs alive at once per concurrency slot (see `apply`): enough for the jobs that only
/// await an operation with their slot given back, few enough that a pass over 5,000 nodes does
/// not hold 5,000 job futures.
const LIVE_JOBS_PER_SLOT: usize = 8;

/// Knobs of a pass.
#[derive(Clone, Debug)]
pub struct ReconcileConfig {
    /// Nodes (and stale-route deletes) worked on at once; a node holds one slot for its calls.
    pub concurrency: usize,
    /// Backstop timeout on every provider call (providers have their own, shorter ones).
    pub call_timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            call_timeout: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// Whether a pass lists the cloud's routes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListPolicy {
    /// List: the resync, gaining the lease, a retry after a failure.
    Fresh,
    /// Plan from the last listing plus our own writes when the provider allows it and the
    /// listing is still current: same lease term, no write failed since (see
    /// [`crate::RouteProvider::reuses_listing`]); else list.
    ReuseLast,
}

/// What a pass did, for logs, tests and `routeplane demo`.
#[derive(Clone, Debug, Default)]
pub struct PassReport {
    pub plan: Plan,
    pub created: usize,
    pub replaced: usize,
    pub deleted: usize,
    /// Node (or `table/destination` for stale routes) → the error that failed it.
    pub failed: BTreeMap<String, ProviderError>,
    /// Nodes skipped because they are backing off.
    pub backing_off: usize,
    /// When a backing-off node becomes ready: the loop schedules a pass then.
    pub next_retry: Option<Instant>,
    /// False when this replica is not the leader and wrote nothing.
    pub wrote: bool,
    /// Whether the pass listed the cloud's routes (false: planned from the last listing).
    pub listed: bool,
}

/// One route operation of the plan.
enum Op {
    Create(DesiredRoute),
    Replace(CloudRoute, DesiredRoute),
}

/// What one node's job did.
struct NodeOutcome {
    node: String,
    /// The instance whose forwarding was just made sure of, to remember.
    forwarded: Option<String>,
    /// The node's route operations, all applied, or the first error.
    result: Result<Vec<Op>, ProviderError>,
    /// Whether a route write was sent: a failed one may still have landed.
    routes_sent: bool,
}

/// The per-process state a pass needs.
pub struct Reconciler<P> {
    provider: Arc<P>,
    spec: ClusterSpec,
    store: NodeStore,
    leadership: Leadership,
    status: Option<StatusWriter>,
    metrics: Metrics,
    cfg: ReconcileConfig,
    backoff: NodeBackoff,
    forwarding_ok: BTreeSet<String>,
    /// Last error per node, for `routeplane status` and the condition message.
    last_error: BTreeMap<String, String>,
    /// The condition reason of the last error, when the provider named one.
    last_reason: BTreeMap<String, &'static str>,
    /// Kept between passes only when the provider reuses listings.
    last_listing: Option<LastListing>,
}

impl<P: RouteProvider> Reconciler<P> {
    pub fn new(
        provider: Arc<P>,
        spec: ClusterSpec,
        store: NodeStore,
        leadership: Leadership,
        status: Option<StatusWriter>,
        metrics: Metrics,
        cfg: ReconcileConfig,
    ) -> Self {
        let backoff = NodeBackoff::new(cfg.backoff_base, cfg.backoff_max);
        Self {
            provider,
            spec,
            store,
            leadership,
            status,
            metrics,
            cfg,
            backoff,
            forwarding_ok: BTreeSet::new(),
            last_error: BTreeMap::new(),
            last_reason: BTreeMap::new(),
            last_listing: None,
        }
    }

    /// Runs one pass. Only the leader lists and writes: a standby spends no API budget.
    ///
    /// # Errors
    /// The listing failed; nothing was written. The caller retries after a backoff.
    pub async fn pass(&mut self, policy: ListPolicy) -> Result<PassReport, ProviderError> {
        if !self.leadership.is_leader() {
            self.last_listing = None;
            return Ok(PassReport::default());
        }
        let started = Instant::now();
        let watched = self.store.snapshot();
        let nodes: Vec<NodeInfo> = watched.iter().map(|w| w.info.clone()).collect();
        self.backoff
            .retain(|n| nodes.iter().any(|x| x.name == n) || n.contains('/'));

        if !self.spec.mode.writes_cloud_routes() {
            // Host mode: the agents route; the controller only reports readiness.
            self.update_conditions(&watched, &Plan::default(), &BTreeMap::new())
                .await;
            return Ok(PassReport {
                wrote: true,
                ..PassReport::default()
            });
        }

        let instances: Vec<InstanceRef> = nodes
            .iter()
            .filter_map(|n| n.target.as_ref().ok().cloned())
            .collect();
        let term = self.leadership.term();
        let reusable = self.provider.reuses_listing();
        let last = self
            .last_listing
            .take()
            .filter(|l| policy == ListPolicy::ReuseLast && reusable && l.is_current(term));
        let listed = last.is_none();
        let mut listing = match last {
            Some(l) => l,
            None => match self
                .call("list", self.provider.list_routes(&instances))
                .await
            {
                Ok(s) => LastListing::new(s, term),
                Err(e) => {
                    self.metrics
                        .passes
                        .get_or_create(&ReasonLabels {
                            reason: "list_failed",
                        })
                        .inc();
                    return Err(e);
                }
            },
        };
        let plan = plan(&self.spec, &nodes, listing.snapshot());
        let mut report = PassReport {
            wrote: true,
            listed,
            ..PassReport::default()
        };
        let failed = self.apply(&plan, &nodes, &mut report, &mut listing).await;
        if reusable {
            self.last_listing = Some(listing);
        }
        report.failed = failed;
        self.update_conditions(&watched, &plan, &report.failed)
            .await;
        self.update_metrics(&plan, &report);
        report.next_retry = self.backoff.next_ready(Instant::now());
        report.plan = plan;
        self.metrics
            .reconcile_duration
            .observe(started.elapsed().as_secs_f64());
        let outcome = if report.failed.is_empty() {
            "ok"
        } else {
            "partial"
        };
        self.metrics
            .passes
            .get_or_create(&ReasonLabels { reason: outcome })
            .inc();
        if report.plan.mutations() > 0 || !report.failed.is_empty() {
            info!(
                created = report.created,
                replaced = report.replaced,
                deleted = report.deleted,
                failed = report.failed.len(),
                backing_off = report.backing_off,
                listed = report.listed,
                took_ms = started.elapsed().as_millis(),
                "reconciled routes"
            );
        } else {
            debug!(
                listed = report.listed,
                took_ms = started.elapsed().as_millis(),
                "nothing to change"
            );
        }
        Ok(report)
    }

    /// A provider call under the backstop timeout, counted in metrics.
    async fn call<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        // Boxed: SDK futures are large, and inline they overflow a 2 MiB thread stack in debug
        // builds (tests, `#[tokio::test]`) once nested in the pass's own futures.
        let out = match tokio::time::timeout(self.cfg.call_timeout, Box::pin(fut)).await {
            Ok(r) => r,
            Err(_) => Err(ProviderError::new(
                ErrorKind::Transient,
                format!("{op} timed out after {:?}", self.cfg.call_timeout),
            )),
        };
        let outcome = match &out {
            Ok(_) => "ok",
            Err(e) => e.kind.as_str(),
        };
        self.metrics.call(op, outcome);
        out
    }

    /// Applies the plan and records what landed in `listing`. Returns the failures keyed by node
    /// (or by `table/destination` for stale deletes, which have no node).
    async fn apply(
        &mut self,
        plan: &Plan,
        nodes: &[NodeInfo],
        report: &mut PassReport,
        listing: &mut LastListing,
    ) -> BTreeMap<String, ProviderError> {
        let now = Instant::now();
        let mut by_node: BTreeMap<&str, Vec<Op>> = BTreeMap::new();
        for d in &plan.create {
            by_node
                .entry(&d.node)
                .or_default()
                .push(Op::Create(d.clone()));
        }
        for r in &plan.replace {
            by_node
                .entry(&r.desired.node)
                .or_default()
                .push(Op::Replace(r.existing.clone(), r.desired.clone()));
        }
        // The nodes' instances, from the same snapshot the plan was made from.
        let targets: BTreeMap<&str, &InstanceRef> = nodes
            .iter()
            .filter_map(|n| n.target.as_ref().ok().map(|t| (n.name.as_str(), t)))
            .collect();

        let semaphore = Arc::new(Semaphore::new(self.cfg.concurrency.max(1)));
        let mut node_work = Vec::new();
        for (node, ops) in by_node {
            if !self.backoff.ready(node, now) {
                report.backing_off += 1;
                continue;
            }
            let Some(target) = targets.get(node).map(|t| (*t).clone()) else {
                continue;
            };
            let needs_forwarding = !self.forwarding_ok.contains(&target.key());
            node_work.push((node.to_string(), target, needs_forwarding, ops));
        }
        let delete_work: Vec<(String, CloudRoute)> = plan
            .delete
            .iter()
            .map(|r| (format!("{}/{}", r.table, r.destination), r.clone()))
            .filter(|(key, _)| self.backoff.ready(key, now))
            .collect();
        // Jobs are created as earlier ones finish, at most `live` at a time: a job is a large
        // future (~15 KiB in a debug build, plus the provider's call while it waits), and making
        // one per node up front cost ~75 MiB at 5,000 nodes. `live` stays well above the slots
        // so that jobs whose operations are only awaited (slot given back) do not stall others.
        let live = self.cfg.concurrency.max(1) * LIVE_JOBS_PER_SLOT;
        let node_jobs = futures::stream::iter(node_work)
            .map(|(node, target, needs_forwarding, ops)| {
                self.node_job(node, target, needs_forwarding, ops, semaphore.clone())
            })
            .buffer_unordered(live)
            .collect::<Vec<_>>();
        let delete_jobs = futures::stream::iter(delete_work)
            .map(|(key, route)| self.delete_job(key, route, semaphore.clone()))
            .buffer_unordered(live)
            .collect::<Vec<_>>();
        let (node_results, delete_results) = futures::join!(node_jobs, delete_jobs);

        let mut failed = BTreeMap::new();
        // What landed, for the listing: recorded in one sweep after the pass.
        let mut removed = BTreeSet::new();
        let mut added = Vec::new();
        for outcome in node_results {
            let NodeOutcome {
                node,
                forwarded,
                result,
                routes_sent,
            } = outcome;
            if let Some(key) = forwarded {
                self.forwarding_ok.insert(key);
            }
            match result {
                Ok(ops) => {
                    for op in ops {
                        match op {
                            Op::Create(d) => {
                                report.created += 1;
                                added.push(d);
                            }
                            Op::Replace(e, d) => {
                                report.replaced += 1;
                                removed.insert(e);
                                added.push(d);
                            }
                        }
                    }
                    self.backoff.succeeded(&node);
                    self.last_error.remove(&node);
                    self.last_reason.remove(&node);
                }
                Err(e) => {
                    let wait = self.backoff.failed(&node, Instant::now(), e.retry_after);
                    warn!(node = %node, error = %e, retry_in_ms = wait.as_millis(), "node route failed");
                    self.last_error.insert(node.clone(), e.to_string());
                    match e.condition_reason {
                        Some(reason) => self.last_reason.insert(node.clone(), reason),
                        None => self.last_reason.remove(&node),
                    };
                    failed.insert(node, e);
                    if routes_sent {
                        listing.invalidate();
                    }
                }
            }
        }
        for (key, route, result) in delete_results {
            match result {
                Ok(()) => {
                    report.deleted += 1;
                    removed.insert(route);
                    self.backoff.succeeded(&key);
                }
                Err(e) => {
                    listing.invalidate();
                    self.backoff.failed(&key, Instant::now(), e.retry_after);
                    warn!(route = %key, error = %e, "stale route delete failed");
                    failed.insert(key, e);
                }
            }
        }
        if self.provider.reuses_listing() {
            let added = added.iter().map(|d| self.provider.route_as_listed(d));
            listing.record(&removed, added.collect());
        }
        self.emit_route_events(plan, &failed).await;
        failed
    }

    /// One node's calls: forwarding first (a route to an instance that drops forwarded packets
    /// is a silent blackhole), then its routes in every table, concurrently. The node holds one
    /// concurrency slot for all of them: with a slot per call, a FIFO queue of every node's
    /// forwarding call would run ahead of every route write and leave the route bucket idle.
    async fn node_job(
        &self,
        node: String,
        target: InstanceRef,
        needs_forwarding: bool,
        ops: Vec<Op>,
        semaphore: Arc<Semaphore>,
    ) -> NodeOutcome {
        let Ok(permit) = semaphore.clone().acquire_owned().await else {
            return NodeOutcome {
                node,
                forwarded: None,
                result: Err(shutting_down()),
                routes_sent: false,
            };
        };
        // The provider may give the slot back while it only waits (see `crate::slot`).
        let slot = crate::slot::Slot::new(semaphore, permit);
        slot.scope(self.node_calls(node, target, needs_forwarding, ops))
            .await
    }

    async fn node_calls(
        &self,
        node: String,
        target: InstanceRef,
        needs_forwarding: bool,
        ops: Vec<Op>,
    ) -> NodeOutcome {
        let mut forwarded = None;
        if needs_forwarding {
            let r = self
                .write(
                    "ensure_forwarding",
                    self.provider.ensure_forwarding(&target),
                )
                .await;
            if let Err(e) = r {
                return NodeOutcome {
                    node,
                    forwarded: None,
                    result: Err(e),
                    routes_sent: false,
                };
            }
            forwarded = Some(target.key());
        }
        let calls = ops.iter().map(|op| async move {
            match op {
                Op::Create(d) => {
                    self.write("create_route", self.provider.create_route(d))
                        .await
                }
                Op::Replace(e, d) => self
                    .write("replace_route", self.provider.replace_route(e, d))
                    .await
                    .map(|gap| self.metrics.replace_gap.observe(gap.as_secs_f64())),
            }
        });
        let first_err = join_all(calls).await.into_iter().find_map(Result::err);
        NodeOutcome {
            node,
            forwarded,
            routes_sent: !ops.is_empty(),
            result: first_err.map_or(Ok(ops), Err),
        }
    }

    async fn delete_job(
        &self,
        key: String,
        route: CloudRoute,
        semaphore: Arc<Semaphore>,
    ) -> (String, CloudRoute, Result<(), ProviderError>) {
        let Ok(permit) = semaphore.clone().acquire_owned().await else {
            return (key, route, Err(shutting_down()));
        };
        let slot = crate::slot::Slot::new(semaphore, permit);
        let call = self.write("delete_route", self.provider.delete_route(&route));
        let r = match slot.scope(call).await {
            // Already gone is what we wanted.
            Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
            other => other,
        };
        (key, route, r)
    }

    /// A write: re-checks leadership (a replica that lost the lease while waiting for a slot
    /// must not write), then calls under the timeout, abandoning the call the moment leadership
    /// lapses. A provider call is several requests (budget waits, retries after throttling);
    /// without the race, one that started in our term could send its next attempt after the
    /// renew deadline, into the next leader's term. Providers are cancel-safe, so dropping the
    /// call leaves the cloud either unchanged or with the request applied, within our term.
    async fn write<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        if !self.leadership.is_leader() {
            return Err(lost_leadership("before writing"));
        }
        tokio::select! {
            biased;
            () = self.leadership.until_lost() => Err(lost_leadership("during the call")),
            r = self.call(op, fut) => r,
        }
    }

    async fn emit_route_events(&self, plan: &Plan, failed: &BTreeMap<String, ProviderError>) {
        let Some(status) = &self.status else { return };
        let uid = |name: &str| self.store.get(name).map(|w| w.info.uid).unwrap_or_default();
        // One Event per node and reason, not per route: a cold start of 5,000 nodes in three
        // tables would otherwise post 15,000 Events.
        // Keyed by owned strings: with a `&str` in the item type, the lazily made posts below
        // hit the compiler's higher-ranked `Send` check on the spawned reconcile loop.
        let mut grouped: BTreeMap<(String, String), (EventType, Vec<String>)> = BTreeMap::new();
        let mut add = |node: &str, kind: EventType, reason: &str, msg: String| {
            grouped
                .entry((node.to_string(), reason.to_string()))
                .or_insert((kind, Vec::new()))
                .1
                .push(msg);
        };
        for d in plan.create.iter().filter(|d| !failed.contains_key(&d.node)) {
            add(
                &d.node,
                EventType::Normal,
                "RouteCreated",
                format!("{} → {} in {}", d.destination, d.target, d.table),
            );
        }
        for r in plan
            .replace
            .iter()
            .filter(|r| !failed.contains_key(&r.desired.node))
        {
            let d = &r.desired;
            let msg = format!(
                "{} in {}: {} ({:?}) → {}",
                d.destination, d.table, r.existing.target, r.existing.state, d.target
            );
            add(&d.node, EventType::Normal, "RouteReplaced", msg);
        }
        for (node, e) in failed.iter().filter(|(k, _)| !k.contains('/')) {
            let reason = e.condition_reason.unwrap_or(match e.kind {
                ErrorKind::Quota => "RouteQuotaExceeded",
                ErrorKind::Throttled => "RouteThrottled",
                ErrorKind::Conflict => "RouteConflict",
                _ => "RouteFailed",
            });
            add(node, EventType::Warning, reason, e.to_string());
        }
        let posts = grouped.into_iter().map(|((node, reason), (kind, msgs))| {
            let uid = uid(&node);
            async move {
                status
                    .event(&node, &uid, kind, &reason, msgs.join("; "))
                    .await;
            }
        });
        at_most(posts, self.cfg.concurrency).await;
    }

    /// Sets `NetworkUnavailable` on every node whose state differs from what it shows.
    async fn update_conditions(
        &mut self,
        watched: &[WatchedNode],
        plan: &Plan,
        failed: &BTreeMap<String, ProviderError>,
    ) {
        let mut unroutable: BTreeMap<&str, String> = BTreeMap::new();
        for u in &plan.unroutable {
            unroutable
                .entry(u.node.as_str())
                .or_insert_with(|| u.reason.to_string());
        }
        let mut conflicts: BTreeMap<&str, String> = BTreeMap::new();
        for c in &plan.conflicts {
            conflicts.entry(c.node.as_str()).or_insert_with(|| {
                format!(
                    "a route routeplane does not own ({} → {}) is in the way of {} in {}",
                    c.route.destination, c.route.target, c.pod_cidr, c.route.table
                )
            });
        }
        let pending: BTreeSet<&str> = plan
            .create
            .iter()
            .map(|d| d.node.as_str())
            .chain(plan.replace.iter().map(|r| r.desired.node.as_str()))
            .collect();

        let mut writes = Vec::new();
        for w in watched.iter().filter(|w| !w.info.pod_cidrs.is_empty()) {
            let name = w.info.name.as_str();
            // Unroutable nodes and conflicts get an Event when their condition changes; route
            // failures already got one from `emit_route_events`.
            let (want, announce) = if let Some(why) = unroutable.get(name) {
                (
                    WantCondition::not_routed("NoRouteCreated", why.clone()),
                    true,
                )
            } else if let Some(why) = conflicts.get(name) {
                (
                    WantCondition::not_routed("RouteConflict", why.clone()),
                    true,
                )
            } else if let Some(e) = failed.get(name) {
                let reason = e.condition_reason.unwrap_or("NoRouteCreated");
                (WantCondition::not_routed(reason, e.to_string()), false)
            } else if pending.contains(name) && !self.backoff.ready(name, Instant::now()) {
                let why = self
                    .last_error
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| "backing off after a failure".into());
                let reason = self
                    .last_reason
                    .get(name)
                    .copied()
                    .unwrap_or("NoRouteCreated");
                (WantCondition::not_routed(reason, why), false)
            } else {
                if let Some(seen_at) = w.cidrs_seen_at {
                    self.metrics
                        .event_to_route
                        .observe(seen_at.elapsed().as_secs_f64());
                    self.store.clear_seen_at(name);
                }
                (WantCondition::routed(), false)
            };
            if !want.matches(w.condition.as_ref()) {
                writes.push((
                    w.info.name.clone(),
                    w.info.uid.clone(),
                    want,
                    announce,
                    w.condition.clone(),
                ));
            }
        }
        let Some(status) = &self.status else { return };
        let store = &self.store;
        let patches = writes.into_iter().map(|(node, uid, want, announce, before)| async move {
            // Recorded before the patch: the watch may echo it back before the call returns,
            // and an echo the store did not expect wakes a pass (1,000 needless passes' worth
            // of wake-ups after a 1,000-node cold start).
            store.set_condition(&node, Some(want.as_seen()));
            match status.set_condition(&node, &want).await {
                Ok(false) => debug!(node = %node, "node deleted before its condition was set"),
                Ok(true) => {
                    if announce {
                        status.event(&node, &uid, EventType::Warning, want.reason, want.message.clone()).await;
                    }
                    debug!(node = %node, status = want.status(), reason = want.reason, "condition set");
                }
                Err(error) => {
                    store.set_condition(&node, before);
                    warn!(node = %node, %error, "could not set NetworkUnavailable");
                }
            }
        });
        // Bounded: a cold start must not open thousands of API requests at once.
        at_most(patches, self.cfg.concurrency).await;
    }

    fn update_metrics(&self, plan: &Plan, report: &PassReport) {
        let desired = plan.in_sync.len() + plan.create.len() + plan.replace.len();
        let failing = plan
            .create
            .iter()
            .map(|d| &d.node)
            .chain(plan.replace.iter().map(|r| &r.desired.node))
            .filter(|n| report.failed.contains_key(*n) || !self.backoff.ready(n, Instant::now()))
            .count();
        self.metrics
            .routes_desired
            .set(i64::try_from(desired).unwrap_or(i64::MAX));
        self.metrics
            .routes_present
            .set(i64::try_from(desired - failing).unwrap_or(i64::MAX));
        self.metrics
            .routes_failing
            .set(i64::try_from(failing).unwrap_or(i64::MAX));
        self.metrics
            .conflicts
            .set(i64::try_from(plan.conflicts.len()).unwrap_or(i64::MAX));
        self.metrics.nodes_unroutable.clear();
        for u in &plan.unroutable {
            self.metrics
                .nodes_unroutable
                .get_or_create(&ReasonLabels {
                    reason: u.reason.kind(),
                })
                .inc();
        }
    }

    /// The last error of each failing node.
    pub fn last_errors(&self) -> &BTreeMap<String, String> {
        &self.last_error
    }
}

/// Runs `futs` at most `n` at a time, making each future only when a place is free: collected
/// up front, 5,000 nodes' patch or Event futures were ~14 MiB of a debug build's heap.
async fn at_most<F: Future<Output = ()>>(futs: impl IntoIterator<Item = F>, n: usize) {
    // A `Vec<()>` never allocates.
    futures::stream::iter(futs)
        .buffer_unordered(n.max(1))
        .collect::<Vec<()>>()
        .await;
}

fn lost_leadership(when: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Transient, format!("lost leadership {when}"))
}

fn shutting_down() -> ProviderError {
    ProviderError::new(ErrorKind::Transient, "shutting down")
}
