//! Per-node backoff across passes. A node whose route keeps failing (quota, a permission its
//! instance lacks, throttling) waits longer each time, with jitter so a batch of failures does
//! not retry in lockstep; every other node keeps converging on every pass. This is what the
//! Kubernetes route controller lacks: one failing node there makes the whole 10 s pass retry it.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    until: Instant,
}

/// Backoff state keyed by node name.
#[derive(Clone, Debug)]
pub struct NodeBackoff {
    base: Duration,
    max: Duration,
    entries: BTreeMap<String, Entry>,
}

impl NodeBackoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            entries: BTreeMap::new(),
        }
    }

    /// Whether `node` may be tried now.
    pub fn ready(&self, node: &str, now: Instant) -> bool {
        self.entries.get(node).is_none_or(|e| now >= e.until)
    }

    /// Records a failure and returns how long the node now waits: base·2^(n-1), capped, then
    /// jittered to [50%, 100%] of that. `at_least` lets a throttle hint stretch the wait.
    pub fn failed(&mut self, node: &str, now: Instant, at_least: Option<Duration>) -> Duration {
        let failures = self
            .entries
            .get(node)
            .map_or(0, |e| e.failures)
            .saturating_add(1);
        let exp = self
            .base
            .saturating_mul(1u32 << (failures - 1).min(20))
            .min(self.max);
        let jittered = exp.mul_f64(rand::rng().random_range(0.5..=1.0));
        let wait = jittered.max(at_least.unwrap_or_default());
        self.entries.insert(
            node.to_string(),
            Entry {
                failures,
                until: now + wait,
            },
        );
        wait
    }

    /// Forgets a node after a success (or its deletion).
    pub fn succeeded(&mut self, node: &str) {
        self.entries.remove(node);
    }

    pub fn failures(&self, node: &str) -> u32 {
        self.entries.get(node).map_or(0, |e| e.failures)
    }

    /// The earliest moment a waiting node becomes ready, to schedule the next pass.
    pub fn next_ready(&self, now: Instant) -> Option<Instant> {
        self.entries
            .values()
            .map(|e| e.until)
            .filter(|u| *u > now)
            .min()
    }

    /// Drops entries of nodes that no longer exist.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.entries.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_with_failures_and_stay_capped() {
        let mut b = NodeBackoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let now = Instant::now();
        let mut last_cap = Duration::ZERO;
        for n in 1..=10u32 {
            let wait = b.failed("n1", now, None);
            let cap = Duration::from_secs(1)
                .saturating_mul(1 << (n - 1))
                .min(Duration::from_secs(30));
            assert!(
                wait <= cap && wait >= cap / 2,
                "failure {n}: {wait:?} vs cap {cap:?}"
            );
            assert!(cap >= last_cap);
            last_cap = cap;
        }
        assert_eq!(b.failures("n1"), 10);
    }

    #[test]
    fn a_waiting_node_does_not_block_others() {
        let mut b = NodeBackoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let now = Instant::now();
        b.failed("bad", now, None);
        assert!(!b.ready("bad", now));
        assert!(b.ready("good", now));
        assert!(b.next_ready(now).is_some());
        b.succeeded("bad");
        assert!(b.ready("bad", now));
        assert_eq!(b.next_ready(now), None);
    }

    #[test]
    fn throttle_hints_stretch_the_wait() {
        let mut b = NodeBackoff::new(Duration::from_millis(10), Duration::from_secs(1));
        let wait = b.failed("n", Instant::now(), Some(Duration::from_secs(5)));
        assert_eq!(wait, Duration::from_secs(5));
    }
}
