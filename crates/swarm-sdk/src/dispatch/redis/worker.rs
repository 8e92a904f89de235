//! [`RedisWorker`]: the other side. A worker joins the stream's consumer
//! group, takes jobs (first those abandoned by a dead worker, with
//! XAUTOCLAIM once they sat idle a visibility timeout, then new ones with
//! XREADGROUP), downloads each artifact from the node, scans it through a
//! [`LocalDispatch`] (the same slots, size limit, deadline and panic
//! handling as an in-process engine), answers on the job's reply stream,
//! and acknowledges and deletes the job.
//!
//! What keeps it honest:
//!
//! * A job past its deadline is acknowledged and dropped, unanswered; a
//!   scan that runs out of time is not answered either. The coordinator
//!   would ignore such an answer anyway; not sending it keeps the rule in
//!   two places.
//! * While it scans, a worker re-claims its own job every third of the
//!   visibility timeout (XCLAIM with JUSTID resets the entry's idle time),
//!   so a slow scan is not taken for a dead worker; a worker that dies
//!   stops doing so and its job goes to another one.
//! * A job is acknowledged only after its answer is on the reply stream:
//!   a worker killed in between leaves the job to be re-claimed, and the
//!   coordinator drops the second answer.
//! * Redis away: every command is retried with a jittered backoff; a
//!   consumer group lost with Redis's data (NOGROUP) is created again.
//! * `max_scans_per_second` is one budget for every worker of the stream,
//!   counted in Redis per wall-clock second, as a licence limits an engine
//!   and not a process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use redis::aio::ConnectionManager;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::NodeClient;
use crate::dispatch::{LocalDispatch, ScanDispatch, ScanFailure, ScanJob};
use crate::observe::{ObserveConfig, Observer, Role};
use crate::runtime::AbortOnDrop;
use crate::scanner::Scanner;

use super::coordinator::connection;
use super::error::RedisDispatchError;
use super::state::{self, Backoff, Fetch, JobDecision, Recovery};
use super::target::{RedisTarget, GROUP};
use super::wire::{self, AnswerMessage, JobMessage};

/// Answers kept in a reply stream at most (approximately), and how long a
/// reply stream outlives its last answer (a coordinator that went away).
const MAX_ANSWERS: usize = 10_000;
const ANSWERS_TTL_SECS: u64 = 3600;

/// A scan worker of a Redis stream. See the module docs.
pub struct RedisWorker<S> {
    scanner: Arc<S>,
    target: RedisTarget,
    client: NodeClient,
    consumer: String,
    max_concurrency: usize,
    max_scans_per_second: Option<u32>,
    visibility: Duration,
    max_artifact_size: Option<u64>,
    shutdown: CancellationToken,
    observe: ObserveConfig,
}

impl<S> std::fmt::Debug for RedisWorker<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisWorker")
            .field("target", &self.target)
            .field("node", &self.client.base_url())
            .field("consumer", &self.consumer)
            .field("max_concurrency", &self.max_concurrency)
            .field("max_scans_per_second", &self.max_scans_per_second)
            .field("visibility", &self.visibility)
            .finish()
    }
}

/// Configures a [`RedisWorker`].
pub struct RedisWorkerBuilder<S> {
    scanner: S,
    target: RedisTarget,
    client: Option<NodeClient>,
    consumer: Option<String>,
    max_concurrency: usize,
    max_scans_per_second: Option<u32>,
    visibility: Duration,
    max_artifact_size: Option<u64>,
    shutdown: Option<CancellationToken>,
    observe: ObserveConfig,
}

impl<S: Scanner> RedisWorkerBuilder<S> {
    /// The node artifacts are downloaded from, such as
    /// `http://127.0.0.1:31337`.
    pub fn node(mut self, url: impl Into<String>) -> Self {
        self.client = Some(NodeClient::new(url));
        self
    }

