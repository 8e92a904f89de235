//! `swarm engine run`: a microengine of the SDK on a built-in engine or a
//! command, configured by flags. Ctrl-C or SIGTERM stops it cleanly (it
//! reveals what it committed to first); the exit code is 0 after a clean
//! stop or a completed `--testing N` run.
//!
//! With `--dispatch redis://HOST:PORT/STREAM` the process is a coordinator:
//! it publishes each scan to the stream and asserts on what `swarm worker`
//! processes answer (`swarm_sdk::RedisDispatch`); the engine named is then
//! only a label, and its back-end (clamd, rules) is needed on the workers,
//! not here.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use swarm_engines::{Eicar, EicarVariant, Engine};
use swarm_protocol::Amount;
use swarm_sdk::{
    Artifact, BidStrategy, EngineReport, Filter, Microengine, MicroengineBuilder, Multiplier,
    RedisDispatch, RedisTarget, ScanError, ScanResult, Scanner,
};

use crate::connection::Connection;

/// `swarm engine ...`.
#[derive(Subcommand)]
pub(crate) enum EngineCommand {
    /// Run an engine against a marketplace: scan bounties, assert, reveal.
    Run(EngineRunArgs),
}

/// How much an engine bids.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum BidStrategyName {
    /// From the minimum to the maximum bid by confidence.
    Default,
    /// At least 8 times the minimum bid.
    Aggressive,
    /// Always the minimum bid.
    Conservative,
}

impl BidStrategyName {
    fn strategy(self) -> Arc<dyn BidStrategy> {
        Arc::new(match self {
            BidStrategyName::Default => Multiplier::DEFAULT,
            BidStrategyName::Aggressive => Multiplier::AGGRESSIVE,
            BidStrategyName::Conservative => Multiplier::CONSERVATIVE,
        })
    }
}

/// The EICAR engine's test.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum VariantName {
    /// The content is exactly the 68-byte EICAR string.
    Exact,
    /// The content's sha256 is EICAR's.
    Sha256,
}

/// Flags of `swarm engine run`.
#[derive(Args)]
pub(crate) struct EngineRunArgs {
    /// The engine: `eicar`, `eicar-sha256`, `clamav`, `yara`, `wine`,
    /// `webhook` (a PolySwarm webhook engine: --webhook-url,
    /// --webhook-secret), a
    /// comma-separated list of those (`clamav,yara`: one engine scanning with
    /// each), or a command
    /// (shell text run with each artifact's file path appended; it prints a
    /// JSON verdict line, or exits 1 malicious, 0 benign).
    engine: String,
    /// How the eicar engine recognises EICAR.
    #[arg(long, value_enum, default_value = "exact")]
    variant: VariantName,
    #[command(flatten)]
    options: crate::engines::EngineOptions,
    /// How much to bid.
    #[arg(
        long,
        env = "SWARM_BID_STRATEGY",
        value_enum,
        default_value = "default"
    )]
    bid_strategy: BidStrategyName,
    /// Scan only artifacts whose metadata matches `KEY CMP VALUE`
    /// (CMP: < <= == >= > contains startswith endswith regex); repeatable.
    #[arg(long = "accept", value_name = "'KEY CMP VALUE'")]
    accept: Vec<Filter>,
    /// Skip artifacts whose metadata matches `KEY CMP VALUE`; repeatable.
    #[arg(long = "reject", value_name = "'KEY CMP VALUE'")]
    reject: Vec<Filter>,
    /// Journal directory: what the engine committed to, kept across restarts.
    #[arg(long, env = "SWARM_JOURNAL")]
    journal: Option<PathBuf>,
    /// Artifacts scanned at once.
    #[arg(long, env = "SWARM_MAX_CONCURRENCY", default_value_t = 4)]
    max_concurrency: usize,
    /// Handle N bounties, then exit.
    #[arg(long, value_name = "N")]
    testing: Option<u64>,
    /// Scan on `swarm worker` processes instead of in this one: publish
    /// the jobs to this Redis stream and assert on the workers' answers.
    #[arg(long, env = "SWARM_DISPATCH", value_name = "redis://HOST:PORT/STREAM")]
    dispatch: Option<RedisTarget>,
    #[command(flatten)]
    observe: crate::observe::Observe,
    #[command(flatten)]
    connection: Connection,
}

