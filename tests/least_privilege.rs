//! Least privilege, shown rather than claimed: the permissions we ship are exactly the calls the
//! code makes.
//!
//! - Kubernetes RBAC: the real `routeplane controller` (two replicas with leader election; CIDR
//!   allocation off and on) and the real `routeplane agent`, started with the container args of
//!   the committed manifests in `deploy/manifests/`, run against the fake API server. Every
//!   request they make must be allowed by the Roles and ClusterRoles those manifests bind to
//!   their ServiceAccounts, and every verb on every resource those rules grant must have been
//!   used.
//! - AWS IAM: every EC2 action `providers/aws` can call (each request goes through `Ec2::call`
//!   with an `Action`; the sources are scanned for them, and the actions the controller sent to
//!   the mock EC2 in the run above must be among them) equals the actions of the policy the
//!   Terraform module renders (`deploy/terraform/modules/aws/tests/policy.json`, pinned to the
//!   module by `terraform test` in CI).
//! - GCP IAM: every Compute method `providers/gce` can call (each goes through its `call` or
//!   `mutate` with a `Method`) and the permissions `Method::permission` says it needs equal the
//!   method list the Terraform module builds the custom role from
//!   (`deploy/terraform/modules/gcp/tests/permissions.json`, re-rendered by CI), and the role is
//!   exactly their union. Static: the google provider and a GCE run are not needed for this.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use routeplane_mocks::ec2::{MockEc2, Target, World};
use routeplane_mocks::kube_api::{FakeKube, RequestRecord, node};
use serde::Deserialize;
use serde_json::Value;

const CLUSTER: &str = "example"; // clusterName in deploy/helm/routeplane/ci/*.yaml
const NAMESPACE: &str = "kube-system"; // the namespace the manifests are rendered for
const VPC: &str = "vpc-0ea51";
const TABLES: [&str; 2] = ["rtb-0ea51a", "rtb-0ea51b"];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

// ---- the manifests ----------------------------------------------------------------------------

/// Every object of a rendered manifest file.
fn manifest(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo(&format!("deploy/manifests/{name}"))).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn object<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the manifest"))
}

/// The container args and ServiceAccount of a workload.
fn workload(objects: &[Value], kind: &str) -> (Vec<String>, String) {
    let spec = &object(objects, kind)["spec"]["template"]["spec"];
    let args = spec["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    (
        args,
        spec["serviceAccountName"].as_str().unwrap().to_string(),
    )
}

/// One RBAC rule as bound to a ServiceAccount: in a namespace (Role, or ClusterRole through a
/// RoleBinding) or cluster-wide (ClusterRole through a ClusterRoleBinding).
#[derive(Debug, Clone)]
struct Grant {
    origin: String,
    namespace: Option<String>,
    groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    names: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn grants(objects: &[Value], service_account: &str) -> Vec<Grant> {
    let mut out = Vec::new();
    for binding in objects
        .iter()
        .filter(|o| o["kind"] == "RoleBinding" || o["kind"] == "ClusterRoleBinding")
    {
        let bound = binding["subjects"].as_array().unwrap().iter().any(|s| {
            s["kind"] == "ServiceAccount"
                && s["name"] == service_account
                && s["namespace"] == NAMESPACE
        });
        if !bound {
            continue;
        }
        let role_ref = &binding["roleRef"];
        let binding_ns = binding["metadata"]["namespace"].as_str();
        let role = objects
            .iter()
            .find(|o| {
                o["kind"] == role_ref["kind"]
                    && o["metadata"]["name"] == role_ref["name"]
                    && (o["kind"] == "ClusterRole"
                        || o["metadata"]["namespace"].as_str() == binding_ns)
            })
            .unwrap_or_else(|| panic!("binding to a missing role: {role_ref}"));
        let namespace = match binding["kind"].as_str() {
            Some("ClusterRoleBinding") => None,
            _ => binding_ns.map(str::to_string),
        };
        for rule in role["rules"].as_array().unwrap() {
            out.push(Grant {
                origin: format!(
                    "{} {}",
                    role["kind"].as_str().unwrap(),
                    role["metadata"]["name"].as_str().unwrap()
                ),
                namespace: namespace.clone(),
                groups: strings(&rule["apiGroups"]),
                resources: strings(&rule["resources"]),
                verbs: strings(&rule["verbs"]),
                names: strings(&rule["resourceNames"]),
            });
        }
    }
    assert!(!out.is_empty(), "nothing is bound to {service_account}");
    out
}

/// The API group of a resource the binaries use; a new one must be added here on purpose.
fn group_of(resource: &str) -> &'static str {
    match resource.split('/').next().unwrap() {
        "nodes" | "events" => "",
        "leases" => "coordination.k8s.io",
        other => panic!("a request for {other}: add its API group to group_of"),
    }
}

