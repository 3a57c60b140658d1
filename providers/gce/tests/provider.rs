//! The GCE provider against the mock GCE over HTTP with the real google-cloud-compute-v1
//! client: convergence and a quiet second pass, the list filter and pagination, idempotent
//! inserts (409 read back), asynchronous operation failures retried, quota, canIpForward,
//! two clusters on one network, hijack repair by delete-then-insert, and the poll bound.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use routeplane_core::model::{DesiredRoute, RouteTarget, TableId};
use routeplane_core::provider::{ErrorKind, RouteProvider};
use routeplane_core::provider_id::InstanceRef;
use routeplane_core::testing::apply_once;
use routeplane_gce::{GceProvider, RouteNaming};
use routeplane_mocks::gce::{NextHop, OpFailure, Route};

fn want(p: &GceProvider, cidr: &str, i: usize) -> DesiredRoute {
    DesiredRoute {
        table: TableId(p.network_key().to_string()),
        destination: cidr.parse().unwrap(),
        target: format!("projects/{PROJECT}/zones/{ZONE}/instances/{}", instance(i)),
        node: format!("node-{i}"),
    }
}

#[tokio::test]
async fn converges_dual_stack_then_a_second_pass_is_one_list_and_no_writes() {
    let mock = mock(world(4), Duration::from_millis(50)).await;
    let p = provider(&mock).await;
    p.check().await.unwrap();
    let nodes = nodes(0..4, true);
    let first = pass(&p, &nodes).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(first.plan.create.len(), 8);
    let naming = RouteNaming::new(CLUSTER);
    for i in 0..4 {
        for cidr in [
            format!("10.244.{i}.0/24"),
            format!("fd00:10:244:{i:x}::/64"),
        ] {
            let name = naming.name(&cidr.parse().unwrap());
            let r = mock.world().route(&name).unwrap();
            assert_eq!(
                r.dest_range.parse::<ipnet::IpNet>().unwrap(),
                cidr.parse::<ipnet::IpNet>().unwrap()
            );
            assert_eq!(r.next_hop, NextHop::instance(ZONE, &instance(i)));
            assert_eq!(r.description, "routeplane:c1");
            assert_eq!(r.network, NETWORK);
            assert_eq!(r.priority, 1000);
        }
    }
    // The internet route is listed (the list covers the network) but not ours, and untouched.
    assert!(mock.world().route("internet").is_some());
    assert_eq!(first.snapshot.routes.len(), 1);
    assert!(!first.snapshot.routes[0].claimed);
    assert!(matches!(
        first.snapshot.routes[0].target,
        RouteTarget::Other(_)
    ));

    let before = mock.calls().len();
    let second = pass(&p, &nodes).await;
    assert!(second.plan.is_noop() && second.errors.is_empty());
    assert_eq!(second.plan.in_sync.len(), 8);
    let calls = mock.calls().all();
    let quiet: Vec<&str> = calls[before..].iter().map(|c| c.method.as_str()).collect();
    assert_eq!(quiet, vec!["compute.routes.list"]);
    let filter = &calls[before].query["filter"];
    assert!(
        filter.starts_with("network eq ") && filter.ends_with("networks/vpc-test\""),
        "{filter}"
    );
}

#[tokio::test]
async fn the_listing_pages_through_every_route_of_the_cluster() {
    let naming = RouteNaming::new(CLUSTER);
    let mut w = world(1).route_quota(2000);
    for k in 0..520 {
        let cidr = format!("10.244.{}.{}/30", k / 64, (k % 64) * 4);
        w = w.route(
            Route::new(
                &naming.name(&cidr.parse().unwrap()),
                &cidr,
                NextHop::instance(ZONE, &instance(0)),
            )
            .network(NETWORK)
            .description(&naming.description()),
        );
    }
    let mock = mock(w, Duration::ZERO).await;
    let p = provider(&mock).await;
    let snap = p.list_routes(&[]).await.unwrap();
    // Ours, and the network's internet route (listed, not claimed).
    assert_eq!(snap.routes.len(), 521);
    assert_eq!(snap.routes.iter().filter(|r| r.claimed).count(), 520);
    assert_eq!(mock.calls().count("compute.routes.list"), 2, "500 per page");
}

