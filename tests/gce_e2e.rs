//! The whole control plane on GCE over HTTP: the real controller and the real GCE provider
//! (google-cloud-compute-v1) against the mock GCE, with Nodes served by the fake Kubernetes API
//! to a real kube-rs client. What a user sees end to end: dual-stack convergence, a node whose
//! instance cannot forward reported on the Node (condition + Event) and not routed, a hijacked
//! route repaired, a deleted node's route removed, a second cluster with a long shared name
//! prefix on the same network left alone, and foreign routes at a node's Pod CIDR reported on
//! the node and never touched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

mod support;

use routeplane_core::Cloud;
use routeplane_core::retry::RetryPolicy;
use routeplane_gce::{GceConfig, GceProvider, RouteNaming};
use routeplane_mocks::gce::{GceWorld, MockGce, NextHop, Route, Throttle};
use routeplane_mocks::kube_api::{FakeKube, node};
use support::{RunningController, controller_config};

const PROJECT: &str = "rp-e2e";
const NETWORK: &str = "vpc-e2e";
const ZONE: &str = "us-central1-b";
/// Two cluster names that share their first 40 characters: longer than the name prefix keeps.
const CLUSTER: &str = "production-europe-west-analytics-cluster-blue";
const OTHER: &str = "production-europe-west-analytics-cluster-green";

fn instance(i: usize) -> String {
    format!("vm-{i}")
}

fn v4(i: usize) -> String {
    format!("10.244.{i}.0/24")
}

fn v6(i: usize) -> String {
    format!("fd00:10:244:{i:x}::/64")
}

/// `n` instances; `no_forward` lists those created with canIpForward off.
fn world(n: usize, no_forward: &[usize]) -> GceWorld {
    let mut w = GceWorld::new()
        .project(PROJECT)
        .network(NETWORK)
        .route(Route::new("default-internet", "0.0.0.0/0", NextHop::internet()).network(NETWORK));
    for i in 0..n {
        w = w.instance(
            ZONE,
            &instance(i),
            &format!("10.128.0.{}", i + 2),
            !no_forward.contains(&i),
        );
    }
    w
}

fn k8s_node(i: usize) -> serde_json::Value {
    node(&format!("n{i}"))
        .pod_cidr(&v4(i))
        .pod_cidr(&v6(i))
        .provider_id(&format!("gce://{PROJECT}/{ZONE}/{}", instance(i)))
        .build()
}

async fn start(mock: &MockGce, kube: &FakeKube, cluster: &str) -> RunningController {
    start_with_resync(mock, kube, cluster, Duration::from_millis(500)).await
}

async fn start_with_resync(
    mock: &MockGce,
    kube: &FakeKube,
    cluster: &str,
    resync: Duration,
) -> RunningController {
    let mut gce = GceConfig::new(cluster);
    gce.project = Some(PROJECT.into());
    gce.network = Some(NETWORK.into());
    gce.endpoint = Some(mock.endpoint_url());
    gce.anonymous = true;
    gce.retry = RetryPolicy {
        max_attempts: 5,
        base: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
    };
    gce.poll_initial = Duration::from_millis(20);
    gce.poll_max = Duration::from_millis(100);
    let provider = GceProvider::new(gce).await.unwrap();
    let cfg = controller_config(cluster, Cloud::Gce, resync);
    RunningController::start(provider, cfg, kube)
}

/// Whether `cluster`'s route for `cidr` exists and points at instance `i`.
fn routed(mock: &MockGce, cluster: &str, cidr: &str, i: usize) -> bool {
    let name = RouteNaming::new(cluster).name(&cidr.parse().unwrap());
    mock.world()
        .route(&name)
        .is_some_and(|r| r.next_hop == NextHop::instance(ZONE, &instance(i)))
}

fn absent(mock: &MockGce, cluster: &str, cidr: &str) -> bool {
    let name = RouteNaming::new(cluster).name(&cidr.parse().unwrap());
    mock.world().route(&name).is_none()
}

async fn eventually(what: &str, ok: impl FnMut() -> bool) {
    support::eventually(what, Duration::from_secs(30), ok).await;
}

fn mock_builder(w: GceWorld) -> routeplane_mocks::gce::MockGceBuilder {
    MockGce::builder()
        .project(PROJECT)
        .world(w)
        .op_delay(Duration::from_millis(100))
        .throttle(Throttle::off())
}

