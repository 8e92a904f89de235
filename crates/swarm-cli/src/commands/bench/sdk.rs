//! `swarm bench sdk`: what the SDK's microengine runtime costs, and how fast
//! the EICAR engine hashes.
//!
//! **Part 1: microengine overhead.** A fresh node runs in this process
//! (SQLite in a temporary directory, as in `swarm bench node`). The bench
//! uploads one bundle of K small artifacts and plays the ambassador: it posts
//! B bounties pointing at that bundle, pre-signed, in a few batches, as fast
//! as the node takes them. One client at a time works the bounties off:
//!
//! 1. a [`Microengine`] whose scanner answers instantly (Malicious when the
//!    first byte is `M`, else Benign; confidence 1), with its journal on disk
//!    (fsync'd, as in production);
//! 2. the same engine with its journal in memory;
//! 3. the *limit*: a hand-written minimal client doing the same work
//!    without the runtime. It reads the same WebSocket event stream (with
//!    the SDK's [`EventStream`], a plain reader), and for each bounty
//!    downloads every artifact with plain reqwest (a client of its own, at
//!    most `--concurrency` downloads at a time, like the engine's
//!    `max_concurrency`), then signs and submits one `bounty:Assert`
//!    (`?wait=false`; the commitment uses one nonce drawn at start). No
//!    balance check, no journal, no `GET /status` before signing.
//!
//! Each client gets a fresh set of B bounties, after one warm-up bounty it
//! must assert on first (so connections are open and the stream is live).
//! The rate is artifacts asserted (downloaded + scanned + asserted, as the
//! node's committed blocks show) per second, from sending the first post to
//! the commit of the block holding the last assertion. The bare download
//! rate (`GET /artifacts/{uri}/{i}` in a loop at the same concurrency) and
//! the time of an append + `fsync` in the journal's directory are measured
//! first, as context.
//!
//! **Part 2: sha256.** 32 MiB of seeded random bytes are written to a
//! temporary file, and the same bytes with the EICAR string over the first
//! 68 bytes to another. [`EicarSha256::scan`] is timed on the in-memory bytes
//! (as the runtime hands them to a scanner), interleaved with `sha256sum FILE`
//! (the process's wall time, file in the page cache) on the same bytes;
//! both hashes are checked to be equal. [`EicarExact`] is timed on the same
//! artifact (a length check).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use futures_util::stream::{self, StreamExt};
use rand::{RngCore, SeedableRng};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use swarm_engines::{EicarExact, EicarSha256, EICAR};
use swarm_node::{dev_key, CommittedBlock, NodeConfig, RunningNode};
use swarm_protocol::{
    commitment, Address, Amount, ArtifactMetadata, ArtifactType, Assert, Bits256, BountyPosted,
    Event, Guid, Parameters, PostBounty, PrivateKey, SignedTx, Tx, H256,
};
use swarm_sdk::{
    Artifact, ArtifactKind, EngineReport, EventStream, Microengine, NodeClient, ScanError,
    ScanResult, Scanner, Verdict,
};

use super::stats::{mb_per_s, ms, weighted_quantile};
use super::{funded_genesis, lock, EXPIRY_AHEAD};

/// The first byte that makes the instant scanner say Malicious.
const MALICIOUS_MARK: u8 = b'M';

/// How long a client may go without asserting anything before the bench
/// gives up on it.
const STALL_LIMIT: Duration = Duration::from_secs(30);

/// Assertion round of the bench bounties, in blocks: long enough that the
/// whole backlog is worked off while every bounty is open.
const ROUND_BLOCKS: u64 = 600;

/// Warm-up bounties posted at most, one after the other, until the client
/// asserts on one (an engine that subscribes after a post never sees it).
const WARM_UP_TRIES: usize = 5;

/// How long each warm-up bounty is given.
const WARM_UP_WAIT: Duration = Duration::from_secs(5);

