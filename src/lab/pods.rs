//! Pods: a namespace per pod, attached to its node by the real `routeplane-bridge` plugin
//! invoked through the CNI interface, exactly as a container runtime would: inside the node's
//! namespace, the conflist's plugin config on stdin (with the list's name and version), the
//! CNI_* environment, the result JSON on stdout.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use super::shell::{ip, ip_in, netns_path};
use super::topology::{Lab, Pod};

/// Where a node's runtime finds its CNI config and plugins.
#[derive(Debug, Clone)]
pub struct CniDirs {
    /// The directory holding `10-routeplane.conflist`.
    pub conf_dir: PathBuf,
    /// The directory holding `routeplane-bridge`.
    pub bin_dir: PathBuf,
}

/// The first plugin of a conflist, with the list's `name` and `cniVersion` as the runtime adds.
///
/// # Errors
/// A missing or malformed conflist.
pub fn plugin_config(conflist: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(conflist)
        .with_context(|| format!("reading {}", conflist.display()))?;
    let list: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", conflist.display()))?;
    let mut plugin = list["plugins"][0].clone();
    if !plugin.is_object() {
        bail!("{} has no plugins", conflist.display());
    }
    plugin["name"] = list["name"].clone();
    plugin["cniVersion"] = list["cniVersion"].clone();
    Ok(plugin)
}

impl Lab {
    /// Creates pod `index` of `node` and runs CNI ADD for it.
    ///
    /// # Errors
    /// An unknown node, `ip` failures, or the plugin's error result.
    pub fn add_pod(&mut self, node: &str, index: usize, cni: &CniDirs) -> anyhow::Result<Pod> {
        let node_ns = self
            .node(node)
            .with_context(|| format!("no node {node}"))?
            .netns
            .clone();
        let netns = self.names.pod_ns(node, index);
        ip(&["netns", "add", &netns])?;
        ip_in(&netns, &["link", "set", "lo", "up"])?;
        let conf = plugin_config(
            &cni.conf_dir
                .join(routeplane_cni::agent::conflist::CONFLIST_NAME),
        )?;
        let plugin = cni.bin_dir.join("routeplane-bridge");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &node_ns])
            .arg(&plugin)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", "ADD")
            .env("CNI_CONTAINERID", &netns)
            .env("CNI_NETNS", netns_path(&netns))
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", &cni.bin_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", plugin.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(conf.to_string().as_bytes())?;
        }
        let out = child.wait_with_output()?;
        let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if !out.status.success() {
            bail!(
                "CNI ADD of {netns} on {node} failed: {} {}",
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let address = result["ips"][0]["address"]
            .as_str()
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse::<IpAddr>().ok())
            .with_context(|| format!("CNI ADD of {netns} returned no address: {result}"))?;
        let pod = Pod {
            name: format!("{node}p{index}"),
            netns,
            ip: address,
            node: node.into(),
        };
        self.pods.push(pod.clone());
        Ok(pod)
    }
}
