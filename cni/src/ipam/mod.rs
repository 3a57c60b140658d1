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
pub use self::store::{Corrupt, Owner, Scan, Store};
use crate::error::{Error, Result};
use crate::killpoint;

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
    killpoint::reached("ipam_locked")?;
    // Strict: an unreadable entry could hide a taken address, so it stops the allocation.
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
    for (i, set) in sets.iter().enumerate() {
        match pick(set, &used, store.cursor(i)) {
            Some(a) => picks.push((i, a)),
            None => {
                let labels: Vec<String> = set.iter().map(Range::label).collect();
                return Err(Error::Exhausted(labels.join(", ")));
            }
        }
    }

    // Reserve, then move the cursors; on any failure give back what this call reserved, so an
    // ADD that reports an error holds nothing.
    let mut done: Vec<IpAddr> = Vec::new();
    let outcome = (|| {
        for (_, a) in &picks {
            let ip = a.address.addr();
            if !store.reserve(&lock, ip, owner)? {
                // Cannot happen under the lock unless someone edits the store by hand.
                return Err(Error::Exhausted(format!("{ip} was taken concurrently")));
            }
            done.push(ip);
            if done.len() == 1 {
                killpoint::reached("ipam_reserved_one")?;
            }
        }
        killpoint::reached("ipam_reserved_all")?;
        for (i, a) in &picks {
            store.set_cursor(&lock, *i, a.address.addr())?;
        }
        Ok(())
    })();
    if let Err(e) = outcome {
        for ip in &done {
            let _ = store.release(&lock, *ip);
        }
        return Err(e);
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

/// The addresses `owner` holds (no lock needed). Unreadable entries are skipped: they cannot be
/// matched to an owner, and they stay reserved until repaired, so nothing is double-booked.
///
/// # Errors
/// [`Error::Io`].
pub fn owned_by(store: &Store, owner: &Owner) -> Result<Vec<IpAddr>> {
    Ok(store
        .scan()?
        .held
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
    for (ip, o) in store.scan()?.held {
        if &o == owner {
            store.release(&lock, ip)?;
            out.push(ip);
            if out.len() == 1 {
                killpoint::reached("ipam_released_one")?;
            }
        }
    }
    Ok(out)
}

/// What [`gc`] did.
#[derive(Debug, Default)]
pub struct GcOutcome {
    /// Reservations of valid attachments, kept.
    pub kept: HashMap<IpAddr, Owner>,
    /// Released addresses.
    pub released: Vec<IpAddr>,
    /// Unreadable entries, left in place (their owner is unknown, so they may be live).
    pub corrupt: Vec<Corrupt>,
}

/// Releases every reservation whose owner is not in `valid`. Unreadable entries are neither
/// kept nor released: they are returned so the caller reports them.
///
/// # Errors
/// [`Error::Io`].
pub fn gc(store: &Store, valid: &HashSet<Owner>) -> Result<GcOutcome> {
    let lock = store.lock()?;
    let scan = store.scan()?;
    let mut out = GcOutcome {
        corrupt: scan.corrupt,
        ..GcOutcome::default()
    };
    for (ip, o) in scan.held {
        if valid.contains(&o) {
            out.kept.insert(ip, o);
        } else {
            store.release(&lock, ip)?;
            out.released.push(ip);
            if out.released.len() == 1 {
                killpoint::reached("ipam_released_one")?;
            }
        }
    }
    Ok(out)
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
        let out = gc(&store, &valid).unwrap();
        assert_eq!(out.kept.len(), 2);
        assert_eq!(out.released.len(), 2);
    }

    /// Makes a broken entry at the given path.
    type Breaker = fn(&std::path::Path);

    fn corrupt_entries() -> Vec<(&'static str, Breaker)> {
        vec![
            // host-local's format (a regular file), truncated to nothing.
            ("10.9.0.9", |p| std::fs::write(p, b"").unwrap()),
            // host-local's format, intact: still not ours.
            ("10.9.0.9", |p| std::fs::write(p, b"c9\r\neth0").unwrap()),
            ("10.9.0.9", |p| std::fs::create_dir(p).unwrap()),
            ("10.9.0.9", |p| {
                std::os::unix::fs::symlink("no-owner", p).unwrap()
            }),
            ("10.9.0.9", |p| {
                std::os::unix::fs::symlink("../x/eth0", p).unwrap()
            }),
            ("10.9.0.9", |p| {
                std::os::unix::fs::symlink("c9/", p).unwrap()
            }),
            ("fd00:9:0::9", |p| {
                std::os::unix::fs::symlink("c9/eth0", p).unwrap()
            }),
        ]
    }

    #[test]
    fn a_corrupt_entry_stops_allocation_with_an_error_naming_it() {
        for (name, make) in corrupt_entries() {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path(), "net").unwrap();
            let sets = vec![set("10.9.0.0/24"), set("fd00:9::/64")];
            allocate(&store, &sets, &owner(1)).unwrap();
            let entry = store.dir().join(name);
            make(&entry);
            let e = allocate(&store, &sets, &owner(2)).unwrap_err();
            assert_eq!(e.code(), crate::error::code::IO_FAILURE, "{name}: {e}");
            let msg = e.to_string();
            assert!(
                msg.contains(&entry.display().to_string())
                    && msg.contains("corrupt")
                    && msg.contains("docs/cni.md"),
                "{name}: {msg}"
            );
            // Nothing was handed out, and the healthy attachment is still readable.
            assert!(owned_by(&store, &owner(2)).unwrap().is_empty(), "{name}");
            assert_eq!(owned_by(&store, &owner(1)).unwrap().len(), 2, "{name}");
            // GC reports the entry and leaves it alone (its owner may be live); the healthy
            // attachment it was not told to keep is released.
            let out = gc(&store, &HashSet::new()).unwrap();
            assert_eq!(out.corrupt.len(), 1, "{name}");
            assert_eq!(out.released.len(), 2, "{name}");
            assert!(std::fs::symlink_metadata(&entry).is_ok(), "{name}");
            assert!(allocate(&store, &sets, &owner(2)).is_err(), "{name}");
            // The documented repair: remove the entry (or recreate it as a symlink to its
            // owner); allocation works again and never returns the repaired address's owner's.
            if std::fs::symlink_metadata(&entry).unwrap().is_dir() {
                std::fs::remove_dir(&entry).unwrap();
            } else {
                std::fs::remove_file(&entry).unwrap();
            }
            let ip: IpAddr = name.parse().unwrap();
            std::os::unix::fs::symlink("c7/eth0", store.dir().join(ip.to_string())).unwrap();
            let a = allocate(&store, &sets, &owner(2)).unwrap();
            assert!(a.iter().all(|x| x.address.addr() != ip), "{name}: {a:?}");
        }
    }

    #[test]
    fn a_truncated_or_garbage_cursor_is_only_a_lost_hint() {
        for content in ["", "10.9.", "not an address", "10.9.0.200\0\0"] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path(), "net").unwrap();
            let sets = vec![set("10.9.0.0/29")];
            let first = allocate(&store, &sets, &owner(1)).unwrap();
            std::fs::write(store.dir().join("last_reserved.0"), content).unwrap();
            let second = allocate(&store, &sets, &owner(2)).unwrap();
            assert_ne!(first[0].address, second[0].address, "{content:?}");
            // The cursor is whole again.
            assert_eq!(
                store.cursor(0),
                Some(second[0].address.addr()),
                "{content:?}"
            );
        }
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
