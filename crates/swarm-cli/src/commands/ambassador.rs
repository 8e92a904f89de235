//! `swarm ambassador run`: an ambassador of the SDK posting EICAR/benign
//! files, a directory's files or the URLs of a list file (as URL
//! bounties), configured by flags, with a report of every bounty's outcome.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use swarm_protocol::{Amount, PrivateKey};
use swarm_sdk::{
    Ambassador, AmbassadorReport, BountyRequest, BountySource, DirectorySource, EicarSource,
    LowBalance, UrlSource,
};

use crate::connection::Connection;

/// `swarm ambassador ...`.
#[derive(Subcommand)]
pub(crate) enum AmbassadorCommand {
    /// Post bounties (EICAR and benign files, a directory's files, or the
    /// URLs of a list file) and report their outcomes.
    Run(AmbassadorRunArgs),
}

/// Flags of `swarm ambassador run`.
#[derive(Args)]
pub(crate) struct AmbassadorRunArgs {
    /// Bounties to post (with --directory or --urls: at most this many).
    #[arg(long, value_name = "N")]
    bounties: Option<usize>,
    /// Post the files of this directory instead of EICAR/benign files.
    #[arg(long, value_name = "DIR")]
    directory: Option<PathBuf>,
    /// Post URL bounties on the URLs of this file instead: one URL per
    /// line, `#` starts a comment; http and https only, every URL checked
    /// before the first post.
    #[arg(long, value_name = "FILE", conflicts_with = "directory")]
    urls: Option<PathBuf>,
    /// Artifacts per bounty: at most this many (EICAR, drawn at random), or
    /// exactly this many (--directory, --urls; the last bounty takes the
    /// rest).
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
    observe: crate::observe::Observe,
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
pub(crate) async fn run(command: AmbassadorCommand) -> anyhow::Result<()> {
    let AmbassadorCommand::Run(args) = command;
    let key = args.connection.key()?;
    if args.artifacts == 0 {
        bail!("--artifacts must be at least 1");
    }
    let report = match (&args.directory, &args.urls) {
        (_, Some(list)) => {
            let source = UrlSource::from_file(list)
                .with_context(|| format!("cannot use the URL list {}", list.display()))?
                .per_bounty(args.artifacts);
            if source.is_empty() {
                bail!("{} lists no URLs to post", list.display());
            }
            let left = args.bounties.unwrap_or(usize::MAX);
            run_ambassador(Limited { source, left }, &args, key).await?
        }
        (Some(dir), None) => {
            let source = DirectorySource::new(dir)
                .with_context(|| format!("cannot list {}", dir.display()))?
                .per_bounty(args.artifacts);
            if source.is_empty() {
                bail!("{} holds no files to post", dir.display());
            }
            let left = args.bounties.unwrap_or(usize::MAX);
            run_ambassador(Limited { source, left }, &args, key).await?
        }
        (None, None) => {
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
        .shutdown(swarm_sdk::shutdown_on_signal());
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
    if let Some(addr) = args.observe.metrics_listen {
        builder = builder.metrics_listen(addr);
    }
    builder = builder.health_threshold(args.observe.threshold());
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
