//! The network configuration on stdin: parsing, defaults and validation.
//!
//! Parsing is two-step so errors get the right CNI code: bytes → JSON value (code 6 on failure),
//! then value → [`NetConf`] (code 7 for a missing or mistyped key). Unknown keys are ignored, as
//! the spec requires (runtimes add `runtimeConfig`, `args`, `prevResult`, …).

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// The CNI versions this plugin speaks, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.4.0", "1.0.0", "1.1.0"];

/// Default IPAM store location.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/routeplane";

/// Default bridge name.
pub const DEFAULT_BRIDGE: &str = "rp0";

/// The plugin configuration (one entry of a conflist's `plugins`, with `name`/`cniVersion`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetConf {
    /// Requested result version.
    #[serde(default)]
    pub cni_version: Option<String>,
    /// Conflist-level list of versions (CNI 1.1); used when `cniVersion` is absent.
    #[serde(default)]
    pub cni_versions: Option<Vec<String>>,
    /// The network name; keys the IPAM store and the nftables table.
    pub name: String,
    /// Bridge to create or reuse.
    #[serde(default = "default_bridge")]
    pub bridge: String,
    /// Put the gateway address on the bridge.
    #[serde(default)]
    pub is_gateway: bool,
    /// Give the pod a default route via the gateway (implies `isGateway`).
    #[serde(default)]
    pub is_default_gateway: bool,
    /// Masquerade traffic from pods to destinations outside `nonMasqueradeCIDRs`.
    #[serde(default)]
    pub ip_masq: bool,
    /// Destinations that keep the pod's source address (the cluster CIDR). The pod ranges and
    /// multicast are always added.
    #[serde(default, rename = "nonMasqueradeCIDRs")]
    pub non_masquerade_cidrs: Vec<IpNet>,
    /// MTU of the bridge (when created) and both veth ends.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Hairpin mode on the host end.
    #[serde(default)]
    pub hairpin_mode: bool,
    /// Promiscuous mode on the bridge.
    #[serde(default)]
    pub promisc_mode: bool,
    /// Built-in host-local style IPAM.
    pub ipam: IpamConf,
    /// DNS settings copied into the result.
    #[serde(default)]
    pub dns: Option<Value>,
    /// The previous plugin's result (chaining), or ADD's result on CHECK.
    #[serde(default)]
    pub prev_result: Option<Value>,
    /// GC: attachments that are still valid (CNI 1.1).
    #[serde(default, rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Option<Vec<Attachment>>,
    /// GC: the pre-release key for the same list.
    #[serde(default, rename = "cni.dev/attachments")]
    pub attachments: Option<Vec<Attachment>>,
}

/// An attachment as GC names it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// `CNI_CONTAINERID` of the attachment.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// `CNI_IFNAME` of the attachment.
    pub ifname: String,
}

/// The `ipam` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamConf {
    /// Ignored: the IPAM is built in. Kept so host-local configs parse unchanged.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Range sets: one address is allocated from each set, from its first range with space.
    #[serde(default)]
    pub ranges: Vec<Vec<RangeConf>>,
    /// Shorthand for a single range set with a single range.
    #[serde(default)]
    pub subnet: Option<IpNet>,
    /// Extra routes for the pod.
    #[serde(default)]
    pub routes: Vec<RouteConf>,
    /// Where reservations live.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
}

/// One range of a range set.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RangeConf {
    /// The subnet (prefix length of the pod's address).
    pub subnet: IpNet,
    /// First allocatable address (default: network + 1).
    #[serde(default)]
    pub range_start: Option<IpAddr>,
    /// Last allocatable address (default: broadcast − 1, or the last address for IPv6).
    #[serde(default)]
    pub range_end: Option<IpAddr>,
    /// Gateway (default: network + 1); never allocated.
    #[serde(default)]
    pub gateway: Option<IpAddr>,
}

/// An extra pod route.
#[derive(Debug, Clone, Deserialize)]
pub struct RouteConf {
    /// Destination.
    pub dst: IpNet,
    /// Next hop (default: the range set's gateway of the same family).
    #[serde(default)]
    pub gw: Option<IpAddr>,
}

fn default_bridge() -> String {
    DEFAULT_BRIDGE.to_string()
}

impl NetConf {
    /// Decodes stdin; code 6 for non-JSON, 7 for a bad shape.
    ///
    /// # Errors
    /// [`Error::Decode`], [`Error::InvalidConfig`].
    pub fn parse(stdin: &[u8]) -> Result<Self> {
        let value = parse_json(stdin)?;
        let conf: NetConf =
            serde_json::from_value(value).map_err(|e| Error::InvalidConfig(e.to_string()))?;
        conf.validate()?;
        Ok(conf)
    }

