//! Configuring a microengine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use swarm_protocol::{Address, PrivateKey};
use tokio_util::sync::CancellationToken;

use crate::bid::{BidStrategy, Multiplier};
use crate::client::NodeClient;
use crate::dispatch::{DynDispatch, ScanDispatch};
use crate::filter::{Filter, Filters};
use crate::observe::ObserveConfig;
use crate::scanner::Scanner;

use super::{EngineError, Microengine};

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
    observe: ObserveConfig,
}

impl<S: Scanner> MicroengineBuilder<S> {
    /// Serves `GET /healthz`, `/readyz` and `/metrics` on `addr` while the
    /// engine runs (port 0 picks a free one; the log names it).
    pub fn metrics_listen(mut self, addr: SocketAddr) -> Self {
        self.observe.listen = Some(addr);
        self
    }

    /// How long without an answer from the node or an event before
    /// `/healthz` answers 503 (default 10 s).
    pub fn health_threshold(mut self, threshold: Duration) -> Self {
        self.observe.threshold = threshold;
        self
    }

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
    /// default, [`LocalDispatch`](crate::LocalDispatch) over the scanner).
    /// The scanner is still set up and torn down around the run.
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
            observe: self.observe,
        })
    }
}

/// The journal file for `path`: itself, or `<path>/<address>.journal` when
/// it names a directory.
pub(super) fn journal_file(path: &Path, address: &Address) -> PathBuf {
    let text = path.as_os_str().to_string_lossy();
    if path.is_dir() || text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
        path.join(format!("{address}.journal"))
    } else {
        path.to_path_buf()
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
            observe: ObserveConfig::default(),
        }
    }
}
