//! CHECK: compare the attachment with the kernel and report every difference, not just the first.
//!
//! The expected state comes from the IPAM store (the addresses this attachment holds) and the
//! configuration; a `prevResult` is cross-checked against the store as well.

use std::path::Path;

use ipnet::IpNet;
use netlink_packet_route::link::LinkFlags;

use super::Network;
use super::add::pod_routes;
use crate::config::NetConf;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::ipam::{self, Allocation, Owner};
use crate::netlink::{self, Socket};
use crate::netns;

pub(super) fn check(env: &Env, conf: &NetConf) -> Result<()> {
    let net = Network::new(conf)?;
    let owner = Owner {
        container_id: env.container_id.clone(),
        ifname: env.ifname.clone(),
    };
    let mut problems = Vec::new();
    let held = ipam::owned_by(&net.store, &owner)?;
    if held.is_empty() {
        problems.push(format!(
            "no address is reserved for {}/{}",
            owner.container_id, owner.ifname
        ));
    }
    // Rebuild the allocations (prefix and gateway) from the ranges the addresses fall in.
    let allocs: Vec<Allocation> = held
        .iter()
        .filter_map(|ip| {
            let r = net.sets.iter().flatten().find(|r| r.subnet.contains(ip))?;
            Some(Allocation {
                address: IpNet::new(*ip, r.subnet.prefix_len()).ok()?,
                gateway: r.gateway,
            })
        })
        .collect();

    if let Some(prev) = &conf.prev_result {
        for ip in prev["ips"].as_array().into_iter().flatten() {
            if let Some(a) = ip["address"].as_str().and_then(|s| s.parse::<IpNet>().ok())
                && !held.contains(&a.addr())
            {
                problems.push(format!(
                    "prevResult address {a} is not reserved for this attachment"
                ));
            }
        }
    }

    // Pod side.
    let netns_path = env.netns.as_deref().unwrap_or(Path::new(""));
    let ns = netns::open(netns_path)?;
    let mut pod = netns::socket_in(&ns, netns_path)?;
    match pod.link_by_name(&env.ifname)? {
        None => problems.push(format!(
            "{} is missing in {}",
            env.ifname,
            netns_path.display()
        )),
        Some(link) => {
            let idx = link.header.index;
            if !link.header.flags.contains(LinkFlags::Up) {
                problems.push(format!("{} is down", env.ifname));
            }
            if let (Some(want), Some(have)) = (conf.mtu, netlink::link_mtu(&link))
                && want != have
            {
                problems.push(format!("{} has MTU {have}, expected {want}", env.ifname));
            }
            let have = pod.addresses(idx)?;
            for a in &allocs {
                if !have.contains(&a.address) {
                    problems.push(format!(
                        "address {} is missing on {}",
                        a.address, env.ifname
                    ));
                }
            }
            let routes = pod.routes()?;
            for r in pod_routes(conf, &allocs) {
                let ok = routes
                    .iter()
                    .any(|k| k.dst == r.dst && k.gateway == r.gw && k.table == 254);
                if !ok {
                    let via = r.gw.map(|g| format!(" via {g}")).unwrap_or_default();
                    problems.push(format!("route {}{via} is missing in the pod", r.dst));
                }
            }
        }
    }

    // Host side.
    let mut host = Socket::new()?;
    let bridge = host.link_by_name(&conf.bridge)?;
    match &bridge {
        None => problems.push(format!("bridge {} is missing", conf.bridge)),
        Some(b) if conf.gateway_on_bridge() => {
            let have = host.addresses(b.header.index)?;
            for a in &allocs {
                if !have.iter().any(|n| n.addr() == a.gateway) {
                    problems.push(format!(
                        "gateway {} is missing on {}",
                        a.gateway, conf.bridge
                    ));
                }
            }
        }
        Some(_) => {}
    }
    let host_name = net.host_veth(&owner);
    match host.link_by_name(&host_name)? {
        None => problems.push(format!("host veth {host_name} is missing")),
        Some(l) => {
            if bridge.as_ref().map(|b| b.header.index) != netlink::link_master(&l) {
                problems.push(format!("{host_name} is not attached to {}", conf.bridge));
            }
            if !l.header.flags.contains(LinkFlags::Up) {
                problems.push(format!("{host_name} is down"));
            }
        }
    }

    if conf.ip_masq && !held.is_empty() {
        let present = net.masq.pod_elements()?;
        for ip in &held {
            if !present.contains(ip) {
                problems.push(format!("masquerade element for {ip} is missing"));
            }
        }
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Check(problems))
    }
}