fn allows(g: &Grant, r: &RequestRecord) -> bool {
    g.verbs.iter().any(|v| v == r.verb || v == "*")
        && g.groups
            .iter()
            .any(|x| x == group_of(&r.resource) || x == "*")
        && g.resources.iter().any(|x| *x == r.resource || x == "*")
        && g.namespace
            .as_ref()
            .is_none_or(|ns| r.namespace.as_ref() == Some(ns))
        && (g.names.is_empty() || r.name.as_ref().is_some_and(|n| g.names.contains(n)))
}

/// Every request is allowed, and every (rule, verb, resource) was used by some request.
fn assert_least_privilege(who: &str, grants: &[Grant], requests: &[RequestRecord]) {
    let api: Vec<&RequestRecord> = requests.iter().filter(|r| r.verb != "discovery").collect();
    assert!(!api.is_empty(), "{who} made no API request");
    let denied: BTreeSet<String> = api
        .iter()
        .filter(|r| !grants.iter().any(|g| allows(g, r)))
        .map(|r| {
            format!(
                "{} {} ns={:?} name={:?}",
                r.verb, r.resource, r.namespace, r.name
            )
        })
        .collect();
    assert!(
        denied.is_empty(),
        "{who}: requests the RBAC does not allow:\n{denied:#?}"
    );
    let mut unused = Vec::new();
    for g in grants {
        for verb in &g.verbs {
            for resource in &g.resources {
                let narrowed = Grant {
                    verbs: vec![verb.clone()],
                    resources: vec![resource.clone()],
                    ..g.clone()
                };
                if !api.iter().any(|r| allows(&narrowed, r)) {
                    unused.push(format!("{}: {verb} {resource}", g.origin));
                }
            }
        }
    }
    assert!(
        unused.is_empty(),
        "{who}: the RBAC grants what is never used:\n{unused:#?}"
    );
}

// ---- the binaries -----------------------------------------------------------------------------

/// `args` with every `--flag=…` named in `overrides` replaced by the override.
fn with_overrides(args: &[String], overrides: &[(&str, String)]) -> Vec<String> {
    let mut out: Vec<String> = args
        .iter()
        .filter(|a| {
            !overrides
                .iter()
                .any(|(flag, _)| a.split('=').next() == Some(*flag))
        })
        .cloned()
        .collect();
    out.extend(overrides.iter().map(|(f, v)| format!("{f}={v}")));
    out
}

struct Proc(Child, String);

impl Proc {
    fn spawn(what: &str, args: &[String], env: &[(&str, &str)], log: &Path) -> Proc {
        let log = std::fs::File::create(log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_routeplane"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ROUTEPLANE_LOG", "info")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Proc(cmd.spawn().unwrap(), what.to_string())
    }

    /// SIGTERM (what the kubelet sends), then wait for a clean exit.
    async fn stop(mut self, log: &Path) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "{} exited with {status}:\n{}",
                    self.1,
                    std::fs::read_to_string(log).unwrap_or_default()
                );
                return;
            }
            assert!(Instant::now() < deadline, "{} did not stop", self.1);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Panics with the logs if any process has exited: a crash must not look like a slow start.
