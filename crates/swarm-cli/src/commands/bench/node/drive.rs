//! The run itself: stake, upload, start waves at the node's pace, wait for
//! every settlement, check the outcome and gather the figures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt};
use swarm_node::RunningNode;
use swarm_protocol::{Genesis, Guid, Parameters};
use tokio::sync::{mpsc, watch, Semaphore};

use super::calibration::Calibration;
use super::checks::{check_bounty, check_supply, commit_stats};
use super::clock::{BlockSeen, Clock};
use super::load::{run_wave, Ctx, Load, Phase, Refusals};
use super::plan::{sign_wave, Keys, SignedWave, WaveTemplate};
use super::report::{PhaseLatency, RefusalReport, Report, BUSIEST_BLOCKS};
use super::setup::{stake, upload};
use super::NodeBenchArgs;
use crate::commands::bench::stats::{mean, ms, weighted_quantile};
use crate::commands::bench::{lock, EXPIRY_AHEAD};

/// Concurrent `GET /bounties/{guid}` requests of the final check.
const CHECK_CONCURRENCY: usize = 32;

/// Stakes, uploads, runs every wave and checks the outcome.
pub(super) async fn drive(
    args: &NodeBenchArgs,
    node: &RunningNode,
    clock: Arc<Clock>,
    keys: Arc<Keys>,
    genesis: Genesis,
    calibration: Calibration,
    store: String,
) -> anyhow::Result<Report> {
    let Calibration {
        recoveries,
        signatures,
    } = calibration;
    let url = node.url();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .context("cannot build the HTTP client")?;
    let params: Parameters = genesis.parameters.resolve();
    let block_time = Duration::from_millis(args.block_time_ms);
    let ctx = Arc::new(Ctx {
        load: watch::channel(Load::default()).0,
        http,
        url: url.clone(),
        wait: args.wait,
        clock: clock.clone(),
        block_time,
        samples: Mutex::new(Vec::new()),
        refusals: Mutex::new(Refusals::default()),
        accepted: AtomicU64::new(0),
        shed: AtomicU64::new(0),
        inclusion_blocks: Mutex::new(Vec::new()),
        posted: Mutex::new(Vec::new()),
    });
    let artifacts = args.artifact_count() as usize;

    // The arbiter stakes the minimum; one artifact bundle serves every bounty.
    stake(
        &ctx,
        &keys.arbiter,
        &genesis.community,
        params.minimum_stake,
    )
    .await?;
    let uri = upload(&ctx, &keys.ambassador, &genesis.community, artifacts).await?;
    let commit_before = commit_stats(&ctx).await;

    let template = Arc::new(WaveTemplate {
        keys: keys.clone(),
        community: Arc::from(genesis.community.as_str()),
        uri,
        amount: params
            .bounty_amount_minimum
            .checked_mul(artifacts as u128)
            .context("the bounty amount overflows")?,
        artifacts,
        bid: params.assertion_bid_minimum,
        duration: args.duration,
    });
    let mut sizes = Vec::new();
    let mut left = args.lifecycles;
    while left > 0 {
        let size = left.min(args.batch);
        sizes.push(size);
        left -= size;
    }
    let ahead = (args.concurrency * 2).max(4);
    let (wave_tx, mut wave_rx) = mpsc::channel::<anyhow::Result<SignedWave>>(ahead);
    let signer = {
        let template = template.clone();
        let clock = clock.clone();
        let sizes = sizes.clone();
        tokio::spawn(async move {
            for size in sizes {
                let expires = *clock.committed.borrow() + EXPIRY_AHEAD;
                let wave = sign_wave(&template, size, expires).await;
                if wave_tx.send(wave).await.is_err() {
                    break;
                }
            }
        })
    };
    // Let the signer get ahead before the clock starts.
    let prefill = sizes.len().min(ahead);
    let prefill_deadline = Instant::now() + Duration::from_secs(120);
    while wave_rx.len() < prefill && Instant::now() < prefill_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if !args.json {
        println!(
            "running {} lifecycles in {} waves of up to {} bounties on {} ...",
            args.lifecycles,
            sizes.len(),
            args.batch,
            store
        );
    }

    let per_lifecycle = 2 + 2 * args.engine_count() as usize;
    let mut signed_txs = 0;
    let started = Instant::now();
    let cpu_before = process_cpu_seconds();
    let included_before: usize = lock(&clock.blocks).iter().map(|b| b.txs).sum();
    let settled_before = clock.settled.load(Ordering::SeqCst);
    let semaphore = Arc::new(Semaphore::new(args.concurrency));
    let reads_stop = tokio_util::sync::CancellationToken::new();
    let reader = tokio::spawn(read_load(ctx.clone(), reads_stop.clone()));
    let mut running = tokio::task::JoinSet::new();
    let presigned: usize = sizes.iter().take(wave_rx.len()).sum();
    let mut last_start = 0u64;
    while let Some(wave) = wave_rx.recv().await {
        let wave = wave?;
        signed_txs += wave.len();
        let permit = semaphore
            .clone()
            .acquire_owned()
            .await
            .context("the wave semaphore closed")?;
        // At most one wave starts per block, and only once the node has
        // answered this block's reveals and votes.
        if last_start > 0 {
            clock.wait_open(last_start + 1, ctx.stuck_limit()).await?;
        }
        ctx.wait_quiet().await?;
        last_start = clock.open_block();
        let ctx = ctx.clone();
        let (duration, reveal_window) = (args.duration, args.reveal_window);
        running.spawn(async move {
            let outcome = run_wave(&ctx, wave, duration, reveal_window).await;
            drop(permit);
            outcome
        });
    }
    signer.await.context("the signing task failed")?;
    let mut outcomes = Vec::new();
    while let Some(outcome) = running.join_next().await {
        outcomes.push(outcome.context("a wave task failed")?);
    }

    // Every accepted post settles by itself; wait for the last one.
    let posted: usize = outcomes
        .iter()
        .map(|o| o.posted.iter().filter(|p| **p).count())
        .sum();
    let limit = block_time * (args.duration + args.reveal_window + args.vote_window + 10) as u32
        + Duration::from_secs(30);
    let deadline = Instant::now() + limit;
    let mut committed = clock.committed.clone();
    while clock.settled.load(Ordering::SeqCst) - settled_before < posted {
        if Instant::now() > deadline {
            bail!(
                "only {} of {posted} posted bounties settled within {}s",
                clock.settled.load(Ordering::SeqCst) - settled_before,
                limit.as_secs()
            );
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), committed.changed()).await;
    }
    let ended = lock(&clock.last_settlement).unwrap_or_else(Instant::now);
    let cpu_after = process_cpu_seconds();
    reads_stop.cancel();
    let mut reads = reader.await.context("the reading task failed")?;
    let wall = ended.saturating_duration_since(started);

    // Check every bounty over the API, and the supply.
    let engines = args.engine_count() as usize;
    let all: Vec<(Guid, bool)> = outcomes
        .iter()
        .flat_map(|o| o.guids.iter().copied().zip(o.accepted.iter().copied()))
        .collect();
    let checks = stream::iter(all.iter().map(|(guid, accepted)| {
        let ctx = ctx.clone();
        let (guid, accepted) = (*guid, *accepted);
        async move {
            check_bounty(&ctx, guid, engines)
                .await
                .map(|c| (c, accepted))
        }
    }))
    .buffer_unordered(CHECK_CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    let mut complete = 0;
    let mut settled = 0;
    for check in checks {
        let (check, accepted) = check?;
        settled += usize::from(check.settled);
        complete += usize::from(accepted && check.settled && check.full);
    }
    let (supply_ok, supply) = check_supply(&ctx).await?;
    let commit_after = commit_stats(&ctx).await;

    // Included transactions and block statistics during the run.
    let blocks: Vec<BlockSeen> = lock(&clock.blocks)
        .iter()
        .filter(|b| b.seen_at > started && b.seen_at <= ended)
        .cloned()
        .collect();
    let included_total: usize = lock(&clock.blocks).iter().map(|b| b.txs).sum();
    let included = (included_total - included_before) as u64;
    let accepted = ctx.accepted.load(Ordering::Relaxed);
    if included != accepted {
        tracing::warn!(
            included,
            accepted,
            "accepted and included transaction counts differ"
        );
    }
    let intervals: Vec<f64> = blocks
        .windows(2)
        .map(|w| w[1].timestamp_ms.saturating_sub(w[0].timestamp_ms) as f64)
        .collect();
    // From sealing a block until its commit is announced (the next block
    // already takes transactions meanwhile).
    let closed: Vec<f64> = blocks
        .iter()
        .map(|b| (b.seen_unix_ms - b.timestamp_ms as f64).max(0.0))
        .collect();
    let block_commit_mean_ms = match (commit_before, commit_after) {
        (Some((s0, c0)), Some((s1, c1))) if c1 > c0 => Some((s1 - s0) / (c1 - c0) * 1000.0),
        _ => None,
    };

    let samples = std::mem::take(&mut *lock(&ctx.samples));
    let mut per_request: Vec<(Duration, usize)> = samples.iter().map(|s| (s.latency, 1)).collect();
    let mut per_tx: Vec<(Duration, usize)> = samples.iter().map(|s| (s.latency, s.txs)).collect();
    let mut phase_latency = Vec::new();
    for phase in Phase::ALL {
        let mut of: Vec<(Duration, usize)> = samples
            .iter()
            .filter(|s| s.phase == phase)
            .map(|s| (s.latency, 1))
            .collect();
        phase_latency.push(PhaseLatency {
            phase: phase.name(),
            requests: of.len(),
            p50_ms: ms(weighted_quantile(&mut of, 0.50)),
            p99_ms: ms(weighted_quantile(&mut of, 0.99)),
        });
    }
    let refusals = std::mem::take(&mut *lock(&ctx.refusals));
    let mut inclusion = std::mem::take(&mut *lock(&ctx.inclusion_blocks));
    inclusion.sort_unstable();
    let inclusion_p50 = inclusion.get(inclusion.len() / 2).copied().unwrap_or(0);
    let inclusion_max = inclusion.last().copied().unwrap_or(0);
    let secs = wall.as_secs_f64().max(f64::MIN_POSITIVE);
    let tps = included as f64 / secs;
    let busiest = busiest_rate(&blocks);
    let process_cores_busy = match (cpu_before, cpu_after) {
        (Some(before), Some(after)) => Some((after - before) / secs),
        _ => None,
    };
    Ok(Report {
        store,
        engines: args.engine_count(),
        artifacts_per_bounty: args.artifact_count(),
        posts_shed: ctx.shed.load(Ordering::Relaxed),
        lifecycles_missed: posted.saturating_sub(complete),
        tx_rate_over_all_cores_recovery: tps / (recoveries * cores()),
        busiest_transactions_per_second: busiest,
        busiest_over_all_cores_recovery: busiest / (recoveries * cores()),
        process_cores_busy,
        cores: cores() as usize,
        reads: reads.len(),
        read_latency_p50_ms: ms(weighted_quantile(&mut reads, 0.50)),
        read_latency_p99_ms: ms(weighted_quantile(&mut reads, 0.99)),
        assertion_inclusion_blocks_p50: inclusion_p50,
        assertion_inclusion_blocks_max: inclusion_max,
        arbiters: 1,
        block_time_ms: args.block_time_ms,
        duration_blocks: args.duration,
        reveal_window: args.reveal_window,
        vote_window: args.vote_window,
        batch: args.batch,
        concurrency: args.concurrency,
        wait_for_inclusion: args.wait,
        lifecycles_requested: args.lifecycles,
        lifecycles_complete: complete,
        bounties_settled: settled,
        transactions_per_lifecycle: per_lifecycle,
        transactions_included: included,
        transactions_refused: refusals.total(),
        wall_seconds: secs,
        lifecycles_per_second: complete as f64 / secs,
        transactions_per_second: tps,
        requests: samples.len(),
        request_latency_p50_ms: ms(weighted_quantile(&mut per_request, 0.50)),
        request_latency_p99_ms: ms(weighted_quantile(&mut per_request, 0.99)),
        tx_latency_p50_ms: ms(weighted_quantile(&mut per_tx, 0.50)),
        tx_latency_p99_ms: ms(weighted_quantile(&mut per_tx, 0.99)),
        phase_latency,
        recoveries_per_second_one_core: recoveries,
        signatures_per_second_one_core: signatures,
        tx_rate_over_recovery_rate: tps / recoveries,
        signed_transactions: signed_txs,
        signed_during_run: signed_txs.saturating_sub(presigned * per_lifecycle),
        client_signing_core_seconds: signed_txs as f64 / signatures,
        blocks: blocks.len(),
        transactions_per_block_mean: if blocks.is_empty() {
            0.0
        } else {
            blocks.iter().map(|b| b.txs).sum::<usize>() as f64 / blocks.len() as f64
        },
        transactions_per_block_max: blocks.iter().map(|b| b.txs).max().unwrap_or(0),
        block_interval_mean_ms: mean(&intervals),
        block_interval_max_ms: intervals.iter().copied().fold(0.0, f64::max),
        block_commit_mean_ms,
        block_closed_mean_ms: mean(&closed),
        block_closed_max_ms: closed.iter().copied().fold(0.0, f64::max),
        supply_ok,
        supply,
        refusals: refusals
            .by_code
            .into_iter()
            .map(|((phase, code), (count, example))| RefusalReport {
                phase: phase.name(),
                code,
                count,
                example,
            })
            .collect(),
    })
}

