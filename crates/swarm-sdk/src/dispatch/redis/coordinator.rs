//! [`RedisDispatch`]: the microengine's side. Each scan job is published
//! to the engine's stream and answered by whichever worker takes it; the
//! answers come back on a stream of this coordinator's own
//! (`STREAM:answers:ID`), read by one task that hands each to the job
//! waiting for it.
//!
//! The rule that matters is the one the microengine already keeps for
//! in-process scans: no verdict, no assertion. A job that cannot be
//! published by its deadline fails as [`ScanFailure::Unavailable`]; one
//! with no answer by its deadline fails as [`ScanFailure::Timeout`]; an
//! answer after the deadline, or a second answer to a job (a re-claimed job
//! answered by two workers), is dropped by the pure `Waiting` of
//! `state.rs`. Redis being down therefore costs the scans in flight, never
//! a wrong assertion, and the connection comes back by itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::StreamReadReply;
use swarm_protocol::Address;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::dispatch::{ScanDispatch, ScanFailure, ScanJob, ScanOutcome};
use crate::runtime::AbortOnDrop;

use super::error::RedisDispatchError;
use super::state::{Answer, Backoff, Waiting};
use super::target::RedisTarget;
use super::wire::{self, AnswerMessage, JobMessage};

/// How long an XREAD of the answers blocks.
const READ_BLOCK: Duration = Duration::from_millis(500);
/// Jobs kept in the stream at most (approximately): a bound on memory if
/// no worker runs for a long time. Workers delete what they finish.
const MAX_JOBS: usize = 100_000;

/// A [`ScanDispatch`] that hands each scan to worker processes through a
/// Redis stream. See the module docs.
pub struct RedisDispatch {
    inner: Arc<Inner>,
    _reader: AbortOnDrop,
}

impl std::fmt::Debug for RedisDispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDispatch")
            .field("target", &self.inner.target)
            .field("coordinator", &self.inner.id)
            .finish()
    }
}

/// What a [`RedisDispatch`] has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DispatchStats {
    /// Jobs published to the stream.
    pub published: u64,
    /// Answers handed to the microengine.
    pub answered: u64,
    /// Second answers to a job, ignored.
    pub duplicates: u64,
    /// Answers after the job's deadline, ignored.
    pub late: u64,
    /// Jobs that could not be published by their deadline.
    pub unpublished: u64,
    /// Jobs with no answer by their deadline.
    pub unanswered: u64,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    answered: AtomicU64,
    duplicates: AtomicU64,
    late: AtomicU64,
    unpublished: AtomicU64,
    unanswered: AtomicU64,
}

struct Inner {
    target: RedisTarget,
    /// This coordinator's id, random per process: job ids and the reply
    /// stream are unique to it.
    id: String,
    reply_to: String,
    engine: Address,
    scanner: String,
    conn: ConnectionManager,
    waiting: Mutex<Waiting<String, oneshot::Sender<AnswerMessage>>>,
    seq: AtomicU64,
    counters: Counters,
}

/// A connection manager that connects on first use and reconnects by
/// itself; commands fail (and are retried by the caller) while Redis is
/// away. `response` bounds one command's answer.
pub(crate) fn connection(
    target: &RedisTarget,
    response: Duration,
) -> Result<ConnectionManager, RedisDispatchError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(response))
        .set_max_delay(Duration::from_secs(2))
        // Our own loops retry, within deadlines; the manager's retries
        // would hold a command for seconds while Redis is away.
        .set_number_of_retries(1);
    target
        .client()?
        .get_connection_manager_lazy(config)
        .map_err(|source| target.error(source))
}

impl RedisDispatch {
    /// A dispatch publishing to `target` the jobs of engine `engine` (its
    /// account) running `scanner` (its name, for the workers' logs).
    ///
    /// No connection is made here: Redis may be down when the engine
    /// starts, and jobs fail until it is up. Must be called inside a Tokio
    /// runtime (it starts the task reading the answers).
    pub fn new(
        target: RedisTarget,
        engine: Address,
        scanner: impl Into<String>,
    ) -> Result<RedisDispatch, RedisDispatchError> {
        let id = format!("{:016x}", rand::thread_rng().gen::<u64>());
        let conn = connection(&target, Duration::from_secs(2))?;
        let reader_conn = connection(&target, READ_BLOCK + Duration::from_secs(2))?;
        let inner = Arc::new(Inner {
            reply_to: target.answers(&id),
            target,
            id,
            engine,
            scanner: scanner.into(),
            conn,
            waiting: Mutex::new(Waiting::default()),
            seq: AtomicU64::new(0),
            counters: Counters::default(),
        });
        let reader = tokio::spawn(read_answers(Arc::clone(&inner), reader_conn));
        tracing::info!(target = %inner.target, coordinator = %inner.id, "scans dispatched to redis workers");
        Ok(RedisDispatch {
            _reader: AbortOnDrop::new(&reader),
            inner,
        })
    }

    /// The stream and server jobs go to.
    pub fn target(&self) -> &RedisTarget {
        &self.inner.target
    }

    /// What was published and answered so far.
    pub fn stats(&self) -> DispatchStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DispatchStats {
            published: get(&c.published),
            answered: get(&c.answered),
            duplicates: get(&c.duplicates),
            late: get(&c.late),
            unpublished: get(&c.unpublished),
            unanswered: get(&c.unanswered),
        }
    }
}

