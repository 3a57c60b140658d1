//! `routeplane-mock-gce`: the mock GCE as a standalone server, for gcloud-style tools, other SDKs
//! and other languages' tests. Wiring only; the server is `routeplane_mocks::gce`.

mod mock_cli;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use routeplane_mocks::gce::{GceWorld, MockGce, Throttle};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ThrottleMode {
    /// Compute Engine's documented per-minute rate quotas.
    Gce,
    /// No throttling.
    Off,
}

/// A stateful mock of the Compute Engine v1 API (routes, operations, instances, networks).
/// Point a client's endpoint (routeplane's `--gce-endpoint`) at it.
#[derive(Debug, Parser)]
#[command(name = "routeplane-mock-gce", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8788")]
    listen: SocketAddr,
    /// Project id to serve (overrides the world file).
    #[arg(long)]
    project: Option<String>,
    /// Routes allowed per network (overrides the world file).
    #[arg(long)]
    route_quota: Option<usize>,
    /// Milliseconds an operation takes to reach DONE.
    #[arg(long = "op-delay", default_value_t = 1000)]
    op_delay_ms: u64,
    /// Rate quotas.
    #[arg(long, value_enum, default_value = "gce")]
    throttle: ThrottleMode,
    #[command(flatten)]
    serve: mock_cli::ServeFlags,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = mock_cli::start("ROUTEPLANE_MOCK_GCE");
    let throttle = match args.throttle {
        ThrottleMode::Gce => Throttle::gce_defaults(),
        ThrottleMode::Off => Throttle::off(),
    };
    let mut builder = MockGce::builder()
        .listen(args.listen)
        .world(args.serve.world(GceWorld::load, GceWorld::example)?)
        .op_delay(Duration::from_millis(args.op_delay_ms))
        .throttle(throttle)
        .faults(args.serve.faults());
    if let Some(project) = args.project {
        builder = builder.project(project);
    }
    if let Some(quota) = args.route_quota {
        builder = builder.route_quota(quota);
    }
    let mock = builder.start().await.context("starting the mock GCE")?;
    tracing::info!(project = %mock.project(), "serving project");
    mock_cli::serve_until_ctrl_c(
        mock,
        &args.serve,
        |w| w.snapshot(),
        |c| c.counts_by_method(),
    )
    .await
}
