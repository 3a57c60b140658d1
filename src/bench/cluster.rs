//! The simulated cluster every bench scenario runs against: a VPC with one subnet and one
//! cluster-tagged route table per AZ, N instances and their Nodes, the mock EC2 with EC2's
//! documented buckets (optionally time-scaled) and the fake Kubernetes API.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, bail};
use routeplane_aws::{Action, EC2_DEFAULT_BUCKETS};
use routeplane_core::budget::{ApiBudget, BucketSpec};
use routeplane_mocks::ec2::{FaultSpec, Faults, MockEc2, Target, Throttle, World};
use routeplane_mocks::kube_api::{FakeKube, node};

pub const CLUSTER: &str = "bench";
pub const AZS: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const VPC: &str = "vpc-0be0000000000000a";
const VPC_CIDR: &str = "10.0.0.0/16";
const IGW: &str = "igw-0be0000000000000a";
/// The cluster CIDR: 16,384 /24 Pod CIDRs, outside the VPC's 10.0.0.0/16.
pub const CLUSTER_CIDR: &str = "100.64.0.0/10";

/// EC2's maximum routes per table (1,000) less the local and the default route.
pub const MAX_NODES: u32 = 998;

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
    pub kube: FakeKube,
    pub nodes: Vec<SimNode>,
    pub route_limit: usize,
    next: u32,
}

impl SimCluster {
    /// Starts the mocks with `n` instances and Nodes; `k` scales every bucket rate and divides
    /// the per-call `latency`.
    pub async fn start(n: u32, k: f64, latency: Duration) -> anyhow::Result<Self> {
        if n > MAX_NODES {
            bail!(
                "{n} nodes: EC2 allows at most 1,000 routes per route table (the quota's maximum); \
                 with the local and the default route that is {MAX_NODES} nodes"
            );
        }
        let nodes: Vec<SimNode> = (0..n).map(sim_node).collect();
        // A user with more nodes than the default quota raises it (up to EC2's maximum); the
        // bench does the same.
        let route_limit = (nodes.len() + 2).max(50);
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
        for node in &nodes {
            add_instance(&mut w, node)?;
        }
        let ec2 = MockEc2::builder()
            .region("us-east-1")
            .world(w)
            .route_limit(route_limit)
            .throttle(scaled_throttle(k))
            .faults(
                Faults::none().all(FaultSpec::new().latency(latency.div_f64(k), Duration::ZERO)),
            )
            .start()
            .await
            .context("starting the mock EC2")?;
        let kube = FakeKube::start()
            .await
            .context("starting the fake Kubernetes API")?;
        let cluster = Self {
            ec2,
            kube,
            nodes: Vec::new(),
            route_limit,
            next: n,
        };
        let mut cluster = cluster;
        for node in nodes {
            cluster.add_node_object(&node)?;
            cluster.nodes.push(node);
        }
        Ok(cluster)
    }

    fn add_node_object(&self, n: &SimNode) -> anyhow::Result<()> {
        let ip = self
            .ec2
            .world()
            .read(|w| w.instance(&n.instance).and_then(|i| i.private_ip))
            .map_or_else(|| "10.0.0.1".to_string(), |ip| ip.to_string());
        self.kube
            .add_node(
                node(&n.name)
                    .pod_cidr(&n.pod_cidr)
                    .provider_id(&format!("aws:///{}/{}", AZS[n.az], n.instance))
                    .internal_ip(&ip)
                    .build(),
            )
            .context("adding a node to the fake API")?;
        Ok(())
    }

    /// Replaces node `index` with a brand-new one (new instance, new Pod CIDR): the old Node is
    /// deleted, the new instance launched and its Node added. Returns (old, new).
    pub fn replace(&mut self, index: usize) -> anyhow::Result<(SimNode, SimNode)> {
        let fresh = sim_node(self.next);
        self.next += 1;
        self.ec2
            .world()
            .edit(|w| add_instance(w, &fresh).map(|_| ()))?;
        let old = std::mem::replace(&mut self.nodes[index], fresh.clone());
        self.kube
            .delete_node(&old.name)
            .context("deleting a node")?;
        self.add_node_object(&fresh)?;
        Ok((old, fresh))
    }

    /// The routes in the managed tables: (table, destination) → (instance, active?).
    pub fn routes(&self) -> BTreeMap<(usize, String), (Option<String>, bool)> {
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

    /// How many of the wanted routes are active and point at the right instance.
    pub fn converged(&self) -> usize {
        let have = self.routes();
        self.nodes
            .iter()
            .flat_map(|n| (0..AZS.len()).map(move |t| (n, t)))
            .filter(|(n, t)| route_ok(&have, *t, n))
            .count()
    }

    pub fn wanted(&self) -> usize {
        self.nodes.len() * AZS.len()
    }

    /// Checks every table holds exactly the VPC's local route, the foreign default route plus one active route per
    /// current node to its instance: nothing missing, wrong, stale or extra.
    pub fn verify_exact(&self) -> anyhow::Result<()> {
        let have = self.routes();
        let mut want: BTreeSet<(usize, String)> = BTreeSet::new();
        for t in 0..AZS.len() {
            want.insert((t, VPC_CIDR.into()));
            want.insert((t, "0.0.0.0/0".into()));
            for n in &self.nodes {
                if !route_ok(&have, t, n) {
                    bail!(
                        "{}: route {} for {} missing or wrong",
                        table_id(t),
                        n.pod_cidr,
                        n.name
                    );
                }
                want.insert((t, n.pod_cidr.clone()));
            }
        }
        let extra: Vec<_> = have.keys().filter(|k| !want.contains(*k)).collect();
        if !extra.is_empty() {
            bail!("{} unexpected routes, e.g. {:?}", extra.len(), extra[0]);
        }
        if want.len() != have.len() {
            bail!("{} routes wanted, {} present", want.len(), have.len());
        }
        Ok(())
    }
}

fn route_ok(
    have: &BTreeMap<(usize, String), (Option<String>, bool)>,
    t: usize,
    n: &SimNode,
) -> bool {
    have.get(&(t, n.pod_cidr.clone()))
        .is_some_and(|(inst, active)| *active && inst.as_deref() == Some(n.instance.as_str()))
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
