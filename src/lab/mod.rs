//! `routeplane lab`: proves the Kubernetes network model with real packets. It builds a VPC
//! router, subnets, nodes and pods in network namespaces, runs the real control plane against
//! the mocks (cloud mode) or the real agents' host routes (host mode), probes every pod and
//! node pair, then deletes a node, adds one and hijacks a route, timing each change by packets.
//!
//! Modules: [`preflight`] (checks before anything exists), [`names`], [`shell`] (`ip`, netns
//! threads), [`topology`] (reusable: router, subnets, nodes), [`pods`] (CNI ADD), [`control`]
//! (mocks, controller, lab router, agents), [`echo`], [`matrix`], [`dynamics`], [`cleanup`].
//! [`bench`] (`routeplane lab bench`) measures the data plane on the same lab.

pub mod bench;
pub mod cleanup;
pub mod control;
pub mod dynamics;
pub mod echo;
pub mod matrix;
pub mod names;
pub mod pods;
pub mod preflight;
pub mod shell;
pub mod topology;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use routeplane_core::Mode;
use tokio::runtime::Handle;

use control::{ControlPlane, SimNode};
use dynamics::{fmt, wait_path};
use names::Names;
use pods::CniDirs;
use topology::{Lab, LabOptions, Pod};

/// How a lab run is shaped.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub names: Names,
    pub mode: Mode,
    pub nodes: usize,
    pub pods: usize,
    pub keep: bool,
    /// The `routeplane-bridge` binary the agents install.
    pub plugin: PathBuf,
}

/// Everything one run holds; dropped in field order (control plane before the namespaces).
/// `lab bench` builds its routed path with it too.
pub(crate) struct Run {
    pub(crate) plane: ControlPlane,
    echo: BTreeMap<String, echo::EchoServer>,
    sims: Vec<SimNode>,
    cni: BTreeMap<String, CniDirs>,
    pods_per_node: usize,
    pub(crate) lab: Lab,
}

