//! `routeplane agent`, the node DaemonSet: watches its own Node (and, in host/hybrid mode, its
//! peers), writes the CNI conflist from the node's Pod CIDRs, installs the `routeplane-bridge`
//! plugin, turns forwarding on, and keeps kernel routes to peers' Pod CIDRs. All kernel and file
//! work is the synchronous `routeplane_cni::agent` library, run on a blocking thread; this file
//! is the wiring to the Node watch. It needs no cloud credentials.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use routeplane_cni::agent::{self, conflist::ConflistSpec, host_routes::PeerRoute};
use routeplane_core::controller::nodes::{NodeStore, watch_nodes};
use routeplane_core::{Mode, NodeInfo};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::common::{parse_duration, parse_mode};

#[derive(Args, Debug, Clone)]
pub struct AgentArgs {
    /// This node's name (the downward API's spec.nodeName).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// Kubeconfig to use; without it: KUBECONFIG, ~/.kube/config, then in-cluster.
    #[arg(long, env = "ROUTEPLANE_KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// `cloud`: the VPC routes, the agent only configures CNI; `host`: also keep a kernel route
    /// to every peer's Pod CIDR via its InternalIP; `hybrid`: only to peers in --local-subnet.
    #[arg(long, env = "ROUTEPLANE_MODE", default_value = "cloud", value_parser = parse_mode)]
    pub mode: Mode,
    /// Peer subnets reachable on-link (hybrid mode): peers whose InternalIP is inside get kernel
    /// routes, the others are left to the cloud routes.
    #[arg(
        long = "local-subnet",
        env = "ROUTEPLANE_LOCAL_SUBNET",
        value_delimiter = ','
    )]
    pub local_subnets: Vec<IpNet>,
    /// Cluster CIDRs: pod traffic to them keeps the pod's IP (no masquerade).
    #[arg(
        long = "cluster-cidr",
        env = "ROUTEPLANE_CLUSTER_CIDR",
        value_delimiter = ','
    )]
    pub cluster_cidrs: Vec<IpNet>,
    /// Masquerade pod traffic leaving the cluster CIDRs (to reach the internet through the node).
    #[arg(long, env = "ROUTEPLANE_IP_MASQ", default_value_t = true, action = clap::ArgAction::Set)]
    pub ip_masq: bool,
    /// Pod MTU; detected from the uplink (the default route's interface) when unset. No
    /// encapsulation, so no overhead to subtract.
    #[arg(long, env = "ROUTEPLANE_MTU")]
    pub mtu: Option<u32>,
    /// Bridge the pods are attached to.
    #[arg(long, env = "ROUTEPLANE_BRIDGE", default_value = "rp0")]
    pub bridge: String,
    /// Where the conflist is written.
    #[arg(
        long,
        env = "ROUTEPLANE_CNI_CONF_DIR",
        default_value = "/etc/cni/net.d"
    )]
    pub cni_conf_dir: PathBuf,
    /// Where the plugin binary is installed.
    #[arg(long, env = "ROUTEPLANE_CNI_BIN_DIR", default_value = "/opt/cni/bin")]
    pub cni_bin_dir: PathBuf,
    /// The plugin binary to install (default: routeplane-bridge next to this executable).
    #[arg(long, env = "ROUTEPLANE_PLUGIN_SOURCE")]
    pub plugin_source: Option<PathBuf>,
    /// IPAM store directory written into the conflist.
    #[arg(
        long,
        env = "ROUTEPLANE_IPAM_DATA_DIR",
        default_value = "/var/lib/cni/routeplane"
    )]
    pub ipam_data_dir: PathBuf,
    /// /proc/sys of the node (forwarding sysctls).
    #[arg(long, env = "ROUTEPLANE_PROC_SYS", default_value = "/proc/sys")]
    pub proc_sys: PathBuf,
    /// Re-check files and routes this often even without Node changes (repairs manual edits).
    #[arg(long, env = "ROUTEPLANE_AGENT_RESYNC", default_value = "30s", value_parser = parse_duration)]
    pub resync_period: Duration,
    /// Apply kernel routes inside this network namespace instead of the agent's own (used by
    /// `routeplane lab` and tests to run several simulated nodes in one process).
    #[arg(long, env = "ROUTEPLANE_NETNS", hide = true)]
    pub netns: Option<PathBuf>,
}

