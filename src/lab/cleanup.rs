//! Removing what a lab made: every network namespace and root-namespace link whose name starts
//! with a prefix, and the matching state directories. Deleting a namespace takes its bridges,
//! veths, routes and nftables with it, so names are all there is to track, and a run killed
//! with SIGKILL is cleaned by the same code (`routeplane lab clean`). Processes still running
//! inside a namespace are stopped first: they would keep it alive after its name is gone.

use std::path::Path;

use anyhow::Context;

use super::names::STATE_ROOT;
use super::shell::{ip, netns_list, root_links};

/// What [`clean`] removed.
#[derive(Debug, Default)]
pub struct Cleaned {
    pub namespaces: Vec<String>,
    pub links: Vec<String>,
    pub dirs: Vec<String>,
}

impl Cleaned {
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.links.is_empty() && self.dirs.is_empty()
    }
}

/// What is left with `prefix`: namespaces and root links (for checks and `clean`).
///
/// # Errors
/// `ip` failing.
pub fn leftovers(prefix: &str) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let ns = netns_list()?
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect();
    let links = root_links()?
        .into_iter()
        .filter(|l| l.starts_with(prefix))
        .collect();
    Ok((ns, links))
}

/// Removes every namespace, root link and state directory whose name starts with `prefix`
/// (`rpl-` for all runs, `rpl-<id>-` for one). Only names with the lab prefix are touched.
///
/// # Errors
/// The first thing that could not be removed (the rest is still attempted).
pub fn clean(prefix: &str) -> anyhow::Result<Cleaned> {
    debug_assert!(prefix.starts_with(super::names::BASE_PREFIX));
    let mut done = Cleaned::default();
    let mut first_error = None;
    let (namespaces, links) = leftovers(prefix)?;
    for ns in namespaces {
        stop_processes(&ns);
        match ip(&["netns", "del", &ns]) {
            Ok(_) => done.namespaces.push(ns),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    for link in links {
        match ip(&["link", "del", &link]) {
            Ok(_) => done.links.push(link),
            // Deleting one end of a veth removes the other: already gone is fine.
            Err(_) if !root_links()?.contains(&link) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let dir_prefix = prefix.trim_end_matches('-');
    if let Ok(rd) = std::fs::read_dir(STATE_ROOT) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = name == dir_prefix || name.starts_with(prefix);
            if ours {
                match std::fs::remove_dir_all(e.path()) {
                    Ok(()) => done.dirs.push(name),
                    Err(err) => {
                        first_error.get_or_insert(anyhow::Error::from(err).context(format!(
                            "removing {}",
                            Path::new(STATE_ROOT).join(&name).display()
                        )));
                    }
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e).context("lab cleanup was incomplete"),
        None => Ok(done),
    }
}

/// Sends SIGTERM to every process running inside `netns` (the iperf3 servers of `lab bench`,
/// a probe still running on Ctrl-C): deleting a namespace's name does not end them, and each
/// would keep the namespace and its links alive, unnamed. Never this process itself.
fn stop_processes(netns: &str) {
    let Ok(pids) = ip(&["netns", "pids", netns]) else {
        return;
    };
    let me = std::process::id();
    for pid in pids
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
    {
        if pid != me
            && let Ok(raw) = i32::try_from(pid)
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(raw),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}
