//! What the reliability tests (`soak.rs`, `split_brain.rs`) share: the cluster, the clouds
//! under test ([`ec2`], [`gce`]: each seeds its foreign routes and judges its own mock's call
//! log through [`cloud::CloudUnderTest`]), and the checks every cloud gets — leader safety
//! (every write inside its writer's own, unexpired lease term, from the fake API's lease
//! history), plus a seeded RNG and the env knobs. The checks read only the mocks' records,
//! never the controller's own view of itself.

#![allow(dead_code)] // each test crate uses its own subset

pub mod cloud;
pub mod ec2;
pub mod gce;

use std::time::{Duration, Instant};

use routeplane_mocks::kube_api::{LeaseRecord, node};

pub use cloud::{CloudUnderTest, Write};

pub const CLUSTER: &str = "soak";
pub const CLUSTER_CIDR: &str = "10.240.0.0/12";
pub const LEASE_NS: &str = "kube-system";
pub const LEASE_NAME: &str = "routeplane-controller";

/// Node `k`'s Pod CIDR: the k-th /24 of the cluster CIDR (k < 3840; the top /20 is kept for
/// foreign routes inside the cluster CIDR).
pub fn pod_cidr(k: usize) -> String {
    assert!(k < 3840, "node index {k} would reach the foreign range");
    format!("10.{}.{}.0/24", 240 + k / 256, k % 256)
}

pub fn node_name(k: usize) -> String {
    format!("node-{k}")
}

/// Node `k` as the kubelet registers it, with its Pod CIDR and `providerID` set.
pub fn node_object(k: usize, provider_id: &str) -> serde_json::Value {
    node(&node_name(k))
        .pod_cidr(&pod_cidr(k))
        .provider_id(provider_id)
        .build()
}

/// The leadership terms as the API server committed them, to judge writes against.
pub struct Terms {
    records: Vec<LeaseRecord>,
}

/// A write made outside its writer's valid term.
#[derive(Debug)]
pub struct TermViolation {
    pub writer: String,
    pub action: String,
    /// Offset from the first lease record.
    pub at: Duration,
    /// Who validly held the lease then, if anyone.
    pub holder: Option<String>,
}

impl Terms {
    pub fn new(records: Vec<LeaseRecord>) -> Self {
        Self { records }
    }

    /// Who validly held the lease at `t`: the holder of the last committed write at or before
    /// `t`, provided that write is younger than its lease duration (every renewal is a write).
    pub fn holder_at(&self, t: Instant) -> Option<&str> {
        let after = self.records.partition_point(|r| r.at <= t);
        let last = self.records.get(after.checked_sub(1)?)?;
        let valid = Duration::from_secs(
            u64::try_from(last.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
        );
        (t.duration_since(last.at) < valid)
            .then_some(last.holder.as_deref())
            .flatten()
    }

    /// When `identity` last committed a write to the lease before `t`.
    pub fn last_commit_by(&self, identity: &str, before: Instant) -> Option<Instant> {
        self.records
            .iter()
            .rev()
            .find(|r| r.at <= before && r.holder.as_deref() == Some(identity))
            .map(|r| r.at)
    }

    /// When the lease was first committed with `identity` as holder after `after`.
    pub fn first_commit_by(&self, identity: &str, after: Instant) -> Option<Instant> {
        self.records
            .iter()
            .find(|r| r.at >= after && r.holder.as_deref() == Some(identity))
            .map(|r| r.at)
    }

    /// Distinct holders in commit order (a holder appears again after someone else held it).
    pub fn handovers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.records {
            if let Some(h) = &r.holder
                && out.last() != Some(h)
            {
                out.push(h.clone());
            }
        }
        out
    }

    /// Every write that arrived (or, if it took effect, was answered) while its writer did
    /// not validly hold the lease. `writer_of` maps the credential the mock recorded to the
    /// identity of the replica that used it.
    pub fn violations(
        &self,
        writes: &[Write],
        writer_of: impl Fn(&str) -> Option<String>,
    ) -> Vec<TermViolation> {
        let Some(origin) = self.records.first().map(|r| r.at) else {
            return writes
                .iter()
                .map(|w| TermViolation {
                    writer: w.writer.clone().unwrap_or_default(),
                    action: w.action.clone(),
                    at: Duration::ZERO,
                    holder: None,
                })
                .collect();
        };
        let mut out = Vec::new();
        for w in writes {
            let writer = w
                .writer
                .as_deref()
                .and_then(&writer_of)
                .unwrap_or_else(|| format!("unknown credential {:?}", w.writer));
            for t in std::iter::once(w.arrived).chain(w.applied) {
                let holder = self.holder_at(t);
                if holder != Some(writer.as_str()) {
                    out.push(TermViolation {
                        writer: writer.clone(),
                        action: w.action.clone(),
                        at: t.saturating_duration_since(origin),
                        holder: holder.map(str::to_string),
                    });
                }
            }
        }
        out
    }
}

/// A small seeded PRNG (xorshift64*): reproducible schedules without another dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        lo + (hi - lo).mul_f64(self.unit())
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
}

/// Reads an env knob, falling back to `default`.
pub fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
