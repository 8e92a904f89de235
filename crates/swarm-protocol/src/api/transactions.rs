//! What `POST /transactions` and `GET /transactions/{hash}` answer.

use serde::{Deserialize, Serialize};

use crate::{Address, SignedTx, H256};

use super::EventRecord;

/// Where a submitted transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TxStatus {
    /// Accepted into the open block, not committed yet.
    Pending,
    /// In a committed block.
    Included,
}

/// A transaction the node took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Submitted {
    /// keccak256 of `raw`.
    pub hash: H256,
    /// `included` once the block is committed (with `?wait=true`), else `pending`.
    pub status: TxStatus,
    /// The block it is (or will be) in.
    pub block_number: u64,
}

/// A transaction of a batch the node refused, alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refusal {
    /// What is wrong.
    pub errors: String,
    /// The stable code, such as `wrong_round`.
    pub code: String,
    /// The HTTP status it would have had alone.
    pub status: u16,
    /// Seconds to wait before sending it again, when its refusal passes
    /// (over a rate, or the node busy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// One item of a batch answer, in the order submitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum BatchItem {
    /// Taken.
    Ok(Submitted),
    /// Refused.
    Err(Refusal),
}

/// A committed transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxRecord {
    /// keccak256 of `raw`.
    pub hash: H256,
    /// The envelope as submitted.
    pub signed: SignedTx,
    /// Transaction name, such as `bounty:Post`.
    pub name: String,
    /// The verified sender.
    pub from: Address,
    /// Block of inclusion.
    pub block_number: u64,
    /// Position in the block.
    pub index: u32,
}

/// `GET /transactions/{hash}`: a committed transaction and its events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// The transaction.
    #[serde(flatten)]
    pub tx: TxRecord,
    /// Always `included`: a receipt is only given for a committed block.
    pub status: TxStatus,
    /// The events it produced, in order.
    pub events: Vec<EventRecord>,
}
