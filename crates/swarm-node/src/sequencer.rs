//! The sequencer: the one writer of the chain.
//!
//! It keeps a *working* registry for the block being built. A submitted
//! transaction is applied to it at once — so the client learns right away,
//! with the rule's own message, whether it is valid at this block — and
//! queued in the open block. Every `block_time` the block is sealed and
//! committed to the store in one transaction; only then are its events
//! published, its waiters told it is included, and the read view
//! ([`ChainView`]) advanced by replaying the same transactions. If a commit
//! fails the sequencer stops: the working state is then ahead of what is
//! durable, and the only safe recovery is to restart and replay the store.
//!
//! Bounties that settle leave the working registry with the block that
//! settled them ([`Registry::take_settled`]) and are written by that
//! block's commit, so neither registry grows with history. The rules still
//! refuse a reused guid, or an assertion on a settled bounty, as before:
//! before applying a submission the sequencer asks the store which of its
//! guids are settled bounties, and remembers those of the commit in flight
//! until they are durable.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use swarm_protocol::{Guid, Registry, SignedTx, TxBody, TxError, VerifiedTx, H256};

use crate::chain::{BlockHeader, CommittedBlock, EventRecord, TxRecord};
use crate::limits::admission::{work_due, Admission};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
pub use crate::view::ChainView;

/// Replays one committed block onto `registry`.
pub(crate) fn apply_block(
    registry: &mut Registry,
    header: &BlockHeader,
    verified: &[VerifiedTx],
) -> Result<(), StoreError> {
    registry.begin_block(header.number, header.parent_hash);
    for tx in verified {
        registry.apply(tx).map_err(|e| {
            StoreError::Corrupt(format!(
                "transaction {} of block {} no longer applies: {e}",
                tx.hash(),
                header.number
            ))
        })?;
    }
    Ok(())
}

/// Verifies the signatures of a stored block's transactions.
pub(crate) fn verify_stored(block: &CommittedBlock) -> Result<Vec<VerifiedTx>, StoreError> {
    block
        .txs
        .iter()
        .map(|t| {
            t.signed.verify().map_err(|e| {
                StoreError::Corrupt(format!(
                    "stored transaction {} does not verify: {e}",
                    t.hash
                ))
            })
        })
        .collect()
}

/// A transaction accepted into the open block.
#[derive(Debug)]
pub struct Accepted {
    /// Its hash.
    pub hash: H256,
    /// The block it will be part of.
    pub block_number: u64,
    /// Fires with the block number once that block is committed, when waiting was asked for.
    pub included: Option<oneshot::Receiver<u64>>,
}

pub(crate) enum Command {
    Submit {
        txs: Vec<(SignedTx, VerifiedTx)>,
        wait: bool,
        reply: oneshot::Sender<Vec<Result<Accepted, TxError>>>,
    },
}

/// Why a submission could not be handled at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The sequencer has stopped (shutting down, or a store failure).
    #[error("the sequencer is not running")]
    Stopped,
}

/// Talks to the sequencer task.
#[derive(Clone, Debug)]
pub struct SequencerHandle {
    tx: mpsc::Sender<Command>,
}

impl SequencerHandle {
    /// Submits verified transactions; each is applied to the open block or
    /// refused with the rule it breaks.
    pub async fn submit(
        &self,
        txs: Vec<(SignedTx, VerifiedTx)>,
        wait: bool,
    ) -> Result<Vec<Result<Accepted, TxError>>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Submit { txs, wait, reply })
            .await
            .map_err(|_| SubmitError::Stopped)?;
        rx.await.map_err(|_| SubmitError::Stopped)
    }
}

/// Tuning of the sequencer.
#[derive(Clone, Debug)]
pub struct SequencerConfig {
    /// Time between blocks.
    pub block_time: Duration,
    /// A snapshot of the state is stored with every block whose number is a multiple of this.
    pub snapshot_every: u64,
    /// ... and with the block that brings the transactions since the last
    /// snapshot to this many.
    pub snapshot_after_transactions: usize,
}

