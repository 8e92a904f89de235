//! Part 2, sha256: `EicarSha256::scan` against `sha256sum` on the same
//! bytes, and `EicarExact::scan` on the same artifact.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use rand::{RngCore, SeedableRng};
use serde::Serialize;
use sha2::{Digest, Sha256};
use swarm_engines::{EicarExact, EicarSha256, EICAR};
use swarm_sdk::{Scanner, Verdict};

use super::scanner::{artifact, verdict};
use super::SdkBenchArgs;
use crate::commands::bench::stats::{mb_per_s, ms, weighted_quantile};

/// Timings of one measurement.
#[derive(Serialize)]
pub(super) struct Timing {
    /// Median.
    pub(super) median_ms: f64,
    /// Fastest.
    pub(super) min_ms: f64,
    /// Slowest.
    pub(super) max_ms: f64,
    /// Bytes over the median, in MB/s (10^6 bytes).
    pub(super) median_mb_per_s: f64,
    /// Every run, in order.
    samples_ms: Vec<f64>,
}

impl Timing {
    /// The timing of `samples`, each over `bytes` bytes.
    fn of(samples: &[Duration], bytes: usize) -> Timing {
        let mut weighted: Vec<(Duration, usize)> = samples.iter().map(|d| (*d, 1)).collect();
        let median = weighted_quantile(&mut weighted, 0.5);
        Timing {
            median_ms: ms(median),
            min_ms: samples.iter().map(|d| ms(*d)).fold(f64::INFINITY, f64::min),
            max_ms: samples.iter().map(|d| ms(*d)).fold(0.0, f64::max),
            median_mb_per_s: mb_per_s(bytes, median),
            samples_ms: samples.iter().map(|d| ms(*d)).collect(),
        }
    }
}

/// Part 2's figures.
#[derive(Serialize)]
pub(super) struct ShaBench {
    /// Artifact size.
    pub(super) bytes: usize,
    /// Timed runs of each measurement.
    pub(super) runs: usize,
    /// Seed of the random bytes.
    pub(super) seed: u64,
    /// `sha256sum --version`, first line.
    pub(super) sha256sum_version: String,
    /// `EicarSha256::scan` on the in-memory artifact.
    pub(super) ours: Timing,
    /// `sha256sum FILE`, process wall time.
    pub(super) sha256sum: Timing,
    /// `sha256sum` on an empty file: the process's fixed cost.
    pub(super) sha256sum_empty_file: Timing,
    /// Bytes over (sha256sum median - empty-file median): hashing alone.
    pub(super) sha256sum_hashing_mb_per_s: f64,
    /// ours MB/s over sha256sum MB/s (medians).
    pub(super) ratio_ours_over_sha256sum: f64,
    /// Ours over sha256sum's hashing alone.
    pub(super) ratio_ours_over_sha256sum_hashing: f64,
    /// `EicarExact::scan` on the same artifact.
    pub(super) exact: Timing,
    /// The random artifact's sha256, by the engine's code path.
    pub(super) hash: String,
    /// Both artifacts hash the same with both tools.
    pub(super) hashes_match: bool,
    /// Both engines call both artifacts benign, and EICAR itself malicious.
    pub(super) verdicts_ok: bool,
}

/// Runs `sha256sum path`: its wall time and the hash it printed.
fn sha256sum(path: &Path) -> anyhow::Result<(Duration, String)> {
    let started = Instant::now();
    let output = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .context("cannot run sha256sum (GNU coreutils)")?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "sha256sum {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let hash = stdout
        .split_whitespace()
        .next()
        .ok_or_else(|| anyhow!("sha256sum printed nothing"))?
        .to_ascii_lowercase();
    Ok((elapsed, hash))
}

