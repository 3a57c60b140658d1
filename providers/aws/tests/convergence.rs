//! Convergence against the mock EC2 with core's planner: routes created in every table, a
//! steady pass that only lists, hijacked and blackholed routes repaired, stale routes deleted,
//! IPv6, source/dest check turned off exactly once, and the calls a new node costs.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use routeplane_aws::TableSelector;
use routeplane_core::model::{RouteState, RouteTarget};
use routeplane_core::provider::RouteProvider;
use routeplane_mocks::ec2::Target;

#[tokio::test]
async fn converges_every_node_into_every_tagged_table_then_goes_quiet() {
    let mock = mock(world(6)).await;
    let p = provider(&mock, TableSelector::Tagged).await;
    let nodes = nodes(0..6, false);

    let first = pass(&p, &nodes).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(first.plan.create.len(), 18);
    for table in TABLES {
        for i in 0..6 {
            assert!(
                routes_to(&mock, table, &format!("10.244.{i}.0/24"), &instance(i)),
                "{table} node {i}"
            );
        }
    }

    mock.calls().clear();
    let second = pass(&p, &nodes).await;
    assert!(second.plan.is_noop(), "{:?}", second.plan);
    assert_eq!(second.plan.in_sync.len(), 18);
    let counts = mock.calls().counts_by_action();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        vec![("DescribeRouteTables".to_string(), 1)],
        "a steady pass only lists"
    );
}

#[tokio::test]
async fn routes_point_at_the_primary_eni_and_report_the_instance() {
    let mock = mock(world(1)).await;
    let p = provider(&mock, TableSelector::Explicit(vec![TABLES[0].into()])).await;
    let pass = pass(&p, &nodes(0..1, false)).await;
    assert!(pass.errors.is_empty(), "{:?}", pass.errors);
    let create = mock
        .calls()
        .all()
        .into_iter()
        .find(|c| c.action == "CreateRoute")
        .unwrap();
    let eni = mock.world().read(|w| {
        w.instance(&instance(0))
            .unwrap()
            .primary_eni()
            .unwrap()
            .id
            .clone()
    });
    assert_eq!(create.params.get("NetworkInterfaceId"), Some(&eni));
    assert!(!create.params.contains_key("InstanceId"));
    let listed = p.list_routes(&[]).await.unwrap();
    let route = listed
        .routes
        .iter()
        .find(|r| r.destination.to_string() == "10.244.0.0/24")
        .unwrap();
    assert_eq!(route.target, RouteTarget::Instance(instance(0)));
    assert!(route.claimed, "the instance carries the cluster tag");
}

#[tokio::test]
async fn source_dest_check_is_turned_off_once_per_instance_ever() {
    let mut w = world(3);
    // Node 2's interface already forwards: no call for it.
    w.instances
        .iter_mut()
        .find(|i| i.id == instance(2))
        .unwrap()
        .network_interfaces[0]
        .source_dest_check = false;
    let mock = mock(w).await;
    let p = provider(&mock, TableSelector::Tagged).await;
    let nodes = nodes(0..3, false);
    for _ in 0..3 {
        let pass = pass(&p, &nodes).await;
        assert!(pass.errors.is_empty(), "{:?}", pass.errors);
    }
    // Every create in three tables asked; one request per instance that needed it.
    assert_eq!(mock.calls().count("ModifyNetworkInterfaceAttribute"), 2);
    for i in 0..3 {
        let check = mock
            .world()
            .read(|w| w.instance(&instance(i)).unwrap().source_dest_check());
        assert!(!check, "node {i}");
    }
    // Asking again costs nothing.
    let before = mock.calls().len();
    p.ensure_forwarding(&refs(&nodes)[0]).await.unwrap();
    assert_eq!(mock.calls().len(), before);
}

