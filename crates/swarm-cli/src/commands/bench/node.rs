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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use futures_util::stream::{self, StreamExt};
use rand::Rng;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch, Semaphore};

use swarm_node::{dev_key, CommittedBlock, NodeConfig, RunningNode};

use super::stats::{mean, ms, weighted_quantile};
use super::{funded_genesis, lock, EXPIRY_AHEAD};
use swarm_protocol::api::{BatchItem, Envelope};
use swarm_protocol::{
    commitment, keccak256, Amount, ArtifactType, Assert, Bits256, Event, Genesis, Guid, Parameters,
    PostBounty, PrivateKey, Reveal, SignedTx, StakeDeposit, Tx, TxBody, UploadAuth, Vote, H256,
};

/// Most transactions the node takes in one `POST /transactions` batch.
const MAX_BATCH: usize = 1000;

/// How long the single-core recovery loop runs.
const RECOVERY_LOOP: Duration = Duration::from_secs(1);

/// How long the single-core signing loop runs.
const SIGNING_LOOP: Duration = Duration::from_millis(300);

/// Concurrent `GET /bounties/{guid}` requests of the final check.
const CHECK_CONCURRENCY: usize = 32;

/// Flags of `swarm bench node`.
#[derive(Args, Clone, Debug)]
pub(crate) struct NodeBenchArgs {
    /// Engines asserting and revealing on every bounty.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
    engines: u32,
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

// ---- set-up -----------------------------------------------------------------

/// The accounts of the bench.
struct Keys {
    /// Posts every bounty: `dev_key(2)`.
    ambassador: PrivateKey,
    /// `dev_key(3)`, `dev_key(4)`, ...
    engines: Vec<PrivateKey>,
    /// The dev genesis's only arbiter, `dev_key(1)`.
    arbiter: PrivateKey,
}

impl Keys {
    /// The ambassador, `engines` engines and the arbiter.
    fn new(engines: u32) -> Self {
        Keys {
            ambassador: dev_key(2),
            engines: (0..engines).map(|i| dev_key(3 + i)).collect(),
            arbiter: dev_key(1),
        }
    }
}

/// The dev genesis with the bench's block time and windows, and every bench
/// account funded so that no mint is needed.
fn bench_genesis(args: &NodeBenchArgs, keys: &Keys) -> Genesis {
    let mut genesis = funded_genesis(std::iter::once(&keys.ambassador).chain(&keys.engines));
    let p = &mut genesis.parameters;
    p.block_time_ms = Some(args.block_time_ms);
    p.max_duration = Some(args.duration.max(2));
    p.assertion_reveal_window = Some(args.reveal_window);
    p.arbiter_vote_window = Some(args.vote_window);
    genesis
}

/// Refuses flags that cannot make a run.
fn check_args(args: &NodeBenchArgs) -> anyhow::Result<()> {
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

// ---- measurements outside the node --------------------------------------------

/// Recovers one signature in a loop on this thread: recoveries per second.
fn recovery_rate(min: Duration) -> anyhow::Result<f64> {
    let key = dev_key(0);
    let digest = keccak256(b"swarm bench recovery");
    let signature = key.sign_hash(&digest);
    let expected = key.address();
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < min {
        for _ in 0..64 {
            let signer = signature
                .recover(std::hint::black_box(&digest))
                .context("recovering the bench signature")?;
            if std::hint::black_box(signer) != expected {
                bail!("signature recovery returned the wrong address");
            }
            count += 1;
        }
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// Signs in a loop on this thread: signatures per second.
fn signing_rate(min: Duration) -> f64 {
    let key = dev_key(0);
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < min {
        for i in 0..64u64 {
            let digest = keccak256(i.to_be_bytes());
            std::hint::black_box(key.sign_hash(&digest));
            count += 1;
        }
    }
    count as f64 / started.elapsed().as_secs_f64()
}

// ---- the block clock ------------------------------------------------------------

/// One committed block, as the bench saw it.
#[derive(Clone, Debug)]
struct BlockSeen {
    /// Transactions in it.
    txs: usize,
    /// When the node sealed it (its header's timestamp).
    timestamp_ms: u64,
    /// When the bench heard of its commit, in Unix milliseconds.
    seen_unix_ms: f64,
    /// When the bench heard of its commit.
    seen_at: Instant,
}

/// What the committed-block broadcast tells the bench.
struct Clock {
    /// The last committed block; the open one is the next.
    committed: watch::Receiver<u64>,
    /// Bounties settled so far.
    settled: AtomicUsize,
    /// When the bench saw the latest settlement.
    last_settlement: Mutex<Option<Instant>>,
    /// Every block seen.
    blocks: Mutex<Vec<BlockSeen>>,
}

impl Clock {
    /// Follows the node's committed blocks until the node stops.
    fn follow(node: &RunningNode) -> Arc<Clock> {
        let mut blocks = node.state().events.subscribe();
        let start = node.state().view.tip().map(|t| t.number).unwrap_or(0);
        let (tx, rx) = watch::channel(start);
        let clock = Arc::new(Clock {
            committed: rx,
            settled: AtomicUsize::new(0),
            last_settlement: Mutex::new(None),
            blocks: Mutex::new(Vec::new()),
        });
        let c = clock.clone();
        tokio::spawn(async move {
            loop {
                match blocks.recv().await {
                    Ok(block) => c.saw(&block, &tx),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("bench clock missed {n} blocks; settlement times are late");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        clock
    }

    /// Records a committed block and announces it.
    fn saw(&self, block: &CommittedBlock, tx: &watch::Sender<u64>) {
        let now = Instant::now();
        let settled = block
            .events
            .iter()
            .filter(|e| matches!(e.event, Event::SettledBounty(_)))
            .count();
        if settled > 0 {
            self.settled.fetch_add(settled, Ordering::SeqCst);
            *lock(&self.last_settlement) = Some(now);
        }
        lock(&self.blocks).push(BlockSeen {
            txs: block.txs.len(),
            timestamp_ms: block.header.timestamp_ms,
            seen_unix_ms: unix_ms(),
            seen_at: now,
        });
        tx.send_replace(block.header.number);
    }

    /// The block now open for transactions.
    fn open_block(&self) -> u64 {
        *self.committed.borrow() + 1
    }

    /// Waits until block `number` is open (block `number - 1` committed).
    async fn wait_open(&self, number: u64, limit: Duration) -> anyhow::Result<()> {
        let mut rx = self.committed.clone();
        let reached = tokio::time::timeout(limit, rx.wait_for(|c| c + 1 >= number))
            .await
            .map(|r| r.map(|_| ()));
        match reached {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => bail!("the node stopped before block {number}"),
            Err(_) => bail!(
                "block {number} did not open within {}s (the node is stuck?)",
                limit.as_secs()
            ),
        }
    }
}

/// Now, in Unix milliseconds.
fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

// ---- signing ahead ----------------------------------------------------------------

/// Serialized signed transactions for one role of one wave, one per bounty.
struct Batch {
    /// Each signed transaction's JSON envelope.
    items: Vec<String>,
}

impl Batch {
    /// The JSON array of the items selected by `keep`.
    fn body(&self, keep: &[bool]) -> (String, Vec<usize>) {
        let mut body = String::with_capacity(self.items.iter().map(|s| s.len() + 1).sum());
        let mut sent = Vec::new();
        body.push('[');
        for (i, item) in self.items.iter().enumerate() {
            if !keep.get(i).copied().unwrap_or(false) {
                continue;
            }
            if !sent.is_empty() {
                body.push(',');
            }
            body.push_str(item);
            sent.push(i);
        }
        body.push(']');
        (body, sent)
    }
}

/// A wave of bounties with every transaction signed.
struct SignedWave {
    /// The bounties, in batch order.
    guids: Vec<Guid>,
    /// The ambassador's posts.
    posts: Batch,
    /// Per engine.
    asserts: Vec<Batch>,
    /// Per engine.
    reveals: Vec<Batch>,
    /// The arbiter's votes.
    votes: Batch,
}

impl SignedWave {
    /// Signed transactions in the wave.
    fn len(&self) -> usize {
        let batches = std::iter::once(&self.posts)
            .chain(&self.asserts)
            .chain(&self.reveals)
            .chain(std::iter::once(&self.votes));
        batches.map(|b| b.items.len()).sum()
    }
}

/// What one wave's bounties look like before signing.
struct WavePlan {
    /// Fresh bounty guids.
    guids: Vec<Guid>,
    /// Per engine, per bounty: (nonce, verdicts).
    secrets: Vec<Vec<(H256, Bits256)>>,
    /// Per bounty.
    votes: Vec<Bits256>,
    /// Last block in which the wave's transactions are valid.
    expires: u64,
}

/// Random guids, nonces, verdicts and votes for a wave of `size` bounties.
fn plan_wave(size: usize, engines: usize, expires: u64) -> WavePlan {
    let mut rng = rand::thread_rng();
    let guids = (0..size).map(|_| Guid::new_v4()).collect();
    let mut random_bit = || Bits256::from_bools(&[rng.gen::<bool>()]);
    let votes = (0..size).map(|_| random_bit()).collect();
    let secrets = (0..engines)
        .map(|_| {
            (0..size)
                .map(|_| {
                    let mut nonce = [0u8; 32];
                    rand::thread_rng().fill(&mut nonce[..]);
                    nonce[0] |= 1; // never the zero nonce
                    (H256(nonce), random_bit())
                })
                .collect()
        })
        .collect();
    WavePlan {
        guids,
        secrets,
        votes,
        expires,
    }
}

/// Signs `bodies` as `key` (on a blocking thread) into a batch.
async fn sign_batch(
    key: PrivateKey,
    community: Arc<str>,
    expires: u64,
    bodies: Vec<TxBody>,
) -> anyhow::Result<Batch> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<Batch> {
        let from = key.address();
        let items = bodies
            .into_iter()
            .map(|body| {
                let signed = Tx::new(from, &*community, expires, body).sign(&key);
                serde_json::to_string(&signed).context("serializing a signed transaction")
            })
            .collect::<anyhow::Result<Vec<String>>>()?;
        Ok(Batch { items })
    })
    .await
    .context("a signing thread failed")?
}

/// What every wave needs to build its transactions.
struct WaveTemplate {
    /// Who signs what.
    keys: Arc<Keys>,
    /// The community every transaction names.
    community: Arc<str>,
    /// The one artifact bundle every bounty points at.
    uri: String,
    /// Each bounty's reward: the minimum for one artifact.
    amount: Amount,
    /// Each engine's bid: the minimum.
    bid: Amount,
    /// Each bounty's assertion round, in blocks.
    duration: u64,
}

/// Plans and signs one wave, each role's batch on its own blocking thread.
async fn sign_wave(t: &WaveTemplate, size: usize, expires: u64) -> anyhow::Result<SignedWave> {
    let plan = plan_wave(size, t.keys.engines.len(), expires);
    let posts: Vec<TxBody> = plan
        .guids
        .iter()
        .map(|guid| {
            PostBounty {
                guid: *guid,
                artifact_type: ArtifactType::File,
                amount: t.amount,
                uri: t.uri.clone(),
                num_artifacts: 1,
                duration: t.duration,
                metadata: None,
            }
            .into()
        })
        .collect();
    let mut jobs = Vec::new();
    jobs.push(sign_batch(
        t.keys.ambassador.clone(),
        t.community.clone(),
        plan.expires,
        posts,
    ));
    for (engine, secrets) in t.keys.engines.iter().zip(&plan.secrets) {
        let address = engine.address();
        let asserts = plan
            .guids
            .iter()
            .zip(secrets)
            .map(|(guid, (nonce, verdicts))| {
                Assert {
                    bounty_guid: *guid,
                    mask: Bits256::first(1),
                    bids: vec![t.bid],
                    commitment: commitment(verdicts, nonce, &address),
                }
                .into()
            })
            .collect();
        jobs.push(sign_batch(
            engine.clone(),
            t.community.clone(),
            plan.expires,
            asserts,
        ));
    }
    for (engine, secrets) in t.keys.engines.iter().zip(&plan.secrets) {
        let reveals = plan
            .guids
            .iter()
            .zip(secrets)
            .map(|(guid, (nonce, verdicts))| {
                Reveal {
                    bounty_guid: *guid,
                    nonce: *nonce,
                    verdicts: *verdicts,
                    metadata: serde_json::Value::Null,
                }
                .into()
            })
            .collect();
        jobs.push(sign_batch(
            engine.clone(),
            t.community.clone(),
            plan.expires,
            reveals,
        ));
    }
    let votes = plan
        .guids
        .iter()
        .zip(&plan.votes)
        .map(|(guid, votes)| {
            Vote {
                bounty_guid: *guid,
                votes: *votes,
            }
            .into()
        })
        .collect();
    jobs.push(sign_batch(
        t.keys.arbiter.clone(),
        t.community.clone(),
        plan.expires,
        votes,
    ));

    let mut batches = Vec::with_capacity(jobs.len());
    for result in futures_util::future::join_all(jobs).await {
        batches.push(result?);
    }
    let engines = t.keys.engines.len();
    let mut batches = batches.into_iter();
    let mut take = || {
        batches
            .next()
            .ok_or_else(|| anyhow!("a signed batch is missing"))
    };
    let posts = take()?;
    let asserts = (0..engines)
        .map(|_| take())
        .collect::<anyhow::Result<_>>()?;
    let reveals = (0..engines)
        .map(|_| take())
        .collect::<anyhow::Result<_>>()?;
    let votes = take()?;
    Ok(SignedWave {
        guids: plan.guids,
        posts,
        asserts,
        reveals,
        votes,
    })
}

// ---- submitting ------------------------------------------------------------------

/// The four kinds of request of a lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// `bounty:Post` by the ambassador.
    Post,
    /// `bounty:Assert` by an engine.
    Assert,
    /// `bounty:Reveal` by an engine.
    Reveal,
    /// `bounty:Vote` by the arbiter.
    Vote,
}

impl Phase {
    /// Every phase, in lifecycle order.
    const ALL: [Phase; 4] = [Phase::Post, Phase::Assert, Phase::Reveal, Phase::Vote];

    /// The phase's name in the report.
    fn name(self) -> &'static str {
        match self {
            Phase::Post => "post",
            Phase::Assert => "assert",
            Phase::Reveal => "reveal",
            Phase::Vote => "vote",
        }
    }
}

/// One answered request.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// What was submitted.
    phase: Phase,
    /// From sending the request to having decoded the answer.
    latency: Duration,
    /// Transactions in the request.
    txs: usize,
}

/// Refusals, by phase and code, with one message each.
#[derive(Default)]
struct Refusals {
    /// (phase, code) -> (count, first message).
    by_code: BTreeMap<(Phase, String), (usize, String)>,
}

impl Refusals {
    /// Counts `count` refusals.
    fn add(&mut self, phase: Phase, code: &str, message: &str, count: usize) {
        let entry = self
            .by_code
            .entry((phase, code.to_owned()))
            .or_insert_with(|| (0, message.to_owned()));
        entry.0 += count;
    }

    /// All refusals.
    fn total(&self) -> usize {
        self.by_code.values().map(|v| v.0).sum()
    }
}

/// Time-bound phases (reveals and votes) per block they are sent at, until
/// answered: the wave dispatcher waits for those of the open block, so
/// that starting a wave never delays them.
#[derive(Default)]
struct Load {
    /// Per block: phases that are sent as soon as it opens and have not been
    /// answered yet.
    due: BTreeMap<u64, usize>,
}

/// A phase due at a block, registered in [`Load::due`] until dropped.
struct Due<'a> {
    /// Where it is registered.
    ctx: &'a Ctx,
    /// The block the phase is sent at.
    block: u64,
}

impl<'a> Due<'a> {
    /// Registers a phase due at `block`.
    fn new(ctx: &'a Ctx, block: u64) -> Self {
        ctx.load
            .send_modify(|l| *l.due.entry(block).or_insert(0) += 1);
        Due { ctx, block }
    }
}

impl Drop for Due<'_> {
    /// Unregisters the phase.
    fn drop(&mut self) {
        let block = self.block;
        self.ctx.load.send_modify(|l| {
            if let Some(n) = l.due.get_mut(&block) {
                *n -= 1;
                if *n == 0 {
                    l.due.remove(&block);
                }
            }
        });
    }
}

/// What all waves share.
struct Ctx {
    /// Reveals and votes due, per block.
    load: watch::Sender<Load>,
    /// The HTTP client every role uses.
    http: reqwest::Client,
    /// The node's base URL.
    url: String,
    /// Whether to submit with `?wait=true`.
    wait: bool,
    /// Which block is open.
    clock: Arc<Clock>,
    /// The node's block time.
    block_time: Duration,
    /// Every answered `POST /transactions`.
    samples: Mutex<Vec<Sample>>,
    /// Every refused transaction.
    refusals: Mutex<Refusals>,
    /// Transactions accepted into a block.
    accepted: AtomicU64,
}

impl Ctx {
    /// A limit for waits that only a stuck node exceeds.
    fn stuck_limit(&self) -> Duration {
        (self.block_time * 50).max(Duration::from_secs(30))
    }