#[tokio::test]
async fn an_insert_that_finds_its_route_reads_it_back() {
    let mock = mock(world(2), Duration::ZERO).await;
    let p = provider(&mock).await;
    let naming = RouteNaming::new(CLUSTER);
    let cidr = "10.244.0.0/24";
    mock.world()
        .add_route(
            Route::new(
                &naming.name(&cidr.parse().unwrap()),
                cidr,
                NextHop::instance(ZONE, &instance(0)),
            )
            .network(NETWORK)
            .description("routeplane:c1"),
        )
        .unwrap();
    // Same target: the 409 is success.
    p.create_route(&want(&p, cidr, 0)).await.unwrap();
    // Another target under our name: a conflict that says what is there.
    let err = p.create_route(&want(&p, cidr, 1)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert!(err.message.contains(&instance(0)), "{}", err.message);
    assert_eq!(mock.calls().count("compute.routes.get"), 2);
}

#[tokio::test]
async fn operations_that_fail_asynchronously_are_sent_again() {
    let mock = mock(world(1), Duration::from_millis(30)).await;
    mock.world()
        .fail_next_operations(Some("insert"), 2, OpFailure::internal());
    let p = provider(&mock).await;
    p.create_route(&want(&p, "10.244.0.0/24", 0)).await.unwrap();
    assert!(routes_to(&mock, "10.244.0.0/24", 0));
    assert_eq!(mock.calls().count("compute.routes.insert"), 3);
    // Each attempt carried its own requestId, or GCE would have answered the failed operation.
    let ids: std::collections::BTreeSet<String> = mock
        .calls()
        .all()
        .iter()
        .filter(|c| c.method == "compute.routes.insert")
        .map(|c| c.query["requestId"].clone())
        .collect();
    assert_eq!(ids.len(), 3);
}

#[tokio::test]
async fn route_quota_is_a_quota_error_per_route() {
    // The quota counts the internet route: room for two of ours.
    let mock = mock(world(3).route_quota(3), Duration::ZERO).await;
    let p = provider(&mock).await;
    let done = pass(&p, &nodes(0..3, false)).await;
    assert_eq!(done.errors.len(), 1, "{:?}", done.errors);
    let (_, e) = &done.errors[0];
    assert_eq!(e.kind, ErrorKind::Quota);
    assert_eq!(e.code.as_deref(), Some("QUOTA_EXCEEDED"));
    assert!(routes_to(&mock, "10.244.0.0/24", 0) && routes_to(&mock, "10.244.1.0/24", 1));
}

#[tokio::test]
async fn an_instance_that_cannot_forward_gets_no_route_and_a_named_reason() {
    let w = world(1).instance(ZONE, &instance(1), "10.128.0.9", false);
    let mock = mock(w, Duration::ZERO).await;
    let p = provider(&mock).await;
    let done = pass(&p, &nodes(0..2, false)).await;
    assert_eq!(done.errors.len(), 1, "{:?}", done.errors);
    let (failed, e) = &done.errors[0];
    assert_eq!(failed, "node-1");
    assert_eq!(e.code.as_deref(), Some("IpForwardingDisabled"));
    assert_eq!(e.condition_reason, Some("IpForwardingDisabled"));
    assert!(e.message.contains("canIpForward=false"), "{}", e.message);
    assert!(!routes_to(&mock, "10.244.1.0/24", 1));
    // A forwarding instance is asked about once, however often it is checked.
    let fine = node(0, false).target.unwrap();
    p.ensure_forwarding(&fine).await.unwrap();
    p.ensure_forwarding(&fine).await.unwrap();
    assert_eq!(
        mock.calls().count("compute.instances.get"),
        2,
        "one per instance"
    );
}

#[tokio::test]
async fn a_node_of_another_cloud_or_a_missing_instance_is_reported_per_node() {
    let mock = mock(world(1), Duration::ZERO).await;
    let p = provider(&mock).await;
    let aws = InstanceRef::Aws {
        zone: None,
        instance_id: "i-0abc".into(),
    };
    let e = p.ensure_forwarding(&aws).await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_deref()),
        (ErrorKind::Invalid, Some("NotAGceInstance"))
    );
    let gone = InstanceRef::Gce {
        project: PROJECT.into(),
        zone: ZONE.into(),
        name: "no-such-node".into(),
    };
    let e = p.ensure_forwarding(&gone).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn two_clusters_with_a_long_shared_prefix_never_touch_each_others_routes() {
    let base = "production-europe-west1-kubernetes-cluster";
    let (ca, cb) = (format!("{base}-a"), format!("{base}-b"));
    let mock = mock(world(6), Duration::ZERO).await;
    let pa = GceProvider::new(config(&mock, &ca)).await.unwrap();
    let pb = GceProvider::new(config(&mock, &cb)).await.unwrap();
    let (na, nb) = (nodes(0..3, false), nodes(3..6, false));
    assert!(apply_once(&pa, &spec_for(&ca), &na).await.errors.is_empty());
    assert!(apply_once(&pb, &spec_for(&cb), &nb).await.errors.is_empty());
    // Each sees the whole network (3 + 3 + the internet route) and claims only its own three.
    for p in [&pa, &pb] {
        let routes = p.list_routes(&[]).await.unwrap().routes;
        assert_eq!(routes.len(), 7);
        assert_eq!(routes.iter().filter(|r| r.claimed).count(), 3);
    }
    // Cluster a loses all its nodes: it deletes its routes, and only those.
    let gone = apply_once(&pa, &spec_for(&ca), &[]).await;
    assert_eq!(gone.plan.delete.len(), 3);
    assert!(gone.errors.is_empty());
    for i in 3..6 {
        assert!(
            routes_to(&mock, &format!("10.244.{i}.0/24"), i),
            "b's route {i}"
        );
    }
    for i in 0..3 {
        assert!(
            !routes_to(&mock, &format!("10.244.{i}.0/24"), i),
            "a's route {i}"
        );
    }
    assert!(apply_once(&pb, &spec_for(&cb), &nb).await.plan.is_noop());
}

