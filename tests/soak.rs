//! The control-plane fault soak, once per cloud: two replicas of the real `routeplane
//! controller` binary against the mock EC2 (aws-sdk-ec2 inside them) or the mock GCE
//! (google-cloud-compute-v1 inside them) and the fake Kubernetes API, under injected cloud
//! faults (throttling, 5xx, timeouts, latency with jitter, dropped connections), node churn,
//! SIGKILLs of the controller processes at random moments (the leader more often than not) and
//! partitions of the leader from the API server. Checked continuously at the mocks and again
//! at the end: no route outside ownership was ever touched, the cloud's rate budget was never
//! exceeded, no replica wrote outside its own lease term; and, once the faults stop, the routes
//! converge to exactly the desired set. The scenario is the same for both clouds; what differs
//! (seeding, credentials, reading the call log) is behind `reliability::CloudUnderTest`.
//!
//! The defaults are the CI run (time-compressed: short leases and resyncs, a "minute" of churn
//! lasting 10 s, faster write buckets). Every knob is an environment variable, so the same
//! tests are the long runs whose figures are in `docs/reliability.md`:
//!
//! ```sh
//! ROUTEPLANE_SOAK_NODES=500 ROUTEPLANE_SOAK_FAULT_SECS=600 ROUTEPLANE_SOAK_MINUTE_SECS=60 \
//! ROUTEPLANE_SOAK_KILLS=30 ROUTEPLANE_SOAK_MUTATE_BUDGET=50/5 ROUTEPLANE_SOAK_GCE_WRITE_BUDGET=50/5 \
//! ROUTEPLANE_SOAK_CONVERGE_LIMIT_SECS=900 \
//!   cargo test -p routeplane --test soak -- --nocapture ec2   # and: … gce
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reliability;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reliability::ec2::Ec2;
use reliability::gce::Gce;
use reliability::*;
use routeplane_mocks::ec2::{FaultSpec, Faults};
use routeplane_mocks::kube_api::FakeKube;

/// The two soaks take turns: run side by side on two shared cores, neither would be the
/// scenario it claims (leases of 3 s are tight).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The run's knobs (`ROUTEPLANE_SOAK_*`), with the CI defaults.
#[derive(Debug, Clone)]
struct Knobs {
    nodes: usize,
    /// How long the faults, churn, kills and partitions go on.
    fault_secs: u64,
    /// The length of a churn "minute": 5% of the nodes are replaced per such minute.
    minute_secs: f64,
    churn_per_minute: f64,
    kills: usize,
    partitions: usize,
    seed: u64,
    /// EC2's buckets for the route writes and ModifyNetworkInterfaceAttribute, CAPACITY/RATE;
    /// the mock enforces it and the controller is told the same (`--aws-mutate-budget`).
    mutate_budget: String,
    /// The GCE client's write bucket (`--gce-write-budget`); the mock's Queries quota per
    /// churn "minute" is the most such a bucket can send in one.
    gce_write_budget: String,
    lease_secs: u64,
    renew_secs: u64,
    resync: String,
    /// Longest a run may take to converge once the faults stop.
    converge_limit_secs: u64,
    /// The controller binary: this build's, or a copy (a long run on a shared checkout must
    /// not restart replicas from a binary someone else is relinking).
    binary: PathBuf,
}

impl Knobs {
    fn from_env() -> Self {
        Self {
            nodes: knob("ROUTEPLANE_SOAK_NODES", 120),
            fault_secs: knob("ROUTEPLANE_SOAK_FAULT_SECS", 60),
            minute_secs: knob("ROUTEPLANE_SOAK_MINUTE_SECS", 10.0),
            churn_per_minute: knob("ROUTEPLANE_SOAK_CHURN", 0.05),
            kills: knob("ROUTEPLANE_SOAK_KILLS", 12),
            partitions: knob("ROUTEPLANE_SOAK_PARTITIONS", 2),
            seed: knob("ROUTEPLANE_SOAK_SEED", 0x5eed_0008),
            mutate_budget: knob("ROUTEPLANE_SOAK_MUTATE_BUDGET", "100/50".to_string()),
            gce_write_budget: knob("ROUTEPLANE_SOAK_GCE_WRITE_BUDGET", "20/5".to_string()),
            lease_secs: knob("ROUTEPLANE_SOAK_LEASE_SECS", 3),
            renew_secs: knob("ROUTEPLANE_SOAK_RENEW_SECS", 2),
            resync: knob("ROUTEPLANE_SOAK_RESYNC", "5s".to_string()),
            converge_limit_secs: knob("ROUTEPLANE_SOAK_CONVERGE_LIMIT_SECS", 240),
            binary: knob(
                "ROUTEPLANE_SOAK_BIN",
                PathBuf::from(env!("CARGO_BIN_EXE_routeplane")),
            ),
        }
    }
}

