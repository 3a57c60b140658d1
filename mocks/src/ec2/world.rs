//! The state of the mock EC2: VPCs, subnets, instances with their network interfaces, and route
//! tables with their routes. Seeded from YAML/JSON or built in code, then shared between the HTTP
//! actions (in [`actions`](super::actions)) and tests through a lock-guarded [`WorldHandle`].
//!
//! Modelled like EC2: a route to an instance is stored as the instance's ENI and remembers the
//! instance, so it is reported with both `instanceId` and `networkInterfaceId`; a route whose ENI
//! is gone or whose instance is not running is a `blackhole`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::error::Error;
use crate::common::world_file::{self, WorldFile};

/// EC2's default quota of non-propagated routes per route table, per address family, as
/// routeplane assumes it (AWS raised its default to 500 in 2025; up to 1000 on request).
pub const DEFAULT_ROUTE_LIMIT: usize = 50;

/// The account ID reported as `ownerId`.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

fn default_account() -> String {
    DEFAULT_ACCOUNT_ID.to_string()
}
fn default_route_limit() -> usize {
    DEFAULT_ROUTE_LIMIT
}
fn yes() -> bool {
    true
}

/// Tags as EC2 keeps them: unique keys, each with a (possibly empty) value.
pub type Tags = BTreeMap<String, String>;

/// The whole mocked region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    /// Reported as `ownerId` and used in authorization messages.
    #[serde(default = "default_account")]
    pub account_id: String,
    /// Non-propagated routes allowed per table and address family (`RouteLimitExceeded` past it).
    #[serde(default = "default_route_limit")]
    pub route_limit: usize,
    /// Whether the `local` route counts toward `route_limit`. AWS's quota counts every
    /// non-propagated entry of a table, and the local route is one, so it counts by default.
    #[serde(default = "yes")]
    pub local_route_counts: bool,
    /// VPCs.
    #[serde(default)]
    pub vpcs: Vec<Vpc>,
    /// Subnets.
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    /// Instances, running or terminated.
    #[serde(default)]
    pub instances: Vec<Instance>,
    /// Route tables.
    #[serde(default)]
    pub route_tables: Vec<RouteTable>,
    /// Actions (e.g. `CreateRoute`) that answer `UnauthorizedOperation`, to test IAM failures.
    #[serde(default)]
    pub denied_actions: BTreeSet<String>,
    #[serde(skip)]
    next_id: u64,
}

impl Default for World {
    fn default() -> Self {
        Self {
            account_id: default_account(),
            route_limit: DEFAULT_ROUTE_LIMIT,
            local_route_counts: true,
            vpcs: Vec::new(),
            subnets: Vec::new(),
            instances: Vec::new(),
            route_tables: Vec::new(),
            denied_actions: BTreeSet::new(),
            next_id: 0,
        }
    }
}

/// A VPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    /// `vpc-…`.
    pub id: String,
    /// The primary IPv4 CIDR; every table of the VPC has a `local` route for it.
    pub cidr: IpNet,
    /// An optional IPv6 CIDR, which adds an IPv6 `local` route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_cidr: Option<IpNet>,
    /// Tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: Tags,
}

/// A subnet, in one VPC and one availability zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnet {
    /// `subnet-…`.
    pub id: String,
    /// The VPC.
    pub vpc_id: String,
    /// The IPv4 CIDR; instances get addresses from it.
    pub cidr: IpNet,
    /// The availability zone, e.g. `us-east-1a`.
    pub az: String,
    /// Tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: Tags,
}

/// The lifecycle states the mock models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    /// Running: routes to it are active.
    #[default]
    Running,
    /// Stopped: routes to it are blackholes until it runs again.
    Stopped,
    /// Terminated: its ENIs are deleted and routes to it are blackholes for good.
    Terminated,
}

impl InstanceState {
    /// EC2's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Terminated => "terminated",
        }
    }
    /// EC2's numeric state code.
    pub fn code(self) -> u16 {
        match self {
            Self::Running => 16,
            Self::Stopped => 80,
            Self::Terminated => 48,
        }
    }
}

/// An instance and its network interfaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// `i-…`.
    pub id: String,
    /// The subnet of the primary interface.
    pub subnet_id: String,
    /// The primary private IPv4 address; allocated from the subnet when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<IpAddr>,
    /// State.
    #[serde(default)]
    pub state: InstanceState,
    /// Tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: Tags,
    /// Interfaces; the one at device index 0 is the primary. One is created when none is given.
    #[serde(default)]
    pub network_interfaces: Vec<NetworkInterface>,
}

