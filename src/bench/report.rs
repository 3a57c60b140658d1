//! The bench's results: JSON (machine-readable), a short table, and an SVG of convergence over
//! time per implementation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;

use super::cloud::BenchCall;
use super::scenario::{Impl, Options, caveat, count_by_action};
use crate::cli::common::CloudArg;

#[derive(Debug, Serialize)]
pub struct Report {
    pub cloud: &'static str,
    pub nodes: u32,
    pub tables: usize,
    pub time_scale: f64,
    pub latency_ms: f64,
    /// GCE: how long each route operation took at the mock before scaling (0 on AWS).
    pub op_delay_ms: f64,
    /// GCE: routeplane's budgets set by `--gce-*-budget`, by class, before scaling.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub gce_budgets: BTreeMap<&'static str, String>,
    /// Set when no real cloud could do what was measured (AWS past 1,000 routes per table).
    pub caveat: Option<String>,
    pub implementations: Vec<ImplReport>,
    /// routeplane's controller binary as its own process (`--process`).
    pub controller_process: Option<super::process::ProcessFigures>,
}

#[derive(Debug, Serialize)]
pub struct ImplReport {
    pub implementation: Impl,
    pub cold_start: ColdStart,
    pub steady: Option<Steady>,
    pub churn: Option<Churn>,
}

#[derive(Debug, Serialize)]
pub struct ColdStart {
    pub routes: usize,
    /// Wall-clock seconds at this time scale.
    pub seconds: f64,
    pub lower_bound_seconds: f64,
    pub efficiency: f64,
    pub calls: CallSplit,
    pub request_limit_exceeded: usize,
    pub budget_violations: usize,
    /// (seconds since start, routes converged), sampled every 100 ms.
    pub series: Vec<(f64, usize)>,
}

#[derive(Debug, Serialize)]
pub struct CallSplit {
    pub by_action: BTreeMap<String, usize>,
    pub mutating: usize,
    pub reads: usize,
    pub mutating_per_node: f64,
    pub reads_per_node: f64,
}

