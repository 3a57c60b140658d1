//! Route table selection against the mock EC2: explicit ids (verified), tagged tables
//! (owned|shared, optionally one VPC), and the tables of the nodes' subnets with the main-table
//! fallback; each with one DescribeRouteTables per list.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use routeplane_aws::{AwsProvider, TableSelector};
use routeplane_core::provider::{ErrorKind, RouteProvider};

fn table_ids(snapshot: &routeplane_core::model::RouteSnapshot) -> Vec<String> {
    snapshot.tables.iter().map(|t| t.id.0.clone()).collect()
}

#[tokio::test]
async fn explicit_tables_are_exactly_the_listed_ones() {
    let mock = mock(world(2)).await;
    let p = provider(
        &mock,
        TableSelector::Explicit(vec![TABLES[2].into(), TABLES[0].into()]),
    )
    .await;
    let snap = p.list_routes(&[]).await.unwrap();
    assert_eq!(table_ids(&snap), [TABLES[0], TABLES[2]]);
    assert_eq!(mock.calls().count("DescribeRouteTables"), 1);
}

#[tokio::test]
async fn a_missing_explicit_table_is_a_not_found_error_naming_it() {
    let mock = mock(world(1)).await;
    let p = provider(
        &mock,
        TableSelector::Explicit(vec![TABLES[0].into(), "rtb-0dead".into()]),
    )
    .await;
    let err = p.list_routes(&[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains("rtb-0dead"), "{}", err.message);
    assert_eq!(err.code.as_deref(), Some("InvalidRouteTableID.NotFound"));
}

#[tokio::test]
async fn tagged_discovery_takes_owned_and_shared_tables_in_the_vpc() {
    let mut w = world(1);
    w.tag(TABLES[1], TAG, "shared").unwrap();
    // Tagged for another cluster, or with a value that is neither owned nor shared.
    w.tag(TABLES[2], TAG, "retired").unwrap();
    w.add_vpc("vpc-0b", "10.1.0.0/16").unwrap();
    w.add_route_table("rtb-0ff", "vpc-0b", true, &[]).unwrap();
    w.tag("rtb-0ff", TAG, "owned").unwrap();
    let mock = mock(w).await;

    let p = provider(&mock, TableSelector::Tagged).await;
    assert_eq!(
        table_ids(&p.list_routes(&[]).await.unwrap()),
        [TABLES[0], TABLES[1], "rtb-0ff"]
    );

    let mut cfg = config(&mock, TableSelector::Tagged);
    cfg.vpc_id = Some(VPC.into());
    let scoped = AwsProvider::new(cfg).await.unwrap();
    assert_eq!(
        table_ids(&scoped.list_routes(&[]).await.unwrap()),
        [TABLES[0], TABLES[1]]
    );
}

#[tokio::test]
async fn a_vpc_without_tagged_tables_is_a_clear_error() {
    let mut w = world(1);
    for t in TABLES {
        w.tags_mut(t).unwrap().clear();
    }
    let mock = mock(w).await;
    let mut cfg = config(&mock, TableSelector::Tagged);
    cfg.vpc_id = Some(VPC.into());
    let p = AwsProvider::new(cfg).await.unwrap();
    let err = p.list_routes(&[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(
        err.message.contains(TAG) && err.message.contains(VPC),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn subnet_discovery_follows_the_nodes_subnets_and_falls_back_to_the_main_table() {
    let mut w = world(0);
    // A fourth subnet with no explicit association uses the main table (TABLES[0]).
    w.add_subnet("subnet-0d4", VPC, "10.0.4.0/24", "us-east-1d")
        .unwrap();
    w.add_instance(&instance(0), SUBNETS[1]).unwrap();
    w.add_instance(&instance(1), "subnet-0d4").unwrap();
    // Tagged for the cluster, so a departed node's routes are recognisably ours.
    w.tag(&instance(0), TAG, "owned").unwrap();
    w.tag(&instance(1), TAG, "owned").unwrap();
    // Subnet discovery does not need any tag.
    for t in TABLES {
        w.tags_mut(t).unwrap().clear();
    }
    let mock = mock(w).await;
    let p = provider(&mock, TableSelector::Subnets).await;
    let nodes = nodes(0..2, false);
    let first = pass(&p, &nodes).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(table_ids(&first.snapshot), [TABLES[0], TABLES[1]]);
    assert!(routes_to(&mock, TABLES[0], "10.244.1.0/24", &instance(1)));
    assert!(routes_to(&mock, TABLES[1], "10.244.0.0/24", &instance(0)));
    assert!(
        routes_in(&mock, TABLES[2])
            .iter()
            .all(|(d, _, _)| !d.starts_with("10.244."))
    );
    // The instances were described once, in one batch; each list is one DescribeRouteTables.
    assert_eq!(mock.calls().count("DescribeInstances"), 1);

    // The node in subnet 1 leaves: its table stays managed so its routes are cleaned up.
    let rest = &nodes[1..];
    let shrink = pass(&p, rest).await;
    assert!(shrink.errors.is_empty(), "{:?}", shrink.errors);
    assert_eq!(table_ids(&shrink.snapshot), [TABLES[0], TABLES[1]]);
    assert!(
        routes_in(&mock, TABLES[1])
            .iter()
            .all(|(d, _, _)| d != "10.244.0.0/24")
    );
}

#[tokio::test]
async fn table_limits_leave_room_for_the_local_route() {
    let mock = mock(world(0)).await;
    let mut cfg = config(&mock, TableSelector::Tagged);
    cfg.route_limit = 100;
    let p = AwsProvider::new(cfg).await.unwrap();
    let snap = p.list_routes(&[]).await.unwrap();
    assert!(
        snap.tables.iter().all(|t| t.route_limit == Some(99)),
        "{:?}",
        snap.tables
    );
}
