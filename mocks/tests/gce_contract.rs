//! Contract tests: the real google-cloud-compute-v1 client against the mock GCE over HTTP, for
//! every method and error routeplane relies on. If the client can parse what the mock says, and
//! the mock keeps the state GCE would, providers tested against the mock behave the same on GCE.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use google_cloud_compute_v1::client::{GlobalOperations, Instances, Networks, Routes};
use google_cloud_compute_v1::model::{Instance, Operation, Route};
use google_cloud_gax::error::rpc::{Code, StatusDetails};
use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::paginator::{ItemPaginator, Paginator};
use google_cloud_gax::retry_policy::NeverRetry;
use google_cloud_lro::Poller;
use routeplane_mocks::gce::{
    FaultSpec, Faults, GceWorld, MockGce, NextHop, OpFailure, Outcome, Route as WorldRoute,
    Throttle,
};

const P: &str = "demo-project";
const ZONE_A: &str = "us-central1-a";
const ZONE_B: &str = "us-central1-b";
const BASE: &str = "https://www.googleapis.com/compute/v1/";

/// Network `default` with its internet route and a foreign VPN route, a second network, three
/// instances (node-c cannot forward), and routes of two clusters sharing a prefix.
fn world() -> GceWorld {
    GceWorld::new()
        .network("default")
        .network("other")
        .instance(ZONE_A, "node-a", "10.128.0.2", true)
        .instance(ZONE_A, "node-b", "10.128.0.3", true)
        .instance(ZONE_B, "node-c", "10.128.0.4", false)
        .route(WorldRoute::new(
            "default-route-internet",
            "0.0.0.0/0",
            NextHop::internet(),
        ))
        .route(
            WorldRoute::new(
                "vpn-onprem",
                "192.168.0.0/16",
                NextHop::Ip("10.128.0.250".into()),
            )
            .description("network team"),
        )
        .route(
            WorldRoute::new(
                "rp-demo-0001",
                "10.244.1.0/24",
                NextHop::instance(ZONE_A, "node-a"),
            )
            .description("routeplane:demo"),
        )
        .route(
            WorldRoute::new(
                "rp-demo-0002",
                "10.244.2.0/24",
                NextHop::instance(ZONE_A, "node-b"),
            )
            .description("routeplane:demo"),
        )
        .route(
            WorldRoute::new(
                "rp-demo-long-0001",
                "10.245.1.0/24",
                NextHop::instance(ZONE_A, "node-a"),
            )
            .description("routeplane:demo-long"),
        )
        .route(
            WorldRoute::new(
                "rp-demo-other-net",
                "10.244.9.0/24",
                NextHop::Ip("10.0.0.9".into()),
            )
            .network("other")
            .description("routeplane:demo"),
        )
}

fn install_crypto() {
    // aws-sdk-ec2 and kube bring two rustls providers; the client needs one chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn start(builder: routeplane_mocks::gce::MockGceBuilder) -> MockGce {
    install_crypto();
    builder.world(world()).start().await.unwrap()
}

/// Client settings for tests: the mock's endpoint, anonymous credentials, no retries (so
/// injected faults reach the test) and fast operation polling.
macro_rules! client {
    ($ty:ty, $mock:expr) => {
        <$ty>::builder()
            .with_endpoint($mock.endpoint_url())
            .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
            .with_retry_policy(NeverRetry)
            .with_polling_backoff_policy(
                ExponentialBackoffBuilder::new()
                    .with_initial_delay(Duration::from_millis(10))
                    .with_maximum_delay(Duration::from_millis(40))
                    .build()
                    .unwrap(),
            )
            .build()
            .await
            .unwrap()
    };
}

fn route(name: &str, dest: &str, instance: &str) -> Route {
    Route::new()
        .set_name(name)
        .set_dest_range(dest)
        .set_network("global/networks/default")
        .set_next_hop_instance(instance)
        .set_priority(900_u32)
        .set_description("routeplane:demo")
}

/// A route of cluster `demo` to node-a.
fn node_a_route(name: &str, dest: &str) -> Route {
    route(name, dest, "zones/us-central1-a/instances/node-a")
}

/// `routes.insert` in the test project.
fn insert(routes: &Routes) -> google_cloud_compute_v1::builder::routes::Insert {
    routes.insert().set_project(P)
}