#[tokio::test]
async fn dual_stack_nodes_get_an_ipv6_route_via_destination_ipv6_cidr_block() {
    let mut w = world(2);
    w.set_vpc_ipv6(VPC, "2600:1f18::/56").unwrap();
    let mock = mock(w).await;
    let p = provider(&mock, TableSelector::Tagged).await;
    let pass = pass(&p, &nodes(0..2, true)).await;
    assert!(pass.errors.is_empty(), "{:?}", pass.errors);
    assert!(routes_to(
        &mock,
        TABLES[1],
        "fd00:10:244:1::/64",
        &instance(1)
    ));
    let v6 = mock
        .calls()
        .all()
        .into_iter()
        .filter(|c| c.params.contains_key("DestinationIpv6CidrBlock"))
        .count();
    assert_eq!(v6, 6, "one IPv6 create per node per table");
    // The IPv6 local route is not reported, and the listing shows the new routes.
    let listed = p.list_routes(&[]).await.unwrap();
    assert!(
        listed
            .routes
            .iter()
            .all(|r| r.destination.to_string() != "2600:1f18::/56")
    );
    assert_eq!(
        listed
            .routes
            .iter()
            .filter(|r| r.destination.addr().is_ipv6())
            .count(),
        6
    );
}

#[tokio::test]
async fn hijacked_and_blackholed_routes_are_replaced_and_stale_ones_deleted() {
    let mut w = world(3);
    // A route of a node that is gone (instance terminated): blackhole in table 0.
    add_instance(&mut w, 9);
    w.add_route(TABLES[0], "10.244.9.0/24", Target::Instance(instance(9)))
        .unwrap();
    w.terminate_instance(&instance(9));
    // A blackhole at a live node's Pod CIDR, in table 1: replaced.
    add_instance(&mut w, 8);
    w.add_route(TABLES[1], "10.244.0.0/24", Target::Instance(instance(8)))
        .unwrap();
    w.terminate_instance(&instance(8));
    let mock = mock(w).await;
    let p = provider(&mock, TableSelector::Tagged).await;
    let nodes = nodes(0..3, false);

    let listed = p.list_routes(&refs(&nodes)).await.unwrap();
    let hole = listed
        .routes
        .iter()
        .find(|r| r.destination.to_string() == "10.244.9.0/24")
        .unwrap();
    assert_eq!(hole.state, RouteState::Blackhole);
    assert!(hole.claimed, "blackholes are claimed");

    let first = pass(&p, &nodes).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(first.plan.delete.len(), 1);
    assert_eq!(first.plan.replace.len(), 1);
    assert!(
        routes_in(&mock, TABLES[0])
            .iter()
            .all(|(d, _, _)| d != "10.244.9.0/24")
    );
    assert!(routes_to(&mock, TABLES[1], "10.244.0.0/24", &instance(0)));

    // Someone points node 1's route at node 2 by hand: repaired with ReplaceRoute.
    mock.world()
        .hijack_route(TABLES[2], "10.244.1.0/24", Target::Instance(instance(2)))
        .unwrap();
    mock.calls().clear();
    let repair = pass(&p, &nodes).await;
    assert!(repair.errors.is_empty(), "{:?}", repair.errors);
    assert_eq!(repair.plan.replace.len(), 1);
    assert!(routes_to(&mock, TABLES[2], "10.244.1.0/24", &instance(1)));
    assert_eq!(mock.calls().count("ReplaceRoute"), 1);
    assert_eq!(mock.calls().count("CreateRoute"), 0);

    // A node leaves: its routes go from every table.
    let fewer = &nodes[..2];
    let shrink = pass(&p, fewer).await;
    assert!(shrink.errors.is_empty(), "{:?}", shrink.errors);
    assert_eq!(shrink.plan.delete.len(), 3);
    for table in TABLES {
        assert!(
            routes_in(&mock, table)
                .iter()
                .all(|(d, _, _)| d != "10.244.2.0/24"),
            "{table}"
        );
    }
}

