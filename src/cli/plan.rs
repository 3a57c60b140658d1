//! `routeplane plan`: one read-only look at the cluster and the cloud, printed as the diff the
//! controller would apply. It never writes. Exit code 0: nothing to change; 2: changes pending.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use routeplane_core::plan::Plan;

use super::common::ClusterArgs;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
}

pub async fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let seen = args.cluster.observe().await?;
    let (p, snapshot, nodes) = (seen.plan, seen.snapshot, seen.infos);
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&p).context("encoding the plan")?
        ),
        Output::Text => print!("{}", render(&p, snapshot.tables.len(), nodes.len())),
    }
    Ok(if p.is_noop() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// The plan as a human reads it: one line per change, then what blocks what.
pub fn render(p: &Plan, tables: usize, nodes: usize) -> String {
    let mut out = String::new();
    for d in &p.create {
        out += &format!(
            "+ create  {:<20} {:<22} → {} (node {})\n",
            d.table, d.destination, d.target, d.node
        );
    }
    for r in &p.replace {
        let d = &r.desired;
        out += &format!(
            "~ replace {:<20} {:<22} {} ({:?}) → {} (node {})\n",
            d.table, d.destination, r.existing.target, r.existing.state, d.target, d.node
        );
    }
    for r in &p.delete {
        out += &format!(
            "- delete  {:<20} {:<22} → {} (stale)\n",
            r.table, r.destination, r.target
        );
    }
    for c in &p.conflicts {
        out += &format!(
            "! conflict {} {} → {} blocks node {} ({}), left untouched\n",
            c.route.table,
            c.route.destination,
            c.route.target,
            c.node,
            c.reason.as_str()
        );
    }
    for u in &p.unroutable {
        out += &format!("! unroutable node {}: {}\n", u.node, u.reason);
    }
    out += &format!(
        "{} to create, {} to replace, {} to delete, {} in sync, {} conflicts, {} unroutable ({} nodes, {} tables)\n",
        p.create.len(),
        p.replace.len(),
        p.delete.len(),
        p.in_sync.len(),
        p.conflicts.len(),
        p.unroutable.len(),
        nodes,
        tables
    );
    out
}
