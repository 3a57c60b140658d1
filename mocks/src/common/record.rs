//! The call log shared by the mock clouds: every request in arrival order, plus a gauge of the
//! requests still being answered per operation (with its peak), because a client's concurrency
//! is only visible while its requests are in flight. Each mock supplies its own call type.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

/// What the shared log needs to know about a recorded call.
pub trait Recorded: Clone {
    /// Arrival time, from the server's start.
    fn at(&self) -> Duration;
    /// The API operation (an EC2 `Action`, a GCE method such as `compute.routes.insert`).
    fn operation(&self) -> &str;
    /// Whether the operation changes state.
    fn is_mutating(&self) -> bool;
    /// The cloud's error code (EC2 code, GCE reason), if the call failed with one.
    fn error_code(&self) -> Option<&str>;
}

#[derive(Debug, Default)]
struct Inner<C> {
    calls: Vec<C>,
    in_flight: BTreeMap<String, (usize, usize)>,
}

/// The shared, append-only call log. Cheap to clone.
#[derive(Debug)]
pub struct CallLog<C> {
    inner: Arc<Mutex<Inner<C>>>,
}

impl<C> Clone for CallLog<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<C> Default for CallLog<C> {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                calls: Vec::new(),
                in_flight: BTreeMap::new(),
            })),
        }
    }
}

/// Counts one request of an operation as in flight until dropped.
#[derive(Debug)]
pub struct InFlight<C> {
    log: CallLog<C>,
    operation: String,
}

impl<C> Drop for InFlight<C> {
    fn drop(&mut self) {
        if let Some((now, _)) = self.log.inner.lock().in_flight.get_mut(&self.operation) {
            *now = now.saturating_sub(1);
        }
    }
}

impl<C: Recorded> CallLog<C> {
    pub(crate) fn push(&self, call: C) {
        self.inner.lock().calls.push(call);
    }

    /// Marks one request of `operation` in flight until the guard drops.
    pub(crate) fn begin(&self, operation: &str) -> InFlight<C> {
        let mut inner = self.inner.lock();
        let entry = inner.in_flight.entry(operation.to_string()).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(entry.0);
        InFlight {
            log: self.clone(),
            operation: operation.to_string(),
        }
    }

    /// The most requests of `operation` that were in flight at once.
    pub fn peak_in_flight(&self, operation: &str) -> usize {
        self.inner
            .lock()
            .in_flight
            .get(operation)
            .map_or(0, |(_, peak)| *peak)
    }

    /// Requests of `operation` being answered right now.
    pub fn in_flight(&self, operation: &str) -> usize {
        self.inner
            .lock()
            .in_flight
            .get(operation)
            .map_or(0, |(now, _)| *now)
    }

    /// A copy of every call so far.
    pub fn all(&self) -> Vec<C> {
        self.inner.lock().calls.clone()
    }

    /// Forgets every call and every peak (e.g. between the phases of a test).
    pub fn clear(&self) {
        let mut inner = self.inner.lock();
        inner.calls.clear();
        for (now, peak) in inner.in_flight.values_mut() {
            *peak = *now;
        }
    }

    /// Number of calls.
    pub fn len(&self) -> usize {
        self.inner.lock().calls.len()
    }

    /// Whether no call was made.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().calls.is_empty()
    }

    /// Calls per operation.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for c in self.inner.lock().calls.iter() {
            *out.entry(c.operation().to_string()).or_insert(0) += 1;
        }
        out
    }

    /// Calls of one operation.
    pub fn count(&self, operation: &str) -> usize {
        self.inner
            .lock()
            .calls
            .iter()
            .filter(|c| c.operation() == operation)
            .count()
    }

    /// Every mutating call, in order.
    pub fn mutating(&self) -> Vec<C> {
        self.filtered(Recorded::is_mutating)
    }

    /// Calls that failed with `code`.
    pub fn with_code(&self, code: &str) -> Vec<C> {
        self.filtered(|c| c.error_code() == Some(code))
    }

    fn filtered(&self, keep: impl Fn(&C) -> bool) -> Vec<C> {
        self.inner
            .lock()
            .calls
            .iter()
            .filter(|c| keep(c))
            .cloned()
            .collect()
    }

    /// The most calls of `operation` in any window of length `window` (sliding, inclusive).
    pub fn max_in_window(&self, operation: &str, window: Duration) -> usize {
        let times: Vec<Duration> = self
            .inner
            .lock()
            .calls
            .iter()
            .filter(|c| c.operation() == operation)
            .map(Recorded::at)
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, Clone)]
    struct Probe(&'static str, u64);

    impl Recorded for Probe {
        fn at(&self) -> Duration {
            Duration::from_millis(self.1)
        }
        fn operation(&self) -> &str {
            self.0
        }
        fn is_mutating(&self) -> bool {
            self.0 == "w"
        }
        fn error_code(&self) -> Option<&str> {
            None
        }
    }

    #[test]
    fn in_flight_tracks_the_peak_after_requests_end() {
        let log = CallLog::<Probe>::default();
        let a = log.begin("poll");
        let b = log.begin("poll");
        drop(a);
        let c = log.begin("poll");
        assert_eq!(log.in_flight("poll"), 2);
        drop((b, c));
        assert_eq!(log.in_flight("poll"), 0);
        assert_eq!(log.peak_in_flight("poll"), 2);
        log.clear();
        assert_eq!(log.peak_in_flight("poll"), 0);
    }

    #[test]
    fn windows_and_filters_see_the_recorded_calls() {
        let log = CallLog::default();
        for (op, ms) in [("w", 0), ("r", 1), ("w", 2), ("w", 900)] {
            log.push(Probe(op, ms));
        }
        assert_eq!(log.max_in_window("w", Duration::from_millis(10)), 2);
        assert_eq!(log.mutating().len(), 3);
        assert_eq!(log.counts().get("r"), Some(&1));
    }
}
