//! What the microengine decides, as pure code: [`State`] turns node events
//! and task outcomes into [`Action`]s, and does no I/O of its own.
//!
//! The state follows the bounties being scanned, the work in flight on
//! journaled ones and the engine's NCT balance (from the events: see
//! `balance.rs`); it reads the [`Journal`] (its in-memory view) but never
//! writes it: a journal record is an [`Action::Journal`], which the run loop
//! stages at once (so later decisions see it) and commits to disk, with the
//! other records of the same turn, before it sends any transaction of that
//! turn. Two actions hand an answer back to the state at once:
//! [`Action::Commit`] (the loop draws a nonce and calls
//! [`State::on_commit`]) and [`Action::CheckDue`] (the loop calls
//! [`State::check_due`] once the records before it are staged, so that it
//! sees them).
//!
//! Assertions and reveals are sent without waiting for their block: the
//! node's answer says which block will hold them, and the engine's own
//! `assertion` or `reveal` event in the stream confirms them. A block that
//! passes without it means the transaction was lost (the node restarted
//! before committing it): an assertion is looked up, a reveal sent again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use swarm_protocol::{
    commitment, Address, Amount, Assert, Bits256, Bounty, BountyPosted, BountySettled, Event, Guid,
    PayoutRole, Reveal, H256, MAX_REVEAL_METADATA_BYTES,
};

use crate::bid::{bid_within, BidBounds, BidStrategy};
use crate::client::{ClientError, Submitted, TxStatus};
use crate::dispatch::ScanFailure;
use crate::events::NodeEvent;
use crate::filter::Filters;
use crate::journal::{CommittedAssertion, Journal, Record};
use crate::scanner::ScanResult;

use super::balance::{Balance, Fees};
use super::EngineReport;

/// The runtime's fixed choices.
pub(super) struct Settings {
    pub(super) address: Address,
    pub(super) block_time: Duration,
    pub(super) strategy: Arc<dyn BidStrategy>,
    pub(super) filters: Filters,
    pub(super) bounds: BidBounds,
    pub(super) assertion_fee: Amount,
    pub(super) bounty_fee: Amount,
    pub(super) testing: Option<u64>,
    pub(super) margin_blocks: u64,
    pub(super) checkpoint_every: u64,
}

/// Work in progress on a journaled bounty (not persisted).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Flight {
    pub(super) submitting: bool,
    pub(super) revealing: bool,
    pub(super) reveal_given_up: bool,
    pub(super) reconciling: bool,
    pub(super) next_reconcile: u64,
    /// The assertion was taken into this (open) block, unconfirmed yet.
    pub(super) assert_in: Option<u64>,
    /// The reveal was taken into this (open) block, unconfirmed yet.
    pub(super) reveal_in: Option<u64>,
}

/// What happened to one artifact of a bounty.
#[derive(Debug)]
pub(super) enum ArtifactOutcome {
    Filtered,
    Scanned(Box<ScanResult>),
    Failed { kind: ScanFailure, detail: String },
}

/// The kinds of spawned work, for undoing the bookkeeping of one that died.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TaskKind {
    Scan,
    Submit,
    Reveal,
    Reconcile,
    ReadBalance,
}

/// An assertion decided on, waiting for its nonce.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Proposal {
    pub(super) guid: Guid,
    pub(super) expiration: u64,
    pub(super) reveal_deadline: u64,
    pub(super) vote_deadline: u64,
    pub(super) mask: Bits256,
    pub(super) verdicts: Bits256,
    pub(super) bids: Vec<Amount>,
    pub(super) metadata: Value,
}

/// What the run loop is to do, in order.
#[derive(Debug, PartialEq)]
pub(super) enum Action {
    /// Stage the record in the journal: applied at once, on disk before
    /// any transaction of the same turn is sent.
    Journal(Record),
    /// Scan the bounty's `allowed` artifacts, within `budget` from now.
    Scan {
        bounty: Box<BountyPosted>,
        allowed: Vec<bool>,
        budget: Duration,
    },
    /// Draw a fresh nonce and hand it, with the proposal, to
    /// [`State::on_commit`].
    Commit(Box<Proposal>),
    /// Send `bounty:Assert` (retried while round 0 is open), once the
    /// records staged before it are on disk.
    Assert { assert: Assert, expiration: u64 },
    /// Send `bounty:Reveal`, once the records staged before it are on disk.
    Reveal(Reveal),
    /// Read the engine's balance from the node and hand it to
    /// [`State::on_balance_read`].
    ReadBalance,
    /// Look the bounty up on the node and hand the answer to
    /// [`State::on_reconciled`].
    Reconcile(Guid),
    /// Ask [`State::check_due`] what is due, once the records before are
    /// written.
    CheckDue,
}

