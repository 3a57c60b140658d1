//! The mocked Compute Engine project: networks, zones, instances (with `canIpForward` and
//! network interfaces) and global routes, seeded from code or a YAML/JSON world file. Names
//! are the keys, as in GCE; ids and creation timestamps are assigned when absent.

use std::collections::BTreeSet;
use std::path::Path;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::error::Error;
use super::links::Link;
use crate::common::world_file::{self, WorldFile};

/// The project the mock serves when none is set.
pub const DEFAULT_PROJECT: &str = "demo-project";
/// Routes allowed per network when none is set: GCE's default `ROUTES` quota (250 per
/// project; see docs/mocks.md for why the mock counts it per network).
pub const DEFAULT_ROUTE_QUOTA: usize = 250;
/// Priority GCE gives a route inserted without one.
pub const DEFAULT_PRIORITY: u32 = 1000;

fn default_project() -> String {
    DEFAULT_PROJECT.into()
}
fn default_quota() -> usize {
    DEFAULT_ROUTE_QUOTA
}
fn default_priority() -> u32 {
    DEFAULT_PRIORITY
}
fn default_nic() -> String {
    "nic0".into()
}
fn running() -> String {
    "RUNNING".into()
}
fn default_machine_type() -> String {
    "e2-medium".into()
}

/// The whole mocked project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GceWorld {
    /// The project id every path names (`projects/<project>/…`).
    #[serde(default = "default_project")]
    pub project: String,
    /// The project number, reported by `projects.get` and in rate-limit messages.
    #[serde(default)]
    pub project_number: u64,
    /// Routes allowed per network, counting every route of the network (QUOTA_EXCEEDED past it).
    #[serde(default = "default_quota")]
    pub route_quota: usize,
    /// VPC networks.
    #[serde(default)]
    pub networks: Vec<Network>,
    /// Zones beyond those the instances live in (e.g. for `zones.list`).
    #[serde(default)]
    pub zones: Vec<String>,
    /// VM instances.
    #[serde(default)]
    pub instances: Vec<Instance>,
    /// Global routes, including foreign ones (other tools, other clusters).
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Methods (e.g. `compute.routes.insert`) that answer 403 `forbidden`, to test IAM failures.
    #[serde(default)]
    pub denied_methods: BTreeSet<String>,
    #[serde(skip)]
    next_id: u64,
}

impl Default for GceWorld {
    fn default() -> Self {
        Self {
            project: default_project(),
            project_number: 0,
            route_quota: DEFAULT_ROUTE_QUOTA,
            networks: Vec::new(),
            zones: Vec::new(),
            instances: Vec::new(),
            routes: Vec::new(),
            denied_methods: BTreeSet::new(),
            next_id: 0,
        }
    }
}

/// A VPC network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Name, e.g. `default`.
    pub name: String,
    /// Numeric id; assigned when 0.
    #[serde(default)]
    pub id: u64,
    /// Whether subnets are created per region automatically (auto-mode network).
    #[serde(default)]
    pub auto_create_subnetworks: bool,
    /// Creation time (RFC 3339); set when empty.
    #[serde(default)]
    pub creation_timestamp: String,
}

/// A VM instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// Name, unique per zone.
    pub name: String,
    /// Zone, e.g. `us-central1-a`.
    pub zone: String,
    /// Whether the instance may send and receive packets for other addresses; GCE drops
    /// routed traffic to an instance without it.
    #[serde(default)]
    pub can_ip_forward: bool,
    /// `RUNNING`, `TERMINATED`, …
    #[serde(default = "running")]
    pub status: String,
    /// Machine type name.
    #[serde(default = "default_machine_type")]
    pub machine_type: String,
    /// Network interfaces; `nic0` first.
    #[serde(default)]
    pub network_interfaces: Vec<NetworkInterface>,
    /// Numeric id; assigned when 0.
    #[serde(default)]
    pub id: u64,
    /// Creation time (RFC 3339); set when empty.
    #[serde(default)]
    pub creation_timestamp: String,
}

/// One network interface of an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkInterface {
    /// `nic0`, `nic1`, …
    #[serde(default = "default_nic")]
    pub name: String,
    /// The network's name.
    pub network: String,
    /// The primary internal IPv4 address.
    pub network_ip: String,
    /// An internal IPv6 address (dual-stack interface), if any.
    #[serde(default)]
    pub ipv6_address: Option<String>,
}

/// Where a route sends traffic. Exactly one per route, as in GCE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NextHop {
    /// An instance (`nextHopInstance`), named by zone and name in the world's project.
    Instance {
        /// Zone.
        zone: String,
        /// Instance name.
        name: String,
    },
    /// An internal IP address (`nextHopIp`).
    Ip(String),
    /// A gateway (`nextHopGateway`); only `default-internet-gateway` exists.
    Gateway(String),
    /// An internal passthrough load balancer's forwarding rule URL (`nextHopIlb`).
    Ilb(String),
    /// A VPN tunnel URL (`nextHopVpnTunnel`).
    VpnTunnel(String),
}

