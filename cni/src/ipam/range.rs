//! Address ranges: defaults, validation and the arithmetic to walk them (u128 for both families).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{IpamConf, RangeConf};
use crate::error::{Error, Result};

/// A validated range: allocate from `start..=end` inside `subnet`, never `gateway`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The subnet (its prefix length goes on the pod's address).
    pub subnet: IpNet,
    /// First allocatable address.
    pub start: IpAddr,
    /// Last allocatable address.
    pub end: IpAddr,
    /// The gateway (on the bridge when `isGateway`).
    pub gateway: IpAddr,
}

/// Converts an address to an integer so both families share one walker.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The inverse of [`to_u128`] in the family of `like`.
pub fn from_u128(v: u128, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::from((v as u32).to_be_bytes()),
        IpAddr::V6(_) => IpAddr::from(v.to_be_bytes()),
    }
}

impl Range {
    /// Applies host-local's defaults and checks that everything lies inside the subnet.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`].
    pub fn from_conf(c: &RangeConf) -> Result<Self> {
        let subnet = c.subnet.trunc();
        let net = to_u128(subnet.network());
        let last = to_u128(subnet.broadcast());
        let v4 = subnet.addr().is_ipv4();
        if last - net < 2 {
            return Err(Error::InvalidConfig(format!(
                "subnet {subnet} is too small"
            )));
        }
        let start = c.range_start.unwrap_or(from_u128(net + 1, subnet.addr()));
        let end = c
            .range_end
            .unwrap_or(from_u128(if v4 { last - 1 } else { last }, subnet.addr()));
        let gateway = c.gateway.unwrap_or(from_u128(net + 1, subnet.addr()));
        for (what, ip) in [
            ("rangeStart", start),
            ("rangeEnd", end),
            ("gateway", gateway),
        ] {
            if !subnet.contains(&ip) {
                return Err(Error::InvalidConfig(format!(
                    "{what} {ip} is outside {subnet}"
                )));
            }
        }
        if to_u128(start) > to_u128(end) {
            return Err(Error::InvalidConfig(format!(
                "rangeStart {start} is after rangeEnd {end}"
            )));
        }
        Ok(Range {
            subnet,
            start,
            end,
            gateway,
        })
    }

    /// Whether `ip` may be handed to a pod: inside `start..=end`, not the gateway, not the
    /// network or (IPv4) broadcast address.
    pub fn allocatable(&self, ip: IpAddr) -> bool {
        let v = to_u128(ip);
        ip.is_ipv4() == self.start.is_ipv4()
            && v >= to_u128(self.start)
            && v <= to_u128(self.end)
            && ip != self.gateway
            && ip != self.subnet.network()
            && !(ip.is_ipv4() && ip == self.subnet.broadcast())
    }

    /// The number of addresses in `start..=end` (saturating; only compared against small sets).
    pub fn size(&self) -> u128 {
        (to_u128(self.end) - to_u128(self.start)).saturating_add(1)
    }

    /// A human label for messages.
    pub fn label(&self) -> String {
        format!("{} ({}-{})", self.subnet, self.start, self.end)
    }
}

/// The range sets of an `ipam` section (`ranges`, or the `subnet` shorthand).
///
/// # Errors
/// [`Error::InvalidConfig`] for a bad range or mixed families within one set.
pub fn range_sets(ipam: &IpamConf) -> Result<Vec<Vec<Range>>> {
    let mut sets = Vec::new();
    if let Some(subnet) = ipam.subnet {
        sets.push(vec![Range::from_conf(&RangeConf {
            subnet,
            range_start: None,
            range_end: None,
            gateway: None,
        })?]);
    }
    for set in &ipam.ranges {
        let ranges = set
            .iter()
            .map(Range::from_conf)
            .collect::<Result<Vec<_>>>()?;
        if ranges.is_empty() {
            return Err(Error::InvalidConfig("empty range set".into()));
        }
        if ranges
            .iter()
            .any(|r| r.start.is_ipv4() != ranges[0].start.is_ipv4())
        {
            return Err(Error::InvalidConfig(
                "a range set mixes IPv4 and IPv6".into(),
            ));
        }
        sets.push(ranges);
    }
    Ok(sets)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn r(s: &str) -> Range {
        Range::from_conf(&RangeConf {
            subnet: s.parse().unwrap(),
            range_start: None,
            range_end: None,
            gateway: None,
        })
        .unwrap()
    }

    #[test]
    fn defaults_skip_network_gateway_and_broadcast() {
        let v4 = r("10.1.0.0/29");
        assert_eq!(v4.start.to_string(), "10.1.0.1");
        assert_eq!(v4.end.to_string(), "10.1.0.6");
        assert_eq!(v4.gateway.to_string(), "10.1.0.1");
        assert!(!v4.allocatable("10.1.0.1".parse().unwrap()));
        assert!(v4.allocatable("10.1.0.2".parse().unwrap()));
        assert!(!v4.allocatable("10.1.0.7".parse().unwrap()));
        let v6 = r("fd00::/120");
        assert_eq!(v6.end.to_string(), "fd00::ff");
    }

    #[test]
    fn range_outside_subnet_is_rejected() {
        let e = Range::from_conf(&RangeConf {
            subnet: "10.1.0.0/24".parse().unwrap(),
            range_start: Some("10.2.0.1".parse().unwrap()),
            range_end: None,
            gateway: None,
        });
        assert!(e.is_err());
    }
}
