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
//!   nonce is lost.
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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use serde::Serialize;
use serde_json::Value;
use swarm_protocol::{
    commitment, Address, Amount, ArtifactType, Assert, Bits256, Bounty, BountyPosted,
    BountySettled, Event, Guid, PayoutRole, PrivateKey, Reveal, H256, MAX_REVEAL_METADATA_BYTES,
};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::bid::{bid_within, BidBounds, BidStrategy, Multiplier};
use crate::client::{ClientError, NodeClient, Submitted};
use crate::dispatch::{DynDispatch, LocalDispatch, ScanDispatch, ScanFailure, ScanJob};
use crate::events::NodeEvent;
use crate::filter::{Filter, Filters};
use crate::journal::{CommittedAssertion, Journal, JournalError, Record};
use crate::scanner::{ArtifactKind, ScanResult, Scanner};

/// Why the engine could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The builder was missing something or given something unusable.
    #[error("microengine misconfigured: {0}")]
    Config(String),
    /// The node could not be asked what the engine needs to start.
    #[error("node: {0}")]
    Node(#[from] ClientError),
    /// The journal could not be read or written; the engine stops rather
    /// than assert without a durable record.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The scanner's `setup` failed.
    #[error("scanner setup failed: {0}")]
    Setup(#[source] crate::scanner::ScanError),
}

/// What an engine run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EngineReport {
    /// Bounties considered (filtered, scanned, or skipped as too late).
    pub bounties_seen: u64,
    /// Bounties that got no assertion: every artifact filtered out, nothing
    /// to assert, too late, not enough NCT, or the assertion was refused or
    /// abandoned (including ones resumed from the journal).
    pub bounties_skipped: u64,
    /// Assertions the node included.
    pub assertions: u64,
    /// Artifacts covered by those assertions.
    pub artifacts_asserted: u64,
    /// Artifacts left alone because of the filters (never downloaded).
    pub artifacts_filtered: u64,
    /// Artifacts downloaded.
    pub artifacts_downloaded: u64,
    /// Reveals the node included.
    pub reveals: u64,
    /// Bounties this engine asserted on that settled during the run.
    pub settled: u64,
    /// Bounties taken over from the journal at start.
    pub resumed: u64,
    /// What settlements credited this engine (its expert payouts).
    pub payouts: Amount,
    /// Bids and assertion fees of the settled bounties.
    pub stakes_and_fees: Amount,
    /// Problems by kind: `scan_error`, `scan_panic`, `scan_timeout`,
    /// `download`, `too_late`, `insufficient_balance`, `assert_rejected`,
    /// `reveal_retry`, `reveal_missed`, ...
    pub errors: BTreeMap<String, u64>,
}

impl EngineReport {
    /// Payouts minus bids and fees over the settled bounties, in wei.
    pub fn net_wei(&self) -> i128 {
        let payouts = i128::try_from(self.payouts.wei()).unwrap_or(i128::MAX);
        let costs = i128::try_from(self.stakes_and_fees.wei()).unwrap_or(i128::MAX);
        payouts.saturating_sub(costs)
    }

    /// The count of errors of `kind`.
    pub fn errors_of(&self, kind: &str) -> u64 {
        self.errors.get(kind).copied().unwrap_or(0)
    }

    fn error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_owned()).or_default() += 1;
    }
}

/// Configures a [`Microengine`].
pub struct MicroengineBuilder<S> {
    scanner: S,
    dispatch: Option<Arc<dyn DynDispatch>>,
    node: Option<String>,
    client: Option<NodeClient>,
    key: Option<PrivateKey>,
    strategy: Arc<dyn BidStrategy>,
    filters: Filters,
    journal: Option<PathBuf>,
    max_concurrency: usize,
    max_artifact_size: Option<u64>,
    testing: Option<u64>,
    shutdown: Option<CancellationToken>,
    margin_blocks: u64,
    checkpoint_every: u64,
}

impl<S: Scanner> MicroengineBuilder<S> {
    /// The node's base URL, such as `http://127.0.0.1:31337`.
    pub fn node(mut self, url: impl Into<String>) -> Self {
        self.node = Some(url.into());
        self
    }

    /// A ready client instead of [`MicroengineBuilder::node`] (for a custom
    /// retry policy).
    pub fn client(mut self, client: NodeClient) -> Self {
        self.client = Some(client);
        self
    }

    /// The engine's account.
    pub fn key(mut self, key: PrivateKey) -> Self {
        self.key = Some(key);
        self
    }

    /// How to bid; [`Multiplier::DEFAULT`] unless set.
    pub fn bid_strategy(mut self, strategy: Arc<dyn BidStrategy>) -> Self {
        self.strategy = strategy;
        self
    }

    /// Adds an accept filter: with any, only artifacts matching one are scanned.
    pub fn accept(mut self, filter: Filter) -> Self {
        self.filters.accept.push(filter);
        self
    }

    /// Adds a reject filter: artifacts matching it are never downloaded.
    pub fn reject(mut self, filter: Filter) -> Self {
        self.filters.reject.push(filter);
        self
    }

    /// Where the journal lives: a file, or an existing directory (or a path
    /// ending in `/`), in which case `<dir>/<address>.journal`. Without a
    /// journal, commitments are kept in memory only and a restart loses
    /// whatever was not revealed yet.
    pub fn journal(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = Some(path.into());
        self
    }

