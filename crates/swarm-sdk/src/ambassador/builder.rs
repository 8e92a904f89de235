//! Configuring an [`Ambassador`].

use std::time::Duration;

use swarm_protocol::{Amount, PrivateKey};
use tokio_util::sync::CancellationToken;

use crate::client::NodeClient;

use super::{Ambassador, AmbassadorError, BountySource};

/// What the ambassador does when its balance cannot pay the next bounty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LowBalance {
    /// Stop with [`AmbassadorError::InsufficientBalance`].
    #[default]
    Fail,
    /// Log a warning and check again every `interval` (at least once a
    /// second) until the account is topped up.
    Wait,
}

/// Configures an [`Ambassador`].
#[must_use]
pub struct AmbassadorBuilder<S> {
    pub(super) source: S,
    pub(super) client: Option<NodeClient>,
    pub(super) key: Option<PrivateKey>,
    pub(super) amount: Option<Amount>,
    pub(super) duration: Option<u64>,
    pub(super) interval: Duration,
    pub(super) max_in_flight: usize,
    pub(super) watchdog: Option<Duration>,
    pub(super) low_balance: LowBalance,
    pub(super) shutdown: CancellationToken,
    pub(super) observe: crate::observe::ObserveConfig,
}

impl<S: BountySource> AmbassadorBuilder<S> {
    /// Serves `GET /healthz`, `/readyz` and `/metrics` on `addr` while the
    /// ambassador runs (port 0 picks a free one; the log names it).
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

    /// A configured client instead of [`AmbassadorBuilder::node`].
    pub fn client(mut self, client: NodeClient) -> Self {
        self.client = Some(client);
        self
    }

    /// The ambassador's key: it pays the bounties.
    pub fn key(mut self, key: PrivateKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The reward of every bounty whose request names none. Default: the
    /// community minimum, `bounty_amount_minimum` × number of artifacts.
    pub fn amount(mut self, amount: Amount) -> Self {
        self.amount = Some(amount);
        self
    }

    /// The assertion round, in blocks, of every bounty whose request names
    /// none. Default: the community's `max_duration`, at most 20.
    pub fn duration(mut self, blocks: u64) -> Self {
        self.duration = Some(blocks);
        self
    }

    /// Least time between two posts. Default: none.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Most bounties posted and not yet settled. Default: 8.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// How long after posting a bounty that has not settled is reported
    /// and given up on. Default: twice the time its rounds take at the
    /// community's block time, plus 10 seconds.
    pub fn watchdog(mut self, timeout: Duration) -> Self {
        self.watchdog = Some(timeout);
        self
    }

    /// What to do when the balance cannot pay the next bounty. Default:
    /// [`LowBalance::Fail`].
    pub fn on_low_balance(mut self, policy: LowBalance) -> Self {
        self.low_balance = policy;
        self
    }

    /// Stops the run when cancelled: no more posts; the report holds what
    /// was seen so far.
    pub fn shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<Ambassador<S>, AmbassadorError> {
        let (client, key) = crate::client::checked_connection(self.client, self.key)
            .map_err(AmbassadorError::Config)?;
        if self.max_in_flight == 0 {
            return Err(AmbassadorError::Config(
                "max_in_flight must be at least 1".into(),
            ));
        }
        if self.duration == Some(0) {
            return Err(AmbassadorError::Config(
                "duration must be at least 1 block".into(),
            ));
        }
        Ok(Ambassador {
            source: self.source,
            client,
            key,
            amount: self.amount,
            duration: self.duration,
            interval: self.interval,
            max_in_flight: self.max_in_flight,
            watchdog: self.watchdog,
            low_balance: self.low_balance,
            shutdown: self.shutdown,
            observe: self.observe,
        })
    }
}
