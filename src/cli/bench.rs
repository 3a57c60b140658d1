//! `routeplane bench`: flags and output files; the scenarios live in `crate::bench`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use routeplane_core::budget::BucketSpec;
use routeplane_gce::Class;

use super::common::{CloudArg, parse_duration};
use crate::bench::{Impl, Options};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Cloud to simulate: the mock EC2 (3 AZ route tables) or the mock GCE (one network).
    #[arg(long, value_enum, default_value = "aws")]
    pub cloud: CloudArg,
    /// Nodes (and instances) to simulate; each gets a route in every table (AWS: 3, GCE: the
    /// network). The mock's route limit is raised to fit. On AWS, more than 998 is a STRESS
    /// TEST OF THE CONTROLLER ONLY: real EC2 stops at 1,000 routes per route table (local and
    /// default route included), so no real AWS cluster can be routed this way.
    #[arg(long, default_value_t = 998, value_parser = clap::value_parser!(u32).range(1..=15_000))]
    pub nodes: u32,
    /// Multiply every bucket's refill rate by K (GCE: divide the quota minute by K) and divide
    /// the mock's latency, operation time and the resync period by K (1 = the cloud's real
    /// rates). Efficiency is scale-invariant only while the client is not CPU-bound.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Latency of every call at the mock before scaling.
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    pub latency: Duration,
    /// GCE only: how long each route operation takes to be DONE at the mock, before scaling.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub op_delay: Duration,
    /// GCE only: routeplane's write budget, as the controller's --gce-write-budget before
    /// scaling (K multiplies a bucket's rate, divides a window's period), e.g. 1500/60s for the
    /// whole per-minute quota. Default: the controller's default bucket.
    #[arg(long, value_parser = BucketSpec::parse)]
    pub gce_write_budget: Option<BucketSpec>,
    /// GCE only: routeplane's read budget (instances.get), like --gce-write-budget.
    #[arg(long, value_parser = BucketSpec::parse)]
    pub gce_read_budget: Option<BucketSpec>,
    /// GCE only: routeplane's operation-poll budget, like --gce-write-budget.
    #[arg(long, value_parser = BucketSpec::parse)]
    pub gce_operation_budget: Option<BucketSpec>,
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
    let gce_budgets: Vec<_> = [
        (Class::Read, args.gce_read_budget),
        (Class::Write, args.gce_write_budget),
        (Class::Operation, args.gce_operation_budget),
    ]
    .into_iter()
    .filter_map(|(class, spec)| Some((class, spec?)))
    .collect();
    if !gce_budgets.is_empty() && args.cloud != CloudArg::Gce {
        anyhow::bail!(
            "--gce-read-budget, --gce-write-budget and --gce-operation-budget need --cloud gce"
        );
    }
    let opts = Options {
        cloud: args.cloud,
        nodes: args.nodes,
        time_scale: args.time_scale,
        latency: args.latency,
        op_delay: args.op_delay,
        gce_budgets,
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
    if let Some(c) = &report.caveat {
        println!("{c}");
    }
    println!("{table}");
    println!("results in {}", args.out.display());
    Ok(())
}