    /// A ready client instead of [`RedisWorkerBuilder::node`].
    pub fn client(mut self, client: NodeClient) -> Self {
        self.client = Some(client);
        self
    }

    /// This worker's name in the consumer group (default: host name,
    /// process id and a random suffix). Names must differ between workers.
    pub fn consumer(mut self, name: impl Into<String>) -> Self {
        self.consumer = Some(name.into());
        self
    }

    /// Scans at once in this worker (default 4).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// Scans started per second by all the workers of the stream together
    /// (default: no limit).
    pub fn max_scans_per_second(mut self, n: u32) -> Self {
        self.max_scans_per_second = Some(n);
        self
    }

    /// How long a job may go without news from its worker before another
    /// worker takes it over (default 30 s).
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility = timeout.max(Duration::from_millis(100));
        self
    }

    /// Artifacts larger than this are not downloaded (default: the
    /// community's `max_artifact_size`).
    pub fn max_artifact_size(mut self, bytes: u64) -> Self {
        self.max_artifact_size = Some(bytes);
        self
    }

    /// Serves `GET /healthz`, `/readyz` and `/metrics` on `addr` while the
    /// worker runs. `/healthz` fails when Redis or the node has not
    /// answered for the health threshold.
    pub fn metrics_listen(mut self, addr: std::net::SocketAddr) -> Self {
        self.observe.listen = Some(addr);
        self
    }

    /// How long without an answer from Redis or the node before `/healthz`
    /// answers 503 (default 10 s).
    pub fn health_threshold(mut self, threshold: Duration) -> Self {
        self.observe.threshold = threshold;
        self
    }

    /// Stops taking jobs when cancelled; the jobs in hand are finished.
    pub fn shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = Some(token);
        self
    }

    /// The worker.
    pub fn build(self) -> Result<RedisWorker<S>, RedisDispatchError> {
        let client = self.client.ok_or_else(|| RedisDispatchError::Address {
            address: self.target.to_string(),
            reason: "a worker needs the node to download artifacts from".into(),
        })?;
        Ok(RedisWorker {
            scanner: Arc::new(self.scanner),
            target: self.target,
            client,
            consumer: self.consumer.unwrap_or_else(default_consumer),
            max_concurrency: self.max_concurrency,
            max_scans_per_second: self.max_scans_per_second,
            visibility: self.visibility,
            max_artifact_size: self.max_artifact_size,
            shutdown: self.shutdown.unwrap_or_default(),
            observe: self.observe,
        })
    }
}

/// `host-pid-xxxx`: unique even for containers that are all pid 1.
fn default_consumer() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    let suffix: u16 = rand::thread_rng().gen();
    format!("{host}-{}-{suffix:04x}", std::process::id())
}

/// What a worker did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Jobs answered with a verdict.
    pub scanned: u64,
    /// Jobs answered with a failure (download, scanner error...).
    pub failed: u64,
    /// Jobs dropped unanswered: past their deadline when taken, or their
    /// scan ran out of time.
    pub expired: u64,
    /// Jobs taken over from a worker that went silent.
    pub reclaimed: u64,
    /// Entries that were not jobs of this version, dropped.
    pub malformed: u64,
    /// Answers that could not be sent before the deadline (Redis away).
    pub unsent: u64,
    /// Times the consumer group was (re)created by this worker.
    pub groups_created: u64,
}

#[derive(Default)]
struct Counters {
    scanned: AtomicU64,
    failed: AtomicU64,
    expired: AtomicU64,
    reclaimed: AtomicU64,
    malformed: AtomicU64,
    unsent: AtomicU64,
    groups_created: AtomicU64,
}

impl Counters {
    fn report(&self) -> WorkerReport {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WorkerReport {
            scanned: get(&self.scanned),
            failed: get(&self.failed),
            expired: get(&self.expired),
            reclaimed: get(&self.reclaimed),
            malformed: get(&self.malformed),
            unsent: get(&self.unsent),
            groups_created: get(&self.groups_created),
        }
    }
}

