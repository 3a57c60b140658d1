//! The demo on the mock EC2: a VPC with one subnet and one cluster-tagged route table per AZ, an
//! internet route in each (foreign: never touched), and the real AWS provider.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use routeplane_mocks::ec2::{FaultSpec, Faults, MockEc2, Target, Throttle, World};

use super::{CLUSTER, CallSummary, DemoArgs, DemoCloud, SimNode};
use crate::cli::provider::CloudProvider;
use crate::cli::sim::mock_aws_provider;

const AZS: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const VPC: &str = "vpc-0de0000000000000a";

fn subnet_id(az_index: usize) -> String {
    format!("subnet-0de000000000000{az_index:02}")
}

fn table_id(az_index: usize) -> String {
    format!("rtb-0de000000000000{az_index:02}")
}

fn instance_id(n: &SimNode) -> String {
    format!("i-{:017x}", 0xd000 + n.index)
}

fn az_of(n: &SimNode) -> usize {
    n.index as usize % AZS.len()
}

/// The mock EC2 and the route-limit the demo raised to fit.
pub struct Ec2Demo {
    ec2: MockEc2,
    route_limit: usize,
    throttle: bool,
}

impl Ec2Demo {
    /// Starts the mock with every instance in `nodes` (booted before their Nodes register).
    pub async fn start(args: &DemoArgs, nodes: &[SimNode]) -> anyhow::Result<Self> {
        let mut w = World::new();
        w.add_vpc(VPC, "10.0.0.0/16")?;
        for (i, az) in AZS.iter().enumerate() {
            let subnet = subnet_id(i);
            w.add_subnet(&subnet, VPC, &format!("10.0.{}.0/20", i * 16), az)?;
            let table = table_id(i);
            w.add_route_table(&table, VPC, false, &[subnet.as_str()])?;
            w.tag(&table, &format!("kubernetes.io/cluster/{CLUSTER}"), "owned")?;
            w.add_route(
                &table,
                "0.0.0.0/0",
                Target::Gateway("igw-0de0000000000000a".into()),
            )?;
        }
        for n in nodes {
            w.add_instance(&instance_id(n), &subnet_id(az_of(n)))?;
            w.tag(
                &instance_id(n),
                &format!("kubernetes.io/cluster/{CLUSTER}"),
                "owned",
            )?;
        }
        // A user with more nodes than the default quota raises it; the demo does the same.
        let route_limit = (nodes.len() + 10).max(50);
        let throttle = if args.throttle {
            Throttle::ec2_defaults()
        } else {
            Throttle::off()
        };
        let ec2 = MockEc2::builder()
            .region("us-east-1")
            .world(w)
            .route_limit(route_limit)
            .throttle(throttle)
            .faults(Faults::none().all(FaultSpec::new().latency(args.latency, Default::default())))
            .start()
            .await
            .context("starting the mock EC2")?;
        Ok(Self {
            ec2,
            route_limit,
            throttle: args.throttle,
        })
    }

    /// (table, destination) → (instance, state), as the mock holds them.
    fn routes(&self) -> BTreeMap<(String, String), (Option<String>, &'static str)> {
        let mut out = BTreeMap::new();
        for i in 0..AZS.len() {
            let table = table_id(i);
            for r in self.ec2.world().routes(&table).unwrap_or_default() {
                out.insert(
                    (table.clone(), r.destination.to_string()),
                    (r.instance_id.clone(), r.state.as_str()),
                );
            }
        }
        out
    }
}

impl DemoCloud for Ec2Demo {
    fn banner(&self, nodes: usize) -> String {
        format!(
            "mock EC2 at {}\n  {nodes} nodes in {} AZs, {} route tables tagged kubernetes.io/cluster/{CLUSTER}, EC2 throttling {}",
            self.ec2.endpoint_url(),
            AZS.len(),
            AZS.len(),
            if self.throttle { "on" } else { "off" },
        )
    }

    fn tables(&self) -> Vec<String> {
        (0..AZS.len()).map(table_id).collect()
    }

    fn provider_id(&self, n: &SimNode) -> String {
        format!("aws:///{}/{}", AZS[az_of(n)], instance_id(n))
    }

    fn instance(&self, n: &SimNode) -> String {
        instance_id(n)
    }

    fn node_ip(&self, n: &SimNode) -> String {
        self.ec2
            .world()
            .read(|w| w.instance(&instance_id(n)).and_then(|i| i.private_ip))
            .map_or_else(|| "10.0.0.1".to_string(), |ip| ip.to_string())
    }

    async fn provider(&self) -> anyhow::Result<Arc<CloudProvider>> {
        let aws = mock_aws_provider(CLUSTER, &self.ec2, self.route_limit, !self.throttle).await?;
        let aws = Arc::try_unwrap(aws)
            .map_err(|_| anyhow::anyhow!("the AWS provider is shared unexpectedly"))?;
        Ok(Arc::new(CloudProvider::Aws(aws)))
    }

    fn route_cells(&self, n: &SimNode) -> Vec<Option<(String, &'static str)>> {
        let have = self.routes();
        (0..AZS.len())
            .map(|t| {
                have.get(&(table_id(t), n.pod_cidr.clone()))
                    .map(|(inst, state)| (inst.clone().unwrap_or_else(|| "?".into()), *state))
            })
            .collect()
    }

    fn hijack(&self, victim: &SimNode, thief: &SimNode) -> anyhow::Result<String> {
        let table = table_id(0);
        self.ec2.world().hijack_route(
            &table,
            &victim.pod_cidr,
            Target::Instance(instance_id(thief)),
        )?;
        Ok(table)
    }

    fn calls(&self) -> Vec<CallSummary> {
        self.ec2
            .calls()
            .all()
            .into_iter()
            .map(|c| CallSummary {
                operation: c.action,
                mutating: c.mutating,
            })
            .collect()
    }

    fn extra_figures(&self) -> Vec<String> {
        Vec::new()
    }
}
