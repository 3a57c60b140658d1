//! `routeplane bench`: the real controller and AWS provider against the mock EC2 (EC2's
//! documented buckets, 50 ms per call by default) and the fake Kubernetes API, and — in the same
//! run, against the same mock configuration — a model of the Kubernetes route controller.
//! Scenarios: cold start (convergence time, efficiency against the buckets' lower bound, calls
//! per node), steady state (calls per resync period) and churn (event-to-route latency, stale
//! route lifetime). Every scenario ends by checking the route tables exactly.
//!
//! `--time-scale K` multiplies every bucket's refill rate and divides the mock's latency and the
//! resync/pass period by K, so a 5,000-node run fits in minutes. Efficiency (bound / measured)
//! does not depend on K while the client is not CPU-bound; compare runs at two scales to check.

pub mod cloud;
pub mod cluster;
pub mod gce;
pub mod model;
pub mod process;
pub mod report;
mod scenario;

pub use scenario::{Impl, Options, run};
