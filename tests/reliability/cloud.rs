//! The cloud under test: what the soak needs from a mock cloud to run the same scenario and
//! judge it the same way on EC2 and GCE — the controller's flags and credentials, node churn,
//! and the invariants read from the mock's own records (ownership from the mutating-call log,
//! foreign routes byte for byte, the exact final state, the cloud's rate budget).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// One mutating call as the mock recorded it.
#[derive(Debug, Clone)]
pub struct Write {
    /// The credential the mock saw (EC2: the access key; GCE: the service account).
    pub writer: Option<String>,
    pub action: String,
    pub arrived: Instant,
    /// When it was answered, if it took effect.
    pub applied: Option<Instant>,
}

/// A mock cloud seeded with the cluster's nodes and foreign routes.
pub trait CloudUnderTest {
    /// For messages: `EC2`, `GCE`.
    fn name(&self) -> &'static str;
    /// The controller's cloud flags (`--cloud`, endpoint, budget, timeouts).
    fn controller_args(&self) -> Vec<String>;
    /// Environment for a replica with this identity (its own credentials), and the credential
    /// the mock will record for its calls.
    fn credentials(&self, identity: &str) -> (Vec<(String, String)>, String);
    /// Node `k` as the kubelet registers it (Pod CIDR and providerID set).
    fn k8s_node(&self, k: usize) -> serde_json::Value;
    /// A node's instance appears (churn).
    fn add_node(&mut self, k: usize);
    /// A node's instance is terminated (churn); its routes stay behind, dead.
    fn remove_node(&mut self, k: usize);
    /// Seeded foreign routes that are missing or no longer byte-identical.
    fn foreign_changed(&self) -> Vec<String>;
    /// Mutating calls that did not target a route routeplane owns.
    fn ownership_violations(&self) -> Vec<String>;
    /// Every mutating call so far.
    fn writes(&self) -> Vec<Write>;
    /// Whether the routes are exactly those of the `live` nodes (plus the foreign ones);
    /// otherwise what is still wrong.
    fn exact_state(&self, live: &BTreeSet<usize>) -> Result<(), String>;
    /// Calls the cloud's own rate limits refused (the budget was overdrawn), not counting
    /// injected throttles.
    fn budget_violations(&self) -> Vec<String>;
    /// (calls, mutating calls) so far.
    fn call_counts(&self) -> (usize, usize);
    /// Injected faults by kind (`throttle`, `internal-error`, `unavailable`, `timeout`, `drop`).
    fn faults_by_kind(&self) -> BTreeMap<&'static str, usize>;
    /// Stops injecting faults.
    fn stop_faults(&self);
}
