//! `lab bench` results: JSON (every round of every path), a short table in the style of
//! `routeplane bench`, and an SVG bar chart written by hand (no plotting dependency).

use std::fmt::Write as _;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::{Deserialize, Serialize};

use super::measure::Throughput;
use super::paths::Path;
use crate::bench::report::{percentile, svg_open};

#[derive(Debug, Serialize, Deserialize)]
pub struct BenchReport {
    pub rounds: u32,
    pub seconds_per_test: u32,
    pub pings_per_round: u32,
    /// `iperf3 --version`'s first line.
    pub iperf3: String,
    pub kernel: String,
    pub cpus: usize,
    /// How this routeplane binary was built (the CNI plugin is built the same way).
    pub build: String,
    /// Seconds since the Unix epoch when the run started.
    pub started_unix: u64,
    pub paths: Vec<PathReport>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PathReport {
    #[serde(flatten)]
    pub path: Path,
    /// Largest unfragmented IP packet, by don't-fragment ping bisection.
    pub mtu: Option<u32>,
    /// Whether a 1500-byte and a 1450-byte don't-fragment ping got through.
    pub df_1500: bool,
    pub df_1450: bool,
    pub rounds: Vec<Round>,
    pub median: Medians,
}

/// One round on one path: a single-stream test, a 4-stream test, a burst of pings.
#[derive(Debug, Serialize, Deserialize)]
pub struct Round {
    pub single: Throughput,
    pub four: Throughput,
    /// Median round-trip time of this round's pings.
    pub ping_ms: f64,
    pub ping_lost: u32,
}

/// Picks one figure out of the medians (a bar group of the chart).
type Figure = fn(&Medians) -> f64;

/// Medians over the rounds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Medians {
    pub single_gbps: f64,
    pub four_gbps: f64,
    pub single_retransmits: f64,
    pub single_cpu_sender_percent: f64,
    pub ping_ms: f64,
}

/// The median (nearest rank) of `f` over `items`.
pub fn median<T>(items: &[T], f: impl Fn(&T) -> f64) -> f64 {
    let mut v: Vec<f64> = items.iter().map(f).collect();
    percentile(&mut v, 0.5)
}

impl Medians {
    pub fn of(rounds: &[Round]) -> Self {
        Self {
            single_gbps: median(rounds, |r| r.single.bits_per_second) / 1e9,
            four_gbps: median(rounds, |r| r.four.bits_per_second) / 1e9,
            single_retransmits: median(rounds, |r| r.single.retransmits as f64),
            single_cpu_sender_percent: median(rounds, |r| r.single.cpu_sender_percent),
            ping_ms: median(rounds, |r| r.ping_ms),
        }
    }
}

impl BenchReport {
    fn veth(&self) -> Option<&PathReport> {
        self.paths.iter().find(|p| p.path.name == "veth")
    }

    /// The short human-readable table: one column per path.
    pub fn table(&self) -> Table {
        let mut t = Table::new();
        t.load_preset(UTF8_BORDERS_ONLY);
        let mut header = vec![format!(
            "medians of {} rounds × {} s",
            self.rounds, self.seconds_per_test
        )];
        header.extend(self.paths.iter().map(|p| p.path.name.to_string()));
        t.set_header(header);
        let row = |name: &str, f: &dyn Fn(&PathReport) -> String| {
            let mut r = vec![name.to_string()];
            r.extend(self.paths.iter().map(f));
            r
        };
        let yes = |b: bool| if b { "passes" } else { "refused" };
        t.add_row(row("path MTU (DF ping bisection)", &|p| {
            p.mtu.map_or("none".into(), |m| m.to_string())
        }));
        t.add_row(row("DF ping 1500 / 1450 bytes", &|p| {
            format!("{} / {}", yes(p.df_1500), yes(p.df_1450))
        }));
        let veth = self
            .veth()
            .map(|v| (v.median.single_gbps, v.median.four_gbps));
        let share = |x: f64, of: Option<f64>| {
            of.filter(|v| *v > 0.0)
                .map_or(String::new(), |v| format!(" ({:.0}%)", 100.0 * x / v))
        };
        t.add_row(row("TCP 1 stream, Gbit/s (% of veth)", &|p| {
            format!(
                "{:.2}{}",
                p.median.single_gbps,
                share(p.median.single_gbps, veth.map(|v| v.0))
            )
        }));
        t.add_row(row("TCP 4 streams, Gbit/s (% of veth)", &|p| {
            format!(
                "{:.2}{}",
                p.median.four_gbps,
                share(p.median.four_gbps, veth.map(|v| v.1))
            )
        }));
        t.add_row(row("1 stream: retransmits", &|p| {
            format!("{:.0}", p.median.single_retransmits)
        }));
        t.add_row(row("1 stream: sender CPU % (per Gbit/s)", &|p| {
            let per = p.median.single_cpu_sender_percent / p.median.single_gbps.max(1e-9);
            format!("{:.0} ({per:.1})", p.median.single_cpu_sender_percent)
        }));
        t.add_row(row("ping RTT, µs", &|p| {
            format!("{:.0}", p.median.ping_ms * 1000.0)
        }));
        t
    }

