//! Client-side API budgets: a token bucket per API action class, shaped like the cloud's own
//! (EC2 meters each action with a bucket of N tokens refilled at R per second). Waiting here
//! costs nothing; being throttled by the cloud costs a round trip, a backoff, and — when many
//! controllers share an account — everyone's budget. Providers call [`ApiBudget::acquire`]
//! before every request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Tokens a client keeps below the server's burst size, at least (see
/// [`BucketSpec::client_side`]).
pub const SERVER_HEADROOM_TOKENS: f64 = 2.0;

/// Arrival jitter the headroom absorbs: a fast bucket needs more tokens for the same slack.
pub const SERVER_HEADROOM_JITTER: Duration = Duration::from_millis(250);

/// Size and refill rate of one bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketSpec {
    /// Burst size in requests.
    pub capacity: f64,
    /// Sustained requests per second.
    pub refill_per_sec: f64,
}

impl BucketSpec {
    pub const fn new(capacity: f64, refill_per_sec: f64) -> Self {
        Self {
            capacity,
            refill_per_sec,
        }
    }

    /// The bucket a client should run to stay inside a server's bucket of this spec. Requests
    /// leave in token order but arrive with jitter: one that is delayed, followed by one that is
    /// not, looks to the server like two requests closer together than the refill allows. Keeping
    /// [`SERVER_HEADROOM_JITTER`] worth of tokens (at least [`SERVER_HEADROOM_TOKENS`]) in
    /// reserve absorbs that without slowing the sustained rate.
    pub fn client_side(self) -> Self {
        let jitter = self.refill_per_sec * SERVER_HEADROOM_JITTER.as_secs_f64();
        let headroom = jitter.max(SERVER_HEADROOM_TOKENS);
        Self {
            capacity: (self.capacity - headroom).max(1.0),
            ..self
        }
    }

    /// Parses `CAPACITY/RATE`, e.g. `100/20`, as used by the `--*-budget` flags.
    ///
    /// # Errors
    /// A message naming the bad value.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (c, r) = s
            .split_once('/')
            .ok_or_else(|| format!("budget {s:?}: expected CAPACITY/RATE, e.g. 100/20"))?;
        let capacity: f64 = c
            .trim()
            .parse()
            .map_err(|_| format!("budget {s:?}: bad capacity {c:?}"))?;
        let refill: f64 = r
            .trim()
            .parse()
            .map_err(|_| format!("budget {s:?}: bad rate {r:?}"))?;
        if !(capacity >= 1.0 && refill > 0.0 && capacity.is_finite() && refill.is_finite()) {
            return Err(format!("budget {s:?}: capacity must be >= 1 and rate > 0"));
        }
        Ok(Self::new(capacity, refill))
    }
}

#[derive(Debug)]
struct Bucket {
    spec: BucketSpec,
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn new(spec: BucketSpec) -> Self {
        Self {
            spec,
            tokens: spec.capacity,
            updated: Instant::now(),
        }
    }

    /// Takes a token now, or says how long until one is available.
    fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.spec.refill_per_sec).min(self.spec.capacity);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.spec.refill_per_sec,
            ))
        }
    }

    /// Empties the bucket: the cloud said we are over budget, so our model of it was too kind.
    fn drain(&mut self, now: Instant) {
        self.tokens = 0.0;
        self.updated = now;
    }
}

/// Token buckets keyed by action class (`"describe"`, `"create_route"`…). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ApiBudget {
    buckets: Arc<Mutex<BTreeMap<String, Bucket>>>,
}

impl ApiBudget {
    /// A budget with one bucket per class.
    pub fn new<I, K>(classes: I) -> Self
    where
        I: IntoIterator<Item = (K, BucketSpec)>,
        K: Into<String>,
    {
        let buckets = classes
            .into_iter()
            .map(|(k, s)| (k.into(), Bucket::new(s)))
            .collect();
        Self {
            buckets: Arc::new(Mutex::new(buckets)),
        }
    }

