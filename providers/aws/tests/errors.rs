//! Failure handling against the mock EC2: quota per table without stopping the others,
//! permissions named, conflicts, idempotent deletes, throttling retried inside the budget, and
//! unusable instances reported per node.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use routeplane_aws::{AwsProvider, TableSelector};
use routeplane_core::budget::{ApiBudget, BucketSpec};
use routeplane_core::model::{CloudRoute, DesiredRoute, RouteState, RouteTarget, TableId};
use routeplane_core::provider::{ErrorKind, RouteProvider};
use routeplane_core::provider_id::InstanceRef;
use routeplane_mocks::ec2::{FaultSpec, Faults, Target, Throttle};

fn want(table: &str, cidr: &str, i: usize) -> DesiredRoute {
    DesiredRoute {
        table: TableId(table.into()),
        destination: cidr.parse().unwrap(),
        target: instance(i),
        node: format!("node-{i}"),
    }
}

#[tokio::test]
async fn a_full_table_is_a_quota_error_and_the_other_tables_still_converge() {
    let mut w = world(3);
    w.route_limit = 5;
    // Table 0 holds local + igw + two peering routes: one slot left for three nodes.
    w.add_route(
        TABLES[0],
        "192.168.1.0/24",
        Target::VpcPeeringConnection("pcx-01".into()),
    )
    .unwrap();
    w.add_route(
        TABLES[0],
        "192.168.2.0/24",
        Target::VpcPeeringConnection("pcx-02".into()),
    )
    .unwrap();
    let mock = mock(w).await;
    let p = provider(&mock, TableSelector::Tagged).await;
    let pass = pass(&p, &nodes(0..3, false)).await;
    let quota: Vec<_> = pass
        .errors
        .iter()
        .filter(|(_, e)| e.kind == ErrorKind::Quota)
        .collect();
    assert_eq!(quota.len(), 2, "{:?}", pass.errors);
    assert_eq!(pass.errors.len(), 2, "{:?}", pass.errors);
    assert!(quota.iter().all(
        |(at, e)| at.starts_with(TABLES[0]) && e.code.as_deref() == Some("RouteLimitExceeded")
    ));
    for table in &TABLES[1..] {
        for i in 0..3 {
            assert!(
                routes_to(&mock, table, &format!("10.244.{i}.0/24"), &instance(i)),
                "{table} node {i}"
            );
        }
    }
    // Quota is not retried in the call.
    assert_eq!(mock.calls().with_code("RouteLimitExceeded").len(), 2);
}

