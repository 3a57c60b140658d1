//! `routeplane lab bench` as CI runs it, as root, briefly (1 round of 1 s): every path must
//! carry TCP traffic, the routed path and the veth pair must pass a 1500-byte don't-fragment
//! ping while the VXLAN overlay refuses it and passes 1450, and nothing of the run may be left.
//! No speed is asserted here; the figures live in docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_routeplane");

#[test]
#[ignore = "needs root: builds network namespaces and runs iperf3 in them"]
fn bench_measures_three_paths_with_their_mtus_and_cleans_up() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root; run it as root with --include-ignored"
    );
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(BIN)
        .args(["--log-level", "warn", "lab", "bench", "--id", "tb"])
        .args(["--rounds", "1", "--seconds", "1", "--pings", "5", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "lab bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("lab-bench.json")).unwrap())
            .unwrap();
    let paths = report["paths"].as_array().unwrap();
    let names: Vec<&str> = paths.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["routed", "vxlan", "veth"]);
    for p in paths {
        let rounds = p["rounds"].as_array().unwrap();
        assert_eq!(rounds.len(), 1, "{p}");
        for test in ["single", "four"] {
            let bytes = rounds[0][test]["bytes"].as_u64().unwrap();
            assert!(bytes > 0, "{} {test} moved no bytes: {p}", p["name"]);
        }
        assert!(rounds[0]["ping_ms"].as_f64().unwrap() > 0.0, "{p}");
        let (mtu, df1500, df1450) = (
            p["mtu"].as_u64(),
            p["df_1500"].as_bool().unwrap(),
            p["df_1450"].as_bool().unwrap(),
        );
        if p["name"] == "vxlan" {
            assert!(
                !df1500 && df1450,
                "VXLAN must refuse 1500 and pass 1450: {p}"
            );
            assert_eq!(mtu, Some(1450), "{p}");
        } else {
            assert!(df1500 && df1450, "{} must pass 1500: {p}", p["name"]);
            assert_eq!(mtu, Some(1500), "{p}");
        }
    }
    assert!(
        std::fs::read_to_string(out.path().join("lab-bench.svg"))
            .unwrap()
            .starts_with("<svg")
    );
    assert!(stdout.contains("TCP 4 streams"), "no table:\n{stdout}");

    // A saved result renders again without measuring (and without root).
    let again = out.path().join("again");
    let render = Command::new(BIN)
        .args(["lab", "bench", "--from-json"])
        .arg(out.path().join("lab-bench.json"))
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&render.stdout);
    assert!(
        render.status.success() && table.contains("refused / passes"),
        "{table}"
    );
    assert!(
        std::fs::read_to_string(again.join("lab-bench.svg"))
            .unwrap()
            .contains("vxlan (MTU 1450)")
    );

    // Nothing of the run is left: no namespace, no link in this namespace, no state.
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left = String::from_utf8_lossy(&netns.stdout);
    assert!(!left.contains("rpl-tb-"), "namespaces left: {left}");
    let clean = Command::new(BIN)
        .args(["lab", "clean", "--id", "tb"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&clean.stdout);
    assert!(said.starts_with("nothing to clean"), "{said}");
}
