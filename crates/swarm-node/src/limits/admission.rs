//! Admission control: the node refuses new work it could not finish in
//! time, at submission, with 503 and `Retry-After` — instead of taking
//! everything and letting admitted bounties miss their rounds.
//!
//! A node has a transaction rate it can sustain (signature recovery on
//! every core, then one sequencer). Past it, requests queue in the
//! handlers, blocks stretch, and assertions and reveals that were sent in
//! time are applied after their round closed: work the node accepted fails
//! silently. The cure is to refuse early, where a client can still act: a
//! `bounty:Post` is the one transaction that commits the node to more work
//! (every engine's assertion and reveal, the arbiters' votes), so a new
//! bounty is refused while the transactions already waiting would take
//! longer than a few block times to apply. Transactions that advance
//! bounties already posted are still taken, so every admitted lifecycle
//! can finish. Past a hard cap of waiting transactions everything is
//! refused — then memory, not rounds, is at stake.
//!
//! How long the waiting transactions take is estimated from what the node
//! itself just did: the transactions it applied per second over its last
//! [`RATE_WINDOW`] blocks (their transactions over their time — not the
//! best single block, which holds requests verified during earlier blocks
//! and overstates what the node sustains), plus how far the last block
//! overran its block time. Before the node has been busy its
//! blocks say nothing of its capacity, so the rate is never taken below a
//! floor measured at start: a quarter of one core's signature recoveries
//! per second on every core ([`measured_floor`]) — about what a node
//! sustains, since recovery is a quarter to a third of a transaction's
//! cost. The work a post promises counts too: the bounties admitted in the
//! open block will bring their assertions, reveals and votes (as many as
//! the recent blocks held per post), so a crowd of posts arriving at once
//! — clients that all backed off for the same `Retry-After` — is not let
//! in whole because the queue looked short when each of them looked.
//! [`decide`] is that rule as a pure function; [`Admission`] holds the
//! gauges the API and the sequencer feed it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::api::ApiError;

/// Blocks over which the node's recent transaction rate is taken: about a
/// second at the usual block times, long enough to hold a burst and its
/// drain.
pub(crate) const RATE_WINDOW: usize = 10;

/// The lowest floor rate (transactions per second), whatever the start-up
/// measurement says.
pub(crate) const RATE_FLOOR: f64 = 1_000.0;

/// Transactions a bounty is taken to bring in all (its post, assertions,
/// reveals and votes) before the node has seen any: one engine and one
/// arbiter more than the fewest.
pub(crate) const DEFAULT_TXS_PER_BOUNTY: f64 = 8.0;

/// Recoveries timed at start for [`measured_floor`].
const FLOOR_SAMPLES: u32 = 200;

/// The floor of the rate estimate: `cores` × one core's signature
/// recoveries per second (timed over [`FLOOR_SAMPLES`] recoveries, ~10 ms)
/// ÷ 4, and at least [`RATE_FLOOR`].
pub(crate) fn measured_floor(cores: usize) -> f64 {
    let key = swarm_protocol::PrivateKey::from_bytes(&[7u8; 32]);
    let Ok(key) = key else {
        return RATE_FLOOR;
    };
    let digest = swarm_protocol::keccak256(b"swarm admission floor");
    let signature = key.sign_hash(&digest);
    let started = std::time::Instant::now();
    for _ in 0..FLOOR_SAMPLES {
        if signature.recover(std::hint::black_box(&digest)).is_err() {
            return RATE_FLOOR;
        }
    }
    let per_core = f64::from(FLOOR_SAMPLES) / started.elapsed().as_secs_f64().max(1e-9);
    floor(per_core, cores)
}

/// The floor for one core's `recoveries` per second on `cores` cores.
fn floor(recoveries: f64, cores: usize) -> f64 {
    (recoveries * cores as f64 / 4.0).max(RATE_FLOOR)
}

