//! The `routeplane` binary as a user runs it: `plan` and `status` against the mock EC2 and the
//! fake API server through a kubeconfig, and bad flags rejected with a message naming them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Output};

use routeplane_mocks::ec2::{MockEc2, Target};
use routeplane_mocks::kube_api::FakeKube;

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

/// Cluster `cli`: table rtb-0c1, instances i-0c1/2 and Nodes n1/2.
async fn setup() -> (MockEc2, FakeKube, tempfile::TempDir) {
    support::aws_cluster("cli", 'c', 2, |w| {
        // n1's route is right, n2's is missing, and a stale one of a departed node is there.
        w.add_route("rtb-0c1", "10.244.1.0/24", Target::Instance("i-0c1".into()))
            .unwrap();
        w.add_route(
            "rtb-0c1",
            "10.244.9.0/24",
            Target::NetworkInterface("eni-0gone".into()),
        )
        .unwrap();
    })
    .await
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

/// `--cloud gce` from the command line, against the mock GCE in this process. Self-contained:
/// its own world, Nodes and runner, so the AWS helpers above can change freely.
mod gce {
    use std::io::Read;
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    use routeplane_gce::RouteNaming;
    use routeplane_mocks::gce::{GceWorld, MockGce, NextHop, Route};
    use routeplane_mocks::kube_api::{FakeKube, node};

    use super::BIN;

    const PROJECT: &str = "cli-project";
    const NETWORK: &str = "cli-net";
    const ZONE: &str = "europe-west1-b";
    /// A start-up that takes longer than this is the hang this guards against.
    const GUARD: Duration = Duration::from_secs(60);

    /// Two instances with routes to plan, one stale route of ours, one foreign route, and
    /// three Nodes: n1 routed already, n2 missing, n3 with a providerID from AWS.
    async fn setup() -> (MockGce, FakeKube, tempfile::TempDir) {
        let stale: ipnet::IpNet = "10.244.9.0/24".parse().unwrap();
        let naming = RouteNaming::new("cli");
        let world = GceWorld::new()
            .project(PROJECT)
            .network(NETWORK)
            .instance(ZONE, "vm-1", "10.128.0.2", true)
            .instance(ZONE, "vm-2", "10.128.0.3", true)
            .route(
                Route::new(
                    &naming.name(&"10.244.1.0/24".parse().unwrap()),
                    "10.244.1.0/24",
                    NextHop::instance(ZONE, "vm-1"),
                )
                .network(NETWORK)
                .description(&naming.description()),
            )
            .route(
                Route::new(
                    &naming.name(&stale),
                    "10.244.9.0/24",
                    NextHop::instance(ZONE, "vm-2"),
                )
                .network(NETWORK)
                .description(&naming.description()),
            )
            .route(
                Route::new("default-internet", "0.0.0.0/0", NextHop::internet()).network(NETWORK),
            );
        let mock = MockGce::builder()
            .project(PROJECT)
            .world(world)
            .start()
            .await
            .unwrap();
        let (kube, dir) = crate::support::fake_kube(
            [
                ("n1", format!("gce://{PROJECT}/{ZONE}/vm-1")),
                ("n2", format!("gce://{PROJECT}/{ZONE}/vm-2")),
                ("n3", "aws:///us-east-1a/i-0123456789abcdef0".to_string()),
            ]
            .map(|(n, id)| {
                node(n)
                    .pod_cidr(&format!("10.244.{}.0/24", &n[1..]))
                    .provider_id(&id)
                    .build()
            }),
        )
        .await;
        (mock, kube, dir)
    }

    /// Runs `routeplane plan --cloud gce` with no Google credentials in reach (no key file
    /// variable, an empty HOME so no gcloud file), killing it after [`GUARD`] so a start-up
    /// that waits forever fails the test instead of hanging CI.
    async fn plan(
        mock: &MockGce,
        dir: &tempfile::TempDir,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> (Option<i32>, String, String) {
        let mut cmd = Command::new(BIN);
        cmd.args(["--log-level", "warn", "plan", "--cloud", "gce"])
            .arg("--kubeconfig")
            .arg(dir.path().join("kubeconfig"))
            .args(["--cluster-name", "cli", "--cluster-cidr", "10.244.0.0/16"])
            .args(["--gce-endpoint", &mock.endpoint_url()])
            .args(extra)
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env("HOME", dir.path())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The mocks serve from this runtime: wait off it.
        let out = tokio::task::spawn_blocking(move || run_guarded(cmd))
            .await
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn run_guarded(mut cmd: Command) -> Output {
        let mut child = cmd.spawn().unwrap();
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                pipe.read_to_end(&mut buf).unwrap();
                buf
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let deadline = Instant::now() + GUARD;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!(
                    "routeplane did not exit within {GUARD:?}; stderr:\n{}",
                    String::from_utf8_lossy(&stderr.join().unwrap())
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn plan_prints_the_gce_routes_without_credentials_and_writes_nothing() {
        let (mock, _kube, dir) = setup().await;
        let before = mock.world().routes();
        let (code, out, err) = plan(
            &mock,
            &dir,
            &["--gce-project", PROJECT, "--gce-network", NETWORK],
            &[],
        )
        .await;
        assert_eq!(code, Some(2), "{out}\n{err}");
        // n2's route to create, the stale one to delete, and the AWS node named without
        // blocking anyone.
        for want in [
            "+ create",
            "10.244.2.0/24",
            "vm-2",
            "- delete",
            "10.244.9.0/24",
            "! unroutable node n3",
            "aws instance i-0123456789abcdef0",
            "1 to create, 0 to replace, 1 to delete, 1 in sync, 0 conflicts, 1 unroutable (3 nodes, 1 tables)",
        ] {
            assert!(out.contains(want), "no {want:?} in:\n{out}");
        }
        assert_eq!(mock.world().routes(), before, "plan wrote something");
        assert!(mock.calls().all().iter().all(|c| !c.mutating));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_unknown_project_or_network_is_named_and_exits_1() {
        let (mock, _kube, dir) = setup().await;
        let (code, out, err) = plan(
            &mock,
            &dir,
            &["--gce-project", "no-such-project", "--gce-network", NETWORK],
            &[],
        )
        .await;
        assert_eq!(code, Some(1), "{out}\n{err}");
        assert!(
            err.contains("project no-such-project does not exist"),
            "{err}"
        );
        let (code, out, err) = plan(
            &mock,
            &dir,
            &["--gce-project", PROJECT, "--gce-network", "no-such-net"],
            &[],
        )
        .await;
        assert_eq!(code, Some(1), "{out}\n{err}");
        assert!(err.contains("network no-such-net not found"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_missing_credentials_file_is_named_even_with_a_custom_endpoint() {
        let (mock, _kube, dir) = setup().await;
        let (code, out, err) = plan(
            &mock,
            &dir,
            &["--gce-project", PROJECT, "--gce-network", NETWORK],
            &[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")],
        )
        .await;
        assert_eq!(code, Some(1), "{out}\n{err}");
        assert!(
            err.contains("credentials file /nonexistent/key.json")
                && err.contains("GOOGLE_APPLICATION_CREDENTIALS"),
            "{err}"
        );
        assert!(
            mock.calls().all().is_empty(),
            "no Compute call before credentials"
        );
    }
}
