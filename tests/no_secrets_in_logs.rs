//! No credential ever reaches the logs, at any level, in any format. The `routeplane` binary
//! runs as a user runs it, with every log filter open (`--log-level trace` and `RUST_LOG=trace`,
//! so the AWS SDK, hyper and kube-rs log everything they can) and its output is grepped:
//! - `controller`, `plan` and `status` take credentials from the standard chain (environment
//!   here), so a distinctive secret key and session token are given and must never appear;
//! - `demo` (a full run, static demo credentials inside): any mention of a secret must be
//!   redacted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use routeplane_mocks::ec2::MockEc2;

const BIN: &str = env!("CARGO_BIN_EXE_routeplane");
const SECRET: &str = "rpTESTsecretKEY/9f3c2a71e5b04d8a+NotReal";
const TOKEN: &str = "rpTESTsessionTOKEN7c1e0b2d94aa";
const ACCESS_KEY: &str = "AKIARPTESTLEAKCHECK1";

fn open_filters(c: &mut Command) -> &mut Command {
    c.env("RUST_LOG", "trace")
        .env("ROUTEPLANE_LOG", "trace")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_no_secret(out: &str, what: &str) {
    assert!(
        out.len() > 1000,
        "{what}: suspiciously little output at trace level ({} bytes): {out}",
        out.len()
    );
    for needle in [SECRET, TOKEN, "NotReal", "rpTESTsecret", "rpTESTsession"] {
        if let Some(i) = out.find(needle) {
            let line = out[..i].rfind('\n').map_or(0, |s| s + 1);
            let end = out[i..].find('\n').map_or(out.len(), |e| i + e);
            panic!(
                "{what}: a credential leaked into the logs: {}",
                &out[line..end]
            );
        }
    }
}

fn cli(verb: &str, ec2: &MockEc2, dir: &std::path::Path, format: &str) -> Command {
    let mut c = Command::new(BIN);
    c.args(["--log-format", format, verb])
        .args(["--kubeconfig", dir.join("kubeconfig").to_str().unwrap()])
        .args(["--cluster-name", "sec", "--cluster-cidr", "10.244.0.0/16"])
        .args([
            "--aws-endpoint-url",
            &ec2.endpoint_url(),
            "--aws-region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_SESSION_TOKEN", TOKEN);
    open_filters(&mut c);
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn controller_plan_and_status_never_log_the_credentials_at_trace_level() {
    // Cluster `sec`: table rtb-0s1, instances i-0s1..3, Nodes n1..3 without routes.
    let (ec2, _kube, dir) = support::aws_cluster("sec", 's', 3, |_| {}).await;
    for format in ["text", "json"] {
        for verb in ["plan", "status"] {
            let out = cli(verb, &ec2, dir.path(), format).output().unwrap();
            assert!(
                !ec2.calls().is_empty(),
                "{verb}: never reached the mock EC2: {}",
                text(&out)
            );
            assert_no_secret(&text(&out), &format!("{verb} ({format})"));
        }
    }

    // The controller, until it has written the three routes (signed writes, not just reads).
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // Into a file, not a pipe: at trace level a pipe nobody reads fills up and blocks the logger.
    let log_path = dir.path().join("controller.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut child = cli("controller", &ec2, dir.path(), "text")
        .args([
            "--metrics-addr",
            &metrics.to_string(),
            "--leader-elect",
            "false",
        ])
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut converged = false;
    while Instant::now() < deadline {
        let routes = ec2.world().routes("rtb-0s1").unwrap_or_default();
        if routes
            .iter()
            .filter(|r| r.destination.to_string().starts_with("10.244."))
            .count()
            == 3
        {
            converged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = String::from_utf8_lossy(&std::fs::read(&log_path).unwrap()).into_owned();
    assert!(
        converged,
        "the controller never wrote the routes; log ends:\n{}",
        log.lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
    assert_no_secret(&log, "controller");
}

#[test]
fn a_full_demo_at_trace_level_mentions_no_secret_unredacted() {
    let mut c = Command::new(BIN);
    c.args(["--log-level", "trace", "demo", "--nodes", "4"]);
    open_filters(&mut c);
    let out = c.output().unwrap();
    let log = text(&out);
    assert!(out.status.success(), "the demo failed: {log}");
    assert!(log.len() > 1000, "suspiciously little output: {log}");
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            (l.contains("secret")
                || l.contains("session_token")
                || l.contains("x-amz-security-token"))
                && !l.contains("redacted")
        })
        .take(5)
        .collect();
    assert!(
        bad.is_empty(),
        "unredacted credential fields in the demo's logs: {bad:#?}"
    );
}
