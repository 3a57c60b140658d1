//! The CNI network configuration list the agent writes for the node.

use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde_json::json;

use super::files;
use crate::error::Result;

/// The conflist's file name; `10-` sorts it before other plugins' configs.
pub const CONFLIST_NAME: &str = "10-routeplane.conflist";

/// Everything the conflist is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflistSpec {
    /// Network name (keys the IPAM store and the nftables table).
    pub network_name: String,
    /// Bridge name.
    pub bridge: String,
    /// The node's Pod CIDRs, one range set each (dual-stack: one per family).
    pub pod_cidrs: Vec<IpNet>,
    /// MTU for the bridge and veths (the uplink's, see [`super::uplink`]).
    pub mtu: u32,
    /// Masquerade traffic leaving `cluster_cidrs`.
    pub ip_masq: bool,
    /// Destinations that keep the pod's IP (the cluster CIDRs).
    pub cluster_cidrs: Vec<IpNet>,
    /// IPAM store directory.
    pub data_dir: PathBuf,
    /// Hairpin mode on pod ports.
    pub hairpin: bool,
}

impl ConflistSpec {
    /// A spec with routeplane's defaults for the given node ranges.
    pub fn new(pod_cidrs: Vec<IpNet>, mtu: u32) -> Self {
        ConflistSpec {
            network_name: "routeplane".into(),
            bridge: crate::config::DEFAULT_BRIDGE.into(),
            pod_cidrs,
            mtu,
            ip_masq: true,
            cluster_cidrs: Vec::new(),
            data_dir: PathBuf::from(crate::config::DEFAULT_DATA_DIR),
            hairpin: true,
        }
    }

    /// The conflist JSON (pretty, stable key order, trailing newline).
    pub fn render(&self) -> String {
        let ranges: Vec<_> = self
            .pod_cidrs
            .iter()
            .map(|c| json!([{ "subnet": c.trunc().to_string() }]))
            .collect();
        let v = json!({
            "cniVersion": "1.0.0",
            "cniVersions": ["1.0.0", "1.1.0"],
            "name": self.network_name,
            "plugins": [{
                "type": "routeplane-bridge",
                "bridge": self.bridge,
                "isGateway": true,
                "isDefaultGateway": true,
                "ipMasq": self.ip_masq,
                "nonMasqueradeCIDRs": self.cluster_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "hairpinMode": self.hairpin,
                "mtu": self.mtu,
                "ipam": {
                    "ranges": ranges,
                    "dataDir": self.data_dir,
                },
            }],
        });
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Writes `<conf_dir>/10-routeplane.conflist` atomically when its content changed.
/// Returns whether it wrote.
///
/// # Errors
/// I/O errors.
pub fn write_conflist(conf_dir: &Path, spec: &ConflistSpec) -> Result<bool> {
    files::write_if_changed(
        &conf_dir.join(CONFLIST_NAME),
        spec.render().as_bytes(),
        0o644,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::NetConf;

    #[test]
    fn rendered_conflist_is_a_valid_plugin_config_and_rewritten_only_on_change() {
        let mut spec = ConflistSpec::new(
            vec![
                "10.244.3.0/24".parse().unwrap(),
                "fd00:10:244:3::/64".parse().unwrap(),
            ],
            8951,
        );
        spec.cluster_cidrs = vec!["10.244.0.0/16".parse().unwrap()];
        let text = spec.render();
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut plugin = list["plugins"][0].clone();
        plugin["name"] = list["name"].clone();
        plugin["cniVersion"] = list["cniVersion"].clone();
        let conf = NetConf::parse(plugin.to_string().as_bytes()).unwrap();
        assert_eq!(conf.mtu, Some(8951));
        assert_eq!(crate::ipam::range_sets(&conf.ipam).unwrap().len(), 2);

        let dir = tempfile::tempdir().unwrap();
        assert!(write_conflist(dir.path(), &spec).unwrap());
        assert!(!write_conflist(dir.path(), &spec).unwrap());
        spec.pod_cidrs.pop();
        assert!(write_conflist(dir.path(), &spec).unwrap());
    }
}