/// The sequencer task's state.
pub(crate) struct Sequencer {
    working: Registry,
    store: Arc<dyn Store>,
    view: Arc<ChainView>,
    events: broadcast::Sender<Arc<CommittedBlock>>,
    metrics: Arc<Metrics>,
    admission: Arc<Admission>,
    config: SequencerConfig,
    /// When the open block was opened (its predecessor sealed).
    opened_at: std::time::Instant,
    parent: H256,
    open: u64,
    pending: Vec<TxRecord>,
    pending_verified: Vec<VerifiedTx>,
    pending_events: Vec<EventRecord>,
    waiters: Vec<oneshot::Sender<u64>>,
    /// Guids of the bounties handed to the commit in flight: settled, but
    /// not yet in the store.
    settling: HashSet<Guid>,
    /// Transactions in the blocks sealed since the last snapshot.
    since_snapshot: usize,
}

/// The bounty guid a transaction names, if any.
fn named_guid(tx: &VerifiedTx) -> Option<Guid> {
    match &tx.tx().body {
        TxBody::PostBounty(d) => Some(d.guid),
        TxBody::Assert(d) => Some(d.bounty_guid),
        TxBody::Reveal(d) => Some(d.bounty_guid),
        TxBody::Vote(d) => Some(d.bounty_guid),
        _ => None,
    }
}

/// Where the sequencer tells what it did: readers see committed blocks in
/// the view and on the broadcast, operators in the metrics, admission
/// control in its gauges.
pub(crate) struct Outputs {
    /// The committed state readers see.
    pub(crate) view: Arc<ChainView>,
    /// Committed blocks, as they are committed.
    pub(crate) events: broadcast::Sender<Arc<CommittedBlock>>,
    /// The node's metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// Admission control's block rate and lag, and the work the posted
    /// bounties will bring.
    pub(crate) admission: Arc<Admission>,
}

impl Sequencer {
    /// A sequencer continuing from `working` (the committed state at `tip`),
    /// telling what it commits to `outputs`.
    pub(crate) fn new(
        working: Registry,
        tip: Option<&BlockHeader>,
        store: Arc<dyn Store>,
        outputs: Outputs,
        config: SequencerConfig,
    ) -> Self {
        let Outputs {
            view,
            events,
            metrics,
            admission,
        } = outputs;
        let (parent, last) = tip.map(|t| (t.hash, t.number)).unwrap_or((H256::ZERO, 0));
        let mut s = Sequencer {
            working,
            store,
            view,
            events,
            metrics,
            admission,
            config,
            opened_at: std::time::Instant::now(),
            parent,
            open: last,
            pending: Vec::new(),
            pending_verified: Vec::new(),
            pending_events: Vec::new(),
            waiters: Vec::new(),
            settling: HashSet::new(),
            since_snapshot: 0,
        };
        s.open_next();
        s
    }

    fn open_next(&mut self) {
        self.open += 1;
        let events = self.working.begin_block(self.open, self.parent);
        self.pending_events = events
            .into_iter()
            .enumerate()
            .map(|(seq, event)| EventRecord {
                event,
                block_number: self.open,
                seq: seq as u32,
                txhash: None,
            })
            .collect();
        // Once per block, not per submission: a pass over the held bounties.
        self.admission.record_due(&work_due(
            self.working.bounties_newest_first(),
            self.open,
            self.working.arbiters().len(),
        ));
    }

    /// Which guids named by `txs` belong to settled bounties the working
    /// registry no longer holds: one store lookup for the batch.
    async fn settled_named(
        &self,
        txs: &[(SignedTx, VerifiedTx)],
    ) -> Result<HashSet<Guid>, StoreError> {
        let mut known: HashSet<Guid> = HashSet::new();
        let mut ask: Vec<Guid> = Vec::new();
        for guid in txs.iter().filter_map(|(_, v)| named_guid(v)) {
            if self.working.bounty(&guid).is_some() {
                continue;
            }
            if self.settling.contains(&guid) {
                known.insert(guid);
            } else if !ask.contains(&guid) {
                ask.push(guid);
            }
        }
        if !ask.is_empty() {
            known.extend(self.store.settled_among(&ask).await?);
        }
        Ok(known)
    }

