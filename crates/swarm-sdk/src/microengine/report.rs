//! What a microengine run did.

use std::collections::BTreeMap;

use serde::Serialize;
use swarm_protocol::Amount;

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
    /// The engine's NCT balance when it stopped, as followed from the
    /// event stream (`None` before the engine read it).
    pub balance: Option<Amount>,
    /// Problems by kind: `scan_error`, `scan_panic`, `scan_timeout`,
    /// `download`, `too_late`, `insufficient_balance`, `balance_unavailable`,
    /// `assert_rejected`,
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

    pub(super) fn error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_owned()).or_default() += 1;
    }
}
