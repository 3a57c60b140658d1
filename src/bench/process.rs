//! The controller as a separate process, for figures that must not include the bench's own
//! mocks: the real `routeplane controller` binary (the current executable) against the mock
//! cloud (EC2 or GCE) and fake API served from the bench process. Peak RSS is `VmHWM` from
//! `/proc/<pid>/status`; CPU time is utime + stime from `/proc/<pid>/stat`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use super::cloud::BenchCloud;
use super::cluster::{CLUSTER, CLUSTER_CIDR};
use super::scenario::Options;

/// Linux's USER_HZ: the unit of the CPU times in `/proc/<pid>/stat` on every mainstream arch.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

#[derive(Debug, Serialize)]
pub struct ProcessFigures {
    /// `debug` or `release`: the binary measured is the one running the bench.
    pub build: &'static str,
    pub converge_seconds: f64,
    /// VmHWM after convergence and the steady periods, MiB: heap and stacks plus the pages of
    /// the binary's code that were touched (a debug binary has ~65 MiB of code).
    pub peak_rss_mib: f64,
    /// The largest anonymous resident memory (heap, stacks; `RssAnon`) seen, sampled every
    /// 100 ms, MiB: what Nodes, routes and buffers cost.
    pub peak_anon_mib: f64,
    /// File-backed resident memory (`RssFile`: the binary's and libraries' pages) at the end, MiB.
    pub file_mib: f64,
    /// CPU seconds the controller used over the steady periods (after convergence).
    pub steady_cpu_seconds: f64,
    pub steady_periods: u32,
}

struct Controller(Child);

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the controller binary against a fresh cluster of `opts.nodes` nodes until converged,
/// then for the steady periods (at least one), and reads its memory and CPU.
pub async fn measure<C: BenchCloud>(opts: &Options) -> anyhow::Result<ProcessFigures> {
    let (k, periods) = (opts.time_scale, opts.steady_periods.max(1));
    let sim = C::start(opts).await?;
    let flags = sim.controller_args(opts)?;
    let dir = std::env::temp_dir().join(format!("routeplane-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let kubeconfig = dir.join("kubeconfig");
    sim.kube()
        .write_kubeconfig(&kubeconfig)
        .context("writing the kubeconfig")?;
    let exe: PathBuf = std::env::current_exe().context("locating the routeplane binary")?;
    let period = Duration::from_secs(10).div_f64(k);
    let child = Command::new(&exe)
        .arg("controller")
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--cluster-name={CLUSTER}"))
        .arg(format!("--cluster-cidr={CLUSTER_CIDR}"))
        .args(&flags.args)
        .arg("--leader-elect=false")
        .arg("--metrics-addr=127.0.0.1:0")
        .arg(format!("--resync-period={}ms", period.as_millis().max(1)))
        .envs(flags.env)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env("ROUTEPLANE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let mut proc = Controller(child);
    let pid = proc.0.id();
    let start = Instant::now();
    let limit = Duration::from_secs(600);
    let mut peak_anon = 0;
    while sim.converged() < sim.wanted() {
        peak_anon = peak_anon.max(status_kib(pid, "RssAnon:")?);
        if let Some(status) = proc.0.try_wait()? {
            bail!("the controller exited: {status}");
        }
        if start.elapsed() > limit {
            bail!("the controller did not converge within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let converge = start.elapsed();
    let cpu_before = cpu_seconds(pid)?;
    let steady_end = Instant::now() + period * periods;
    while Instant::now() < steady_end {
        peak_anon = peak_anon.max(status_kib(pid, "RssAnon:")?);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu = cpu_seconds(pid)? - cpu_before;
    let hwm = status_kib(pid, "VmHWM:")?;
    let file = status_kib(pid, "RssFile:")?;
    sim.verify_exact().context("controller process")?;
    drop(proc);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ProcessFigures {
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        converge_seconds: converge.as_secs_f64(),
        peak_rss_mib: hwm as f64 / 1024.0,
        peak_anon_mib: peak_anon as f64 / 1024.0,
        file_mib: file as f64 / 1024.0,
        steady_cpu_seconds: cpu,
        steady_periods: periods,
    })
}

/// One `kB` field of `/proc/<pid>/status`, e.g. `VmHWM:`.
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("bad /proc/<pid>/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> anyhow::Result<f64> {
        Ok(f.get(i).context("short /proc/<pid>/stat")?.parse::<f64>()?)
    };
    // `rest` starts at field 3 (state), so field N is at index N − 3.
    Ok((tick(11)? + tick(12)?) / CLOCK_TICKS_PER_SEC)
}
