//! What the reliability tests (`soak.rs`, `split_brain.rs`) share: the VPC they build with its
//! foreign routes, and the invariants they check at the mocks — ownership (every mutating call
//! targets an owned destination, foreign routes byte-for-byte unchanged), exact final state,
//! the EC2 budget, and leader safety (every write inside its writer's own, unexpired lease
//! term, from the fake API's lease history). The checks read only the mocks' records, never
//! the controller's own view of itself.

#![allow(dead_code)] // each test crate uses its own subset

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use routeplane_mocks::ec2::{Call, MockEc2, Outcome, Route, RouteState, Target, World};
use routeplane_mocks::kube_api::{LeaseRecord, node};

pub const CLUSTER: &str = "soak";
pub const TAG: &str = "kubernetes.io/cluster/soak";
pub const OTHER_TAG: &str = "kubernetes.io/cluster/other";
pub const CLUSTER_CIDR: &str = "10.240.0.0/12";
pub const VPC: &str = "vpc-0500a";
/// The tables routeplane manages (tagged for the cluster), one per AZ.
pub const TABLES: [&str; 2] = ["rtb-0500a", "rtb-0500b"];
/// Another cluster's table in the same VPC: never ours, whatever is in it.
pub const OTHER_TABLE: &str = "rtb-0500other";
pub const LEASE_NS: &str = "kube-system";
pub const LEASE_NAME: &str = "routeplane-controller";
const SUBNETS: [&str; 2] = ["subnet-0500a", "subnet-0500b"];
const AZS: [&str; 2] = ["us-east-1a", "us-east-1b"];

/// Node `k`'s instance.
pub fn instance(k: usize) -> String {
    format!("i-0{k:016x}")
}

/// Node `k`'s Pod CIDR: the k-th /24 of the cluster CIDR (k < 3840; the top /20 is kept for
/// foreign routes inside the cluster CIDR).
pub fn pod_cidr(k: usize) -> String {
    assert!(k < 3840, "node index {k} would reach the foreign range");
    format!("10.{}.{}.0/24", 240 + k / 256, k % 256)
}

pub fn node_name(k: usize) -> String {
    format!("node-{k}")
}

/// Node `k` as the kubelet registers it, with its Pod CIDR set.
pub fn k8s_node(k: usize) -> serde_json::Value {
    node(&node_name(k))
        .pod_cidr(&pod_cidr(k))
        .provider_id(&format!("aws:///{}/{}", AZS[k % 2], instance(k)))
        .build()
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
    for (i, table) in TABLES.iter().enumerate() {
        w.add_subnet(SUBNETS[i], VPC, &format!("10.0.{}.0/24", i + 1), AZS[i])
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
    let now = foreign_routes(ec2);
    for (key, route) in before {
        assert_eq!(
            now.get(key),
            Some(route),
            "foreign route {key:?} was modified"
        );
    }
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

/// The leadership terms as the API server committed them, to judge writes against.
pub struct Terms {
    records: Vec<LeaseRecord>,
}

/// A write made outside its writer's valid term.
#[derive(Debug)]
pub struct TermViolation {
    pub writer: String,
    pub action: String,
    /// Offset from the first lease record.
    pub at: Duration,
    /// Who validly held the lease then, if anyone.
    pub holder: Option<String>,
}

impl Terms {
    pub fn new(records: Vec<LeaseRecord>) -> Self {
        Self { records }
    }

    /// Who validly held the lease at `t`: the holder of the last committed write at or before
    /// `t`, provided that write is younger than its lease duration (every renewal is a write).
    pub fn holder_at(&self, t: Instant) -> Option<&str> {
        let after = self.records.partition_point(|r| r.at <= t);
        let last = self.records.get(after.checked_sub(1)?)?;
        let valid = Duration::from_secs(
            u64::try_from(last.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
        );
        (t.duration_since(last.at) < valid)
            .then_some(last.holder.as_deref())
            .flatten()
    }

    /// When `identity` last committed a write to the lease before `t`.
    pub fn last_commit_by(&self, identity: &str, before: Instant) -> Option<Instant> {
        self.records
            .iter()
            .rev()
            .find(|r| r.at <= before && r.holder.as_deref() == Some(identity))
            .map(|r| r.at)
    }

    /// When the lease was first committed with `identity` as holder after `after`.
    pub fn first_commit_by(&self, identity: &str, after: Instant) -> Option<Instant> {
        self.records
            .iter()
            .find(|r| r.at >= after && r.holder.as_deref() == Some(identity))
            .map(|r| r.at)
    }

    /// Distinct holders in commit order (a holder appears again after someone else held it).
    pub fn handovers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.records {
            if let Some(h) = &r.holder
                && out.last() != Some(h)
            {
                out.push(h.clone());
            }
        }
        out
    }

    /// Every mutating call that arrived (or, if it took effect, was applied) while its writer
    /// did not validly hold the lease. `writer_of` maps a call's access key to the identity
    /// of the replica that used it.
    pub fn violations(
        &self,
        calls: &[Call],
        ec2_start: Instant,
        writer_of: impl Fn(&str) -> Option<String>,
    ) -> Vec<TermViolation> {
        let origin = self.records.first().map_or(ec2_start, |r| r.at);
        let mut out = Vec::new();
        for c in calls.iter().filter(|c| c.mutating) {
            let writer = c
                .access_key
                .as_deref()
                .and_then(&writer_of)
                .unwrap_or_else(|| format!("unknown key {:?}", c.access_key));
            let mut times = vec![ec2_start + c.at];
            if c.outcome == Outcome::Ok {
                times.push(ec2_start + c.answered);
            }
            for t in times {
                let holder = self.holder_at(t);
                if holder != Some(writer.as_str()) {
                    out.push(TermViolation {
                        writer: writer.clone(),
                        action: c.action.clone(),
                        at: t.saturating_duration_since(origin),
                        holder: holder.map(str::to_string),
                    });
                }
            }
        }
        out
    }
}

/// The access key a replica identity signs with, so the mock EC2 can tell who wrote.
pub fn access_key(identity: &str) -> String {
    let id: String = identity
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("AKIA{}", id.to_ascii_uppercase())
}

/// A small seeded PRNG (xorshift64*): reproducible schedules without another dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        lo + (hi - lo).mul_f64(self.unit())
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
}

/// Reads an env knob, falling back to `default`.
pub fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
