//! EC2 as the cloud under test: a VPC with two tagged tables, another cluster's table, and every
//! kind of foreign route the issue names; ownership judged from the mock EC2's call log (each
//! replica signs with its own access key).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ipnet::IpNet;
use routeplane_mocks::ec2::{
    Call, Faults, MockEc2, Outcome, Route, RouteState, Target, Throttle, World,
};

use super::{CLUSTER_CIDR, CloudUnderTest, Write, pod_cidr};

pub const TAG: &str = "kubernetes.io/cluster/soak";
pub const OTHER_TAG: &str = "kubernetes.io/cluster/other";
pub const VPC: &str = "vpc-0500a";
/// The tables routeplane manages (tagged for the cluster), one per AZ.
pub const TABLES: [&str; 2] = ["rtb-0500a", "rtb-0500b"];
/// Another cluster's table in the same VPC: never ours, whatever is in it.
pub const OTHER_TABLE: &str = "rtb-0500other";
const SUBNETS: [&str; 2] = ["subnet-0500a", "subnet-0500b"];
const AZS: [&str; 2] = ["us-east-1a", "us-east-1b"];

/// Node `k`'s instance.
pub fn instance(k: usize) -> String {
    format!("i-0{k:016x}")
}

/// Node `k` as the kubelet registers it on EC2.
pub fn k8s_node(k: usize) -> serde_json::Value {
    super::node_object(k, &format!("aws:///{}/{}", AZS[k % 2], instance(k)))
}

/// Adds node `k`'s instance, tagged for the cluster, in its AZ's subnet.
pub fn add_instance(w: &mut World, k: usize) {
    w.add_instance(&instance(k), SUBNETS[k % 2]).unwrap();
    w.tag(&instance(k), TAG, "owned").unwrap();
}

/// The VPC: two tagged tables, another cluster's table, `nodes` instances, and every kind of
/// foreign route the issue names — NAT, IGW, peering, another cluster's routes (inside and
/// outside our CIDR, in our tables and in its own), an untagged instance's route inside and
/// outside our CIDR, and a blackhole outside our CIDR.
pub fn world(nodes: usize) -> World {
    let mut w = World::new();
    w.route_limit = 1000;
    w.add_vpc(VPC, "10.0.0.0/16").unwrap();
    // /20 subnets: 500 nodes and their churned replacements need more than a /24 holds.
    for (i, table) in TABLES.iter().enumerate() {
        w.add_subnet(
            SUBNETS[i],
            VPC,
            &format!("10.0.{}.0/20", (i + 1) * 16),
            AZS[i],
        )
        .unwrap();
        w.add_route_table(table, VPC, i == 0, &[SUBNETS[i]])
            .unwrap();
        w.tag(table, TAG, "owned").unwrap();
    }
    w.add_subnet("subnet-0500other", VPC, "10.0.9.0/24", AZS[0])
        .unwrap();
    w.add_route_table(OTHER_TABLE, VPC, false, &["subnet-0500other"])
        .unwrap();
    w.tag(OTHER_TABLE, OTHER_TAG, "owned").unwrap();
    for k in 0..nodes {
        add_instance(&mut w, k);
    }
    // Another cluster's node and a stray instance nobody tagged.
    w.add_instance("i-0othercluster0001", SUBNETS[0]).unwrap();
    w.tag("i-0othercluster0001", OTHER_TAG, "owned").unwrap();
    w.add_instance("i-0untagged00000001", SUBNETS[1]).unwrap();
    w.add_instance("i-0gone000000000001", SUBNETS[1]).unwrap();

    let foreign: [(&str, &str, Target); 11] = [
        (TABLES[0], "0.0.0.0/0", Target::Gateway("igw-0500".into())),
        (
            TABLES[1],
            "0.0.0.0/0",
            Target::NatGateway("nat-0500".into()),
        ),
        (
            TABLES[0],
            "172.16.0.0/12",
            Target::VpcPeeringConnection("pcx-0500".into()),
        ),
        // Another cluster's routes in our table: outside our CIDR and inside it.
        (
            TABLES[0],
            "10.96.3.0/24",
            Target::Instance("i-0othercluster0001".into()),
        ),
        (
            TABLES[1],
            "10.255.250.0/24",
            Target::Instance("i-0othercluster0001".into()),
        ),
        // An instance routeplane knows nothing about, inside and outside our CIDR.
        (
            TABLES[0],
            "10.255.251.0/24",
            Target::Instance("i-0untagged00000001".into()),
        ),
        (
            TABLES[1],
            "192.168.7.0/24",
            Target::Instance("i-0untagged00000001".into()),
        ),
        // A dead route outside our CIDR: a blackhole, but not ours to clean up.
        (
            TABLES[0],
            "192.168.8.0/24",
            Target::Instance("i-0gone000000000001".into()),
        ),
        // The other cluster's own table, with a route inside our CIDR too.
        (
            OTHER_TABLE,
            "10.240.5.0/24",
            Target::Instance("i-0othercluster0001".into()),
        ),
        (
            OTHER_TABLE,
            "0.0.0.0/0",
            Target::NatGateway("nat-0500".into()),
        ),
        (
            OTHER_TABLE,
            "10.96.4.0/24",
            Target::Instance("i-0othercluster0001".into()),
        ),
    ];
    for (table, dst, target) in foreign {
        w.add_route(table, dst, target).unwrap();
    }
    w.terminate_instance("i-0gone000000000001");
    w
}

