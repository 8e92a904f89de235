//! Health and metrics of a running participant, so that an engine, an
//! arbiter or an ambassador is not invisible until it exits.
//!
//! One builder call (`metrics_listen(addr)` on [`MicroengineBuilder`],
//! [`ArbiterBuilder`], [`AmbassadorBuilder`], and the Redis scan worker's
//! builder) starts a small HTTP server answering:
//!
//! * `GET /healthz`: `200 ok` while the participant hears from its node;
//!   `503` with the reason (`node_unreachable: ...`, `events_stuck: ...`)
//!   once no request has succeeded, or no event arrived, for longer than
//!   the threshold (10 s unless `health_threshold` says otherwise). The node
//!   streams a `block` event every block, so silence means trouble. A
//!   worker's news is its Redis reads instead (`redis_unreachable: ...`).
//! * `GET /readyz`: `200 ready` once the participant is set up and
//!   connected (journal replayed, stake deposited, stream opened), `503`
//!   before.
//! * `GET /metrics`: Prometheus text, the names prefixed `swarm_engine_`,
//!   `swarm_arbiter_`, `swarm_ambassador_` or `swarm_worker_` (see
//!   `metrics.rs`).
//!
//! The parts: `health.rs` decides healthy or not in pure code,
//! `metrics.rs` holds the registry, `server.rs` answers HTTP, and this file
//! holds what the run loop records (events, readiness, reports) and the
//! poller that asks the node for its tip and the account's balance.
//!
//! [`MicroengineBuilder`]: crate::MicroengineBuilder
//! [`ArbiterBuilder`]: crate::ArbiterBuilder
//! [`AmbassadorBuilder`]: crate::AmbassadorBuilder

mod error;
mod health;
mod metrics;
mod server;

pub use error::ObserveError;
pub(crate) use metrics::{sync, Metrics, Role};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use swarm_protocol::{Address, Amount};

use crate::client::{NodeClient, RetryPolicy};
use crate::runtime::AbortOnDrop;

use health::{judge, Feed, Seen, Unhealthy, DEFAULT_THRESHOLD};

/// What the builders collect: where to listen, and the health threshold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ObserveConfig {
    /// The server's address; no server without one.
    pub(crate) listen: Option<SocketAddr>,
    /// How long without node contact or events before `/healthz` fails.
    pub(crate) threshold: Duration,
}

