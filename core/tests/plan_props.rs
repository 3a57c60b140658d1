//! Property tests for `plan()`: for random nodes and random cloud routes, (1) the plan never
//! touches a route outside ownership, (2) applying it leaves every foreign route as it was and
//! the owned routes exactly equal to the desired set, and (3) planning again changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::collections::BTreeSet;

use proptest::prelude::*;
use routeplane_core::plan::{ConflictReason, Plan, is_owned};
use routeplane_core::testing::{node, route, snapshot, spec};
use routeplane_core::{CloudRoute, NodeInfo, RouteSnapshot, RouteState, RouteTarget, plan};

const TABLES: [&str; 2] = ["rtb-a", "rtb-b"];
const CIDRS: [&str; 8] = [
    "10.244.1.0/24",
    "10.244.2.0/24",
    "10.244.3.0/24",
    "10.244.4.0/24",
    "10.244.1.0/25",
    "fd00:10:244:1::/64",
    "192.168.0.0/24",
    "0.0.0.0/0",
];

fn arb_node() -> impl Strategy<Value = NodeInfo> {
    (
        0..6u8,
        proptest::collection::vec(0..CIDRS.len(), 0..3),
        0..8u8,
    )
        .prop_map(|(n, cidrs, inst)| {
            let mut b = node(&format!("n{n}"));
            for c in cidrs {
                b = b.pod_cidr(CIDRS[c]);
            }
            match inst {
                0 => b,                                 // no providerID
                7 => b.gce("p", "z", &format!("g{n}")), // another cloud
                i => b.aws(&format!("i-{i}")),
            }
            .build()
        })
}

fn arb_route() -> impl Strategy<Value = CloudRoute> {
    (
        0..3usize,
        0..CIDRS.len(),
        0..12u8,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(t, c, target, blackhole, claimed)| {
            let table = if t < 2 { TABLES[t] } else { "rtb-unmanaged" };
            let mut b = route(table, CIDRS[c]);
            b = if target < 9 {
                b.instance(&format!("i-{target}"))
            } else {
                b.other(&format!("pcx-{target}"))
            };
            if blackhole {
                b = b.blackhole();
            }
            if claimed {
                b = b.claimed();
            }
            b.build()
        })
}

fn unique_names(nodes: Vec<NodeInfo>) -> Vec<NodeInfo> {
    let mut seen = BTreeSet::new();
    nodes
        .into_iter()
        .filter(|n| seen.insert(n.name.clone()))
        .collect()
}

fn known(nodes: &[NodeInfo]) -> BTreeSet<String> {
    nodes
        .iter()
        .filter_map(|n| n.target.as_ref().ok())
        .filter(|t| t.cloud() == routeplane_core::Cloud::Aws)
        .map(|t| t.key())
        .collect()
}

/// What the cloud would hold after the plan's calls all succeed.
fn apply(existing: &[CloudRoute], p: &Plan) -> Vec<CloudRoute> {
    let mut routes = existing.to_vec();
    let mut remove = |r: &CloudRoute| {
        let i = routes
            .iter()
            .position(|x| x == r)
            .expect("plan names a route that exists");
        routes.remove(i);
    };
    for r in &p.delete {
        remove(r);
    }
    for r in &p.replace {
        remove(&r.existing);
    }
    let added = p
        .create
        .iter()
        .chain(p.replace.iter().map(|r| &r.desired))
        .map(|d| CloudRoute {
            table: d.table.clone(),
            destination: d.destination,
            target: d.route_target(),
            state: RouteState::Active,
            name: None,
            claimed: true,
        });
    routes.extend(added);
    routes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn plan_respects_ownership_and_converges(
        nodes in proptest::collection::vec(arb_node(), 0..6).prop_map(unique_names),
        // A cloud never lists the same route twice (names or destinations are unique).
        routes in proptest::collection::btree_set(arb_route(), 0..12).prop_map(|s| s.into_iter().collect::<Vec<_>>()),
    ) {
        let spec = spec();
        let existing = RouteSnapshot { routes: routes.clone(), ..snapshot(&TABLES, vec![]) };
        let p = plan(&spec, &nodes, &existing);
        let known = known(&nodes);
        let managed = |r: &CloudRoute| TABLES.contains(&r.table.0.as_str());

        // 1. Only owned routes in managed tables are ever touched.
        for r in p.delete.iter().chain(p.replace.iter().map(|r| &r.existing)) {
            prop_assert!(managed(r) && is_owned(&spec, &known, r), "touched a foreign route {r:?}");
        }
        for d in p.create.iter().chain(p.replace.iter().map(|r| &r.desired)) {
            prop_assert!(spec.contains(&d.destination), "wrote outside the cluster CIDR: {d:?}");
        }

        // 2. Foreign routes survive exactly; owned routes become exactly the desired set.
        let after = apply(&routes, &p);
        let foreign = |rs: &[CloudRoute]| -> Vec<CloudRoute> {
            let mut v: Vec<_> = rs.iter().filter(|r| !managed(r) || !is_owned(&spec, &known, r)).cloned().collect();
            v.sort();
            v
        };
        prop_assert_eq!(foreign(&routes), foreign(&after));

        let blocked: BTreeSet<_> = p.conflicts.iter()
            .filter(|c| c.reason == ConflictReason::ForeignRouteAtPodCidr)
            .map(|c| (c.route.table.clone(), c.pod_cidr))
            .collect();
        let want: BTreeSet<_> = p.create.iter()
            .chain(p.in_sync.iter())
            .chain(p.replace.iter().map(|r| &r.desired))
            .map(|d| (d.table.clone(), d.destination, RouteTarget::Instance(d.target.clone())))
            .collect();
        let have: BTreeSet<_> = after.iter()
            .filter(|r| managed(r) && is_owned(&spec, &known, r))
            .map(|r| {
                prop_assert_eq!(r.state, RouteState::Active);
                Ok((r.table.clone(), r.destination, r.target.clone()))
            })
            .collect::<Result<_, _>>()?;
        prop_assert_eq!(&have, &want);
        // A conflict may stand next to a route of ours already right (GCE allows both), but
        // nothing is ever written at a conflicting destination.
        for d in p.create.iter().chain(p.replace.iter().map(|r| &r.desired)) {
            prop_assert!(!blocked.contains(&(d.table.clone(), d.destination)), "wrote over a conflict");
        }
        let owned_count = after.iter().filter(|r| managed(r) && is_owned(&spec, &known, r)).count();
        prop_assert_eq!(owned_count, want.len(), "one owned route per destination");

        // 3. Planning the result again is a no-op.
        let again = plan(&spec, &nodes, &RouteSnapshot { routes: after, ..snapshot(&TABLES, vec![]) });
        prop_assert!(again.is_noop(), "second plan not empty: {again:?}");
    }
}
