//! Split brain and stale leaders: the leader loses the Kubernetes API server while EC2 stays
//! reachable. It cannot renew its lease, so it must stop writing routes before that lease can
//! expire — no later than its renew deadline — even with writes queued behind the EC2 budget
//! and in retry backoff; the standby must take over and converge, and the old leader must stay
//! quiet once it is back. Judged at the mocks: the fake API's lease history gives the terms,
//! the mock EC2's call log says who wrote when (each replica signs with its own access key).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reliability;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reliability::ec2::*;
use reliability::*;
use routeplane_aws::{AwsConfig, AwsProvider, StaticCredentials, TableSelector, ec2_budget};
use routeplane_core::budget::BucketSpec;
use routeplane_core::controller::{Controller, ControllerConfig, ControllerError, LeaderConfig};
use routeplane_core::{Cloud, ClusterSpec, Mode};
use routeplane_mocks::ec2::{FaultSpec, Faults, MockEc2};
use routeplane_mocks::kube_api::FakeKube;
use tokio_util::sync::CancellationToken;

const LEASE: Duration = Duration::from_secs(3);
const RENEW: Duration = Duration::from_secs(2);
const NODES: usize = 60;
/// EC2's write buckets, shrunk so that the cold start is still writing (with calls queued for
/// tokens) when the leader is cut off.
const WRITES: BucketSpec = BucketSpec::new(10.0, 5.0);

struct Replica {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ControllerError>>,
}

