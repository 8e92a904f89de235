//! The microengine runtime (SPEC §5.3): wraps a [`Scanner`] into a
//! marketplace participant that asserts, reveals and collects payouts.
//!
//! ```no_run
//! use std::sync::Arc;
//! use swarm_sdk::{Artifact, Microengine, Multiplier, ScanError, ScanResult, Scanner};
//!
//! struct Eicar;
//!
//! impl Scanner for Eicar {
//!     async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
//!         if artifact.content.starts_with(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR") {
//!             Ok(ScanResult::malicious(1.0, "EICAR-Test-File"))
//!         } else {
//!             Ok(ScanResult::benign(0.8))
//!         }
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let key = swarm_protocol::PrivateKey::random();
//! let report = Microengine::builder(Eicar)
//!     .node("http://127.0.0.1:31337")
//!     .key(key)
//!     .bid_strategy(Arc::new(Multiplier::AGGRESSIVE))
//!     .reject("mimetype == text/html".parse()?)
//!     .journal("/var/lib/swarm/engine")
//!     .build()?
//!     .run()
//!     .await?;
//! println!("net {} wei", report.net_wei());
//! # Ok(())
//! # }
//! ```
//!
//! What the runtime does, and what the original Python client got wrong:
//!
//! * **Filters before downloads.** On a `bounty` event the accept/reject
//!   [`Filter`]s are evaluated on the bounty's per-artifact metadata; a
//!   rejected artifact is never downloaded, never scanned, never asserted on.
//! * **Bounded, deadline-aware scanning.** Allowed artifacts are downloaded
//!   (at most `max_artifact_size` bytes each) and scanned concurrently, at
//!   most `max_concurrency` at a time across all bounties. Every scan runs in
//!   its own task under a deadline: the blocks left before the bounty's
//!   expiration, times the block time, minus a safety margin (2 blocks by
//!   default) to get the assertion in. A scan that fails, panics or runs out
//!   of time asserts nothing on its artifact — never "benign" — and the
//!   engine carries on.
//! * **The journal comes first.** Verdicts, nonce, bids and reveal metadata
//!   are written to the [`Journal`](crate::Journal) and flushed to disk before
//!   `bounty:Assert` is sent, so a crash can never leave an assertion whose
//!   nonce is lost. The records of one turn of the loop (everything that
//!   was ready: events, finished scans, answers) are flushed together, with
//!   one fsync, before any transaction of that turn is sent.
//! * **No round trips in the way.** The engine's NCT balance is read once
//!   at start (and again when the event stream reconnects) and followed
//!   from the events after that; transactions are signed against the tip
//!   the stream gives and sent without waiting for their block, which the
//!   engine's own `assertion` and `reveal` events confirm.
//! * **Reveals are not missed.** Every `block` event at or past a bounty's
//!   expiration reveals each journaled, unrevealed assertion whose reveal
//!   window is open, retrying each block until the node has it
//!   (`already_revealed` counts as done, and so does `replayed`: the
//!   client's retry of a reveal whose answer a broken connection lost).
//! * **Restarts resume.** On start the journal is replayed and each bounty
//!   in it is checked against the node: an assertion that never reached the
//!   node is resubmitted unchanged while round 0 is open, one that did is
//!   revealed when due, a settled one is recorded. The event stream resumes
//!   from the journal's checkpoint block, so no bounty posted while the
//!   engine was down is missed.
//! * **Bounded memory.** A settled bounty is forgotten, in memory and (after
//!   compaction) in the journal.
//!
//! There are no account nonces in this protocol, so transactions are sent
//! concurrently without any ordering or "nonce too low" trouble.
//!
//! The engine decides in pure code and acts in a loop, as the node's
//! sequencer does around the protocol's registry, so that every decision
//! above can be tested by handing events to a value and reading back what
//! it would do. Its folder has the shape a runtime of this crate takes:
//!
//! * `state.rs`: the decisions. A `State` (bounties being scanned, work in
//!   flight, what is due, the report) turns node events and task outcomes
//!   into `Action`s — scan, commit, journal, assert, reveal, look a bounty
//!   up, read the balance — without any I/O. `balance.rs` is the balance
//!   it follows from the events.
//! * this file: the [`Microengine`] and its run loop, which hands events and
//!   task outcomes to the state and performs its actions in order; journal
//!   records are staged as they come and flushed once a turn, before the
//!   turn's transactions go out.
//! * `tasks.rs`: the spawned work — scanning a bounty through the
//!   [`ScanDispatch`](crate::ScanDispatch), sending an assertion or a
//!   reveal, looking a bounty up.
//! * `builder.rs` ([`MicroengineBuilder`]), `error.rs` ([`EngineError`]),
//!   `report.rs` ([`EngineReport`]).

