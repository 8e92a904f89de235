//! The bounty registry: the marketplace's state machine (SPEC §3.4–§3.10).
//!
//! [`Registry`] owns every balance, bounty, stake and parameter of one
//! community. It changes only through [`Registry::begin_block`] (settlements
//! that fall due) and [`Registry::apply`] (one verified transaction), both
//! deterministic and free of I/O, so the node, the tests and the property
//! tests all drive the very same rules. A refused transaction changes
//! nothing: every handler checks all its rules before it writes.
//!
//! The registry holds the *live* state only: open bounties, balances,
//! stakes, arbiters, the replay window and the totals. A bounty that
//! settles stays readable here until its owner hands it out with
//! [`Registry::take_settled`] (the node does so every block and writes it
//! to its store in the same transaction as the block), so memory follows
//! what is open, not what was ever posted. What the rules still need to
//! know about handed-out bounties — that their guid is taken and that
//! they are finished — is asked of a [`SettledLookup`]
//! ([`Registry::apply_with`]).

mod bounty;
mod settle;

#[cfg(test)]
mod rules_tests;
#[cfg(test)]
mod settle_tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use bounty::{Assertion, Bounty, Revealed, Round, SettledBounty, Settlement, VoteRecord};

use crate::address::Address;
use crate::amount::Amount;
use crate::bits::Bits256;
use crate::commitment::commitment;
use crate::error::{GenesisError, TxError};
use crate::events::{AssertionMade, AssertionRevealed, BountyPosted, Event, VoteCast};
use crate::genesis::{Faucet, Genesis, Parameters};
use crate::hash::H256;
use crate::tx::{self, TxBody, VerifiedTx, MAX_EXPIRY_BLOCKS, MAX_REVEAL_METADATA_BYTES};
use crate::Guid;

/// One stake deposit; deposits mature one by one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StakeEntry {
    /// Block of the deposit.
    pub block: u64,
    /// Amount still staked from it.
    pub amount: Amount,
}

/// When and how the community was deprecated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deprecation {
    /// Block of the `community:Deprecate`.
    pub block: u64,
    /// Whether stakes roll over (keep their lock) or are released.
    pub rollover: bool,
}

/// What the rules ask about bounties the registry has handed out with
/// [`Registry::take_settled`]: whether a guid belongs to one. A guid it
/// answers for is taken (a post reusing it is `DuplicateBounty`) and its
/// bounty finished (an assertion, reveal or vote on it is `WrongRound` in
/// round 4), exactly as if the bounty were still held.
pub trait SettledLookup {
    /// Whether `guid` is a settled bounty that was handed out.
    fn is_settled(&self, guid: &Guid) -> bool;
}

/// Knows no handed-out bounty: right for a registry that never hands any
/// out, and for replaying committed blocks, whose transactions were all
/// accepted (the lookup only ever refuses).
impl SettledLookup for () {
    fn is_settled(&self, _guid: &Guid) -> bool {
        false
    }
}

impl<S: std::hash::BuildHasher> SettledLookup for std::collections::HashSet<Guid, S> {
    fn is_settled(&self, guid: &Guid) -> bool {
        self.contains(guid)
    }
}

impl SettledLookup for BTreeSet<Guid> {
    fn is_settled(&self, guid: &Guid) -> bool {
        self.contains(guid)
    }
}

/// The state of one community.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    community: String,
    owner: Address,
    params: Parameters,
    faucet: Option<Faucet>,
    block: u64,
    parent_hash: H256,
    balances: BTreeMap<Address, Amount>,
    arbiters: BTreeSet<Address>,
    stakes: BTreeMap<Address, Vec<StakeEntry>>,
    /// Open bounties, and settled ones not yet handed out.
    live_bounties: BTreeMap<Guid, Bounty>,
    /// The posting number (0, 1, ...) of each bounty held, and the reverse:
    /// listing newest first, across the registry and a store.
    live_numbers: BTreeMap<Guid, u64>,
    live_order: BTreeMap<u64, Guid>,
    /// Bounties ever posted: the next posting number.
    posted_total: u64,
    /// Settled bounties not yet handed out, in settlement order.
    settled_pending: Vec<Guid>,
    /// Unsettled bounties by the block at which they must settle (E + R + V).
    deadlines: BTreeMap<u64, BTreeSet<Guid>>,
    /// Bounties every arbiter voted on: they settle at the next block.
    fully_voted: BTreeSet<Guid>,
    /// Hashes of included transactions that could still be replayed, with their expiry.
    seen: BTreeMap<H256, u64>,
    seen_by_expiry: BTreeSet<(u64, H256)>,
    treasury: Amount,
    escrow: Amount,
    minted: Amount,
    deprecation: Option<Deprecation>,
}