/// The peer routes this node should have: each other node's Pod CIDRs via its InternalIP of the
/// same family (and, in hybrid mode, only peers inside a local subnet).
pub fn peer_routes(me: &str, nodes: &[NodeInfo], mode: Mode, local: &[IpNet]) -> Vec<PeerRoute> {
    if mode == Mode::Cloud {
        return Vec::new();
    }
    let on_link = |ip: &IpAddr| mode == Mode::Host || local.iter().any(|s| s.contains(ip));
    let mut out = Vec::new();
    for n in nodes.iter().filter(|n| n.name != me) {
        for cidr in &n.pod_cidrs {
            let via = n
                .internal_ips
                .iter()
                .find(|ip| ip.is_ipv4() == matches!(cidr, IpNet::V4(_)));
            if let Some(via) = via.filter(|ip| on_link(ip)) {
                out.push(PeerRoute {
                    dst: cidr.trunc(),
                    via: *via,
                });
            }
        }
    }
    out.sort_by_key(|r| r.dst);
    out
}

/// Everything one sync writes, prepared from the Node store.
struct SyncInput {
    conflist: Option<ConflistSpec>,
    peers: Option<Vec<PeerRoute>>,
}

fn apply(args: &AgentArgs, input: SyncInput) -> anyhow::Result<()> {
    if let Some(spec) = input.conflist {
        if agent::conflist::write_conflist(&args.cni_conf_dir, &spec)
            .context("writing the CNI conflist")?
        {
            info!(dir = %args.cni_conf_dir.display(), cidrs = ?spec.pod_cidrs, mtu = spec.mtu, "wrote CNI conflist");
        }
        let v6 = spec.pod_cidrs.iter().any(|c| matches!(c, IpNet::V6(_)));
        if args.netns.is_none() {
            agent::enable_forwarding(&args.proc_sys, true, v6).context("enabling forwarding")?;
        }
    }
    if let Some(peers) = input.peers {
        let mut sock = match &args.netns {
            Some(path) => {
                let ns = routeplane_cni::netns::open(path)?;
                routeplane_cni::netns::socket_in(&ns, path)?
            }
            None => routeplane_cni::netlink::Socket::new()?,
        };
        let changes = agent::host_routes::sync(&mut sock, &peers).context("syncing host routes")?;
        if !changes.is_empty() {
            info!(added = ?changes.added, replaced = ?changes.replaced, removed = ?changes.removed, "host routes synced");
        }
        for c in &changes.conflicts {
            warn!(destination = %c, "a route of another protocol holds a peer's Pod CIDR; left alone");
        }
    }
    Ok(())
}

fn install_plugin(args: &AgentArgs) -> anyhow::Result<()> {
    let source = match &args.plugin_source {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("locating this executable")?
            .parent()
            .map(|d| d.join("routeplane-bridge"))
            .context("this executable has no directory")?,
    };
    if agent::files::install_binary(&source, &args.cni_bin_dir, "routeplane-bridge").with_context(
        || {
            format!(
                "installing {} into {}",
                source.display(),
                args.cni_bin_dir.display()
            )
        },
    )? {
        info!(dir = %args.cni_bin_dir.display(), "installed routeplane-bridge");
    }
    Ok(())
}