/// `routes.delete` of one route in the test project.
fn delete_route(routes: &Routes, name: &str) -> google_cloud_compute_v1::builder::routes::Delete {
    routes.delete().set_project(P).set_route(name)
}

/// `routes.get` of one route in the test project.
async fn get_route(routes: &Routes, name: &str) -> Result<Route, google_cloud_compute_v1::Error> {
    routes.get().set_project(P).set_route(name).send().await
}

/// `globalOperations.get` in the test project.
async fn get_operation(
    ops: &GlobalOperations,
    name: impl Into<String>,
) -> Result<Operation, google_cloud_compute_v1::Error> {
    ops.get().set_project(P).set_operation(name).send().await
}

/// `instances.get` in the test project.
async fn get_instance(
    instances: &Instances,
    zone: &str,
    name: &str,
) -> Result<Instance, google_cloud_compute_v1::Error> {
    instances
        .get()
        .set_project(P)
        .set_zone(zone)
        .set_instance(name)
        .send()
        .await
}

fn reason(e: &google_cloud_compute_v1::Error) -> Option<String> {
    e.status()?.details.iter().find_map(|d| match d {
        StatusDetails::ErrorInfo(i) => Some(i.reason.clone()),
        _ => None,
    })
}

#[tokio::test]
async fn list_filters_by_regex_and_pages() {
    let mock = start(MockGce::builder()).await;
    let routes = client!(Routes, mock);

    // The provider's pass: prefix regex, network and marker, two per page.
    let filter = format!(
        r#"(name eq "rp-demo-.*") (network eq "{BASE}projects/{P}/global/networks/default") (description eq "routeplane:demo")"#
    );
    let mut pages = routes
        .list()
        .set_project(P)
        .set_filter(filter.clone())
        .set_max_results(1_u32)
        .by_page();
    let mut names = Vec::new();
    let mut page_count = 0;
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        page_count += 1;
        names.extend(page.items.into_iter().filter_map(|r| r.name));
    }
    assert_eq!(names, vec!["rp-demo-0001", "rp-demo-0002"]);
    assert_eq!(page_count, 2);

    // The same list item by item, unfiltered, default page size.
    let mut items = routes.list().set_project(P).by_item();
    let mut all = Vec::new();
    while let Some(r) = items.next().await {
        all.push(r.unwrap());
    }
    assert_eq!(all.len(), 6);
    let a = all
        .iter()
        .find(|r| r.name.as_deref() == Some("rp-demo-0001"))
        .unwrap();
    assert_eq!(
        a.next_hop_instance.as_deref(),
        Some(format!("{BASE}projects/{P}/zones/{ZONE_A}/instances/node-a").as_str())
    );
    assert_eq!(
        a.network.as_deref(),
        Some(format!("{BASE}projects/{P}/global/networks/default").as_str())
    );
    assert_eq!(a.priority, Some(1000));
    assert!(a.id.is_some() && a.creation_timestamp.is_some());

    // A regex must match the whole name: the shared prefix does not leak the other cluster.
    let only_long = routes
        .list()
        .set_project(P)
        .set_filter(r#"name eq "rp-demo-long-.*""#)
        .send()
        .await
        .unwrap();
    assert_eq!(only_long.items.len(), 1);
    let none = routes
        .list()
        .set_project(P)
        .set_filter("name eq rp-demo")
        .send()
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.next_page_token.is_none());

    // What went over the wire.
    let calls = mock.calls().all();
    let first = &calls[0];
    assert_eq!(first.method, "compute.routes.list");
    assert_eq!(
        first.path,
        format!("/compute/v1/projects/{P}/global/routes")
    );
    assert_eq!(first.query.get("filter"), Some(&filter));
    assert_eq!(first.query.get("maxResults").map(String::as_str), Some("1"));
    assert!(calls[1].query.contains_key("pageToken"));
    assert_eq!(mock.calls().counts_by_method()["compute.routes.list"], 5);
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_filters_and_page_sizes_are_400() {
    let mock = start(MockGce::builder()).await;
    let routes = client!(Routes, mock);
    for (filter, max) in [("name eq a OR name eq b", None), ("", Some(501_u32))] {
        let e = routes
            .list()
            .set_project(P)
            .set_filter(filter)
            .set_or_clear_max_results(max)
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.http_status_code(), Some(400), "{filter} {max:?}");
        assert_eq!(e.status().unwrap().code, Code::InvalidArgument);
    }
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn insert_goes_pending_running_done_and_then_exists() {
    let mock = start(MockGce::builder().op_delay(Duration::from_millis(300))).await;
    let routes = client!(Routes, mock);
    let ops = client!(GlobalOperations, mock);

    // A partial instance URL, as GCE accepts it.
    let node_c = route(
        "rp-demo-0003",
        "10.244.3.0/24",
        "zones/us-central1-b/instances/node-c",
    );
    let op = insert(&routes)
        .set_request_id("8b2f7d5e-4c3a-4b1e-9f6d-0a1b2c3d4e5f")
        .set_body(node_c.clone())
        .send()
        .await
        .unwrap();
    let status = |o: &google_cloud_compute_v1::model::Operation| {
        o.status
            .as_ref()
            .and_then(|s| s.name())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(status(&op), "PENDING");
    assert_eq!(op.operation_type.as_deref(), Some("insert"));
    assert_eq!(
        op.target_link.as_deref(),
        Some(format!("{BASE}projects/{P}/global/routes/rp-demo-0003").as_str())
    );
    let name = op.name.clone().unwrap();
    assert!(
        mock.world().route("rp-demo-0003").is_none(),
        "not before DONE"
    );
    let get = get_route(&routes, "rp-demo-0003").await;
    assert_eq!(get.unwrap_err().http_status_code(), Some(404));

    tokio::time::sleep(Duration::from_millis(170)).await;
    let mid = get_operation(&ops, &name).await.unwrap();
    assert_eq!(status(&mid), "RUNNING");

    let done = ops
        .wait()
        .set_project(P)
        .set_operation(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(status(&done), "DONE");
    assert!(done.error.is_none() && done.end_time.is_some());

    let r = get_route(&routes, "rp-demo-0003").await.unwrap();
    assert_eq!(
        r.next_hop_instance.as_deref(),
        Some(format!("{BASE}projects/{P}/zones/{ZONE_B}/instances/node-c").as_str())
    );
    assert_eq!(r.priority, Some(900));
    // node-c cannot forward: GCE keeps the route and warns.
    let codes: Vec<&str> = r
        .warnings
        .iter()
        .filter_map(|w| w.code.as_ref()?.name())
        .collect();
    assert_eq!(codes, vec!["NEXT_HOP_CANNOT_IP_FORWARD"]);

    // The same requestId again is the same operation, not a second insert.
    let again = insert(&routes)
        .set_request_id("8b2f7d5e-4c3a-4b1e-9f6d-0a1b2c3d4e5f")
        .set_body(node_c.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.name.as_deref(), Some(name.as_str()));
    assert_eq!(
        again.client_operation_id.as_deref(),
        Some("8b2f7d5e-4c3a-4b1e-9f6d-0a1b2c3d4e5f")
    );

    let calls = mock.calls();
    assert!(calls.peak_operations_awaited() >= 1);
    assert_eq!(calls.polls(), 2);
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn insert_and_delete_with_the_poller() {
    let mock = start(MockGce::builder().op_delay(Duration::from_millis(100))).await;
    let routes = client!(Routes, mock);
    let url = mock.instance_url(ZONE_A, "node-b");
    let done = insert(&routes)
        .set_body(route("rp-demo-0004", "fd00:10:244:4::/64", &url))
        .poller()
        .until_done()
        .await
        .unwrap();
    assert_eq!(done.status.as_ref().and_then(|s| s.name()), Some("DONE"));
    let stored = mock.world().route("rp-demo-0004").unwrap();
    assert_eq!(stored.next_hop, NextHop::instance(ZONE_A, "node-b"));

    delete_route(&routes, "rp-demo-0004")
        .poller()
        .until_done()
        .await
        .unwrap();
    assert!(mock.world().route("rp-demo-0004").is_none());

    let calls = mock.calls();
    assert_eq!(calls.mutating().len(), 2);
    assert!(calls.count("compute.globalOperations.get") >= 2);
    assert!(calls.peak_concurrent_polls() >= 1);
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_duplicate_insert_is_a_synchronous_409() {
    let mock = start(MockGce::builder()).await;
    let routes = client!(Routes, mock);
    let e = insert(&routes)
        .set_body(node_a_route("rp-demo-0001", "10.244.1.0/24"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.http_status_code(), Some(409));
    assert_eq!(e.status().unwrap().code, Code::AlreadyExists);
    assert_eq!(reason(&e).as_deref(), Some("alreadyExists"));
    assert!(
        e.status()
            .unwrap()
            .message
            .contains("projects/demo-project/global/routes/rp-demo-0001")
    );
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_race_on_one_name_fails_inside_the_second_operation() {
    let mock = start(MockGce::builder().op_delay(Duration::from_millis(100))).await;
    let routes = client!(Routes, mock);
    let body = node_a_route("rp-demo-0005", "10.244.5.0/24");
    let first = insert(&routes).set_body(body.clone()).send().await.unwrap();
    // google-cloud-lro 1.11 hands back a DONE operation as Ok even when it carries an error:
    // callers must read `error` themselves.
    let second = insert(&routes)
        .set_body(body)
        .poller()
        .until_done()
        .await
        .unwrap();
    assert_eq!(
        second.error.as_ref().unwrap().errors[0].code.as_deref(),
        Some("RESOURCE_ALREADY_EXISTS")
    );
    assert_eq!(second.http_error_status_code, Some(409));
    let ops = client!(GlobalOperations, mock);
    let first = get_operation(&ops, first.name.unwrap()).await.unwrap();
    assert!(first.error.is_none());
    let failed = mock
        .calls()
        .all()
        .into_iter()
        .filter(|c| c.op_status == Some("DONE"))
        .count();
    assert!(failed >= 1);
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_route_quota_fails_the_operation_with_quota_exceeded() {
    // `default` holds 5 routes; a quota of 6 leaves room for exactly one more.
    let mock = start(MockGce::builder().route_quota(6)).await;
    let routes = client!(Routes, mock);
    let ops = client!(GlobalOperations, mock);
    let done = insert(&routes)
        .set_body(node_a_route("rp-demo-0006", "10.244.6.0/24"))
        .poller()
        .until_done()
        .await
        .unwrap();
    assert!(done.error.is_none());
    let op = insert(&routes)
        .set_body(node_a_route("rp-demo-0007", "10.244.7.0/24"))
        .send()
        .await
        .expect("GCE accepts the insert and fails the operation");
    let op = get_operation(&ops, op.name.unwrap()).await.unwrap();
    let err = &op.error.as_ref().unwrap().errors[0];
    assert_eq!(err.code.as_deref(), Some("QUOTA_EXCEEDED"));
    assert!(
        err.message
            .as_deref()
            .unwrap()
            .contains("Quota 'ROUTES' exceeded")
    );
    assert_eq!(op.http_error_status_code, Some(403));
    assert_eq!(op.http_error_message.as_deref(), Some("FORBIDDEN"));
    assert!(mock.world().route("rp-demo-0007").is_none());
    // Another network has its own quota.
    let other = route("rp-demo-0008", "10.244.8.0/24", "10.0.0.1")
        .set_or_clear_next_hop_instance(None::<String>)
        .set_next_hop_ip("10.0.0.1")
        .set_network("global/networks/other");
    let done = insert(&routes)
        .set_body(other)
        .poller()
        .until_done()
        .await
        .unwrap();
    assert!(done.error.is_none());
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn injected_operation_failures_are_asynchronous_and_retryable() {
    let mock = start(MockGce::builder().op_delay(Duration::from_millis(50))).await;
    mock.world()
        .fail_next_operations(Some("insert"), 1, OpFailure::internal());
    let routes = client!(Routes, mock);
    let body = node_a_route("rp-demo-0009", "10.244.9.0/24");
    let failed = insert(&routes)
        .set_body(body.clone())
        .poller()
        .until_done()
        .await
        .unwrap();
    let err = &failed.error.as_ref().unwrap().errors[0];
    assert_eq!(err.code.as_deref(), Some("INTERNAL_ERROR"));
    assert_eq!(failed.http_error_status_code, Some(500));
    assert!(mock.world().route("rp-demo-0009").is_none());
    insert(&routes)
        .set_body(body)
        .poller()
        .until_done()
        .await
        .unwrap();
    assert!(mock.world().route("rp-demo-0009").is_some());
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn missing_things_are_404() {
    let mock = start(MockGce::builder()).await;
    let routes = client!(Routes, mock);
    let instances = client!(Instances, mock);
    let networks = client!(Networks, mock);
    let ops = client!(GlobalOperations, mock);
    let errs = [
        get_route(&routes, "nope").await.unwrap_err(),
        delete_route(&routes, "nope").send().await.unwrap_err(),
        get_instance(&instances, ZONE_A, "nope").await.unwrap_err(),
        networks
            .get()
            .set_project(P)
            .set_network("nope")
            .send()
            .await
            .unwrap_err(),
        get_operation(&ops, "operation-nope").await.unwrap_err(),
        routes
            .get()
            .set_project("other-project")
            .set_route("x")
            .send()
            .await
            .unwrap_err(),
        insert(&routes)
            .set_body(route(
                "rp-demo-0010",
                "10.244.10.0/24",
                "zones/us-central1-a/instances/gone",
            ))
            .send()
            .await
            .unwrap_err(),
    ];
    for e in &errs {
        assert_eq!(e.http_status_code(), Some(404), "{e}");
        assert_eq!(e.status().unwrap().code, Code::NotFound);
        assert_eq!(reason(e).as_deref(), Some("notFound"));
    }
    assert!(
        errs[2]
            .status()
            .unwrap()
            .message
            .contains("zones/us-central1-a/instances/nope")
    );
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_route_bodies_are_400_and_change_nothing() {
    let mock = start(MockGce::builder()).await;
    let routes = client!(Routes, mock);
    let ok = node_a_route("rp-demo-0011", "10.244.11.0/24");
    for bad in [
        ok.clone().set_name("Bad_Name"),
        ok.clone().set_dest_range("10.244.11.1/24"),
        ok.clone().set_network("default"),
        ok.clone().set_next_hop_ip("10.0.0.1"),
        ok.clone().set_network("global/networks/other"),
    ] {
        let e = insert(&routes).set_body(bad).send().await.unwrap_err();
        assert_eq!(e.http_status_code(), Some(400), "{e}");
    }
    assert!(mock.world().route("rp-demo-0011").is_none());
    assert!(
        mock.calls()
            .mutating()
            .iter()
            .all(|c| matches!(c.outcome, Outcome::Error { status: 400, .. }))
    );
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn instances_and_networks_read_back() {
    let mock = start(MockGce::builder()).await;
    let instances = client!(Instances, mock);
    let networks = client!(Networks, mock);
    let i = get_instance(&instances, ZONE_B, "node-c").await.unwrap();
    assert_eq!(i.can_ip_forward, Some(false));
    assert_eq!(
        i.network_interfaces[0].network_ip.as_deref(),
        Some("10.128.0.4")
    );
    assert_eq!(
        i.network_interfaces[0].network.as_deref(),
        Some(format!("{BASE}projects/{P}/global/networks/default").as_str())
    );
    assert_eq!(
        i.self_link.as_deref(),
        Some(mock.instance_url(ZONE_B, "node-c").as_str())
    );
    assert_eq!(
        i.zone.as_deref(),
        Some(format!("{BASE}projects/{P}/zones/{ZONE_B}").as_str())
    );
    mock.world().set_can_ip_forward(ZONE_B, "node-c", true);
    let i = get_instance(&instances, ZONE_B, "node-c").await.unwrap();
    assert_eq!(i.can_ip_forward, Some(true));
    let n = networks
        .get()
        .set_project(P)
        .set_network("default")
        .send()
        .await
        .unwrap();
    assert_eq!(
        n.self_link.as_deref(),
        Some(mock.network_url("default").as_str())
    );
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn injected_faults_reach_the_client() {
    let mock = start(MockGce::builder()).await;
    let routes = client!(Routes, mock);
    mock.set_faults(
        Faults::seeded(1)
            .action("compute.routes.list", FaultSpec::new().throttle(1.0, 1))
            .action("compute.routes.get", FaultSpec::new().unavailable(1.0))
            .action(
                "compute.routes.delete",
                FaultSpec::new().internal_error(1.0),
            ),
    );
    let e = routes.list().set_project(P).send().await.unwrap_err();
    assert_eq!(e.http_status_code(), Some(429));
    assert_eq!(e.status().unwrap().code, Code::ResourceExhausted);
    assert_eq!(reason(&e).as_deref(), Some("rateLimitExceeded"));
    let e = get_route(&routes, "rp-demo-0001").await.unwrap_err();
    assert_eq!(e.http_status_code(), Some(503));
    assert_eq!(e.status().unwrap().code, Code::Unavailable);
    let e = delete_route(&routes, "rp-demo-0001")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.http_status_code(), Some(500));
    assert!(
        mock.world().route("rp-demo-0001").is_some(),
        "a failed delete changes nothing"
    );
    let faults: Vec<_> = mock.calls().all().iter().map(|c| c.fault).collect();
    assert_eq!(
        faults,
        vec![
            Some("throttle"),
            Some("unavailable"),
            Some("internal-error")
        ]
    );

    // A dropped connection is an I/O error, not an answer.
    mock.set_faults(
        Faults::none().action("compute.routes.list", FaultSpec::new().drop_connection(1.0)),
    );
    let e = routes.list().set_project(P).send().await.unwrap_err();
    assert!(e.http_status_code().is_none(), "{e}");
    assert_eq!(mock.calls().all().last().unwrap().outcome, Outcome::Dropped);
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn rate_quotas_answer_403_rate_limit_exceeded() {
    let mock =
        start(MockGce::builder().throttle(Throttle::gce_defaults().with_limit("Read requests", 2)))
            .await;
    let routes = client!(Routes, mock);
    for _ in 0..2 {
        get_route(&routes, "rp-demo-0001").await.unwrap();
    }
    let e = get_route(&routes, "rp-demo-0001").await.unwrap_err();
    assert_eq!(e.http_status_code(), Some(403));
    assert_eq!(reason(&e).as_deref(), Some("rateLimitExceeded"));
    assert!(
        e.status()
            .unwrap()
            .message
            .contains("Read requests per minute")
    );
    // Lists are a separate group.
    routes.list().set_project(P).send().await.unwrap();
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_world_file_seeds_the_project() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.yaml");
    std::fs::write(
        &path,
        r#"
project: seeded-project
route_quota: 10
networks: [{name: vpc-a}]
instances:
  - name: worker-1
    zone: europe-west1-b
    can_ip_forward: true
    network_interfaces: [{network: vpc-a, network_ip: 10.10.0.5, ipv6_address: "fd20:1::5"}]
routes:
  - {name: foreign-1, network: vpc-a, dest_range: 10.99.0.0/16, next_hop: {ip: 10.10.0.9}, description: someone else}
  - {name: rp-w-1, network: vpc-a, dest_range: 10.244.0.0/24, next_hop: {instance: {zone: europe-west1-b, name: worker-1}}, priority: 1100}
"#,
    )
    .unwrap();
    let mock = MockGce::builder()
        .world(GceWorld::load(&path).unwrap())
        .start()
        .await
        .unwrap();
    let routes = client!(Routes, mock);
    let list = routes
        .list()
        .set_project("seeded-project")
        .set_filter("priority > 1000")
        .send()
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(
        list.items[0].next_hop_instance.as_deref(),
        Some(
            format!("{BASE}projects/seeded-project/zones/europe-west1-b/instances/worker-1")
                .as_str()
        )
    );
    let instances = client!(Instances, mock);
    let i = instances
        .get()
        .set_project("seeded-project")
        .set_zone("europe-west1-b")
        .set_instance("worker-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        i.network_interfaces[0].ipv_6_address.as_deref(),
        Some("fd20:1::5")
    );
    mock.shutdown().await.unwrap();
}

#[tokio::test]
async fn raw_http_paths_and_error_documents() {
    let mock = start(MockGce::builder()).await;
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", mock.endpoint_url());
        async move {
            let r = http.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (s, project) = get(format!("/compute/v1/projects/{P}")).await;
    assert_eq!(s, 200);
    assert_eq!(project["quotas"][0]["metric"], "ROUTES");
    assert_eq!(project["quotas"][0]["usage"], 5.0);
    let (s, zones) = get(format!("/compute/v1/projects/{P}/zones")).await;
    assert_eq!(s, 200);
    assert_eq!(zones["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        zones["items"][0]["region"],
        format!("{BASE}projects/{P}/regions/us-central1")
    );
    let (s, body) = get(format!("/compute/v1/projects/{P}/global/routes/x?bogus=1")).await;
    assert_eq!(s, 400);
    assert_eq!(body["error"]["errors"][0]["reason"], "invalidParameter");
    let (s, body) = get(format!("/compute/v1/projects/{P}/global/routes/nope")).await;
    assert_eq!(s, 404);
    assert_eq!(body["error"]["code"], 404);
    assert_eq!(body["error"]["status"], "NOT_FOUND");
    assert_eq!(body["error"]["errors"][0]["domain"], "global");
    assert_eq!(
        body["error"]["message"],
        format!("The resource 'projects/{P}/global/routes/nope' was not found")
    );
    mock.shutdown().await.unwrap();
}
