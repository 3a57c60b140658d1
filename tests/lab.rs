//! `routeplane lab` as CI runs it, as root: cloud mode (3 nodes × 2 pods) and host mode must
//! pass the whole matrix and the dynamics and leave nothing behind; a run killed with SIGKILL
//! is removed by `lab clean`. Each test uses its own run id, and they take turns (one lab at a
//! time keeps the timings meaningful on a shared machine).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_routeplane");

static ONE_LAB_AT_A_TIME: Mutex<()> = Mutex::new(());

fn require_root_and_plugin() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        })
        .unwrap_or_default();
    assert_eq!(
        uid, "0",
        "this test needs root; run it as root with --include-ignored"
    );
    let plugin = PathBuf::from(BIN).with_file_name("routeplane-bridge");
    assert!(
        plugin.is_file(),
        "{} is missing: build it with cargo build -p routeplane-cni (cargo test --workspace does)",
        plugin.display()
    );
}

fn lab(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--log-level", "warn", "lab"])
        .args(args)
        .output()
        .unwrap()
}

/// Namespaces and root links whose names start with `prefix`.
fn leftovers(prefix: &str) -> Vec<String> {
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let links = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let mut out: Vec<String> = String::from_utf8_lossy(&ns.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect();
    out.extend(
        String::from_utf8_lossy(&links.stdout)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n))
            .filter(|n| n.starts_with(prefix))
            .map(str::to_string),
    );
    if std::path::Path::new(&format!(
        "/run/routeplane-lab/{}",
        prefix.trim_end_matches('-')
    ))
    .exists()
    {
        out.push("state dir".into());
    }
    out
}

fn assert_full_pass(out: &Output, id: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "lab failed:\n{stdout}\n{stderr}");
    // The initial and the final matrix each pass all three requirements.
    for req in [
        "[PASS] 1. every pod reaches every pod",
        "[PASS] 2. every node reaches every pod",
        "[PASS] 3. the receiver sees the sender's own IP",
    ] {
        assert_eq!(stdout.matches(req).count(), 3, "{req} missing:\n{stdout}");
    }
    assert!(!stdout.contains("[FAIL]"), "{stdout}");
    assert!(
        stdout.contains("pods are unreachable from every other node"),
        "{stdout}"
    );
    assert!(stdout.contains("- deleted Node"), "{stdout}");
    assert!(stdout.contains("+ added Node"), "{stdout}");
    assert!(stdout.contains("! hijacked"), "{stdout}");
    assert!(stdout.contains("lab PASSED"), "{stdout}");
    let left = leftovers(&format!("rpl-{id}-"));
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
#[ignore = "needs root: builds network namespaces"]
fn cloud_mode_proves_the_network_model_and_cleans_up() {
    require_root_and_plugin();
    let _turn = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = lab(&["--nodes", "3", "--pods", "2", "--id", "tc"]);
    assert_full_pass(&out, "tc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("the controller replaced the route"),
        "{stdout}"
    );
}

#[test]
#[ignore = "needs root: builds network namespaces"]
fn host_mode_proves_the_network_model_and_cleans_up() {
    require_root_and_plugin();
    let _turn = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = lab(&["--mode", "host", "--id", "th"]);
    assert_full_pass(&out, "th");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("the agent replaced its route"), "{stdout}");
}

#[test]
#[ignore = "needs root: builds network namespaces"]
fn lab_clean_removes_a_run_killed_halfway_and_nothing_else() {
    require_root_and_plugin();
    let _turn = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // A namespace without the lab prefix must survive `lab clean`.
    let bystander = format!("rplx-bystander-{}", std::process::id());
    assert!(
        Command::new("ip")
            .args(["netns", "add", &bystander])
            .status()
            .unwrap()
            .success()
    );

    let mut child = Command::new(BIN)
        .args(["--log-level", "warn", "lab", "--id", "tk"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once pods exist (mid-run), before it could clean up by itself.
    let start = Instant::now();
    while !leftovers("rpl-tk-").iter().any(|n| n.contains("-p1")) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the lab never made pods"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the lab ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    assert!(
        !leftovers("rpl-tk-").is_empty(),
        "a killed run leaves its namespaces"
    );

    // A second run with the same id is refused before it creates anything.
    let clash = lab(&["--id", "tk"]);
    assert!(!clash.status.success());
    let msg = String::from_utf8_lossy(&clash.stderr);
    assert!(
        msg.contains("already exist") && msg.contains("lab clean --id tk"),
        "{msg}"
    );

    let out = lab(&["clean", "--id", "tk"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed"));
    assert_eq!(leftovers("rpl-tk-"), Vec::<String>::new());

    let survived = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let _ = Command::new("ip")
        .args(["netns", "del", &bystander])
        .status();
    assert!(
        String::from_utf8_lossy(&survived.stdout).contains(&bystander),
        "lab clean touched a namespace without the prefix"
    );
}

#[test]
fn out_of_range_sizes_and_hybrid_mode_are_refused_before_anything_is_built() {
    for (args, needle) in [
        (&["--nodes", "1"][..], "--nodes"),
        (&["--nodes", "17"][..], "--nodes"),
        (&["--pods", "0"][..], "--pods"),
        (&["--mode", "hybrid"][..], "cloud or host"),
        (&["--id", "NOPE"][..], "lowercase"),
    ] {
        let out = lab(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let msg = String::from_utf8_lossy(&out.stderr);
        assert!(msg.contains(needle), "{args:?}: {msg}");
    }
}
