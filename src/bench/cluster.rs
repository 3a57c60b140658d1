//! The simulated AWS cluster: a VPC with one subnet and one cluster-tagged route table per AZ,
//! N instances and their Nodes, the mock EC2 with EC2's documented buckets (optionally
//! time-scaled) and the fake Kubernetes API. Also the node numbering both clouds share.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use routeplane_aws::{Action, AwsProvider, EC2_DEFAULT_BUCKETS};
use routeplane_core::Cloud;
use routeplane_core::budget::{ApiBudget, BucketSpec};
use routeplane_core::retry::RetryPolicy;
use routeplane_mocks::ec2::{FaultSpec, Faults, MockEc2, Target, Throttle, World};
use routeplane_mocks::kube_api::node;

use super::cloud::{BenchCall, BenchCloud, ControllerFlags, Fleet, ModelStrategy, RouteMap};
use super::scenario::{Impl, Options};
use crate::cli::provider::CloudProvider;
use crate::cli::sim::mock_aws_config;

pub const CLUSTER: &str = "bench";
pub const AZS: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const VPC: &str = "vpc-0be0000000000000a";
const VPC_CIDR: &str = "10.0.0.0/16";
const IGW: &str = "igw-0be0000000000000a";
/// The cluster CIDR: 16,384 /24 Pod CIDRs, outside the VPC's 10.0.0.0/16.
pub const CLUSTER_CIDR: &str = "100.64.0.0/10";

/// EC2's maximum routes per table (1,000) less the local and the default route: the most nodes
/// real EC2 can route. More is a stress test of the controller against a mock whose limit was
/// raised past anything EC2 allows.
pub const EC2_MAX_NODES: u32 = 998;

/// The most nodes the bench simulates: the cluster CIDR's /24s, less room for churn.
pub const MAX_NODES: u32 = 15_000;

/// One simulated node: its name, instance, AZ and Pod CIDR.
#[derive(Clone, Debug)]
pub struct SimNode {
    pub name: String,
    pub instance: String,
    pub az: usize,
    pub pod_cidr: String,
}

/// Node number `i` (numbers are never reused, so a replacement node is a new instance).
pub fn sim_node(i: u32) -> SimNode {
    SimNode {
        name: format!("node-{i:05}"),
        instance: format!("i-{:017x}", 0xbe00_0000_u64 + u64::from(i)),
        az: (i as usize) % AZS.len(),
        pod_cidr: format!("100.{}.{}.0/24", 64 + i / 256, i % 256),
    }
}

pub fn table_id(az: usize) -> String {
    format!("rtb-0be000000000000{az:02}")
}

fn subnet_id(az: usize) -> String {
    format!("subnet-0be000000000000{az:02}")
}

/// EC2's buckets with every refill rate multiplied by `k` (bursts unchanged): the mock's side.
pub fn scaled_throttle(k: f64) -> Throttle {
    EC2_DEFAULT_BUCKETS
        .iter()
        .fold(Throttle::ec2_defaults(), |t, (action, spec)| {
            t.with_bucket(action.name(), spec.capacity, spec.refill_per_sec * k)
        })
}

/// The same buckets on the client's side (with the provider's usual headroom).
pub fn scaled_budget(k: f64) -> ApiBudget {
    ApiBudget::new(EC2_DEFAULT_BUCKETS.iter().map(|(action, spec)| {
        (
            action.name(),
            BucketSpec::new(spec.capacity, spec.refill_per_sec * k).client_side(),
        )
    }))
}

/// The shortest time EC2's buckets (scaled by `k`) allow for `writes` calls of each action,
/// starting with full buckets: max over actions of (calls − burst) / rate.
pub fn lower_bound(writes: &BTreeMap<Action, usize>, k: f64) -> Duration {
    EC2_DEFAULT_BUCKETS
        .iter()
        .filter_map(|(action, spec)| {
            let n = *writes.get(action)? as f64;
            Some(((n - spec.capacity).max(0.0)) / (spec.refill_per_sec * k))
        })
        .fold(Duration::ZERO, |a, s| a.max(Duration::from_secs_f64(s)))
}

/// The mock cloud and API server of one run.
pub struct SimCluster {
    pub ec2: MockEc2,
    fleet: Fleet,
    pub route_limit: usize,
    k: f64,
}

impl BenchCloud for SimCluster {
    const CLOUD: Cloud = Cloud::Aws;
    const TABLES: usize = AZS.len();
    const MODEL: ModelStrategy = ModelStrategy {
        reread_before_create: true,
        ensure_forwarding: true,
    };

