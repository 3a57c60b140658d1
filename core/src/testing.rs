//! Test support that other crates use too: fixture builders (`node("n1").pod_cidr(…).aws(…)`,
//! `route(…)`) and [`MemoryProvider`], an in-memory [`RouteProvider`] that records every call
//! and can inject each error class. It lets the controller be tested against a real kube-rs
//! client without a cloud.
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures panic on bad literals by design

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;

use crate::model::{
    Cloud, CloudRoute, ClusterSpec, DesiredRoute, Mode, NodeInfo, RouteSnapshot, RouteState,
    RouteTarget, TableId, TableInfo,
};
use crate::provider::{ErrorKind, ProviderError, RouteProvider};
use crate::provider_id::{InstanceRef, parse_provider_id};

/// A cluster spec for tests: dual-stack, AWS, cloud mode.
pub fn spec() -> ClusterSpec {
    ClusterSpec::new(
        "test",
        vec![
            "10.244.0.0/16".parse().unwrap(),
            "fd00:10:244::/48".parse().unwrap(),
        ],
        Mode::Cloud,
        Cloud::Aws,
    )
    .unwrap()
}

/// Starts a node fixture.
pub fn node(name: &str) -> NodeBuilder {
    NodeBuilder {
        info: NodeInfo {
            name: name.to_string(),
            uid: format!("uid-{name}"),
            pod_cidrs: Vec::new(),
            target: Err(crate::ProviderIdError::Missing),
            internal_ips: Vec::new(),
            ready: true,
        },
        provider_id: None,
    }
}

pub struct NodeBuilder {
    info: NodeInfo,
    provider_id: Option<String>,
}

impl NodeBuilder {
    pub fn pod_cidr(mut self, cidr: &str) -> Self {
        self.info.pod_cidrs.push(cidr.parse().unwrap());
        self
    }
    pub fn aws(self, instance: &str) -> Self {
        self.provider_id(&format!("aws:///us-east-1a/{instance}"))
    }
    pub fn gce(self, project: &str, zone: &str, name: &str) -> Self {
        self.provider_id(&format!("gce://{project}/{zone}/{name}"))
    }
    pub fn provider_id(mut self, id: &str) -> Self {
        self.info.target = parse_provider_id(id);
        self.provider_id = Some(id.to_string());
        self
    }
    pub fn ip(mut self, ip: &str) -> Self {
        self.info.internal_ips.push(ip.parse().unwrap());
        self
    }
    pub fn build(self) -> NodeInfo {
        self.info
    }
    /// The same node as a Kubernetes Node object, for the fake API server.
    pub fn to_k8s(&self) -> serde_json::Value {
        let cidrs: Vec<String> = self
            .info
            .pod_cidrs
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut spec = serde_json::json!({});
        if let Some(first) = cidrs.first() {
            spec["podCIDR"] = first.clone().into();
            spec["podCIDRs"] = cidrs.clone().into();
        }
        if let Some(id) = &self.provider_id {
            spec["providerID"] = id.clone().into();
        }
        let addresses: Vec<serde_json::Value> = self
            .info
            .internal_ips
            .iter()
            .map(|ip| serde_json::json!({"type": "InternalIP", "address": ip.to_string()}))
            .collect();
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.info.name},
            "spec": spec,
            "status": {"addresses": addresses, "conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady"}
            ]},
        })
    }
}

/// Starts a cloud route fixture: claimed = false, active, no target.
pub fn route(table: &str, destination: &str) -> RouteBuilder {
    RouteBuilder(CloudRoute {
        table: TableId(table.to_string()),
        destination: destination.parse().unwrap(),
        target: RouteTarget::Other("local".into()),
        state: RouteState::Active,
        name: None,
        claimed: false,
    })
}

pub struct RouteBuilder(CloudRoute);

impl RouteBuilder {
    pub fn instance(mut self, key: &str) -> Self {
        self.0.target = RouteTarget::Instance(key.to_string());
        self
    }
    pub fn other(mut self, id: &str) -> Self {
        self.0.target = RouteTarget::Other(id.to_string());
        self
    }
    pub fn blackhole(mut self) -> Self {
        self.0.state = RouteState::Blackhole;
        self
    }
    pub fn claimed(mut self) -> Self {
        self.0.claimed = true;
        self
    }
    pub fn named(mut self, name: &str) -> Self {
        self.0.name = Some(name.to_string());
        self
    }
    pub fn build(self) -> CloudRoute {
        self.0
    }
}

/// A snapshot with the given tables (no limit) and routes.
pub fn snapshot(tables: &[&str], routes: Vec<CloudRoute>) -> RouteSnapshot {
    RouteSnapshot {
        tables: tables
            .iter()
            .map(|t| TableInfo {
                id: TableId((*t).to_string()),
                route_limit: None,
            })
            .collect(),
        routes,
    }
}