/// Flags of `swarm bench sdk`.
#[derive(Args, Clone, Debug)]
pub(crate) struct SdkBenchArgs {
    /// Bounties posted for each client (enough that the fastest client
    /// takes many block times: the clock stops at a block's commit).
    #[arg(long, default_value_t = 2000)]
    bounties: usize,
    /// Artifacts in each bounty (one bundle, reused by every bounty).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    artifacts: u32,
    /// Size of each artifact, in bytes.
    #[arg(long, default_value_t = 1024)]
    artifact_bytes: usize,
    /// Artifacts downloaded (and scanned) at once: the engine's
    /// `max_concurrency`, the limit client's and the download loop's.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Block time of the bench node, in milliseconds.
    #[arg(long, default_value_t = 100)]
    block_time_ms: u64,
    /// Posts per `POST /transactions` batch of the ambassador.
    #[arg(long, default_value_t = 50)]
    post_batch: usize,
    /// Requests of the bare download loop.
    #[arg(long, default_value_t = 4000)]
    downloads: usize,
    /// Size of the sha256 artifact, in MiB.
    #[arg(long, default_value_t = 32)]
    sha_mib: usize,
    /// Timed runs of each hash measurement (the median is reported).
    #[arg(long, default_value_t = 9)]
    runs: usize,
    /// Seed of the sha256 artifact's bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only the sha256 part.
    #[arg(long, conflicts_with = "skip_sha256")]
    skip_engine: bool,
    /// Only the microengine part.
    #[arg(long)]
    skip_sha256: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Refuses flags that cannot make a run.
fn check_args(args: &SdkBenchArgs) -> anyhow::Result<()> {
    if args.bounties == 0 {
        bail!("--bounties must be at least 1");
    }
    if args.artifact_bytes == 0 || args.artifact_bytes > 32 * 1024 * 1024 {
        bail!("--artifact-bytes must be between 1 and 32 MiB");
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.block_time_ms == 0 {
        bail!("--block-time-ms must be at least 1");
    }
    if args.post_batch == 0 || args.post_batch > 1000 {
        bail!("--post-batch must be between 1 and 1000 (the node's batch limit)");
    }
    if args.sha_mib == 0 || args.sha_mib > 1024 {
        bail!("--sha-mib must be between 1 and 1024");
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    Ok(())
}

/// Runs `swarm bench sdk`.
pub(crate) async fn run(args: SdkBenchArgs) -> anyhow::Result<()> {
    check_args(&args)?;
    let machine = Machine::now();
    let engine = if args.skip_engine {
        None
    } else {
        if !args.json {
            println!(
                "microengine overhead: {} bounties x {} artifacts per client ...",
                args.bounties, args.artifacts
            );
        }
        Some(bench_engines(&args).await?)
    };
    let sha256 = if args.skip_sha256 {
        None
    } else {
        if !args.json {
            println!("sha256: {} MiB, {} runs each ...", args.sha_mib, args.runs);
        }
        Some(bench_sha256(&args).await?)
    };
    let report = SdkReport {
        machine,
        load_after: read_loadavg(),
        engine,
        sha256,
    };
    print_report(&report, args.json)?;
    if let Some(e) = &report.engine {
        if let Some(short) = e.clients.iter().find(|c| !c.complete) {
            bail!(
                "{}: only {} of {} artifacts were asserted",
                short.client,
                short.artifacts_asserted,
                short.artifacts_expected
            );
        }
    }
    if let Some(s) = &report.sha256 {
        if !s.hashes_match || !s.verdicts_ok {
            bail!("the sha256 check failed: hashes or verdicts differ from the expected");
        }
    }
    Ok(())
}

// ---- the machine ----------------------------------------------------------------

/// Where the bench ran.
#[derive(Serialize)]
struct Machine {
    /// Cores available to this process.
    cores: usize,
    /// The CPU model, from `/proc/cpuinfo`.
    cpu: Option<String>,
    /// Whether the CPU has the SHA extensions (`sha_ni`).
    sha_extensions: bool,
    /// `/proc/loadavg` (1, 5, 15 minutes) when the bench started.
    load_before: Option<[f64; 3]>,
}

impl Machine {
    /// The machine as it is now.
    fn now() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, name)| name.trim().to_owned());
        let sha_extensions = cpuinfo
            .lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "sha_ni"));
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            sha_extensions,
            load_before: read_loadavg(),
        }
    }
}

/// The 1, 5 and 15 minute load averages, on Linux.
fn read_loadavg() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

// ---- part 1: the microengine ------------------------------------------------------

/// A scanner that answers at once: Malicious when the first byte is
/// [`MALICIOUS_MARK`], else Benign, with confidence 1.
struct InstantScanner;

impl Scanner for InstantScanner {
    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        Ok(if artifact.content.first() == Some(&MALICIOUS_MARK) {
            ScanResult::malicious(1.0, "swarm-bench")
        } else {
            ScanResult::benign(1.0)
        })
    }
}

/// The content of artifact `index`: every other one starts with the
/// malicious mark; each is `bytes` long and distinct.
fn artifact_content(index: usize, bytes: usize) -> Vec<u8> {
    let first = if index.is_multiple_of(2) {
        MALICIOUS_MARK
    } else {
        b'B'
    };
    let line = format!("swarm bench sdk artifact {index}\n");
    let mut out = Vec::with_capacity(bytes);
    out.push(first);
    while out.len() < bytes {
        let take = (bytes - out.len()).min(line.len());
        out.extend_from_slice(&line.as_bytes()[..take]);
    }
    out
}