/// What every job task needs.
struct Ctx<S> {
    target: RedisTarget,
    consumer: String,
    conn: ConnectionManager,
    local: LocalDispatch<S>,
    visibility: Duration,
    rate: Option<u32>,
    counters: Counters,
}

impl<S: Scanner> RedisWorker<S> {
    /// A builder of a worker running `scanner` on the jobs of `target`.
    pub fn builder(scanner: S, target: RedisTarget) -> RedisWorkerBuilder<S> {
        RedisWorkerBuilder {
            scanner,
            target,
            client: None,
            consumer: None,
            max_concurrency: 4,
            max_scans_per_second: None,
            visibility: Duration::from_secs(30),
            max_artifact_size: None,
            shutdown: None,
            observe: ObserveConfig::default(),
        }
    }

    /// This worker's name in the consumer group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Takes and answers jobs until shut down. Sets the scanner up first
    /// and tears it down at the end.
    pub async fn run(self) -> Result<WorkerReport, RedisDispatchError> {
        let observer = Observer::start(self.observe, Role::Worker, &self.client, None).await?;
        let scanner = Arc::clone(&self.scanner);
        scanner.setup().await.map_err(RedisDispatchError::Setup)?;
        let result = self.run_worker(&observer).await;
        if let Err(e) = scanner.teardown().await {
            tracing::warn!(error = %e, "scanner teardown failed");
        }
        result
    }

