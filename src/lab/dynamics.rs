//! Measuring change with packets: a probe loop sends one TCP exchange (to the receiver's echo
//! server) every few milliseconds from a source namespace and reports when the path first
//! went the way we wait for — down after a node is deleted or a route hijacked, up after a
//! node joins or the controller repairs the route.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::echo;

/// Pause between probes.
const PROBE_EVERY: Duration = Duration::from_millis(5);
/// How long one probe may take before it counts as lost.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

/// One probe: did an exchange from `netns` to `dst` get through?
pub fn probe(netns: &str, dst: IpAddr) -> bool {
    echo::ask(netns, dst, PROBE_TIMEOUT).is_ok()
}

/// Probes until the path from `netns` to `dst` is `up` (or down); returns the time since
/// `since` at which the first probe with that outcome was *sent*, and how many probes it took.
///
/// # Errors
/// Still not in that state `within` after `since`.
pub fn wait_path(
    netns: &str,
    dst: IpAddr,
    up: bool,
    since: Instant,
    within: Duration,
) -> anyhow::Result<(Duration, usize)> {
    let mut probes = 0;
    loop {
        let sent = since.elapsed();
        probes += 1;
        if probe(netns, dst) == up {
            return Ok((sent, probes));
        }
        if since.elapsed() > within {
            bail!(
                "the path from {netns} to {dst} was not {} within {within:?} ({probes} probes)",
                if up { "up" } else { "down" }
            );
        }
        std::thread::sleep(PROBE_EVERY);
    }
}

/// `1.234s`-style, milliseconds resolution.
pub fn fmt(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}
