//! Hostile input to the plugin: path traversal and junk in `CNI_CONTAINERID`, `CNI_IFNAME`,
//! `CNI_NETNS` and the network name, oversized or deeply nested stdin. Each gets a clear CNI
//! error, and nothing is written anywhere: the whole data directory tree is compared before and
//! after, and (as root) the node's links, addresses and nft ruleset too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{Value, json};

/// Container IDs that try to climb out of the store or smuggle a separator into the owner.
const BAD_CONTAINER_IDS: &[&str] = &[
    "../../../../etc/passwd",
    "..",
    ".",
    "a/../../b",
    "abc/def",
    "/abs",
    ".hidden",
    "-dash",
    "a b",
    "a\nb",
    "a\\b",
    "c*",
    "ünïcödé",
];

/// Interface names that are paths, separators or too long for the kernel.
const BAD_IFNAMES: &[&str] = &[
    "../eth0",
    "eth0/../../x",
    "..",
    ".",
    "/",
    "a:b",
    "eth 0",
    "eth\t0",
    "sixteen-bytes-xx",
    "",
];

/// Every file, directory and symlink under `root` with its symlink target or size.
fn tree(root: &Path) -> Vec<String> {
    fn walk(p: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(p) else {
            return;
        };
        for e in rd.flatten() {
            let path = e.path();
            let m = std::fs::symlink_metadata(&path).unwrap();
            if m.file_type().is_symlink() {
                out.push(format!(
                    "{} -> {:?}",
                    path.display(),
                    std::fs::read_link(&path)
                ));
            } else if m.is_dir() {
                out.push(format!("{}/", path.display()));
                walk(&path, out);
            } else {
                out.push(format!("{} ({} bytes)", path.display(), m.len()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out
}

fn conf(data_dir: &Path, name: &str) -> Value {
    json!({
        "cniVersion": "1.1.0",
        "name": name,
        "type": "routeplane-bridge",
        "bridge": "rpbr0",
        "isDefaultGateway": true,
        "ipMasq": true,
        "ipam": { "ranges": [[{"subnet": "10.200.30.0/24"}]], "dataDir": data_dir },
    })
}

fn env<'a>(
    verb: &'a str,
    cid: &'a str,
    ifname: &'a str,
    netns: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CNI_COMMAND", verb),
        ("CNI_CONTAINERID", cid),
        ("CNI_IFNAME", ifname),
        ("CNI_NETNS", netns),
        ("CNI_PATH", "/opt/cni/bin"),
    ]
}

fn assert_code(r: &Run, code: u64, needle: &str, ctx: &str) {
    assert!(!r.ok, "{ctx}: accepted: {r:?}");
    assert_eq!(r.code(), code, "{ctx}: {r:?}");
    let msg = r.out["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains(needle),
        "{ctx}: message {msg:?} lacks {needle:?}"
    );
}

#[test]
fn traversal_in_the_container_id_or_ifname_is_refused_before_anything_is_written() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("store");
    let stdin = conf(&data, "net").to_string().into_bytes();
    let before = tree(root.path());
    for verb in ["ADD", "DEL", "CHECK"] {
        for cid in BAD_CONTAINER_IDS {
            let r = run_plugin(&env(verb, cid, "eth0", "/run/netns/none"), stdin.clone());
            assert_code(&r, 4, "CNI_CONTAINERID", &format!("{verb} cid {cid:?}"));
        }
        for ifname in BAD_IFNAMES {
            let r = run_plugin(&env(verb, "c1", ifname, "/run/netns/none"), stdin.clone());
            // An empty variable counts as unset (still code 4, naming the variable).
            assert_code(&r, 4, "CNI_IFNAME", &format!("{verb} ifname {ifname:?}"));
        }
    }
    // A container ID longer than the spec allows.
    let long = "a".repeat(257);
    let r = run_plugin(&env("ADD", &long, "eth0", "/run/netns/none"), stdin);
    assert_code(&r, 4, "CNI_CONTAINERID", "257-byte container ID");
    assert_eq!(tree(root.path()), before, "something was written");
}

#[test]
fn a_network_name_or_data_dir_that_is_a_path_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("store");
    let before = tree(root.path());
    for name in [
        "../../escape",
        "a/b",
        "/etc",
        "..",
        ".x",
        "",
        "x y",
        &"n".repeat(129),
    ] {
        let r = run_plugin(
            &env("ADD", "c1", "eth0", "/run/netns/none"),
            conf(&data, name).to_string().into_bytes(),
        );
        assert_code(&r, 7, "network name", &format!("name {name:?}"));
    }
    let mut relative = conf(&data, "net");
    relative["ipam"]["dataDir"] = json!("var/lib/cni");
    let r = run_plugin(
        &env("ADD", "c1", "eth0", "/run/netns/none"),
        relative.to_string().into_bytes(),
    );
    assert_code(&r, 7, "absolute", "relative dataDir");
    let mut bridge = conf(&data, "net");
    bridge["bridge"] = json!("../br");
    let r = run_plugin(
        &env("ADD", "c1", "eth0", "/run/netns/none"),
        bridge.to_string().into_bytes(),
    );
    assert_code(&r, 7, "bridge", "bridge name with a slash");
    assert_eq!(tree(root.path()), before, "something was written");
}

#[test]
fn oversized_or_deeply_nested_stdin_is_a_clear_decode_error() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("store");
    let before = tree(root.path());
    let e = env("ADD", "c1", "eth0", "/run/netns/none");
    // 64 MiB of an otherwise valid config (padding in an ignored key): refused at the limit,
    // without reading the rest.
    let mut big = conf(&data, "net");
    big["padding"] = json!("x".repeat(64 << 20));
    let r = run_plugin(&e, big.to_string().into_bytes());
    assert_code(&r, 6, "larger than", "64 MiB stdin");
    // Exactly at the limit is still read (and then judged on its content).
    let limit = usize::try_from(routeplane_cni::plugin::MAX_STDIN).unwrap();
    let r = run_plugin(&e, vec![b' '; limit]);
    assert_code(&r, 6, "decode", "whitespace up to the limit");
    // Nesting far past serde_json's recursion limit: an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = run_plugin(&e, deep.into_bytes());
    assert_code(&r, 6, "decode", "deep nesting");
    let deep_prev = format!(
        r#"{{"cniVersion":"1.1.0","name":"net","ipam":{{}},"prevResult":{}{}}}"#,
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    let r = run_plugin(&e, deep_prev.into_bytes());
    assert_code(&r, 6, "decode", "deep prevResult");
    // Not UTF-8.
    let r = run_plugin(&e, vec![0xff, 0xfe, 0x00, 0x7b]);
    assert_code(&r, 6, "decode", "binary stdin");
    assert_eq!(tree(root.path()), before, "something was written");
}

/// The node's kernel state the plugin could change: links, addresses, nft ruleset.
fn kernel_state(node: &Node) -> (Value, Value, String) {
    (
        node.ns.ip_j(&["link", "show"]),
        node.ns.ip_j(&["addr", "show"]),
        node.ns.exec(&["nft", "list", "ruleset"]),
    )
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn a_netns_path_that_is_not_a_netns_is_refused_and_nothing_changes() {
    require_root();
    let node = Node::new("hostile", "10.200.31.0/24", None);
    let pod = Netns::new("hostile-p");
    // Make the node's bridge and table exist, so "nothing changes" covers them too.
    assert!(node.add("ok", &pod).ok);
    let kernel = kernel_state(&node);
    let files = tree(node.data_dir.path());
    let outside = tempfile::tempdir().unwrap();
    let fifo = outside.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let not_netns: Vec<PathBuf> = vec![
        "/etc/passwd".into(),
        "/".into(),
        "/dev/null".into(),
        "/proc/self/ns/mnt".into(),
        "/run/netns/../../etc/shadow".into(),
        format!("{}/../../../../etc/hostname", pod.path().display()).into(),
        "/run/netns/rpt-no-such-netns".into(),
        outside.path().into(),
    ];
    for path in &not_netns {
        let r = node.run_env(
            "ADD",
            "evil",
            Some(path.display().to_string()),
            "eth0",
            &node.conf,
            &[],
        );
        assert_code(&r, 3, "netns", &format!("CNI_NETNS {}", path.display()));
        let r = node.run_env(
            "CHECK",
            "ok",
            Some(path.display().to_string()),
            "eth0",
            &node.conf,
            &[],
        );
        assert_code(
            &r,
            3,
            "netns",
            &format!("CHECK CNI_NETNS {}", path.display()),
        );
    }
    assert_eq!(
        kernel_state(&node),
        kernel,
        "the node's kernel state changed"
    );
    assert_eq!(tree(node.data_dir.path()), files, "the store changed");
    assert_eq!(tree(outside.path()).len(), 1, "only the fifo");
    assert!(node.del("ok", Some(&pod)).ok);
}
