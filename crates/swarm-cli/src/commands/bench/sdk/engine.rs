//! Part 1, the microengine overhead: start the node, upload the bundle,
//! measure bare downloads and fsync, then each client in turn.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use swarm_node::{dev_key, NodeConfig, RunningNode};
use swarm_protocol::PrivateKey;
use swarm_sdk::NodeClient;

use super::clients::{run_client, spawn_sdk, ClientResult};
use super::env::{Env, ROUND_BLOCKS};
use super::limit::spawn_limit;
use super::scanner::artifact_content;
use super::tally::Tally;
use super::SdkBenchArgs;
use crate::commands::bench::funded_genesis;
use crate::commands::bench::stats::{ms, weighted_quantile};

/// The bare download loop.
#[derive(Serialize)]
pub(super) struct DownloadRate {
    /// Requests made.
    pub(super) requests: usize,
    /// At once.
    pub(super) concurrency: usize,
    /// Wall time.
    seconds: f64,
    /// Requests per second.
    pub(super) per_second: f64,
}

/// Part 1's figures.
#[derive(Serialize)]
pub(super) struct EngineBench {
    /// Bounties per client.
    pub(super) bounties: usize,
    /// Artifacts per bounty.
    pub(super) artifacts_per_bounty: u32,
    /// Bytes per artifact.
    pub(super) artifact_bytes: usize,
    /// Downloads at once.
    pub(super) concurrency: usize,
    /// The node's block time.
    pub(super) block_time_ms: u64,
    /// The node's store.
    pub(super) store: String,
    /// `GET /artifacts/{uri}/{i}` in a loop.
    pub(super) download: DownloadRate,
    /// Median time to append a line to a file and `fsync` it, in the
    /// journal's directory (the engine fsyncs once per turn of its loop).
    pub(super) fsync_median_ms: f64,
    /// Each client, in the order they ran.
    pub(super) clients: Vec<ClientResult>,
    /// Artifacts/s of the SDK (journal on disk) over the limit's.
    pub(super) sdk_over_limit: f64,
    /// Artifacts/s of the SDK (journal in memory) over the limit's.
    pub(super) sdk_memory_journal_over_limit: f64,
}

/// Starts a node, uploads the bundle, measures downloads and each client.
pub(super) async fn bench_engines(args: &SdkBenchArgs) -> anyhow::Result<EngineBench> {
    let ambassador = dev_key(2);
    let engines = [dev_key(3), dev_key(4), dev_key(5)];
    let mut genesis = funded_genesis(std::iter::once(&ambassador).chain(&engines));
    let p = &mut genesis.parameters;
    p.block_time_ms = Some(args.block_time_ms);
    p.max_duration = Some(ROUND_BLOCKS);
    let dir = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let mut config = NodeConfig::new(genesis.clone());
    config.data_dir = dir.path().join("node");
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.block_time = Some(Duration::from_millis(args.block_time_ms));
    // One process stands for a whole marketplace of clients: per-client
    // rates would measure the limits, not the node.
    config.limits = swarm_node::Limits::unlimited();
    let node = swarm_node::start(config)
        .await
        .with_context(|| format!("cannot start the bench node in {}", dir.path().display()))?;
    let store = format!(
        "SQLite in {} (temporary)",
        dir.path().join("node").display()
    );
    let result = drive_engines(args, &node, dir.path(), ambassador, engines, store).await;
    let stopped = node.shutdown().await;
    let bench = result?;
    stopped.context("the bench node failed while stopping")?;
    Ok(bench)
}

