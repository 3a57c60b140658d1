//! `routeplane-mock-ec2`: the mock EC2 as a standalone server, for the AWS CLI, other SDKs and
//! other languages' tests. Wiring only; the server is `routeplane_mocks::ec2`.

mod mock_cli;

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use routeplane_mocks::ec2::{MockEc2, Throttle, World};

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
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Routes allowed per table and address family (overrides the world file).
    #[arg(long)]
    route_limit: Option<usize>,
    /// Request throttling.
    #[arg(long, value_enum, default_value = "ec2")]
    throttle: ThrottleMode,
    /// Region reported in ARNs.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    #[command(flatten)]
    serve: mock_cli::ServeFlags,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = mock_cli::start("ROUTEPLANE_MOCK_EC2");
    let throttle = match args.throttle {
        ThrottleMode::Ec2 => Throttle::ec2_defaults(),
        ThrottleMode::Off => Throttle::off(),
    };
    let mut builder = MockEc2::builder()
        .listen(args.listen)
        .region(args.region)
        .world(args.serve.world(World::load, World::example)?)
        .throttle(throttle)
        .faults(args.serve.faults());
    if let Some(limit) = args.route_limit {
        builder = builder.route_limit(limit);
    }
    let mock = builder.start().await.context("starting the mock EC2")?;
    mock_cli::serve_until_ctrl_c(
        mock,
        &args.serve,
        |w| w.snapshot(),
        |c| c.counts_by_action(),
    )
    .await
}
