//! The call record: every request the mock received, in order, with its time, action,
//! parameters and outcome. Tests read it to count calls, list the mutating ones, and check that
//! a client never exceeded EC2's buckets ([`CallLog::budget_violations`] replays the log through
//! a [`Throttle`]).

use std::collections::BTreeMap;
use std::time::Duration;

use super::throttle::{Buckets, Throttle};
use crate::common::record::Recorded;

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with success.
    Ok,
    /// Answered with an EC2 error.
    Error {
        /// The EC2 error code.
        code: String,
        /// The HTTP status.
        status: u16,
    },
    /// The connection was dropped without an answer (injected fault).
    Dropped,
    /// The server hung (injected timeout); the action was not applied.
    Hung,
}

impl Outcome {
    /// The error code, if the request failed with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Error { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Arrival time, from the server's start.
    pub at: Duration,
    /// The `Action` parameter.
    pub action: String,
    /// Every parameter but `Action` and `Version`.
    pub params: BTreeMap<String, String>,
    /// The outcome.
    pub outcome: Outcome,
    /// Whether the action changes state.
    pub mutating: bool,
    /// Whether a Describe call had a filter, explicit IDs or pagination (for EC2's buckets).
    pub narrowed: bool,
    /// The injected fault, if any (`throttle`, `internal-error`, …).
    pub fault: Option<&'static str>,
    /// The access key ID from the SigV4 `Authorization` header: which client sent the call
    /// (give each replica its own key to tell them apart).
    pub access_key: Option<String>,
    /// When the answer was decided, from the server's start: after the injected latency, and
    /// the moment the action took effect if it did.
    pub answered: Duration,
}

/// A request that a bucket would have refused.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetViolation {
    /// The call's position in the log.
    pub index: usize,
    /// The action.
    pub action: String,
    /// When it arrived.
    pub at: Duration,
}

/// The mock EC2's call log: the shared log ([`crate::common::record::CallLog`]) of [`Call`]s,
/// keyed by action. Cheap to clone.
pub type CallLog = crate::common::record::CallLog<Call>;

impl Recorded for Call {
    fn at(&self) -> Duration {
        self.at
    }
    fn operation(&self) -> &str {
        &self.action
    }
    fn is_mutating(&self) -> bool {
        self.mutating
    }
    fn error_code(&self) -> Option<&str> {
        self.outcome.code()
    }
}

impl CallLog {
    /// Calls per action.
    pub fn counts_by_action(&self) -> BTreeMap<String, usize> {
        self.counts()
    }

    /// Replays the log through `throttle`'s buckets and returns every call a bucket would have
    /// refused. Empty means the client stayed inside EC2's request budget. Calls refused by an
    /// injected fault are replayed too: EC2 counts every request it receives.
    pub fn budget_violations(&self, throttle: &Throttle) -> Vec<BudgetViolation> {
        let calls = self.all();
        let mut buckets = Buckets::default();
        calls
            .iter()
            .enumerate()
            .filter_map(|(index, c)| {
                let (key, bucket) = throttle.bucket_for(&c.action, c.narrowed)?;
                (!buckets.take(&key, bucket, c.at)).then(|| BudgetViolation {
                    index,
                    action: c.action.clone(),
                    at: c.at,
                })
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn call(action: &str, ms: u64) -> Call {
        Call {
            at: Duration::from_millis(ms),
            action: action.into(),
            params: BTreeMap::new(),
            outcome: Outcome::Ok,
            mutating: true,
            narrowed: true,
            fault: None,
            access_key: None,
            answered: Duration::from_millis(ms),
        }
    }

    #[test]
    fn replay_finds_calls_over_the_bucket() {
        let log = CallLog::default();
        for i in 0..4 {
            log.push(call("CreateRoute", i));
        }
        let t = Throttle::ec2_defaults().with_bucket("CreateRoute", 3.0, 1.0);
        let v = log.budget_violations(&t);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].index, 3);
        assert!(log.budget_violations(&Throttle::ec2_defaults()).is_empty());
        assert_eq!(
            log.max_in_window("CreateRoute", Duration::from_millis(1)),
            2
        );
    }
}
