//! Host mode: kernel routes to every peer node's Pod CIDR via that node's IP.
//!
//! Ownership is the route protocol: every route we install carries [`ROUTE_PROTOCOL`], and only
//! routes with that protocol are ever replaced or removed. A route with another protocol at the
//! same destination (an operator's static route, a BGP daemon's) is reported as a conflict and
//! left alone. [`sync`] is idempotent: a second call with the same input changes nothing.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::Result;
use crate::netlink::{Route, RouteType, Socket};

/// routeplane's `rtm_protocol` (176). Unassigned in iproute2's `rt_protos` (which uses 0–18,
/// 42, 99 and 186–192); add `176 routeplane` to `/etc/iproute2/rt_protos.d/` to see the name in
/// `ip route`.
pub const ROUTE_PROTOCOL: u8 = 176;

/// The main routing table.
const MAIN_TABLE: u32 = 254;

/// One desired route: a peer's Pod CIDR via the peer's node IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRoute {
    /// The peer's Pod CIDR.
    pub dst: IpNet,
    /// The peer's node IP (on-link).
    pub via: IpAddr,
}

/// What [`sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostRouteChanges {
    /// Routes that were missing.
    pub added: Vec<IpNet>,
    /// Our routes whose next hop was wrong.
    pub replaced: Vec<IpNet>,
    /// Our routes to peers that are gone.
    pub removed: Vec<IpNet>,
    /// Destinations held by a route of another protocol; not touched.
    pub conflicts: Vec<IpNet>,
}

impl HostRouteChanges {
    /// Whether anything was written.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.replaced.is_empty() && self.removed.is_empty()
    }
}

/// Makes the main table's routes with [`ROUTE_PROTOCOL`] equal `desired`.
///
/// # Errors
/// The first netlink failure; earlier changes stay (the next call resumes).
pub fn sync(sock: &mut Socket, desired: &[PeerRoute]) -> Result<HostRouteChanges> {
    let existing = sock.routes()?;
    let main: Vec<&Route> = existing.iter().filter(|r| r.table == MAIN_TABLE).collect();
    let ours: HashMap<IpNet, &Route> = main
        .iter()
        .filter(|r| r.protocol == ROUTE_PROTOCOL)
        .map(|r| (r.dst, *r))
        .collect();
    let mut changes = HostRouteChanges::default();
    let mut wanted = HashMap::new();
    for p in desired {
        let dst = p.dst.trunc();
        wanted.insert(dst, p.via);
        let route = Route {
            dst,
            gateway: Some(p.via),
            oif: None,
            protocol: ROUTE_PROTOCOL,
            metric: 0,
            table: MAIN_TABLE,
            kind: RouteType::Unicast,
        };
        match ours.get(&dst) {
            Some(r) if r.gateway == Some(p.via) && r.kind == RouteType::Unicast => {}
            Some(_) => {
                sock.add_route(&route, true)?;
                changes.replaced.push(dst);
            }
            None => {
                // A foreign route on the same key would be replaced by NLM_F_REPLACE; EXCL makes
                // the kernel refuse instead, and we report it.
                let foreign = main
                    .iter()
                    .any(|r| r.dst == dst && r.protocol != ROUTE_PROTOCOL && r.metric == 0);
                if foreign {
                    changes.conflicts.push(dst);
                    continue;
                }
                match sock.add_route(&route, false) {
                    Ok(()) => changes.added.push(dst),
                    Err(e) if e.errno() == Some(libc::EEXIST) => changes.conflicts.push(dst),
                    Err(e) => return Err(e),
                }
            }
        }
    }
    for (dst, r) in &ours {
        if !wanted.contains_key(dst) {
            let mut del = (*r).clone();
            del.oif = None;
            if sock.delete_route(&del)? {
                changes.removed.push(*dst);
            }
        }
    }
    changes.removed.sort();
    Ok(changes)
}
