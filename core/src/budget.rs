//! Client-side API budgets: a limiter per API action class, shaped like the cloud's own.
//! EC2 meters each action with a token bucket (N tokens refilled at R per second); Compute
//! Engine counts requests per quota group in one-minute windows, which only a window limit
//! can use in full (a bucket that fits one, C + 60·R ≤ quota, sustains less than it).
//! Waiting here costs nothing; being throttled by the cloud costs a round trip, a backoff,
//! and — when many controllers share an account — everyone's budget. Providers call
//! [`ApiBudget::acquire`] before every request.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Tokens a client keeps below the server's burst size, at least (see
/// [`BucketSpec::client_side`]).
pub const SERVER_HEADROOM_TOKENS: f64 = 2.0;

/// Arrival jitter the headroom absorbs: a fast bucket needs more tokens for the same slack,
/// and a window limit waits this much longer than the server's window.
pub const SERVER_HEADROOM_JITTER: Duration = Duration::from_millis(250);

/// The limit of one class: a token bucket (`window: None`) or a sliding window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketSpec {
    /// Burst size in requests; for a window, the requests allowed per window.
    pub capacity: f64,
    /// Sustained requests per second; for a window, `capacity` per window, on average.
    pub refill_per_sec: f64,
    /// `Some(period)`: at most `capacity` requests leave in any `period`, instead of a bucket.
    pub window: Option<Duration>,
}

impl BucketSpec {
    /// A token bucket of `capacity` refilled at `refill_per_sec`.
    pub const fn new(capacity: f64, refill_per_sec: f64) -> Self {
        Self {
            capacity,
            refill_per_sec,
            window: None,
        }
    }

    /// A sliding window: at most `count` requests in any `period` (`count` ≥ 1, `period` > 0).
    pub fn window(count: u32, period: Duration) -> Self {
        let capacity = f64::from(count.max(1));
        Self {
            capacity,
            refill_per_sec: capacity / period.as_secs_f64().max(f64::MIN_POSITIVE),
            window: Some(period),
        }
    }

    /// The limit a client should run to stay inside a server's limit of this spec. Requests
    /// leave in order but arrive with jitter: one that is delayed, followed by one that is
    /// not, looks to the server like two requests closer together than the refill allows. A
    /// bucket keeps [`SERVER_HEADROOM_JITTER`] worth of tokens (at least
    /// [`SERVER_HEADROOM_TOKENS`]) in reserve, which absorbs that without slowing the sustained
    /// rate; a window grows by [`SERVER_HEADROOM_JITTER`], so `capacity` + 1 requests can
    /// never arrive within one server window, whatever its phase.
    pub fn client_side(self) -> Self {
        if let Some(period) = self.window {
            let count = self.capacity as u32;
            return Self::window(count, period + SERVER_HEADROOM_JITTER);
        }
        let jitter = self.refill_per_sec * SERVER_HEADROOM_JITTER.as_secs_f64();
        let headroom = jitter.max(SERVER_HEADROOM_TOKENS);
        Self {
            capacity: (self.capacity - headroom).max(1.0),
            ..self
        }
    }

    /// The same limit with time running `k` times faster (benchmarks with a scaled clock): a
    /// bucket refills `k` times faster, a window is `k` times shorter.
    pub fn scaled(self, k: f64) -> Self {
        match self.window {
            Some(period) => Self::window(self.capacity as u32, period.div_f64(k)),
            None => Self::new(self.capacity, self.refill_per_sec * k),
        }
    }

    /// Parses the `--*-budget` flags: `CAPACITY/RATE`, e.g. `100/20`, for a token bucket, or
    /// `COUNT/PERIOD` with a duration suffix, e.g. `1500/60s` or `1500/1m`, for a window.
    ///
    /// # Errors
    /// A message naming the bad value.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (c, r) = s.split_once('/').ok_or_else(|| {
            format!(
                "budget {s:?}: expected CAPACITY/RATE (e.g. 100/20) or COUNT/PERIOD (e.g. 1500/60s)"
            )
        })?;
        let (c, r) = (c.trim(), r.trim());
        if r.ends_with(|ch: char| ch.is_ascii_alphabetic()) {
            let count: u32 = c
                .parse()
                .map_err(|_| format!("budget {s:?}: bad count {c:?} (a whole number)"))?;
            let period = crate::duration::parse_duration(r)
                .map_err(|e| format!("budget {s:?}: bad period: {e}"))?;
            if count == 0 || period.is_zero() {
                return Err(format!("budget {s:?}: count must be >= 1 and period > 0"));
            }
            return Ok(Self::window(count, period));
        }
        let capacity: f64 = c
            .parse()
            .map_err(|_| format!("budget {s:?}: bad capacity {c:?}"))?;
        let refill: f64 = r
            .parse()
            .map_err(|_| format!("budget {s:?}: bad rate {r:?}"))?;
        if !(capacity >= 1.0 && refill > 0.0 && capacity.is_finite() && refill.is_finite()) {
            return Err(format!("budget {s:?}: capacity must be >= 1 and rate > 0"));
        }
        Ok(Self::new(capacity, refill))
    }
}

