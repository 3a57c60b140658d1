//! The lab router: makes a mock EC2 route table *forward packets*. It mirrors one or more mock
//! route tables into kernel routes of a "VPC router" network namespace, so that what a client
//! wrote through the EC2 API is what carries traffic between simulated nodes (`routeplane lab`).
//!
//! Each mirrored table gets its own kernel routing table and an `ip rule` selecting it for
//! packets arriving on that subnet's interface, like a VPC applies a subnet's associated table.
//! A route whose target is an instance or ENI becomes a route via that instance's private IP;
//! a blackhole becomes an `unreachable` route. Local, gateway, NAT and peering routes have no
//! lab equivalent and are skipped (the namespace's connected routes play the local route).
//!
//! Ownership: every kernel route it writes carries [`LAB_ROUTER_PROTOCOL`], and only routes with
//! that protocol in its own tables are ever replaced or deleted. It drives `ip -n <netns>`, which
//! keeps it independent of any netlink code under test.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ipnet::IpNet;

use crate::ec2::{RouteState, Target, World, WorldHandle};

/// The `rtm_protocol` of the lab router's kernel routes (routeplane's agent uses 176).
pub const LAB_ROUTER_PROTOCOL: u8 = 177;

/// Why the lab router could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum LabRouterError {
    /// `ip` could not be started.
    #[error("cannot run ip: {0}")]
    Spawn(#[from] std::io::Error),
    /// `ip` refused a command.
    #[error("ip {args}: {stderr}")]
    Ip {
        /// The arguments, space-joined.
        args: String,
        /// What `ip` said.
        stderr: String,
    },
    /// `ip -j` printed something that is not the JSON we expect.
    #[error("unexpected output of ip {args}: {detail}")]
    Output {
        /// The arguments, space-joined.
        args: String,
        /// What was wrong.
        detail: String,
    },
    /// A mirrored table does not exist in the mock.
    #[error("no route table {0} in the mock EC2")]
    NoTable(String),
}

/// One mock route table and where its kernel copy lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirroredTable {
    /// The mock EC2 route table ID (`rtb-…`).
    pub route_table_id: String,
    /// The kernel routing table number in the router namespace.
    pub kernel_table: u32,
    /// The router's interface on the subnet(s) this table is associated with.
    pub iif: String,
}

/// What one kernel route should be.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum KernelTarget {
    /// Forward via this next hop.
    Via(std::net::IpAddr),
    /// Drop with ICMP unreachable (a blackhole route).
    Unreachable,
}

/// What [`LabRouter::sync`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// (kernel table, destination) written (added or replaced).
    pub written: Vec<(u32, IpNet)>,
    /// (kernel table, destination) removed.
    pub removed: Vec<(u32, IpNet)>,
}

impl SyncReport {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.written.is_empty() && self.removed.is_empty()
    }
}

/// Mirrors mock route tables into a network namespace.
#[derive(Debug, Clone)]
pub struct LabRouter {
    world: WorldHandle,
    netns: String,
    tables: Vec<MirroredTable>,
    /// First `ip rule` preference used; table i gets `rule_pref + i`.
    rule_pref: u32,
}

/// The desired kernel routes of one mock table, from the world.
pub fn desired_routes(
    world: &World,
    route_table_id: &str,
) -> Result<BTreeMap<IpNet, KernelTarget>, LabRouterError> {
    let routes = world
        .routes(route_table_id)
        .ok_or_else(|| LabRouterError::NoTable(route_table_id.to_string()))?;
    let mut out = BTreeMap::new();
    for r in routes {
        let next_hop = match &r.target {
            Target::Instance(id) => world.instance(id).and_then(|i| i.private_ip),
            Target::NetworkInterface(eni) => world.eni(eni).and_then(|(_, e)| e.private_ip),
            _ => continue,
        };
        let target = match (r.state, next_hop) {
            (RouteState::Active, Some(ip)) if ip.is_ipv4() == r.destination.addr().is_ipv4() => {
                KernelTarget::Via(ip)
            }
            (RouteState::Active, Some(_)) => continue,
            _ => KernelTarget::Unreachable,
        };
        out.insert(r.destination.trunc(), target);
    }
    Ok(out)
}