/// Which provider operation a call or an injected fault is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    List,
    Create,
    Replace,
    Delete,
    EnsureForwarding,
}

/// One recorded call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub op: Op,
    pub table: Option<TableId>,
    pub destination: Option<IpNet>,
    pub target: Option<String>,
    pub ok: bool,
    pub at: tokio::time::Instant,
}

#[derive(Default)]
struct MemState {
    tables: BTreeMap<TableId, Option<usize>>,
    routes: BTreeSet<CloudRoute>,
    calls: Vec<Call>,
    /// One-shot faults, consumed in order, per operation.
    faults: BTreeMap<Op, VecDeque<ErrorKind>>,
    /// Persistent faults for every write to one instance target.
    target_faults: BTreeMap<String, ErrorKind>,
    forwarding_enabled: BTreeSet<String>,
}

/// An in-memory cloud: tables with optional route limits, every call recorded, errors injectable.
#[derive(Clone)]
pub struct MemoryProvider {
    cloud: Cloud,
    latency: Duration,
    reuses_listing: bool,
    state: Arc<Mutex<MemState>>,
}

impl MemoryProvider {
    pub fn new(cloud: Cloud, tables: &[&str]) -> Self {
        let state = MemState {
            tables: tables
                .iter()
                .map(|t| (TableId((*t).to_string()), None))
                .collect(),
            ..MemState::default()
        };
        Self {
            cloud,
            latency: Duration::ZERO,
            reuses_listing: false,
            state: Arc::new(Mutex::new(state)),
        }
    }

    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Lets passes woken by Node events plan from the last listing, as the GCE provider does.
    pub fn reusing_listing(mut self) -> Self {
        self.reuses_listing = true;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_route_limit(&self, table: &str, limit: usize) {
        self.lock()
            .tables
            .insert(TableId(table.to_string()), Some(limit));
    }

    /// Puts a route into the cloud as someone else would (a foreign route, a hijack).
    pub fn seed(&self, route: CloudRoute) {
        let mut s = self.lock();
        s.routes
            .retain(|r| !(r.table == route.table && r.destination == route.destination));
        s.routes.insert(route);
    }

    /// Makes the next `count` calls of `op` fail with `kind`.
    pub fn fail_next(&self, op: Op, kind: ErrorKind, count: usize) {
        let mut s = self.lock();
        let q = s.faults.entry(op).or_default();
        q.extend(std::iter::repeat_n(kind, count));
    }

    /// Makes every write to `target` fail with `kind` until cleared with `None`.
    pub fn fail_target(&self, target: &str, kind: Option<ErrorKind>) {
        let mut s = self.lock();
        match kind {
            Some(k) => s.target_faults.insert(target.to_string(), k),
            None => s.target_faults.remove(target),
        };
    }

    pub fn routes(&self) -> Vec<CloudRoute> {
        self.lock().routes.iter().cloned().collect()
    }

    /// The routes of one table, as (destination, target) pairs.
    pub fn table(&self, table: &str) -> BTreeMap<IpNet, RouteTarget> {
        self.lock()
            .routes
            .iter()
            .filter(|r| r.table.0 == table)
            .map(|r| (r.destination, r.target.clone()))
            .collect()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn count(&self, op: Op) -> usize {
        self.lock().calls.iter().filter(|c| c.op == op).count()
    }

    pub fn forwarding_enabled(&self) -> BTreeSet<String> {
        self.lock().forwarding_enabled.clone()
    }

    async fn enter(
        &self,
        op: Op,
        table: Option<&TableId>,
        destination: Option<IpNet>,
        target: Option<&str>,
    ) -> Result<(), ProviderError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let mut s = self.lock();
        let fault = s
            .faults
            .get_mut(&op)
            .and_then(VecDeque::pop_front)
            .or_else(|| {
                let t = target?;
                (op != Op::List)
                    .then(|| s.target_faults.get(t).copied())
                    .flatten()
            });
        s.calls.push(Call {
            op,
            table: table.cloned(),
            destination,
            target: target.map(str::to_string),
            ok: fault.is_none(),
            at: tokio::time::Instant::now(),
        });
        match fault {
            Some(kind) => Err(ProviderError::new(
                kind,
                format!("injected {kind} on {op:?}"),
            )),
            None => Ok(()),
        }
    }

    fn write(&self, route: &DesiredRoute) -> Result<(), ProviderError> {
        let mut s = self.lock();
        let limit = s.tables.get(&route.table).copied().flatten();
        let used = s.routes.iter().filter(|r| r.table == route.table).count();
        if limit.is_some_and(|l| used >= l) {
            return Err(ProviderError::new(ErrorKind::Quota, "route limit reached")
                .with_code("RouteLimitExceeded"));
        }
        s.routes.insert(CloudRoute {
            table: route.table.clone(),
            destination: route.destination,
            target: route.route_target(),
            state: RouteState::Active,
            name: None,
            claimed: true,
        });
        Ok(())
    }
}

impl RouteProvider for MemoryProvider {
    fn cloud(&self) -> Cloud {
        self.cloud
    }

