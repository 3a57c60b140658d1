//! `routeplane lab bench`: what routing costs on the data plane against an overlay, measured
//! with real packets. One run builds the lab (cloud mode, one subnet, four nodes with one pod
//! each, all made by the real controller, agents and CNI plugin) and three pod-to-pod paths
//! ([`paths`]): routed (n0 → n1), VXLAN (n2 → n3, same subnet and router, an overlay added
//! by hand as Flannel's vxlan backend would) and a direct veth pair. Then it stops the control
//! plane (the routes stay in the kernel; nothing polls while measuring) and measures each path's
//! MTU, then in every round TCP throughput with 1 and 4 streams and ping latency on each path
//! in turn (interleaved, so a noisy neighbour hits all three alike) ([`measure`]), and reports
//! medians ([`report`]). The lab's guard removes everything on every exit path.

pub mod measure;
pub mod paths;
pub mod report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use routeplane_core::Mode;
use tokio::runtime::Handle;

use super::names::Names;
use super::{Run, RunOptions};
use paths::Path;
use report::{BenchReport, Medians, PathReport, Round};

/// How a bench run is shaped.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub names: Names,
    /// The `routeplane-bridge` binary the agents install.
    pub plugin: PathBuf,
    pub rounds: u32,
    /// Length of each iperf3 test.
    pub seconds: u32,
    /// Pings per round and path.
    pub pings: u32,
}

/// Nodes 0 and 1 carry the routed path, 2 and 3 the overlay.
const NODES: usize = 4;

/// Builds the three paths, measures them and removes everything. Runs on the calling
/// (blocking) thread; the control plane runs on `rt`.
///
/// # Errors
/// The lab failing to build, a tool failing, or something left behind.
pub fn run(opts: &BenchOptions, rt: Handle) -> anyhow::Result<BenchReport> {
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let lab_opts = RunOptions {
        names: opts.names.clone(),
        mode: Mode::Cloud,
        nodes: NODES,
        pods: 1,
        keep: false,
        plugin: opts.plugin.clone(),
    };
    let mut run = Run::start(&lab_opts, rt, 1)?;
    println!(
        "routeplane lab bench, run {}: {NODES} nodes × 1 pod on one subnet, cloud mode",
        opts.names.id()
    );
    let measured = build_and_measure(&mut run, opts);
    run.plane.shutdown();
    let paths = measured?;
    let cleaned = run.teardown()?;
    println!(
        "cleaned up: {} namespaces removed, nothing with prefix {} left",
        cleaned.namespaces.len(),
        opts.names.prefix()
    );
    Ok(BenchReport {
        rounds: opts.rounds,
        seconds_per_test: opts.seconds,
        pings_per_round: opts.pings,
        iperf3: tool_version(&["iperf3", "--version"]),
        kernel: tool_version(&["uname", "-r"]),
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .into(),
        started_unix,
        paths,
    })
}

fn build_and_measure(run: &mut Run, opts: &BenchOptions) -> anyhow::Result<Vec<PathReport>> {
    run.bring_up(NODES)?;
    let node = |i: usize| {
        run.lab
            .node(&format!("n{i}"))
            .cloned()
            .with_context(|| format!("node n{i} is missing"))
    };
    let routed = paths::routed(&run.pod_of("n0")?, &run.pod_of("n1")?);
    let vxlan = paths::vxlan(&run.lab, (&node(2)?, 2), (&node(3)?, 3))?;
    let veth = paths::veth(&run.lab.names)?;
    let all = [routed, vxlan, veth];
    for p in &all {
        println!("  {}: {}", p.name, p.description);
    }
    // The routes stay in the kernel as programmed; stopping the control plane keeps its
    // polling (the lab router lists the routes every 10 ms) off the CPUs being measured.
    run.plane.shutdown();
    println!("  control plane stopped: the kernel keeps the routes it programmed");

    let mut reports = Vec::new();
    for p in &all {
        let mtu = measure::path_mtu(p);
        reports.push(PathReport {
            path: p.clone(),
            mtu,
            df_1500: measure::df_ping(p, 1500),
            df_1450: measure::df_ping(p, paths::VXLAN_MTU),
            rounds: Vec::new(),
            median: Medians::of(&[]),
        });
        println!(
            "  {} MTU: {}",
            p.name,
            mtu.map_or("nothing gets through".into(), |m| m.to_string())
        );
    }

    // Long enough for every test of every round, with slack; the guard kills them sooner.
    let lifetime =
        Duration::from_secs(u64::from(opts.rounds) * (2 * u64::from(opts.seconds) + 10) * 3 + 60);
    let _servers = all
        .iter()
        .map(|p| measure::serve(p, lifetime))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for r in 0..opts.rounds {
        for (p, rep) in all.iter().zip(reports.iter_mut()) {
            let round = measure_round(p, opts)?;
            println!(
                "  round {}/{} {:<6} 1 stream {:>6.2} Gbit/s, 4 streams {:>6.2} Gbit/s, ping {:>4.0} µs",
                r + 1,
                opts.rounds,
                p.name,
                round.single.bits_per_second / 1e9,
                round.four.bits_per_second / 1e9,
                round.ping_ms * 1000.0
            );
            rep.rounds.push(round);
        }
    }
    for rep in &mut reports {
        rep.median = Medians::of(&rep.rounds);
    }
    Ok(reports)
}

fn measure_round(p: &Path, opts: &BenchOptions) -> anyhow::Result<Round> {
    let single = measure::tcp(p, 1, opts.seconds)?;
    let four = measure::tcp(p, 4, opts.seconds)?;
    let (rtts, ping_lost) = measure::ping(p, opts.pings)?;
    Ok(Round {
        single,
        four,
        ping_ms: report::median(&rtts, |x| *x),
        ping_lost,
    })
}

/// The first line a tool prints, or what went wrong.
fn tool_version(cmd: &[&str]) -> String {
    std::process::Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .unwrap_or_else(|e| format!("{} failed: {e}", cmd[0]))
}
