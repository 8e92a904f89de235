//! Starting and stopping a node: open the store, rebuild the state, take the
//! sequencer lock or follow, serve the API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use swarm_protocol::{Genesis, GenesisError, Registry};

use crate::api::{self, AppState};
use crate::artifacts::{
    ArtifactError, ArtifactLimits, ArtifactStore, BlobError, BlobStore, S3Blobs, S3Config,
};
use crate::chain::{BlockHeader, CommittedBlock};
use crate::limits::connections::Budget;
use crate::metrics::Metrics;
use crate::sequencer::{self, ChainView, Sequencer, SequencerConfig};
use crate::store::{SqlStore, Store, StoreError};

/// How to run a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Where the SQLite database and the artifacts live.
    pub data_dir: PathBuf,
    /// `postgres://...` to use PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The genesis, for a new database. An existing database keeps its own
    /// and refuses a different one.
    pub genesis: Genesis,
    /// Overrides the genesis block time.
    pub block_time: Option<Duration>,
    /// A state snapshot is stored every this many blocks.
    pub snapshot_every: u64,
    /// ... and once this many transactions were applied since the last
    /// one: a restart verifies and applies every transaction since the
    /// latest snapshot, so this bounds it whatever the blocks hold.
    pub snapshot_after_transactions: usize,
    /// Artifact size and count limits.
    pub artifact_limits: ArtifactLimits,
    /// Where artifact bytes are kept: `data_dir/artifacts`, or an object
    /// store that several nodes may share.
    pub artifacts: ArtifactBackend,
    /// The URL other nodes use to forward submissions to this one when it
    /// is the sequencer. Defaults to `http://<listen address>`.
    pub public_url: Option<String>,
    /// Artifact bundles that no bounty references are deleted after this long.
    pub artifact_ttl: Duration,
    /// What one client may take: rates, quotas, connections, timeouts.
    pub limits: crate::limits::Limits,
}

/// Transactions after which a snapshot is stored, whatever the block
/// number: about 1.5 s of signature recovery on one core when a restart
/// replays them. Blocks of a loaded node hold thousands of transactions,
/// and 1,000 such blocks since a snapshot made a restart take 41 s.
pub(crate) const SNAPSHOT_AFTER_TRANSACTIONS: usize = 50_000;

impl NodeConfig {
    /// A configuration with defaults: `./.swarm`, SQLite, 127.0.0.1:31337.
    pub fn new(genesis: Genesis) -> Self {
        NodeConfig {
            data_dir: PathBuf::from(".swarm"),
            database_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 31337)),
            genesis,
            block_time: None,
            snapshot_every: 1000,
            snapshot_after_transactions: SNAPSHOT_AFTER_TRANSACTIONS,
            artifact_limits: ArtifactLimits::default(),
            artifacts: ArtifactBackend::Local,
            public_url: None,
            artifact_ttl: Duration::from_secs(3600),
            limits: crate::limits::Limits::default(),
        }
    }
}

/// Where a node keeps artifact bytes. Uploads in progress are staged in
/// `data_dir/artifacts/tmp` either way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ArtifactBackend {
    /// The local directory `data_dir/artifacts` (the default).
    #[default]
    Local,
    /// An S3-compatible object store: nodes sharing a database and a bucket
    /// serve the same artifacts.
    S3(S3Config),
}

/// Why a node cannot start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The genesis is invalid.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// The artifact store failed.
    #[error(transparent)]
    Artifacts(#[from] ArtifactError),
    /// The object store of the artifacts cannot be used (no such bucket,
    /// unreachable, refused).
    #[error("cannot use the artifact store {url}: {source}")]
    ObjectStore {
        /// `s3://bucket/prefix`.
        url: String,
        /// What failed.
        source: BlobError,
    },
    /// Binding the listener or serving failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A background task died.
    #[error("node task failed: {0}")]
    Task(String),
}

/// A running node.
#[derive(Debug)]
pub struct RunningNode {
    addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<Result<(), NodeError>>>,
    state: AppState,
}