/// The cloud faults of the issue: 20% throttling, 5% 5xx, 2% timeouts, 200 ± 150 ms, and
/// occasional dropped connections. A timeout hangs longer than the controller waits.
fn faults(seed: u64, call_timeout: Duration) -> Faults {
    Faults::seeded(seed).all(
        FaultSpec::new()
            .latency(Duration::from_millis(200), Duration::from_millis(150))
            .throttle(0.20, 1)
            .internal_error(0.025)
            .unavailable(0.025)
            .timeout(0.02, call_timeout + Duration::from_secs(1))
            .drop_connection(0.01),
    )
}

const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// One controller replica slot (a Deployment's pod): its door into the API server, and the
/// process currently running in it.
struct Replica {
    slot: &'static str,
    kubeconfig: PathBuf,
    identity: String,
    incarnations: u32,
    child: Option<Child>,
    restart_at: Option<Instant>,
}

struct Soak<C> {
    knobs: Knobs,
    cloud: C,
    kube: FakeKube,
    logs: PathBuf,
    replicas: Vec<Replica>,
    /// Credential (as the mock records it) → identity of every process ever started.
    writers: Arc<Mutex<BTreeMap<String, String>>>,
}

impl<C: CloudUnderTest> Soak<C> {
    fn spawn(&mut self, i: usize) {
        let knobs = &self.knobs;
        let r = &mut self.replicas[i];
        r.incarnations += 1;
        let (env, credential) = self.cloud.credentials(&r.identity);
        self.writers
            .lock()
            .unwrap()
            .insert(credential, r.identity.clone());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{}.log", r.slot)))
            .unwrap();
        let child = Command::new(&knobs.binary)
            .arg("controller")
            .args(["--kubeconfig", r.kubeconfig.to_str().unwrap()])
            .args(["--cluster-name", CLUSTER, "--cluster-cidr", CLUSTER_CIDR])
            .args(self.cloud.controller_args())
            .args(["--metrics-addr", "127.0.0.1:0"])
            .args(["--leader-elect-identity", &r.identity])
            .args(["--leader-elect-namespace", LEASE_NS])
            .args(["--lease-duration", &format!("{}s", knobs.lease_secs)])
            .args(["--renew-deadline", &format!("{}s", knobs.renew_secs)])
            .args(["--retry-period", "500ms"])
            .args(["--resync-period", &knobs.resync])
            .args(["--max-backoff", "2s"])
            // The ambient credentials go first, so only the replica's own are seen.
            .env_remove("AWS_PROFILE")
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .envs(env)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawning routeplane controller");
        r.child = Some(child);
        r.restart_at = None;
    }

    /// SIGKILLs the replica's process (std's `Child::kill` is SIGKILL on Unix).
    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.replicas[i].child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn leader_slot(&self) -> Option<usize> {
        let lease = self.kube.lease(LEASE_NS, LEASE_NAME)?;
        let holder = lease.pointer("/spec/holderIdentity")?.as_str()?.to_string();
        self.replicas
            .iter()
            .position(|r| r.child.is_some() && r.identity == holder)
    }

    fn terms(&self) -> Terms {
        Terms::new(self.kube.lease_history(LEASE_NS, LEASE_NAME))
    }
}

/// Counts of what was survived, for the report.
#[derive(Debug, Default)]
struct Survived {
    kills: usize,
    leader_kills: usize,
    restarts_same_identity: usize,
    partitions: usize,
    churned: usize,
}

