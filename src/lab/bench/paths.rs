//! The three pod-to-pod paths `lab bench` compares, built in one run: routeplane's routed path
//! (the lab's own nodes and pods), the same lab topology with a VXLAN overlay between two more
//! nodes (by hand, what Flannel's `vxlan` backend sets up), and a bare veth pair between two
//! namespaces (the ceiling: no bridge, no forwarding, no encapsulation).
//!
//! Everything is made inside the run's namespaces (the overlay devices in node namespaces, the
//! veth pair between two `rpl-<id>-v*` namespaces), so the lab's cleanup removes it all.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context, bail};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::lab::control::pod_cidr;
use crate::lab::names::Names;
use crate::lab::shell::{ip, ip_in, run_in};
use crate::lab::topology::{Lab, Node, Pod};

/// What Flannel's vxlan backend uses: VNI 1 on the Linux port 8472, MTU 1500 - 50 bytes.
const VNI: &str = "1";
const VXLAN_PORT: &str = "8472";
pub const VXLAN_MTU: u32 = 1450;
const VXLAN_DEV: &str = "vxlan0";

/// Addresses of the direct veth pair (inside its own two namespaces only).
const VETH_SRC: Ipv4Addr = Ipv4Addr::new(10, 254, 0, 1);
const VETH_DST: Ipv4Addr = Ipv4Addr::new(10, 254, 0, 2);

/// One measured path: traffic goes from `src_ns` to `dst` (an address inside `dst_ns`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Path {
    pub name: String,
    pub description: String,
    pub src_ns: String,
    pub dst_ns: String,
    pub dst: IpAddr,
}

/// routeplane's path between two pods of different nodes, as the lab built it.
pub fn routed(from: &Pod, to: &Pod) -> Path {
    Path {
        name: "routed".into(),
        description: format!(
            "routeplane: pod {} on {} → pod {} on {}, forwarded by the VPC router's routes the controller wrote",
            from.ip, from.node, to.ip, to.node
        ),
        src_ns: from.netns.clone(),
        dst_ns: to.netns.clone(),
        dst: to.ip,
    }
}

/// A node taking part in the overlay: its namespace, underlay address and Pod CIDR.
struct Vtep<'a> {
    node: &'a Node,
    pod_cidr: IpNet,
    /// The device's MAC, fixed so the peer's FDB and neighbour entries can name it.
    mac: String,
}

impl Vtep<'_> {
    /// Flannel's convention: the VTEP's address is the network address of the node's Pod CIDR.
    fn addr(&self) -> IpAddr {
        self.pod_cidr.network()
    }
}

/// Puts node `a` and `b` on a VXLAN overlay the way Flannel's vxlan backend does: a `vxlan0`
/// per node (VNI 1, port 8472, MTU 1450, no learning) with the network address of its Pod
/// CIDR, the peer's Pod CIDR routed via the peer's VTEP address `onlink`, and a permanent
/// neighbour and FDB entry for the peer's VTEP. Their pods get MTU 1450 (Flannel's CNI config
/// does the same). `index_a`/`index_b` are the nodes' lab indexes (their Pod CIDRs).
///
/// # Errors
/// `ip`/`bridge` failures.
pub fn vxlan(
    lab: &Lab,
    (a, index_a): (&Node, usize),
    (b, index_b): (&Node, usize),
) -> anyhow::Result<Path> {
    let vteps = [
        Vtep {
            node: a,
            pod_cidr: pod_cidr(index_a),
            mac: "02:72:70:76:00:01".into(),
        },
        Vtep {
            node: b,
            pod_cidr: pod_cidr(index_b),
            mac: "02:72:70:76:00:02".into(),
        },
    ];
    for (me, peer) in [(&vteps[0], &vteps[1]), (&vteps[1], &vteps[0])] {
        let ns = &me.node.netns;
        let mtu = VXLAN_MTU.to_string();
        ip_in(
            ns,
            &[
                "link",
                "add",
                VXLAN_DEV,
                "address",
                &me.mac,
                "mtu",
                &mtu,
                "type",
                "vxlan",
                "id",
                VNI,
                "local",
                &me.node.ip.to_string(),
                "dev",
                "eth0",
                "dstport",
                VXLAN_PORT,
                "nolearning",
            ],
        )?;
        ip_in(
            ns,
            &[
                "addr",
                "add",
                &format!("{}/32", me.addr()),
                "dev",
                VXLAN_DEV,
            ],
        )?;
        ip_in(ns, &["link", "set", VXLAN_DEV, "up"])?;
        let peer_vtep = peer.addr().to_string();
        ip_in(
            ns,
            &[
                "neigh",
                "add",
                &peer_vtep,
                "lladdr",
                &peer.mac,
                "dev",
                VXLAN_DEV,
                "nud",
                "permanent",
            ],
        )?;
        checked(
            ns,
            &[
                "bridge",
                "fdb",
                "append",
                &peer.mac,
                "dev",
                VXLAN_DEV,
                "dst",
                &peer.node.ip.to_string(),
            ],
        )?;
        ip_in(
            ns,
            &[
                "route",
                "add",
                &peer.pod_cidr.to_string(),
                "via",
                &peer_vtep,
                "dev",
                VXLAN_DEV,
                "onlink",
            ],
        )?;
        for pod in lab.pods.iter().filter(|p| p.node == me.node.name) {
            ip_in(&pod.netns, &["link", "set", "eth0", "mtu", &mtu])?;
        }
    }
    let pod = |n: &Node| {
        lab.pods
            .iter()
            .find(|p| p.node == n.name)
            .with_context(|| format!("{} has no pod", n.name))
    };
    let (from, to) = (pod(a)?, pod(b)?);
    Ok(Path {
        name: "vxlan".into(),
        description: format!(
            "VXLAN overlay (Flannel's vxlan backend by hand): pod {} on {} → pod {} on {}, VNI {VNI}, MTU {VXLAN_MTU}, same subnet and router",
            from.ip, a.name, to.ip, b.name
        ),
        src_ns: from.netns.clone(),
        dst_ns: to.netns.clone(),
        dst: to.ip,
    })
}

/// Two namespaces of this run joined by one veth pair: the most a namespace-to-namespace path
/// on this kernel can do.
///
/// # Errors
/// `ip` failures.
pub fn veth(names: &Names) -> anyhow::Result<Path> {
    let (src, dst) = (
        format!("{}va", names.prefix()),
        format!("{}vb", names.prefix()),
    );
    for ns in [&src, &dst] {
        ip(&["netns", "add", ns])?;
        ip_in(ns, &["link", "set", "lo", "up"])?;
    }
    ip_in(
        &src,
        &[
            "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", &dst,
        ],
    )?;
    for (ns, addr) in [(&src, VETH_SRC), (&dst, VETH_DST)] {
        ip_in(ns, &["addr", "add", &format!("{addr}/30"), "dev", "eth0"])?;
        ip_in(ns, &["link", "set", "eth0", "up"])?;
    }
    Ok(Path {
        name: "veth".into(),
        description: format!("direct veth pair {VETH_SRC} → {VETH_DST}: the ceiling"),
        src_ns: src,
        dst_ns: dst,
        dst: IpAddr::V4(VETH_DST),
    })
}

/// Runs `cmd` in `netns` and fails with its stderr when it does.
fn checked(netns: &str, cmd: &[&str]) -> anyhow::Result<()> {
    let out = run_in(netns, cmd)?;
    if !out.status.success() {
        bail!(
            "{} in {netns}: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
