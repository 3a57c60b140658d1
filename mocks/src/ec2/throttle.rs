//! EC2-like request throttling: one token bucket per API action, each with a capacity and a
//! refill rate; a request takes one token or gets `RequestLimitExceeded` (HTTP 503).
//!
//! [`Throttle::ec2_defaults`] follows "Request throttling for the Amazon EC2 API" (EC2 Developer
//! Guide, `ec2-api-throttling`, request token bucket sizes and refill rates):
//!
//! | action(s) | category on that page | capacity | refill/s |
//! |---|---|---|---|
//! | Describe* (VPCs, subnets, route tables, instance attribute) | non-mutating | 100 | 20 |
//! | DescribeInstances, DescribeNetworkInterfaces without filter, IDs or pagination | unfiltered and unpaginated non-mutating | 50 | 10 |
//! | CreateRoute, ReplaceRoute, DeleteRoute, ModifyInstanceAttribute | mutating | 50 | 5 |
//! | ModifyNetworkInterfaceAttribute | uncategorized | 100 | 5 |
//! | CreateTags | uncategorized | 100 | 10 |
//! | TerminateInstances | uncategorized (request tokens) | 100 | 5 |
//!
//! TerminateInstances' separate resource-token bucket (1000, 20/s) is not modelled.
//! The same buckets replay a [`CallLog`](super::record::CallLog) to check that a client stayed
//! inside the budget.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// One bucket: burst capacity and tokens added per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Maximum tokens (the burst).
    pub capacity: f64,
    /// Tokens added per second, up to the capacity.
    pub refill_per_sec: f64,
}

impl Bucket {
    /// A bucket of `capacity` tokens refilled at `refill_per_sec`.
    pub const fn new(capacity: f64, refill_per_sec: f64) -> Self {
        Self {
            capacity,
            refill_per_sec,
        }
    }
}

/// EC2's bucket for non-mutating actions.
pub const NON_MUTATING: Bucket = Bucket::new(100.0, 20.0);
/// EC2's smaller bucket for unfiltered, unpaginated DescribeInstances/DescribeNetworkInterfaces.
pub const UNFILTERED: Bucket = Bucket::new(50.0, 10.0);
/// EC2's bucket for mutating actions without their own entry.
pub const MUTATING: Bucket = Bucket::new(50.0, 5.0);

/// The throttling configuration: which bucket each action draws from.
#[derive(Debug, Clone, PartialEq)]
pub struct Throttle {
    enabled: bool,
    per_action: BTreeMap<String, Bucket>,
    unfiltered: BTreeMap<String, Bucket>,
    non_mutating: Bucket,
    mutating: Bucket,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::ec2_defaults()
    }
}

impl Throttle {
    /// EC2's documented buckets (see the module docs for the table and the source).
    pub fn ec2_defaults() -> Self {
        let per_action = [
            ("CreateRoute", MUTATING),
            ("ReplaceRoute", MUTATING),
            ("DeleteRoute", MUTATING),
            ("ModifyInstanceAttribute", MUTATING),
            ("ModifyNetworkInterfaceAttribute", Bucket::new(100.0, 5.0)),
            ("CreateTags", Bucket::new(100.0, 10.0)),
            ("TerminateInstances", Bucket::new(100.0, 5.0)),
        ];
        let unfiltered = [
            ("DescribeInstances", UNFILTERED),
            ("DescribeNetworkInterfaces", UNFILTERED),
        ];
        Self {
            enabled: true,
            per_action: per_action
                .into_iter()
                .map(|(a, b)| (a.to_string(), b))
                .collect(),
            unfiltered: unfiltered
                .into_iter()
                .map(|(a, b)| (a.to_string(), b))
                .collect(),
            non_mutating: NON_MUTATING,
            mutating: MUTATING,
        }
    }

    /// No throttling at all.
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::ec2_defaults()
        }
    }

    /// Overrides one action's bucket (e.g. a tiny bucket to provoke throttling in a test).
    pub fn with_bucket(mut self, action: &str, capacity: f64, refill_per_sec: f64) -> Self {
        self.per_action
            .insert(action.to_string(), Bucket::new(capacity, refill_per_sec));
        self.unfiltered.remove(action);
        self
    }

    /// Whether any request can be throttled.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The bucket a request draws from, with its key; `None` when throttling is off. `narrowed`
    /// says whether a Describe call had a filter, explicit IDs or pagination.
    pub fn bucket_for(&self, action: &str, narrowed: bool) -> Option<(String, Bucket)> {
        if !self.enabled {
            return None;
        }
        if !narrowed && let Some(b) = self.unfiltered.get(action) {
            return Some((format!("{action}#unfiltered"), *b));
        }
        if let Some(b) = self.per_action.get(action) {
            return Some((action.to_string(), *b));
        }
        let b = if super::actions::is_mutating(action) {
            self.mutating
        } else {
            self.non_mutating
        };
        Some((action.to_string(), b))
    }
}

/// The live token counts, keyed by bucket; time is the offset from the server's start, so the
/// same code replays a recorded call log.
#[derive(Debug, Default)]
pub struct Buckets {
    state: HashMap<String, (f64, Duration)>,
}

impl Buckets {
    /// Takes one token at time `at`; `false` means the request is throttled.
    pub fn take(&mut self, key: &str, bucket: Bucket, at: Duration) -> bool {
        let (tokens, last) = self
            .state
            .entry(key.to_string())
            .or_insert((bucket.capacity, at));
        let elapsed = at.saturating_sub(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * bucket.refill_per_sec).min(bucket.capacity);
        *last = at.max(*last);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Empties one bucket, as a burst of someone else's traffic would.
    pub fn drain(&mut self, key: &str, at: Duration) {
        self.state.insert(key.to_string(), (0.0, at));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_its_capacity_then_its_refill_rate() {
        let mut b = Buckets::default();
        let bucket = Bucket::new(3.0, 2.0);
        let t0 = Duration::ZERO;
        assert!((0..3).all(|_| b.take("a", bucket, t0)));
        assert!(!b.take("a", bucket, t0));
        assert!(b.take("a", bucket, Duration::from_millis(500)));
        assert!(!b.take("a", bucket, Duration::from_millis(500)));
    }

    #[test]
    fn unfiltered_describe_instances_uses_the_smaller_bucket() {
        let t = Throttle::ec2_defaults();
        assert_eq!(
            t.bucket_for("DescribeInstances", false).unwrap().1,
            UNFILTERED
        );
        assert_eq!(
            t.bucket_for("DescribeInstances", true).unwrap().1,
            NON_MUTATING
        );
        assert_eq!(t.bucket_for("CreateRoute", true).unwrap().1, MUTATING);
        assert_eq!(
            t.bucket_for("CreateTags", true).unwrap().1,
            Bucket::new(100.0, 10.0)
        );
        assert!(Throttle::off().bucket_for("CreateRoute", true).is_none());
    }
}