/// Part 1 against a running node.
async fn drive_engines(
    args: &SdkBenchArgs,
    node: &RunningNode,
    dir: &Path,
    ambassador: PrivateKey,
    engines: [PrivateKey; 3],
    store: String,
) -> anyhow::Result<EngineBench> {
    let url = node.url();
    let tally = Tally::follow(node);
    let client = NodeClient::new(url.clone());
    let parameters = client
        .parameters()
        .await
        .context("GET /bounties/parameters")?;
    let files: Vec<(String, _)> = (0..args.artifacts as usize)
        .map(|i| {
            (
                format!("artifact-{i}.bin"),
                artifact_content(i, args.artifact_bytes).into(),
            )
        })
        .collect();
    let uploaded = client
        .upload(&ambassador, &parameters.community, &files)
        .await
        .context("uploading the bench bundle")?;
    let env = Arc::new(Env {
        url: url.clone(),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .context("cannot build the HTTP client")?,
        client,
        community: parameters.community.clone(),
        ambassador,
        params: parameters.parameters.clone(),
        metadata: uploaded.artifacts.iter().map(|a| a.to_metadata()).collect(),
        uri: uploaded.uri,
        artifacts: args.artifacts,
        tally,
        post_batch: args.post_batch,
        concurrency: args.concurrency,
    });

    let download = download_rate(&env, args.downloads).await?;
    let fsync = fsync_time(&dir.join("fsync.probe"))?;
    let [disk_key, memory_key, limit_key] = engines;
    let mut clients = Vec::new();
    let journal = dir.join("engine.journal");
    clients.push(
        run_client(
            &env,
            args.bounties,
            "sdk (journal on disk)",
            "Microengine, instant scanner, journal fsync'd on disk",
            |cancel| spawn_sdk(&env, disk_key, Some(journal), cancel),
        )
        .await?,
    );
    clients.push(
        run_client(
            &env,
            args.bounties,
            "sdk (journal in memory)",
            "Microengine, instant scanner, no journal file",
            |cancel| spawn_sdk(&env, memory_key, None, cancel),
        )
        .await?,
    );
    clients.push(
        run_client(
            &env,
            args.bounties,
            "limit",
            "hand-written client: download with reqwest, sign, submit one Assert",
            |cancel| spawn_limit(&env, limit_key, cancel),
        )
        .await?,
    );
    let rate = |name: &str| {
        clients
            .iter()
            .find(|c| c.client == name)
            .map_or(0.0, |c| c.artifacts_per_second)
    };
    let limit = rate("limit").max(f64::MIN_POSITIVE);
    Ok(EngineBench {
        bounties: args.bounties,
        artifacts_per_bounty: args.artifacts,
        artifact_bytes: args.artifact_bytes,
        concurrency: args.concurrency,
        block_time_ms: args.block_time_ms,
        store,
        download,
        fsync_median_ms: ms(fsync),
        sdk_over_limit: rate("sdk (journal on disk)") / limit,
        sdk_memory_journal_over_limit: rate("sdk (journal in memory)") / limit,
        clients,
    })
}

/// `GET /artifacts/{uri}/{i}`, `requests` times, `concurrency` at once.
async fn download_rate(env: &Env, requests: usize) -> anyhow::Result<DownloadRate> {
    let k = env.artifacts as usize;
    let started = Instant::now();
    let results = stream::iter(0..requests)
        .map(|n| fetch(env, n % k))
        .buffer_unordered(env.concurrency)
        .collect::<Vec<_>>()
        .await;
    let seconds = started.elapsed().as_secs_f64().max(f64::MIN_POSITIVE);
    for r in results {
        r?;
    }
    Ok(DownloadRate {
        requests,
        concurrency: env.concurrency,
        seconds,
        per_second: requests as f64 / seconds,
    })
}

/// The median of 51 appends of a line to `path`, each followed by `fsync`
/// (what the journal does per record).
fn fsync_time(path: &Path) -> anyhow::Result<Duration> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut samples = Vec::new();
    for i in 0..51 {
        let started = Instant::now();
        writeln!(file, "{{\"probe\":{i}}}").context("writing the fsync probe")?;
        file.sync_all().context("fsync of the probe")?;
        samples.push((started.elapsed(), 1));
    }
    Ok(weighted_quantile(&mut samples, 0.5))
}

/// `GET /artifacts/{uri}/{index}` with plain reqwest: the first byte.
async fn fetch(env: &Env, index: usize) -> anyhow::Result<Option<u8>> {
    let url = format!("{}/artifacts/{}/{index}", env.url, env.uri);
    let bytes = env
        .http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .error_for_status()
        .with_context(|| format!("GET {url}"))?
        .bytes()
        .await
        .with_context(|| format!("reading GET {url}"))?;
    Ok(bytes.first().copied())
}