impl Registry {
    /// A registry at block 0 with the genesis allocations minted.
    pub fn new(genesis: &Genesis) -> Result<Self, GenesisError> {
        let params = genesis.parameters.resolve();
        params.validate()?;
        let mut balances = BTreeMap::new();
        let mut minted = Amount::ZERO;
        for (account, amount) in &genesis.allocations {
            minted = minted
                .checked_add(amount.0)
                .ok_or(GenesisError::SupplyOverflow)?;
            if !amount.0.is_zero() {
                balances.insert(*account, amount.0);
            }
        }
        Ok(Registry {
            community: genesis.community.clone(),
            owner: genesis.owner,
            params,
            faucet: genesis.faucet.clone(),
            block: 0,
            parent_hash: H256::ZERO,
            balances,
            arbiters: genesis.arbiters.clone(),
            stakes: BTreeMap::new(),
            live_bounties: BTreeMap::new(),
            live_numbers: BTreeMap::new(),
            live_order: BTreeMap::new(),
            posted_total: 0,
            settled_pending: Vec::new(),
            deadlines: BTreeMap::new(),
            fully_voted: BTreeSet::new(),
            seen: BTreeMap::new(),
            seen_by_expiry: BTreeSet::new(),
            treasury: Amount::ZERO,
            escrow: Amount::ZERO,
            minted,
            deprecation: None,
        })
    }

    // ---- reads -------------------------------------------------------------

    /// The community name.
    pub fn community(&self) -> &str {
        &self.community
    }

    /// The community owner.
    pub fn owner(&self) -> Address {
        self.owner
    }

    /// The current parameters.
    pub fn parameters(&self) -> &Parameters {
        &self.params
    }

    /// The dev faucet, if open.
    pub fn faucet(&self) -> Option<&Faucet> {
        self.faucet.as_ref()
    }

    /// The block being built (the last one begun); 0 before the first.
    pub fn block(&self) -> u64 {
        self.block
    }

    /// The hash passed to the last [`Registry::begin_block`].
    pub fn parent_hash(&self) -> H256 {
        self.parent_hash
    }

    /// An account's spendable NCT.
    pub fn balance(&self, account: &Address) -> Amount {
        self.balances.get(account).copied().unwrap_or_default()
    }

    /// Every non-zero balance.
    pub fn balances(&self) -> &BTreeMap<Address, Amount> {
        &self.balances
    }

    /// Whitelisted arbiters.
    pub fn arbiters(&self) -> &BTreeSet<Address> {
        &self.arbiters
    }

    /// Total staked by `account`.
    pub fn stake_total(&self, account: &Address) -> Amount {
        self.stakes
            .get(account)
            .map(|d| d.iter().map(|e| e.amount).sum())
            .unwrap_or_default()
    }

    /// What `account` could withdraw now.
    pub fn stake_withdrawable(&self, account: &Address) -> Amount {
        self.stakes
            .get(account)
            .map(|d| {
                d.iter()
                    .filter(|e| self.stake_matured(e))
                    .map(|e| e.amount)
                    .sum()
            })
            .unwrap_or_default()
    }

    /// Every stake, deposit by deposit.
    pub fn stakes(&self) -> &BTreeMap<Address, Vec<StakeEntry>> {
        &self.stakes
    }

    /// A bounty the registry holds: open, or settled and not yet handed
    /// out ([`Registry::take_settled`]).
    pub fn bounty(&self, guid: &Guid) -> Option<&Bounty> {
        self.live_bounties.get(guid)
    }

    /// A held bounty's assertions.
    pub fn assertions(&self, guid: &Guid) -> Option<&[Assertion]> {
        self.live_bounties
            .get(guid)
            .map(|b| b.assertions.as_slice())
    }

    /// A held bounty's votes.
    pub fn votes(&self, guid: &Guid) -> Option<&[VoteRecord]> {
        self.live_bounties.get(guid).map(|b| b.votes.as_slice())
    }

