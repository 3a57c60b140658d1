//! Pod CIDR allocation for `--allocate-node-cidrs`, for clusters whose control plane does not
//! allocate (EKS never does; kubeadm may not). Deterministic (lowest free range first), never
//! hands out a range twice, and rebuilt from the Nodes at start-up before it hands out anything,
//! so a restart cannot double-book. `spec.podCIDR(s)` can be set only once on a Node, which is why
//! a release happens only when the Node is deleted.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::ConfigError;

/// One family's pool: a cluster CIDR carved into `/node_mask` ranges.
#[derive(Clone, Debug)]
struct Pool {
    cidr: IpNet,
    node_mask: u8,
    used: BTreeSet<u128>,
}

impl Pool {
    fn size(&self) -> u128 {
        let bits = u32::from(self.node_mask - self.cidr.prefix_len());
        if bits >= 128 {
            u128::MAX
        } else {
            1u128 << bits
        }
    }

    fn index_of(&self, net: &IpNet) -> Option<u128> {
        if net.prefix_len() != self.node_mask || !self.cidr.contains(net) {
            return None;
        }
        let host_bits = u32::from(self.cidr.max_prefix_len() - self.node_mask);
        let offset = addr_to_u128(net.network()) - addr_to_u128(self.cidr.network());
        Some(offset >> host_bits)
    }

    fn range(&self, index: u128) -> IpNet {
        let host_bits = u32::from(self.cidr.max_prefix_len() - self.node_mask);
        let base = addr_to_u128(self.cidr.network()) + (index << host_bits);
        match self.cidr {
            IpNet::V4(_) => {
                let a = Ipv4Addr::from(u32::try_from(base).unwrap_or(u32::MAX));
                IpNet::V4(Ipv4Net::new(a, self.node_mask).unwrap_or_default())
            }
            IpNet::V6(_) => {
                IpNet::V6(Ipv6Net::new(Ipv6Addr::from(base), self.node_mask).unwrap_or_default())
            }
        }
    }

    fn lowest_free(&self) -> Option<u128> {
        let mut candidate = 0u128;
        for &u in &self.used {
            if u != candidate {
                break;
            }
            candidate += 1;
        }
        (candidate < self.size()).then_some(candidate)
    }
}

fn addr_to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Why an allocation failed. Per node: reported as an Event, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error("cluster CIDR {0} has no free /{1} range left")]
    Exhausted(IpNet, u8),
}

/// Allocates one Pod CIDR per family (dual-stack clusters get two) per node.
#[derive(Clone, Debug)]
pub struct CidrAllocator {
    pools: Vec<Pool>,
}

