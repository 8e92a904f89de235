//! Part 2, sha256: `EicarSha256::scan` against `sha256sum` and OpenSSL
//! (`openssl dgst -sha256` on the same bytes, and `openssl speed -evp
//! sha256` at 16 KiB blocks, the most OpenSSL hashes on this CPU), and
//! `EicarExact::scan` on the same artifact.

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
    /// `openssl version`.
    pub(super) openssl_version: String,
    /// `openssl dgst -sha256 -r FILE`, process wall time.
    pub(super) openssl_dgst: Timing,
    /// `openssl dgst` on an empty file: the process's fixed cost.
    pub(super) openssl_dgst_empty_file: Timing,
    /// Bytes over (openssl dgst median - empty-file median): hashing alone.
    pub(super) openssl_dgst_hashing_mb_per_s: f64,
    /// `openssl speed -evp sha256 -bytes 16384 -seconds 1`, MB/s of each run.
    pub(super) openssl_speed_16k_mb_per_s: Vec<f64>,
    /// Their median.
    pub(super) openssl_speed_16k_median_mb_per_s: f64,
    /// Ours over OpenSSL's 16 KiB speed (medians): the limit's ratio.
    pub(super) ratio_ours_over_openssl_speed: f64,
    /// Ours over `openssl dgst`'s hashing alone.
    pub(super) ratio_ours_over_openssl_dgst_hashing: f64,
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
    hash_file(&["sha256sum"], path, "sha256sum (GNU coreutils)")
}

/// Runs `openssl dgst -sha256 -r path` (`-r`: sha256sum's output format):
/// its wall time and the hash it printed.
fn openssl_dgst(path: &Path) -> anyhow::Result<(Duration, String)> {
    hash_file(&["openssl", "dgst", "-sha256", "-r"], path, "openssl")
}

/// Runs `command… path`, which prints the hex hash first: its wall time
/// and the hash.
fn hash_file(command: &[&str], path: &Path, what: &str) -> anyhow::Result<(Duration, String)> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow!("no command to run"))?;
    let started = Instant::now();
    let output = std::process::Command::new(program)
        .args(args)
        .arg(path)
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "{} {} failed: {}",
            command.join(" "),
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let hash = stdout
        .split_whitespace()
        .next()
        .ok_or_else(|| anyhow!("{what} printed nothing"))?
        .to_ascii_lowercase();
    Ok((elapsed, hash))
}

/// `openssl speed -evp sha256 -bytes 16384 -seconds 1 -mr`: MB/s.
fn openssl_speed_16k() -> anyhow::Result<f64> {
    let output = std::process::Command::new("openssl")
        .args([
            "speed", "-evp", "sha256", "-bytes", "16384", "-seconds", "1", "-mr",
        ])
        .output()
        .context("cannot run openssl speed")?;
    if !output.status.success() {
        bail!(
            "openssl speed failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    parse_openssl_speed(&String::from_utf8_lossy(&output.stdout))
}

/// The bytes per second of `openssl speed -mr`'s `+F:…:sha256:BYTES_PER_S`
/// line, in MB/s.
fn parse_openssl_speed(text: &str) -> anyhow::Result<f64> {
    text.lines()
        .filter(|l| l.starts_with("+F:"))
        .find_map(|l| l.rsplit(':').next()?.trim().parse::<f64>().ok())
        .map(|bytes_per_s| bytes_per_s / 1e6)
        .ok_or_else(|| anyhow!("openssl speed printed no +F: line: {text}"))
}

/// The first line a command prints, or "" when it cannot run.
fn version_of(program: &str, arg: &str) -> String {
    std::process::Command::new(program)
        .arg(arg)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default()
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

    let version = version_of("sha256sum", "--version");
    let openssl_version = version_of("openssl", "version");

    // The same sha2 code path as EicarSha256::matches, against sha256sum.
    let hash = hex::encode(Sha256::digest(&data));
    let prefixed_hash = hex::encode(Sha256::digest(&prefixed));
    let (_, their_hash) = sha256sum(&random_path)?;
    let (_, their_prefixed_hash) = sha256sum(&prefixed_path)?;
    let (_, openssl_hash) = openssl_dgst(&random_path)?;
    let (_, openssl_prefixed_hash) = openssl_dgst(&prefixed_path)?;
    let hashes_match = hash == their_hash
        && prefixed_hash == their_prefixed_hash
        && hash == openssl_hash
        && prefixed_hash == openssl_prefixed_hash;

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
    let mut dgst = Vec::with_capacity(args.runs);
    let mut dgst_empty = Vec::with_capacity(args.runs);
    let mut speed = Vec::with_capacity(args.runs);
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
        let (openssl_time, openssl_hash) = openssl_dgst(&random_path)?;
        if openssl_hash != hash {
            bail!("openssl dgst changed its mind about the random artifact");
        }
        let (openssl_empty_time, _) = openssl_dgst(&empty_path)?;
        let openssl_speed = openssl_speed_16k()?;
        if run > 0 {
            ours.push(elapsed);
            theirs.push(their);
            empty.push(empty_time);
            exact.push(exact_time);
            dgst.push(openssl_time);
            dgst_empty.push(openssl_empty_time);
            speed.push(openssl_speed);
        }
    }
    let ours = Timing::of(&ours, size);
    let sha256sum = Timing::of(&theirs, size);
    let sha256sum_empty_file = Timing::of(&empty, 0);
    let hashing = Duration::from_secs_f64(
        ((sha256sum.median_ms - sha256sum_empty_file.median_ms) / 1000.0).max(1e-9),
    );
    let sha256sum_hashing_mb_per_s = mb_per_s(size, hashing);
    let openssl_dgst = Timing::of(&dgst, size);
    let openssl_dgst_empty_file = Timing::of(&dgst_empty, 0);
    let openssl_hashing = Duration::from_secs_f64(
        ((openssl_dgst.median_ms - openssl_dgst_empty_file.median_ms) / 1000.0).max(1e-9),
    );
    let openssl_dgst_hashing_mb_per_s = mb_per_s(size, openssl_hashing);
    let openssl_speed_16k_median_mb_per_s = median(&speed);
    Ok(ShaBench {
        openssl_version,
        ratio_ours_over_openssl_speed: ours.median_mb_per_s / openssl_speed_16k_median_mb_per_s,
        ratio_ours_over_openssl_dgst_hashing: ours.median_mb_per_s / openssl_dgst_hashing_mb_per_s,
        openssl_dgst,
        openssl_dgst_empty_file,
        openssl_dgst_hashing_mb_per_s,
        openssl_speed_16k_mb_per_s: speed,
        openssl_speed_16k_median_mb_per_s,
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

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
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

    #[test]
    fn openssl_speeds_machine_readable_line_is_read_in_mb_per_s() {
        let text =
            "+DT:sha256:1:16384\n+R:107720:sha256:0.990000\n+H:16384\n+F:25:sha256:1782711595.96\n";
        let mb = parse_openssl_speed(text).unwrap();
        assert!((mb - 1782.71159596).abs() < 1e-6, "{mb}");
        assert!(parse_openssl_speed("+H:16384\n").is_err());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