    /// Starts the mocks with `n` instances and Nodes; `k` scales every bucket rate and divides
    /// the per-call latency.
    async fn start(opts: &Options) -> anyhow::Result<Self> {
        let (n, k) = (opts.nodes, opts.time_scale);
        if n > MAX_NODES {
            bail!("{n} nodes: the bench simulates at most {MAX_NODES}");
        }
        let fleet = Fleet::start(n).await?;
        // A user with more nodes than the default quota raises it (up to EC2's maximum); the
        // bench does the same, and past EC2's maximum only on the mock (a stress test).
        let route_limit = (fleet.nodes.len() + 2).max(50);
        let mut w = World::new();
        w.add_vpc(VPC, VPC_CIDR)?;
        for (i, az) in AZS.iter().enumerate() {
            w.add_subnet(&subnet_id(i), VPC, &format!("10.0.{}.0/20", i * 16), az)?;
            w.add_route_table(&table_id(i), VPC, false, &[subnet_id(i).as_str()])?;
            w.tag(
                &table_id(i),
                &format!("kubernetes.io/cluster/{CLUSTER}"),
                "owned",
            )?;
            w.add_route(&table_id(i), "0.0.0.0/0", Target::Gateway(IGW.into()))?;
        }
        for node in &fleet.nodes {
            add_instance(&mut w, node)?;
        }
        let ec2 = MockEc2::builder()
            .region("us-east-1")
            .world(w)
            .route_limit(route_limit)
            .throttle(scaled_throttle(k))
            .faults(
                Faults::none()
                    .all(FaultSpec::new().latency(opts.latency.div_f64(k), Duration::ZERO)),
            )
            .start()
            .await
            .context("starting the mock EC2")?;
        let cluster = Self {
            ec2,
            fleet,
            route_limit,
            k,
        };
        cluster.register_all()?;
        Ok(cluster)
    }

    fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    fn fleet_mut(&mut self) -> &mut Fleet {
        &mut self.fleet
    }

    fn launch(&self, node: &SimNode) -> anyhow::Result<()> {
        self.ec2.world().edit(|w| add_instance(w, node))
    }

    fn node_object(&self, n: &SimNode) -> serde_json::Value {
        let ip = self
            .ec2
            .world()
            .read(|w| w.instance(&n.instance).and_then(|i| i.private_ip))
            .map_or_else(|| "10.0.0.1".to_string(), |ip| ip.to_string());
        node(&n.name)
            .pod_cidr(&n.pod_cidr)
            .provider_id(&format!("aws:///{}/{}", AZS[n.az % AZS.len()], n.instance))
            .internal_ip(&ip)
            .build()
    }

    fn routes(&self) -> RouteMap {
        let mut out = BTreeMap::new();
        for t in 0..AZS.len() {
            for r in self.ec2.world().routes(&table_id(t)).unwrap_or_default() {
                out.insert(
                    (t, r.destination.to_string()),
                    (r.instance_id.clone(), r.state.as_str() == "active"),
                );
            }
        }
        out
    }

    fn route_count(&self) -> usize {
        // A table holds one route per destination, so the map merges nothing.
        self.routes().len()
    }

    fn foreign(&self) -> Vec<(usize, String)> {
        (0..AZS.len())
            .flat_map(|t| [(t, VPC_CIDR.to_string()), (t, "0.0.0.0/0".to_string())])
            .collect()
    }

    fn calls(&self) -> Vec<BenchCall> {
        self.ec2
            .calls()
            .all()
            .into_iter()
            .map(|c| BenchCall {
                throttled: c.outcome.code() == Some("RequestLimitExceeded"),
                action: c.action,
                mutating: c.mutating,
                poll: false,
            })
            .collect()
    }

    fn budget_violations(&self) -> usize {
        self.ec2
            .calls()
            .budget_violations(&scaled_throttle(self.k))
            .len()
    }

    fn lower_bound(&self) -> Duration {
        let need = BTreeMap::from([
            (Action::CreateRoute, self.wanted()),
            (Action::ModifyNetworkInterfaceAttribute, self.nodes().len()),
        ]);
        lower_bound(&need, self.k)
    }

    async fn provider(&self, which: Impl) -> anyhow::Result<Arc<CloudProvider>> {
        let mut cfg = mock_aws_config(CLUSTER, &self.ec2, self.route_limit);
        cfg.beyond_ec2_max = self.route_limit > 1000;
        match which {
            Impl::Routeplane => cfg.budget = scaled_budget(self.k),
            Impl::RouteControllerModel => {
                cfg.budget = ApiBudget::unlimited();
                cfg.retry = RetryPolicy::none();
            }
        }
        let aws = AwsProvider::new(cfg)
            .await
            .context("setting up the AWS provider")?;
        Ok(Arc::new(CloudProvider::Aws(aws)))
    }

    fn controller_args(&self, opts: &Options) -> anyhow::Result<ControllerFlags> {
        if self.route_limit > 1000 {
            bail!(
                "--process on AWS needs at most {EC2_MAX_NODES} nodes: the controller binary \
                 keeps EC2's 1,000-routes-per-table maximum (use --cloud gce for larger N)"
            );
        }
        let k = opts.time_scale;
        let args = vec![
            format!("--aws-endpoint-url={}", self.ec2.endpoint_url()),
            "--aws-region=us-east-1".into(),
            format!("--route-limit={}", self.route_limit),
            format!("--aws-describe-budget=100/{}", 20.0 * k),
            format!("--aws-mutate-budget=50/{}", 5.0 * k),
        ];
        let env = [
            ("AWS_ACCESS_KEY_ID", "AKIDBENCH"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .to_vec();
        Ok(ControllerFlags { args, env })
    }
}

fn add_instance(w: &mut World, n: &SimNode) -> anyhow::Result<()> {
    w.add_instance(&n.instance, &subnet_id(n.az))?;
    w.tag(
        &n.instance,
        &format!("kubernetes.io/cluster/{CLUSTER}"),
        "owned",
    )?;
    Ok(())
}
