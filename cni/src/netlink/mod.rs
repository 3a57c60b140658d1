//! A small synchronous rtnetlink socket with the link, address and route verbs the plugin and the
//! agent need (the shape of netavark's `Socket`).
//!
//! One request is in flight at a time: we send, then read until the kernel's ACK (or `NLMSG_DONE`
//! for dumps). A socket stays bound to the network namespace it was created in, which is how
//! [`crate::netns`] talks to a pod's namespace without the calling thread ever leaving the host's.
//! [`nft`] is the nfnetlink counterpart for nftables set elements.

pub mod nft;

use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;

use ipnet::IpNet;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{SocketAddr, protocols::NETLINK_ROUTE};

use crate::error::{Error, Result};

/// A route's `rtm_type` (see [`Route::kind`]).
pub use netlink_packet_route::route::RouteType;

/// A route as the plugin and the agent see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix.
    pub dst: IpNet,
    /// Next hop, if any.
    pub gateway: Option<IpAddr>,
    /// Output interface index, if any.
    pub oif: Option<u32>,
    /// `rtm_protocol`.
    pub protocol: u8,
    /// `RTA_PRIORITY` (metric); 0 when absent.
    pub metric: u32,
    /// `rtm_table` (or `RTA_TABLE` when > 255).
    pub table: u32,
    /// `rtm_type`: unicast for everything we write; dumps also show unreachable, blackhole and
    /// prohibit routes, so an owner can see (and replace) one that sits on its destination.
    pub kind: RouteType,
}

/// A synchronous rtnetlink socket.
pub struct Socket {
    sock: netlink_sys::Socket,
    seq: u32,
}

