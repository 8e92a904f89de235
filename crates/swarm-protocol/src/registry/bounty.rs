//! A bounty's stored state and its rounds (SPEC §3.4).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::amount::Amount;
use crate::bits::Bits256;
use crate::events::BountySettled;
use crate::hash::H256;
use crate::tx::{ArtifactMetadata, ArtifactType};
use crate::Guid;

/// The phase of a bounty at a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Round {
    /// Round 0: engines assert. `block < E`.
    Assertion,
    /// Round 1: engines reveal. `E <= block < E + R`.
    Reveal,
    /// Round 2: arbiters vote. `E + R <= block < E + R + V`.
    Vote,
    /// Round 3: round 2 after quorum was reached.
    Quorum,
    /// Round 4: finished, `block >= E + R + V` (or settled early because every arbiter voted).
    Finished,
}

impl Round {
    /// The round's number as in the original contract (0..=4).
    pub fn number(self) -> u8 {
        match self {
            Round::Assertion => 0,
            Round::Reveal => 1,
            Round::Vote => 2,
            Round::Quorum => 3,
            Round::Finished => 4,
        }
    }
}

impl fmt::Display for Round {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Round::Assertion => "assertion",
            Round::Reveal => "reveal",
            Round::Vote => "vote",
            Round::Quorum => "vote (quorum reached)",
            Round::Finished => "finished",
        };
        write!(f, "round {} ({name})", self.number())
    }
}

/// An engine's assertion on a bounty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assertion {
    /// The engine.
    pub author: Address,
    /// Asserted artifacts.
    pub mask: Bits256,
    /// One bid per mask bit, ascending bit order.
    pub bids: Vec<Amount>,
    /// Hides the verdicts until the reveal.
    pub commitment: H256,
    /// The assertion fee paid (fees can change while a bounty runs).
    pub fee: Amount,
    /// Block of inclusion.
    pub block: u64,
    /// What was revealed, if anything.
    pub revealed: Option<Revealed>,
}

impl Assertion {
    /// The bid on artifact `i`, if the mask covers it.
    pub fn bid_on(&self, i: usize) -> Option<Amount> {
        if !self.mask.get(i) {
            return None;
        }
        let position = self.mask.iter().take_while(|&b| b < i).count();
        self.bids.get(position).copied()
    }

    /// Fee plus bids: what this assertion holds in escrow.
    pub fn escrowed(&self) -> Amount {
        self.bids
            .iter()
            .copied()
            .sum::<Amount>()
            .checked_add(self.fee)
            .unwrap_or(Amount::ZERO)
    }
}

/// A revealed assertion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revealed {
    /// The nonce.
    pub nonce: H256,
    /// Bit i: malicious.
    pub verdicts: Bits256,
    /// Scan metadata.
    pub metadata: serde_json::Value,
    /// Block of inclusion.
    pub block: u64,
}

/// An arbiter's vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VoteRecord {
    /// The arbiter.
    pub voter: Address,
    /// Bit i: malicious.
    pub votes: Bits256,
    /// The arbiter's stake when it voted: its weight in the fee split.
    pub stake: Amount,
    /// Block of inclusion.
    pub block: u64,
}

/// A bounty and everything done on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bounty {
    /// The bounty's guid.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub guid: Guid,
    /// The ambassador.
    pub author: Address,
    /// Files or URLs.
    pub artifact_type: ArtifactType,
    /// Reward.
    pub amount: Amount,
    /// The bounty fee paid.
    pub fee: Amount,
    /// Artifact bundle uri.
    pub uri: String,
    /// Number of artifacts.
    pub num_artifacts: u32,
    /// Per-artifact metadata.
    pub metadata: Option<Vec<ArtifactMetadata>>,
    /// Block of inclusion.
    pub posted_block: u64,
    /// E = posted block + duration: the first block of the reveal round.
    pub expiration: u64,
    /// R at posting time.
    pub reveal_window: u64,
    /// V at posting time.
    pub vote_window: u64,
    /// Assertions, in inclusion order.
    pub assertions: Vec<Assertion>,
    /// Votes, in inclusion order.
    pub votes: Vec<VoteRecord>,
    /// Block in which quorum was reached.
    pub quorum_block: Option<u64>,
    /// The settlement, once settled.
    pub settlement: Option<Settlement>,
}

/// A settled bounty's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settlement {
    /// Block of settlement.
    pub block: u64,
    /// Payouts and dust.
    pub outcome: BountySettled,
}

/// A settled bounty handed out by [`crate::Registry::take_settled`]: its
/// final record, with its posting number (0 for the first bounty ever
/// posted), which orders listings newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettledBounty {
    /// Posting number.
    pub number: u64,
    /// The bounty, with its settlement.
    pub bounty: Bounty,
}

impl SettledBounty {
    /// The block of its settlement.
    pub fn settled_block(&self) -> u64 {
        self.bounty
            .settlement
            .as_ref()
            .map(|s| s.block)
            .unwrap_or(self.bounty.posted_block)
    }
}

impl Bounty {
    /// First block of round 2 (E + R).
    pub fn reveal_deadline(&self) -> u64 {
        self.expiration.saturating_add(self.reveal_window)
    }

    /// First block of round 4 (E + R + V).
    pub fn vote_deadline(&self) -> u64 {
        self.reveal_deadline().saturating_add(self.vote_window)
    }

    /// The bounty's round at `block`. A settled bounty is finished.
    pub fn round(&self, block: u64) -> Round {
        if self.settlement.is_some() || block >= self.vote_deadline() {
            Round::Finished
        } else if block >= self.reveal_deadline() {
            if self.quorum_block.is_some() {
                Round::Quorum
            } else {
                Round::Vote
            }
        } else if block >= self.expiration {
            Round::Reveal
        } else {
            Round::Assertion
        }
    }

    /// What the bounty holds in escrow while unsettled: amount, bounty fee,
    /// and each assertion's fee and bids.
    pub fn escrowed(&self) -> Amount {
        let assertions: Amount = self.assertions.iter().map(Assertion::escrowed).sum();
        self.amount
            .checked_add(self.fee)
            .and_then(|a| a.checked_add(assertions))
            .unwrap_or(Amount::ZERO)
    }

    /// The assertion of `author`, with its index.
    pub fn assertion_of(&self, author: &Address) -> Option<(usize, &Assertion)> {
        self.assertions
            .iter()
            .enumerate()
            .find(|(_, a)| a.author == *author)
    }

    /// Whether `voter` voted.
    pub fn has_voted(&self, voter: &Address) -> bool {
        self.votes.iter().any(|v| v.voter == *voter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bid_on_follows_mask_order() {
        let a = Assertion {
            author: Address::ZERO,
            mask: Bits256::from_indices([1, 4, 7]),
            bids: vec![
                Amount::from_wei(10),
                Amount::from_wei(40),
                Amount::from_wei(70),
            ],
            commitment: H256::ZERO,
            fee: Amount::ZERO,
            block: 0,
            revealed: None,
        };
        assert_eq!(a.bid_on(1), Some(Amount::from_wei(10)));
        assert_eq!(a.bid_on(4), Some(Amount::from_wei(40)));
        assert_eq!(a.bid_on(7), Some(Amount::from_wei(70)));
        assert_eq!(a.bid_on(0), None);
    }
}
