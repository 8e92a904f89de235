//! `swarm engine run`, `swarm arbiter run`, `swarm ambassador run`: the
//! marketplace participants of the SDK, configured by flags.
//!
//! Every command connects to a node (`--node`, `SWARM_NODE`) with a key:
//! a keystore v3 file (`--keyfile`/`SWARM_KEYFILE` with
//! `--password`/`SWARM_PASSWORD`) or, for development, a raw hex key
//! (`--private-key`/`SWARM_PRIVATE_KEY`). Ctrl-C or SIGTERM stops a
//! participant cleanly; the exit code is 0 after a clean stop or a
//! completed `--testing N` run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use swarm_engines::{Eicar, EicarExact, EicarVariant, Engine};
use swarm_protocol::{Amount, Keystore, PrivateKey};
use swarm_sdk::{
    Ambassador, AmbassadorReport, Arbiter, ArbiterReport, BidStrategy, BountyRequest, BountySource,
    DirectorySource, EicarSource, EngineReport, Filter, GroundTruth, LowBalance, Microengine,
    Multiplier, ScannerTruth, Sha256Table,
};
use tokio_util::sync::CancellationToken;

/// Where the participant connects and who it is.
#[derive(Args, Clone, Debug)]
pub(crate) struct Connection {
    /// The node's URL.
    #[arg(long, env = "SWARM_NODE", default_value = "http://127.0.0.1:31337")]
    pub(crate) node: String,
    /// Keystore v3 JSON file of the account.
    #[arg(long, env = "SWARM_KEYFILE")]
    keyfile: Option<PathBuf>,
    /// Password of the keystore.
    #[arg(long, env = "SWARM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Raw private key, 0x and 64 hex digits (development only).
    #[arg(long, env = "SWARM_PRIVATE_KEY", hide_env_values = true)]
    private_key: Option<String>,
}

impl Connection {
    /// The account's key, from the keystore or the raw key.
    pub(crate) fn key(&self) -> anyhow::Result<PrivateKey> {
        match (&self.keyfile, &self.private_key) {
            (Some(_), Some(_)) => bail!("give --keyfile or --private-key, not both"),
            (None, Some(hex)) => hex
                .trim()
                .parse::<PrivateKey>()
                .context("--private-key is not a private key (0x and 64 hex digits)"),
            (Some(path), None) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the keyfile {}", path.display()))?;
                let keystore = Keystore::from_json(&text)
                    .with_context(|| format!("{} is not a keystore v3 file", path.display()))?;
                let password = self.password.as_deref().ok_or_else(|| {
                    anyhow!(
                        "{} is encrypted: give --password (or SWARM_PASSWORD)",
                        path.display()
                    )
                })?;
                keystore
                    .decrypt(password)
                    .with_context(|| format!("cannot decrypt {}", path.display()))
            }
            (None, None) => bail!(
                "no key: give --keyfile (SWARM_KEYFILE) with --password (SWARM_PASSWORD), \
                 or --private-key (SWARM_PRIVATE_KEY)"
            ),
        }
    }
}

/// A token cancelled by Ctrl-C or SIGTERM.
fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        tracing::info!("shutting down");
        cancel.cancel();
    });
    token
}

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
    /// The engine: `eicar`, `eicar-sha256`, `clamav`, `yara`, or a command
    /// (shell text run with each artifact's file path appended; it prints a
    /// JSON verdict line, or exits 1 malicious, 0 benign).
    engine: String,
    /// How the eicar engine recognises EICAR.
    #[arg(long, value_enum, default_value = "exact")]
    variant: VariantName,
    #[command(flatten)]
    options: crate::scan::EngineOptions,
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
    #[command(flatten)]
    connection: Connection,
}

