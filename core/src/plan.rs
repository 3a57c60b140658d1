//! `plan()`: the pure heart of routeplane. Given the cluster, its nodes and the routes the cloud
//! reports, it decides what to create, replace and delete — and, as importantly, what it must
//! leave alone. It does no I/O, so it is exhaustively tested (table-driven cases below and the
//! property tests in `tests/plan_props.rs`) and `routeplane plan` can show it without changing
//! anything.
//!
//! The ownership rule (DESIGN.md): a route is ours to change only if its destination lies inside
//! a cluster CIDR, it is in a managed table, and it carries the cluster's mark — the provider's
//! `claimed` verdict, or a target that is the instance of a node we know. Everything else is
//! foreign: never touched, and reported as a conflict only when it stands where a node's route
//! should be.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde::Serialize;

use crate::model::{
    CloudRoute, ClusterSpec, DesiredRoute, NodeInfo, RouteSnapshot, RouteState, RouteTarget,
    TableId,
};

/// Why a foreign route is in the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictReason {
    /// A route we do not own has the exact destination of a node's Pod CIDR.
    ForeignRouteAtPodCidr,
    /// A route we do not own is more specific than a node's Pod CIDR, so it steals part of it.
    ForeignRouteOverlapsPodCidr,
}

impl ConflictReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictReason::ForeignRouteAtPodCidr => "foreign_route_at_pod_cidr",
            ConflictReason::ForeignRouteOverlapsPodCidr => "foreign_route_overlaps_pod_cidr",
        }
    }
}

/// A foreign route that blocks or shadows a node's route. Reported, never touched.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Conflict {
    pub node: String,
    pub pod_cidr: IpNet,
    pub route: CloudRoute,
    pub reason: ConflictReason,
}

/// Why a node (or one of its Pod CIDRs) cannot be routed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum UnroutableReason {
    /// The providerID is missing or unparsable; `kind` is [`crate::ProviderIdError::kind`].
    BadProviderId { kind: &'static str, message: String },
    /// The providerID names another cloud than the one we program (`programmed`).
    OtherCloud {
        cloud: crate::Cloud,
        programmed: crate::Cloud,
        /// The instance the providerID names ([`crate::InstanceRef::key`]).
        instance: String,
    },
    /// The Pod CIDR lies outside every cluster CIDR, so routing it would break ownership.
    PodCidrOutsideCluster { pod_cidr: IpNet },
    /// Another node (earlier by name) already has this Pod CIDR.
    DuplicatePodCidr { pod_cidr: IpNet, other: String },
}

impl UnroutableReason {
    /// Bounded label for metrics and event reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            UnroutableReason::BadProviderId { .. } => "bad_provider_id",
            UnroutableReason::OtherCloud { .. } => "other_cloud",
            UnroutableReason::PodCidrOutsideCluster { .. } => "pod_cidr_outside_cluster",
            UnroutableReason::DuplicatePodCidr { .. } => "duplicate_pod_cidr",
        }
    }
}

impl std::fmt::Display for UnroutableReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnroutableReason::BadProviderId { message, .. } => f.write_str(message),
            UnroutableReason::OtherCloud {
                cloud,
                programmed,
                instance,
            } => {
                write!(
                    f,
                    "the providerID names {cloud} instance {instance}, but this routeplane programs {programmed} routes (--cloud {programmed}): no route for this node"
                )
            }
            UnroutableReason::PodCidrOutsideCluster { pod_cidr } => {
                write!(f, "podCIDR {pod_cidr} is outside every --cluster-cidr")
            }
            UnroutableReason::DuplicatePodCidr { pod_cidr, other } => {
                write!(f, "podCIDR {pod_cidr} is also assigned to node {other}")
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Unroutable {
    pub node: String,
    pub reason: UnroutableReason,
}

/// An owned route whose target is wrong (or gone) and will be repointed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Replacement {
    pub existing: CloudRoute,
    pub desired: DesiredRoute,
}

