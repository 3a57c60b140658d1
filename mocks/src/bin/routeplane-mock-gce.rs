//! `routeplane-mock-gce`: the mock GCE as a standalone server, for gcloud-style tools, other SDKs
//! and other languages' tests. Wiring only; the server is `routeplane_mocks::gce`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use routeplane_mocks::gce::{FaultSpec, Faults, GceWorld, MockGce, Throttle};

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
    #[arg(
        long,
        env = "ROUTEPLANE_MOCK_GCE_LISTEN",
        default_value = "127.0.0.1:8788"
    )]
    listen: SocketAddr,
    /// World file (YAML or JSON) to start from; a small example project when absent.
    #[arg(long, env = "ROUTEPLANE_MOCK_GCE_WORLD")]
    world: Option<std::path::PathBuf>,
    /// Project id to serve (overrides the world file).
    #[arg(long, env = "ROUTEPLANE_MOCK_GCE_PROJECT")]
    project: Option<String>,
    /// Routes allowed per network (overrides the world file).
    #[arg(long, env = "ROUTEPLANE_MOCK_GCE_ROUTE_QUOTA")]
    route_quota: Option<usize>,
    /// Milliseconds an operation takes to reach DONE.
    #[arg(long, env = "ROUTEPLANE_MOCK_GCE_OP_DELAY_MS", default_value_t = 1000)]
    op_delay: u64,
    /// Rate quotas.
    #[arg(
        long,
        env = "ROUTEPLANE_MOCK_GCE_THROTTLE",
        value_enum,
        default_value = "gce"
    )]
    throttle: ThrottleMode,
    /// Latency added to every request, in milliseconds.
    #[arg(long, env = "ROUTEPLANE_MOCK_GCE_LATENCY_MS", default_value_t = 0)]
    latency: u64,
    /// Jitter around the latency, in milliseconds.
    #[arg(long, env = "ROUTEPLANE_MOCK_GCE_JITTER_MS", default_value_t = 0)]
    jitter: u64,
    /// Print the world as YAML on exit.
    #[arg(long, env = "ROUTEPLANE_MOCK_GCE_DUMP_ON_EXIT")]
    dump_on_exit: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let world = match &args.world {
        Some(path) => {
            GceWorld::load(path).with_context(|| format!("loading world {}", path.display()))?
        }
        None => GceWorld::example(),
    };
    let throttle = match args.throttle {
        ThrottleMode::Gce => Throttle::gce_defaults(),
        ThrottleMode::Off => Throttle::off(),
    };
    let faults = Faults::none().all(FaultSpec::new().latency(
        Duration::from_millis(args.latency),
        Duration::from_millis(args.jitter),
    ));
    let mut builder = MockGce::builder()
        .listen(args.listen)
        .world(world)
        .op_delay(Duration::from_millis(args.op_delay))
        .throttle(throttle)
        .faults(faults);
    if let Some(project) = args.project {
        builder = builder.project(project);
    }
    if let Some(quota) = args.route_quota {
        builder = builder.route_quota(quota);
    }
    let mock = builder.start().await.context("starting the mock GCE")?;
    tracing::info!(endpoint = %mock.endpoint_url(), project = %mock.project(), "mock GCE ready");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    if args.dump_on_exit {
        let yaml =
            serde_yaml::to_string(&mock.world().snapshot()).context("rendering the world")?;
        println!("{yaml}");
    }
    let calls = mock.calls().counts_by_method();
    tracing::info!(?calls, "calls served");
    mock.shutdown().await.context("stopping the mock GCE")?;
    Ok(())
}
