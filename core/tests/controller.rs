//! The controller end to end: the real kube-rs client over HTTP against the fake API server,
//! with the in-memory provider standing in for the cloud.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use routeplane_core::testing::{Op, node, route};
use routeplane_core::{ErrorKind, RouteTarget};
use routeplane_mocks::kube_api::FakeKube;
use support::*;

const WAIT: Duration = Duration::from_secs(10);

fn target(i: &str) -> RouteTarget {
    RouteTarget::Instance(i.into())
}

#[tokio::test]
async fn a_node_gets_its_route_once_it_has_a_pod_cidr() {
    let fake = FakeKube::start().await.unwrap();
    let cloud = memory();
    fake.add_node(node("n1").aws("i-1").to_k8s()).unwrap();
    let ctl = start(&fake, cloud.clone(), config(), "ctl").await;

    // No podCIDR yet: nothing to route, nothing written.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cloud.count(Op::Create), 0);

    fake.patch_node(
        "n1",
        serde_json::json!({"spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}}),
    )
    .unwrap();
    eventually(WAIT, "route in both tables", || {
        cloud.table("rtb-a").get(&"10.244.1.0/24".parse().unwrap()) == Some(&target("i-1"))
            && cloud.table("rtb-b").get(&"10.244.1.0/24".parse().unwrap()) == Some(&target("i-1"))
    })
    .await;
    assert_eq!(
        cloud.forwarding_enabled().into_iter().collect::<Vec<_>>(),
        vec!["i-1".to_string()]
    );
    ctl.stop().await;
}

#[tokio::test]
async fn a_deleted_nodes_route_is_removed_and_a_pod_cidr_change_moves_the_route() {
    let fake = FakeKube::start().await.unwrap();
    let cloud = memory();
    fake.add_node(node("n1").pod_cidr("10.244.1.0/24").aws("i-1").to_k8s())
        .unwrap();
    fake.add_node(node("n2").pod_cidr("10.244.2.0/24").aws("i-2").to_k8s())
        .unwrap();
    let ctl = start(&fake, cloud.clone(), config(), "ctl").await;
    eventually(WAIT, "two routes per table", || {
        cloud.table("rtb-a").len() == 2 && cloud.table("rtb-b").len() == 2
    })
    .await;

    fake.delete_node("n2").unwrap();
    eventually(WAIT, "n2's routes gone", || {
        cloud.table("rtb-a").len() == 1 && cloud.table("rtb-b").len() == 1
    })
    .await;

    // n1 is recreated on a new instance with a new range (podCIDR is immutable in a real API).
    fake.delete_node("n1").unwrap();
    fake.add_node(node("n1").pod_cidr("10.244.7.0/24").aws("i-7").to_k8s())
        .unwrap();
    let want: BTreeMap<_, _> = [("10.244.7.0/24".parse().unwrap(), target("i-7"))].into();
    eventually(WAIT, "route moved", || {
        cloud.table("rtb-a") == want && cloud.table("rtb-b") == want
    })
    .await;
    ctl.stop().await;
}

#[tokio::test]
async fn foreign_routes_inside_and_outside_the_cluster_cidr_are_never_touched() {
    let fake = FakeKube::start().await.unwrap();
    let cloud = memory();
    let foreign = [
        route("rtb-a", "0.0.0.0/0").other("igw-1").build(),
        route("rtb-a", "172.16.0.0/12").other("pcx-1").build(),
        route("rtb-a", "10.244.200.0/24")
            .instance("i-foreign")
            .build(),
        route("rtb-b", "10.244.201.0/24").other("nat-1").build(),
        route("rtb-b", "10.244.1.0/24").other("vgw-1").build(), // squats on n1's range
    ];
    for r in &foreign {
        cloud.seed(r.clone());
    }
    fake.add_node(node("n1").pod_cidr("10.244.1.0/24").aws("i-1").to_k8s())
        .unwrap();
    fake.add_node(node("n2").pod_cidr("10.244.2.0/24").aws("i-2").to_k8s())
        .unwrap();
    let ctl = start(&fake, cloud.clone(), config(), "ctl").await;

    eventually(WAIT, "n2 routed everywhere, n1 in rtb-a", || {
        cloud.table("rtb-b").get(&"10.244.2.0/24".parse().unwrap()) == Some(&target("i-2"))
            && cloud.table("rtb-a").get(&"10.244.1.0/24".parse().unwrap()) == Some(&target("i-1"))
    })
    .await;
    eventually(WAIT, "n1 reports the conflict", || {
        fake.node_condition("n1", "NetworkUnavailable")
            .is_some_and(|c| c["reason"] == "RouteConflict")
    })
    .await;
    let routes = cloud.routes();
    for r in &foreign {
        assert!(
            routes.contains(r),
            "foreign route changed or removed: {r:?}"
        );
    }
    for c in cloud
        .calls()
        .iter()
        .filter(|c| c.op != Op::List && c.op != Op::EnsureForwarding)
    {
        let dst = c.destination.unwrap();
        assert!(
            !foreign
                .iter()
                .any(|f| f.table == *c.table.as_ref().unwrap() && f.destination == dst),
            "a call touched a foreign route: {c:?}"
        );
    }
    eventually(WAIT, "a RouteConflict event on n1", || {
        fake.events_about("n1")
            .iter()
            .any(|e| e["reason"] == "RouteConflict")
    })
    .await;
    ctl.stop().await;
}

#[tokio::test]
async fn a_throttled_node_backs_off_while_the_others_converge() {
    let fake = FakeKube::start().await.unwrap();
    let cloud = memory();
    cloud.fail_target("i-bad", Some(ErrorKind::Throttled));
    fake.add_node(node("bad").pod_cidr("10.244.9.0/24").aws("i-bad").to_k8s())
        .unwrap();
    for i in 1..=5 {
        fake.add_node(
            node(&format!("n{i}"))
                .pod_cidr(&format!("10.244.{i}.0/24"))
                .aws(&format!("i-{i}"))
                .to_k8s(),
        )
        .unwrap();
    }
    let ctl = start(&fake, cloud.clone(), config(), "ctl").await;
    eventually(WAIT, "five good nodes routed", || {
        cloud.table("rtb-a").len() == 5 && cloud.table("rtb-b").len() == 5
    })
    .await;

    // Let the bad node fail a few times, then look at the spacing of its attempts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let attempts: Vec<_> = cloud
        .calls()
        .into_iter()
        .filter(|c| c.target.as_deref() == Some("i-bad"))
        .map(|c| c.at)
        .collect();
    assert!(attempts.len() >= 2, "the bad node is retried: {attempts:?}");
    assert!(
        attempts.len() < 30,
        "…but with backoff, not in a hot loop: {} attempts",
        attempts.len()
    );
    eventually(WAIT, "bad node marked unavailable", || {
        fake.node_condition("bad", "NetworkUnavailable")
            .is_some_and(|c| c["status"] == "True")
    })
    .await;
    assert!(
        fake.events_about("bad")
            .iter()
            .any(|e| e["reason"] == "RouteThrottled")
    );

    cloud.fail_target("i-bad", None);
    eventually(WAIT, "bad node recovers", || {
        cloud.table("rtb-a").len() == 6 && cloud.table("rtb-b").len() == 6
    })
    .await;
    eventually(WAIT, "bad node condition clears", || {
        fake.node_condition("bad", "NetworkUnavailable")
            .is_some_and(|c| c["status"] == "False")
    })
    .await;
    ctl.stop().await;
}

#[tokio::test]
async fn conditions_events_and_metrics_appear() {
    let fake = FakeKube::start().await.unwrap();
    let cloud = memory();
    fake.add_node(node("ok").pod_cidr("10.244.1.0/24").aws("i-1").to_k8s())
        .unwrap();
    fake.add_node(node("noid").pod_cidr("10.244.2.0/24").to_k8s())
        .unwrap();
    fake.add_node(
        node("weird")
            .pod_cidr("10.244.3.0/24")
            .provider_id("azure:///x")
            .to_k8s(),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cfg = config();
    cfg.metrics_addr = Some(port);
    let ctl = start(&fake, cloud.clone(), cfg, "ctl").await;

    eventually(WAIT, "conditions on all three nodes", || {
        ["ok", "noid", "weird"]
            .iter()
            .all(|n| fake.node_condition(n, "NetworkUnavailable").is_some())
    })
    .await;
    let ok = fake.node_condition("ok", "NetworkUnavailable").unwrap();
    assert_eq!(
        (ok["status"].as_str(), ok["reason"].as_str()),
        (Some("False"), Some("RouteCreated"))
    );
    let noid = fake.node_condition("noid", "NetworkUnavailable").unwrap();
    assert_eq!(
        (noid["status"].as_str(), noid["reason"].as_str()),
        (Some("True"), Some("NoRouteCreated"))
    );
    assert!(
        noid["message"].as_str().unwrap().contains("providerID"),
        "{noid}"
    );
    // Other conditions survive the strategic-merge patch.
    assert!(fake.node_condition("ok", "Ready").is_some());
    assert!(
        fake.events_about("ok")
            .iter()
            .any(|e| e["reason"] == "RouteCreated")
    );
    // The Event follows the condition patch, so it may land a moment later.
    eventually(WAIT, "a Warning event on the unroutable node", || {
        fake.events_about("weird")
            .iter()
            .any(|e| e["type"] == "Warning")
    })
    .await;

    let body = reqwest::get(format!("http://{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "routeplane_provider_calls_total{op=\"create_route\",outcome=\"ok\"} 2",
        "routeplane_routes_desired 2",
        "routeplane_nodes_unroutable{reason=\"bad_provider_id\"} 2",
        "routeplane_event_to_route_seconds_count 1",
        "routeplane_reconcile_duration_seconds_count",
    ] {
        assert!(body.contains(needle), "missing {needle} in\n{body}");
    }
    let ready = reqwest::get(format!("http://{port}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);

    // A steady cluster patches nothing more: conditions are written only when they change.
    let patches = fake.request_count("patch", "nodes");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.request_count("patch", "nodes"), patches);
    ctl.stop().await;
}

#[tokio::test]
async fn only_the_lease_holder_writes_and_the_standby_takes_over() {
    let fake = FakeKube::start().await.unwrap();
    let cloud_a = memory();
    // The standby sees the same cloud (shared state) through its own handle.
    let cloud_b = cloud_a.clone();
    fake.add_node(node("n1").pod_cidr("10.244.1.0/24").aws("i-1").to_k8s())
        .unwrap();

    let mut cfg_a = config();
    cfg_a.leader = Some(leader("replica-a"));
    let a = start(&fake, cloud_a.clone(), cfg_a, "replica-a").await;
    eventually(WAIT, "a leads and routes n1", || {
        cloud_a.table("rtb-a").len() == 1
    })
    .await;
    let mut cfg_b = config();
    cfg_b.leader = Some(leader("replica-b"));
    let b = start(&fake, Tagged::new(cloud_b.clone(), "b"), cfg_b, "replica-b").await;
    let b_calls = Tagged::<routeplane_core::testing::MemoryProvider>::log_of("b");

    // While A leads, B watches but makes no cloud calls at all.
    fake.add_node(node("n2").pod_cidr("10.244.2.0/24").aws("i-2").to_k8s())
        .unwrap();
    eventually(WAIT, "a routes n2", || cloud_a.table("rtb-b").len() == 2).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(b_calls(), 0, "the standby called the cloud");
    assert_eq!(
        fake.lease("kube-system", "routeplane").unwrap()["spec"]["holderIdentity"],
        "replica-a"
    );

    // A stops (releasing the lease); B must take over within the lease duration and converge.
    let stopped = tokio::time::Instant::now();
    a.stop().await;
    fake.add_node(node("n3").pod_cidr("10.244.3.0/24").aws("i-3").to_k8s())
        .unwrap();
    eventually(WAIT, "b routes n3", || {
        cloud_b.table("rtb-a").len() == 3 && cloud_b.table("rtb-b").len() == 3
    })
    .await;
    assert!(
        stopped.elapsed() < Duration::from_millis(1500) + Duration::from_millis(500),
        "took {:?}",
        stopped.elapsed()
    );
    assert_eq!(
        fake.lease("kube-system", "routeplane").unwrap()["spec"]["holderIdentity"],
        "replica-b"
    );
    assert!(b_calls() > 0);
    b.stop().await;
}

/// A provider wrapper that counts calls per replica, so a test can tell who wrote.
mod tagged {
    use std::collections::BTreeMap;
    use std::sync::{LazyLock, Mutex};

    use routeplane_core::{
        CloudRoute, DesiredRoute, InstanceRef, ProviderError, RouteProvider, RouteSnapshot,
    };

    static LOG: LazyLock<Mutex<BTreeMap<&'static str, usize>>> = LazyLock::new(Mutex::default);

    pub struct Tagged<P> {
        inner: P,
        tag: &'static str,
    }

    impl<P> Tagged<P> {
        pub fn new(inner: P, tag: &'static str) -> Self {
            LOG.lock().unwrap().insert(tag, 0);
            Self { inner, tag }
        }
        pub fn log_of(tag: &'static str) -> impl Fn() -> usize {
            move || LOG.lock().unwrap().get(tag).copied().unwrap_or(0)
        }
        fn bump(&self) {
            *LOG.lock().unwrap().entry(self.tag).or_default() += 1;
        }
    }

    impl<P: RouteProvider> RouteProvider for Tagged<P> {
        fn cloud(&self) -> routeplane_core::Cloud {
            self.inner.cloud()
        }
        async fn list_routes(&self, nodes: &[InstanceRef]) -> Result<RouteSnapshot, ProviderError> {
            self.bump();
            self.inner.list_routes(nodes).await
        }
        async fn create_route(&self, route: &DesiredRoute) -> Result<(), ProviderError> {
            self.bump();
            self.inner.create_route(route).await
        }
        async fn replace_route(
            &self,
            existing: &CloudRoute,
            route: &DesiredRoute,
        ) -> Result<std::time::Duration, ProviderError> {
            self.bump();
            self.inner.replace_route(existing, route).await
        }
        async fn delete_route(&self, route: &CloudRoute) -> Result<(), ProviderError> {
            self.bump();
            self.inner.delete_route(route).await
        }
        async fn ensure_forwarding(&self, target: &InstanceRef) -> Result<(), ProviderError> {
            self.bump();
            self.inner.ensure_forwarding(target).await
        }
    }
}
use tagged::Tagged;

#[tokio::test]
async fn allocates_pod_cidrs_once_and_a_restart_never_hands_one_out_twice() {
    let fake = FakeKube::start().await.unwrap();
    let cloud = memory();
    for i in 1..=3 {
        fake.add_node(node(&format!("n{i}")).aws(&format!("i-{i}")).to_k8s())
            .unwrap();
    }
    let mut cfg = config();
    cfg.allocate = Some(vec![("10.244.0.0/16".parse().unwrap(), 24)]);
    let ctl = start(&fake, cloud.clone(), cfg.clone(), "ctl").await;
    eventually(WAIT, "three nodes allocated and routed", || {
        cloud.table("rtb-a").len() == 3
    })
    .await;
    let cidr_of = |n: &str| {
        fake.node(n).unwrap()["spec"]["podCIDR"]
            .as_str()
            .map(str::to_string)
    };
    let first: Vec<_> = (1..=3)
        .map(|i| cidr_of(&format!("n{i}")).unwrap())
        .collect();
    assert_eq!(first, ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]);
    ctl.stop().await;

    // While the controller is down, n2 leaves and n4 joins; after the restart n4 gets the
    // freed range, never one that is still in use.
    fake.delete_node("n2").unwrap();
    fake.add_node(node("n4").aws("i-4").to_k8s()).unwrap();
    let ctl = start(&fake, cloud.clone(), cfg, "ctl").await;
    eventually(WAIT, "n4 allocated", || cidr_of("n4").is_some()).await;
    assert_eq!(cidr_of("n4").as_deref(), Some("10.244.1.0/24"));
    assert_eq!(cidr_of("n1").as_deref(), Some("10.244.0.0/24"));
    assert_eq!(cidr_of("n3").as_deref(), Some("10.244.2.0/24"));
    eventually(WAIT, "n4 routed where n2 was", || {
        cloud.table("rtb-a").get(&"10.244.1.0/24".parse().unwrap()) == Some(&target("i-4"))
    })
    .await;
    ctl.stop().await;
}

/// With a provider that reuses listings, Node events are planned from the last listing plus
/// the controller's own writes; once a write fails, what the cloud holds is unknown and the
/// next pass lists again, even one woken by a Node event.
#[tokio::test]
async fn node_events_plan_from_the_last_listing_until_a_write_fails() {
    let fake = FakeKube::start().await.unwrap();
    let cloud = memory().reusing_listing();
    fake.add_node(node("n1").pod_cidr("10.244.1.0/24").aws("i-1").to_k8s())
        .unwrap();
    let mut cfg = config();
    // A failed node retries only after the test is over: every pass below is a Node event's.
    cfg.reconcile.backoff_base = Duration::from_secs(60);
    cfg.reconcile.backoff_max = Duration::from_secs(60);
    let ctl = start(&fake, cloud.clone(), cfg, "ctl").await;
    let routed = |n: usize| cloud.table("rtb-a").len() == n && cloud.table("rtb-b").len() == n;
    eventually(WAIT, "n1 routed", || routed(1)).await;
    let lists = cloud.count(Op::List);

    fake.add_node(node("n2").pod_cidr("10.244.2.0/24").aws("i-2").to_k8s())
        .unwrap();
    eventually(WAIT, "n2 routed", || routed(2)).await;
    fake.delete_node("n1").unwrap();
    eventually(WAIT, "n1's routes gone", || routed(1)).await;
    assert_eq!(cloud.count(Op::List), lists, "node events must not list");

    // n3's first create fails: it may or may not have landed, so the listing is stale.
    cloud.fail_next(Op::Create, ErrorKind::Transient, 1);
    fake.add_node(node("n3").pod_cidr("10.244.3.0/24").aws("i-3").to_k8s())
        .unwrap();
    eventually(WAIT, "n3 failed and backing off", || {
        fake.node_condition("n3", "NetworkUnavailable")
            .is_some_and(|c| c["status"] == "True")
    })
    .await;
    fake.add_node(node("n4").pod_cidr("10.244.4.0/24").aws("i-4").to_k8s())
        .unwrap();
    let n4 = "10.244.4.0/24".parse().unwrap();
    eventually(WAIT, "n4 routed", || {
        cloud.table("rtb-a").contains_key(&n4) && cloud.table("rtb-b").contains_key(&n4)
    })
    .await;
    assert_eq!(
        cloud.count(Op::List),
        lists + 1,
        "the Node event after a failed write must list"
    );
    ctl.stop().await;
}
