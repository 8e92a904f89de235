//! Blocks, committed transactions and stored events: what the sequencer
//! writes and everyone else reads.

use serde::{Deserialize, Serialize};
use swarm_protocol::{keccak256, Address, Event, SignedTx, H256};

/// A block header (SPEC §4). Its hash is keccak256 of
/// `be8(number) || parent_hash || be8(timestamp_ms) || tx_root`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockHeader {
    /// Height; the first block is 1.
    pub number: u64,
    /// Hash of the previous block (zero for block 1).
    #[schema(value_type = String)]
    pub parent_hash: H256,
    /// Unix time in milliseconds when the block was sealed.
    pub timestamp_ms: u64,
    /// keccak256 of the concatenated hashes of the block's transactions.
    #[schema(value_type = String)]
    pub tx_root: H256,
    /// This header's hash.
    #[schema(value_type = String)]
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

/// An event as stored and streamed: `{event, data, block_number, txhash}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The event and its payload (`event` and `data` on the wire).
    #[serde(flatten)]
    pub event: Event,
    /// Block that produced it.
    pub block_number: u64,
    /// Position among the block's events.
    pub seq: u32,
    /// The transaction that produced it; none for block-level events
    /// (the `block` event, settlements).
    pub txhash: Option<H256>,
}

/// A committed transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// keccak256 of `raw`.
    pub hash: H256,
    /// The envelope as submitted.
    pub signed: SignedTx,
    /// Transaction name.
    pub name: String,
    /// The verified sender.
    pub from: Address,
    /// Block of inclusion.
    pub block_number: u64,
    /// Position in the block.
    pub index: u32,
}

/// A sealed block with everything it changed: the unit of durability.
#[derive(Clone, Debug, PartialEq)]
pub struct CommittedBlock {
    /// The header.
    pub header: BlockHeader,
    /// Transactions in order.
    pub txs: Vec<TxRecord>,
    /// Events in order: those of `begin_block` first, then each transaction's.
    pub events: Vec<EventRecord>,
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

    #[test]
    fn event_record_wire_shape() {
        let r = EventRecord {
            event: Event::Block { number: 3 },
            block_number: 3,
            seq: 0,
            txhash: None,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["event"], "block");
        assert_eq!(v["data"]["number"], 3);
        assert_eq!(v["block_number"], 3);
        assert!(v["txhash"].is_null());
        let back: EventRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }
}
