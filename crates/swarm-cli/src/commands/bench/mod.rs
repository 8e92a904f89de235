//! `swarm bench`: measurements of the node, the SDK and the engines, each
//! against the peer or the limit it is judged by (docs/BENCHMARKS.md).
//! What the benches share is here and in [`stats`].

mod artifacts;
mod chain;
mod engines;
mod node;
mod sdk;
mod stats;
mod svg;
mod wine;
mod workers;

use std::sync::Mutex;

use clap::Subcommand;
use swarm_node::dev_genesis;
use swarm_protocol::{Amount, Genesis, NctAmount, PrivateKey};

/// `swarm bench ...`: what to measure.
#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Run complete bounty lifecycles against a fresh in-process node over HTTP.
    Node(node::NodeBenchArgs),
    /// Grow a chain of settled bounties and measure, at each size, a `swarm
    /// node`'s memory, restart time, read latency and event replay.
    Chain(chain::ChainBenchArgs),
    /// Measure the microengine runtime's overhead against a minimal client,
    /// and the EICAR engine's sha256 against `sha256sum`.
    Sdk(sdk::SdkBenchArgs),
    /// Compare the clamav and yara engines with `clamdscan --stream` and
    /// the `yara` CLI on the same files.
    Engines(engines::EnginesBenchArgs),
    /// Upload and download throughput of artifacts on the local directory
    /// and in an S3-compatible object store, each beside its backend alone.
    Artifacts(artifacts::ArtifactsBenchArgs),
    /// Artifacts/s with 1, 2, 4 and 8 `swarm worker` processes over Redis,
    /// I/O-bound and CPU-bound, against the in-process engine.
    Workers(workers::WorkersBenchArgs),
    /// A Windows scanner under Wine against the same scanner built for
    /// Linux: prefix set-up, first scan, steady state, cold wineserver.
    Wine(wine::WineBenchArgs),
}

/// Runs a `swarm bench` command.
pub(crate) async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Node(args) => node::run(args).await,
        BenchCommand::Chain(args) => chain::run(args).await,
        BenchCommand::Sdk(args) => sdk::run(args).await,
        BenchCommand::Engines(args) => engines::run(args).await,
        BenchCommand::Artifacts(args) => artifacts::run(args).await,
        BenchCommand::Workers(args) => workers::run(args).await,
        BenchCommand::Wine(args) => wine::run(args).await,
    }
}

/// How far past the block at signing time a pre-signed transaction stays
/// valid (the node accepts at most 256).
const EXPIRY_AHEAD: u64 = 250;

/// What each funded bench account starts with, in NCT.
const BENCH_ALLOCATION_NCT: u128 = 1_000_000_000;

/// The dev genesis with every key of `funded` given
/// [`BENCH_ALLOCATION_NCT`], so that no mint is needed.
fn funded_genesis<'a>(funded: impl IntoIterator<Item = &'a PrivateKey>) -> Genesis {
    let mut genesis = dev_genesis();
    for key in funded {
        genesis.allocations.insert(
            key.address(),
            NctAmount(Amount::from_nct(BENCH_ALLOCATION_NCT)),
        );
    }
    genesis
}

/// Locks a mutex, taking the data even if another task panicked holding it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