impl Socket {
    /// Opens a socket in the calling thread's current network namespace.
    ///
    /// # Errors
    /// When the socket cannot be created or bound.
    pub fn new() -> Result<Self> {
        let mut sock =
            netlink_sys::Socket::new(NETLINK_ROUTE).map_err(|e| nl_err("open socket", e))?;
        sock.bind_auto().map_err(|e| nl_err("bind", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| nl_err("connect", e))?;
        // Extended ACKs put the kernel's reason into errors we may surface to the runtime.
        let _ = sock.set_ext_ack(true);
        Ok(Socket { sock, seq: 0 })
    }

    /// Sends one request and collects the answers; `dump` reads until `NLMSG_DONE`.
    fn request(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
        dump: bool,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags | if dump { NLM_F_DUMP } else { NLM_F_ACK };
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.sock.send(&buf, 0).map_err(|e| nl_err(op, e))?;

        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full().map_err(|e| nl_err(op, e))?;
            let mut offset = 0;
            while offset + 16 <= data.len() {
                let slice = &data[offset..];
                let msg =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(slice).map_err(|e| {
                        nl_err(
                            op,
                            io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
                        )
                    })?;
                let len = msg.header.length as usize;
                if len == 0 {
                    break;
                }
                offset += (len + 3) & !3;
                if msg.header.sequence_number != self.seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(_) => Err(nl_err(op, e.to_io())),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    _ => {}
                }
            }
        }
    }

    /// Looks a link up by name; `None` when it does not exist.
    ///
    /// # Errors
    /// Netlink failures other than "no such device".
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<LinkMessage>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.get_link(msg, name)
    }

    /// Looks a link up by index; `None` when it does not exist.
    ///
    /// # Errors
    /// Netlink failures other than "no such device".
    pub fn link_by_index(&mut self, index: u32) -> Result<Option<LinkMessage>> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.get_link(msg, &index.to_string())
    }

    fn get_link(&mut self, msg: LinkMessage, what: &str) -> Result<Option<LinkMessage>> {
        match self.request(
            &format!("get link {what}"),
            RouteNetlinkMessage::GetLink(msg),
            0,
            false,
        ) {
            Ok(msgs) => Ok(msgs.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every link of the namespace.
    ///
    /// # Errors
    /// Netlink failures.
    pub fn links(&mut self) -> Result<Vec<LinkMessage>> {
        let msgs = self.request(
            "dump links",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            0,
            true,
        )?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .collect())
    }

    /// Creates a bridge with a fixed MAC and MTU.
    ///
    /// The MAC is set explicitly because a bridge without one takes the lowest MAC of its ports,
    /// so the gateway's MAC would change whenever pods come and go and pods' ARP caches go stale.
    ///
    /// # Errors
    /// Netlink failures, `EEXIST` included (the caller decides about races).
    pub fn create_bridge(&mut self, name: &str, mtu: Option<u32>, mac: [u8; 6]) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(
            &format!("create bridge {name}"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            false,
        )
        .map(drop)
    }

    /// Creates a veth pair in one request: the host end `host` (attached to `master`) here, the
    /// peer already named `peer` inside the namespace behind `peer_netns`.
    ///
    /// Creating the peer directly in the pod's namespace under its final name means no
    /// temporary name ever exists in the host namespace, so concurrent ADDs cannot collide on
    /// one and a crash cannot leave a stray pod-side link in the host.
    ///
    /// # Errors
    /// Netlink failures; `EEXIST` when either name is taken.
    #[allow(clippy::too_many_arguments)]
    pub fn create_veth(
        &mut self,
        host: &str,
        host_mac: [u8; 6],
        master: u32,
        mtu: Option<u32>,
        peer: &str,
        peer_mac: [u8; 6],
        peer_netns: RawFd,
    ) -> Result<()> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        peer_msg
            .attributes
            .push(LinkAttribute::Address(peer_mac.to_vec()));
        peer_msg.attributes.push(LinkAttribute::NetNsFd(peer_netns));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(host.to_string()));
        msg.attributes
            .push(LinkAttribute::Address(host_mac.to_vec()));
        msg.attributes.push(LinkAttribute::Controller(master));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
            peer_msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.request(
            &format!("create veth {host}/{peer}"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            false,
        )
        .map(drop)
    }

    /// Sets flags (up, promisc) on a link without touching the others.
    ///
    /// # Errors
    /// Netlink failures.
    pub fn set_flags(&mut self, index: u32, flags: LinkFlags) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = flags;
        msg.header.change_mask = flags;
        self.request(
            &format!("set flags on link {index}"),
            RouteNetlinkMessage::SetLink(msg),
            0,
            false,
        )
        .map(drop)
    }

    /// Sets a link's MTU.
    ///
    /// # Errors
    /// Netlink failures.
    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        self.request(
            &format!("set mtu on link {index}"),
            RouteNetlinkMessage::SetLink(msg),
            0,
            false,
        )
        .map(drop)
    }

    /// Turns hairpin mode on for a bridge port (`ip link set … type bridge_slave hairpin on`),
    /// so a pod can reach itself through a Service VIP that DNATs back to it.
    ///
    /// # Errors
    /// Netlink failures.
    pub fn set_hairpin(&mut self, index: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        self.request(
            &format!("set hairpin on link {index}"),
            RouteNetlinkMessage::NewLink(msg),
            0,
            false,
        )
        .map(drop)
    }

    /// Deletes a link by name; `Ok(false)` when it was already gone.
    ///
    /// # Errors
    /// Netlink failures other than "no such device".
    pub fn delete_link(&mut self, name: &str) -> Result<bool> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(
            &format!("delete link {name}"),
            RouteNetlinkMessage::DelLink(msg),
            0,
            false,
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds an address; `Ok(false)` when it already existed.
    ///
    /// IPv6 addresses get `IFA_F_NODAD`: the pod's address must be usable the moment ADD returns,
    /// and the IPAM store already guarantees it is unique on the segment.
    ///
    /// # Errors
    /// Netlink failures other than "exists".
    pub fn add_address(&mut self, index: u32, addr: IpNet) -> Result<bool> {
        let mut msg = AddressMessage::default();
        msg.header.family = family(addr.addr());
        msg.header.prefix_len = addr.prefix_len();
        msg.header.index = index;
        if addr.addr().is_ipv6() {
            msg.header.flags = AddressHeaderFlags::Nodad;
        }
        msg.attributes.push(AddressAttribute::Local(addr.addr()));
        msg.attributes.push(AddressAttribute::Address(addr.addr()));
        match self.request(
            &format!("add address {addr} to link {index}"),
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            false,
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.errno() == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The addresses (with prefix length) on a link.
    ///
    /// # Errors
    /// Netlink failures.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<IpNet>> {
        let msgs = self.request(
            "dump addresses",
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            0,
            true,
        )?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => {
                    let ip = a.attributes.iter().find_map(|at| match at {
                        AddressAttribute::Address(ip) => Some(*ip),
                        _ => None,
                    })?;
                    IpNet::new(ip, a.header.prefix_len).ok()
                }
                _ => None,
            })
            .collect())
    }

    /// Adds (or with `replace`, replaces) a unicast route in the main table.
    ///
    /// # Errors
    /// Netlink failures; `EEXIST` when adding a route whose key (dst, table, metric) exists.
    pub fn add_route(&mut self, route: &Route, replace: bool) -> Result<()> {
        let msg = route_message(route);
        let flags = if replace {
            NLM_F_CREATE | NLM_F_REPLACE
        } else {
            NLM_F_CREATE | NLM_F_EXCL
        };
        self.request(
            &format!("add route {}", route.dst),
            RouteNetlinkMessage::NewRoute(msg),
            flags,
            false,
        )
        .map(drop)
    }

    /// Deletes a route; `Ok(false)` when it was already gone.
    ///
    /// # Errors
    /// Netlink failures other than "no such route".
    pub fn delete_route(&mut self, route: &Route) -> Result<bool> {
        let msg = route_message(route);
        match self.request(
            &format!("delete route {}", route.dst),
            RouteNetlinkMessage::DelRoute(msg),
            0,
            false,
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.errno() == Some(libc::ESRCH) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every route of both families and all types (see [`Route::kind`]), all tables.
    ///
    /// # Errors
    /// Netlink failures.
    pub fn routes(&mut self) -> Result<Vec<Route>> {
        let mut out = Vec::new();
        for fam in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut msg = RouteMessage::default();
            msg.header.address_family = fam;
            let msgs = self.request("dump routes", RouteNetlinkMessage::GetRoute(msg), 0, true)?;
            out.extend(msgs.into_iter().filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => parse_route(&r),
                _ => None,
            }));
        }
        Ok(out)
    }
}

