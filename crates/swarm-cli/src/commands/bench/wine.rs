//! `swarm bench wine`: what running a scanner under Wine costs per scan,
//! against the same scanner run natively, in the same run.
//!
//! The wine engine is worth its complexity only if Wine's overhead is small
//! beside a real scanner's own time; the fair reference is the same
//! program compiled for Linux and run as a command engine. So the test
//! scanner (`swarm_engines::test_scanner`: one C source) is built twice —
//! with MinGW-w64 for Windows and with gcc for Linux — and measured on the
//! same artifact (the EICAR file, so both print a JSON verdict line):
//!
//! - **prefix initialisation**: the wine engine's setup on a fresh prefix
//!   in a temporary directory (`wineserver -p`, `wineboot --init`, the
//!   `Z:` checks) — what the first start of an engine on a machine pays;
//! - **first scan** right after that setup;
//! - **steady state**: `--scans` scans of each side, alternating wine and
//!   native one at a time, each from the artifact's bytes to its verdict
//!   (temporary file included); medians, p90 and the ratio;
//! - **cold wineserver**: `--cold` times, the prefix's wineserver is
//!   stopped (`wineserver -k` on the bench's own prefix, `-w` until it is
//!   gone), then one scan is timed: what every scan would pay without the
//!   persistent server, if scans were further apart than Wine's linger.
//!
//! Both sides must give the same verdict on every scan, or the bench fails.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use swarm_engines::test_scanner::{self, Toolchain};
use swarm_engines::{CommandScanner, Wine, WineConfig, EICAR};
use swarm_protocol::{ArtifactMetadata, Guid};
use swarm_sdk::{Artifact, ArtifactKind, Scanner, Verdict};

use super::stats::{median, ms};

/// Flags of `swarm bench wine`.
#[derive(Args, Clone, Debug)]
pub(crate) struct WineBenchArgs {
    /// Timed steady-state scans of each side; the report gives medians.
    #[arg(long, default_value_t = 100)]
    scans: usize,
    /// Scans timed with a cold wineserver.
    #[arg(long, default_value_t = 3)]
    cold: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Latencies of one kind of scan, in milliseconds.
#[derive(Debug, Serialize)]
struct Latencies {
    /// What was timed.
    name: String,
    /// Every sample.
    samples_ms: Vec<f64>,
    /// Their median.
    median_ms: f64,
    /// Their 90th percentile (nearest rank).
    p90_ms: f64,
}

impl Latencies {
    fn new(name: impl Into<String>, mut samples: Vec<f64>) -> Latencies {
        let median_ms = median(&mut samples);
        let rank = ((0.9 * samples.len() as f64).ceil() as usize).clamp(1, samples.len().max(1));
        let p90_ms = samples.get(rank - 1).copied().unwrap_or(f64::NAN);
        Latencies {
            name: name.into(),
            samples_ms: samples,
            median_ms,
            p90_ms,
        }
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    wine_version: String,
    cores: usize,
    prefix_init_ms: f64,
    first_scan_ms: f64,
    steady: Vec<Latencies>,
    cold_server: Latencies,
    /// Median wine scan over median native scan.
    steady_ratio: f64,
    /// Median wine scan minus median native scan.
    steady_overhead_ms: f64,
}

fn artifact() -> Artifact {
    Artifact {
        bounty_guid: Guid::nil(),
        index: 0,
        kind: ArtifactKind::File,
        content: bytes::Bytes::from_static(&EICAR[..]),
        file: None,
        metadata: ArtifactMetadata::default(),
        deadline: None,
    }
}

/// One timed scan, which must find EICAR: milliseconds.
async fn timed<S: Scanner>(scanner: &S, side: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let result = scanner
        .scan(&artifact())
        .await
        .with_context(|| format!("{side}: the scan failed"))?;
    let took = ms(started.elapsed());
    if result.verdict != Verdict::Malicious {
        bail!("{side}: EICAR scanned {:?}", result.verdict);
    }
    Ok(took)
}

/// Runs `wineserver ARG` for `prefix` and waits for it.
async fn wineserver(prefix: &std::path::Path, arg: &str) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("wineserver")
        .arg(arg)
        .env("WINEPREFIX", prefix)
        .status()
        .await
        .with_context(|| format!("cannot run wineserver {arg}"))?;
    if !status.success() {
        bail!("wineserver {arg} failed: {status}");
    }
    Ok(())
}

/// Runs `swarm bench wine`.
pub(crate) async fn run(args: WineBenchArgs) -> anyhow::Result<()> {
    if args.scans == 0 || args.cold == 0 {
        bail!("--scans and --cold must be at least 1");
    }
    let dir = tempfile::Builder::new()
        .prefix("swarm-bench-wine-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let exe = test_scanner::build(Toolchain::MingwW64, dir.path())
        .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
    let native = test_scanner::build(Toolchain::Native, dir.path())
        .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
    let prefix = dir.path().join("prefix");
    let timeout = Duration::from_secs(120);
    let mut config = WineConfig::new(&exe, &prefix);
    config.timeout = timeout;
    let wine = Wine::new(config);
    let native_text = native.to_string_lossy().replace('\'', "'\\''");
    let command = CommandScanner::new(format!("'{native_text}'"), timeout);
    let result = measure(&args, &wine, &command, &prefix).await;
    // The bench's prefix goes with its directory; so does its server.
    let _ = wineserver(&prefix, "-k").await;
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &args);
    }
    Ok(())
}