/// A coordinator's scanner: never called, the workers scan.
struct OnWorkers;

impl Scanner for OnWorkers {
    async fn scan(&self, _: &Artifact) -> Result<ScanResult, ScanError> {
        Err(ScanError::Unavailable(
            "this engine's scans run on its workers".into(),
        ))
    }
}

/// Runs `swarm engine ...`.
pub(crate) async fn run(command: EngineCommand) -> anyhow::Result<()> {
    let EngineCommand::Run(args) = command;
    let key = args.connection.key()?;
    let report = match args.dispatch.clone() {
        Some(target) => {
            let dispatch = RedisDispatch::new(target, key.address(), args.engine.clone())
                .context("cannot set up the redis dispatch")?;
            let builder = Microengine::builder(OnWorkers).dispatch(dispatch);
            run_engine(builder, &args, key, "redis workers").await?
        }
        None => {
            let scanner = match args.engine.as_str() {
                "eicar" => Engine::Eicar(Eicar::new(match args.variant {
                    VariantName::Exact => EicarVariant::Exact,
                    VariantName::Sha256 => EicarVariant::Sha256,
                })),
                name => args.options.engine(name, Some(&args.connection.node))?,
            };
            let kind = scanner.name();
            run_engine(Microengine::builder(scanner), &args, key, kind).await?
        }
    };
    print_engine_report(&report);
    Ok(())
}

/// Configures `builder` from the flags and runs the engine.
async fn run_engine<S: Scanner>(
    builder: MicroengineBuilder<S>,
    args: &EngineRunArgs,
    key: swarm_protocol::PrivateKey,
    kind: &str,
) -> anyhow::Result<EngineReport> {
    let mut builder = builder
        .node(args.connection.node.clone())
        .key(key)
        .bid_strategy(args.bid_strategy.strategy())
        .max_concurrency(args.max_concurrency)
        .shutdown(swarm_sdk::shutdown_on_signal());
    for filter in &args.accept {
        builder = builder.accept(filter.clone());
    }
    for filter in &args.reject {
        builder = builder.reject(filter.clone());
    }
    if let Some(path) = &args.journal {
        builder = builder.journal(path);
    }
    if let Some(n) = args.testing {
        builder = builder.testing(n);
    }
    if let Some(addr) = args.observe.metrics_listen {
        builder = builder.metrics_listen(addr);
    }
    builder = builder.health_threshold(args.observe.threshold());
    let engine = builder.build().context("cannot start the engine")?;
    tracing::info!(engine = %args.engine, kind, address = %engine.address(), "engine starting");
    engine.run().await.context("the engine stopped")
}

fn print_engine_report(r: &EngineReport) {
    println!(
        "bounties seen {}, skipped {}; assertions {} on {} artifacts; reveals {}; settled {}",
        r.bounties_seen,
        r.bounties_skipped,
        r.assertions,
        r.artifacts_asserted,
        r.reveals,
        r.settled
    );
    println!(
        "payouts {}, bids and fees {}, net {} NCT",
        r.payouts,
        r.stakes_and_fees,
        signed_nct(r.net_wei())
    );
    for (kind, count) in &r.errors {
        println!("  {kind}: {count}");
    }
}

/// Wei as signed NCT text.
fn signed_nct(wei: i128) -> String {
    let sign = if wei < 0 { "-" } else { "" };
    format!(
        "{sign}{}",
        Amount::from_wei(wei.unsigned_abs()).to_nct_string()
    )
}
