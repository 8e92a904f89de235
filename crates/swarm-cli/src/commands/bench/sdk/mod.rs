//! `swarm bench sdk`: what the SDK's microengine runtime costs, and how fast
//! the EICAR engine hashes.
//!
//! **Part 1: microengine overhead.** A fresh node runs in this process
//! (SQLite in a temporary directory, as in `swarm bench node`). The bench
//! uploads one bundle of K small artifacts and plays the ambassador: it posts
//! B bounties pointing at that bundle, pre-signed, in a few batches, as fast
//! as the node takes them. One client at a time works the bounties off:
//!
//! 1. a [`Microengine`] whose scanner answers instantly (Malicious when the
//!    first byte is `M`, else Benign; confidence 1), with its journal on disk
//!    (fsync'd, as in production);
//! 2. the same engine with its journal in memory;
//! 3. the *limit*: a hand-written minimal client doing the same work
//!    without the runtime. It reads the same WebSocket event stream (with
//!    the SDK's [`EventStream`], a plain reader), and for each bounty
//!    downloads every artifact with plain reqwest (a client of its own, at
//!    most `--concurrency` downloads at a time, like the engine's
//!    `max_concurrency`), then signs and submits one `bounty:Assert`
//!    (`?wait=false`; the commitment uses one nonce drawn at start). No
//!    balance check, no journal, no `GET /status` before signing.
//!
//! Each client gets a fresh set of B bounties, after one warm-up bounty it
//! must assert on first (so connections are open and the stream is live).
//! The rate is artifacts asserted (downloaded + scanned + asserted, as the
//! node's committed blocks show) per second, from sending the first post to
//! the commit of the block holding the last assertion. The bare download
//! rate (`GET /artifacts/{uri}/{i}` in a loop at the same concurrency) and
//! the time of an append + `fsync` in the journal's directory are measured
//! first, as context.
//!
//! **Part 2: sha256.** 32 MiB of seeded random bytes are written to a
//! temporary file, and the same bytes with the EICAR string over the first
//! 68 bytes to another. [`EicarSha256::scan`] is timed on the in-memory bytes
//! (as the runtime hands them to a scanner), interleaved with `sha256sum FILE`
//! and `openssl dgst -sha256 FILE` (the processes' wall time, file in the
//! page cache) on the same bytes, and `openssl speed -evp sha256` at 16 KiB
//! blocks (OpenSSL's hashing rate, the limit); every hash is checked to be
//! equal. [`EicarExact`] is timed on the same
//! artifact (a length check).
//!
//! [`Microengine`]: swarm_sdk::Microengine
//! [`EventStream`]: swarm_sdk::EventStream
//! [`EicarSha256::scan`]: swarm_sdk::Scanner::scan
//! [`EicarExact`]: swarm_engines::EicarExact

mod clients;
mod engine;
mod env;
mod limit;
mod machine;
mod report;
mod scanner;
mod sha;
mod tally;

use anyhow::bail;
use clap::Args;

use engine::bench_engines;
use machine::{read_loadavg, Machine};
use report::{print_report, SdkReport};
use sha::bench_sha256;

/// Flags of `swarm bench sdk`.
#[derive(Args, Clone, Debug)]
pub(crate) struct SdkBenchArgs {
    /// Bounties posted for each client (enough that the fastest client
    /// takes many block times: the clock stops at a block's commit).
    #[arg(long, default_value_t = 2000)]
    bounties: usize,
    /// Artifacts in each bounty (one bundle, reused by every bounty).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    artifacts: u32,
    /// Size of each artifact, in bytes.
    #[arg(long, default_value_t = 1024)]
    artifact_bytes: usize,
    /// Artifacts downloaded (and scanned) at once: the engine's
    /// `max_concurrency`, the limit client's and the download loop's.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Block time of the bench node, in milliseconds.
    #[arg(long, default_value_t = 100)]
    block_time_ms: u64,
    /// Posts per `POST /transactions` batch of the ambassador.
    #[arg(long, default_value_t = 50)]
    post_batch: usize,
    /// Requests of the bare download loop.
    #[arg(long, default_value_t = 4000)]
    downloads: usize,
    /// Size of the sha256 artifact, in MiB.
    #[arg(long, default_value_t = 32)]
    sha_mib: usize,
    /// Timed runs of each hash measurement (the median is reported).
    #[arg(long, default_value_t = 9)]
    runs: usize,
    /// Seed of the sha256 artifact's bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only the sha256 part.
    #[arg(long, conflicts_with = "skip_sha256")]
    skip_engine: bool,
    /// Only the microengine part.
    #[arg(long)]
    skip_sha256: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Refuses flags that cannot make a run.
fn check_args(args: &SdkBenchArgs) -> anyhow::Result<()> {
    if args.bounties == 0 {
        bail!("--bounties must be at least 1");
    }
    if args.artifact_bytes == 0 || args.artifact_bytes > 32 * 1024 * 1024 {
        bail!("--artifact-bytes must be between 1 and 32 MiB");
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.block_time_ms == 0 {
        bail!("--block-time-ms must be at least 1");
    }
    if args.post_batch == 0 || args.post_batch > 1000 {
        bail!("--post-batch must be between 1 and 1000 (the node's batch limit)");
    }
    if args.sha_mib == 0 || args.sha_mib > 1024 {
        bail!("--sha-mib must be between 1 and 1024");
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    Ok(())
}

/// Runs `swarm bench sdk`.
pub(crate) async fn run(args: SdkBenchArgs) -> anyhow::Result<()> {
    check_args(&args)?;
    let machine = Machine::now();
    let engine = if args.skip_engine {
        None
    } else {
        if !args.json {
            println!(
                "microengine overhead: {} bounties x {} artifacts per client ...",
                args.bounties, args.artifacts
            );
        }
        Some(bench_engines(&args).await?)
    };
    let sha256 = if args.skip_sha256 {
        None
    } else {
        if !args.json {
            println!("sha256: {} MiB, {} runs each ...", args.sha_mib, args.runs);
        }
        Some(bench_sha256(&args).await?)
    };
    let report = SdkReport {
        machine,
        load_after: read_loadavg(),
        engine,
        sha256,
    };
    print_report(&report, args.json)?;
    if let Some(e) = &report.engine {
        if let Some(short) = e.clients.iter().find(|c| !c.complete) {
            bail!(
                "{}: only {} of {} artifacts were asserted",
                short.client,
                short.artifacts_asserted,
                short.artifacts_expected
            );
        }
    }
    if let Some(s) = &report.sha256 {
        if !s.hashes_match || !s.verdicts_ok {
            bail!("the sha256 check failed: hashes or verdicts differ from the expected");
        }
    }
    Ok(())
}
