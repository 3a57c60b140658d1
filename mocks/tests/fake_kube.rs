//! Contract tests: the real kube-rs client, over HTTP, against the fake API server.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use http::{HeaderValue, header::USER_AGENT};
use k8s_openapi::api::{
    coordination::v1::Lease,
    core::v1::{Event as CoreEvent, Node},
    events::v1::Event as EventsV1,
};
use kube::{
    Api, Client, Config, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::{
        WatchStreamExt,
        events::{Event, EventType, Recorder, Reporter},
        reflector,
        watcher::{self, watcher},
    },
};
use routeplane_mocks::kube_api::{FakeKube, node};
use serde_json::json;

/// With both of rustls's crypto backends compiled in (aws-sdk-ec2 brings aws-lc-rs), kube's TLS
/// setup panics unless one is installed, even for plain HTTP.
fn install_crypto() {
    // Err only means another test installed it first.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client that identifies itself, so the request log can tell clients apart.
fn client(fake: &FakeKube, agent: &str) -> Client {
    install_crypto();
    let mut config = Config::new(fake.url().parse().unwrap());
    config
        .headers
        .push((USER_AGENT, HeaderValue::from_str(agent).unwrap()));
    Client::try_from(config).unwrap()
}

/// Polls `check` until it holds, failing after 10 s (the watcher backs off after errors).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn next<S: futures::Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("stream stalled")
        .expect("stream ended")
}

#[tokio::test]
async fn kubeconfig_points_a_kube_client_at_the_fake() {
    let fake = FakeKube::start().await.unwrap();
    fake.add_node(node("n1").build()).unwrap();
    let kubeconfig = Kubeconfig::from_yaml(&fake.kubeconfig_yaml()).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    install_crypto();
    let client = Client::try_from(config).unwrap();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.minor, "33");
    let nodes: Api<Node> = Api::all(client);
    assert_eq!(nodes.get("n1").await.unwrap().name_any(), "n1");
}

#[tokio::test]
async fn discovery_lists_nodes_leases_and_events() {
    let fake = FakeKube::start().await.unwrap();
    let discovery = kube::Discovery::new(client(&fake, "test"))
        .run()
        .await
        .unwrap();
    let kinds: Vec<String> = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .map(|(ar, _)| format!("{}/{}", ar.api_version, ar.plural))
        .collect();
    for expected in [
        "v1/nodes",
        "v1/events",
        "coordination.k8s.io/v1/leases",
        "events.k8s.io/v1/events",
    ] {
        assert!(
            kinds.contains(&expected.to_string()),
            "{expected} missing from {kinds:?}"
        );
    }
}

#[tokio::test]
async fn unknown_paths_and_missing_objects_get_a_404_status() {
    let fake = FakeKube::start().await.unwrap();
    let client = client(&fake, "test");
    let request = http::Request::get("/apis/example.com/v1/widgets")
        .body(Vec::new())
        .unwrap();
    let kube::Error::Api(status) = client.request_text(request).await.unwrap_err() else {
        panic!("expected a Status");
    };
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));

    let nodes: Api<Node> = Api::all(client);
    let kube::Error::Api(status) = nodes.get("missing").await.unwrap_err() else {
        panic!("expected a Status");
    };
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
}

#[tokio::test]
async fn watcher_sees_nodes_added_modified_and_deleted() {
    let fake = FakeKube::start().await.unwrap();
    fake.add_node(node("n0").build()).unwrap();
    let nodes: Api<Node> = Api::all(client(&fake, "test"));
    let mut events = watcher(nodes, watcher::Config::default()).boxed();

    assert!(matches!(
        next(&mut events).await.unwrap(),
        watcher::Event::Init
    ));
    assert!(
        matches!(next(&mut events).await.unwrap(), watcher::Event::InitApply(n) if n.name_any() == "n0")
    );
    assert!(matches!(
        next(&mut events).await.unwrap(),
        watcher::Event::InitDone
    ));

    fake.add_node(node("n1").build()).unwrap();
    fake.patch_node(
        "n1",
        json!({"spec": {"podCIDR": "10.1.1.0/24", "podCIDRs": ["10.1.1.0/24"]}}),
    )
    .unwrap();
    fake.delete_node("n1").unwrap();

    let watcher::Event::Apply(added) = next(&mut events).await.unwrap() else {
        panic!("expected Apply")
    };
    assert!(added.spec.unwrap().pod_cidr.is_none());
    let watcher::Event::Apply(modified) = next(&mut events).await.unwrap() else {
        panic!("expected Apply")
    };
    assert_eq!(
        modified.spec.unwrap().pod_cidr.as_deref(),
        Some("10.1.1.0/24")
    );
    let watcher::Event::Delete(deleted) = next(&mut events).await.unwrap() else {
        panic!("expected Delete")
    };
    assert_eq!(deleted.name_any(), "n1");
}

