//! The last route listing, kept current with this process's own successful writes, so that a
//! pass woken by a Node event can plan without listing again (see
//! [`crate::RouteProvider::reuses_listing`]). It is trusted only within the lease term it was
//! listed in and only while every write since is known to have landed: another leader may have
//! written in between terms, and a failed or timed-out write may or may not have been applied.
//! Changes made behind our back (drift, foreign routes) are seen at the next full list, the
//! resync.

use std::collections::BTreeSet;

use crate::model::{CloudRoute, RouteSnapshot};

/// A listing and the lease term it belongs to.
#[derive(Debug)]
pub(super) struct LastListing {
    snapshot: RouteSnapshot,
    term: u64,
    /// A write failed since: what the cloud holds is no longer known.
    stale: bool,
}

impl LastListing {
    pub(super) fn new(snapshot: RouteSnapshot, term: u64) -> Self {
        Self {
            snapshot,
            term,
            stale: false,
        }
    }

    pub(super) fn snapshot(&self) -> &RouteSnapshot {
        &self.snapshot
    }

    /// Whether a pass in `term` may plan from this listing.
    pub(super) fn is_current(&self, term: u64) -> bool {
        self.term == term && !self.stale
    }

    /// A write failed or timed out: it may or may not have landed.
    pub(super) fn invalidate(&mut self) {
        self.stale = true;
    }

    /// A pass's writes landed: the `removed` routes (deleted, found already gone, or replaced)
    /// no longer exist and the `added` ones do. One sweep however many there are: a sweep per
    /// delete would be quadratic when thousands of nodes go at once.
    pub(super) fn record(&mut self, removed: &BTreeSet<CloudRoute>, added: Vec<CloudRoute>) {
        if !removed.is_empty() {
            self.snapshot.routes.retain(|r| !removed.contains(r));
        }
        self.snapshot.routes.extend(added);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RouteState, RouteTarget, TableId};

    fn route(dest: &str, target: &str, claimed: bool) -> CloudRoute {
        CloudRoute {
            table: TableId("net".into()),
            destination: dest.parse().unwrap(),
            target: RouteTarget::Instance(target.into()),
            state: RouteState::Active,
            name: None,
            claimed,
        }
    }

    #[test]
    fn writes_and_deletes_are_applied_and_foreign_routes_kept() {
        let foreign = route("10.244.1.0/24", "vpn", false);
        let ours = route("10.244.2.0/24", "i-2", true);
        let mut l = LastListing::new(
            RouteSnapshot {
                tables: Vec::new(),
                routes: vec![foreign.clone(), ours.clone()],
            },
            3,
        );
        let moved = route("10.244.2.0/24", "i-9", true);
        let created = route("10.244.1.0/24", "i-1", true);
        l.record(
            &BTreeSet::from([ours.clone()]),
            vec![moved.clone(), created.clone()],
        );
        assert_eq!(
            l.snapshot().routes,
            vec![foreign.clone(), moved.clone(), created.clone()]
        );
        l.record(&BTreeSet::from([moved]), Vec::new());
        assert_eq!(l.snapshot().routes, vec![foreign, created]);
        assert!(l.is_current(3));
        assert!(!l.is_current(4), "another term must list again");
        l.invalidate();
        assert!(!l.is_current(3), "a failed write must list again");
    }
}
