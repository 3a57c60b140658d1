//! End-to-end tests of the `routeplane-bridge` binary in real network namespaces.
//!
//! Each test builds its own "node" namespace (the plugin runs inside it, so bridges, sysctls and
//! nftables live there, never in the root namespace) and pod namespaces; all are removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::net::IpAddr;

use common::*;
use serde_json::{Value, json};

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn pods_on_one_node_reach_each_other_and_the_gateway() {
    require_root();
    let node = Node::new("reach", "10.200.1.0/24", Some("fd20:0:1::/64"));
    let (p1, p2) = (Netns::new("reach-p1"), Netns::new("reach-p2"));
    let r1 = node.add("c1", &p1);
    let r2 = node.add("c2", &p2);
    assert!(r1.ok && r2.ok, "{r1:?} {r2:?}");
    assert_eq!(r1.out["cniVersion"], "1.1.0");
    assert_eq!(r1.out["interfaces"][2]["mtu"], 1400);
    let ip2 = result_ip(&r2.out, 0);
    let ip2v6 = result_ip(&r2.out, 1);
    assert!(
        p1.try_exec(&["ping", "-c1", "-W2", &ip2.to_string()]),
        "pod→pod v4"
    );
    assert!(
        p1.try_exec(&["ping", "-c1", "-W2", &ip2v6.to_string()]),
        "pod→pod v6"
    );
    assert!(
        p1.try_exec(&["ping", "-c1", "-W2", "10.200.1.1"]),
        "pod→gateway"
    );
    assert!(
        p1.try_exec(&["ping", "-c1", "-W2", "fd20:0:1::1"]),
        "pod→gateway v6"
    );

    // MTU on the bridge and both ends, hairpin on the host end, forwarding on.
    assert_eq!(node.ns.ip_j(&["link", "show", "rpbr0"])[0]["mtu"], 1400);
    assert_eq!(p1.ip_j(&["link", "show", "eth0"])[0]["mtu"], 1400);
    let veth = r1.out["interfaces"][1]["name"].as_str().unwrap();
    let port = node.ns.ip_j(&["-d", "link", "show", veth]);
    assert_eq!(port[0]["mtu"], 1400);
    assert_eq!(port[0]["master"], "rpbr0");
    assert_eq!(port[0]["linkinfo"]["info_slave_data"]["hairpin"], true);
    assert_eq!(
        node.ns
            .exec(&["cat", "/proc/sys/net/ipv4/ip_forward"])
            .trim(),
        "1"
    );
    assert_eq!(
        node.ns
            .exec(&["cat", "/proc/sys/net/ipv6/conf/all/forwarding"])
            .trim(),
        "1"
    );
    let routes = p1.ip_j(&["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "10.200.1.1");
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn a_pod_sees_its_peers_own_ip_inside_the_cluster_cidr() {
    require_root();
    let node = Node::new("srcip", "10.200.2.0/24", None);
    let (p1, p2) = (Netns::new("srcip-p1"), Netns::new("srcip-p2"));
    let r1 = node.add("c1", &p1);
    let r2 = node.add("c2", &p2);
    assert!(r1.ok && r2.ok);
    let seen = source_seen_by(&p2, result_ip(&r2.out, 0), &p1);
    assert_eq!(
        seen,
        result_ip(&r1.out, 0),
        "no NAT between pods with ipMasq on"
    );
}

/// An "outside" namespace joined to the node by a veth (198.18.0.0/24, a benchmarking range),
/// reachable only through the node.
fn outside_of(node: &Node) -> Netns {
    let out = Netns::new("outside");
    sh(
        "ip",
        &[
            "-n",
            &node.ns.name,
            "link",
            "add",
            "up0",
            "type",
            "veth",
            "peer",
            "name",
            "ext0",
            "netns",
            &out.name,
        ],
    );
    sh(
        "ip",
        &[
            "-n",
            &node.ns.name,
            "addr",
            "add",
            "198.18.0.1/24",
            "dev",
            "up0",
        ],
    );
    sh("ip", &["-n", &node.ns.name, "link", "set", "up0", "up"]);
    sh(
        "ip",
        &[
            "-n",
            &out.name,
            "addr",
            "add",
            "198.18.0.2/24",
            "dev",
            "ext0",
        ],
    );
    sh("ip", &["-n", &out.name, "link", "set", "ext0", "up"]);
    out
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn traffic_to_an_outside_address_is_masqueraded_only_when_ip_masq_is_on() {
    require_root();
    let node = Node::new("masq", "10.200.3.0/24", None);
    let outside = outside_of(&node);
    let pod = Netns::new("masq-p1");
    let r = node.add("c1", &pod);
    assert!(r.ok, "{r:?}");
    let seen = source_seen_by(&outside, "198.18.0.2".parse().unwrap(), &pod);
    assert_eq!(
        seen.to_string(),
        "198.18.0.1",
        "masqueraded to the node's address"
    );
    assert_eq!(
        node.ns.nft_pod_elements(&node.table()),
        vec![result_ip(&r.out, 0).to_string()]
    );

    // Same path with ipMasq off: the outside (given a route back) sees the pod's own address.
    let mut conf = node.conf.clone();
    conf["ipMasq"] = json!(false);
    conf["name"] = json!("net-masq-off");
    conf["bridge"] = json!("rpbr1");
    conf["ipam"]["ranges"] = json!([[{ "subnet": "10.200.13.0/24" }]]);
    let pod2 = Netns::new("masq-p2");
    let r2 = node.run("ADD", "c2", Some(&pod2), &conf);
    assert!(r2.ok, "{r2:?}");
    sh(
        "ip",
        &[
            "-n",
            &outside.name,
            "route",
            "add",
            "10.200.13.0/24",
            "via",
            "198.18.0.1",
        ],
    );
    let ip2 = result_ip(&r2.out, 0);
    let seen = source_seen_by(&outside, "198.18.0.2".parse().unwrap(), &pod2);
    assert_eq!(seen, ip2);
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn del_cleans_up_everything_even_when_the_netns_is_gone() {
    require_root();
    let node = Node::new("del", "10.200.4.0/24", Some("fd20:0:4::/64"));
    let p1 = Netns::new("del-p1");
    assert!(node.add("c1", &p1).ok);
    let p1_path = p1.path().display().to_string();
    assert_eq!(node.reservations().len(), 2);
    assert_eq!(node.veths().len(), 1);
    assert_eq!(node.ns.nft_pod_elements(&node.table()).len(), 2);
    // Normal DEL, then a repeated one: both succeed and leave nothing.
    assert!(node.del("c1", Some(&p1)).ok);
    assert!(node.del("c1", Some(&p1)).ok, "DEL is idempotent");
    assert!(node.reservations().is_empty() && node.veths().is_empty());
    assert!(node.ns.nft_pod_elements(&node.table()).is_empty());

    // netns removed before DEL (the runtime lost it): DEL still removes veth, rules, addresses.
    let p2 = Netns::new("del-p2");
    assert!(node.add("c2", &p2).ok);
    let p2_path = p2.path().display().to_string();
    drop(p2);
    let r = node.run_env("DEL", "c2", Some(p2_path), "eth0", &node.conf, &[]);
    assert!(r.ok, "{r:?}");
    assert!(node.reservations().is_empty(), "{:?}", node.reservations());
    assert!(node.veths().is_empty(), "{:?}", node.veths());
    assert!(node.ns.nft_pod_elements(&node.table()).is_empty());
    // DEL without CNI_NETNS at all, for an attachment that never existed.
    assert!(
        node.run_env("DEL", "never", None, "eth0", &node.conf, &[])
            .ok
    );
    let _ = p1_path;
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn two_hundred_concurrent_adds_get_distinct_addresses_and_dels_free_them_all() {
    require_root();
    let node = Node::new("many", "10.200.16.0/22", None);
    let pods: Vec<Netns> = (0..200).map(|i| Netns::new(&format!("many{i}"))).collect();
    let results: Vec<Run> = std::thread::scope(|s| {
        let hs: Vec<_> = pods
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let node = &node;
                s.spawn(move || node.add(&format!("c{i}"), p))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let failed: Vec<_> = results.iter().filter(|r| !r.ok).collect();
    assert!(
        failed.is_empty(),
        "{} ADDs failed: {:?}",
        failed.len(),
        failed.first()
    );
    let ips: HashSet<IpAddr> = results.iter().map(|r| result_ip(&r.out, 0)).collect();
    assert_eq!(ips.len(), 200, "200 distinct addresses");
    assert_eq!(node.reservations().len(), 200);
    // Each pod really holds the address the result claims.
    for (r, p) in results.iter().zip(&pods).step_by(37) {
        assert_eq!(
            p.addrs("eth0"),
            vec![r.out["ips"][0]["address"].as_str().unwrap().to_string()]
        );
    }
    let dels: Vec<Run> = std::thread::scope(|s| {
        let hs: Vec<_> = pods
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let node = &node;
                s.spawn(move || node.del(&format!("c{i}"), Some(p)))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(dels.iter().all(|r| r.ok));
    assert!(node.reservations().is_empty());
    assert!(node.veths().is_empty());
    assert!(node.ns.nft_pod_elements(&node.table()).is_empty());
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn check_passes_on_a_fresh_attachment_and_detects_a_flushed_address() {
    require_root();
    let node = Node::new("check", "10.200.5.0/24", None);
    let pod = Netns::new("check-p1");
    let r = node.add("c1", &pod);
    assert!(r.ok);
    let mut conf = node.conf.clone();
    conf["prevResult"] = r.out.clone();
    let ok = node.run("CHECK", "c1", Some(&pod), &conf);
    assert!(ok.ok, "{ok:?}");
    pod.exec(&["ip", "addr", "flush", "dev", "eth0"]);
    let bad = node.run("CHECK", "c1", Some(&pod), &conf);
    assert!(!bad.ok);
    assert_eq!(bad.code(), 101);
    let msg = bad.out["msg"].as_str().unwrap();
    let addr = r.out["ips"][0]["address"].as_str().unwrap();
    assert!(
        msg.contains(&format!("address {addr} is missing on eth0")),
        "{msg}"
    );
    assert!(
        msg.contains("route 0.0.0.0/0 via 10.200.5.1 is missing"),
        "{msg}"
    );
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn results_follow_the_requested_version_and_keep_prev_result() {
    require_root();
    let node = Node::new("ver", "10.200.6.0/24", None);
    let pod = Netns::new("ver-p1");
    let mut conf = node.conf.clone();
    conf["cniVersion"] = json!("0.4.0");
    conf["prevResult"] = json!({"cniVersion":"0.4.0","interfaces":[{"name":"lo0"}],"ips":[{"version":"4","address":"192.0.2.9/32","interface":0}]});
    let r = node.run("ADD", "c1", Some(&pod), &conf);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.out["cniVersion"], "0.4.0");
    assert_eq!(r.out["ips"][1]["version"], "4");
    assert_eq!(r.out["ips"][1]["interface"], 3);
    assert_eq!(r.out["interfaces"].as_array().unwrap().len(), 4);
    let mut conf = node.conf.clone();
    conf["cniVersion"] = json!("1.0.0");
    let pod2 = Netns::new("ver-p2");
    let r = node.run("ADD", "c2", Some(&pod2), &conf);
    assert!(r.out["ips"][0].get("version").is_none());
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn gc_releases_attachments_that_are_not_listed() {
    require_root();
    let node = Node::new("gc", "10.200.7.0/24", None);
    let (p1, p2) = (Netns::new("gc-p1"), Netns::new("gc-p2"));
    assert!(node.add("keep", &p1).ok && node.add("drop", &p2).ok);
    let mut conf = node.conf.clone();
    conf["cni.dev/valid-attachments"] = json!([{"containerID": "keep", "ifname": "eth0"}]);
    let r = node.run("GC", "", None, &conf);
    assert!(r.ok, "{r:?}");
    assert_eq!(node.reservations().len(), 1);
    assert_eq!(node.veths().len(), 1);
    assert_eq!(node.ns.nft_pod_elements(&node.table()).len(), 1);
    assert!(
        p1.try_exec(&["ping", "-c1", "-W2", "10.200.7.1"]),
        "the kept pod still works"
    );
    // The older key works too.
    let mut conf = node.conf.clone();
    conf["cni.dev/attachments"] = json!([]);
    assert!(node.run("GC", "", None, &conf).ok);
    assert!(node.reservations().is_empty() && node.veths().is_empty());
}

/// Asserts the node holds nothing: no reservation, no veth, no masquerade element.
fn assert_no_state(node: &Node) {
    assert!(
        node.reservations().is_empty(),
        "reservations: {:?}",
        node.reservations()
    );
    assert!(node.veths().is_empty(), "veths: {:?}", node.veths());
    assert!(node.ns.nft_pod_elements(&node.table()).is_empty());
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn bad_input_in_a_node_gets_the_right_code_and_leaves_no_state() {
    require_root();
    let node = Node::new("bad", "10.200.8.0/29", None);
    let pod = Netns::new("bad-p");
    // A netns that does not exist.
    let r = node.run_env(
        "ADD",
        "c1",
        Some("/run/netns/rpt-does-not-exist".into()),
        "eth0",
        &node.conf,
        &[],
    );
    assert!(!r.ok);
    assert_eq!(r.code(), 3, "{r:?}");
    assert_no_state(&node);
    // An interface name that is too long.
    let r = node.run_env(
        "ADD",
        "c1",
        Some(pod.path().display().to_string()),
        "a-very-long-ifname",
        &node.conf,
        &[],
    );
    assert_eq!((r.ok, r.code()), (false, 4), "{r:?}");
    assert_no_state(&node);
    // Exhausted: a /29 has 5 pod addresses.
    let pods: Vec<Netns> = (0..6).map(|i| Netns::new(&format!("bad-x{i}"))).collect();
    for (i, p) in pods.iter().take(5).enumerate() {
        assert!(node.add(&format!("x{i}"), p).ok);
    }
    let r = node.add("x5", &pods[5]);
    assert_eq!((r.ok, r.code()), (false, 11), "{r:?}");
    assert!(
        r.out["msg"].as_str().unwrap().contains("no free address"),
        "{r:?}"
    );
    assert_eq!(node.reservations().len(), 5);
    assert!(!pods[5].links().contains(&"eth0".to_string()));
    // A second ADD of the same container: refused, and the first attachment is untouched.
    let r = node.add("x0", &pods[0]);
    assert_eq!((r.ok, r.code()), (false, 100), "{r:?}");
    assert_eq!(node.reservations().len(), 5);
    assert_eq!(node.veths().len(), 5);
    assert!(pods[0].try_exec(&["ping", "-c1", "-W2", "10.200.8.1"]));
    for (i, p) in pods.iter().take(5).enumerate() {
        assert!(node.del(&format!("x{i}"), Some(p)).ok);
    }
    assert_no_state(&node);
    // STATUS with ranges: ready.
    assert!(node.run("STATUS", "", None, &node.conf).ok);
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn the_l2_option_reuses_a_precreated_bridge_with_a_wide_subnet() {
    require_root();
    let node = Node::new("l2", "10.200.0.0/16", None);
    // Operator-made bridge with the "uplink" attached, node address in the /16.
    sh(
        "ip",
        &[
            "-n",
            &node.ns.name,
            "link",
            "add",
            "br-l2",
            "type",
            "bridge",
        ],
    );
    sh(
        "ip",
        &[
            "-n",
            &node.ns.name,
            "link",
            "add",
            "uplink0",
            "type",
            "veth",
            "peer",
            "name",
            "uplink0p",
        ],
    );
    sh(
        "ip",
        &[
            "-n",
            &node.ns.name,
            "link",
            "set",
            "uplink0",
            "master",
            "br-l2",
            "up",
        ],
    );
    let mut conf = node.conf.clone();
    conf["bridge"] = json!("br-l2");
    conf["ipam"]["ranges"] = json!([[{
        "subnet": "10.200.0.0/16",
        "rangeStart": "10.200.3.2",
        "rangeEnd": "10.200.3.254",
        "gateway": "10.200.3.1",
    }]]);
    let pod = Netns::new("l2-p");
    let r = node.run("ADD", "c1", Some(&pod), &conf);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.out["ips"][0]["address"], "10.200.3.2/16");
    assert_eq!(
        node.ns.ip_j(&["link", "show", "uplink0"])[0]["master"],
        "br-l2"
    );
    assert!(
        node.ns
            .addrs("br-l2")
            .contains(&"10.200.3.1/16".to_string())
    );
    assert!(pod.try_exec(&["ping", "-c1", "-W2", "10.200.3.1"]));
}

// ---- inputs rejected before any privileged work: these run unprivileged ----

fn run_plain(env: &[(&str, &str)], stdin: &str) -> (bool, Value) {
    use std::io::Write;
    let mut c = std::process::Command::new(bin());
    c.env_clear().envs(env.iter().copied());
    let mut child = c
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    (
        o.status.success(),
        serde_json::from_slice(&o.stdout).unwrap_or(Value::Null),
    )
}

const ADD_ENV: &[(&str, &str)] = &[
    ("CNI_COMMAND", "ADD"),
    ("CNI_CONTAINERID", "c1"),
    ("CNI_NETNS", "/run/netns/none"),
    ("CNI_IFNAME", "eth0"),
    ("CNI_PATH", "/opt/cni/bin"),
];

const GOOD: &str = r#"{"cniVersion":"1.0.0","name":"n","type":"routeplane-bridge","ipam":{"ranges":[[{"subnet":"10.1.0.0/24"}]],"dataDir":"/nonexistent-rp-test"}}"#;

#[test]
fn malformed_or_empty_stdin_is_code_6() {
    for stdin in ["", "{", "not json"] {
        let (ok, out) = run_plain(ADD_ENV, stdin);
        assert!(!ok);
        assert_eq!(out["code"], 6, "{stdin:?}: {out}");
        assert!(out["msg"].as_str().is_some());
    }
}

#[test]
fn a_missing_cni_variable_is_code_4() {
    for skip in [
        "CNI_COMMAND",
        "CNI_CONTAINERID",
        "CNI_NETNS",
        "CNI_IFNAME",
        "CNI_PATH",
    ] {
        let env: Vec<_> = ADD_ENV
            .iter()
            .copied()
            .filter(|(k, _)| *k != skip)
            .collect();
        let (ok, out) = run_plain(&env, GOOD);
        assert!(!ok);
        assert_eq!(out["code"], 4, "without {skip}: {out}");
    }
}

#[test]
fn unknown_version_is_code_1_missing_name_and_mistyped_keys_are_code_7() {
    let (ok, out) = run_plain(ADD_ENV, &GOOD.replace("1.0.0", "0.2.0"));
    assert_eq!((ok, out["code"].as_u64()), (false, Some(1)), "{out}");
    let (ok, out) = run_plain(ADD_ENV, &GOOD.replace(r#""name":"n","#, ""));
    assert_eq!((ok, out["code"].as_u64()), (false, Some(7)), "{out}");
    let (ok, out) = run_plain(
        ADD_ENV,
        &GOOD.replace(r#""type""#, r#""mtu":"jumbo","type""#),
    );
    assert_eq!((ok, out["code"].as_u64()), (false, Some(7)), "{out}");
    let (ok, out) = run_plain(
        ADD_ENV,
        &GOOD.replace(r#""type""#, r#""ipMasq":"yes","type""#),
    );
    assert_eq!((ok, out["code"].as_u64()), (false, Some(7)), "{out}");
}

#[test]
fn version_answers_with_the_supported_versions() {
    let (ok, out) = run_plain(&[("CNI_COMMAND", "VERSION")], r#"{"cniVersion":"1.0.0"}"#);
    assert!(ok);
    assert_eq!(out["supportedVersions"], json!(["0.4.0", "1.0.0", "1.1.0"]));
    assert_eq!(out["cniVersion"], "1.0.0");
    let (ok, out) = run_plain(&[("CNI_COMMAND", "VERSION")], "");
    assert!(ok);
    assert_eq!(out["cniVersion"], "1.1.0");
}

#[test]
fn status_reports_50_without_a_pod_cidr() {
    let conf =
        r#"{"cniVersion":"1.1.0","name":"n","type":"routeplane-bridge","ipam":{"ranges":[]}}"#;
    let (ok, out) = run_plain(&[("CNI_COMMAND", "STATUS"), ("CNI_PATH", "/x")], conf);
    assert_eq!((ok, out["code"].as_u64()), (false, Some(50)), "{out}");
    let (ok, _) = run_plain(&[("CNI_COMMAND", "STATUS"), ("CNI_PATH", "/x")], GOOD);
    assert!(ok);
}