/// Runs the agent until `shutdown`.
///
/// # Errors
/// Start-up failures (no API server, plugin cannot be installed); sync errors are logged and
/// retried on the next trigger.
pub async fn run_agent(
    args: AgentArgs,
    client: kube::Client,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let blocking_args = args.clone();
    tokio::task::spawn_blocking(move || install_plugin(&blocking_args)).await??;
    let mtu = args.mtu;
    let mtu = tokio::task::spawn_blocking(move || agent::uplink::pod_mtu(mtu))
        .await?
        .context("detecting the MTU")?;

    let store = NodeStore::default();
    let api: Api<Node> = Api::all(client);
    let watch = tokio::spawn(watch_nodes(api, store.clone(), shutdown.clone()));
    let mut waited_logged = false;
    loop {
        if store.is_ready() {
            let nodes: Vec<NodeInfo> = store.snapshot().into_iter().map(|w| w.info).collect();
            match nodes.iter().find(|n| n.name == args.node_name) {
                None => warn!(node = %args.node_name, "this node is not in the API (yet)"),
                Some(me) if me.pod_cidrs.is_empty() => {
                    if !waited_logged {
                        info!(node = %args.node_name, "waiting for the node's podCIDR");
                        waited_logged = true;
                    }
                }
                Some(me) => {
                    let mut spec = ConflistSpec::new(me.pod_cidrs.clone(), mtu);
                    spec.bridge = args.bridge.clone();
                    spec.ip_masq = args.ip_masq;
                    spec.cluster_cidrs = args.cluster_cidrs.clone();
                    spec.data_dir = args.ipam_data_dir.clone();
                    let peers = (args.mode != Mode::Cloud).then(|| {
                        peer_routes(&args.node_name, &nodes, args.mode, &args.local_subnets)
                    });
                    let a = args.clone();
                    let input = SyncInput {
                        conflist: Some(spec),
                        peers,
                    };
                    if let Err(error) =
                        tokio::task::spawn_blocking(move || apply(&a, input)).await?
                    {
                        warn!(
                            error = format!("{error:#}"),
                            "node sync failed; retrying on the next change"
                        );
                    }
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = store.changed() => {}
            () = tokio::time::sleep(args.resync_period) => {}
        }
    }
    let _ = watch.await;
    Ok(())
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    if args.mode == Mode::Hybrid && args.local_subnets.is_empty() {
        anyhow::bail!(
            "--mode hybrid needs --local-subnet: the subnet(s) whose peers are routed by the kernel"
        );
    }
    let client = super::kube_client::client(args.kubeconfig.as_deref()).await?;
    client
        .apiserver_version()
        .await
        .context("the Kubernetes API server is unreachable")?;
    let shutdown = CancellationToken::new();
    tokio::spawn(super::controller::stop_on_signal(shutdown.clone()));
    run_agent(args, client, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use routeplane_core::testing::node;

    #[test]
    fn host_mode_routes_every_peer_by_family_and_hybrid_only_local_ones() {
        let nodes = vec![
            node("a").pod_cidr("10.244.1.0/24").ip("192.0.2.1").build(),
            node("b")
                .pod_cidr("10.244.2.0/24")
                .pod_cidr("fd00:10:244:2::/64")
                .ip("192.0.2.2")
                .ip("2001:db8::2")
                .build(),
            node("c")
                .pod_cidr("10.244.3.0/24")
                .ip("198.51.100.3")
                .build(),
            node("d").ip("192.0.2.4").build(),
        ];
        let host = peer_routes("a", &nodes, Mode::Host, &[]);
        let dsts: Vec<String> = host
            .iter()
            .map(|r| format!("{} via {}", r.dst, r.via))
            .collect();
        assert_eq!(
            dsts,
            [
                "10.244.2.0/24 via 192.0.2.2",
                "10.244.3.0/24 via 198.51.100.3",
                "fd00:10:244:2::/64 via 2001:db8::2"
            ]
        );
        let hybrid = peer_routes(
            "a",
            &nodes,
            Mode::Hybrid,
            &["192.0.2.0/24".parse().unwrap()],
        );
        assert_eq!(hybrid.len(), 1);
        assert!(peer_routes("a", &nodes, Mode::Cloud, &[]).is_empty());
    }

    /// A network namespace that disappears with the test, whatever happens.
    struct Netns(String);

    impl Netns {
        fn new(name: &str) -> Self {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", name])
                .output();
            ip(&["netns", "add", name]);
            Netns(name.to_string())
        }
        fn exec(&self, args: &[&str]) -> String {
            let mut full = vec!["netns", "exec", &self.0, "ip"];
            full.extend_from_slice(args);
            ip(&full)
        }
    }

    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }

    fn ip(args: &[&str]) -> String {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .expect("run ip");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn our_routes(ns: &Netns) -> Vec<(String, String)> {
        let json = ns.exec(&["-j", "route", "show", "proto", "176"]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let mut out: Vec<(String, String)> = v
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            r["dst"].as_str().unwrap_or("").to_string(),
                            r["gateway"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    async fn eventually(ns: &Netns, want: &[(&str, &str)]) {
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let have = our_routes(ns);
            if have == want {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "host routes {have:?}, want {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    #[ignore = "needs root (CAP_NET_ADMIN): creates a network namespace"]
    async fn host_mode_routes_follow_node_changes_in_the_api() {
        assert!(
            nix_is_root(),
            "this test needs root; run it with --include-ignored as root"
        );
        use routeplane_mocks::kube_api::{FakeKube, node as k8s_node};
        let ns = Netns::new(&format!("rp-agent-{}", std::process::id()));
        ns.exec(&[
            "link", "add", "uplink", "type", "veth", "peer", "name", "peer",
        ]);
        ns.exec(&["addr", "add", "192.0.2.1/24", "dev", "uplink"]);
        ns.exec(&["link", "set", "uplink", "up"]);
        ns.exec(&["link", "set", "peer", "up"]);
        // An operator's static route with another protocol: the agent must never touch it.
        ns.exec(&[
            "route",
            "add",
            "10.99.0.0/24",
            "via",
            "192.0.2.99",
            "proto",
            "static",
        ]);

        let fake = FakeKube::start().await.unwrap();
        let add = |name: &str, cidr: &str, ip: &str| {
            fake.add_node(k8s_node(name).pod_cidr(cidr).internal_ip(ip).build())
                .unwrap();
        };
        add("me", "10.244.1.0/24", "192.0.2.1");
        add("b", "10.244.2.0/24", "192.0.2.2");
        add("c", "10.244.3.0/24", "192.0.2.3");

        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("plugin-src");
        std::fs::write(&plugin, b"#!/bin/sh\n").unwrap();
        let args = AgentArgs {
            node_name: "me".into(),
            kubeconfig: None,
            mode: Mode::Host,
            local_subnets: vec![],
            cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
            ip_masq: true,
            mtu: Some(1500),
            bridge: "rp0".into(),
            cni_conf_dir: dir.path().join("net.d"),
            cni_bin_dir: dir.path().join("bin"),
            plugin_source: Some(plugin),
            ipam_data_dir: dir.path().join("ipam"),
            proc_sys: dir.path().join("proc-sys"),
            resync_period: Duration::from_millis(300),
            netns: Some(PathBuf::from(format!("/run/netns/{}", ns.0))),
        };
        let client =
            kube::Client::try_from(kube::Config::new(fake.url().parse().unwrap())).unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_agent(args, client, shutdown.clone()));

        eventually(
            &ns,
            &[
                ("10.244.2.0/24", "192.0.2.2"),
                ("10.244.3.0/24", "192.0.2.3"),
            ],
        )
        .await;
        let conflist =
            std::fs::read_to_string(dir.path().join("net.d/10-routeplane.conflist")).unwrap();
        assert!(conflist.contains("10.244.1.0/24"), "{conflist}");
        assert!(dir.path().join("bin/routeplane-bridge").exists());

        // A peer leaves, a peer joins, a peer moves to another IP.
        fake.delete_node("c").unwrap();
        add("d", "10.244.4.0/24", "192.0.2.4");
        fake.patch_node("b", serde_json::json!({"status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.22"}]}})).unwrap();
        eventually(
            &ns,
            &[
                ("10.244.2.0/24", "192.0.2.22"),
                ("10.244.4.0/24", "192.0.2.4"),
            ],
        )
        .await;

        // Someone deletes our route by hand: the resync puts it back.
        ns.exec(&["route", "del", "10.244.4.0/24"]);
        eventually(
            &ns,
            &[
                ("10.244.2.0/24", "192.0.2.22"),
                ("10.244.4.0/24", "192.0.2.4"),
            ],
        )
        .await;

        let static_route = ns.exec(&["route", "show", "10.99.0.0/24"]);
        assert!(
            static_route.contains("192.0.2.99") && static_route.contains("static"),
            "{static_route}"
        );
        shutdown.cancel();
        task.await.unwrap().unwrap();
    }

    fn nix_is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .map(|l| l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
    }
}
