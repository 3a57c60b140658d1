//! The connectivity matrix: from every pod and node to every pod and node (node→node aside, it
//! is not a pod-network requirement), one ICMP echo (`ping`) and one TCP exchange with the
//! receiver's echo server, which reports the source address it saw. Each cell is compared with
//! what should happen — everything reachable, except pods of nodes that have no route (after a
//! node is deleted) from anywhere but their own node — and each Kubernetes network-model
//! requirement gets a PASS/FAIL line.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::echo;
use super::shell::{ip_in, run_in};
use super::topology::Lab;

/// Whether an endpoint is a pod or a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pod,
    Node,
}

/// One end of a probe.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `n0p1` for pods, `n0` for nodes.
    pub label: String,
    pub kind: Kind,
    pub netns: String,
    /// The address probed.
    pub ip: IpAddr,
    /// The node it lives on.
    pub node: String,
    /// Every address that counts as "its own" as a source (a node also owns its bridge
    /// gateway address, which it uses towards its own pods).
    pub own: Vec<IpAddr>,
}

/// Every pod and node of `lab` as endpoints.
///
/// # Errors
/// `ip` failing to list a node's addresses.
pub fn endpoints(lab: &Lab) -> anyhow::Result<Vec<Endpoint>> {
    let mut out = Vec::new();
    for n in &lab.nodes {
        for p in lab.pods.iter().filter(|p| p.node == n.name) {
            out.push(Endpoint {
                label: p.name.clone(),
                kind: Kind::Pod,
                netns: p.netns.clone(),
                ip: p.ip,
                node: n.name.clone(),
                own: vec![p.ip],
            });
        }
    }
    for n in &lab.nodes {
        out.push(Endpoint {
            label: n.name.clone(),
            kind: Kind::Node,
            netns: n.netns.clone(),
            ip: IpAddr::V4(n.ip),
            node: n.name.clone(),
            own: local_addresses(&n.netns)?,
        });
    }
    Ok(out)
}

fn local_addresses(netns: &str) -> anyhow::Result<Vec<IpAddr>> {
    let text = ip_in(netns, &["-j", "-4", "addr", "show"])?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str().and_then(|s| s.parse().ok()))
        .collect())
}

/// What one probe found.
#[derive(Debug, Clone)]
pub struct Cell {
    pub src: usize,
    pub dst: usize,
    pub expect_reachable: bool,
    pub icmp: bool,
    /// The source address the receiver's echo server saw, if TCP got through.
    pub seen: Option<IpAddr>,
}

impl Cell {
    fn tcp(&self) -> bool {
        self.seen.is_some()
    }
}

/// The full result.
#[derive(Debug)]
pub struct Matrix {
    pub endpoints: Vec<Endpoint>,
    pub cells: Vec<Cell>,
}

/// Probes every (source, destination) pair with `workers` threads. `unrouted` nodes' pods are
/// expected unreachable from (and to) other nodes.
pub fn run(endpoints: Vec<Endpoint>, unrouted: &BTreeSet<String>) -> Matrix {
    let mut todo = Vec::new();
    for (s, src) in endpoints.iter().enumerate() {
        for (d, dst) in endpoints.iter().enumerate() {
            if s == d || (src.kind == Kind::Node && dst.kind == Kind::Node) {
                continue;
            }
            let cut = |e: &Endpoint| e.kind == Kind::Pod && unrouted.contains(&e.node);
            let expect = src.node == dst.node || !(cut(src) || cut(dst));
            todo.push((s, d, expect));
        }
    }
    let queue = Mutex::new(todo);
    let done = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                // A function call, so the queue's lock is released before the probe runs.
                let next = || queue.lock().ok().and_then(|mut q| q.pop());
                while let Some((s, d, expect)) = next() {
                    let (src, dst) = (&endpoints[s], &endpoints[d]);
                    let cell = Cell {
                        src: s,
                        dst: d,
                        expect_reachable: expect,
                        icmp: ping(&src.netns, dst.ip),
                        seen: echo::ask(&src.netns, dst.ip, Duration::from_secs(1)).ok(),
                    };
                    if let Ok(mut v) = done.lock() {
                        v.push(cell);
                    }
                }
            });
        }
    });
    let mut cells = done.into_inner().unwrap_or_default();
    cells.sort_by_key(|c| (c.src, c.dst));
    Matrix { endpoints, cells }
}

/// One ICMP echo from `netns` to `ip`, one second to answer.
pub fn ping(netns: &str, ip: IpAddr) -> bool {
    run_in(netns, &["ping", "-c1", "-W1", "-q", &ip.to_string()]).is_ok_and(|o| o.status.success())
}