/// What one pass will do. Every list is sorted, so the same inputs give the same plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub create: Vec<DesiredRoute>,
    pub replace: Vec<Replacement>,
    pub delete: Vec<CloudRoute>,
    pub conflicts: Vec<Conflict>,
    pub unroutable: Vec<Unroutable>,
    /// Desired routes that are already right: no call needed.
    pub in_sync: Vec<DesiredRoute>,
}

impl Plan {
    /// Whether applying the plan would call the cloud at all.
    pub fn is_noop(&self) -> bool {
        self.create.is_empty() && self.replace.is_empty() && self.delete.is_empty()
    }

    /// Number of mutating calls the plan needs.
    pub fn mutations(&self) -> usize {
        self.create.len() + self.replace.len() + self.delete.len()
    }
}

/// Whether the ownership rule lets routeplane change `route` (its table is managed: the provider
/// only lists managed tables).
pub fn is_owned(
    spec: &ClusterSpec,
    known_instances: &BTreeSet<String>,
    route: &CloudRoute,
) -> bool {
    spec.contains(&route.destination)
        && (route.claimed
            || matches!(&route.target, RouteTarget::Instance(k) if known_instances.contains(k)))
}

/// The routes the cluster wants, per node, before looking at the cloud: each valid Pod CIDR
/// of each routable node, once. Returns the node → (cidr, target) pairs and the unroutable list.
fn desired_by_node(
    spec: &ClusterSpec,
    nodes: &[NodeInfo],
) -> (Vec<(String, IpNet, String)>, Vec<Unroutable>) {
    let mut sorted: Vec<&NodeInfo> = nodes.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut claimed: BTreeMap<IpNet, &str> = BTreeMap::new();
    let mut wanted = Vec::new();
    let mut unroutable = Vec::new();
    for node in sorted {
        if node.pod_cidrs.is_empty() {
            continue; // pending: nothing to route yet, nothing wrong either
        }
        let target = match &node.target {
            Err(e) => {
                unroutable.push(Unroutable {
                    node: node.name.clone(),
                    reason: UnroutableReason::BadProviderId {
                        kind: e.kind(),
                        message: e.to_string(),
                    },
                });
                continue;
            }
            Ok(t) if t.cloud() != spec.cloud => {
                unroutable.push(Unroutable {
                    node: node.name.clone(),
                    reason: UnroutableReason::OtherCloud {
                        cloud: t.cloud(),
                        programmed: spec.cloud,
                        instance: t.key(),
                    },
                });
                continue;
            }
            Ok(t) => t.key(),
        };
        for cidr in &node.pod_cidrs {
            let cidr = cidr.trunc();
            if !spec.contains(&cidr) {
                unroutable.push(Unroutable {
                    node: node.name.clone(),
                    reason: UnroutableReason::PodCidrOutsideCluster { pod_cidr: cidr },
                });
            } else if let Some(other) = claimed.get(&cidr) {
                unroutable.push(Unroutable {
                    node: node.name.clone(),
                    reason: UnroutableReason::DuplicatePodCidr {
                        pod_cidr: cidr,
                        other: (*other).to_string(),
                    },
                });
            } else {
                claimed.insert(cidr, &node.name);
                wanted.push((node.name.clone(), cidr, target.clone()));
            }
        }
    }
    (wanted, unroutable)
}

