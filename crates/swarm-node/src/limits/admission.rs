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
//! longer than about a block time to apply. Transactions that advance
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
//! blocks say nothing of its capacity, so the rate is then never taken
//! below a floor measured at start: a quarter of one core's signature
//! recoveries per second on every core ([`measured_floor`]) — about what a
//! node sustains with transactions of one artifact, since recovery is a
//! quarter to a third of such a transaction's cost. A transaction of a
//! bounty with 256 artifacts carries 256 bids or verdicts and its
//! settlement pays per artifact, so it costs several times as much: the
//! floor is divided by what the transactions of the unsettled bounties
//! cost on average ([`Due::cost`], from their artifacts), or a floor that
//! assumed one artifact would let in bounties whose assertions and reveals
//! then come too late. Once a block was backlogged — transactions waited
//! all through it and, at its end, at least as many as it applied — the
//! node worked flat out in it, so what such blocks applied is its capacity
//! for the transactions it is sent now, and the floor no longer counts.
//! The work a post promises counts too: the bounties admitted in the
//! open block will bring their assertions, reveals and votes (as many as
//! the recent blocks held per post), so a crowd of posts arriving at once
//! — clients that all backed off for the same `Retry-After` — is not let
//! in whole because the queue looked short when each of them looked.
//!
//! So does the work the bounties already posted will bring in the coming
//! blocks. A bounty's reveals all fall due at once, when its assertion
//! round closes (every engine's, for every bounty of that block), and its
//! votes when its reveal round closes: a queue that looks short now can be
//! a burst two blocks from now, and a post admitted now brings assertions
//! that are applied in front of that burst. As each block opens the
//! sequencer counts, in its working registry, what is due at which block
//! ([`work_due`]): the reveals of assertions not yet revealed (at the
//! block the reveal round opens), the votes not yet cast (at the block the
//! vote round opens) and the assertions still expected on bounties in
//! their assertion round (now; as many per bounty as the bounties past
//! that round hold). At the node's rate, block `k` ahead can absorb `k`
//! blocks of work; what is due by then beyond that
//! ([`Due::beyond`], its worst block) is queued work as surely as what
//! waits now, and counts with it. Reveals and votes applied in the open
//! block come off the count at once, so that they do not count twice.
//! [`decide`] is that rule as a pure function; [`Admission`] holds the
//! gauges the API and the sequencer feed it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use swarm_protocol::{Bounty, Round};

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

/// A transaction costs the node one more transaction of one artifact for
/// every this many artifacts of its bounty: bids, verdicts and payouts are
/// per artifact. Measured with `swarm bench node --find-max --artifacts
/// 1,16,256` (3 engines): 23,300 / 21,000 / 9,700 transactions a second
/// at capacity, 2.4 times the cost at 256 artifacts (BENCHMARKS.md).
pub(crate) const ARTIFACTS_PER_EXTRA_COST: f64 = 160.0;

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
    /// Transactions of bounties already posted that fall due in the coming
    /// blocks beyond what the node can apply by then ([`Due::beyond`]).
    pub(crate) due: usize,
    /// Transactions per second the node applied in its recent blocks: in
    /// its backlogged ones if there were any, else in all of them or the
    /// floor, whichever is higher.
    pub(crate) rate: f64,
    /// How much longer than its block time the last block took.
    pub(crate) lag: Duration,
}

impl Pressure {
    /// How long the queued work (waiting, promised and due) will take to
    /// apply at the node's rate.
    pub(crate) fn queued_wait(&self) -> Duration {
        let rate = self.rate.max(RATE_FLOOR);
        let work = self
            .waiting
            .saturating_add(self.promised)
            .saturating_add(self.due);
        Duration::from_secs_f64(work as f64 / rate)
    }

    /// How long the waiting transactions will take to apply: the queued
    /// work, after the last block's overrun.
    pub(crate) fn expected_wait(&self) -> Duration {
        self.queued_wait() + self.lag
    }
}