    fn validate(&self) -> Result<()> {
        // SPEC.md's alphabet for network names. The name keys a directory and an nft table, so
        // it must never carry a path separator; rejecting (rather than mapping) also keeps two
        // distinct names from sharing one store.
        let name_ok = self.name.len() <= 128
            && self.name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !name_ok {
            return Err(Error::InvalidConfig(format!(
                "network name {:?} must start with a letter or digit and contain only letters, \
                 digits, '_', '.' and '-' (at most 128)",
                self.name
            )));
        }
        if let Some(dir) = &self.ipam.data_dir
            && !dir.is_absolute()
        {
            return Err(Error::InvalidConfig(format!(
                "ipam.dataDir {} must be an absolute path (a relative one depends on the \
                 runtime's working directory)",
                dir.display()
            )));
        }
        if crate::env::validate_ifname(&self.bridge).is_err() {
            return Err(Error::InvalidConfig(format!(
                "bridge name {:?} is not a valid interface name",
                self.bridge
            )));
        }
        if let Some(mtu) = self.mtu
            && !(68..=65535).contains(&mtu)
        {
            return Err(Error::InvalidConfig(format!("mtu {mtu} is out of range")));
        }
        Ok(())
    }

    /// The version the result must be written in.
    ///
    /// # Errors
    /// [`Error::IncompatibleVersion`] for anything outside [`SUPPORTED_VERSIONS`].
    pub fn version(&self) -> Result<&'static str> {
        if let Some(v) = &self.cni_version {
            return supported(v).ok_or_else(|| Error::IncompatibleVersion(v.clone()));
        }
        if let Some(vs) = &self.cni_versions {
            return vs
                .iter()
                .filter_map(|v| supported(v))
                .max_by_key(|v| SUPPORTED_VERSIONS.iter().position(|s| s == v))
                .ok_or_else(|| Error::IncompatibleVersion(vs.join(",")));
        }
        Err(Error::IncompatibleVersion(String::new()))
    }

    /// `isDefaultGateway` implies `isGateway`, as in the reference plugin.
    pub fn gateway_on_bridge(&self) -> bool {
        self.is_gateway || self.is_default_gateway
    }

    /// The IPAM store directory.
    pub fn data_dir(&self) -> PathBuf {
        self.ipam
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    /// The GC keep-list, from the 1.1 key or the older one.
    pub fn gc_attachments(&self) -> Vec<Attachment> {
        self.valid_attachments
            .clone()
            .or_else(|| self.attachments.clone())
            .unwrap_or_default()
    }
}

/// Parses bytes as JSON, mapping failures (empty input included) to code 6.
///
/// # Errors
/// [`Error::Decode`].
pub fn parse_json(stdin: &[u8]) -> Result<Value> {
    serde_json::from_slice(stdin).map_err(Error::Decode)
}

/// Maps a requested version onto our static list.
pub fn supported(v: &str) -> Option<&'static str> {
    SUPPORTED_VERSIONS.iter().copied().find(|s| *s == v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::code;

    fn parse(s: &str) -> Result<NetConf> {
        NetConf::parse(s.as_bytes())
    }

    #[test]
    fn empty_stdin_is_a_decode_error() {
        assert_eq!(parse("").map(drop).unwrap_err().code(), code::DECODE);
        assert_eq!(
            parse("{\"name\":").map(drop).unwrap_err().code(),
            code::DECODE
        );
    }

    #[test]
    fn missing_name_and_mistyped_keys_are_invalid_config() {
        let e = parse(r#"{"cniVersion":"1.0.0","ipam":{}}"#).unwrap_err();
        assert_eq!(e.code(), code::INVALID_CONFIG, "{e}");
        let e = parse(r#"{"cniVersion":"1.0.0","name":"n","mtu":"big","ipam":{}}"#).unwrap_err();
        assert_eq!(e.code(), code::INVALID_CONFIG, "{e}");
    }

    #[test]
    fn unknown_keys_are_ignored_and_versions_resolved() {
        let c = parse(r#"{"cniVersion":"0.4.0","name":"n","whatever":[1],"ipam":{}}"#).unwrap();
        assert_eq!(c.version().unwrap(), "0.4.0");
        let c = parse(r#"{"cniVersions":["0.3.1","1.0.0","1.1.0"],"name":"n","ipam":{}}"#).unwrap();
        assert_eq!(c.version().unwrap(), "1.1.0");
        let c = parse(r#"{"cniVersion":"0.3.1","name":"n","ipam":{}}"#).unwrap();
        assert_eq!(c.version().unwrap_err().code(), code::INCOMPATIBLE_VERSION);
    }
}