#[tokio::test]
async fn the_controller_routes_dual_stack_reports_forwarding_and_repairs() {
    let n = 6;
    let blocked = 5;
    let mock = mock_builder(world(n, &[blocked])).start().await.unwrap();
    let kube = FakeKube::start().await.unwrap();
    for i in 0..n {
        kube.add_node(k8s_node(i)).unwrap();
    }
    let stack = start(&mock, &kube, CLUSTER).await;

    // Dual-stack: two routes per node, each at its own instance.
    eventually("dual-stack convergence", || {
        (0..n)
            .filter(|&i| i != blocked)
            .all(|i| routed(&mock, CLUSTER, &v4(i), i) && routed(&mock, CLUSTER, &v6(i), i))
    })
    .await;
    // The instance that cannot forward: no route, and the Node says why.
    eventually("IpForwardingDisabled on the node", || {
        kube.node_condition(&format!("n{blocked}"), "NetworkUnavailable")
            .is_some_and(|c| c["status"] == "True" && c["reason"] == "IpForwardingDisabled")
    })
    .await;
    assert!(absent(&mock, CLUSTER, &v4(blocked)) && absent(&mock, CLUSTER, &v6(blocked)));
    let events = kube.events_about(&format!("n{blocked}"));
    assert!(
        events.iter().any(|e| e["reason"] == "IpForwardingDisabled"),
        "{events:?}"
    );
    for i in (0..n).filter(|&i| i != blocked) {
        let c = kube
            .node_condition(&format!("n{i}"), "NetworkUnavailable")
            .unwrap();
        assert_eq!(c["status"], "False", "n{i}: {c}");
    }

    // Hijack: someone points node 0's route at node 1 (GCE routes are immutable, so by
    // replacing it). The controller puts it back.
    let name = RouteNaming::new(CLUSTER).name(&v4(0).parse().unwrap());
    mock.world().edit(|w| {
        let r = w.routes.iter_mut().find(|r| r.name == name).unwrap();
        r.next_hop = NextHop::instance(ZONE, &instance(1));
    });
    assert!(routed(&mock, CLUSTER, &v4(0), 1));
    eventually("hijack repaired", || routed(&mock, CLUSTER, &v4(0), 0)).await;

    // A deleted node's routes go; the internet route never moves.
    kube.delete_node("n2").unwrap();
    eventually("stale routes deleted", || {
        absent(&mock, CLUSTER, &v4(2)) && absent(&mock, CLUSTER, &v6(2))
    })
    .await;
    assert!(mock.world().route("default-internet").is_some());
    stack.stop().await;
}

