//! Masquerade with nftables: a static per-network table plus one set element per pod address.
//!
//! Layout (family `inet`, table `routeplane_<network>`):
//! ```text
//! set pods4    { type ipv4_addr; }                  # one element per pod, comment "<cid>/<ifname>"
//! set pods6    { type ipv6_addr; }
//! set nomasq4  { type ipv4_addr; flags interval; }  # nonMasqueradeCIDRs + pod ranges + 224/4
//! set nomasq6  { type ipv6_addr; flags interval; }
//! chain postrouting { type nat hook postrouting priority srcnat; policy accept;
//!     ip saddr @pods4 ip daddr != @nomasq4 masquerade
//!     ip6 saddr @pods6 ip6 daddr != @nomasq6 masquerade }
//! ```
//! ADD and DEL only touch set elements, in one nfnetlink transaction ([`crate::netlink::nft`]):
//! no process, no rule churn. The addresses DEL removes come from the IPAM store keyed by
//! container ID, so the pod's netns is not needed. The static part is (re)applied with one
//! `nft -f -` run when the table is missing or its definition changed (tracked by a stamp file
//! next to the IPAM store), under its own lock.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use ipnet::IpNet;
use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};
use crate::ipam::Range;
use crate::ipam::store::Owner;
use crate::names;
use crate::netlink::nft::{self, ElemOp};

/// The static definition of a network's table.
#[derive(Debug, Clone)]
pub struct MasqTable {
    /// Table name.
    pub table: String,
    nomasq4: Vec<IpNet>,
    nomasq6: Vec<IpNet>,
}

impl MasqTable {
    /// Builds the definition from the configured non-masquerade CIDRs and the pod ranges.
    pub fn new(network: &str, non_masq: &[IpNet], ranges: &[Vec<Range>]) -> Self {
        let mut all: Vec<IpNet> = non_masq.iter().map(IpNet::trunc).collect();
        all.extend(ranges.iter().flatten().map(|r| r.subnet.trunc()));
        all.push(IpNet::V4("224.0.0.0/4".parse().unwrap_or_default()));
        all.push(IpNet::V6("ff00::/8".parse().unwrap_or_default()));
        let all = collapse(all);
        MasqTable {
            table: names::nft_table(network),
            nomasq4: all.iter().filter(|n| n.addr().is_ipv4()).copied().collect(),
            nomasq6: all.iter().filter(|n| n.addr().is_ipv6()).copied().collect(),
        }
    }

    /// The idempotent `nft -f` script: re-running it rewrites the rules and the non-masquerade
    /// sets but keeps the pod elements.
    pub fn script(&self) -> String {
        let t = format!("inet {}", self.table);
        let mut s = format!(
            "add table {t}\n\
             add chain {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
             add set {t} pods4 {{ type ipv4_addr; }}\n\
             add set {t} pods6 {{ type ipv6_addr; }}\n\
             add set {t} nomasq4 {{ type ipv4_addr; flags interval; }}\n\
             add set {t} nomasq6 {{ type ipv6_addr; flags interval; }}\n\
             flush chain {t} postrouting\n\
             flush set {t} nomasq4\n\
             flush set {t} nomasq6\n"
        );
        for (set, nets) in [("nomasq4", &self.nomasq4), ("nomasq6", &self.nomasq6)] {
            if !nets.is_empty() {
                let list: Vec<String> = nets.iter().map(ToString::to_string).collect();
                s.push_str(&format!(
                    "add element {t} {set} {{ {} }}\n",
                    list.join(", ")
                ));
            }
        }
        s.push_str(&format!(
            "add rule {t} postrouting ip saddr @pods4 ip daddr != @nomasq4 masquerade comment \"routeplane pod masquerade\"\n\
             add rule {t} postrouting ip6 saddr @pods6 ip6 daddr != @nomasq6 masquerade comment \"routeplane pod masquerade\"\n"
        ));
        s
    }

