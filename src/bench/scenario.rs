//! The scenarios, run once per implementation on a fresh mock with the same configuration.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use routeplane_aws::{Action, AwsProvider};
use routeplane_core::controller::ControllerConfig;
use routeplane_core::retry::RetryPolicy;
use routeplane_core::{Cloud, ClusterSpec, Mode};
use routeplane_mocks::ec2::Call;

use super::cluster::{
    AZS, CLUSTER, CLUSTER_CIDR, SimCluster, lower_bound, scaled_budget, scaled_throttle,
};
use super::model::RunningModel;
use super::report::{CallSplit, Churn, ColdStart, ImplReport, Report, Steady, percentile};
use crate::cli::sim::{RunningController, mock_aws_config};

/// Which strategy drives the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Impl {
    /// routeplane's controller.
    Routeplane,
    /// The model of the Kubernetes route controller (bench code only).
    RouteControllerModel,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub nodes: u32,
    pub time_scale: f64,
    pub latency: Duration,
    pub impls: Vec<Impl>,
    /// Resync periods to watch in the steady state (0 skips it).
    pub steady_periods: u32,
    /// Scaled minutes of churn at 5 % of the nodes per minute (0 skips it).
    pub churn_minutes: u32,
    /// Also run the controller binary as its own process for peak RSS and steady CPU.
    pub process: bool,
    /// Give up on convergence after this multiple of the lower bound (plus a minute, scaled).
    pub timeout_factor: f64,
}

/// The route controller's (and the bench's routeplane) period, before scaling.
const PERIOD: Duration = Duration::from_secs(10);

enum Running {
    Routeplane(RunningController),
    Model(RunningModel),
}

impl Running {
    async fn stop(self) {
        match self {
            Running::Routeplane(r) => r.stop().await,
            Running::Model(m) => m.stop().await,
        }
    }
}

pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    let mut impls = Vec::new();
    for which in &opts.impls {
        eprintln!(
            "bench: {which:?}, {} nodes, time scale {}",
            opts.nodes, opts.time_scale
        );
        impls.push(
            run_one(*which, opts)
                .await
                .with_context(|| format!("{which:?}"))?,
        );
    }
    let process = if opts.process {
        eprintln!("bench: the controller as a separate process");
        let periods = opts.steady_periods.max(1);
        Some(super::process::measure(opts.nodes, opts.time_scale, opts.latency, periods).await?)
    } else {
        None
    };
    Ok(Report::new(opts, impls, process))
}

async fn provider(
    which: Impl,
    sim: &SimCluster,
    k: f64,
) -> anyhow::Result<std::sync::Arc<AwsProvider>> {
    let mut cfg = mock_aws_config(CLUSTER, &sim.ec2, sim.route_limit);
    match which {
        Impl::Routeplane => cfg.budget = scaled_budget(k),
        Impl::RouteControllerModel => {
            cfg.budget = routeplane_core::budget::ApiBudget::unlimited();
            cfg.retry = RetryPolicy::none();
        }
    }
    Ok(std::sync::Arc::new(
        AwsProvider::new(cfg)
            .await
            .context("setting up the AWS provider")?,
    ))
}

