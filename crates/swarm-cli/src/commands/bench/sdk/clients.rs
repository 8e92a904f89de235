//! One client's run (a warm-up bounty, then the timed backlog) and its
//! figures, and the SDK's microengine started as such a client.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde::Serialize;
use swarm_protocol::PrivateKey;
use swarm_sdk::{EngineReport, Microengine};
use tokio_util::sync::CancellationToken;

use super::env::Env;
use super::scanner::InstantScanner;
use crate::commands::bench::stats::{ms, weighted_quantile};

/// How long a client may go without asserting anything before the bench
/// gives up on it.
const STALL_LIMIT: Duration = Duration::from_secs(30);

/// Warm-up bounties posted at most, one after the other, until the client
/// asserts on one (an engine that subscribes after a post never sees it).
const WARM_UP_TRIES: usize = 5;

/// How long each warm-up bounty is given.
const WARM_UP_WAIT: Duration = Duration::from_secs(5);

/// How a client task ended: the engine's report, if it is the SDK's.
pub(super) type ClientEnd = anyhow::Result<ClientSummary>;

/// What a client says about its own run.
pub(super) struct ClientSummary {
    /// The microengine's report (the SDK clients).
    pub(super) engine: Option<EngineReport>,
    /// Failures by kind (the limit client).
    pub(super) errors: BTreeMap<String, u64>,
}

/// One client's figures.
#[derive(Serialize)]
pub(super) struct ClientResult {
    /// `sdk (journal on disk)`, `sdk (journal in memory)` or `limit`.
    pub(super) client: &'static str,
    /// What it is.
    description: &'static str,
    /// B x K.
    pub(super) artifacts_expected: usize,
    /// Artifacts covered by the client's assertions on the B bounties.
    pub(super) artifacts_asserted: usize,
    /// Bounties asserted on.
    bounties_asserted: usize,
    /// Every bounty was asserted on.
    pub(super) complete: bool,
    /// Sending all posts took this long.
    post_seconds: f64,
    /// First post sent to the commit of the last assertion.
    pub(super) wall_seconds: f64,
    /// Artifacts asserted per wall second.
    pub(super) artifacts_per_second: f64,
    /// Bounties asserted per wall second.
    pub(super) bounties_per_second: f64,
    /// Median, from the commit of a bounty's post to the commit of its assertion.
    pub(super) latency_p50_ms: f64,
    /// 99th percentile of the same.
    pub(super) latency_p99_ms: f64,
    /// The engine's own report (SDK clients).
    pub(super) engine_report: Option<EngineReport>,
    /// Failures of the limit client, by kind.
    pub(super) errors: BTreeMap<String, u64>,
}

/// Runs one client: a warm-up bounty, then `bounties` bounties, timed.
pub(super) async fn run_client(
    env: &Env,
    bounties: usize,
    name: &'static str,
    description: &'static str,
    start: impl FnOnce(CancellationToken) -> tokio::task::JoinHandle<ClientEnd>,
) -> anyhow::Result<ClientResult> {
    let cancel = CancellationToken::new();
    let task = start(cancel.clone());

    // Warm-up: the client must assert on one bounty before the clock starts.
    let mut warmed = false;
    for _ in 0..WARM_UP_TRIES {
        let (warm, txs) = env.sign_posts(1);
        env.post(&txs).await?;
        env.wait_asserted(&warm, &task, WARM_UP_WAIT).await;
        warmed = env.tally.progress(&warm).0 == 1;
        if warmed || task.is_finished() {
            break;
        }
    }
    if !warmed {
        cancel.cancel();
        let why = match task.await {
            Ok(Err(e)) => format!("{e:#}"),
            Ok(Ok(_)) => "it stopped".to_owned(),
            Err(e) => format!("its task failed: {e}"),
        };
        bail!("{name}: no assertion on the warm-up bounty ({why})");
    }

    let (guids, txs) = env.sign_posts(bounties);
    let started = Instant::now();
    env.post(&txs).await?;
    let post_seconds = started.elapsed().as_secs_f64();
    env.wait_asserted(&guids, &task, STALL_LIMIT).await;
    cancel.cancel();
    let summary = task
        .await
        .map_err(|e| anyhow!("{name}: the client task failed: {e}"))?
        .with_context(|| format!("{name} failed"))?;

    let (asserted, artifacts, last) = env.tally.progress(&guids);
    let wall = last
        .unwrap_or_else(Instant::now)
        .saturating_duration_since(started)
        .as_secs_f64()
        .max(f64::MIN_POSITIVE);
    let mut latencies: Vec<(Duration, usize)> = env
        .tally
        .latencies(&guids)
        .into_iter()
        .map(|d| (d, 1))
        .collect();
    let expected = bounties * env.artifacts as usize;
    Ok(ClientResult {
        client: name,
        description,
        artifacts_expected: expected,
        artifacts_asserted: artifacts,
        bounties_asserted: asserted,
        complete: asserted == bounties && artifacts == expected,
        post_seconds,
        wall_seconds: wall,
        artifacts_per_second: artifacts as f64 / wall,
        bounties_per_second: asserted as f64 / wall,
        latency_p50_ms: ms(weighted_quantile(&mut latencies, 0.50)),
        latency_p99_ms: ms(weighted_quantile(&mut latencies, 0.99)),
        engine_report: summary.engine,
        errors: summary.errors,
    })
}

/// Starts a [`Microengine`] with the instant scanner.
pub(super) fn spawn_sdk(
    env: &Env,
    key: PrivateKey,
    journal: Option<PathBuf>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<ClientEnd> {
    let mut builder = Microengine::builder(InstantScanner)
        .node(env.url.clone())
        .key(key)
        .max_concurrency(env.concurrency)
        .shutdown(cancel);
    if let Some(path) = journal {
        builder = builder.journal(path);
    }
    tokio::spawn(async move {
        let report = builder
            .build()
            .context("building the microengine")?
            .run()
            .await
            .context("the microengine stopped")?;
        Ok(ClientSummary {
            engine: Some(report),
            errors: BTreeMap::new(),
        })
    })
}