/// Transactions the bounties already posted will bring, by the block they
/// fall due at: what [`work_due`] counts as a block opens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Due {
    /// Blocks after the open one (0: the open block) → transactions that
    /// may come from then on.
    by_block: BTreeMap<u64, usize>,
    /// The unsettled bounties counted, and their artifacts.
    bounties: u64,
    artifacts: u64,
}

impl Due {
    /// Counts `count` transactions due `ahead` blocks after the open one.
    pub(crate) fn add(&mut self, ahead: u64, count: usize) {
        if count > 0 {
            *self.by_block.entry(ahead).or_insert(0) += count;
        }
    }

    /// What a transaction of the unsettled bounties costs, on average, in
    /// transactions of one artifact: `1 + artifacts / `
    /// [`ARTIFACTS_PER_EXTRA_COST`], 1 with no bounty.
    pub(crate) fn cost(&self) -> f64 {
        if self.bounties == 0 {
            return 1.0;
        }
        let artifacts = self.artifacts as f64 / self.bounties as f64;
        1.0 + artifacts / ARTIFACTS_PER_EXTRA_COST
    }

    /// What the due transactions add to the queue, at `per_block`
    /// transactions applied a block: over every block ahead, the most by
    /// which what falls due until then exceeds what the node can apply
    /// until then (`k` blocks of work by block `k`).
    pub(crate) fn beyond(&self, per_block: f64) -> usize {
        let per_block = per_block.max(0.0);
        let mut due = 0usize;
        let mut worst = 0.0f64;
        for (&ahead, &count) in &self.by_block {
            due = due.saturating_add(count);
            worst = worst.max(due as f64 - ahead as f64 * per_block);
        }
        worst.ceil() as usize
    }
}

/// The work the unsettled `bounties` will still bring, with `open` the
/// open block and `arbiters` the arbiters who vote: per bounty, the
/// assertions still expected (now), one reveal per assertion not yet
/// revealed (when its reveal round opens, or now if it is open) and one
/// vote per arbiter who has not voted (when its vote round opens, or now).
/// An assertion round expects as many assertions as the bounties past it
/// hold on average, and reveals for those too.
pub(crate) fn work_due<'a>(
    bounties: impl Iterator<Item = &'a Bounty>,
    open: u64,
    arbiters: usize,
) -> Due {
    let ahead = |block: u64| block.saturating_sub(open);
    let mut due = Due::default();
    // Bounties past their assertion round, and the assertions they hold.
    let (mut past, mut asserted) = (0usize, 0usize);
    // Bounties in it: (assertions, reveal round ahead, vote round ahead, votes).
    let mut asserting = Vec::new();
    for b in bounties.filter(|b| b.settlement.is_none()) {
        due.bounties += 1;
        due.artifacts += u64::from(b.num_artifacts);
        let votes = arbiters.saturating_sub(b.votes.len());
        let round = b.round(open);
        if round > Round::Assertion {
            past += 1;
            asserted += b.assertions.len();
        }
        match round {
            Round::Assertion => asserting.push((
                b.assertions.len(),
                ahead(b.expiration),
                ahead(b.reveal_deadline()),
                votes,
            )),
            Round::Reveal => {
                let unrevealed = b.assertions.iter().filter(|a| a.revealed.is_none());
                due.add(0, unrevealed.count());
                due.add(ahead(b.reveal_deadline()), votes);
            }
            Round::Vote | Round::Quorum => due.add(0, votes),
            Round::Finished => {}
        }
    }
    let expected = (asserted + past / 2).checked_div(past).unwrap_or(0);
    for (assertions, reveals_at, votes_at, votes) in asserting {
        due.add(0, expected.saturating_sub(assertions));
        due.add(reveals_at, assertions.max(expected));
        due.add(votes_at, votes);
    }
    due
}