/// Whether a failure of the node's API may go away by itself.
pub(super) fn transient(e: &ClientError) -> bool {
    match e {
        ClientError::Api { status, .. } => *status >= 500 || *status == 429,
        ClientError::Transport { .. } | ClientError::Decode { .. } => true,
        _ => false,
    }
}

/// Reveal metadata that fits the node's limit: the full metadata, else only
/// the malware families, else nothing per artifact.
pub(super) fn fit_metadata(items: Vec<Value>) -> Value {
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

/// The engine's state: what it follows, what is in flight, what it did.
pub(super) struct State {
    pub(super) settings: Settings,
    pub(super) flight: HashMap<Guid, Flight>,
    /// Bounties being downloaded and scanned, with the block that posted them.
    pub(super) scanning: HashMap<Guid, u64>,
    pub(super) report: EngineReport,
    /// Highest block known to be committed.
    pub(super) tip: u64,
    /// The tip when the engine started: older bounties replayed from the
    /// journal's checkpoint are not counted when they are already too late.
    start_tip: u64,
    /// Block of the last event handled.
    stream_block: u64,
    last_checkpoint: Option<u64>,
    /// Bounties taken on (for `testing`), those resumed included.
    taken: u64,
    /// The engine's NCT, followed from the events.
    pub(super) balance: Balance,
    /// What journaled assertions cost that the followed balance does not
    /// show yet (their `assertion` event has not come).
    pub(super) unpaid: HashMap<Guid, Amount>,
}

impl State {
    /// A state at `tip`, its events replayed from `since`, with the
    /// engine's `balance` as the node had it at block `balance_as_of`.
    pub(super) fn new(
        settings: Settings,
        journal: &Journal,
        tip: u64,
        since: u64,
        balance: Amount,
        balance_as_of: u64,
    ) -> Self {
        let last_checkpoint = journal.checkpoint();
        let resumed = journal.entries().len() as u64;
        // Assertions journaled but not known to be on the node may still
        // be debited (when they are sent again, or their event replays).
        let unpaid = journal
            .entries()
            .values()
            .filter(|e| !e.asserted)
            .map(|e| (e.assertion.guid, e.assertion.cost()))
            .collect();
        let balance = Balance::new(settings.address, balance, balance_as_of);
        State {
            settings,
            flight: HashMap::new(),
            scanning: HashMap::new(),
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
            balance,
            unpaid,
        }
    }

    fn fees(&self) -> Fees {
        Fees {
            bounty_fee: self.settings.bounty_fee,
            assertion_fee: self.settings.assertion_fee,
        }
    }

    /// The event stream reconnected: events may have been missed, so the
    /// balance is read again.
    pub(super) fn on_reconnected(&mut self) -> Vec<Action> {
        self.balance.resync();
        let mut actions = Vec::new();
        self.read_balance_if_due(&mut actions);
        actions
    }

    fn read_balance_if_due(&mut self, actions: &mut Vec<Action>) {
        if self.balance.take_read() {
            actions.push(Action::ReadBalance);
        }
    }

    /// The answer to an [`Action::ReadBalance`]: the balance as of a block.
    pub(super) fn on_balance_read(
        &mut self,
        result: Result<(u64, Amount), ClientError>,
    ) -> Vec<Action> {
        match result {
            Ok((block, amount)) => {
                self.balance.on_read(block, amount);
                tracing::debug!(block, balance = %self.balance.amount(), "balance read");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the balance; following the events");
                self.report.error("balance_unavailable");
                self.balance.read_failed();
            }
        }
        Vec::new()
    }

    /// The followed balance, for the report.
    pub(super) fn balance(&self) -> Amount {
        self.balance.amount()
    }

    /// Whether a `testing` run is over.
    pub(super) fn done(&self, journal: &Journal) -> bool {
        self.settings.testing.is_some_and(|n| self.taken >= n)
            && self.scanning.is_empty()
            && journal.entries().is_empty()
    }

    /// The block from which a restart must replay events: nothing before it
    /// is still unhandled.
    fn safe_block(&self) -> u64 {
        self.scanning
            .values()
            .copied()
            .fold(self.stream_block, u64::min)
    }

    /// A checkpoint, when one is due.
    fn checkpoint(&mut self, actions: &mut Vec<Action>) {
        let safe = self.safe_block();
        let due = match self.last_checkpoint {
            None => true,
            Some(last) => safe >= last.saturating_add(self.settings.checkpoint_every),
        };
        if due {
            actions.push(Action::Journal(Record::Checkpoint { block: safe }));
            self.last_checkpoint = Some(safe);
        }
    }

    /// The last checkpoint, when the engine stops.
    pub(super) fn final_checkpoint(&mut self) -> Option<Record> {
        let safe = self.safe_block();
        (self.last_checkpoint != Some(safe)).then(|| {
            self.last_checkpoint = Some(safe);
            Record::Checkpoint { block: safe }
        })
    }

    /// A spawned task of `kind` on `guid` died (it should not): undoes its
    /// bookkeeping so that nothing waits for it forever.
    pub(super) fn on_task_failed(&mut self, guid: Guid, kind: TaskKind) -> Vec<Action> {
        let mut actions = Vec::new();
        match kind {
            TaskKind::Scan => {
                self.scanning.remove(&guid);
                self.report.bounties_skipped += 1;
            }
            TaskKind::Submit => {
                if let Some(f) = self.flight.get_mut(&guid) {
                    f.submitting = false;
                }
                self.reconcile(guid, &mut actions);
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
            TaskKind::ReadBalance => self.balance.read_failed(),
        }
        actions
    }

    /// A node event.
    pub(super) fn on_event(&mut self, event: NodeEvent, journal: &Journal) -> Vec<Action> {
        let mut actions = Vec::new();
        self.stream_block = self.stream_block.max(event.block_number);
        self.tip = self.tip.max(event.block_number);
        let fees = self.fees();
        self.balance.on_event(&fees, &event);
        let me = self.settings.address;
        match event.event {
            Event::Block { number } => {
                self.tip = self.tip.max(number);
                actions = self.check_due(journal);
            }
            Event::Bounty(bounty) => {
                actions.extend(self.on_bounty(bounty, event.block_number, journal));
            }
            Event::SettledBounty(settled) => actions = self.on_settled(&settled, journal),
            Event::Assertion(a) if a.author == me => {
                self.on_own_assertion(a.bounty_guid, event.txhash, journal, &mut actions);
            }
            Event::Reveal(r) if r.author == me => {
                self.on_own_reveal(r.bounty_guid, journal, &mut actions);
            }
            Event::FeeUpdate {
                assertion_fee,
                bounty_fee,
            } => {
                self.settings.assertion_fee = assertion_fee;
                self.settings.bounty_fee = bounty_fee;
            }
            _ => {}
        }
        self.read_balance_if_due(&mut actions);
        self.checkpoint(&mut actions);
        actions
    }

    /// The engine's own assertion is in a committed block: it is paid for
    /// in the followed balance, and confirmed.
    fn on_own_assertion(
        &mut self,
        guid: Guid,
        txhash: Option<H256>,
        journal: &Journal,
        actions: &mut Vec<Action>,
    ) {
        self.unpaid.remove(&guid);
        let Some(entry) = journal.entry(&guid) else {
            return;
        };
        if let Some(f) = self.flight.get_mut(&guid) {
            f.assert_in = None;
        }
        if !entry.asserted {
            let artifacts = entry.assertion.mask.count() as u64;
            tracing::info!(bounty = %guid, tx = ?txhash, artifacts, "asserted");
            actions.push(Action::Journal(Record::Asserted { guid, txhash }));
            self.report.assertions += 1;
            self.report.artifacts_asserted += artifacts;
        }
    }

    /// The engine's own reveal is in a committed block.
    fn on_own_reveal(&mut self, guid: Guid, journal: &Journal, actions: &mut Vec<Action>) {
        let Some(entry) = journal.entry(&guid) else {
            return;
        };
        if let Some(f) = self.flight.get_mut(&guid) {
            f.reveal_in = None;
            f.revealing = false;
        }
        if !entry.revealed {
            tracing::info!(bounty = %guid, "revealed");
            actions.push(Action::Journal(Record::Revealed { guid }));
            self.report.reveals += 1;
        }
    }

    fn skip(&mut self, guid: &Guid, kind: Option<&str>, why: &str) {
        self.report.bounties_skipped += 1;
        if let Some(kind) = kind {
            self.report.error(kind);
        }
        tracing::info!(bounty = %guid, "no assertion: {why}");
    }

    fn on_bounty(&mut self, bounty: BountyPosted, block: u64, journal: &Journal) -> Vec<Action> {
        let guid = bounty.guid;
        if journal.entry(&guid).is_some() || self.scanning.contains_key(&guid) {
            return vec![];
        }
        if let Some(n) = self.settings.testing {
            if self.taken >= n {
                tracing::debug!(bounty = %guid, "testing: bounty limit reached; ignored");
                return vec![];
            }
        }
        // The open block (tip + 1) must be before the expiration when the
        // assertion arrives, with the safety margin to spare.
        let blocks_left = bounty.expiration.saturating_sub(self.tip.saturating_add(1));
        let usable = blocks_left.saturating_sub(self.settings.margin_blocks);
        if usable == 0 && block < self.start_tip {
            tracing::debug!(bounty = %guid, "replayed bounty already past its assertion round");
            return vec![];
        }
        self.taken += 1;
        self.report.bounties_seen += 1;
        if usable == 0 {
            self.skip(&guid, Some("too_late"), "too close to its expiration");
            return vec![];
        }
        let n = bounty.num_artifacts as usize;
        let allowed = self.settings.filters.allowed(n, bounty.metadata.as_deref());
        let filtered = allowed.iter().filter(|a| !**a).count() as u64;
        self.report.artifacts_filtered += filtered;
        if n == 0 || filtered == n as u64 {
            self.skip(&guid, None, "the filters reject every artifact");
            return vec![];
        }
        let budget = self
            .settings
            .block_time
            .saturating_mul(u32::try_from(usable).unwrap_or(u32::MAX));
        tracing::debug!(bounty = %guid, artifacts = n, filtered, ?budget, "scanning bounty");
        self.scanning.insert(guid, block);
        vec![Action::Scan {
            bounty: Box::new(bounty),
            allowed,
            budget,
        }]
    }

    /// A bounty's scans are over: what to assert, if anything.
    pub(super) fn on_scanned(
        &mut self,
        bounty: BountyPosted,
        outcomes: Vec<ArtifactOutcome>,
        downloads: u64,
    ) -> Vec<Action> {
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
                    let bounds = &self.settings.bounds;
                    bids.push(match result.bid {
                        // The scanner's own stake, within the community's bounds.
                        Some(bid) => bid.max(bounds.minimum).min(bounds.maximum),
                        None => bid_within(
                            self.settings.strategy.as_ref(),
                            bounds,
                            result.clamped_confidence(),
                        ),
                    });
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
        let mut actions = Vec::new();
        self.scanning.remove(&guid);
        if mask.is_empty() {
            self.skip(&guid, None, "no artifact has a malicious or benign verdict");
        } else if self.tip.saturating_add(1) >= bounty.expiration {
            self.skip(
                &guid,
                Some("too_late"),
                "the assertion round ended during the scan",
            );
        } else {
            actions.push(Action::Commit(Box::new(Proposal {
                guid,
                expiration: bounty.expiration,
                reveal_deadline: bounty.reveal_deadline,
                vote_deadline: bounty.vote_deadline,
                mask,
                verdicts,
                bids,
                metadata: fit_metadata(metadata),
            })));
        }
        self.checkpoint(&mut actions);
        actions
    }

    /// Journals the assertion and sends it, unless the NCT is not there.
    pub(super) fn on_commit(&mut self, proposal: Proposal, nonce: H256) -> Vec<Action> {
        let guid = proposal.guid;
        let fee = self.settings.assertion_fee;
        let cost = proposal
            .bids
            .iter()
            .copied()
            .sum::<Amount>()
            .checked_add(fee)
            .unwrap_or(Amount::from_wei(u128::MAX));
        let balance = self.balance.amount();
        // Assertions sent but not yet in a committed block are not in the
        // balance yet.
        let in_flight: Amount = self.unpaid.values().copied().sum();
        let available = balance.saturating_sub(in_flight);
        if available < cost {
            tracing::warn!(bounty = %guid, %balance, %in_flight, %cost,
                "not enough NCT to assert");
            self.skip(&guid, Some("insufficient_balance"), "not enough NCT");
            return vec![];
        }
        let Proposal {
            mask,
            verdicts,
            bids,
            metadata,
            ..
        } = proposal;
        let committed = CommittedAssertion {
            guid,
            nonce,
            verdicts,
            mask,
            bids,
            fee,
            commitment: commitment(&verdicts, &nonce, &self.settings.address),
            metadata,
            expiration: proposal.expiration,
            reveal_deadline: proposal.reveal_deadline,
            vote_deadline: proposal.vote_deadline,
        };
        tracing::info!(bounty = %guid, mask = %mask, verdicts = %verdicts,
            bids = ?committed.bids.iter().map(|b| b.to_nct_string()).collect::<Vec<_>>(),
            "assertion journaled; submitting");
        // Durable before the node hears of it.
        let mut actions = vec![];
        self.unpaid.insert(guid, cost);
        let submit = self.submit(&committed);
        actions.push(Action::Journal(Record::Committed(committed)));
        actions.push(submit);
        actions
    }

    /// Sends a journaled assertion.
    fn submit(&mut self, committed: &CommittedAssertion) -> Action {
        let guid = committed.guid;
        self.flight.entry(guid).or_default().submitting = true;
        Action::Assert {
            assert: Assert {
                bounty_guid: guid,
                mask: committed.mask,
                bids: committed.bids.clone(),
                commitment: committed.commitment,
            },
            expiration: committed.expiration,
        }
    }

    /// Looks the bounty up on the node, unless that is under way.
    fn reconcile(&mut self, guid: Guid, actions: &mut Vec<Action>) {
        let f = self.flight.entry(guid).or_default();
        if f.reconciling {
            return;
        }
        f.reconciling = true;
        actions.push(Action::Reconcile(guid));
    }

    fn drop_entry(&mut self, guid: Guid, reason: &str, actions: &mut Vec<Action>) {
        tracing::warn!(bounty = %guid, reason, "assertion abandoned; nothing at stake");
        actions.push(Action::Journal(Record::Dropped {
            guid,
            reason: reason.to_owned(),
        }));
        self.flight.remove(&guid);
        self.unpaid.remove(&guid);
        self.report.bounties_skipped += 1;
    }

    /// The answer to an [`Action::Assert`].
    pub(super) fn on_submitted(
        &mut self,
        guid: Guid,
        result: Result<Submitted, ClientError>,
        journal: &Journal,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(f) = self.flight.get_mut(&guid) {
            f.submitting = false;
        }
        let Some(entry) = journal.entry(&guid) else {
            self.flight.remove(&guid);
            self.checkpoint(&mut actions);
            return actions;
        };
        if entry.asserted {
            // Its own event (or a look-up) confirmed it first: whatever
            // the answer, it is in, and counted once.
            self.checkpoint(&mut actions);
            return actions;
        }
        let artifacts = entry.assertion.mask.count() as u64;
        match result {
            Ok(s) if s.status == TxStatus::Pending => {
                // Confirmed by the engine's `assertion` event, or looked up
                // once this block has passed without it.
                tracing::debug!(bounty = %guid, tx = %s.hash, block = s.block_number,
                    "assertion taken; waiting for its block");
                self.flight.entry(guid).or_default().assert_in = Some(s.block_number);
            }
            Ok(s) => {
                tracing::info!(bounty = %guid, tx = %s.hash, block = s.block_number,
                    artifacts, "asserted");
                actions.push(Action::Journal(Record::Asserted {
                    guid,
                    txhash: Some(s.hash),
                }));
                self.report.assertions += 1;
                self.report.artifacts_asserted += artifacts;
            }
            Err(e) if e.code() == Some("duplicate_assertion") => {
                // A previous run's submission made it after all.
                tracing::info!(bounty = %guid, "assertion already on the node");
                actions.push(Action::Journal(Record::Asserted { guid, txhash: None }));
            }
            Err(e) if e.code() == Some("replayed") => {
                // This very transaction was included: the connection broke
                // after the node took it, and the client's retry of the same
                // signed bytes was refused as a replay. It counts as
                // asserted; dropping it would leave a stake never revealed.
                tracing::info!(bounty = %guid, "assertion included (its answer was lost)");
                actions.push(Action::Journal(Record::Asserted { guid, txhash: None }));
                self.report.assertions += 1;
                self.report.artifacts_asserted += artifacts;
            }
            Err(e) if transient(&e) => {
                tracing::warn!(bounty = %guid, error = %e,
                    "assertion submission failed; checking the node");
                self.report.error("assert_unconfirmed");
                self.reconcile(guid, &mut actions);
            }
            Err(e) => {
                self.report.error("assert_rejected");
                let reason = format!("the node refused the assertion: {e}");
                self.drop_entry(guid, &reason, &mut actions);
            }
        }
        self.checkpoint(&mut actions);
        actions
    }

    /// Reveals whatever is due; looks up bounties that should have settled.
    pub(super) fn check_due(&mut self, journal: &Journal) -> Vec<Action> {
        let tip = self.tip;
        let streamed = self.stream_block;
        let mut reveal = Vec::new();
        let mut reconcile = Vec::new();
        for (guid, entry) in journal.entries() {
            let f = self.flight.entry(*guid).or_default();
            let a = &entry.assertion;
            // A block the stream has gone past without the engine's own
            // event lost the transaction (the node restarted before
            // committing it).
            if let Some(block) = f.assert_in.filter(|b| streamed > *b) {
                f.assert_in = None;
                if !entry.asserted {
                    tracing::warn!(bounty = %guid, block, "assertion not in its block; looking it up");
                    reconcile.push(*guid);
                }
            }
            if let Some(block) = f.reveal_in.filter(|b| streamed > *b) {
                f.reveal_in = None;
                f.revealing = false;
                if !entry.revealed {
                    tracing::warn!(bounty = %guid, block, "reveal not in its block; sending it again");
                }
            }
            if !entry.revealed && !f.reveal_given_up {
                // A reveal still in flight may have made it in time: its
                // answer decides.
                if tip >= a.reveal_deadline && !f.revealing {
                    f.reveal_given_up = true;
                    self.report.error("reveal_missed");
                    tracing::warn!(bounty = %guid, "reveal window passed without a reveal");
                } else if tip >= a.expiration && !f.revealing && !f.submitting {
                    f.revealing = true;
                    reveal.push(Action::Reveal(Reveal {
                        bounty_guid: *guid,
                        nonce: a.nonce,
                        verdicts: a.verdicts,
                        metadata: a.metadata.clone(),
                    }));
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
        let mut actions = reveal;
        for guid in reconcile {
            self.reconcile(guid, &mut actions);
        }
        actions
    }

    /// The answer to an [`Action::Reveal`].
    pub(super) fn on_revealed(
        &mut self,
        guid: Guid,
        result: Result<Submitted, ClientError>,
        journal: &Journal,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(f) = self.flight.get_mut(&guid) {
            f.revealing = false;
        }
        let Some(entry) = journal.entry(&guid) else {
            self.flight.remove(&guid);
            self.checkpoint(&mut actions);
            return actions;
        };
        if entry.revealed {
            // Its own event confirmed it first: counted once.
            self.checkpoint(&mut actions);
            return actions;
        }
        match result {
            Ok(s) if s.status == TxStatus::Pending => {
                // In flight until the engine's `reveal` event confirms it,
                // or its block passes without it.
                let f = self.flight.entry(guid).or_default();
                f.revealing = true;
                f.reveal_in = Some(s.block_number);
            }
            Ok(s) => {
                tracing::info!(bounty = %guid, tx = %s.hash, block = s.block_number, "revealed");
                actions.push(Action::Journal(Record::Revealed { guid }));
                self.report.reveals += 1;
            }
            Err(e) if e.code() == Some("already_revealed") => {
                tracing::info!(bounty = %guid, "reveal already on the node");
                actions.push(Action::Journal(Record::Revealed { guid }));
            }
            Err(e) if e.code() == Some("replayed") => {
                // The retry of a reveal whose answer was lost: it is in.
                tracing::info!(bounty = %guid, "revealed (its answer was lost)");
                actions.push(Action::Journal(Record::Revealed { guid }));
                self.report.reveals += 1;
            }
            Err(e) if e.code() == Some("no_assertion") => {
                self.drop_entry(guid, "the assertion never reached the node", &mut actions);
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
        self.checkpoint(&mut actions);
        actions
    }

    /// A settlement: the payout is recorded and the bounty forgotten.
    pub(super) fn on_settled(&mut self, settled: &BountySettled, journal: &Journal) -> Vec<Action> {
        let guid = settled.bounty_guid;
        let Some(entry) = journal.entry(&guid) else {
            return vec![];
        };
        let cost = if entry.asserted {
            entry.assertion.cost()
        } else {
            Amount::ZERO
        };
        let payout: Amount = settled
            .payouts
            .iter()
            .filter(|p| p.account == self.settings.address && p.role == PayoutRole::Expert)
            .map(|p| p.amount)
            .sum();
        self.flight.remove(&guid);
        self.unpaid.remove(&guid);
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
        vec![Action::Journal(Record::Settled { guid, payout })]
    }

    /// The answer to an [`Action::Reconcile`] (and to the look-ups at
    /// start): brings a journaled bounty in line with what the node says.
    /// Ends with [`Action::CheckDue`].
    pub(super) fn on_reconciled(
        &mut self,
        guid: Guid,
        result: Result<Option<Bounty>, ClientError>,
        journal: &Journal,
    ) -> Vec<Action> {
        if let Some(f) = self.flight.get_mut(&guid) {
            f.reconciling = false;
        }
        let mut actions = self.reconciled(guid, result, journal);
        if journal.entry(&guid).is_none() {
            self.flight.remove(&guid);
        }
        actions.push(Action::CheckDue);
        self.checkpoint(&mut actions);
        actions
    }

    /// The node's answers about every journaled bounty, looked up at
    /// start. Ends with [`Action::CheckDue`].
    pub(super) fn on_started(
        &mut self,
        answers: Vec<(Guid, Result<Option<Bounty>, ClientError>)>,
        journal: &Journal,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        // Each answer reads and writes only its own bounty's entry, so they
        // can all be decided before any of their records is written.
        for (guid, result) in answers {
            actions.extend(self.reconciled(guid, result, journal));
        }
        actions.push(Action::CheckDue);
        actions
    }

    fn reconciled(
        &mut self,
        guid: Guid,
        result: Result<Option<Bounty>, ClientError>,
        journal: &Journal,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(entry) = journal.entry(&guid) else {
            return actions;
        };
        let bounty = match result {
            Ok(Some(b)) => b,
            Ok(None) => {
                self.drop_entry(guid, "the node does not know the bounty", &mut actions);
                return actions;
            }
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
                        actions.push(self.submit(&entry.assertion));
                    }
                }
                return actions;
            }
        };
        if let Some(settlement) = &bounty.settlement {
            return self.on_settled(&settlement.outcome, journal);
        }
        match bounty.assertion_of(&self.settings.address) {
            Some((_, assertion)) => {
                if assertion.block <= self.balance.as_of() {
                    // Its event is older than the balance read: paid for.
                    self.unpaid.remove(&guid);
                }
                if assertion.commitment != entry.assertion.commitment {
                    tracing::error!(bounty = %guid,
                        "the node holds an assertion by this key with another commitment; \
                         it cannot be revealed from this journal");
                    self.report.error("foreign_assertion");
                    self.flight.entry(guid).or_default().reveal_given_up = true;
                }
                if !entry.asserted {
                    tracing::info!(bounty = %guid, "assertion found on the node");
                    actions.push(Action::Journal(Record::Asserted { guid, txhash: None }));
                }
                if assertion.revealed.is_some() && !entry.revealed {
                    actions.push(Action::Journal(Record::Revealed { guid }));
                }
            }
            None => {
                let open_block = self.tip.saturating_add(1);
                let submitting = self.flight.get(&guid).is_some_and(|f| f.submitting);
                if open_block < bounty.expiration {
                    if !submitting {
                        tracing::info!(bounty = %guid,
                            "journaled assertion not on the node; resubmitting it unchanged");
                        actions.push(self.submit(&entry.assertion));
                    }
                } else if !submitting {
                    self.drop_entry(
                        guid,
                        "the assertion never reached the node and its round is over",
                        &mut actions,
                    );
                }
            }
        }
        actions
    }
}

#[cfg(test)]
mod tests;
