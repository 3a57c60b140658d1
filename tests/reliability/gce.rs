//! GCE as the cloud under test: one network holding the cluster's routes next to every kind of
//! foreign route — another cluster's routes whose names share ours' text prefix, a route with
//! our exact name prefix but not our description, the default internet-gateway route, a
//! foreign instance as next hop inside and outside the cluster CIDR, and peering-like routes
//! (next hop an IP, a VPN tunnel). Each replica authenticates with its own service-account key
//! (a self-signed JWT, as in production with a key file), so the mock's call log names the
//! writer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ipnet::IpNet;
use routeplane_gce::RouteNaming;
use routeplane_mocks::gce::throttle::QUERIES;
use routeplane_mocks::gce::{
    Faults, GceWorld, Instance, MockGce, NetworkInterface, NextHop, Outcome, Route, Throttle,
};

use super::ec2::fault_counts;
use super::{CLUSTER, CLUSTER_CIDR, CloudUnderTest, Write, pod_cidr};

pub const PROJECT: &str = "soak-project";
pub const NETWORK: &str = "soak-net";
const ZONES: [&str; 2] = ["us-central1-a", "us-central1-b"];
/// Another cluster on the same network whose route names share ours' readable prefix
/// (`rp-soak-`): it differs only in case, so only the name's hash tells them apart.
const OTHER_SAME_TEXT: &str = "Soak";
/// And one whose readable name starts with ours (`rp-soak2-…`).
const OTHER_LONGER: &str = "soak2";
const STRAY: &str = "stray-vm";

/// Node `k`'s instance.
pub fn instance(k: usize) -> String {
    format!("soak-node-{k}")
}

fn zone(k: usize) -> &'static str {
    ZONES[k % 2]
}

fn vm(zone: &str, name: &str, ip: String) -> Instance {
    Instance {
        name: name.into(),
        zone: zone.into(),
        can_ip_forward: true,
        status: "RUNNING".into(),
        machine_type: "e2-standard-4".into(),
        network_interfaces: vec![NetworkInterface {
            name: "nic0".into(),
            network: NETWORK.into(),
            network_ip: ip,
            ipv6_address: None,
        }],
        id: 0,
        creation_timestamp: String::new(),
    }
}

fn node_vm(k: usize) -> Instance {
    vm(
        zone(k),
        &instance(k),
        format!("10.128.{}.{}", k / 250, k % 250 + 2),
    )
}

/// The network with `nodes` instances, a stray instance, other clusters' instances, and the
/// foreign routes.
pub fn world(nodes: usize) -> GceWorld {
    let mut w = GceWorld::new()
        .project(PROJECT)
        .network(NETWORK)
        .route_quota(4000);
    for k in 0..nodes {
        w = w.instance_with(node_vm(k));
    }
    w = w
        .instance_with(vm(ZONES[0], STRAY, "10.128.200.2".into()))
        .instance_with(vm(ZONES[1], "other-node-1", "10.128.200.3".into()));
    let theirs = |cluster: &str, dst: &str| {
        let naming = RouteNaming::new(cluster);
        Route::new(
            &naming.name(&dst.parse().unwrap()),
            dst,
            NextHop::instance(ZONES[1], "other-node-1"),
        )
        .network(NETWORK)
        .description(&naming.description())
    };
    let ours = RouteNaming::new(CLUSTER);
    let foreign = [
        Route::new("default-route-internet", "0.0.0.0/0", NextHop::internet()),
        // Other clusters' routes, inside and outside our CIDR.
        theirs(OTHER_SAME_TEXT, "10.255.250.0/24"),
        theirs(OTHER_SAME_TEXT, "10.96.3.0/24"),
        theirs(OTHER_LONGER, "10.255.249.0/24"),
        // Our name prefix, made by hand: not ours without our description.
        Route::new(
            &format!("{}ffffffffffffffff", ours.prefix()),
            "10.255.252.0/24",
            NextHop::instance(ZONES[0], STRAY),
        )
        .description("hand-made"),
        // A foreign instance as next hop, inside and outside our CIDR.
        Route::new(
            "stray-inside",
            "10.255.251.0/24",
            NextHop::instance(ZONES[0], STRAY),
        ),
        Route::new(
            "stray-outside",
            "192.168.7.0/24",
            NextHop::instance(ZONES[0], STRAY),
        )
        .priority(900)
        .tags(&["web"]),
        // Peering-like: an appliance IP and a VPN tunnel.
        Route::new(
            "peer-appliance",
            "172.16.0.0/12",
            NextHop::Ip("10.128.200.2".into()),
        ),
        Route::new(
            "vpn-onprem",
            "192.168.100.0/24",
            NextHop::VpnTunnel(format!(
                "https://www.googleapis.com/compute/v1/projects/{PROJECT}/regions/us-central1/vpnTunnels/onprem"
            )),
        ),
    ];
    for r in foreign {
        w = w.route(r.network(NETWORK));
    }
    w
}

