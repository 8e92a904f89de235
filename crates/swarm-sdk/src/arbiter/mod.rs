//! The Arbiter runtime (SPEC §5.4): stake, decide the ground truth of every
//! bounty, vote, earn the fees.
//!
//! An arbiter is whitelisted by the community's owner and must hold at
//! least `minimum_stake` to vote (SPEC §3.8). On start the [`Arbiter`]
//! reads the community parameters and its stake, and deposits
//! (`staking:Deposit`) whatever is missing up to `minimum_stake`.
//!
//! Then, for every `bounty` event, it asks its [`GroundTruth`] about each
//! artifact, keeps the votes in memory, and once a block reaches the
//! bounty's reveal deadline (E + R, the first block of the vote round) it
//! sends `bounty:Vote`. Two ground-truth backends come with the SDK:
//!
//! - [`ScannerTruth`] wraps any [`Scanner`]: Malicious votes malicious,
//!   Benign votes benign, Suspicious and Unknown are undecided;
//! - [`Sha256Table`] is a verbatim sha256 → verdict table. It needs no
//!   download: the sha256s come from the bundle's manifest, which the node
//!   computed itself when the files were uploaded (and which the bounty's
//!   uri, the manifest's own sha256, pins). The per-artifact metadata of a
//!   bounty is *not* used: it is the ambassador's word, and an ambassador
//!   could name a benign file's hash beside a malicious file.
//!
//! **Undecided artifacts vote benign.** A vote has one bit per artifact and
//! no "abstain" bit, so an artifact the backend cannot decide (`Ok(None)`:
//! not in the table, or a scanner's Suspicious/Unknown) is voted benign, as
//! the original client did (its arbiter's `None` verdict counted as
//! false). A backend that *fails* (`Err`, after three attempts) is
//! different: the arbiter then abstains from the whole bounty rather than
//! vote a guess, and the report counts it.
//!
//! Settlement pays the voters the bounty fee (and, when engines asserted,
//! what remains of the reward and the losers' bids), pro rata to stake;
//! [`ArbiterReport::fees_earned`] sums the `arbiter` payouts to this
//! account seen in `settled_bounty` events, after which the bounty is
//! forgotten.
//!
//! **Restarts.** With [`ArbiterBuilder::state`], a tiny JSON file records the
//! block to resume the event stream from: the post block of the oldest
//! bounty not yet voted on, or the last block seen. Without it, the arbiter
//! starts `max_duration + R + V` blocks before the tip: the `bounty` event
//! of a bounty still open for votes happened at most that long ago (the
//! vote window alone would miss bounties posted before it). Bounties whose
//! vote window closed before the start are skipped without a download; a
//! vote the arbiter already cast before a restart is recognised by the
//! node's `duplicate_vote` answer.

mod builder;
mod error;
mod report;
mod tasks;
mod truth;

pub use builder::ArbiterBuilder;
pub use error::ArbiterError;
pub use report::ArbiterReport;
pub use truth::{GroundTruth, ScannerTruth, Sha256Table, TableError};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use swarm_protocol::{
    Amount, Bits256, BountyPosted, Event, Guid, PayoutRole, PrivateKey, StakeDeposit, Vote,
};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::client::{ClientError, NodeClient, Submitted};
use crate::runtime::spawn_events;

use error::node_error;
use tasks::{decide_bounty, read_state, write_state};

/// Decides the ground truth of bounties and votes on them.
pub struct Arbiter<T> {
    truth: Arc<T>,
    client: NodeClient,
    key: PrivateKey,
    state: Option<PathBuf>,
    max_concurrency: usize,
    testing: Option<usize>,
    shutdown: CancellationToken,
}

impl<T> std::fmt::Debug for Arbiter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arbiter")
            .field("node", &self.client.base_url())
            .field("address", &self.key.address())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Where a bounty the arbiter follows stands.
enum Stage {
    /// The ground truth is being decided.
    Deciding,
    /// Decided; waiting for the vote round.
    Decided(Vec<bool>),
    /// The vote is being sent.
    Voting,
    /// Voted; waiting for the settlement.
    Voted,
}

