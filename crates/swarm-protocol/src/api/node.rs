//! What a node says about itself and its community: status, parameters,
//! blocks.

use serde::{Deserialize, Serialize};

use crate::{keccak256, Address, Amount, Parameters, H256};

/// `GET /status`: the community, the chain's height, whether this node
/// sequences, and where every wei is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    /// Community name.
    pub community: String,
    /// Last committed block (0 before the first).
    pub block: u64,
    /// That block's hash.
    pub block_hash: Option<H256>,
    /// Target time between blocks.
    pub block_time_ms: u64,
    /// Whether this node sequences (the others follow it).
    pub sequencer: bool,
    /// Bounties posted so far.
    pub bounties: usize,
    /// Where every wei is.
    pub supply: Supply,
    /// The node's version.
    pub version: String,
}

/// Where every wei is: `balances + escrow + staked + treasury == minted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Supply {
    /// Every wei ever created.
    pub minted: Amount,
    /// Held by accounts.
    pub balances: Amount,
    /// Held by open bounties (amounts, bids, fees).
    pub escrow: Amount,
    /// Staked by arbiters.
    pub staked: Amount,
    /// Fees collected for the community.
    pub treasury: Amount,
}

/// `GET /bounties/parameters`: the community's rules, owner and arbiters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommunityParameters {
    /// Fees, minimums, windows (amounts in wei).
    #[serde(flatten)]
    pub parameters: Parameters,
    /// Community name.
    pub community: String,
    /// The owner, who may change fees and windows.
    pub owner: Address,
    /// Whitelisted arbiters.
    pub arbiters: Vec<Address>,
    /// Whether new bounties are refused.
    pub deprecated: bool,
}

/// `GET /staking/parameters`: stake bounds and duration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StakingParameters {
    /// Stake needed to vote.
    pub minimum_stake: Amount,
    /// Most an arbiter may stake.
    pub maximum_stake: Amount,
    /// Blocks before a deposit can be withdrawn.
    pub stake_duration: u64,
    /// Whitelisted arbiters.
    pub arbiters: Vec<Address>,
}

/// `GET /balances/{address}/staking/deposits`: one stake deposit still
/// (partly) staked, and when it can be withdrawn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StakeDepositView {
    /// Block of the deposit.
    pub block: u64,
    /// What is left of it, in wei.
    pub amount: Amount,
    /// The first block at which it may be withdrawn.
    pub withdrawable_at: u64,
    /// Whether it may be withdrawn at the node's current block.
    pub withdrawable: bool,
}

/// A block header (SPEC §4). Its hash is keccak256 of
/// `be8(number) || parent_hash || be8(timestamp_ms) || tx_root`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockHeader {
    /// Height; the first block is 1.
    pub number: u64,
    /// Hash of the previous block (zero for block 1).
    pub parent_hash: H256,
    /// Unix time in milliseconds when the block was sealed.
    pub timestamp_ms: u64,
    /// keccak256 of the concatenated hashes of the block's transactions.
    pub tx_root: H256,
    /// This header's hash.
    pub hash: H256,
}

impl BlockHeader {
    /// Seals a header: computes `tx_root` and the hash.
    pub fn seal(number: u64, parent_hash: H256, timestamp_ms: u64, tx_hashes: &[H256]) -> Self {
        let mut all = Vec::with_capacity(32 * tx_hashes.len());
        for h in tx_hashes {
            all.extend_from_slice(&h.0);
        }
        let tx_root = keccak256(&all);
        let mut pre = Vec::with_capacity(80);
        pre.extend_from_slice(&number.to_be_bytes());
        pre.extend_from_slice(&parent_hash.0);
        pre.extend_from_slice(&timestamp_ms.to_be_bytes());
        pre.extend_from_slice(&tx_root.0);
        BlockHeader {
            number,
            parent_hash,
            timestamp_ms,
            tx_root,
            hash: keccak256(&pre),
        }
    }
}

/// `GET /blocks/{number}`: a header and its transaction hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockSummary {
    /// The header.
    #[serde(flatten)]
    pub header: BlockHeader,
    /// Hashes of its transactions, in order.
    pub transactions: Vec<H256>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_hash_covers_every_field() {
        let a = BlockHeader::seal(1, H256::ZERO, 5, &[keccak256(b"t")]);
        assert_ne!(
            a.hash,
            BlockHeader::seal(2, H256::ZERO, 5, &[keccak256(b"t")]).hash
        );
        assert_ne!(
            a.hash,
            BlockHeader::seal(1, a.hash, 5, &[keccak256(b"t")]).hash
        );
        assert_ne!(
            a.hash,
            BlockHeader::seal(1, H256::ZERO, 6, &[keccak256(b"t")]).hash
        );
        assert_ne!(a.hash, BlockHeader::seal(1, H256::ZERO, 5, &[]).hash);
    }
}