impl CidrAllocator {
    /// `pools` pairs each cluster CIDR with the node mask to carve it into
    /// (e.g. `10.244.0.0/16` with 24, `fd00::/48` with 64).
    ///
    /// # Errors
    /// [`ConfigError::BadNodeMask`] when a mask is shorter than its CIDR or too long.
    pub fn new(pools: &[(IpNet, u8)]) -> Result<Self, ConfigError> {
        let pools = pools
            .iter()
            .map(|&(cidr, node_mask)| {
                let cidr = cidr.trunc();
                if node_mask < cidr.prefix_len() || node_mask > cidr.max_prefix_len() {
                    return Err(ConfigError::BadNodeMask {
                        cidr,
                        mask: node_mask,
                    });
                }
                Ok(Pool {
                    cidr,
                    node_mask,
                    used: BTreeSet::new(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { pools })
    }

    /// Marks ranges already on Nodes as used. Call with every Node's podCIDRs before the first
    /// [`allocate`](Self::allocate); ranges outside the pools are ignored (not ours to manage).
    pub fn mark_used<'a>(&mut self, cidrs: impl IntoIterator<Item = &'a IpNet>) {
        for net in cidrs {
            for pool in &mut self.pools {
                if let Some(i) = pool.index_of(&net.trunc()) {
                    pool.used.insert(i);
                }
            }
        }
    }

    /// Hands out the lowest free range of every pool. All-or-nothing: if one family is
    /// exhausted, nothing is taken from the others.
    ///
    /// # Errors
    /// [`AllocError::Exhausted`] naming the full pool.
    pub fn allocate(&mut self) -> Result<Vec<IpNet>, AllocError> {
        let picks: Vec<u128> = self
            .pools
            .iter()
            .map(|p| {
                p.lowest_free()
                    .ok_or(AllocError::Exhausted(p.cidr, p.node_mask))
            })
            .collect::<Result<_, _>>()?;
        Ok(self
            .pools
            .iter_mut()
            .zip(picks)
            .map(|(pool, i)| {
                pool.used.insert(i);
                pool.range(i)
            })
            .collect())
    }

    /// Returns a deleted node's ranges to the pools.
    pub fn release<'a>(&mut self, cidrs: impl IntoIterator<Item = &'a IpNet>) {
        for net in cidrs {
            for pool in &mut self.pools {
                if let Some(i) = pool.index_of(&net.trunc()) {
                    pool.used.remove(&i);
                }
            }
        }
    }

    /// Ranges in use across all pools.
    pub fn used(&self) -> usize {
        self.pools.iter().map(|p| p.used.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn hands_out_the_lowest_free_range_per_family() {
        let mut a =
            CidrAllocator::new(&[(net("10.244.0.0/16"), 24), (net("fd00:10:244::/48"), 64)])
                .unwrap();
        assert_eq!(
            a.allocate().unwrap(),
            vec![net("10.244.0.0/24"), net("fd00:10:244::/64")]
        );
        assert_eq!(
            a.allocate().unwrap(),
            vec![net("10.244.1.0/24"), net("fd00:10:244:1::/64")]
        );
    }

    #[test]
    fn never_hands_out_a_range_twice_and_reuses_released_ones() {
        let mut a = CidrAllocator::new(&[(net("10.0.0.0/22"), 24)]).unwrap();
        let got: Vec<IpNet> = (0..4).map(|_| a.allocate().unwrap()[0]).collect();
        let unique: BTreeSet<_> = got.iter().collect();
        assert_eq!(unique.len(), 4);
        assert_eq!(
            a.allocate(),
            Err(AllocError::Exhausted(net("10.0.0.0/22"), 24))
        );
        a.release(&[net("10.0.2.0/24")]);
        assert_eq!(a.allocate().unwrap(), vec![net("10.0.2.0/24")]);
    }

    #[test]
    fn survives_a_restart_by_rebuilding_from_the_nodes() {
        let mut before = CidrAllocator::new(&[(net("10.244.0.0/16"), 24)]).unwrap();
        let given: Vec<IpNet> = (0..5).map(|_| before.allocate().unwrap()[0]).collect();
        // A restart: a fresh allocator that has only seen the Nodes (one was deleted meanwhile).
        let mut after = CidrAllocator::new(&[(net("10.244.0.0/16"), 24)]).unwrap();
        after.mark_used(given.iter().filter(|n| **n != net("10.244.3.0/24")));
        assert_eq!(after.allocate().unwrap(), vec![net("10.244.3.0/24")]);
        assert_eq!(after.allocate().unwrap(), vec![net("10.244.5.0/24")]);
    }

    #[test]
    fn ignores_foreign_ranges_and_is_all_or_nothing() {
        let mut a =
            CidrAllocator::new(&[(net("10.0.0.0/24"), 24), (net("fd00::/64"), 64)]).unwrap();
        a.mark_used(&[net("192.168.0.0/24"), net("10.0.0.0/25")]);
        assert_eq!(a.used(), 0);
        a.allocate().unwrap();
        a.release(&[net("fd00::/64")]);
        assert!(a.allocate().is_err(), "v4 pool is full");
        assert_eq!(
            a.used(),
            1,
            "the v6 range was not taken by the failed allocation"
        );
    }

    #[test]
    fn rejects_masks_that_do_not_fit() {
        assert!(CidrAllocator::new(&[(net("10.0.0.0/16"), 8)]).is_err());
        assert!(CidrAllocator::new(&[(net("10.0.0.0/16"), 33)]).is_err());
    }
}