    /// At most this many artifacts downloaded or scanned at once (default 4).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// Artifacts larger than this are not downloaded (default: the
    /// community's `max_artifact_size`).
    pub fn max_artifact_size(mut self, bytes: u64) -> Self {
        self.max_artifact_size = Some(bytes);
        self
    }

    /// `--testing N`: handle `n` bounties, then exit with `Ok(report)`.
    ///
    /// The engine takes on the first `n` bounties — those resumed from the
    /// journal count, then the first new ones it sees — and ignores later
    /// ones, so no stake is left behind. It exits once every bounty taken
    /// on is finished: settled with its payout recorded, or skipped (every
    /// artifact filtered out, nothing to assert, too late, not enough NCT,
    /// assertion refused). `0` means no limit, as in the original client.
    pub fn testing(mut self, n: u64) -> Self {
        self.testing = (n > 0).then_some(n);
        self
    }

    /// Stops the engine when cancelled; `run` then returns `Ok(report)`.
    /// Whatever is in flight stays in the journal for the next run.
    pub fn shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = Some(token);
        self
    }

    /// Blocks kept in hand before a bounty's expiration to get the assertion
    /// included (default 2): scans must end that much earlier.
    pub fn safety_margin_blocks(mut self, blocks: u64) -> Self {
        self.margin_blocks = blocks;
        self
    }

    /// Runs the scans through `dispatch` instead of in this process (the
    /// default, [`LocalDispatch`] over the scanner). The scanner is still
    /// set up and torn down around the run.
    pub fn dispatch(mut self, dispatch: impl ScanDispatch) -> Self {
        self.dispatch = Some(Arc::new(dispatch));
        self
    }

    /// The engine.
    pub fn build(self) -> Result<Microengine<S>, EngineError> {
        let client = self.client.or(self.node.map(NodeClient::new));
        let (client, key) =
            crate::client::checked_connection(client, self.key).map_err(EngineError::Config)?;
        let address = key.address();
        let journal = self.journal.map(|p| journal_file(&p, &address));
        Ok(Microengine {
            scanner: Arc::new(self.scanner),
            dispatch: self.dispatch,
            client,
            key,
            address,
            strategy: self.strategy,
            filters: self.filters,
            journal,
            max_concurrency: self.max_concurrency,
            max_artifact_size: self.max_artifact_size,
            testing: self.testing,
            shutdown: self.shutdown.unwrap_or_default(),
            margin_blocks: self.margin_blocks,
            checkpoint_every: self.checkpoint_every,
        })
    }
}

/// The journal file for `path`: itself, or `<path>/<address>.journal` when
/// it names a directory.
fn journal_file(path: &Path, address: &Address) -> PathBuf {
    let text = path.as_os_str().to_string_lossy();
    if path.is_dir() || text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
        path.join(format!("{address}.journal"))
    } else {
        path.to_path_buf()
    }
}

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
    /// A builder around `scanner`.
    pub fn builder(scanner: S) -> MicroengineBuilder<S> {
        MicroengineBuilder {
            scanner,
            dispatch: None,
            node: None,
            client: None,
            key: None,
            strategy: Arc::new(Multiplier::DEFAULT),
            filters: Filters::default(),
            journal: None,
            max_concurrency: 4,
            max_artifact_size: None,
            testing: None,
            shutdown: None,
            margin_blocks: 2,
            checkpoint_every: 10,
        }
    }

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
        let scanner = Arc::clone(&self.scanner);
        scanner.setup().await.map_err(EngineError::Setup)?;
        let result = self.run_engine().await;
        if let Err(e) = scanner.teardown().await {
            tracing::warn!(error = %e, "scanner teardown failed");
        }
        result
    }

    async fn run_engine(self) -> Result<EngineReport, EngineError> {
        let status = self.client.status().await?;
        let parameters = self.client.parameters().await?;
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
        });
        let since = journal.checkpoint().unwrap_or(status.block);
        let mut rt = Runtime::new(
            ctx,
            journal,
            Settings {
                strategy: Arc::clone(&self.strategy),
                filters: self.filters.clone(),
                bounds: BidBounds {
                    minimum: p.assertion_bid_minimum,
                    maximum: p.assertion_bid_maximum,
                },
                assertion_fee: p.assertion_fee,
                testing: self.testing,
                margin_blocks: self.margin_blocks,
                checkpoint_every: self.checkpoint_every,
            },
            status.block,
            since,
        );
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
        while !rt.done() {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => {
                    tracing::info!("microengine shutting down");
                    break;
                }
                Some(joined) = rt.tasks.join_next_with_id(), if !rt.tasks.is_empty() => {
                    rt.on_joined(joined).await?;
                }
                event = events.next() => rt.on_event(event).await?,
            }
        }
        rt.finish()
    }
}

/// What every task needs.
struct Ctx {
    dispatch: Arc<dyn DynDispatch>,
    client: NodeClient,
    key: PrivateKey,
    address: Address,
    community: String,
    block_time: Duration,
}

/// The runtime's fixed choices.
struct Settings {
    strategy: Arc<dyn BidStrategy>,
    filters: Filters,
    bounds: BidBounds,
    assertion_fee: Amount,
    testing: Option<u64>,
    margin_blocks: u64,
    checkpoint_every: u64,
}

