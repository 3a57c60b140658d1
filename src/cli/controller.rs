//! `routeplane controller`: flags → [`ControllerConfig`], then run until SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use routeplane_core::controller::{Controller, ControllerConfig, LeaderConfig};
use tokio_util::sync::CancellationToken;

use super::common::{ClusterArgs, parse_duration};

#[derive(Args, Debug)]
pub struct ControllerArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Full reconcile even when nothing changed, to repair drift made behind our back.
    #[arg(long, env = "ROUTEPLANE_RESYNC_PERIOD", default_value = "60s", value_parser = parse_duration)]
    pub resync_period: Duration,

    /// How long to gather a burst of Node changes into one pass.
    #[arg(long, env = "ROUTEPLANE_DEBOUNCE", default_value = "10ms", value_parser = parse_duration)]
    pub debounce: Duration,

    /// Nodes whose routes are written at once (each node's calls to every table run together).
    #[arg(long, env = "ROUTEPLANE_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub concurrency: u16,

    /// Backstop deadline for any single provider call (the provider's own is shorter).
    #[arg(long = "call-timeout", env = "ROUTEPLANE_CALL_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub backstop_timeout: Duration,

    /// Longest wait before retrying a failing node (waits double from 1s with jitter).
    #[arg(long, env = "ROUTEPLANE_MAX_BACKOFF", default_value = "5m", value_parser = parse_duration)]
    pub max_backoff: Duration,

    /// Elect a leader through a Lease so only one replica writes. Turn off only with one replica.
    #[arg(long, env = "ROUTEPLANE_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,

    /// Namespace of the Lease (the pod's namespace in a cluster).
    #[arg(long, env = "POD_NAMESPACE", default_value = "kube-system")]
    pub leader_elect_namespace: String,

    /// Name of the Lease.
    #[arg(
        long,
        env = "ROUTEPLANE_LEADER_ELECT_NAME",
        default_value = "routeplane-controller"
    )]
    pub leader_elect_name: String,

    /// This replica's identity in the Lease (the pod name in a cluster; the hostname otherwise).
    #[arg(long, env = "POD_NAME")]
    pub leader_elect_identity: Option<String>,

    /// How long a lease lasts without renewal before a standby may take it.
    #[arg(long, env = "ROUTEPLANE_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,

    /// The leader stops writing if it cannot renew within this (must be < lease duration).
    #[arg(long, env = "ROUTEPLANE_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub renew_deadline: Duration,

    /// How often to try to acquire or renew the lease.
    #[arg(long, env = "ROUTEPLANE_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    pub retry_period: Duration,

    /// Serve /metrics, /healthz and /readyz here.
    #[arg(long, env = "ROUTEPLANE_METRICS_ADDR", default_value = "0.0.0.0:9090")]
    pub metrics_addr: SocketAddr,

    /// Give Nodes without a Pod CIDR one from --cluster-cidr (needed on EKS, optional on kubeadm).
    #[arg(long, env = "ROUTEPLANE_ALLOCATE_NODE_CIDRS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allocate_node_cidrs: bool,

    /// Prefix length of each node's IPv4 Pod CIDR when allocating.
    #[arg(
        long,
        env = "ROUTEPLANE_NODE_CIDR_MASK_SIZE_IPV4",
        default_value_t = 24
    )]
    pub node_cidr_mask_size_ipv4: u8,

    /// Prefix length of each node's IPv6 Pod CIDR when allocating.
    #[arg(
        long,
        env = "ROUTEPLANE_NODE_CIDR_MASK_SIZE_IPV6",
        default_value_t = 64
    )]
    pub node_cidr_mask_size_ipv6: u8,

    /// Namespace Node events are written to.
    #[arg(long, env = "ROUTEPLANE_EVENT_NAMESPACE", default_value = "default")]
    pub event_namespace: String,
}

impl ControllerArgs {
    fn config(&self) -> anyhow::Result<ControllerConfig> {
        let spec = self.cluster.spec()?;
        let mut cfg = ControllerConfig::new(spec.clone());
        cfg.resync = self.resync_period;
        cfg.debounce = self.debounce;
        cfg.reconcile.concurrency = usize::from(self.concurrency);
        cfg.reconcile.call_timeout = self.backstop_timeout;
        cfg.reconcile.backoff_max = self.max_backoff;
        cfg.metrics_addr = Some(self.metrics_addr);
        cfg.event_namespace = self.event_namespace.clone();
        if self.leader_elect {
            let identity = match &self.leader_elect_identity {
                Some(id) => id.clone(),
                None => hostname()
                    .context("no --leader-elect-identity and no hostname to default to")?,
            };
            let leader = LeaderConfig {
                namespace: self.leader_elect_namespace.clone(),
                name: self.leader_elect_name.clone(),
                identity,
                lease_duration: self.lease_duration,
                renew_deadline: self.renew_deadline,
                retry_period: self.retry_period,
            };
            leader.validate()?;
            cfg.leader = Some(leader);
        }
        if self.allocate_node_cidrs {
            let pools = spec
                .cluster_cidrs
                .iter()
                .map(|c| match c {
                    ipnet::IpNet::V4(_) => (*c, self.node_cidr_mask_size_ipv4),
                    ipnet::IpNet::V6(_) => (*c, self.node_cidr_mask_size_ipv6),
                })
                .collect::<Vec<_>>();
            routeplane_core::alloc::CidrAllocator::new(&pools)
                .context("invalid --node-cidr-mask-size")?;
            cfg.allocate = Some(pools);
        }
        Ok(cfg)
    }
}

fn hostname() -> anyhow::Result<String> {
    let name =
        std::fs::read_to_string("/proc/sys/kernel/hostname").context("reading the hostname")?;
    Ok(name.trim().to_string())
}

pub async fn run(args: ControllerArgs) -> anyhow::Result<()> {
    let mut cfg = args.config()?;
    let client = args.cluster.kube().await?;
    let (provider, budget) = args.cluster.provider_and_budget().await?;
    cfg.budget = Some(budget);
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    Controller::new(provider, cfg)
        .run(client, shutdown)
        .await
        .context("controller failed")
}

/// Cancels `token` on SIGTERM (Kubernetes stopping the pod) or SIGINT (Ctrl-C).
pub async fn stop_on_signal(token: CancellationToken) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("signal received: shutting down");
    token.cancel();
}
