//! The plugin's entry point: read env and stdin, dispatch the verb, print the result or the CNI
//! error JSON. This is the one place that maps errors to stdout and an exit code.

mod add;
mod check;
mod del;
mod gc;
mod network;

use std::io::{Read, Write};

use serde_json::{Value, json};

use crate::config::{self, NetConf, SUPPORTED_VERSIONS};
use crate::env::{Command, Env};
use crate::error::{Error, Result};

pub use self::network::Network;

/// The most stdin we read. A conflist entry with a `prevResult` is a few KiB and a GC list of
/// every attachment on a node well under 1 MiB; anything near this is hostile or broken, and
/// reading it unbounded would let a caller exhaust the node's memory.
pub const MAX_STDIN: u64 = 4 << 20;

/// Runs one invocation with the process environment and stdin; returns the exit code.
pub fn main() -> i32 {
    let mut stdin = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(MAX_STDIN + 1)
        .read_to_end(&mut stdin);
    let (out, code) = match read {
        Ok(n) if n as u64 > MAX_STDIN => (
            Some(error_json(
                "1.1.0",
                &Error::StdinTooLarge { limit: MAX_STDIN },
            )),
            1,
        ),
        Ok(_) => run(|k| std::env::var(k).ok(), &stdin),
        Err(e) => (Some(error_json("1.1.0", &Error::io("read", "stdin", e))), 1),
    };
    if let Some(v) = out {
        let mut o = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut o, &v);
        let _ = o.write_all(b"\n");
        let _ = o.flush();
    }
    code
}

/// Runs one invocation; returns what to print (if anything) and the exit code.
pub fn run(get: impl Fn(&str) -> Option<String>, stdin: &[u8]) -> (Option<Value>, i32) {
    // The version used for error JSON: the requested one if we can read it.
    let requested = config::parse_json(stdin)
        .ok()
        .and_then(|v| v["cniVersion"].as_str().and_then(config::supported))
        .unwrap_or("1.1.0");
    match dispatch(get, stdin) {
        Ok(out) => (out, 0),
        Err(e) => (Some(error_json(requested, &e)), 1),
    }
}

fn dispatch(get: impl Fn(&str) -> Option<String>, stdin: &[u8]) -> Result<Option<Value>> {
    let env = Env::read(get)?;
    if env.command == Command::Version {
        // VERSION must answer even for a config it cannot parse.
        let requested = config::parse_json(stdin)
            .ok()
            .and_then(|v| v["cniVersion"].as_str().and_then(config::supported))
            .unwrap_or("1.1.0");
        return Ok(Some(json!({
            "cniVersion": requested,
            "supportedVersions": SUPPORTED_VERSIONS,
        })));
    }
    let conf = NetConf::parse(stdin)?;
    let version = conf.version()?;
    match env.command {
        Command::Add => add::add(&env, &conf, version).map(Some),
        Command::Del => del::del(&env, &conf).map(|()| None),
        Command::Check => check::check(&env, &conf).map(|()| None),
        Command::Gc => gc::gc(&conf).map(|()| None),
        Command::Status => status(&conf).map(|()| None),
        Command::Version => Ok(None),
    }
}

/// STATUS: ready when the config carries at least one usable range (the agent writes the
/// conflist from the node's podCIDRs; without one, ADDs cannot succeed).
fn status(conf: &NetConf) -> Result<()> {
    let sets = match crate::ipam::range_sets(&conf.ipam) {
        Ok(s) => s,
        Err(e) => return Err(Error::NotAvailable(format!("no usable Pod CIDR: {e}"))),
    };
    if sets.is_empty() {
        return Err(Error::NotAvailable(
            "no usable Pod CIDR: the IPAM configuration has no ranges yet".into(),
        ));
    }
    Ok(())
}

fn error_json(version: &str, e: &Error) -> Value {
    let mut details = String::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if !details.is_empty() {
            details.push_str(": ");
        }
        details.push_str(&s.to_string());
        src = s.source();
    }
    let mut v = json!({
        "cniVersion": version,
        "code": e.code(),
        "msg": e.to_string(),
    });
    if !details.is_empty() {
        v["details"] = json!(details);
    }
    v
}
