//! `swarm bench chain`: how a node's costs grow with the chain behind it.
//!
//! A node that serves a long chain must not pay for its length where it
//! should pay for what is live: memory, restart time and read latency
//! should stay flat as settled bounties pile up, and only the database
//! (and a full replay of the events) should grow with them. This bench
//! checks that by measurement.
//!
//! It grows one chain of complete bounty lifecycles — driven by `swarm
//! bench node`'s machinery ([`super::node::Grower`]) against a node in this
//! process — to each size of `--sizes` in turn. At each size it stops that
//! node and measures a `swarm node` *child process* on the same data (so
//! its memory is the node's alone, read from `/proc/PID/status`): the
//! database size on disk, the time from start to `GET /status` answering
//! (after a SIGTERM, on the same data), its resident memory then and after
//! the reads, `GET /bounties/{guid}` latency for random settled guids, the
//! explorer's overview and bounty pages, and the rate of a full
//! `/events?since=0` replay. It checks what it measures: every lifecycle
//! settled, the supply invariant, and every stored event replayed exactly
//! once and in order.

mod child;
mod probe;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use super::node::Grower;
use child::ChildNode;
use report::{print_table, write_charts, PhaseRss, Row};

/// Flags of `swarm bench chain`.
#[derive(Args, Clone, Debug)]
pub(crate) struct ChainBenchArgs {
    /// Settled bounties at which to measure, ascending, comma-separated
    /// (e.g. 10000,100000,1000000).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000])]
    sizes: Vec<usize>,
    /// Use this (fresh, empty) PostgreSQL database instead of SQLite in a
    /// temporary directory.
    #[arg(long, env = "SWARM_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Requests per latency figure of the API (the explorer's pages get a
    /// fifth as many).
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Write the growth curves as SVG: FILE's stem with `-memory`,
    /// `-latency`, `-restart` and `-replay` (e.g. chain.svg gives
    /// chain-memory.svg, ...).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Save the measured rows as JSON, to draw them beside a later run.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Rows saved by an earlier run (`--save`), drawn beside this one's in
    /// the charts and printed above its table.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Grow the chain (genesis.toml and data/) in DIR, which must be empty
    /// or absent, and keep it afterwards; without it the chain grows in a
    /// temporary directory that is removed at the end (a 10⁶ chain on
    /// SQLite takes ~14 GB).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// `swarm bench chain`: grow, stop, measure a child node, repeat.
pub(crate) async fn run(args: ChainBenchArgs) -> anyhow::Result<()> {
    if args.sizes.is_empty() || args.sizes.windows(2).any(|w| w[0] >= w[1]) {
        bail!("--sizes must be ascending numbers of settled bounties, e.g. 10000,100000");
    }
    if args.sizes[0] == 0 || args.requests == 0 {
        bail!("--sizes and --requests must be at least 1");
    }
    let baseline: Vec<Row> = match &args.baseline {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => Vec::new(),
    };
    let grower = Grower::new();
    // Removed when dropped, on success and on error alike.
    let temporary;
    let root = match &args.data_dir {
        Some(dir) => {
            let empty = match std::fs::read_dir(dir) {
                Ok(mut entries) => entries.next().is_none(),
                Err(_) => true,
            };
            if !empty {
                bail!("--data-dir {} is not empty", dir.display());
            }
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temporary = tempfile::tempdir().context("cannot create a temporary data directory")?;
            temporary.path().to_path_buf()
        }
    };
    let genesis_path = root.join("genesis.toml");
    std::fs::write(&genesis_path, grower.genesis().to_toml())
        .context("cannot write the bench genesis")?;
    let data_dir = root.join("data");
    let load = load_average();
    println!(
        "growing a chain to {:?} settled bounties on {} in {} (load average {load})",
        args.sizes,
        match &args.database_url {
            Some(_) => "PostgreSQL",
            None => "SQLite",
        },
        root.display()
    );
    let mut rows = Vec::new();
    let mut settled = 0usize;
    for &size in &args.sizes {
        let grown = grow(
            &grower,
            &data_dir,
            args.database_url.as_deref(),
            size - settled,
        )
        .await?;
        settled = size;
        println!(
            "  {size} settled ({:.0} lifecycles/s); measuring a `swarm node` on them ...",
            grown
        );
        let row = measure(&args, &genesis_path, &data_dir, &grower, size).await?;
        rows.push(row);
    }
    if !baseline.is_empty() {
        println!(
            "\nbaseline ({}):",
            args.baseline
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        print_table(&baseline);
        println!("\nthis run:");
    }
    print_table(&rows);
    println!("load average at the end: {}", load_average());
    if let Some(path) = &args.save {
        let text = serde_json::to_string_pretty(&rows).context("encoding the rows")?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        for written in write_charts(path, &rows, &baseline)? {
            println!("wrote {}", written.display());
        }
    }
    Ok(())
}

/// Grows the chain in `data_dir` by `lifecycles` settled bounties on a node
/// in this process, checks the supply, and stops it. Returns the
/// lifecycles per second.
///
/// A wave whose posts the node kept shedding until they expired was never
/// posted (the run itself fails if a posted bounty does not settle): the
/// node refusing new work under load is admission doing its job, so the
/// missing bounties are grown again, for at most [`GROW_ROUNDS`] rounds.
async fn grow(
    grower: &Grower,
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    lifecycles: usize,
) -> anyhow::Result<f64> {
    let mut config = swarm_node::NodeConfig::new(grower.genesis().clone());
    config.data_dir = data_dir.to_path_buf();
    config.database_url = database_url.map(str::to_owned);
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.block_time = Some(grower.block_time());
    config.limits = swarm_node::Limits::unlimited();
    let node = swarm_node::start(config)
        .await
        .context("cannot start the node that grows the chain")?;
    let grown = grow_on(grower, &node, lifecycles).await;
    let stopped = node.shutdown().await;
    let grown = grown?;
    stopped.context("the growing node failed while stopping")?;
    // A loaded machine can make an engine miss a round; the bounty still
    // settles (without that reveal or vote), and a settled bounty is what
    // the chain is grown with.
    if grown.complete < grown.requested {
        println!(
            "  note: {} of {} lifecycles missed an assertion, reveal or vote under load (all settled)",
            grown.requested - grown.complete,
            grown.requested
        );
    }
    if !grown.supply_ok {
        bail!("the supply invariant is broken after growing the chain");
    }
    Ok(grown.lifecycles_per_second)
}

/// Rounds of [`grow`] before it gives up on bounties the node never took.
const GROW_ROUNDS: usize = 5;

/// What the rounds of [`grow_on`] did in all.
struct GrownInAll {
    requested: usize,
    complete: usize,
    supply_ok: bool,
    lifecycles_per_second: f64,
}

/// Runs lifecycles on `node` until `lifecycles` more bounties settled.
async fn grow_on(
    grower: &Grower,
    node: &swarm_node::RunningNode,
    lifecycles: usize,
) -> anyhow::Result<GrownInAll> {
    let (mut settled, mut complete, mut seconds, mut supply_ok) = (0usize, 0usize, 0.0f64, true);
    for _ in 0..GROW_ROUNDS {
        let grown = grower.grow(node, lifecycles - settled).await?;
        settled += grown.settled.min(grown.requested);
        complete += grown.complete;
        supply_ok &= grown.supply_ok;
        if grown.lifecycles_per_second > 0.0 {
            seconds += grown.complete as f64 / grown.lifecycles_per_second;
        }
        if settled >= lifecycles {
            return Ok(GrownInAll {
                requested: lifecycles,
                complete,
                supply_ok,
                lifecycles_per_second: if seconds > 0.0 {
                    complete as f64 / seconds
                } else {
                    0.0
                },
            });
        }
        println!(
            "  note: the node shed {} posts until they expired; growing them again",
            grown.requested - grown.settled.min(grown.requested)
        );
    }
    bail!("only {settled} of {lifecycles} bounties settled after {GROW_ROUNDS} rounds")
}

/// Starts a `swarm node` on the chain, restarts it, measures it, stops it.
async fn measure(
    args: &ChainBenchArgs,
    genesis: &std::path::Path,
    data_dir: &std::path::Path,
    grower: &Grower,
    size: usize,
) -> anyhow::Result<Row> {
    let database_bytes = match &args.database_url {
        None => sqlite_bytes(data_dir),
        Some(url) => probe::postgres_bytes(url).await.ok(),
    };
    // The first start may replay more than a restart does (the growing
    // node stopped at an arbitrary block); the restart is what is timed.
    let first = ChildNode::start(genesis, data_dir, args.database_url.as_deref()).await?;
    first.stop().await?;
    let node = ChildNode::start(genesis, data_dir, args.database_url.as_deref()).await?;
    let restart = node.ready_after;
    let start_rss = node.rss_bytes();
    let outcome = probe::probe(&node.url, size, args.requests, grower.block_time(), || {
        node.rss_bytes()
    })
    .await;
    let rss = node.rss_bytes();
    let peak = node.peak_rss_bytes();
    node.stop().await?;
    let p = outcome?;
    Ok(Row {
        settled: size,
        database_mb: database_bytes.map(|b| b as f64 / 1e6),
        start_rss_mb: start_rss.map(|b| b as f64 / 1e6),
        rss_mb: rss.map(|b| b as f64 / 1e6),
        peak_rss_mb: peak.map(|b| b as f64 / 1e6),
        restart_s: restart.as_secs_f64(),
        listing_p50_ms: Some(p.listing.0),
        listing_p99_ms: Some(p.listing.1),
        bounty_p50_ms: p.bounty.0,
        bounty_p99_ms: p.bounty.1,
        overview_p50_ms: p.overview.0,
        overview_p99_ms: p.overview.1,
        bounty_page_p50_ms: p.bounty_page.0,
        bounty_page_p99_ms: p.bounty_page.1,
        first_overview_ms: Some(p.first_overview_ms),
        replay_events: p.replay_events,
        replay_events_per_s: p.replay_rate,
        load_average: load_average(),
        rss_after_mb: p
            .rss_after
            .into_iter()
            .map(|(phase, bytes)| PhaseRss {
                phase: phase.to_owned(),
                mb: bytes.map(|b| b as f64 / 1e6),
            })
            .collect(),
    })
}

/// The SQLite database with its WAL, in bytes.
fn sqlite_bytes(data_dir: &std::path::Path) -> Option<u64> {
    let mut total = None;
    for name in ["chain.sqlite", "chain.sqlite-wal", "chain.sqlite-shm"] {
        if let Ok(m) = std::fs::metadata(data_dir.join(name)) {
            total = Some(total.unwrap_or(0) + m.len());
        }
    }
    total
}

/// `/proc/loadavg`'s three averages, as text.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// How long to wait for a child node to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
