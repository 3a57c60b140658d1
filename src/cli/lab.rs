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
    /// Run id in every name (`rpl-<id>-…`), 1-4 lowercase letters or digits; random by default.
    #[arg(long)]
    pub id: Option<String>,
    /// Directory holding the routeplane-bridge plugin (default: next to this executable).
    #[arg(long, value_name = "DIR")]
    pub cni_bin_dir: Option<PathBuf>,
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
    if let Some(LabCommand::Clean { id }) = args.command {
        return clean(id.as_deref());
    }
    let a = args.run;
    let names = match &a.id {
        Some(id) => Names::new(id)?,
        None => Names::random(),
    };
    let bin_dir = match a.cni_bin_dir {
        Some(d) => d,
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

    let opts = RunOptions {
        names: names.clone(),
        mode: a.mode,
        nodes: usize::from(a.nodes),
        pods: usize::from(a.pods),
        keep: a.keep,
        plugin,
    };
    let signalled = tokio_util::sync::CancellationToken::new();
    tokio::spawn(super::controller::stop_on_signal(signalled.clone()));
    let rt = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // The lab is blocking work (ip, ping, probes): its own thread, with the runtime's handle
    // for the control plane. A panic there unwinds through the Lab guard, which cleans up.
    std::thread::Builder::new()
        .name("lab".into())
        .spawn(move || {
            let _ = tx.send(lab::run(&opts, rt));
        })
        .context("starting the lab thread")?;
    tokio::select! {
        result = rx => match result {
            Ok(Ok(true)) => Ok(ExitCode::SUCCESS),
            Ok(Ok(false)) => Ok(ExitCode::FAILURE),
            Ok(Err(e)) => Err(e),
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
            Ok(ExitCode::from(130))
        }
    }
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