    async fn run_worker(self, observer: &Observer) -> Result<WorkerReport, RedisDispatchError> {
        let Some(max_size) = self.max_artifact_size().await else {
            return Ok(WorkerReport::default());
        };
        let block = state::read_block(self.visibility);
        let ctx = Arc::new(Ctx {
            conn: connection(&self.target, Duration::from_secs(2))?,
            local: LocalDispatch::new(
                Arc::clone(&self.scanner),
                self.client.clone(),
                self.max_concurrency,
                max_size,
            ),
            target: self.target.clone(),
            consumer: self.consumer.clone(),
            visibility: self.visibility,
            rate: self.max_scans_per_second,
            counters: Counters::default(),
        });
        let mut block_conn = connection(&self.target, block + Duration::from_secs(2))?;
        tracing::info!(target = %self.target, consumer = %self.consumer, node = %self.client.base_url(),
            max_concurrency = self.max_concurrency, visibility = ?self.visibility, "scan worker started");
        let slots = Arc::new(Semaphore::new(self.max_concurrency));
        let mut tasks = JoinSet::new();
        let mut group_ready = false;
        let mut last_claim: Option<Instant> = None;
        let mut cursor = "0-0".to_owned();
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        'jobs: loop {
            while tasks.try_join_next().is_some() {}
            observe(observer, &ctx.counters.report());
            // Every slot busy scanning is alive, not stuck: it says so each
            // second while it waits for one to free up.
            let first = loop {
                tokio::select! {
                    _ = self.shutdown.cancelled() => break 'jobs,
                    permit = Arc::clone(&slots).acquire_owned() => match permit {
                        Ok(p) => break p,
                        Err(_) => break 'jobs,
                    },
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        observer.heard();
                        observe(observer, &ctx.counters.report());
                    }
                }
            };
            let mut permits = vec![first];
            while let Ok(p) = Arc::clone(&slots).try_acquire_owned() {
                permits.push(p);
            }
            let step = async {
                if !group_ready {
                    create_group(&ctx).await?;
                    group_ready = true;
                }
                let since = last_claim.map(|t| t.elapsed());
                let mut entries = Vec::new();
                if let Fetch::Claim { count } =
                    state::next_fetch(permits.len(), since, self.visibility)
                {
                    last_claim = Some(Instant::now());
                    entries = claim(&ctx, count, &mut cursor).await?;
                }
                if entries.is_empty() {
                    entries = read(&ctx, &mut block_conn, permits.len(), block).await?;
                }
                Ok::<_, redis::RedisError>(entries)
            };
            let fetched = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                fetched = step => fetched,
            };
            match fetched {
                Ok(entries) => {
                    observer.heard();
                    observer.ready();
                    if backoff.failures() > 0 {
                        tracing::info!(target = %ctx.target, "redis is back");
                    }
                    backoff.succeeded();
                    for (entry, claimed) in entries {
                        let Some(permit) = permits.pop() else {
                            // Never more entries than asked for; if Redis
                            // sent more, they are re-claimed later.
                            break;
                        };
                        tasks.spawn(handle(Arc::clone(&ctx), entry, claimed, permit));
                    }
                }
                Err(e) => {
                    if state::on_redis_error(e.code()) == Recovery::RecreateGroup {
                        tracing::warn!(target = %ctx.target, "the consumer group is gone (redis restarted?); creating it again");
                        group_ready = false;
                        continue;
                    }
                    let wait = backoff.failed(rand::thread_rng().gen());
                    if backoff.failures() == 1 || backoff.failures().is_multiple_of(20) {
                        tracing::warn!(target = %ctx.target, error = %e, failures = backoff.failures(), "redis unavailable; retrying");
                    }
                    drop(permits);
                    tokio::select! {
                        _ = self.shutdown.cancelled() => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        tracing::info!(
            in_hand = tasks.len(),
            "scan worker stopping; finishing the jobs in hand"
        );
        while tasks.join_next().await.is_some() {}
        let report = ctx.counters.report();
        observe(observer, &report);
        tracing::info!(?report, "scan worker stopped");
        Ok(report)
    }

    /// The size limit: the one given, or the community's, asked of the node
    /// until it answers. `None` if shut down first.
    async fn max_artifact_size(&self) -> Option<u64> {
        if let Some(size) = self.max_artifact_size {
            return Some(size);
        }
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            match self.client.parameters().await {
                Ok(p) => return Some(p.parameters.max_artifact_size),
                Err(e) => {
                    let wait = backoff.failed(rand::thread_rng().gen());
                    tracing::warn!(node = %self.client.base_url(), error = %e, "cannot read the community's parameters; retrying");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
}

/// XGROUP CREATE from the stream's start (jobs published before any worker
/// ran are served, or dropped if late), creating the stream if needed.
async fn create_group<S>(ctx: &Ctx<S>) -> Result<(), redis::RedisError> {
    let mut conn = ctx.conn.clone();
    let created: Result<String, redis::RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(ctx.target.stream())
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await;
    match created {
        Ok(_) => {
            ctx.counters.groups_created.fetch_add(1, Ordering::Relaxed);
            tracing::info!(target = %ctx.target, group = GROUP, "consumer group created");
            Ok(())
        }
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(e),
    }
}

/// Jobs idle past the visibility timeout, taken over; `true` marks them
/// re-claimed.
async fn claim<S>(
    ctx: &Ctx<S>,
    count: usize,
    cursor: &mut String,
) -> Result<Vec<(StreamId, bool)>, redis::RedisError> {
    let mut conn = ctx.conn.clone();
    let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
        .arg(ctx.target.stream())
        .arg(GROUP)
        .arg(&ctx.consumer)
        .arg(ctx.visibility.as_millis() as u64)
        .arg(cursor.as_str())
        .arg("COUNT")
        .arg(count)
        .query_async(&mut conn)
        .await?;
    *cursor = reply.next_stream_id;
    if !reply.deleted_ids.is_empty() {
        // Pending entries whose content is gone: nothing to scan.
        let _: Result<u64, _> = redis::cmd("XACK")
            .arg(ctx.target.stream())
            .arg(GROUP)
            .arg(&reply.deleted_ids)
            .query_async(&mut conn)
            .await;
    }
    Ok(reply.claimed.into_iter().map(|e| (e, true)).collect())
}

/// New jobs, waiting at most `block` for one.
async fn read<S>(
    ctx: &Ctx<S>,
    conn: &mut ConnectionManager,
    count: usize,
    block: Duration,
) -> Result<Vec<(StreamId, bool)>, redis::RedisError> {
    let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg(&ctx.consumer)
        .arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(block.as_millis() as u64)
        .arg("STREAMS")
        .arg(ctx.target.stream())
        .arg(">")
        .query_async(conn)
        .await?;
    Ok(reply
        .unwrap_or_default()
        .keys
        .into_iter()
        .flat_map(|k| k.ids)
        .map(|e| (e, false))
        .collect())
}

/// Brings the worker's metrics up to its counters.
fn observe(observer: &Observer, report: &WorkerReport) {
    let m = observer.metrics();
    m.sync_jobs("scanned", report.scanned);
    m.sync_jobs("failed", report.failed);
    m.sync_jobs("expired", report.expired);
    m.sync_jobs("reclaimed", report.reclaimed);
    m.sync_jobs("malformed", report.malformed);
    m.sync_jobs("unsent", report.unsent);
}

/// One job, from decoding to acknowledgement.
async fn handle<S: Scanner>(
    ctx: Arc<Ctx<S>>,
    entry: StreamId,
    claimed: bool,
    _slot: OwnedSemaphorePermit,
) {
    let c = &ctx.counters;
    let job: JobMessage = match wire::decode("job", &entry.map) {
        Ok(job) => job,
        Err(detail) => {
            c.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(entry = %entry.id, %detail, "malformed job dropped");
            finish(&ctx, &entry.id).await;
            return;
        }
    };
    if claimed {
        c.reclaimed.fetch_add(1, Ordering::Relaxed);
        tracing::info!(job = %job.id, entry = %entry.id, "re-claimed a job its worker left idle past the visibility timeout");
    }
    if let Some(limit) = ctx.rate {
        if !rate_slot(&ctx, limit, job.deadline_ms).await {
            c.expired.fetch_add(1, Ordering::Relaxed);
            tracing::info!(job = %job.id, "job dropped: the rate limit left no time before its deadline");
            finish(&ctx, &entry.id).await;
            return;
        }
    }
    let left = match state::decide_job(job.deadline_ms, wire::now_ms()) {
        JobDecision::Scan { left } => left,
        JobDecision::Expired { late_by } => {
            c.expired.fetch_add(1, Ordering::Relaxed);
            tracing::info!(job = %job.id, bounty = %job.bounty_guid, index = job.index, ?late_by, "job past its deadline dropped unanswered");
            finish(&ctx, &entry.id).await;
            return;
        }
    };
    let deadline = Instant::now() + left;
    let heartbeat = tokio::spawn(heartbeat(Arc::clone(&ctx), entry.id.clone()));
    let _heartbeat = AbortOnDrop::new(&heartbeat);
    tracing::debug!(job = %job.id, bounty = %job.bounty_guid, index = job.index, ?left, "scanning");
    let outcome = ctx
        .local
        .scan(ScanJob {
            bounty_guid: job.bounty_guid,
            uri: job.uri.clone(),
            index: job.index,
            kind: job.kind,
            metadata: job.metadata.clone(),
            deadline,
        })
        .await;
    drop(_heartbeat);
    match &outcome.result {
        Err((ScanFailure::Timeout, detail)) => {
            c.expired.fetch_add(1, Ordering::Relaxed);
            tracing::info!(job = %job.id, %detail, "scan ran out of time; no answer");
            finish(&ctx, &entry.id).await;
            return;
        }
        Err((failure, detail)) => {
            c.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(job = %job.id, code = failure.code(), %detail, "scan failed");
        }
        Ok(_) => {
            c.scanned.fetch_add(1, Ordering::Relaxed);
        }
    }
    let answer = AnswerMessage::new(job.id.clone(), ctx.consumer.clone(), outcome);
    if answer_job(&ctx, &job.reply_to, &answer, deadline).await {
        finish(&ctx, &entry.id).await;
    } else {
        // Left pending: if Redis kept it, another worker re-claims it (and
        // drops it, late, if the deadline passed).
        c.unsent.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(job = %job.id, "could not send the answer before the deadline");
    }
}

/// Waits for a place under the stream's rate limit; `false` if none comes
/// before `deadline_ms`.
async fn rate_slot<S>(ctx: &Ctx<S>, limit: u32, deadline_ms: u64) -> bool {
    let mut conn = ctx.conn.clone();
    loop {
        let now = wire::now_ms();
        if now >= deadline_ms {
            return false;
        }
        let key = ctx.target.rate_window(now / 1000);
        let counted: Result<(u64, u64), _> = redis::pipe()
            .cmd("INCR")
            .arg(&key)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(5)
            .query_async(&mut conn)
            .await;
        let wait = match counted {
            Ok((count, _)) => match state::rate_wait(count, limit, wire::now_ms()) {
                None => return true,
                Some(wait) => wait,
            },
            Err(_) => Duration::from_millis(100),
        };
        tokio::time::sleep(wait).await;
    }
}

/// Keeps re-claiming `entry` for this worker while it is scanned.
async fn heartbeat<S>(ctx: Arc<Ctx<S>>, entry: String) {
    let every = state::heartbeat_every(ctx.visibility);
    let mut conn = ctx.conn.clone();
    loop {
        tokio::time::sleep(every).await;
        let kept: Result<Vec<String>, _> = redis::cmd("XCLAIM")
            .arg(ctx.target.stream())
            .arg(GROUP)
            .arg(&ctx.consumer)
            .arg(0)
            .arg(&entry)
            .arg("JUSTID")
            .query_async(&mut conn)
            .await;
        if let Err(e) = kept {
            tracing::debug!(%entry, error = %e, "heartbeat failed");
        }
    }
}

/// Puts the answer on the reply stream, retrying until `deadline`.
async fn answer_job<S>(
    ctx: &Ctx<S>,
    reply_to: &str,
    answer: &AnswerMessage,
    deadline: Instant,
) -> bool {
    let fields = match wire::encode("answer", answer) {
        Ok(fields) => fields,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode an answer");
            return false;
        }
    };
    let mut conn = ctx.conn.clone();
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        let mut pipe = redis::pipe();
        pipe.cmd("XADD")
            .arg(reply_to)
            .arg("MAXLEN")
            .arg("~")
            .arg(MAX_ANSWERS)
            .arg("*")
            .arg(&fields[..])
            .cmd("EXPIRE")
            .arg(reply_to)
            .arg(ANSWERS_TTL_SECS);
        let send = pipe.query_async::<(String, u64)>(&mut conn);
        let sent = match tokio::time::timeout_at(deadline, send).await {
            Ok(sent) => sent.map_err(|e| e.to_string()),
            Err(_) => Err("no answer from redis".to_owned()),
        };
        match sent {
            Ok(_) => return true,
            Err(e) => {
                let wait = backoff.failed(rand::thread_rng().gen());
                if Instant::now() + wait >= deadline {
                    tracing::debug!(error = %e, "giving up on an answer");
                    return false;
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Acknowledges and deletes a job (it is done with, answered or dropped).
async fn finish<S>(ctx: &Ctx<S>, entry: &str) {
    let mut conn = ctx.conn.clone();
    let done: Result<(u64, u64), _> = redis::pipe()
        .cmd("XACK")
        .arg(ctx.target.stream())
        .arg(GROUP)
        .arg(entry)
        .cmd("XDEL")
        .arg(ctx.target.stream())
        .arg(entry)
        .query_async(&mut conn)
        .await;
    if let Err(e) = done {
        tracing::debug!(%entry, error = %e, "cannot acknowledge a job (it may be re-claimed and dropped)");
    }
}
