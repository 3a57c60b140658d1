//! The demo on the mock GCE: one project and network with an internet route (foreign: never
//! touched), instances that may forward, operations that take `--op-delay`, and the real GCE
//! provider.

use std::sync::Arc;

use anyhow::Context;
use routeplane_gce::{GceConfig, GceProvider, RouteNaming};
use routeplane_mocks::gce::{FaultSpec, Faults, GceWorld, MockGce, NextHop, Route, Throttle};

use super::{CLUSTER, CallSummary, DemoArgs, DemoCloud, SimNode};
use crate::cli::provider::CloudProvider;

const PROJECT: &str = "demo-project";
const NETWORK: &str = "demo-vpc";
const ZONES: [&str; 3] = ["us-central1-a", "us-central1-b", "us-central1-c"];

fn instance_name(n: &SimNode) -> String {
    format!("demo-vm-{:04}", n.index)
}

fn zone_of(n: &SimNode) -> &'static str {
    ZONES[n.index as usize % ZONES.len()]
}

fn node_ip(n: &SimNode) -> String {
    format!("10.128.{}.{}", n.index / 250, n.index % 250 + 2)
}

pub struct GceDemo {
    mock: MockGce,
    naming: RouteNaming,
    throttle: bool,
    op_delay: std::time::Duration,
}

impl GceDemo {
    /// Starts the mock with every instance in `nodes` (booted before their Nodes register).
    pub async fn start(args: &DemoArgs, nodes: &[SimNode]) -> anyhow::Result<Self> {
        let mut w = GceWorld::new()
            .project(PROJECT)
            .network(NETWORK)
            .route(Route::new("demo-internet", "0.0.0.0/0", NextHop::internet()).network(NETWORK))
            // A user with more nodes than the default quota raises it; the demo does the same.
            .route_quota((nodes.len() + 10).max(250));
        for n in nodes {
            w = w.instance(zone_of(n), &instance_name(n), &node_ip(n), true);
        }
        let throttle = if args.throttle {
            Throttle::gce_defaults()
        } else {
            Throttle::off()
        };
        let mock = MockGce::builder()
            .project(PROJECT)
            .world(w)
            .op_delay(args.op_delay)
            .throttle(throttle)
            .faults(Faults::none().all(FaultSpec::new().latency(args.latency, Default::default())))
            .start()
            .await
            .context("starting the mock GCE")?;
        Ok(Self {
            mock,
            naming: RouteNaming::new(CLUSTER),
            throttle: args.throttle,
            op_delay: args.op_delay,
        })
    }
}

impl DemoCloud for GceDemo {
    fn banner(&self, nodes: usize) -> String {
        format!(
            "mock GCE at {}\n  {nodes} nodes in {} zones, network {NETWORK} in {PROJECT}, operations take {:?}, Compute rate quotas {}",
            self.mock.endpoint_url(),
            ZONES.len(),
            self.op_delay,
            if self.throttle { "on" } else { "off" },
        )
    }

    fn tables(&self) -> Vec<String> {
        vec![format!("network {NETWORK}")]
    }

    fn provider_id(&self, n: &SimNode) -> String {
        format!("gce://{PROJECT}/{}/{}", zone_of(n), instance_name(n))
    }

    fn instance(&self, n: &SimNode) -> String {
        instance_name(n)
    }

    fn node_ip(&self, n: &SimNode) -> String {
        node_ip(n)
    }

    async fn provider(&self) -> anyhow::Result<Arc<CloudProvider>> {
        let mut cfg = GceConfig::new(CLUSTER);
        cfg.project = Some(PROJECT.into());
        cfg.network = Some(NETWORK.into());
        cfg.endpoint = Some(self.mock.endpoint_url());
        cfg.anonymous = true;
        if !self.throttle {
            cfg.budget = routeplane_core::budget::ApiBudget::unlimited();
        }
        let gce = GceProvider::new(cfg)
            .await
            .context("setting up the GCE provider")?;
        Ok(Arc::new(CloudProvider::Gce(gce)))
    }

    fn route_cells(&self, n: &SimNode) -> Vec<Option<(String, &'static str)>> {
        let name = match n.pod_cidr.parse() {
            Ok(cidr) => self.naming.name(&cidr),
            Err(_) => return vec![None],
        };
        let cell = self.mock.world().route(&name).map(|r| {
            let target = match &r.next_hop {
                NextHop::Instance { name, .. } => name.clone(),
                other => format!("{other:?}"),
            };
            (target, "active")
        });
        vec![cell]
    }

    fn hijack(&self, victim: &SimNode, thief: &SimNode) -> anyhow::Result<String> {
        let cidr = victim.pod_cidr.parse().context("the victim's Pod CIDR")?;
        let name = self.naming.name(&cidr);
        self.mock.world().hijack_route(
            &name,
            NextHop::instance(zone_of(thief), &instance_name(thief)),
        )?;
        Ok(format!("route {name}"))
    }

    fn calls(&self) -> Vec<CallSummary> {
        self.mock
            .calls()
            .all()
            .into_iter()
            .map(|c| CallSummary {
                operation: c.method,
                mutating: c.mutating,
            })
            .collect()
    }

    fn extra_figures(&self) -> Vec<String> {
        let calls = self.mock.calls();
        vec![format!(
            "operation polls in flight at peak: {} (operations awaited at once: {})",
            calls.peak_concurrent_polls(),
            calls.peak_operations_awaited()
        )]
    }
}