/// The admission limits (in [`super::Limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// A new bounty is refused while the waiting transactions (with the
    /// work promised and due) would take longer than
    /// this many block times to apply; `None` never refuses one.
    pub new_bounty_wait_blocks: Option<u32>,
    /// Over this many waiting transactions every submission is refused.
    pub max_waiting_transactions: usize,
}

impl Default for AdmissionLimits {
    /// One block time of queued work (two with the last block's overrun):
    /// a bounty's engines send their assertions after its post is
    /// included, and its reveals when they see the reveal round open, a
    /// block or two after it did, so a queue much longer than a block
    /// eats into rounds a few blocks long. With two blocks of queued work,
    /// the trial just above capacity of `swarm bench node --find-max`
    /// missed a wave's reveals in about one run of three; with one, in
    /// none of nine (BENCHMARKS.md). 50,000 waiting transactions are a
    /// few seconds of work.
    fn default() -> Self {
        AdmissionLimits {
            new_bounty_wait_blocks: Some(1),
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
/// A new bounty may not while the queued work would take longer than the
/// limit's block times, or that and the last block's overrun longer than
/// one block more: a late block with little queued is a slow commit, and
/// the work it delays is the node's own, not a queue that grows.
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
        (Work::New, Some(blocks))
            if pressure.queued_wait() > block_time * blocks
                || wait > block_time * blocks.saturating_add(1) =>
        {
            Err(Refusal::Behind { wait })
        }
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
    /// [`Due::cost`] as the open block opened, in thousandths: the floor
    /// is taken over it.
    cost_milli: AtomicU64,
    waiting: AtomicUsize,
    lag_us: AtomicU64,
    /// Whether the waiting transactions ran out since the open block
    /// opened: if they did, the node was idle for part of it.
    drained: AtomicBool,
    /// The recent blocks, newest last.
    rates: Mutex<VecDeque<BlockSample>>,
    /// Bounties admitted into the open block.
    posts_open: AtomicUsize,
    /// Transactions those bounties will bring.
    promised: AtomicUsize,
    /// What the work due of posted bounties adds to the queue
    /// ([`Due::beyond`]), less its reveals and votes applied since.
    due: AtomicUsize,
    refused: AtomicU64,
}

/// What a sealed block tells of the node's rate.
#[derive(Clone, Copy, Debug)]
struct BlockSample {
    txs: usize,
    posts: usize,
    seconds: f64,
    /// Transactions waited all through the block, and at its end at least
    /// as many as it applied: the node was working flat out.
    backlogged: bool,
}

/// Transactions counted as waiting until dropped.
#[derive(Debug)]
pub(crate) struct Waiting<'a> {
    admission: &'a Admission,
    count: usize,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.admission.leave(self.count);
    }
}

