//! Waiting for Compute operations. `routes.insert` and `routes.delete` answer with an Operation
//! that is DONE only later (seconds on GCE); its own `error` says whether the change happened.
//!
//! Each wait polls `globalOperations.get` at a jittered, growing interval, bounded by a total
//! timeout. Two things keep a large cluster cheap:
//! - the wait runs inside [`routeplane_core::slot::idle`], so the node job gives its
//!   concurrency slot back while it sleeps and the next node can send its write meanwhile
//!   (the Kubernetes GCE route controller holds one of its 200 slots per waiting operation);
//! - a semaphore bounds the polls in flight (`--gce-max-polls`) across every wait, so a
//!   thousand pending operations never become a thousand concurrent GETs;
//! - the first poll goes when operations have lately been DONE (by the server's own
//!   `insertTime`/`endTime`), not at a fixed interval: a poll that finds the operation still
//!   RUNNING spends a read from Compute's per-minute operation quota, which binds at scale.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use google_cloud_compute_v1::model::Operation;
use google_cloud_compute_v1::model::operation::Status;
use rand::Rng;
use routeplane_core::provider::{ErrorKind, ProviderError};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::call::Compute;
use crate::classify::classify_reason;
use crate::method::Method;

/// Polling knobs.
#[derive(Clone, Copy, Debug)]
pub struct PollPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub timeout: Duration,
}

/// Waits for operations, sharing one bound on polls in flight. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Waiter {
    project: String,
    policy: PollPolicy,
    polls: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    typical: Arc<TypicalDuration>,
}

impl Waiter {
    pub fn new(project: String, policy: PollPolicy, max_polls: usize) -> Self {
        Self {
            project,
            policy,
            polls: Arc::new(Semaphore::new(max_polls.max(1))),
            in_flight: Arc::default(),
            peak: Arc::default(),
            typical: Arc::default(),
        }
    }

    /// The most operation polls that were ever in flight at once.
    pub fn peak_polls(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Waits until `op` (answer of `method` on `resource`) is DONE, without holding the
    /// caller's concurrency slot.
    ///
    /// # Errors
    /// The operation's own error, classified; `Transient` when it is not DONE in time or the
    /// polls keep failing (the next pass's list shows what happened).
    pub async fn wait(
        &self,
        compute: &Compute,
        method: Method,
        resource: &str,
        op: Operation,
    ) -> Result<(), ProviderError> {
        routeplane_core::slot::idle(self.wait_done(compute, method, resource, op)).await
    }

    async fn wait_done(
        &self,
        compute: &Compute,
        method: Method,
        resource: &str,
        mut op: Operation,
    ) -> Result<(), ProviderError> {
        let deadline = Instant::now() + self.policy.timeout;
        let mut delay = self.policy.initial;
        let mut first = true;
        loop {
            if matches!(op.status, Some(Status::Done)) {
                self.typical.observe(&op);
                return outcome(method, resource, &op);
            }
            let Some(name) = op.name.clone().filter(|n| !n.is_empty()) else {
                return Err(ProviderError::new(
                    ErrorKind::Transient,
                    format!("{method} on {resource}: the Operation has no name to poll"),
                )
                .with_code("MalformedResponse"));
            };
            let pause = match self.typical.get() {
                Some(typical) if first => just_after(typical).min(self.policy.max),
                _ => jitter(delay),
            };
            first = false;
            if Instant::now() + pause > deadline {
                return Err(ProviderError::new(
                    ErrorKind::Transient,
                    format!(
                        "{method} on {resource}: operation {name} not DONE after {:?}",
                        self.policy.timeout
                    ),
                )
                .with_code("OperationTimeout"));
            }
            tokio::time::sleep(pause).await;
            delay = (delay + delay / 2).min(self.policy.max);
            op = self.poll(compute, &name).await?;
        }
    }

    /// One `globalOperations.get`, holding a poll permit only while the request is in flight.
    async fn poll(&self, compute: &Compute, name: &str) -> Result<Operation, ProviderError> {
        compute
            .call(Method::OperationsGet, name, || {
                let request = compute
                    .routes
                    .get_operation()
                    .set_project(&self.project)
                    .set_operation(name)
                    .send();
                async move {
                    let _permit = self.polls.acquire().await;
                    let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    self.peak.fetch_max(now, Ordering::SeqCst);
                    let _done = InFlight(&self.in_flight);
                    request.await
                }
            })
            .await
    }
}

/// Decrements the in-flight count however the request ends (including cancellation).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How long operations have lately taken, `insertTime` to `endTime` as Compute reports them: a
/// moving average in milliseconds (0 until one is seen). The server's clock, not ours, so the
/// figure cannot creep up with our own polling interval.
#[derive(Debug, Default)]
struct TypicalDuration(AtomicU64);

impl TypicalDuration {
    fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Folds in a DONE operation's duration (weight 1/8), when it carries both times.
    fn observe(&self, op: &Operation) {
        let Some(ms) = server_duration_ms(op) else {
            return;
        };
        let ms = ms.max(1);
        // A lost update between two racing waits only drops one sample.
        let old = self.0.load(Ordering::Relaxed);
        let new = if old == 0 { ms } else { (old * 7 + ms) / 8 };
        self.0.store(new, Ordering::Relaxed);
    }
}

/// `endTime − insertTime` of a DONE operation, in milliseconds.
fn server_duration_ms(op: &Operation) -> Option<u64> {
    let parse = |t: &Option<String>| chrono::DateTime::parse_from_rfc3339(t.as_deref()?).ok();
    let took = parse(&op.end_time)? - parse(&op.insert_time)?;
    u64::try_from(took.num_milliseconds()).ok()
}

/// 5–20 % after `typical`: late enough that the first poll usually finds the operation DONE,
/// spread so operations started together do not poll together.
fn just_after(typical: Duration) -> Duration {
    typical.mul_f64(rand::rng().random_range(1.05..=1.2))
}

/// ±25 %, so operations started together do not poll together.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.75..=1.25))
}