    /// Waits until no reveal or vote due in the open block is unanswered.
    async fn wait_quiet(&self) -> anyhow::Result<()> {
        let mut rx = self.load.subscribe();
        let clock = &self.clock;
        let quiet = |l: &Load| l.due.keys().next().is_none_or(|b| *b > clock.open_block());
        let reached = tokio::time::timeout(self.stuck_limit(), rx.wait_for(quiet))
            .await
            .map(|r| r.map(|_| ()));
        match reached {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => bail!("the load tracker closed"),
            Err(_) => bail!(
                "requests stayed in flight for {}s (the node is stuck?)",
                self.stuck_limit().as_secs()
            ),
        }
    }

    /// Submits the selected items of `batch`; per item, the block it was
    /// accepted into, or `None` if refused.
    async fn submit(&self, phase: Phase, batch: &Batch, keep: &[bool]) -> Vec<Option<u64>> {
        let mut outcome = vec![None; batch.items.len()];
        let (body, sent) = batch.body(keep);
        if sent.is_empty() {
            return outcome;
        }
        let started = Instant::now();
        let answer = self.post(body).await;
        let latency = started.elapsed();
        lock(&self.samples).push(Sample {
            phase,
            latency,
            txs: sent.len(),
        });
        match answer {
            Ok(items) if items.len() == sent.len() => {
                let mut refusals = lock(&self.refusals);
                let mut accepted = 0;
                for (i, item) in sent.into_iter().zip(items) {
                    match item {
                        BatchItem::Ok(submitted) => {
                            outcome[i] = Some(submitted.block_number);
                            accepted += 1;
                        }
                        BatchItem::Err(refusal) => {
                            refusals.add(phase, &refusal.code, &refusal.errors, 1)
                        }
                    }
                }
                self.accepted.fetch_add(accepted, Ordering::Relaxed);
            }
            Ok(items) => lock(&self.refusals).add(
                phase,
                "bench_mismatch",
                &format!(
                    "sent {} transactions, got {} answers",
                    sent.len(),
                    items.len()
                ),
                sent.len(),
            ),
            Err(e) => {
                lock(&self.refusals).add(phase, "request_failed", &format!("{e:#}"), sent.len())
            }
        }
        outcome
    }

