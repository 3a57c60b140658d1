//! The built-in host-local style IPAM: range sets over a locked reservation store.
//!
//! [`allocate`] takes one address from each range set, all-or-nothing, under the store's lock;
//! [`release`] and [`gc`] give addresses back. The plugin calls these before it touches any
//! link, so a refused ADD (duplicate, exhausted) leaves nothing behind.

pub mod range;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;

pub use self::range::{Range, range_sets};
use self::range::{from_u128, to_u128};
pub use self::store::{Owner, Store};
use crate::error::{Error, Result};

/// One allocated address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// The address with its subnet's prefix length.
    pub address: IpNet,
    /// The gateway of its range.
    pub gateway: IpAddr,
}

/// Allocates one address per range set for `owner`.
///
/// # Errors
/// [`Error::AlreadyAttached`] when `owner` already holds addresses, [`Error::Exhausted`] when a
/// set is full (nothing is kept in either case), [`Error::Io`].
pub fn allocate(store: &Store, sets: &[Vec<Range>], owner: &Owner) -> Result<Vec<Allocation>> {
    let lock = store.lock()?;
    let existing = store.reservations()?;
    let mine: Vec<String> = existing
        .iter()
        .filter(|(_, o)| o == owner)
        .map(|(ip, _)| ip.to_string())
        .collect();
    if !mine.is_empty() {
        return Err(Error::AlreadyAttached {
            container_id: owner.container_id.clone(),
            ifname: owner.ifname.clone(),
            addresses: mine.join(","),
        });
    }
    let used: HashSet<IpAddr> = existing.into_iter().map(|(ip, _)| ip).collect();

    let mut picks: Vec<(usize, Allocation)> = Vec::new();
    let mut result = Ok(());
    for (i, set) in sets.iter().enumerate() {
        match pick(set, &used, store.cursor(i)) {
            Some(a) => picks.push((i, a)),
            None => {
                let labels: Vec<String> = set.iter().map(Range::label).collect();
                result = Err(Error::Exhausted(labels.join(", ")));
                break;
            }
        }
    }
    result?;

    let mut done: Vec<IpAddr> = Vec::new();
    for (_, a) in &picks {
        let ip = a.address.addr();
        let outcome = store.reserve(&lock, ip, owner).and_then(|ok| {
            if ok {
                Ok(())
            } else {
                // Cannot happen under the lock unless someone edits the store by hand.
                Err(Error::Exhausted(format!("{ip} was taken concurrently")))
            }
        });
        if let Err(e) = outcome {
            for ip in &done {
                let _ = store.release(&lock, *ip);
            }
            return Err(e);
        }
        done.push(ip);
    }
    for (i, a) in &picks {
        store.set_cursor(&lock, *i, a.address.addr())?;
    }
    Ok(picks.into_iter().map(|(_, a)| a).collect())
}

/// The first free address after the cursor, wrapping around, over the set's ranges in order.
fn pick(set: &[Range], used: &HashSet<IpAddr>, cursor: Option<IpAddr>) -> Option<Allocation> {
    // Start in the range holding the cursor, just after it; otherwise at the first range.
    let (first_range, after) = cursor
        .and_then(|c| {
            set.iter()
                .position(|r| r.subnet.contains(&c))
                .map(|i| (i, Some(c)))
        })
        .unwrap_or((0, None));
    let n = set.len();
    for k in 0..=n {
        let r = &set[(first_range + k) % n];
        let start = to_u128(r.start);
        let end = to_u128(r.end);
        // Only the cursor's own range is split into "after the cursor" then "before it".
        let (from, wrap_to) = match after {
            Some(c) if k == 0 && to_u128(c) >= start && to_u128(c) < end => (to_u128(c) + 1, true),
            _ if k == n => continue,
            _ => (start, false),
        };
        if let Some(a) = scan(r, from, end, used) {
            return Some(a);
        }
        if wrap_to && let Some(a) = scan(r, start, from - 1, used) {
            return Some(a);
        }
    }
    None
}

/// Walks `from..=to`, bounded by how many addresses could possibly be taken, so a /64 costs the
/// same as a /24.
fn scan(r: &Range, from: u128, to: u128, used: &HashSet<IpAddr>) -> Option<Allocation> {
    let budget = used.len() as u128 + 3;
    let mut v = from;
    let mut steps = 0u128;
    while v <= to && steps <= budget {
        let ip = from_u128(v, r.start);
        if r.allocatable(ip) && !used.contains(&ip) {
            let address = IpNet::new(ip, r.subnet.prefix_len()).ok()?;
            return Some(Allocation {
                address,
                gateway: r.gateway,
            });
        }
        if r.allocatable(ip) {
            steps += 1;
        }
        v += 1;
    }
    None
}

