//! The load loop: the four phases of a lifecycle, what every wave shares
//! ([`Ctx`]), posting batches and counting refusals, and one wave driven
//! through its phases.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use swarm_protocol::api::{BatchItem, Envelope};
use swarm_protocol::Guid;
use tokio::sync::watch;

use super::clock::Clock;
use super::plan::{Batch, SignedWave};
use crate::commands::bench::lock;

/// The four kinds of request of a lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Phase {
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
    pub(super) const ALL: [Phase; 4] = [Phase::Post, Phase::Assert, Phase::Reveal, Phase::Vote];

    /// The phase's name in the report.
    pub(super) fn name(self) -> &'static str {
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
pub(super) struct Sample {
    /// What was submitted.
    pub(super) phase: Phase,
    /// From sending the request to having decoded the answer.
    pub(super) latency: Duration,
    /// Transactions in the request.
    pub(super) txs: usize,
}

/// Refusals, by phase and code, with one message each.
#[derive(Default)]
pub(super) struct Refusals {
    /// (phase, code) -> (count, first message).
    pub(super) by_code: BTreeMap<(Phase, String), (usize, String)>,
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
    pub(super) fn total(&self) -> usize {
        self.by_code.values().map(|v| v.0).sum()
    }
}

/// Time-bound phases (reveals and votes) per block they are sent at, until
/// answered: the wave dispatcher waits for those of the open block, so
/// that starting a wave never delays them.
#[derive(Default)]
pub(super) struct Load {
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
pub(super) struct Ctx {
    /// Reveals and votes due, per block.
    pub(super) load: watch::Sender<Load>,
    /// The HTTP client every role uses.
    pub(super) http: reqwest::Client,
    /// The node's base URL.
    pub(super) url: String,
    /// Whether to submit with `?wait=true`.
    pub(super) wait: bool,
    /// Which block is open.
    pub(super) clock: Arc<Clock>,
    /// The node's block time.
    pub(super) block_time: Duration,
    /// Every answered `POST /transactions`.
    pub(super) samples: Mutex<Vec<Sample>>,
    /// Every refused transaction.
    pub(super) refusals: Mutex<Refusals>,
    /// Transactions accepted into a block.
    pub(super) accepted: AtomicU64,
    /// Transactions the node shed (503 `overloaded`) and the bench sent
    /// again after the `Retry-After` it asked for.
    pub(super) shed: AtomicU64,
    /// Per wave: blocks from its posts' block to the block holding the last
    /// of its assertions.
    pub(super) inclusion_blocks: Mutex<Vec<u64>>,
    /// Bounties posted so far, for the readers to look up.
    pub(super) posted: Mutex<Vec<Guid>>,
}

impl Ctx {
    /// A limit for waits that only a stuck node exceeds.
    pub(super) fn stuck_limit(&self) -> Duration {
        (self.block_time * 50).max(Duration::from_secs(30))
    }

    /// Waits until no reveal or vote due in the open block is unanswered.
    pub(super) async fn wait_quiet(&self) -> anyhow::Result<()> {
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
    /// accepted into, or `None` if refused. A request the node sheds as
    /// overloaded is sent again after the `Retry-After` it names, as a
    /// well-behaved client does, until [`SHED_ATTEMPTS`] have been shed.
    async fn submit(&self, phase: Phase, batch: &Batch, keep: &[bool]) -> Vec<Option<u64>> {
        let mut outcome = vec![None; batch.items.len()];
        let (body, sent) = batch.body(keep);
        if sent.is_empty() {
            return outcome;
        }
        let mut attempts = 0;
        let answer = loop {
            let started = Instant::now();
            let answer = self.post(body.clone()).await;
            let latency = started.elapsed();
            lock(&self.samples).push(Sample {
                phase,
                latency,
                txs: sent.len(),
            });
            match answer {
                Ok(Answer::Shed(retry_after)) if attempts < SHED_ATTEMPTS => {
                    attempts += 1;
                    self.shed.fetch_add(sent.len() as u64, Ordering::Relaxed);
                    tokio::time::sleep(retry_after).await;
                }
                Ok(Answer::Shed(_)) => {
                    break Err(anyhow::anyhow!(
                        "the node shed this request {SHED_ATTEMPTS} times in a row"
                    ))
                }
                Ok(Answer::Items(items)) => break Ok(items),
                Err(e) => break Err(e),
            }
        };
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

    /// `POST /transactions` with a JSON array; the per-item answers, or
    /// the node's request to come back later.
    async fn post(&self, body: String) -> anyhow::Result<Answer> {
        let response = self
            .http
            .post(format!("{}/transactions?wait={}", self.url, self.wait))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .context("POST /transactions")?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let bytes = response.bytes().await.context("reading the answer")?;
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            let code = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["code"].as_str().map(str::to_owned));
            if let (Some("overloaded"), Some(seconds)) = (code.as_deref(), retry_after) {
                return Ok(Answer::Shed(Duration::from_secs(seconds)));
            }
        }
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
        answer
            .result
            .map(Answer::Items)
            .context("the batch answer holds no result")
    }
}

/// Times in a row one request may be shed before the bench gives it up.
const SHED_ATTEMPTS: u32 = 60;

/// What the node answered a batch.
enum Answer {
    /// One answer per transaction.
    Items(Vec<BatchItem>),
    /// Shed whole (503 `overloaded`): send again after this long.
    Shed(Duration),
}

/// How far each bounty of a wave got, by what was accepted.
pub(super) struct WaveOutcome {
    /// The bounties.
    pub(super) guids: Vec<Guid>,
    /// Per bounty: all of its transactions were accepted.
    pub(super) accepted: Vec<bool>,
    /// Per bounty: its post was accepted.
    pub(super) posted: Vec<bool>,
}

/// Drives one wave through its four phases.
pub(super) async fn run_wave(
    ctx: &Ctx,
    wave: SignedWave,
    duration: u64,
    reveal_window: u64,
) -> WaveOutcome {
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
    lock(&ctx.posted).extend(
        wave.guids
            .iter()
            .zip(&posted)
            .filter(|(_, p)| **p)
            .map(|(g, _)| *g),
    );

    let asserted = futures_util::future::join_all(
        wave.asserts
            .iter()
            .map(|batch| ctx.submit(Phase::Assert, batch, &posted)),
    )
    .await;
    if let Some(last) = asserted.iter().flatten().flatten().max() {
        lock(&ctx.inclusion_blocks).push(last.saturating_sub(post_block));
    }
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
}
