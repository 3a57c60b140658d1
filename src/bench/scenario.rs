//! The scenarios, run once per implementation on a fresh mock with the same configuration, on
//! either cloud through [`BenchCloud`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use routeplane_core::budget::BucketSpec;
use routeplane_core::controller::ControllerConfig;
use routeplane_core::{ClusterSpec, Mode};
use routeplane_gce::Class;

use super::cloud::{BenchCall, BenchCloud};
use super::cluster::{CLUSTER, CLUSTER_CIDR, EC2_MAX_NODES, SimCluster};
use super::gce::GceSim;
use super::model::RunningModel;
use super::report::{CallSplit, Churn, ColdStart, ImplReport, Report, Steady, percentile};
use crate::cli::common::CloudArg;
use crate::cli::sim::RunningController;

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
    pub cloud: CloudArg,
    pub nodes: u32,
    pub time_scale: f64,
    pub latency: Duration,
    /// GCE: how long each route operation takes to be DONE at the mock, before scaling.
    pub op_delay: Duration,
    /// GCE: routeplane's budget for these classes before scaling, instead of its defaults.
    pub gce_budgets: Vec<(Class, BucketSpec)>,
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

/// Runs every implementation, then the controller process if asked, on `opts.cloud`.
pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    match opts.cloud {
        CloudArg::Aws => run_on::<SimCluster>(opts).await,
        CloudArg::Gce => run_on::<GceSim>(opts).await,
    }
}

/// A warning for results that no real cloud could produce, if any.
pub fn caveat(opts: &Options) -> Option<String> {
    (opts.cloud == CloudArg::Aws && opts.nodes > EC2_MAX_NODES).then(|| {
        format!(
            "STRESS TEST OF THE CONTROLLER ONLY: {} nodes need {} routes per table; real EC2 \
             stops at 1,000 routes per route table (the quota's maximum), so no AWS cluster \
             can be routed this way. The mock's limit was raised past it.",
            opts.nodes,
            opts.nodes + 2
        )
    })
}

async fn run_on<C: BenchCloud>(opts: &Options) -> anyhow::Result<Report> {
    if let Some(c) = caveat(opts) {
        eprintln!("bench: {c}");
    }
    let mut impls = Vec::new();
    for which in &opts.impls {
        eprintln!(
            "bench: {which:?} on {:?}, {} nodes, time scale {}",
            opts.cloud, opts.nodes, opts.time_scale
        );
        impls.push(
            run_one::<C>(*which, opts)
                .await
                .with_context(|| format!("{which:?}"))?,
        );
    }
    let process = if opts.process {
        eprintln!("bench: the controller as a separate process");
        Some(super::process::measure::<C>(opts).await?)
    } else {
        None
    };
    Ok(Report::new(opts, C::TABLES, impls, process))
}