/// Work in progress on a journaled bounty (not persisted).
#[derive(Clone, Copy, Debug, Default)]
struct Flight {
    submitting: bool,
    revealing: bool,
    reveal_given_up: bool,
    reconciling: bool,
    next_reconcile: u64,
}

/// What happened to one artifact of a bounty.
#[derive(Debug)]
enum ArtifactOutcome {
    Filtered,
    Scanned(Box<ScanResult>),
    Failed { kind: ScanFailure, detail: String },
}

/// A finished task.
enum TaskOutcome {
    Scanned {
        bounty: Box<BountyPosted>,
        outcomes: Vec<ArtifactOutcome>,
        downloads: u64,
    },
    Submitted {
        guid: Guid,
        result: Result<Submitted, ClientError>,
    },
    Revealed {
        guid: Guid,
        result: Result<Submitted, ClientError>,
    },
    Reconciled {
        guid: Guid,
        result: Box<Result<Option<Bounty>, ClientError>>,
    },
}

#[derive(Clone, Copy, Debug)]
enum TaskKind {
    Scan,
    Submit,
    Reveal,
    Reconcile,
}

/// The engine's state and event handlers.
struct Runtime {
    ctx: Arc<Ctx>,
    settings: Settings,
    journal: Journal,
    flight: HashMap<Guid, Flight>,
    /// Bounties being downloaded and scanned, with the block that posted them.
    scanning: HashMap<Guid, u64>,
    tasks: JoinSet<TaskOutcome>,
    task_ids: HashMap<tokio::task::Id, (Guid, TaskKind)>,
    report: EngineReport,
    /// Highest block known to be committed.
    tip: u64,
    /// The tip when the engine started: older bounties replayed from the
    /// journal's checkpoint are not counted when they are already too late.
    start_tip: u64,
    /// Block of the last event handled.
    stream_block: u64,
    last_checkpoint: Option<u64>,
    /// Bounties taken on (for `testing`), those resumed included.
    taken: u64,
}

fn transient(e: &ClientError) -> bool {
    match e {
        ClientError::Api { status, .. } => *status >= 500 || *status == 429,
        ClientError::Transport { .. } | ClientError::Decode { .. } => true,
        _ => false,
    }
}

/// A random non-zero 256-bit nonce.
fn random_nonce() -> H256 {
    let mut rng = rand::thread_rng();
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        if bytes != [0; 32] {
            return H256(bytes);
        }
    }
}

/// Reveal metadata that fits the node's limit: the full metadata, else only
/// the malware families, else nothing per artifact.
fn fit_metadata(items: Vec<Value>) -> Value {
    let fits =
        |v: &Value| serde_json::to_vec(v).is_ok_and(|b| b.len() <= MAX_REVEAL_METADATA_BYTES);
    let full = Value::Array(items);
    if fits(&full) {
        return full;
    }
    let Value::Array(items) = full else {
        return Value::Null;
    };
    let families = Value::Array(
        items
            .iter()
            .map(|m| match m {
                Value::Null => Value::Null,
                m => serde_json::json!({
                    "malware_family": m.get("malware_family").cloned().unwrap_or(Value::String(String::new()))
                }),
            })
            .collect(),
    );
    if fits(&families) {
        return families;
    }
    Value::Array(items.iter().map(|_| Value::Null).collect())
}

impl Runtime {
    fn new(ctx: Arc<Ctx>, journal: Journal, settings: Settings, tip: u64, since: u64) -> Self {
        let last_checkpoint = journal.checkpoint();
        let resumed = journal.entries().len() as u64;
        Runtime {
            ctx,
            settings,
            journal,
            flight: HashMap::new(),
            scanning: HashMap::new(),
            tasks: JoinSet::new(),
            task_ids: HashMap::new(),
            report: EngineReport {
                resumed,
                ..Default::default()
            },
            tip,
            start_tip: tip,
            stream_block: since,
            last_checkpoint,
            // Bounties resumed from the journal count towards `testing`.
            taken: resumed,
        }
    }

    fn spawn(
        &mut self,
        guid: Guid,
        kind: TaskKind,
        task: impl std::future::Future<Output = TaskOutcome> + Send + 'static,
    ) {
        let handle = self.tasks.spawn(task);
        self.task_ids.insert(handle.id(), (guid, kind));
    }

    /// Whether a `testing` run is over.
    fn done(&self) -> bool {
        self.settings.testing.is_some_and(|n| self.taken >= n)
            && self.scanning.is_empty()
            && self.journal.entries().is_empty()
    }

    /// The block from which a restart must replay events: nothing before it
    /// is still unhandled.
    fn safe_block(&self) -> u64 {
        self.scanning
            .values()
            .copied()
            .fold(self.stream_block, u64::min)
    }

    fn maybe_checkpoint(&mut self) -> Result<(), JournalError> {
        let safe = self.safe_block();
        let due = match self.last_checkpoint {
            None => true,
            Some(last) => safe >= last.saturating_add(self.settings.checkpoint_every),
        };
        if due {
            self.journal.append(Record::Checkpoint { block: safe })?;
            self.last_checkpoint = Some(safe);
        }
        Ok(())
    }