mod balance;
mod builder;
mod error;
mod report;
mod state;
mod tasks;

pub use builder::MicroengineBuilder;
pub use error::EngineError;
pub use report::EngineReport;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use swarm_protocol::{Address, Assert, Guid, PrivateKey, Reveal};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::bid::{BidBounds, BidStrategy};
use crate::client::NodeClient;
use crate::dispatch::{DynDispatch, LocalDispatch};
use crate::events::{EventStream, NodeEvent};
use crate::filter::Filters;
use crate::journal::Journal;
use crate::observe::{sync, ObserveConfig, Observer, Role};
use crate::scanner::Scanner;

use state::{Action, Settings, State, TaskKind};
use tasks::{Ctx, TaskOutcome};

/// A scanner wrapped into a marketplace participant. See the module docs.
pub struct Microengine<S> {
    scanner: Arc<S>,
    dispatch: Option<Arc<dyn DynDispatch>>,
    client: NodeClient,
    key: PrivateKey,
    address: Address,
    strategy: Arc<dyn BidStrategy>,
    filters: Filters,
    journal: Option<PathBuf>,
    max_concurrency: usize,
    max_artifact_size: Option<u64>,
    testing: Option<u64>,
    shutdown: CancellationToken,
    margin_blocks: u64,
    checkpoint_every: u64,
    observe: ObserveConfig,
}

impl<S> std::fmt::Debug for Microengine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Microengine")
            .field("node", &self.client.base_url())
            .field("address", &self.address)
            .field("filters", &self.filters)
            .field("journal", &self.journal)
            .field("max_concurrency", &self.max_concurrency)
            .field("testing", &self.testing)
            .finish()
    }
}

impl<S: Scanner> Microengine<S> {
    /// The engine's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The journal file, if any.
    pub fn journal_path(&self) -> Option<&Path> {
        self.journal.as_deref()
    }

    /// Runs until shut down, or until the `testing` bounties are finished.
    /// Sets the scanner up first and tears it down at the end.
    pub async fn run(self) -> Result<EngineReport, EngineError> {
        let observer =
            Observer::start(self.observe, Role::Engine, &self.client, Some(self.address)).await?;
        let scanner = Arc::clone(&self.scanner);
        scanner.setup().await.map_err(EngineError::Setup)?;
        let result = self.run_engine(observer).await;
        if let Err(e) = scanner.teardown().await {
            tracing::warn!(error = %e, "scanner teardown failed");
        }
        result
    }

