//! The lab's control plane, in-process: the mock EC2 (one cluster-tagged route table per
//! subnet), the fake Kubernetes API with the Nodes, the real controller with the real AWS
//! provider (cloud mode), the lab router that turns the mock tables into kernel routes of the
//! VPC router namespace (cloud mode), and one real `routeplane agent` per node, confined to
//! that node's namespace and directories (both modes: it writes the conflist the pods are
//! created from; in host mode it also keeps the kernel routes to peers).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use ipnet::{IpNet, Ipv4Net};
use routeplane_core::controller::ControllerConfig;
use routeplane_core::{Cloud, ClusterSpec, Mode};
use routeplane_mocks::ec2::{MockEc2, Target, Throttle, World, WorldHandle};
use routeplane_mocks::kube_api::{FakeKube, node as k8s_node};
use routeplane_mocks::lab_router::{LabRouter, LabRouterHandle, MirroredTable};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::pods::CniDirs;
use super::shell::ip_in;
use super::topology::{Lab, Node};
use crate::cli::agent::{AgentArgs, run_agent};
use crate::cli::sim::{RunningController, mock_aws_provider};

pub const CLUSTER: &str = "lab";
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";
pub const VPC_CIDR: &str = "10.0.0.0/16";
const VPC: &str = "vpc-0000000000000001a";
/// How often the controller re-lists and repairs drift (the hijack recovery depends on it).
pub const RESYNC: Duration = Duration::from_secs(1);
/// How often the lab router compares the mock tables with the kernel.
pub const MIRROR_EVERY: Duration = Duration::from_millis(10);
const FIRST_KERNEL_TABLE: u32 = 100;

/// The subnet CIDR of subnet `k` (10.0.k.0/24).
pub fn subnet_cidr(k: usize) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(10, 0, k as u8, 0), 24).unwrap_or_default()
}

/// Node `i`'s Pod CIDR (10.244.i.0/24).
pub fn pod_cidr(i: usize) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::new(10, 244, i as u8, 0), 24).unwrap_or_default())
}

fn subnet_id(k: usize) -> String {
    format!("subnet-0000000000000001{k}")
}

fn table_id(k: usize) -> String {
    format!("rtb-0000000000000001{k}")
}

fn az(k: usize) -> String {
    format!("us-east-1{}", (b'a' + k as u8) as char)
}

/// A node as the control plane knows it.
#[derive(Debug, Clone)]
pub struct SimNode {
    pub name: String,
    pub subnet: usize,
    pub instance: String,
    pub ip: Ipv4Addr,
    pub pod_cidr: IpNet,
}

struct Agent {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Everything that decides where packets go, running on the runtime behind `rt`.
pub struct ControlPlane {
    pub mode: Mode,
    rt: Handle,
    world: WorldHandle,
    ec2: Option<MockEc2>,
    pub kube: FakeKube,
    controller: Option<RunningController>,
    router: Option<LabRouterHandle>,
    agents: BTreeMap<String, Agent>,
    subnets: usize,
    plugin: PathBuf,
    state_dir: PathBuf,
}

impl ControlPlane {
    /// A VPC with `subnets` subnets and a tagged table each; the mock EC2 (cloud mode) and the
    /// fake API start now.
    ///
    /// # Errors
    /// A mock failing to start.
    pub fn start(
        rt: Handle,
        mode: Mode,
        subnets: usize,
        plugin: PathBuf,
        state_dir: PathBuf,
    ) -> anyhow::Result<Self> {
        let mut w = World::new();
        w.add_vpc(VPC, VPC_CIDR)?;
        for k in 0..subnets {
            w.add_subnet(&subnet_id(k), VPC, &subnet_cidr(k).to_string(), &az(k))?;
            w.add_route_table(&table_id(k), VPC, k == 0, &[subnet_id(k).as_str()])?;
            w.tag(
                &table_id(k),
                &format!("kubernetes.io/cluster/{CLUSTER}"),
                "owned",
            )?;
        }
        let (world, ec2) = if mode == Mode::Cloud {
            let ec2 = rt
                .block_on(
                    MockEc2::builder()
                        .world(w)
                        .throttle(Throttle::off())
                        .start(),
                )
                .context("starting the mock EC2")?;
            (ec2.world(), Some(ec2))
        } else {
            // Host mode has no cloud routes; the world only hands out node addresses.
            (WorldHandle::new(w), None)
        };
        let kube = rt
            .block_on(FakeKube::start())
            .context("starting the fake Kubernetes API")?;
        Ok(Self {
            mode,
            rt,
            world,
            ec2,
            kube,
            controller: None,
            router: None,
            agents: BTreeMap::new(),
            subnets,
            plugin,
            state_dir,
        })
    }