    /// Grouped bars: throughput (1 and 4 streams) per path on the left, ping RTT on the right.
    pub fn svg(&self) -> String {
        let (w, h, pad) = (760.0, 400.0, 60.0);
        let split = 520.0;
        let colours = ["#1f77b4", "#d62728", "#7f7f7f"];
        let mut s = svg_open(
            w,
            h,
            pad,
            &format!(
                "Pod to pod across two nodes: medians of {} rounds × {} s, {} CPUs, {} build",
                self.rounds, self.seconds_per_test, self.cpus, self.build
            ),
        );
        let groups: [(&str, Figure); 2] = [
            ("TCP, 1 stream", |m| m.single_gbps),
            ("TCP, 4 streams", |m| m.four_gbps),
        ];
        let max_g = self
            .paths
            .iter()
            .flat_map(|p| groups.iter().map(|g| (g.1)(&p.median)))
            .fold(1e-3, f64::max);
        let max_ms = self
            .paths
            .iter()
            .map(|p| p.median.ping_ms)
            .fold(1e-6, f64::max);
        let base = h - pad;
        // Headroom above the tallest bar for its label, below the legend.
        let bar_h = |v: f64, max: f64| v / max * (h - 2.0 * pad - 60.0);
        let bar = |s: &mut String, x: f64, v: f64, max: f64, c: &str, label: String| {
            let bh = bar_h(v, max);
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="36" height="{bh:.1}" fill="{c}"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
                base - bh,
                x + 18.0,
                base - bh - 4.0
            );
        };
        let _ = writeln!(
            s,
            r#"<line x1="{pad}" y1="{base}" x2="{}" y2="{base}" stroke="black"/><line x1="{}" y1="{base}" x2="{}" y2="{base}" stroke="black"/>"#,
            split - 20.0,
            split + 20.0,
            w - 20.0
        );
        for (g, (label, f)) in groups.iter().enumerate() {
            let gx = pad + 20.0 + g as f64 * 220.0;
            for (n, p) in self.paths.iter().enumerate() {
                let v = f(&p.median);
                bar(
                    &mut s,
                    gx + n as f64 * 44.0,
                    v,
                    max_g,
                    colours[n % colours.len()],
                    format!("{v:.2}"),
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{label}, Gbit/s</text>"#,
                gx + 66.0,
                base + 18.0
            );
        }
        for (n, p) in self.paths.iter().enumerate() {
            let us = p.median.ping_ms * 1000.0;
            bar(
                &mut s,
                split + 30.0 + n as f64 * 44.0,
                p.median.ping_ms,
                max_ms,
                colours[n % colours.len()],
                format!("{us:.0}"),
            );
            let _ = writeln!(
                s,
                r#"<rect x="{}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{}" y="{:.1}">{} (MTU {})</text>"#,
                pad,
                36.0 + 16.0 * n as f64,
                colours[n % colours.len()],
                pad + 18.0,
                46.0 + 16.0 * n as f64,
                p.path.name,
                p.mtu.map_or("none".into(), |m| m.to_string())
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">ping RTT, µs</text>"#,
            split + 96.0,
            base + 18.0
        );
        s.push_str("</svg>\n");
        s
    }
}