impl RunningNode {
    /// The address the API listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared state (for tests and embedding).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A token that stops the node when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops gracefully: the block in progress is sealed and committed.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the node stops (after [`RunningNode::shutdown_token`] is
    /// cancelled, or a task fails).
    pub async fn wait(self) -> Result<(), NodeError> {
        let mut first_error = None;
        for task in self.tasks {
            let result = match task.await {
                Ok(r) => r,
                Err(e) => Err(NodeError::Task(e.to_string())),
            };
            if let Err(e) = result {
                self.shutdown.cancel();
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Store reads that replaying event streams may run at once: half the
/// smallest pool (SQLite's 4 connections), the rest left to block commits
/// and the API.
const REPLAY_READS: usize = 2;

/// Rebuilds the committed state: the latest snapshot (or genesis) plus
/// every block after it. A snapshot that cannot be read is passed over
/// (with a warning): the state is then rebuilt from the first block.
///
/// Bounties that settle during the replay are handed out as the sequencer
/// hands them out, so the rebuilt registry holds exactly what it held; the
/// store normally has their records already (each block's commit wrote
/// them), and any it lacks — a database written before settled bounties
/// had a table — are filled in.
pub async fn load_state(
    store: &dyn Store,
    genesis: &Genesis,
) -> Result<(Registry, Option<BlockHeader>), NodeError> {
    let snapshot = match store.latest_snapshot().await? {
        Some((block, bytes)) => match serde_json::from_slice::<Registry>(&bytes) {
            Ok(registry) => Some((registry, block)),
            // A snapshot is only a shortcut: the blocks are the state. One
            // that cannot be read (written by an older node, or holding
            // what this one cannot decode) must never keep a node down.
            Err(e) => {
                tracing::warn!(
                    block,
                    error = %e,
                    "the state snapshot cannot be read; rebuilding the state from every block"
                );
                None
            }
        },
        None => None,
    };
    let (mut registry, mut after) = match snapshot {
        Some(found) => found,
        None => (Registry::new(genesis)?, 0),
    };
    let mut tip = match after {
        0 => None,
        n => store.block(n).await?.map(|b| b.header),
    };
    loop {
        // A few blocks at a time: a batch holds every transaction and event
        // of its blocks, and the memory of a start must not depend on how
        // full the blocks since the snapshot were.
        let blocks = store.blocks_after(after, REPLAY_BATCH).await?;
        if blocks.is_empty() {
            break;
        }
        let mut settled = registry.take_settled();
        for block in &blocks {
            let verified = sequencer::verify_stored(block)?;
            sequencer::apply_block(&mut registry, &block.header, &verified)?;
            settled.extend(registry.take_settled());
            after = block.header.number;
            tip = Some(block.header.clone());
        }
        let missing = missing_settled(store, settled).await?;
        if !missing.is_empty() {
            store.put_settled(&missing).await?;
        }
    }
    Ok((registry, tip))
}

/// Blocks read per store query while rebuilding the state.
const REPLAY_BATCH: u32 = 16;

/// Of `settled`, those the store does not have yet.
async fn missing_settled(
    store: &dyn Store,
    settled: Vec<swarm_protocol::SettledBounty>,
) -> Result<Vec<swarm_protocol::SettledBounty>, NodeError> {
    if settled.is_empty() {
        return Ok(settled);
    }
    let guids: Vec<swarm_protocol::Guid> = settled.iter().map(|s| s.bounty.guid).collect();
    let known: std::collections::HashSet<swarm_protocol::Guid> =
        store.settled_among(&guids).await?.into_iter().collect();
    Ok(settled
        .into_iter()
        .filter(|s| !known.contains(&s.bounty.guid))
        .collect())
}

/// Every tenth of `ttl`: deletes the artifact bundles older than `ttl` that
/// no bounty references, and forgets idle rate-limit buckets.
async fn housekeeping(
    state: AppState,
    ttl: Duration,
    shutdown: CancellationToken,
) -> Result<(), NodeError> {
    let (artifacts, view) = (state.artifacts.clone(), state.view.clone());
    let mut ticker = tokio::time::interval((ttl / 10).max(Duration::from_secs(1)));
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        state.limiter.prune();
        // Nodes sharing an object store share its garbage: the sequencer
        // alone collects it, so two sweeps never race each other.
        let leading = state
            .sequencer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        if artifacts.is_shared() && !leading {
            continue;
        }
        let referenced: std::collections::HashSet<String> =
            view.read(|r| r.bounties_newest_first().map(|b| b.uri.clone()).collect());
        match artifacts
            .collect_garbage(&|uri| referenced.contains(uri), ttl)
            .await
        {
            Ok(stats) => tracing::debug!(?stats, "artifact garbage collected"),
            // A failed sweep is retried at the next tick; it must not stop the node.
            Err(e) => tracing::warn!(error = %e, "artifact garbage collection failed"),
        }
    }
}

/// Leads (sequences) or follows, and takes over as sequencer when the
/// node holding the lock goes away.
struct Role {
    state: AppState,
    public_url: String,
    config: SequencerConfig,
    shutdown: CancellationToken,
}

impl Role {
    /// Becomes the sequencer continuing `registry` at `tip`: records this
    /// node's URL, starts the sequencer task and publishes its handle.
    async fn lead(
        &self,
        registry: Registry,
        tip: Option<BlockHeader>,
    ) -> Result<JoinHandle<Result<(), StoreError>>, NodeError> {
        let s = &self.state;
        s.store.set_sequencer_url(&self.public_url).await?;
        let sequencer = Sequencer::new(
            registry,
            tip.as_ref(),
            s.store.clone(),
            crate::sequencer::Outputs {
                view: s.view.clone(),
                events: s.events.clone(),
                metrics: s.metrics.clone(),
                admission: s.admission.clone(),
            },
            self.config.clone(),
        );
        let (handle, task) = sequencer::spawn(sequencer, self.shutdown.clone());
        *s.sequencer.write().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(task)
    }

    /// Follows until this node takes the sequencer lock, then leads.
    async fn follow_then_lead(
        &self,
    ) -> Result<Option<JoinHandle<Result<(), StoreError>>>, NodeError> {
        let s = &self.state;
        let promoted = crate::follower::follow(
            s.store.clone(),
            s.view.clone(),
            s.events.clone(),
            s.block_time,
            self.shutdown.clone(),
        )
        .await?;
        if !promoted {
            return Ok(None);
        }
        tracing::info!("took over as sequencer");
        // The follower replayed every committed block before returning.
        let task = self.lead(s.view.read(|r| r.clone()), s.view.tip()).await?;
        Ok(Some(task))
    }
}

/// Waits for a sequencer task; its end, for whatever reason, ends the node.
async fn sequence_until_done(
    task: Option<JoinHandle<Result<(), StoreError>>>,
    shutdown: CancellationToken,
) -> Result<(), NodeError> {
    let result = match task {
        None => Ok(()),
        Some(task) => match task.await {
            Ok(result) => result.map_err(NodeError::from),
            Err(e) => Err(NodeError::Task(e.to_string())),
        },
    };
    // Serving reads of a chain that no longer advances would mislead every client.
    shutdown.cancel();
    result
}

/// The caps on open TCP connections and event streams: the configured
/// ones, lowered when together they would need more file descriptors than
/// the process may open (after raising its soft limit to the hard one)
/// less [`crate::limits::FD_RESERVE`] — event streams to a quarter of what
/// is left, connections to the rest — so that `accept` never fails for
/// want of a descriptor and the node keeps some for its own files.
fn open_caps(limits: &crate::limits::Limits) -> (usize, usize) {
    let fds = crate::limits::connections::raise_fd_limit();
    let available = fds.saturating_sub(crate::limits::FD_RESERVE);
    let wanted = limits
        .max_connections
        .saturating_add(limits.max_subscriptions);
    if wanted <= available {
        return (limits.max_connections, limits.max_subscriptions);
    }
    let streams = limits.max_subscriptions.min(available / 4).max(1);
    let connections = limits
        .max_connections
        .min(available.saturating_sub(streams))
        .max(1);
    tracing::info!(
        fds,
        connections,
        streams,
        "the file-descriptor limit lowers the connection and event-stream caps"
    );
    (connections, streams)
}

/// Opens the store named by the configuration.
pub async fn open_store(config: &NodeConfig) -> Result<SqlStore, NodeError> {
    Ok(match &config.database_url {
        Some(url) => SqlStore::connect(url).await?,
        None => SqlStore::open_sqlite(&config.data_dir.join("chain.sqlite")).await?,
    })
}

/// Starts a node: opens the store and the artifact directory, rebuilds the
/// state, becomes the sequencer (or a follower when another node holds the
/// lock), and serves the API.
pub async fn start(config: NodeConfig) -> Result<RunningNode, NodeError> {
    NodeBuilder::new(config).start().await
}

/// Starts a node on a store of the caller's choice: any [`Store`]
/// implementation (one that passes `store_conformance_tests!`), or the
/// SQLite or PostgreSQL store the configuration names when none is given.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use swarm_node::{NodeBuilder, NodeConfig, SqlStore};
///
/// let store = SqlStore::open_sqlite(std::path::Path::new("chain.sqlite")).await?;
/// let config = NodeConfig::new(swarm_node::dev_genesis());
/// let node = NodeBuilder::new(config).store(Arc::new(store)).start().await?;
/// node.shutdown().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct NodeBuilder {
    config: NodeConfig,
    store: Option<Arc<dyn Store>>,
    blobs: Option<Arc<dyn BlobStore>>,
}

impl NodeBuilder {
    /// A node of `config`, on the store the configuration names.
    pub fn new(config: NodeConfig) -> Self {
        NodeBuilder {
            config,
            store: None,
            blobs: None,
        }
    }

    /// Runs the node on `store` instead.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Keeps artifact bytes in `blobs` (any [`BlobStore`] that passes
    /// `blob_store_conformance_tests!`) instead of `data_dir/artifacts`;
    /// uploads are still staged in `data_dir/artifacts/tmp`.
    pub fn blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// Opens the store (unless one was given), rebuilds the state, takes
    /// the sequencer lock or follows, and serves the API.
    pub async fn start(self) -> Result<RunningNode, NodeError> {
        let store = match self.store {
            Some(store) => store,
            None => Arc::new(open_store(&self.config).await?),
        };
        start_on(self.config, store, self.blobs).await
    }
}

async fn start_on(
    config: NodeConfig,
    store: Arc<dyn Store>,
    blobs: Option<Arc<dyn BlobStore>>,
) -> Result<RunningNode, NodeError> {
    let genesis_text = store.init_genesis(&config.genesis.to_toml()).await?;
    let genesis = Genesis::from_toml(&genesis_text)?;
    // The lock comes before the state: once this node holds it nobody else
    // commits, so the blocks it loads are all there are. Loading first
    // could miss a block a dying sequencer was still committing.
    let leader = store.try_lock_sequencer().await?;
    let (registry, tip) = load_state(store.as_ref(), &genesis).await?;
    let tip_block = registry.block();
    let params = registry.parameters().clone();
    let block_time = config
        .block_time
        .unwrap_or(Duration::from_millis(params.block_time_ms));

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| NodeError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| NodeError::Listen {
        addr: config.listen,
        source,
    })?;

    let artifacts_dir = config.data_dir.join("artifacts");
    let limits = config.artifact_limits.clone();
    let blobs = match (blobs, &config.artifacts) {
        (Some(blobs), _) => Some(blobs),
        (None, ArtifactBackend::Local) => None,
        (None, ArtifactBackend::S3(s3)) => {
            let connected = S3Blobs::connect(s3.clone()).await;
            let s3 = connected.map_err(|source| NodeError::ObjectStore {
                url: s3.url(),
                source,
            })?;
            tracing::info!(url = %s3.config().url(), endpoint = ?s3.config().endpoint, "artifacts in an object store");
            Some(Arc::new(s3) as Arc<dyn BlobStore>)
        }
    };
    let artifacts = Arc::new(match blobs {
        Some(blobs) => ArtifactStore::with_blobs(blobs, artifacts_dir.join("tmp"), limits)?,
        None => ArtifactStore::open(artifacts_dir, limits)?,
    });
    let metrics = Arc::new(Metrics::new());
    let (connection_cap, subscription_cap) = open_caps(&config.limits);
    let connections = Budget::new(connection_cap, config.limits.max_connections_per_ip);
    let view = Arc::new(ChainView::new(registry.clone(), tip.clone()));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (events, _) = broadcast::channel::<Arc<CommittedBlock>>(1024);
    let shutdown = CancellationToken::new();
    let mut tasks: Vec<JoinHandle<Result<(), NodeError>>> = Vec::new();

    let state = AppState::new(api::Shared {
        community: genesis.community.clone(),
        store: store.clone(),
        view,
        sequencer: std::sync::RwLock::new(None),
        artifacts,
        events,
        metrics,
        block_time,
        limiter: crate::limits::rate::Limiter::new(&config.limits),
        admission: Arc::new(crate::limits::admission::Admission::new(
            config.limits.admission,
            block_time,
            crate::limits::admission::measured_floor(cores),
        )),
        subscriptions: Budget::new(subscription_cap, config.limits.max_subscriptions_per_ip),
        connections: connections.clone(),
        signature_checks: tokio::sync::Semaphore::new(cores),
        replay_reads: tokio::sync::Semaphore::new(REPLAY_READS),
        limits: config.limits.clone(),
        http: reqwest::Client::new(),
        shutdown: shutdown.clone(),
        settled_totals: tokio::sync::Mutex::new(
            crate::explorer::SettledTotals::restore(store.as_ref(), tip_block).await,
        ),
    });
    let role = Role {
        state: state.clone(),
        public_url: config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
        config: SequencerConfig {
            block_time,
            snapshot_every: config.snapshot_every,
            snapshot_after_transactions: config.snapshot_after_transactions,
        },
        shutdown: shutdown.clone(),
    };
    if leader {
        let task = role.lead(registry, tip).await?;
        tasks.push(tokio::spawn(sequence_until_done(
            Some(task),
            shutdown.clone(),
        )));
    } else {
        drop(registry);
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            match role.follow_then_lead().await {
                Ok(task) => sequence_until_done(task, token).await,
                Err(e) => {
                    token.cancel();
                    Err(e)
                }
            }
        }));
    }
    // The explorer's totals over settled bounties, folded before anyone
    // asks and checkpointed as they grow; a failure only leaves the fold to
    // the requests. Among the node's tasks, so that a shutdown waits for
    // the last checkpoint.
    tasks.push(tokio::spawn({
        let (state, token) = (state.clone(), shutdown.clone());
        async move {
            let fold = crate::explorer::keep_folded(
                &state.view,
                state.store.as_ref(),
                &state.settled_totals,
                &token,
            );
            if let Err(e) = fold.await {
                tracing::warn!(error = %e, "folding the settled bounties into the explorer's totals failed");
            }
            Ok(())
        }
    }));
    tasks.push(tokio::spawn(housekeeping(
        state.clone(),
        config.artifact_ttl,
        shutdown.clone(),
    )));
    let app = api::app(state.clone());
    tasks.push(tokio::spawn({
        let (token, timeout) = (shutdown.clone(), config.limits.header_read_timeout);
        async move {
            crate::serve::serve(listener, app, connections, timeout, token).await;
            Ok(())
        }
    }));

    tracing::info!(%addr, community = %genesis.community, "node started");
    Ok(RunningNode {
        addr,
        shutdown,
        tasks,
        state,
    })
}
