//! Running things in the lab's namespaces: `ip` commands, a command inside a namespace, and a
//! closure on a short-lived thread that has entered a namespace (sockets made there stay
//! there; the calling thread never changes namespace).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};

/// Set when the run is being torn down (Ctrl-C): no new object may be created after the
/// cleanup has listed what exists.
static ABORTING: AtomicBool = AtomicBool::new(false);

/// Refuse every further `ip` command that creates something.
pub fn abort() {
    ABORTING.store(true, Ordering::SeqCst);
}

/// Runs `ip <args>`; its stdout on success, the command and its stderr otherwise.
///
/// # Errors
/// `ip` missing or refusing, or the run being aborted.
pub fn ip(args: &[&str]) -> anyhow::Result<String> {
    if ABORTING.load(Ordering::SeqCst) && args.contains(&"add") {
        bail!("the lab is being torn down");
    }
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip -n <netns> <args>`.
///
/// # Errors
/// As [`ip`].
pub fn ip_in(netns: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut full = vec!["-n", netns];
    full.extend_from_slice(args);
    ip(&full)
}

/// Runs `cmd` inside `netns` (`ip netns exec`) and returns its output, whatever the exit code.
///
/// # Errors
/// Only when the command cannot be started.
pub fn run_in(netns: &str, cmd: &[&str]) -> anyhow::Result<Output> {
    Command::new("ip")
        .args(["netns", "exec", netns])
        .args(cmd)
        .output()
        .with_context(|| format!("running {cmd:?} in {netns}"))
}

/// The bind-mounted file of a named namespace.
pub fn netns_path(netns: &str) -> PathBuf {
    PathBuf::from(format!("/run/netns/{netns}"))
}

/// Runs `f` on a new thread that has entered `netns`, and returns its result.
///
/// # Errors
/// The namespace cannot be opened or entered, or `f` panicked.
pub fn in_netns<T: Send>(
    netns: &str,
    f: impl FnOnce() -> anyhow::Result<T> + Send,
) -> anyhow::Result<T> {
    let file = std::fs::File::open(netns_path(netns))
        .with_context(|| format!("opening network namespace {netns}"))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("entering network namespace {netns}"))?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("a thread in {netns} panicked")))
    })
}

/// Writes a sysctl of `netns` (`/proc/sys/net/...` resolves per namespace of the writer).
///
/// # Errors
/// The namespace or the file cannot be opened or written.
pub fn sysctl(netns: &str, settings: &[(&str, &str)]) -> anyhow::Result<()> {
    in_netns(netns, || {
        for (key, value) in settings {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            std::fs::write(&path, value).with_context(|| format!("writing {path}"))?;
        }
        Ok(())
    })
}

/// Names of the existing network namespaces.
///
/// # Errors
/// `ip` failing.
pub fn netns_list() -> anyhow::Result<Vec<String>> {
    Ok(ip(&["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect())
}

/// Names of the links in the calling process's namespace.
///
/// # Errors
/// `ip` failing.
pub fn root_links() -> anyhow::Result<Vec<String>> {
    let text = ip(&["-j", "link", "show"])?;
    let v: serde_json::Value = serde_json::from_str(&text).context("parsing ip -j link")?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect())
}
