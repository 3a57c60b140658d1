//! `routeplane demo`: the whole control plane with no cloud account and no root. It starts a
//! mock cloud (EC2: one subnet and route table per AZ; GCE: one network) and the fake Kubernetes
//! API in-process with N instances and Nodes, runs the real controller with the real provider
//! against them over HTTP, and shows convergence, churn and a repaired hijack. The scenario is
//! the same for both clouds; [`DemoCloud`] is what differs.

mod ec2;
mod gce;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use indicatif::{ProgressBar, ProgressStyle};
use routeplane_core::controller::ControllerConfig;
use routeplane_core::{Cloud, ClusterSpec, Mode};
use routeplane_mocks::kube_api::{FakeKube, node};

use super::common::{CloudArg, parse_duration};
use super::provider::CloudProvider;
use super::sim::{RunningController, wait_for};

const CLUSTER: &str = "demo";

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Nodes (and instances) to simulate.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub nodes: u32,
    /// Cloud to simulate: the mock EC2 (3 AZ route tables) or the mock GCE (one network).
    #[arg(long, value_enum, default_value = "aws")]
    pub cloud: CloudArg,
    /// Latency the mock adds to every call (e.g. 50ms).
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub latency: Duration,
    /// Enforce the cloud's documented request limits at the mock (and in the client).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub throttle: bool,
    /// GCE only: how long each route operation takes to reach DONE at the mock.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub op_delay: Duration,
}

/// One simulated node: its index (which names its instance) and Pod CIDR.
pub struct SimNode {
    index: u32,
    name: String,
    pod_cidr: String,
}

fn sim_node(i: u32) -> SimNode {
    SimNode {
        index: i,
        name: format!("node-{i:03}"),
        pod_cidr: format!("10.{}.{}.0/24", 244 + i / 256, i % 256),
    }
}

/// One API call as the demo's cost table counts it.
pub struct CallSummary {
    operation: String,
    mutating: bool,
}

