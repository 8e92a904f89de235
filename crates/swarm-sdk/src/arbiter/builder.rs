//! Configuring an [`Arbiter`].

use std::path::PathBuf;
use std::sync::Arc;

use swarm_protocol::PrivateKey;
use tokio_util::sync::CancellationToken;

use crate::client::NodeClient;

use super::{Arbiter, ArbiterError, GroundTruth};

/// Configures an [`Arbiter`].
#[must_use]
pub struct ArbiterBuilder<T> {
    pub(super) truth: T,
    pub(super) client: Option<NodeClient>,
    pub(super) key: Option<PrivateKey>,
    pub(super) state: Option<PathBuf>,
    pub(super) max_concurrency: usize,
    pub(super) testing: Option<usize>,
    pub(super) shutdown: CancellationToken,
    pub(super) observe: crate::observe::ObserveConfig,
}

impl<T: GroundTruth> ArbiterBuilder<T> {
    /// Serves `GET /healthz`, `/readyz` and `/metrics` on `addr` while the
    /// arbiter runs (port 0 picks a free one; the log names it).
    pub fn metrics_listen(mut self, addr: std::net::SocketAddr) -> Self {
        self.observe.listen = Some(addr);
        self
    }

    /// How long without an answer from the node or an event before
    /// `/healthz` answers 503 (default 10 s).
    pub fn health_threshold(mut self, threshold: std::time::Duration) -> Self {
        self.observe.threshold = threshold;
        self
    }

    /// The node at `url` (such as `http://127.0.0.1:31337`).
    pub fn node(mut self, url: impl Into<String>) -> Self {
        self.client = Some(NodeClient::new(url));
        self
    }

    /// A configured client instead of [`ArbiterBuilder::node`].
    pub fn client(mut self, client: NodeClient) -> Self {
        self.client = Some(client);
        self
    }

    /// The arbiter's key: whitelisted by the community owner.
    pub fn key(mut self, key: PrivateKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Keeps the resume point in this file, so a restarted arbiter misses
    /// no bounty.
    pub fn state(mut self, path: impl Into<PathBuf>) -> Self {
        self.state = Some(path.into());
        self
    }

    /// Most bounties decided at once. Default: 4.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }

    /// Exits after `n` bounties were handled (voted on, abstained from or
    /// missed), once the bounties it voted on have settled.
    pub fn testing(mut self, n: usize) -> Self {
        self.testing = Some(n);
        self
    }

    /// Stops the run when cancelled.
    pub fn shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<Arbiter<T>, ArbiterError> {
        let (client, key) = crate::client::checked_connection(self.client, self.key)
            .map_err(ArbiterError::Config)?;
        if self.max_concurrency == 0 {
            return Err(ArbiterError::Config(
                "max_concurrency must be at least 1".into(),
            ));
        }
        Ok(Arbiter {
            truth: Arc::new(self.truth),
            client,
            key,
            state: self.state,
            max_concurrency: self.max_concurrency,
            testing: self.testing,
            shutdown: self.shutdown,
            observe: self.observe,
        })
    }
}