/// Decides what to change so that every managed table holds exactly one active route per
/// routable node Pod CIDR, pointing at that node's instance, without touching foreign routes.
pub fn plan(spec: &ClusterSpec, nodes: &[NodeInfo], existing: &RouteSnapshot) -> Plan {
    let (wanted, unroutable) = desired_by_node(spec, nodes);
    let known: BTreeSet<String> = nodes
        .iter()
        .filter_map(|n| n.target.as_ref().ok())
        .filter(|t| t.cloud() == spec.cloud)
        .map(|t| t.key())
        .collect();
    let tables: BTreeSet<&TableId> = existing.tables.iter().map(|t| &t.id).collect();

    // Index the listing by (table, destination); routes in unmanaged tables are not ours.
    let mut by_dest: BTreeMap<(&TableId, IpNet), Vec<&CloudRoute>> = BTreeMap::new();
    for r in existing.routes.iter().filter(|r| tables.contains(&r.table)) {
        by_dest
            .entry((&r.table, r.destination.trunc()))
            .or_default()
            .push(r);
    }

    let mut plan = Plan {
        unroutable,
        ..Plan::default()
    };
    let mut handled: BTreeSet<&CloudRoute> = BTreeSet::new();
    for table in &tables {
        for (node, cidr, target) in &wanted {
            let want = DesiredRoute {
                table: (*table).clone(),
                destination: *cidr,
                target: target.clone(),
                node: node.clone(),
            };
            let here: &[&CloudRoute] = by_dest
                .get(&(*table, *cidr))
                .map(Vec::as_slice)
                .unwrap_or_default();
            handled.extend(here.iter().copied());
            plan_destination(spec, &known, here, want, &mut plan);
        }
    }

    let wanted_cidrs: Vec<(&String, IpNet)> = wanted.iter().map(|(n, c, _)| (n, *c)).collect();
    for r in by_dest.values().flatten().filter(|r| !handled.contains(*r)) {
        if is_owned(spec, &known, r) {
            plan.delete.push((*r).clone());
        } else if let Some((node, cidr)) = wanted_cidrs
            .iter()
            // Only a more specific route shadows part of a Pod CIDR (longest prefix wins); a
            // broader one such as 0.0.0.0/0 → igw is just a fallback.
            .find(|(_, c)| c.contains(&r.destination))
        {
            plan.conflicts.push(Conflict {
                node: (*node).clone(),
                pod_cidr: *cidr,
                route: (*r).clone(),
                reason: ConflictReason::ForeignRouteOverlapsPodCidr,
            });
        }
    }

    plan.create.sort();
    plan.replace.sort();
    plan.delete.sort();
    plan.delete.dedup();
    plan.conflicts.sort();
    plan.unroutable.sort();
    plan.in_sync.sort();
    plan
}

/// One destination in one table: keep the right route, repoint an owned wrong one, or create.
fn plan_destination(
    spec: &ClusterSpec,
    known: &BTreeSet<String>,
    here: &[&CloudRoute],
    want: DesiredRoute,
    plan: &mut Plan,
) {
    let want_target = want.route_target();
    let (owned, foreign): (Vec<&CloudRoute>, Vec<&CloudRoute>) =
        here.iter().copied().partition(|r| is_owned(spec, known, r));

    let good = owned
        .iter()
        .position(|r| r.target == want_target && r.state == RouteState::Active);
    // A foreign route here is reported and never touched: it blocks our route, or (GCE allows
    // several routes with one destination) stands next to ours and wins or shares the traffic
    // by priority, ECMP on a tie.
    let blocker = foreign.first();
    if let Some(other) = blocker {
        plan.conflicts.push(Conflict {
            node: want.node.clone(),
            pod_cidr: want.destination,
            route: (*other).clone(),
            reason: ConflictReason::ForeignRouteAtPodCidr,
        });
    }
    if let Some(i) = good {
        // Extra owned routes at the same destination (GCE allows several) are stale.
        plan.delete.extend(
            owned
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, r)| (*r).clone()),
        );
        plan.in_sync.push(want);
        return;
    }
    if blocker.is_some() {
        // Never overwrite a route we do not own; the owned leftovers are still ours to clean.
        plan.delete.extend(owned.iter().map(|r| (*r).clone()));
        return;
    }
    match owned.split_first() {
        Some((first, rest)) => {
            plan.replace.push(Replacement {
                existing: (*first).clone(),
                desired: want,
            });
            plan.delete.extend(rest.iter().map(|r| (*r).clone()));
        }
        None => plan.create.push(want),
    }
}

#[cfg(test)]
mod tests;
