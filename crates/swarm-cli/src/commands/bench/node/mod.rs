//! `swarm bench node`: complete bounty lifecycles against a fresh node, over HTTP.
//!
//! The benchmark starts a node in this process (SQLite in a temporary
//! directory, or a given PostgreSQL database) with a bench genesis derived
//! from the dev genesis, stakes the arbiter, uploads one artifact bundle and
//! then drives lifecycles in *waves*. A wave of K bounties goes through:
//!
//! 1. the ambassador posts K bounties in one batch (block P);
//! 2. each of the E engines asserts on all K in one batch (before E = P + duration);
//! 3. once block E is open, each engine reveals in one batch (round 1);
//! 4. once block E + R is open, the arbiter votes in one batch;
//! 5. the node settles each bounty by itself at the next block (its only
//!    arbiter voted).
//!
//! At most one wave starts per block, after the reveals and votes due in
//! that block were answered, and at most `--concurrency` are in flight, so
//! the node always has posts, assertions, reveals and votes of different
//! waves to work on. Since blocks stretch when the node is loaded, the
//! offered load follows the node's pace. Every transaction is signed ahead
//! of need on the blocking thread pool and sent over HTTP as a
//! pre-serialized batch.
//! Which block is open comes from the node's committed-block broadcast (the
//! in-process source of `GET /events`), so the clock costs no HTTP.
//!
//! A lifecycle counts as complete when its post, its E assertions, its E
//! reveals and its vote were accepted and `GET /bounties/{guid}` shows it
//! settled with all of them. Before the load, the single-core signature
//! recovery rate is measured, so the report can say how many cores' worth of
//! recoveries the node's transaction rate amounts to.

mod calibration;
mod checks;
mod clock;
mod drive;
mod load;
mod plan;
mod report;
mod search;
mod setup;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use swarm_node::NodeConfig;

use calibration::{recovery_rate, signing_rate, Calibration, RECOVERY_LOOP, SIGNING_LOOP};
use clock::Clock;
use drive::drive;
use plan::{bench_genesis, Keys};
use report::print_report;

/// Most transactions the node takes in one `POST /transactions` batch.
const MAX_BATCH: usize = 1000;

/// Most engines a run can have (each is a funded dev key).
const MAX_ENGINES: u32 = 256;

/// Flags of `swarm bench node`.
#[derive(Args, Clone, Debug)]
pub(crate) struct NodeBenchArgs {
    /// Engines asserting and revealing on every bounty; a list
    /// (`1,3,10,30,100`) runs one measurement per count.
    #[arg(long, value_delimiter = ',', default_value = "3",
          value_parser = clap::value_parser!(u32).range(1..=MAX_ENGINES as i64))]
    engines: Vec<u32>,
    /// Artifacts in every bounty; a list (`1,16,256`) runs one measurement
    /// per count.
    #[arg(long, value_delimiter = ',', default_value = "1",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    artifacts: Vec<u32>,
    /// Find the highest load that completes every lifecycle without the
    /// node shedding a post: trials of `--trial-waves` waves with growing
    /// wave sizes, then bisection; reports that load and the first one
    /// above it. `--batch` and `--lifecycles` are then chosen by the search.
    #[arg(long)]
    find_max: bool,
    /// Waves in each trial of `--find-max`.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(2..=1000))]
    trial_waves: u64,
    /// Write the curve over the engine or artifact counts as an SVG chart
    /// to this file (and transactions/s to FILE-tx.svg).
    #[arg(long, value_name = "FILE")]
    svg: Option<std::path::PathBuf>,
    /// Bounty lifecycles to run.
    #[arg(long, default_value_t = 5000)]
    lifecycles: usize,
    /// Use this (fresh, empty) PostgreSQL database instead of SQLite in a
    /// temporary directory.
    #[arg(long, env = "SWARM_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Block time of the bench node, in milliseconds.
    #[arg(long, default_value_t = 100)]
    block_time_ms: u64,
    /// Bounties per wave; every request carries one role's transactions for
    /// one wave, so this is also the batch size (at most 1,000). With 100 ms
    /// blocks, 200 keeps a 2-core machine busy without piling several
    /// waves into one block.
    #[arg(long, default_value_t = 200)]
    batch: usize,
    /// Most waves in flight at once (one wave starts per block at most; a
    /// lifecycle spans about duration + R + 2 blocks).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Assertion round length of each bounty, in blocks. Every round is a
    /// few blocks long because a loaded node spends most of each block
    /// interval committing, and a request that waits out one commit must
    /// still find its round open.
    #[arg(long, default_value_t = 4)]
    duration: u64,
    /// Reveal window R of the bench genesis, in blocks (1 is the tightest
    /// schedule, and fails under load: see `duration`).
    #[arg(long, default_value_t = 4)]
    reveal_window: u64,
    /// Vote window V of the bench genesis, in blocks.
    #[arg(long, default_value_t = 4)]
    vote_window: u64,
    /// Submit with `?wait=true`, so latency includes block inclusion.
    #[arg(long)]
    wait: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Refuses flags that cannot make a run.
