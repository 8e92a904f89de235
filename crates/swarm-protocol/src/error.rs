//! Why a transaction is refused.
//!
//! Every message names the rule that was broken and the values involved,
//! because it travels unchanged to the engine author's terminal: "bid 0.01
//! NCT on artifact 2 is below the minimum 0.0625 NCT" gets fixed; "invalid
//! transaction" gets a support ticket. [`TxError::code`] gives a stable
//! machine-readable name for each variant.

use crate::address::Address;
use crate::amount::Amount;
use crate::hash::H256;
use crate::registry::Round;
use crate::Guid;

/// A transaction the protocol refuses. Nothing changes when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// The envelope or the transaction text is not valid JSON of the right shape.
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// The raw text exceeds the size limit.
    #[error("transaction is {size} bytes; the limit is {max}")]
    TooLarge {
        /// Size of the raw text.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No transaction kind has this name.
    #[error("unknown transaction name {0:?}")]
    UnknownName(String),
    /// The signature cannot be decoded or recovers no key.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The signature is valid but was made by another key than `from`'s.
    #[error("signature was made by {signer}, not by the sender {from}")]
    WrongSigner {
        /// The claimed sender.
        from: Address,
        /// Who actually signed.
        signer: Address,
    },
    /// The transaction names another community.
    #[error("transaction is for community {got:?}, this is {expected:?}")]
    WrongCommunity {
        /// This registry's community.
        expected: String,
        /// The transaction's.
        got: String,
    },
    /// `expires` is before the current block.
    #[error("transaction expired at block {expires}; the current block is {block}")]
    Expired {
        /// The transaction's last valid block.
        expires: u64,
        /// The current block.
        block: u64,
    },
    /// `expires` lies too far ahead.
    #[error("transaction expires at block {expires}, more than {max} blocks after the current block {block}")]
    ExpiresTooFar {
        /// The transaction's last valid block.
        expires: u64,
        /// The current block.
        block: u64,
        /// The window.
        max: u64,
    },
    /// The same transaction was already included.
    #[error("transaction {0} was already included (replay)")]
    Replayed(H256),
    /// The sender cannot pay.
    #[error("{account} has {available}, needs {needed}")]
    InsufficientBalance {
        /// The payer.
        account: Address,
        /// What the transaction costs.
        needed: Amount,
        /// What the account holds.
        available: Amount,
    },
    /// An amount that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroAmount(&'static str),
    /// Minting would exceed what 128 bits of wei can count.
    #[error("minting {0} would overflow the total supply")]
    SupplyOverflow(Amount),
    /// Only the community owner may do this.
    #[error("{action} is reserved to the community owner {owner}, not {account}")]
    NotOwner {
        /// The transaction name.
        action: &'static str,
        /// The owner.
        owner: Address,
        /// The sender.
        account: Address,
    },
    /// A faucet mint above the faucet's per-mint limit.
    #[error("faucet mints at most {limit}, asked for {amount}")]
    FaucetLimit {
        /// Requested.
        amount: Amount,
        /// Limit.
        limit: Amount,
    },
    /// The bounty guid is taken.
    #[error("bounty {0} already exists")]
    DuplicateBounty(Guid),
    /// No bounty has this guid.
    #[error("no bounty {0}")]
    UnknownBounty(Guid),
    /// The community is deprecated and takes no new bounties.
    #[error("the community is deprecated and accepts no new bounties")]
    Deprecated,
    /// Artifact count outside 1..=max.
    #[error("a bounty holds 1 to {max} artifacts, not {count}")]
    ArtifactCount {
        /// Requested count.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// The bounty amount is below the per-artifact minimum times the artifact count.
    #[error("bounty amount {amount} is below the minimum {minimum} for {artifacts} artifact(s)")]
    BountyAmountTooLow {
        /// Offered.
        amount: Amount,
        /// Required for this many artifacts.
        minimum: Amount,
        /// Artifact count.
        artifacts: u32,
    },
    /// Duration outside 1..=max_duration.
    #[error("duration {duration} is outside 1..={max} blocks")]
    Duration {
        /// Requested.
        duration: u64,
        /// The limit.
        max: u64,
    },
    /// The uri is not the sha256 of an artifact manifest.
    #[error("artifact uri {0:?} is not a sha256 (64 lowercase hex digits)")]
    BadUri(String),
    /// Per-artifact metadata does not match the artifact count.
    #[error("metadata lists {got} artifacts, the bounty has {expected}")]
    MetadataCount {
        /// Entries given.
        got: usize,
        /// Artifacts in the bounty.
        expected: u32,
    },
    /// The bounty is not in the round this transaction needs.
    #[error("{action} on bounty {guid} is allowed in {allowed}, but at block {block} the bounty is in {round}")]
    WrongRound {
        /// The transaction name.
        action: &'static str,
        /// The bounty.
        guid: Guid,
        /// Which rounds allow it.
        allowed: &'static str,
        /// The bounty's round now.
        round: Round,
        /// The current block.
        block: u64,
    },
    /// An assertion with no mask bit set.
    #[error("assertion mask covers no artifact")]
    EmptyMask,
    /// A mask or vote bit for an artifact the bounty does not have.
    #[error("bit {bit} is set but bounty {guid} has only {artifacts} artifact(s)")]
    BitOutOfRange {
        /// The bounty.
        guid: Guid,
        /// The offending bit.
        bit: usize,
        /// The bounty's artifact count.
        artifacts: u32,
    },
    /// Bids do not pair one to one with the mask bits.
    #[error("{bids} bid(s) for {mask_bits} asserted artifact(s); give one bid per mask bit")]
    BidCount {
        /// Bids given.
        bids: usize,
        /// Set mask bits.
        mask_bits: usize,
    },
    /// A bid below the minimum.
    #[error("bid {bid} on artifact {artifact} is below the minimum {minimum}")]
    BidTooLow {
        /// The bid.
        bid: Amount,
        /// Its artifact.
        artifact: usize,
        /// The minimum.
        minimum: Amount,
    },
    /// A bid above the maximum.
    #[error("bid {bid} on artifact {artifact} is above the maximum {maximum}")]
    BidTooHigh {
        /// The bid.
        bid: Amount,
        /// Its artifact.
        artifact: usize,
        /// The maximum.
        maximum: Amount,
    },
    /// The sender already asserted on this bounty.
    #[error("{account} already asserted on bounty {guid}")]
    DuplicateAssertion {
        /// The bounty.
        guid: Guid,
        /// The sender.
        account: Address,
    },
    /// A reveal without an assertion to reveal.
    #[error("{account} has no assertion on bounty {guid} to reveal")]
    NoAssertion {
        /// The bounty.
        guid: Guid,
        /// The sender.
        account: Address,
    },
    /// A second reveal.
    #[error("{account} already revealed on bounty {guid}")]
    AlreadyRevealed {
        /// The bounty.
        guid: Guid,
        /// The sender.
        account: Address,
    },
    /// Nonce and verdicts do not hash to the commitment.
    #[error(
        "nonce and verdicts do not match the commitment {commitment} of {account} on bounty {guid}"
    )]
    CommitmentMismatch {
        /// The bounty.
        guid: Guid,
        /// The sender.
        account: Address,
        /// The stored commitment.
        commitment: H256,
    },
    /// The nonce must be a random non-zero number.
    #[error("reveal nonce must be non-zero")]
    ZeroNonce,
    /// Reveal metadata over the limit.
    #[error("reveal metadata is {size} bytes; the limit is {max}")]
    MetadataTooLarge {
        /// Serialized size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The sender is not a whitelisted arbiter.
    #[error("{0} is not a whitelisted arbiter")]
    NotArbiter(Address),
    /// An arbiter staked below the minimum.
    #[error("arbiter {account} has staked {stake}, below the minimum {minimum}")]
    Understaked {
        /// The arbiter.
        account: Address,
        /// Current stake.
        stake: Amount,
        /// Required.
        minimum: Amount,
    },
    /// A second vote.
    #[error("arbiter {account} already voted on bounty {guid}")]
    DuplicateVote {
        /// The bounty.
        guid: Guid,
        /// The arbiter.
        account: Address,
    },
    /// A deposit that would push the stake over the maximum.
    #[error("stake of {account} would be {total}, above the maximum {maximum}")]
    StakeTooHigh {
        /// The arbiter.
        account: Address,
        /// Stake after the deposit.
        total: Amount,
        /// The maximum.
        maximum: Amount,
    },
    /// A withdrawal larger than the matured stake.
    #[error("{account} can withdraw {withdrawable} now, asked for {requested}")]
    StakeLocked {
        /// The staker.
        account: Address,
        /// Asked for.
        requested: Amount,
        /// Matured stake.
        withdrawable: Amount,
    },
    /// A window of zero blocks.
    #[error("{0} must be at least 1 block")]
    ZeroWindow(&'static str),
    /// A transaction's JSON nests too deep or holds too many keys or values
    /// (see [`crate::admission`]).
    #[error("transaction JSON exceeds the limit of {max} {what}")]
    JsonLimit {
        /// Which limit: "nesting depth", "keys in one object" or "values".
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A bounty guid that is not a UUID v4 (SPEC §3.1).
    #[error("bounty guid {0} is not a UUID v4 (version {v}); use a random UUID", v = .0.get_version_num())]
    GuidNotV4(Guid),
    /// A metadata field longer than its limit.
    #[error("{field} of artifact {artifact} is {len} bytes; the limit is {max}")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// The artifact's index.
        artifact: usize,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An owner's parameter outside the range that keeps bounties settling.
    #[error("{name} = {value} is above the limit of {max}")]
    ParameterOutOfRange {
        /// The parameter.
        name: &'static str,
        /// The value asked for.
        value: String,
        /// The largest allowed.
        max: String,
    },
    /// The arbiter is already whitelisted.
    #[error("{0} is already an arbiter")]
    ArbiterExists(Address),
    /// Already deprecated.
    #[error("the community is already deprecated")]
    AlreadyDeprecated,
    /// Not deprecated.
    #[error("the community is not deprecated")]
    NotDeprecated,
}

impl TxError {
    /// A stable, machine-readable name for the error kind.
    pub fn code(&self) -> &'static str {
        match self {
            TxError::Malformed(_) => "malformed",
            TxError::TooLarge { .. } => "too_large",
            TxError::UnknownName(_) => "unknown_name",
            TxError::BadSignature(_) => "bad_signature",
            TxError::WrongSigner { .. } => "wrong_signer",
            TxError::WrongCommunity { .. } => "wrong_community",
            TxError::Expired { .. } => "expired",
            TxError::ExpiresTooFar { .. } => "expires_too_far",
            TxError::Replayed(_) => "replayed",
            TxError::InsufficientBalance { .. } => "insufficient_balance",
            TxError::ZeroAmount(_) => "zero_amount",
            TxError::SupplyOverflow(_) => "supply_overflow",
            TxError::NotOwner { .. } => "not_owner",
            TxError::FaucetLimit { .. } => "faucet_limit",
            TxError::DuplicateBounty(_) => "duplicate_bounty",
            TxError::UnknownBounty(_) => "unknown_bounty",
            TxError::Deprecated => "deprecated",
            TxError::ArtifactCount { .. } => "artifact_count",
            TxError::BountyAmountTooLow { .. } => "bounty_amount_too_low",
            TxError::Duration { .. } => "duration",
            TxError::BadUri(_) => "bad_uri",
            TxError::MetadataCount { .. } => "metadata_count",
            TxError::WrongRound { .. } => "wrong_round",
            TxError::EmptyMask => "empty_mask",
            TxError::BitOutOfRange { .. } => "bit_out_of_range",
            TxError::BidCount { .. } => "bid_count",
            TxError::BidTooLow { .. } => "bid_too_low",
            TxError::BidTooHigh { .. } => "bid_too_high",
            TxError::DuplicateAssertion { .. } => "duplicate_assertion",
            TxError::NoAssertion { .. } => "no_assertion",
            TxError::AlreadyRevealed { .. } => "already_revealed",
            TxError::CommitmentMismatch { .. } => "commitment_mismatch",
            TxError::ZeroNonce => "zero_nonce",
            TxError::MetadataTooLarge { .. } => "metadata_too_large",
            TxError::NotArbiter(_) => "not_arbiter",
            TxError::Understaked { .. } => "understaked",
            TxError::DuplicateVote { .. } => "duplicate_vote",
            TxError::StakeTooHigh { .. } => "stake_too_high",
            TxError::StakeLocked { .. } => "stake_locked",
            TxError::ZeroWindow(_) => "zero_window",
            TxError::ArbiterExists(_) => "arbiter_exists",
            TxError::JsonLimit { .. } => "json_limit",
            TxError::GuidNotV4(_) => "guid_not_v4",
            TxError::FieldTooLong { .. } => "field_too_long",
            TxError::ParameterOutOfRange { .. } => "parameter_out_of_range",
            TxError::AlreadyDeprecated => "already_deprecated",
            TxError::NotDeprecated => "not_deprecated",
        }
    }
}

/// Why a genesis configuration cannot start a registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenesisError {
    /// Not valid TOML of the genesis shape.
    #[error("genesis is not valid: {0}")]
    Parse(String),
    /// A parameter is out of range.
    #[error("genesis parameter {name}: {reason}")]
    Parameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The allocations add up to more than u128 wei.
    #[error("genesis allocations overflow the total supply")]
    SupplyOverflow,
}