#[tokio::test]
async fn foreign_routes_are_listed_but_never_claimed() {
    let mut w = world(1);
    // An instance of another cluster routes a CIDR inside ours.
    w.add_instance("i-0f0f0f0f", SUBNETS[0]).unwrap();
    w.tag("i-0f0f0f0f", "kubernetes.io/cluster/other", "owned")
        .unwrap();
    w.add_route(
        TABLES[0],
        "10.244.200.0/24",
        Target::Instance("i-0f0f0f0f".into()),
    )
    .unwrap();
    w.add_route(
        TABLES[0],
        "192.168.0.0/16",
        Target::VpcPeeringConnection("pcx-0a".into()),
    )
    .unwrap();
    let mock = mock(w).await;
    let p = provider(&mock, TableSelector::Tagged).await;
    let nodes = nodes(0..1, false);
    let pass = pass(&p, &nodes).await;
    assert!(pass.errors.is_empty(), "{:?}", pass.errors);
    let foreign = pass
        .snapshot
        .routes
        .iter()
        .find(|r| r.destination.to_string() == "10.244.200.0/24")
        .unwrap();
    assert!(!foreign.claimed);
    let pcx = pass
        .snapshot
        .routes
        .iter()
        .find(|r| r.destination.to_string() == "192.168.0.0/16")
        .unwrap();
    assert_eq!(pcx.target, RouteTarget::Other("pcx-0a".into()));
    assert!(pass.plan.delete.is_empty());
    // The foreign instance was described once; the next list asks nothing new.
    mock.calls().clear();
    p.list_routes(&refs(&nodes)).await.unwrap();
    assert_eq!(mock.calls().len(), 1);
}

#[tokio::test]
async fn a_new_node_costs_one_batched_read_and_one_write_per_table() {
    let mut w = world(20);
    add_instance(&mut w, 20);
    let mock = mock(w).await;
    let p = provider(&mock, TableSelector::Tagged).await;
    let mut all = nodes(0..20, false);
    let first = pass(&p, &all).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let initial = mock.calls().counts_by_action();
    eprintln!("initial convergence of 20 nodes x 3 tables: {initial:?}");
    // One batched DescribeInstances for all 20 nodes, one list.
    assert_eq!(initial.get("DescribeInstances"), Some(&1));
    assert_eq!(initial.get("DescribeRouteTables"), Some(&1));
    assert_eq!(initial.get("CreateRoute"), Some(&60));
    assert_eq!(initial.get("ModifyNetworkInterfaceAttribute"), Some(&20));

    all.push(node(20, false));
    mock.calls().clear();
    let added = pass(&p, &all).await;
    assert!(added.errors.is_empty(), "{:?}", added.errors);
    let calls = mock.calls();
    let mutating = calls.mutating().len();
    let reads = calls.len() - mutating;
    eprintln!(
        "one new node, 3 tables: {:?} (mutating {mutating}, reads {reads})",
        calls.counts_by_action()
    );
    assert_eq!(
        mutating, 4,
        "3 CreateRoute + 1 ModifyNetworkInterfaceAttribute"
    );
    assert_eq!(reads, 2, "1 DescribeRouteTables + 1 DescribeInstances");
    let counts = p.calls();
    assert!(
        counts.keys().all(|(_, outcome)| outcome == "ok"),
        "{counts:?}"
    );
}

#[tokio::test]
async fn a_departed_nodes_routes_are_removed_even_when_its_instance_is_untagged() {
    let mut w = world(0);
    for (i, subnet) in SUBNETS.iter().enumerate().take(2) {
        // kubeadm-style nodes: no cluster tag on the instances.
        w.add_instance(&instance(i), subnet).unwrap();
    }
    let mock = mock(w).await;
    let p = provider(&mock, TableSelector::Tagged).await;
    let both = nodes(0..2, false);
    assert!(pass(&p, &both).await.errors.is_empty());
    // Node 1 is deleted from Kubernetes while its instance keeps running.
    let gone = pass(&p, &both[..1]).await;
    assert!(gone.errors.is_empty(), "{:?}", gone.errors);
    assert_eq!(gone.plan.delete.len(), 3);
    for table in TABLES {
        assert!(
            routes_in(&mock, table)
                .iter()
                .all(|(d, _, _)| d != "10.244.1.0/24"),
            "{table}"
        );
    }
}