fn assert_running(procs: &mut [Proc], logs: &[PathBuf]) {
    for (p, log) in procs.iter_mut().zip(logs) {
        if let Some(status) = p.0.try_wait().unwrap() {
            panic!(
                "{} exited early with {status}:\n{}",
                p.1,
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn eventually(what: &str, logs: &[&Path], mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        if Instant::now() > deadline {
            let text: Vec<String> = logs
                .iter()
                .map(|l| std::fs::read_to_string(l).unwrap_or_default())
                .collect();
            panic!(
                "timed out waiting for {what}; logs:\n{}",
                text.join("\n----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn instance(i: usize) -> String {
    format!("i-{:08x}", 0x0ea5100 + i)
}

fn cidr(i: usize) -> String {
    format!("10.244.{i}.0/24")
}

/// A VPC with two tagged tables and `n` tagged instances (source/dest check on).
async fn mock_ec2(n: usize) -> MockEc2 {
    let tag = format!("kubernetes.io/cluster/{CLUSTER}");
    let mut w = World::new();
    w.add_vpc(VPC, "10.0.0.0/16").unwrap();
    for (i, table) in TABLES.iter().enumerate() {
        let subnet = format!("subnet-0ea51{i}");
        w.add_subnet(&subnet, VPC, &format!("10.0.{i}.0/24"), "us-east-1a")
            .unwrap();
        w.add_route_table(table, VPC, i == 0, &[subnet.as_str()])
            .unwrap();
        w.tag(table, &tag, "owned").unwrap();
    }
    for i in 0..n {
        w.add_instance(&instance(i), "subnet-0ea510").unwrap();
        w.tag(&instance(i), &tag, "owned").unwrap();
    }
    MockEc2::builder().world(w).start().await.unwrap()
}

fn routed(ec2: &MockEc2, i: usize) -> bool {
    TABLES.iter().all(|t| {
        ec2.world().routes(t).unwrap().iter().any(|r| {
            r.destination.to_string() == cidr(i)
                && r.instance_id.as_deref() == Some(instance(i).as_str())
                && r.state.as_str() == "active"
        })
    })
}

fn route_gone(ec2: &MockEc2, i: usize) -> bool {
    TABLES.iter().all(|t| {
        !ec2.world()
            .routes(t)
            .unwrap()
            .iter()
            .any(|r| r.destination.to_string() == cidr(i))
    })
}

fn network_available(kube: &FakeKube, name: &str) -> bool {
    kube.node_condition(name, "NetworkUnavailable")
        .is_some_and(|c| c["status"] == "False")
}

struct ControllerRun {
    requests: Vec<RequestRecord>,
    ec2_actions: BTreeSet<String>,
}

/// Runs `replicas` controllers with the args of `manifest_name` until every node is routed,
/// then drives a repair (ReplaceRoute) and a node removal (DeleteRoute), and stops them.
async fn run_controllers(manifest_name: &str, replicas: usize, allocate: bool) -> ControllerRun {
    let objects = manifest(manifest_name);
    let (args, _) = workload(&objects, "Deployment");
    let n = 4;
    let ec2 = mock_ec2(n).await;
    let kube = FakeKube::start().await.unwrap();
    for i in 0..n {
        let mut b = node(&format!("n{i}"))
            .provider_id(&format!("aws:///us-east-1a/{}", instance(i)))
            .internal_ip(&format!("10.0.0.{}", 10 + i));
        if !allocate {
            b = b.pod_cidr(&cidr(i));
        }
        kube.add_node(b.build()).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    kube.write_kubeconfig(&kubeconfig).unwrap();
    let args = with_overrides(
        &args,
        &[
            ("--kubeconfig", kubeconfig.display().to_string()),
            ("--aws-endpoint-url", ec2.endpoint_url()),
            ("--aws-region", "us-east-1".into()),
            ("--metrics-addr", "127.0.0.1:0".into()),
            ("--resync-period", "300ms".into()),
        ],
    );
    let logs: Vec<PathBuf> = (0..replicas)
        .map(|r| dir.path().join(format!("controller-{r}.log")))
        .collect();
    let log_refs: Vec<&Path> = logs.iter().map(PathBuf::as_path).collect();
    let mut procs: Vec<Proc> = (0..replicas)
        .map(|r| {
            let pod = format!("routeplane-controller-{r}");
            Proc::spawn(
                &pod,
                &args,
                &[
                    ("POD_NAMESPACE", NAMESPACE),
                    ("POD_NAME", &pod),
                    ("AWS_ACCESS_KEY_ID", "AKIDLEASTPRIVILEGE"),
                    ("AWS_SECRET_ACCESS_KEY", "not-a-secret"),
                    ("AWS_EC2_METADATA_DISABLED", "true"),
                ],
                &logs[r],
            )
        })
        .collect();

    eventually("every node routed and marked available", &log_refs, || {
        assert_running(&mut procs, &logs);
        (0..n).all(|i| {
            let name = format!("n{i}");
            let cidr_ok = !allocate
                || kube
                    .node(&name)
                    .is_some_and(|v| v["spec"]["podCIDR"].is_string());
            cidr_ok && network_available(&kube, &name)
        }) && (allocate || (0..n).all(|i| routed(&ec2, i)))
    })
    .await;
    if !allocate {
        // A hand-made hijack is repaired, and a deleted node's routes go.
        ec2.world()
            .hijack_route(TABLES[0], &cidr(1), Target::Instance(instance(2)))
            .unwrap();
        eventually("the hijacked route repaired", &log_refs, || routed(&ec2, 1)).await;
        kube.delete_node("n3").unwrap();
        eventually("the deleted node's routes gone", &log_refs, || {
            route_gone(&ec2, 3)
        })
        .await;
    }
    eventually("events written", &log_refs, || {
        kube.request_count("create", "events") > 0
    })
    .await;
    if replicas > 1 {
        // Let the standby poll the lease at least once after the leader renewed it.
        eventually("a lease renewal and a standby's read", &log_refs, || {
            kube.request_count("update", "leases") > 0 && kube.request_count("get", "leases") > 1
        })
        .await;
    }
    for (p, log) in procs.into_iter().zip(&logs) {
        p.stop(log).await;
    }
    ControllerRun {
        requests: kube.requests(),
        ec2_actions: ec2.calls().all().into_iter().map(|c| c.action).collect(),
    }
}

#[tokio::test]
async fn controller_rbac_is_exactly_what_it_uses_and_iam_is_exactly_what_aws_code_calls() {
    let objects = manifest("aws.yaml");
    let (_, sa) = workload(&objects, "Deployment");
    let run = run_controllers("aws.yaml", 2, false).await;
    assert_least_privilege(
        "controller (deploy/manifests/aws.yaml)",
        &grants(&objects, &sa),
        &run.requests,
    );

    // AWS: the calls the code can make = the policy's actions; the run's calls are among them.
    let code = aws_actions_in_code();
    let unseen: Vec<_> = run.ec2_actions.difference(&code).collect();
    assert!(
        unseen.is_empty(),
        "the controller sent EC2 actions the source scan did not find: {unseen:?}"
    );
    for action in [
        "DescribeRouteTables",
        "DescribeInstances",
        "CreateRoute",
        "ReplaceRoute",
        "DeleteRoute",
        "ModifyNetworkInterfaceAttribute",
    ] {
        assert!(
            run.ec2_actions.contains(action),
            "the run never exercised {action}: {:?}",
            run.ec2_actions
        );
    }
    let policy = policy_actions();
    assert_eq!(
        policy,
        code.iter()
            .map(|a| format!("ec2:{a}"))
            .collect::<BTreeSet<_>>(),
        "the IAM policy (deploy/terraform/modules/aws) must grant exactly the EC2 actions in providers/aws"
    );
}

#[tokio::test]
async fn controller_rbac_with_cidr_allocation_adds_only_node_patch() {
    let objects = manifest("aws-allocate-node-cidrs.yaml");
    let (_, sa) = workload(&objects, "Deployment");
    let run = run_controllers("aws-allocate-node-cidrs.yaml", 1, true).await;
    assert!(
        run.requests
            .iter()
            .any(|r| r.verb == "patch" && r.resource == "nodes"),
        "allocation patched no Node"
    );
    assert_least_privilege(
        "controller (deploy/manifests/aws-allocate-node-cidrs.yaml)",
        &grants(&objects, &sa),
        &run.requests,
    );
}

#[tokio::test]
async fn agent_rbac_is_exactly_what_it_uses() {
    let objects = manifest("aws.yaml");
    let (args, sa) = workload(&objects, "DaemonSet");
    let kube = FakeKube::start().await.unwrap();
    kube.add_node(
        node("me")
            .pod_cidr("10.244.1.0/24")
            .internal_ip("10.0.0.1")
            .build(),
    )
    .unwrap();
    kube.add_node(
        node("peer")
            .pod_cidr("10.244.2.0/24")
            .internal_ip("10.0.0.2")
            .build(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    kube.write_kubeconfig(&kubeconfig).unwrap();
    let plugin = dir.path().join("routeplane-bridge");
    std::fs::write(&plugin, b"#!/bin/sh\n").unwrap();
    let proc_sys = dir.path().join("proc-sys");
    for key in ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"] {
        let path = proc_sys.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "0\n").unwrap();
    }
    let conf_dir = dir.path().join("net.d");
    let args = with_overrides(
        &args,
        &[
            ("--kubeconfig", kubeconfig.display().to_string()),
            ("--cni-conf-dir", conf_dir.display().to_string()),
            (
                "--cni-bin-dir",
                dir.path().join("bin").display().to_string(),
            ),
            ("--proc-sys", proc_sys.display().to_string()),
            ("--plugin-source", plugin.display().to_string()),
            ("--mtu", "1500".into()),
        ],
    );
    let log = dir.path().join("agent.log");
    let agent = Proc::spawn("agent", &args, &[("NODE_NAME", "me")], &log);
    eventually("the conflist written", &[&log], || {
        conf_dir.join("10-routeplane.conflist").exists()
    })
    .await;
    agent.stop(&log).await;
    assert_least_privilege(
        "agent (deploy/manifests/aws.yaml)",
        &grants(&objects, &sa),
        &kube.requests(),
    );
}

/// Every flag the chart renders is one the binary accepts: the controller and agent args of each
/// committed manifest parse (the run then stops at the missing kubeconfig, before any network).
#[test]
fn every_manifest_arg_is_a_flag_the_binary_accepts() {
    let help = Command::new(env!("CARGO_BIN_EXE_routeplane"))
        .args(["controller", "--help"])
        .output()
        .unwrap();
    let gce_in_binary = String::from_utf8_lossy(&help.stdout).contains("--gce-project");
    let mut checked = 0;
    for entry in std::fs::read_dir(repo("deploy/manifests")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let objects = manifest(&name);
        for kind in ["Deployment", "DaemonSet"] {
            let (args, _) = workload(&objects, kind);
            if args.iter().any(|a| a == "--cloud=gce") && !gce_in_binary {
                // The chart follows the GCE provider's flags; the binary wires them in with it.
                eprintln!("{name}: not checked, this binary has no GCE provider yet");
                continue;
            }
            // The binary reads the kubeconfig before it builds a provider: a missing one stops
            // it there (asserted below), so nothing reaches for cloud metadata or endpoints.
            let args = with_overrides(
                &args,
                &[("--kubeconfig", "/nonexistent/routeplane-kubeconfig".into())],
            );
            // The container's literal env values (ROUTEPLANE_LOG…) must parse too.
            let container = &object(&objects, kind)["spec"]["template"]["spec"]["containers"][0];
            let literal_env: Vec<(String, String)> = container["env"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| Some((e["name"].as_str()?.into(), e["value"].as_str()?.into())))
                .collect();
            assert!(!literal_env.is_empty(), "{name} {kind}: no env");
            let out = Command::new(env!("CARGO_BIN_EXE_routeplane"))
                .args(&args)
                .env_clear()
                .envs(literal_env)
                .env("NODE_NAME", "n1")
                .env("POD_NAME", "p1")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_REGION", "us-east-1")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !stderr.contains("Usage:"),
                "{name} {kind}: the binary rejects the rendered args {args:?}:\n{stderr}"
            );
            assert!(
                stderr.contains("routeplane-kubeconfig"),
                "{name} {kind}: expected to stop at the missing kubeconfig:\n{stderr}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "checked {checked} workloads");
}

// ---- AWS IAM ------------------------------------------------------------------------------------

/// The variants of `enum_name` passed as first argument to any of `wrappers` (`.call(`…) in the
/// non-test code under `dir`.
fn wrapped_calls(dir: &str, wrappers: &[&str], enum_name: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut files = vec![repo(dir)];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for wrapper in wrappers {
            for (at, _) in code.match_indices(wrapper) {
                let rest = code[at + wrapper.len()..].trim_start();
                if let Some(rest) = rest.strip_prefix(&format!("{enum_name}::")) {
                    found.insert(
                        rest.chars()
                            .take_while(char::is_ascii_alphanumeric)
                            .collect(),
                    );
                }
            }
        }
    }
    assert!(!found.is_empty(), "found no {enum_name} call in {dir}");
    found
}

/// The EC2 actions providers/aws can send: every request goes through `Ec2::call` with an
/// `Action` (it takes the budget token).
fn aws_actions_in_code() -> BTreeSet<String> {
    let known: BTreeMap<String, &str> = routeplane_aws::Action::ALL
        .iter()
        .map(|a| (format!("{a:?}"), a.name()))
        .collect();
    wrapped_calls("providers/aws/src", &[".call("], "Action")
        .into_iter()
        .map(|ident| {
            known
                .get(&ident)
                .unwrap_or_else(|| panic!("unknown Action::{ident}"))
                .to_string()
        })
        .collect()
}

fn policy_actions() -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(repo("deploy/terraform/modules/aws/tests/policy.json")).unwrap();
    let policy: Value = serde_json::from_str(&text).unwrap();
    let mut out = BTreeSet::new();
    for s in policy["Statement"].as_array().unwrap() {
        assert_eq!(s["Effect"], "Allow");
        match &s["Action"] {
            Value::String(a) => {
                out.insert(a.clone());
            }
            Value::Array(a) => out.extend(a.iter().map(|x| x.as_str().unwrap().to_string())),
            other => panic!("odd Action {other}"),
        }
    }
    out
}

// ---- GCP IAM ------------------------------------------------------------------------------------

/// `Method::Variant => "text"` arms of the `const fn {fn_name}` in providers/gce's method.rs.
fn gce_method_table(source: &str, fn_name: &str) -> BTreeMap<String, String> {
    let method_impl = source
        .find("impl Method {")
        .expect("no `impl Method` in providers/gce/src/method.rs");
    let start = source[method_impl..]
        .find(&format!("pub const fn {fn_name}(self)"))
        .unwrap_or_else(|| panic!("no Method::{fn_name} in providers/gce/src/method.rs"));
    let body = &source[method_impl + start..];
    let body = &body[..body.find("\n    }\n").unwrap()];
    let mut out = BTreeMap::new();
    for line in body.lines() {
        let Some((lhs, rhs)) = line.trim().split_once(" => ") else {
            continue;
        };
        let text = rhs.trim_end_matches(',').trim_matches('"').to_string();
        for variant in lhs.split('|') {
            let variant = variant.trim().strip_prefix("Method::").unwrap();
            out.insert(variant.to_string(), text.clone());
        }
    }
    out
}

#[test]
fn gcp_role_is_exactly_the_permissions_of_the_compute_methods_providers_gce_calls() {
    let Ok(source) = std::fs::read_to_string(repo("providers/gce/src/method.rs")) else {
        // No GCE provider in this tree: then nothing may build one either.
        let workspace = std::fs::read_to_string(repo("Cargo.toml")).unwrap();
        assert!(
            !workspace.contains("providers/gce"),
            "providers/gce is a workspace member but has no src/method.rs to check the role against"
        );
        return;
    };
    let names = gce_method_table(&source, "name");
    let permissions = gce_method_table(&source, "permission");
    let called = wrapped_calls("providers/gce/src", &[".call(", ".mutate("], "Method");
    let code: BTreeMap<String, BTreeSet<String>> = called
        .iter()
        .map(|variant| {
            let name = names
                .get(variant)
                .unwrap_or_else(|| panic!("Method::{variant} has no name"));
            let perms = permissions
                .get(variant)
                .unwrap_or_else(|| panic!("Method::{variant} has no permission"))
                .split(" and ")
                .map(str::to_string)
                .collect();
            (name.clone(), perms)
        })
        .collect();

    let text = std::fs::read_to_string(repo("deploy/terraform/modules/gcp/tests/permissions.json"))
        .unwrap();
    let rendered: Value = serde_json::from_str(&text).unwrap();
    let module: BTreeMap<String, BTreeSet<String>> = rendered["methods"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(m, p)| (m.clone(), strings(p).into_iter().collect()))
        .collect();
    assert_eq!(
        module, code,
        "deploy/terraform/modules/gcp/permissions.tf must list exactly the Compute methods providers/gce calls, with the permissions Method::permission gives"
    );
    let role: BTreeSet<String> = strings(&rendered["role"]).into_iter().collect();
    let union: BTreeSet<String> = code.values().flatten().cloned().collect();
    assert_eq!(role, union, "the custom role must be exactly the union");
}
