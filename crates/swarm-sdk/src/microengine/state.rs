//! The microengine's state and its handlers of events and task outcomes.

use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use serde_json::Value;
use swarm_protocol::{
    commitment, Amount, Assert, Bits256, Bounty, BountyPosted, BountySettled, Event, Guid,
    PayoutRole, Reveal, H256, MAX_REVEAL_METADATA_BYTES,
};
use tokio::time::Instant;

use crate::bid::{bid_within, BidBounds, BidStrategy};
use crate::client::{ClientError, Submitted};
use crate::dispatch::ScanFailure;
use crate::events::NodeEvent;
use crate::filter::Filters;
use crate::journal::{CommittedAssertion, JournalError, Record};
use crate::scanner::ScanResult;

use super::tasks::{scan_bounty, submit_assert, TaskOutcome};
use super::{EngineError, Runtime};

/// The runtime's fixed choices.
pub(super) struct Settings {
    pub(super) strategy: Arc<dyn BidStrategy>,
    pub(super) filters: Filters,
    pub(super) bounds: BidBounds,
    pub(super) assertion_fee: Amount,
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
}

/// What happened to one artifact of a bounty.
#[derive(Debug)]
pub(super) enum ArtifactOutcome {
    Filtered,
    Scanned(Box<ScanResult>),
    Failed { kind: ScanFailure, detail: String },
}

#[derive(Clone, Copy, Debug)]
pub(super) enum TaskKind {
    Scan,
    Submit,
    Reveal,
    Reconcile,
}

pub(super) fn transient(e: &ClientError) -> bool {
    match e {
        ClientError::Api { status, .. } => *status >= 500 || *status == 429,
        ClientError::Transport { .. } | ClientError::Decode { .. } => true,
        _ => false,
    }
}

/// A random non-zero 256-bit nonce.
pub(super) fn random_nonce() -> H256 {
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

impl Runtime {
    /// The block from which a restart must replay events: nothing before it
    /// is still unhandled.
    pub(super) fn safe_block(&self) -> u64 {
        self.scanning
            .values()
            .copied()
            .fold(self.stream_block, u64::min)
    }

    pub(super) fn maybe_checkpoint(&mut self) -> Result<(), JournalError> {
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

    /// Drops the work-in-progress state of a bounty no longer journaled.
    pub(super) fn forget_if_done(&mut self, guid: &Guid) {
        if self.journal.entry(guid).is_none() {
            self.flight.remove(guid);
        }
    }

    pub(super) async fn on_event(&mut self, event: NodeEvent) -> Result<(), EngineError> {
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

    pub(super) fn skip(&mut self, guid: &Guid, kind: Option<&str>, why: &str) {
        self.report.bounties_skipped += 1;
        if let Some(kind) = kind {
            self.report.error(kind);
        }
        tracing::info!(bounty = %guid, "no assertion: {why}");
    }

    pub(super) fn on_bounty(&mut self, bounty: BountyPosted, block: u64) {
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

    pub(super) async fn on_scanned(
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
    pub(super) async fn commit(
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

    pub(super) fn spawn_submit(&mut self, committed: &CommittedAssertion) {
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

    pub(super) fn spawn_reconcile(&mut self, guid: Guid) {
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

    pub(super) fn drop_entry(&mut self, guid: Guid, reason: &str) -> Result<(), JournalError> {
        tracing::warn!(bounty = %guid, reason, "assertion abandoned; nothing at stake");
        self.journal.append(Record::Dropped {
            guid,
            reason: reason.to_owned(),
        })?;
        self.flight.remove(&guid);
        self.report.bounties_skipped += 1;
        Ok(())
    }

    pub(super) fn on_submitted(
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
    pub(super) fn check_due(&mut self) {
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

    pub(super) fn on_revealed(
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

    pub(super) fn on_settled(&mut self, settled: &BountySettled) -> Result<(), JournalError> {
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
    pub(super) fn on_reconciled(
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