impl Default for ObserveConfig {
    fn default() -> Self {
        ObserveConfig {
            listen: None,
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

/// What the run loop (through [`Observer`]), the poller and the server share.
#[derive(Debug)]
struct Shared {
    metrics: Metrics,
    threshold: Duration,
    seen: Mutex<Seen>,
    tip: AtomicU64,
    block: AtomicU64,
}

impl Shared {
    fn new(role: Role, threshold: Duration) -> Self {
        Shared {
            metrics: Metrics::new(role),
            threshold,
            seen: Mutex::new(Seen {
                started: Instant::now(),
                feed: if role == Role::Worker {
                    Feed::Redis
                } else {
                    Feed::NodeEvents
                },
                last_event: None,
                last_contact: None,
            }),
            tip: AtomicU64::new(0),
            block: AtomicU64::new(0),
        }
    }

    fn seen(&self) -> Seen {
        match self.seen.lock() {
            Ok(seen) => *seen,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Seen)) {
        match self.seen.lock() {
            Ok(mut seen) => f(&mut seen),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Healthy, or why not, now.
    fn health(&self) -> Result<(), Unhealthy> {
        judge(&self.seen(), Instant::now(), self.threshold)
    }

    fn is_ready(&self) -> bool {
        self.metrics.ready.get() == 1
    }

    fn set_behind(&self) {
        let tip = self.tip.load(Ordering::Relaxed);
        let block = self.block.load(Ordering::Relaxed);
        let behind = tip.saturating_sub(block);
        self.metrics
            .blocks_behind
            .set(i64::try_from(behind).unwrap_or(i64::MAX));
    }
}

/// The participant's handle on its health and metrics; cheap to clone.
/// Without a listen address it still counts (nobody reads it), so the run
/// loops never ask whether it is on. The server and the poller stop when
/// the last clone is dropped (they hold only `Shared`).
#[derive(Clone, Debug)]
pub(crate) struct Observer {
    shared: Arc<Shared>,
    _tasks: Arc<Vec<AbortOnDrop>>,
}

impl Observer {
    /// An observer with no server, for runs without `metrics_listen` and
    /// for tests.
    pub(crate) fn disabled(role: Role) -> Self {
        Observer {
            shared: Arc::new(Shared::new(role, DEFAULT_THRESHOLD)),
            _tasks: Arc::new(Vec::new()),
        }
    }

    /// Binds the server (when configured) and starts it and the poller
    /// that keeps the node contact, tip and balance fresh.
    pub(crate) async fn start(
        config: ObserveConfig,
        role: Role,
        client: &NodeClient,
        address: Option<Address>,
    ) -> Result<Self, ObserveError> {
        let Some(addr) = config.listen else {
            return Ok(Observer::disabled(role));
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ObserveError::Bind { addr, source })?;
        let bound = listener.local_addr().unwrap_or(addr);
        tracing::info!(%bound, "health and metrics server listening");
        let shared = Arc::new(Shared::new(role, config.threshold));
        let server = tokio::spawn(server::serve(listener, Arc::clone(&shared)));
        let poller = tokio::spawn(poll(Arc::clone(&shared), client.clone(), address, role));
        Ok(Observer {
            shared,
            _tasks: Arc::new(vec![AbortOnDrop::new(&server), AbortOnDrop::new(&poller)]),
        })
    }

    /// The metrics, for the run loop to count into.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// An event of block `block` arrived: the stream and the node are alive.
    pub(crate) fn event(&self, block: u64) {
        let now = Instant::now();
        self.shared.update(|seen| {
            seen.last_event = Some(now);
            seen.last_contact = Some(now);
        });
        self.shared.block.store(block, Ordering::Relaxed);
        self.shared
            .metrics
            .block
            .set(i64::try_from(block).unwrap_or(i64::MAX));
        self.shared.tip.fetch_max(block, Ordering::Relaxed);
        self.shared.set_behind();
    }

    /// A scan worker's read of its Redis stream answered.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn heard(&self) {
        let now = Instant::now();
        self.shared.update(|seen| seen.last_event = Some(now));
    }

    /// The participant is set up and connected.
    pub(crate) fn ready(&self) {
        self.shared.metrics.ready.set(1);
    }
}

/// NCT as a float: exact to about 1e-9 NCT at the balances a participant
/// holds, which is what a dashboard needs.
fn nct(amount: Amount) -> f64 {
    amount.wei() as f64 / swarm_protocol::WEI_PER_NCT as f64
}

/// Asks the node for its tip, the account's balance (and an arbiter's
/// stake) a few times per threshold, with no retries: a failure is what
/// the health check wants to know about. A worker has no account.
async fn poll(shared: Arc<Shared>, client: NodeClient, address: Option<Address>, role: Role) {
    let client = client.with_retry(RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    });
    let every = (shared.threshold / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    let limit = shared.threshold.max(Duration::from_millis(100));
    loop {
        if let Ok(Ok(status)) = tokio::time::timeout(limit, client.status()).await {
            let now = Instant::now();
            shared.update(|seen| seen.last_contact = Some(now));
            shared.tip.fetch_max(status.block, Ordering::Relaxed);
            shared.set_behind();
        }
        let Some(address) = address else {
            tokio::time::sleep(every).await;
            continue;
        };
        if let Ok(Ok(balance)) = tokio::time::timeout(limit, client.balance(&address)).await {
            shared.metrics.nct_balance.set(nct(balance));
        }
        if role == Role::Arbiter {
            if let Ok(Ok(stake)) = tokio::time::timeout(limit, client.stake_total(&address)).await {
                shared.metrics.nct_staked.set(nct(stake));
            }
        }
        tokio::time::sleep(every).await;
    }
}