    /// Writes a last checkpoint and hands the report over.
    fn finish(mut self) -> Result<EngineReport, EngineError> {
        self.tasks.abort_all();
        let safe = self.safe_block();
        if self.last_checkpoint != Some(safe) {
            self.journal.append(Record::Checkpoint { block: safe })?;
        }
        tracing::info!(report = ?self.report, "microengine stopped");
        Ok(self.report)
    }

    /// Startup: checks every journaled bounty against the node.
    async fn reconcile_all(&mut self) -> Result<(), EngineError> {
        let guids: Vec<Guid> = self.journal.entries().keys().copied().collect();
        let client = &self.ctx.client;
        let answers = futures_util::future::join_all(guids.iter().map(|g| client.bounty(g))).await;
        for (guid, result) in guids.into_iter().zip(answers) {
            self.on_reconciled(guid, result)?;
        }
        self.check_due();
        Ok(())
    }

    async fn on_joined(
        &mut self,
        joined: Result<(tokio::task::Id, TaskOutcome), tokio::task::JoinError>,
    ) -> Result<(), EngineError> {
        match joined {
            Ok((id, outcome)) => {
                self.task_ids.remove(&id);
                self.on_outcome(outcome).await
            }
            Err(e) => {
                // Our own task failed (it should not): undo its bookkeeping
                // so nothing waits for it forever.
                let known = self.task_ids.remove(&e.id());
                tracing::error!(error = %e, task = ?known, "microengine task failed");
                self.report.error("internal");
                if let Some((guid, kind)) = known {
                    match kind {
                        TaskKind::Scan => {
                            self.scanning.remove(&guid);
                            self.report.bounties_skipped += 1;
                        }
                        TaskKind::Submit => {
                            if let Some(f) = self.flight.get_mut(&guid) {
                                f.submitting = false;
                            }
                            self.spawn_reconcile(guid);
                        }
                        TaskKind::Reveal => {
                            if let Some(f) = self.flight.get_mut(&guid) {
                                f.revealing = false;
                            }
                        }
                        TaskKind::Reconcile => {
                            if let Some(f) = self.flight.get_mut(&guid) {
                                f.reconciling = false;
                            }
                        }
                    }
                }
                Ok(())
            }
        }
    }

    async fn on_outcome(&mut self, outcome: TaskOutcome) -> Result<(), EngineError> {
        match outcome {
            TaskOutcome::Scanned {
                bounty,
                outcomes,
                downloads,
            } => self.on_scanned(*bounty, outcomes, downloads).await?,
            TaskOutcome::Submitted { guid, result } => {
                self.on_submitted(guid, result)?;
                self.forget_if_done(&guid);
            }
            TaskOutcome::Revealed { guid, result } => {
                self.on_revealed(guid, result)?;
                self.forget_if_done(&guid);
            }
            TaskOutcome::Reconciled { guid, result } => {
                if let Some(f) = self.flight.get_mut(&guid) {
                    f.reconciling = false;
                }
                self.on_reconciled(guid, *result)?;
                self.forget_if_done(&guid);
                self.check_due();
            }
        }
        self.maybe_checkpoint()?;
        Ok(())
    }

    /// Drops the work-in-progress state of a bounty no longer journaled.
    fn forget_if_done(&mut self, guid: &Guid) {
        if self.journal.entry(guid).is_none() {
            self.flight.remove(guid);
        }
    }

    async fn on_event(&mut self, event: NodeEvent) -> Result<(), EngineError> {
        self.stream_block = self.stream_block.max(event.block_number);
        self.tip = self.tip.max(event.block_number);
        match event.event {
            Event::Block { number } => {
                self.tip = self.tip.max(number);
                self.check_due();
            }
            Event::Bounty(bounty) => self.on_bounty(bounty, event.block_number),
            Event::SettledBounty(settled) => self.on_settled(&settled)?,
            Event::FeeUpdate { assertion_fee, .. } => {
                self.settings.assertion_fee = assertion_fee;
            }
            _ => {}
        }
        self.maybe_checkpoint()?;
        Ok(())
    }

    fn skip(&mut self, guid: &Guid, kind: Option<&str>, why: &str) {
        self.report.bounties_skipped += 1;
        if let Some(kind) = kind {
            self.report.error(kind);
        }
        tracing::info!(bounty = %guid, "no assertion: {why}");
    }

    fn on_bounty(&mut self, bounty: BountyPosted, block: u64) {
        let guid = bounty.guid;
        if self.journal.entry(&guid).is_some() || self.scanning.contains_key(&guid) {
            return;
        }
        if let Some(n) = self.settings.testing {
            if self.taken >= n {
                tracing::debug!(bounty = %guid, "testing: bounty limit reached; ignored");
                return;
            }
        }
        // The open block (tip + 1) must be before the expiration when the
        // assertion arrives, with the safety margin to spare.
        let blocks_left = bounty.expiration.saturating_sub(self.tip.saturating_add(1));
        let usable = blocks_left.saturating_sub(self.settings.margin_blocks);
        if usable == 0 && block < self.start_tip {
            tracing::debug!(bounty = %guid, "replayed bounty already past its assertion round");
            return;
        }
        self.taken += 1;
        self.report.bounties_seen += 1;
        if usable == 0 {
            self.skip(&guid, Some("too_late"), "too close to its expiration");
            return;
        }
        let n = bounty.num_artifacts as usize;
        let allowed = self.settings.filters.allowed(n, bounty.metadata.as_deref());
        let filtered = allowed.iter().filter(|a| !**a).count() as u64;
        self.report.artifacts_filtered += filtered;
        if n == 0 || filtered == n as u64 {
            self.skip(&guid, None, "the filters reject every artifact");
            return;
        }
        let budget = self
            .ctx
            .block_time
            .saturating_mul(u32::try_from(usable).unwrap_or(u32::MAX));
        let now = Instant::now();
        let deadline = now
            .checked_add(budget)
            .unwrap_or_else(|| now + Duration::from_secs(86_400));
        tracing::debug!(bounty = %guid, artifacts = n, filtered, ?deadline, "scanning bounty");
        self.scanning.insert(guid, block);
        let ctx = Arc::clone(&self.ctx);
        self.spawn(
            guid,
            TaskKind::Scan,
            scan_bounty(ctx, bounty, allowed, deadline),
        );
    }