struct Followed {
    posted_block: u64,
    reveal_deadline: u64,
    vote_deadline: u64,
    stage: Stage,
}

/// What a decision task reports.
struct Decided {
    guid: Guid,
    votes: Result<Vec<bool>, String>,
}

/// What a vote task reports.
struct VoteSent {
    guid: Guid,
    result: Result<Submitted, ClientError>,
}

/// Least time between two state file writes.
const STATE_WRITE_EVERY: Duration = Duration::from_secs(1);

impl<T: GroundTruth> Arbiter<T> {
    /// Starts configuring an arbiter deciding with `truth`.
    pub fn builder(truth: T) -> ArbiterBuilder<T> {
        ArbiterBuilder {
            truth,
            client: None,
            key: None,
            state: None,
            max_concurrency: 4,
            testing: None,
            shutdown: CancellationToken::new(),
        }
    }

    /// Stakes, then votes on bounties until shut down (or, with
    /// [`ArbiterBuilder::testing`], until enough bounties were handled).
    pub async fn run(self) -> Result<ArbiterReport, ArbiterError> {
        self.truth.setup().await.map_err(ArbiterError::Truth)?;
        let result = self.run_inner().await;
        if let Err(e) = self.truth.teardown().await {
            tracing::warn!(error = %e, "ground truth teardown failed");
        }
        result
    }