async fn measure(
    args: &WineBenchArgs,
    wine: &Wine,
    command: &CommandScanner,
    prefix: &std::path::Path,
) -> anyhow::Result<Report> {
    eprintln!("wine: initialising a fresh prefix in {}", prefix.display());
    let started = Instant::now();
    wine.prepare()
        .await
        .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
    let prefix_init_ms = ms(started.elapsed());
    let first_scan_ms = timed(wine, "wine").await?;

    eprintln!("wine: {} steady scans of each side", args.scans);
    // A few untimed scans of each side first (page cache, Wine's DLLs).
    for _ in 0..5 {
        timed(wine, "wine").await?;
        timed(command, "native").await?;
    }
    let (mut on_wine, mut on_linux) = (Vec::new(), Vec::new());
    for _ in 0..args.scans {
        on_wine.push(timed(wine, "wine").await?);
        on_linux.push(timed(command, "native").await?);
    }

    eprintln!("wine: {} scans with a cold wineserver", args.cold);
    let mut cold = Vec::new();
    for _ in 0..args.cold {
        wineserver(prefix, "-k").await?;
        wineserver(prefix, "-w").await?;
        cold.push(timed(wine, "wine, cold wineserver").await?);
    }

    let wine_side = Latencies::new("wine engine (MinGW-w64 build under Wine)", on_wine);
    let native_side = Latencies::new("command engine (gcc build, native)", on_linux);
    let version = tokio::process::Command::new("wine")
        .arg("--version")
        .output()
        .await
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    Ok(Report {
        wine_version: version,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        prefix_init_ms,
        first_scan_ms,
        steady_ratio: wine_side.median_ms / native_side.median_ms,
        steady_overhead_ms: wine_side.median_ms - native_side.median_ms,
        steady: vec![wine_side, native_side],
        cold_server: Latencies::new("wine engine, wineserver stopped before each scan", cold),
    })
}

fn print_report(report: &Report, args: &WineBenchArgs) {
    println!(
        "{}; {} cores; the EICAR file, one scan at a time",
        report.wine_version, report.cores
    );
    println!(
        "fresh prefix (wineserver -p, wineboot --init, Z: checks): {:.0} ms",
        report.prefix_init_ms
    );
    println!("first scan after setup: {:.1} ms", report.first_scan_ms);
    println!();
    println!(
        "| {:<50} | {:>7} | {:>9} | {:>8} |",
        "side", "scans", "median ms", "p90 ms"
    );
    println!("|{:-<52}|{:->9}|{:->11}|{:->10}|", "", "", "", "");
    for side in report.steady.iter().chain([&report.cold_server]) {
        println!(
            "| {:<50} | {:>7} | {:>9.1} | {:>8.1} |",
            side.name,
            side.samples_ms.len(),
            side.median_ms,
            side.p90_ms
        );
    }
    println!();
    println!(
        "steady state: wine {:.2}x the native scan's median, +{:.1} ms per scan ({} scans each)",
        report.steady_ratio, report.steady_overhead_ms, args.scans
    );
}
