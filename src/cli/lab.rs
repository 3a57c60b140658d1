//! `routeplane lab` and `routeplane lab clean`: flags, the root/tool/name checks, and the
//! signal handling that removes the namespaces on Ctrl-C or SIGTERM. The lab itself is
//! `crate::lab`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use routeplane_core::Mode;

use crate::lab::{self, RunOptions, cleanup, names::Names, preflight::Preflight};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: Option<LabCommand>,
    #[command(flatten)]
    pub run: LabRunArgs,
}

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Remove what a crashed or --keep run left: namespaces, links and state named `rpl-*`
    /// (or only those of one run with --id). Nothing without the prefix is touched.
    Clean {
        /// Only this run's leftovers.
        #[arg(long)]
        id: Option<String>,
    },
    /// Data-plane benchmark: TCP throughput (iperf3, 1 and 4 streams), ping latency and MTU,
    /// pod to pod across two nodes, on routeplane's routed path, a VXLAN overlay (Flannel's
    /// vxlan backend) and a direct veth pair, built in one run. Needs root and iperf3.
    Bench(LabBenchArgs),
}

/// Which run, and where its CNI plugin is: shared by the lab and its bench.
#[derive(Args, Debug)]
pub struct LabTarget {
    /// Run id in every name (`rpl-<id>-…`), 1-4 lowercase letters or digits; random by default.
    #[arg(long)]
    pub id: Option<String>,
    /// Directory holding the routeplane-bridge plugin (default: next to this executable).
    #[arg(long, value_name = "DIR")]
    pub cni_bin_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LabRunArgs {
    /// Simulated nodes (spread over two subnets from 3 on, in cloud mode).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=16))]
    pub nodes: u16,
    /// Pods per node.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub pods: u16,
    /// `cloud`: the VPC router forwards pod traffic by the routes the controller writes to the
    /// mock EC2; `host`: the agents' kernel routes do, all nodes on one L2 segment.
    #[arg(long, default_value = "cloud", value_parser = parse_lab_mode)]
    pub mode: Mode,
    /// Leave the namespaces in place afterwards (remove them with `routeplane lab clean`).
    #[arg(long)]
    pub keep: bool,
    #[command(flatten)]
    pub target: LabTarget,
}

#[derive(Args, Debug)]
pub struct LabBenchArgs {
    /// Rounds; every figure is the median over them.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
    /// Seconds of each iperf3 test (two per path and round).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=600))]
    pub seconds: u32,
    /// Pings per path and round (10 ms apart).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pings: u32,
    /// Directory for lab-bench.json and lab-bench.svg (created if missing).
    #[arg(long, default_value = "lab-bench-out", value_name = "DIR")]
    pub out: PathBuf,
    /// Measure nothing: print the table and write the SVG of a saved lab-bench.json (no root).
    #[arg(long, value_name = "FILE")]
    pub from_json: Option<PathBuf>,
    #[command(flatten)]
    pub target: LabTarget,
}

fn parse_lab_mode(s: &str) -> Result<Mode, String> {
    match super::common::parse_mode(s)? {
        m @ (Mode::Cloud | Mode::Host) => Ok(m),
        other => Err(format!("the lab runs cloud or host mode, not {other:?}")),
    }
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

pub async fn run(args: LabArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(LabCommand::Clean { id }) => return clean(id.as_deref()),
        Some(LabCommand::Bench(b)) => return bench(b).await,
        None => {}
    }
    let a = args.run;
    let (names, plugin) = prepare(&a.target)?;
    let opts = RunOptions {
        names: names.clone(),
        mode: a.mode,
        nodes: usize::from(a.nodes),
        pods: usize::from(a.pods),
        keep: a.keep,
        plugin,
    };
    Ok(
        match on_lab_thread(&names, move |rt| lab::run(&opts, rt)).await? {
            Some(true) => ExitCode::SUCCESS,
            Some(false) => ExitCode::FAILURE,
            None => ExitCode::from(130),
        },
    )
}

/// The run's names and plugin, after every check that needs nothing created: root, tools,
/// plugin, no clash with an existing run.
fn prepare(target: &LabTarget) -> anyhow::Result<(Names, PathBuf)> {
    let names = match &target.id {
        Some(id) => Names::new(id)?,
        None => Names::random(),
    };
    let bin_dir = match &target.cni_bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()
            .context("locating this executable")?
            .parent()
            .context("this executable has no directory")?
            .to_path_buf(),
    };
    let plugin = bin_dir.join("routeplane-bridge");
    let pre = Preflight {
        names: &names,
        plugin: &plugin,
        euid: euid(),
        path: std::env::var_os("PATH"),
    };
    pre.check_environment()?;
    pre.check_names(&lab::shell::netns_list()?)?;
    Ok((names, plugin))
}