    fn reuses_listing(&self) -> bool {
        self.reuses_listing
    }

    async fn list_routes(&self, _nodes: &[InstanceRef]) -> Result<RouteSnapshot, ProviderError> {
        self.enter(Op::List, None, None, None).await?;
        let s = self.lock();
        Ok(RouteSnapshot {
            tables: s
                .tables
                .iter()
                .map(|(id, limit)| TableInfo {
                    id: id.clone(),
                    route_limit: *limit,
                })
                .collect(),
            routes: s.routes.iter().cloned().collect(),
        })
    }

    async fn create_route(&self, route: &DesiredRoute) -> Result<(), ProviderError> {
        self.enter(
            Op::Create,
            Some(&route.table),
            Some(route.destination),
            Some(&route.target),
        )
        .await?;
        let exists = self
            .lock()
            .routes
            .iter()
            .find(|r| r.table == route.table && r.destination == route.destination)
            .cloned();
        match exists {
            Some(r) if r.target == route.route_target() => Ok(()),
            Some(_) => Err(
                ProviderError::new(ErrorKind::Conflict, "route already exists")
                    .with_code("RouteAlreadyExists"),
            ),
            None => self.write(route),
        }
    }

    async fn replace_route(
        &self,
        existing: &CloudRoute,
        route: &DesiredRoute,
    ) -> Result<std::time::Duration, ProviderError> {
        self.enter(
            Op::Replace,
            Some(&route.table),
            Some(route.destination),
            Some(&route.target),
        )
        .await?;
        let mut s = self.lock();
        let before = s.routes.len();
        s.routes
            .retain(|r| !(r.table == existing.table && r.destination == existing.destination));
        if s.routes.len() == before {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                "no route to replace",
            ));
        }
        drop(s);
        // Replaced in place, like EC2's ReplaceRoute: no gap.
        self.write(route).map(|()| std::time::Duration::ZERO)
    }

    async fn delete_route(&self, route: &CloudRoute) -> Result<(), ProviderError> {
        self.enter(
            Op::Delete,
            Some(&route.table),
            Some(route.destination),
            None,
        )
        .await?;
        self.lock()
            .routes
            .retain(|r| !(r.table == route.table && r.destination == route.destination));
        Ok(())
    }

    async fn ensure_forwarding(&self, target: &InstanceRef) -> Result<(), ProviderError> {
        let key = target.key();
        self.enter(Op::EnsureForwarding, None, None, Some(&key))
            .await?;
        self.lock().forwarding_enabled.insert(key);
        Ok(())
    }
}

/// What [`apply_once`] did.
#[derive(Debug, Default)]
pub struct AppliedPass {
    pub snapshot: RouteSnapshot,
    pub plan: crate::Plan,
    /// `node` (forwarding), `table:node` (a route write) or `table:destination` (a delete) →
    /// the error.
    pub errors: Vec<(String, ProviderError)>,
}

/// One controller-like pass without Kubernetes, for provider tests: list, plan, then apply one
/// call at a time (forwarding before a node's route, as the controller does).
///
/// # Panics
/// When the listing fails: the tests that use it expect a listing.
pub async fn apply_once<P: RouteProvider>(
    p: &P,
    spec: &ClusterSpec,
    nodes: &[NodeInfo],
) -> AppliedPass {
    let refs: Vec<InstanceRef> = nodes.iter().filter_map(|n| n.target.clone().ok()).collect();
    let snapshot = p.list_routes(&refs).await.unwrap();
    let plan = crate::plan(spec, nodes, &snapshot);
    let mut errors = Vec::new();
    let target_of = |node: &str| {
        nodes
            .iter()
            .find(|n| n.name == node)
            .and_then(|n| n.target.clone().ok())
            .unwrap()
    };
    for want in &plan.create {
        if let Err(e) = p.ensure_forwarding(&target_of(&want.node)).await {
            errors.push((want.node.clone(), e));
            continue;
        }
        if let Err(e) = p.create_route(want).await {
            errors.push((format!("{}:{}", want.table, want.node), e));
        }
    }
    for r in &plan.replace {
        if let Err(e) = p.ensure_forwarding(&target_of(&r.desired.node)).await {
            errors.push((r.desired.node.clone(), e));
            continue;
        }
        if let Err(e) = p.replace_route(&r.existing, &r.desired).await {
            errors.push((format!("{}:{}", r.desired.table, r.desired.node), e));
        }
    }
    for r in &plan.delete {
        if let Err(e) = p.delete_route(r).await {
            errors.push((format!("{}:{}", r.table, r.destination), e));
        }
    }
    AppliedPass {
        snapshot,
        plan,
        errors,
    }
}