impl NextHop {
    /// An instance next hop.
    pub fn instance(zone: &str, name: &str) -> Self {
        Self::Instance {
            zone: zone.into(),
            name: name.into(),
        }
    }
    /// The default internet gateway.
    pub fn internet() -> Self {
        Self::Gateway("default-internet-gateway".into())
    }
}

/// A global route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Name, unique in the project.
    pub name: String,
    /// The network's name.
    #[serde(default = "default_network")]
    pub network: String,
    /// Destination CIDR (IPv4 or IPv6).
    pub dest_range: String,
    /// Where it sends traffic: `{instance: {zone, name}}`, `{ip: …}`, `{gateway: …}`, …
    #[serde(with = "serde_yaml::with::singleton_map")]
    pub next_hop: NextHop,
    /// 0–65535, lower wins.
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Free text; routeplane marks its routes here.
    #[serde(default)]
    pub description: String,
    /// Instance tags the route applies to; empty means every instance.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Numeric id; assigned when 0.
    #[serde(default)]
    pub id: u64,
    /// Creation time (RFC 3339); set when empty.
    #[serde(default)]
    pub creation_timestamp: String,
}

fn default_network() -> String {
    "default".into()
}

impl Route {
    /// A route in network `default` with priority 1000; adjust with the setters.
    pub fn new(name: &str, dest_range: &str, next_hop: NextHop) -> Self {
        Self {
            name: name.into(),
            network: default_network(),
            dest_range: dest_range.into(),
            next_hop,
            priority: DEFAULT_PRIORITY,
            description: String::new(),
            tags: Vec::new(),
            id: 0,
            creation_timestamp: String::new(),
        }
    }
    /// Sets the network (by name).
    pub fn network(mut self, network: &str) -> Self {
        self.network = network.into();
        self
    }
    /// Sets the priority.
    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = priority;
        self
    }
    /// Sets the description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.into();
        self
    }
    /// Sets the instance tags.
    pub fn tags(mut self, tags: &[&str]) -> Self {
        self.tags = tags.iter().map(|t| (*t).to_string()).collect();
        self
    }
}

/// Whether `name` is a valid GCE resource name (RFC 1035 label, at most 63 characters).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// The region of a zone (`us-central1-a` → `us-central1`).
pub fn region_of(zone: &str) -> &str {
    zone.rsplit_once('-').map_or(zone, |(r, _)| r)
}

impl WorldFile for GceWorld {
    fn check(&mut self) -> Result<(), Error> {
        self.normalise()
    }
}