    /// The route table subnet `k` uses.
    pub fn table_of(&self, k: usize) -> String {
        table_id(k)
    }

    /// Launches the instance for node `index` on `subnet`: its address comes from the mock.
    ///
    /// # Errors
    /// A full subnet.
    pub fn launch(&self, index: usize, subnet: usize) -> anyhow::Result<SimNode> {
        let instance = format!("i-{:017x}", 0x1ab_0000 + index);
        let ip = self.world.edit(|w| -> anyhow::Result<IpAddr> {
            w.add_instance(&instance, &subnet_id(subnet))?;
            w.tag(
                &instance,
                &format!("kubernetes.io/cluster/{CLUSTER}"),
                "owned",
            )?;
            w.instance(&instance)
                .and_then(|i| i.private_ip)
                .context("the mock gave the instance no address")
        })?;
        let IpAddr::V4(ip) = ip else {
            bail!("the mock gave {instance} an IPv6 address");
        };
        Ok(SimNode {
            name: format!("n{index}"),
            subnet,
            instance,
            ip,
            pod_cidr: pod_cidr(index),
        })
    }

    /// Cloud mode: mirrors each subnet's table into the router namespace, via the subnet's
    /// bridge. Host mode: nothing (no VPC routes at all).
    ///
    /// # Errors
    /// `ip rule` failures.
    pub fn start_router(&mut self, lab: &Lab) -> anyhow::Result<()> {
        if self.mode != Mode::Cloud {
            return Ok(());
        }
        let mut router = LabRouter::new(self.world.clone(), lab.router_ns.clone());
        for (k, s) in lab.subnets.iter().enumerate() {
            router = router.table(MirroredTable {
                route_table_id: table_id(k),
                kernel_table: FIRST_KERNEL_TABLE + k as u32,
                iif: s.bridge.clone(),
            });
        }
        router.install()?;
        self.router = Some(router.spawn(MIRROR_EVERY, |e| {
            tracing::warn!(error = %e, "lab router sync failed; retrying");
        }));
        Ok(())
    }

    /// Cloud mode: the real controller with the real AWS provider, short resync.
    ///
    /// # Errors
    /// Provider or client set-up failing.
    pub fn start_controller(&mut self) -> anyhow::Result<()> {
        let Some(ec2) = &self.ec2 else {
            return Ok(());
        };
        let _guard = self.rt.enter();
        let provider = self
            .rt
            .block_on(mock_aws_provider(CLUSTER, ec2, 50, true))?;
        let spec = ClusterSpec::new(
            CLUSTER,
            vec![CLUSTER_CIDR.parse()?],
            Mode::Cloud,
            Cloud::Aws,
        )?;
        let mut cfg = ControllerConfig::new(spec);
        cfg.resync = RESYNC;
        cfg.reconcile.backoff_base = Duration::from_millis(100);
        cfg.reconcile.backoff_max = Duration::from_millis(500);
        self.controller = Some(RunningController::start(provider, cfg, &self.kube.url())?);
        Ok(())
    }

    /// Starts the real agent for `node`, confined to its namespace and its own directories;
    /// returns where its runtime finds the CNI config and plugin.
    ///
    /// # Errors
    /// The client failing to build.
    pub fn start_agent(&mut self, node: &Node) -> anyhow::Result<CniDirs> {
        let dir = self.state_dir.join(&node.name);
        let dirs = CniDirs {
            conf_dir: dir.join("net.d"),
            bin_dir: dir.join("bin"),
        };
        let args = AgentArgs {
            node_name: node.name.clone(),
            kubeconfig: None,
            mode: self.mode,
            local_subnets: Vec::new(),
            // The VPC too: pod→node traffic keeps the pod's address, like pod→pod.
            cluster_cidrs: vec![CLUSTER_CIDR.parse()?, VPC_CIDR.parse()?],
            ip_masq: true,
            mtu: Some(1500),
            bridge: "cbr0".into(),
            cni_conf_dir: dirs.conf_dir.clone(),
            cni_bin_dir: dirs.bin_dir.clone(),
            plugin_source: Some(self.plugin.clone()),
            ipam_data_dir: dir.join("ipam"),
            proc_sys: dir.join("proc-sys"),
            resync_period: RESYNC,
            netns: Some(super::shell::netns_path(&node.netns)),
        };
        // The client spawns its request buffer: it needs the runtime's context.
        let _guard = self.rt.enter();
        let client = kube::Client::try_from(kube::Config::new(self.kube.url().parse()?))?;
        let stop = CancellationToken::new();
        let task = self.rt.spawn(run_agent(args, client, stop.clone()));
        self.agents.insert(node.name.clone(), Agent { stop, task });
        Ok(dirs)
    }

