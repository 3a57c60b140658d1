//! The vocabulary every other module speaks: the cluster we route for, the nodes we route to, and
//! the routes as the cloud reports them. Pure data; the planner (`plan`) and the providers meet
//! here, so nothing in this file knows about Kubernetes objects or cloud SDK types.

use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

use crate::error::ConfigError;
use crate::provider_id::InstanceRef;

/// Which cloud the controller programs. A node whose providerID names another cloud is
/// unroutable rather than an error for the whole pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    Aws,
    Gce,
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cloud::Aws => "aws",
            Cloud::Gce => "gce",
        })
    }
}

/// Who carries cross-node pod traffic (DESIGN.md, "Modes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The VPC router, from routes the controller writes.
    Cloud,
    /// Each node's kernel; the controller writes no cloud routes.
    Host,
    /// Kernel routes to same-subnet peers, cloud routes for everything (the kernel wins locally).
    Hybrid,
}

impl Mode {
    /// Whether the controller programs cloud routes in this mode.
    pub fn writes_cloud_routes(self) -> bool {
        !matches!(self, Mode::Host)
    }
}

impl std::str::FromStr for Mode {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cloud" => Ok(Mode::Cloud),
            "host" => Ok(Mode::Host),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(ConfigError::UnknownMode(other.to_string())),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Cloud => "cloud",
            Mode::Host => "host",
            Mode::Hybrid => "hybrid",
        })
    }
}

/// IP family of a CIDR; dual-stack nodes get one route per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(net: &IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }
}

/// The cluster routeplane routes for. Validated at start-up, so every later use can trust it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterSpec {
    /// Cluster name: scopes route ownership (tags on AWS, name prefix and marker on GCE).
    pub name: String,
    /// Cluster CIDRs (at most one per family is usual, several are allowed if disjoint).
    pub cluster_cidrs: Vec<IpNet>,
    pub mode: Mode,
    pub cloud: Cloud,
}

impl ClusterSpec {
    /// Builds a spec, rejecting an empty or invalid name and overlapping cluster CIDRs.
    ///
    /// # Errors
    /// [`ConfigError`] naming the bad value.
    pub fn new(
        name: impl Into<String>,
        cluster_cidrs: Vec<IpNet>,
        mode: Mode,
        cloud: Cloud,
    ) -> Result<Self, ConfigError> {
        let name = name.into();
        validate_cluster_name(&name)?;
        if cluster_cidrs.is_empty() {
            return Err(ConfigError::NoClusterCidr);
        }
        let cluster_cidrs: Vec<IpNet> = cluster_cidrs.iter().map(IpNet::trunc).collect();
        for (i, a) in cluster_cidrs.iter().enumerate() {
            for b in &cluster_cidrs[i + 1..] {
                if a.contains(b) || b.contains(a) {
                    return Err(ConfigError::OverlappingClusterCidrs(*a, *b));
                }
            }
        }
        Ok(Self {
            name,
            cluster_cidrs,
            mode,
            cloud,
        })
    }

    /// The ownership rule's first clause: routeplane only touches destinations inside a
    /// cluster CIDR.
    pub fn contains(&self, net: &IpNet) -> bool {
        self.cluster_cidrs.iter().any(|c| c.contains(net))
    }
}

/// Cluster names end up in AWS tag keys and GCE resource names, so keep them DNS-label-like.
fn validate_cluster_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::BadClusterName(name.to_string()))
    }
}

/// What the controller knows about one Node: only the fields routing needs, so a 5,000-node
/// store stays small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub uid: String,
    /// `spec.podCIDRs` (falling back to `spec.podCIDR`), one per family at most in practice.
    pub pod_cidrs: Vec<IpNet>,
    /// The instance parsed from `spec.providerID`, or why it could not be.
    pub target: Result<InstanceRef, crate::provider_id::ProviderIdError>,
    /// InternalIP addresses, for host mode peers.
    pub internal_ips: Vec<std::net::IpAddr>,
    pub ready: bool,
}

/// A route table (AWS) or network (GCE) that routeplane manages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TableId(pub String);

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a cloud route sends traffic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum RouteTarget {
    /// An instance, by its canonical key (see [`InstanceRef::key`]): AWS `i-…`, GCE
    /// `projects/p/zones/z/instances/n`.
    Instance(String),
    /// Anything else: gateway, NAT, peering, VPN, a bare ENI… routeplane never writes these.
    Other(String),
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteTarget::Instance(id) | RouteTarget::Other(id) => f.write_str(id),
        }
    }
}

/// Route state as the cloud reports it. AWS marks a route `blackhole` once its target is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteState {
    Active,
    Blackhole,
}

/// One route as listed from the cloud.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CloudRoute {
    pub table: TableId,
    pub destination: IpNet,
    pub target: RouteTarget,
    pub state: RouteState,
    /// The cloud's name for the route (GCE); AWS routes are named by table + destination.
    pub name: Option<String>,
    /// The provider's verdict that the route carries this cluster's mark (GCE: name prefix and
    /// description marker; AWS: the target instance is tagged for the cluster). Together with
    /// the cluster CIDR check in `plan`, this is what makes a route ours to change.
    pub claimed: bool,
}

/// A route routeplane wants: one per node Pod CIDR per managed table.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DesiredRoute {
    pub table: TableId,
    pub destination: IpNet,
    /// The node's instance key ([`InstanceRef::key`]).
    pub target: String,
    pub node: String,
}

impl DesiredRoute {
    pub fn route_target(&self) -> RouteTarget {
        RouteTarget::Instance(self.target.clone())
    }
}

/// A managed table and what the cloud allows in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableInfo {
    pub id: TableId,
    /// The route limit of this table, when the provider knows it (AWS: per table, GCE: per project).
    pub route_limit: Option<usize>,
}

/// Everything one list pass returned: the managed tables and every route in them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RouteSnapshot {
    pub tables: Vec<TableInfo>,
    pub routes: Vec<CloudRoute>,
}