/// The continuous checks: ownership, foreign routes, leader terms, budget.
fn check_invariants<C: CloudUnderTest>(soak: &Soak<C>) {
    let cloud = soak.cloud.name();
    let changed = soak.cloud.foreign_changed();
    assert!(
        changed.is_empty(),
        "{cloud}: foreign routes modified: {changed:#?}"
    );
    let bad = soak.cloud.ownership_violations();
    assert!(bad.is_empty(), "{cloud}: calls outside ownership: {bad:#?}");
    let writers = soak.writers.lock().unwrap().clone();
    let v = soak
        .terms()
        .violations(&soak.cloud.writes(), |k| writers.get(k).cloned());
    assert!(
        v.is_empty(),
        "{cloud}: writes outside the writer's lease term: {v:#?}\nlogs in {}",
        soak.logs.display()
    );
    let over = soak.cloud.budget_violations();
    assert!(
        over.is_empty(),
        "{cloud}: {} calls over the cloud's rate budget, first: {:?}\nlogs in {}",
        over.len(),
        over.first(),
        soak.logs.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_two_replicas_survive_faults_churn_kills_and_partitions_without_touching_foreign_routes()
 {
    let _turn = ONE_AT_A_TIME.lock().await;
    let knobs = Knobs::from_env();
    let ec2 = Ec2::start(
        knobs.nodes,
        &knobs.mutate_budget,
        faults(knobs.seed, CALL_TIMEOUT),
        CALL_TIMEOUT,
    )
    .await;
    soak(ec2, knobs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gce_two_replicas_survive_faults_churn_kills_and_partitions_without_touching_foreign_routes()
 {
    let _turn = ONE_AT_A_TIME.lock().await;
    let knobs = Knobs::from_env();
    let keys = logs_dir("gce").join("keys");
    let gce = Gce::start(
        knobs.nodes,
        &knobs.gce_write_budget,
        Duration::from_secs_f64(knobs.minute_secs),
        faults(knobs.seed, CALL_TIMEOUT),
        CALL_TIMEOUT,
        keys,
    )
    .await;
    soak(gce, knobs).await;
}

fn logs_dir(cloud: &str) -> PathBuf {
    std::env::temp_dir().join(format!("routeplane-soak-{cloud}-{}", std::process::id()))
}

async fn soak<C: CloudUnderTest>(cloud: C, knobs: Knobs) {
    eprintln!("{} soak knobs: {knobs:?}", cloud.name());
    let mut rng = Rng::new(knobs.seed);
    let kube = FakeKube::start().await.unwrap();
    let mut live: BTreeSet<usize> = (0..knobs.nodes).collect();
    for k in &live {
        kube.add_node(cloud.k8s_node(*k)).unwrap();
    }
    let logs = logs_dir(&cloud.name().to_ascii_lowercase());
    std::fs::create_dir_all(&logs).unwrap();
    let mut replicas = Vec::new();
    for slot in ["a", "b"] {
        let door = kube.door(slot).await.unwrap();
        let kubeconfig = logs.join(format!("kubeconfig-{slot}"));
        std::fs::write(&kubeconfig, FakeKube::kubeconfig_yaml_for(&door)).unwrap();
        replicas.push(Replica {
            slot,
            kubeconfig,
            identity: format!("soak-{slot}-1"),
            incarnations: 0,
            child: None,
            restart_at: None,
        });
    }
    let mut soak = Soak {
        knobs: knobs.clone(),
        cloud,
        kube,
        logs,
        replicas,
        writers: Arc::default(),
    };
    eprintln!("controller logs: {}", soak.logs.display());
    soak.spawn(0);
    soak.spawn(1);

    // The schedule: kills at random moments in the fault window (at least a lease apart so a
    // killed leader's successor has taken over before the next), partitions between them,
    // churn at its rate throughout.
    let fault_window = Duration::from_secs(knobs.fault_secs);
    let lease = Duration::from_secs(knobs.lease_secs);
    let start = Instant::now();
    let mut kill_at: Vec<Instant> = (0..knobs.kills)
        .map(|_| start + rng.between(Duration::from_secs(2), fault_window))
        .collect();
    kill_at.sort();
    let mut partition_at: Vec<Instant> = (0..knobs.partitions)
        .map(|_| start + rng.between(Duration::from_secs(5), fault_window - 2 * lease))
        .collect();
    partition_at.sort();
    let churn_every = Duration::from_secs_f64(
        knobs.minute_secs / (knobs.churn_per_minute * knobs.nodes as f64).max(1e-9),
    );
    let mut next_churn = start + churn_every;
    let mut next_index = knobs.nodes;
    let mut healed_at: Option<(Instant, &'static str)> = None;
    let mut survived = Survived::default();
    let mut next_check = start;

    while start.elapsed() < fault_window {
        let now = Instant::now();
        if kill_at.first().is_some_and(|t| *t <= now) {
            kill_at.remove(0);
            let leader = soak.leader_slot();
            let mut victim = match leader {
                Some(l) if rng.unit() < 0.6 => l,
                _ => rng.below(2),
            };
            if soak.replicas[victim].child.is_none() {
                victim = 1 - victim;
            }
            if soak.replicas[victim].child.is_some() {
                survived.kills += 1;
                if leader == Some(victim) {
                    survived.leader_kills += 1;
                }
                soak.kill(victim);
                let r = &mut soak.replicas[victim];
                // Half the restarts keep the pod name (a container restart), half get a new
                // one (the pod was replaced), which must wait out the old lease.
                if rng.unit() < 0.5 {
                    survived.restarts_same_identity += 1;
                } else {
                    r.identity = format!("soak-{}-{}", r.slot, r.incarnations + 1);
                }
                r.restart_at = Some(now + rng.between(Duration::ZERO, Duration::from_millis(1500)));
            }
        }
        for i in 0..soak.replicas.len() {
            if soak.replicas[i].restart_at.is_some_and(|t| t <= now) {
                soak.spawn(i);
            }
        }
        if partition_at.first().is_some_and(|t| *t <= now) && healed_at.is_none() {
            partition_at.remove(0);
            if let Some(l) = soak.leader_slot() {
                let slot = soak.replicas[l].slot;
                assert!(soak.kube.set_door_unreachable(slot, true));
                survived.partitions += 1;
                healed_at = Some((now + lease + Duration::from_secs(1), slot));
            }
        }
        if let Some((t, slot)) = healed_at
            && t <= now
        {
            soak.kube.set_door_unreachable(slot, false);
            healed_at = None;
        }
        if now >= next_churn {
            next_churn += churn_every;
            // A node leaves (its instance terminated: its routes turn into blackholes) and a
            // new one joins.
            let gone = *live.iter().nth(rng.below(live.len())).unwrap();
            live.remove(&gone);
            soak.kube.delete_node(&node_name(gone)).unwrap();
            soak.cloud.remove_node(gone);
            let k = next_index;
            next_index += 1;
            soak.cloud.add_node(k);
            soak.kube.add_node(soak.cloud.k8s_node(k)).unwrap();
            live.insert(k);
            survived.churned += 1;
        }
        if now >= next_check {
            next_check = now + Duration::from_secs(1);
            check_invariants(&soak);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Faults stop: no more EC2 faults, kills, churn or partitions. Every slot runs again.
    if let Some((_, slot)) = healed_at {
        soak.kube.set_door_unreachable(slot, false);
    }
    soak.cloud.stop_faults();
    for i in 0..soak.replicas.len() {
        if soak.replicas[i].child.is_none() {
            soak.spawn(i);
        }
    }
    let faults_stopped = Instant::now();
    let limit = Duration::from_secs(knobs.converge_limit_secs);
    while let Err(last) = soak.cloud.exact_state(&live) {
        assert!(
            faults_stopped.elapsed() < limit,
            "{}: not converged {limit:?} after the faults stopped: {last}\nlogs in {}",
            soak.cloud.name(),
            soak.logs.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let convergence = faults_stopped.elapsed();
    check_invariants(&soak);
    let faults_by_kind = soak.cloud.faults_by_kind();
    let (calls, mutating) = soak.cloud.call_counts();
    let handovers = soak.terms().handovers();
    let report = format!(
        "{} soak: {} nodes ({} churned), {} s of faults, {} calls ({} mutating), faults survived {:?} \
         (total {}), kills {} (leader {}, same identity on restart {}), partitions {}, \
         lease holders in order {}, converged {:.1} s after the faults stopped",
        soak.cloud.name(),
        knobs.nodes,
        survived.churned,
        knobs.fault_secs,
        calls,
        mutating,
        faults_by_kind,
        faults_by_kind.values().sum::<usize>(),
        survived.kills,
        survived.leader_kills,
        survived.restarts_same_identity,
        survived.partitions,
        handovers.len(),
        convergence.as_secs_f64(),
    );
    eprintln!("{report}");
    if let Ok(path) = std::env::var("ROUTEPLANE_SOAK_REPORT") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(Path::new(&path))
            .unwrap();
        std::io::Write::write_all(&mut file, format!("{report}\n").as_bytes()).unwrap();
    }
    for i in 0..soak.replicas.len() {
        soak.kill(i);
    }

    // The run did what it claims: every kind of fault happened, enough kills, leader kills and
    // handovers, and churn.
    for kind in [
        "throttle",
        "internal-error",
        "unavailable",
        "timeout",
        "drop",
    ] {
        assert!(
            faults_by_kind.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} fault was injected: {faults_by_kind:?}"
        );
    }
    assert!(survived.kills >= knobs.kills.min(10), "{survived:?}");
    assert!(survived.leader_kills >= 3.min(knobs.kills), "{survived:?}");
    assert!(handovers.len() >= 3, "lease holders: {handovers:?}");
    assert!(survived.churned > 0, "{survived:?}");
}
