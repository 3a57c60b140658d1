//! ADD: IPAM first (so a refused ADD touches nothing), then bridge, veth, pod addresses and
//! routes, host-side port settings, masquerade — and on any failure, undo in reverse order.

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;

use ipnet::IpNet;
use netlink_packet_route::link::{InfoKind, LinkFlags};
use serde_json::Value;

use super::Network;
use crate::config::NetConf;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::ipam::{self, Allocation, Owner};
use crate::killpoint;
use crate::names;
use crate::netlink::{self, Route, RouteType, Socket};
use crate::netns;
use crate::result::{CniResult, Interface, IpConfig, RouteOut};
use crate::sysctl;

/// Routes the plugin installs in the pod get the kernel's "boot" protocol, like `ip route add`.
const RTPROT_BOOT: u8 = 3;

pub(super) fn add(env: &Env, conf: &NetConf, version: &str) -> Result<Value> {
    let net = Network::new(conf)?;
    if net.sets.is_empty() {
        return Err(Error::InvalidConfig("ipam has no ranges".into()));
    }
    let netns_path = env.netns.as_deref().unwrap_or(Path::new(""));
    let ns = netns::open(netns_path)?;
    let mut pod_sock = netns::socket_in(&ns, netns_path)?;
    killpoint::reached("add_netns_open")?;
    let owner = Owner {
        container_id: env.container_id.clone(),
        ifname: env.ifname.clone(),
    };
    // The pod's interface name must be free in its namespace before we reserve anything.
    if pod_sock.link_by_name(&env.ifname)?.is_some() {
        // The likely cause is a second ADD for the same attachment: say so.
        let held = ipam::owned_by(&net.store, &owner)?;
        if !held.is_empty() {
            return Err(Error::AlreadyAttached {
                container_id: owner.container_id,
                ifname: owner.ifname,
                addresses: held
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            });
        }
        return Err(Error::InvalidEnv {
            name: "CNI_IFNAME",
            reason: format!("{} already exists in {}", env.ifname, netns_path.display()),
        });
    }

    let allocs = ipam::allocate(&net.store, &net.sets, &owner)?;

    let mut undo = Undo::default();
    match attach(env, &net, &owner, &allocs, &ns, &mut pod_sock, &mut undo) {
        Ok(result) => Ok(result.to_json(version, conf.prev_result.as_ref())),
        Err(e) => {
            // Best effort, keep going on errors: the original error is what the runtime sees.
            // The reservation goes last, so a rollback killed half-way leaves state that DEL
            // and GC find (the same invariant as DEL).
            let mut host = Socket::new().ok();
            if undo.masq {
                let addrs: Vec<IpAddr> = allocs.iter().map(|a| a.address.addr()).collect();
                let _ = net.masq.remove_pod(&addrs);
            }
            let _ = killpoint::reached("rollback_masq_removed");
            if undo.veth
                && let Some(s) = host.as_mut()
            {
                let _ = s.delete_link(&net.host_veth(&owner));
            }
            let _ = killpoint::reached("rollback_veth_removed");
            let _ = ipam::release(&net.store, &owner);
            Err(e)
        }
    }
}

/// What has been created so far and must be removed if a later step fails.
#[derive(Default)]
struct Undo {
    veth: bool,
    masq: bool,
}