    async fn on_scanned(
        &mut self,
        bounty: BountyPosted,
        outcomes: Vec<ArtifactOutcome>,
        downloads: u64,
    ) -> Result<(), EngineError> {
        let guid = bounty.guid;
        self.report.artifacts_downloaded += downloads;
        let mut mask = Bits256::EMPTY;
        let mut verdicts = Bits256::EMPTY;
        let mut bids = Vec::new();
        let mut metadata = Vec::with_capacity(outcomes.len());
        for (i, outcome) in outcomes.iter().enumerate() {
            match outcome {
                ArtifactOutcome::Scanned(result) if result.verdict.asserts() && i < 256 => {
                    mask.set(i, true);
                    verdicts.set(i, result.verdict.is_malicious());
                    bids.push(bid_within(
                        self.settings.strategy.as_ref(),
                        &self.settings.bounds,
                        result.clamped_confidence(),
                    ));
                    metadata.push(serde_json::to_value(&result.metadata).unwrap_or(Value::Null));
                }
                ArtifactOutcome::Failed { kind, detail } => {
                    self.report.error(kind.code());
                    tracing::warn!(bounty = %guid, artifact = i, kind = kind.code(), %detail,
                        "artifact not asserted on");
                    metadata.push(Value::Null);
                }
                _ => metadata.push(Value::Null),
            }
        }
        let result = self
            .commit(&bounty, mask, verdicts, bids, fit_metadata(metadata))
            .await;
        self.scanning.remove(&guid);
        result
    }

