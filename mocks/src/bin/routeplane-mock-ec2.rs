//! `routeplane-mock-ec2`: the mock EC2 as a standalone server, for the AWS CLI, other SDKs and
//! other languages' tests. Wiring only; the server is `routeplane_mocks::ec2`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use routeplane_mocks::ec2::{FaultSpec, Faults, MockEc2, Throttle, World};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ThrottleMode {
    /// EC2's documented token buckets.
    Ec2,
    /// No throttling.
    Off,
}

/// A stateful mock of the Amazon EC2 API (route tables, instances, ENIs) speaking the EC2 Query
/// protocol. Point `aws --endpoint-url` or any SDK at it.
#[derive(Debug, Parser)]
#[command(name = "routeplane-mock-ec2", version)]
struct Args {
    /// Address to listen on.
    #[arg(
        long,
        env = "ROUTEPLANE_MOCK_EC2_LISTEN",
        default_value = "127.0.0.1:8787"
    )]
    listen: SocketAddr,
    /// World file (YAML or JSON) to start from; a small example world when absent.
    #[arg(long, env = "ROUTEPLANE_MOCK_EC2_WORLD")]
    world: Option<std::path::PathBuf>,
    /// Routes allowed per table and address family (overrides the world file).
    #[arg(long, env = "ROUTEPLANE_MOCK_EC2_ROUTE_LIMIT")]
    route_limit: Option<usize>,
    /// Request throttling.
    #[arg(
        long,
        env = "ROUTEPLANE_MOCK_EC2_THROTTLE",
        value_enum,
        default_value = "ec2"
    )]
    throttle: ThrottleMode,
    /// Latency added to every request, in milliseconds.
    #[arg(long, env = "ROUTEPLANE_MOCK_EC2_LATENCY_MS", default_value_t = 0)]
    latency: u64,
    /// Jitter around the latency, in milliseconds.
    #[arg(long, env = "ROUTEPLANE_MOCK_EC2_JITTER_MS", default_value_t = 0)]
    jitter: u64,
    /// Region reported in ARNs.
    #[arg(long, env = "ROUTEPLANE_MOCK_EC2_REGION", default_value = "us-east-1")]
    region: String,
    /// Print the world as YAML on exit.
    #[arg(long, env = "ROUTEPLANE_MOCK_EC2_DUMP_ON_EXIT")]
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
            World::load(path).with_context(|| format!("loading world {}", path.display()))?
        }
        None => World::example(),
    };
    let throttle = match args.throttle {
        ThrottleMode::Ec2 => Throttle::ec2_defaults(),
        ThrottleMode::Off => Throttle::off(),
    };
    let faults = Faults::none().all(FaultSpec::new().latency(
        Duration::from_millis(args.latency),
        Duration::from_millis(args.jitter),
    ));
    let mut builder = MockEc2::builder()
        .listen(args.listen)
        .region(args.region)
        .world(world)
        .throttle(throttle)
        .faults(faults);
    if let Some(limit) = args.route_limit {
        builder = builder.route_limit(limit);
    }
    let mock = builder.start().await.context("starting the mock EC2")?;
    tracing::info!(endpoint = %mock.endpoint_url(), "mock EC2 ready");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    if args.dump_on_exit {
        let yaml =
            serde_yaml::to_string(&mock.world().snapshot()).context("rendering the world")?;
        println!("{yaml}");
    }
    let calls = mock.calls().counts_by_action();
    tracing::info!(?calls, "calls served");
    mock.shutdown().await.context("stopping the mock EC2")?;
    Ok(())
}