impl GceWorld {
    /// An empty world for [`DEFAULT_PROJECT`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a YAML (or JSON, a subset of YAML) world document.
    ///
    /// # Errors
    /// [`Error::ParseWorld`] for bad syntax or unknown fields, [`Error::InvalidWorld`] for
    /// dangling references.
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        world_file::parse(text)
    }

    /// Loads a world file (YAML or JSON).
    ///
    /// # Errors
    /// [`Error::ReadWorld`] if the file cannot be read, else as [`GceWorld::from_yaml`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        world_file::load(path.as_ref())
    }

    /// A small example project: network `default` with its internet route, three instances in
    /// two zones (one without `canIpForward`) and a foreign route.
    pub fn example() -> Self {
        let mut w = Self::new()
            .network("default")
            .instance("us-central1-a", "node-a", "10.128.0.2", true)
            .instance("us-central1-a", "node-b", "10.128.0.3", true)
            .instance("us-central1-b", "node-c", "10.128.0.4", false)
            .route(
                Route::new("default-route-internet", "0.0.0.0/0", NextHop::internet())
                    .priority(1000),
            )
            .route(
                Route::new(
                    "vpn-onprem",
                    "192.168.0.0/16",
                    NextHop::Ip("10.128.0.250".into()),
                )
                .description("managed by the network team"),
            );
        // The example is valid by construction; normalise only assigns ids.
        let _ = w.normalise();
        w
    }

    /// Sets the project id.
    pub fn project(mut self, project: &str) -> Self {
        self.project = project.into();
        self
    }

    /// Sets the routes allowed per network.
    pub fn route_quota(mut self, quota: usize) -> Self {
        self.route_quota = quota;
        self
    }

    /// Adds a network.
    pub fn network(mut self, name: &str) -> Self {
        self.networks.push(Network {
            name: name.into(),
            id: 0,
            auto_create_subnetworks: false,
            creation_timestamp: String::new(),
        });
        self
    }

    /// Adds an instance with one interface (`nic0`) in the first network (or `default`).
    pub fn instance(self, zone: &str, name: &str, ip: &str, can_ip_forward: bool) -> Self {
        let network = self
            .networks
            .first()
            .map_or_else(default_network, |n| n.name.clone());
        self.instance_with(Instance {
            name: name.into(),
            zone: zone.into(),
            can_ip_forward,
            status: running(),
            machine_type: default_machine_type(),
            network_interfaces: vec![NetworkInterface {
                name: default_nic(),
                network,
                network_ip: ip.into(),
                ipv6_address: None,
            }],
            id: 0,
            creation_timestamp: String::new(),
        })
    }

    /// Adds a fully specified instance (several interfaces, IPv6, a status).
    pub fn instance_with(mut self, instance: Instance) -> Self {
        self.instances.push(instance);
        self
    }

    /// Adds a route (e.g. a foreign one the controller must leave alone).
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// Adds a zone with no instances.
    pub fn zone(mut self, zone: &str) -> Self {
        self.zones.push(zone.into());
        self
    }

    /// Every zone: the listed ones and those of the instances, sorted, without duplicates.
    pub fn all_zones(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .zones
            .iter()
            .cloned()
            .chain(self.instances.iter().map(|i| i.zone.clone()))
            .collect();
        set.into_iter().collect()
    }

    /// A network by name.
    pub fn find_network(&self, name: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == name)
    }

    /// An instance by zone and name.
    pub fn find_instance(&self, zone: &str, name: &str) -> Option<&Instance> {
        self.instances
            .iter()
            .find(|i| i.zone == zone && i.name == name)
    }

    /// An instance by zone and name, to edit.
    pub fn find_instance_mut(&mut self, zone: &str, name: &str) -> Option<&mut Instance> {
        self.instances
            .iter_mut()
            .find(|i| i.zone == zone && i.name == name)
    }

    /// A route by name.
    pub fn find_route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name == name)
    }

    /// Routes in a network.
    pub fn routes_in(&self, network: &str) -> usize {
        self.routes.iter().filter(|r| r.network == network).count()
    }

    /// The next free numeric id (GCE ids are large unsigned numbers).
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        1_000_000_000_000_000_000 + self.next_id * 7_919
    }

    /// The link of a next hop (`None` for hops that are plain values).
    pub fn next_hop_link(&self, hop: &NextHop) -> Option<Link> {
        match hop {
            NextHop::Instance { zone, name } => Some(Link::Instance {
                project: self.project.clone(),
                zone: zone.clone(),
                name: name.clone(),
            }),
            NextHop::Gateway(name) => Some(Link::Gateway {
                project: self.project.clone(),
                name: name.clone(),
            }),
            _ => None,
        }
    }

    /// Adds one instance after the checks [`Self::normalise`] makes of it, without re-checking
    /// (and cloning) the whole world: the bench's churn adds instances to 5,000-node worlds.
    ///
    /// # Errors
    /// [`Error::InvalidWorld`] naming the problem; nothing is added then.
    pub fn add_instance(&mut self, mut instance: Instance) -> Result<(), Error> {
        check_instance(&instance, |n| self.find_network(n).is_some())?;
        if self.find_instance(&instance.zone, &instance.name).is_some() {
            return Err(Error::InvalidWorld(format!(
                "duplicate instance '{}' in zone {}",
                instance.name, instance.zone
            )));
        }
        if instance.id == 0 {
            instance.id = self.next_id();
        }
        if instance.creation_timestamp.is_empty() {
            instance.creation_timestamp = super::clock::rfc3339_now();
        }
        self.instances.push(instance);
        Ok(())
    }

    /// Checks references and assigns ids, numbers and timestamps. Idempotent.
    ///
    /// # Errors
    /// [`Error::InvalidWorld`] naming the first problem.
    pub fn normalise(&mut self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::InvalidWorld(m));
        if !valid_name(&self.project) && !self.project.contains(':') {
            return bad(format!("project id '{}' is not valid", self.project));
        }
        if self.project_number == 0 {
            // A stable, plausible 12-digit number derived from the project id.
            let h = self
                .project
                .bytes()
                .fold(1_469_598_103_934_665_603_u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(1_099_511_628_211)
                });
            self.project_number = 100_000_000_000 + h % 900_000_000_000;
        }
        let mut names = BTreeSet::new();
        for n in &self.networks {
            if !valid_name(&n.name) {
                return bad(format!("network name '{}' is not valid", n.name));
            }
            if !names.insert(n.name.clone()) {
                return bad(format!("duplicate network '{}'", n.name));
            }
        }
        let mut seen = BTreeSet::new();
        for i in &self.instances {
            check_instance(i, |n| names.contains(n))?;
            if !seen.insert((i.zone.clone(), i.name.clone())) {
                return bad(format!(
                    "duplicate instance '{}' in zone {}",
                    i.name, i.zone
                ));
            }
        }
        let mut route_names = BTreeSet::new();
        for r in &self.routes {
            if !valid_name(&r.name) {
                return bad(format!("route name '{}' is not valid", r.name));
            }
            if !route_names.insert(r.name.clone()) {
                return bad(format!("duplicate route '{}'", r.name));
            }
            if !names.contains(&r.network) {
                return bad(format!(
                    "route '{}' is in unknown network '{}'",
                    r.name, r.network
                ));
            }
            if r.dest_range.parse::<IpNet>().is_err() {
                return bad(format!(
                    "route '{}': destRange '{}' is not a CIDR",
                    r.name, r.dest_range
                ));
            }
            if r.priority > 65_535 {
                return bad(format!("route '{}': priority above 65535", r.name));
            }
        }
        let stamp = super::clock::rfc3339_now();
        for i in 0..self.networks.len() {
            if self.networks[i].id == 0 {
                self.networks[i].id = self.next_id();
            }
            if self.networks[i].creation_timestamp.is_empty() {
                self.networks[i].creation_timestamp = stamp.clone();
            }
        }
        for i in 0..self.instances.len() {
            if self.instances[i].id == 0 {
                self.instances[i].id = self.next_id();
            }
            if self.instances[i].creation_timestamp.is_empty() {
                self.instances[i].creation_timestamp = stamp.clone();
            }
        }
        for i in 0..self.routes.len() {
            if self.routes[i].id == 0 {
                self.routes[i].id = self.next_id();
            }
            if self.routes[i].creation_timestamp.is_empty() {
                self.routes[i].creation_timestamp = stamp.clone();
            }
        }
        Ok(())
    }
}