/// Runs `work` (blocking: ip, ping, probes) on its own thread, with the runtime's handle for
/// the control plane. `None` when Ctrl-C or SIGTERM came first: the run's namespaces are then
/// removed here. A panic in `work` unwinds through the Lab guard, which cleans up.
async fn on_lab_thread<T: Send + 'static>(
    names: &Names,
    work: impl FnOnce(tokio::runtime::Handle) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<Option<T>> {
    let signalled = tokio_util::sync::CancellationToken::new();
    tokio::spawn(super::controller::stop_on_signal(signalled.clone()));
    let rt = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("lab".into())
        .spawn(move || {
            let _ = tx.send(work(rt));
        })
        .context("starting the lab thread")?;
    tokio::select! {
        result = rx => match result {
            Ok(r) => r.map(Some),
            Err(_) => anyhow::bail!("the lab panicked (its namespaces were removed)"),
        },
        () = signalled.cancelled() => {
            lab::shell::abort();
            eprintln!("\nrouteplane lab: interrupted: removing the lab's namespaces");
            // Twice: an object the lab thread was creating as the signal came is gone too.
            let _ = cleanup::clean(&names.prefix());
            std::thread::sleep(std::time::Duration::from_millis(200));
            let result = cleanup::clean(&names.prefix());
            if let Err(e) = result {
                eprintln!("routeplane lab: {e:#}");
            }
            Ok(None)
        }
    }
}

/// `routeplane lab bench`: checks, the run on the lab thread, then the table and the files.
async fn bench(a: LabBenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(saved) = &a.from_json {
        let text = std::fs::read_to_string(saved)
            .with_context(|| format!("reading {}", saved.display()))?;
        let report: lab::bench::report::BenchReport = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a lab bench result", saved.display()))?;
        write_bench(&report, &a.out, false)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (names, plugin) = prepare(&a.target)?;
    if lab::preflight::which("iperf3", std::env::var_os("PATH").as_deref()).is_none() {
        anyhow::bail!(
            "routeplane lab bench needs the `iperf3` command (Debian package iperf3); it is not on PATH"
        );
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let opts = lab::bench::BenchOptions {
        names: names.clone(),
        plugin,
        rounds: a.rounds,
        seconds: a.seconds,
        pings: a.pings,
    };
    let Some(report) = on_lab_thread(&names, move |rt| lab::bench::run(&opts, rt)).await? else {
        return Ok(ExitCode::from(130));
    };
    write_bench(&report, &a.out, true)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the table; writes the SVG (and the JSON when `json`) into `out`.
fn write_bench(
    report: &lab::bench::report::BenchReport,
    out: &std::path::Path,
    json: bool,
) -> anyhow::Result<()> {
    println!("\n{}", report.table());
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if json {
        let path = out.join("lab-bench.json");
        std::fs::write(&path, serde_json::to_string_pretty(report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("results in {}", path.display());
    }
    let svg = out.join("lab-bench.svg");
    std::fs::write(&svg, report.svg()).with_context(|| format!("writing {}", svg.display()))?;
    println!("chart in {}", svg.display());
    Ok(())
}

fn clean(id: Option<&str>) -> anyhow::Result<ExitCode> {
    if euid() != 0 {
        anyhow::bail!("routeplane lab clean needs root: it deletes network namespaces");
    }
    let prefix = match id {
        Some(id) => Names::new(id)?.prefix(),
        None => lab::names::BASE_PREFIX.to_string(),
    };
    let done = cleanup::clean(&prefix)?;
    if done.is_empty() {
        println!("nothing to clean: no namespace, link or state named {prefix}*");
    } else {
        println!(
            "removed {} namespaces, {} links, {} state directories named {prefix}*",
            done.namespaces.len(),
            done.links.len(),
            done.dirs.len()
        );
        for n in done.namespaces.iter().chain(&done.links).chain(&done.dirs) {
            println!("  {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
