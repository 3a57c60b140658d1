//! The `routeplane` binary as a user runs it: `plan` and `status` against the mock EC2 and the
//! fake API server through a kubeconfig, and bad flags rejected with a message naming them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use routeplane_mocks::ec2::{MockEc2, Target, World};
use routeplane_mocks::kube_api::{FakeKube, node};

const BIN: &str = env!("CARGO_BIN_EXE_routeplane");

fn run(args: &[&str], endpoint: &str, kubeconfig: &std::path::Path) -> Output {
    let mut full = vec!["--log-level", "warn"];
    full.extend_from_slice(args);
    Command::new(BIN)
        .args(&full)
        .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .args(["--cluster-name", "cli", "--cluster-cidr", "10.244.0.0/16"])
        .args(["--aws-endpoint-url", endpoint, "--aws-region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "AKID")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

async fn setup() -> (MockEc2, FakeKube, tempfile::TempDir) {
    let mut w = World::new();
    w.add_vpc("vpc-0c1", "10.0.0.0/16").unwrap();
    w.add_subnet("subnet-0c1", "vpc-0c1", "10.0.1.0/24", "us-east-1a")
        .unwrap();
    w.add_route_table("rtb-0c1", "vpc-0c1", true, &["subnet-0c1"])
        .unwrap();
    w.tag("rtb-0c1", "kubernetes.io/cluster/cli", "owned")
        .unwrap();
    for i in 1..=2 {
        w.add_instance(&format!("i-0c{i}"), "subnet-0c1").unwrap();
    }
    // n1's route is right, n2's is missing, and a stale one of a departed node is there.
    w.add_route("rtb-0c1", "10.244.1.0/24", Target::Instance("i-0c1".into()))
        .unwrap();
    w.add_route(
        "rtb-0c1",
        "10.244.9.0/24",
        Target::NetworkInterface("eni-0gone".into()),
    )
    .unwrap();
    let ec2 = MockEc2::builder().world(w).start().await.unwrap();
    let kube = FakeKube::start().await.unwrap();
    for i in 1..=2 {
        kube.add_node(
            node(&format!("n{i}"))
                .pod_cidr(&format!("10.244.{i}.0/24"))
                .provider_id(&format!("aws:///us-east-1a/i-0c{i}"))
                .build(),
        )
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    kube.write_kubeconfig(dir.path().join("kubeconfig"))
        .unwrap();
    (ec2, kube, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_prints_the_diff_changes_nothing_and_exits_2() {
    let (ec2, _kube, dir) = setup().await;
    let kubeconfig = dir.path().join("kubeconfig");
    let before = ec2.world().routes("rtb-0c1").unwrap();
    let out = tokio::task::spawn_blocking({
        let endpoint = ec2.endpoint_url();
        move || run(&["plan"], &endpoint, &kubeconfig)
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("+ create") && text.contains("10.244.2.0/24") && text.contains("i-0c2"),
        "{text}"
    );
    assert!(
        text.contains("- delete") && text.contains("10.244.9.0/24"),
        "{text}"
    );
    assert!(
        text.contains("1 to create, 0 to replace, 1 to delete, 1 in sync"),
        "{text}"
    );
    assert_eq!(
        ec2.world().routes("rtb-0c1").unwrap(),
        before,
        "plan wrote something"
    );
    assert!(ec2.calls().mutating().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_each_node_and_the_table_capacity_as_json() {
    let (ec2, _kube, dir) = setup().await;
    let kubeconfig = dir.path().join("kubeconfig");
    let out = tokio::task::spawn_blocking({
        let endpoint = ec2.endpoint_url();
        move || run(&["status", "-o", "json"], &endpoint, &kubeconfig)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["total"], 2);
    assert_eq!(v["routed"], 1);
    assert_eq!(v["nodes"][0]["routes"]["rtb-0c1"], "ok");
    assert_eq!(v["nodes"][1]["routes"]["rtb-0c1"], "missing");
    assert_eq!(v["tables"][0]["limit"], 49, "50 minus the local route");
}

#[test]
fn bad_flags_are_rejected_with_a_message_that_names_them() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "plan",
                "--cluster-name",
                "x",
                "--cluster-cidr",
                "10.244.0.0/33",
            ],
            "10.244.0.0/33",
        ),
        (
            &[
                "plan",
                "--cluster-name",
                "x",
                "--cluster-cidr",
                "10.244.1.0/16",
            ],
            "host bits",
        ),
        (
            &[
                "plan",
                "--cluster-name",
                "x",
                "--cluster-cidr",
                "10.0.0.0/8,10.244.0.0/16",
            ],
            "overlap",
        ),
        (
            &[
                "plan",
                "--cluster-name",
                "x",
                "--cluster-cidr",
                "10.0.0.0/8",
                "--mode",
                "overlay",
            ],
            "unknown mode \"overlay\"",
        ),
        (
            &[
                "controller",
                "--cluster-name",
                "x",
                "--cluster-cidr",
                "10.0.0.0/8",
                "--lease-duration",
                "5s",
            ],
            "renew deadline",
        ),
        (
            &[
                "controller",
                "--cluster-name",
                "x",
                "--cluster-cidr",
                "10.0.0.0/8",
                "--resync-period",
                "soon",
            ],
            "soon",
        ),
    ];
    for (args, needle) in cases {
        let out = Command::new(BIN)
            .args(*args)
            .env("POD_NAME", "t")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn an_unreachable_api_server_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "agent",
            "--node-name",
            "n1",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("Kubernetes API server is unreachable"),
        "{err}"
    );
}

/// `demo` runs the same scenario on both mock clouds and ends with the repaired hijack and the
/// cost table.
#[test]
fn the_demo_converges_churns_and_repairs_on_both_clouds() {
    for cloud in ["aws", "gce"] {
        let out = Command::new(BIN)
            .args(["--log-level", "error", "demo", "--cloud", cloud])
            .args(["--nodes", "5", "--op-delay", "100ms"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{cloud}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let routes = if cloud == "aws" { 15 } else { 5 };
        for want in [
            format!("converged: {routes} routes"),
            "- deleted node-004".into(),
            "+ added node-005".into(),
            "repaired on the next resync".into(),
            "per node (to converge)".into(),
        ] {
            assert!(stdout.contains(&want), "{cloud}: no {want:?} in:\n{stdout}");
        }
        let write = if cloud == "aws" {
            "CreateRoute"
        } else {
            "compute.routes.insert"
        };
        assert!(stdout.contains(write), "{cloud}: {stdout}");
    }
}