/// What every instance must satisfy: a valid name and interfaces in known networks with
/// well-formed addresses.
fn check_instance(i: &Instance, known_network: impl Fn(&str) -> bool) -> Result<(), Error> {
    let bad = |m: String| Err(Error::InvalidWorld(m));
    if !valid_name(&i.name) {
        return bad(format!("instance name '{}' is not valid", i.name));
    }
    if i.network_interfaces.is_empty() {
        return bad(format!("instance '{}' has no network interface", i.name));
    }
    for nic in &i.network_interfaces {
        if !known_network(&nic.network) {
            return bad(format!(
                "instance '{}' has an interface in unknown network '{}'",
                i.name, nic.network
            ));
        }
        if nic.network_ip.parse::<std::net::Ipv4Addr>().is_err() {
            return bad(format!(
                "instance '{}': networkIP '{}' is not an IPv4 address",
                i.name, nic.network_ip
            ));
        }
        if let Some(v6) = &nic.ipv6_address
            && v6.parse::<std::net::Ipv6Addr>().is_err()
        {
            return bad(format!(
                "instance '{}': ipv6Address '{v6}' is not an IPv6 address",
                i.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc1035() {
        assert!(valid_name("rp-demo-0a1b"));
        assert!(valid_name(&"a".repeat(63)));
        for bad in ["", "-a", "a-", "A", "1a", "a_b", &"a".repeat(64)] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(region_of("us-central1-a"), "us-central1");
    }

    #[test]
    fn world_files_are_checked() {
        let w = GceWorld::from_yaml(
            "project: p1\nroute_quota: 3\nnetworks: [{name: default}]\ninstances:\n  - {name: n1, zone: z-a, can_ip_forward: true, network_interfaces: [{network: default, network_ip: 10.0.0.2}]}\nroutes:\n  - {name: r1, dest_range: 10.1.0.0/24, next_hop: {instance: {zone: z-a, name: n1}}}\n  - {name: gw, dest_range: 0.0.0.0/0, next_hop: {gateway: default-internet-gateway}}\n",
        )
        .unwrap();
        assert_eq!(w.project, "p1");
        assert_eq!(w.route_quota, 3);
        assert_eq!(w.routes[0].priority, 1000);
        assert_ne!(w.routes[0].id, 0);
        assert_eq!(w.all_zones(), vec!["z-a".to_string()]);
        for bad in [
            "networks: [{name: default}]\nroutes: [{name: r, network: other, dest_range: 10.0.0.0/8, next_hop: {ip: 10.0.0.1}}]",
            "networks: [{name: default}]\nroutes: [{name: r, dest_range: nope, next_hop: {ip: 10.0.0.1}}]",
            "instances: [{name: n, zone: z, network_interfaces: [{network: default, network_ip: 10.0.0.2}]}]",
            "networks: [{name: default}, {name: default}]",
            "bogus: 1",
        ] {
            assert!(GceWorld::from_yaml(bad).is_err(), "{bad}");
        }
    }
}
