//! Event-to-route latency: the time from a Node's podCIDR appearing in the (fake) API server to
//! the controller calling `create_route`, for nodes that arrive one at a time. The real kube-rs
//! watcher, the real controller loop, the in-memory provider (no cloud latency).
//!
//! `cargo bench -p routeplane-core --bench event_to_route [-- NODES]` (default 100).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use routeplane_core::Cloud;
use routeplane_core::controller::{Controller, ControllerConfig};
use routeplane_core::testing::{MemoryProvider, Op, node, spec};
use routeplane_mocks::kube_api::FakeKube;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    let fake = FakeKube::start().await.unwrap();
    let cloud = MemoryProvider::new(Cloud::Aws, &["rtb-a"]);
    let mut cfg = ControllerConfig::new(spec());
    cfg.resync = Duration::from_secs(3600); // only events trigger passes
    let controller = Controller::new(cloud.clone(), cfg);
    let client = kube::Client::try_from(kube::Config::new(fake.url().parse().unwrap())).unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { controller.run(client, token).await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("n{i}");
        fake.add_node(node(&name).aws(&format!("i-{i:x}")).to_k8s())
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await; // the node exists before its CIDR
        let before = cloud.count(Op::Create);
        let start = Instant::now();
        let c = format!("10.244.{}.0/24", i % 256);
        fake.patch_node(
            &name,
            serde_json::json!({"spec": {"podCIDR": c, "podCIDRs": [c]}}),
        )
        .unwrap();
        loop {
            let calls = cloud.calls();
            if let Some(call) = calls.iter().filter(|c| c.op == Op::Create).nth(before) {
                latencies.push(call.at.duration_since(start));
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "node {name} was never routed"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    shutdown.cancel();
    let _ = task.await;
    latencies.sort();
    println!(
        "event_to_route nodes={n} p50={:.1}ms p95={:.1}ms max={:.1}ms (debounce {}ms)",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.95).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
        ControllerConfig::new(spec()).debounce.as_millis(),
    );
}
