//! The lease history: every committed write to a Lease, with when it was committed and who held
//! the lease after it. Leader election is only as safe as "no replica writes outside its own
//! term"; a test replays this history against another mock's call log (the mock EC2 records
//! which client sent each write and when) to check exactly that.

use std::time::Instant;

use serde_json::Value;

/// One committed write to a Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// When the write was committed (the moment other clients could see it).
    pub at: Instant,
    pub namespace: String,
    pub name: String,
    /// `spec.holderIdentity` after the write; `None` once released (or deleted).
    pub holder: Option<String>,
    /// `spec.leaseDurationSeconds` after the write.
    pub lease_duration_seconds: Option<i64>,
    /// `spec.renewTime` after the write, as sent.
    pub renew_time: Option<String>,
    /// `spec.leaseTransitions` after the write.
    pub lease_transitions: Option<i64>,
    /// Whether the write deleted the Lease.
    pub deleted: bool,
}

impl LeaseRecord {
    pub(crate) fn of(object: &Value, deleted: bool) -> Self {
        let text = |p: &str| {
            object
                .pointer(p)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let int = |p: &str| object.pointer(p).and_then(Value::as_i64);
        Self {
            at: Instant::now(),
            namespace: text("/metadata/namespace").unwrap_or_default(),
            name: text("/metadata/name").unwrap_or_default(),
            holder: if deleted {
                None
            } else {
                text("/spec/holderIdentity").filter(|h| !h.is_empty())
            },
            lease_duration_seconds: int("/spec/leaseDurationSeconds"),
            renew_time: text("/spec/renewTime"),
            lease_transitions: int("/spec/leaseTransitions"),
            deleted,
        }
    }
}