impl Admission {
    /// Gauges at rest, with `floor` the lowest rate to assume.
    pub(crate) fn new(limits: AdmissionLimits, block_time: Duration, floor: f64) -> Self {
        Admission {
            limits,
            block_time,
            floor,
            cost_milli: AtomicU64::new(1_000),
            waiting: AtomicUsize::new(0),
            lag_us: AtomicU64::new(0),
            drained: AtomicBool::new(true),
            rates: Mutex::new(VecDeque::with_capacity(RATE_WINDOW)),
            posts_open: AtomicUsize::new(0),
            promised: AtomicUsize::new(0),
            due: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The pressure now.
    pub(crate) fn pressure(&self) -> Pressure {
        let rate = {
            let rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
            let over = |keep: fn(&BlockSample) -> bool| {
                let (txs, seconds) = rates
                    .iter()
                    .filter(|b| keep(b))
                    .fold((0usize, 0.0f64), |(t, s), b| (t + b.txs, s + b.seconds));
                (seconds > 0.0).then(|| txs as f64 / seconds)
            };
            let recent = over(|_| true).unwrap_or(0.0);
            match over(|b| b.backlogged) {
                Some(flat_out) => flat_out.max(recent),
                None => {
                    let cost = self.cost_milli.load(Ordering::Relaxed).max(1) as f64 / 1e3;
                    recent.max(self.floor / cost)
                }
            }
        };
        Pressure {
            waiting: self.waiting.load(Ordering::Relaxed),
            promised: self.promised.load(Ordering::Relaxed),
            due: self.due.load(Ordering::Relaxed),
            rate,
            lag: Duration::from_micros(self.lag_us.load(Ordering::Relaxed)),
        }
    }

    /// `count` waiting transactions were applied or refused.
    fn leave(&self, count: usize) {
        if self.waiting.fetch_sub(count, Ordering::Relaxed) == count {
            self.drained.store(true, Ordering::Relaxed);
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
            .fold((0usize, 0usize), |(t, p), b| (t + b.txs, p + b.posts));
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
        let follow_ups = ((self.txs_per_bounty() - 1.0) * posts as f64).round() as usize;
        // Promised before deciding: requests deciding at the same instant
        // (clients back after the same Retry-After) each see the others'.
        self.promised.fetch_add(follow_ups, Ordering::Relaxed);
        let mut pressure = self.pressure();
        pressure.waiting = pressure.waiting.saturating_sub(own);
        pressure.promised = pressure.promised.saturating_sub(follow_ups);
        decide(&self.limits, self.block_time, pressure, Work::New, 0).inspect_err(|_| {
            let _ = self
                .promised
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                    Some(p.saturating_sub(follow_ups))
                });
            self.refused.fetch_add(posts as u64, Ordering::Relaxed);
        })?;
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
        let waiting = self.waiting.load(Ordering::Relaxed);
        let drained = self.drained.swap(waiting == 0, Ordering::Relaxed);
        let backlogged = !drained && txs > 0 && waiting >= txs;
        let mut rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        if rates.len() == RATE_WINDOW {
            rates.pop_front();
        }
        rates.push_back(BlockSample {
            txs,
            posts,
            seconds,
            backlogged,
        });
    }

    /// A block opened with `due` the work its posted bounties will bring:
    /// what of it the node cannot apply in time at its current rate counts
    /// as queued until the next block opens.
    pub(crate) fn record_due(&self, due: &Due) {
        let cost = (due.cost() * 1e3).round() as u64;
        self.cost_milli.store(cost.max(1), Ordering::Relaxed);
        let per_block = self.pressure().rate * self.block_time.as_secs_f64();
        self.due.store(due.beyond(per_block), Ordering::Relaxed);
    }

    /// The sequencer applied `count` reveals and votes in the open block:
    /// they were due in it, and no longer are.
    pub(crate) fn applied_due(&self, count: usize) {
        if count == 0 {
            return;
        }
        let _ = self
            .due
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_sub(count))
            });
    }

    /// Transactions refused so far (a refused new bounty counts one).
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The transactions that could wait, nothing else counted, before a
    /// new bounty is refused at the rate assumed now: what a test must
    /// outweigh to see a refusal, whatever the machine's speed.
    #[cfg(any(test, feature = "test-utils"))]
    pub(crate) fn backlog_limit(&self) -> usize {
        let blocks = self.limits.new_bounty_wait_blocks.unwrap_or(0);
        (self.pressure().rate * (self.block_time * blocks).as_secs_f64()) as usize
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
        self.admission.leave(self.count);
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
            due: 0,
            rate,
            lag: Duration::from_millis(lag_ms),
        }
    }

    #[test]
    fn a_new_bounty_is_refused_once_the_backlog_is_longer_than_a_block() {
        let limits = AdmissionLimits::default();
        // 10,000 tx/s: 1,000 waiting is 100 ms, exactly one block.
        assert_eq!(
            decide(&limits, BLOCK, pressure(1_000, 10_000.0, 0), Work::New, 1),
            Ok(())
        );
        let refused = decide(&limits, BLOCK, pressure(1_100, 10_000.0, 0), Work::New, 1);
        assert_eq!(
            refused,
            Err(Refusal::Behind {
                wait: Duration::from_millis(110)
            })
        );
        // A late block counts as backlog too, with a block more to spare:
        // 50 ms queued after a block 140 ms late passes, 160 ms late not.
        assert_eq!(
            decide(&limits, BLOCK, pressure(500, 10_000.0, 140), Work::New, 1),
            Ok(())
        );
        assert_eq!(
            decide(&limits, BLOCK, pressure(500, 10_000.0, 160), Work::New, 1),
            Err(Refusal::Behind {
                wait: Duration::from_millis(210)
            })
        );
        assert!(decide(&limits, BLOCK, pressure(0, 10_000.0, 250), Work::New, 1).is_err());
        // Two blocks, when configured, are two blocks of queued work.
        let two = AdmissionLimits {
            new_bounty_wait_blocks: Some(2),
            ..limits
        };
        assert_eq!(
            decide(&two, BLOCK, pressure(2_000, 10_000.0, 0), Work::New, 1),
            Ok(())
        );
        assert!(decide(&two, BLOCK, pressure(2_100, 10_000.0, 0), Work::New, 1).is_err());
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
        // No rate at all: 90 waiting at the lowest floor of 1,000/s is 90 ms.
        assert_eq!(
            decide(&limits, BLOCK, pressure(90, 0.0, 0), Work::New, 1),
            Ok(())
        );
        assert!(decide(&limits, BLOCK, pressure(110, 0.0, 0), Work::New, 1).is_err());
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
        // Before any post: 8 transactions a bounty. 125 posts promise 875
        // more: 87.5 ms, under a block, so 125 more still pass...
        assert_eq!(admission.admit_posts(0, 125), Ok(()));
        assert_eq!(admission.pressure().promised, 875);
        // ...and promise as much again: 175 ms, so the next are refused.
        assert_eq!(admission.admit_posts(0, 125), Ok(()));
        assert!(matches!(
            admission.admit_posts(0, 1),
            Err(Refusal::Behind { .. })
        ));
        // Sealing the block hands the promise to the queue and the rate:
        // 250 posts in 2,000 transactions make 8 a bounty.
        admission.record_block(2_000, BLOCK);
        assert_eq!(admission.pressure().promised, 0);
        assert_eq!(admission.txs_per_bounty(), 8.0);
        assert_eq!(admission.admit_posts(0, 1), Ok(()));
    }

    /// A bounty posted at block 10, its reveal round opening at `expiration`
    /// (4 blocks each for reveals and votes), with `asserted` assertions of
    /// which `revealed` are revealed, and `voted` votes.
    fn bounty(expiration: u64, asserted: usize, revealed: usize, voted: usize) -> Bounty {
        use swarm_protocol::{
            Address, Amount, ArtifactType, Assertion, Bits256, Revealed, VoteRecord, H256,
        };
        let assertion = |i: usize| Assertion {
            author: Address::ZERO,
            mask: Bits256::from_indices([0]),
            bids: vec![Amount::ZERO],
            commitment: H256::ZERO,
            fee: Amount::ZERO,
            block: 11,
            revealed: (i < revealed).then(|| Revealed {
                nonce: H256::ZERO,
                verdicts: Bits256::default(),
                metadata: serde_json::Value::Null,
                block: expiration,
            }),
        };
        Bounty {
            guid: swarm_protocol::Guid::new_v4(),
            author: Address::ZERO,
            artifact_type: ArtifactType::File,
            amount: Amount::ZERO,
            fee: Amount::ZERO,
            uri: String::new(),
            num_artifacts: 1,
            metadata: None,
            posted_block: 10,
            expiration,
            reveal_window: 4,
            vote_window: 4,
            assertions: (0..asserted).map(assertion).collect(),
            votes: (0..voted)
                .map(|_| VoteRecord {
                    voter: Address::ZERO,
                    votes: Bits256::default(),
                    stake: Amount::ZERO,
                    block: expiration + 4,
                })
                .collect(),
            quorum_block: None,
            settlement: None,
        }
    }

    fn due(pairs: &[(u64, usize)]) -> Due {
        let mut due = Due::default();
        for &(ahead, count) in pairs {
            due.add(ahead, count);
        }
        due
    }

    #[test]
    fn reveals_fall_due_when_the_reveal_round_opens_and_votes_when_the_vote_round_opens() {
        // At block 20: one bounty still asserting (reveal round at 23, vote
        // round at 27), one revealing (2 of 3 revealed), one voting.
        let bounties = [
            bounty(23, 3, 0, 0),
            bounty(19, 3, 2, 0),
            bounty(15, 3, 3, 0),
        ];
        let work = work_due(bounties.iter(), 20, 1);
        // Now: the unrevealed reveal and the vote of the bounty voting.
        // At 23: three reveals, and the vote of the bounty revealing.
        assert_eq!(
            work.by_block,
            due(&[(0, 1 + 1), (3, 3 + 1), (7, 1)]).by_block
        );
        assert_eq!((work.bounties, work.artifacts), (3, 3));
        // A vote cast is no longer due; a settled bounty brings nothing.
        let mut settled = bounty(19, 3, 0, 0);
        settled.settlement = Some(swarm_protocol::Settlement {
            block: 20,
            outcome: swarm_protocol::BountySettled {
                bounty_guid: settled.guid,
                consensus: None,
                payouts: Vec::new(),
                treasury: swarm_protocol::Amount::ZERO,
            },
        });
        let bounties = [bounty(15, 3, 3, 1), settled];
        assert_eq!(work_due(bounties.iter(), 20, 1).by_block, BTreeMap::new());
    }

    #[test]
    fn assertions_still_expected_are_as_many_as_the_bounties_past_their_round_hold() {
        // Two bounties past the assertion round hold 10 assertions each: a
        // bounty still asserting with 4 expects 6 more now, and 10 reveals.
        let bounties = [
            bounty(18, 10, 10, 0),
            bounty(19, 10, 0, 0),
            bounty(25, 4, 0, 0),
        ];
        let work = work_due(bounties.iter(), 20, 0);
        assert_eq!(work.by_block, due(&[(0, 10 + 6), (5, 10)]).by_block);
        // With none past it, nothing more than what is there is expected.
        let bounties = [bounty(25, 4, 0, 0)];
        assert_eq!(
            work_due(bounties.iter(), 20, 0).by_block,
            due(&[(5, 4)]).by_block
        );
    }

    #[test]
    fn due_work_adds_to_the_queue_only_what_the_node_cannot_apply_by_its_block() {
        // 1,000 a block. 3,000 reveals three blocks ahead fit in the three
        // blocks before them; 3,000 now do not.
        assert_eq!(due(&[(3, 3_000)]).beyond(1_000.0), 0);
        assert_eq!(due(&[(0, 3_000)]).beyond(1_000.0), 3_000);
        // A burst on top of an earlier one: by block 2, 4,500 are due and
        // 2,000 applied; the worst block decides.
        assert_eq!(
            due(&[(0, 500), (2, 4_000), (6, 1_000)]).beyond(1_000.0),
            2_500
        );
        assert_eq!(Due::default().beyond(1_000.0), 0);
    }

    #[test]
    fn a_reveal_burst_due_soon_refuses_a_new_bounty_the_queue_alone_would_let_in() {
        // 10,000 tx/s, 100 ms blocks: 1,000 a block, refused past 1,000.
        let admission = Admission::new(AdmissionLimits::default(), BLOCK, 10_000.0);
        admission.record_due(&due(&[(1, 1_900)]));
        assert_eq!(admission.pressure().due, 900);
        assert_eq!(admission.admit_posts(0, 1), Ok(()));
        // 600 waiting is 60 ms, but in front of 900 reveals that the node
        // cannot apply by the block they are due at (and the 7 more the
        // admitted post promises): 150 ms.
        let _held = admission.enter(600).map_err(|_| "refused");
        match admission.admit_posts(0, 1) {
            Err(Refusal::Behind { wait }) => assert_eq!(wait.as_millis(), 150),
            other => panic!("{other:?}"),
        }
        // The same burst far enough ahead is absorbed by the blocks before it.
        admission.record_block(0, BLOCK);
        admission.record_due(&due(&[(4, 1_900)]));
        assert_eq!(admission.pressure().due, 0);
        assert_eq!(admission.admit_posts(0, 1), Ok(()));
    }

    #[test]
    fn reveals_and_votes_applied_in_the_open_block_no_longer_count_as_due() {
        let admission = Admission::new(AdmissionLimits::default(), BLOCK, 10_000.0);
        admission.record_due(&due(&[(0, 2_500)]));
        assert!(admission.admit_posts(0, 1).is_err());
        admission.applied_due(2_000);
        assert_eq!(admission.pressure().due, 500);
        assert_eq!(admission.admit_posts(0, 1), Ok(()));
        admission.applied_due(1_000);
        assert_eq!(admission.pressure().due, 0);
    }

    #[test]
    fn the_floor_is_taken_over_what_the_transactions_of_the_unsettled_bounties_cost() {
        let admission = Admission::new(AdmissionLimits::default(), BLOCK, 18_000.0);
        // No bounty: transactions of one artifact.
        let none = work_due(std::iter::empty(), 10, 1);
        assert_eq!(none.cost(), 1.0);
        admission.record_due(&none);
        assert_eq!(admission.pressure().rate, 18_000.0);
        // Two bounties of 256 artifacts and two of one: 128.5 on average.
        let mut bounties: Vec<Bounty> = (0..4).map(|_| bounty(14, 3, 0, 0)).collect();
        bounties[0].num_artifacts = 256;
        bounties[1].num_artifacts = 256;
        let mixed = work_due(bounties.iter(), 12, 1);
        let cost = 1.0 + 128.5 / ARTIFACTS_PER_EXTRA_COST;
        assert!((mixed.cost() - cost).abs() < 1e-9);
        admission.record_due(&mixed);
        assert!((admission.pressure().rate - 18_000.0 / cost).abs() < 20.0);
        // What the node did in its recent blocks still counts, floor or not.
        admission.record_block(1_700, BLOCK);
        assert!((admission.pressure().rate - 17_000.0).abs() < 1e-6);
    }

    #[test]
    fn a_node_that_worked_flat_out_is_judged_by_what_it_applied_even_below_the_floor() {
        let admission =
            std::sync::Arc::new(Admission::new(AdmissionLimits::default(), BLOCK, 18_000.0));
        admission.record_block(300, BLOCK);
        assert_eq!(admission.pressure().rate, 18_000.0);
        // A backlog arrives: the block it arrived in had run dry before, so
        // it says nothing of the capacity.
        let held = admission.hold(5_000);
        admission.record_block(700, BLOCK);
        assert_eq!(admission.pressure().rate, 18_000.0);
        // It waits all through the next block, which applies 700: heavy
        // transactions, 7,000 a second, under the floor.
        admission.record_block(700, BLOCK);
        assert!((admission.pressure().rate - 7_000.0).abs() < 1e-6);
        // A block in which the queue ran out is not counted as flat out,
        // nor is one that ended with less waiting than it applied.
        drop(held);
        let held = admission.hold(5_000);
        admission.record_block(400, BLOCK);
        admission.record_block(6_000, BLOCK);
        let recent = (300.0 + 700.0 + 700.0 + 400.0 + 6_000.0) / 0.5;
        assert!((admission.pressure().rate - recent).abs() < 1e-6);
        admission.record_block(2_000, BLOCK);
        let flat_out: f64 = (700.0 + 2_000.0) / 0.2;
        let recent = (300.0 + 700.0 + 700.0 + 400.0 + 6_000.0 + 2_000.0) / 0.6;
        assert!((admission.pressure().rate - flat_out.max(recent)).abs() < 1e-6);
        drop(held);
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
