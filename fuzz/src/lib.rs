//! The fuzz targets, as plain functions so that both libFuzzer (`fuzz_targets/`) and the plain
//! replay harness (`src/bin/replay.rs`, used in CI) drive the same code. Every target feeds
//! untrusted bytes to a parser routeplane owns and checks the invariants its callers rely on;
//! a panic anywhere is a finding.
//!
//! Inputs with several parts (method, path, query, body) are split on `\n`, the last part taking
//! the rest, so seed files stay readable.

use routeplane_cni::config::{NetConf, SUPPORTED_VERSIONS};
use routeplane_cni::result::{CniResult, Interface, IpConfig, RouteOut};
use routeplane_cni::{ipam, masq, names, plugin};
use routeplane_core::InstanceRef;
use serde_json::Value;

/// A target: its name (the corpus directory under `fuzz/corpus/`) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, for the replay harness.
pub const TARGETS: &[Target] = &[
    ("cni_config", cni_config),
    ("provider_id", provider_id),
    ("ec2_query", ec2_query),
    ("kube_request", kube_request),
    ("kube_patch", kube_patch),
    ("gce_request", gce_request),
];

/// Up to `n` parts split on `\n`; the last one keeps the rest (newlines included).
fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |b| *b == b'\n').collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The CNI plugin's stdin: the side-effect-free verbs through the real entry point, then the
/// parsed configuration, its ranges, the nft script, the names derived from it, and the ADD
/// result merged behind the `prevResult` in every version.
pub fn cni_config(data: &[u8]) {
    for verb in ["VERSION", "STATUS"] {
        let (out, code) = plugin::run(|k| (k == "CNI_COMMAND").then(|| verb.to_string()), data);
        assert!(
            code == 0 || out.is_some(),
            "a failure must print the error JSON"
        );
        if let Some(v) = out
            && code != 0
        {
            assert!(
                v["code"].as_u64().is_some() && v["msg"].as_str().is_some(),
                "{v}"
            );
        }
    }
    let Ok(conf) = NetConf::parse(data) else {
        return;
    };
    let _ = conf.version();
    let _ = conf.gc_attachments();
    let table = names::nft_table(&conf.name);
    assert!(
        table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "nft table name {table:?} would need quoting"
    );
    let veth = names::host_veth(&conf.name, "c", "eth0");
    assert_eq!(veth.len(), 15, "{veth}");
    let Ok(sets) = ipam::range_sets(&conf.ipam) else {
        return;
    };
    for r in sets.iter().flatten() {
        assert!(
            r.subnet.contains(&r.start) && r.subnet.contains(&r.end),
            "{r:?}"
        );
        assert!(
            !r.allocatable(r.gateway),
            "the gateway is never handed out: {r:?}"
        );
        let _ = (r.size(), r.label());
    }
    let _ = masq::MasqTable::new(&conf.name, &conf.non_masquerade_cidrs, &sets).script();
    let ips: Vec<IpConfig> = sets
        .iter()
        .filter_map(|s| s.first())
        .map(|r| IpConfig {
            address: r.subnet,
            gateway: Some(r.gateway),
            interface: 2,
        })
        .collect();
    let result = CniResult {
        interfaces: ["br", "veth", "eth0"]
            .iter()
            .map(|n| Interface {
                name: (*n).to_string(),
                mac: "02:00:00:00:00:01".into(),
                sandbox: None,
                mtu: conf.mtu,
            })
            .collect(),
        routes: conf
            .ipam
            .routes
            .iter()
            .map(|r| RouteOut {
                dst: r.dst,
                gw: r.gw,
            })
            .collect(),
        ips,
        dns: conf.dns.clone(),
    };
    for v in SUPPORTED_VERSIONS {
        let out = result.to_json(v, conf.prev_result.as_ref());
        assert_eq!(out["cniVersion"], *v);
        let _ = serde_json::to_vec(&out);
    }
}