impl ScanDispatch for RedisDispatch {
    async fn scan(&self, job: ScanJob) -> ScanOutcome {
        let inner = &self.inner;
        let deadline = job.deadline;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return ScanOutcome::failed(ScanFailure::Timeout, "the deadline had passed", false);
        }
        let n = inner.seq.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n}", inner.id);
        let message = JobMessage {
            id: id.clone(),
            bounty_guid: job.bounty_guid,
            uri: job.uri,
            index: job.index,
            kind: job.kind,
            metadata: job.metadata,
            deadline_ms: wire::deadline_ms(left),
            engine: inner.engine,
            scanner: inner.scanner.clone(),
            reply_to: inner.reply_to.clone(),
        };
        let fields = match wire::encode("job", &message) {
            Ok(fields) => fields,
            Err(e) => return ScanOutcome::failed(ScanFailure::Error, e.to_string(), false),
        };
        let (tx, rx) = oneshot::channel();
        lock(&inner.waiting).insert(id.clone(), deadline, tx);
        // However this future ends (answered, timed out, dropped by a
        // microengine shutting down), a later answer finds no waiter.
        let _forget = GiveUp {
            inner,
            id: id.clone(),
        };
        if let Err(detail) = publish(inner, &fields, deadline).await {
            inner.counters.unpublished.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(job = %id, bounty = %message.bounty_guid, index = message.index, %detail, "scan job not published");
            return ScanOutcome::failed(ScanFailure::Unavailable, detail, false);
        }
        inner.counters.published.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(job = %id, bounty = %message.bounty_guid, index = message.index, "scan job published");
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(answer)) => {
                inner.counters.answered.fetch_add(1, Ordering::Relaxed);
                answer.into_outcome()
            }
            Ok(Err(_)) => {
                ScanOutcome::failed(ScanFailure::Unavailable, "the answer reader stopped", false)
            }
            Err(_) => {
                inner.counters.unanswered.fetch_add(1, Ordering::Relaxed);
                ScanOutcome::failed(
                    ScanFailure::Timeout,
                    format!("no worker answered job {id} by the deadline"),
                    false,
                )
            }
        }
    }
}

/// Removes a job from the waiting list when its scan ends.
struct GiveUp<'a> {
    inner: &'a Inner,
    id: String,
}

impl Drop for GiveUp<'_> {
    fn drop(&mut self) {
        lock(&self.inner.waiting).give_up(&self.id);
    }
}

/// XADDs the job, retrying with backoff while Redis is away, until
/// `deadline`.
async fn publish(
    inner: &Inner,
    fields: &[(&'static str, String); 2],
    deadline: Instant,
) -> Result<(), String> {
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        let mut conn = inner.conn.clone();
        let mut xadd = redis::cmd("XADD");
        xadd.arg(inner.target.stream())
            .arg("MAXLEN")
            .arg("~")
            .arg(MAX_JOBS)
            .arg("*")
            .arg(&fields[..]);
        let add = xadd.query_async::<String>(&mut conn);
        let added = match tokio::time::timeout_at(deadline, add).await {
            Ok(added) => added.map_err(|e| e.to_string()),
            Err(_) => Err("no answer from redis".to_owned()),
        };
        match added {
            Ok(_) => return Ok(()),
            Err(e) => {
                let wait = backoff.failed(rand::thread_rng().gen());
                if Instant::now() + wait >= deadline {
                    return Err(format!(
                        "redis {}: {e} ({} attempts before the deadline)",
                        inner.target,
                        backoff.failures()
                    ));
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Reads this coordinator's answers and hands each to its job, until the
/// dispatch is dropped. Read answers are deleted from the stream.
async fn read_answers(inner: Arc<Inner>, mut conn: ConnectionManager) {
    let mut last = "0-0".to_owned();
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    loop {
        let read: Result<Option<StreamReadReply>, _> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(256)
            .arg("BLOCK")
            .arg(READ_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&inner.reply_to)
            .arg(&last)
            .query_async(&mut conn)
            .await;
        let reply = match read {
            Ok(reply) => {
                if backoff.failures() > 0 {
                    tracing::info!(target = %inner.target, "reading answers again");
                }
                backoff.succeeded();
                reply.unwrap_or_default()
            }
            Err(e) => {
                let wait = backoff.failed(rand::thread_rng().gen());
                if backoff.failures() == 1 {
                    tracing::warn!(target = %inner.target, error = %e, "cannot read answers; retrying");
                }
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let mut read_ids = Vec::new();
        for entry in reply.keys.into_iter().flat_map(|k| k.ids) {
            last.clone_from(&entry.id);
            read_ids.push(entry.id.clone());
            let answer: AnswerMessage = match wire::decode("answer", &entry.map) {
                Ok(a) => a,
                Err(detail) => {
                    tracing::warn!(entry = %entry.id, %detail, "malformed answer ignored");
                    continue;
                }
            };
            let decision = lock(&inner.waiting).on_answer(&answer.id, Instant::now());
            let c = &inner.counters;
            match decision {
                Answer::Deliver(to) => {
                    // The waiter may have just given up; then it is dropped.
                    let _ = to.send(answer);
                }
                Answer::Duplicate => {
                    c.duplicates.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(job = %answer.id, worker = %answer.worker, "duplicate answer ignored");
                }
                Answer::Late => {
                    c.late.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(job = %answer.id, worker = %answer.worker, "answer after the deadline ignored");
                }
                Answer::Unknown => {
                    tracing::debug!(job = %answer.id, worker = %answer.worker, "answer to an unknown job ignored");
                }
            }
        }
        if !read_ids.is_empty() {
            let mut c = inner.conn.clone();
            let deleted: Result<u64, _> = redis::cmd("XDEL")
                .arg(&inner.reply_to)
                .arg(&read_ids)
                .query_async(&mut c)
                .await;
            if let Err(e) = deleted {
                tracing::debug!(error = %e, "cannot delete read answers");
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
