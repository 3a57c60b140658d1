//! The node's uplink: the interface of the IPv4 (else IPv6) default route in the main table,
//! whose MTU pods should inherit (a pod MTU above the uplink's breaks large packets silently
//! when PMTU discovery is filtered).

use crate::error::Result;
use crate::netlink::{self, RouteType, Socket};

/// The uplink's name and MTU; `None` when there is no default route.
///
/// # Errors
/// Netlink failures.
pub fn detect_uplink(sock: &mut Socket) -> Result<Option<(String, u32)>> {
    let routes = sock.routes()?;
    let mut defaults: Vec<_> = routes
        .iter()
        .filter(|r| {
            r.dst.prefix_len() == 0
                && r.table == 254
                && r.oif.is_some()
                && r.kind == RouteType::Unicast
        })
        .collect();
    // IPv4 first, then the lowest metric.
    defaults.sort_by_key(|r| (r.dst.addr().is_ipv6(), r.metric));
    for r in defaults {
        if let Some(l) = sock.link_by_index(r.oif.unwrap_or_default())?
            && let (Some(name), Some(mtu)) = (netlink::link_name(&l), netlink::link_mtu(&l))
        {
            return Ok(Some((name.to_string(), mtu)));
        }
    }
    Ok(None)
}

/// The MTU to use: `configured` if given, else the uplink's, else 1500.
///
/// # Errors
/// Netlink failures while detecting.
pub fn pod_mtu(configured: Option<u32>) -> Result<u32> {
    if let Some(m) = configured {
        return Ok(m);
    }
    let mut sock = Socket::new()?;
    Ok(detect_uplink(&mut sock)?.map_or(1500, |(_, m)| m))
}
