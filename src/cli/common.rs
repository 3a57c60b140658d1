//! Flags shared by the subcommands that talk to a cluster and a cloud (`controller`, `plan`):
//! which cluster, its CIDRs and mode, the kubeconfig, and the provider's own flags.

use anyhow::Context;
use clap::{Args, ValueEnum};
use ipnet::IpNet;
use routeplane_aws::{AwsArgs, AwsProvider};
use routeplane_core::budget::ApiBudget;
use routeplane_core::{Cloud, ClusterSpec, Mode};
use routeplane_gce::{GceArgs, GceProvider};
use std::path::PathBuf;

use super::provider::CloudProvider;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CloudArg {
    /// EC2 VPC route tables (aws-sdk-ec2).
    Aws,
    /// GCE VPC routes (google-cloud-compute-v1).
    Gce,
}

impl From<CloudArg> for Cloud {
    fn from(c: CloudArg) -> Cloud {
        match c {
            CloudArg::Aws => Cloud::Aws,
            CloudArg::Gce => Cloud::Gce,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Kubeconfig to use; without it: KUBECONFIG, ~/.kube/config, then in-cluster.
    #[arg(long, env = "ROUTEPLANE_KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Cluster name: scopes route ownership (the kubernetes.io/cluster/<name> tag on AWS, the
    /// route name prefix and `routeplane:<name>` description on GCE).
    #[arg(long, env = "ROUTEPLANE_CLUSTER_NAME", value_name = "NAME")]
    pub cluster_name: String,

    /// Cluster Pod CIDR(s), one per family for dual-stack. routeplane never touches a route
    /// outside them. Repeat the flag or comma-separate.
    #[arg(long = "cluster-cidr", env = "ROUTEPLANE_CLUSTER_CIDR", value_name = "CIDR", value_delimiter = ',', required = true, value_parser = parse_cidr)]
    pub cluster_cidrs: Vec<IpNet>,

    /// Who routes between nodes: `cloud` (VPC routes), `host` (kernel routes set by the agents;
    /// all nodes on one L2 segment), `hybrid` (both).
    #[arg(long, env = "ROUTEPLANE_MODE", default_value = "cloud", value_parser = parse_mode)]
    pub mode: Mode,

    /// Which cloud to program.
    #[arg(long, env = "ROUTEPLANE_CLOUD", value_enum, default_value = "aws")]
    pub cloud: CloudArg,

    #[command(flatten)]
    pub aws: AwsArgs,

    #[command(flatten)]
    pub gce: GceArgs,
}

fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let net: IpNet = s
        .trim()
        .parse()
        .map_err(|e| format!("invalid CIDR {s:?}: {e}"))?;
    if net.trunc() != net {
        return Err(format!(
            "CIDR {s:?} has host bits set; did you mean {}?",
            net.trunc()
        ));
    }
    Ok(net)
}

pub fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
        .map_err(|e: routeplane_core::ConfigError| e.to_string())
}

pub use routeplane_core::duration::parse_duration;

impl ClusterArgs {
    pub fn spec(&self) -> anyhow::Result<ClusterSpec> {
        ClusterSpec::new(
            self.cluster_name.clone(),
            self.cluster_cidrs.clone(),
            self.mode,
            self.cloud.into(),
        )
        .context("invalid cluster flags")
    }

    pub async fn kube(&self) -> anyhow::Result<kube::Client> {
        super::kube_client::client(self.kubeconfig.as_deref()).await
    }

    /// Builds the AWS provider and checks that credentials resolve, so a missing credential is
    /// a start-up error and not a per-node failure later.
    pub async fn aws_provider(&self) -> anyhow::Result<(AwsProvider, ApiBudget)> {
        let cfg = self
            .aws
            .clone()
            .into_config(&self.cluster_name)
            .context("invalid AWS flags")?;
        let budget = cfg.budget.clone();
        let provider = AwsProvider::new(cfg)
            .await
            .context("setting up the AWS provider")?;
        provider
            .check_credentials()
            .await
            .context("checking AWS credentials")?;
        Ok((provider, budget))
    }

    /// Builds the GCE provider, then checks credentials (at construction), the project and
    /// the network (one `networks.get`), so each is a clear start-up error.
    pub async fn gce_provider(&self) -> anyhow::Result<(GceProvider, ApiBudget)> {
        let cfg = self
            .gce
            .clone()
            .into_config(&self.cluster_name)
            .context("invalid GCE flags")?;
        let budget = cfg.budget.clone();
        let provider = GceProvider::new(cfg)
            .await
            .context("setting up the GCE provider")?;
        provider
            .check()
            .await
            .context("checking the GCE project and network")?;
        Ok((provider, budget))
    }

    /// The provider of `--cloud`.
    pub async fn provider(&self) -> anyhow::Result<CloudProvider> {
        Ok(self.provider_and_budget().await?.0)
    }

    /// The provider of `--cloud` and a handle on the API budget it spends from, for the
    /// controller to empty when a leader term starts.
    pub async fn provider_and_budget(&self) -> anyhow::Result<(CloudProvider, ApiBudget)> {
        Ok(match self.cloud {
            CloudArg::Aws => {
                let (p, budget) = self.aws_provider().await?;
                (CloudProvider::Aws(p), budget)
            }
            CloudArg::Gce => {
                let (p, budget) = self.gce_provider().await?;
                (CloudProvider::Gce(p), budget)
            }
        })
    }
}

/// One read-only look at the cluster and the cloud, shared by `plan` and `status`.
pub struct Observation {
    pub nodes: Vec<k8s_openapi::api::core::v1::Node>,
    pub infos: Vec<routeplane_core::NodeInfo>,
    pub snapshot: routeplane_core::RouteSnapshot,
    pub plan: routeplane_core::Plan,
}

impl ClusterArgs {
    /// Lists the Nodes and the managed routes (one call each) and plans; writes nothing.
    pub async fn observe(&self) -> anyhow::Result<Observation> {
        use routeplane_core::RouteProvider;
        let spec = self.spec()?;
        let api: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(self.kube().await?);
        let nodes = api
            .list(&kube::api::ListParams::default())
            .await
            .context("listing Nodes")?
            .items;
        let infos: Vec<_> = nodes
            .iter()
            .filter_map(routeplane_core::controller::nodes::node_info)
            .collect();
        let provider = self.provider().await?;
        let instances: Vec<_> = infos
            .iter()
            .filter_map(|n| n.target.as_ref().ok().cloned())
            .collect();
        let snapshot = provider
            .list_routes(&instances)
            .await
            .context("listing cloud routes")?;
        let plan = routeplane_core::plan(&spec, &infos, &snapshot);
        Ok(Observation {
            nodes,
            infos,
            snapshot,
            plan,
        })
    }
}