/// The addresses `owner` holds (no lock needed).
///
/// # Errors
/// [`Error::Io`].
pub fn owned_by(store: &Store, owner: &Owner) -> Result<Vec<IpAddr>> {
    Ok(store
        .reservations()?
        .into_iter()
        .filter(|(_, o)| o == owner)
        .map(|(ip, _)| ip)
        .collect())
}

/// Releases everything `owner` holds; returns what was released.
///
/// # Errors
/// [`Error::Io`].
pub fn release(store: &Store, owner: &Owner) -> Result<Vec<IpAddr>> {
    let lock = store.lock()?;
    let mut out = Vec::new();
    for (ip, o) in store.reservations()? {
        if &o == owner {
            store.release(&lock, ip)?;
            out.push(ip);
        }
    }
    Ok(out)
}

/// Releases every reservation whose owner is not in `valid`. Returns (kept, released).
///
/// # Errors
/// [`Error::Io`].
pub fn gc(store: &Store, valid: &HashSet<Owner>) -> Result<(HashMap<IpAddr, Owner>, Vec<IpAddr>)> {
    let lock = store.lock()?;
    let mut kept = HashMap::new();
    let mut released = Vec::new();
    for (ip, o) in store.reservations()? {
        if valid.contains(&o) {
            kept.insert(ip, o);
        } else {
            store.release(&lock, ip)?;
            released.push(ip);
        }
    }
    Ok((kept, released))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::RangeConf;

    fn set(s: &str) -> Vec<Range> {
        vec![
            Range::from_conf(&RangeConf {
                subnet: s.parse().unwrap(),
                range_start: None,
                range_end: None,
                gateway: None,
            })
            .unwrap(),
        ]
    }

    fn owner(i: usize) -> Owner {
        Owner {
            container_id: format!("c{i}"),
            ifname: "eth0".into(),
        }
    }

    #[test]
    fn allocates_distinct_addresses_until_exhausted_then_reuses_released_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "net").unwrap();
        let sets = vec![set("10.9.0.0/29")];
        let mut seen = HashSet::new();
        for i in 0..5 {
            let a = allocate(&store, &sets, &owner(i)).unwrap();
            assert!(seen.insert(a[0].address.addr()), "duplicate {a:?}");
            assert_eq!(a[0].gateway.to_string(), "10.9.0.1");
        }
        let e = allocate(&store, &sets, &owner(9)).unwrap_err();
        assert_eq!(e.code(), crate::error::code::TRY_AGAIN);
        assert_eq!(release(&store, &owner(2)).unwrap().len(), 1);
        let a = allocate(&store, &sets, &owner(9)).unwrap();
        assert!(seen.contains(&a[0].address.addr()));
    }

    #[test]
    fn second_allocation_for_the_same_owner_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "net").unwrap();
        let sets = vec![set("10.9.0.0/24"), set("fd00:9::/64")];
        let a = allocate(&store, &sets, &owner(1)).unwrap();
        assert_eq!(a.len(), 2);
        let e = allocate(&store, &sets, &owner(1)).unwrap_err();
        assert_eq!(e.code(), crate::error::code::ALREADY_ATTACHED);
        assert_eq!(owned_by(&store, &owner(1)).unwrap().len(), 2);
    }

    #[test]
    fn exhausting_one_set_keeps_nothing_from_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "net").unwrap();
        let sets = vec![set("10.9.0.0/24"), set("10.8.0.0/30")];
        allocate(&store, &sets, &owner(1)).unwrap();
        assert!(allocate(&store, &sets, &owner(2)).is_err());
        assert!(owned_by(&store, &owner(2)).unwrap().is_empty());
    }

    #[test]
    fn gc_releases_only_invalid_owners() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "net").unwrap();
        let sets = vec![set("10.9.0.0/24")];
        for i in 0..4 {
            allocate(&store, &sets, &owner(i)).unwrap();
        }
        let valid: HashSet<Owner> = [owner(1), owner(3)].into_iter().collect();
        let (kept, released) = gc(&store, &valid).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(released.len(), 2);
    }

    #[test]
    fn round_robin_does_not_reuse_a_just_released_address() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "net").unwrap();
        let sets = vec![set("10.9.0.0/24")];
        let a = allocate(&store, &sets, &owner(1)).unwrap();
        release(&store, &owner(1)).unwrap();
        let b = allocate(&store, &sets, &owner(2)).unwrap();
        assert_ne!(a[0].address, b[0].address);
    }
}
