//! `swarm bench chain`'s table, saved rows and growth charts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::commands::bench::svg::{Chart, Series};

/// The figures at one chain size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Row {
    /// Settled bounties in the chain.
    pub(super) settled: usize,
    /// The database on disk (SQLite with its WAL, or PostgreSQL's database).
    pub(super) database_mb: Option<f64>,
    /// The node's resident memory once it answered `GET /status` (after
    /// the restart, before the reads); absent in rows saved before it was
    /// measured.
    #[serde(default)]
    pub(super) start_rss_mb: Option<f64>,
    /// The node's resident memory after the reads.
    pub(super) rss_mb: Option<f64>,
    /// Its peak resident memory.
    pub(super) peak_rss_mb: Option<f64>,
    /// SIGTERM, start on the same data, until `GET /status` answers.
    pub(super) restart_s: f64,
    /// `GET /bounties?state=finished&page=N`, random pages; absent in
    /// older rows.
    #[serde(default)]
    pub(super) listing_p50_ms: Option<f64>,
    /// Its 99th percentile.
    #[serde(default)]
    pub(super) listing_p99_ms: Option<f64>,
    /// `GET /bounties/{guid}`, random settled guids.
    pub(super) bounty_p50_ms: f64,
    /// Its 99th percentile.
    pub(super) bounty_p99_ms: f64,
    /// The explorer's overview page.
    pub(super) overview_p50_ms: f64,
    /// Its 99th percentile.
    pub(super) overview_p99_ms: f64,
    /// The explorer's page of a random settled bounty.
    pub(super) bounty_page_p50_ms: f64,
    /// Its 99th percentile.
    pub(super) bounty_page_p99_ms: f64,
    /// The first overview after the start (it catches the explorer's
    /// totals up with every settled bounty); absent in older rows.
    #[serde(default)]
    pub(super) first_overview_ms: Option<f64>,
    /// Events in the full replay.
    pub(super) replay_events: u64,
    /// Replay rate, events per second.
    pub(super) replay_events_per_s: f64,
    /// The machine's load average when measured.
    pub(super) load_average: String,
    /// The node's resident memory after each phase of the reads, in the
    /// order they ran; empty in older rows.
    #[serde(default)]
    pub(super) rss_after_mb: Vec<PhaseRss>,
}

/// Resident memory after one phase of the reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct PhaseRss {
    /// The phase, e.g. "first overview".
    pub(super) phase: String,
    /// VmRSS after it, MB.
    pub(super) mb: Option<f64>,
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}"))
}

/// Prints the rows as a Markdown table.
pub(super) fn print_table(rows: &[Row]) {
    println!(
        "| settled | DB MB | RSS at start MB | RSS MB | peak RSS MB | restart s | GET bounty p50/p99 ms | overview p50/p99 ms | bounty page p50/p99 ms | replay events | replay events/s | load avg |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {:.2} | {:.2} / {:.2} | {:.1} / {:.1} | {:.2} / {:.2} | {} | {:.0} | {} |",
            r.settled,
            opt(r.database_mb),
            opt(r.start_rss_mb),
            opt(r.rss_mb),
            opt(r.peak_rss_mb),
            r.restart_s,
            r.bounty_p50_ms,
            r.bounty_p99_ms,
            r.overview_p50_ms,
            r.overview_p99_ms,
            r.bounty_page_p50_ms,
            r.bounty_page_p99_ms,
            r.replay_events,
            r.replay_events_per_s,
            r.load_average,
        );
    }
    print_phases(rows);
}

/// Prints the first overview's time and the RSS after each phase of the
/// reads, for the rows that have them: where the memory after the reads
/// came from.
fn print_phases(rows: &[Row]) {
    let Some(phases) = rows.iter().find(|r| !r.rss_after_mb.is_empty()) else {
        return;
    };
    let names: Vec<&str> = phases
        .rss_after_mb
        .iter()
        .map(|p| p.phase.as_str())
        .collect();
    println!(
        "\n| settled | list page p50 / p99 ms | first overview ms | RSS at start MB | {} |",
        names
            .iter()
            .map(|n| format!("RSS after {n} MB"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---:|---:|---:|---:|{}", "---:|".repeat(names.len()));
    for r in rows.iter().filter(|r| !r.rss_after_mb.is_empty()) {
        let cells: Vec<String> = r.rss_after_mb.iter().map(|p| opt(p.mb)).collect();
        println!(
            "| {} | {} / {} | {} | {} | {} |",
            r.settled,
            opt(r.listing_p50_ms),
            opt(r.listing_p99_ms),
            opt(r.first_overview_ms),
            opt(r.start_rss_mb),
            cells.join(" | ")
        );
    }
}

/// `path` with `-suffix` added to its stem.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "chain".to_owned());
    path.with_file_name(format!("{stem}-{suffix}.svg"))
}

/// A figure of a chart: its name and how to read it from a row.
type Figure = (&'static str, fn(&Row) -> Option<f64>);

/// One series per (name, figure), this run's and the baseline's.
fn series(rows: &[Row], baseline: &[Row], figures: &[Figure]) -> Vec<Series> {
    let mut out = Vec::new();
    for (tag, set) in [("", rows), (" (before)", baseline)] {
        if set.is_empty() {
            continue;
        }
        for (name, f) in figures {
            out.push(Series {
                name: format!("{name}{tag}"),
                points: set
                    .iter()
                    .filter_map(|r| f(r).map(|y| (r.settled as f64, y)))
                    .collect(),
            });
        }
    }
    out
}

/// Writes the four growth charts beside `path`; returns their paths.
pub(super) fn write_charts(
    path: &Path,
    rows: &[Row],
    baseline: &[Row],
) -> anyhow::Result<Vec<PathBuf>> {
    let x_label = "settled bounties".to_owned();
    let charts = [
        (
            "memory",
            Chart {
                title: "Node memory and database size".to_owned(),
                x_label: x_label.clone(),
                y_label: "MB".to_owned(),
                log_x: true,
                series: series(
                    rows,
                    baseline,
                    &[
                        ("RSS at start", |r| r.start_rss_mb),
                        ("RSS", |r| r.rss_mb),
                        ("database", |r| r.database_mb),
                    ],
                ),
            },
        ),
        (
            "latency",
            Chart {
                title: "Read latency, p99".to_owned(),
                x_label: x_label.clone(),
                y_label: "ms".to_owned(),
                log_x: true,
                series: series(
                    rows,
                    baseline,
                    &[
                        ("GET bounty", |r| Some(r.bounty_p99_ms)),
                        ("overview", |r| Some(r.overview_p99_ms)),
                        ("bounty page", |r| Some(r.bounty_page_p99_ms)),
                    ],
                ),
            },
        ),
        (
            "restart",
            Chart {
                title: "Restart: SIGTERM to GET /status OK".to_owned(),
                x_label: x_label.clone(),
                y_label: "s".to_owned(),
                log_x: true,
                series: series(rows, baseline, &[("restart", |r| Some(r.restart_s))]),
            },
        ),
        (
            "replay",
            Chart {
                title: "Full /events?since=0 replay".to_owned(),
                x_label,
                y_label: "events/s".to_owned(),
                log_x: true,
                series: series(
                    rows,
                    baseline,
                    &[("replay", |r| Some(r.replay_events_per_s))],
                ),
            },
        ),
    ];
    let mut written = Vec::new();
    for (suffix, chart) in charts {
        let file = beside(path, suffix);
        chart.write(&file)?;
        written.push(file);
    }
    Ok(written)
}