    async fn run_engine(self, observer: Observer) -> Result<EngineReport, EngineError> {
        let status = self.client.status().await?;
        let parameters = self.client.parameters().await?;
        let (balance_as_of, balance) = tasks::read_balance(&self.client, &self.address).await?;
        let journal = match &self.journal {
            Some(path) => Journal::open(path)?,
            None => {
                tracing::warn!(
                    "microengine without a journal: a restart loses unrevealed assertions"
                );
                Journal::in_memory()
            }
        };
        let p = &parameters.parameters;
        let dispatch = match &self.dispatch {
            Some(dispatch) => Arc::clone(dispatch),
            None => Arc::new(LocalDispatch::new(
                Arc::clone(&self.scanner),
                self.client.clone(),
                self.max_concurrency,
                self.max_artifact_size.unwrap_or(p.max_artifact_size),
            )),
        };
        let ctx = Arc::new(Ctx {
            dispatch,
            client: self.client.clone(),
            key: self.key.clone(),
            address: self.address,
            community: parameters.community.clone(),
            block_time: Duration::from_millis(status.block_time_ms.max(1)),
            observer,
        });
        let since = journal.checkpoint().unwrap_or(status.block);
        let state = State::new(
            Settings {
                address: self.address,
                block_time: ctx.block_time,
                strategy: Arc::clone(&self.strategy),
                filters: self.filters.clone(),
                bounds: BidBounds {
                    minimum: p.assertion_bid_minimum,
                    maximum: p.assertion_bid_maximum,
                },
                assertion_fee: p.assertion_fee,
                bounty_fee: p.bounty_fee,
                testing: self.testing,
                margin_blocks: self.margin_blocks,
                checkpoint_every: self.checkpoint_every,
            },
            &journal,
            status.block,
            since,
            balance,
            balance_as_of,
        );
        let mut rt = Runtime::new(ctx, journal, state);
        tracing::info!(
            address = %self.address,
            community = %parameters.community,
            since,
            journal = ?self.journal,
            pending = rt.journal.entries().len(),
            "microengine started"
        );
        rt.reconcile_all().await?;
        let mut events = self.client.events(Some(since));
        rt.ctx.observer.ready();
        rt.observe();
        while !rt.state.done(&rt.journal) {
            // One turn: wait for something, take whatever else is ready,
            // then flush the turn's journal records once and send.
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => {
                    tracing::info!("microengine shutting down");
                    break;
                }
                Some(joined) = rt.tasks.join_next_with_id(), if !rt.tasks.is_empty() => {
                    rt.on_joined(joined)?;
                }
                event = events.next() => rt.on_stream_event(event, &events)?,
            }
            for _ in 1..MAX_TURN {
                if let Some(joined) = rt.tasks.try_join_next_with_id() {
                    rt.on_joined(joined)?;
                } else if let Some(event) = events.next().now_or_never() {
                    rt.on_stream_event(event, &events)?;
                } else {
                    break;
                }
            }
            rt.flush()?;
            rt.observe();
        }
        rt.finish()
    }
}

/// Most events and task outcomes handled in one turn of the loop, before
/// its journal records are flushed and its transactions sent.
const MAX_TURN: usize = 256;

/// A transaction held until the journal records before it are on disk.
enum Outgoing {
    Assert { assert: Assert, expiration: u64 },
    Reveal(Reveal),
}

/// The run loop's side: the journal, the spawned tasks, and the [`State`]
/// that decides. It hands each event and task outcome to the state and
/// performs the [`Action`]s it answers with, in order.
struct Runtime {
    ctx: Arc<Ctx>,
    journal: Journal,
    state: State,
    tasks: JoinSet<TaskOutcome>,
    /// The bounties each task works on (one, or a turn's assertions).
    task_ids: HashMap<tokio::task::Id, (Vec<Guid>, TaskKind)>,
    /// Transactions of this turn, sent once its records are on disk.
    outbox: Vec<Outgoing>,
    /// Reconnects of the event stream seen so far.
    reconnects: u64,
}

impl Runtime {
    fn new(ctx: Arc<Ctx>, journal: Journal, state: State) -> Self {
        Runtime {
            ctx,
            journal,
            state,
            tasks: JoinSet::new(),
            task_ids: HashMap::new(),
            outbox: Vec::new(),
            reconnects: 0,
        }
    }

    fn spawn(
        &mut self,
        guid: Guid,
        kind: TaskKind,
        task: impl std::future::Future<Output = TaskOutcome> + Send + 'static,
    ) {
        self.spawn_for(vec![guid], kind, task);
    }

