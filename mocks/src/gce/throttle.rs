//! Compute Engine rate quotas: per project, per quota group, counted in synchronized one-minute
//! intervals (a group that runs out refills at the start of the next interval, not gradually).
//! A request over its group's quota gets 403 `rateLimitExceeded` in domain `usageLimits`.
//!
//! [`Throttle::gce_defaults`] follows "Compute Engine rate quotas"
//! (cloud.google.com/compute/api-quota, "Rate quotas for global metrics"):
//!
//! | group (metric) | methods here | per minute |
//! |---|---|---|
//! | Queries (`compute.googleapis.com/default`): global mutation methods | `routes.insert`, `routes.delete` | 1500 |
//! | Read requests (`compute.googleapis.com/read_requests`): global `*.get` | `routes.get`, `instances.get`, `networks.get`, `projects.get`, `zones.get` | 1500 |
//! | List requests (`compute.googleapis.com/list_requests`): `*.list` | `routes.list`, `zones.list`, `globalOperations.list` | 1500 |
//! | Operation read requests (`compute.googleapis.com/operation_read_requests`) | `globalOperations.get`, `.wait` | 1500 |
//!
//! The first two values are the page's defaults; the list and operation-read values were not
//! legible in the copy consulted and use the same 1500 as a conservative assumption (override
//! with [`Throttle::with_limit`]). Intervals start when the server starts.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The Queries group: mutations.
pub const QUERIES: &str = "Queries";
/// The Read requests group: `*.get`.
pub const READ: &str = "Read requests";
/// The List requests group: `*.list`.
pub const LIST: &str = "List requests";
/// The Operation read requests group: operation `get`/`wait`.
pub const OPERATION_READ: &str = "Operation read requests";

/// The rate-quota configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Throttle {
    enabled: bool,
    limits: BTreeMap<String, u64>,
    interval: Duration,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::gce_defaults()
    }
}

impl Throttle {
    /// Compute Engine's default per-project quotas (see the module docs).
    pub fn gce_defaults() -> Self {
        Self {
            enabled: true,
            limits: [QUERIES, READ, LIST, OPERATION_READ]
                .into_iter()
                .map(|g| (g.to_string(), 1500))
                .collect(),
            interval: Duration::from_secs(60),
        }
    }

    /// No throttling.
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::gce_defaults()
        }
    }

    /// Sets one group's requests per interval (e.g. a tiny quota to provoke throttling).
    pub fn with_limit(mut self, group: &str, per_interval: u64) -> Self {
        self.limits.insert(group.to_string(), per_interval);
        self
    }

    /// Sets the interval length (60 s on GCE); shorter ones keep tests fast.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Whether any request can be throttled.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// One group's limit per interval.
    pub fn limit(&self, group: &str) -> Option<u64> {
        self.limits.get(group).copied()
    }

    /// The quota group of an API method, `None` for methods no group counts.
    pub fn group_of(method: &str) -> Option<&'static str> {
        let verb = method.rsplit('.').next()?;
        if method.starts_with("compute.globalOperations.") && matches!(verb, "get" | "wait") {
            return Some(OPERATION_READ);
        }
        match verb {
            "get" => Some(READ),
            "list" => Some(LIST),
            "insert" | "delete" => Some(QUERIES),
            _ => None,
        }
    }
}

/// The live counts per group for the current interval.
#[derive(Debug, Default)]
pub struct Windows {
    counts: HashMap<String, (u128, u64)>,
}

impl Windows {
    /// Counts one request of `method` at `at` (from the server's start); `Some(group)` when the
    /// group's quota for this interval is already used up.
    pub fn take(
        &mut self,
        throttle: &Throttle,
        method: &str,
        at: Duration,
    ) -> Option<&'static str> {
        if !throttle.enabled {
            return None;
        }
        let group = Throttle::group_of(method)?;
        let limit = throttle.limit(group)?;
        let interval = at.as_nanos() / throttle.interval.as_nanos().max(1);
        let entry = self
            .counts
            .entry(group.to_string())
            .or_insert((interval, 0));
        if entry.0 != interval {
            *entry = (interval, 0);
        }
        if entry.1 >= limit {
            return Some(group);
        }
        entry.1 += 1;
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_group_refills_at_the_next_interval_not_before() {
        let t = Throttle::gce_defaults().with_limit(QUERIES, 2);
        let mut w = Windows::default();
        let s = Duration::from_secs;
        assert_eq!(w.take(&t, "compute.routes.insert", s(0)), None);
        assert_eq!(w.take(&t, "compute.routes.delete", s(1)), None);
        assert_eq!(w.take(&t, "compute.routes.insert", s(59)), Some(QUERIES));
        assert_eq!(
            w.take(&t, "compute.routes.get", s(59)),
            None,
            "reads are a separate group"
        );
        assert_eq!(w.take(&t, "compute.routes.insert", s(60)), None);
        assert_eq!(
            w.take(&Throttle::off(), "compute.routes.insert", s(60)),
            None
        );
    }

    #[test]
    fn methods_map_to_their_groups() {
        assert_eq!(
            Throttle::group_of("compute.globalOperations.wait"),
            Some(OPERATION_READ)
        );
        assert_eq!(
            Throttle::group_of("compute.globalOperations.get"),
            Some(OPERATION_READ)
        );
        assert_eq!(
            Throttle::group_of("compute.globalOperations.list"),
            Some(LIST)
        );
        assert_eq!(Throttle::group_of("compute.instances.get"), Some(READ));
        assert_eq!(Throttle::group_of("unknown"), None);
    }
}