/// The flag form [`BucketSpec::parse`] reads back: `100/20` or `1500/60s`.
impl std::fmt::Display for BucketSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.window {
            Some(period) => write!(f, "{}/{}s", self.capacity, period.as_secs_f64()),
            None => write!(f, "{}/{}", self.capacity, self.refill_per_sec),
        }
    }
}

/// What a limiter remembers.
#[derive(Debug)]
enum State {
    /// Tokens left at `updated`.
    Tokens { tokens: f64, updated: Instant },
    /// When the last (up to `count`) requests left, oldest first.
    Window {
        count: usize,
        period: Duration,
        sent: VecDeque<Instant>,
    },
}

#[derive(Debug)]
struct Bucket {
    spec: BucketSpec,
    state: State,
}

impl Bucket {
    fn new(spec: BucketSpec) -> Self {
        let state = match spec.window {
            Some(period) => State::Window {
                count: spec.capacity as usize,
                period,
                sent: VecDeque::new(),
            },
            None => State::Tokens {
                tokens: spec.capacity,
                updated: Instant::now(),
            },
        };
        Self { spec, state }
    }

    /// Takes a request slot now, or says how long until one is available.
    fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let spec = self.spec;
        match &mut self.state {
            State::Tokens { tokens, updated } => {
                let elapsed = now.saturating_duration_since(*updated).as_secs_f64();
                *tokens = (*tokens + elapsed * spec.refill_per_sec).min(spec.capacity);
                *updated = now;
                if *tokens >= 1.0 {
                    *tokens -= 1.0;
                    Ok(())
                } else {
                    Err(Duration::from_secs_f64(
                        (1.0 - *tokens) / spec.refill_per_sec,
                    ))
                }
            }
            State::Window {
                count,
                period,
                sent,
            } => {
                let period = *period;
                while sent.front().is_some_and(|&t| t + period <= now) {
                    sent.pop_front();
                }
                match sent.front() {
                    Some(&oldest) if sent.len() >= *count => Err(oldest + period - now),
                    _ => {
                        sent.push_back(now);
                        Ok(())
                    }
                }
            }
        }
    }

    /// Uses up everything: the cloud said we are over budget (our model of it was too kind),
    /// or a new leader term starts after a holder that may have just spent it all. A bucket
    /// refills from empty; a window stays closed for one whole period, since the cloud's
    /// window may have been filled a moment ago.
    fn drain(&mut self, now: Instant) {
        match &mut self.state {
            State::Tokens { tokens, updated } => {
                *tokens = 0.0;
                *updated = now;
            }
            State::Window { count, sent, .. } => {
                sent.clear();
                sent.extend(std::iter::repeat_n(now, *count));
            }
        }
    }
}