impl Instance {
    /// The primary interface (device index 0), if the instance still has one.
    pub fn primary_eni(&self) -> Option<&NetworkInterface> {
        self.network_interfaces.iter().find(|e| e.device_index == 0)
    }
    /// The instance's source/dest check, which is its primary interface's.
    pub fn source_dest_check(&self) -> bool {
        self.primary_eni().is_none_or(|e| e.source_dest_check)
    }
}

/// An elastic network interface attached to an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkInterface {
    /// `eni-…`; generated when empty.
    #[serde(default)]
    pub id: String,
    /// The subnet; the instance's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// The private IPv4 address; allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<IpAddr>,
    /// 0 for the primary interface.
    #[serde(default)]
    pub device_index: u32,
    /// EC2 turns this on by default; routers must turn it off.
    #[serde(default = "yes")]
    pub source_dest_check: bool,
}

/// A route table with its associations and routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    /// `rtb-…`.
    pub id: String,
    /// The VPC.
    pub vpc_id: String,
    /// Whether this is the VPC's main table (used by subnets with no explicit association).
    #[serde(default)]
    pub main: bool,
    /// Subnets explicitly associated with this table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: Tags,
    /// Routes; the `local` routes are added from the VPC when missing.
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// Where a route sends traffic. In a world file: `local`, `{gateway: igw-1}`,
/// `{nat_gateway: nat-1}`, `{vpc_peering_connection: pcx-1}`, `{network_interface: eni-1}` or
/// `{instance: i-1}` (stored as the instance's primary ENI, like EC2 does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The VPC's own CIDR.
    Local,
    /// An internet or virtual private gateway (`igw-`, `vgw-`).
    Gateway(String),
    /// A NAT gateway (`nat-`).
    NatGateway(String),
    /// A peering connection (`pcx-`).
    VpcPeeringConnection(String),
    /// A network interface (`eni-`).
    NetworkInterface(String),
    /// An instance; resolved to its primary interface when the route is stored.
    Instance(String),
}

/// How a route came to be, as EC2 reports it in `origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RouteOrigin {
    /// Added by EC2 when the table was created (the local route).
    CreateRouteTable,
    /// Added by CreateRoute (or ReplaceRoute).
    #[default]
    CreateRoute,
}

impl RouteOrigin {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateRouteTable => "CreateRouteTable",
            Self::CreateRoute => "CreateRoute",
        }
    }
}

/// One route of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Destination CIDR (IPv4 or IPv6).
    pub destination: IpNet,
    /// Target. Written as a one-key map (`{gateway: igw-1}`) or `local`, in YAML and JSON alike
    /// (serde_yaml's default would be a YAML tag, which JSON cannot express).
    #[serde(with = "serde_yaml::with::singleton_map")]
    pub target: Target,
    /// Origin.
    #[serde(default)]
    pub origin: RouteOrigin,
    /// The instance the target ENI belonged to when the route was written; reported as
    /// `instanceId` even after the instance is gone, like EC2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

/// Whether a route can deliver traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteState {
    /// The target exists and runs.
    Active,
    /// The target is gone or stopped; traffic is dropped.
    Blackhole,
}

impl RouteState {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Blackhole => "blackhole",
        }
    }
}

/// A route as a reader sees it: with its computed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteView {
    /// Destination CIDR.
    pub destination: IpNet,
    /// Target.
    pub target: Target,
    /// Instance behind the target ENI, if any.
    pub instance_id: Option<String>,
    /// State.
    pub state: RouteState,
    /// Origin.
    pub origin: RouteOrigin,
}

/// A deterministic, real-looking ID suffix (17 hex digits) derived from `parts`.
pub(crate) fn derived_id(prefix: &str, parts: &[&str]) -> String {
    // FNV-1a: stable across runs, so association IDs survive a world reload.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{prefix}-{h:017x}")
}

impl WorldFile for World {
    fn check(&mut self) -> Result<(), Error> {
        self.normalise()
    }
}

