//! The simulated GCE cluster: one project and network with a foreign internet route, N
//! instances that may forward in 3 zones and their Nodes, the mock GCE with Compute Engine's
//! per-minute rate quotas (`Throttle::gce_defaults`, the minute divided by K), operations that
//! take `--op-delay`, the network's route quota raised to fit, and the fake Kubernetes API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use routeplane_core::Cloud;
use routeplane_core::budget::{ApiBudget, BucketSpec};
use routeplane_core::retry::RetryPolicy;
use routeplane_gce::{Class, GCE_DEFAULT_BUCKETS, GceConfig, GceProvider, RouteNaming, gce_budget};
use routeplane_mocks::gce::{FaultSpec, Faults, GceWorld, MockGce, NextHop, Route, Throttle};
use routeplane_mocks::kube_api::node;

use super::cloud::{BenchCall, BenchCloud, ControllerFlags, Fleet, ModelStrategy, RouteMap};
use super::cluster::{CLUSTER, MAX_NODES, SimNode};
use super::scenario::{Impl, Options};
use crate::cli::provider::CloudProvider;

const PROJECT: &str = "bench-project";
const NETWORK: &str = "bench-vpc";
const ZONES: [&str; 3] = ["us-central1-a", "us-central1-b", "us-central1-c"];
const INTERNET: &str = "0.0.0.0/0";
/// Compute Engine's rate-quota interval.
const QUOTA_INTERVAL: Duration = Duration::from_secs(60);
/// The Kubernetes GCE cloud provider's operation-poll limiter (5 per second, burst 5) and its
/// poll interval (1 s): the only client-side limits the route-controller model keeps.
const MODEL_POLLS: BucketSpec = BucketSpec::new(5.0, 5.0);
const MODEL_POLL_INTERVAL: Duration = Duration::from_secs(1);

pub struct GceSim {
    mock: MockGce,
    fleet: Fleet,
    k: f64,
    latency: Duration,
    op_delay: Duration,
    budgets: [(Class, BucketSpec); 4],
}

fn zone(n: &SimNode) -> &'static str {
    ZONES[n.az % ZONES.len()]
}

/// A distinct private address per node (numbered in its name; at most 15,000 plus churn).
fn node_ip(n: &SimNode) -> String {
    let i: u32 = n
        .name
        .trim_start_matches("node-")
        .parse()
        .unwrap_or_default();
    format!(
        "10.{}.{}.{}",
        128 + i / 64_000,
        (i / 250) % 256,
        i % 250 + 2
    )
}

/// Compute Engine's quotas with each minute divided by `k`.
fn scaled_throttle(k: f64) -> Throttle {
    Throttle::gce_defaults().with_interval(QUOTA_INTERVAL.div_f64(k))
}

/// routeplane's GCE budget per class before scaling: the defaults, or the bench's overrides.
fn budget_specs(opts: &Options) -> [(Class, BucketSpec); 4] {
    GCE_DEFAULT_BUCKETS.map(|(class, spec)| {
        let over = opts.gce_budgets.iter().find(|(c, _)| *c == class);
        (class, over.map_or(spec, |(_, s)| *s))
    })
}

/// routeplane's GCE budget with time running `k` times faster (see [`BucketSpec::scaled`]).
fn scaled_budget(k: f64, specs: [(Class, BucketSpec); 4]) -> ApiBudget {
    gce_budget(&specs.map(|(class, spec)| (class, Some(spec.scaled(k)))))
}

/// The instance a route sends to, if it sends to one.
fn route_target(r: &Route) -> Option<String> {
    match &r.next_hop {
        NextHop::Instance { name, .. } => Some(name.clone()),
        _ => None,
    }
}

impl GceSim {
    fn quota(&self) -> usize {
        scaled_throttle(self.k)
            .limit(routeplane_mocks::gce::throttle::QUERIES)
            .map_or(usize::MAX, |q| usize::try_from(q).unwrap_or(usize::MAX))
    }
}

impl BenchCloud for GceSim {
    const CLOUD: Cloud = Cloud::Gce;
    const TABLES: usize = 1;
    const MODEL: ModelStrategy = ModelStrategy {
        reread_before_create: false,
        ensure_forwarding: false,
    };

    async fn start(opts: &Options) -> anyhow::Result<Self> {
        let (n, k) = (opts.nodes, opts.time_scale);
        if n > MAX_NODES {
            anyhow::bail!("{n} nodes: the bench simulates at most {MAX_NODES}");
        }
        let fleet = Fleet::start(n).await?;
        let nodes = &fleet.nodes;
        // A user with more nodes than the default quota (250 routes per network) raises it;
        // the bench does the same, with room for churn's replacement routes.
        let quota = (nodes.len() + nodes.len() / 10 + 10).max(250);
        let mut w = GceWorld::new()
            .project(PROJECT)
            .network(NETWORK)
            .route(Route::new("bench-internet", INTERNET, NextHop::internet()).network(NETWORK))
            .route_quota(quota);
        for node in nodes {
            w = w.instance(zone(node), &node.instance, &node_ip(node), true);
        }
        let mock = MockGce::builder()
            .project(PROJECT)
            .world(w)
            .op_delay(opts.op_delay.div_f64(k))
            .throttle(scaled_throttle(k))
            .faults(
                Faults::none()
                    .all(FaultSpec::new().latency(opts.latency.div_f64(k), Duration::ZERO)),
            )
            .start()
            .await
            .context("starting the mock GCE")?;
        let sim = Self {
            mock,
            fleet,
            k,
            latency: opts.latency,
            op_delay: opts.op_delay,
            budgets: budget_specs(opts),
        };
        sim.register_all()?;
        Ok(sim)
    }

    fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    fn fleet_mut(&mut self) -> &mut Fleet {
        &mut self.fleet
    }

    fn launch(&self, node: &SimNode) -> anyhow::Result<()> {
        // The builder's defaults (status, machine type, the network's NIC) for one instance.
        let instance = GceWorld::new()
            .project(PROJECT)
            .network(NETWORK)
            .instance(zone(node), &node.instance, &node_ip(node), true)
            .instances
            .pop()
            .context("building an instance")?;
        Ok(self.mock.world().add_instance(instance)?)
    }

    fn node_object(&self, n: &SimNode) -> serde_json::Value {
        node(&n.name)
            .pod_cidr(&n.pod_cidr)
            .provider_id(&format!("gce://{PROJECT}/{}/{}", zone(n), n.instance))
            .internal_ip(&node_ip(n))
            .build()
    }

    fn routes(&self) -> RouteMap {
        self.mock
            .world()
            .routes()
            .into_iter()
            .filter(|r| r.network == NETWORK)
            // A GCE route is in force as soon as it exists (its operation is DONE).
            .map(|r| ((0, r.dest_range.clone()), (route_target(&r), true)))
            .collect()
    }

    fn lookup<'a>(&self, cidrs: impl Iterator<Item = &'a str>) -> RouteMap {
        let naming = RouteNaming::new(CLUSTER);
        self.mock.world().read(|w| {
            cidrs
                .filter_map(|cidr| {
                    let r = w.find_route(&naming.name(&cidr.parse().ok()?))?;
                    Some(((0, cidr.to_string()), (route_target(r), true)))
                })
                .collect()
        })
    }

    fn route_count(&self) -> usize {
        self.mock.world().routes().len()
    }

    fn foreign(&self) -> Vec<(usize, String)> {
        vec![(0, INTERNET.to_string())]
    }

    fn calls(&self) -> Vec<BenchCall> {
        self.mock
            .calls()
            .all()
            .into_iter()
            .map(|c| BenchCall {
                throttled: c.outcome.reason() == Some("rateLimitExceeded"),
                poll: c.method == "compute.globalOperations.get",
                action: c.method,
                mutating: c.mutating,
            })
            .collect()
    }

    fn budget_violations(&self) -> usize {
        self.calls().iter().filter(|c| c.throttled).count()
    }

    /// Inserts are counted per fixed quota interval from the mock's start, so the last of W
    /// inserts can go no earlier than the start of interval ⌊(W−1)/Q⌋; its route then exists
    /// one call latency plus one operation later.
    fn lower_bound(&self) -> Duration {
        let writes = self.wanted().max(1);
        let interval = QUOTA_INTERVAL.div_f64(self.k);
        let windows = u32::try_from((writes - 1) / self.quota()).unwrap_or(u32::MAX);
        let since_start = Instant::now().saturating_duration_since(self.mock.started_at());
        (interval * windows).saturating_sub(since_start)
            + (self.latency + self.op_delay).div_f64(self.k)
    }

    async fn provider(&self, which: Impl) -> anyhow::Result<Arc<CloudProvider>> {
        let k = self.k;
        let mut cfg = GceConfig::new(CLUSTER);
        cfg.project = Some(PROJECT.into());
        cfg.network = Some(NETWORK.into());
        cfg.endpoint = Some(self.mock.endpoint_url());
        cfg.anonymous = true;
        match which {
            Impl::Routeplane => {
                cfg.budget = scaled_budget(k, self.budgets);
                cfg.poll_initial = cfg.poll_initial.div_f64(k);
                cfg.poll_max = cfg.poll_max.div_f64(k);
            }
            Impl::RouteControllerModel => {
                cfg.budget = ApiBudget::new([(
                    Class::Operation.name(),
                    BucketSpec::new(MODEL_POLLS.capacity, MODEL_POLLS.refill_per_sec * k),
                )]);
                cfg.retry = RetryPolicy::none();
                // Every waiting operation polls; only the limiter above bounds them.
                cfg.max_polls = 1000;
                cfg.poll_initial = MODEL_POLL_INTERVAL.div_f64(k);
                cfg.poll_max = MODEL_POLL_INTERVAL.div_f64(k);
            }
        }
        let gce = GceProvider::new(cfg)
            .await
            .context("setting up the GCE provider")?;
        Ok(Arc::new(CloudProvider::Gce(gce)))
    }

    fn controller_args(&self, opts: &Options) -> anyhow::Result<ControllerFlags> {
        let k = opts.time_scale;
        let mut args = vec![
            "--cloud=gce".to_string(),
            format!("--gce-project={PROJECT}"),
            format!("--gce-network={NETWORK}"),
            format!("--gce-endpoint={}", self.mock.endpoint_url()),
        ];
        for (class, spec) in self.budgets {
            args.push(format!("--gce-{}-budget={}", class.name(), spec.scaled(k)));
        }
        // No key file (the process runs without GOOGLE_APPLICATION_CREDENTIALS): with
        // --gce-endpoint set the provider goes anonymous without probing the metadata server.
        Ok(ControllerFlags {
            args,
            env: Vec::new(),
        })
    }
}
