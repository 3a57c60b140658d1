//! Host-mode route sync against a real kernel routing table, in a fresh namespace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use routeplane_cni::agent::host_routes::{self, PeerRoute, ROUTE_PROTOCOL};
use routeplane_cni::netlink::Socket;

fn peer(dst: &str, via: &str) -> PeerRoute {
    PeerRoute {
        dst: dst.parse().unwrap(),
        via: via.parse().unwrap(),
    }
}

/// A namespace with an `eth0` uplink (a veth whose peer stays inside) at `addr`, up.
fn node_with_uplink(name: &str, addr: &str) -> Netns {
    let ns = Netns::new(name);
    let ip = |args: &[&str]| sh("ip", &[&["-n", ns.name.as_str()], args].concat());
    ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
    ]);
    ip(&["addr", "add", addr, "dev", "eth0"]);
    ip(&["link", "set", "eth0", "up"]);
    ns
}

fn routes_of(ns: &Netns) -> Vec<(String, String, String)> {
    ns.ip_j(&["route", "show", "table", "main"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["dst"].as_str().unwrap().to_string(),
                r["gateway"].as_str().unwrap_or("").to_string(),
                r["protocol"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| r["protocol"].to_string()),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn host_routes_are_added_replaced_and_removed_and_foreign_ones_untouched() {
    require_root();
    let ns = node_with_uplink("hr", "192.168.77.1/24");
    // A foreign static route inside the cluster range, and one at a peer's destination.
    sh(
        "ip",
        &[
            "-n",
            &ns.name,
            "route",
            "add",
            "10.210.9.0/24",
            "via",
            "192.168.77.9",
            "proto",
            "static",
        ],
    );
    sh(
        "ip",
        &[
            "-n",
            &ns.name,
            "route",
            "add",
            "10.210.5.0/24",
            "via",
            "192.168.77.5",
            "proto",
            "static",
        ],
    );

    in_netns(&ns, || {
        let mut s = Socket::new().unwrap();
        let want = vec![
            peer("10.210.1.0/24", "192.168.77.2"),
            peer("10.210.2.0/24", "192.168.77.3"),
            peer("10.210.5.0/24", "192.168.77.55"),
        ];
        let c = host_routes::sync(&mut s, &want).unwrap();
        assert_eq!(c.added.len(), 2, "{c:?}");
        assert_eq!(c.conflicts, vec!["10.210.5.0/24".parse().unwrap()]);
        // Idempotent.
        let c = host_routes::sync(&mut s, &want).unwrap();
        assert!(c.is_empty(), "{c:?}");
        // Next hop moves, a peer leaves.
        let want = vec![peer("10.210.1.0/24", "192.168.77.4")];
        let c = host_routes::sync(&mut s, &want).unwrap();
        assert_eq!(c.replaced, vec!["10.210.1.0/24".parse().unwrap()]);
        assert_eq!(c.removed, vec!["10.210.2.0/24".parse().unwrap()]);
    });
    let routes = routes_of(&ns);
    let ours: Vec<_> = routes
        .iter()
        .filter(|r| r.2 == ROUTE_PROTOCOL.to_string())
        .collect();
    assert_eq!(ours.len(), 1, "{routes:?}");
    assert_eq!(
        (ours[0].0.as_str(), ours[0].1.as_str()),
        ("10.210.1.0/24", "192.168.77.4")
    );
    assert!(
        routes
            .iter()
            .any(|r| r.0 == "10.210.9.0/24" && r.2 == "static"),
        "{routes:?}"
    );
    assert!(
        routes
            .iter()
            .any(|r| r.0 == "10.210.5.0/24" && r.1 == "192.168.77.5"),
        "{routes:?}"
    );

    // Someone deletes our route: the next sync puts it back.
    sh("ip", &["-n", &ns.name, "route", "del", "10.210.1.0/24"]);
    in_netns(&ns, || {
        let mut s = Socket::new().unwrap();
        let c = host_routes::sync(&mut s, &[peer("10.210.1.0/24", "192.168.77.4")]).unwrap();
        assert_eq!(c.added.len(), 1);
        // Removing all peers removes only ours.
        let c = host_routes::sync(&mut s, &[]).unwrap();
        assert_eq!(c.removed.len(), 1);
    });
    assert!(routes_of(&ns).iter().any(|r| r.0 == "10.210.9.0/24"));
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn uplink_mtu_is_the_default_route_interface_mtu() {
    require_root();
    let ns = Netns::new("mtu");
    sh(
        "ip",
        &[
            "-n", &ns.name, "link", "add", "up9", "mtu", "8951", "type", "veth", "peer", "name",
            "up9p", "mtu", "8951",
        ],
    );
    sh(
        "ip",
        &[
            "-n",
            &ns.name,
            "addr",
            "add",
            "192.168.78.1/24",
            "dev",
            "up9",
        ],
    );
    sh("ip", &["-n", &ns.name, "link", "set", "up9", "up"]);
    sh(
        "ip",
        &[
            "-n",
            &ns.name,
            "route",
            "add",
            "default",
            "via",
            "192.168.78.254",
        ],
    );
    let got = in_netns(&ns, || {
        let mut s = Socket::new().unwrap();
        routeplane_cni::agent::uplink::detect_uplink(&mut s).unwrap()
    });
    assert_eq!(got, Some(("up9".to_string(), 8951)));
}

/// An unreachable/blackhole route with our protocol on a peer's destination (a hand-made
/// hijack, or a leftover) is ours to repair or remove; one with another protocol is left alone.
#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn our_non_unicast_routes_are_repaired_and_foreign_ones_reported() {
    require_root();
    let ns = node_with_uplink("hrk", "192.168.78.1/24");
    let proto = ROUTE_PROTOCOL.to_string();
    for (kind, dst, p) in [
        ("unreachable", "10.211.1.0/24", proto.as_str()),
        ("blackhole", "10.211.2.0/24", proto.as_str()),
        ("unreachable", "10.211.3.0/24", "static"),
    ] {
        sh(
            "ip",
            &["-n", &ns.name, "route", "add", kind, dst, "proto", p],
        );
    }

    in_netns(&ns, || {
        let mut s = Socket::new().unwrap();
        let want = vec![
            peer("10.211.1.0/24", "192.168.78.2"),
            peer("10.211.3.0/24", "192.168.78.3"),
        ];
        let c = host_routes::sync(&mut s, &want).unwrap();
        assert_eq!(c.replaced, vec!["10.211.1.0/24".parse().unwrap()], "{c:?}");
        assert_eq!(c.removed, vec!["10.211.2.0/24".parse().unwrap()], "{c:?}");
        assert_eq!(c.conflicts, vec!["10.211.3.0/24".parse().unwrap()], "{c:?}");
        let c = host_routes::sync(&mut s, &want).unwrap();
        assert!(c.is_empty(), "a second sync must change nothing: {c:?}");
    });
    let routes = routes_of(&ns);
    assert!(
        routes
            .iter()
            .any(|r| r.0 == "10.211.1.0/24" && r.1 == "192.168.78.2" && r.2 == proto),
        "{routes:?}"
    );
    assert!(!routes.iter().any(|r| r.0 == "10.211.2.0/24"), "{routes:?}");
    assert!(
        routes
            .iter()
            .any(|r| r.0 == "10.211.3.0/24" && r.1.is_empty() && r.2 == "static"),
        "{routes:?}"
    );
}