/// The result a DONE operation carries.
///
/// # Errors
/// Its first error, classified by code (`QUOTA_EXCEEDED` → quota…).
pub fn outcome(method: Method, resource: &str, op: &Operation) -> Result<(), ProviderError> {
    let Some(first) = op.error.as_ref().and_then(|e| e.errors.first()) else {
        return Ok(());
    };
    let status = op
        .http_error_status_code
        .and_then(|s| u16::try_from(s).ok());
    let message = first
        .message
        .clone()
        .or_else(|| op.http_error_message.clone())
        .unwrap_or_default();
    Err(classify_reason(
        method,
        resource,
        first.code.as_deref().unwrap_or_default(),
        &message,
        status,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_compute_v1::model::operation::Error as OpError;
    use google_cloud_compute_v1::model::operation::error::Errors;

    #[test]
    fn the_typical_duration_follows_the_servers_clock() {
        let typical = TypicalDuration::default();
        assert_eq!(typical.get(), None);
        let done = |insert: &str, end: &str| {
            Operation::new()
                .set_status(Status::Done)
                .set_insert_time(insert)
                .set_end_time(end)
        };
        typical.observe(&done(
            "2026-11-28T06:48:02.000-08:00",
            "2026-11-28T06:48:03.000-08:00",
        ));
        assert_eq!(typical.get(), Some(Duration::from_millis(1000)));
        typical.observe(&done(
            "2026-11-28T06:48:02.000-08:00",
            "2026-11-28T06:48:10.000-08:00",
        ));
        assert_eq!(typical.get(), Some(Duration::from_millis(1875)));
        // No times (or unparsable ones): no sample.
        typical.observe(&Operation::new().set_status(Status::Done));
        typical.observe(&done("yesterday", "today"));
        assert_eq!(typical.get(), Some(Duration::from_millis(1875)));
        let first = just_after(Duration::from_secs(1));
        assert!(
            first >= Duration::from_millis(1050) && first <= Duration::from_millis(1200),
            "{first:?}"
        );
    }

    #[test]
    fn a_done_operation_without_errors_succeeded() {
        let op = Operation::new().set_status(Status::Done);
        assert_eq!(outcome(Method::RoutesInsert, "r", &op), Ok(()));
    }

    #[test]
    fn errors_inside_the_operation_are_classified() {
        let op = Operation::new()
            .set_status(Status::Done)
            .set_http_error_status_code(403)
            .set_error(
                OpError::new().set_errors([Errors::new()
                    .set_code("QUOTA_EXCEEDED")
                    .set_message("Quota 'ROUTES' exceeded.  Limit: 250.0 globally.")]),
            );
        let e = outcome(Method::RoutesInsert, "rp-x", &op).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Quota);
        assert_eq!(e.code.as_deref(), Some("QUOTA_EXCEEDED"));
        assert!(e.message.contains("ROUTES"), "{}", e.message);
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(1000));
            assert!((750..=1250).contains(&j.as_millis()), "{j:?}");
        }
    }
}