/// What the demo needs from a mock cloud.
trait DemoCloud {
    /// What was started, for the header.
    fn banner(&self, nodes: usize) -> String;
    /// The route tables (AWS) or the network (GCE) each node gets a route in.
    fn tables(&self) -> Vec<String>;
    fn provider_id(&self, n: &SimNode) -> String;
    fn instance(&self, n: &SimNode) -> String;
    fn node_ip(&self, n: &SimNode) -> String;
    /// The real provider, pointed at the mock.
    async fn provider(&self) -> anyhow::Result<Arc<CloudProvider>>;
    /// Per table: the route at `n`'s Pod CIDR as (target instance, state), if any.
    fn route_cells(&self, n: &SimNode) -> Vec<Option<(String, &'static str)>>;
    /// Points `victim`'s route at `thief` by hand; returns where.
    fn hijack(&self, victim: &SimNode, thief: &SimNode) -> anyhow::Result<String>;
    fn calls(&self) -> Vec<CallSummary>;
    /// Cloud-specific figures for the end (GCE: operation polls in flight).
    fn extra_figures(&self) -> Vec<String>;
}

/// How many of `nodes`' routes are active and point at the right instance, over all tables.
fn converged(cloud: &impl DemoCloud, nodes: &[SimNode]) -> usize {
    nodes
        .iter()
        .map(|n| {
            let inst = cloud.instance(n);
            cloud
                .route_cells(n)
                .into_iter()
                .filter(|c| {
                    c.as_ref()
                        .is_some_and(|(t, s)| *t == inst && *s == "active")
                })
                .count()
        })
        .sum()
}

fn k8s_node(cloud: &impl DemoCloud, n: &SimNode) -> serde_json::Value {
    node(&n.name)
        .pod_cidr(&n.pod_cidr)
        .provider_id(&cloud.provider_id(n))
        .internal_ip(&cloud.node_ip(n))
        .build()
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // Every instance boots before its Node registers, the churn newcomer's too.
    let all: Vec<SimNode> = (0..=args.nodes).map(sim_node).collect();
    match args.cloud {
        CloudArg::Aws => scenario(&args, ec2::Ec2Demo::start(&args, &all).await?, Cloud::Aws).await,
        CloudArg::Gce => scenario(&args, gce::GceDemo::start(&args, &all).await?, Cloud::Gce).await,
    }
}

async fn scenario(args: &DemoArgs, cloud: impl DemoCloud, kind: Cloud) -> anyhow::Result<()> {
    let total = Instant::now();
    let mut nodes: Vec<SimNode> = (0..args.nodes).map(sim_node).collect();
    let tables = cloud.tables();
    let kube = FakeKube::start()
        .await
        .context("starting the fake Kubernetes API")?;
    for n in &nodes {
        kube.add_node(k8s_node(&cloud, n))
            .context("adding a node to the fake API")?;
    }
    println!(
        "routeplane demo: {}, fake Kubernetes API at {}, latency {:?}\n",
        cloud.banner(nodes.len()),
        kube.url(),
        args.latency
    );

    let provider = cloud.provider().await?;
    let spec = ClusterSpec::new(CLUSTER, vec!["10.244.0.0/14".parse()?], Mode::Cloud, kind)?;
    let mut cfg = ControllerConfig::new(spec);
    cfg.resync = Duration::from_secs(2); // short, so the hijack below is repaired quickly
    let running = RunningController::start(provider, cfg, &kube.url())?;

    // 1. Convergence, live.
    let want = nodes.len() * tables.len();
    let bar = ProgressBar::new(want as u64);
    bar.set_style(
        ProgressStyle::with_template("  converging {bar:40} {pos}/{len} routes {elapsed_precise}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let deadline = Duration::from_secs(60)
        + Duration::from_millis(200) * u32::try_from(want).unwrap_or(u32::MAX);
    loop {
        let done = converged(&cloud, &nodes);
        bar.set_position(done as u64);
        if done == want {
            break;
        }
        if running.is_finished() {
            bail!("the controller stopped before converging");
        }
        if start.elapsed() > deadline {
            bail!("did not converge within {deadline:?}: {done}/{want} routes");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bar.finish();
    let converge_time = start.elapsed();
    let calls_at_convergence = cloud.calls();
    println!("  converged: {want} routes in {converge_time:.2?}\n");
    println!("{}", route_table(&cloud, &nodes));

    // 2. Churn: a node leaves, a node joins, someone hijacks a route by hand.
    println!("churn:");
    let gone = nodes.pop().context("no nodes")?;
    kube.delete_node(&gone.name).context("deleting a node")?;
    let t = wait_for(
        "the deleted node's routes to go",
        Duration::from_secs(30),
        || cloud.route_cells(&gone).iter().all(Option::is_none),
    )
    .await?;
    println!(
        "  - deleted {}: its {} route(s) removed in {t:.2?}",
        gone.name,
        tables.len()
    );

    let newcomer = sim_node(args.nodes);
    kube.add_node(k8s_node(&cloud, &newcomer))?;
    nodes.push(newcomer);
    let t = wait_for("the new node's routes", Duration::from_secs(30), || {
        converged(&cloud, &nodes) == nodes.len() * tables.len()
    })
    .await?;
    println!(
        "  + added {}: routed in {} in {t:.2?}",
        nodes[nodes.len() - 1].name,
        tables.join(", ")
    );

    let (victim, thief) = (&nodes[0], &nodes[nodes.len().min(2) - 1]);
    let place = cloud.hijack(victim, thief)?;
    println!(
        "  ! hijacked {} in {place}: now points at {} ({})",
        victim.pod_cidr,
        cloud.instance(thief),
        thief.name
    );
    let t = wait_for(
        "the hijacked route to be repaired",
        Duration::from_secs(30),
        || converged(&cloud, &nodes) == nodes.len() * tables.len(),
    )
    .await?;
    println!("  ✓ repaired on the next resync, {t:.2?} later\n");

    running.stop().await;

    // 3. What it cost.
    println!(
        "{}",
        calls_table(&calls_at_convergence, &cloud.calls(), args.nodes)
    );
    for line in cloud.extra_figures() {
        println!("{line}");
    }
    println!("total time {:.2?}", total.elapsed());
    Ok(())
}

fn route_table(cloud: &impl DemoCloud, nodes: &[SimNode]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    let mut header = vec!["node".to_string(), "podCIDR".into(), "target".into()];
    header.extend(cloud.tables());
    t.set_header(header);
    let shown = 12;
    for n in nodes.iter().take(shown) {
        let inst = cloud.instance(n);
        let mut row = vec![n.name.clone(), n.pod_cidr.clone(), inst.clone()];
        for cell in cloud.route_cells(n) {
            row.push(match cell {
                Some((target, state)) if target == inst => state.to_string(),
                Some((other, state)) => format!("{state} → {other}"),
                None => "missing".into(),
            });
        }
        t.add_row(row);
    }
    if nodes.len() > shown {
        t.add_row(vec![format!("… {} more", nodes.len() - shown)]);
    }
    t
}

fn calls_table(at_convergence: &[CallSummary], all: &[CallSummary], nodes: u32) -> Table {
    let count = |calls: &[CallSummary]| {
        let mut m: BTreeMap<String, (usize, bool)> = BTreeMap::new();
        for c in calls {
            let e = m.entry(c.operation.clone()).or_insert((0, c.mutating));
            e.0 += 1;
        }
        m
    };
    let conv = count(at_convergence);
    let total = count(all);
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(vec!["API call", "kind", "to converge", "whole demo"]);
    for (op, (n, mutating)) in &total {
        let c = conv.get(op).map_or(0, |x| x.0);
        t.add_row(vec![
            op.clone(),
            if *mutating { "write" } else { "read" }.into(),
            c.to_string(),
            n.to_string(),
        ]);
    }
    let writes = at_convergence.iter().filter(|c| c.mutating).count();
    let reads = at_convergence.len() - writes;
    t.add_row(vec![
        "per node (to converge)".to_string(),
        String::new(),
        format!(
            "{:.2} writes + {:.2} reads",
            writes as f64 / f64::from(nodes),
            reads as f64 / f64::from(nodes)
        ),
        String::new(),
    ]);
    t
}
