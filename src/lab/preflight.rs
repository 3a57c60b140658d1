//! Checks made before the lab creates anything, so bad input or a missing tool is a clear
//! error and never a half-built lab.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::names::Names;

/// What the checks need to know.
pub struct Preflight<'a> {
    pub names: &'a Names,
    /// The `routeplane-bridge` binary that will be installed on every node.
    pub plugin: &'a Path,
    /// The effective user id (0 for root).
    pub euid: u32,
    /// `PATH` to look the tools up in.
    pub path: Option<std::ffi::OsString>,
}

/// Tools the lab runs, and the Debian package each comes from.
const TOOLS: [(&str, &str); 2] = [("ip", "iproute2"), ("ping", "iputils-ping")];

/// Finds `tool` on `path`.
pub fn which(tool: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

impl Preflight<'_> {
    /// Everything except the name clash, which needs `ip`: root, tools, plugin.
    ///
    /// # Errors
    /// The first failed check, naming what is wrong and how to fix it.
    pub fn check_environment(&self) -> anyhow::Result<()> {
        if self.euid != 0 {
            bail!(
                "routeplane lab needs root: it creates network namespaces, bridges and veths (run it with sudo)"
            );
        }
        for (tool, package) in TOOLS {
            if which(tool, self.path.as_deref()).is_none() {
                bail!(
                    "routeplane lab needs the `{tool}` command (Debian package {package}); it is not on PATH"
                );
            }
        }
        if !self.plugin.is_file() {
            bail!(
                "the CNI plugin {} does not exist: build it (cargo build -p routeplane-cni) or pass --cni-bin-dir",
                self.plugin.display()
            );
        }
        Ok(())
    }

    /// No namespace or state of this run's prefix may exist yet.
    ///
    /// # Errors
    /// A clash, naming the namespaces and how to remove them.
    pub fn check_names(&self, existing_netns: &[String]) -> anyhow::Result<()> {
        let prefix = self.names.prefix();
        let clash: Vec<&String> = existing_netns
            .iter()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        if !clash.is_empty() || self.names.state_dir().exists() {
            bail!(
                "network namespaces or state of lab id {} already exist ({}): another lab is running or one crashed; run `routeplane lab clean --id {}` or pick another --id",
                self.names.id(),
                clash
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                self.names.id()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names::new("t1").unwrap()
    }

    #[test]
    fn each_bad_environment_is_refused_with_its_own_message() {
        let n = names();
        let exe = std::env::current_exe().unwrap_or_default();
        let tools = tempfile::tempdir().unwrap();
        for t in ["ip", "ping"] {
            std::fs::write(tools.path().join(t), b"").unwrap();
        }
        let ok = Preflight {
            names: &n,
            plugin: &exe,
            euid: 0,
            path: Some(tools.path().as_os_str().to_owned()),
        };
        assert!(ok.check_environment().is_ok());

        let err = |p: Preflight| {
            format!(
                "{:#}",
                p.check_environment()
                    .err()
                    .map_or_else(String::new, |e| e.to_string())
            )
        };
        let not_root = Preflight {
            euid: 1000,
            path: ok.path.clone(),
            ..ok
        };
        assert!(err(not_root).contains("needs root"));
        let empty = tempfile::tempdir().unwrap();
        let no_ip = Preflight {
            path: Some(empty.path().as_os_str().to_owned()),
            ..ok
        };
        assert!(err(no_ip).contains("`ip`"));
        let missing = Path::new("/nonexistent/routeplane-bridge");
        let no_plugin = Preflight {
            plugin: missing,
            path: ok.path.clone(),
            ..ok
        };
        assert!(err(no_plugin).contains("CNI plugin"));
    }

    #[test]
    fn a_namespace_with_the_run_prefix_is_a_clash() {
        let n = names();
        let exe = std::env::current_exe().unwrap_or_default();
        let p = Preflight {
            names: &n,
            plugin: &exe,
            euid: 0,
            path: None,
        };
        assert!(
            p.check_names(&["rpl-t2-vpc".into(), "other".into()])
                .is_ok()
        );
        let e = p
            .check_names(&["rpl-t1-vpc".into()])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("rpl-t1-vpc") && e.contains("lab clean --id t1"),
            "{e}"
        );
    }
}
