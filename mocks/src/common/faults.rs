//! Fault injection shared by the mock clouds, keyed by API operation (an EC2 `Action`, a GCE
//! method such as `compute.routes.insert`), per operation or for all: added latency (fixed ±
//! jitter) and, with given probabilities, a server error (500), an unavailable error (503),
//! throttle bursts (the cloud's throttling error for this and the next N requests of the
//! operation), timeouts (the server hangs longer than a client waits) and dropped connections
//! (closed without an answer). Each mock renders a fault in its own wire format.
//!
//! Decisions come from a seeded RNG, so a failing run can be replayed with the same seed and the
//! same request order.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What can go wrong with one operation's requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {
    /// Added to every request.
    pub latency: Duration,
    /// Uniform ± jitter around `latency`.
    pub jitter: Duration,
    /// Probability of a server error (HTTP 500: EC2 `InternalError`, GCE `backendError`).
    pub internal_error: f64,
    /// Probability of an unavailable error (HTTP 503: EC2 `Unavailable`, GCE `backendError`).
    pub unavailable: f64,
    /// Probability that a throttle burst starts.
    pub throttle: f64,
    /// Requests a burst throttles, including the one that started it (at least 1).
    pub throttle_burst: u32,
    /// Probability of hanging for `hang`.
    pub timeout: f64,
    /// How long a timed-out request hangs before a server error.
    pub hang: Duration,
    /// Probability of closing the connection without an answer.
    pub drop_connection: f64,
}

impl FaultSpec {
    /// No faults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds latency with ± jitter.
    pub fn latency(mut self, latency: Duration, jitter: Duration) -> Self {
        self.latency = latency;
        self.jitter = jitter;
        self
    }
    /// Answers a server error (500) with probability `p`.
    pub fn internal_error(mut self, p: f64) -> Self {
        self.internal_error = p;
        self
    }
    /// Answers an unavailable error (503) with probability `p`.
    pub fn unavailable(mut self, p: f64) -> Self {
        self.unavailable = p;
        self
    }
    /// Starts a burst of `burst` throttled requests with probability `p`.
    pub fn throttle(mut self, p: f64, burst: u32) -> Self {
        self.throttle = p;
        self.throttle_burst = burst.max(1);
        self
    }
    /// Hangs for `hang` with probability `p`.
    pub fn timeout(mut self, p: f64, hang: Duration) -> Self {
        self.timeout = p;
        self.hang = hang;
        self
    }
    /// Drops the connection with probability `p`.
    pub fn drop_connection(mut self, p: f64) -> Self {
        self.drop_connection = p;
        self
    }
}

/// The fault plan: a spec for all actions, overridden per action, and the RNG seed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Seed of the decision RNG.
    pub seed: u64,
    /// Applies to every action without its own spec.
    pub all: FaultSpec,
    /// Per-action specs; they replace `all` for that action.
    pub per_action: BTreeMap<String, FaultSpec>,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }
    /// No faults yet, with a seed for the ones added.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }
    /// Sets the spec for every action.
    pub fn all(mut self, spec: FaultSpec) -> Self {
        self.all = spec;
        self
    }
    /// Sets the spec for one action.
    pub fn action(mut self, action: &str, spec: FaultSpec) -> Self {
        self.per_action.insert(action.to_string(), spec);
        self
    }
    fn spec(&self, action: &str) -> &FaultSpec {
        self.per_action.get(action).unwrap_or(&self.all)
    }
}

/// The fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer a server error (500).
    InternalError,
    /// Answer an unavailable error (503).
    Unavailable,
    /// Answer the cloud's throttling error.
    Throttle,
    /// Hang this long.
    Timeout(Duration),
    /// Close the connection.
    Drop,
}

impl Fault {
    /// A short name for the call record.
    pub fn name(self) -> &'static str {
        match self {
            Self::InternalError => "internal-error",
            Self::Unavailable => "unavailable",
            Self::Throttle => "throttle",
            Self::Timeout(_) => "timeout",
            Self::Drop => "drop",
        }
    }
}

/// The live fault state: plan, RNG and running bursts.
#[derive(Debug)]
pub struct FaultState {
    plan: Faults,
    rng: StdRng,
    bursts: HashMap<String, u32>,
}

impl FaultState {
    /// Starts a plan.
    pub fn new(plan: Faults) -> Self {
        Self {
            rng: StdRng::seed_from_u64(plan.seed),
            plan,
            bursts: HashMap::new(),
        }
    }

    /// Decides the delay and fault of one request of `action`.
    pub fn decide(&mut self, action: &str) -> (Duration, Option<Fault>) {
        let spec = self.plan.spec(action).clone();
        let delay = if spec.jitter.is_zero() {
            spec.latency
        } else {
            let j = spec.jitter.as_secs_f64();
            let offset = self.rng.random_range(-j..=j);
            Duration::from_secs_f64((spec.latency.as_secs_f64() + offset).max(0.0))
        };
        if let Some(left) = self.bursts.get_mut(action)
            && *left > 0
        {
            *left -= 1;
            return (delay, Some(Fault::Throttle));
        }
        let mut roll = |p: f64| p > 0.0 && self.rng.random::<f64>() < p;
        let fault = if roll(spec.drop_connection) {
            Some(Fault::Drop)
        } else if roll(spec.timeout) {
            Some(Fault::Timeout(spec.hang))
        } else if roll(spec.internal_error) {
            Some(Fault::InternalError)
        } else if roll(spec.unavailable) {
            Some(Fault::Unavailable)
        } else if roll(spec.throttle) {
            self.bursts
                .insert(action.to_string(), spec.throttle_burst.saturating_sub(1));
            Some(Fault::Throttle)
        } else {
            None
        };
        (delay, fault)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_faults() {
        let plan = Faults::seeded(7).all(FaultSpec::new().internal_error(0.5));
        let run = |plan: &Faults| {
            let mut s = FaultState::new(plan.clone());
            (0..32)
                .map(|_| s.decide("CreateRoute").1)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(&plan), run(&plan));
        assert!(run(&plan).iter().any(Option::is_some));
        assert!(run(&plan).iter().any(Option::is_none));
    }

    #[test]
    fn a_throttle_burst_covers_the_following_requests() {
        let plan = Faults::seeded(1).action("CreateRoute", FaultSpec::new().throttle(1.0, 3));
        let mut s = FaultState::new(plan);
        assert_eq!(s.decide("CreateRoute").1, Some(Fault::Throttle));
        assert_eq!(s.decide("CreateRoute").1, Some(Fault::Throttle));
        assert_eq!(s.decide("CreateRoute").1, Some(Fault::Throttle));
        assert_eq!(s.decide("DescribeRouteTables").1, None);
    }
}
