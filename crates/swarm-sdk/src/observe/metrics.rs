//! The participant's Prometheus metrics, registered per role with the
//! prefix `swarm_<role>_` (`swarm_engine_assertions_total`,
//! `swarm_arbiter_votes_total`, ...), so one Prometheus can scrape a node
//! and its participants without names colliding.
//!
//! The counters mirror the runtime's report, which its state machine
//! keeps: the run loop hands the report over after each step and the
//! counters move by the difference. Counting once, in the state, keeps the
//! report a run returns and the metrics a scrape reads in agreement.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Which participant the metrics describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A microengine.
    Engine,
    /// An arbiter.
    Arbiter,
    /// An ambassador.
    Ambassador,
    /// A Redis scan worker.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Worker,
}

impl Role {
    fn prefix(self) -> &'static str {
        match self {
            Role::Engine => "swarm_engine",
            Role::Arbiter => "swarm_arbiter",
            Role::Ambassador => "swarm_ambassador",
            Role::Worker => "swarm_worker",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// Every metric a participant may have; only its role's are registered.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) ready: Gauge,
    pub(crate) nct_balance: Gauge<f64, AtomicU64>,
    pub(crate) nct_staked: Gauge<f64, AtomicU64>,
    pub(crate) block: Gauge,
    pub(crate) blocks_behind: Gauge,
    errors: Family<KindLabels, Counter>,
    pub(crate) bounties_seen: Counter,
    pub(crate) bounties_skipped: Counter,
    pub(crate) artifacts_scanned: Counter,
    pub(crate) artifacts_filtered: Counter,
    scan_seconds: Histogram,
    pub(crate) assertions: Counter,
    pub(crate) reveals: Counter,
    pub(crate) settled: Counter,
    pub(crate) journal_records: Gauge,
    pub(crate) votes: Counter,
    pub(crate) abstained: Counter,
    pub(crate) missed: Counter,
    pub(crate) bounties_posted: Counter,
    pub(crate) timed_out: Counter,
    jobs: Family<KindLabels, Counter>,
}

impl Metrics {
    /// Registers the metrics of `role`.
    pub(crate) fn new(role: Role) -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix(role.prefix()),
            ready: Gauge::default(),
            nct_balance: Gauge::default(),
            nct_staked: Gauge::default(),
            block: Gauge::default(),
            blocks_behind: Gauge::default(),
            errors: Family::default(),
            bounties_seen: Counter::default(),
            bounties_skipped: Counter::default(),
            artifacts_scanned: Counter::default(),
            artifacts_filtered: Counter::default(),
            scan_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 18)),
            assertions: Counter::default(),
            reveals: Counter::default(),
            settled: Counter::default(),
            journal_records: Gauge::default(),
            votes: Counter::default(),
            abstained: Counter::default(),
            missed: Counter::default(),
            bounties_posted: Counter::default(),
            timed_out: Counter::default(),
            jobs: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "ready",
            "1 once set up and connected to the node",
            m.ready.clone(),
        );
        r.register(
            "nct_balance",
            "NCT balance of the account, in NCT",
            m.nct_balance.clone(),
        );
        r.register("block", "Block of the last event received", m.block.clone());
        r.register(
            "blocks_behind",
            "Blocks between the node's tip and the last event received",
            m.blocks_behind.clone(),
        );
        match role {
            Role::Engine => {
                r.register(
                    "errors",
                    "Problems by kind (scan_error, scan_timeout, download, too_late, ...)",
                    m.errors.clone(),
                );
                r.register(
                    "bounties_seen",
                    "Bounties considered",
                    m.bounties_seen.clone(),
                );
                r.register(
                    "bounties_skipped",
                    "Bounties that got no assertion",
                    m.bounties_skipped.clone(),
                );
                r.register(
                    "artifacts_scanned",
                    "Artifacts the scanner gave a result for",
                    m.artifacts_scanned.clone(),
                );
                r.register(
                    "artifacts_filtered",
                    "Artifacts left alone because of the filters",
                    m.artifacts_filtered.clone(),
                );
                r.register(
                    "scan_seconds",
                    "Time to download and scan one artifact",
                    m.scan_seconds.clone(),
                );
                r.register(
                    "assertions",
                    "Assertions the node included",
                    m.assertions.clone(),
                );
                r.register("reveals", "Reveals the node included", m.reveals.clone());
                r.register(
                    "bounties_settled",
                    "Bounties asserted on that settled",
                    m.settled.clone(),
                );
                r.register(
                    "journal_records",
                    "Records in the journal file",
                    m.journal_records.clone(),
                );
            }
            Role::Arbiter => {
                r.register(
                    "nct_staked",
                    "NCT staked by the account, in NCT",
                    m.nct_staked.clone(),
                );
                r.register(
                    "votes",
                    "Bounties voted on (votes the node has)",
                    m.votes.clone(),
                );
                r.register(
                    "abstained",
                    "Bounties not voted on because the ground truth failed",
                    m.abstained.clone(),
                );
                r.register(
                    "missed",
                    "Bounties whose vote window passed or whose vote was refused",
                    m.missed.clone(),
                );
                r.register(
                    "bounties_settled",
                    "Bounties voted on that settled",
                    m.settled.clone(),
                );
            }
            Role::Worker => {
                r.register(
                    "jobs",
                    "Jobs by end (scanned, failed, expired, malformed, unsent) and jobs reclaimed",
                    m.jobs.clone(),
                );
            }
            Role::Ambassador => {
                r.register(
                    "bounties_posted",
                    "Bounties posted",
                    m.bounties_posted.clone(),
                );
                r.register(
                    "bounties_settled",
                    "Bounties posted that settled",
                    m.settled.clone(),
                );
                r.register(
                    "bounties_timed_out",
                    "Bounties posted that did not settle in time",
                    m.timed_out.clone(),
                );
            }
        }
        m
    }

    /// The metrics in Prometheus' text format.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }

    /// One artifact was scanned (or failed to) in `took`.
    pub(crate) fn scanned(&self, took: Duration, ok: bool) {
        self.scan_seconds.observe(took.as_secs_f64());
        if ok {
            self.artifacts_scanned.inc();
        }
    }

    /// Moves the error counters up to `errors`.
    pub(crate) fn sync_errors(&self, errors: &BTreeMap<String, u64>) {
        for (kind, count) in errors {
            let counter = self
                .errors
                .get_or_create(&KindLabels { kind: kind.clone() });
            sync(&counter, *count);
        }
    }
}

impl Metrics {
    /// Moves the job counter of `kind` up to `value`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn sync_jobs(&self, kind: &str, value: u64) {
        let counter = self.jobs.get_or_create(&KindLabels {
            kind: kind.to_owned(),
        });
        sync(&counter, value);
    }
}

/// Moves `counter` up to `value`: reports only grow, and a counter never
/// goes down.
pub(crate) fn sync(counter: &Counter, value: u64) {
    let now = counter.get();
    if value > now {
        counter.inc_by(value - now);
    }
}