impl LabRouter {
    /// A router for `netns` (a name under `/run/netns`) reading `world`.
    pub fn new(world: WorldHandle, netns: impl Into<String>) -> Self {
        Self {
            world,
            netns: netns.into(),
            tables: Vec::new(),
            rule_pref: 1000,
        }
    }

    /// Adds a table to mirror.
    #[must_use]
    pub fn table(mut self, table: MirroredTable) -> Self {
        self.tables.push(table);
        self
    }

    /// The tables mirrored.
    pub fn tables(&self) -> &[MirroredTable] {
        &self.tables
    }

    /// Installs one `ip rule iif <iif> lookup <table>` per mirrored table (idempotent).
    ///
    /// # Errors
    /// `ip` failures.
    pub fn install(&self) -> Result<(), LabRouterError> {
        for (i, t) in self.tables.iter().enumerate() {
            let pref = (self.rule_pref + i as u32).to_string();
            let table = t.kernel_table.to_string();
            // Delete first, so a second install does not stack duplicate rules.
            let _ = self.ip(&["rule", "del", "pref", &pref]);
            self.ip(&[
                "rule", "add", "pref", &pref, "iif", &t.iif, "lookup", &table,
            ])?;
        }
        Ok(())
    }

    /// Makes the kernel tables equal the mock tables now. Only routes with
    /// [`LAB_ROUTER_PROTOCOL`] are ever changed.
    ///
    /// # Errors
    /// `ip` failures or a missing mock table; earlier changes stay (the next sync resumes).
    pub fn sync(&self) -> Result<SyncReport, LabRouterError> {
        let mut report = SyncReport::default();
        for t in &self.tables {
            let want = self.world.read(|w| desired_routes(w, &t.route_table_id))?;
            let have = self.kernel_routes(t.kernel_table)?;
            let table = t.kernel_table.to_string();
            let proto = LAB_ROUTER_PROTOCOL.to_string();
            for (dst, target) in &want {
                if have.get(dst) == Some(target) {
                    continue;
                }
                let dst_s = dst.to_string();
                let mut args = vec!["route", "replace"];
                let via;
                match target {
                    KernelTarget::Via(ip) => {
                        via = ip.to_string();
                        args.extend([dst_s.as_str(), "via", via.as_str()]);
                    }
                    KernelTarget::Unreachable => args.extend(["unreachable", dst_s.as_str()]),
                }
                args.extend(["table", &table, "proto", &proto]);
                self.ip(&args)?;
                report.written.push((t.kernel_table, *dst));
            }
            for dst in have.keys().filter(|d| !want.contains_key(d)) {
                let dst_s = dst.to_string();
                self.ip(&["route", "del", &dst_s, "table", &table, "proto", &proto])?;
                report.removed.push((t.kernel_table, *dst));
            }
        }
        Ok(report)
    }

    /// The routes this router owns in `table`.
    fn kernel_routes(&self, table: u32) -> Result<BTreeMap<IpNet, KernelTarget>, LabRouterError> {
        let mut out = BTreeMap::new();
        for family in ["-4", "-6"] {
            let table_s = table.to_string();
            let proto = LAB_ROUTER_PROTOCOL.to_string();
            let args = [
                family, "-j", "route", "show", "table", &table_s, "proto", &proto,
            ];
            let text = match self.ip(&args) {
                // A table nothing was written to yet does not exist for that family.
                Err(LabRouterError::Ip { stderr, .. }) if stderr.contains("does not exist") => {
                    continue;
                }
                other => other?,
            };
            if text.trim().is_empty() {
                continue;
            }
            let bad = |detail: String| LabRouterError::Output {
                args: args.join(" "),
                detail,
            };
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
            for r in v.as_array().into_iter().flatten() {
                let dst = r["dst"].as_str().unwrap_or_default();
                let dst: IpNet = if dst.contains('/') {
                    dst.parse()
                } else {
                    // A host route prints without its length.
                    format!("{dst}/{}", if family == "-4" { 32 } else { 128 }).parse()
                }
                .map_err(|_| bad(format!("destination {dst:?}")))?;
                let target = if r["type"].as_str() == Some("unreachable") {
                    KernelTarget::Unreachable
                } else {
                    match r["gateway"].as_str().and_then(|g| g.parse().ok()) {
                        Some(gw) => KernelTarget::Via(gw),
                        // Something we do not model: rewrite it on the next pass.
                        None => KernelTarget::Unreachable,
                    }
                };
                out.insert(dst, target);
            }
        }
        Ok(out)
    }

