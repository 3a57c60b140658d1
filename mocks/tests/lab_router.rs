//! The lab router against a real network namespace: mock routes become kernel routes in the
//! subnet's own table, changes in the mock follow, and routes it does not own are never touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use routeplane_mocks::ec2::{Target, World, WorldHandle};
use routeplane_mocks::lab_router::{LabRouter, MirroredTable};

struct Netns(String);

impl Netns {
    fn new() -> Self {
        let name = format!("rplr-test-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        Netns(name)
    }
    fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.0.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
#[ignore = "needs root: creates a network namespace"]
fn mirrors_the_mock_table_into_its_own_kernel_table_and_leaves_other_routes_alone() {
    assert!(is_root(), "run as root with --include-ignored");
    let mut w = World::new();
    w.add_vpc("vpc-1", "10.0.0.0/16").unwrap();
    w.add_subnet("subnet-1", "vpc-1", "10.0.0.0/24", "us-east-1a")
        .unwrap();
    w.add_route_table("rtb-1", "vpc-1", false, &["subnet-1"])
        .unwrap();
    w.add_instance("i-1", "subnet-1").unwrap();
    w.add_instance("i-2", "subnet-1").unwrap();
    w.add_route("rtb-1", "10.244.1.0/24", Target::Instance("i-1".into()))
        .unwrap();
    let ip1 = w.instance("i-1").unwrap().private_ip.unwrap().to_string();
    let ip2 = w.instance("i-2").unwrap().private_ip.unwrap().to_string();
    let world = WorldHandle::new(w);

    let ns = Netns::new();
    ns.ip(&[
        "link", "add", "sub0", "type", "veth", "peer", "name", "sub0p",
    ]);
    ns.ip(&["addr", "add", "10.0.0.1/24", "dev", "sub0"]);
    ns.ip(&["link", "set", "sub0p", "up"]);
    ns.ip(&["link", "set", "sub0", "up"]);
    // Someone else's route in the same kernel table: never touched.
    ns.ip(&[
        "route",
        "add",
        "10.99.0.0/24",
        "via",
        "10.0.0.99",
        "table",
        "101",
    ]);

    let router = LabRouter::new(world.clone(), ns.0.clone()).table(MirroredTable {
        route_table_id: "rtb-1".into(),
        kernel_table: 101,
        iif: "sub0".into(),
    });
    router.install().unwrap();
    router.install().unwrap();
    let rules = ns.ip(&["rule", "show"]);
    assert_eq!(rules.matches("iif sub0 lookup 101").count(), 1, "{rules}");

    let report = router.sync().unwrap();
    assert_eq!(report.written.len(), 1);
    let table = ns.ip(&["route", "show", "table", "101"]);
    assert!(
        table.contains(&format!("10.244.1.0/24 via {ip1} dev sub0 proto 177")),
        "{table}"
    );
    assert!(router.sync().unwrap().is_empty(), "a second sync is quiet");

    // A hijack in the mock moves the next hop; a terminated instance becomes unreachable.
    world
        .hijack_route("rtb-1", "10.244.1.0/24", Target::Instance("i-2".into()))
        .unwrap();
    router.sync().unwrap();
    let table = ns.ip(&["route", "show", "table", "101"]);
    assert!(
        table.contains(&format!("10.244.1.0/24 via {ip2}")),
        "{table}"
    );
    world.terminate_instance("i-2");
    router.sync().unwrap();
    let table = ns.ip(&["route", "show", "table", "101"]);
    assert!(table.contains("unreachable 10.244.1.0/24"), "{table}");

    // A route deleted in the mock disappears; the foreign one stays.
    world.edit(|w| w.remove_route("rtb-1", "10.244.1.0/24").unwrap());
    let report = router.sync().unwrap();
    assert_eq!(report.removed.len(), 1);
    let table = ns.ip(&["route", "show", "table", "101"]);
    assert!(!table.contains("10.244.1.0/24"), "{table}");
    assert!(table.contains("10.99.0.0/24 via 10.0.0.99"), "{table}");

    router.remove().unwrap();
    let rules = ns.ip(&["rule", "show"]);
    assert!(!rules.contains("lookup 101"), "{rules}");
}