    fn spawn_for(
        &mut self,
        guids: Vec<Guid>,
        kind: TaskKind,
        task: impl std::future::Future<Output = TaskOutcome> + Send + 'static,
    ) {
        let handle = self.tasks.spawn(task);
        self.task_ids.insert(handle.id(), (guids, kind));
    }

    /// Performs `actions` in order; the ones that ask the state again have
    /// its answer performed before the rest. Journal records are staged
    /// and transactions held for [`flush`](Runtime::flush).
    fn perform(&mut self, actions: Vec<Action>) -> Result<(), EngineError> {
        let mut queue = VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            let more = match action {
                Action::Journal(record) => {
                    self.journal.stage(record)?;
                    continue;
                }
                Action::Scan {
                    bounty,
                    allowed,
                    budget,
                } => {
                    let now = Instant::now();
                    let deadline = now
                        .checked_add(budget)
                        .unwrap_or_else(|| now + Duration::from_secs(86_400));
                    let ctx = Arc::clone(&self.ctx);
                    let guid = bounty.guid;
                    self.spawn(
                        guid,
                        TaskKind::Scan,
                        tasks::scan_bounty(ctx, *bounty, allowed, deadline),
                    );
                    continue;
                }
                Action::Commit(proposal) => {
                    let nonce = tasks::random_nonce();
                    self.state.on_commit(*proposal, nonce)
                }
                Action::Assert { assert, expiration } => {
                    self.outbox.push(Outgoing::Assert { assert, expiration });
                    continue;
                }
                Action::Reveal(reveal) => {
                    self.outbox.push(Outgoing::Reveal(reveal));
                    continue;
                }
                Action::Reconcile(guid) => {
                    let ctx = Arc::clone(&self.ctx);
                    self.spawn(guid, TaskKind::Reconcile, tasks::reconcile(ctx, guid));
                    continue;
                }
                Action::ReadBalance => {
                    let ctx = Arc::clone(&self.ctx);
                    self.spawn(Guid::nil(), TaskKind::ReadBalance, tasks::balance(ctx));
                    continue;
                }
                Action::CheckDue => self.state.check_due(&self.journal),
            };
            for action in more.into_iter().rev() {
                queue.push_front(action);
            }
        }
        Ok(())
    }

    /// Ends a turn: every staged journal record to disk with one fsync,
    /// then the transactions they protect, signed against the tip. The
    /// turn's assertions go in one `POST /transactions`: a burst of
    /// bounties finished together is one request, not a connection each.
    fn flush(&mut self) -> Result<(), EngineError> {
        self.journal.commit()?;
        let tip = self.state.tip;
        let mut asserts = Vec::new();
        for outgoing in std::mem::take(&mut self.outbox) {
            match outgoing {
                Outgoing::Assert { assert, expiration } => asserts.push((assert, expiration)),
                Outgoing::Reveal(reveal) => {
                    let ctx = Arc::clone(&self.ctx);
                    let guid = reveal.bounty_guid;
                    self.spawn(guid, TaskKind::Reveal, tasks::reveal(ctx, reveal, tip));
                }
            }
        }
        if !asserts.is_empty() {
            let ctx = Arc::clone(&self.ctx);
            let guids = asserts.iter().map(|(a, _)| a.bounty_guid).collect();
            self.spawn_for(
                guids,
                TaskKind::Submit,
                tasks::assert_all(ctx, asserts, tip),
            );
        }
        Ok(())
    }

    /// Brings the metrics up to the report and the journal.
    fn observe(&self) {
        let m = self.ctx.observer.metrics();
        let r = &self.state.report;
        sync(&m.bounties_seen, r.bounties_seen);
        sync(&m.bounties_skipped, r.bounties_skipped);
        sync(&m.artifacts_filtered, r.artifacts_filtered);
        sync(&m.assertions, r.assertions);
        sync(&m.reveals, r.reveals);
        sync(&m.settled, r.settled);
        m.sync_errors(&r.errors);
        m.journal_records
            .set(i64::try_from(self.journal.lines()).unwrap_or(i64::MAX));
    }

    /// Writes the records staged and a last checkpoint, and hands the
    /// report over. Transactions not sent yet are sent again after a
    /// restart, as the journal says.
    fn finish(mut self) -> Result<EngineReport, EngineError> {
        self.tasks.abort_all();
        self.outbox.clear();
        if let Some(record) = self.state.final_checkpoint() {
            self.journal.stage(record)?;
        }
        self.journal.commit()?;
        self.state.report.balance = Some(self.state.balance());
        tracing::info!(report = ?self.state.report, "microengine stopped");
        Ok(self.state.report)
    }

    /// Startup: checks every journaled bounty against the node.
    async fn reconcile_all(&mut self) -> Result<(), EngineError> {
        let guids: Vec<Guid> = self.journal.entries().keys().copied().collect();
        let client = &self.ctx.client;
        let answers = futures_util::future::join_all(guids.iter().map(|g| client.bounty(g))).await;
        let actions = self
            .state
            .on_started(guids.into_iter().zip(answers).collect(), &self.journal);
        self.perform(actions)?;
        self.flush()
    }

    fn on_joined(
        &mut self,
        joined: Result<(tokio::task::Id, TaskOutcome), tokio::task::JoinError>,
    ) -> Result<(), EngineError> {
        match joined {
            Ok((id, outcome)) => {
                self.task_ids.remove(&id);
                self.on_outcome(outcome)
            }
            Err(e) => {
                // Our own task failed (it should not).
                let known = self.task_ids.remove(&e.id());
                tracing::error!(error = %e, task = ?known, "microengine task failed");
                self.state.report.error("internal");
                if let Some((guids, kind)) = known {
                    for guid in guids {
                        let actions = self.state.on_task_failed(guid, kind);
                        self.perform(actions)?;
                    }
                }
                Ok(())
            }
        }
    }

    fn on_outcome(&mut self, outcome: TaskOutcome) -> Result<(), EngineError> {
        let journal = &self.journal;
        let actions = match outcome {
            TaskOutcome::Scanned {
                bounty,
                outcomes,
                downloads,
            } => self.state.on_scanned(*bounty, outcomes, downloads),
            TaskOutcome::Revealed { guid, result } => self.state.on_revealed(guid, result, journal),
            TaskOutcome::Reconciled { guid, result } => {
                self.state.on_reconciled(guid, *result, journal)
            }
            TaskOutcome::BalanceRead { result } => self.state.on_balance_read(result),
            TaskOutcome::SubmittedAll(results) => {
                let mut actions = Vec::new();
                for (guid, result) in results {
                    actions.extend(self.state.on_submitted(guid, result, journal));
                }
                actions
            }
        };
        self.perform(actions)
    }

    fn on_event(&mut self, event: NodeEvent) -> Result<(), EngineError> {
        let actions = self.state.on_event(event, &self.journal);
        self.perform(actions)
    }

    /// An event from the stream; a reconnect of the stream first has the
    /// balance read again (events may have been missed).
    fn on_stream_event(
        &mut self,
        event: NodeEvent,
        stream: &EventStream,
    ) -> Result<(), EngineError> {
        self.ctx.observer.event(event.position().0);
        if stream.reconnects() != self.reconnects {
            self.reconnects = stream.reconnects();
            let actions = self.state.on_reconnected();
            self.perform(actions)?;
        }
        self.on_event(event)
    }
}

