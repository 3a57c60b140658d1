//! `routeplane bench`: flags and output files; the scenarios live in `crate::bench`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::common::parse_duration;
use crate::bench::{Impl, Options};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Nodes (and instances) to simulate; each gets a route in each of 3 tables. At most 998:
    /// EC2 allows 1,000 routes per table, the local and the default route included.
    #[arg(long, default_value_t = 998, value_parser = clap::value_parser!(u32).range(1..=998))]
    pub nodes: u32,
    /// Multiply every EC2 bucket's refill rate by K and divide the mock's latency and the
    /// resync period by K (1 = EC2's real rates). Efficiency is scale-invariant only while the
    /// client is not CPU-bound.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Latency of every EC2 call at the mock before scaling.
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    pub latency: Duration,
    /// Implementations to run, one after the other on identical fresh mocks.
    #[arg(
        long = "impl",
        value_enum,
        value_delimiter = ',',
        default_value = "routeplane,route-controller-model"
    )]
    pub impls: Vec<Impl>,
    /// Resync periods (10 s before scaling) to watch once converged; 0 skips the steady state.
    #[arg(long, default_value_t = 10)]
    pub steady_periods: u32,
    /// Minutes (before scaling) of churn at 5% of the nodes per minute; 0 skips it.
    #[arg(long, default_value_t = 1)]
    pub churn_minutes: u32,
    /// Also run the controller binary as a separate process (peak RSS from VmHWM, CPU time
    /// over the steady periods).
    #[arg(long)]
    pub process: bool,
    /// Fail when convergence takes longer than this multiple of the buckets' lower bound.
    #[arg(long, default_value_t = 20.0)]
    pub timeout_factor: f64,
    /// Directory for bench.json, bench.txt and convergence.svg.
    #[arg(long, default_value = "bench-out")]
    pub out: PathBuf,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        anyhow::bail!(
            "--time-scale must be a positive number, got {}",
            args.time_scale
        );
    }
    let opts = Options {
        nodes: args.nodes,
        time_scale: args.time_scale,
        latency: args.latency,
        impls: args.impls,
        steady_periods: args.steady_periods,
        churn_minutes: args.churn_minutes,
        timeout_factor: args.timeout_factor,
        process: args.process,
    };
    let report = crate::bench::run(&opts).await?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let table = report.table().to_string();
    let write = |name: &str, body: &str| {
        let path = args.out.join(name);
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))
    };
    write("bench.json", &serde_json::to_string_pretty(&report)?)?;
    write("bench.txt", &format!("{table}\n"))?;
    write("convergence.svg", &report.svg())?;
    println!("{table}");
    println!("results in {}", args.out.display());
    Ok(())
}