impl World {
    /// An empty world with EC2's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a world from YAML or JSON (JSON is YAML) and checks it; see `docs/mocks.md`.
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        world_file::parse(text)
    }

    /// Reads a world file (`.yaml`, `.yml` or `.json`).
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        world_file::load(path.as_ref())
    }

    /// A small world for the binary's default: one VPC, three subnets in three AZs, a table per
    /// subnet (the first one main) and one instance per subnet.
    pub fn example() -> Self {
        let mut w = Self::new();
        let build = |w: &mut World| -> Result<(), Error> {
            w.add_vpc("vpc-0example0000000001", "10.0.0.0/16")?;
            for (i, az) in ["a", "b", "c"].iter().enumerate() {
                let subnet = format!("subnet-0example000000000{}", i + 1);
                w.add_subnet(
                    &subnet,
                    "vpc-0example0000000001",
                    &format!("10.0.{}.0/24", i + 1),
                    &format!("us-east-1{az}"),
                )?;
                let rtb = format!("rtb-0example000000000{}", i + 1);
                w.add_route_table(&rtb, "vpc-0example0000000001", i == 0, &[subnet.as_str()])?;
                w.tag(&rtb, "kubernetes.io/cluster/example", "owned")?;
                w.add_route(
                    &rtb,
                    "0.0.0.0/0",
                    Target::Gateway("igw-0example000000001".into()),
                )?;
                let inst = format!("i-0example00000000{:02}", i + 1);
                w.add_instance(&inst, &subnet)?;
                w.tag(&inst, "Name", &format!("node-{}", i + 1))?;
            }
            Ok(())
        };
        // The example is static and valid; an error here would be a bug caught by its test.
        if build(&mut w).is_err() {
            return Self::new();
        }
        w
    }

    fn fresh_id(&mut self, prefix: &str) -> String {
        loop {
            self.next_id += 1;
            let id = format!("{prefix}-{:017x}", self.next_id);
            if !self.id_exists(&id) {
                return id;
            }
        }
    }

    fn id_exists(&self, id: &str) -> bool {
        self.vpcs.iter().any(|v| v.id == id)
            || self.subnets.iter().any(|s| s.id == id)
            || self.route_tables.iter().any(|t| t.id == id)
            || self
                .instances
                .iter()
                .any(|i| i.id == id || i.network_interfaces.iter().any(|e| e.id == id))
    }

    /// Adds a VPC.
    pub fn add_vpc(&mut self, id: &str, cidr: &str) -> Result<&mut Self, Error> {
        let cidr = parse_net(cidr)?;
        self.vpcs.push(Vpc {
            id: id.into(),
            cidr,
            ipv6_cidr: None,
            tags: Tags::new(),
        });
        self.normalise()?;
        Ok(self)
    }

    /// Gives a VPC an IPv6 CIDR; its tables get an IPv6 `local` route.
    pub fn set_vpc_ipv6(&mut self, vpc_id: &str, cidr: &str) -> Result<&mut Self, Error> {
        let cidr = parse_net(cidr)?;
        let vpc = self
            .vpcs
            .iter_mut()
            .find(|v| v.id == vpc_id)
            .ok_or_else(|| Error::InvalidWorld(format!("no VPC {vpc_id}")))?;
        vpc.ipv6_cidr = Some(cidr);
        self.normalise()?;
        Ok(self)
    }

    /// Adds a subnet.
    pub fn add_subnet(
        &mut self,
        id: &str,
        vpc_id: &str,
        cidr: &str,
        az: &str,
    ) -> Result<&mut Self, Error> {
        self.subnets.push(Subnet {
            id: id.into(),
            vpc_id: vpc_id.into(),
            cidr: parse_net(cidr)?,
            az: az.into(),
            tags: Tags::new(),
        });
        self.normalise()?;
        Ok(self)
    }

    /// Adds a running instance with a primary ENI and an address from the subnet.
    pub fn add_instance(&mut self, id: &str, subnet_id: &str) -> Result<&mut Self, Error> {
        self.instances.push(Instance {
            id: id.into(),
            subnet_id: subnet_id.into(),
            private_ip: None,
            state: InstanceState::Running,
            tags: Tags::new(),
            network_interfaces: Vec::new(),
        });
        self.normalise()?;
        Ok(self)
    }

    /// Attaches a secondary ENI (next device index) to an instance; returns its ID.
    pub fn add_secondary_eni(&mut self, instance_id: &str) -> Result<String, Error> {
        let eni_id = self.fresh_id("eni");
        let inst = self
            .instances
            .iter_mut()
            .find(|i| i.id == instance_id)
            .ok_or_else(|| Error::InvalidWorld(format!("no instance {instance_id}")))?;
        let next = inst
            .network_interfaces
            .iter()
            .map(|e| e.device_index + 1)
            .max()
            .unwrap_or(0);
        inst.network_interfaces.push(NetworkInterface {
            id: eni_id.clone(),
            subnet_id: None,
            private_ip: None,
            device_index: next,
            source_dest_check: true,
        });
        self.normalise()?;
        Ok(eni_id)
    }

    /// Adds a route table (with its `local` routes), optionally main, associated with `subnets`.
    pub fn add_route_table(
        &mut self,
        id: &str,
        vpc_id: &str,
        main: bool,
        subnets: &[&str],
    ) -> Result<&mut Self, Error> {
        self.route_tables.push(RouteTable {
            id: id.into(),
            vpc_id: vpc_id.into(),
            main,
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            tags: Tags::new(),
            routes: Vec::new(),
        });
        self.normalise()?;
        Ok(self)
    }

    /// Sets a tag on any resource by ID (VPC, subnet, instance, route table).
    pub fn tag(&mut self, resource_id: &str, key: &str, value: &str) -> Result<&mut Self, Error> {
        let tags = self
            .tags_mut(resource_id)
            .ok_or_else(|| Error::InvalidWorld(format!("no resource {resource_id} to tag")))?;
        tags.insert(key.into(), value.into());
        Ok(self)
    }

    /// The tags of a resource, if it exists and can be tagged.
    pub fn tags_mut(&mut self, resource_id: &str) -> Option<&mut Tags> {
        if let Some(v) = self.vpcs.iter_mut().find(|v| v.id == resource_id) {
            return Some(&mut v.tags);
        }
        if let Some(s) = self.subnets.iter_mut().find(|s| s.id == resource_id) {
            return Some(&mut s.tags);
        }
        if let Some(i) = self.instances.iter_mut().find(|i| i.id == resource_id) {
            return Some(&mut i.tags);
        }
        self.route_tables
            .iter_mut()
            .find(|t| t.id == resource_id)
            .map(|t| &mut t.tags)
    }

    /// Adds a route directly, bypassing the API's checks and limits (e.g. a foreign route, or a
    /// route to a non-existent ENI that shows as a blackhole). Replaces a route to the same CIDR.
    pub fn add_route(
        &mut self,
        table_id: &str,
        destination: &str,
        target: Target,
    ) -> Result<&mut Self, Error> {
        let destination = parse_net(destination)?;
        let (target, instance_id) = self.resolve_target(target);
        let table = self
            .route_tables
            .iter_mut()
            .find(|t| t.id == table_id)
            .ok_or_else(|| Error::InvalidWorld(format!("no route table {table_id}")))?;
        table.routes.retain(|r| r.destination != destination);
        table.routes.push(Route {
            destination,
            target,
            origin: RouteOrigin::CreateRoute,
            instance_id,
        });
        Ok(self)
    }

    /// Points an existing route somewhere else, as a person with console access might.
    pub fn hijack_route(
        &mut self,
        table_id: &str,
        destination: &str,
        target: Target,
    ) -> Result<&mut Self, Error> {
        let dest = parse_net(destination)?;
        let exists = self
            .route_table(table_id)
            .is_some_and(|t| t.routes.iter().any(|r| r.destination == dest));
        if !exists {
            return Err(Error::InvalidWorld(format!(
                "no route {destination} in {table_id}"
            )));
        }
        self.add_route(table_id, destination, target)
    }

    /// Removes a route without going through the API.
    pub fn remove_route(&mut self, table_id: &str, destination: &str) -> Result<bool, Error> {
        let dest = parse_net(destination)?;
        let table = self
            .route_tables
            .iter_mut()
            .find(|t| t.id == table_id)
            .ok_or_else(|| Error::InvalidWorld(format!("no route table {table_id}")))?;
        let before = table.routes.len();
        table.routes.retain(|r| r.destination != dest);
        Ok(table.routes.len() != before)
    }

    /// Terminates an instance: its ENIs are deleted, so routes to it turn into blackholes.
    /// Returns the previous state, or `None` if there is no such instance.
    pub fn terminate_instance(&mut self, id: &str) -> Option<InstanceState> {
        let inst = self.instances.iter_mut().find(|i| i.id == id)?;
        let prev = inst.state;
        inst.state = InstanceState::Terminated;
        inst.network_interfaces.clear();
        Some(prev)
    }

    /// A route table by ID.
    pub fn route_table(&self, id: &str) -> Option<&RouteTable> {
        self.route_tables.iter().find(|t| t.id == id)
    }

    /// An instance by ID.
    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// An ENI by ID, with the instance it is attached to.
    pub fn eni(&self, id: &str) -> Option<(&Instance, &NetworkInterface)> {
        self.instances.iter().find_map(|i| {
            i.network_interfaces
                .iter()
                .find(|e| e.id == id)
                .map(|e| (i, e))
        })
    }

    /// A subnet by ID.
    pub fn subnet(&self, id: &str) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.id == id)
    }

    /// The state of a route, computed from its target.
    pub fn route_state(&self, route: &Route) -> RouteState {
        let running = |i: &Instance| i.state == InstanceState::Running;
        let alive = match &route.target {
            Target::NetworkInterface(eni) => self.eni(eni).is_some_and(|(i, _)| running(i)),
            Target::Instance(id) => self.instance(id).is_some_and(running),
            _ => true,
        };
        if alive {
            RouteState::Active
        } else {
            RouteState::Blackhole
        }
    }

    /// A table's routes with their states; `None` if there is no such table.
    pub fn routes(&self, table_id: &str) -> Option<Vec<RouteView>> {
        let table = self.route_table(table_id)?;
        Some(
            table
                .routes
                .iter()
                .map(|r| RouteView {
                    destination: r.destination,
                    target: r.target.clone(),
                    instance_id: r.instance_id.clone(),
                    state: self.route_state(r),
                    origin: r.origin,
                })
                .collect(),
        )
    }

    /// Stores an instance target as its primary ENI and remembers the instance behind an ENI.
    pub(crate) fn resolve_target(&self, target: Target) -> (Target, Option<String>) {
        match target {
            Target::Instance(id) => match self.instance(&id).and_then(Instance::primary_eni) {
                Some(eni) => (Target::NetworkInterface(eni.id.clone()), Some(id)),
                None => (Target::Instance(id.clone()), Some(id)),
            },
            Target::NetworkInterface(eni) => {
                let inst = self.eni(&eni).map(|(i, _)| i.id.clone());
                (Target::NetworkInterface(eni), inst)
            }
            other => (other, None),
        }
    }

    /// Checks references and fills in what a world file may leave out: primary ENIs, addresses,
    /// ENI IDs and `local` routes. Idempotent.
    pub fn normalise(&mut self) -> Result<(), Error> {
        let mut seen = BTreeSet::new();
        let all_ids = self
            .vpcs
            .iter()
            .map(|v| &v.id)
            .chain(self.subnets.iter().map(|s| &s.id))
            .chain(self.instances.iter().map(|i| &i.id))
            .chain(self.route_tables.iter().map(|t| &t.id));
        for id in all_ids {
            if !seen.insert(id.clone()) {
                return Err(Error::InvalidWorld(format!("duplicate id {id}")));
            }
        }
        for s in &self.subnets {
            if !self.vpcs.iter().any(|v| v.id == s.vpc_id) {
                return Err(Error::InvalidWorld(format!(
                    "subnet {} names unknown VPC {}",
                    s.id, s.vpc_id
                )));
            }
        }
        for t in &self.route_tables {
            if !self.vpcs.iter().any(|v| v.id == t.vpc_id) {
                return Err(Error::InvalidWorld(format!(
                    "route table {} names unknown VPC {}",
                    t.id, t.vpc_id
                )));
            }
            for s in &t.subnets {
                match self.subnet(s) {
                    Some(sub) if sub.vpc_id == t.vpc_id => {}
                    _ => {
                        return Err(Error::InvalidWorld(format!(
                            "route table {} is associated with {s}, which is not a subnet of {}",
                            t.id, t.vpc_id
                        )));
                    }
                }
            }
        }
        self.fill_instances()?;
        self.fill_local_routes();
        // Resolve `instance:` targets from world files now that ENIs exist.
        for ti in 0..self.route_tables.len() {
            for ri in 0..self.route_tables[ti].routes.len() {
                let route = &self.route_tables[ti].routes[ri];
                let unresolved = match route.target {
                    Target::Instance(_) => true,
                    Target::NetworkInterface(_) => route.instance_id.is_none(),
                    _ => false,
                };
                if unresolved {
                    let (target, inst) = self.resolve_target(route.target.clone());
                    let r = &mut self.route_tables[ti].routes[ri];
                    r.target = target;
                    if r.instance_id.is_none() {
                        r.instance_id = inst;
                    }
                }
            }
        }
        Ok(())
    }

    fn fill_instances(&mut self) -> Result<(), Error> {
        for idx in 0..self.instances.len() {
            let subnet_id = self.instances[idx].subnet_id.clone();
            if self.subnet(&subnet_id).is_none() {
                return Err(Error::InvalidWorld(format!(
                    "instance {} names unknown subnet {subnet_id}",
                    self.instances[idx].id
                )));
            }
            if self.instances[idx].state == InstanceState::Terminated {
                continue;
            }
            if self.instances[idx].network_interfaces.is_empty() {
                let id = self.fresh_id("eni");
                let ip = self.instances[idx].private_ip;
                self.instances[idx]
                    .network_interfaces
                    .push(NetworkInterface {
                        id,
                        subnet_id: None,
                        private_ip: ip,
                        device_index: 0,
                        source_dest_check: true,
                    });
            }
            for e in 0..self.instances[idx].network_interfaces.len() {
                if self.instances[idx].network_interfaces[e].id.is_empty() {
                    self.instances[idx].network_interfaces[e].id = self.fresh_id("eni");
                }
                let eni_subnet = self.instances[idx].network_interfaces[e]
                    .subnet_id
                    .clone()
                    .unwrap_or_else(|| subnet_id.clone());
                if self.instances[idx].network_interfaces[e]
                    .private_ip
                    .is_none()
                {
                    let ip = self.allocate_ip(&eni_subnet)?;
                    self.instances[idx].network_interfaces[e].private_ip = Some(ip);
                }
            }
            let primary_ip = self.instances[idx].primary_eni().and_then(|e| e.private_ip);
            self.instances[idx].private_ip = primary_ip;
        }
        Ok(())
    }

    fn allocate_ip(&self, subnet_id: &str) -> Result<IpAddr, Error> {
        let subnet = self
            .subnet(subnet_id)
            .ok_or_else(|| Error::InvalidWorld(format!("unknown subnet {subnet_id}")))?;
        let used: BTreeSet<IpAddr> = self
            .instances
            .iter()
            .flat_map(|i| i.network_interfaces.iter().filter_map(|e| e.private_ip))
            .collect();
        // Like EC2, leave the first addresses of the subnet to the VPC router and DNS.
        subnet
            .cidr
            .hosts()
            .skip(9)
            .find(|ip| !used.contains(ip))
            .ok_or_else(|| Error::InvalidWorld(format!("subnet {subnet_id} has no free address")))
    }

    fn fill_local_routes(&mut self) {
        for t in &mut self.route_tables {
            let Some(vpc) = self.vpcs.iter().find(|v| v.id == t.vpc_id) else {
                continue;
            };
            for cidr in std::iter::once(vpc.cidr).chain(vpc.ipv6_cidr) {
                if !t.routes.iter().any(|r| r.destination == cidr) {
                    t.routes.insert(
                        0,
                        Route {
                            destination: cidr,
                            target: Target::Local,
                            origin: RouteOrigin::CreateRouteTable,
                            instance_id: None,
                        },
                    );
                }
            }
        }
    }
}