/// Runs `swarm engine ...`.
pub(crate) async fn engine(command: EngineCommand) -> anyhow::Result<()> {
    let EngineCommand::Run(args) = command;
    let key = args.connection.key()?;
    let scanner = match args.engine.as_str() {
        "eicar" => Engine::Eicar(Eicar::new(match args.variant {
            VariantName::Exact => EicarVariant::Exact,
            VariantName::Sha256 => EicarVariant::Sha256,
        })),
        name => args.options.engine(name)?,
    };
    let kind = scanner.name();
    let mut builder = Microengine::builder(scanner)
        .node(args.connection.node.clone())
        .key(key)
        .bid_strategy(args.bid_strategy.strategy())
        .max_concurrency(args.max_concurrency)
        .shutdown(shutdown_token());
    for filter in args.accept {
        builder = builder.accept(filter);
    }
    for filter in args.reject {
        builder = builder.reject(filter);
    }
    if let Some(path) = args.journal {
        builder = builder.journal(path);
    }
    if let Some(n) = args.testing {
        builder = builder.testing(n);
    }
    let engine = builder.build().context("cannot start the engine")?;
    tracing::info!(engine = %args.engine, kind, address = %engine.address(), "engine starting");
    let report = engine.run().await.context("the engine stopped")?;
    print_engine_report(&report);
    Ok(())
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

/// `swarm arbiter ...`.
#[derive(Subcommand)]
pub(crate) enum ArbiterCommand {
    /// Stake, decide the ground truth of every bounty and vote.
    Run(ArbiterRunArgs),
}

/// Flags of `swarm arbiter run`.
#[derive(Args)]
pub(crate) struct ArbiterRunArgs {
    /// Ground truth: `eicar` (the exact EICAR scanner), `clamav` or `yara`
    /// (those engines, configured by their flags), or a table file of
    /// sha256 -> verdict (CSV lines `sha256,malicious|benign`, or JSON; write
    /// `./clamav` for a table file named like an engine).
    #[arg(long, env = "SWARM_ARBITER_TRUTH", default_value = "eicar")]
    truth: String,
    #[command(flatten)]
    options: crate::scan::EngineOptions,
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
    connection: Connection,
}

/// Runs `swarm arbiter ...`.
pub(crate) async fn arbiter(command: ArbiterCommand) -> anyhow::Result<()> {
    let ArbiterCommand::Run(args) = command;
    let key = args.connection.key()?;
    let report = if args.truth == "eicar" {
        run_arbiter(ScannerTruth::new(EicarExact), &args, key).await?
    } else if matches!(args.truth.as_str(), "clamav" | "yara") {
        let scanner = args.options.engine(&args.truth)?;
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
        .shutdown(shutdown_token());
    if let Some(path) = &args.state {
        builder = builder.state(path);
    }
    if let Some(n) = args.testing {
        builder = builder.testing(n);
    }
    let arbiter = builder.build().context("cannot start the arbiter")?;
    arbiter.run().await.context("the arbiter stopped")
}

/// `swarm ambassador ...`.
#[derive(Subcommand)]
pub(crate) enum AmbassadorCommand {
    /// Post bounties (EICAR and benign files, or a directory's files) and
    /// report their outcomes.
    Run(AmbassadorRunArgs),
}

/// Flags of `swarm ambassador run`.
#[derive(Args)]
pub(crate) struct AmbassadorRunArgs {
    /// Bounties to post (with --directory: at most this many).
    #[arg(long, value_name = "N")]
    bounties: Option<usize>,
    /// Post the files of this directory instead of EICAR/benign files.
    #[arg(long, value_name = "DIR")]
    directory: Option<PathBuf>,
    /// Artifacts per bounty: at most this many (EICAR, drawn at random), or
    /// exactly this many (--directory; the last bounty takes the rest).
    #[arg(long, default_value_t = 1)]
    artifacts: usize,
    /// Seed of the EICAR/benign mix, for a reproducible run.
    #[arg(long)]
    seed: Option<u64>,
    /// Reward of each bounty in NCT; default: the community minimum
    /// (bounty_amount_minimum per artifact).
    #[arg(long, value_name = "NCT", value_parser = parse_nct)]
    amount: Option<Amount>,
    /// Assertion round of each bounty, in blocks; default: the community's
    /// max_duration, at most 20.
    #[arg(long, value_name = "BLOCKS")]
    duration: Option<u64>,
    /// Least time between two posts, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Most bounties posted and not yet settled.
    #[arg(long, default_value_t = 8)]
    max_in_flight: usize,
    /// Give up on a bounty not settled this many seconds after posting;
    /// default: twice its rounds' time, plus 10 s.
    #[arg(long, value_name = "SECONDS")]
    watchdog_secs: Option<u64>,
    /// When the balance cannot pay the next bounty, wait for funds instead
    /// of stopping with an error.
    #[arg(long)]
    wait_for_funds: bool,
    /// Fail unless every consensus equals the expected verdicts.
    #[arg(long)]
    check: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: Connection,
}

fn parse_nct(s: &str) -> Result<Amount, String> {
    Amount::parse_nct(s).map_err(|e| e.to_string())
}

/// A source cut after `left` bounties.
struct Limited<S> {
    source: S,
    left: usize,
}

impl<S: BountySource> BountySource for Limited<S> {
    async fn next(&mut self) -> Option<BountyRequest> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.source.next().await
    }
}

/// Runs `swarm ambassador ...`.
pub(crate) async fn ambassador(command: AmbassadorCommand) -> anyhow::Result<()> {
    let AmbassadorCommand::Run(args) = command;
    let key = args.connection.key()?;
    if args.artifacts == 0 {
        bail!("--artifacts must be at least 1");
    }
    let report = match &args.directory {
        Some(dir) => {
            let source = DirectorySource::new(dir)
                .with_context(|| format!("cannot list {}", dir.display()))?
                .per_bounty(args.artifacts);
            if source.is_empty() {
                bail!("{} holds no files to post", dir.display());
            }
            let left = args.bounties.unwrap_or(usize::MAX);
            run_ambassador(Limited { source, left }, &args, key).await?
        }
        None => {
            let mut source =
                EicarSource::new(args.bounties.unwrap_or(10)).max_artifacts(args.artifacts);
            if let Some(seed) = args.seed {
                source = source.seed(seed);
            }
            run_ambassador(source, &args, key).await?
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("cannot serialize the report")?
        );
    } else {
        print_ambassador_report(&report);
    }
    let unsettled = report.outcomes.len() - report.settled();
    if unsettled > 0 {
        bail!(
            "{unsettled} of {} bounties did not settle",
            report.outcomes.len()
        );
    }
    if args.check && report.incorrect() > 0 {
        bail!(
            "{} artifacts got a consensus other than expected",
            report.incorrect()
        );
    }
    Ok(())
}

async fn run_ambassador<S: BountySource>(
    source: S,
    args: &AmbassadorRunArgs,
    key: PrivateKey,
) -> anyhow::Result<AmbassadorReport> {
    let mut builder = Ambassador::builder(source)
        .node(args.connection.node.clone())
        .key(key)
        .interval(Duration::from_millis(args.interval_ms))
        .max_in_flight(args.max_in_flight)
        .shutdown(shutdown_token());
    if let Some(amount) = args.amount {
        builder = builder.amount(amount);
    }
    if let Some(blocks) = args.duration {
        builder = builder.duration(blocks);
    }
    if let Some(secs) = args.watchdog_secs {
        builder = builder.watchdog(Duration::from_secs(secs));
    }
    if args.wait_for_funds {
        builder = builder.on_low_balance(LowBalance::Wait);
    }
    let ambassador = builder.build().context("cannot start the ambassador")?;
    ambassador.run().await.context("the ambassador stopped")
}

fn verdicts(v: &[bool]) -> String {
    v.iter().map(|m| if *m { 'M' } else { 'b' }).collect()
}

fn print_ambassador_report(report: &AmbassadorReport) {
    println!(
        "{:<36}  {:>9}  {:<10}  {:<10}  {:>10}  {:>7}",
        "bounty", "artifacts", "expected", "consensus", "assertions", "settled"
    );
    for o in &report.outcomes {
        let expected: String = o
            .expected
            .iter()
            .map(|e| match e {
                Some(true) => 'M',
                Some(false) => 'b',
                None => '?',
            })
            .collect();
        let consensus = o
            .consensus
            .as_deref()
            .map(verdicts)
            .unwrap_or_else(|| "-".into());
        let settled = match (o.settled_block, o.timed_out) {
            (Some(b), _) => b.to_string(),
            (None, true) => "timeout".into(),
            (None, false) => "-".into(),
        };
        let mark = match o.matches() {
            Some(true) => "ok",
            Some(false) => "WRONG",
            None => "",
        };
        println!(
            "{:<36}  {:>9}  {:<10}  {:<10}  {:>10}  {:>7}  {mark}",
            o.guid,
            o.artifacts.len(),
            expected,
            consensus,
            o.assertions,
            settled
        );
    }
    println!(
        "{} bounties, {} settled, {} timed out; artifacts: {} as expected, {} not; \
         spent {} NCT, refunded {} NCT (M = malicious, b = benign)",
        report.outcomes.len(),
        report.settled(),
        report.timed_out(),
        report.correct(),
        report.incorrect(),
        report.spent().to_nct_string(),
        report.refunded().to_nct_string()
    );
}