impl Replica {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A replica of the controller, library-embedded, with its own EC2 access key and its own door
/// into the API server.
async fn replica(ec2: &MockEc2, kube: &FakeKube, identity: &str) -> Replica {
    replica_through(ec2, kube, identity, identity).await
}

/// As [`replica`], through the API-server door named `door` (a restarted pod gets a new
/// connection under its old identity).
async fn replica_through(ec2: &MockEc2, kube: &FakeKube, identity: &str, door: &str) -> Replica {
    let mut aws = AwsConfig::new(CLUSTER);
    aws.region = Some("us-east-1".into());
    aws.endpoint_url = Some(ec2.endpoint_url());
    aws.tables = TableSelector::Tagged;
    aws.route_limit = 1000;
    aws.credentials = Some(StaticCredentials {
        access_key_id: access_key(identity),
        secret_access_key: "s".into(),
    });
    aws.budget = ec2_budget(None, Some(WRITES));
    let budget = aws.budget.clone();
    let provider = AwsProvider::new(aws).await.unwrap();
    let spec = ClusterSpec::new(
        CLUSTER,
        vec![CLUSTER_CIDR.parse().unwrap()],
        Mode::Cloud,
        Cloud::Aws,
    )
    .unwrap();
    let mut cfg = ControllerConfig::new(spec);
    cfg.resync = Duration::from_secs(3);
    cfg.reconcile.backoff_base = Duration::from_millis(100);
    cfg.reconcile.backoff_max = Duration::from_secs(1);
    cfg.budget = Some(budget);
    cfg.leader = Some(LeaderConfig {
        namespace: LEASE_NS.into(),
        name: LEASE_NAME.into(),
        identity: identity.into(),
        lease_duration: LEASE,
        renew_deadline: RENEW,
        retry_period: Duration::from_millis(300),
    });
    let door = kube.door(door).await.unwrap();
    let client = kube::Client::try_from(kube::Config::new(door.parse().unwrap())).unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let controller = Controller::new(provider, cfg);
    let task = tokio::spawn(async move { controller.run(client, token).await });
    Replica { shutdown, task }
}

/// EC2 with the shrunk write buckets, some throttling and latency, and `nodes` Nodes.
async fn cluster() -> (MockEc2, FakeKube, BTreeSet<usize>) {
    let ec2 = MockEc2::builder()
        .world(world(NODES))
        .route_limit(1000)
        .throttle(write_throttle(WRITES.capacity, WRITES.refill_per_sec))
        .faults(
            Faults::seeded(2).all(
                FaultSpec::new()
                    .latency(Duration::from_millis(100), Duration::from_millis(50))
                    .throttle(0.2, 1),
            ),
        )
        .start()
        .await
        .unwrap();
    let kube = FakeKube::start().await.unwrap();
    let live: BTreeSet<usize> = (0..NODES).collect();
    for k in &live {
        kube.add_node(k8s_node(*k)).unwrap();
    }
    (ec2, kube, live)
}

async fn eventually(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn holder(kube: &FakeKube) -> Option<String> {
    kube.lease(LEASE_NS, LEASE_NAME)?
        .pointer("/spec/holderIdentity")?
        .as_str()
        .map(str::to_string)
}

/// When each of `identity`'s mutating calls arrived at EC2 and, if applied, took effect.
fn write_times(ec2: &MockEc2, identity: &str) -> Vec<Instant> {
    let key = access_key(identity);
    let start = ec2.started_at();
    ec2.calls()
        .mutating()
        .iter()
        .filter(|c| c.access_key.as_deref() == Some(key.as_str()))
        .flat_map(|c| [start + c.at, start + c.answered])
        .collect()
}

/// The invariants every scenario ends with.
fn check_at_the_mocks(
    ec2: &MockEc2,
    kube: &FakeKube,
    foreign: &BTreeMap<(String, String), String>,
    enis: &BTreeSet<String>,
    identities: &[&str],
) {
    foreign_unchanged(ec2, foreign);
    let calls = ec2.calls().all();
    let bad = ownership_violations(&calls, foreign, enis);
    assert!(bad.is_empty(), "calls outside ownership: {bad:#?}");
    let writers: BTreeMap<String, String> = identities
        .iter()
        .map(|i| (access_key(i), (*i).to_string()))
        .collect();
    let terms = Terms::new(kube.lease_history(LEASE_NS, LEASE_NAME));
    let v = terms.violations(&writes(&calls, ec2.started_at()), |k| {
        writers.get(k).cloned()
    });
    assert!(
        v.is_empty(),
        "writes outside the writer's lease term: {v:#?}"
    );
    let over = ec2.calls().budget_violations(&ec2.throttle());
    assert!(over.is_empty(), "over EC2's budget: {over:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_api_server_stops_writing_before_its_lease_can_expire() {
    let (ec2, kube, live) = cluster().await;
    let foreign = foreign_routes(&ec2);
    let enis = node_enis(&ec2);
    let a = replica(&ec2, &kube, "replica-a").await;
    eventually(
        "replica-a to lead and write",
        Duration::from_secs(20),
        || {
            holder(&kube).as_deref() == Some("replica-a")
                && write_times(&ec2, "replica-a").len() > 20
        },
    )
    .await;
    let b = replica(&ec2, &kube, "replica-b").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        write_times(&ec2, "replica-b").is_empty(),
        "the standby wrote"
    );
    assert!(
        exact_state(&ec2, &live, &foreign).is_err(),
        "the cold start must still be writing when the leader is cut off"
    );

    // The partition: replica-a loses the API server, EC2 stays reachable.
    let cut = Instant::now();
    assert!(kube.set_door_unreachable("replica-a", true));
    eventually("replica-b to take over", Duration::from_secs(20), || {
        holder(&kube).as_deref() == Some("replica-b")
    })
    .await;
    eventually(
        "convergence under replica-b",
        Duration::from_secs(60),
        || exact_state(&ec2, &live, &foreign).is_ok(),
    )
    .await;

    let terms = Terms::new(kube.lease_history(LEASE_NS, LEASE_NAME));
    let last_renewal = terms.last_commit_by("replica-a", Instant::now()).unwrap();
    let expiry = last_renewal + LEASE;
    let a_writes = write_times(&ec2, "replica-a");
    let a_last = *a_writes.iter().max().unwrap();
    assert!(
        a_writes.iter().any(|t| *t > last_renewal),
        "replica-a was writing when it lost the API server"
    );
    assert!(
        a_last < expiry,
        "replica-a wrote {:?} after its lease could expire",
        a_last - expiry
    );
    // It stopped at its renew deadline (renewal start + RENEW; the start precedes the commit),
    // give or take the in-flight request's injected latency.
    assert!(
        a_last < last_renewal + RENEW + Duration::from_millis(300),
        "replica-a wrote {:?} after its last renewal",
        a_last - last_renewal
    );
    let b_first = terms.first_commit_by("replica-b", cut).unwrap();
    assert!(
        b_first >= expiry,
        "replica-b took a lease that had not expired"
    );
    assert!(
        write_times(&ec2, "replica-b").iter().all(|t| *t > b_first),
        "replica-b wrote before it held the lease"
    );
    eprintln!(
        "split brain: replica-a's last write {:.0} ms after its last renewal, {:.0} ms before \
         its lease could expire; replica-b took over {:.1} s after the cut",
        (a_last - last_renewal).as_secs_f64() * 1e3,
        (expiry - a_last).as_secs_f64() * 1e3,
        (b_first - cut).as_secs_f64()
    );

    // Healed, the old leader stays a standby: no more writes from it, even with work to do (a
    // node's route pointed at another node's instance, which the leader repairs).
    let healed = Instant::now();
    kube.set_door_unreachable("replica-a", false);
    ec2.world()
        .hijack_route(
            TABLES[0],
            &pod_cidr(3),
            routeplane_mocks::ec2::Target::Instance(instance(4)),
        )
        .unwrap();
    eventually(
        "the hijack repaired by replica-b",
        Duration::from_secs(20),
        || exact_state(&ec2, &live, &foreign).is_ok(),
    )
    .await;
    assert!(
        write_times(&ec2, "replica-a").iter().all(|t| *t < healed),
        "the deposed leader wrote after it came back"
    );
    check_at_the_mocks(&ec2, &kube, &foreign, &enis, &["replica-a", "replica-b"]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_api_server_gone_nobody_writes_past_the_renew_deadline_then_writing_resumes() {
    let (ec2, kube, live) = cluster().await;
    let foreign = foreign_routes(&ec2);
    let enis = node_enis(&ec2);
    let a = replica(&ec2, &kube, "replica-a").await;
    let b = replica(&ec2, &kube, "replica-b").await;
    eventually("a leader writing", Duration::from_secs(20), || {
        ec2.calls().mutating().len() > 20
    })
    .await;
    let leader = holder(&kube).unwrap();

    kube.set_unreachable(true);
    let cut = Instant::now();
    // Well past the lease: long enough for any stale write to show.
    tokio::time::sleep(LEASE * 2).await;
    let terms = Terms::new(kube.lease_history(LEASE_NS, LEASE_NAME));
    let last_renewal = terms.last_commit_by(&leader, cut).unwrap();
    let last_write = ec2
        .calls()
        .mutating()
        .iter()
        .map(|c| ec2.started_at() + c.answered.max(c.at))
        .max()
        .unwrap();
    assert!(
        last_write < last_renewal + RENEW + Duration::from_millis(300),
        "a write {:?} after the leader's last renewal, with no API server",
        last_write - last_renewal
    );
    assert!(
        exact_state(&ec2, &live, &foreign).is_err(),
        "still unconverged"
    );

    kube.set_unreachable(false);
    eventually(
        "convergence once the API server is back",
        Duration::from_secs(60),
        || exact_state(&ec2, &live, &foreign).is_ok(),
    )
    .await;
    check_at_the_mocks(&ec2, &kube, &foreign, &enis, &["replica-a", "replica-b"]);
    a.stop().await;
    b.stop().await;
}

/// A leader that dies in the middle of a burst (SIGKILL, OOM, a crash loop) and is restarted
/// with the same identity takes its lease back at once, in a new process with new buckets.
/// EC2's bucket is still empty from the burst the dead process just spent, so a new process
/// that started with full buckets overdrew it. Judged by replaying every call through EC2's
/// buckets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_restarted_mid_burst_stays_inside_the_budget_its_predecessor_spent() {
    let (ec2, kube, live) = cluster().await;
    let foreign = foreign_routes(&ec2);
    let enis = node_enis(&ec2);
    let first = replica(&ec2, &kube, "replica-a").await;
    // Two entries per call; past the client's burst, EC2's bucket is empty too.
    eventually(
        "replica-a to spend its burst",
        Duration::from_secs(20),
        || write_times(&ec2, "replica-a").len() > 2 * WRITES.capacity as usize,
    )
    .await;
    // Killed: its task is gone mid-call, nothing is released by it in order.
    first.task.abort();
    let restarted = replica_through(&ec2, &kube, "replica-a", "replica-a-restarted").await;
    eventually(
        "convergence after the restart",
        Duration::from_secs(60),
        || exact_state(&ec2, &live, &foreign).is_ok(),
    )
    .await;
    restarted.stop().await;
    check_at_the_mocks(&ec2, &kube, &foreign, &enis, &["replica-a"]);
}
