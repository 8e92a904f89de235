//! Everything `swarm bench sdk` measured, and its printing as a table or
//! one JSON object.

use anyhow::Context;
use serde::Serialize;

use super::engine::EngineBench;
use super::machine::Machine;
use super::sha::ShaBench;

/// Everything `swarm bench sdk` measured.
#[derive(Serialize)]
pub(super) struct SdkReport {
    /// Where it ran.
    pub(super) machine: Machine,
    /// `/proc/loadavg` when the bench ended.
    pub(super) load_after: Option<[f64; 3]>,
    /// Part 1.
    pub(super) engine: Option<EngineBench>,
    /// Part 2.
    pub(super) sha256: Option<ShaBench>,
}

/// Prints the report as a table, or as one JSON object.
pub(super) fn print_report(r: &SdkReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string(r).context("serializing the report")?
        );
        return Ok(());
    }
    let row = |name: &str, value: String| println!("  {name:<28}{value}");
    let load = |l: Option<[f64; 3]>| {
        l.map_or("unknown".to_owned(), |[a, b, c]| {
            format!("{a:.2} {b:.2} {c:.2}")
        })
    };
    println!();
    println!("swarm bench sdk");
    row(
        "machine",
        format!(
            "{} cores, {}{}",
            r.machine.cores,
            r.machine.cpu.as_deref().unwrap_or("unknown CPU"),
            if r.machine.sha_extensions {
                " (SHA extensions)"
            } else {
                ""
            }
        ),
    );
    row(
        "load average",
        format!(
            "{} before, {} after",
            load(r.machine.load_before),
            load(r.load_after)
        ),
    );
    if let Some(e) = &r.engine {
        println!();
        println!(
            "microengine overhead: {} bounties x {} artifacts of {} bytes per client, \
             {} at once, {} ms blocks",
            e.bounties, e.artifacts_per_bounty, e.artifact_bytes, e.concurrency, e.block_time_ms
        );
        row("store", e.store.clone());
        row(
            "bare downloads",
            format!(
                "{:.0} GET /artifacts/{{uri}}/{{i}} per s ({} requests, {} at once)",
                e.download.per_second, e.download.requests, e.download.concurrency
            ),
        );
        row(
            "fsync (journal's disk)",
            format!("{:.2} ms median per append + fsync", e.fsync_median_ms),
        );
        for c in &e.clients {
            row(
                c.client,
                format!(
                    "{:>8.0} artifacts/s  {:>6.0} bounties/s  {:.3} s{}  post->assert p50 {:.0} ms, p99 {:.0} ms",
                    c.artifacts_per_second,
                    c.bounties_per_second,
                    c.wall_seconds,
                    if c.complete {
                        String::new()
                    } else {
                        format!(
                            " INCOMPLETE {}/{} artifacts",
                            c.artifacts_asserted, c.artifacts_expected
                        )
                    },
                    c.latency_p50_ms,
                    c.latency_p99_ms
                ),
            );
            let errors = match &c.engine_report {
                Some(report) => &report.errors,
                None => &c.errors,
            };
            if !errors.is_empty() {
                row("", format!("errors: {errors:?}"));
            }
        }
        row(
            "ratio sdk / limit",
            format!(
                "{:.2} (journal on disk), {:.2} (journal in memory)",
                e.sdk_over_limit, e.sdk_memory_journal_over_limit
            ),
        );
    }
    if let Some(s) = &r.sha256 {
        println!();
        println!(
            "sha256 of {} MiB (seed {}), median of {} runs",
            s.bytes / (1024 * 1024),
            s.seed,
            s.runs
        );
        row(
            "EicarSha256::scan",
            format!(
                "{:>8.1} ms  {:>7.0} MB/s  (min {:.1}, max {:.1} ms)",
                s.ours.median_ms, s.ours.median_mb_per_s, s.ours.min_ms, s.ours.max_ms
            ),
        );
        row(
            "sha256sum FILE",
            format!(
                "{:>8.1} ms  {:>7.0} MB/s  (min {:.1}, max {:.1} ms; {})",
                s.sha256sum.median_ms,
                s.sha256sum.median_mb_per_s,
                s.sha256sum.min_ms,
                s.sha256sum.max_ms,
                s.sha256sum_version
            ),
        );
        row(
            "sha256sum empty file",
            format!(
                "{:>8.1} ms  (process start; hashing alone {:.0} MB/s)",
                s.sha256sum_empty_file.median_ms, s.sha256sum_hashing_mb_per_s
            ),
        );
        row(
            "ratio ours / sha256sum",
            format!(
                "{:.2} ({:.2} against its hashing alone)",
                s.ratio_ours_over_sha256sum, s.ratio_ours_over_sha256sum_hashing
            ),
        );
        row(
            "openssl dgst -sha256 FILE",
            format!(
                "{:>8.1} ms  {:>7.0} MB/s  (min {:.1}, max {:.1} ms; {})",
                s.openssl_dgst.median_ms,
                s.openssl_dgst.median_mb_per_s,
                s.openssl_dgst.min_ms,
                s.openssl_dgst.max_ms,
                s.openssl_version
            ),
        );
        row(
            "openssl dgst empty file",
            format!(
                "{:>8.1} ms  (process start; hashing alone {:.0} MB/s)",
                s.openssl_dgst_empty_file.median_ms, s.openssl_dgst_hashing_mb_per_s
            ),
        );
        row(
            "openssl speed, 16 KiB blocks",
            format!(
                "{:>7.0} MB/s (median of {}; the limit)",
                s.openssl_speed_16k_median_mb_per_s,
                s.openssl_speed_16k_mb_per_s.len()
            ),
        );
        row(
            "ratio ours / OpenSSL",
            format!(
                "{:.2} of openssl speed ({:.2} of openssl dgst's hashing alone)",
                s.ratio_ours_over_openssl_speed, s.ratio_ours_over_openssl_dgst_hashing
            ),
        );
        row(
            "EicarExact::scan",
            format!(
                "{:>8.4} ms (a length check; max {:.4} ms)",
                s.exact.median_ms, s.exact.max_ms
            ),
        );
        row(
            "checks",
            format!(
                "hashes {} (sha256 {}), verdicts {}",
                if s.hashes_match { "match" } else { "DIFFER" },
                s.hash,
                if s.verdicts_ok {
                    "as expected"
                } else {
                    "WRONG"
                }
            ),
        );
    }
    Ok(())
}