async fn run_one<C: BenchCloud>(which: Impl, opts: &Options) -> anyhow::Result<ImplReport> {
    let k = opts.time_scale;
    let period = PERIOD.div_f64(k);
    let mut sim = C::start(opts).await?;
    let provider = sim.provider(which).await?;
    let kube_url = sim.kube().url();
    let running = match which {
        Impl::Routeplane => {
            let spec =
                ClusterSpec::new(CLUSTER, vec![CLUSTER_CIDR.parse()?], Mode::Cloud, C::CLOUD)?;
            let mut cfg = ControllerConfig::new(spec);
            cfg.resync = period;
            Running::Routeplane(RunningController::start(provider, cfg, &kube_url)?)
        }
        Impl::RouteControllerModel => {
            Running::Model(RunningModel::start(provider, C::MODEL, &kube_url, period)?)
        }
    };

    // Cold start.
    let wanted = sim.wanted();
    let bound = sim.lower_bound();
    // At least ten (scaled) minutes: on GCE below one quota's worth of writes the bound is
    // only one call and one operation.
    let limit = bound
        .mul_f64(opts.timeout_factor)
        .max(Duration::from_secs(600).div_f64(k))
        + Duration::from_secs(60).div_f64(k.min(6.0));
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
    let calls = sim.calls();
    let violations = sim.budget_violations();
    sim.verify_exact().context("after cold start")?;
    let cold = ColdStart {
        routes: wanted,
        seconds: converge.as_secs_f64(),
        lower_bound_seconds: bound.as_secs_f64(),
        efficiency: bound.as_secs_f64() / converge.as_secs_f64(),
        calls: CallSplit::of(&calls, sim.nodes().len()),
        request_limit_exceeded: calls.iter().filter(|c| c.throttled).count(),
        budget_violations: violations,
        series,
    };

    // Steady state.
    let steady = if opts.steady_periods > 0 {
        settle(&sim, period).await;
        let before = sim.calls().len();
        tokio::time::sleep(period * opts.steady_periods).await;
        let all = sim.calls();
        let window = &all[before.min(all.len())..];
        sim.verify_exact().context("after the steady state")?;
        Some(Steady::of(window, opts.steady_periods))
    } else {
        None
    };

    // Churn: 5 % of the nodes replaced per (scaled) minute, evenly spread.
    let churn = if opts.churn_minutes > 0 {
        Some(churn(&mut sim, which, k, opts.churn_minutes).await?)
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

/// Waits (up to 10 periods) for a period without writes or operation polls: what is still in
/// flight when the last route appears (GCE's final polls) belongs to the cold start.
async fn settle<C: BenchCloud>(sim: &C, period: Duration) {
    for _ in 0..10 {
        let before = sim.calls().len();
        tokio::time::sleep(period).await;
        if !sim
            .calls()
            .iter()
            .skip(before)
            .any(|c| c.mutating || c.poll)
        {
            return;
        }
    }
}

/// A pending churn event: when it started and what finishes it.
struct Pending {
    at: Instant,
    cidr: String,
    instance: String,
    /// Added (route wanted) or deleted (route must go).
    added: bool,
}

async fn churn<C: BenchCloud>(
    sim: &mut C,
    which: Impl,
    k: f64,
    minutes: u32,
) -> anyhow::Result<Churn> {
    let per_minute = (sim.nodes().len() / 20).max(1);
    let total = per_minute * minutes as usize;
    let gap = Duration::from_secs(60).div_f64(k) / u32::try_from(per_minute).unwrap_or(u32::MAX);
    let mut pending: Vec<Pending> = Vec::new();
    let (mut to_route, mut stale) = (Vec::new(), Vec::new());
    let mut next_event = Instant::now();
    let mut fired = 0;
    let give_up = Duration::from_secs(60).div_f64(k) * (minutes + 3);
    let start = Instant::now();
    while fired < total || !pending.is_empty() {
        // Every event due, even when an iteration took longer than the gap.
        while fired < total && Instant::now() >= next_event {
            let index = (fired * 7919) % sim.nodes().len();
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
        let routes = sim.lookup(pending.iter().map(|p| p.cidr.as_str()));
        pending.retain(|p| {
            let ok = (0..C::TABLES).all(|t| match routes.get(&(t, p.cidr.clone())) {
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
    // routeplane must end exact; the model falling behind is one of its results.
    let final_check = match sim.verify_exact() {
        Ok(()) => None,
        Err(e) if which == Impl::RouteControllerModel => Some(format!("{e:#}")),
        Err(e) => return Err(e.context("after churn")),
    };
    Ok(Churn {
        replaced: fired,
        unfinished,
        event_to_route_ms_p50: percentile(&mut to_route, 0.5),
        event_to_route_ms_p99: percentile(&mut to_route, 0.99),
        stale_route_lifetime_ms_p99: percentile(&mut stale, 0.99),
        not_exact_after: final_check,
    })
}

pub(super) fn count_by_action(calls: &[BenchCall]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in calls {
        *m.entry(c.action.clone()).or_insert(0) += 1;
    }
    m
}