    /// A budget that never waits (for tests that measure something else).
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// Waits until `class` has a token and takes it. Classes without a bucket pass at once.
    pub async fn acquire(&self, class: &str) {
        loop {
            let wait = {
                let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
                match buckets.get_mut(class) {
                    None => return,
                    Some(b) => match b.try_take(Instant::now()) {
                        Ok(()) => return,
                        Err(wait) => wait,
                    },
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Records that the cloud throttled `class`: the next caller waits for a refill.
    pub fn throttled(&self, class: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = buckets.get_mut(class) {
            b.drain(Instant::now());
        }
    }

    /// Empties every bucket now; they refill at their rate from here. A new leader term calls
    /// it: the cloud's buckets may be empty from what the previous holder — possibly this same
    /// identity in a process that just died — spent, and a client that started its term with
    /// full buckets could overdraw them.
    pub fn spend_all(&self) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        for b in buckets.values_mut() {
            b.drain(now);
        }
    }

    /// The configured spec of `class`, if any.
    pub fn spec(&self, class: &str) -> Option<BucketSpec> {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.get(class).map(|b| b.spec)
    }
}

/// Requests made, by (class, outcome) where outcome is `ok` or an [`crate::ErrorKind`] label.
/// Providers count every HTTP attempt here, retries included, so `demo` and tests can show what
/// the cloud really saw. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct CallCounts(Arc<Mutex<BTreeMap<(String, String), u64>>>);

impl CallCounts {
    pub fn record(&self, class: &str, outcome: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((class.to_string(), outcome.to_string()))
            .or_default() += 1;
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> BTreeMap<(String, String), u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_up_to_capacity_then_paces_at_the_refill_rate() {
        let budget = ApiBudget::new([("create", BucketSpec::new(5.0, 2.0))]);
        let start = Instant::now();
        for _ in 0..5 {
            budget.acquire("create").await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is free");
        for _ in 0..4 {
            budget.acquire("create").await;
        }
        // 4 more tokens at 2/s take 2 s.
        let took = start.elapsed().as_secs_f64();
        assert!((1.99..2.1).contains(&took), "took {took}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_signal_empties_the_bucket() {
        let budget = ApiBudget::new([("describe", BucketSpec::new(100.0, 20.0))]);
        budget.throttled("describe");
        let start = Instant::now();
        budget.acquire("describe").await;
        let took = start.elapsed().as_secs_f64();
        assert!((0.049..0.06).contains(&took), "took {took}");
    }

    #[tokio::test(start_paused = true)]
    async fn spend_all_empties_every_bucket_and_a_clone_sees_it() {
        let budget = ApiBudget::new([
            ("create", BucketSpec::new(50.0, 5.0)),
            ("describe", BucketSpec::new(100.0, 20.0)),
        ]);
        budget.clone().spend_all();
        let start = Instant::now();
        budget.acquire("describe").await;
        let took = start.elapsed().as_secs_f64();
        assert!((0.049..0.06).contains(&took), "describe took {took}");
        budget.acquire("create").await;
        let took = start.elapsed().as_secs_f64();
        assert!((0.199..0.21).contains(&took), "create took {took}");
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_classes_are_not_limited() {
        let budget = ApiBudget::unlimited();
        let start = Instant::now();
        for _ in 0..1000 {
            budget.acquire("anything").await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[test]
    fn the_client_side_bucket_keeps_headroom_but_the_rate() {
        assert_eq!(
            BucketSpec::new(50.0, 5.0).client_side(),
            BucketSpec::new(48.0, 5.0)
        );
        assert_eq!(
            BucketSpec::new(2.0, 1.0).client_side(),
            BucketSpec::new(1.0, 1.0)
        );
        assert_eq!(
            BucketSpec::new(50.0, 100.0).client_side(),
            BucketSpec::new(25.0, 100.0)
        );
    }

    #[test]
    fn parses_budget_flags_and_rejects_nonsense() {
        assert_eq!(
            BucketSpec::parse("100/20"),
            Ok(BucketSpec::new(100.0, 20.0))
        );
        assert_eq!(
            BucketSpec::parse(" 5 / 0.5 "),
            Ok(BucketSpec::new(5.0, 0.5))
        );
        for bad in ["", "100", "x/1", "1/x", "0/1", "1/0", "-1/1"] {
            assert!(BucketSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