#[allow(clippy::too_many_arguments)]
fn attach(
    env: &Env,
    net: &Network<'_>,
    owner: &Owner,
    allocs: &[Allocation],
    ns: &std::fs::File,
    pod_sock: &mut Socket,
    undo: &mut Undo,
) -> Result<CniResult> {
    let conf = net.conf;
    killpoint::reached("after_ipam")?;
    let mut host = Socket::new()?;
    let (bridge_index, bridge_mac) = ensure_bridge(&mut host, conf, allocs)?;
    let has_v6 = allocs.iter().any(|a| a.address.addr().is_ipv6());
    sysctl::enable_forwarding(Path::new("/proc/sys"), true, has_v6)?;
    killpoint::reached("after_bridge")?;

    let host_name = net.host_veth(owner);
    let host_mac = names::mac(&[&conf.name, &owner.container_id, &owner.ifname, "host"]);
    let pod_mac = names::mac(&[&conf.name, &owner.container_id, &owner.ifname, "pod"]);
    host.create_veth(
        &host_name,
        host_mac,
        bridge_index,
        conf.mtu,
        &env.ifname,
        pod_mac,
        ns.as_raw_fd(),
    )?;
    undo.veth = true;
    killpoint::reached("after_veth")?;

    // Host end up first: the pod's gateway routes are validated against a live link.
    let host_link = host
        .link_by_name(&host_name)?
        .ok_or_else(|| Error::Internal(format!("{host_name} vanished after creation")))?;
    if conf.hairpin_mode {
        host.set_hairpin(host_link.header.index)?;
    }
    host.set_flags(host_link.header.index, LinkFlags::Up)?;
    killpoint::reached("host_end_up")?;

    let pod_link = pod_sock
        .link_by_name(&env.ifname)?
        .ok_or_else(|| Error::Internal(format!("{} missing in the pod netns", env.ifname)))?;
    let pod_index = pod_link.header.index;
    pod_sock.set_flags(pod_index, LinkFlags::Up)?;
    for a in allocs {
        pod_sock.add_address(pod_index, a.address)?;
    }
    killpoint::reached("pod_addresses")?;
    let routes = pod_routes(conf, allocs);
    for r in &routes {
        pod_sock.add_route(
            &Route {
                dst: r.dst,
                gateway: r.gw,
                oif: Some(pod_index),
                protocol: RTPROT_BOOT,
                metric: 0,
                table: 254,
                kind: RouteType::Unicast,
            },
            false,
        )?;
    }
    killpoint::reached("after_pod_config")?;

    if conf.ip_masq {
        let addrs: Vec<IpAddr> = allocs.iter().map(|a| a.address.addr()).collect();
        undo.masq = true;
        net.masq.add_pod(net.state_dir(), owner, &addrs)?;
    }
    killpoint::reached("after_masq")?;

    let netns = env
        .netns
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Ok(CniResult {
        interfaces: vec![
            Interface {
                name: conf.bridge.clone(),
                mac: bridge_mac,
                sandbox: None,
                mtu: conf.mtu,
            },
            Interface {
                name: host_name,
                mac: netlink::format_mac(&host_mac),
                sandbox: None,
                mtu: conf.mtu,
            },
            Interface {
                name: env.ifname.clone(),
                mac: netlink::format_mac(&pod_mac),
                sandbox: Some(netns),
                mtu: conf.mtu,
            },
        ],
        ips: allocs
            .iter()
            .map(|a| IpConfig {
                address: a.address,
                gateway: conf.gateway_on_bridge().then_some(a.gateway),
                interface: 2,
            })
            .collect(),
        routes,
        dns: conf.dns.clone(),
    })
}

/// Default routes via the gateways (isDefaultGateway) plus `ipam.routes`, deduplicated.
pub(super) fn pod_routes(conf: &NetConf, allocs: &[Allocation]) -> Vec<RouteOut> {
    let gw_for = |v4: bool| {
        allocs
            .iter()
            .find(|a| a.address.addr().is_ipv4() == v4)
            .map(|a| a.gateway)
    };
    let mut out: Vec<RouteOut> = Vec::new();
    if conf.is_default_gateway {
        for a in allocs {
            let any: IpNet = if a.address.addr().is_ipv4() {
                IpNet::V4(ipnet::Ipv4Net::default())
            } else {
                IpNet::V6(ipnet::Ipv6Net::default())
            };
            if !out.iter().any(|r| r.dst == any) {
                out.push(RouteOut {
                    dst: any,
                    gw: Some(a.gateway),
                });
            }
        }
    }
    for r in &conf.ipam.routes {
        let v4 = r.dst.addr().is_ipv4();
        // A route of a family the pod has no address in cannot be installed; skip it.
        if gw_for(v4).is_none() || out.iter().any(|o| o.dst == r.dst) {
            continue;
        }
        out.push(RouteOut {
            dst: r.dst,
            gw: r.gw.or(gw_for(v4)),
        });
    }
    out
}

/// Creates the bridge or reuses an existing one (the L2 option pre-creates it with the uplink
/// attached), brings it up and puts the gateway addresses on it.
fn ensure_bridge(
    host: &mut Socket,
    conf: &NetConf,
    allocs: &[Allocation],
) -> Result<(u32, String)> {
    let mut link = host.link_by_name(&conf.bridge)?;
    if link.is_none() {
        let mac = names::mac(&[&conf.bridge, "bridge"]);
        match host.create_bridge(&conf.bridge, conf.mtu, mac) {
            Ok(()) => killpoint::reached("bridge_created")?,
            // Another ADD created it first.
            Err(e) if e.errno() == Some(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
        link = host.link_by_name(&conf.bridge)?;
    }
    let link = link.ok_or_else(|| Error::Internal(format!("bridge {} vanished", conf.bridge)))?;
    if netlink::link_kind(&link) != Some(&InfoKind::Bridge) {
        return Err(Error::InvalidConfig(format!(
            "{} exists but is not a bridge",
            conf.bridge
        )));
    }
    let index = link.header.index;
    let mut want = LinkFlags::Up;
    if conf.promisc_mode {
        want |= LinkFlags::Promisc;
    }
    if !link.header.flags.contains(want) {
        host.set_flags(index, want)?;
    }
    if conf.gateway_on_bridge() {
        for a in allocs {
            let gw = IpNet::new(a.gateway, a.address.prefix_len())
                .map_err(|e| Error::InvalidConfig(e.to_string()))?;
            host.add_address(index, gw)?;
        }
    }
    Ok((index, netlink::link_mac(&link).unwrap_or_default()))
}
