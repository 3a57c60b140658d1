//! Crash-test hooks. With the `test-kill-points` feature:
//! - `ROUTEPLANE_CNI_KILL_AT=<step>` makes the plugin SIGKILL itself at that step, exactly like a
//!   kill -9 from outside (no destructor, no unwinding, no flush);
//! - `ROUTEPLANE_CNI_FAIL_AT=<step>` makes the step fail with an error instead, so the rollback
//!   path runs (and can itself be killed at its own steps).
//!
//! Without the feature this compiles to nothing, so a release plugin cannot be made to kill
//! itself by an environment variable. Every call site names a step listed below; the crash tests
//! iterate these lists, so a new step is covered as soon as it is listed (and a test build
//! panics on a step that is not listed).

use crate::error::Result;

/// The steps of ADD, in the order they are reached on a fresh node (bridge and nft table absent).
pub const ADD_STEPS: &[&str] = &[
    // Env and config parsed, pod netns opened: nothing written yet.
    "add_netns_open",
    // The IPAM store lock is held, nothing reserved.
    "ipam_locked",
    // The first range set's address is reserved; a dual-stack pod's second is not yet.
    "ipam_reserved_one",
    // Every address reserved, the round-robin cursor not yet moved.
    "ipam_reserved_all",
    // The cursor's temp file is written but not renamed over the cursor.
    "ipam_cursor_tmp",
    // Reservations and cursor done, store unlocked.
    "after_ipam",
    // The bridge exists but is down and has no gateway address.
    "bridge_created",
    // Bridge up with its gateway addresses, forwarding on.
    "after_bridge",
    // The veth pair exists: host end on the bridge, pod end inside the pod netns.
    "after_veth",
    // The host end is up.
    "host_end_up",
    // The pod end is up with its addresses, no routes yet.
    "pod_addresses",
    // Pod routes installed.
    "after_pod_config",
    // The static nft table was applied, its stamp not yet written.
    "masq_table_applied",
    // The pod's masquerade elements are in the sets; only the result is left to print.
    "after_masq",
];

/// The steps of DEL, in order.
pub const DEL_STEPS: &[&str] = &[
    // The pod's reservations are read; nothing removed.
    "del_lookup",
    // On the masquerade thread: the pod's elements are gone (the veth may or may not be).
    "del_masq_removed",
    // The veth is gone (the elements may or may not be).
    "del_link_removed",
    // Elements and veth are gone; the reservations are still held.
    "del_teardown_done",
    // One of the pod's reservations is released (dual-stack: the other is not).
    "ipam_released_one",
    // Everything released; only the exit is left.
    "del_done",
];

/// The steps of ADD's rollback (reached only when a step after IPAM failed).
pub const ROLLBACK_STEPS: &[&str] = &[
    // The masquerade elements were removed, the veth not yet.
    "rollback_masq_removed",
    // The veth was removed; the reservations are still held.
    "rollback_veth_removed",
    // One reservation released (shared with DEL and GC).
    "ipam_released_one",
];

/// The steps of GC, in order.
pub const GC_STEPS: &[&str] = &[
    // Stale host veths are deleted; masquerade elements and reservations are not yet released.
    "gc_links_removed",
    // Stale masquerade elements are removed; reservations not yet.
    "gc_masq_removed",
    // One stale reservation released.
    "ipam_released_one",
];

/// Dies or fails here if asked to.
///
/// # Errors
/// [`crate::Error::Internal`] when `ROUTEPLANE_CNI_FAIL_AT` names this step.
#[cfg(feature = "test-kill-points")]
pub fn reached(step: &str) -> Result<()> {
    let known = [ADD_STEPS, DEL_STEPS, ROLLBACK_STEPS, GC_STEPS]
        .iter()
        .any(|list| list.contains(&step));
    assert!(
        known,
        "kill point {step:?} is not listed in killpoint.rs; list it so the crash tests cover it"
    );
    if std::env::var("ROUTEPLANE_CNI_KILL_AT").is_ok_and(|s| s == step) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    if std::env::var("ROUTEPLANE_CNI_FAIL_AT").is_ok_and(|s| s == step) {
        return Err(crate::Error::Internal(format!(
            "injected failure at {step}"
        )));
    }
    Ok(())
}

/// Dies or fails here if asked to (compiled out).
///
/// # Errors
/// Never.
#[cfg(not(feature = "test-kill-points"))]
#[inline(always)]
pub fn reached(_step: &str) -> Result<()> {
    Ok(())
}
