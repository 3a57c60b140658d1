//! The call record: every request the mock received, in order, with its time, action,
//! parameters and outcome. Tests read it to count calls, list the mutating ones, and check that
//! a client never exceeded EC2's buckets ([`CallLog::budget_violations`] replays the log through
//! a [`Throttle`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::throttle::{Buckets, Throttle};

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

/// The shared, append-only call log. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    inner: Arc<Mutex<Vec<Call>>>,
}

impl CallLog {
    pub(crate) fn push(&self, call: Call) {
        self.inner.lock().push(call);
    }

    /// A copy of every call so far.
    pub fn all(&self) -> Vec<Call> {
        self.inner.lock().clone()
    }

    /// Forgets every call (e.g. between the phases of a test).
    pub fn clear(&self) {
        self.inner.lock().clear();
    }

    /// Number of calls.
    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    /// Whether no call was made.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().is_empty()
    }

    /// Calls per action.
    pub fn counts_by_action(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for c in self.inner.lock().iter() {
            *out.entry(c.action.clone()).or_insert(0) += 1;
        }
        out
    }

    /// Calls of one action.
    pub fn count(&self, action: &str) -> usize {
        self.inner
            .lock()
            .iter()
            .filter(|c| c.action == action)
            .count()
    }

    /// Every mutating call, in order.
    pub fn mutating(&self) -> Vec<Call> {
        self.inner
            .lock()
            .iter()
            .filter(|c| c.mutating)
            .cloned()
            .collect()
    }

    /// Calls that failed with `code`.
    pub fn with_code(&self, code: &str) -> Vec<Call> {
        self.inner
            .lock()
            .iter()
            .filter(|c| c.outcome.code() == Some(code))
            .cloned()
            .collect()
    }

    /// The most calls of `action` in any window of length `window` (sliding, inclusive).
    pub fn max_in_window(&self, action: &str, window: Duration) -> usize {
        let times: Vec<Duration> = self
            .inner
            .lock()
            .iter()
            .filter(|c| c.action == action)
            .map(|c| c.at)
            .collect();
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end].saturating_sub(times[start]) > window {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
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
