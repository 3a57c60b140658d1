//! Test harness: uniquely named network namespaces with Drop cleanup, a "node" namespace the
//! plugin runs in (so nothing touches the root namespace), plugin invocation, and small probes
//! (`ip -j`, `nft -j`, a TCP echo that reports the peer's address).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

pub const ROOT_ONLY: &str = "needs root (CAP_NET_ADMIN): creates network namespaces";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_routeplane-bridge")
}

/// Privileged tests must never pass without doing their work.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (CAP_NET_ADMIN) to create network namespaces; run it as root"
    );
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A named network namespace, deleted on drop (also when the test panics).
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("rpt-{tag}-{}-{n}", std::process::id());
        sh("ip", &["netns", "add", &name]);
        // Loopback up, so local sockets inside work.
        sh("ip", &["-n", &name, "link", "set", "lo", "up"]);
        Netns { name }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }

    /// Runs a command inside this namespace and returns stdout (panics on failure).
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        sh("ip", &full)
    }

    /// Runs a command inside, returning whether it succeeded.
    pub fn try_exec(&self, args: &[&str]) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `ip -j <args>` inside, parsed.
    pub fn ip_j(&self, args: &[&str]) -> Value {
        let mut full = vec!["-j", "-n", &self.name];
        full.extend_from_slice(args);
        let out = sh("ip", &full);
        if out.trim().is_empty() {
            json!([])
        } else {
            serde_json::from_str(&out).unwrap()
        }
    }

    /// The addresses (as `a.b.c.d/len`) on `dev` inside.
    pub fn addrs(&self, dev: &str) -> Vec<String> {
        let v = self.ip_j(&["addr", "show", "dev", dev]);
        v[0]["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["scope"] == "global")
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
            .collect()
    }

    /// Names of all links inside.
    pub fn links(&self) -> Vec<String> {
        self.ip_j(&["link", "show"])
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["ifname"].as_str().unwrap().to_string())
            .collect()
    }

    /// Pod elements of the network's masquerade sets (empty if the table does not exist).
    pub fn nft_pod_elements(&self, table: &str) -> Vec<String> {
        let mut out = Vec::new();
        for set in ["pods4", "pods6"] {
            let o = Command::new("ip")
                .args([
                    "netns", "exec", &self.name, "nft", "-j", "list", "set", "inet", table, set,
                ])
                .output()
                .unwrap();
            if !o.status.success() {
                continue;
            }
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            for item in v["nftables"].as_array().unwrap() {
                for e in item["set"]["elem"].as_array().into_iter().flatten() {
                    let s = e.as_str().or_else(|| e["elem"]["val"].as_str()).unwrap();
                    out.push(s.to_string());
                }
            }
        }
        out
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

pub fn sh(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A test node: a namespace that plays the host, plus its own IPAM dir.
pub struct Node {
    pub ns: Netns,
    pub data_dir: tempfile::TempDir,
    pub conf: Value,
}

/// The outcome of one plugin run.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub out: Value,
}

impl Run {
    pub fn code(&self) -> u64 {
        self.out["code"].as_u64().unwrap_or(0)
    }
}

impl Node {
    /// A node with a v4 /24 (and optionally a v6 /64), gateway, default route, masquerade on.
    pub fn new(tag: &str, v4: &str, v6: Option<&str>) -> Node {
        let ns = Netns::new(tag);
        let data_dir = tempfile::tempdir().unwrap();
        let mut ranges = vec![json!([{ "subnet": v4 }])];
        if let Some(v6) = v6 {
            ranges.push(json!([{ "subnet": v6 }]));
        }
        let conf = json!({
            "cniVersion": "1.1.0",
            "name": format!("net-{tag}"),
            "type": "routeplane-bridge",
            "bridge": "rpbr0",
            "isGateway": true,
            "isDefaultGateway": true,
            "ipMasq": true,
            "hairpinMode": true,
            "mtu": 1400,
            "nonMasqueradeCIDRs": ["10.200.0.0/16", "fd20::/48"],
            "ipam": { "ranges": ranges, "dataDir": data_dir.path() },
        });
        Node { ns, data_dir, conf }
    }

    pub fn table(&self) -> String {
        format!(
            "routeplane_{}",
            self.conf["name"].as_str().unwrap().replace('-', "_")
        )
    }

    pub fn store_dir(&self) -> PathBuf {
        self.data_dir
            .path()
            .join(self.conf["name"].as_str().unwrap())
    }

    /// Reservations currently in the IPAM store.
    pub fn reservations(&self) -> Vec<String> {
        std::fs::read_dir(self.store_dir())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.parse::<IpAddr>().is_ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Host veths of this network left in the node namespace.
    pub fn veths(&self) -> Vec<String> {
        self.ns
            .links()
            .into_iter()
            .filter(|l| l.starts_with("rp") && l.len() == 15)
            .collect()
    }

    /// Runs the plugin inside the node namespace.
    pub fn run(&self, command: &str, cid: &str, pod: Option<&Netns>, conf: &Value) -> Run {
        self.run_env(
            command,
            cid,
            pod.map(|p| p.path().display().to_string()),
            "eth0",
            conf,
            &[],
        )
    }

    pub fn run_env(
        &self,
        command: &str,
        cid: &str,
        netns: Option<String>,
        ifname: &str,
        conf: &Value,
        extra: &[(&str, &str)],
    ) -> Run {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns.name, bin()])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", command)
            .env("CNI_PATH", "/opt/cni/bin")
            .env("CNI_IFNAME", ifname);
        if !cid.is_empty() {
            c.env("CNI_CONTAINERID", cid);
        }
        if let Some(n) = netns {
            c.env("CNI_NETNS", n);
        }
        for (k, v) in extra {
            c.env(k, v);
        }
        exec(c, conf.to_string().into_bytes())
    }

    /// The network name of this node's configuration.
    pub fn network(&self) -> String {
        self.conf["name"].as_str().unwrap().to_string()
    }

    /// The host-side veth the plugin derives for `cid`/eth0.
    pub fn host_veth(&self, cid: &str) -> String {
        routeplane_cni::names::host_veth(&self.network(), cid, "eth0")
    }

    /// Every reservation as (address, owner), after checking that the store is well formed:
    /// every address entry is a symlink to `<cid>/<ifname>`, and nothing else is in the
    /// directory but the lock, the cursors and the nft stamp (a temp file a kill left behind
    /// is tolerated: the next write truncates and renames it).
    pub fn checked_reservations(&self) -> Vec<(IpAddr, String)> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(self.store_dir()) else {
            return out;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(ip) = name.parse::<IpAddr>() {
                let meta = std::fs::symlink_metadata(e.path()).unwrap();
                assert!(meta.file_type().is_symlink(), "{name} is not a symlink");
                let owner = std::fs::read_link(e.path()).unwrap();
                let owner = owner.to_str().unwrap().to_string();
                let (cid, ifname) = owner.split_once('/').expect("owner is cid/ifname");
                assert!(!cid.is_empty() && !ifname.is_empty(), "{name} -> {owner}");
                assert_eq!(ip.to_string(), name, "canonical entry name");
                out.push((ip, owner));
            } else {
                let known = name == "lock"
                    || name == "nft.lock"
                    || name == "nft.stamp"
                    || name == ".nft.stamp.tmp"
                    || name.strip_prefix("last_reserved.").is_some()
                    || (name.starts_with(".last_reserved.") && name.ends_with(".tmp"));
                assert!(known, "unexpected file {name} in the IPAM store");
            }
        }
        out.sort();
        out
    }

    /// How many rules the network's nft table holds (0 when it does not exist).
    pub fn nft_rule_count(&self) -> usize {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns.name,
                "nft",
                "-j",
                "list",
                "table",
                "inet",
            ])
            .arg(self.table())
            .output()
            .unwrap();
        if !o.status.success() {
            return 0;
        }
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i.get("rule").is_some())
            .count()
    }

    pub fn add(&self, cid: &str, pod: &Netns) -> Run {
        self.run("ADD", cid, Some(pod), &self.conf)
    }

    pub fn del(&self, cid: &str, pod: Option<&Netns>) -> Run {
        self.run("DEL", cid, pod, &self.conf)
    }
}