    /// Looks up the settled guids `txs` name, then applies them; a store
    /// that cannot answer drops the reply (the client hears the sequencer
    /// is unavailable) rather than guess.
    async fn submit_checked(
        &mut self,
        txs: Vec<(SignedTx, VerifiedTx)>,
        wait: bool,
        reply: oneshot::Sender<Vec<Result<Accepted, TxError>>>,
    ) {
        match self.settled_named(&txs).await {
            Ok(settled) => {
                let _ = reply.send(self.submit(txs, wait, &settled));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot look up settled bounties; submission dropped")
            }
        }
    }

    fn submit(
        &mut self,
        txs: Vec<(SignedTx, VerifiedTx)>,
        wait: bool,
        settled: &HashSet<Guid>,
    ) -> Vec<Result<Accepted, TxError>> {
        let mut applied_due = 0;
        let results = txs
            .into_iter()
            .map(|(signed, verified)| {
                let name = verified.tx().name();
                let result = self.working.apply_with(&verified, settled);
                self.metrics
                    .record_tx(name, result.as_ref().err().map(TxError::code));
                let events = result?;
                if matches!(verified.tx().body, TxBody::Reveal(_) | TxBody::Vote(_)) {
                    applied_due += 1;
                }
                let hash = verified.hash();
                for event in events {
                    let seq = self.pending_events.len() as u32;
                    self.pending_events.push(EventRecord {
                        event,
                        block_number: self.open,
                        seq,
                        txhash: Some(hash),
                    });
                }
                self.pending.push(TxRecord {
                    hash,
                    signed,
                    name: name.to_owned(),
                    from: verified.from(),
                    block_number: self.open,
                    index: self.pending.len() as u32,
                });
                self.pending_verified.push(verified);
                let included = wait.then(|| {
                    let (tx, rx) = oneshot::channel();
                    self.waiters.push(tx);
                    rx
                });
                Ok(Accepted {
                    hash,
                    block_number: self.open,
                    included,
                })
            })
            .collect();
        self.admission.applied_due(applied_due);
        results
    }

    /// Seals the open block and starts committing it in the background;
    /// the next block opens at once and takes transactions while the
    /// commit runs. Only one commit is in flight: a previous one is finished
    /// (and published) first, so blocks commit and publish in order.
    async fn seal(&mut self, in_flight: &mut Option<Commit>) -> Result<(), StoreError> {
        if let Some(commit) = in_flight.take() {
            self.publish(commit.await)?;
        }
        let hashes: Vec<H256> = self.pending.iter().map(|t| t.hash).collect();
        let header = BlockHeader::seal(self.open, self.parent, now_ms(), &hashes);
        let block = CommittedBlock {
            header,
            txs: std::mem::take(&mut self.pending),
            events: std::mem::take(&mut self.pending_events),
        };
        let verified = std::mem::take(&mut self.pending_verified);
        let now = std::time::Instant::now();
        self.admission
            .record_block(block.txs.len(), now.duration_since(self.opened_at));
        self.opened_at = now;
        let waiters = std::mem::take(&mut self.waiters);
        // Settled at this block's start: they leave the registry (and its
        // snapshot) and enter the store with the block.
        let settled = self.working.take_settled();
        self.settling = settled.iter().map(|s| s.bounty.guid).collect();
        self.since_snapshot = self.since_snapshot.saturating_add(block.txs.len());
        let snapshot = if block
            .header
            .number
            .is_multiple_of(self.config.snapshot_every.max(1))
            || self.since_snapshot >= self.config.snapshot_after_transactions.max(1)
        {
            self.since_snapshot = 0;
            Some(
                serde_json::to_vec(&self.working)
                    .map_err(|e| StoreError::Corrupt(format!("snapshot encoding: {e}")))?,
            )
        } else {
            None
        };
        self.parent = block.header.hash;
        let (store, view, metrics) = (self.store.clone(), self.view.clone(), self.metrics.clone());
        *in_flight = Some(tokio::spawn(async move {
            let started = std::time::Instant::now();
            store
                .commit_block(&block, &settled, snapshot.as_deref())
                .await?;
            metrics.record_block(block.txs.len(), started.elapsed());
            // Readers see the block only once it is durable. Applying a full
            // block takes milliseconds: off the request workers.
            let (block, advanced) = tokio::task::spawn_blocking(move || {
                let advanced = view.advance(&block, &verified);
                (block, advanced)
            })
            .await
            .map_err(|e| StoreError::Corrupt(format!("advancing the read view failed: {e}")))?;
            advanced?;
            Ok(Sealed {
                block: Arc::new(block),
                waiters,
            })
        }));
        self.open_next();
        Ok(())
    }