async fn run_one(which: Impl, opts: &Options) -> anyhow::Result<ImplReport> {
    let k = opts.time_scale;
    let period = PERIOD.div_f64(k);
    let mut sim = SimCluster::start(opts.nodes, k, opts.latency).await?;
    let provider = provider(which, &sim, k).await?;
    let running = match which {
        Impl::Routeplane => {
            let spec = ClusterSpec::new(
                CLUSTER,
                vec![CLUSTER_CIDR.parse()?],
                Mode::Cloud,
                Cloud::Aws,
            )?;
            let mut cfg = ControllerConfig::new(spec);
            cfg.resync = period;
            Running::Routeplane(RunningController::start(
                provider.clone(),
                cfg,
                &sim.kube.url(),
            )?)
        }
        Impl::RouteControllerModel => Running::Model(RunningModel::start(
            provider.clone(),
            &sim.kube.url(),
            period,
        )?),
    };

    // Cold start.
    let wanted = sim.wanted();
    let need = BTreeMap::from([
        (Action::CreateRoute, wanted),
        (Action::ModifyNetworkInterfaceAttribute, sim.nodes.len()),
    ]);
    let bound = lower_bound(&need, k);
    let limit = bound.mul_f64(opts.timeout_factor) + Duration::from_secs(60).div_f64(k.min(6.0));
    let start = Instant::now();
    let mut series = Vec::new();
    loop {
        let done = sim.converged();
        series.push((start.elapsed().as_secs_f64(), done));
        if done == wanted {
            break;
        }
        if start.elapsed() > limit {
            running.stop().await;
            bail!("did not converge within {limit:?}: {done}/{wanted} routes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let converge = start.elapsed();
    let calls = sim.ec2.calls().all();
    let throttled = calls
        .iter()
        .filter(|c| c.outcome.code() == Some("RequestLimitExceeded"))
        .count();
    let violations = sim.ec2.calls().budget_violations(&scaled_throttle(k)).len();
    sim.verify_exact().context("after cold start")?;
    let cold = ColdStart {
        routes: wanted,
        seconds: converge.as_secs_f64(),
        lower_bound_seconds: bound.as_secs_f64(),
        efficiency: bound.as_secs_f64() / converge.as_secs_f64(),
        calls: CallSplit::of(&calls, sim.nodes.len()),
        request_limit_exceeded: throttled,
        budget_violations: violations,
        series,
    };

    // Steady state.
    let steady = if opts.steady_periods > 0 {
        let before = sim.ec2.calls().len();
        tokio::time::sleep(period * opts.steady_periods).await;
        let all = sim.ec2.calls().all();
        let window = &all[before.min(all.len())..];
        sim.verify_exact().context("after the steady state")?;
        Some(Steady::of(window, opts.steady_periods))
    } else {
        None
    };

    // Churn: 5 % of the nodes replaced per (scaled) minute, evenly spread.
    let churn = if opts.churn_minutes > 0 {
        Some(churn(&mut sim, k, opts.churn_minutes).await?)
    } else {
        None
    };
    running.stop().await;
    Ok(ImplReport {
        implementation: which,
        cold_start: cold,
        steady,
        churn,
    })
}

/// A pending churn event: when it started and what finishes it.
struct Pending {
    at: Instant,
    cidr: String,
    instance: String,
    /// Added (route wanted) or deleted (route must go).
    added: bool,
}

async fn churn(sim: &mut SimCluster, k: f64, minutes: u32) -> anyhow::Result<Churn> {
    let per_minute = (sim.nodes.len() / 20).max(1);
    let total = per_minute * minutes as usize;
    let gap = Duration::from_secs(60).div_f64(k) / u32::try_from(per_minute).unwrap_or(u32::MAX);
    let mut pending: Vec<Pending> = Vec::new();
    let (mut to_route, mut stale) = (Vec::new(), Vec::new());
    let mut next_event = Instant::now();
    let mut fired = 0;
    let give_up = Duration::from_secs(60).div_f64(k) * (minutes + 3);
    let start = Instant::now();
    while fired < total || !pending.is_empty() {
        if fired < total && Instant::now() >= next_event {
            let index = (fired * 7919) % sim.nodes.len();
            let (old, new) = sim.replace(index)?;
            let now = Instant::now();
            pending.push(Pending {
                at: now,
                cidr: old.pod_cidr,
                instance: old.instance,
                added: false,
            });
            pending.push(Pending {
                at: now,
                cidr: new.pod_cidr,
                instance: new.instance,
                added: true,
            });
            fired += 1;
            next_event += gap;
        }
        let routes = sim.routes();
        pending.retain(|p| {
            let ok = (0..AZS.len()).all(|t| match routes.get(&(t, p.cidr.clone())) {
                Some((inst, active)) => p.added && *active && inst.as_deref() == Some(&p.instance),
                None => !p.added,
            });
            if ok {
                let ms = p.at.elapsed().as_secs_f64() * 1000.0;
                if p.added {
                    to_route.push(ms)
                } else {
                    stale.push(ms)
                }
            }
            !ok
        });
        if start.elapsed() > give_up {
            // Reported, not fatal: a strategy that cannot keep up is a result. The tables must
            // still end up exact (checked below, after a grace period).
            eprintln!(
                "bench: churn: {} events unfinished after {give_up:?}",
                pending.len()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let unfinished = pending.len();
    let grace = Instant::now();
    while sim.converged() < sim.wanted() && grace.elapsed() < give_up {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sim.verify_exact().context("after churn")?;
    Ok(Churn {
        replaced: fired,
        unfinished,
        event_to_route_ms_p50: percentile(&mut to_route, 0.5),
        event_to_route_ms_p99: percentile(&mut to_route, 0.99),
        stale_route_lifetime_ms_p99: percentile(&mut stale, 0.99),
    })
}

pub(super) fn count_by_action(calls: &[Call]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in calls {
        *m.entry(c.action.clone()).or_insert(0) += 1;
    }
    m
}
