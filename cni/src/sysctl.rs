//! Forwarding sysctls. `/proc/sys/net` is per network namespace (the caller's), which is what
//! lets tests run the plugin inside a "node" namespace.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};

/// IPv4 forwarding.
pub const IPV4_FORWARD: &str = "net/ipv4/ip_forward";
/// IPv6 forwarding (all interfaces).
pub const IPV6_FORWARD: &str = "net/ipv6/conf/all/forwarding";

/// Sets `<proc_sys>/<key>` to `1` unless it already is (a write is skipped to avoid needless
/// side effects: writing `ip_forward` resets per-interface forwarding settings).
///
/// # Errors
/// [`Error::Io`].
pub fn ensure_on(proc_sys: &Path, key: &str) -> Result<()> {
    let path = proc_sys.join(key);
    let current = fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
    if current.trim() == "1" {
        return Ok(());
    }
    fs::write(&path, b"1").map_err(|e| Error::io("write", &path, e))
}

/// Enables forwarding for the families asked for.
///
/// # Errors
/// [`Error::Io`].
pub fn enable_forwarding(proc_sys: &Path, v4: bool, v6: bool) -> Result<()> {
    if v4 {
        ensure_on(proc_sys, IPV4_FORWARD)?;
    }
    if v6 {
        ensure_on(proc_sys, IPV6_FORWARD)?;
    }
    Ok(())
}