    async fn run_inner(&self) -> Result<ArbiterReport, ArbiterError> {
        let address = self.key.address();
        let params = self
            .client
            .parameters()
            .await
            .map_err(node_error("cannot read the community parameters"))?;
        if !params.arbiters.contains(&address) {
            return Err(ArbiterError::NotWhitelisted(address));
        }
        let community = params.community.clone();
        let p = &params.parameters;
        let mut report = ArbiterReport {
            address,
            ..Default::default()
        };
        let (stake, deposited) = self.stake_up(&community, p.minimum_stake).await?;
        report.stake = stake;
        report.deposited = deposited;

        let tip = self
            .client
            .status()
            .await
            .map_err(node_error("cannot read the node status"))?
            .block;
        let lookback = p
            .max_duration
            .saturating_add(p.assertion_reveal_window)
            .saturating_add(p.arbiter_vote_window);
        let earliest = tip.saturating_sub(lookback);
        let saved = match &self.state {
            Some(path) => read_state(path)?,
            None => None,
        };
        let since = saved.map_or(earliest, |s| s.max(earliest));
        tracing::info!(%address, %stake, since, tip, "arbiter started");

        let (mut events, _events_task) = spawn_events(&self.client, since);
        let (decided_tx, mut decided_rx) = mpsc::channel::<Decided>(256);
        let (voted_tx, mut voted_rx) = mpsc::channel::<VoteSent>(256);
        let permits = Arc::new(Semaphore::new(self.max_concurrency));
        let max_size = p.max_artifact_size;

        let mut followed: HashMap<Guid, Followed> = HashMap::new();
        let mut current = since.saturating_sub(1);
        let mut handled = 0usize;
        let mut last_state_write = tokio::time::Instant::now();
        let mut written_resume = saved;

        loop {
            if let Some(n) = self.testing {
                if handled >= n {
                    let waiting = followed
                        .values()
                        .filter(|f| matches!(f.stage, Stage::Voting | Stage::Voted))
                        .map(|f| f.vote_deadline)
                        .max();
                    match waiting {
                        None => break,
                        Some(deadline) if current > deadline.saturating_add(2) => break,
                        Some(_) => {}
                    }
                }
            }
            let accepting = self.testing.is_none_or(|n| handled < n);
            tokio::select! {
                _ = self.shutdown.cancelled() => {
                    tracing::info!("arbiter: shutting down");
                    break;
                }
                event = events.recv() => {
                    let Some(event) = event else {
                        return Err(ArbiterError::Config("event stream ended".into()));
                    };
                    match event.event {
                        Event::Block { number } => {
                            current = current.max(number);
                            report.last_block = current;
                            self.on_block(
                                current,
                                accepting,
                                &community,
                                &mut followed,
                                &mut report,
                                &mut handled,
                                &voted_tx,
                            );
                            if last_state_write.elapsed() >= STATE_WRITE_EVERY {
                                self.save_state(&followed, current, &mut written_resume);
                                last_state_write = tokio::time::Instant::now();
                            }
                        }
                        Event::Bounty(bounty) => {
                            if !accepting || followed.contains_key(&bounty.guid) {
                                continue;
                            }
                            if bounty.vote_deadline <= current.max(tip) {
                                // History: its vote window closed before we started.
                                continue;
                            }
                            tracing::debug!(guid = %bounty.guid, block = event.block_number, "deciding bounty");
                            followed.insert(bounty.guid, Followed {
                                posted_block: event.block_number,
                                reveal_deadline: bounty.reveal_deadline,
                                vote_deadline: bounty.vote_deadline,
                                stage: Stage::Deciding,
                            });
                            self.spawn_decision(bounty, max_size, &permits, &decided_tx);
                        }
                        Event::SettledBounty(settled) => {
                            let Some(f) = followed.remove(&settled.bounty_guid) else {
                                continue;
                            };
                            let fee: Amount = settled
                                .payouts
                                .iter()
                                .filter(|p| p.role == PayoutRole::Arbiter && p.account == address)
                                .map(|p| p.amount)
                                .sum();
                            match f.stage {
                                Stage::Voted => {
                                    report.settled += 1;
                                    report.fees_earned = report.fees_earned.checked_add(fee).unwrap_or(report.fees_earned);
                                    tracing::info!(guid = %settled.bounty_guid, fee = %fee, "bounty settled");
                                }
                                Stage::Voting => {
                                    // The vote task reports the vote itself.
                                    report.settled += 1;
                                    report.fees_earned = report.fees_earned.checked_add(fee).unwrap_or(report.fees_earned);
                                }
                                Stage::Deciding | Stage::Decided(_) => {
                                    tracing::warn!(guid = %settled.bounty_guid, "bounty settled before this arbiter voted");
                                    report.missed += 1;
                                    handled += 1;
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Some(decided) = decided_rx.recv() => {
                    let Some(f) = followed.get_mut(&decided.guid) else {
                        continue;
                    };
                    match decided.votes {
                        Ok(votes) => {
                            f.stage = Stage::Decided(votes);
                            if accepting {
                                self.maybe_vote(decided.guid, f, current, &community, &voted_tx);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(guid = %decided.guid, error = %e, "cannot decide the bounty; abstaining");
                            followed.remove(&decided.guid);
                            report.abstained += 1;
                            handled += 1;
                        }
                    }
                }
                Some(sent) = voted_rx.recv() => {
                    let outcome = match sent.result {
                        Ok(s) => {
                            tracing::info!(guid = %sent.guid, block = s.block_number, "voted");
                            true
                        }
                        Err(e) if e.code() == Some("duplicate_vote") => {
                            tracing::info!(guid = %sent.guid, "already voted");
                            true
                        }
                        Err(e) if e.code() == Some("replayed") => {
                            // The client retried this very transaction after
                            // its answer was lost: the vote is in.
                            tracing::info!(guid = %sent.guid, "voted (the answer was lost)");
                            true
                        }
                        Err(e) => {
                            tracing::warn!(guid = %sent.guid, error = %e, "vote refused");
                            false
                        }
                    };
                    handled += 1;
                    if outcome {
                        report.voted += 1;
                        if let Some(f) = followed.get_mut(&sent.guid) {
                            f.stage = Stage::Voted;
                        }
                    } else {
                        report.missed += 1;
                        followed.remove(&sent.guid);
                    }
                }
            }
        }
        if self.state.is_some() {
            written_resume = None;
            self.save_state(&followed, current, &mut written_resume);
        }
        tracing::info!(
            voted = report.voted,
            abstained = report.abstained,
            missed = report.missed,
            fees = %report.fees_earned,
            "arbiter finished"
        );
        Ok(report)
    }

    /// Deposits whatever is missing up to `minimum`; returns the stake and
    /// the deposit.
    async fn stake_up(
        &self,
        community: &str,
        minimum: Amount,
    ) -> Result<(Amount, Amount), ArbiterError> {
        let address = self.key.address();
        let stake = self
            .client
            .stake_total(&address)
            .await
            .map_err(node_error("cannot read the stake"))?;
        let Some(missing) = minimum.checked_sub(stake).filter(|m| !m.is_zero()) else {
            return Ok((stake, Amount::ZERO));
        };
        let balance = self
            .client
            .balance(&address)
            .await
            .map_err(node_error("cannot read the balance"))?;
        if balance < missing {
            return Err(ArbiterError::InsufficientBalance {
                address,
                balance,
                needed: missing,
            });
        }
        self.client
            .send(&self.key, community, StakeDeposit { amount: missing }, true)
            .await
            .map_err(node_error(format!("cannot stake {missing}")))?;
        tracing::info!(%address, deposited = %missing, "staked up to the minimum");
        Ok((minimum, missing))
    }

    /// On each block: vote what is due, give up on what is too late.
    #[allow(clippy::too_many_arguments)]
    fn on_block(
        &self,
        block: u64,
        accepting: bool,
        community: &str,
        followed: &mut HashMap<Guid, Followed>,
        report: &mut ArbiterReport,
        handled: &mut usize,
        voted_tx: &mpsc::Sender<VoteSent>,
    ) {
        followed.retain(|guid, f| {
            let late = block >= f.vote_deadline;
            match f.stage {
                Stage::Deciding | Stage::Decided(_) if late => {
                    tracing::warn!(%guid, "vote window closed before this arbiter voted");
                    report.missed += 1;
                    *handled += 1;
                    false
                }
                // A settlement never came (it comes at the vote deadline at
                // the latest): stop waiting.
                Stage::Voted if block > f.vote_deadline.saturating_add(10) => false,
                _ => true,
            }
        });
        if accepting {
            for (guid, f) in followed.iter_mut() {
                self.maybe_vote(*guid, f, block, community, voted_tx);
            }
        }
    }

    /// Sends the vote of a decided bounty whose vote round is open.
    fn maybe_vote(
        &self,
        guid: Guid,
        f: &mut Followed,
        block: u64,
        community: &str,
        voted_tx: &mpsc::Sender<VoteSent>,
    ) {
        if block < f.reveal_deadline || block >= f.vote_deadline {
            return;
        }
        if !matches!(f.stage, Stage::Decided(_)) {
            return;
        }
        let Stage::Decided(votes) = std::mem::replace(&mut f.stage, Stage::Voting) else {
            return;
        };
        let vote = Vote {
            bounty_guid: guid,
            votes: Bits256::from_bools(&votes),
        };
        let client = self.client.clone();
        let key = self.key.clone();
        let community = community.to_owned();
        let tx = voted_tx.clone();
        tracing::debug!(%guid, ?votes, "voting");
        tokio::spawn(async move {
            let result = client.send(&key, &community, vote, true).await;
            let _ = tx.send(VoteSent { guid, result }).await;
        });
    }

    fn spawn_decision(
        &self,
        bounty: BountyPosted,
        max_size: u64,
        permits: &Arc<Semaphore>,
        decided_tx: &mpsc::Sender<Decided>,
    ) {
        let truth = Arc::clone(&self.truth);
        let client = self.client.clone();
        let permits = Arc::clone(permits);
        let tx = decided_tx.clone();
        tokio::spawn(async move {
            let guid = bounty.guid;
            let votes = match permits.acquire_owned().await {
                Ok(_permit) => decide_bounty(truth.as_ref(), &client, &bounty, max_size).await,
                Err(_) => Err("shutting down".to_owned()),
            };
            let _ = tx.send(Decided { guid, votes }).await;
        });
    }

    /// Writes the resume point when it moved (and a state file is set).
    fn save_state(
        &self,
        followed: &HashMap<Guid, Followed>,
        current: u64,
        written: &mut Option<u64>,
    ) {
        let Some(path) = &self.state else {
            return;
        };
        let resume = followed
            .values()
            .filter(|f| matches!(f.stage, Stage::Deciding | Stage::Decided(_)))
            .map(|f| f.posted_block)
            .min()
            .unwrap_or(current)
            .min(current);
        if *written == Some(resume) {
            return;
        }
        match write_state(path, resume) {
            Ok(()) => *written = Some(resume),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the state file")
            }
        }
    }
}