/// Part 2. The runs block this runtime thread on purpose: nothing else runs.
pub(super) async fn bench_sha256(args: &SdkBenchArgs) -> anyhow::Result<ShaBench> {
    let size = args.sha_mib * 1024 * 1024;
    let mut data = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(args.seed).fill_bytes(&mut data);
    let mut prefixed = data.clone();
    prefixed[..EICAR.len()].copy_from_slice(EICAR);

    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let random_path = dir.path().join("random.bin");
    let prefixed_path = dir.path().join("eicar-prefixed.bin");
    let empty_path = dir.path().join("empty.bin");
    std::fs::write(&random_path, &data).context("writing the random artifact")?;
    std::fs::write(&prefixed_path, &prefixed).context("writing the EICAR-prefixed artifact")?;
    std::fs::write(&empty_path, b"").context("writing the empty file")?;

    let version = std::process::Command::new("sha256sum")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();

    // The same sha2 code path as EicarSha256::matches, against sha256sum.
    let hash = hex::encode(Sha256::digest(&data));
    let prefixed_hash = hex::encode(Sha256::digest(&prefixed));
    let (_, their_hash) = sha256sum(&random_path)?;
    let (_, their_prefixed_hash) = sha256sum(&prefixed_path)?;
    let hashes_match = hash == their_hash && prefixed_hash == their_prefixed_hash;

    let random = artifact(data);
    let prefixed = artifact(prefixed);
    let eicar = artifact(EICAR.to_vec());
    let verdicts_ok = verdict(&EicarSha256, &random).await? == Verdict::Benign
        && verdict(&EicarSha256, &prefixed).await? == Verdict::Benign
        && verdict(&EicarSha256, &eicar).await? == Verdict::Malicious
        && verdict(&EicarExact, &random).await? == Verdict::Benign
        && verdict(&EicarExact, &prefixed).await? == Verdict::Benign
        && verdict(&EicarExact, &eicar).await? == Verdict::Malicious;

    // One warm-up each (page cache, binary, allocator), then interleaved runs.
    let mut ours = Vec::with_capacity(args.runs);
    let mut theirs = Vec::with_capacity(args.runs);
    let mut empty = Vec::with_capacity(args.runs);
    let mut exact = Vec::with_capacity(args.runs);
    for run in 0..=args.runs {
        let started = Instant::now();
        let v = EicarSha256.scan(&random).await.map(|r| r.verdict);
        let elapsed = started.elapsed();
        if v.ok() != Some(Verdict::Benign) {
            bail!("EicarSha256 did not call the random artifact benign");
        }
        let (their, their_hash) = sha256sum(&random_path)?;
        if their_hash != hash {
            bail!("sha256sum changed its mind about the random artifact");
        }
        let (empty_time, _) = sha256sum(&empty_path)?;
        let started = Instant::now();
        let v = EicarExact.scan(&random).await.map(|r| r.verdict);
        let exact_time = started.elapsed();
        if v.ok() != Some(Verdict::Benign) {
            bail!("EicarExact did not call the random artifact benign");
        }
        if run > 0 {
            ours.push(elapsed);
            theirs.push(their);
            empty.push(empty_time);
            exact.push(exact_time);
        }
    }
    let ours = Timing::of(&ours, size);
    let sha256sum = Timing::of(&theirs, size);
    let sha256sum_empty_file = Timing::of(&empty, 0);
    let hashing = Duration::from_secs_f64(
        ((sha256sum.median_ms - sha256sum_empty_file.median_ms) / 1000.0).max(1e-9),
    );
    let sha256sum_hashing_mb_per_s = mb_per_s(size, hashing);
    Ok(ShaBench {
        bytes: size,
        runs: args.runs,
        seed: args.seed,
        sha256sum_version: version,
        ratio_ours_over_sha256sum: ours.median_mb_per_s / sha256sum.median_mb_per_s,
        ratio_ours_over_sha256sum_hashing: ours.median_mb_per_s / sha256sum_hashing_mb_per_s,
        sha256sum_hashing_mb_per_s,
        ours,
        sha256sum,
        sha256sum_empty_file,
        exact: Timing::of(&exact, size),
        hash,
        hashes_match,
        verdicts_ok,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn timings_take_the_median() {
        let ms = Duration::from_millis;
        let t = Timing::of(&[ms(30), ms(10), ms(20)], 2_000_000);
        assert_eq!(t.median_ms, 20.0);
        assert_eq!((t.min_ms, t.max_ms), (10.0, 30.0));
        assert!((t.median_mb_per_s - 100.0).abs() < 1e-9);
    }
}
