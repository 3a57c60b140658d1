//! The measurements, all with stock tools run inside the path's namespaces: TCP throughput with
//! iperf3 (its JSON output), latency with ping, and the largest packet a path carries with
//! don't-fragment pings (so the MTU is measured, not assumed).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::paths::Path;
use crate::lab::shell::run_in;

/// iperf3's port, inside the destination namespace only.
const PORT: &str = "5201";
/// IPv4 + ICMP headers: a ping of payload `s` is an IP packet of `s + 28` bytes.
const ICMP_OVERHEAD: u32 = 28;
/// The MTU search's range: IPv4's minimum MTU a host must accept, and jumbo frames.
const MTU_RANGE: (u32, u32) = (576, 9000);

/// An iperf3 server in a path's destination namespace. Killed on drop; it also ends by itself
/// after the lifetime it was started with (`timeout`), so even a killed bench leaves none
/// running for long.
pub struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: `timeout` passes it on to iperf3, a killed `timeout` would not.
        let pid = i32::try_from(self.child.id()).map(nix::unistd::Pid::from_raw);
        if let Ok(pid) = pid {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// Starts `iperf3 -s` bound to the path's destination address, for at most `lifetime`, and
/// waits until it listens.
///
/// # Errors
/// iperf3 cannot start, or it does not listen within 5 s.
pub fn serve(path: &Path, lifetime: Duration) -> anyhow::Result<Server> {
    let child = Command::new("ip")
        .args(["netns", "exec", &path.dst_ns, "timeout"])
        .arg(lifetime.as_secs().max(1).to_string())
        .args(["iperf3", "-s", "-B", &path.dst.to_string(), "-p", PORT])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting iperf3 -s (Debian package iperf3)")?;
    let server = Server { child };
    let start = Instant::now();
    let filter = format!("sport = :{PORT}");
    loop {
        let out = run_in(&path.dst_ns, &["ss", "-Hltn", &filter])?;
        if !out.stdout.is_empty() {
            return Ok(server);
        }
        if start.elapsed() > Duration::from_secs(5) {
            bail!("iperf3 -s in {} did not listen within 5 s", path.dst_ns);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One iperf3 run's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Throughput {
    /// What the receiver got, in bits per second.
    pub bits_per_second: f64,
    pub bytes: u64,
    pub retransmits: u64,
    /// CPU time of the iperf3 client (sender) and server (receiver) processes as a share of
    /// one CPU over the test (iperf3's `host_total`/`remote_total`). On one kernel much of the
    /// path's softirq work (forwarding, encapsulation) runs in, and is charged to, them.
    pub cpu_sender_percent: f64,
    pub cpu_receiver_percent: f64,
}

/// `iperf3 -c` over `path` with `streams` parallel TCP streams for `seconds`.
///
/// # Errors
/// iperf3 failing (its own error message) or output without the figures.
pub fn tcp(path: &Path, streams: u32, seconds: u32) -> anyhow::Result<Throughput> {
    let (p, t) = (streams.to_string(), seconds.to_string());
    let dst = path.dst.to_string();
    let out = run_in(
        &path.src_ns,
        &[
            "iperf3",
            "-c",
            &dst,
            "-p",
            PORT,
            "-P",
            &p,
            "-t",
            &t,
            "-J",
            "--connect-timeout",
            "3000",
        ],
    )?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if !out.status.success() {
        bail!(
            "iperf3 -c {dst} -P {p} from {} failed: {}{}",
            path.src_ns,
            v["error"].as_str().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let end = &v["end"];
    let f = |x: &serde_json::Value, what: &str| {
        x.as_f64()
            .with_context(|| format!("iperf3's JSON has no {what}"))
    };
    Ok(Throughput {
        bits_per_second: f(&end["sum_received"]["bits_per_second"], "received rate")?,
        bytes: f(&end["sum_received"]["bytes"], "received bytes")? as u64,
        retransmits: end["sum_sent"]["retransmits"].as_u64().unwrap_or(0),
        cpu_sender_percent: f(&end["cpu_utilization_percent"]["host_total"], "CPU use")?,
        cpu_receiver_percent: f(&end["cpu_utilization_percent"]["remote_total"], "CPU use")?,
    })
}

/// Round-trip times (ms) of `count` pings 10 ms apart, and how many got no answer.
///
/// # Errors
/// ping cannot start, or no echo came back at all.
pub fn ping(path: &Path, count: u32) -> anyhow::Result<(Vec<f64>, u32)> {
    let c = count.to_string();
    let dst = path.dst.to_string();
    let out = run_in(
        &path.src_ns,
        &["ping", "-n", "-c", &c, "-i", "0.01", "-W", "1", &dst],
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rtts: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next()?.parse().ok())
        .collect();
    if rtts.is_empty() {
        bail!("no ping from {} to {dst} was answered", path.src_ns);
    }
    let lost = count.saturating_sub(rtts.len() as u32);
    Ok((rtts, lost))
}

/// Whether one ping whose IP packet is `size` bytes crosses the path with don't-fragment set.
pub fn df_ping(path: &Path, size: u32) -> bool {
    let payload = size.saturating_sub(ICMP_OVERHEAD).to_string();
    let dst = path.dst.to_string();
    run_in(
        &path.src_ns,
        &["ping", "-n", "-c1", "-W1", "-M", "do", "-s", &payload, &dst],
    )
    .is_ok_and(|o| o.status.success())
}

/// The largest IP packet the path carries unfragmented (576–9000), found by bisection with
/// don't-fragment pings; `None` if not even 576 bytes get through.
pub fn path_mtu(path: &Path) -> Option<u32> {
    let (mut lo, mut hi) = MTU_RANGE;
    if !df_ping(path, lo) {
        return None;
    }
    if df_ping(path, hi) {
        return Some(hi);
    }
    // Invariant: lo passes, hi fails.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if df_ping(path, mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}