#[tokio::test]
async fn a_hijacked_route_is_deleted_and_inserted_again_and_the_gap_is_measured() {
    let mock = mock(world(2), Duration::from_millis(40)).await;
    let p = provider(&mock).await;
    let nodes = nodes(0..2, false);
    assert!(pass(&p, &nodes).await.errors.is_empty());
    let name = RouteNaming::new(CLUSTER).name(&"10.244.0.0/24".parse().unwrap());
    mock.world()
        .hijack_route(&name, NextHop::instance(ZONE, &instance(1)))
        .unwrap();
    let snap = p.list_routes(&[]).await.unwrap();
    let hijacked = snap
        .routes
        .iter()
        .find(|r| r.name.as_deref() == Some(name.as_str()))
        .unwrap();
    assert_eq!(
        hijacked.target,
        RouteTarget::Instance(format!(
            "projects/{PROJECT}/zones/{ZONE}/instances/{}",
            instance(1)
        ))
    );
    let gap = p
        .replace_route(hijacked, &want(&p, "10.244.0.0/24", 0))
        .await
        .unwrap();
    assert!(routes_to(&mock, "10.244.0.0/24", 0));
    // The insert's operation alone takes the mock's 40 ms.
    assert!(gap >= Duration::from_millis(30), "{gap:?}");
    assert_eq!(mock.calls().count("compute.routes.delete"), 1);
}

#[tokio::test]
async fn operation_polls_in_flight_never_exceed_the_bound() {
    let n = 24;
    let mock = mock(world(n), Duration::from_millis(300)).await;
    let mut cfg = config(&mock, CLUSTER);
    cfg.max_polls = 3;
    let p = GceProvider::new(cfg).await.unwrap();
    let wants: Vec<DesiredRoute> = (0..n)
        .map(|i| want(&p, &format!("10.244.{i}.0/24"), i))
        .collect();
    let results = futures::future::join_all(wants.iter().map(|w| p.create_route(w))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!((0..n).all(|i| routes_to(&mock, &format!("10.244.{i}.0/24"), i)));
    assert!(mock.calls().peak_concurrent_polls() <= 3);
    assert!(p.peak_polls() <= 3 && p.peak_polls() >= 1);
    assert!(mock.calls().polls() >= n, "every operation was polled");
}

#[tokio::test]
async fn an_unknown_network_or_project_is_named_at_start_up() {
    let mock = mock(world(0), Duration::ZERO).await;
    let check = |cfg| async {
        GceProvider::new(cfg)
            .await
            .unwrap()
            .check()
            .await
            .unwrap_err()
    };
    let mut cfg = config(&mock, CLUSTER);
    cfg.network = Some("no-such-net".into());
    let e = check(cfg).await;
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(
        e.message
            .contains("network no-such-net not found in project"),
        "{}",
        e.message
    );
    let mut cfg = config(&mock, CLUSTER);
    cfg.project = Some("other-project".into());
    let e = check(cfg).await;
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("other-project"), "{}", e.message);
}
