//! Prometheus metrics of the controller. Labels are bounded: operation names, outcome classes
//! ([`crate::ErrorKind::as_str`]) and fixed reasons — never node names or error text.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub op: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// Every metric the controller exports, registered once.
#[derive(Clone)]
pub struct Metrics {
    pub routes_desired: Gauge,
    pub routes_present: Gauge,
    pub routes_failing: Gauge,
    pub nodes_unroutable: Family<ReasonLabels, Gauge>,
    pub conflicts: Gauge,
    pub reconcile_duration: Histogram,
    pub passes: Family<ReasonLabels, Counter>,
    pub provider_calls: Family<CallLabels, Counter>,
    pub event_to_route: Histogram,
    pub leader: Gauge,
    pub cidrs_allocated: Counter,
    pub replace_gap: Histogram,
    registry: Arc<Registry>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("routeplane");
        let m = Self {
            routes_desired: Gauge::default(),
            routes_present: Gauge::default(),
            routes_failing: Gauge::default(),
            nodes_unroutable: Family::default(),
            conflicts: Gauge::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            passes: Family::default(),
            provider_calls: Family::default(),
            event_to_route: Histogram::new(exponential_buckets(0.001, 2.0, 18)),
            leader: Gauge::default(),
            cidrs_allocated: Counter::default(),
            replace_gap: Histogram::new(exponential_buckets(0.001, 2.0, 18)),
            registry: Arc::new(Registry::default()),
        };
        registry.register(
            "routes_desired",
            "Routes the cluster wants across all managed tables",
            m.routes_desired.clone(),
        );
        registry.register(
            "routes_present",
            "Desired routes that are active with the right target",
            m.routes_present.clone(),
        );
        registry.register(
            "routes_failing",
            "Desired routes whose last write failed or is backing off",
            m.routes_failing.clone(),
        );
        registry.register(
            "nodes_unroutable",
            "Nodes (or Pod CIDRs) that cannot be routed, by reason",
            m.nodes_unroutable.clone(),
        );
        registry.register(
            "route_conflicts",
            "Foreign routes standing where a node route belongs",
            m.conflicts.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of a reconcile pass",
            m.reconcile_duration.clone(),
        );
        registry.register(
            "reconcile_passes",
            "Reconcile passes by result",
            m.passes.clone(),
        );
        registry.register(
            "provider_calls",
            "Cloud provider calls by operation and outcome",
            m.provider_calls.clone(),
        );
        registry.register(
            "event_to_route_seconds",
            "Time from a Pod CIDR appearing on a Node to its routes being written",
            m.event_to_route.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the lease",
            m.leader.clone(),
        );
        registry.register(
            "cidrs_allocated",
            "Pod CIDRs allocated to nodes by this controller",
            m.cidrs_allocated.clone(),
        );
        registry.register(
            "route_replace_gap_seconds",
            "Time a destination had no route while a wrong route was replaced (0 where the cloud replaces in place; delete-then-insert on GCE)",
            m.replace_gap.clone(),
        );
        Self {
            registry: Arc::new(registry),
            ..m
        }
    }

    pub fn call(&self, op: &'static str, outcome: &'static str) {
        self.provider_calls
            .get_or_create(&CallLabels { op, outcome })
            .inc();
    }

    /// The text exposition format for `/metrics`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