#[cfg(test)]
mod tests {
    use super::builder::journal_file;
    use super::tasks::random_nonce;
    use super::*;
    use crate::bid::Multiplier;
    use crate::client::{ClientError, Submitted};
    use crate::events::NodeEvent;
    use crate::journal::{CommittedAssertion, Record};
    use crate::scanner::{Artifact, ScanError, ScanResult};
    use swarm_protocol::{Amount, Bits256, BountySettled, Event, Payout, PayoutRole, H256};

    struct Nop;

    impl Scanner for Nop {
        async fn scan(&self, _: &Artifact) -> Result<ScanResult, ScanError> {
            Ok(ScanResult::unknown())
        }
    }

    fn runtime(journal: Journal) -> Runtime {
        let key = PrivateKey::from_bytes(&[7; 32]).unwrap();
        let client = NodeClient::new("http://127.0.0.1:9");
        let ctx = Arc::new(Ctx {
            dispatch: Arc::new(LocalDispatch::new(
                Arc::new(Nop),
                client.clone(),
                1,
                1 << 20,
            )),
            client,
            address: key.address(),
            key,
            community: "dev".into(),
            block_time: Duration::from_millis(50),
            observer: Observer::disabled(Role::Engine),
        });
        let settings = Settings {
            address: ctx.address,
            block_time: ctx.block_time,
            strategy: Arc::new(Multiplier::DEFAULT),
            filters: Filters::default(),
            bounds: BidBounds {
                minimum: Amount::parse_nct("0.0625").unwrap(),
                maximum: Amount::from_nct(1),
            },
            assertion_fee: Amount::parse_nct("0.03125").unwrap(),
            bounty_fee: Amount::parse_nct("0.0625").unwrap(),
            testing: None,
            margin_blocks: 2,
            checkpoint_every: 10,
        };
        let state = State::new(settings, &journal, 1, 1, Amount::from_nct(1000), 1);
        Runtime::new(ctx, journal, state)
    }