/// The machine's cores, as the runtime sees them.
fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

/// Reads a client makes while the load runs: `GET /bounties/{guid}` of a
/// posted bounty and `GET /status`, one at a time with a short pause, until
/// `stop`; the latency of each answered read.
async fn read_load(
    ctx: Arc<Ctx>,
    stop: tokio_util::sync::CancellationToken,
) -> Vec<(Duration, usize)> {
    let mut latencies = Vec::new();
    let mut i = 0usize;
    while !stop.is_cancelled() {
        i += 1;
        let guid = {
            let posted = lock(&ctx.posted);
            (!posted.is_empty()).then(|| posted[i.wrapping_mul(7919) % posted.len()])
        };
        let path = match guid {
            Some(guid) if i.is_multiple_of(2) => format!("/bounties/{guid}"),
            _ => "/status".to_owned(),
        };
        let started = Instant::now();
        let answer = ctx.http.get(format!("{}{path}", ctx.url)).send().await;
        if let Ok(response) = answer {
            if response.status().is_success() && response.bytes().await.is_ok() {
                latencies.push((started.elapsed(), 1));
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(READ_PAUSE) => {}
        }
    }
    latencies
}

/// The pause between two reads of [`read_load`].
const READ_PAUSE: Duration = Duration::from_millis(5);

/// Transactions/s over the busiest [`BUSIEST_BLOCKS`] consecutive blocks:
/// the transactions of the window's blocks after its first, over the time
/// from its first block's seal to its last's.
fn busiest_rate(blocks: &[BlockSeen]) -> f64 {
    blocks
        .windows(BUSIEST_BLOCKS)
        .filter_map(|w| {
            let span = w[w.len() - 1]
                .timestamp_ms
                .saturating_sub(w[0].timestamp_ms);
            (span > 0)
                .then(|| w[1..].iter().map(|b| b.txs).sum::<usize>() as f64 * 1000.0 / span as f64)
        })
        .fold(0.0, f64::max)
}

/// CPU seconds (user and system) this process has used, from
/// `/proc/self/stat`; `None` where there is no such file.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // The kernel's USER_HZ, which Linux fixes at 100 for this interface.
    Some(ticks / 100.0)
}