    /// `POST /transactions` with a JSON array; the per-item answers.
    async fn post(&self, body: String) -> anyhow::Result<Vec<BatchItem>> {
        let response = self
            .http
            .post(format!("{}/transactions?wait={}", self.url, self.wait))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .context("POST /transactions")?;
        let status = response.status();
        let bytes = response.bytes().await.context("reading the answer")?;
        if !status.is_success() {
            bail!(
                "POST /transactions answered {status}: {}",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(300)
                    .collect::<String>()
            );
        }
        let answer: Envelope<Vec<BatchItem>> =
            serde_json::from_slice(&bytes).context("decoding the batch answer")?;
        answer.result.context("the batch answer holds no result")
    }
}

/// How far each bounty of a wave got, by what was accepted.
struct WaveOutcome {
    /// The bounties.
    guids: Vec<Guid>,
    /// Per bounty: all of its transactions were accepted.
    accepted: Vec<bool>,
    /// Per bounty: its post was accepted.
    posted: Vec<bool>,
}

/// Drives one wave through its four phases.
async fn run_wave(ctx: &Ctx, wave: SignedWave, duration: u64, reveal_window: u64) -> WaveOutcome {
    let n = wave.guids.len();
    let all = vec![true; n];
    let posts = ctx.submit(Phase::Post, &wave.posts, &all).await;
    let posted: Vec<bool> = posts.iter().map(Option::is_some).collect();
    let mut complete = posted.clone();
    let Some(post_block) = posts.iter().flatten().copied().max() else {
        return WaveOutcome {
            guids: wave.guids,
            accepted: complete,
            posted,
        };
    };
    let expiration = post_block + duration;

    let asserted = futures_util::future::join_all(
        wave.asserts
            .iter()
            .map(|batch| ctx.submit(Phase::Assert, batch, &posted)),
    )
    .await;
    let asserted: Vec<Vec<bool>> = asserted
        .into_iter()
        .map(|a| a.iter().map(Option::is_some).collect())
        .collect();
    for a in &asserted {
        for (c, ok) in complete.iter_mut().zip(a) {
            *c &= ok;
        }
    }

    let reveal_due = Due::new(ctx, expiration);
    let vote_due = Due::new(ctx, expiration + reveal_window);
    let phase = async {
        ctx.clock.wait_open(expiration, ctx.stuck_limit()).await?;
        let revealed = futures_util::future::join_all(
            wave.reveals
                .iter()
                .zip(&asserted)
                .map(|(batch, keep)| ctx.submit(Phase::Reveal, batch, keep)),
        )
        .await;
        drop(reveal_due);
        for r in &revealed {
            for (c, ok) in complete.iter_mut().zip(r) {
                *c &= ok.is_some();
            }
        }
        ctx.clock
            .wait_open(expiration + reveal_window, ctx.stuck_limit())
            .await?;
        let voted = ctx.submit(Phase::Vote, &wave.votes, &posted).await;
        drop(vote_due);
        for (c, ok) in complete.iter_mut().zip(&voted) {
            *c &= ok.is_some();
        }
        anyhow::Ok(())
    };
    if let Err(e) = phase.await {
        let missing = complete.iter().filter(|c| **c).count();
        lock(&ctx.refusals).add(Phase::Reveal, "bench_stuck", &format!("{e:#}"), missing);
        complete.iter_mut().for_each(|c| *c = false);
    }
    WaveOutcome {
        guids: wave.guids,
        accepted: complete,
        posted,
    }
}

// ---- the run -------------------------------------------------------------------------

/// Everything measured, for the table and the JSON object.
#[derive(serde::Serialize)]
struct Report {
    /// SQLite (temporary) or the PostgreSQL URL.
    store: String,
    /// Engines per bounty.
    engines: u32,
    /// Arbiters voting (always 1).
    arbiters: u32,
    /// The node's block time.
    block_time_ms: u64,
    /// Each bounty's assertion round.
    duration_blocks: u64,
    /// R.
    reveal_window: u64,
    /// V.
    vote_window: u64,
    /// Bounties per wave (and transactions per request).
    batch: usize,
    /// Most waves in flight.
    concurrency: usize,
    /// Whether requests used `?wait=true`.
    wait_for_inclusion: bool,
    /// Lifecycles asked for.
    lifecycles_requested: usize,
    /// Lifecycles whose every transaction was accepted and that settled with all of them.
    lifecycles_complete: usize,
    /// Posted bounties that settled (complete or not).
    bounties_settled: usize,
    /// 1 post + E assertions + E reveals + 1 vote.
    transactions_per_lifecycle: usize,
    /// Transactions in the blocks committed during the run.
    transactions_included: u64,
    /// Transactions refused (or lost with their request).
    transactions_refused: usize,
    /// From sending the first post to seeing the last settlement.
    wall_seconds: f64,
    /// Complete lifecycles per wall second.
    lifecycles_per_second: f64,
    /// Included transactions per wall second.
    transactions_per_second: f64,
    /// `POST /transactions` requests answered.
    requests: usize,
    /// Median latency of a request.
    request_latency_p50_ms: f64,
    /// 99th percentile latency of a request.
    request_latency_p99_ms: f64,
    /// Median latency of a transaction (its request's).
    tx_latency_p50_ms: f64,
    /// 99th percentile latency of a transaction (its request's).
    tx_latency_p99_ms: f64,
    /// Request latency by phase.
    phase_latency: Vec<PhaseLatency>,
    /// Signature recoveries per second on one thread, before the load.
    recoveries_per_second_one_core: f64,
    /// Signatures per second on one thread, before the load.
    signatures_per_second_one_core: f64,
    /// transactions/s divided by recoveries/s.
    tx_rate_over_recovery_rate: f64,
    /// Transactions the bench signed.
    signed_transactions: usize,
    /// Of them, signed while the clock ran (the rest before).
    signed_during_run: usize,
    /// Estimated core-seconds the bench spent signing.
    client_signing_core_seconds: f64,
    /// Blocks committed during the run.
    blocks: usize,
    /// Mean transactions per block.
    transactions_per_block_mean: f64,
    /// Most transactions in one block.
    transactions_per_block_max: usize,
    /// Mean time between block seals.
    block_interval_mean_ms: f64,
    /// Longest time between block seals.
    block_interval_max_ms: f64,
    /// Mean store commit time per block, from the node's metrics.
    block_commit_mean_ms: Option<f64>,
    /// Mean time from sealing a block to the announcement of its commit.
    block_closed_mean_ms: f64,
    /// Longest time from sealing a block to the announcement of its commit.
    block_closed_max_ms: f64,
    /// balances + escrow + staked + treasury == minted at the end.
    supply_ok: bool,
    /// The supply from `GET /status`.
    supply: serde_json::Value,
    /// Refusals by phase and code.
    refusals: Vec<RefusalReport>,
}

/// Request latency of one phase.
#[derive(serde::Serialize)]
struct PhaseLatency {
    /// `post`, `assert`, `reveal` or `vote`.
    phase: &'static str,
    /// Requests answered.
    requests: usize,
    /// Median request latency.
    p50_ms: f64,
    /// 99th percentile request latency.
    p99_ms: f64,
}

/// One kind of refusal.
#[derive(serde::Serialize)]
struct RefusalReport {
    /// Which phase.
    phase: &'static str,
    /// The node's error code.
    code: String,
    /// How many transactions.
    count: usize,
    /// The first message.
    example: String,
}

/// `swarm bench node`: calibrate, start the node, drive it, report.
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