#[tokio::test]
async fn two_clusters_with_a_long_shared_prefix_never_touch_each_other() {
    let mock = mock_builder(world(4, &[])).start().await.unwrap();
    // Each cluster has its own API server and two nodes; they share one network.
    let blue = FakeKube::start().await.unwrap();
    let green = FakeKube::start().await.unwrap();
    for i in 0..2 {
        blue.add_node(k8s_node(i)).unwrap();
    }
    // Green's Pod CIDRs are its own: the same CIDR in both would be a real conflict (GCE would
    // split its traffic between the two clusters), reported and not routed; see
    // `a_foreign_route_at_a_node_cidr_is_reported_and_never_touched`.
    for i in 2..4 {
        green.add_node(k8s_node(i)).unwrap();
    }
    let prefix_blue = RouteNaming::new(CLUSTER).prefix().to_string();
    let prefix_green = RouteNaming::new(OTHER).prefix().to_string();
    assert_ne!(prefix_blue, prefix_green);
    assert!(!prefix_blue.starts_with(&prefix_green) && !prefix_green.starts_with(&prefix_blue));

    let a = start(&mock, &blue, CLUSTER).await;
    let b = start(&mock, &green, OTHER).await;
    eventually("both clusters converge", || {
        (0..2).all(|i| {
            routed(&mock, CLUSTER, &v4(i), i)
                && routed(&mock, CLUSTER, &v6(i), i)
                && routed(&mock, OTHER, &v4(i + 2), i + 2)
                && routed(&mock, OTHER, &v6(i + 2), i + 2)
        })
    })
    .await;
    // Green loses a node: only green's route goes; blue's route for the same CIDR stays.
    green.delete_node("n2").unwrap();
    eventually("green's stale route deleted", || {
        absent(&mock, OTHER, &v4(2))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(routed(&mock, CLUSTER, &v4(0), 0) && routed(&mock, CLUSTER, &v6(0), 0));

    // Every delete named one cluster's route, and every route carries its own cluster's mark.
    let deletes: Vec<_> = mock
        .calls()
        .all()
        .into_iter()
        .filter(|c| c.mutating && c.http_method == "DELETE")
        .collect();
    assert!(!deletes.is_empty());
    for call in &deletes {
        assert!(
            call.path.contains(&prefix_blue) ^ call.path.contains(&prefix_green),
            "{call:?}"
        );
    }
    for r in mock.world().routes() {
        if r.name.starts_with(&prefix_blue) {
            assert_eq!(r.description, format!("routeplane:{CLUSTER}"));
        } else if r.name.starts_with(&prefix_green) {
            assert_eq!(r.description, format!("routeplane:{OTHER}"));
        } else {
            assert_eq!(r.name, "default-internet");
        }
    }
    a.stop().await;
    b.stop().await;
}

/// GCE allows several routes with one destRange: a foreign one at a node's Pod CIDR takes or
/// shares that node's traffic. It is reported on the node (condition and Event), never
/// modified, whether it was there first or appears next to ours — even when it points at a
/// node's own instance, which does not make a GCE route ours.
#[tokio::test]
async fn a_foreign_route_at_a_node_cidr_is_reported_and_never_touched() {
    let legacy = Route::new(
        "kubernetes-legacy-n1",
        &v4(1),
        NextHop::instance(ZONE, &instance(1)),
    )
    .network(NETWORK)
    .description("k8s-node-route");
    let mock = mock_builder(world(3, &[]).route(legacy))
        .start()
        .await
        .unwrap();
    let kube = FakeKube::start().await.unwrap();
    for i in 0..3 {
        kube.add_node(k8s_node(i)).unwrap();
    }
    let stack = start(&mock, &kube, CLUSTER).await;
    let conflicted = |node: &str| {
        kube.node_condition(node, "NetworkUnavailable")
            .is_some_and(|c| c["status"] == "True" && c["reason"] == "RouteConflict")
    };

    // There first: n1's IPv4 route is not created next to it; everything else converges.
    eventually("the rest converges", || {
        [0, 2]
            .iter()
            .all(|&i| routed(&mock, CLUSTER, &v4(i), i) && routed(&mock, CLUSTER, &v6(i), i))
            && routed(&mock, CLUSTER, &v6(1), 1)
    })
    .await;
    eventually("RouteConflict on n1", || conflicted("n1")).await;
    assert!(absent(&mock, CLUSTER, &v4(1)));
    // The Event follows the condition.
    eventually("a RouteConflict Event naming the foreign route", || {
        kube.events_about("n1").iter().any(|e| {
            e["reason"] == "RouteConflict"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("kubernetes-legacy-n1"))
        })
    })
    .await;

    // Appearing next to ours, at a better priority and another node's instance: ours stays,
    // theirs stays, n0 says why its traffic may not arrive.
    let rival = Route::new(
        "other-team-route",
        &v4(0),
        NextHop::instance(ZONE, &instance(2)),
    )
    .network(NETWORK)
    .priority(900);
    mock.world().add_route(rival).unwrap();
    let snapshot = |name: &str| serde_json::to_string(&mock.world().route(name).unwrap()).unwrap();
    let (legacy_before, rival_before) = (
        snapshot("kubernetes-legacy-n1"),
        snapshot("other-team-route"),
    );
    eventually("RouteConflict on n0", || conflicted("n0")).await;
    assert!(routed(&mock, CLUSTER, &v4(0), 0));
    assert!(!conflicted("n2"));

    // Two more resyncs: still nothing written to either foreign route.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(snapshot("kubernetes-legacy-n1"), legacy_before);
    assert_eq!(snapshot("other-team-route"), rival_before);
    let touched: Vec<_> = mock
        .calls()
        .all()
        .into_iter()
        .filter(|c| {
            c.mutating && (c.path.contains("kubernetes-legacy") || c.path.contains("other-team"))
        })
        .collect();
    assert!(touched.is_empty(), "{touched:?}");
    stack.stop().await;
}

/// Nodes the GCE provider cannot route — a providerID from AWS, a GCE instance that does not
/// exist — each get their own message on their own Node, and block nobody else.
#[tokio::test]
async fn a_node_of_another_cloud_or_a_missing_instance_is_named_and_blocks_nobody() {
    let mock = mock_builder(world(2, &[])).start().await.unwrap();
    let kube = FakeKube::start().await.unwrap();
    for i in 0..2 {
        kube.add_node(k8s_node(i)).unwrap();
    }
    kube.add_node(
        node("n-aws")
            .pod_cidr(&v4(20))
            .provider_id("aws:///us-east-1a/i-0123456789abcdef0")
            .build(),
    )
    .unwrap();
    kube.add_node(
        node("n-gone")
            .pod_cidr(&v4(21))
            .provider_id(&format!("gce://{PROJECT}/{ZONE}/no-such-vm"))
            .build(),
    )
    .unwrap();
    let stack = start(&mock, &kube, CLUSTER).await;
    eventually("the GCE nodes converge", || {
        (0..2).all(|i| routed(&mock, CLUSTER, &v4(i), i) && routed(&mock, CLUSTER, &v6(i), i))
    })
    .await;
    let message = |n: &str| {
        kube.node_condition(n, "NetworkUnavailable")
            .filter(|c| c["status"] == "True")
            .map(|c| c["message"].as_str().unwrap_or_default().to_string())
    };
    eventually("n-aws says why", || {
        message("n-aws").is_some_and(|m| {
            m.contains("aws instance i-0123456789abcdef0") && m.contains("--cloud gce")
        })
    })
    .await;
    eventually("n-gone says why", || {
        message("n-gone").is_some_and(|m| m.contains("no-such-vm"))
    })
    .await;
    assert!(absent(&mock, CLUSTER, &v4(20)) && absent(&mock, CLUSTER, &v4(21)));
    eventually("an Event on n-aws naming its instance", || {
        kube.events_about("n-aws").iter().any(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("i-0123456789abcdef0"))
        })
    })
    .await;
    for i in 0..2 {
        let c = kube
            .node_condition(&format!("n{i}"), "NetworkUnavailable")
            .unwrap();
        assert_eq!(c["status"], "False", "n{i}: {c}");
    }
    stack.stop().await;
}

