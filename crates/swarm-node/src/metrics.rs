//! Prometheus metrics: blocks, transactions by name and outcome, bounties
//! by state, request latency. Served as text at `GET /metrics`.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use swarm_protocol::Round;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TxLabels {
    name: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArtifactLabels {
    op: String,
}

/// The node's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    blocks: Counter,
    block_height: Gauge,
    commit_seconds: Histogram,
    txs: Family<TxLabels, Counter>,
    bounties: Family<StateLabels, Gauge>,
    requests: Family<RouteLabels, Histogram>,
    artifacts: Family<ArtifactLabels, Counter>,
    escrow_nct: Gauge<f64, AtomicU64>,
    open: Family<OpenLabels, Gauge>,
    admission_refused: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpenLabels {
    what: String,
}

/// What the node holds open for its clients, against its caps.
#[derive(Clone, Copy, Debug, Default)]
pub struct Load {
    /// Open TCP connections.
    pub connections: usize,
    /// Open event streams.
    pub event_streams: usize,
    /// Bytes that uploads in progress hold in the staging directory.
    pub staged_bytes: u64,
    /// Transactions received and not yet applied or refused.
    pub waiting_transactions: usize,
    /// Transactions refused by admission control since the start.
    pub admission_refused: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("swarm");
        let blocks = Counter::default();
        registry.register("blocks", "Blocks committed", blocks.clone());
        let block_height = Gauge::default();
        registry.register(
            "block_height",
            "Number of the last committed block",
            block_height.clone(),
        );
        let commit_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "block_commit_seconds",
            "Time to commit a block to the store",
            commit_seconds.clone(),
        );
        let txs = Family::<TxLabels, Counter>::default();
        registry.register(
            "transactions",
            "Submitted transactions by name and outcome (accepted, or the error code)",
            txs.clone(),
        );
        let bounties = Family::<StateLabels, Gauge>::default();
        registry.register("bounties", "Bounties by state", bounties.clone());
        let requests = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.5, 14))
        });
        registry.register(
            "http_request_seconds",
            "HTTP request latency by route and status",
            requests.clone(),
        );
        let artifacts = Family::<ArtifactLabels, Counter>::default();
        registry.register(
            "artifact_requests",
            "Artifact store operations",
            artifacts.clone(),
        );
        let escrow_nct = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "escrow_nct",
            "NCT held in escrow by unsettled bounties",
            escrow_nct.clone(),
        );
        let open = Family::<OpenLabels, Gauge>::default();
        registry.register(
            "open",
            "What clients hold open: connections, event_streams, staged_bytes, waiting_transactions",
            open.clone(),
        );
        let admission_refused = Gauge::default();
        registry.register(
            "admission_refused_transactions",
            "Transactions refused because the node was behind (503 overloaded) since it started; a refused new bounty counts one",
            admission_refused.clone(),
        );
        Metrics {
            open,
            admission_refused,
            registry,
            blocks,
            block_height,
            commit_seconds,
            txs,
            bounties,
            requests,
            artifacts,
            escrow_nct,
        }
    }

    /// A transaction was submitted: `error` is `None` when it was accepted.
    pub fn record_tx(&self, name: &str, error: Option<&str>) {
        self.txs
            .get_or_create(&TxLabels {
                name: name.to_owned(),
                outcome: error.unwrap_or("accepted").to_owned(),
            })
            .inc();
    }

    /// A block with `txs` transactions was committed in `took`.
    pub fn record_block(&self, _txs: usize, took: Duration) {
        self.blocks.inc();
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// An HTTP request finished.
    pub fn record_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// An artifact store operation (`upload`, `download`, `stat`).
    pub fn record_artifact(&self, op: &str) {
        self.artifacts
            .get_or_create(&ArtifactLabels { op: op.to_owned() })
            .inc();
    }

    /// How many artifact operations of this kind happened.
    pub fn artifact_count(&self, op: &str) -> u64 {
        self.artifacts
            .get_or_create(&ArtifactLabels { op: op.to_owned() })
            .get()
    }

    /// Sets the chain gauges from the committed state.
    pub fn set_chain(&self, height: u64, bounties_by_round: &[(Round, i64)], escrow_nct: f64) {
        self.block_height.set(height as i64);
        for (round, count) in bounties_by_round {
            let state = match round {
                Round::Assertion => "assertion",
                Round::Reveal => "reveal",
                Round::Vote => "vote",
                Round::Quorum => "quorum",
                Round::Finished => "settled",
            };
            self.bounties
                .get_or_create(&StateLabels {
                    state: state.to_owned(),
                })
                .set(*count);
        }
        self.escrow_nct.set(escrow_nct);
    }

    /// Sets the gauges of what clients hold open.
    pub fn set_load(&self, load: Load) {
        for (what, value) in [
            ("connections", load.connections as i64),
            ("event_streams", load.event_streams as i64),
            (
                "staged_bytes",
                i64::try_from(load.staged_bytes).unwrap_or(i64::MAX),
            ),
            ("waiting_transactions", load.waiting_transactions as i64),
        ] {
            self.open
                .get_or_create(&OpenLabels {
                    what: what.to_owned(),
                })
                .set(value);
        }
        self.admission_refused
            .set(i64::try_from(load.admission_refused).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
