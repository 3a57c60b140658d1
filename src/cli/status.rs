//! `routeplane status`: one row per node with its Pod CIDRs, the state of its route in every
//! managed table, its `NetworkUnavailable` condition and why, then a summary of nodes routed and
//! table capacity used. Read-only; `-o json` gives the same data for scripts.

use std::collections::BTreeMap;

use anyhow::Context;
use clap::Args;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use routeplane_core::controller::nodes::node_info;
use routeplane_core::plan::{ConflictReason, Plan};
use routeplane_core::{RouteSnapshot, RouteState};
use serde::Serialize;

use super::common::ClusterArgs;
use super::plan::Output;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Serialize)]
struct NodeStatus {
    name: String,
    pod_cidrs: Vec<String>,
    /// Table → `ok`, `missing`, `quota`, `wrong-target`, `blackhole`, `conflict`, `unroutable`.
    routes: BTreeMap<String, String>,
    network_unavailable: Option<String>,
    reason: Option<String>,
    message: Option<String>,
}

#[derive(Serialize)]
struct TableStatus {
    id: String,
    routes: usize,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct Status {
    nodes: Vec<NodeStatus>,
    tables: Vec<TableStatus>,
    routed: usize,
    total: usize,
}

/// The state of every (node, table) pair, from the plan.
fn route_states(p: &Plan, snapshot: &RouteSnapshot) -> BTreeMap<(String, String), &'static str> {
    let full = |table: &str| {
        snapshot
            .tables
            .iter()
            .find(|t| t.id.0 == table)
            .and_then(|t| t.route_limit)
            .is_some_and(|limit| {
                snapshot
                    .routes
                    .iter()
                    .filter(|r| r.table.0 == table)
                    .count()
                    >= limit
            })
    };
    let mut states = BTreeMap::new();
    for d in &p.in_sync {
        states.insert((d.node.clone(), d.table.0.clone()), "ok");
    }
    for d in &p.create {
        states.insert(
            (d.node.clone(), d.table.0.clone()),
            if full(&d.table.0) { "quota" } else { "missing" },
        );
    }
    for r in &p.replace {
        let state = if r.existing.state == RouteState::Blackhole {
            "blackhole"
        } else {
            "wrong-target"
        };
        states.insert((r.desired.node.clone(), r.desired.table.0.clone()), state);
    }
    for c in p
        .conflicts
        .iter()
        .filter(|c| c.reason == ConflictReason::ForeignRouteAtPodCidr)
    {
        states.insert((c.node.clone(), c.route.table.0.clone()), "conflict");
    }
    for u in &p.unroutable {
        for t in &snapshot.tables {
            states.insert((u.node.clone(), t.id.0.clone()), "unroutable");
        }
    }
    states
}

pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let seen = args.cluster.observe().await?;
    let (p, snapshot, list) = (seen.plan, seen.snapshot, seen.nodes);
    let states = route_states(&p, &snapshot);

    let mut nodes = Vec::new();
    for node in &list {
        let Some(info) = node_info(node) else {
            continue;
        };
        let condition = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "NetworkUnavailable"));
        let routes = snapshot
            .tables
            .iter()
            .map(|t| {
                let s = states.get(&(info.name.clone(), t.id.0.clone())).copied();
                (
                    t.id.0.clone(),
                    s.unwrap_or(if info.pod_cidrs.is_empty() {
                        "pending"
                    } else {
                        "-"
                    })
                    .to_string(),
                )
            })
            .collect();
        nodes.push(NodeStatus {
            name: info.name.clone(),
            pod_cidrs: info.pod_cidrs.iter().map(ToString::to_string).collect(),
            routes,
            network_unavailable: condition.map(|c| c.status.clone()),
            reason: condition.and_then(|c| c.reason.clone()),
            message: condition
                .and_then(|c| c.message.clone())
                .filter(|_| condition.is_some_and(|c| c.status == "True")),
        });
    }
    let routed = nodes
        .iter()
        .filter(|n| !n.routes.is_empty() && n.routes.values().all(|s| s == "ok"))
        .count();
    let tables = snapshot
        .tables
        .iter()
        .map(|t| TableStatus {
            id: t.id.0.clone(),
            routes: snapshot.routes.iter().filter(|r| r.table == t.id).count(),
            limit: t.route_limit,
        })
        .collect();
    let status = Status {
        total: nodes.len(),
        routed,
        nodes,
        tables,
    };
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&status).context("encoding the status")?
        ),
        Output::Text => print!("{}", render(&status)),
    }
    Ok(())
}

fn render(s: &Status) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    let mut header = vec!["node".to_string(), "podCIDRs".into()];
    header.extend(s.tables.iter().map(|t| t.id.clone()));
    header.extend(["NetworkUnavailable".into(), "last error".into()]);
    t.set_header(header);
    for n in &s.nodes {
        let mut row = vec![n.name.clone(), n.pod_cidrs.join(",")];
        row.extend(
            s.tables
                .iter()
                .map(|t| n.routes.get(&t.id).cloned().unwrap_or_default()),
        );
        row.push(match (&n.network_unavailable, &n.reason) {
            (Some(st), Some(r)) => format!("{st} ({r})"),
            (Some(st), None) => st.clone(),
            _ => "-".into(),
        });
        row.push(n.message.clone().unwrap_or_default());
        t.add_row(row);
    }
    let capacity: Vec<String> = s
        .tables
        .iter()
        .map(|t| match t.limit {
            Some(l) => format!("{} {}/{}", t.id, t.routes, l),
            None => format!("{} {}", t.id, t.routes),
        })
        .collect();
    format!(
        "{t}\n{} of {} nodes routed; table capacity: {}\n",
        s.routed,
        s.total,
        capacity.join(", ")
    )
}