    /// Applies the static part if the stamp in `state_dir` says it is missing or stale.
    ///
    /// # Errors
    /// [`Error::Nft`], [`Error::Io`].
    pub fn ensure(&self, state_dir: &Path, force: bool) -> Result<()> {
        let script = self.script();
        let stamp_path = state_dir.join("nft.stamp");
        let stamp = format!("{:016x}", fnv(&script));
        if !force && fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
            return Ok(());
        }
        let lock_path = state_dir.join("nft.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io("open", &lock_path, e))?;
        let _lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io("flock", &lock_path, e.into()))?;
        run_nft(&script)?;
        crate::killpoint::reached("masq_table_applied")?;
        let tmp = state_dir.join(".nft.stamp.tmp");
        let mut f = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(stamp.as_bytes())
            .map_err(|e| Error::io("write", &tmp, e))?;
        fs::rename(&tmp, &stamp_path).map_err(|e| Error::io("rename", &stamp_path, e))
    }

    /// Adds the pod's addresses in one transaction, creating the table first if needed.
    ///
    /// # Errors
    /// [`Error::Nft`], [`Error::Netlink`], [`Error::Io`].
    pub fn add_pod(&self, state_dir: &Path, owner: &Owner, addrs: &[IpAddr]) -> Result<()> {
        self.ensure(state_dir, false)?;
        let comment = owner.label();
        let ops: Vec<ElemOp<'_>> = addrs
            .iter()
            .map(|a| ElemOp::Add {
                set: set_of(*a),
                addr: *a,
                comment: &comment,
            })
            .collect();
        match nft::apply(&self.table, &ops) {
            // Someone removed the table (`nft flush ruleset`): rebuild it once and retry.
            Err(e) if e.errno() == Some(libc::ENOENT) => {
                self.ensure(state_dir, true)?;
                nft::apply(&self.table, &ops)
            }
            other => other,
        }
    }

    /// Removes the pod's addresses in one transaction; absent elements or table are fine.
    ///
    /// # Errors
    /// [`Error::Netlink`] for anything but "does not exist".
    pub fn remove_pod(&self, addrs: &[IpAddr]) -> Result<()> {
        // Add-then-delete in the same transaction makes the delete idempotent on kernels and
        // nft versions without `destroy`.
        let ops: Vec<ElemOp<'_>> = addrs
            .iter()
            .flat_map(|a| {
                [
                    ElemOp::Add {
                        set: set_of(*a),
                        addr: *a,
                        comment: "",
                    },
                    ElemOp::Delete {
                        set: set_of(*a),
                        addr: *a,
                    },
                ]
            })
            .collect();
        match nft::apply(&self.table, &ops) {
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(()),
            other => other,
        }
    }

    /// The pod elements currently in the table (empty when the table does not exist).
    ///
    /// # Errors
    /// [`Error::Nft`] when `nft` fails for another reason.
    pub fn pod_elements(&self) -> Result<Vec<IpAddr>> {
        let mut out = Vec::new();
        for set in ["pods4", "pods6"] {
            let o = Command::new("nft")
                .args(["-j", "list", "set", "inet", &self.table, set])
                .stdin(Stdio::null())
                .output()
                .map_err(|e| Error::Nft(format!("cannot run nft: {e}")))?;
            if !o.status.success() {
                // "No such file or directory": no table, nothing to report.
                continue;
            }
            let v: serde_json::Value = serde_json::from_slice(&o.stdout)
                .map_err(|e| Error::Nft(format!("nft -j output: {e}")))?;
            let elems = v["nftables"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x["set"]["elem"].as_array())
                .flatten();
            for e in elems {
                let val = e.as_str().or_else(|| e["elem"]["val"].as_str());
                if let Some(ip) = val.and_then(|s| s.parse().ok()) {
                    out.push(ip);
                }
            }
        }
        Ok(out)
    }

    /// GC: removes every pod element whose address is not in `keep`.
    ///
    /// # Errors
    /// As [`Self::pod_elements`] and [`Self::remove_pod`].
    pub fn gc(&self, keep: &HashSet<IpAddr>) -> Result<Vec<IpAddr>> {
        let stale: Vec<IpAddr> = self
            .pod_elements()?
            .into_iter()
            .filter(|ip| !keep.contains(ip))
            .collect();
        self.remove_pod(&stale)?;
        Ok(stale)
    }
}

fn set_of(a: IpAddr) -> &'static str {
    if a.is_ipv4() { "pods4" } else { "pods6" }
}

fn run_nft(script: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Nft(format!("cannot run nft: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| Error::Nft(format!("writing to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Nft(format!("waiting for nft: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Nft(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// Drops CIDRs contained in another one: interval sets reject overlapping elements.
fn collapse(mut nets: Vec<IpNet>) -> Vec<IpNet> {
    nets.sort_by_key(|n| (n.addr().is_ipv6(), n.prefix_len()));
    let mut out: Vec<IpNet> = Vec::new();
    for n in nets {
        if !out.iter().any(|o| o.contains(&n)) {
            out.push(n);
        }
    }
    out.sort();
    out
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nested_cidrs_collapse_and_families_split() {
        let t = MasqTable::new(
            "net-a",
            &["10.0.0.0/8".parse().unwrap(), "fd00::/48".parse().unwrap()],
            &[],
        );
        assert_eq!(t.table, "routeplane_net_a");
        let s = t.script();
        assert!(
            s.contains("add element inet routeplane_net_a nomasq4 { 10.0.0.0/8, 224.0.0.0/4 }"),
            "{s}"
        );
        assert!(s.contains("nomasq6 { fd00::/48, ff00::/8 }"), "{s}");
        assert_eq!(
            collapse(vec![
                "10.1.0.0/16".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap()
            ])
            .len(),
            1
        );
    }
}