    /// Removes the rules and every route it owns (the namespace itself is the caller's).
    ///
    /// # Errors
    /// `ip` failures.
    pub fn remove(&self) -> Result<(), LabRouterError> {
        for (i, t) in self.tables.iter().enumerate() {
            let pref = (self.rule_pref + i as u32).to_string();
            let _ = self.ip(&["rule", "del", "pref", &pref]);
            let table = t.kernel_table.to_string();
            for dst in self.kernel_routes(t.kernel_table)?.keys() {
                let dst_s = dst.to_string();
                let proto = LAB_ROUTER_PROTOCOL.to_string();
                self.ip(&["route", "del", &dst_s, "table", &table, "proto", &proto])?;
            }
        }
        Ok(())
    }

    /// Syncs every `interval` on a thread until the handle is stopped or dropped. A failed sync
    /// is reported to `on_error` and retried on the next tick.
    pub fn spawn(
        self,
        interval: Duration,
        on_error: impl Fn(&LabRouterError) + Send + 'static,
    ) -> LabRouterHandle {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                if let Err(e) = self.sync() {
                    on_error(&e);
                }
                std::thread::sleep(interval);
            }
        });
        LabRouterHandle {
            stop,
            thread: Some(thread),
        }
    }

    fn ip(&self, args: &[&str]) -> Result<String, LabRouterError> {
        let out = Command::new("ip")
            .args(["-n", &self.netns])
            .args(args)
            .output()?;
        if !out.status.success() {
            return Err(LabRouterError::Ip {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// A running mirror; stops (and joins) on [`LabRouterHandle::stop`] or drop.
#[derive(Debug)]
pub struct LabRouterHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LabRouterHandle {
    /// Stops the mirror thread and waits for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LabRouterHandle {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn world() -> World {
        let mut w = World::new();
        w.add_vpc("vpc-1", "10.0.0.0/16").unwrap();
        w.add_subnet("subnet-1", "vpc-1", "10.0.0.0/24", "us-east-1a")
            .unwrap();
        w.add_route_table("rtb-1", "vpc-1", false, &["subnet-1"])
            .unwrap();
        w.add_route("rtb-1", "0.0.0.0/0", Target::Gateway("igw-1".into()))
            .unwrap();
        w.add_instance("i-1", "subnet-1").unwrap();
        w.add_instance("i-2", "subnet-1").unwrap();
        w.add_route("rtb-1", "10.244.1.0/24", Target::Instance("i-1".into()))
            .unwrap();
        w.add_route("rtb-1", "10.244.2.0/24", Target::Instance("i-2".into()))
            .unwrap();
        w
    }

    #[test]
    fn instance_targets_become_next_hops_blackholes_unreachable_and_the_rest_is_skipped() {
        let mut w = world();
        let ip1 = w.instance("i-1").unwrap().private_ip.unwrap();
        w.terminate_instance("i-2");
        let got = desired_routes(&w, "rtb-1").unwrap();
        let want: BTreeMap<IpNet, KernelTarget> = [
            ("10.244.1.0/24".parse().unwrap(), KernelTarget::Via(ip1)),
            ("10.244.2.0/24".parse().unwrap(), KernelTarget::Unreachable),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want, "local and gateway routes have no lab equivalent");
        assert!(matches!(
            desired_routes(&w, "rtb-nope"),
            Err(LabRouterError::NoTable(_))
        ));
    }
}