/// What the node is facing when a submission arrives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Pressure {
    /// Transactions received and not yet applied or refused, this
    /// submission's excluded.
    pub(crate) waiting: usize,
    /// Transactions the bounties admitted in the open block will bring.
    pub(crate) promised: usize,
    /// Transactions per second the node applied in its recent blocks, or
    /// the floor if that is higher.
    pub(crate) rate: f64,
    /// How much longer than its block time the last block took.
    pub(crate) lag: Duration,
}

impl Pressure {
    /// How long the waiting transactions will take to apply.
    pub(crate) fn expected_wait(&self) -> Duration {
        let rate = self.rate.max(RATE_FLOOR);
        Duration::from_secs_f64(self.waiting.saturating_add(self.promised) as f64 / rate) + self.lag
    }
}

/// The admission limits (in [`super::Limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// A new bounty is refused while the waiting transactions would take
    /// longer than this many block times to apply; `None` never refuses one.
    pub new_bounty_wait_blocks: Option<u32>,
    /// Over this many waiting transactions every submission is refused.
    pub max_waiting_transactions: usize,
}

impl Default for AdmissionLimits {
    /// Two block times: a bounty's assertion round is at least one block and
    /// usually many, and its engines send their assertions after it is
    /// included. 50,000 waiting transactions are a few seconds of work.
    fn default() -> Self {
        AdmissionLimits {
            new_bounty_wait_blocks: Some(2),
            max_waiting_transactions: 50_000,
        }
    }
}

/// What a submission is, for admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work {
    /// Commits the node to more transactions later (`bounty:Post`).
    New,
    /// Anything else: advances what is already there.
    Continuing,
}

/// Why a submission is refused, and when to come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A new bounty while the node is behind.
    Behind {
        /// The estimated time until the waiting transactions are applied.
        wait: Duration,
    },
    /// Anything, while the waiting transactions are over the hard cap.
    Full {
        /// The waiting transactions.
        waiting: usize,
        /// The estimated time until they are applied.
        wait: Duration,
    },
}

impl Refusal {
    /// The API's answer: 503 with `Retry-After`.
    pub(crate) fn into_api_error(self) -> ApiError {
        match self {
            Refusal::Behind { wait } => ApiError::Overloaded {
                message: format!(
                    "the node is behind by about {} ms of transactions and takes no new bounty until it catches up; transactions of bounties already posted are still taken",
                    wait.as_millis()
                ),
                retry_after: wait,
            },
            Refusal::Full { waiting, wait } => ApiError::Overloaded {
                message: format!(
                    "the node holds {waiting} transactions waiting to be applied, its limit; send again later"
                ),
                retry_after: wait,
            },
        }
    }
}

/// The rule: may `work` of `count` transactions come in under `pressure`?
pub(crate) fn decide(
    limits: &AdmissionLimits,
    block_time: Duration,
    pressure: Pressure,
    work: Work,
    count: usize,
) -> Result<(), Refusal> {
    let wait = pressure.expected_wait();
    if pressure.waiting.saturating_add(count) > limits.max_waiting_transactions {
        return Err(Refusal::Full {
            waiting: pressure.waiting,
            wait,
        });
    }
    match (work, limits.new_bounty_wait_blocks) {
        (Work::New, Some(blocks)) if wait > block_time * blocks => Err(Refusal::Behind { wait }),
        _ => Ok(()),
    }
}

/// The gauges behind [`decide`]: fed by the API (what waits) and by the
/// sequencer (what it applied, and how late its blocks were).
#[derive(Debug)]
pub(crate) struct Admission {
    limits: AdmissionLimits,
    block_time: Duration,
    floor: f64,
    waiting: AtomicUsize,
    lag_us: AtomicU64,
    /// The recent blocks' (transactions, posts, seconds), newest last.
    rates: Mutex<VecDeque<(usize, usize, f64)>>,
    /// Bounties admitted into the open block.
    posts_open: AtomicUsize,
    /// Transactions those bounties will bring.
    promised: AtomicUsize,
    refused: AtomicU64,
}

