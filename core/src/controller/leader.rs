//! Lease-based leader election (coordination.k8s.io/v1), so that of several replicas exactly one
//! writes routes. Expiry is judged from when *we* last saw the lease record change, not from the
//! timestamps in it, so clock skew between replicas cannot cause two leaders. The leader stops
//! writing `renew_deadline` after its last successful renewal, which is shorter than the lease
//! duration the others wait out: a leader cut off from the API server goes quiet before anyone
//! else may take over.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::ControllerError;
use crate::budget::ApiBudget;

/// Where the lease lives and how long its terms are.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (pod name by default): must differ between replicas.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// Checks the ordering that makes the election safe.
    ///
    /// # Errors
    /// [`ControllerError::Config`] when `renew_deadline` is not shorter than `lease_duration`.
    pub fn validate(&self) -> Result<(), ControllerError> {
        if self.renew_deadline >= self.lease_duration || self.retry_period >= self.renew_deadline {
            return Err(ControllerError::Config(format!(
                "leader election needs retry period ({:?}) < renew deadline ({:?}) < lease duration ({:?})",
                self.retry_period, self.renew_deadline, self.lease_duration
            )));
        }
        if self.identity.is_empty() {
            return Err(ControllerError::Config(
                "leader election identity is empty".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct LeadState {
    /// Writes are allowed until this instant (last renewal start + renew deadline).
    leading_until: Option<Instant>,
    /// Terms won by this replica, counting from 1.
    term: u64,
}

/// The shared view of whether this replica may write. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Leadership {
    state: Arc<Mutex<LeadState>>,
    changes: watch::Sender<bool>,
}

impl Leadership {
    fn new() -> Self {
        let (changes, _) = watch::channel(false);
        Self {
            state: Arc::default(),
            changes,
        }
    }

    /// A replica that always leads (`--leader-elect=false`).
    pub fn always() -> Self {
        let l = Self::new();
        {
            let mut s = l.lock();
            // A century: "forever" without risking Instant overflow.
            s.leading_until = Some(Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
            s.term = 1;
        }
        l.changes.send_replace(true);
        l
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LeadState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this replica may write right now. Checked before every cloud write.
    pub fn is_leader(&self) -> bool {
        self.lock()
            .leading_until
            .is_some_and(|u| Instant::now() < u)
    }

    /// The current term number (0 before the first win).
    pub fn term(&self) -> u64 {
        self.lock().term
    }

    /// Fires on every gain or loss of leadership.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.changes.subscribe()
    }

    /// Resolves once this replica may no longer write: at the renew deadline unless a renewal
    /// extends it first, or at once when not leading. A write races this, so a call that was
    /// still waiting for a budget token or a retry when the deadline passed is dropped before
    /// it sends anything, instead of landing in the next leader's term.
    pub async fn until_lost(&self) {
        let mut changes = self.changes.subscribe();
        loop {
            let Some(until) = self.lock().leading_until else {
                return;
            };
            if Instant::now() >= until {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                r = changes.changed() => {
                    if r.is_err() {
                        return;
                    }
                }
            }
        }
    }

    fn renewed(&self, started: Instant, deadline: Duration, new_term: bool) {
        let mut s = self.lock();
        if new_term {
            s.term += 1;
        }
        s.leading_until = Some(started + deadline);
        drop(s);
        self.changes
            .send_if_modified(|v| !std::mem::replace(v, true));
    }

    fn lost(&self) {
        self.lock().leading_until = None;
        self.changes
            .send_if_modified(|v| std::mem::replace(v, false));
    }
}

/// What we last saw in the lease, and when we saw it change.
struct Observed {
    record: (Option<String>, Option<MicroTime>),
    at: Instant,
}

/// Runs the election until `shutdown`, then releases the lease if held.
pub struct Elector {
    api: Api<Lease>,
    cfg: LeaderConfig,
    leadership: Leadership,
    observed: Option<Observed>,
    budget: Option<ApiBudget>,
}

impl Elector {
    pub fn new(client: kube::Client, cfg: LeaderConfig) -> (Self, Leadership) {
        let leadership = Leadership::new();
        let api = Api::namespaced(client, &cfg.namespace);
        (
            Self {
                api,
                cfg,
                leadership: leadership.clone(),
                observed: None,
                budget: None,
            },
            leadership,
        )
    }

    /// Empties `budget` at the start of every term won, before leadership is published, so
    /// no write of the new term can spend tokens the previous holder may already have spent.
    pub fn spend_budget_on_new_term(mut self, budget: Option<ApiBudget>) -> Self {
        self.budget = budget;
        self
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let started = Instant::now();
            let attempt = tokio::time::timeout(self.cfg.retry_period, self.try_acquire_or_renew());
            match attempt.await {
                Ok(Ok(Some(new_term))) => {
                    if new_term {
                        info!(identity = %self.cfg.identity, lease = %self.cfg.name, "became leader");
                        if let Some(budget) = &self.budget {
                            budget.spend_all();
                        }
                    }
                    self.leadership
                        .renewed(started, self.cfg.renew_deadline, new_term);
                }
                Ok(Ok(None)) => {
                    if self.leadership.is_leader() {
                        warn!(identity = %self.cfg.identity, "lost the lease to another replica");
                    }
                    self.leadership.lost();
                }
                Ok(Err(error)) => {
                    warn!(%error, "lease renewal failed; keeping leadership until the renew deadline")
                }
                Err(_) => {
                    warn!("lease renewal timed out; keeping leadership until the renew deadline")
                }
            }
            if !self.leadership.is_leader() {
                self.leadership.lost();
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.cfg.retry_period) => {}
            }
        }
        self.release().await;
    }

    fn lease_record(
        &self,
        now: Timestamp,
        acquire: Option<MicroTime>,
        transitions: i32,
    ) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.cfg.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(acquire.unwrap_or(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// `Some(new_term)` when we hold the lease after this attempt, `None` when someone else does.
    async fn try_acquire_or_renew(&mut self) -> Result<Option<bool>, kube::Error> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.lease_record(now, None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Some(true)),
                Err(e) if is_conflict(&e) => Ok(None),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (holder.clone(), spec.renew_time.clone());
        let seen_now = Instant::now();
        match &self.observed {
            Some(o) if o.record == record => {}
            _ => {
                self.observed = Some(Observed {
                    record,
                    at: seen_now,
                })
            }
        }
        let ours = holder.as_deref() == Some(self.cfg.identity.as_str());
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.cfg.lease_duration, Duration::from_secs);
        let expired = self
            .observed
            .as_ref()
            .is_some_and(|o| seen_now.duration_since(o.at) >= duration);
        if !ours && holder.is_some() && !expired {
            return Ok(None);
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        lease.spec = Some(if ours {
            self.lease_record(now, spec.acquire_time.clone(), transitions)
        } else {
            self.lease_record(now, None, transitions.saturating_add(1))
        });
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            // Winning a term we did not hold is a new term even if we held an earlier one.
            Ok(_) => Ok(Some(!ours || !self.leadership.is_leader())),
            Err(e) if is_conflict(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up on shutdown so a standby takes over at once instead of after expiry.
    async fn release(&mut self) {
        if !self.leadership.is_leader() {
            return;
        }
        self.leadership.lost();
        let result = async {
            let mut lease = self.api.get(&self.cfg.name).await?;
            if let Some(spec) = lease.spec.as_mut()
                && spec.holder_identity.as_deref() == Some(self.cfg.identity.as_str())
            {
                spec.holder_identity = None;
                spec.lease_duration_seconds = Some(1);
                self.api
                    .replace(&self.cfg.name, &PostParams::default(), &lease)
                    .await?;
            }
            Ok::<(), kube::Error>(())
        };
        match tokio::time::timeout(Duration::from_secs(5), result).await {
            Ok(Ok(())) => info!(identity = %self.cfg.identity, "released the lease"),
            Ok(Err(error)) => warn!(%error, "could not release the lease"),
            Err(_) => warn!("releasing the lease timed out"),
        }
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