/// A fake API server with Node n1, and a kube-rs reflector over its Nodes that has listed it.
async fn n1_in_a_ready_reflector() -> (
    FakeKube,
    reflector::Store<Node>,
    tokio::task::JoinHandle<()>,
) {
    let fake = FakeKube::start().await.unwrap();
    fake.add_node(node("n1").build()).unwrap();
    let nodes: Api<Node> = Api::all(client(&fake, "test"));
    let (store, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(nodes, watcher::Config::default()).default_backoff(),
    );
    let task = tokio::spawn(stream.for_each(|_| async {}));
    store.wait_until_ready().await.unwrap();
    (fake, store, task)
}

#[tokio::test]
async fn reflector_store_converges_to_the_api_state() {
    let (fake, store, task) = n1_in_a_ready_reflector().await;

    fake.add_node(node("n2").build()).unwrap();
    fake.add_node(node("n3").label("zone", "a").build())
        .unwrap();
    fake.delete_node("n1").unwrap();
    fake.patch_node("n2", json!({"metadata": {"labels": {"zone": "b"}}}))
        .unwrap();

    eventually("the store to hold n2 (zone b) and n3", || {
        let mut names: Vec<(String, Option<String>)> = store
            .state()
            .iter()
            .map(|n| (n.name_any(), n.labels().get("zone").cloned()))
            .collect();
        names.sort();
        names
            == [
                ("n2".into(), Some("b".into())),
                ("n3".into(), Some("a".into())),
            ]
    })
    .await;
    task.abort();
}

#[tokio::test]
async fn streaming_list_watcher_finishes_its_initial_list() {
    let fake = FakeKube::start().await.unwrap();
    fake.add_node(node("n1").build()).unwrap();
    let nodes: Api<Node> = Api::all(client(&fake, "test"));
    let mut events = watcher(nodes, watcher::Config::default().streaming_lists()).boxed();
    assert!(matches!(
        next(&mut events).await.unwrap(),
        watcher::Event::Init
    ));
    assert!(
        matches!(next(&mut events).await.unwrap(), watcher::Event::InitApply(n) if n.name_any() == "n1")
    );
    assert!(matches!(
        next(&mut events).await.unwrap(),
        watcher::Event::InitDone
    ));
}

