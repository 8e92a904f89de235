//! What happened: the events a block produces (SPEC §4).
//!
//! On the wire an event is `{"event": "<kind>", "data": {...}}`; the node adds
//! `block_number` and `txhash`. Payload fields follow polyswarmd's, with
//! amounts as decimal wei strings and masks as `0x` hex bitmasks.

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::amount::Amount;
use crate::bits::Bits256;
use crate::hash::H256;
use crate::tx::{ArtifactMetadata, ArtifactType};
use crate::Guid;

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A block began.
    Block {
        /// Its number.
        number: u64,
    },
    /// A bounty was posted.
    Bounty(BountyPosted),
    /// An engine asserted.
    Assertion(AssertionMade),
    /// An engine revealed.
    Reveal(AssertionRevealed),
    /// An arbiter voted.
    Vote(VoteCast),
    /// Every artifact of a bounty reached quorum, or every arbiter voted.
    Quorum {
        /// The bounty.
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
        bounty_guid: Guid,
    },
    /// A bounty settled; every payout is listed.
    SettledBounty(BountySettled),
    /// The owner changed fees.
    FeeUpdate {
        /// New bounty fee.
        bounty_fee: Amount,
        /// New assertion fee.
        assertion_fee: Amount,
    },
    /// The owner changed windows.
    WindowUpdate {
        /// New reveal window.
        assertion_reveal_window: u64,
        /// New vote window.
        arbiter_vote_window: u64,
    },
    /// The community stopped taking bounties.
    Deprecated {
        /// Whether stakes roll over.
        rollover: bool,
    },
    /// The community takes bounties again.
    Undeprecated {},
    /// NCT moved between accounts.
    Transfer {
        /// Payer.
        from: Address,
        /// Payee.
        to: Address,
        /// Amount.
        amount: Amount,
    },
    /// NCT was created.
    Mint {
        /// Recipient.
        to: Address,
        /// Amount.
        amount: Amount,
    },
    /// An arbiter staked.
    StakeDeposit {
        /// The arbiter.
        account: Address,
        /// Deposited.
        amount: Amount,
        /// Stake afterwards.
        total: Amount,
    },
    /// Stake was withdrawn.
    StakeWithdrawal {
        /// The staker.
        account: Address,
        /// Withdrawn.
        amount: Amount,
        /// Stake afterwards.
        total: Amount,
    },
    /// The owner whitelisted an arbiter.
    ArbiterAdded {
        /// The arbiter.
        arbiter: Address,
    },
    /// The owner removed an arbiter.
    ArbiterRemoved {
        /// The arbiter.
        arbiter: Address,
    },
}

impl Event {
    /// The `event` name on the wire, such as `settled_bounty`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Block { .. } => "block",
            Event::Bounty(_) => "bounty",
            Event::Assertion(_) => "assertion",
            Event::Reveal(_) => "reveal",
            Event::Vote(_) => "vote",
            Event::Quorum { .. } => "quorum",
            Event::SettledBounty(_) => "settled_bounty",
            Event::FeeUpdate { .. } => "fee_update",
            Event::WindowUpdate { .. } => "window_update",
            Event::Deprecated { .. } => "deprecated",
            Event::Undeprecated {} => "undeprecated",
            Event::Transfer { .. } => "transfer",
            Event::Mint { .. } => "mint",
            Event::StakeDeposit { .. } => "stake_deposit",
            Event::StakeWithdrawal { .. } => "stake_withdrawal",
            Event::ArbiterAdded { .. } => "arbiter_added",
            Event::ArbiterRemoved { .. } => "arbiter_removed",
        }
    }
}

/// Payload of `bounty`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BountyPosted {
    /// The bounty.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub guid: Guid,
    /// Files or URLs.
    pub artifact_type: ArtifactType,
    /// The ambassador.
    pub author: Address,
    /// Reward.
    pub amount: Amount,
    /// Artifact bundle uri.
    pub uri: String,
    /// Number of artifacts.
    pub num_artifacts: u32,
    /// First block of the reveal round (E).
    pub expiration: u64,
    /// Last block (exclusive) of the reveal round, E + R.
    pub reveal_deadline: u64,
    /// Last block (exclusive) of the vote round, E + R + V.
    pub vote_deadline: u64,
    /// Per-artifact metadata.
    pub metadata: Option<Vec<ArtifactMetadata>>,
}

/// Payload of `assertion`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssertionMade {
    /// The bounty.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub bounty_guid: Guid,
    /// The engine.
    pub author: Address,
    /// Position of this assertion in the bounty.
    pub index: usize,
    /// Bids, one per mask bit.
    pub bids: Vec<Amount>,
    /// Asserted artifacts.
    pub mask: Bits256,
    /// The commitment.
    pub commitment: H256,
}

/// Payload of `reveal`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssertionRevealed {
    /// The bounty.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub bounty_guid: Guid,
    /// The engine.
    pub author: Address,
    /// Position of the assertion in the bounty.
    pub index: usize,
    /// The nonce.
    pub nonce: H256,
    /// Bit i: malicious.
    pub verdicts: Bits256,
    /// Scan metadata.
    pub metadata: serde_json::Value,
}

/// Payload of `vote`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VoteCast {
    /// The bounty.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub bounty_guid: Guid,
    /// Bit i: malicious.
    pub votes: Bits256,
    /// The arbiter.
    pub voter: Address,
}

/// Who a payout is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PayoutRole {
    /// The bounty's author.
    Ambassador,
    /// An engine that asserted.
    Expert,
    /// An arbiter that voted.
    Arbiter,
}

/// One credit made by a settlement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payout {
    /// Credited account.
    pub account: Address,
    /// In which role.
    pub role: PayoutRole,
    /// Amount credited (may be zero, e.g. an expert that lost every bid).
    pub amount: Amount,
}

/// Payload of `settled_bounty`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BountySettled {
    /// The bounty.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub bounty_guid: Guid,
    /// Consensus verdicts (bit i = malicious), whenever arbiters voted.
    pub consensus: Option<Bits256>,
    /// Every credit, ambassador first, then experts by assertion index, then arbiters by vote order.
    pub payouts: Vec<Payout>,
    /// Integer dust (and unclaimed rewards when nobody voted) sent to the treasury.
    pub treasury: Amount,
}