fn parse_net(s: &str) -> Result<IpNet, Error> {
    s.parse::<IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| Error::InvalidWorld(format!("{s} is not a CIDR")))
}

/// A shared, lock-guarded world: what the server reads and tests edit while it runs. Never
/// hold the guard across an `.await`; use [`WorldHandle::read`] and [`WorldHandle::edit`].
#[derive(Debug, Clone, Default)]
pub struct WorldHandle {
    inner: Arc<Mutex<World>>,
}

impl WorldHandle {
    /// Wraps a world.
    pub fn new(world: World) -> Self {
        Self {
            inner: Arc::new(Mutex::new(world)),
        }
    }

    /// A copy of the whole world.
    pub fn snapshot(&self) -> World {
        self.inner.lock().clone()
    }

    /// Reads under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        f(&self.inner.lock())
    }

    /// Edits under the lock.
    pub fn edit<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.inner.lock())
    }

    /// A table's routes with their states.
    pub fn routes(&self, table_id: &str) -> Option<Vec<RouteView>> {
        self.read(|w| w.routes(table_id))
    }

    /// Terminates an instance (its routes turn into blackholes).
    pub fn terminate_instance(&self, id: &str) -> Option<InstanceState> {
        self.edit(|w| w.terminate_instance(id))
    }

    /// Points an existing route elsewhere, bypassing the API.
    pub fn hijack_route(
        &self,
        table_id: &str,
        destination: &str,
        target: Target,
    ) -> Result<(), Error> {
        self.edit(|w| w.hijack_route(table_id, destination, target).map(|_| ()))
    }

    /// Adds a route, bypassing the API (foreign routes, blackholes).
    pub fn add_route(
        &self,
        table_id: &str,
        destination: &str,
        target: Target,
    ) -> Result<(), Error> {
        self.edit(|w| w.add_route(table_id, destination, target).map(|_| ()))
    }

    /// Makes `action` answer `UnauthorizedOperation` (or lifts that with `denied = false`).
    pub fn set_denied(&self, action: &str, denied: bool) {
        self.edit(|w| {
            if denied {
                w.denied_actions.insert(action.to_string());
            } else {
                w.denied_actions.remove(action);
            }
        });
    }

    /// Changes the per-table route limit.
    pub fn set_route_limit(&self, limit: usize) {
        self.edit(|w| w.route_limit = limit);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn example_world_has_local_routes_enis_and_addresses() {
        let w = World::example();
        assert_eq!(w.route_tables.len(), 3);
        let routes = w.routes("rtb-0example0000000001").unwrap();
        assert_eq!(routes[0].target, Target::Local);
        assert_eq!(routes[0].origin, RouteOrigin::CreateRouteTable);
        let i = w.instance("i-0example0000000001").unwrap();
        assert_eq!(i.network_interfaces.len(), 1);
        assert_eq!(i.private_ip, Some("10.0.1.10".parse().unwrap()));
    }

    #[test]
    fn route_to_terminated_instance_becomes_blackhole() {
        let mut w = World::example();
        w.add_route(
            "rtb-0example0000000001",
            "10.244.1.0/24",
            Target::Instance("i-0example0000000002".into()),
        )
        .unwrap();
        let find = |w: &World| {
            w.routes("rtb-0example0000000001")
                .unwrap()
                .into_iter()
                .find(|r| r.destination.to_string() == "10.244.1.0/24")
                .unwrap()
        };
        let r = find(&w);
        assert!(matches!(r.target, Target::NetworkInterface(_)));
        assert_eq!(r.instance_id.as_deref(), Some("i-0example0000000002"));
        assert_eq!(r.state, RouteState::Active);
        w.terminate_instance("i-0example0000000002");
        assert_eq!(find(&w).state, RouteState::Blackhole);
    }

    #[test]
    fn world_file_is_checked_and_filled_in() {
        let w = World::from_yaml(
            r#"
vpcs: [{id: vpc-1, cidr: 10.0.0.0/16, ipv6_cidr: "2600:1f18::/56"}]
subnets: [{id: subnet-1, vpc_id: vpc-1, cidr: 10.0.1.0/24, az: us-east-1a}]
instances: [{id: i-1, subnet_id: subnet-1, tags: {Name: n1}}]
route_tables:
  - id: rtb-1
    vpc_id: vpc-1
    main: true
    routes:
      - {destination: 10.244.0.0/24, target: {instance: i-1}}
"#,
        )
        .unwrap();
        let routes = w.routes("rtb-1").unwrap();
        assert_eq!(routes.len(), 3, "two local routes and one to the instance");
        assert!(
            World::from_yaml("subnets: [{id: s, vpc_id: nope, cidr: 10.0.0.0/24, az: a}]").is_err()
        );
        let json = r#"{"vpcs": [{"id": "vpc-1", "cidr": "10.0.0.0/16"}],
            "route_tables": [{"id": "rtb-1", "vpc_id": "vpc-1", "routes": [
                {"destination": "0.0.0.0/0", "target": {"nat_gateway": "nat-1"}},
                {"destination": "10.1.0.0/16", "target": "local"}]}]}"#;
        let w = World::from_yaml(json).unwrap();
        assert_eq!(w.routes("rtb-1").unwrap().len(), 3);
        let round = World::from_yaml(&serde_yaml::to_string(&w).unwrap()).unwrap();
        assert_eq!(round.route_tables, w.route_tables);
    }
}