/// A requirement's verdict.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub requirement: &'static str,
    pub pass: bool,
    pub detail: String,
}

impl Matrix {
    fn ok(&self, c: &Cell) -> bool {
        if c.expect_reachable {
            c.icmp && c.tcp()
        } else {
            !c.icmp && !c.tcp()
        }
    }

    fn source_kept(&self, c: &Cell) -> bool {
        c.seen
            .is_none_or(|ip| self.endpoints[c.src].own.contains(&ip))
    }

    /// The three requirements of the Kubernetes network model, judged on the cells.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let class = |f: &dyn Fn(&Endpoint, &Endpoint) -> bool| -> Vec<&Cell> {
            self.cells
                .iter()
                .filter(|c| f(&self.endpoints[c.src], &self.endpoints[c.dst]))
                .collect()
        };
        let judge = |requirement, cells: Vec<&Cell>, ok: &dyn Fn(&Cell) -> bool, what: &str| {
            let good = cells.iter().filter(|c| ok(c)).count();
            Verdict {
                requirement,
                pass: !cells.is_empty() && good == cells.len(),
                detail: format!("{good}/{} {what}", cells.len()),
            }
        };
        let pod_pod = class(&|s, d| s.kind == Kind::Pod && d.kind == Kind::Pod);
        let same = pod_pod
            .iter()
            .filter(|c| self.endpoints[c.src].node == self.endpoints[c.dst].node)
            .count();
        let mut v1 = judge(
            "1. every pod reaches every pod, on the same node and across nodes",
            pod_pod,
            &|c| self.ok(c),
            "pod→pod pairs as expected (ICMP + TCP)",
        );
        let _ = write!(v1.detail, ", {same} of them on the same node");
        let v2 = judge(
            "2. every node reaches every pod, and every pod every node",
            class(&|s, d| s.kind != d.kind),
            &|c| self.ok(c),
            "node→pod and pod→node pairs as expected (ICMP + TCP)",
        );
        let answered: Vec<&Cell> = self.cells.iter().filter(|c| c.tcp()).collect();
        let v3 = judge(
            "3. the receiver sees the sender's own IP (no NAT)",
            answered,
            &|c| self.source_kept(c),
            "TCP receivers saw the sender's own address",
        );
        vec![v1, v2, v3]
    }

    /// Whether every cell is as expected and every requirement passes.
    pub fn passed(&self) -> bool {
        self.verdicts().iter().all(|v| v.pass)
    }

    /// Sources down, destinations across: `✓` reachable by ICMP and TCP with the sender's own
    /// IP seen; `–` unreachable as expected; anything else names what went wrong.
    pub fn render(&self) -> String {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        let mut header = vec!["from \\ to".to_string()];
        header.extend(self.endpoints.iter().map(|e| e.label.clone()));
        t.set_header(header);
        for (s, src) in self.endpoints.iter().enumerate() {
            let mut row = vec![src.label.clone()];
            for d in 0..self.endpoints.len() {
                let text = match self.cells.iter().find(|c| c.src == s && c.dst == d) {
                    None => "·".to_string(),
                    Some(c) => self.symbol(c),
                };
                row.push(text);
            }
            t.add_row(row);
        }
        let mut out = String::new();
        for e in &self.endpoints {
            let _ = write!(out, "{}={}  ", e.label, e.ip);
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "{t}");
        let _ = writeln!(
            out,
            "✓ ICMP + TCP, sender's own IP seen   – unreachable, as expected   · not probed"
        );
        out
    }

    fn symbol(&self, c: &Cell) -> String {
        match (c.expect_reachable, c.icmp, c.tcp()) {
            (true, true, true) if self.source_kept(c) => "✓".into(),
            (true, true, true) => {
                format!("NAT {}", c.seen.map(|i| i.to_string()).unwrap_or_default())
            }
            (false, false, false) => "–".into(),
            (false, _, _) => "✗ reachable".into(),
            (true, false, false) => "✗".into(),
            (true, false, true) => "✗ icmp".into(),
            (true, true, false) => "✗ tcp".into(),
        }
    }

    /// The verdict lines, `[PASS]`/`[FAIL]`.
    pub fn render_verdicts(&self) -> String {
        let mut out = String::new();
        for v in self.verdicts() {
            let _ = writeln!(
                out,
                "[{}] {}: {}",
                if v.pass { "PASS" } else { "FAIL" },
                v.requirement,
                v.detail
            );
        }
        out
    }
}
