//! The request log: every API request the fake served, by verb and resource, with the caller's
//! User-Agent so tests can tell clients apart ("only the leader writes", "no patch when nothing
//! changed"). Bounded, oldest first out.

use std::collections::VecDeque;

use parking_lot::Mutex;

/// Records kept before the oldest are dropped; enough for any test, bounded for long demos.
const CAPACITY: usize = 100_000;

/// One served request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, or
    /// `discovery` / `unknown` for requests outside the served resources.
    pub verb: &'static str,
    /// Resource plural, with `/status` for the subresource: `nodes`, `nodes/status`, `leases`.
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// The `User-Agent` header. kube-rs sends none by default; set one with
    /// `kube::Config::headers` to tell clients apart.
    pub user_agent: Option<String>,
    /// For PATCH: `merge`, `strategic`, `apply` or `json`.
    pub patch_type: Option<&'static str>,
}

impl RequestRecord {
    /// Whether the request asked to change state (it may still have failed, e.g. with 409).
    pub fn is_write(&self) -> bool {
        matches!(self.verb, "create" | "update" | "patch" | "delete")
    }
}

#[derive(Default)]
pub(crate) struct RequestLog {
    records: Mutex<VecDeque<RequestRecord>>,
}

impl RequestLog {
    pub(crate) fn record(&self, record: RequestRecord) {
        let mut records = self.records.lock();
        if records.len() == CAPACITY {
            records.pop_front();
        }
        records.push_back(record);
    }

    pub(crate) fn snapshot(&self) -> Vec<RequestRecord> {
        self.records.lock().iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        self.records.lock().clear();
    }
}