    /// Journals an assertion and sends it, unless there is nothing to
    /// assert, it is too late, or the NCT is not there.
    async fn commit(
        &mut self,
        bounty: &BountyPosted,
        mask: Bits256,
        verdicts: Bits256,
        bids: Vec<Amount>,
        metadata: Value,
    ) -> Result<(), EngineError> {
        let guid = bounty.guid;
        if mask.is_empty() {
            self.skip(&guid, None, "no artifact has a malicious or benign verdict");
            return Ok(());
        }
        if self.tip.saturating_add(1) >= bounty.expiration {
            self.skip(
                &guid,
                Some("too_late"),
                "the assertion round ended during the scan",
            );
            return Ok(());
        }
        let fee = self.settings.assertion_fee;
        let cost = bids
            .iter()
            .copied()
            .sum::<Amount>()
            .checked_add(fee)
            .unwrap_or(Amount::from_wei(u128::MAX));
        let balance = match self.ctx.client.balance(&self.ctx.address).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(bounty = %guid, error = %e, "cannot read the balance");
                self.skip(&guid, Some("balance_unavailable"), "balance unknown");
                return Ok(());
            }
        };
        // Assertions sent but not yet included are not in the balance yet.
        let in_flight: Amount = self
            .journal
            .entries()
            .values()
            .filter(|e| !e.asserted)
            .map(|e| e.assertion.cost())
            .sum();
        let available = balance.saturating_sub(in_flight);
        if available < cost {
            tracing::warn!(bounty = %guid, %balance, %in_flight, %cost,
                "not enough NCT to assert");
            self.skip(&guid, Some("insufficient_balance"), "not enough NCT");
            return Ok(());
        }
        let nonce = random_nonce();
        let committed = CommittedAssertion {
            guid,
            nonce,
            verdicts,
            mask,
            bids,
            fee,
            commitment: commitment(&verdicts, &nonce, &self.ctx.address),
            metadata,
            expiration: bounty.expiration,
            reveal_deadline: bounty.reveal_deadline,
            vote_deadline: bounty.vote_deadline,
        };
        // Durable before the node hears of it.
        self.journal.append(Record::Committed(committed.clone()))?;
        tracing::info!(bounty = %guid, mask = %mask, verdicts = %verdicts,
            bids = ?committed.bids.iter().map(|b| b.to_nct_string()).collect::<Vec<_>>(),
            "assertion journaled; submitting");
        self.spawn_submit(&committed);
        Ok(())
    }

    fn spawn_submit(&mut self, committed: &CommittedAssertion) {
        let guid = committed.guid;
        self.flight.entry(guid).or_default().submitting = true;
        let assert = Assert {
            bounty_guid: guid,
            mask: committed.mask,
            bids: committed.bids.clone(),
            commitment: committed.commitment,
        };
        let expiration = committed.expiration;
        let ctx = Arc::clone(&self.ctx);
        self.spawn(guid, TaskKind::Submit, async move {
            let result = submit_assert(&ctx, assert, expiration).await;
            TaskOutcome::Submitted { guid, result }
        });
    }

    fn spawn_reconcile(&mut self, guid: Guid) {
        let f = self.flight.entry(guid).or_default();
        if f.reconciling {
            return;
        }
        f.reconciling = true;
        let ctx = Arc::clone(&self.ctx);
        self.spawn(guid, TaskKind::Reconcile, async move {
            let result = ctx.client.bounty(&guid).await;
            TaskOutcome::Reconciled {
                guid,
                result: Box::new(result),
            }
        });
    }

    fn drop_entry(&mut self, guid: Guid, reason: &str) -> Result<(), JournalError> {
        tracing::warn!(bounty = %guid, reason, "assertion abandoned; nothing at stake");
        self.journal.append(Record::Dropped {
            guid,
            reason: reason.to_owned(),
        })?;
        self.flight.remove(&guid);
        self.report.bounties_skipped += 1;
        Ok(())
    }

    fn on_submitted(
        &mut self,
        guid: Guid,
        result: Result<Submitted, ClientError>,
    ) -> Result<(), EngineError> {
        if let Some(f) = self.flight.get_mut(&guid) {
            f.submitting = false;
        }
        let Some(entry) = self.journal.entry(&guid) else {
            return Ok(());
        };
        let artifacts = entry.assertion.mask.count() as u64;
        match result {
            Ok(s) => {
                tracing::info!(bounty = %guid, tx = %s.hash, block = s.block_number,
                    artifacts, "asserted");
                self.journal.append(Record::Asserted {
                    guid,
                    txhash: Some(s.hash),
                })?;
                self.report.assertions += 1;
                self.report.artifacts_asserted += artifacts;
            }
            Err(e) if e.code() == Some("duplicate_assertion") => {
                // A previous run's submission made it after all.
                tracing::info!(bounty = %guid, "assertion already on the node");
                self.journal
                    .append(Record::Asserted { guid, txhash: None })?;
            }
            Err(e) if e.code() == Some("replayed") => {
                // This very transaction was included: the connection broke
                // after the node took it, and the client's retry of the same
                // signed bytes was refused as a replay. It counts as
                // asserted; dropping it would leave a stake never revealed.
                tracing::info!(bounty = %guid, "assertion included (its answer was lost)");
                self.journal
                    .append(Record::Asserted { guid, txhash: None })?;
                self.report.assertions += 1;
                self.report.artifacts_asserted += artifacts;
            }
            Err(e) if transient(&e) => {
                tracing::warn!(bounty = %guid, error = %e,
                    "assertion submission failed; checking the node");
                self.report.error("assert_unconfirmed");
                self.spawn_reconcile(guid);
            }
            Err(e) => {
                self.report.error("assert_rejected");
                self.drop_entry(guid, &format!("the node refused the assertion: {e}"))?;
            }
        }
        Ok(())
    }

    /// Reveals whatever is due; looks up bounties that should have settled.
    fn check_due(&mut self) {
        let tip = self.tip;
        let mut reveal = Vec::new();
        let mut reconcile = Vec::new();
        for (guid, entry) in self.journal.entries() {
            let f = self.flight.entry(*guid).or_default();
            let a = &entry.assertion;
            if !entry.revealed && !f.reveal_given_up {
                // A reveal still in flight may have made it in time: its
                // answer decides.
                if tip >= a.reveal_deadline && !f.revealing {
                    f.reveal_given_up = true;
                    self.report.error("reveal_missed");
                    tracing::warn!(bounty = %guid, "reveal window passed without a reveal");
                } else if tip >= a.expiration && !f.revealing && !f.submitting {
                    f.revealing = true;
                    reveal.push(Reveal {
                        bounty_guid: *guid,
                        nonce: a.nonce,
                        verdicts: a.verdicts,
                        metadata: a.metadata.clone(),
                    });
                }
            }
            // Settlement comes at the vote deadline at the latest; if its
            // event did not reach us, ask.
            if tip >= a.vote_deadline.saturating_add(3) && !f.reconciling && tip >= f.next_reconcile
            {
                f.next_reconcile = tip.saturating_add(20);
                reconcile.push(*guid);
            }
        }
        for r in reveal {
            let guid = r.bounty_guid;
            let ctx = Arc::clone(&self.ctx);
            self.spawn(guid, TaskKind::Reveal, async move {
                let result = ctx.client.send(&ctx.key, &ctx.community, r, true).await;
                TaskOutcome::Revealed { guid, result }
            });
        }
        for guid in reconcile {
            self.spawn_reconcile(guid);
        }
    }

    fn on_revealed(
        &mut self,
        guid: Guid,
        result: Result<Submitted, ClientError>,
    ) -> Result<(), EngineError> {
        if let Some(f) = self.flight.get_mut(&guid) {
            f.revealing = false;
        }
        if self.journal.entry(&guid).is_none() {
            return Ok(());
        }
        match result {
            Ok(s) => {
                tracing::info!(bounty = %guid, tx = %s.hash, block = s.block_number, "revealed");
                self.journal.append(Record::Revealed { guid })?;
                self.report.reveals += 1;
            }
            Err(e) if e.code() == Some("already_revealed") => {
                tracing::info!(bounty = %guid, "reveal already on the node");
                self.journal.append(Record::Revealed { guid })?;
            }
            Err(e) if e.code() == Some("replayed") => {
                // The retry of a reveal whose answer was lost: it is in.
                tracing::info!(bounty = %guid, "revealed (its answer was lost)");
                self.journal.append(Record::Revealed { guid })?;
                self.report.reveals += 1;
            }
            Err(e) if e.code() == Some("no_assertion") => {
                self.drop_entry(guid, "the assertion never reached the node")?;
            }
            Err(e) if e.code() == Some("wrong_round") || transient(&e) => {
                // Tried the next block again, until the window closes.
                self.report.error("reveal_retry");
                tracing::warn!(bounty = %guid, error = %e, "reveal failed; retrying");
            }
            Err(e) => {
                self.report.error("reveal_rejected");
                tracing::error!(bounty = %guid, error = %e, "the node refused the reveal");
                if let Some(f) = self.flight.get_mut(&guid) {
                    f.reveal_given_up = true;
                }
            }
        }
        Ok(())
    }

    fn on_settled(&mut self, settled: &BountySettled) -> Result<(), JournalError> {
        let guid = settled.bounty_guid;
        let Some(entry) = self.journal.entry(&guid) else {
            return Ok(());
        };
        let cost = if entry.asserted {
            entry.assertion.cost()
        } else {
            Amount::ZERO
        };
        let payout: Amount = settled
            .payouts
            .iter()
            .filter(|p| p.account == self.ctx.address && p.role == PayoutRole::Expert)
            .map(|p| p.amount)
            .sum();
        self.journal.append(Record::Settled { guid, payout })?;
        self.flight.remove(&guid);
        self.report.settled += 1;
        self.report.payouts = self
            .report
            .payouts
            .checked_add(payout)
            .unwrap_or(self.report.payouts);
        self.report.stakes_and_fees = self
            .report
            .stakes_and_fees
            .checked_add(cost)
            .unwrap_or(self.report.stakes_and_fees);
        tracing::info!(bounty = %guid, payout = %payout, staked = %cost, "settled");
        Ok(())
    }

    /// Brings a journaled bounty in line with what the node says about it.
    fn on_reconciled(
        &mut self,
        guid: Guid,
        result: Result<Option<Bounty>, ClientError>,
    ) -> Result<(), JournalError> {
        let Some(entry) = self.journal.entry(&guid).cloned() else {
            return Ok(());
        };
        let bounty = match result {
            Ok(Some(b)) => b,
            Ok(None) => return self.drop_entry(guid, "the node does not know the bounty"),
            Err(e) => {
                // Try again later (next check of due work).
                tracing::warn!(bounty = %guid, error = %e, "cannot look the bounty up");
                self.report.error("reconcile");
                let tip = self.tip;
                let f = self.flight.entry(guid).or_default();
                f.next_reconcile = tip.saturating_add(5);
                if !entry.asserted && !f.submitting {
                    // Without an answer, assume it still needs sending: a
                    // duplicate is refused by the node.
                    if tip.saturating_add(1) < entry.assertion.expiration {
                        self.spawn_submit(&entry.assertion);
                    }
                }
                return Ok(());
            }
        };
        if let Some(settlement) = &bounty.settlement {
            return self.on_settled(&settlement.outcome);
        }
        match bounty.assertion_of(&self.ctx.address) {
            Some((_, assertion)) => {
                if assertion.commitment != entry.assertion.commitment {
                    tracing::error!(bounty = %guid,
                        "the node holds an assertion by this key with another commitment; \
                         it cannot be revealed from this journal");
                    self.report.error("foreign_assertion");
                    self.flight.entry(guid).or_default().reveal_given_up = true;
                }
                if !entry.asserted {
                    tracing::info!(bounty = %guid, "assertion found on the node");
                    self.journal
                        .append(Record::Asserted { guid, txhash: None })?;
                }
                if assertion.revealed.is_some() && !entry.revealed {
                    self.journal.append(Record::Revealed { guid })?;
                }
            }
            None => {
                let open_block = self.tip.saturating_add(1);
                if open_block < bounty.expiration {
                    if !self.flight.get(&guid).is_some_and(|f| f.submitting) {
                        tracing::info!(bounty = %guid,
                            "journaled assertion not on the node; resubmitting it unchanged");
                        self.spawn_submit(&entry.assertion);
                    }
                } else if !self.flight.get(&guid).is_some_and(|f| f.submitting) {
                    self.drop_entry(
                        guid,
                        "the assertion never reached the node and its round is over",
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// Sends `bounty:Assert` and waits for inclusion; retries transient
/// failures while round 0 is open.
async fn submit_assert(
    ctx: &Ctx,
    assert: Assert,
    expiration: u64,
) -> Result<Submitted, ClientError> {
    loop {
        match ctx
            .client
            .send(&ctx.key, &ctx.community, assert.clone(), true)
            .await
        {
            Err(e) if transient(&e) => match ctx.client.status().await {
                Ok(s) if s.block.saturating_add(1) < expiration => {
                    tracing::debug!(bounty = %assert.bounty_guid, error = %e, "retrying assertion");
                    tokio::time::sleep(ctx.block_time).await;
                }
                _ => return Err(e),
            },
            other => return other,
        }
    }
}

/// Scans a bounty's allowed artifacts through the dispatch, concurrently,
/// by `deadline`.
async fn scan_bounty(
    ctx: Arc<Ctx>,
    bounty: BountyPosted,
    allowed: Vec<bool>,
    deadline: Instant,
) -> TaskOutcome {
    let kind = match bounty.artifact_type {
        ArtifactType::File => ArtifactKind::File,
        ArtifactType::Url => ArtifactKind::Url,
    };
    let work = allowed.iter().enumerate().map(|(index, allowed)| {
        let ctx = Arc::clone(&ctx);
        let bounty = &bounty;
        async move {
            if !*allowed {
                return (ArtifactOutcome::Filtered, false);
            }
            let job = ScanJob {
                bounty_guid: bounty.guid,
                uri: bounty.uri.clone(),
                index,
                kind,
                metadata: bounty
                    .metadata
                    .as_ref()
                    .and_then(|m| m.get(index))
                    .cloned()
                    .unwrap_or_default(),
                deadline,
            };
            let outcome = ctx.dispatch.scan_boxed(job).await;
            let artifact = match outcome.result {
                Ok(result) => ArtifactOutcome::Scanned(Box::new(result)),
                Err((kind, detail)) => ArtifactOutcome::Failed { kind, detail },
            };
            (artifact, outcome.downloaded)
        }
    });
    let results = futures_util::future::join_all(work).await;
    let downloads = results.iter().filter(|(_, d)| *d).count() as u64;
    TaskOutcome::Scanned {
        outcomes: results.into_iter().map(|(o, _)| o).collect(),
        downloads,
        bounty: Box::new(bounty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scanner::{Artifact, ScanError};
    use swarm_protocol::Payout;

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
        });
        let settings = Settings {
            strategy: Arc::new(Multiplier::DEFAULT),
            filters: Filters::default(),
            bounds: BidBounds {
                minimum: Amount::parse_nct("0.0625").unwrap(),
                maximum: Amount::from_nct(1),
            },
            assertion_fee: Amount::parse_nct("0.03125").unwrap(),
            testing: None,
            margin_blocks: 2,
            checkpoint_every: 10,
        };
        Runtime::new(ctx, journal, settings, 1, 1)
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
            rt.flight.entry(guid).or_default();
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
            rt.on_event(event).await.unwrap();
        }
        assert!(rt.journal.entries().is_empty());
        assert!(rt.flight.is_empty());
        assert!(rt.scanning.is_empty());
        assert_eq!(rt.report.settled, n as u64);
        assert_eq!(rt.report.payouts, Amount::from_nct(3 * n));
        let cost = committed(0).cost().wei() * n;
        assert_eq!(rt.report.stakes_and_fees.wei(), cost);
        assert_eq!(
            rt.report.net_wei(),
            (3 * n * swarm_protocol::WEI_PER_NCT) as i128 - cost as i128
        );
        // The journal file was compacted along the way and stays small.
        assert!(rt.journal.compactions() > 0);
        assert!(rt.journal.lines() < 40, "lines {}", rt.journal.lines());
        // A settlement for a bounty the engine never asserted on is ignored.
        rt.on_settled(&BountySettled {
            bounty_guid: Guid::from_u128(999_999),
            consensus: None,
            payouts: vec![],
            treasury: Amount::ZERO,
        })
        .unwrap();
        assert_eq!(rt.report.settled, n as u64);
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
        rt.on_submitted(guid, Err(replayed())).unwrap();
        let entry = rt.journal.entry(&guid).expect("still journaled");
        assert!(entry.asserted && !entry.revealed);
        assert_eq!((rt.report.assertions, rt.report.artifacts_asserted), (1, 2));
        assert!(rt.report.errors.is_empty(), "{:?}", rt.report.errors);

        rt.flight.entry(guid).or_default().revealing = true;
        rt.on_revealed(guid, Err(replayed())).unwrap();
        assert!(rt.journal.entry(&guid).unwrap().revealed);
        assert_eq!(rt.report.reveals, 1);
        assert!(rt.report.errors.is_empty(), "{:?}", rt.report.errors);
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
        rt.flight.entry(guid).or_default().revealing = true;
        rt.tip = deadline;
        rt.check_due();
        assert_eq!(rt.report.errors_of("reveal_missed"), 0);
        rt.on_revealed(
            guid,
            Ok(Submitted {
                hash: H256([3; 32]),
                status: crate::TxStatus::Included,
                block_number: deadline - 1,
            }),
        )
        .unwrap();
        assert_eq!(rt.report.reveals, 1);
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
        rt.check_due();
        assert_eq!(rt.report.errors_of("reveal_missed"), 1);
    }

    #[test]
    fn oversized_metadata_is_trimmed() {
        let small = vec![serde_json::json!({"malware_family": "a"}), Value::Null];
        assert_eq!(fit_metadata(small.clone()), Value::Array(small));
        let big = "x".repeat(MAX_REVEAL_METADATA_BYTES);
        let trimmed = fit_metadata(vec![
            serde_json::json!({"malware_family": "a", "domains": [big]}),
            Value::Null,
        ]);
        assert_eq!(trimmed, serde_json::json!([{"malware_family": "a"}, null]));
        let huge = fit_metadata(vec![serde_json::json!({"malware_family": big})]);
        assert_eq!(huge, serde_json::json!([null]));
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