    /// The bounties held, newest first.
    pub fn bounties_newest_first(&self) -> impl Iterator<Item = &Bounty> + '_ {
        self.numbered_newest_first().map(|(_, b)| b)
    }

    /// The bounties held with their posting numbers, newest first: what a
    /// listing merges with the handed-out ones of a store.
    pub fn numbered_newest_first(&self) -> impl Iterator<Item = (u64, &Bounty)> + '_ {
        self.live_order
            .iter()
            .rev()
            .filter_map(|(n, g)| self.live_bounties.get(g).map(|b| (*n, b)))
    }

    /// A held bounty's posting number (0 for the first bounty ever posted).
    pub fn bounty_number(&self, guid: &Guid) -> Option<u64> {
        self.live_numbers.get(guid).copied()
    }

    /// Number of bounties ever posted, handed out or not.
    pub fn bounty_count(&self) -> usize {
        usize::try_from(self.posted_total).unwrap_or(usize::MAX)
    }

    /// Number of bounties held (open, or settled and not yet handed out).
    pub fn held_bounty_count(&self) -> usize {
        self.live_bounties.len()
    }

    /// Hands out every bounty settled since the last call, in settlement
    /// order, and forgets them: from now on the rules ask a
    /// [`SettledLookup`] about their guids.
    pub fn take_settled(&mut self) -> Vec<SettledBounty> {
        let guids = std::mem::take(&mut self.settled_pending);
        let mut out = Vec::with_capacity(guids.len());
        for guid in guids {
            let Some(bounty) = self.live_bounties.remove(&guid) else {
                continue;
            };
            let number = self.live_numbers.remove(&guid).unwrap_or_default();
            self.live_order.remove(&number);
            out.push(SettledBounty { number, bounty });
        }
        out
    }

    /// The round of `bounty` now.
    pub fn round(&self, bounty: &Bounty) -> Round {
        bounty.round(self.block)
    }

    /// NCT collected by the community: dust and unclaimed rewards.
    pub fn treasury(&self) -> Amount {
        self.treasury
    }

    /// NCT held by unsettled bounties.
    pub fn escrow(&self) -> Amount {
        self.escrow
    }

    /// All NCT ever created.
    pub fn total_minted(&self) -> Amount {
        self.minted
    }

    /// Whether and how the community is deprecated.
    pub fn deprecation(&self) -> Option<&Deprecation> {
        self.deprecation.as_ref()
    }

    /// Whether a transaction with this hash was included and could still be replayed.
    pub fn is_recent_tx(&self, hash: &H256) -> bool {
        self.seen.contains_key(hash)
    }

    /// Checks the accounting invariants; `Err` names the first that fails.
    ///
    /// sum(balances) + escrow + stakes + treasury == total minted, and the
    /// escrow equals what the unsettled bounties hold.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut sum: u128 = 0;
        for amount in self.balances.values() {
            sum = sum.checked_add(amount.wei()).ok_or("balances overflow")?;
        }
        let stakes: u128 = self.stakes.values().flatten().map(|e| e.amount.wei()).sum();
        let held: u128 = self
            .live_bounties
            .values()
            .filter(|b| b.settlement.is_none())
            .map(|b| b.escrowed().wei())
            .sum();
        if held != self.escrow.wei() {
            return Err(format!(
                "escrow {} but unsettled bounties hold {held} wei",
                self.escrow.wei()
            ));
        }
        let total = sum + self.escrow.wei() + stakes + self.treasury.wei();
        if total != self.minted.wei() {
            return Err(format!(
                "balances {sum} + escrow {} + stakes {stakes} + treasury {} = {total} wei, minted {}",
                self.escrow.wei(),
                self.treasury.wei(),
                self.minted.wei()
            ));
        }
        Ok(())
    }

    // ---- blocks ------------------------------------------------------------

    /// Starts block `number` (after the block whose hash is `parent_hash`):
    /// forgets transaction hashes that can no longer be replayed and settles
    /// every bounty that falls due — at round 4, or at the first block after
    /// every arbiter voted. Returns the `block` event and the settlements.
    ///
    /// Numbers must increase; a skipped number settles everything due in
    /// between.
    pub fn begin_block(&mut self, number: u64, parent_hash: H256) -> Vec<Event> {
        self.block = number.max(self.block);
        self.parent_hash = parent_hash;
        let mut events = vec![Event::Block { number: self.block }];

        while let Some(&(expires, hash)) = self.seen_by_expiry.first() {
            if expires >= self.block {
                break;
            }
            self.seen_by_expiry.pop_first();
            self.seen.remove(&hash);
        }

        let mut due: BTreeSet<Guid> = std::mem::take(&mut self.fully_voted);
        while let Some(entry) = self.deadlines.first_entry() {
            if *entry.key() > self.block {
                break;
            }
            due.extend(entry.remove());
        }
        for guid in due {
            if let Some(event) = self.settle(&guid) {
                events.push(event);
            }
        }
        events
    }

    fn settle(&mut self, guid: &Guid) -> Option<Event> {
        let bounty = self.live_bounties.get(guid)?;
        if bounty.settlement.is_some() {
            return None;
        }
        let outcome = settle::settle(bounty);
        let escrowed = bounty.escrowed();
        let deadline = bounty.vote_deadline();
        for payout in &outcome.payouts {
            self.credit(payout.account, payout.amount);
        }
        self.treasury = self
            .treasury
            .checked_add(outcome.treasury)
            .unwrap_or(self.treasury);
        self.escrow = self.escrow.saturating_sub(escrowed);
        if let Some(set) = self.deadlines.get_mut(&deadline) {
            set.remove(guid);
            if set.is_empty() {
                self.deadlines.remove(&deadline);
            }
        }
        let block = self.block;
        let bounty = self.live_bounties.get_mut(guid)?;
        bounty.settlement = Some(Settlement {
            block,
            outcome: outcome.clone(),
        });
        self.settled_pending.push(*guid);
        Some(Event::SettledBounty(outcome))
    }

    // ---- transactions ------------------------------------------------------

    /// Applies one verified transaction in the current block, knowing
    /// only the bounties it holds: right when none was handed out, and for
    /// replaying committed blocks (see [`SettledLookup`] for `()`).
    ///
    /// On `Err` the registry is unchanged.
    pub fn apply(&mut self, tx: &VerifiedTx) -> Result<Vec<Event>, TxError> {
        self.apply_with(tx, &())
    }

    /// Applies one verified transaction in the current block, asking
    /// `settled` about guids the registry does not hold.
    ///
    /// On `Err` the registry is unchanged.
    pub fn apply_with(
        &mut self,
        tx: &VerifiedTx,
        settled: &dyn SettledLookup,
    ) -> Result<Vec<Event>, TxError> {
        let t = tx.tx();
        if t.community != self.community {
            return Err(TxError::WrongCommunity {
                expected: self.community.clone(),
                got: t.community.clone(),
            });
        }
        self.check_expiry(t.expires)?;
        let hash = tx.hash();
        if self.seen.contains_key(&hash) {
            return Err(TxError::Replayed(hash));
        }
        let from = t.from;
        let events = match &t.body {
            TxBody::Transfer(d) => self.transfer(from, d)?,
            TxBody::Mint(d) => self.mint(from, d)?,
            TxBody::PostBounty(d) => self.post_bounty(from, d, settled)?,
            TxBody::Assert(d) => self.assert(from, d, settled)?,
            TxBody::Reveal(d) => self.reveal(from, d, settled)?,
            TxBody::Vote(d) => self.vote(from, d, settled)?,
            TxBody::StakeDeposit(d) => self.stake_deposit(from, d)?,
            TxBody::StakeWithdraw(d) => self.stake_withdraw(from, d)?,
            TxBody::SetFees(d) => self.set_fees(from, d)?,
            TxBody::SetWindows(d) => self.set_windows(from, d)?,
            TxBody::AddArbiter(d) => self.add_arbiter(from, d)?,
            TxBody::RemoveArbiter(d) => self.remove_arbiter(from, d)?,
            TxBody::Deprecate(d) => self.deprecate(from, d)?,
            TxBody::Undeprecate(_) => self.undeprecate(from)?,
        };
        self.seen.insert(hash, t.expires);
        self.seen_by_expiry.insert((t.expires, hash));
        Ok(events)
    }

    /// Checks `block <= expires <= block + 256` for the current block.
    pub fn check_expiry(&self, expires: u64) -> Result<(), TxError> {
        if expires < self.block {
            return Err(TxError::Expired {
                expires,
                block: self.block,
            });
        }
        if expires > self.block.saturating_add(MAX_EXPIRY_BLOCKS) {
            return Err(TxError::ExpiresTooFar {
                expires,
                block: self.block,
                max: MAX_EXPIRY_BLOCKS,
            });
        }
        Ok(())
    }

    fn credit(&mut self, account: Address, amount: Amount) {
        if amount.is_zero() {
            return;
        }
        let balance = self.balances.entry(account).or_default();
        // Credits come out of escrow or stakes, which are part of the minted
        // supply, so a balance can never exceed u128.
        *balance = balance.checked_add(amount).unwrap_or(*balance);
    }

    /// Takes `amount` from `account`, or explains why it cannot.
    fn require_funds(&self, account: Address, amount: Amount) -> Result<(), TxError> {
        let available = self.balance(&account);
        if available < amount {
            return Err(TxError::InsufficientBalance {
                account,
                needed: amount,
                available,
            });
        }
        Ok(())
    }

    fn debit(&mut self, account: Address, amount: Amount) {
        if let Some(balance) = self.balances.get_mut(&account) {
            *balance = balance.saturating_sub(amount);
            if balance.is_zero() {
                self.balances.remove(&account);
            }
        }
    }

    fn require_owner(&self, from: Address, action: &'static str) -> Result<(), TxError> {
        if from != self.owner {
            return Err(TxError::NotOwner {
                action,
                owner: self.owner,
                account: from,
            });
        }
        Ok(())
    }

    fn transfer(&mut self, from: Address, d: &tx::Transfer) -> Result<Vec<Event>, TxError> {
        if d.amount.is_zero() {
            return Err(TxError::ZeroAmount("transfer amount"));
        }
        self.require_funds(from, d.amount)?;
        self.debit(from, d.amount);
        self.credit(d.to, d.amount);
        Ok(vec![Event::Transfer {
            from,
            to: d.to,
            amount: d.amount,
        }])
    }

    fn mint(&mut self, from: Address, d: &tx::Mint) -> Result<Vec<Event>, TxError> {
        if from != self.owner {
            match &self.faucet {
                None => self.require_owner(from, "nct:Mint")?,
                Some(f) if d.amount > f.max_per_mint => {
                    return Err(TxError::FaucetLimit {
                        amount: d.amount,
                        limit: f.max_per_mint,
                    })
                }
                Some(_) => {}
            }
        }
        if d.amount.is_zero() {
            return Err(TxError::ZeroAmount("mint amount"));
        }
        let minted = self
            .minted
            .checked_add(d.amount)
            .ok_or(TxError::SupplyOverflow(d.amount))?;
        self.minted = minted;
        self.credit(d.to, d.amount);
        Ok(vec![Event::Mint {
            to: d.to,
            amount: d.amount,
        }])
    }

    fn post_bounty(
        &mut self,
        from: Address,
        d: &tx::PostBounty,
        settled: &dyn SettledLookup,
    ) -> Result<Vec<Event>, TxError> {
        let p = &self.params;
        if self.deprecation.is_some() {
            return Err(TxError::Deprecated);
        }
        if self.live_bounties.contains_key(&d.guid) || settled.is_settled(&d.guid) {
            return Err(TxError::DuplicateBounty(d.guid));
        }
        if d.num_artifacts == 0 || d.num_artifacts > p.max_artifacts {
            return Err(TxError::ArtifactCount {
                count: d.num_artifacts,
                max: p.max_artifacts,
            });
        }
        let minimum = p
            .bounty_amount_minimum
            .checked_mul(u128::from(d.num_artifacts))
            .unwrap_or(Amount::from_wei(u128::MAX));
        if d.amount < minimum {
            return Err(TxError::BountyAmountTooLow {
                amount: d.amount,
                minimum,
                artifacts: d.num_artifacts,
            });
        }
        if d.duration == 0 || d.duration > p.max_duration {
            return Err(TxError::Duration {
                duration: d.duration,
                max: p.max_duration,
            });
        }
        if d.uri.len() != 64
            || !d
                .uri
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(TxError::BadUri(d.uri.chars().take(100).collect()));
        }
        if let Some(meta) = &d.metadata {
            if meta.len() != d.num_artifacts as usize {
                return Err(TxError::MetadataCount {
                    got: meta.len(),
                    expected: d.num_artifacts,
                });
            }
        }
        let cost = d
            .amount
            .checked_add(p.bounty_fee)
            .ok_or(TxError::InsufficientBalance {
                account: from,
                needed: Amount::from_wei(u128::MAX),
                available: self.balance(&from),
            })?;
        self.require_funds(from, cost)?;

        let bounty = Bounty {
            guid: d.guid,
            author: from,
            artifact_type: d.artifact_type,
            amount: d.amount,
            fee: p.bounty_fee,
            uri: d.uri.clone(),
            num_artifacts: d.num_artifacts,
            metadata: d.metadata.clone(),
            posted_block: self.block,
            expiration: self.block.saturating_add(d.duration),
            reveal_window: p.assertion_reveal_window,
            vote_window: p.arbiter_vote_window,
            assertions: Vec::new(),
            votes: Vec::new(),
            quorum_block: None,
            settlement: None,
        };
        let event = BountyPosted {
            guid: d.guid,
            artifact_type: d.artifact_type,
            author: from,
            amount: d.amount,
            uri: d.uri.clone(),
            num_artifacts: d.num_artifacts,
            expiration: bounty.expiration,
            reveal_deadline: bounty.reveal_deadline(),
            vote_deadline: bounty.vote_deadline(),
            metadata: d.metadata.clone(),
        };
        self.debit(from, cost);
        self.escrow = self.escrow.checked_add(cost).unwrap_or(self.escrow);
        self.deadlines
            .entry(bounty.vote_deadline())
            .or_default()
            .insert(d.guid);
        let number = self.posted_total;
        self.posted_total = self.posted_total.saturating_add(1);
        self.live_numbers.insert(d.guid, number);
        self.live_order.insert(number, d.guid);
        self.live_bounties.insert(d.guid, bounty);
        Ok(vec![Event::Bounty(event)])
    }

    fn bounty_in(
        &self,
        guid: &Guid,
        action: &'static str,
        allowed: &'static str,
        ok: impl Fn(Round) -> bool,
        settled: &dyn SettledLookup,
    ) -> Result<&Bounty, TxError> {
        let Some(bounty) = self.live_bounties.get(guid) else {
            // A handed-out bounty is settled, hence finished: the same
            // refusal as while the registry held it.
            if settled.is_settled(guid) && !ok(Round::Finished) {
                return Err(TxError::WrongRound {
                    action,
                    guid: *guid,
                    allowed,
                    round: Round::Finished,
                    block: self.block,
                });
            }
            return Err(TxError::UnknownBounty(*guid));
        };
        let round = bounty.round(self.block);
        if !ok(round) {
            return Err(TxError::WrongRound {
                action,
                guid: *guid,
                allowed,
                round,
                block: self.block,
            });
        }
        Ok(bounty)
    }

    fn check_bits(bounty: &Bounty, bits: &Bits256) -> Result<(), TxError> {
        match bits.highest() {
            Some(bit) if bit >= bounty.num_artifacts as usize => Err(TxError::BitOutOfRange {
                guid: bounty.guid,
                bit,
                artifacts: bounty.num_artifacts,
            }),
            _ => Ok(()),
        }
    }

    fn assert(
        &mut self,
        from: Address,
        d: &tx::Assert,
        settled: &dyn SettledLookup,
    ) -> Result<Vec<Event>, TxError> {
        let p = &self.params;
        let bounty = self.bounty_in(
            &d.bounty_guid,
            "bounty:Assert",
            "round 0 (assertion)",
            |r| r == Round::Assertion,
            settled,
        )?;
        if bounty.assertion_of(&from).is_some() {
            return Err(TxError::DuplicateAssertion {
                guid: d.bounty_guid,
                account: from,
            });
        }
        if d.mask.is_empty() {
            return Err(TxError::EmptyMask);
        }
        Self::check_bits(bounty, &d.mask)?;
        if d.bids.len() != d.mask.count() {
            return Err(TxError::BidCount {
                bids: d.bids.len(),
                mask_bits: d.mask.count(),
            });
        }
        let mut cost = p.assertion_fee;
        for (artifact, bid) in d.mask.iter().zip(&d.bids) {
            if *bid < p.assertion_bid_minimum {
                return Err(TxError::BidTooLow {
                    bid: *bid,
                    artifact,
                    minimum: p.assertion_bid_minimum,
                });
            }
            if *bid > p.assertion_bid_maximum {
                return Err(TxError::BidTooHigh {
                    bid: *bid,
                    artifact,
                    maximum: p.assertion_bid_maximum,
                });
            }
            // At most 256 bids of at most bid_maximum: cannot overflow in practice,
            // and an overflow would fail the balance check below anyway.
            cost = cost
                .checked_add(*bid)
                .unwrap_or(Amount::from_wei(u128::MAX));
        }
        self.require_funds(from, cost)?;

        let assertion = Assertion {
            author: from,
            mask: d.mask,
            bids: d.bids.clone(),
            commitment: d.commitment,
            fee: p.assertion_fee,
            block: self.block,
            revealed: None,
        };
        self.debit(from, cost);
        self.escrow = self.escrow.checked_add(cost).unwrap_or(self.escrow);
        let bounty = self
            .live_bounties
            .get_mut(&d.bounty_guid)
            .ok_or(TxError::UnknownBounty(d.bounty_guid))?;
        bounty.assertions.push(assertion);
        Ok(vec![Event::Assertion(AssertionMade {
            bounty_guid: d.bounty_guid,
            author: from,
            index: bounty.assertions.len() - 1,
            bids: d.bids.clone(),
            mask: d.mask,
            commitment: d.commitment,
        })])
    }

    fn reveal(
        &mut self,
        from: Address,
        d: &tx::Reveal,
        settled: &dyn SettledLookup,
    ) -> Result<Vec<Event>, TxError> {
        let bounty = self.bounty_in(
            &d.bounty_guid,
            "bounty:Reveal",
            "round 1 (reveal)",
            |r| r == Round::Reveal,
            settled,
        )?;
        let (index, assertion) = bounty.assertion_of(&from).ok_or(TxError::NoAssertion {
            guid: d.bounty_guid,
            account: from,
        })?;
        if assertion.revealed.is_some() {
            return Err(TxError::AlreadyRevealed {
                guid: d.bounty_guid,
                account: from,
            });
        }
        if d.nonce == H256::ZERO {
            return Err(TxError::ZeroNonce);
        }
        let size = serde_json::to_string(&d.metadata)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > MAX_REVEAL_METADATA_BYTES {
            return Err(TxError::MetadataTooLarge {
                size,
                max: MAX_REVEAL_METADATA_BYTES,
            });
        }
        if commitment(&d.verdicts, &d.nonce, &from) != assertion.commitment {
            return Err(TxError::CommitmentMismatch {
                guid: d.bounty_guid,
                account: from,
                commitment: assertion.commitment,
            });
        }
        let block = self.block;
        let bounty = self
            .live_bounties
            .get_mut(&d.bounty_guid)
            .ok_or(TxError::UnknownBounty(d.bounty_guid))?;
        bounty.assertions[index].revealed = Some(Revealed {
            nonce: d.nonce,
            verdicts: d.verdicts,
            metadata: d.metadata.clone(),
            block,
        });
        Ok(vec![Event::Reveal(AssertionRevealed {
            bounty_guid: d.bounty_guid,
            author: from,
            index,
            nonce: d.nonce,
            verdicts: d.verdicts,
            metadata: d.metadata.clone(),
        })])
    }

    fn vote(
        &mut self,
        from: Address,
        d: &tx::Vote,
        settled: &dyn SettledLookup,
    ) -> Result<Vec<Event>, TxError> {
        let bounty = self.bounty_in(
            &d.bounty_guid,
            "bounty:Vote",
            "rounds 2-3 (vote)",
            |r| matches!(r, Round::Vote | Round::Quorum),
            settled,
        )?;
        if !self.arbiters.contains(&from) {
            return Err(TxError::NotArbiter(from));
        }
        let stake = self.stake_total(&from);
        if stake < self.params.minimum_stake {
            return Err(TxError::Understaked {
                account: from,
                stake,
                minimum: self.params.minimum_stake,
            });
        }
        if bounty.has_voted(&from) {
            return Err(TxError::DuplicateVote {
                guid: d.bounty_guid,
                account: from,
            });
        }
        Self::check_bits(bounty, &d.votes)?;

        let block = self.block;
        let arbiters = self.arbiters.len();
        let whitelisted = self.arbiters.clone();
        let bounty = self
            .live_bounties
            .get_mut(&d.bounty_guid)
            .ok_or(TxError::UnknownBounty(d.bounty_guid))?;
        bounty.votes.push(VoteRecord {
            voter: from,
            votes: d.votes,
            stake,
            block,
        });
        let mut events = vec![Event::Vote(VoteCast {
            bounty_guid: d.bounty_guid,
            votes: d.votes,
            voter: from,
        })];
        let all_voted = whitelisted.iter().all(|a| bounty.has_voted(a));
        if bounty.quorum_block.is_none() && (all_voted || has_quorum(bounty, arbiters)) {
            bounty.quorum_block = Some(block);
            events.push(Event::Quorum {
                bounty_guid: d.bounty_guid,
            });
        }
        if all_voted {
            self.fully_voted.insert(d.bounty_guid);
        }
        Ok(events)
    }

    fn stake_matured(&self, entry: &StakeEntry) -> bool {
        self.block >= self.stake_matures_at(entry)
    }

    /// The first block at which `entry` may be withdrawn: `stake_duration`
    /// blocks after its deposit, or earlier when a deprecation without
    /// rollover releases every stake (SPEC §3.10).
    pub fn stake_matures_at(&self, entry: &StakeEntry) -> u64 {
        let by_duration = entry.block.saturating_add(self.params.stake_duration);
        match &self.deprecation {
            Some(dep) if !dep.rollover => {
                let release = dep
                    .block
                    .saturating_add(self.params.max_duration)
                    .saturating_add(self.params.assertion_reveal_window)
                    .saturating_add(self.params.arbiter_vote_window);
                by_duration.min(release)
            }
            _ => by_duration,
        }
    }

    fn stake_deposit(
        &mut self,
        from: Address,
        d: &tx::StakeDeposit,
    ) -> Result<Vec<Event>, TxError> {
        if !self.arbiters.contains(&from) {
            return Err(TxError::NotArbiter(from));
        }
        if d.amount.is_zero() {
            return Err(TxError::ZeroAmount("stake deposit"));
        }
        let total = self
            .stake_total(&from)
            .checked_add(d.amount)
            .unwrap_or(Amount::from_wei(u128::MAX));
        if total > self.params.maximum_stake {
            return Err(TxError::StakeTooHigh {
                account: from,
                total,
                maximum: self.params.maximum_stake,
            });
        }
        self.require_funds(from, d.amount)?;
        self.debit(from, d.amount);
        self.stakes.entry(from).or_default().push(StakeEntry {
            block: self.block,
            amount: d.amount,
        });
        Ok(vec![Event::StakeDeposit {
            account: from,
            amount: d.amount,
            total,
        }])
    }

    fn stake_withdraw(
        &mut self,
        from: Address,
        d: &tx::StakeWithdraw,
    ) -> Result<Vec<Event>, TxError> {
        if d.amount.is_zero() {
            return Err(TxError::ZeroAmount("stake withdrawal"));
        }
        let withdrawable = self.stake_withdrawable(&from);
        if d.amount > withdrawable {
            return Err(TxError::StakeLocked {
                account: from,
                requested: d.amount,
                withdrawable,
            });
        }
        let matured: Vec<bool> = self
            .stakes
            .get(&from)
            .map(|entries| entries.iter().map(|e| self.stake_matured(e)).collect())
            .unwrap_or_default();
        let mut left = d.amount;
        if let Some(entries) = self.stakes.get_mut(&from) {
            // Oldest first: entries are in deposit order.
            for (entry, matured) in entries.iter_mut().zip(matured) {
                if left.is_zero() {
                    break;
                }
                if !matured {
                    continue;
                }
                let take = entry.amount.min(left);
                entry.amount = entry.amount.saturating_sub(take);
                left = left.saturating_sub(take);
            }
            entries.retain(|e| !e.amount.is_zero());
            if entries.is_empty() {
                self.stakes.remove(&from);
            }
        }
        self.credit(from, d.amount);
        Ok(vec![Event::StakeWithdrawal {
            account: from,
            amount: d.amount,
            total: self.stake_total(&from),
        }])
    }

    fn set_fees(&mut self, from: Address, d: &tx::SetFees) -> Result<Vec<Event>, TxError> {
        self.require_owner(from, "community:SetFees")?;
        self.params.bounty_fee = d.bounty_fee;
        self.params.assertion_fee = d.assertion_fee;
        Ok(vec![Event::FeeUpdate {
            bounty_fee: d.bounty_fee,
            assertion_fee: d.assertion_fee,
        }])
    }

    fn set_windows(&mut self, from: Address, d: &tx::SetWindows) -> Result<Vec<Event>, TxError> {
        self.require_owner(from, "community:SetWindows")?;
        if d.assertion_reveal_window == 0 {
            return Err(TxError::ZeroWindow("assertion_reveal_window"));
        }
        if d.arbiter_vote_window == 0 {
            return Err(TxError::ZeroWindow("arbiter_vote_window"));
        }
        self.params.assertion_reveal_window = d.assertion_reveal_window;
        self.params.arbiter_vote_window = d.arbiter_vote_window;
        Ok(vec![Event::WindowUpdate {
            assertion_reveal_window: d.assertion_reveal_window,
            arbiter_vote_window: d.arbiter_vote_window,
        }])
    }

    fn add_arbiter(&mut self, from: Address, d: &tx::AddArbiter) -> Result<Vec<Event>, TxError> {
        self.require_owner(from, "community:AddArbiter")?;
        if !self.arbiters.insert(d.arbiter) {
            return Err(TxError::ArbiterExists(d.arbiter));
        }
        Ok(vec![Event::ArbiterAdded { arbiter: d.arbiter }])
    }

    fn remove_arbiter(
        &mut self,
        from: Address,
        d: &tx::RemoveArbiter,
    ) -> Result<Vec<Event>, TxError> {
        self.require_owner(from, "community:RemoveArbiter")?;
        if !self.arbiters.remove(&d.arbiter) {
            return Err(TxError::NotArbiter(d.arbiter));
        }
        Ok(vec![Event::ArbiterRemoved { arbiter: d.arbiter }])
    }

    fn deprecate(&mut self, from: Address, d: &tx::Deprecate) -> Result<Vec<Event>, TxError> {
        self.require_owner(from, "community:Deprecate")?;
        if self.deprecation.is_some() {
            return Err(TxError::AlreadyDeprecated);
        }
        self.deprecation = Some(Deprecation {
            block: self.block,
            rollover: d.rollover,
        });
        Ok(vec![Event::Deprecated {
            rollover: d.rollover,
        }])
    }

    fn undeprecate(&mut self, from: Address) -> Result<Vec<Event>, TxError> {
        self.require_owner(from, "community:Undeprecate")?;
        if self.deprecation.take().is_none() {
            return Err(TxError::NotDeprecated);
        }
        Ok(vec![Event::Undeprecated {}])
    }
}

/// Whether every artifact has reached quorum among `arbiters` whitelisted:
/// `mal >= arbiters - mal` or `benign > arbiters - benign`.
fn has_quorum(bounty: &Bounty, arbiters: usize) -> bool {
    (0..bounty.num_artifacts as usize).all(|i| {
        let malicious = bounty.votes.iter().filter(|v| v.votes.get(i)).count();
        let benign = bounty.votes.len() - malicious;
        malicious >= arbiters.saturating_sub(malicious) || benign > arbiters.saturating_sub(benign)
    })
}