/// What the node's committed blocks say about bounties and assertions.
struct Tally {
    /// The last committed block.
    tip: AtomicU64,
    /// When each bounty's post was committed (as the bench heard).
    posted: Mutex<HashMap<Guid, Instant>>,
    /// When each bounty's first assertion was committed, and the artifacts
    /// it covers.
    asserted: Mutex<HashMap<Guid, (Instant, usize)>>,
    /// Assertions seen so far; changes wake the waiters.
    assertions: watch::Sender<u64>,
}

impl Tally {
    /// Follows the node's committed blocks until the node stops.
    fn follow(node: &RunningNode) -> Arc<Tally> {
        let mut blocks = node.state().events.subscribe();
        let tally = Arc::new(Tally {
            tip: AtomicU64::new(node.state().view.tip().map_or(0, |t| t.number)),
            posted: Mutex::new(HashMap::new()),
            asserted: Mutex::new(HashMap::new()),
            assertions: watch::channel(0).0,
        });
        let t = tally.clone();
        tokio::spawn(async move {
            loop {
                match blocks.recv().await {
                    Ok(block) => t.saw(&block),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("bench tally missed {n} blocks; figures are wrong");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        tally
    }

    /// Records one committed block.
    fn saw(&self, block: &CommittedBlock) {
        let now = Instant::now();
        let mut assertions = 0;
        for record in &block.events {
            match &record.event {
                Event::Bounty(b) => {
                    lock(&self.posted).insert(b.guid, now);
                }
                Event::Assertion(a) => {
                    lock(&self.asserted)
                        .entry(a.bounty_guid)
                        .or_insert((now, a.mask.count()));
                    assertions += 1;
                }
                _ => {}
            }
        }
        self.tip.store(block.header.number, Ordering::SeqCst);
        if assertions > 0 {
            self.assertions.send_modify(|n| *n += assertions);
        }
    }

    /// Of `guids`: how many are asserted, the artifacts asserted, and the
    /// commit time of the last assertion.
    fn progress(&self, guids: &[Guid]) -> (usize, usize, Option<Instant>) {
        let asserted = lock(&self.asserted);
        let mut bounties = 0;
        let mut artifacts = 0;
        let mut last: Option<Instant> = None;
        for (at, n) in guids.iter().filter_map(|g| asserted.get(g)) {
            bounties += 1;
            artifacts += n;
            last = Some(last.map_or(*at, |l| l.max(*at)));
        }
        (bounties, artifacts, last)
    }

    /// Per bounty of `guids` asserted: from the commit of its post to the
    /// commit of its assertion.
    fn latencies(&self, guids: &[Guid]) -> Vec<Duration> {
        let posted = lock(&self.posted);
        let asserted = lock(&self.asserted);
        guids
            .iter()
            .filter_map(|g| {
                let (at, _) = asserted.get(g)?;
                Some(at.saturating_duration_since(*posted.get(g)?))
            })
            .collect()
    }
}

/// What every client run shares: the node, the ambassador and the bundle.
struct Env {
    /// The node's base URL.
    url: String,
    /// Plain HTTP, for the download loop.
    http: reqwest::Client,
    /// The SDK client the ambassador posts with.
    client: NodeClient,
    /// The community.
    community: String,
    /// Posts every bounty.
    ambassador: PrivateKey,
    /// The community's parameters.
    params: Parameters,
    /// The bundle every bounty points at.
    uri: String,
    /// Its per-artifact metadata, posted with each bounty.
    metadata: Vec<ArtifactMetadata>,
    /// Artifacts per bounty.
    artifacts: u32,
    /// The committed blocks.
    tally: Arc<Tally>,
    /// Posts per request.
    post_batch: usize,
    /// Downloads at once.
    concurrency: usize,
}

impl Env {
    /// `count` signed bounty posts, with fresh guids.
    fn sign_posts(&self, count: usize) -> (Vec<Guid>, Vec<SignedTx>) {
        let expires = self.tally.tip.load(Ordering::SeqCst) + EXPIRY_AHEAD;
        let from = self.ambassador.address();
        let amount = self
            .params
            .bounty_amount_minimum
            .checked_mul(u128::from(self.artifacts))
            .unwrap_or(self.params.bounty_amount_minimum);
        let guids: Vec<Guid> = (0..count).map(|_| Guid::new_v4()).collect();
        let txs = guids
            .iter()
            .map(|guid| {
                let post = PostBounty {
                    guid: *guid,
                    artifact_type: ArtifactType::File,
                    amount,
                    uri: self.uri.clone(),
                    num_artifacts: self.artifacts,
                    duration: ROUND_BLOCKS,
                    metadata: Some(self.metadata.clone()),
                };
                Tx::new(from, self.community.as_str(), expires, post).sign(&self.ambassador)
            })
            .collect();
        (guids, txs)
    }

    /// Posts `txs` in batches, one request after the other; every post must
    /// be accepted.
    async fn post(&self, txs: &[SignedTx]) -> anyhow::Result<()> {
        for batch in txs.chunks(self.post_batch) {
            let answers = self
                .client
                .submit(batch, false)
                .await
                .context("posting bounties")?;
            if let Some(e) = answers.into_iter().find_map(Result::err) {
                bail!("the node refused a bench bounty: {e}");
            }
        }
        Ok(())
    }

    /// Waits until every bounty of `guids` is asserted on, the client task
    /// ends, or nothing is asserted for `stall`.
    async fn wait_asserted(
        &self,
        guids: &[Guid],
        client: &tokio::task::JoinHandle<ClientEnd>,
        stall: Duration,
    ) {
        let mut rx = self.tally.assertions.subscribe();
        let mut last_progress = (0, Instant::now());
        loop {
            let (bounties, _, _) = self.tally.progress(guids);
            if bounties >= guids.len() || client.is_finished() {
                return;
            }
            if bounties > last_progress.0 {
                last_progress = (bounties, Instant::now());
            } else if last_progress.1.elapsed() > stall {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), rx.changed()).await;
        }
    }
}

/// How a client task ended: the engine's report, if it is the SDK's.
type ClientEnd = anyhow::Result<ClientSummary>;

/// What a client says about its own run.
struct ClientSummary {
    /// The microengine's report (the SDK clients).
    engine: Option<EngineReport>,
    /// Failures by kind (the limit client).
    errors: BTreeMap<String, u64>,
}

/// One client's figures.
#[derive(Serialize)]
struct ClientResult {
    /// `sdk (journal on disk)`, `sdk (journal in memory)` or `limit`.
    client: &'static str,
    /// What it is.
    description: &'static str,
    /// B x K.
    artifacts_expected: usize,
    /// Artifacts covered by the client's assertions on the B bounties.
    artifacts_asserted: usize,
    /// Bounties asserted on.
    bounties_asserted: usize,
    /// Every bounty was asserted on.
    complete: bool,
    /// Sending all posts took this long.
    post_seconds: f64,
    /// First post sent to the commit of the last assertion.
    wall_seconds: f64,
    /// Artifacts asserted per wall second.
    artifacts_per_second: f64,
    /// Bounties asserted per wall second.
    bounties_per_second: f64,
    /// Median, from the commit of a bounty's post to the commit of its assertion.
    latency_p50_ms: f64,
    /// 99th percentile of the same.
    latency_p99_ms: f64,
    /// The engine's own report (SDK clients).
    engine_report: Option<EngineReport>,
    /// Failures of the limit client, by kind.
    errors: BTreeMap<String, u64>,
}

/// The bare download loop.
#[derive(Serialize)]
struct DownloadRate {
    /// Requests made.
    requests: usize,
    /// At once.
    concurrency: usize,
    /// Wall time.
    seconds: f64,
    /// Requests per second.
    per_second: f64,
}

/// Part 1's figures.
#[derive(Serialize)]
struct EngineBench {
    /// Bounties per client.
    bounties: usize,
    /// Artifacts per bounty.
    artifacts_per_bounty: u32,
    /// Bytes per artifact.
    artifact_bytes: usize,
    /// Downloads at once.
    concurrency: usize,
    /// The node's block time.
    block_time_ms: u64,
    /// The node's store.
    store: String,
    /// `GET /artifacts/{uri}/{i}` in a loop.
    download: DownloadRate,
    /// Median time to append a line to a file and `fsync` it, in the
    /// journal's directory (the engine journals twice per bounty).
    fsync_median_ms: f64,
    /// Each client, in the order they ran.
    clients: Vec<ClientResult>,
    /// Artifacts/s of the SDK (journal on disk) over the limit's.
    sdk_over_limit: f64,
    /// Artifacts/s of the SDK (journal in memory) over the limit's.
    sdk_memory_journal_over_limit: f64,
}

/// Starts a node, uploads the bundle, measures downloads and each client.
async fn bench_engines(args: &SdkBenchArgs) -> anyhow::Result<EngineBench> {
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

/// Runs one client: a warm-up bounty, then `bounties` bounties, timed.
async fn run_client(
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
fn spawn_sdk(
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

/// What the limit client's bounty tasks share.
struct Limit {
    /// The node and the plain HTTP client.
    env: Arc<LimitEnv>,
    /// The engine's key.
    key: PrivateKey,
    /// Its address.
    address: Address,
    /// The one nonce of every commitment.
    nonce: H256,
    /// Each artifact's bid: the community's maximum, as the SDK's default
    /// strategy bids at confidence 1.
    bid: Amount,
    /// At most this many downloads at once.
    downloads: Semaphore,
}

/// The parts of [`Env`] a spawned task needs.
struct LimitEnv {
    /// The node's base URL.
    url: String,
    /// Plain HTTP: a fresh client with its own connections, as each engine
    /// has.
    http: reqwest::Client,
    /// The community.
    community: String,
}

/// Starts the hand-written minimal client.
fn spawn_limit(
    env: &Env,
    key: PrivateKey,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<ClientEnd> {
    let mut nonce = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut nonce);
    nonce[0] |= 1;
    let limit = Arc::new(Limit {
        env: Arc::new(LimitEnv {
            url: env.url.clone(),
            http: reqwest::Client::new(),
            community: env.community.clone(),
        }),
        address: key.address(),
        key,
        nonce: H256(nonce),
        bid: env.params.assertion_bid_maximum,
        downloads: Semaphore::new(env.concurrency),
    });
    let since = env.tally.tip.load(Ordering::SeqCst);
    tokio::spawn(async move {
        let mut events = EventStream::new(&limit.env.url, Some(since));
        let mut tasks = JoinSet::new();
        let mut errors = BTreeMap::new();
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    let kind = match done {
                        Ok(Ok(())) => continue,
                        Ok(Err(e)) => {
                            tracing::warn!(error = %format!("{e:#}"), "limit client: bounty failed");
                            "bounty"
                        }
                        Err(_) => "task",
                    };
                    *errors.entry(kind.to_owned()).or_insert(0) += 1;
                }
                event = events.next() => {
                    if let Event::Bounty(bounty) = event.event {
                        let limit = limit.clone();
                        tasks.spawn(async move {
                            assert_bounty(&limit, bounty, event.block_number).await
                        });
                    }
                }
            }
        }
        tasks.abort_all();
        Ok(ClientSummary {
            engine: None,
            errors,
        })
    })
}

/// The limit client's work on one bounty: download every artifact, decide
/// by the first byte, sign and submit one assertion.
async fn assert_bounty(limit: &Limit, bounty: BountyPosted, block: u64) -> anyhow::Result<()> {
    let env = &limit.env;
    let n = bounty.num_artifacts as usize;
    let uri = &bounty.uri;
    let downloads = (0..n).map(|i| async move {
        let _permit = limit
            .downloads
            .acquire()
            .await
            .context("the download semaphore closed")?;
        let url = format!("{}/artifacts/{uri}/{i}", env.url);
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
        anyhow::Ok(bytes.first() == Some(&MALICIOUS_MARK))
    });
    let malicious = futures_util::future::try_join_all(downloads).await?;
    let verdicts = Bits256::from_bools(&malicious);
    let assert = Assert {
        bounty_guid: bounty.guid,
        mask: Bits256::first(n),
        bids: vec![limit.bid; n],
        commitment: commitment(&verdicts, &limit.nonce, &limit.address),
    };
    let signed = Tx::new(
        limit.address,
        env.community.as_str(),
        block + EXPIRY_AHEAD,
        assert,
    )
    .sign(&limit.key);
    let body = serde_json::to_vec(&[signed]).context("serializing the assertion")?;
    let response = env
        .http
        .post(format!("{}/transactions?wait=false", env.url))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .context("POST /transactions")?;
    let status = response.status();
    let answer: serde_json::Value = response
        .json()
        .await
        .context("decoding the answer to POST /transactions")?;
    let item = &answer["result"][0];
    if !status.is_success() || item["block_number"].as_u64().is_none() {
        bail!("the node refused the assertion ({status}): {answer}");
    }
    Ok(())
}

// ---- part 2: sha256 --------------------------------------------------------------

/// Timings of one measurement.
#[derive(Serialize)]
struct Timing {
    /// Median.
    median_ms: f64,
    /// Fastest.
    min_ms: f64,
    /// Slowest.
    max_ms: f64,
    /// Bytes over the median, in MB/s (10^6 bytes).
    median_mb_per_s: f64,
    /// Every run, in order.
    samples_ms: Vec<f64>,
}

impl Timing {
    /// The timing of `samples`, each over `bytes` bytes.
    fn of(samples: &[Duration], bytes: usize) -> Timing {
        let mut weighted: Vec<(Duration, usize)> = samples.iter().map(|d| (*d, 1)).collect();
        let median = weighted_quantile(&mut weighted, 0.5);
        Timing {
            median_ms: ms(median),
            min_ms: samples.iter().map(|d| ms(*d)).fold(f64::INFINITY, f64::min),
            max_ms: samples.iter().map(|d| ms(*d)).fold(0.0, f64::max),
            median_mb_per_s: mb_per_s(bytes, median),
            samples_ms: samples.iter().map(|d| ms(*d)).collect(),
        }
    }
}

/// Part 2's figures.
#[derive(Serialize)]
struct ShaBench {
    /// Artifact size.
    bytes: usize,
    /// Timed runs of each measurement.
    runs: usize,
    /// Seed of the random bytes.
    seed: u64,
    /// `sha256sum --version`, first line.
    sha256sum_version: String,
    /// `EicarSha256::scan` on the in-memory artifact.
    ours: Timing,
    /// `sha256sum FILE`, process wall time.
    sha256sum: Timing,
    /// `sha256sum` on an empty file: the process's fixed cost.
    sha256sum_empty_file: Timing,
    /// Bytes over (sha256sum median - empty-file median): hashing alone.
    sha256sum_hashing_mb_per_s: f64,
    /// ours MB/s over sha256sum MB/s (medians).
    ratio_ours_over_sha256sum: f64,
    /// Ours over sha256sum's hashing alone.
    ratio_ours_over_sha256sum_hashing: f64,
    /// `EicarExact::scan` on the same artifact.
    exact: Timing,
    /// The random artifact's sha256, by the engine's code path.
    hash: String,
    /// Both artifacts hash the same with both tools.
    hashes_match: bool,
    /// Both engines call both artifacts benign, and EICAR itself malicious.
    verdicts_ok: bool,
}

/// Runs `sha256sum path`: its wall time and the hash it printed.
fn sha256sum(path: &Path) -> anyhow::Result<(Duration, String)> {
    let started = Instant::now();
    let output = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .context("cannot run sha256sum (GNU coreutils)")?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "sha256sum {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let hash = stdout
        .split_whitespace()
        .next()
        .ok_or_else(|| anyhow!("sha256sum printed nothing"))?
        .to_ascii_lowercase();
    Ok((elapsed, hash))
}

/// An artifact of `content` as the runtime hands it to a scanner.
fn artifact(content: Vec<u8>) -> Artifact {
    Artifact {
        bounty_guid: Guid::nil(),
        index: 0,
        kind: ArtifactKind::File,
        content: content.into(),
        metadata: ArtifactMetadata::default(),
    }
}

/// The verdict of `scanner` on `artifact`.
async fn verdict<S: Scanner>(scanner: &S, artifact: &Artifact) -> anyhow::Result<Verdict> {
    Ok(scanner
        .scan(artifact)
        .await
        .map_err(|e| anyhow!("scan failed: {e}"))?
        .verdict)
}

/// Part 2. The runs block this runtime thread on purpose: nothing else runs.
async fn bench_sha256(args: &SdkBenchArgs) -> anyhow::Result<ShaBench> {
    let size = args.sha_mib * 1024 * 1024;
    let mut data = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(args.seed).fill_bytes(&mut data);
    let mut prefixed = data.clone();
    prefixed[..EICAR.len()].copy_from_slice(EICAR);

    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let random_path = dir.path().join("random.bin");
    let prefixed_path = dir.path().join("eicar-prefixed.bin");
    let empty_path = dir.path().join("empty.bin");
    std::fs::write(&random_path, &data).context("writing the random artifact")?;
    std::fs::write(&prefixed_path, &prefixed).context("writing the EICAR-prefixed artifact")?;
    std::fs::write(&empty_path, b"").context("writing the empty file")?;

    let version = std::process::Command::new("sha256sum")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();

    // The same sha2 code path as EicarSha256::matches, against sha256sum.
    let hash = hex::encode(Sha256::digest(&data));
    let prefixed_hash = hex::encode(Sha256::digest(&prefixed));
    let (_, their_hash) = sha256sum(&random_path)?;
    let (_, their_prefixed_hash) = sha256sum(&prefixed_path)?;
    let hashes_match = hash == their_hash && prefixed_hash == their_prefixed_hash;

    let random = artifact(data);
    let prefixed = artifact(prefixed);
    let eicar = artifact(EICAR.to_vec());
    let verdicts_ok = verdict(&EicarSha256, &random).await? == Verdict::Benign
        && verdict(&EicarSha256, &prefixed).await? == Verdict::Benign
        && verdict(&EicarSha256, &eicar).await? == Verdict::Malicious
        && verdict(&EicarExact, &random).await? == Verdict::Benign
        && verdict(&EicarExact, &prefixed).await? == Verdict::Benign
        && verdict(&EicarExact, &eicar).await? == Verdict::Malicious;

    // One warm-up each (page cache, binary, allocator), then interleaved runs.
    let mut ours = Vec::with_capacity(args.runs);
    let mut theirs = Vec::with_capacity(args.runs);
    let mut empty = Vec::with_capacity(args.runs);
    let mut exact = Vec::with_capacity(args.runs);
    for run in 0..=args.runs {
        let started = Instant::now();
        let v = EicarSha256.scan(&random).await.map(|r| r.verdict);
        let elapsed = started.elapsed();
        if v.ok() != Some(Verdict::Benign) {
            bail!("EicarSha256 did not call the random artifact benign");
        }
        let (their, their_hash) = sha256sum(&random_path)?;
        if their_hash != hash {
            bail!("sha256sum changed its mind about the random artifact");
        }
        let (empty_time, _) = sha256sum(&empty_path)?;
        let started = Instant::now();
        let v = EicarExact.scan(&random).await.map(|r| r.verdict);
        let exact_time = started.elapsed();
        if v.ok() != Some(Verdict::Benign) {
            bail!("EicarExact did not call the random artifact benign");
        }
        if run > 0 {
            ours.push(elapsed);
            theirs.push(their);
            empty.push(empty_time);
            exact.push(exact_time);
        }
    }
    let ours = Timing::of(&ours, size);
    let sha256sum = Timing::of(&theirs, size);
    let sha256sum_empty_file = Timing::of(&empty, 0);
    let hashing = Duration::from_secs_f64(
        ((sha256sum.median_ms - sha256sum_empty_file.median_ms) / 1000.0).max(1e-9),
    );
    let sha256sum_hashing_mb_per_s = mb_per_s(size, hashing);
    Ok(ShaBench {
        bytes: size,
        runs: args.runs,
        seed: args.seed,
        sha256sum_version: version,
        ratio_ours_over_sha256sum: ours.median_mb_per_s / sha256sum.median_mb_per_s,
        ratio_ours_over_sha256sum_hashing: ours.median_mb_per_s / sha256sum_hashing_mb_per_s,
        sha256sum_hashing_mb_per_s,
        ours,
        sha256sum,
        sha256sum_empty_file,
        exact: Timing::of(&exact, size),
        hash,
        hashes_match,
        verdicts_ok,
    })
}

// ---- output ------------------------------------------------------------------------

/// Everything `swarm bench sdk` measured.
#[derive(Serialize)]
struct SdkReport {
    /// Where it ran.
    machine: Machine,
    /// `/proc/loadavg` when the bench ended.
    load_after: Option<[f64; 3]>,
    /// Part 1.
    engine: Option<EngineBench>,
    /// Part 2.
    sha256: Option<ShaBench>,
}

/// Prints the report as a table, or as one JSON object.
fn print_report(r: &SdkReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string(r).context("serializing the report")?
        );
        return Ok(());
    }
    let row = |name: &str, value: String| println!("  {name:<28}{value}");
    let load = |l: Option<[f64; 3]>| {
        l.map_or("unknown".to_owned(), |[a, b, c]| {
            format!("{a:.2} {b:.2} {c:.2}")
        })
    };
    println!();
    println!("swarm bench sdk");
    row(
        "machine",
        format!(
            "{} cores, {}{}",
            r.machine.cores,
            r.machine.cpu.as_deref().unwrap_or("unknown CPU"),
            if r.machine.sha_extensions {
                " (SHA extensions)"
            } else {
                ""
            }
        ),
    );
    row(
        "load average",
        format!(
            "{} before, {} after",
            load(r.machine.load_before),
            load(r.load_after)
        ),
    );
    if let Some(e) = &r.engine {
        println!();
        println!(
            "microengine overhead: {} bounties x {} artifacts of {} bytes per client, \
             {} at once, {} ms blocks",
            e.bounties, e.artifacts_per_bounty, e.artifact_bytes, e.concurrency, e.block_time_ms
        );
        row("store", e.store.clone());
        row(
            "bare downloads",
            format!(
                "{:.0} GET /artifacts/{{uri}}/{{i}} per s ({} requests, {} at once)",
                e.download.per_second, e.download.requests, e.download.concurrency
            ),
        );
        row(
            "fsync (journal's disk)",
            format!("{:.2} ms median per append + fsync", e.fsync_median_ms),
        );
        for c in &e.clients {
            row(
                c.client,
                format!(
                    "{:>8.0} artifacts/s  {:>6.0} bounties/s  {:.3} s{}  post->assert p50 {:.0} ms, p99 {:.0} ms",
                    c.artifacts_per_second,
                    c.bounties_per_second,
                    c.wall_seconds,
                    if c.complete {
                        String::new()
                    } else {
                        format!(
                            " INCOMPLETE {}/{} artifacts",
                            c.artifacts_asserted, c.artifacts_expected
                        )
                    },
                    c.latency_p50_ms,
                    c.latency_p99_ms
                ),
            );
            let errors = match &c.engine_report {
                Some(report) => &report.errors,
                None => &c.errors,
            };
            if !errors.is_empty() {
                row("", format!("errors: {errors:?}"));
            }
        }
        row(
            "ratio sdk / limit",
            format!(
                "{:.2} (journal on disk), {:.2} (journal in memory)",
                e.sdk_over_limit, e.sdk_memory_journal_over_limit
            ),
        );
    }
    if let Some(s) = &r.sha256 {
        println!();
        println!(
            "sha256 of {} MiB (seed {}), median of {} runs",
            s.bytes / (1024 * 1024),
            s.seed,
            s.runs
        );
        row(
            "EicarSha256::scan",
            format!(
                "{:>8.1} ms  {:>7.0} MB/s  (min {:.1}, max {:.1} ms)",
                s.ours.median_ms, s.ours.median_mb_per_s, s.ours.min_ms, s.ours.max_ms
            ),
        );
        row(
            "sha256sum FILE",
            format!(
                "{:>8.1} ms  {:>7.0} MB/s  (min {:.1}, max {:.1} ms; {})",
                s.sha256sum.median_ms,
                s.sha256sum.median_mb_per_s,
                s.sha256sum.min_ms,
                s.sha256sum.max_ms,
                s.sha256sum_version
            ),
        );
        row(
            "sha256sum empty file",
            format!(
                "{:>8.1} ms  (process start; hashing alone {:.0} MB/s)",
                s.sha256sum_empty_file.median_ms, s.sha256sum_hashing_mb_per_s
            ),
        );
        row(
            "ratio ours / sha256sum",
            format!(
                "{:.2} ({:.2} against its hashing alone)",
                s.ratio_ours_over_sha256sum, s.ratio_ours_over_sha256sum_hashing
            ),
        );
        row(
            "EicarExact::scan",
            format!(
                "{:>8.4} ms (a length check; max {:.4} ms)",
                s.exact.median_ms, s.exact.max_ms
            ),
        );
        row(
            "checks",
            format!(
                "hashes {} (sha256 {}), verdicts {}",
                if s.hashes_match { "match" } else { "DIFFER" },
                s.hash,
                if s.verdicts_ok {
                    "as expected"
                } else {
                    "WRONG"
                }
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn artifacts_have_their_size_and_mark() {
        let a = artifact_content(0, 100);
        let b = artifact_content(1, 100);
        assert_eq!((a.len(), b.len()), (100, 100));
        assert_eq!(a[0], MALICIOUS_MARK);
        assert_ne!(b[0], MALICIOUS_MARK);
        assert_ne!(artifact_content(2, 100), a);
        assert_eq!(artifact_content(3, 1).len(), 1);
    }

    #[tokio::test]
    async fn instant_scanner_reads_the_first_byte() {
        let v = verdict(&InstantScanner, &artifact(b"Mxx".to_vec())).await;
        assert_eq!(v.unwrap(), Verdict::Malicious);
        let v = verdict(&InstantScanner, &artifact(b"Bxx".to_vec())).await;
        assert_eq!(v.unwrap(), Verdict::Benign);
        let v = verdict(&InstantScanner, &artifact(Vec::new())).await;
        assert_eq!(v.unwrap(), Verdict::Benign);
    }

    #[test]
    fn timings_take_the_median() {
        let ms = Duration::from_millis;
        let t = Timing::of(&[ms(30), ms(10), ms(20)], 2_000_000);
        assert_eq!(t.median_ms, 20.0);
        assert_eq!((t.min_ms, t.max_ms), (10.0, 30.0));
        assert!((t.median_mb_per_s - 100.0).abs() < 1e-9);
    }
}
