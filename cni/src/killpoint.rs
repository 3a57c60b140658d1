//! Crash-test hook: with the `test-kill-points` feature, `ROUTEPLANE_CNI_KILL_AT=<step>` makes the
//! plugin SIGKILL itself at that step, exactly like a kill -9 from outside. Without the feature
//! this compiles to nothing.

/// The named steps of ADD, in order.
pub const STEPS: &[&str] = &[
    "after_ipam",
    "after_bridge",
    "after_veth",
    "after_pod_config",
    "after_masq",
];

/// Dies here if asked to.
#[cfg(feature = "test-kill-points")]
pub fn reached(step: &str) {
    if std::env::var("ROUTEPLANE_CNI_KILL_AT").is_ok_and(|s| s == step) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// Dies here if asked to (compiled out).
#[cfg(not(feature = "test-kill-points"))]
#[inline(always)]
pub fn reached(_step: &str) {}