/// Runs `c` with `stdin` (written from a thread; a write error, e.g. the plugin stopped reading
/// an oversized stdin, is ignored) and parses stdout.
pub fn exec(mut c: Command, stdin: Vec<u8>) -> Run {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let o = child.wait_with_output().unwrap();
    let _ = writer.join();
    let text = String::from_utf8_lossy(&o.stdout);
    let out = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    Run {
        ok: o.status.success(),
        out,
    }
}

/// Runs the plugin directly (no namespace) with exactly `env` and `stdin`.
pub fn run_plugin(env: &[(&str, &str)], stdin: Vec<u8>) -> Run {
    let mut c = Command::new(bin());
    c.env_clear().envs(env.iter().copied());
    exec(c, stdin)
}

/// The first address of a result, without prefix length.
pub fn result_ip(out: &Value, i: usize) -> IpAddr {
    let a = out["ips"][i]["address"].as_str().unwrap();
    a.split('/').next().unwrap().parse().unwrap()
}

/// Runs `f` on a thread that has entered `ns`'s network namespace.
pub fn in_netns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    let file = std::fs::File::open(ns.path()).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

/// Starts a TCP server in `server` on `ip:port` that answers each connection with the peer's
/// address as it sees it, connects from `client`, and returns that address.
pub fn source_seen_by(server: &Netns, ip: IpAddr, client: &Netns) -> IpAddr {
    let addr = SocketAddr::new(ip, 7777);
    let listener = in_netns(server, || TcpListener::bind(addr).unwrap());
    let handle = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        s.write_all(peer.ip().to_string().as_bytes()).unwrap();
    });
    let seen = in_netns(client, || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).unwrap();
        buf
    });
    handle.join().unwrap();
    seen.parse().unwrap()
}