/// `spec.providerID` (and the other strings core parses from flags): never a panic, and a
/// parsed AWS or GCE id written back in its canonical form parses to the same instance.
pub fn provider_id(data: &[u8]) {
    let s = text(data);
    let _ = routeplane_core::duration::parse_duration(&s);
    let _ = routeplane_core::budget::BucketSpec::parse(&s);
    let Ok(parsed) = routeplane_core::parse_provider_id(&s) else {
        return;
    };
    let canonical = match &parsed {
        InstanceRef::Aws { zone, instance_id } => {
            format!("aws:///{}/{instance_id}", zone.as_deref().unwrap_or(""))
        }
        InstanceRef::Gce {
            project,
            zone,
            name,
        } => format!("gce://{project}/{zone}/{name}"),
    };
    let again = routeplane_core::parse_provider_id(&canonical);
    assert_eq!(again.as_ref(), Ok(&parsed), "{s:?} → {canonical:?}");
    let _ = (parsed.key(), parsed.cloud());
}

/// The mock EC2's Query-protocol body and every typed accessor the actions use.
pub fn ec2_query(data: &[u8]) {
    use routeplane_mocks::ec2::query::Params;
    let Ok(p) = Params::parse(data) else {
        return;
    };
    let _ = p.all();
    let _ = (p.get("Action"), p.require("RouteTableId"));
    let _ = (p.bool("DryRun"), p.dry_run());
    let _ = p.list("RouteTableId");
    let _ = p.filters();
    let _ = p.tags();
    let _ = p.max_results(5, 1000);
    let _ = p.is_narrowed();
}

/// The fake Kubernetes API's request parsing: path, query string (selectors, limit,
/// resourceVersion), JSON and YAML bodies; and the selectors matched against the body.
/// Input: `path\nquery\nbody`.
pub fn kube_request(data: &[u8]) {
    use routeplane_mocks::kube_api::fuzzing;
    let p = parts(data, 3);
    let path = text(p.first().copied().unwrap_or_default());
    let query = text(p.get(1).copied().unwrap_or_default());
    let body = p.get(2).copied().unwrap_or_default();
    for yaml in [false, true] {
        let _ = fuzzing::request(&path, &query, body, yaml);
    }
    let object: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let _ = fuzzing::selectors(&query, &object);
    let _ = fuzzing::selectors(&path, &object);
}

/// The fake Kubernetes API's four patch formats on every resource type.
/// Input: `content-type\ntarget JSON (one line)\npatch JSON`.
pub fn kube_patch(data: &[u8]) {
    use routeplane_mocks::kube_api::fuzzing;
    let p = parts(data, 3);
    let content_type = text(p.first().copied().unwrap_or_default());
    let target: Value =
        serde_json::from_slice(p.get(1).copied().unwrap_or_default()).unwrap_or(Value::Null);
    let Ok(patch) = serde_json::from_slice::<Value>(p.get(2).copied().unwrap_or_default()) else {
        return;
    };
    for v in fuzzing::patch(&content_type, &target, &patch)
        .into_iter()
        .flatten()
    {
        let _ = serde_json::to_vec(&v);
    }
    // A merge patch applied twice changes nothing more (RFC 7386 is idempotent).
    if content_type == "application/merge-patch+json" {
        for once in fuzzing::patch(&content_type, &target, &patch)
            .into_iter()
            .flatten()
        {
            let twice = fuzzing::patch(&content_type, &once, &patch);
            assert!(
                twice.iter().all(|t| t.as_ref() == Ok(&once)),
                "merge patch not idempotent"
            );
        }
    }
}

/// The mock GCE's request routing, query parameter checks and list filter syntax.
/// Input: `method\npath\nfilter`.
pub fn gce_request(data: &[u8]) {
    use routeplane_mocks::gce::{api, filter::Filter};
    let p = parts(data, 3);
    let method = text(p.first().copied().unwrap_or_default());
    let path = text(p.get(1).copied().unwrap_or_default());
    let filter = text(p.get(2).copied().unwrap_or_default());
    if let Some(req) = api::classify(&method, &path) {
        let _ = format!("{req:?}");
    }
    let mut query = std::collections::BTreeMap::new();
    query.insert("filter".to_string(), filter.clone());
    for m in ["compute.routes.list", "compute.routes.insert", &method] {
        let _ = api::check_params(m, &query);
        let _ = (api::is_mutating(m), api::permission(m));
    }
    if let Ok(Some(f)) = Filter::parse(&filter) {
        let route: Value = serde_json::json!({
            "name": "rp-abc", "destRange": "10.244.1.0/24", "priority": 1000,
            "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/n",
            "description": "routeplane:c", "tags": ["a"],
        });
        let _ = f.matches(&route);
    }
}