fn check_args(args: &NodeBenchArgs) -> anyhow::Result<()> {
    if args.engines.is_empty() || args.artifacts.is_empty() {
        bail!("--engines and --artifacts need at least one count");
    }
    if args.lifecycles == 0 {
        bail!("--lifecycles must be at least 1");
    }
    if args.batch == 0 || args.batch > MAX_BATCH {
        bail!(
            "--batch must be between 1 and {MAX_BATCH} (the node's batch limit), not {}",
            args.batch
        );
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.block_time_ms == 0 {
        bail!("--block-time-ms must be at least 1");
    }
    if args.duration == 0 || args.reveal_window == 0 || args.vote_window == 0 {
        bail!("--duration, --reveal-window and --vote-window must be at least 1");
    }
    Ok(())
}

impl NodeBenchArgs {
    /// The engine count of a single run (the first of the list).
    fn engine_count(&self) -> u32 {
        self.engines.first().copied().unwrap_or(3)
    }

    /// The artifact count of a single run (the first of the list).
    fn artifact_count(&self) -> u32 {
        self.artifacts.first().copied().unwrap_or(1)
    }

    /// These flags for one run of `engines` engines and `artifacts` artifacts.
    fn single(&self, engines: u32, artifacts: u32) -> NodeBenchArgs {
        NodeBenchArgs {
            engines: vec![engines],
            artifacts: vec![artifacts],
            ..self.clone()
        }
    }
}

/// `swarm bench node`: calibrate, then one run, a search for the highest
/// load, or a sweep of either over engine or artifact counts.
pub(crate) async fn run(args: NodeBenchArgs) -> anyhow::Result<()> {
    check_args(&args)?;
    if !args.json {
        println!("measuring single-core signature recovery ...");
    }
    let (recoveries, signatures) = tokio::task::spawn_blocking(|| {
        recovery_rate(RECOVERY_LOOP).map(|r| (r, signing_rate(SIGNING_LOOP)))
    })
    .await
    .context("the recovery loop failed")??;
    let calibration = Calibration {
        recoveries,
        signatures,
    };
    let sweep = args.engines.len() > 1 || args.artifacts.len() > 1;
    if !args.find_max && !sweep {
        let report = trial(&args, calibration).await?;
        print_report(&report, args.json)?;
        return check_complete(&report);
    }
    search::sweep(&args, calibration).await
}

/// Fails unless every lifecycle completed and the supply holds.
fn check_complete(report: &report::Report) -> anyhow::Result<()> {
    if report.lifecycles_complete < report.lifecycles_requested || !report.supply_ok {
        bail!(
            "{} of {} lifecycles did not complete{}",
            report.lifecycles_requested - report.lifecycles_complete,
            report.lifecycles_requested,
            if report.supply_ok {
                ""
            } else {
                ", and the supply invariant is broken"
            }
        );
    }
    Ok(())
}

/// One run on a fresh node: start it, drive the load, stop it.
async fn trial(args: &NodeBenchArgs, calibration: Calibration) -> anyhow::Result<report::Report> {
    let keys = Arc::new(Keys::new(args.engine_count()));
    let genesis = bench_genesis(args, &keys);
    let dir = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let many = args.find_max || args.engines.len() > 1 || args.artifacts.len() > 1;
    let trial_database = match &args.database_url {
        Some(url) if many => Some(TrialDatabase::create(url).await?),
        _ => None,
    };
    let database_url = match &trial_database {
        Some(db) => Some(db.url()),
        None => args.database_url.clone(),
    };
    let mut config = NodeConfig::new(genesis.clone());
    config.data_dir = dir.path().to_path_buf();
    config.database_url = database_url.clone();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.block_time = Some(Duration::from_millis(args.block_time_ms));
    // One process stands for a whole marketplace of clients: per-client
    // rates would measure the limits, not the node. Admission control
    // stays on: it is the node's own protection.
    config.limits = swarm_node::Limits::unlimited();
    // The node gets a runtime of its own, as it would have in its own
    // process: its requests wait behind the node's work, not behind the
    // bench client's (whose tasks would otherwise share the same workers
    // and show up in the node's read latency).
    let node_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("swarm-node")
        .build()
        .context("cannot start the bench node's runtime")?;
    let node = node_runtime
        .spawn(swarm_node::start(config))
        .await
        .context("the bench node's start panicked")?
        .with_context(|| match &args.database_url {
            Some(_) => "cannot start the bench node (the PostgreSQL database must be reachable \
                    and fresh: it refuses a database holding another genesis)"
                .to_owned(),
            None => format!("cannot start the bench node in {}", dir.path().display()),
        })?;
    let clock = Clock::follow(&node);
    let store = describe_store(args, dir.path());
    let result = drive(args, &node, clock, keys, genesis, calibration, store).await;
    let stopped = node.shutdown().await;
    node_runtime.shutdown_background();
    if let Some(db) = trial_database {
        db.drop_it().await;
    }
    let report = result?;
    stopped.context("the bench node failed while stopping")?;
    Ok(report)
}

/// A fresh PostgreSQL database for one trial of a search or sweep (each
/// trial starts from genesis), named after the given one with a random
/// suffix, and dropped after the trial.
struct TrialDatabase {
    /// `postgres://user@host:port`.
    server: String,
    /// The database's name.
    name: String,
}

impl TrialDatabase {
    /// Creates it on the server of `url`.
    async fn create(url: &str) -> anyhow::Result<TrialDatabase> {
        use sqlx::Connection;
        let (server, name) = url
            .rsplit_once('/')
            .filter(|(server, name)| {
                server.contains("://") && !name.is_empty() && !name.contains('?')
            })
            .with_context(|| format!("{url:?} does not end in /DATABASE"))?;
        let mut admin = sqlx::PgConnection::connect(url)
            .await
            .with_context(|| format!("cannot connect to {url} to create a trial database"))?;
        let name = format!("{name}_{:08x}", rand::random::<u32>());
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .with_context(|| format!("cannot create the trial database {name}"))?;
        Ok(TrialDatabase {
            server: server.to_owned(),
            name,
        })
    }

    /// Its URL.
    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// Drops it; a failure is only logged (the trial's figures stand).
    async fn drop_it(self) {
        use sqlx::Connection;
        let dropped = async {
            let mut admin =
                sqlx::PgConnection::connect(&format!("{}/postgres", self.server)).await?;
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await
        };
        if let Err(e) = dropped.await {
            tracing::warn!(database = %self.name, "cannot drop the trial database: {e}");
        }
    }
}

/// Lifecycles driven into a node someone else started, by the same
/// machinery as `swarm bench node`: what `swarm bench chain` grows its
/// chain with.
pub(crate) struct Grower {
    args: NodeBenchArgs,
    keys: Arc<Keys>,
    genesis: swarm_protocol::Genesis,
}

/// What one [`Grower::grow`] did.
pub(crate) struct Grown {
    /// Lifecycles asked for.
    pub(crate) requested: usize,
    /// Lifecycles complete: posted, asserted, revealed, voted, settled.
    pub(crate) complete: usize,
    /// Bounties `GET /bounties/{guid}` shows settled.
    pub(crate) settled: usize,
    /// balances + escrow + staked + treasury == minted after the run.
    pub(crate) supply_ok: bool,
    /// Complete lifecycles per second.
    pub(crate) lifecycles_per_second: f64,
}

impl Grower {
    /// The default load of `swarm bench node` (3 engines, waves of 200,
    /// 100 ms blocks); the arbiter is funded to stake once per run.
    pub(crate) fn new() -> Self {
        let args = NodeBenchArgs {
            engines: vec![3],
            artifacts: vec![1],
            find_max: false,
            trial_waves: 20,
            svg: None,
            lifecycles: 1,
            database_url: None,
            block_time_ms: 100,
            batch: 200,
            concurrency: 16,
            duration: 4,
            reveal_window: 4,
            vote_window: 4,
            wait: false,
            json: true,
        };
        let keys = Arc::new(Keys::new(args.engine_count()));
        let mut genesis = bench_genesis(&args, &keys);
        genesis.allocations.insert(
            keys.arbiter.address(),
            swarm_protocol::NctAmount(swarm_protocol::Amount::from_nct(
                super::BENCH_ALLOCATION_NCT,
            )),
        );
        Grower {
            args,
            keys,
            genesis,
        }
    }

    /// The genesis every node of the run must start with.
    pub(crate) fn genesis(&self) -> &swarm_protocol::Genesis {
        &self.genesis
    }

    /// The block time the genesis sets.
    pub(crate) fn block_time(&self) -> Duration {
        Duration::from_millis(self.args.block_time_ms)
    }

    /// Runs `lifecycles` complete lifecycles on `node` (started with
    /// [`Grower::genesis`] and no rate limits) and checks each one settled.
    pub(crate) async fn grow(
        &self,
        node: &swarm_node::RunningNode,
        lifecycles: usize,
    ) -> anyhow::Result<Grown> {
        let mut args = self.args.clone();
        args.lifecycles = lifecycles;
        check_args(&args)?;
        let clock = Clock::follow(node);
        let calibration = Calibration {
            recoveries: 1.0,
            signatures: 1.0,
        };
        let report = drive(
            &args,
            node,
            clock,
            self.keys.clone(),
            self.genesis.clone(),
            calibration,
            String::new(),
        )
        .await?;
        Ok(Grown {
            requested: report.lifecycles_requested,
            complete: report.lifecycles_complete,
            settled: report.bounties_settled,
            supply_ok: report.supply_ok,
            lifecycles_per_second: report.lifecycles_per_second,
        })
    }
}

/// The store in words, without a password.
fn describe_store(args: &NodeBenchArgs, data_dir: &std::path::Path) -> String {
    match &args.database_url {
        Some(url) => {
            // Hide a password, if any.
            let shown = match (url.find("://"), url.rfind('@')) {
                (Some(scheme), Some(at)) if at > scheme => {
                    let userinfo = &url[scheme + 3..at];
                    match userinfo.split_once(':') {
                        Some((user, _)) => {
                            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
                        }
                        None => url.clone(),
                    }
                }
                _ => url.clone(),
            };
            format!("PostgreSQL {shown}")
        }
        None => format!(
            "SQLite {} (a temporary directory, removed after the run)",
            data_dir.join("chain.sqlite").display()
        ),
    }
}