/// Limiters keyed by action class (`"describe"`, `"create_route"`…). Cheap to clone.
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

    /// Waits until `class` may send and takes the slot. Classes without a limit pass at once.
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

    /// Records that the cloud throttled `class`: the next caller waits for a refill (a bucket)
    /// or a whole period (a window).
    pub fn throttled(&self, class: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = buckets.get_mut(class) {
            b.drain(Instant::now());
        }
    }

    /// Empties every limiter now: buckets refill at their rate from here, windows stay closed
    /// for one whole period. A new leader term calls it: the cloud's quota may be used up by
    /// what the previous holder — possibly this same identity in a process that just died —
    /// spent, and a client that started its term with full buckets could overdraw them. The
    /// cost of a failover is therefore one bucket's refill time (e.g. 1/20 s for the next
    /// request) or, with a window limit, a full window (e.g. 60 s with `1500/60s`) before the
    /// first request of the new term.
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

    #[test]
    fn parses_window_flags_and_names_the_bad_value() {
        let minute = BucketSpec::window(1500, Duration::from_secs(60));
        assert_eq!(BucketSpec::parse("1500/60s"), Ok(minute));
        assert_eq!(BucketSpec::parse(" 1500 / 1m "), Ok(minute));
        assert_eq!(minute.refill_per_sec, 25.0);
        assert_eq!(
            BucketSpec::parse("3/500ms"),
            Ok(BucketSpec::window(3, Duration::from_millis(500)))
        );
        for (bad, names) in [
            ("1.5/60s", "\"1.5\""),
            ("x/60s", "\"x\""),
            ("0/60s", "count must be >= 1"),
            ("1500/0s", "period > 0"),
            ("1500/60x", "\"60x\""),
            ("1500/s", "\"s\""),
        ] {
            let err = BucketSpec::parse(bad).unwrap_err();
            assert!(err.contains(names), "{bad}: {err}");
        }
    }

    #[test]
    fn a_spec_prints_as_the_flag_that_parses_back_to_it() {
        for spec in [
            BucketSpec::new(100.0, 20.0),
            BucketSpec::new(5.0, 0.5),
            BucketSpec::window(1500, Duration::from_secs(60)),
            BucketSpec::window(1500, Duration::from_millis(30_250)),
        ] {
            assert_eq!(BucketSpec::parse(&spec.to_string()), Ok(spec), "{spec}");
        }
        assert_eq!(
            BucketSpec::window(1500, Duration::from_secs(60)).to_string(),
            "1500/60s"
        );
    }

    #[test]
    fn a_client_side_window_adds_the_jitter_and_scaling_shortens_it() {
        let minute = BucketSpec::window(1500, Duration::from_secs(60));
        assert_eq!(
            minute.client_side(),
            BucketSpec::window(1500, Duration::from_millis(60_250))
        );
        assert_eq!(
            minute.scaled(2.0),
            BucketSpec::window(1500, Duration::from_secs(30))
        );
        assert_eq!(
            BucketSpec::new(100.0, 20.0).scaled(2.0),
            BucketSpec::new(100.0, 40.0)
        );
    }

    /// Departure times of `n` requests of class `write`, taken by four tasks at once.
    async fn departures(budget: &ApiBudget, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let times = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (budget, times) = (budget.clone(), times.clone());
                tokio::spawn(async move {
                    for _ in 0..n / 4 {
                        budget.acquire("write").await;
                        times.lock().unwrap().push(start.elapsed());
                        // Uneven pacing, so departures do not all line up on window edges.
                        tokio::time::sleep(Duration::from_millis(7)).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut times = times.lock().unwrap().clone();
        times.sort();
        times
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_bursts_its_count_then_never_lets_one_more_into_any_period() {
        let (count, period) = (10_usize, Duration::from_secs(1));
        let budget = ApiBudget::new([("write", BucketSpec::window(10, period))]);
        let times = departures(&budget, 100).await;
        assert_eq!(times.len(), 100);
        assert!(
            times[..count]
                .iter()
                .all(|t| *t < Duration::from_millis(30)),
            "the first {count} leave at once: {:?}",
            &times[..count]
        );
        // Any span of one period holds at most `count` departures, i.e. departures i and
        // i + count are at least a period apart.
        for (i, pair) in times.windows(count + 1).enumerate() {
            let span = pair[count] - pair[0];
            assert!(
                span >= period,
                "departures {i}..={} within {span:?}",
                i + count
            );
        }
        // And it does not wait longer than it must: 100 requests in 10 windows.
        let last = times[99];
        assert!(last < Duration::from_millis(9_100), "took {last:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_stays_closed_a_whole_period_after_spend_all_or_a_throttle() {
        let period = Duration::from_secs(60);
        let budget = ApiBudget::new([("write", BucketSpec::window(1500, period))]);
        budget.acquire("write").await;
        tokio::time::advance(Duration::from_secs(10)).await;
        for throttle in [false, true] {
            if throttle {
                budget.throttled("write");
            } else {
                budget.clone().spend_all();
            }
            let start = Instant::now();
            budget.acquire("write").await;
            assert_eq!(
                start.elapsed(),
                period,
                "throttle={throttle}: a full window"
            );
            for _ in 0..1499 {
                budget.acquire("write").await;
            }
            assert_eq!(start.elapsed(), period, "then the whole count is free");
        }
        assert_eq!(budget.spec("write"), Some(BucketSpec::window(1500, period)));
    }
}