/// The mock GCE as the soak's cloud.
pub struct Gce {
    pub mock: MockGce,
    /// Route name → the route as stored (JSON), for every route seeded before the run.
    foreign: BTreeMap<String, String>,
    /// `--gce-write-budget`.
    write_budget: String,
    call_timeout: Duration,
    /// Where the service-account key files are written.
    keys: PathBuf,
    /// One RSA key (PKCS#8 PEM) shared by every identity: the mock checks no signature, it
    /// reads the service account named in the token.
    pem: String,
}

impl Gce {
    /// Starts the mock with `nodes` instances and `faults`. The Queries quota (inserts and
    /// deletes) per `interval` is the most a client within `write_budget` (CAPACITY/RATE) can
    /// ever send in one interval, CAPACITY + RATE × interval: a single leader never meets it,
    /// two buckets spent back to back in one interval can.
    pub async fn start(
        nodes: usize,
        write_budget: &str,
        interval: Duration,
        faults: Faults,
        call_timeout: Duration,
        keys: PathBuf,
    ) -> Self {
        let (cap, rate) = write_budget.split_once('/').unwrap();
        let (cap, rate): (f64, f64) = (cap.parse().unwrap(), rate.parse().unwrap());
        let quota = (cap + rate * interval.as_secs_f64()).floor() as u64;
        let mock = MockGce::builder()
            .project(PROJECT)
            .world(world(nodes))
            .op_delay(Duration::from_millis(300))
            .throttle(
                Throttle::gce_defaults()
                    .with_interval(interval)
                    .with_limit(QUERIES, quota),
            )
            .throttle_both_forms(true)
            .faults(faults)
            .start()
            .await
            .unwrap();
        let foreign = mock
            .world()
            .routes()
            .iter()
            .map(|r| (r.name.clone(), serde_json::to_string(r).unwrap()))
            .collect();
        std::fs::create_dir_all(&keys).unwrap();
        let pem_path = keys.join("soak-sa.pem");
        let out = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .args(["-out", pem_path.to_str().unwrap()])
            .output()
            .expect("the GCE soak needs openssl to make a service-account key");
        assert!(out.status.success(), "openssl genpkey: {out:?}");
        let pem = std::fs::read_to_string(&pem_path).unwrap();
        Self {
            mock,
            foreign,
            write_budget: write_budget.to_string(),
            call_timeout,
            keys,
            pem,
        }
    }

    fn routes_by_name(&self) -> BTreeMap<String, Route> {
        self.mock
            .world()
            .routes()
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect()
    }
}

/// The service account a replica identity authenticates as.
pub fn service_account(identity: &str) -> String {
    format!("{identity}@{PROJECT}.iam.gserviceaccount.com")
}