impl CallSplit {
    pub fn of(calls: &[BenchCall], nodes: usize) -> Self {
        let mutating = calls.iter().filter(|c| c.mutating).count();
        let reads = calls.len() - mutating;
        let per = |n: usize| n as f64 / nodes.max(1) as f64;
        Self {
            by_action: count_by_action(calls),
            mutating,
            reads,
            mutating_per_node: per(mutating),
            reads_per_node: per(reads),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Steady {
    pub periods: u32,
    pub by_action: BTreeMap<String, usize>,
    pub writes: usize,
    pub calls_per_period: f64,
}

impl Steady {
    pub fn of(window: &[BenchCall], periods: u32) -> Self {
        Self {
            periods,
            by_action: count_by_action(window),
            writes: window.iter().filter(|c| c.mutating).count(),
            calls_per_period: window.len() as f64 / f64::from(periods.max(1)),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Churn {
    pub replaced: usize,
    /// Events still unfinished when the churn window plus 3 (scaled) minutes ran out; they are
    /// not in the percentiles.
    pub unfinished: usize,
    /// Wall-clock milliseconds, from the Node with its podCIDR appearing to the route active in
    /// every table at the mock.
    pub event_to_route_ms_p50: f64,
    pub event_to_route_ms_p99: f64,
    /// From the Node's deletion to its routes gone from every table.
    pub stale_route_lifetime_ms_p99: f64,
    /// Model only: what was still wrong when the grace period after churn ran out (routeplane
    /// must end exact, or the run fails).
    pub not_exact_after: Option<String>,
}

/// The start of an SVG chart: the root element, a white background and the title at the top
/// left. The caller closes it with `</svg>`.
pub fn svg_open(w: f64, h: f64, pad: f64, title: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{pad}" y="24" font-size="14">{title}</text>"#);
    s
}

/// The `q` quantile (nearest rank) of `v`, 0 when empty.
pub fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

impl Report {
    pub fn new(
        opts: &Options,
        tables: usize,
        implementations: Vec<ImplReport>,
        controller_process: Option<super::process::ProcessFigures>,
    ) -> Self {
        let gce = opts.cloud == CloudArg::Gce;
        Self {
            cloud: if gce { "gce" } else { "aws" },
            nodes: opts.nodes,
            tables,
            time_scale: opts.time_scale,
            latency_ms: opts.latency.as_secs_f64() * 1000.0,
            op_delay_ms: if gce {
                opts.op_delay.as_secs_f64() * 1000.0
            } else {
                0.0
            },
            gce_budgets: opts
                .gce_budgets
                .iter()
                .map(|(class, spec)| (class.name(), spec.to_string()))
                .collect(),
            caveat: caveat(opts),
            implementations,
            controller_process,
        }
    }

    /// The short human-readable table.
    pub fn table(&self) -> Table {
        let mut t = Table::new();
        t.load_preset(UTF8_BORDERS_ONLY);
        let mut header = vec!["figure".to_string()];
        header.extend(
            self.implementations
                .iter()
                .map(|i| format!("{:?}", i.implementation)),
        );
        t.set_header(header);
        let row = |name: &str, f: &dyn Fn(&ImplReport) -> String| {
            let mut r = vec![name.to_string()];
            r.extend(self.implementations.iter().map(f));
            r
        };
        t.add_row(row("cold start: seconds (at this scale)", &|i| {
            format!("{:.2}", i.cold_start.seconds)
        }));
        t.add_row(row("lower bound, seconds", &|i| {
            format!("{:.2}", i.cold_start.lower_bound_seconds)
        }));
        t.add_row(row("efficiency", &|i| {
            format!("{:.3}", i.cold_start.efficiency)
        }));
        t.add_row(row("writes / node", &|i| {
            format!("{:.2}", i.cold_start.calls.mutating_per_node)
        }));
        t.add_row(row("reads / node", &|i| {
            format!("{:.2}", i.cold_start.calls.reads_per_node)
        }));
        t.add_row(row("refused by the rate limit", &|i| {
            i.cold_start.request_limit_exceeded.to_string()
        }));
        t.add_row(row("steady: calls / period", &|i| {
            i.steady
                .as_ref()
                .map_or("-".into(), |s| format!("{:.1}", s.calls_per_period))
        }));
        t.add_row(row("steady: writes", &|i| {
            i.steady
                .as_ref()
                .map_or("-".into(), |s| s.writes.to_string())
        }));
        t.add_row(row("churn: event→route p50 / p99 ms", &|i| {
            i.churn.as_ref().map_or("-".into(), |c| {
                format!(
                    "{:.0} / {:.0}",
                    c.event_to_route_ms_p50, c.event_to_route_ms_p99
                )
            })
        }));
        t.add_row(row("churn: stale route p99 ms", &|i| {
            i.churn.as_ref().map_or("-".into(), |c| {
                format!("{:.0}", c.stale_route_lifetime_ms_p99)
            })
        }));
        t.add_row(row("churn: unfinished / exact after", &|i| {
            i.churn.as_ref().map_or("-".into(), |c| {
                let exact = if c.not_exact_after.is_some() {
                    "NO"
                } else {
                    "yes"
                };
                format!("{} / {exact}", c.unfinished)
            })
        }));
        if let Some(p) = &self.controller_process {
            t.add_row(vec![
                "controller process: peak RSS / steady CPU".to_string(),
                format!(
                    "{:.1} MiB (anon peak {:.1}, file {:.1}) / {:.2} s over {} periods ({} build)",
                    p.peak_rss_mib,
                    p.peak_anon_mib,
                    p.file_mib,
                    p.steady_cpu_seconds,
                    p.steady_periods,
                    p.build
                ),
            ]);
        }
        t
    }

    /// The limits in force, for the plot's title.
    fn limits(&self) -> String {
        if self.cloud == "gce" {
            let budgets: String = self
                .gce_budgets
                .iter()
                .map(|(class, spec)| format!(", routeplane {class} {spec}"))
                .collect();
            format!(
                "Compute rate quotas, operations {} ms{budgets}",
                self.op_delay_ms
            )
        } else {
            "EC2 buckets".into()
        }
    }

    /// Convergence over time (routes converged against seconds), one line per implementation,
    /// with the buckets' lower bound as a dashed line.
    pub fn svg(&self) -> String {
        let (w, h, pad) = (720.0, 400.0, 60.0);
        let max_t = self
            .implementations
            .iter()
            .flat_map(|i| i.cold_start.series.last().map(|p| p.0))
            .fold(1e-3, f64::max);
        let max_r = self
            .implementations
            .iter()
            .map(|i| i.cold_start.routes)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let x = |t: f64| pad + t / max_t * (w - 2.0 * pad);
        let y = |r: f64| h - pad - r / max_r * (h - 2.0 * pad);
        let mut s = svg_open(
            w,
            h,
            pad,
            &format!(
                "Cold start: {} nodes × {} {}, {}, {} ms/call, time scale {}",
                self.nodes,
                self.tables,
                if self.cloud == "gce" {
                    "network"
                } else {
                    "tables"
                },
                self.limits(),
                self.latency_ms,
                self.time_scale
            ),
        );
        if self.caveat.is_some() {
            let _ = writeln!(
                s,
                r##"<text x="{pad}" y="40" fill="#d62728">Stress test: real EC2 stops at 1,000 routes per table.</text>"##
            );
        }
        let _ = writeln!(
            s,
            r#"<line x1="{pad}" y1="{}" x2="{}" y2="{}" stroke="black"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{}" stroke="black"/>"#,
            h - pad,
            w - pad,
            h - pad,
            h - pad
        );
        for i in 0..=4 {
            let f = f64::from(i) / 4.0;
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{:.1}</text><text x="{}" y="{:.1}" text-anchor="end">{:.0}</text>"#,
                x(f * max_t),
                h - pad + 16.0,
                f * max_t,
                pad - 6.0,
                y(f * max_r) + 4.0,
                f * max_r
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">seconds (wall clock at this time scale)</text><text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">routes converged</text>"#,
            w / 2.0,
            h - 16.0,
            h / 2.0,
            h / 2.0
        );
        let colours = ["#1f77b4", "#d62728", "#2ca02c"];
        for (n, imp) in self.implementations.iter().enumerate() {
            let c = colours[n % colours.len()];
            let points: Vec<String> = imp
                .cold_start
                .series
                .iter()
                .map(|(t, r)| format!("{:.1},{:.1}", x(*t), y(*r as f64)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"#,
                points.join(" ")
            );
            let b = imp.cold_start.lower_bound_seconds;
            let _ = writeln!(
                s,
                r#"<line x1="{:.1}" y1="{pad}" x2="{:.1}" y2="{}" stroke="{c}" stroke-dasharray="4 4"/>"#,
                x(b),
                x(b),
                h - pad
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" fill="{c}">{:?}: {:.2} s, efficiency {:.3} (dashed: rate-limit bound)</text>"#,
                pad + 10.0,
                pad + 16.0 * (n as f64 + 1.0),
                imp.implementation,
                imp.cold_start.seconds,
                imp.cold_start.efficiency
            );
        }
        s.push_str("</svg>\n");
        s
    }
}
