//! Keeps `routeplane bench` from rotting: tiny runs (30 nodes, time scale 20, both the
//! controller and the route-controller model) on each cloud must finish with the routes
//! exactly right (the bench exits non-zero otherwise) and write JSON with every figure, the
//! table and the SVG. No speed is asserted here; figures live in docs/benchmarks.md.

use std::process::Command;

/// Runs the bench with `cloud_args` on 30 nodes and returns its JSON and output directory.
fn bench(cloud_args: &[&str]) -> (serde_json::Value, tempfile::TempDir) {
    let out = tempfile::tempdir().expect("tempdir");
    let status = Command::new(env!("CARGO_BIN_EXE_routeplane"))
        .args(["bench", "--nodes", "30", "--time-scale", "20"])
        .args(cloud_args)
        .args(["--steady-periods", "2", "--churn-minutes", "1", "--out"])
        .arg(out.path())
        .env("ROUTEPLANE_LOG", "warn")
        .status()
        .expect("run routeplane bench");
    assert!(status.success(), "bench {cloud_args:?} failed: {status}");
    let json = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("bench.json")).expect("bench.json"),
    )
    .expect("bench.json is JSON");
    (json, out)
}

/// The checks both clouds share; `insert` is the route-creating method.
fn check(json: &serde_json::Value, out: &tempfile::TempDir, tables: u64, insert: &str) {
    assert_eq!(json["nodes"], 30);
    assert_eq!(json["tables"], tables);
    let impls = json["implementations"].as_array().expect("implementations");
    let names: Vec<&str> = impls
        .iter()
        .map(|i| i["implementation"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["routeplane", "route-controller-model"]);
    let routes = 30 * tables;
    for i in impls {
        let cold = &i["cold_start"];
        assert_eq!(cold["routes"], routes, "{i}");
        // Refused attempts count too (the model runs into the limit at times), so at least one
        // per route.
        let creates = cold["calls"]["by_action"][insert].as_u64();
        assert!(creates.is_some_and(|n| n >= routes), "{i}");
        for field in ["seconds", "lower_bound_seconds", "efficiency"] {
            assert!(cold[field].as_f64().expect(field) > 0.0, "{field} in {i}");
        }
        assert!(!cold["series"].as_array().expect("series").is_empty());
        assert_eq!(i["steady"]["periods"], 2);
        assert_eq!(i["churn"]["replaced"], 1);
        assert_eq!(i["churn"]["unfinished"], 0, "{i}");
        for field in [
            "event_to_route_ms_p50",
            "event_to_route_ms_p99",
            "stale_route_lifetime_ms_p99",
        ] {
            assert!(
                i["churn"][field].as_f64().expect(field) > 0.0,
                "{field} in {i}"
            );
        }
    }
    // Once converged, routeplane writes nothing.
    assert_eq!(impls[0]["steady"]["writes"], 0);

    let svg = std::fs::read_to_string(out.path().join("convergence.svg")).expect("svg");
    assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() == 2);
    let table = std::fs::read_to_string(out.path().join("bench.txt")).expect("table");
    assert!(table.contains("efficiency"));
}

#[test]
fn bench_on_aws_runs_both_implementations_and_writes_its_results() {
    let (json, out) = bench(&[]);
    assert_eq!(json["cloud"], "aws");
    assert_eq!(json["caveat"], serde_json::Value::Null);
    check(&json, &out, 3, "CreateRoute");
}

#[test]
fn bench_on_gce_runs_both_implementations_and_writes_its_results() {
    let (json, out) = bench(&["--cloud", "gce"]);
    assert_eq!(json["cloud"], "gce");
    check(&json, &out, 1, "compute.routes.insert");
    // routeplane's steady state is one routes.list per period and nothing else.
    let steady = &json["implementations"][0]["steady"];
    assert_eq!(
        steady["by_action"],
        serde_json::json!({"compute.routes.list": 2}),
        "{steady}"
    );
}

#[test]
fn bench_on_gce_takes_routeplanes_budgets_as_windows() {
    let (json, _out) = bench(&[
        "--cloud",
        "gce",
        "--impl",
        "routeplane",
        "--gce-write-budget",
        "1500/1m",
        "--gce-operation-budget",
        "1500/60s",
    ]);
    assert_eq!(
        json["gce_budgets"],
        serde_json::json!({"operation": "1500/60s", "write": "1500/60s"})
    );
    let cold = &json["implementations"][0]["cold_start"];
    assert_eq!(cold["routes"], 30, "{cold}");
    assert_eq!(cold["request_limit_exceeded"], 0, "{cold}");
}

#[test]
fn gce_budgets_are_refused_on_aws() {
    let out = Command::new(env!("CARGO_BIN_EXE_routeplane"))
        .args(["bench", "--gce-write-budget", "1500/60s"])
        .output()
        .expect("run routeplane bench");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("need --cloud gce"), "{stderr}");
}