#[tokio::test]
async fn list_supports_field_and_label_selectors_and_pages() {
    let fake = FakeKube::start().await.unwrap();
    for (name, zone) in [("n1", "a"), ("n2", "b"), ("n3", "a")] {
        fake.add_node(node(name).label("zone", zone).build())
            .unwrap();
    }
    fake.add_node(node("n4").build()).unwrap();
    let nodes: Api<Node> = Api::all(client(&fake, "test"));
    let names = |list: kube::core::ObjectList<Node>| -> Vec<String> {
        list.items.iter().map(ResourceExt::name_any).collect()
    };

    let by_name = nodes
        .list(&ListParams::default().fields("metadata.name=n2"))
        .await
        .unwrap();
    assert_eq!(names(by_name), ["n2"]);
    let by_label = nodes
        .list(&ListParams::default().labels("zone=a"))
        .await
        .unwrap();
    assert_eq!(names(by_label), ["n1", "n3"]);
    let with_label = nodes
        .list(&ListParams::default().labels("zone"))
        .await
        .unwrap();
    assert_eq!(names(with_label), ["n1", "n2", "n3"]);

    let first = nodes.list(&ListParams::default().limit(3)).await.unwrap();
    let token = first.metadata.continue_.clone().unwrap();
    let rv = first.metadata.resource_version.clone();
    assert_eq!(names(first), ["n1", "n2", "n3"]);
    let second = nodes
        .list(&ListParams::default().limit(3).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(second.metadata.resource_version, rv);
    assert!(second.metadata.continue_.is_none());
    assert_eq!(names(second), ["n4"]);
}

#[tokio::test]
async fn node_patches_merge_strategic_and_apply_respect_the_status_subresource() {
    let fake = FakeKube::start().await.unwrap();
    fake.add_node(node("n1").build()).unwrap();
    let nodes: Api<Node> = Api::all(client(&fake, "test"));

    // Merge patch on the main resource changes metadata but not status.
    let patched = nodes
        .patch(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"zone": "a"}}, "status": {"conditions": []}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(patched.labels()["zone"], "a");
    assert!(fake.node_condition("n1", "Ready").is_some());

    // Strategic merge on /status merges conditions by type.
    let condition =
        json!({"type": "NetworkUnavailable", "status": "True", "reason": "NoRouteCreated"});
    nodes
        .patch_status(
            "n1",
            &PatchParams::default(),
            &Patch::Strategic(json!({"status": {"conditions": [condition]}})),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.node_condition("n1", "NetworkUnavailable").unwrap()["reason"],
        "NoRouteCreated"
    );
    assert!(fake.node_condition("n1", "Ready").is_some());

    // Server-side apply on /status, with a field manager and force.
    let apply = json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "status": {"conditions": [{"type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated"}]}
    });
    let applied = nodes
        .patch_status(
            "n1",
            &PatchParams::apply("routeplane").force(),
            &Patch::Apply(apply),
        )
        .await
        .unwrap();
    let conditions = applied.status.unwrap().conditions.unwrap();
    assert_eq!(conditions.len(), 2);
    assert_eq!(
        fake.node_condition("n1", "NetworkUnavailable").unwrap()["reason"],
        "RouteCreated"
    );
    assert_eq!(nodes.get_status("n1").await.unwrap().labels()["zone"], "a");
}

#[tokio::test]
async fn a_patch_that_changes_nothing_keeps_the_resource_version() {
    let fake = FakeKube::start().await.unwrap();
    fake.add_node(node("n1").label("zone", "a").build())
        .unwrap();
    let nodes: Api<Node> = Api::all(client(&fake, "test"));
    let before = fake.resource_version();
    let same = json!({"metadata": {"labels": {"zone": "a"}}});
    nodes
        .patch("n1", &PatchParams::default(), &Patch::Merge(same))
        .await
        .unwrap();
    assert_eq!(fake.resource_version(), before);
    assert_eq!(fake.request_count("patch", "nodes"), 1);
}

/// A fake API server with Lease `kube-system/routeplane` held by `a`: the Lease as sent and as
/// created.
async fn lease_held_by_a() -> (FakeKube, Api<Lease>, Lease, Lease) {
    let fake = FakeKube::start().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(client(&fake, "test"), "kube-system");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "routeplane"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}
    }))
    .unwrap();
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    (fake, leases, lease, created)
}

#[tokio::test]
async fn lease_replace_with_a_stale_resource_version_gets_409_conflict() {
    let (fake, leases, lease, created) = lease_held_by_a().await;

    let mut renewed = created.clone();
    renewed.spec.as_mut().unwrap().holder_identity = Some("b".into());
    leases
        .replace("routeplane", &PostParams::default(), &renewed)
        .await
        .unwrap();

    // `created` still carries the old resourceVersion.
    let kube::Error::Api(status) = leases
        .replace("routeplane", &PostParams::default(), &created)
        .await
        .unwrap_err()
    else {
        panic!("expected a Status");
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        fake.lease("kube-system", "routeplane").unwrap()["spec"]["holderIdentity"],
        "b"
    );

    let kube::Error::Api(status) = leases
        .create(&PostParams::default(), &lease)
        .await
        .unwrap_err()
    else {
        panic!("expected a Status");
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );

    leases
        .delete("routeplane", &DeleteParams::default())
        .await
        .unwrap();
    assert!(fake.lease("kube-system", "routeplane").is_none());
}