impl CloudUnderTest for Gce {
    fn name(&self) -> &'static str {
        "GCE"
    }

    fn controller_args(&self) -> Vec<String> {
        [
            "--cloud",
            "gce",
            "--gce-endpoint",
            &self.mock.endpoint_url(),
            "--gce-project",
            PROJECT,
            "--gce-network",
            NETWORK,
            "--gce-write-budget",
            &self.write_budget,
            "--gce-call-timeout",
            &format!("{}ms", self.call_timeout.as_millis()),
            "--gce-operation-timeout",
            "5s",
        ]
        .map(str::to_string)
        .to_vec()
    }

    fn credentials(&self, identity: &str) -> (Vec<(String, String)>, String) {
        let email = service_account(identity);
        let key = serde_json::json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": format!("key-{identity}"),
            "private_key": self.pem,
            "client_email": email,
            "client_id": "1",
            // Never used: a key file's credentials sign their own token (a self-signed JWT).
            "token_uri": "http://127.0.0.1:9/token",
        });
        let path = self.keys.join(format!("{identity}.json"));
        std::fs::write(&path, key.to_string()).unwrap();
        let env = vec![(
            "GOOGLE_APPLICATION_CREDENTIALS".to_string(),
            path.to_str().unwrap().to_string(),
        )];
        (env, email)
    }

    fn k8s_node(&self, k: usize) -> serde_json::Value {
        super::node_object(k, &format!("gce://{PROJECT}/{}/{}", zone(k), instance(k)))
    }

    fn add_node(&mut self, k: usize) {
        self.mock.world().add_instance(node_vm(k)).unwrap();
    }

    fn remove_node(&mut self, k: usize) {
        assert!(self.mock.world().remove_instance(zone(k), &instance(k)));
    }

    fn foreign_changed(&self) -> Vec<String> {
        let now = self.routes_by_name();
        self.foreign
            .iter()
            .filter_map(|(name, was)| {
                let is = now.get(name).map(|r| serde_json::to_string(r).unwrap());
                (is.as_ref() != Some(was)).then(|| format!("{name}: was {was}, now {is:?}"))
            })
            .collect()
    }

    fn ownership_violations(&self) -> Vec<String> {
        let ours = RouteNaming::new(CLUSTER);
        let cluster: IpNet = CLUSTER_CIDR.parse().unwrap();
        let owned_name =
            |name: &str| name.starts_with(ours.prefix()) && !self.foreign.contains_key(name);
        let node_hop = |url: &str| {
            url.strip_prefix(&format!(
                "https://www.googleapis.com/compute/v1/projects/{PROJECT}/zones/"
            ))
            .and_then(|rest| rest.split_once("/instances/"))
            .is_some_and(|(_, name)| name.starts_with("soak-node-"))
        };
        self.mock
            .calls()
            .all()
            .into_iter()
            .filter(|c| c.mutating)
            .filter(|c| match c.method.as_str() {
                "compute.routes.insert" => {
                    let body: serde_json::Value =
                        serde_json::from_str(c.body.as_deref().unwrap_or("null"))
                            .unwrap_or_default();
                    let s = |k: &str| body.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                    let inside = s("destRange")
                        .parse::<IpNet>()
                        .is_ok_and(|d| cluster.contains(&d));
                    !(owned_name(s("name"))
                        && s("description") == ours.description()
                        && s("network").ends_with(&format!("/global/networks/{NETWORK}"))
                        && inside
                        && node_hop(s("nextHopInstance")))
                }
                "compute.routes.delete" => {
                    !owned_name(c.path.rsplit('/').next().unwrap_or_default())
                }
                _ => true,
            })
            .map(|c| format!("{} {} {:?}", c.method, c.path, c.body))
            .collect()
    }

    fn writes(&self) -> Vec<Write> {
        let started = self.mock.started_at();
        self.mock
            .calls()
            .all()
            .into_iter()
            .filter(|c| c.mutating)
            .map(|c| Write {
                writer: c.principal.clone(),
                action: c.method.clone(),
                arrived: started + c.at,
                applied: (c.outcome == Outcome::Ok).then(|| started + c.answered),
            })
            .collect()
    }

    fn exact_state(&self, live: &BTreeSet<usize>) -> Result<(), String> {
        let ours = RouteNaming::new(CLUSTER);
        let want: BTreeMap<String, (String, NextHop)> = live
            .iter()
            .map(|k| {
                let cidr = pod_cidr(*k);
                (
                    ours.name(&cidr.parse().unwrap()),
                    (cidr, NextHop::instance(zone(*k), &instance(*k))),
                )
            })
            .collect();
        let have: BTreeMap<String, (String, NextHop)> = self
            .routes_by_name()
            .into_iter()
            .filter(|(name, _)| !self.foreign.contains_key(name))
            .map(|(name, r)| (name, (r.dest_range, r.next_hop)))
            .collect();
        if have == want {
            return Ok(());
        }
        let missing = want.iter().filter(|(n, r)| have.get(*n) != Some(r)).count();
        let extra = have.iter().filter(|(n, r)| want.get(*n) != Some(r)).count();
        Err(format!("{missing} routes missing or wrong, {extra} extra"))
    }

    fn budget_violations(&self) -> Vec<String> {
        self.mock
            .calls()
            .all()
            .into_iter()
            .filter(|c| c.fault.is_none() && c.outcome.reason() == Some("rateLimitExceeded"))
            .map(|c| format!("{} at {:?}", c.method, c.at))
            .collect()
    }

    fn call_counts(&self) -> (usize, usize) {
        let calls = self.mock.calls().all();
        let mutating = calls.iter().filter(|c| c.mutating).count();
        (calls.len(), mutating)
    }

    fn faults_by_kind(&self) -> BTreeMap<&'static str, usize> {
        fault_counts(self.mock.calls().all().iter().filter_map(|c| c.fault))
    }

    fn stop_faults(&self) {
        self.mock.set_faults(Faults::none());
    }
}