    let keys = Arc::new(Keys::new(args.engines));
    let genesis = bench_genesis(&args, &keys);
    let dir = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let mut config = NodeConfig::new(genesis.clone());
    config.data_dir = dir.path().to_path_buf();
    config.database_url = args.database_url.clone();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.block_time = Some(Duration::from_millis(args.block_time_ms));
    // One process stands for a whole marketplace of clients: per-client
    // rates would measure the limits, not the node.
    config.limits = swarm_node::Limits::unlimited();
    let node = swarm_node::start(config)
        .await
        .with_context(|| match &args.database_url {
            Some(_) => "cannot start the bench node (the PostgreSQL database must be reachable \
                    and fresh: it refuses a database holding another genesis)"
                .to_owned(),
            None => format!("cannot start the bench node in {}", dir.path().display()),
        })?;
    let clock = Clock::follow(&node);
    let calibration = Calibration {
        recoveries,
        signatures,
    };
    let store = describe_store(&args, dir.path());
    let result = drive(&args, &node, clock, keys, genesis, calibration, store).await;
    let stopped = node.shutdown().await;
    let report = result?;
    stopped.context("the bench node failed while stopping")?;
    print_report(&report, args.json)?;
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

/// Single-thread signature rates, measured before the load.
#[derive(Clone, Copy)]
struct Calibration {
    /// Recoveries per second.
    recoveries: f64,
    /// Signatures per second.
    signatures: f64,
}

/// Stakes, uploads, runs every wave and checks the outcome.
async fn drive(
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
    });

    // The arbiter stakes the minimum; one artifact bundle serves every bounty.
    stake(
        &ctx,
        &keys.arbiter,
        &genesis.community,
        params.minimum_stake,
    )
    .await?;
    let uri = upload(&ctx, &keys.ambassador, &genesis.community).await?;
    let commit_before = commit_stats(&ctx).await;

    let template = Arc::new(WaveTemplate {
        keys: keys.clone(),
        community: Arc::from(genesis.community.as_str()),
        uri,
        amount: params.bounty_amount_minimum,
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

    let per_lifecycle = 2 + 2 * args.engines as usize;
    let mut signed_txs = 0;
    let started = Instant::now();
    let included_before: usize = lock(&clock.blocks).iter().map(|b| b.txs).sum();
    let settled_before = clock.settled.load(Ordering::SeqCst);
    let semaphore = Arc::new(Semaphore::new(args.concurrency));
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
    let wall = ended.saturating_duration_since(started);

    // Check every bounty over the API, and the supply.
    let engines = args.engines as usize;
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
    let secs = wall.as_secs_f64().max(f64::MIN_POSITIVE);
    let tps = included as f64 / secs;
    Ok(Report {
        store,
        engines: args.engines,
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

/// Submits one transaction with `?wait=true` and checks it was included.
async fn submit_one(ctx: &Ctx, signed: &SignedTx) -> anyhow::Result<()> {
    let response = ctx
        .http
        .post(format!("{}/transactions?wait=true", ctx.url))
        .json(signed)
        .send()
        .await
        .context("POST /transactions")?;
    let status = response.status();
    let text = response.text().await.context("reading the answer")?;
    if !status.is_success() {
        bail!("POST /transactions answered {status}: {text}");
    }
    Ok(())
}

/// The arbiter stakes `amount` and waits until it is included.
async fn stake(
    ctx: &Ctx,
    arbiter: &PrivateKey,
    community: &str,
    amount: Amount,
) -> anyhow::Result<()> {
    let block = ctx.clock.open_block();
    let signed = Tx::new(
        arbiter.address(),
        community,
        block + EXPIRY_AHEAD,
        StakeDeposit { amount },
    )
    .sign(arbiter);
    submit_one(ctx, &signed)
        .await
        .context("the arbiter cannot stake")
}

/// Uploads the one artifact every bounty points at, with the ambassador's
/// signed permission; returns its bundle uri.
async fn upload(ctx: &Ctx, key: &PrivateKey, community: &str) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    /// The part of the answer the bench needs.
    struct Uploaded {
        /// The bundle uri.
        uri: String,
    }
    #[derive(Deserialize)]
    /// The envelope.
    struct Answer {
        /// The upload.
        result: Uploaded,
    }
    let content = b"swarm bench artifact\n".to_vec();
    let permission = UploadAuth {
        sha256s: vec![hex::encode(Sha256::digest(&content))],
    }
    .sign(key, community, ctx.clock.open_block() + EXPIRY_AHEAD);
    let permission = serde_json::to_string(&permission).context("serializing the permission")?;
    let part = reqwest::multipart::Part::bytes(content).file_name("bench.txt");
    let form = reqwest::multipart::Form::new().part("file", part);
    let response = ctx
        .http
        .post(format!("{}/artifacts", ctx.url))
        .header(
            reqwest::header::AUTHORIZATION,
            format!("Swarm {permission}"),
        )
        .multipart(form)
        .send()
        .await
        .context("POST /artifacts")?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .context("reading the upload answer")?;
    if !status.is_success() {
        bail!(
            "POST /artifacts answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let answer: Answer = serde_json::from_slice(&bytes).context("decoding the upload answer")?;
    Ok(answer.result.uri)
}

/// What `GET /bounties/{guid}` says about one bounty.
struct BountyCheck {
    /// It has a settlement.
    settled: bool,
    /// Every engine asserted and revealed, and the arbiter voted.
    full: bool,
}

/// `GET /bounties/{guid}`: settled, with every assertion revealed and the vote.
async fn check_bounty(ctx: &Ctx, guid: Guid, engines: usize) -> anyhow::Result<BountyCheck> {
    let response = ctx
        .http
        .get(format!("{}/bounties/{guid}", ctx.url))
        .send()
        .await
        .with_context(|| format!("GET /bounties/{guid}"))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(BountyCheck {
            settled: false,
            full: false,
        });
    }
    let status = response.status();
    let value: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("decoding GET /bounties/{guid}"))?;
    if !status.is_success() {
        bail!("GET /bounties/{guid} answered {status}: {value}");
    }
    let bounty = &value["result"];
    let settled = !bounty["settlement"].is_null();
    let assertions = bounty["assertions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let votes = bounty["votes"].as_array().map(Vec::len).unwrap_or(0);
    let full = assertions.len() == engines
        && assertions.iter().all(|a| !a["revealed"].is_null())
        && votes == 1;
    Ok(BountyCheck { settled, full })
}

/// `GET /status`: balances + escrow + staked + treasury == minted.
async fn check_supply(ctx: &Ctx) -> anyhow::Result<(bool, serde_json::Value)> {
    let value: serde_json::Value = ctx
        .http
        .get(format!("{}/status", ctx.url))
        .send()
        .await
        .context("GET /status")?
        .json()
        .await
        .context("decoding GET /status")?;
    let supply = value["result"]["supply"].clone();
    let wei = |field: &str| -> anyhow::Result<u128> {
        supply[field]
            .as_str()
            .ok_or_else(|| anyhow!("GET /status has no supply.{field}"))?
            .parse::<u128>()
            .with_context(|| format!("supply.{field} is not a wei amount"))
    };
    let parts = ["balances", "escrow", "staked", "treasury"]
        .iter()
        .map(|f| wei(f))
        .collect::<anyhow::Result<Vec<u128>>>()?;
    let sum = parts.iter().try_fold(0u128, |a, b| a.checked_add(*b));
    Ok((sum == Some(wei("minted")?), supply))
}

/// `swarm_block_commit_seconds` sum and count from `GET /metrics`.
async fn commit_stats(ctx: &Ctx) -> Option<(f64, f64)> {
    let text = ctx
        .http
        .get(format!("{}/metrics", ctx.url))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().parse::<f64>().ok())
    };
    Some((
        field("swarm_block_commit_seconds_sum ")?,
        field("swarm_block_commit_seconds_count ")?,
    ))
}

// ---- output ------------------------------------------------------------------------------

/// Prints the report as a table, or as one JSON object.
fn print_report(r: &Report, json: bool) -> anyhow::Result<()> {
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
        "swarm bench node: {} engine(s) + {} arbiter, {} ms blocks, duration {} / R {} / V {}",
        r.engines, r.arbiters, r.block_time_ms, r.duration_blocks, r.reveal_window, r.vote_window
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn batch_answers_decode() {
        let text = r#"{"status":"OK","result":[
            {"hash":"0x0000000000000000000000000000000000000000000000000000000000000001","status":"pending","block_number":7},
            {"errors":"bounty is in round 2","code":"wrong_round","status":422}]}"#;
        let answer: Envelope<Vec<BatchItem>> = serde_json::from_str(text).unwrap();
        let items = answer.result.unwrap();
        assert!(matches!(&items[0], BatchItem::Ok(s) if s.block_number == 7));
        assert!(matches!(&items[1], BatchItem::Err(r) if r.code == "wrong_round"));
    }

    #[test]
    fn batch_bodies_keep_selected_items() {
        let batch = Batch {
            items: vec!["1".into(), "2".into(), "3".into()],
        };
        assert_eq!(
            batch.body(&[true, false, true]),
            ("[1,3]".to_owned(), vec![0, 2])
        );
        assert_eq!(batch.body(&[false; 3]).1, Vec::<usize>::new());
    }
}
