//! Command-line entry: parses the subcommand, sets up logging and the runtime, and maps errors
//! to a message and an exit code. Subcommands: `controller`, `demo`, `plan`, `status`,
//! `version` (and `agent`, `lab` as the node side lands).

pub(crate) mod agent;
mod bench;
pub(crate) mod common;
mod controller;
mod demo;
mod kube_client;
mod lab;
mod plan;
pub(crate) mod provider;
pub(crate) mod sim;
mod status;
mod telemetry;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Routed pod networking for self-managed Kubernetes on AWS and GCP: one cloud route per node
/// Pod CIDR, no overlay, no encapsulation, no MTU cost.
#[derive(Parser, Debug)]
#[command(
    name = "routeplane",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(flatten)]
    log: telemetry::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the leader-elected route controller: watch Nodes, program cloud routes.
    Controller(Box<controller::ControllerArgs>),
    /// Run the whole control plane on an embedded mock EC2 and fake Kubernetes API (no account,
    /// no root) and watch it converge, survive churn and repair a hijacked route.
    Demo(demo::DemoArgs),
    /// Print the route changes the controller would make, and change nothing. Exit code 0 when
    /// nothing would change, 2 when something would.
    Plan(Box<plan::PlanArgs>),
    /// Run the node agent: write the CNI config from the node's Pod CIDRs, install the plugin,
    /// and (host/hybrid mode) keep kernel routes to peers.
    Agent(Box<agent::AgentArgs>),
    /// Show each node's routes in every managed table, its NetworkUnavailable condition and
    /// last error, and the tables' capacity. `-o json` for scripts.
    Status(Box<status::StatusArgs>),
    /// Prove the Kubernetes network model with real packets (root): nodes and pods in network
    /// namespaces, the real controller and agents against the mocks, a connectivity matrix,
    /// then a node deleted, a node added and a route hijacked, timed by packets.
    /// `lab clean` removes what a crashed run left.
    Lab(Box<lab::LabArgs>),
    /// Benchmark the controller against the mock EC2 (EC2's buckets, 50 ms per call) next to a
    /// model of the Kubernetes route controller: cold start, steady state, churn; JSON + SVG.
    Bench(Box<bench::BenchArgs>),
    /// Print build and version information.
    Version,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = telemetry::init(&cli.log) {
        eprintln!("routeplane: {e:#}");
        return ExitCode::from(2);
    }
    // tokio's default 2 MiB worker stacks suffice even in debug builds: provider request futures
    // are boxed (core/src/call.rs), so a reconcile pass through an SDK no longer nests them all
    // on the stack (it used to overflow as soon as a replica became leader).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("routeplane: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Controller(args) => controller::run(*args).await.map(|()| ExitCode::SUCCESS),
            Command::Agent(args) => agent::run(*args).await.map(|()| ExitCode::SUCCESS),
            Command::Demo(args) => demo::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Plan(args) => plan::run(*args).await,
            Command::Status(args) => status::run(*args).await.map(|()| ExitCode::SUCCESS),
            Command::Lab(args) => lab::run(*args).await,
            Command::Bench(args) => bench::run(*args).await.map(|()| ExitCode::SUCCESS),
            Command::Version => {
                println!("routeplane {}", env!("CARGO_PKG_VERSION"));
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("routeplane: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks argument definitions only when a command is built: do it for all of them.
    #[test]
    fn every_subcommand_has_a_consistent_definition() {
        super::Cli::command().debug_assert();
    }
}
