//! Table-driven cases for `plan()`: one row per situation DESIGN.md names.

use super::*;
use crate::testing::{node, route, snapshot, spec};

fn desired(table: &str, dst: &str, target: &str, node: &str) -> DesiredRoute {
    DesiredRoute {
        table: TableId(table.into()),
        destination: dst.parse().unwrap(),
        target: target.into(),
        node: node.into(),
    }
}

struct Case {
    name: &'static str,
    nodes: Vec<NodeInfo>,
    existing: RouteSnapshot,
    create: Vec<DesiredRoute>,
    replace: Vec<(CloudRoute, DesiredRoute)>,
    delete: Vec<CloudRoute>,
    conflicts: Vec<ConflictReason>,
    unroutable: Vec<&'static str>,
}

impl Default for Case {
    fn default() -> Self {
        Self {
            name: "",
            nodes: vec![],
            existing: snapshot(&["rtb-a"], vec![]),
            create: vec![],
            replace: vec![],
            delete: vec![],
            conflicts: vec![],
            unroutable: vec![],
        }
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "a new node gets a route in the table",
            nodes: vec![node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build()],
            create: vec![desired("rtb-a", "10.244.1.0/24", "i-1", "n1")],
            ..Case::default()
        },
        Case {
            name: "every managed table gets every node's route",
            nodes: vec![node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build()],
            existing: snapshot(
                &["rtb-a", "rtb-b", "rtb-c"],
                vec![route("rtb-b", "10.244.1.0/24").instance("i-1").build()],
            ),
            create: vec![
                desired("rtb-a", "10.244.1.0/24", "i-1", "n1"),
                desired("rtb-c", "10.244.1.0/24", "i-1", "n1"),
            ],
            ..Case::default()
        },
        Case {
            name: "a route that is already right costs nothing",
            nodes: vec![node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build()],
            existing: snapshot(
                &["rtb-a"],
                vec![route("rtb-a", "10.244.1.0/24").instance("i-1").build()],
            ),
            ..Case::default()
        },
        Case {
            name: "dual-stack nodes get one route per family",
            nodes: vec![
                node("n1")
                    .pod_cidr("10.244.1.0/24")
                    .pod_cidr("fd00:10:244:1::/64")
                    .aws("i-1")
                    .build(),
            ],
            create: vec![
                desired("rtb-a", "10.244.1.0/24", "i-1", "n1"),
                desired("rtb-a", "fd00:10:244:1::/64", "i-1", "n1"),
            ],
            ..Case::default()
        },
        Case {
            name: "a deleted node's route is removed",
            nodes: vec![],
            existing: snapshot(
                &["rtb-a"],
                vec![
                    route("rtb-a", "10.244.9.0/24")
                        .instance("i-9")
                        .claimed()
                        .build(),
                ],
            ),
            delete: vec![
                route("rtb-a", "10.244.9.0/24")
                    .instance("i-9")
                    .claimed()
                    .build(),
            ],
            ..Case::default()
        },
        Case {
            name: "a blackhole of the cluster is replaced with the live target",
            nodes: vec![node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build()],
            existing: snapshot(
                &["rtb-a"],
                vec![
                    route("rtb-a", "10.244.1.0/24")
                        .other("eni-old")
                        .blackhole()
                        .claimed()
                        .build(),
                ],
            ),
            replace: vec![(
                route("rtb-a", "10.244.1.0/24")
                    .other("eni-old")
                    .blackhole()
                    .claimed()
                    .build(),
                desired("rtb-a", "10.244.1.0/24", "i-1", "n1"),
            )],
            ..Case::default()
        },
        Case {
            name: "a blackhole of a node that is gone is deleted",
            existing: snapshot(
                &["rtb-a"],
                vec![
                    route("rtb-a", "10.244.7.0/24")
                        .instance("i-7")
                        .blackhole()
                        .claimed()
                        .build(),
                ],
            ),
            delete: vec![
                route("rtb-a", "10.244.7.0/24")
                    .instance("i-7")
                    .blackhole()
                    .claimed()
                    .build(),
            ],
            ..Case::default()
        },
        Case {
            name: "a podCIDR moved to another node moves its route",
            nodes: vec![
                node("n1").aws("i-1").build(),
                node("n2").pod_cidr("10.244.1.0/24").aws("i-2").build(),
            ],
            existing: snapshot(
                &["rtb-a"],
                vec![route("rtb-a", "10.244.1.0/24").instance("i-1").build()],
            ),
            replace: vec![(
                route("rtb-a", "10.244.1.0/24").instance("i-1").build(),
                desired("rtb-a", "10.244.1.0/24", "i-2", "n2"),
            )],
            ..Case::default()
        },
        Case {
            name: "a hijacked route pointing at another known node is repaired",
            nodes: vec![
                node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build(),
                node("n2").pod_cidr("10.244.2.0/24").aws("i-2").build(),
            ],
            existing: snapshot(
                &["rtb-a"],
                vec![
                    route("rtb-a", "10.244.1.0/24").instance("i-2").build(),
                    route("rtb-a", "10.244.2.0/24").instance("i-2").build(),
                ],
            ),
            replace: vec![(
                route("rtb-a", "10.244.1.0/24").instance("i-2").build(),
                desired("rtb-a", "10.244.1.0/24", "i-1", "n1"),
            )],
            ..Case::default()
        },
        Case {
            name: "a foreign route at a node's podCIDR is a conflict and is left alone",
            nodes: vec![node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build()],
            existing: snapshot(
                &["rtb-a"],
                vec![route("rtb-a", "10.244.1.0/24").other("pcx-1").build()],
            ),
            conflicts: vec![ConflictReason::ForeignRouteAtPodCidr],
            ..Case::default()
        },
        Case {
            name: "a foreign route next to our right one (GCE allows both) is a conflict, both left alone",
            nodes: vec![node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build()],
            existing: snapshot(
                &["rtb-a"],
                vec![
                    route("rtb-a", "10.244.1.0/24")
                        .instance("i-1")
                        .claimed()
                        .build(),
                    route("rtb-a", "10.244.1.0/24").other("pcx-1").build(),
                ],
            ),
            conflicts: vec![ConflictReason::ForeignRouteAtPodCidr],
            ..Case::default()
        },
        Case {
            name: "a foreign instance target inside the cluster CIDR is never touched",
            nodes: vec![node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build()],
            existing: snapshot(
                &["rtb-a"],
                vec![
                    route("rtb-a", "10.244.200.0/24")
                        .instance("i-foreign")
                        .build(),
                ],
            ),
            create: vec![desired("rtb-a", "10.244.1.0/24", "i-1", "n1")],
            ..Case::default()
        },
        Case {
            name: "a foreign route overlapping a podCIDR is reported",
            nodes: vec![node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build()],
            existing: snapshot(
                &["rtb-a"],
                vec![route("rtb-a", "10.244.1.128/25").other("vgw-1").build()],
            ),
            create: vec![desired("rtb-a", "10.244.1.0/24", "i-1", "n1")],
            conflicts: vec![ConflictReason::ForeignRouteOverlapsPodCidr],
            ..Case::default()
        },
        Case {
            name: "a broader foreign route (the default route) shadows nothing",
            nodes: vec![node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build()],
            existing: snapshot(
                &["rtb-a"],
                vec![
                    route("rtb-a", "0.0.0.0/0").other("igw-1").build(),
                    route("rtb-a", "10.244.0.0/16").other("pcx-1").build(),
                ],
            ),
            create: vec![desired("rtb-a", "10.244.1.0/24", "i-1", "n1")],
            ..Case::default()
        },
        Case {
            name: "routes outside the cluster CIDR are never touched, even claimed ones",
            existing: snapshot(
                &["rtb-a"],
                vec![
                    route("rtb-a", "0.0.0.0/0").other("igw-1").build(),
                    route("rtb-a", "172.16.0.0/16").other("nat-1").build(),
                    route("rtb-a", "10.0.0.0/8")
                        .instance("i-1")
                        .claimed()
                        .build(),
                ],
            ),
            nodes: vec![node("n1").aws("i-1").build()],
            ..Case::default()
        },
        Case {
            name: "routes in tables we do not manage are ignored",
            existing: RouteSnapshot {
                tables: snapshot(&["rtb-a"], vec![]).tables,
                routes: vec![
                    route("rtb-other", "10.244.9.0/24")
                        .instance("i-9")
                        .claimed()
                        .build(),
                ],
            },
            ..Case::default()
        },
        Case {
            name: "a node without a providerID is unroutable, the others still route",
            nodes: vec![
                node("n0").pod_cidr("10.244.0.0/24").build(),
                node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build(),
            ],
            create: vec![desired("rtb-a", "10.244.1.0/24", "i-1", "n1")],
            unroutable: vec!["bad_provider_id"],
            ..Case::default()
        },
        Case {
            name: "a node of another cloud is unroutable",
            nodes: vec![
                node("g1")
                    .pod_cidr("10.244.3.0/24")
                    .gce("p", "z", "g1")
                    .build(),
            ],
            unroutable: vec!["other_cloud"],
            ..Case::default()
        },
        Case {
            name: "a podCIDR outside the cluster CIDR is unroutable",
            nodes: vec![node("n1").pod_cidr("192.168.1.0/24").aws("i-1").build()],
            unroutable: vec!["pod_cidr_outside_cluster"],
            ..Case::default()
        },
        Case {
            name: "a duplicated podCIDR goes to the first node by name",
            nodes: vec![
                node("n2").pod_cidr("10.244.1.0/24").aws("i-2").build(),
                node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build(),
            ],
            create: vec![desired("rtb-a", "10.244.1.0/24", "i-1", "n1")],
            unroutable: vec!["duplicate_pod_cidr"],
            ..Case::default()
        },
        Case {
            name: "a node without a podCIDR yet is pending, not an error",
            nodes: vec![node("n1").aws("i-1").build()],
            ..Case::default()
        },
        Case {
            name: "duplicate owned routes at one destination keep one (GCE)",
            nodes: vec![node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build()],
            existing: snapshot(
                &["net"],
                vec![
                    route("net", "10.244.1.0/24")
                        .instance("i-1")
                        .claimed()
                        .named("rp-a")
                        .build(),
                    route("net", "10.244.1.0/24")
                        .instance("i-1")
                        .claimed()
                        .named("rp-b")
                        .build(),
                ],
            ),
            delete: vec![
                route("net", "10.244.1.0/24")
                    .instance("i-1")
                    .claimed()
                    .named("rp-b")
                    .build(),
            ],
            ..Case::default()
        },
    ]
}