fn family(ip: IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn route_message(route: &Route) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family(route.dst.addr());
    msg.header.destination_prefix_length = route.dst.prefix_len();
    msg.header.table = if route.table > 255 {
        RouteHeader::RT_TABLE_UNSPEC
    } else {
        route.table as u8
    };
    msg.header.protocol = RouteProtocol::from(route.protocol);
    msg.header.kind = route.kind;
    // Only a directly connected unicast route is link-scoped; the kernel matches the scope on
    // delete, and unreachable/blackhole routes are universe-scoped.
    msg.header.scope = if route.gateway.is_none() && route.kind == RouteType::Unicast {
        RouteScope::Link
    } else {
        RouteScope::Universe
    };
    if route.table > 255 {
        msg.attributes.push(RouteAttribute::Table(route.table));
    }
    if route.dst.prefix_len() > 0 {
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(
                route.dst.addr(),
            )));
    }
    if let Some(gw) = route.gateway {
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
    }
    if let Some(oif) = route.oif {
        msg.attributes.push(RouteAttribute::Oif(oif));
    }
    if route.metric != 0 {
        msg.attributes.push(RouteAttribute::Priority(route.metric));
    }
    msg
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn parse_route(r: &RouteMessage) -> Option<Route> {
    let v4 = r.header.address_family == AddressFamily::Inet;
    let mut dst_ip: IpAddr = if v4 {
        IpAddr::from([0u8; 4])
    } else {
        IpAddr::from([0u16; 8])
    };
    let mut route = Route {
        dst: IpNet::new(dst_ip, 0).ok()?,
        gateway: None,
        oif: None,
        protocol: u8::from(r.header.protocol),
        metric: 0,
        table: u32::from(r.header.table),
        kind: r.header.kind,
    };
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(d) => dst_ip = route_addr(d)?,
            RouteAttribute::Gateway(g) => route.gateway = route_addr(g),
            RouteAttribute::Oif(o) => route.oif = Some(*o),
            RouteAttribute::Priority(p) => route.metric = *p,
            RouteAttribute::Table(t) => route.table = *t,
            _ => {}
        }
    }
    route.dst = IpNet::new(dst_ip, r.header.destination_prefix_length).ok()?;
    Some(route)
}

/// The name of a link message, if it carries one.
pub fn link_name(l: &LinkMessage) -> Option<&str> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

/// The MTU of a link message, if it carries one.
pub fn link_mtu(l: &LinkMessage) -> Option<u32> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(m) => Some(*m),
        _ => None,
    })
}

/// The bridge (controller) index of a port.
pub fn link_master(l: &LinkMessage) -> Option<u32> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(m) => Some(*m),
        _ => None,
    })
}

/// The MAC of a link, formatted `aa:bb:…`.
pub fn link_mac(l: &LinkMessage) -> Option<String> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(m) => Some(format_mac(m)),
        _ => None,
    })
}

/// The `kind` of a link (`bridge`, `veth`, …).
pub fn link_kind(l: &LinkMessage) -> Option<&InfoKind> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k),
            _ => None,
        }),
        _ => None,
    })
}

/// Formats a MAC address the way `ip` does.
pub fn format_mac(m: &[u8]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn nl_err(op: &str, source: io::Error) -> Error {
    Error::Netlink {
        op: op.to_string(),
        source,
    }
}