/// Every route routeplane must leave alone, as stored (JSON of the mock's own route records):
/// everything in the other cluster's table, and every non-node route in ours, local included.
pub fn foreign_routes(ec2: &MockEc2) -> BTreeMap<(String, String), String> {
    ec2.world().read(|w| {
        let mut out = BTreeMap::new();
        for t in &w.route_tables {
            for r in &t.routes {
                if t.id == OTHER_TABLE || !is_node_route(r) {
                    out.insert(
                        (t.id.clone(), r.destination.to_string()),
                        serde_json::to_string(r).unwrap(),
                    );
                }
            }
        }
        out
    })
}

/// Whether a route in one of our tables is a node route (to a cluster-tagged instance).
fn is_node_route(r: &Route) -> bool {
    r.instance_id
        .as_deref()
        .is_some_and(|i| i.starts_with("i-00"))
}

/// Checks that every seeded foreign route is still there, byte for byte.
pub fn foreign_unchanged(ec2: &MockEc2, before: &BTreeMap<(String, String), String>) {
    let changed = foreign_changes(ec2, before);
    assert!(changed.is_empty(), "foreign routes modified: {changed:#?}");
}

/// The seeded foreign routes that are gone or no longer byte-identical.
pub fn foreign_changes(ec2: &MockEc2, before: &BTreeMap<(String, String), String>) -> Vec<String> {
    let now = foreign_routes(ec2);
    before
        .iter()
        .filter(|(key, route)| now.get(*key) != Some(route))
        .map(|(key, route)| format!("{key:?} was {route}, now {:?}", now.get(key)))
        .collect()
}

/// Whether every managed table holds exactly one active route per live node, to that node's
/// instance, and nothing else but the foreign routes. Returns what is still wrong.
pub fn exact_state(
    ec2: &MockEc2,
    live: &BTreeSet<usize>,
    foreign: &BTreeMap<(String, String), String>,
) -> Result<(), String> {
    let want: BTreeMap<IpNet, String> = live
        .iter()
        .map(|k| (pod_cidr(*k).parse().unwrap(), instance(*k)))
        .collect();
    for table in TABLES {
        let routes = ec2.world().routes(table).unwrap();
        let mut have = BTreeMap::new();
        for r in routes {
            if foreign.contains_key(&(table.to_string(), r.destination.to_string())) {
                continue;
            }
            if r.state != RouteState::Active {
                return Err(format!("{table}: {} is a {:?}", r.destination, r.state));
            }
            have.insert(r.destination, r.instance_id.unwrap_or_default());
        }
        if have != want {
            let missing = want.iter().filter(|(d, i)| have.get(d) != Some(i)).count();
            let extra = have.iter().filter(|(d, i)| want.get(d) != Some(i)).count();
            return Err(format!(
                "{table}: {missing} routes missing or wrong, {extra} extra"
            ));
        }
    }
    Ok(())
}

/// Every mutating call must target a route routeplane owns: a managed table, a destination in
/// the cluster CIDR that is not a foreign route, or a node instance's interface. Returns the
/// calls that did not.
pub fn ownership_violations(
    calls: &[Call],
    foreign: &BTreeMap<(String, String), String>,
    node_enis: &BTreeSet<String>,
) -> Vec<Call> {
    let cluster: IpNet = CLUSTER_CIDR.parse().unwrap();
    calls
        .iter()
        .filter(|c| c.mutating)
        .filter(|c| {
            let p = |k: &str| c.params.get(k).cloned().unwrap_or_default();
            match c.action.as_str() {
                "CreateRoute" | "ReplaceRoute" | "DeleteRoute" => {
                    let table = p("RouteTableId");
                    let dst = c
                        .params
                        .get("DestinationCidrBlock")
                        .or_else(|| c.params.get("DestinationIpv6CidrBlock"))
                        .cloned()
                        .unwrap_or_default();
                    let inside = dst.parse::<IpNet>().is_ok_and(|d| cluster.contains(&d));
                    !(TABLES.contains(&table.as_str())
                        && inside
                        && !foreign.contains_key(&(table, dst)))
                }
                "ModifyNetworkInterfaceAttribute" => !node_enis.contains(&p("NetworkInterfaceId")),
                _ => true,
            }
        })
        .cloned()
        .collect()
}

/// The primary ENI of every node instance the world has ever had (terminated ones keep none,
/// so collect them while they run).
pub fn node_enis(ec2: &MockEc2) -> BTreeSet<String> {
    ec2.world().read(|w| {
        w.instances
            .iter()
            .filter(|i| i.id.starts_with("i-00"))
            .filter_map(|i| i.primary_eni().map(|e| e.id.clone()))
            .collect()
    })
}

