//! Everything `swarm bench node` measured, and its printing as a table or
//! one JSON object.

use anyhow::Context;

/// Consecutive blocks of the busiest-second rate: a second of 100 ms blocks.
pub(super) const BUSIEST_BLOCKS: usize = 10;

/// Everything measured, for the table and the JSON object.
#[derive(serde::Serialize)]
pub(super) struct Report {
    /// SQLite (temporary) or the PostgreSQL URL.
    pub(super) store: String,
    /// Engines per bounty.
    pub(super) engines: u32,
    /// Artifacts per bounty.
    pub(super) artifacts_per_bounty: u32,
    /// Transactions the node shed as overloaded (503) and the bench sent
    /// again after `Retry-After`.
    pub(super) posts_shed: u64,
    /// Bounties posted (admitted) whose lifecycle did not complete: an
    /// assertion, reveal or vote of theirs refused or too late.
    pub(super) lifecycles_missed: usize,
    /// The machine's cores.
    pub(super) cores: usize,
    /// transactions/s divided by (cores × one core's recoveries/s).
    pub(super) tx_rate_over_all_cores_recovery: f64,
    /// Transactions/s over the busiest [`BUSIEST_BLOCKS`] consecutive
    /// blocks of the run: the rate once the waves overlap, without the
    /// run's ramp up and drain.
    pub(super) busiest_transactions_per_second: f64,
    /// The same divided by (cores × one core's recoveries/s).
    pub(super) busiest_over_all_cores_recovery: f64,
    /// CPU time the whole process (node and bench client) used per second
    /// of the run, in cores.
    pub(super) process_cores_busy: Option<f64>,
    /// `GET /bounties/{guid}` and `GET /status` answered during the load.
    pub(super) reads: usize,
    /// Median latency of those reads.
    pub(super) read_latency_p50_ms: f64,
    /// 99th percentile latency of those reads.
    pub(super) read_latency_p99_ms: f64,
    /// Median over waves of the blocks from the posts' block to the block
    /// holding the wave's last assertion.
    pub(super) assertion_inclusion_blocks_p50: u64,
    /// The most such blocks of any wave.
    pub(super) assertion_inclusion_blocks_max: u64,
    /// Arbiters voting (always 1).
    pub(super) arbiters: u32,
    /// The node's block time.
    pub(super) block_time_ms: u64,
    /// Each bounty's assertion round.
    pub(super) duration_blocks: u64,
    /// R.
    pub(super) reveal_window: u64,
    /// V.
    pub(super) vote_window: u64,
    /// Bounties per wave (and transactions per request).
    pub(super) batch: usize,
    /// Most waves in flight.
    pub(super) concurrency: usize,
    /// Whether requests used `?wait=true`.
    pub(super) wait_for_inclusion: bool,
    /// Lifecycles asked for.
    pub(super) lifecycles_requested: usize,
    /// Lifecycles whose every transaction was accepted and that settled with all of them.
    pub(super) lifecycles_complete: usize,
    /// Posted bounties that settled (complete or not).
    pub(super) bounties_settled: usize,
    /// 1 post + E assertions + E reveals + 1 vote.
    pub(super) transactions_per_lifecycle: usize,
    /// Transactions in the blocks committed during the run.
    pub(super) transactions_included: u64,
    /// Transactions refused (or lost with their request).
    pub(super) transactions_refused: usize,
    /// From sending the first post to seeing the last settlement.
    pub(super) wall_seconds: f64,
    /// Complete lifecycles per wall second.
    pub(super) lifecycles_per_second: f64,
    /// Included transactions per wall second.
    pub(super) transactions_per_second: f64,
    /// `POST /transactions` requests answered.
    pub(super) requests: usize,
    /// Median latency of a request.
    pub(super) request_latency_p50_ms: f64,
    /// 99th percentile latency of a request.
    pub(super) request_latency_p99_ms: f64,
    /// Median latency of a transaction (its request's).
    pub(super) tx_latency_p50_ms: f64,
    /// 99th percentile latency of a transaction (its request's).
    pub(super) tx_latency_p99_ms: f64,
    /// Request latency by phase.
    pub(super) phase_latency: Vec<PhaseLatency>,
    /// Signature recoveries per second on one thread, before the load.
    pub(super) recoveries_per_second_one_core: f64,
    /// Signatures per second on one thread, before the load.
    pub(super) signatures_per_second_one_core: f64,
    /// transactions/s divided by recoveries/s.
    pub(super) tx_rate_over_recovery_rate: f64,
    /// Transactions the bench signed.
    pub(super) signed_transactions: usize,
    /// Of them, signed while the clock ran (the rest before).
    pub(super) signed_during_run: usize,
    /// Estimated core-seconds the bench spent signing.
    pub(super) client_signing_core_seconds: f64,
    /// Blocks committed during the run.
    pub(super) blocks: usize,
    /// Mean transactions per block.
    pub(super) transactions_per_block_mean: f64,
    /// Most transactions in one block.
    pub(super) transactions_per_block_max: usize,
    /// Mean time between block seals.
    pub(super) block_interval_mean_ms: f64,
    /// Longest time between block seals.
    pub(super) block_interval_max_ms: f64,
    /// Mean store commit time per block, from the node's metrics.
    pub(super) block_commit_mean_ms: Option<f64>,
    /// Mean time from sealing a block to the announcement of its commit.
    pub(super) block_closed_mean_ms: f64,
    /// Longest time from sealing a block to the announcement of its commit.
    pub(super) block_closed_max_ms: f64,
    /// balances + escrow + staked + treasury == minted at the end.
    pub(super) supply_ok: bool,
    /// The supply from `GET /status`.
    pub(super) supply: serde_json::Value,
    /// Refusals by phase and code.
    pub(super) refusals: Vec<RefusalReport>,
}