#[tokio::test]
async fn events_are_recorded_with_the_object_they_are_about() {
    let fake = FakeKube::start().await.unwrap();
    let created = fake.add_node(node("n1").build()).unwrap();
    let client = client(&fake, "test");
    let node: Node = serde_json::from_value(created).unwrap();

    let recorder = Recorder::new(client.clone(), Reporter::from("routeplane"));
    let event = Event {
        type_: EventType::Normal,
        reason: "RouteCreated".into(),
        note: Some("created route 10.1.1.0/24".into()),
        action: "CreateRoute".into(),
        secondary: None,
    };
    recorder
        .publish(&event, &node.object_ref(&()))
        .await
        .unwrap();
    // The same event again is a series: kube-rs merge-patches the first one.
    recorder
        .publish(&event, &node.object_ref(&()))
        .await
        .unwrap();

    let core_event: CoreEvent = serde_json::from_value(json!({
        "metadata": {"generateName": "n1."},
        "involvedObject": {"kind": "Node", "name": "n1"},
        "reason": "NoRouteCreated", "type": "Warning"
    }))
    .unwrap();
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    core.create(&PostParams::default(), &core_event)
        .await
        .unwrap();

    let events = fake.events_about("n1");
    let reasons: Vec<&str> = events
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["RouteCreated", "NoRouteCreated"]);
    assert_eq!(events[0]["series"]["count"], 2);
    let recorded: Api<EventsV1> = Api::namespaced(client, "default");
    assert_eq!(
        recorded
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn watch_from_a_compacted_resource_version_gets_410_gone() {
    let fake = FakeKube::start().await.unwrap();
    fake.add_node(node("n1").build()).unwrap();
    fake.add_node(node("n2").build()).unwrap();
    fake.compact_history();
    let nodes: Api<Node> = Api::all(client(&fake, "test"));
    let mut stream = nodes
        .watch(&WatchParams::default(), "1")
        .await
        .unwrap()
        .boxed();
    let WatchEvent::Error(status) = next(&mut stream).await.unwrap() else {
        panic!("expected an ERROR event");
    };
    assert_eq!(status.code, 410);
}

#[tokio::test]
async fn idle_watch_gets_bookmarks_and_ends_at_timeout_seconds() {
    let fake = FakeKube::builder()
        .bookmark_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    fake.add_node(node("n1").build()).unwrap();
    let rv = fake.resource_version().to_string();
    let nodes: Api<Node> = Api::all(client(&fake, "test"));
    let started = std::time::Instant::now();
    let events: Vec<_> = nodes
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        events.len() >= 3,
        "expected bookmarks, got {} events",
        events.len()
    );
    assert!(
        events
            .iter()
            .all(|e| matches!(e, WatchEvent::Bookmark(b) if b.metadata.resource_version == rv))
    );
}

#[tokio::test]
async fn watcher_relists_after_410_and_converges() {
    let (fake, store, task) = n1_in_a_ready_reflector().await;

    // The API server goes away; while it is gone, nodes change and the history is compacted,
    // so the watcher's resourceVersion is too old when it comes back.
    fake.set_unreachable(true);
    fake.delete_node("n1").unwrap();
    fake.add_node(node("n2").build()).unwrap();
    fake.compact_history();
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.set_unreachable(false);

    eventually("the store to hold only n2", || {
        let names: Vec<String> = store.state().iter().map(|n| n.name_any()).collect();
        names == ["n2"]
    })
    .await;
    assert_eq!(
        fake.request_count("list", "nodes"),
        2,
        "{:?}",
        fake.requests()
    );
    task.abort();
}