/// Transactions counted as waiting until dropped.
#[derive(Debug)]
pub(crate) struct Waiting<'a> {
    admission: &'a Admission,
    count: usize,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.admission
            .waiting
            .fetch_sub(self.count, Ordering::Relaxed);
    }
}

impl Admission {
    /// Gauges at rest, with `floor` the lowest rate to assume.
    pub(crate) fn new(limits: AdmissionLimits, block_time: Duration, floor: f64) -> Self {
        Admission {
            limits,
            block_time,
            floor,
            waiting: AtomicUsize::new(0),
            lag_us: AtomicU64::new(0),
            rates: Mutex::new(VecDeque::with_capacity(RATE_WINDOW)),
            posts_open: AtomicUsize::new(0),
            promised: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The pressure now.
    pub(crate) fn pressure(&self) -> Pressure {
        let (txs, seconds) = self
            .rates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .fold((0usize, 0.0f64), |(t, s), (bt, _, bs)| (t + bt, s + bs));
        let recent = if seconds > 0.0 {
            txs as f64 / seconds
        } else {
            0.0
        };
        Pressure {
            waiting: self.waiting.load(Ordering::Relaxed),
            promised: self.promised.load(Ordering::Relaxed),
            rate: recent.max(self.floor),
            lag: Duration::from_micros(self.lag_us.load(Ordering::Relaxed)),
        }
    }

    /// Counts `count` received transactions as waiting, unless over the
    /// hard cap; they stop counting when the returned guard is dropped.
    pub(crate) fn enter(&self, count: usize) -> Result<Waiting<'_>, Refusal> {
        let pressure = self.pressure();
        decide(
            &self.limits,
            self.block_time,
            pressure,
            Work::Continuing,
            count,
        )
        .inspect_err(|_| {
            self.refused.fetch_add(count as u64, Ordering::Relaxed);
        })?;
        self.waiting.fetch_add(count, Ordering::Relaxed);
        Ok(Waiting {
            admission: self,
            count,
        })
    }

    /// Transactions per bounty in the recent blocks (all transactions
    /// over posts), or [`DEFAULT_TXS_PER_BOUNTY`] before any post.
    fn txs_per_bounty(&self) -> f64 {
        let (txs, posts) = self
            .rates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .fold((0usize, 0usize), |(t, p), (bt, bp, _)| (t + bt, p + bp));
        if posts == 0 {
            DEFAULT_TXS_PER_BOUNTY
        } else {
            (txs as f64 / posts as f64).max(1.0)
        }
    }

    /// Whether `posts` new bounties may come in now, `own` of the waiting
    /// transactions being the caller's. If so, the work they promise counts
    /// against the next ones until the open block is sealed.
    pub(crate) fn admit_posts(&self, own: usize, posts: usize) -> Result<(), Refusal> {
        let mut pressure = self.pressure();
        pressure.waiting = pressure.waiting.saturating_sub(own);
        decide(&self.limits, self.block_time, pressure, Work::New, 0).inspect_err(|_| {
            self.refused.fetch_add(posts as u64, Ordering::Relaxed);
        })?;
        let follow_ups = (self.txs_per_bounty() - 1.0) * posts as f64;
        self.promised
            .fetch_add(follow_ups.round() as usize, Ordering::Relaxed);
        self.posts_open.fetch_add(posts, Ordering::Relaxed);
        Ok(())
    }

    /// The sequencer sealed a block of `txs` transactions `interval` after
    /// the previous one.
    pub(crate) fn record_block(&self, txs: usize, interval: Duration) {
        let lag = interval.saturating_sub(self.block_time);
        self.lag_us.store(
            lag.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        let seconds = interval.as_secs_f64();
        if seconds <= 0.0 {
            return;
        }
        let posts = self.posts_open.swap(0, Ordering::Relaxed);
        self.promised.store(0, Ordering::Relaxed);
        let mut rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        if rates.len() == RATE_WINDOW {
            rates.pop_front();
        }
        rates.push_back((txs, posts, seconds));
    }

    /// Transactions refused so far (a refused new bounty counts one).
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Counts `count` transactions as waiting, past any cap, until the
    /// returned guard is dropped: a backlog on demand, for tests.
    #[cfg(any(test, feature = "test-utils"))]
    pub(crate) fn hold(self: &std::sync::Arc<Self>, count: usize) -> Held {
        self.waiting.fetch_add(count, Ordering::Relaxed);
        Held {
            admission: self.clone(),
            count,
        }
    }
}

/// A backlog held for a test (`TestNode::hold_backlog`); released when dropped.
#[cfg(any(test, feature = "test-utils"))]
#[derive(Debug)]
pub struct Held {
    admission: std::sync::Arc<Admission>,
    count: usize,
}

#[cfg(any(test, feature = "test-utils"))]
impl Drop for Held {
    fn drop(&mut self) {
        self.admission
            .waiting
            .fetch_sub(self.count, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: Duration = Duration::from_millis(100);

    fn pressure(waiting: usize, rate: f64, lag_ms: u64) -> Pressure {
        Pressure {
            waiting,
            promised: 0,
            rate,
            lag: Duration::from_millis(lag_ms),
        }
    }

    #[test]
    fn a_new_bounty_is_refused_once_the_backlog_is_longer_than_two_blocks() {
        let limits = AdmissionLimits::default();
        // 10,000 tx/s: 2,000 waiting is 200 ms, exactly two blocks.
        assert_eq!(
            decide(&limits, BLOCK, pressure(2_000, 10_000.0, 0), Work::New, 1),
            Ok(())
        );
        let refused = decide(&limits, BLOCK, pressure(2_100, 10_000.0, 0), Work::New, 1);
        assert_eq!(
            refused,
            Err(Refusal::Behind {
                wait: Duration::from_millis(210)
            })
        );
        // A late block counts as backlog too.
        assert!(decide(&limits, BLOCK, pressure(0, 10_000.0, 250), Work::New, 1).is_err());
    }

    #[test]
    fn transactions_of_posted_bounties_pass_until_the_hard_cap() {
        let limits = AdmissionLimits::default();
        let behind = pressure(20_000, 10_000.0, 400);
        assert_eq!(
            decide(&limits, BLOCK, behind, Work::Continuing, 1_000),
            Ok(())
        );
        let full = pressure(49_500, 10_000.0, 0);
        assert!(matches!(
            decide(&limits, BLOCK, full, Work::Continuing, 1_000),
            Err(Refusal::Full {
                waiting: 49_500,
                ..
            })
        ));
    }

    #[test]
    fn an_idle_node_is_judged_by_the_floor_rate_not_by_its_empty_blocks() {
        let limits = AdmissionLimits::default();
        // No rate at all: 150 waiting at the lowest floor of 1,000/s is 150 ms.
        assert_eq!(
            decide(&limits, BLOCK, pressure(150, 0.0, 0), Work::New, 1),
            Ok(())
        );
        assert!(decide(&limits, BLOCK, pressure(250, 0.0, 0), Work::New, 1).is_err());
        // Idle blocks do not pull the estimate under the measured floor.
        let admission = Admission::new(limits, BLOCK, 8_000.0);
        admission.record_block(0, BLOCK);
        admission.record_block(3, BLOCK);
        assert_eq!(admission.pressure().rate, 8_000.0);
        // Two busy blocks lift the rate over the window above the floor.
        admission.record_block(3_000, BLOCK);
        admission.record_block(2_997, BLOCK);
        assert!((admission.pressure().rate - 15_000.0).abs() < 1e-6);
    }

    #[test]
    fn the_floor_is_a_quarter_of_the_recovery_rate_of_every_core_and_never_below_the_minimum() {
        assert_eq!(floor(20_000.0, 2), 10_000.0);
        assert_eq!(floor(20_000.0, 8), 40_000.0);
        assert_eq!(floor(1_000.0, 1), RATE_FLOOR);
        assert!(measured_floor(1) >= RATE_FLOOR);
    }

    #[test]
    fn without_a_wait_limit_new_bounties_are_only_capped_by_the_hard_limit() {
        let limits = AdmissionLimits {
            new_bounty_wait_blocks: None,
            max_waiting_transactions: 100,
        };
        assert_eq!(
            decide(&limits, BLOCK, pressure(99, 1.0, 10_000), Work::New, 1),
            Ok(())
        );
        assert!(decide(&limits, BLOCK, pressure(100, 1.0, 0), Work::New, 1).is_err());
    }

    #[test]
    fn the_gauges_follow_what_waits_and_the_rate_over_the_recent_blocks() {
        let admission = Admission::new(AdmissionLimits::default(), BLOCK, RATE_FLOOR);
        // A burst block does not stand for the rate: 2,000 in 0.4 s does.
        admission.record_block(1_500, Duration::from_millis(100));
        admission.record_block(500, Duration::from_millis(300));
        let p = admission.pressure();
        assert!((p.rate - 5_000.0).abs() < 1e-6, "{}", p.rate);
        assert_eq!(p.lag, Duration::from_millis(200));
        {
            let _held = admission.enter(700).map_err(|_| "refused");
            assert_eq!(admission.pressure().waiting, 700);
            // Its own transactions do not count against a post in them.
            assert_eq!(admission.admit_posts(700, 1), Ok(()));
            assert!(admission.admit_posts(0, 1).is_err());
        }
        assert_eq!(admission.pressure().waiting, 0);
        assert_eq!(admission.refused(), 1);
    }

    #[test]
    fn posts_admitted_in_the_open_block_count_with_the_work_they_bring() {
        let admission = Admission::new(AdmissionLimits::default(), BLOCK, 10_000.0);
        // Before any post: 8 transactions a bounty. 250 posts promise 1,750
        // more: 175 ms, under two blocks, so 250 more still pass...
        assert_eq!(admission.admit_posts(0, 250), Ok(()));
        assert_eq!(admission.pressure().promised, 1_750);
        // ...and promise as much again: 350 ms, so the next are refused.
        assert_eq!(admission.admit_posts(0, 250), Ok(()));
        assert!(matches!(
            admission.admit_posts(0, 1),
            Err(Refusal::Behind { .. })
        ));
        // Sealing the block hands the promise to the queue and the rate:
        // 500 posts in 4,000 transactions make 8 a bounty.
        admission.record_block(4_000, BLOCK);
        assert_eq!(admission.pressure().promised, 0);
        assert_eq!(admission.txs_per_bounty(), 8.0);
        assert_eq!(admission.admit_posts(0, 1), Ok(()));
    }

    #[test]
    fn only_the_last_blocks_count_toward_the_rate() {
        let admission = Admission::new(AdmissionLimits::default(), BLOCK, RATE_FLOOR);
        admission.record_block(100_000, BLOCK);
        for _ in 0..RATE_WINDOW {
            admission.record_block(200, BLOCK);
        }
        assert!((admission.pressure().rate - 2_000.0).abs() < 1e-6);
    }

    #[test]
    fn a_refusal_is_a_503_with_a_retry_after_of_at_least_a_second() {
        let e = Refusal::Behind {
            wait: Duration::from_millis(210),
        }
        .into_api_error();
        assert_eq!(e.status().as_u16(), 503);
        assert_eq!(e.code(), "overloaded");
        assert_eq!(e.retry_after_seconds(), Some(1));
        let e = Refusal::Full {
            waiting: 60_000,
            wait: Duration::from_millis(4_100),
        }
        .into_api_error();
        assert_eq!(e.retry_after_seconds(), Some(5));
        assert!(e.to_string().contains("60000"));
    }
}
