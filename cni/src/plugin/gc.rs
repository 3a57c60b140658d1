//! GC (CNI 1.1): release every reservation, host veth and masquerade element that does not belong
//! to an attachment in `cni.dev/valid-attachments` (or the older `cni.dev/attachments`).
//!
//! This is also the recovery path after a plugin was killed mid-ADD: whatever that ADD left is
//! owned by an attachment the runtime does not list. Unreadable IPAM entries are reported, not
//! released: their owner is unknown, so they may belong to a live pod.

use std::collections::HashSet;
use std::net::IpAddr;

use super::Network;
use crate::config::NetConf;
use crate::error::{Error, Result};
use crate::ipam::{self, Owner};
use crate::killpoint;
use crate::names;
use crate::netlink::{self, Socket};

pub(super) fn gc(conf: &NetConf) -> Result<()> {
    let net = Network::new(conf)?;
    let valid: HashSet<Owner> = conf
        .gc_attachments()
        .into_iter()
        .map(|a| Owner {
            container_id: a.container_id,
            ifname: a.ifname,
        })
        .collect();
    let mut errors = Vec::new();

    // Links first, then nft, then addresses: the same order as DEL.
    let keep_links: HashSet<String> = valid.iter().map(|o| net.host_veth(o)).collect();
    let prefix = names::veth_prefix(&conf.name);
    let mut host = Socket::new()?;
    for link in host.links()? {
        let Some(name) = netlink::link_name(&link) else {
            continue;
        };
        if name.len() == 15 && name.starts_with(&prefix) && !keep_links.contains(name) {
            let name = name.to_string();
            if let Err(e) = host.delete_link(&name) {
                errors.push(e.to_string());
            }
        }
    }
    killpoint::reached("gc_links_removed")?;

    // The addresses whose masquerade element stays: those of valid attachments, and those of
    // unreadable entries (possibly live). Computed before anything is released.
    let scan = net.store.scan()?;
    let keep: HashSet<IpAddr> = scan
        .held
        .iter()
        .filter(|(_, o)| valid.contains(o))
        .map(|(ip, _)| *ip)
        .chain(scan.corrupt.iter().map(|c| c.ip))
        .collect();
    if let Err(e) = net.masq.gc(&keep) {
        errors.push(e.to_string());
    }
    killpoint::reached("gc_masq_removed")?;
    match ipam::gc(&net.store, &valid) {
        Ok(out) => errors.extend(
            out.corrupt
                .into_iter()
                .map(|c| c.into_error(net.store.dir()).to_string()),
        ),
        Err(e) => errors.push(e.to_string()),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Internal(format!(
            "GC incomplete: {}",
            errors.join("; ")
        )))
    }
}
