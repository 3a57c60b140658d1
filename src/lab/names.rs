//! Every name the lab gives a namespace, bridge or veth, derived from one run prefix
//! `rpl-<id>`: `lab clean` finds leftovers by the base prefix `rpl-`, and the per-run id keeps
//! parallel runs (tests) from clashing. Interface names stay within the kernel's 15 bytes.

use anyhow::bail;

/// What every lab object's name starts with.
pub const BASE_PREFIX: &str = "rpl-";

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

/// Names for one lab run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    id: String,
}

impl Names {
    /// Names for run `id` (1–4 lowercase letters or digits).
    ///
    /// # Errors
    /// An id that would make names too long or unsafe for `ip`.
    pub fn new(id: &str) -> anyhow::Result<Self> {
        if id.is_empty()
            || id.len() > 4
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            bail!("lab id {id:?} must be 1-4 lowercase letters or digits");
        }
        Ok(Self { id: id.into() })
    }

    /// A fresh id from the process id and the clock: two labs started together differ.
    pub fn random() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mix = (std::process::id() ^ nanos.rotate_left(7)) & 0xffff;
        Self {
            id: format!("{mix:04x}"),
        }
    }

    /// The run id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `rpl-<id>-`: everything of this run starts with it.
    pub fn prefix(&self) -> String {
        format!("{BASE_PREFIX}{}-", self.id)
    }

    /// The VPC router namespace.
    pub fn router_ns(&self) -> String {
        format!("{}vpc", self.prefix())
    }

    /// A node's namespace.
    pub fn node_ns(&self, node: &str) -> String {
        format!("{}{node}", self.prefix())
    }

    /// A pod's namespace.
    pub fn pod_ns(&self, node: &str, pod: usize) -> String {
        format!("{}{node}-p{pod}", self.prefix())
    }

    /// The router's bridge for subnet `k` (in the router namespace).
    pub fn subnet_bridge(&self, k: usize) -> anyhow::Result<String> {
        ifname(format!("{}s{k}", self.prefix()))
    }

    /// The router-side end of a node's uplink veth (a port of the subnet bridge).
    pub fn node_port(&self, node: &str) -> anyhow::Result<String> {
        ifname(format!("{}{node}", self.prefix()))
    }

    /// Per-run scratch directory (CNI config, plugin copy, IPAM store of every node).
    pub fn state_dir(&self) -> std::path::PathBuf {
        std::path::Path::new(STATE_ROOT).join(self.prefix().trim_end_matches('-'))
    }
}

/// Where runs keep their files; `lab clean` removes `rpl-*` under it.
pub const STATE_ROOT: &str = "/run/routeplane-lab";

fn ifname(name: String) -> anyhow::Result<String> {
    if name.len() > IFNAME_MAX {
        bail!("interface name {name} is longer than {IFNAME_MAX} bytes");
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_share_the_run_prefix_and_fit_the_kernel_limit() {
        let n = Names::new("ab12").unwrap();
        assert_eq!(n.router_ns(), "rpl-ab12-vpc");
        assert_eq!(n.pod_ns("n3", 1), "rpl-ab12-n3-p1");
        assert_eq!(n.node_port("n15").ok().as_deref(), Some("rpl-ab12-n15"));
        assert!(n.node_port("n123456").is_err(), "16 bytes is refused");
        assert!(Names::new("AB").is_err());
        assert!(Names::new("abcde").is_err());
        assert!(Names::new("").is_err());
        let r = Names::random();
        assert!(Names::new(r.id()).is_ok());
        assert!(r.state_dir().ends_with(format!("rpl-{}", r.id())));
    }
}
