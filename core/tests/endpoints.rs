//! The controller's HTTP endpoints (`/metrics`, `/healthz`, `/readyz`) expose nothing writable:
//! every method other than GET/HEAD, on every path (served or not, including traversal-looking
//! ones), gets 405 or 404, and the metrics and readiness they serve are byte-for-byte the same
//! afterwards. Over real HTTP against the real server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use k8s_openapi::api::core::v1::Node;
use kube::runtime::watcher;
use reqwest::Method;
use routeplane_core::controller::health;
use routeplane_core::controller::{Metrics, NodeStore};
use routeplane_core::testing::node;
use tokio_util::sync::CancellationToken;

const PATHS: &[&str] = &[
    "/metrics",
    "/healthz",
    "/readyz",
    "/",
    "/metrics/",
    "/metrics?name=x",
    "/debug/pprof/",
    "/admin",
    "/quitquitquit",
    "/api/v1/nodes",
];

/// Sent byte for byte (a URL parser would resolve the dot segments first).
const RAW_PATHS: &[&str] = &[
    "/healthz/../metrics",
    "/%2e%2e/metrics",
    "//metrics",
    "/metrics/../../etc/passwd",
    "/readyz%00",
];

/// The status code of one raw HTTP/1.1 request with a small body.
async fn raw_status(addr: std::net::SocketAddr, method: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Length: 4\r\n\r\nbody"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

async fn snapshot(client: &reqwest::Client, base: &str) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for path in ["/metrics", "/healthz", "/readyz"] {
        let r = client.get(format!("{base}{path}")).send().await.unwrap();
        out.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    out
}

#[tokio::test]
async fn every_non_get_method_on_every_path_is_refused_and_changes_nothing() {
    let metrics = Metrics::new();
    metrics.routes_desired.set(3);
    metrics.call("create_route", "ok");
    let store = NodeStore::default();
    store.apply(&watcher::Event::<Node>::Init);
    store.apply(&watcher::Event::InitApply(
        serde_json::from_value::<Node>(node("n1").pod_cidr("10.244.1.0/24").aws("i-1").to_k8s())
            .unwrap(),
    ));
    store.apply(&watcher::Event::<Node>::InitDone);
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let stop = CancellationToken::new();
    let server = health::serve(addr, metrics.clone(), store.clone(), stop.clone())
        .await
        .unwrap();
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();

    let before = snapshot(&client, &base).await;
    assert_eq!(before[0].0, 200);
    assert!(
        before[0].1.contains("routeplane_routes_desired 3"),
        "{}",
        before[0].1
    );
    assert_eq!((before[1].0, before[2].0), (200, 200));

    let methods = [
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::TRACE,
        Method::from_bytes(b"PROPFIND").unwrap(),
    ];
    for path in PATHS {
        for method in &methods {
            let r = client
                .request(method.clone(), format!("{base}{path}"))
                .header("content-type", "text/plain")
                .body("routeplane_routes_desired 0\nrouteplane_leader 1\n")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            assert!(
                status == 405 || status == 404,
                "{method} {path} answered {status}"
            );
            if status == 405 {
                let allow = r.headers()["allow"].to_str().unwrap().to_string();
                let mut allowed: Vec<&str> = allow.split(',').map(str::trim).collect();
                allowed.sort_unstable();
                assert_eq!(allowed, ["GET", "HEAD"], "{method} {path}");
            }
        }
        // Reads of anything but the three endpoints find nothing either.
        if !["/metrics", "/healthz", "/readyz", "/metrics?name=x"].contains(path) {
            let r = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 404, "GET {path}");
        }
    }
    // Paths a URL parser would normalise, sent raw: never served, never writable.
    for path in RAW_PATHS {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let status = raw_status(addr, method, path).await;
            let ok = if method == "GET" {
                status == 404
            } else {
                status == 404 || status == 405
            };
            assert!(ok, "raw {method} {path} answered {status}");
        }
    }
    // HEAD is a read.
    let r = client.head(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);

    assert_eq!(
        snapshot(&client, &base).await,
        before,
        "an endpoint changed state"
    );
    assert!(store.is_ready());
    assert_eq!(store.len(), 1);
    stop.cancel();
    server.await.unwrap();
}