#[test]
fn plans_every_documented_situation() {
    let spec = spec();
    for case in cases() {
        let p = plan(&spec, &case.nodes, &case.existing);
        let mut create = case.create.clone();
        create.sort();
        assert_eq!(p.create, create, "{}: create", case.name);
        let mut replace: Vec<Replacement> = case
            .replace
            .iter()
            .map(|(e, d)| Replacement {
                existing: e.clone(),
                desired: d.clone(),
            })
            .collect();
        replace.sort();
        assert_eq!(p.replace, replace, "{}: replace", case.name);
        let mut delete = case.delete.clone();
        delete.sort();
        assert_eq!(p.delete, delete, "{}: delete", case.name);
        let conflicts: Vec<ConflictReason> = p.conflicts.iter().map(|c| c.reason).collect();
        assert_eq!(conflicts, case.conflicts, "{}: conflicts", case.name);
        let unroutable: Vec<&str> = p.unroutable.iter().map(|u| u.reason.kind()).collect();
        assert_eq!(unroutable, case.unroutable, "{}: unroutable", case.name);
    }
}

#[test]
fn is_deterministic_whatever_the_input_order() {
    let spec = spec();
    let mut nodes = vec![
        node("n1").pod_cidr("10.244.1.0/24").aws("i-1").build(),
        node("n2").pod_cidr("10.244.2.0/24").aws("i-2").build(),
        node("n3").pod_cidr("10.244.3.0/24").aws("i-3").build(),
    ];
    let mut routes = vec![
        route("rtb-b", "10.244.9.0/24")
            .instance("i-9")
            .claimed()
            .build(),
        route("rtb-a", "10.244.8.0/24")
            .instance("i-8")
            .claimed()
            .build(),
        route("rtb-a", "10.244.2.0/24").instance("i-1").build(),
    ];
    let first = plan(
        &spec,
        &nodes,
        &snapshot(&["rtb-a", "rtb-b"], routes.clone()),
    );
    nodes.reverse();
    routes.reverse();
    let second = plan(&spec, &nodes, &snapshot(&["rtb-b", "rtb-a"], routes));
    assert_eq!(first, second);
    // 5 creates (n1, n3 in a; all three in b), 1 replace (a: n2 via i-1), 2 stale deletes.
    assert_eq!(first.mutations(), 8);
}

#[test]
fn a_steady_cluster_plans_no_calls() {
    let spec = spec();
    let nodes: Vec<NodeInfo> = (1..=50)
        .map(|i| {
            node(&format!("n{i}"))
                .pod_cidr(&format!("10.244.{i}.0/24"))
                .aws(&format!("i-{i:x}"))
                .build()
        })
        .collect();
    let routes = (1..=50)
        .flat_map(|i| {
            ["rtb-a", "rtb-b"].map(|t| {
                route(t, &format!("10.244.{i}.0/24"))
                    .instance(&format!("i-{i:x}"))
                    .build()
            })
        })
        .collect();
    let p = plan(&spec, &nodes, &snapshot(&["rtb-a", "rtb-b"], routes));
    assert!(p.is_noop(), "{p:?}");
    assert_eq!(p.in_sync.len(), 100);
}