/// Request latency of one phase.
#[derive(serde::Serialize)]
pub(super) struct PhaseLatency {
    /// `post`, `assert`, `reveal` or `vote`.
    pub(super) phase: &'static str,
    /// Requests answered.
    pub(super) requests: usize,
    /// Median request latency.
    pub(super) p50_ms: f64,
    /// 99th percentile request latency.
    pub(super) p99_ms: f64,
}

/// One kind of refusal.
#[derive(serde::Serialize)]
pub(super) struct RefusalReport {
    /// Which phase.
    pub(super) phase: &'static str,
    /// The node's error code.
    pub(super) code: String,
    /// How many transactions.
    pub(super) count: usize,
    /// The first message.
    pub(super) example: String,
}

/// Prints the report as a table, or as one JSON object.
pub(super) fn print_report(r: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string(r).context("serializing the report")?
        );
        return Ok(());
    }
    let row = |name: &str, value: String| println!("  {name:<26}{value}");
    println!();
    println!(
        "swarm bench node: {} engine(s) + {} arbiter, {} artifact(s) per bounty, {} ms blocks, duration {} / R {} / V {}",
        r.engines,
        r.arbiters,
        r.artifacts_per_bounty,
        r.block_time_ms,
        r.duration_blocks,
        r.reveal_window,
        r.vote_window
    );
    row("store", r.store.clone());
    row(
        "load",
        format!(
            "waves of {} bounties, at most one started per block, up to {} in flight",
            r.batch, r.concurrency
        ),
    );
    row(
        "lifecycles",
        format!(
            "{} complete of {} ({} settled)",
            r.lifecycles_complete, r.lifecycles_requested, r.bounties_settled
        ),
    );
    row(
        "transactions",
        format!(
            "{} included ({} per lifecycle), {} refused",
            r.transactions_included, r.transactions_per_lifecycle, r.transactions_refused
        ),
    );
    row(
        "wall time",
        format!("{:.3} s (first post to last settlement)", r.wall_seconds),
    );
    row("lifecycles/s", format!("{:.1}", r.lifecycles_per_second));
    row(
        "transactions/s",
        format!("{:.1}", r.transactions_per_second),
    );
    let mode = if r.wait_for_inclusion {
        "?wait=true: until the block is committed"
    } else {
        "?wait=false: until applied to the open block"
    };
    row(
        "latency per request",
        format!(
            "p50 {:.1} ms, p99 {:.1} ms over {} POST /transactions batches ({mode})",
            r.request_latency_p50_ms, r.request_latency_p99_ms, r.requests
        ),
    );
    row(
        "latency per transaction",
        format!(
            "p50 {:.1} ms, p99 {:.1} ms (each transaction weighted with its batch's latency)",
            r.tx_latency_p50_ms, r.tx_latency_p99_ms
        ),
    );
    for p in &r.phase_latency {
        row(
            &format!("  {} requests", p.phase),
            format!(
                "{:>5}  p50 {:.1} ms, p99 {:.1} ms",
                p.requests, p.p50_ms, p.p99_ms
            ),
        );
    }
    row(
        "recovery (1 core)",
        format!(
            "{:.0} recoveries/s (signing {:.0}/s)",
            r.recoveries_per_second_one_core, r.signatures_per_second_one_core
        ),
    );
    row(
        "tx/s / recoveries/s",
        format!(
            "{:.3} (cores' worth of signature recovery the node sustained)",
            r.tx_rate_over_recovery_rate
        ),
    );
    row(
        "of all cores",
        format!(
            "{:.3} = tx/s ÷ ({} cores × one core's recoveries/s)",
            r.tx_rate_over_all_cores_recovery, r.cores
        ),
    );
    row(
        "busiest second",
        format!(
            "{:.0} tx/s over the busiest {BUSIEST_BLOCKS} blocks, {:.3} of all cores' recovery",
            r.busiest_transactions_per_second, r.busiest_over_all_cores_recovery
        ),
    );
    if let Some(busy) = r.process_cores_busy {
        row(
            "process CPU",
            format!(
                "{busy:.2} of {} cores busy on average (node and bench client)",
                r.cores
            ),
        );
    }
    row(
        "shed / missed",
        format!(
            "{} transactions shed as overloaded and sent again; {} admitted lifecycles missed",
            r.posts_shed, r.lifecycles_missed
        ),
    );
    row(
        "reads under load",
        format!(
            "p50 {:.2} ms, p99 {:.2} ms over {} GET /bounties/{{guid}} and /status",
            r.read_latency_p50_ms, r.read_latency_p99_ms, r.reads
        ),
    );
    row(
        "post to assertions",
        format!(
            "{} blocks median, {} max (posts' block to the block of a wave's last assertion)",
            r.assertion_inclusion_blocks_p50, r.assertion_inclusion_blocks_max
        ),
    );
    row(
        "blocks",
        format!(
            "{} in the run, {:.0} tx/block mean, {} max; interval mean {:.0} ms, max {:.0} ms",
            r.blocks,
            r.transactions_per_block_mean,
            r.transactions_per_block_max,
            r.block_interval_mean_ms,
            r.block_interval_max_ms
        ),
    );
    row(
        "block commit (node)",
        match r.block_commit_mean_ms {
            Some(m) => format!("{m:.1} ms mean (swarm_block_commit_seconds)"),
            None => "unknown (no /metrics)".to_owned(),
        },
    );
    row(
        "seal to announce",
        format!(
            "{:.1} ms mean, {:.1} ms max from sealing a block to announcing its commit \
             (the next block takes transactions meanwhile)",
            r.block_closed_mean_ms, r.block_closed_max_ms
        ),
    );
    row(
        "client signing",
        format!(
            "{} signatures, about {:.2} core-seconds at the rate above; {} signed during the run",
            r.signed_transactions, r.client_signing_core_seconds, r.signed_during_run
        ),
    );
    row(
        "supply invariant",
        format!(
            "{} (balances + escrow + staked + treasury == minted; escrow {})",
            if r.supply_ok { "holds" } else { "BROKEN" },
            r.supply["escrow"].as_str().unwrap_or("?")
        ),
    );
    for refusal in &r.refusals {
        row(
            &format!("refused {}", refusal.phase),
            format!("{} x {}: {}", refusal.count, refusal.code, refusal.example),
        );
    }
    Ok(())
}
