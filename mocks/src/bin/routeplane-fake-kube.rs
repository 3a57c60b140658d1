//! `routeplane-fake-kube`: the fake Kubernetes API server as a process, for running the real
//! `routeplane controller` binary against it. Writes a kubeconfig that points at it and can
//! seed Nodes from a file.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Context, bail};
use clap::Parser;
use routeplane_mocks::kube_api::FakeKube;
use serde_json::Value;

/// Serve a fake Kubernetes API (Nodes, Leases, Events) over plain HTTP.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(
        long,
        env = "ROUTEPLANE_FAKE_KUBE_LISTEN",
        default_value = "127.0.0.1:6443"
    )]
    listen: SocketAddr,

    /// Write a kubeconfig pointing at the server here.
    #[arg(long, env = "ROUTEPLANE_FAKE_KUBE_KUBECONFIG_OUT")]
    kubeconfig_out: Option<PathBuf>,

    /// Seed Nodes from a JSON or YAML file: a list of Node objects, or a NodeList.
    #[arg(long, env = "ROUTEPLANE_FAKE_KUBE_SEED_NODES")]
    seed_nodes: Option<PathBuf>,
}

fn seed_nodes(path: &PathBuf) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // JSON is YAML, so one parser takes both.
    let document: Value =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    match document {
        Value::Array(nodes) => Ok(nodes),
        Value::Object(mut list) => match list.remove("items") {
            Some(Value::Array(nodes)) => Ok(nodes),
            _ => bail!("{}: expected a list of Nodes or a NodeList", path.display()),
        },
        _ => bail!("{}: expected a list of Nodes or a NodeList", path.display()),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fake = FakeKube::builder()
        .listen(args.listen)
        .start()
        .await
        .context("starting the fake API server")?;
    if let Some(path) = &args.seed_nodes {
        for node in seed_nodes(path)? {
            fake.add_node(node).context("seeding a node")?;
        }
    }
    if let Some(path) = &args.kubeconfig_out {
        fake.write_kubeconfig(path)?;
    }
    println!("fake Kubernetes API serving on {}", fake.url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    fake.shutdown().await;
    Ok(())
}
