//! `swarm arbiter run`: an arbiter of the SDK deciding ground truth with
//! a built-in engine or a sha256 table, configured by flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use swarm_engines::EicarExact;
use swarm_protocol::PrivateKey;
use swarm_sdk::{Arbiter, ArbiterReport, GroundTruth, ScannerTruth, Sha256Table};

use crate::connection::Connection;

/// `swarm arbiter ...`.
#[derive(Subcommand)]
pub(crate) enum ArbiterCommand {
    /// Stake, decide the ground truth of every bounty and vote.
    Run(ArbiterRunArgs),
}

/// Flags of `swarm arbiter run`.
#[derive(Args)]
pub(crate) struct ArbiterRunArgs {
    /// Ground truth: `eicar` (the exact EICAR scanner), `clamav`, `yara` or
    /// `wine` (those engines, configured by their flags), a comma-separated list of
    /// built-in engines (`clamav,yara`, scanning as one), or a table file of
    /// sha256 -> verdict (CSV lines `sha256,malicious|benign`, or JSON; write
    /// `./clamav` for a table file named like an engine).
    #[arg(long, env = "SWARM_ARBITER_TRUTH", default_value = "eicar")]
    truth: String,
    #[command(flatten)]
    options: crate::engines::EngineOptions,
    /// File keeping the block to resume from after a restart.
    #[arg(long, env = "SWARM_ARBITER_STATE")]
    state: Option<PathBuf>,
    /// Bounties decided at once.
    #[arg(long, env = "SWARM_MAX_CONCURRENCY", default_value_t = 4)]
    max_concurrency: usize,
    /// Exit after voting on N bounties (once they settle).
    #[arg(long, value_name = "N")]
    testing: Option<usize>,
    #[command(flatten)]
    observe: crate::observe::Observe,
    #[command(flatten)]
    connection: Connection,
}

/// Runs `swarm arbiter ...`.
pub(crate) async fn run(command: ArbiterCommand) -> anyhow::Result<()> {
    let ArbiterCommand::Run(args) = command;
    let key = args.connection.key()?;
    let report = if args.truth == "eicar" {
        run_arbiter(ScannerTruth::new(EicarExact), &args, key).await?
    } else if matches!(args.truth.as_str(), "clamav" | "yara" | "wine")
        || crate::engines::builtin_list(&args.truth).is_some()
    {
        let scanner = args
            .options
            .engine(&args.truth, Some(&args.connection.node))?;
        run_arbiter(ScannerTruth::new(scanner), &args, key).await?
    } else {
        let table = Sha256Table::load(&args.truth)
            .with_context(|| format!("cannot load the ground-truth table {}", args.truth))?;
        if table.is_empty() {
            tracing::warn!(table = %args.truth, "the table is empty: every artifact votes benign");
        }
        tracing::info!(table = %args.truth, hashes = table.len(), "ground truth loaded");
        run_arbiter(table, &args, key).await?
    };
    println!(
        "voted {}, abstained {}, missed {}; settled {}; fees earned {} NCT; stake {} NCT (deposited {})",
        report.voted,
        report.abstained,
        report.missed,
        report.settled,
        report.fees_earned.to_nct_string(),
        report.stake.to_nct_string(),
        report.deposited.to_nct_string()
    );
    Ok(())
}

async fn run_arbiter<T: GroundTruth>(
    truth: T,
    args: &ArbiterRunArgs,
    key: PrivateKey,
) -> anyhow::Result<ArbiterReport> {
    let mut builder = Arbiter::builder(truth)
        .node(args.connection.node.clone())
        .key(key)
        .max_concurrency(args.max_concurrency)
        .shutdown(swarm_sdk::shutdown_on_signal());
    if let Some(path) = &args.state {
        builder = builder.state(path);
    }
    if let Some(n) = args.testing {
        builder = builder.testing(n);
    }
    if let Some(addr) = args.observe.metrics_listen {
        builder = builder.metrics_listen(addr);
    }
    builder = builder.health_threshold(args.observe.threshold());
    let arbiter = builder.build().context("cannot start the arbiter")?;
    arbiter.run().await.context("the arbiter stopped")
}