    fn committed(n: u128) -> CommittedAssertion {
        let nonce = H256([1; 32]);
        let verdicts = Bits256::from_indices([0]);
        CommittedAssertion {
            guid: Guid::from_u128(n + 1),
            nonce,
            verdicts,
            mask: Bits256::from_indices([0, 1]),
            bids: vec![Amount::from_nct(1), Amount::from_nct(1)],
            fee: Amount::parse_nct("0.03125").unwrap(),
            commitment: H256([2; 32]),
            metadata: serde_json::json!([{"malware_family": "x"}, null]),
            expiration: 10,
            reveal_deadline: 15,
            vote_deadline: 25,
        }
    }

    #[tokio::test]
    async fn settled_bounties_leave_no_state_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path().join("e.journal")).unwrap();
        journal.set_compact_after(16);
        let mut rt = runtime(journal);
        let me = rt.ctx.address;
        let n = 200u128;
        for i in 0..n {
            let c = committed(i);
            let guid = c.guid;
            rt.journal.append(Record::Committed(c)).unwrap();
            rt.journal
                .append(Record::Asserted { guid, txhash: None })
                .unwrap();
            rt.journal.append(Record::Revealed { guid }).unwrap();
            rt.state.flight.entry(guid).or_default();
        }
        assert_eq!(rt.journal.entries().len(), n as usize);
        for i in 0..n {
            let event = NodeEvent {
                event: Event::SettledBounty(BountySettled {
                    bounty_guid: Guid::from_u128(i + 1),
                    consensus: None,
                    payouts: vec![
                        Payout {
                            account: Address::ZERO,
                            role: PayoutRole::Ambassador,
                            amount: Amount::from_nct(5),
                        },
                        Payout {
                            account: me,
                            role: PayoutRole::Expert,
                            amount: Amount::from_nct(3),
                        },
                    ],
                    treasury: Amount::ZERO,
                }),
                block_number: 30 + i as u64,
                seq: 0,
                txhash: None,
            };
            rt.on_event(event).unwrap();
            // The end of the loop's turn.
            rt.flush().unwrap();
        }
        assert!(rt.journal.entries().is_empty());
        assert!(rt.state.flight.is_empty());
        assert!(rt.state.scanning.is_empty());
        assert_eq!(rt.state.report.settled, n as u64);
        assert_eq!(rt.state.report.payouts, Amount::from_nct(3 * n));
        let cost = committed(0).cost().wei() * n;
        assert_eq!(rt.state.report.stakes_and_fees.wei(), cost);
        assert_eq!(
            rt.state.report.net_wei(),
            (3 * n * swarm_protocol::WEI_PER_NCT) as i128 - cost as i128
        );
        // The journal file was compacted along the way and stays small.
        assert!(rt.journal.compactions() > 0);
        assert!(rt.journal.lines() < 40, "lines {}", rt.journal.lines());
        // A settlement for a bounty the engine never asserted on is ignored.
        let actions = rt.state.on_settled(
            &BountySettled {
                bounty_guid: Guid::from_u128(999_999),
                consensus: None,
                payouts: vec![],
                treasury: Amount::ZERO,
            },
            &rt.journal,
        );
        assert!(actions.is_empty());
        assert_eq!(rt.state.report.settled, n as u64);
    }

    /// A submission whose answer a broken connection lost is retried by the
    /// client with the same signed bytes, and the node answers `replayed`:
    /// the transaction is in, and must not be abandoned.
    #[tokio::test]
    async fn replayed_submissions_count_as_included() {
        let dir = tempfile::tempdir().unwrap();
        let mut rt = runtime(Journal::open(dir.path().join("e.journal")).unwrap());
        let c = committed(0);
        let guid = c.guid;
        rt.journal.append(Record::Committed(c)).unwrap();
        let replayed = || ClientError::Api {
            status: 409,
            code: "replayed".into(),
            message: "transaction 0x.. was already included (replay)".into(),
        };
        let actions = rt.state.on_submitted(guid, Err(replayed()), &rt.journal);
        rt.perform(actions).unwrap();
        let entry = rt.journal.entry(&guid).expect("still journaled");
        assert!(entry.asserted && !entry.revealed);
        assert_eq!(
            (
                rt.state.report.assertions,
                rt.state.report.artifacts_asserted
            ),
            (1, 2)
        );
        assert!(
            rt.state.report.errors.is_empty(),
            "{:?}",
            rt.state.report.errors
        );

        rt.state.flight.entry(guid).or_default().revealing = true;
        let actions = rt.state.on_revealed(guid, Err(replayed()), &rt.journal);
        rt.perform(actions).unwrap();
        assert!(rt.journal.entry(&guid).unwrap().revealed);
        assert_eq!(rt.state.report.reveals, 1);
        assert!(
            rt.state.report.errors.is_empty(),
            "{:?}",
            rt.state.report.errors
        );
    }

    /// The reveal window closing while a reveal is in flight is not a missed
    /// reveal: the answer decides.
    #[tokio::test]
    async fn a_reveal_in_flight_is_not_declared_missed() {
        let dir = tempfile::tempdir().unwrap();
        let mut rt = runtime(Journal::open(dir.path().join("e.journal")).unwrap());
        let c = committed(0);
        let guid = c.guid;
        let deadline = c.reveal_deadline;
        rt.journal.append(Record::Committed(c)).unwrap();
        rt.journal
            .append(Record::Asserted { guid, txhash: None })
            .unwrap();
        rt.state.flight.entry(guid).or_default().revealing = true;
        rt.state.tip = deadline;
        let actions = rt.state.check_due(&rt.journal);
        rt.perform(actions).unwrap();
        assert_eq!(rt.state.report.errors_of("reveal_missed"), 0);
        let actions = rt.state.on_revealed(
            guid,
            Ok(Submitted {
                hash: H256([3; 32]),
                status: crate::TxStatus::Included,
                block_number: deadline - 1,
            }),
            &rt.journal,
        );
        rt.perform(actions).unwrap();
        assert_eq!(rt.state.report.reveals, 1);
        // Without an answer in time, the next block gives it up.
        let c = committed(1);
        let late = c.guid;
        rt.journal.append(Record::Committed(c)).unwrap();
        rt.journal
            .append(Record::Asserted {
                guid: late,
                txhash: None,
            })
            .unwrap();
        let actions = rt.state.check_due(&rt.journal);
        rt.perform(actions).unwrap();
        assert_eq!(rt.state.report.errors_of("reveal_missed"), 1);
    }

    /// The commitments of every bounty finished in one turn of the loop
    /// reach the disk with one fsync, and no assertion leaves before it;
    /// then they leave together.
    #[tokio::test]
    async fn one_fsync_per_loop_turn_for_the_commitments_of_n_bounties() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.journal");
        let mut rt = runtime(Journal::open(&path).unwrap());
        let n = 20u128;
        for i in 0..n {
            let bounty = swarm_protocol::BountyPosted {
                guid: Guid::from_u128(i + 1),
                artifact_type: swarm_protocol::ArtifactType::File,
                author: Address::ZERO,
                amount: Amount::from_nct(1),
                uri: "bundle".into(),
                num_artifacts: 1,
                expiration: 100,
                reveal_deadline: 105,
                vote_deadline: 115,
                metadata: None,
            };
            let outcomes = vec![state::ArtifactOutcome::Scanned(Box::new(
                ScanResult::malicious(1.0, "x"),
            ))];
            rt.on_outcome(TaskOutcome::Scanned {
                bounty: Box::new(bounty),
                outcomes,
                downloads: 1,
            })
            .unwrap();
        }
        // Decided and staged, nothing on disk, nothing sent.
        assert_eq!(rt.journal.entries().len(), n as usize);
        assert_eq!(rt.journal.syncs(), 0);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        assert_eq!(rt.outbox.len(), n as usize);
        assert!(rt.tasks.is_empty());
        rt.flush().unwrap();
        assert_eq!(rt.journal.syncs(), 1);
        assert!(rt.outbox.is_empty());
        // The turn's assertions go out together, as one request.
        assert_eq!(rt.tasks.len(), 1);
        assert_eq!(rt.task_ids.values().next().unwrap().0.len(), n as usize);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().filter(|l| l.contains("\"committed\"")).count(),
            n as usize
        );
        // A turn that staged nothing writes nothing.
        rt.flush().unwrap();
        assert_eq!(rt.journal.syncs(), 1);
        rt.tasks.abort_all();
    }

    #[test]
    fn nonces_are_never_zero_and_differ() {
        let a = random_nonce();
        let b = random_nonce();
        assert_ne!(a, H256([0; 32]));
        assert_ne!(a, b);
    }

    #[test]
    fn journal_paths() {
        let dir = tempfile::tempdir().unwrap();
        let address = PrivateKey::from_bytes(&[7; 32]).unwrap().address();
        assert_eq!(
            journal_file(dir.path(), &address),
            dir.path().join(format!("{address}.journal"))
        );
        let file = dir.path().join("mine.journal");
        assert_eq!(journal_file(&file, &address), file);
    }

    #[test]
    fn builder_requires_node_and_key() {
        let e = Microengine::builder(Nop).build().unwrap_err();
        assert!(matches!(e, EngineError::Config(_)));
        let e = Microengine::builder(Nop)
            .node("http://127.0.0.1:1")
            .build()
            .unwrap_err();
        assert!(matches!(e, EngineError::Config(_)));
        let e = Microengine::builder(Nop)
            .node("127.0.0.1:1")
            .key(PrivateKey::random())
            .build()
            .unwrap_err();
        assert!(matches!(e, EngineError::Config(_)));
        let engine = Microengine::builder(Nop)
            .node("http://127.0.0.1:1")
            .key(PrivateKey::random())
            .testing(0)
            .build()
            .unwrap();
        assert!(engine.testing.is_none());
        assert!(engine.journal_path().is_none());
    }
}