/// Runs the lab on the calling (blocking) thread; async parts run on `rt`. Returns whether
/// every check passed. Cleans up on every exit path, panics included (the `Lab` guard).
///
/// # Errors
/// Anything that stopped the lab before it could judge.
pub fn run(opts: &RunOptions, rt: Handle) -> anyhow::Result<bool> {
    let started = Instant::now();
    let subnets = if opts.mode == Mode::Cloud && opts.nodes >= 3 {
        2
    } else {
        1
    };
    let mut run = Run::start(opts, rt, subnets)?;
    let mode = match opts.mode {
        Mode::Cloud => "cloud: the VPC router forwards by the routes the controller writes",
        _ => "host: each node's agent routes to its peers; no VPC routes",
    };
    println!(
        "routeplane lab, run {} — {} nodes × {} pods, mode {mode}",
        opts.names.id(),
        opts.nodes,
        opts.pods
    );
    let passed = run.scenario(opts.nodes);
    let passed = match passed {
        Ok(p) => p,
        Err(e) => {
            run.plane.shutdown();
            return Err(e);
        }
    };
    run.plane.shutdown();
    run.echo.clear();
    if opts.keep {
        run.lab.keep();
        println!(
            "\n--keep: the namespaces are left in place (ip netns list | grep {p}); the control plane stopped with this process.\n  remove them with: routeplane lab clean --id {id}",
            p = opts.names.prefix(),
            id = opts.names.id()
        );
    } else {
        let cleaned = run.teardown()?;
        println!(
            "\ncleaned up: {} namespaces removed, nothing with prefix {} left",
            cleaned.namespaces.len(),
            opts.names.prefix()
        );
    }
    println!(
        "lab {} in {:.1}s",
        if passed { "PASSED" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    Ok(passed)
}

impl Run {
    /// The router namespace with `subnets` subnets, the state directory and the control plane;
    /// no node yet. Dropping it (even unwinding) removes the run's namespaces.
    ///
    /// # Errors
    /// `ip` failures or a mock failing to start.
    pub(crate) fn start(opts: &RunOptions, rt: Handle, subnets: usize) -> anyhow::Result<Run> {
        let lab = Lab::build(LabOptions {
            names: opts.names.clone(),
            subnets: (0..subnets).map(control::subnet_cidr).collect(),
        })?;
        let state_dir = opts.names.state_dir();
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        let plane = ControlPlane::start(rt, opts.mode, subnets, opts.plugin.clone(), state_dir)?;
        Ok(Run {
            plane,
            echo: BTreeMap::new(),
            sims: Vec::new(),
            cni: BTreeMap::new(),
            pods_per_node: opts.pods,
            lab,
        })
    }

    /// Router, controller, `nodes` nodes with their agents, Nodes registered, pods made by CNI
    /// ADD, and every route in place.
    ///
    /// # Errors
    /// Any step failing, or the routes not converging.
    pub(crate) fn bring_up(&mut self, nodes: usize) -> anyhow::Result<()> {
        self.plane.start_router(&self.lab)?;
        self.plane.start_controller()?;
        for i in 0..nodes {
            self.boot_node(i)?;
        }
        for s in &self.lab.subnets {
            let on: Vec<String> = self
                .lab
                .nodes
                .iter()
                .filter(|n| self.lab.subnets[n.subnet].bridge == s.bridge)
                .map(|n| format!("{}={}", n.name, n.ip))
                .collect();
            println!(
                "  subnet {} (router {}): {}",
                s.cidr,
                s.gateway,
                on.join(" ")
            );
        }
        let t0 = Instant::now();
        let sims = self.sims.clone();
        for s in &sims {
            self.plane.register(s)?;
        }
        for s in &sims {
            self.add_pods(&s.name)?;
        }
        let pods_done = t0.elapsed();
        let routed = self.wait_routes(t0)?;
        println!(
            "  {} Nodes registered; agents wrote the conflists and CNI ADD made {} pods in {}; routes in place after {}",
            sims.len(),
            self.lab.pods.len(),
            fmt(pods_done),
            fmt(routed)
        );
        Ok(())
    }

    /// Removes every namespace of the run now (the control plane must be shut down) and
    /// checks that nothing with its prefix is left.
    ///
    /// # Errors
    /// Anything that could not be removed, or a leftover.
    pub(crate) fn teardown(&mut self) -> anyhow::Result<cleanup::Cleaned> {
        self.echo.clear();
        let cleaned = self.lab.teardown()?;
        let (ns, links) = cleanup::leftovers(&self.lab.names.prefix())?;
        if !ns.is_empty() || !links.is_empty() {
            bail!("left behind after cleanup: {ns:?} {links:?}");
        }
        Ok(cleaned)
    }

    fn scenario(&mut self, nodes: usize) -> anyhow::Result<bool> {
        self.bring_up(nodes)?;

        println!("\nconnectivity matrix:");
        let first = self.matrix(&BTreeSet::new())?;
        let mut passed = first;

        println!("\ndynamics (probe = one TCP exchange every 5 ms, timed from the change):");
        let deleted = self.delete_node(&mut passed)?;
        let added = self.add_node(nodes)?;
        let (outage, repaired) = self.hijack()?;

        println!(
            "\nafter the changes (n{} gone, n{nodes} joined, hijack repaired):",
            nodes - 1
        );
        self.wait_routes(Instant::now())?;
        passed &= self.matrix(&BTreeSet::new())?;

        println!("\nrecovery times, measured by packets:");
        println!(
            "  node deleted   → its pods unreachable from other nodes  {}",
            fmt(deleted)
        );
        println!(
            "  node added     → its first pod answers from another node {}",
            fmt(added)
        );
        println!(
            "  route hijacked → traffic stops {} → traffic back       {}",
            fmt(outage),
            fmt(repaired)
        );
        if self.plane.controller_died() {
            bail!("the controller stopped during the run");
        }
        Ok(passed)
    }

    /// Launches node `i`: instance, namespace on its subnet, agent.
    fn boot_node(&mut self, i: usize) -> anyhow::Result<SimNode> {
        let subnet = i % self.lab.subnets.len();
        let sim = self.plane.launch(i, subnet)?;
        let node = self.lab.add_node(&sim.name, subnet, sim.ip)?;
        let dirs = self.plane.start_agent(&node)?;
        self.cni.insert(sim.name.clone(), dirs);
        self.echo.insert(
            node.netns.clone(),
            echo::serve(&node.netns, node.ip.into())?,
        );
        self.sims.push(sim.clone());
        Ok(sim)
    }

    /// Waits for the node's agent to write its conflist, then creates its pods.
    fn add_pods(&mut self, node: &str) -> anyhow::Result<Vec<Pod>> {
        let dirs = self.cni.get(node).context("no agent for the node")?.clone();
        let conflist = dirs
            .conf_dir
            .join(routeplane_cni::agent::conflist::CONFLIST_NAME);
        let start = Instant::now();
        while !conflist.exists() {
            if start.elapsed() > Duration::from_secs(15) {
                bail!("the agent of {node} wrote no conflist within 15s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut out = Vec::new();
        for j in 0..self.pods_per_node {
            let pod = self.lab.add_pod(node, j, &dirs)?;
            self.echo
                .insert(pod.netns.clone(), echo::serve(&pod.netns, pod.ip)?);
            out.push(pod);
        }
        Ok(out)
    }

    fn wait_routes(&self, since: Instant) -> anyhow::Result<Duration> {
        while !self.plane.routes_ready(&self.lab, &self.sims) {
            if since.elapsed() > Duration::from_secs(20) {
                bail!("routes did not converge within 20s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(since.elapsed())
    }

    fn matrix(&self, unrouted: &BTreeSet<String>) -> anyhow::Result<bool> {
        let m = matrix::run(matrix::endpoints(&self.lab)?, unrouted);
        print!("{}", m.render());
        print!("{}", m.render_verdicts());
        Ok(m.passed())
    }

    /// A pod of `node` (the first).
    pub(crate) fn pod_of(&self, node: &str) -> anyhow::Result<Pod> {
        self.lab
            .pods
            .iter()
            .find(|p| p.node == node)
            .cloned()
            .with_context(|| format!("{node} has no pod"))
    }

    /// Deletes the last node from the API; times the path from a pod of the first node to it
    /// going down, shows the matrix with its pods cut off, then removes the node for real.
    fn delete_node(&mut self, passed: &mut bool) -> anyhow::Result<Duration> {
        let victim = self.sims.last().context("no nodes")?.clone();
        let observer = self.pod_of(&self.sims[0].name)?;
        let target = self.pod_of(&victim.name)?;
        let t = Instant::now();
        self.plane.deregister(&victim.name)?;
        let (down, probes) = wait_path(
            &observer.netns,
            target.ip,
            false,
            t,
            Duration::from_secs(10),
        )?;
        let by = if self.plane.mode == Mode::Cloud {
            "the controller deleted its route, the lab router withdrew it"
        } else {
            "the agents removed their routes to it"
        };
        println!(
            "  - deleted Node {}: {by}; {}→{} stopped after {} ({probes} probes)",
            victim.name,
            observer.name,
            target.name,
            fmt(down)
        );
        // Only the Node object and its route are gone: the namespaces still run, cut off.
        self.plane.stop_agent(&victim.name);
        self.sims.retain(|s| s.name != victim.name);
        self.wait_routes(Instant::now())?;
        println!(
            "    matrix with {} deleted (– = cut off, as it should be):",
            victim.name
        );
        let cut = BTreeSet::from([victim.name.clone()]);
        let ok = self.matrix(&cut)?;
        println!(
            "    [{}] {}'s pods are unreachable from every other node, everything else still reachable",
            if ok { "PASS" } else { "FAIL" },
            victim.name
        );
        *passed &= ok;
        let gone: Vec<String> = self
            .lab
            .pods
            .iter()
            .filter(|p| p.node == victim.name)
            .map(|p| p.netns.clone())
            .chain(self.lab.node(&victim.name).map(|n| n.netns.clone()))
            .collect();
        for ns in gone {
            self.echo.remove(&ns);
        }
        self.lab.remove_node(&victim.name)?;
        Ok(down)
    }

    /// Boots node `index`, registers it, creates its pods, and times until a pod of the first
    /// node reaches its first pod.
    fn add_node(&mut self, index: usize) -> anyhow::Result<Duration> {
        let sim = self.boot_node(index)?;
        let observer = self.pod_of(&self.sims[0].name)?;
        let t = Instant::now();
        self.plane.register(&sim)?;
        let pods = self.add_pods(&sim.name)?;
        let pods_at = t.elapsed();
        let target = pods.first().context("the new node has no pod")?;
        let (up, probes) = wait_path(&observer.netns, target.ip, true, t, Duration::from_secs(20))?;
        println!(
            "  + added Node {} on {}: CNI ADD of its {} pods done after {}; {}→{} answered after {} ({probes} probes)",
            sim.name,
            self.lab.subnets[sim.subnet].cidr,
            pods.len(),
            fmt(pods_at),
            observer.name,
            target.name,
            fmt(up)
        );
        Ok(up)
    }

    /// Hijacks the first node's route (cloud: in the observer's subnet table, towards the
    /// observer's own node, so packets loop; host: the observer node's kernel route becomes
    /// unreachable) and times the outage and the repair. Retries when a resync happened to
    /// repair it before the first probe.
    fn hijack(&mut self) -> anyhow::Result<(Duration, Duration)> {
        let victim = self.sims.first().context("no nodes")?.clone();
        let thief = self
            .sims
            .get(1)
            .context("the hijack needs two nodes")?
            .clone();
        let observer = self.pod_of(&thief.name)?;
        let target = self.pod_of(&victim.name)?;
        let table = self.plane.table_of(thief.subnet);
        let thief_ns = self
            .lab
            .node(&thief.name)
            .context("no thief node")?
            .netns
            .clone();
        for _attempt in 0..3 {
            let t = Instant::now();
            let what = if self.plane.mode == Mode::Cloud {
                self.plane.hijack(&table, &victim, &thief)?;
                format!(
                    "{} in {table} now points at {} ({})",
                    victim.pod_cidr, thief.instance, thief.name
                )
            } else {
                // Our route, wrong next hop: the VPC router, which has no pod routes in host
                // mode, so the packets die there.
                let cidr = victim.pod_cidr.to_string();
                let wrong = self.lab.subnets[thief.subnet].gateway.to_string();
                shell::ip_in(
                    &thief_ns,
                    &["route", "replace", &cidr, "via", &wrong, "proto", "176"],
                )?;
                format!(
                    "{}'s kernel route to {cidr} now goes via {wrong} (the VPC router)",
                    thief.name
                )
            };
            let Ok((down, _)) = wait_path(
                &observer.netns,
                target.ip,
                false,
                t,
                Duration::from_millis(400),
            ) else {
                continue; // repaired before we saw it: hijack again
            };
            let (up, probes) =
                wait_path(&observer.netns, target.ip, true, t, Duration::from_secs(15))?;
            let by = if self.plane.mode == Mode::Cloud {
                "the controller replaced the route on its next resync"
            } else {
                "the agent replaced its route on its next resync"
            };
            println!(
                "  ! hijacked: {what}; {}→{} stopped after {}; {by}, traffic back after {} ({probes} probes)",
                observer.name,
                target.name,
                fmt(down),
                fmt(up)
            );
            return Ok((down, up));
        }
        bail!("three hijacks were repaired before a probe saw an outage")
    }
}
