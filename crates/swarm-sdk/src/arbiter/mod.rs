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
//!
//! Like the microengine, the arbiter decides in pure code and acts in a
//! loop, so that every rule above (when to vote, when a bounty is missed,
//! which resume point to write) is tested by handing events to a value:
//!
//! * `state.rs`: the decisions. A `State` (the bounties followed, the last
//!   block, what was handled, the resume point written, the report) turns
//!   node events, decisions and vote answers into `Action`s — decide a
//!   bounty, vote, save the resume point — without any I/O.
//! * this file: the [`Arbiter`], its start-up (whitelist, stake, where to
//!   resume) and its run loop, which hands events and task answers to the
//!   state and performs its actions in order.
//! * `tasks.rs`: the spawned work — deciding a bounty with the
//!   [`GroundTruth`], sending a vote — and the state file.
//! * `truth.rs` ([`GroundTruth`], [`ScannerTruth`], [`Sha256Table`]),
//!   `builder.rs` ([`ArbiterBuilder`]), `error.rs` ([`ArbiterError`]),
//!   `report.rs` ([`ArbiterReport`]).

mod builder;
mod error;
mod report;
mod state;
mod tasks;
mod truth;

pub use builder::ArbiterBuilder;
pub use error::ArbiterError;
pub use report::ArbiterReport;
pub use truth::{GroundTruth, ScannerTruth, Sha256Table, TableError};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use swarm_protocol::{Amount, Event, PrivateKey, StakeDeposit};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::client::NodeClient;
use crate::observe::{sync, ObserveConfig, Observer, Role};
use crate::runtime::spawn_events;

use error::node_error;
use state::{Action, Settings, State};
use tasks::{read_state, write_state, Decided, VoteSent};

/// Decides the ground truth of bounties and votes on them.
pub struct Arbiter<T> {
    truth: Arc<T>,
    client: NodeClient,
    key: PrivateKey,
    state: Option<PathBuf>,
    max_concurrency: usize,
    testing: Option<usize>,
    shutdown: CancellationToken,
    observe: ObserveConfig,
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

/// Least time between two state file writes.
const STATE_WRITE_EVERY: Duration = Duration::from_secs(1);

/// What the run loop needs to perform actions.
struct Ctx<'a> {
    community: &'a str,
    max_size: u64,
    permits: Arc<Semaphore>,
    decided_tx: mpsc::Sender<Decided>,
    voted_tx: mpsc::Sender<VoteSent>,
}

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
            observe: ObserveConfig::default(),
        }
    }

    /// Stakes, then votes on bounties until shut down (or, with
    /// [`ArbiterBuilder::testing`], until enough bounties were handled).
    pub async fn run(self) -> Result<ArbiterReport, ArbiterError> {
        let observer = Observer::start(
            self.observe,
            Role::Arbiter,
            &self.client,
            Some(self.key.address()),
        )
        .await?;
        self.truth.setup().await.map_err(ArbiterError::Truth)?;
        let result = self.run_inner(&observer).await;
        if let Err(e) = self.truth.teardown().await {
            tracing::warn!(error = %e, "ground truth teardown failed");
        }
        result
    }

    async fn run_inner(&self, observer: &Observer) -> Result<ArbiterReport, ArbiterError> {
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
        let ctx = Ctx {
            community: &community,
            max_size: p.max_artifact_size,
            permits: Arc::new(Semaphore::new(self.max_concurrency)),
            decided_tx,
            voted_tx,
        };
        let settings = Settings {
            address,
            testing: self.testing,
            tip,
            saves_state: self.state.is_some(),
        };
        let mut state = State::new(settings, report, since, saved);
        let mut last_state_write = tokio::time::Instant::now();
        observer.ready();

        loop {
            observe(observer, state.report());
            if state.finished() {
                break;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => {
                    tracing::info!("arbiter: shutting down");
                    break;
                }
                event = events.recv() => {
                    let Some(event) = event else {
                        return Err(ArbiterError::Config("event stream ended".into()));
                    };
                    observer.event(event.position().0);
                    let save_due = matches!(event.event, Event::Block { .. })
                        && last_state_write.elapsed() >= STATE_WRITE_EVERY;
                    let actions = state.on_event(event, save_due);
                    self.perform(actions, &mut state, &ctx);
                    if save_due {
                        last_state_write = tokio::time::Instant::now();
                    }
                }
                Some(decided) = decided_rx.recv() => {
                    let actions = state.on_decided(decided.guid, decided.votes);
                    self.perform(actions, &mut state, &ctx);
                }
                Some(sent) = voted_rx.recv() => {
                    state.on_vote_sent(sent.guid, sent.result);
                }
            }
        }
        let actions = state.on_stop();
        self.perform(actions, &mut state, &ctx);
        observe(observer, state.report());
        let report = state.into_report();
        tracing::info!(
            voted = report.voted,
            abstained = report.abstained,
            missed = report.missed,
            fees = %report.fees_earned,
            "arbiter finished"
        );
        Ok(report)
    }

    /// Performs the state's actions, in order.
    fn perform(&self, actions: Vec<Action>, state: &mut State, ctx: &Ctx<'_>) {
        for action in actions {
            match action {
                Action::Decide { bounty } => tasks::spawn_decision(
                    &self.truth,
                    &self.client,
                    bounty,
                    ctx.max_size,
                    &ctx.permits,
                    &ctx.decided_tx,
                ),
                Action::Vote { guid, votes } => tasks::spawn_vote(
                    &self.client,
                    &self.key,
                    ctx.community,
                    guid,
                    &votes,
                    &ctx.voted_tx,
                ),
                Action::SaveResume { resume_from } => {
                    let Some(path) = &self.state else {
                        continue;
                    };
                    match write_state(path, resume_from) {
                        Ok(()) => state.on_saved(resume_from),
                        Err(e) => {
                            tracing::warn!(path = %path.display(), error = %e, "cannot write the state file")
                        }
                    }
                }
            }
        }
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
}

/// Brings the metrics up to the report.
fn observe(observer: &Observer, report: &ArbiterReport) {
    let m = observer.metrics();
    sync(&m.votes, report.voted as u64);
    sync(&m.abstained, report.abstained as u64);
    sync(&m.missed, report.missed as u64);
    sync(&m.settled, report.settled as u64);
}