#[tokio::test]
async fn requests_are_counted_by_verb_resource_and_user_agent() {
    let fake = FakeKube::start().await.unwrap();
    fake.add_node(node("n1").build()).unwrap();
    let leader: Api<Node> = Api::all(client(&fake, "leader"));
    let follower: Api<Node> = Api::all(client(&fake, "follower"));
    follower.get("n1").await.unwrap();
    let condition =
        json!({"status": {"conditions": [{"type": "NetworkUnavailable", "status": "False"}]}});
    leader
        .patch_status("n1", &PatchParams::default(), &Patch::Strategic(condition))
        .await
        .unwrap();

    let writers: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.is_write())
        .map(|r| (r.user_agent.unwrap(), r.verb, r.resource, r.patch_type))
        .collect();
    assert_eq!(
        writers,
        [(
            "leader".to_string(),
            "patch",
            "nodes/status".to_string(),
            Some("strategic")
        )]
    );
    assert_eq!(fake.request_count("get", "nodes"), 1);
}

#[tokio::test]
async fn injected_failures_and_latency_reach_the_client() {
    let fake = FakeKube::start().await.unwrap();
    fake.add_node(node("n1").build()).unwrap();
    let nodes: Api<Node> = Api::all(client(&fake, "test"));

    // Not 503: kube 5 retries 429/503/504 itself, up to 15 times with backoff (minutes).
    fake.set_failing(Some(500));
    let kube::Error::Api(status) = nodes.get("n1").await.unwrap_err() else {
        panic!("expected a Status");
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (500, "InternalError")
    );

    fake.set_failing(None);
    fake.set_latency(Duration::from_millis(300));
    let started = std::time::Instant::now();
    nodes.get("n1").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn the_lease_history_records_every_committed_holder_in_order() {
    let (fake, leases, _, created) = lease_held_by_a().await;
    let mut taken = created.clone();
    taken.spec.as_mut().unwrap().holder_identity = Some("b".into());
    taken.spec.as_mut().unwrap().lease_transitions = Some(1);
    leases
        .replace("routeplane", &PostParams::default(), &taken)
        .await
        .unwrap();
    // A stale write is refused and leaves no record.
    leases
        .replace("routeplane", &PostParams::default(), &created)
        .await
        .unwrap_err();
    leases
        .delete("routeplane", &DeleteParams::default())
        .await
        .unwrap();

    let history = fake.lease_history("kube-system", "routeplane");
    let holders: Vec<_> = history.iter().map(|r| r.holder.as_deref()).collect();
    assert_eq!(holders, [Some("a"), Some("b"), None]);
    assert_eq!(history[1].lease_transitions, Some(1));
    assert_eq!(history[0].lease_duration_seconds, Some(15));
    assert!(history[2].deleted && !history[1].deleted);
    assert!(history.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(fake.lease_history("kube-system", "other").is_empty());
}

#[tokio::test]
async fn a_door_partitions_one_client_while_the_others_still_reach_the_server() {
    install_crypto();
    let fake = FakeKube::start().await.unwrap();
    fake.add_node(node("n1").build()).unwrap();
    let door_a = fake.door("a").await.unwrap();
    assert!(fake.door("a").await.is_err(), "door names are unique");
    let via_door: Api<Node> =
        Api::all(Client::try_from(Config::new(door_a.parse().unwrap())).unwrap());
    let direct: Api<Node> = Api::all(client(&fake, "direct"));
    via_door.get("n1").await.unwrap();

    assert!(fake.set_door_unreachable("a", true));
    assert!(!fake.set_door_unreachable("nope", true));
    via_door.get("n1").await.unwrap_err();
    direct.get("n1").await.unwrap();

    assert!(fake.set_door_unreachable("a", false));
    via_door.get("n1").await.unwrap();
    // The server-wide switch closes the doors too.
    fake.set_unreachable(true);
    via_door.get("n1").await.unwrap_err();
    fake.set_unreachable(false);
    via_door.get("n1").await.unwrap();
    // A door's kubeconfig points at the door.
    assert!(FakeKube::kubeconfig_yaml_for(&door_a).contains(&door_a));
}