    /// Tells the waiters of a committed block and publishes its events.
    fn publish(
        &mut self,
        result: Result<Result<Sealed, StoreError>, tokio::task::JoinError>,
    ) -> Result<(), StoreError> {
        let sealed =
            result.map_err(|e| StoreError::Corrupt(format!("block commit task failed: {e}")))??;
        // Durable now: the store answers for them.
        self.settling.clear();
        for waiter in sealed.waiters {
            let _ = waiter.send(sealed.block.header.number);
        }
        // Nobody listening is fine: events are in the store for later readers.
        let _ = self.events.send(sealed.block);
        Ok(())
    }

    /// Runs until `shutdown` is cancelled (sealing the block in progress
    /// first) or a commit fails.
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        shutdown: CancellationToken,
    ) -> Result<(), StoreError> {
        let mut ticker = tokio::time::interval(self.config.block_time);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let mut in_flight: Option<Commit> = None;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    // Finish the block in progress: what was accepted gets committed.
                    while let Ok(Command::Submit { txs, wait, reply }) = commands.try_recv() {
                        self.submit_checked(txs, wait, reply).await;
                    }
                    self.seal(&mut in_flight).await?;
                    if let Some(commit) = in_flight.take() {
                        self.publish(commit.await)?;
                    }
                    return Ok(());
                }
                result = async { match in_flight.as_mut() {
                    Some(commit) => commit.await,
                    None => std::future::pending().await,
                } } => {
                    in_flight = None;
                    self.publish(result)?;
                }
                _ = ticker.tick() => self.seal(&mut in_flight).await?,
                command = commands.recv() => match command {
                    Some(Command::Submit { txs, wait, reply }) => {
                        self.submit_checked(txs, wait, reply).await;
                    }
                    None => {
                        self.seal(&mut in_flight).await?;
                        if let Some(commit) = in_flight.take() {
                            self.publish(commit.await)?;
                        }
                        return Ok(());
                    }
                },
            }
        }
    }
}

/// A committed block, ready to be announced.
struct Sealed {
    block: Arc<CommittedBlock>,
    waiters: Vec<oneshot::Sender<u64>>,
}

/// A block's commit in progress, on its own task so that it runs beside
/// the sequencer's intake.
type Commit = tokio::task::JoinHandle<Result<Sealed, StoreError>>;

/// Starts the sequencer task; returns its handle and join handle.
pub(crate) fn spawn(
    sequencer: Sequencer,
    shutdown: CancellationToken,
) -> (
    SequencerHandle,
    tokio::task::JoinHandle<Result<(), StoreError>>,
) {
    let (tx, rx) = mpsc::channel(1024);
    let task = tokio::spawn(sequencer.run(rx, shutdown));
    (SequencerHandle { tx }, task)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
