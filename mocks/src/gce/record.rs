//! The mock GCE's call record: every request with its API method (`compute.routes.insert`),
//! HTTP method, path, query, outcome and, for operation polls, the operation and the status it
//! was answered with. Besides counts, it measures how a client waits on operations: the most
//! poll requests in flight at once, and the most operations being waited on at once.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::common::record::Recorded;

/// The in-flight key shared by `globalOperations.get` and `.wait`.
pub const POLL: &str = "compute.globalOperations.poll";

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with success (HTTP 200).
    Ok,
    /// Answered with a Google error document.
    Error {
        /// The HTTP status.
        status: u16,
        /// `errors[].reason`, e.g. `notFound`, `rateLimitExceeded`.
        reason: String,
    },
    /// The connection was dropped without an answer (injected fault).
    Dropped,
    /// The server hung (injected timeout); the request was not applied.
    Hung,
}

impl Outcome {
    /// The error reason, if the request failed with one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Error { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Arrival time, from the server's start.
    pub at: Duration,
    /// When the answer was sent (after latency, and after a `wait`), from the server's start.
    pub answered: Duration,
    /// The API method, e.g. `compute.routes.list`; `unknown` for paths the mock does not serve.
    pub method: String,
    /// `GET`, `POST`, `DELETE`.
    pub http_method: String,
    /// The URL path, e.g. `/compute/v1/projects/p/global/routes`.
    pub path: String,
    /// The query parameters (`filter`, `maxResults`, `pageToken`, `requestId`, `$alt`, …).
    pub query: BTreeMap<String, String>,
    /// The outcome.
    pub outcome: Outcome,
    /// Whether the method changes state.
    pub mutating: bool,
    /// The injected fault, if any (`throttle`, `internal-error`, …).
    pub fault: Option<&'static str>,
    /// For inserts/deletes the operation created; for polls the operation polled.
    pub operation: Option<String>,
    /// For polls: the status answered (`PENDING`, `RUNNING`, `DONE`).
    pub op_status: Option<&'static str>,
    /// Who sent it: the service account of a JWT bearer token ([`super::auth::principal`]);
    /// `None` when anonymous.
    pub principal: Option<String>,
    /// For mutating methods, the request body as sent (an insert's route), so a test can judge
    /// what was written and not only where.
    pub body: Option<String>,
}

impl Recorded for Call {
    fn at(&self) -> Duration {
        self.at
    }
    fn operation(&self) -> &str {
        &self.method
    }
    fn is_mutating(&self) -> bool {
        self.mutating
    }
    fn error_code(&self) -> Option<&str> {
        self.outcome.reason()
    }
}

/// The mock GCE's call log (the shared [`crate::common::record::CallLog`] of [`Call`]s, keyed
/// by API method). Cheap to clone.
pub type CallLog = crate::common::record::CallLog<Call>;

impl CallLog {
    /// Calls per API method.
    pub fn counts_by_method(&self) -> BTreeMap<String, usize> {
        self.counts()
    }

    /// The most operation polls (`globalOperations.get` and `.wait`) in flight at once.
    pub fn peak_concurrent_polls(&self) -> usize {
        self.peak_in_flight(POLL)
    }

    /// Operation polls so far.
    pub fn polls(&self) -> usize {
        self.all().iter().filter(|c| c.op_status.is_some()).count()
    }

    /// The most operations being waited on at once: an operation counts from its first poll
    /// until the poll that saw it DONE (or its last poll, if none did).
    pub fn peak_operations_awaited(&self) -> usize {
        let mut spans: HashMap<&str, (Duration, Duration)> = HashMap::new();
        let calls = self.all();
        for c in &calls {
            let (Some(op), Some(_)) = (&c.operation, c.op_status) else {
                continue;
            };
            let span = spans.entry(op.as_str()).or_insert((c.at, c.answered));
            span.0 = span.0.min(c.at);
            span.1 = span.1.max(c.answered);
        }
        let mut edges: Vec<(Duration, i32)> = spans
            .values()
            .flat_map(|(start, end)| [(*start, 1), (*end, -1)])
            .collect();
        // Ends sort before starts at the same instant: back-to-back waits do not overlap.
        edges.sort();
        let (mut now, mut peak) = (0_i32, 0_i32);
        for (_, d) in edges {
            now += d;
            peak = peak.max(now);
        }
        usize::try_from(peak).unwrap_or(0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn poll(op: &str, at: u64, answered: u64, status: &'static str) -> Call {
        Call {
            at: Duration::from_millis(at),
            answered: Duration::from_millis(answered),
            method: "compute.globalOperations.get".into(),
            http_method: "GET".into(),
            path: String::new(),
            query: BTreeMap::new(),
            outcome: Outcome::Ok,
            mutating: false,
            fault: None,
            operation: Some(op.into()),
            op_status: Some(status),
            principal: None,
            body: None,
        }
    }

    #[test]
    fn operations_awaited_overlap_from_first_poll_to_done() {
        let log = CallLog::default();
        log.push(poll("a", 0, 1, "PENDING"));
        log.push(poll("b", 5, 6, "PENDING"));
        log.push(poll("a", 10, 11, "DONE"));
        log.push(poll("c", 20, 21, "DONE"));
        assert_eq!(log.peak_operations_awaited(), 2);
        assert_eq!(log.polls(), 4);
        assert_eq!(log.counts_by_method()["compute.globalOperations.get"], 4);
    }
}
