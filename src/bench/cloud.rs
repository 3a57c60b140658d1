//! What a scenario needs from a simulated cloud, so the same scenario, model and report code
//! runs on the mock EC2 ([`super::cluster::SimCluster`]) and the mock GCE
//! ([`super::gce::GceSim`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use routeplane_core::Cloud;
use routeplane_mocks::kube_api::FakeKube;

use super::cluster::SimNode;
use super::scenario::{Impl, Options};
use crate::cli::provider::CloudProvider;

/// One API call the mock served, in the terms every report uses.
#[derive(Clone, Debug)]
pub struct BenchCall {
    pub action: String,
    pub mutating: bool,
    /// Refused by the cloud's rate limit (EC2 `RequestLimitExceeded`, GCE `rateLimitExceeded`).
    pub throttled: bool,
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

/// A mock cloud with N instances, their Nodes in the fake API, and checks on its routes.
pub trait BenchCloud: Sized {
    const CLOUD: Cloud;
    /// Route tables every node needs a route in (EC2: one per AZ; GCE: the one network).
    const TABLES: usize;

    /// Starts the mocks for `opts.nodes` nodes with the cloud's documented rate limits scaled
    /// by `opts.time_scale` and the route limit raised to fit.
    fn start(opts: &Options) -> impl std::future::Future<Output = anyhow::Result<Self>>;
    fn kube(&self) -> &FakeKube;
    fn nodes(&self) -> &[SimNode];
    /// Replaces node `index` with a brand-new one (new instance, new Pod CIDR). Returns (old, new).
    fn replace(&mut self, index: usize) -> anyhow::Result<(SimNode, SimNode)>;
    fn routes(&self) -> RouteMap;
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
    fn model_strategy(&self) -> ModelStrategy;
    /// Cloud flags (and environment) for the `routeplane controller` binary against this mock.
    fn controller_args(&self, opts: &Options) -> anyhow::Result<ControllerFlags>;

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
