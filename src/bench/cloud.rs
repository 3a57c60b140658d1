//! What a scenario needs from a simulated cloud, so the same scenario, model and report code
//! runs on the mock EC2 ([`super::cluster::SimCluster`]) and the mock GCE
//! ([`super::gce::GceSim`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use routeplane_core::Cloud;
use routeplane_mocks::kube_api::FakeKube;

use super::cluster::{SimNode, sim_node};
use super::scenario::{Impl, Options};
use crate::cli::provider::CloudProvider;

/// One API call the mock served, in the terms every report uses.
#[derive(Clone, Debug)]
pub struct BenchCall {
    pub action: String,
    pub mutating: bool,
    /// Refused by the cloud's rate limit (EC2 `RequestLimitExceeded`, GCE `rateLimitExceeded`).
    pub throttled: bool,
    /// A poll of an earlier write's operation (GCE `globalOperations.get`).
    pub poll: bool,
}

/// Route state as the checks read it: (table index, destination) → (target instance, active?).
pub type RouteMap = BTreeMap<(usize, String), (Option<String>, bool)>;

/// How the route-controller model drives the provider on this cloud (see [`super::model`]).
#[derive(Clone, Copy, Debug)]
pub struct ModelStrategy {
    /// Re-read the routes before every create (the AWS route controller does; GCE's does not).
    pub reread_before_create: bool,
    /// Turn the instance's source/destination check off first (AWS only).
    pub ensure_forwarding: bool,
}

/// The cloud's flags and environment for the `routeplane controller` binary.
pub struct ControllerFlags {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// The nodes of a run and the fake API server that holds their Node objects.
pub struct Fleet {
    pub kube: FakeKube,
    pub nodes: Vec<SimNode>,
    /// The next node number (numbers are never reused: a replacement is a new instance).
    next: u32,
}

impl Fleet {
    /// Nodes 0..n (not yet registered) and a fresh fake API server.
    pub async fn start(n: u32) -> anyhow::Result<Self> {
        let kube = FakeKube::start()
            .await
            .context("starting the fake Kubernetes API")?;
        Ok(Self {
            kube,
            nodes: (0..n).map(sim_node).collect(),
            next: n,
        })
    }
}

/// A mock cloud with N instances, their Nodes in the fake API, and checks on its routes.
pub trait BenchCloud: Sized {
    const CLOUD: Cloud;
    /// Route tables every node needs a route in (EC2: one per AZ; GCE: the one network).
    const TABLES: usize;

    /// Starts the mocks for `opts.nodes` nodes with the cloud's documented rate limits scaled
    /// by `opts.time_scale` and the route limit raised to fit.
    fn start(opts: &Options) -> impl std::future::Future<Output = anyhow::Result<Self>>;
    fn fleet(&self) -> &Fleet;
    fn fleet_mut(&mut self) -> &mut Fleet;
    /// Starts `node`'s instance in the running mock cloud.
    fn launch(&self, node: &SimNode) -> anyhow::Result<()>;
    /// The Node object the fake API serves for `node`.
    fn node_object(&self, node: &SimNode) -> serde_json::Value;
    fn routes(&self) -> RouteMap;
    /// [`Self::routes`] for these destinations only (churn looks them up many times a second;
    /// a cloud that can find one route without copying them all overrides it).
    fn lookup<'a>(&self, cidrs: impl Iterator<Item = &'a str>) -> RouteMap {
        let want: BTreeSet<&str> = cidrs.collect();
        let mut all = self.routes();
        all.retain(|(_, cidr), _| want.contains(cidr.as_str()));
        all
    }
    /// Routes present, counted without merging two with the same destination.
    fn route_count(&self) -> usize;
    /// Routes that are not routeplane's and must stay as they are.
    fn foreign(&self) -> Vec<(usize, String)>;
    fn calls(&self) -> Vec<BenchCall>;
    /// Calls over the cloud's own limit that the mock still had to count against it (EC2: the
    /// bucket replayed; GCE: every refused call, since the mock refuses what is over).
    fn budget_violations(&self) -> usize;
    /// The least time the rate limits allow for the cold start's writes, from now.
    fn lower_bound(&self) -> Duration;
    /// The provider for `which`: routeplane's own budgets and retries, or the model's.
    fn provider(
        &self,
        which: Impl,
    ) -> impl std::future::Future<Output = anyhow::Result<Arc<CloudProvider>>>;
    /// How the route-controller model drives this cloud.
    const MODEL: ModelStrategy;
    /// Cloud flags (and environment) for the `routeplane controller` binary against this mock.
    fn controller_args(&self, opts: &Options) -> anyhow::Result<ControllerFlags>;

    fn kube(&self) -> &FakeKube {
        &self.fleet().kube
    }

    fn nodes(&self) -> &[SimNode] {
        &self.fleet().nodes
    }

    /// Adds every node's Node object to the fake API (once the cloud knows their instances).
    fn register_all(&self) -> anyhow::Result<()> {
        for n in self.nodes() {
            self.kube()
                .add_node(self.node_object(n))
                .context("adding a node to the fake API")?;
        }
        Ok(())
    }

    /// Replaces node `index` with a brand-new one (new instance, new Pod CIDR): the old Node is
    /// deleted, the new instance launched and its Node added. Returns (old, new).
    fn replace(&mut self, index: usize) -> anyhow::Result<(SimNode, SimNode)> {
        let fleet = self.fleet_mut();
        let fresh = sim_node(fleet.next);
        fleet.next += 1;
        self.launch(&fresh)?;
        let old = std::mem::replace(&mut self.fleet_mut().nodes[index], fresh.clone());
        self.kube()
            .delete_node(&old.name)
            .context("deleting a node")?;
        self.kube()
            .add_node(self.node_object(&fresh))
            .context("adding a node to the fake API")?;
        Ok((old, fresh))
    }

    fn wanted(&self) -> usize {
        self.nodes().len() * Self::TABLES
    }

    /// How many of the wanted routes are active and point at the right instance.
    fn converged(&self) -> usize {
        let have = self.routes();
        self.nodes()
            .iter()
            .flat_map(|n| (0..Self::TABLES).map(move |t| (n, t)))
            .filter(|(n, t)| route_ok(&have, *t, n))
            .count()
    }

    /// Checks every table holds exactly its foreign routes plus one active route per current
    /// node to its instance: nothing missing, wrong, stale or extra.
    fn verify_exact(&self) -> anyhow::Result<()> {
        let have = self.routes();
        let mut want: BTreeSet<(usize, String)> = self.foreign().into_iter().collect();
        for t in 0..Self::TABLES {
            for n in self.nodes() {
                if !route_ok(&have, t, n) {
                    bail!(
                        "table {t}: route {} for {} missing or wrong",
                        n.pod_cidr,
                        n.name
                    );
                }
                want.insert((t, n.pod_cidr.clone()));
            }
        }
        let extra: Vec<_> = have.keys().filter(|k| !want.contains(*k)).collect();
        if !extra.is_empty() {
            bail!("{} unexpected routes, e.g. {:?}", extra.len(), extra[0]);
        }
        let count = self.route_count();
        if want.len() != count {
            bail!("{} routes wanted, {count} present", want.len());
        }
        Ok(())
    }
}

fn route_ok(have: &RouteMap, t: usize, n: &SimNode) -> bool {
    have.get(&(t, n.pod_cidr.clone()))
        .is_some_and(|(inst, active)| *active && inst.as_deref() == Some(n.instance.as_str()))
}
