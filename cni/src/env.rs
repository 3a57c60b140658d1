//! The `CNI_*` environment variables, read and validated per command as SPEC.md requires.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The verbs of CNI 1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Attach.
    Add,
    /// Detach (idempotent).
    Del,
    /// Verify an attachment.
    Check,
    /// Report supported versions.
    Version,
    /// Release everything not in the valid-attachments list.
    Gc,
    /// Is the plugin ready to serve ADDs?
    Status,
}

/// The environment of one invocation.
#[derive(Debug, Clone)]
pub struct Env {
    /// `CNI_COMMAND`.
    pub command: Command,
    /// `CNI_CONTAINERID` (ADD, DEL, CHECK).
    pub container_id: String,
    /// `CNI_NETNS` (required for ADD and CHECK, optional for DEL).
    pub netns: Option<PathBuf>,
    /// `CNI_IFNAME` (ADD, DEL, CHECK).
    pub ifname: String,
}

impl Env {
    /// Reads the environment through `get` (the process env in the binary, a map in tests).
    ///
    /// # Errors
    /// [`Error::InvalidEnv`] (code 4) for a missing or malformed variable.
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let command = match get("CNI_COMMAND").as_deref() {
            Some("ADD") => Command::Add,
            Some("DEL") => Command::Del,
            Some("CHECK") => Command::Check,
            Some("VERSION") => Command::Version,
            Some("GC") => Command::Gc,
            Some("STATUS") => Command::Status,
            Some(other) => {
                return Err(invalid("CNI_COMMAND", format!("unknown command {other:?}")));
            }
            None => return Err(invalid("CNI_COMMAND", "not set".into())),
        };
        let mut env = Env {
            command,
            container_id: String::new(),
            netns: None,
            ifname: String::new(),
        };
        if matches!(command, Command::Add | Command::Del | Command::Check) {
            let id = required(&get, "CNI_CONTAINERID")?;
            validate_container_id(&id)?;
            env.container_id = id;
            let ifname = required(&get, "CNI_IFNAME")?;
            validate_ifname(&ifname)?;
            env.ifname = ifname;
            env.netns = get("CNI_NETNS")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from);
            if command != Command::Del {
                if env.netns.is_none() {
                    return Err(invalid("CNI_NETNS", "not set".into()));
                }
                required(&get, "CNI_PATH")?;
            }
        }
        Ok(env)
    }
}

fn required(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<String> {
    get(name)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(name, "not set".into()))
}

fn invalid(name: &'static str, reason: String) -> Error {
    Error::InvalidEnv { name, reason }
}

/// SPEC.md: "alphanumeric, underscore, period, hyphen", starting alphanumeric. We also rely on it:
/// the ID goes into IPAM symlink targets and nftables comments, so it must never carry a `/`.
///
/// # Errors
/// [`Error::InvalidEnv`] naming `CNI_CONTAINERID`.
pub fn validate_container_id(id: &str) -> Result<()> {
    let ok = id.len() <= 256
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "CNI_CONTAINERID",
            format!("{id:?} is not a valid container ID"),
        ))
    }
}

/// The kernel's `dev_valid_name`: 1–15 bytes, not `.`/`..`, no `/`, `:` or whitespace.
///
/// # Errors
/// [`Error::InvalidEnv`] naming `CNI_IFNAME`.
pub fn validate_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "CNI_IFNAME",
            format!("{name:?} is not a valid interface name (1-15 bytes, no '/', ':' or spaces)"),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Env> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::read(|k| m.get(k).cloned())
    }

    #[test]
    fn add_needs_every_variable() {
        let full = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "abc"),
            ("CNI_NETNS", "/run/netns/x"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/opt/cni/bin"),
        ];
        assert!(env(&full).is_ok());
        for skip in 0..full.len() {
            let partial: Vec<_> = full
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, p)| *p)
                .collect();
            assert_eq!(
                env(&partial).unwrap_err().code(),
                4,
                "without {}",
                full[skip].0
            );
        }
    }

    #[test]
    fn del_tolerates_a_missing_netns_but_not_a_long_ifname() {
        let ok = env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "a"),
            ("CNI_IFNAME", "eth0"),
        ]);
        assert!(ok.unwrap().netns.is_none());
        let long = env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "a"),
            ("CNI_IFNAME", "a-name-that-is-too-long"),
        ]);
        assert_eq!(long.unwrap_err().code(), 4);
    }
}