    /// Stops a node's agent.
    pub fn stop_agent(&mut self, name: &str) {
        if let Some(a) = self.agents.remove(name) {
            a.stop.cancel();
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), a.task).await });
        }
    }

    /// Registers the Node (podCIDR, providerID, InternalIP) in the API: what kubelet and the
    /// node IPAM controller would do.
    ///
    /// # Errors
    /// The fake API refusing it.
    pub fn register(&self, n: &SimNode) -> anyhow::Result<()> {
        self.kube
            .add_node(
                k8s_node(&n.name)
                    .pod_cidr(&n.pod_cidr.to_string())
                    .provider_id(&format!("aws:///{}/{}", az(n.subnet), n.instance))
                    .internal_ip(&n.ip.to_string())
                    .build(),
            )
            .with_context(|| format!("adding Node {}", n.name))?;
        Ok(())
    }

    /// Deletes the Node from the API (`kubectl delete node`).
    ///
    /// # Errors
    /// The fake API refusing it.
    pub fn deregister(&self, name: &str) -> anyhow::Result<()> {
        self.kube
            .delete_node(name)
            .with_context(|| format!("deleting Node {name}"))?;
        Ok(())
    }

    /// Points `victim`'s route in `table` at `thief`'s instance behind the controller's back.
    ///
    /// # Errors
    /// No such route.
    pub fn hijack(&self, table: &str, victim: &SimNode, thief: &SimNode) -> anyhow::Result<()> {
        self.world.edit(|w| {
            w.hijack_route(
                table,
                &victim.pod_cidr.to_string(),
                Target::Instance(thief.instance.clone()),
            )
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Whether every node's route is active towards its instance in every table, and mirrored
    /// into the router's kernel tables (cloud); or every node has a kernel route to every peer
    /// (host).
    pub fn routes_ready(&self, lab: &Lab, nodes: &[SimNode]) -> bool {
        match self.mode {
            Mode::Cloud => (0..self.subnets).all(|k| {
                let mock = self.world.routes(&table_id(k)).unwrap_or_default();
                let kernel = kernel_routes(&lab.router_ns, FIRST_KERNEL_TABLE + k as u32, 177);
                nodes.iter().all(|n| {
                    mock.iter().any(|r| {
                        r.destination == n.pod_cidr
                            && r.instance_id.as_deref() == Some(n.instance.as_str())
                            && r.state.as_str() == "active"
                    }) && kernel.get(&n.pod_cidr) == Some(&IpAddr::V4(n.ip))
                })
            }),
            _ => nodes.iter().all(|me| {
                let Some(ns) = lab.node(&me.name).map(|n| n.netns.clone()) else {
                    return false;
                };
                let kernel = kernel_routes(&ns, 254, 176);
                nodes
                    .iter()
                    .filter(|p| p.name != me.name)
                    .all(|p| kernel.get(&p.pod_cidr) == Some(&IpAddr::V4(p.ip)))
            }),
        }
    }

    /// Stops the agents, the controller and the router mirror.
    pub fn shutdown(&mut self) {
        let names: Vec<String> = self.agents.keys().cloned().collect();
        for n in names {
            self.stop_agent(&n);
        }
        if let Some(c) = self.controller.take() {
            self.rt.block_on(c.stop());
        }
        if let Some(r) = self.router.take() {
            r.stop();
        }
    }

    /// Whether the controller stopped by itself (it never should).
    pub fn controller_died(&self) -> bool {
        self.controller
            .as_ref()
            .is_some_and(RunningController::is_finished)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Some(r) = self.router.take() {
            r.stop();
        }
        for a in self.agents.values() {
            a.stop.cancel();
        }
    }
}

/// Gateway-routes of protocol `proto` in kernel table `table` of `netns`: destination → via.
pub fn kernel_routes(netns: &str, table: u32, proto: u8) -> BTreeMap<IpNet, IpAddr> {
    let (t, p) = (table.to_string(), proto.to_string());
    let text = ip_in(
        netns,
        &["-j", "-4", "route", "show", "table", &t, "proto", &p],
    )
    .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let dst = r["dst"].as_str()?.parse().ok()?;
            let gw = r["gateway"].as_str()?.parse().ok()?;
            Some((dst, gw))
        })
        .collect()
}