/// The mutating calls as writes: who signed them, when they arrived and, if applied, when
/// they were answered.
pub fn writes(calls: &[Call], started: std::time::Instant) -> Vec<Write> {
    calls
        .iter()
        .filter(|c| c.mutating)
        .map(|c| Write {
            writer: c.access_key.clone(),
            action: c.action.clone(),
            arrived: started + c.at,
            applied: (c.outcome == Outcome::Ok).then(|| started + c.answered),
        })
        .collect()
}

/// The access key a replica identity signs with, so the mock EC2 can tell who wrote.
pub fn access_key(identity: &str) -> String {
    let id: String = identity
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("AKIA{}", id.to_ascii_uppercase())
}

/// EC2's buckets, with the route writes' and ModifyNetworkInterfaceAttribute's set to
/// `capacity`/`rate`.
pub fn write_throttle(capacity: f64, rate: f64) -> Throttle {
    [
        "CreateRoute",
        "ReplaceRoute",
        "DeleteRoute",
        "ModifyNetworkInterfaceAttribute",
    ]
    .into_iter()
    .fold(Throttle::ec2_defaults(), |t, action| {
        t.with_bucket(action, capacity, rate)
    })
}

/// The mock EC2 as the soak's cloud, with the foreign routes it was seeded with.
pub struct Ec2 {
    pub mock: MockEc2,
    foreign: BTreeMap<(String, String), String>,
    /// The primary ENIs of every node instance there has been.
    enis: BTreeSet<String>,
    /// `--aws-mutate-budget`, which the mock enforces too.
    mutate_budget: String,
    call_timeout: Duration,
}

impl Ec2 {
    /// Starts the mock with `nodes` instances, EC2's buckets with the write buckets set to
    /// `mutate_budget` (CAPACITY/RATE), and `faults`.
    pub async fn start(
        nodes: usize,
        mutate_budget: &str,
        faults: Faults,
        call_timeout: Duration,
    ) -> Self {
        let (cap, rate) = mutate_budget.split_once('/').unwrap();
        let mock = MockEc2::builder()
            .world(world(nodes))
            .route_limit(1000)
            .throttle(write_throttle(cap.parse().unwrap(), rate.parse().unwrap()))
            .faults(faults)
            .start()
            .await
            .unwrap();
        let foreign = foreign_routes(&mock);
        let enis = node_enis(&mock);
        Self {
            mock,
            foreign,
            enis,
            mutate_budget: mutate_budget.to_string(),
            call_timeout,
        }
    }
}

impl CloudUnderTest for Ec2 {
    fn name(&self) -> &'static str {
        "EC2"
    }

    fn controller_args(&self) -> Vec<String> {
        [
            "--aws-region",
            "us-east-1",
            "--aws-endpoint-url",
            &self.mock.endpoint_url(),
            "--route-tables",
            "tagged",
            "--route-limit",
            "1000",
            "--aws-mutate-budget",
            &self.mutate_budget,
            "--aws-call-timeout",
            &format!("{}ms", self.call_timeout.as_millis()),
        ]
        .map(str::to_string)
        .to_vec()
    }

    fn credentials(&self, identity: &str) -> (Vec<(String, String)>, String) {
        let key = access_key(identity);
        let env = [
            ("AWS_ACCESS_KEY_ID", key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", "soak-secret"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
        (env, key)
    }

    fn k8s_node(&self, k: usize) -> serde_json::Value {
        k8s_node(k)
    }

    fn add_node(&mut self, k: usize) {
        self.mock.world().edit(|w| add_instance(w, k));
        self.enis.extend(node_enis(&self.mock));
    }

    fn remove_node(&mut self, k: usize) {
        self.mock.world().terminate_instance(&instance(k)).unwrap();
    }

    fn foreign_changed(&self) -> Vec<String> {
        foreign_changes(&self.mock, &self.foreign)
    }

    fn ownership_violations(&self) -> Vec<String> {
        ownership_violations(&self.mock.calls().all(), &self.foreign, &self.enis)
            .iter()
            .map(|c| format!("{c:?}"))
            .collect()
    }

    fn writes(&self) -> Vec<Write> {
        writes(&self.mock.calls().all(), self.mock.started_at())
    }

    fn exact_state(&self, live: &BTreeSet<usize>) -> Result<(), String> {
        exact_state(&self.mock, live, &self.foreign)
    }

    fn budget_violations(&self) -> Vec<String> {
        self.mock
            .calls()
            .budget_violations(&self.mock.throttle())
            .iter()
            .map(|v| format!("{v:?}"))
            .collect()
    }

    fn call_counts(&self) -> (usize, usize) {
        let calls = self.mock.calls();
        (calls.len(), calls.mutating().len())
    }

    fn faults_by_kind(&self) -> BTreeMap<&'static str, usize> {
        fault_counts(self.mock.calls().all().iter().filter_map(|c| c.fault))
    }

    fn stop_faults(&self) {
        self.mock.set_faults(Faults::none());
    }
}

/// Counts faults by kind.
pub fn fault_counts(faults: impl Iterator<Item = &'static str>) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for f in faults {
        *out.entry(f).or_default() += 1;
    }
    out
}
