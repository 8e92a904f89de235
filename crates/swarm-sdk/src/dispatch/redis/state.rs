//! The Redis dispatch's decisions, in pure code: which answer reaches the
//! microengine, whether a job is still worth scanning, when to re-claim,
//! how long to back off, whether a scan may start under the rate limit,
//! what a Redis error calls for. The coordinator and the worker only act
//! on these answers (house style: decide in pure code, act in a loop), so
//! each rule is tested here without a server, and the loops stay short.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// How many finished job ids the coordinator remembers, to tell a
/// duplicate or late answer from one it never asked for.
const REMEMBERED: usize = 4096;

/// What becomes of an answer read from the reply stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer<T> {
    /// The first answer to a job still waiting, in time: hand it over.
    Deliver(T),
    /// The job was answered already (a re-claimed job answered twice).
    Duplicate,
    /// The job's deadline passed before its answer came: dropped, so no
    /// assertion is ever made on a late scan.
    Late,
    /// Not a job of this coordinator (or one it has forgotten).
    Unknown,
}

/// The coordinator's jobs waiting for an answer, each with its deadline
/// and the handle (`T`) its answer is delivered to.
#[derive(Debug)]
pub(crate) struct Waiting<K, T> {
    waiting: HashMap<K, (Instant, T)>,
    answered: HashSet<K>,
    expired: HashSet<K>,
    order: VecDeque<K>,
}

impl<K: Clone + Eq + Hash, T> Default for Waiting<K, T> {
    fn default() -> Self {
        Waiting {
            waiting: HashMap::new(),
            answered: HashSet::new(),
            expired: HashSet::new(),
            order: VecDeque::new(),
        }
    }
}

impl<K: Clone + Eq + Hash, T> Waiting<K, T> {
    /// Job `id`, due by `deadline`, now waits; its answer goes to `to`.
    pub(crate) fn insert(&mut self, id: K, deadline: Instant, to: T) {
        self.waiting.insert(id, (deadline, to));
    }

    /// Jobs waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// An answer to `id` arrived at `now`.
    pub(crate) fn on_answer(&mut self, id: &K, now: Instant) -> Answer<T> {
        if let Some((deadline, to)) = self.waiting.remove(id) {
            if now > deadline {
                self.remember(id.clone(), false);
                return Answer::Late;
            }
            self.remember(id.clone(), true);
            return Answer::Deliver(to);
        }
        if self.answered.contains(id) {
            Answer::Duplicate
        } else if self.expired.contains(id) {
            Answer::Late
        } else {
            Answer::Unknown
        }
    }

    /// The waiter of `id` gave up (its deadline passed, or it could not be
    /// published): a later answer is late.
    pub(crate) fn give_up(&mut self, id: &K) {
        if self.waiting.remove(id).is_some() {
            self.remember(id.clone(), false);
        }
    }

    fn remember(&mut self, id: K, answered: bool) {
        if answered {
            self.answered.insert(id.clone());
        } else {
            self.expired.insert(id.clone());
        }
        self.order.push_back(id);
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.answered.remove(&old);
                self.expired.remove(&old);
            }
        }
    }
}

/// What a worker does with a job it received.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JobDecision {
    /// Scan it within `left`.
    Scan {
        /// Time left before the deadline.
        left: Duration,
    },
    /// Its deadline passed: acknowledge it and answer nothing.
    Expired {
        /// How long ago the deadline passed.
        late_by: Duration,
    },
}

/// A job due at `deadline_ms` (wall clock), received at `now_ms`.
pub(crate) fn decide_job(deadline_ms: u64, now_ms: u64) -> JobDecision {
    if now_ms >= deadline_ms {
        JobDecision::Expired {
            late_by: Duration::from_millis(now_ms - deadline_ms),
        }
    } else {
        JobDecision::Scan {
            left: Duration::from_millis(deadline_ms - now_ms),
        }
    }
}

/// How a worker takes its next jobs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fetch {
    /// XAUTOCLAIM up to `count` jobs idle past the visibility timeout
    /// (their worker died), before reading new ones.
    Claim {
        /// At most this many.
        count: usize,
    },
    /// XREADGROUP up to `count` new jobs.
    Read {
        /// At most this many.
        count: usize,
    },
}

/// With `free` scan slots, the last re-claim `since_claim` ago (`None`:
/// never), and abandoned jobs re-claimed after `visibility`: what to fetch.
/// Re-claims run a few times per visibility timeout, so a dead worker's job
/// waits at most about 1.25 timeouts before another worker takes it.
pub(crate) fn next_fetch(
    free: usize,
    since_claim: Option<Duration>,
    visibility: Duration,
) -> Fetch {
    let count = free.max(1);
    match since_claim {
        Some(elapsed) if elapsed < claim_every(visibility) => Fetch::Read { count },
        _ => Fetch::Claim { count },
    }
}

/// How often a worker looks for abandoned jobs.
pub(crate) fn claim_every(visibility: Duration) -> Duration {
    (visibility / 4).max(Duration::from_millis(50))
}

/// How often a worker tells Redis it still holds a job it is scanning
/// (XCLAIM of its own entry, which resets the entry's idle time): well
/// within the visibility timeout, so that a live slow scan is never taken
/// for a dead one.
pub(crate) fn heartbeat_every(visibility: Duration) -> Duration {
    (visibility / 3).max(Duration::from_millis(20))
}

/// The longest XREADGROUP may block: short enough for re-claims and a
/// shutdown to be seen in time.
pub(crate) fn read_block(visibility: Duration) -> Duration {
    claim_every(visibility).min(Duration::from_secs(1))
}

/// Whether a scan may start now under a limit of `limit` scans per second
/// for the whole stream, given that this scan was number `count` of the
/// current wall-clock second (`now_ms`): `None` to go, or how long to wait
/// for the next second. A fixed window per second, counted in Redis, so
/// that every worker of an engine shares one licence's rate.
pub(crate) fn rate_wait(count: u64, limit: u32, now_ms: u64) -> Option<Duration> {
    if count <= u64::from(limit) {
        None
    } else {
        Some(Duration::from_millis(1000 - now_ms % 1000))
    }
}

/// What a Redis error calls for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// The consumer group is gone (a Redis restarted without its data):
    /// create it again, then carry on.
    RecreateGroup,
    /// Anything else (unreachable, timed out, loading): back off and retry.
    Retry,
}

/// The error whose server code is `code` (`NOGROUP`, `LOADING`...).
pub(crate) fn on_redis_error(code: Option<&str>) -> Recovery {
    match code {
        Some("NOGROUP") => Recovery::RecreateGroup,
        _ => Recovery::Retry,
    }
}

/// Exponential backoff between reconnection attempts: from `initial`,
/// doubling, at most `max`, each delay scaled by a jitter in [0.5, 1] so
/// that workers restarted together do not hammer Redis together.
#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            next: initial,
            failures: 0,
        }
    }

    /// Another failure: how long to wait. `jitter` is in [0, 1].
    pub(crate) fn failed(&mut self, jitter: f64) -> Duration {
        let delay = self.next.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        self.next = (self.next * 2).min(self.max);
        self.failures += 1;
        delay
    }

    /// Failures since the last success.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// A success: the next failure starts again from `initial`.
    pub(crate) fn succeeded(&mut self) {
        self.next = self.initial;
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests;
