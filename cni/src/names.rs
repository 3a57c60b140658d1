//! Deterministic names and MACs derived from the network and the attachment.
//!
//! The host-side veth name is a function of (network, container ID, ifname), so DEL and GC can
//! find it without the pod's netns and without stored state. It starts with a per-network prefix
//! so GC of one network never deletes another network's links.

/// FNV-1a, 64 bit: tiny, stable across releases (the names persist on nodes), good enough to
/// spread names; collisions are caught by `EEXIST` on create.
fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0u8)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// `rp` + 3 hex digits of the network: the prefix of every host veth of that network.
pub fn veth_prefix(network: &str) -> String {
    format!("rp{:03x}", fnv(&[network]) & 0xfff)
}

/// The host-side veth name: 15 bytes, the kernel's limit.
pub fn host_veth(network: &str, container_id: &str, ifname: &str) -> String {
    format!(
        "{}{:010x}",
        veth_prefix(network),
        fnv(&[container_id, ifname]) & 0xff_ffff_ffff
    )
}

/// A locally administered unicast MAC derived from `parts`.
pub fn mac(parts: &[&str]) -> [u8; 6] {
    let h = fnv(parts).to_be_bytes();
    [(h[0] & 0xfe) | 0x02, h[1], h[2], h[3], h[4], h[5]]
}

/// The nftables table of a network (`inet` family).
pub fn nft_table(network: &str) -> String {
    format!(
        "routeplane_{}",
        crate::ipam::store::sanitize(network).replace('-', "_")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_kernel_limit_and_are_stable() {
        let n = host_veth("routeplane", "0123456789abcdef0123456789abcdef", "eth0");
        assert_eq!(n.len(), 15);
        assert!(n.starts_with(&veth_prefix("routeplane")));
        assert_eq!(
            n,
            host_veth("routeplane", "0123456789abcdef0123456789abcdef", "eth0")
        );
        assert_ne!(
            n,
            host_veth("routeplane", "0123456789abcdef0123456789abcdef", "eth1")
        );
        let m = mac(&["x"]);
        assert_eq!(m[0] & 0x03, 0x02);
    }
}