fn calls_to(mock: &MockGce, method: &str) -> usize {
    mock.calls()
        .all()
        .iter()
        .filter(|c| c.method == method)
        .count()
}

fn list_calls(mock: &MockGce) -> usize {
    calls_to(mock, "compute.routes.list")
}

/// A Node event is planned from the last listing plus the controller's own writes: adding and
/// deleting nodes costs their writes and no `routes.list` (which pages through the whole
/// network). Drift made behind its back waits for the resync, which lists again.
#[tokio::test]
async fn node_events_plan_from_the_last_listing_and_the_resync_lists() {
    let mock = mock_builder(world(5, &[])).start().await.unwrap();
    let kube = FakeKube::start().await.unwrap();
    for i in 0..3 {
        kube.add_node(k8s_node(i)).unwrap();
    }
    let resync = Duration::from_secs(20);
    let stack = start_with_resync(&mock, &kube, CLUSTER, resync).await;
    eventually("cold start", || {
        (0..3).all(|i| routed(&mock, CLUSTER, &v4(i), i) && routed(&mock, CLUSTER, &v6(i), i))
    })
    .await;
    let listed = list_calls(&mock);
    assert!(listed >= 1);
    let writes = |method| calls_to(&mock, method);
    let (inserted, deleted) = (
        writes("compute.routes.insert"),
        writes("compute.routes.delete"),
    );

    // Drift the controller cannot see without listing: node 0's route hijacked to node 1.
    let name = RouteNaming::new(CLUSTER).name(&v4(0).parse().unwrap());
    mock.world().edit(|w| {
        let r = w.routes.iter_mut().find(|r| r.name == name).unwrap();
        r.next_hop = NextHop::instance(ZONE, &instance(1));
    });

    kube.add_node(k8s_node(3)).unwrap();
    kube.delete_node("n2").unwrap();
    eventually("node 3 routed, node 2's routes gone", || {
        routed(&mock, CLUSTER, &v4(3), 3)
            && routed(&mock, CLUSTER, &v6(3), 3)
            && absent(&mock, CLUSTER, &v4(2))
            && absent(&mock, CLUSTER, &v6(2))
    })
    .await;
    kube.add_node(k8s_node(4)).unwrap();
    eventually("node 4 routed", || {
        routed(&mock, CLUSTER, &v4(4), 4) && routed(&mock, CLUSTER, &v6(4), 4)
    })
    .await;
    assert_eq!(
        list_calls(&mock),
        listed,
        "node events must not list the network again"
    );
    // Exactly the writes the events need: the routes written for node 3 are remembered as
    // they will be listed, so node 4's pass does not rewrite them.
    assert_eq!(writes("compute.routes.insert") - inserted, 4);
    assert_eq!(writes("compute.routes.delete") - deleted, 2);
    assert!(
        routed(&mock, CLUSTER, &v4(0), 1),
        "the hijack is only seen by the next list"
    );

    // The resync lists, sees the hijack and repairs it.
    eventually("hijack repaired by the resync", || {
        routed(&mock, CLUSTER, &v4(0), 0)
    })
    .await;
    assert!(list_calls(&mock) > listed);
    stack.stop().await;
}