#[tokio::test]
async fn a_denied_action_is_an_auth_error_naming_the_permission() {
    let mock = mock(world(1)).await;
    mock.world().set_denied("CreateRoute", true);
    let p = provider(&mock, TableSelector::Tagged).await;
    let err = p
        .create_route(&want(TABLES[1], "10.244.0.0/24", 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert_eq!(err.code.as_deref(), Some("UnauthorizedOperation"));
    assert!(
        err.message
            .contains(&format!("ec2:CreateRoute on {}", TABLES[1])),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn create_is_idempotent_and_a_foreign_route_at_the_destination_is_a_conflict() {
    let mut w = world(2);
    w.add_route(TABLES[0], "10.244.0.0/24", Target::Instance(instance(0)))
        .unwrap();
    w.add_route(
        TABLES[0],
        "10.244.1.0/24",
        Target::NatGateway("nat-0a".into()),
    )
    .unwrap();
    let mock = mock(w).await;
    let p = provider(&mock, TableSelector::Tagged).await;
    // Already there with our target: success.
    p.create_route(&want(TABLES[0], "10.244.0.0/24", 0))
        .await
        .unwrap();
    // Taken by a NAT gateway: conflict, with the EC2 code and the other target named.
    let err = p
        .create_route(&want(TABLES[0], "10.244.1.0/24", 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert_eq!(err.code.as_deref(), Some("RouteAlreadyExists"));
    assert!(err.message.contains("nat-0a"), "{}", err.message);
}

#[tokio::test]
async fn deleting_a_route_that_is_gone_succeeds_and_a_missing_table_is_not_found() {
    let mock = mock(world(1)).await;
    let p = provider(&mock, TableSelector::Tagged).await;
    let gone = CloudRoute {
        table: TableId(TABLES[0].into()),
        destination: "10.244.77.0/24".parse().unwrap(),
        target: RouteTarget::Instance(instance(0)),
        state: RouteState::Active,
        name: None,
        claimed: true,
    };
    p.delete_route(&gone).await.unwrap();
    assert_eq!(mock.calls().with_code("InvalidRoute.NotFound").len(), 1);

    let err = p
        .create_route(&want("rtb-0dead", "10.244.0.0/24", 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_eq!(err.code.as_deref(), Some("InvalidRouteTableID.NotFound"));
}

#[tokio::test]
async fn replacing_a_route_that_vanished_creates_it() {
    let mock = mock(world(1)).await;
    let p = provider(&mock, TableSelector::Tagged).await;
    let vanished = CloudRoute {
        table: TableId(TABLES[0].into()),
        destination: "10.244.0.0/24".parse().unwrap(),
        target: RouteTarget::Other("eni-0old".into()),
        state: RouteState::Blackhole,
        name: None,
        claimed: true,
    };
    p.replace_route(&vanished, &want(TABLES[0], "10.244.0.0/24", 0))
        .await
        .unwrap();
    assert!(routes_to(&mock, TABLES[0], "10.244.0.0/24", &instance(0)));
}

#[tokio::test]
async fn an_instance_without_an_interface_is_invalid_and_an_unknown_one_not_found() {
    let mut w = world(2);
    w.terminate_instance(&instance(1));
    let mock = mock(w).await;
    let p = provider(&mock, TableSelector::Tagged).await;
    let terminated = InstanceRef::Aws {
        zone: None,
        instance_id: instance(1),
    };
    let err = p.ensure_forwarding(&terminated).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains(&instance(1)), "{}", err.message);
    let err = p
        .create_route(&want(TABLES[0], "10.244.1.0/24", 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);

    let unknown = InstanceRef::Aws {
        zone: None,
        instance_id: "i-0badbad".into(),
    };
    let err = p.ensure_forwarding(&unknown).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains("i-0badbad"), "{}", err.message);

    let gce = InstanceRef::Gce {
        project: "p".into(),
        zone: "z".into(),
        name: "n".into(),
    };
    assert_eq!(
        p.ensure_forwarding(&gce).await.unwrap_err().kind,
        ErrorKind::Invalid
    );
}

#[tokio::test]
async fn throttled_requests_are_retried_until_they_succeed() {
    // The mock's CreateRoute bucket is far smaller than the client believes.
    let throttle = Throttle::ec2_defaults().with_bucket("CreateRoute", 3.0, 20.0);
    let mock = mock_with(world(4), throttle).await;
    let p = unbudgeted(&mock, TableSelector::Tagged).await;
    let pass = pass(&p, &nodes(0..4, false)).await;
    assert!(pass.errors.is_empty(), "{:?}", pass.errors);
    assert!(
        !mock.calls().with_code("RequestLimitExceeded").is_empty(),
        "the test should provoke throttling"
    );
    for table in TABLES {
        for i in 0..4 {
            assert!(routes_to(
                &mock,
                table,
                &format!("10.244.{i}.0/24"),
                &instance(i)
            ));
        }
    }
    let counts = p.calls();
    assert!(
        counts
            .get(&("CreateRoute".to_string(), "throttled".to_string()))
            .is_some_and(|n| *n > 0),
        "{counts:?}"
    );
    assert_eq!(
        counts.get(&("CreateRoute".to_string(), "ok".to_string())),
        Some(&12)
    );
}

#[tokio::test]
async fn the_client_budget_keeps_every_request_inside_the_mocks_buckets() {
    // Small buckets on both sides so the test is quick: bursts of 5, refills of 10/s. The mock
    // gets one token of slack: the client takes tokens when it sends and the mock counts them
    // when they arrive, so scheduling jitter under a loaded test run can bunch two arrivals
    // closer than they left (one token = 100 ms of jitter tolerated).
    let small = BucketSpec::new(5.0, 10.0);
    let throttle = Throttle::ec2_defaults()
        .with_bucket("CreateRoute", small.capacity + 1.0, small.refill_per_sec)
        .with_bucket(
            "ModifyNetworkInterfaceAttribute",
            small.capacity + 1.0,
            small.refill_per_sec,
        );
    let mock = mock_with(world(8), throttle).await;
    let mut cfg = config(&mock, TableSelector::Tagged);
    cfg.budget = ApiBudget::new([
        ("DescribeRouteTables", BucketSpec::new(100.0, 20.0)),
        ("DescribeInstances", BucketSpec::new(100.0, 20.0)),
        ("CreateRoute", small),
        ("ModifyNetworkInterfaceAttribute", small),
    ]);
    let p = AwsProvider::new(cfg).await.unwrap();
    let started = std::time::Instant::now();
    let pass = pass(&p, &nodes(0..8, false)).await;
    assert!(pass.errors.is_empty(), "{:?}", pass.errors);
    // 24 creates with a burst of 5 at 10/s need about 1.9 s.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(mock.calls().with_code("RequestLimitExceeded").is_empty());
    assert_eq!(mock.calls().budget_violations(&mock.throttle()), vec![]);
}

#[tokio::test]
async fn injected_5xx_and_throttle_bursts_are_absorbed_by_retries() {
    let faults = Faults::seeded(7)
        .action(
            "CreateRoute",
            FaultSpec::new()
                .internal_error(0.2)
                .unavailable(0.1)
                .throttle(0.1, 2),
        )
        .action("DescribeRouteTables", FaultSpec::new().internal_error(0.3));
    let mock = routeplane_mocks::ec2::MockEc2::builder()
        .world(world(5))
        .faults(faults)
        .start()
        .await
        .unwrap();
    let mut cfg = config(&mock, TableSelector::Tagged);
    cfg.retry.max_attempts = 10;
    let p = AwsProvider::new(cfg).await.unwrap();
    let pass = pass(&p, &nodes(0..5, false)).await;
    assert!(pass.errors.is_empty(), "{:?}", pass.errors);
    let counts = p.calls();
    let transient: u64 = counts
        .iter()
        .filter(|((_, o), _)| o == "transient")
        .map(|(_, n)| n)
        .sum();
    assert!(transient > 0, "{counts:?}");
    for table in TABLES {
        for i in 0..5 {
            assert!(routes_to(
                &mock,
                table,
                &format!("10.244.{i}.0/24"),
                &instance(i)
            ));
        }
    }
}

#[tokio::test]
async fn a_hung_request_times_out_as_transient() {
    let faults = Faults::seeded(1).action(
        "DeleteRoute",
        FaultSpec::new().timeout(1.0, Duration::from_secs(5)),
    );
    let mock = routeplane_mocks::ec2::MockEc2::builder()
        .world(world(1))
        .faults(faults)
        .start()
        .await
        .unwrap();
    let mut cfg = config(&mock, TableSelector::Tagged);
    cfg.call_timeout = Duration::from_millis(200);
    cfg.retry = routeplane_core::retry::RetryPolicy::none();
    let p = AwsProvider::new(cfg).await.unwrap();
    let route = CloudRoute {
        table: TableId(TABLES[0].into()),
        destination: "10.244.0.0/24".parse().unwrap(),
        target: RouteTarget::Instance(instance(0)),
        state: RouteState::Active,
        name: None,
        claimed: true,
    };
    let err = p.delete_route(&route).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(err.code.as_deref(), Some("Timeout"));
}
