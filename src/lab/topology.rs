//! The lab's network: a "VPC router" namespace with one bridge per subnet (the subnets' L2
//! segments, the router's address on each is the subnets' default gateway), and one namespace
//! per node with an `eth0` on a subnet, its node IP and a default route via the router.
//!
//! It is a reusable builder: `Lab::build` then `add_node`/`add_pod` (see `super::pods`), with
//! handles that carry each namespace's name and addresses. Dropping a `Lab` removes every
//! namespace of its run (unless [`Lab::keep`] was called), also when unwinding from a panic.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context, bail};
use ipnet::Ipv4Net;

use super::cleanup;
use super::names::Names;
use super::shell::{ip, ip_in, sysctl};

/// One VPC subnet: an L2 segment (bridge) in the router namespace.
#[derive(Debug, Clone)]
pub struct Subnet {
    pub cidr: Ipv4Net,
    /// The router's address on it, every node's default gateway.
    pub gateway: Ipv4Addr,
    /// The bridge's name in the router namespace.
    pub bridge: String,
}

/// A simulated node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Short name (`n0`), also the Kubernetes Node name.
    pub name: String,
    /// Its network namespace.
    pub netns: String,
    /// Its address on the subnet (the Node's InternalIP).
    pub ip: Ipv4Addr,
    /// Index into [`Lab::subnets`].
    pub subnet: usize,
}

/// A pod: its own namespace, attached to a node by the CNI plugin.
#[derive(Debug, Clone)]
pub struct Pod {
    pub name: String,
    pub netns: String,
    pub ip: IpAddr,
    /// The node's name.
    pub node: String,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct LabOptions {
    pub names: Names,
    /// One L2 segment per entry; the router takes the first host address of each.
    pub subnets: Vec<Ipv4Net>,
}

/// A built lab. Removes itself on drop unless kept.
#[derive(Debug)]
pub struct Lab {
    pub names: Names,
    pub router_ns: String,
    pub subnets: Vec<Subnet>,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    keep: bool,
}

impl Lab {
    /// Creates the router namespace and the subnets' bridges. On error, what was made is
    /// removed again (the returned error is the first failure).
    ///
    /// # Errors
    /// `ip` failures.
    pub fn build(opts: LabOptions) -> anyhow::Result<Lab> {
        let router_ns = opts.names.router_ns();
        let mut lab = Lab {
            names: opts.names,
            router_ns: router_ns.clone(),
            subnets: Vec::new(),
            nodes: Vec::new(),
            pods: Vec::new(),
            keep: false,
        };
        ip(&["netns", "add", &router_ns])?;
        ip_in(&router_ns, &["link", "set", "lo", "up"])?;
        // A VPC router forwards and never sends ICMP redirects (it would teach nodes to
        // bypass it, which a VPC cannot do); set before the bridges so they inherit it.
        sysctl(
            &router_ns,
            &[
                ("net.ipv4.ip_forward", "1"),
                ("net.ipv4.conf.all.send_redirects", "0"),
                ("net.ipv4.conf.default.send_redirects", "0"),
            ],
        )?;
        for (k, cidr) in opts.subnets.iter().enumerate() {
            let gateway = cidr
                .hosts()
                .next()
                .with_context(|| format!("subnet {cidr} has no host address"))?;
            let bridge = lab.names.subnet_bridge(k)?;
            // A fixed MAC: a bridge otherwise takes its lowest port's, so removing a node's
            // port could change the gateway's MAC under the other nodes' ARP caches.
            let mac = format!("02:72:70:6c:00:{:02x}", k % 256);
            ip_in(
                &router_ns,
                &["link", "add", &bridge, "address", &mac, "type", "bridge"],
            )?;
            let addr = format!("{gateway}/{}", cidr.prefix_len());
            ip_in(&router_ns, &["addr", "add", &addr, "dev", &bridge])?;
            ip_in(&router_ns, &["link", "set", &bridge, "up"])?;
            lab.subnets.push(Subnet {
                cidr: *cidr,
                gateway,
                bridge,
            });
        }
        Ok(lab)
    }

    /// Adds a node namespace on `subnet` with address `ip` (from the subnet): `eth0` is a veth
    /// whose other end is a port of the subnet's bridge in the router namespace. Forwarding
    /// on, redirects off.
    ///
    /// # Errors
    /// A bad subnet or address, or `ip` failures.
    pub fn add_node(
        &mut self,
        name: &str,
        subnet: usize,
        node_ip: Ipv4Addr,
    ) -> anyhow::Result<Node> {
        let sn = self
            .subnets
            .get(subnet)
            .with_context(|| format!("no subnet {subnet}"))?
            .clone();
        if !sn.cidr.contains(&node_ip) || node_ip == sn.gateway {
            bail!("{node_ip} is not a free host address of {}", sn.cidr);
        }
        let netns = self.names.node_ns(name);
        let port = self.names.node_port(name)?;
        ip(&["netns", "add", &netns])?;
        ip_in(&netns, &["link", "set", "lo", "up"])?;
        // Both ends are made in their namespaces: nothing ever appears in the root namespace.
        ip_in(
            &self.router_ns,
            &[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &netns,
            ],
        )?;
        ip_in(
            &self.router_ns,
            &["link", "set", &port, "master", &sn.bridge, "up"],
        )?;
        let addr = format!("{node_ip}/{}", sn.cidr.prefix_len());
        ip_in(&netns, &["addr", "add", &addr, "dev", "eth0"])?;
        ip_in(&netns, &["link", "set", "eth0", "up"])?;
        ip_in(
            &netns,
            &["route", "add", "default", "via", &sn.gateway.to_string()],
        )?;
        sysctl(
            &netns,
            &[
                ("net.ipv4.ip_forward", "1"),
                ("net.ipv4.conf.all.accept_redirects", "0"),
            ],
        )?;
        let node = Node {
            name: name.into(),
            netns,
            ip: node_ip,
            subnet,
        };
        self.nodes.push(node.clone());
        Ok(node)
    }

    /// Removes a node: its pods' namespaces, its namespace and its bridge port.
    ///
    /// # Errors
    /// `ip` failures.
    pub fn remove_node(&mut self, name: &str) -> anyhow::Result<()> {
        for pod in self.pods.iter().filter(|p| p.node == name) {
            ip(&["netns", "del", &pod.netns])?;
        }
        self.pods.retain(|p| p.node != name);
        ip(&["netns", "del", &self.names.node_ns(name)])?;
        self.nodes.retain(|n| n.name != name);
        Ok(())
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Leaves everything in place when dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Removes every namespace and the state directory of this run now.
    ///
    /// # Errors
    /// Anything that could not be removed.
    pub fn teardown(&mut self) -> anyhow::Result<cleanup::Cleaned> {
        self.keep = true; // once is enough
        cleanup::clean(&self.names.prefix())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.keep
            && let Err(e) = cleanup::clean(&self.names.prefix())
        {
            eprintln!("routeplane lab: cleanup: {e:#}");
        }
    }
}
