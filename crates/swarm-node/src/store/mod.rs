//! Durable storage of the chain: blocks, transactions, events, snapshots,
//! and the settled bounties.
//!
//! The live state is not stored table by table: the registry is a
//! deterministic state machine, so the chain of committed blocks *is* the
//! state, and a node rebuilds it on start by replaying the blocks after the
//! latest snapshot. That keeps a block's commit to a handful of inserts in
//! one transaction — the whole block or nothing — and lets several nodes
//! share one PostgreSQL database by replaying the same blocks.
//!
//! Settled bounties are the exception, because they are history: the
//! registry hands each one out when it settles
//! ([`swarm_protocol::Registry::take_settled`]) and the block that settled
//! it writes its final record to the `bounties` table in the same
//! transaction. The node's memory then follows the open bounties, and
//! readers find a settled bounty here by guid or by posting number.
//!
//! [`SqlStore`] implements [`Store`] on SQLite (the embedded default) and
//! on PostgreSQL; both pass the same conformance suite.

mod sql;

#[cfg(any(test, feature = "test-utils"))]
pub mod conformance;

use async_trait::async_trait;
use swarm_protocol::{Address, Guid, SettledBounty, H256};

use crate::chain::{BlockHeader, CommittedBlock, EventRecord, TxRecord};

pub use sql::SqlStore;

/// A storage failure. Everything here is the node's own problem, never the client's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Schema migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data does not decode: corruption or a foreign database.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database was started with another genesis.
    #[error("the database belongs to another genesis (stored {stored}, given {given})")]
    GenesisMismatch {
        /// Hash of the stored genesis.
        stored: H256,
        /// Hash of the given one.
        given: H256,
    },
    /// A block that does not follow the stored tip.
    #[error("block {number} does not follow the stored tip {tip}")]
    OutOfOrder {
        /// The block's number.
        number: u64,
        /// The stored tip.
        tip: u64,
    },
    /// The database URL is not understood.
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgres://...")]
    Url(String),
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub use swarm_protocol::api::BlockSummary;

/// Blocks sealed within one time bucket (see [`Store::block_activity`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BlockBucket {
    /// Start of the bucket: Unix milliseconds, a multiple of the bucket width.
    pub start_ms: u64,
    /// The first block sealed in the bucket.
    pub first_block: u64,
    /// The last block sealed in the bucket.
    pub last_block: u64,
    /// Transactions in the bucket's blocks.
    pub transactions: u64,
}

/// Where the chain lives.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Records the genesis on first use; afterwards checks it is the same one.
    /// Returns the stored genesis text.
    async fn init_genesis(&self, genesis_toml: &str) -> Result<String>;

    /// The stored genesis text, if any.
    async fn genesis(&self) -> Result<Option<String>>;

    /// The last committed block.
    async fn tip(&self) -> Result<Option<BlockHeader>>;

    /// Commits a block and everything in it atomically — its transactions,
    /// events, the bounties it settled (handed out by the registry) and an
    /// optional snapshot of the state after it. The block must follow the
    /// tip; a settled bounty's guid must not be stored yet.
    async fn commit_block(
        &self,
        block: &CommittedBlock,
        settled: &[SettledBounty],
        snapshot: Option<&[u8]>,
    ) -> Result<()>;

    /// Stores settled bounties whose guid is not stored yet, leaving the
    /// others as they are: a node replaying blocks (after a snapshot it
    /// could not read, or from a database written before settled bounties
    /// had a table) fills in what is missing.
    async fn put_settled(&self, settled: &[SettledBounty]) -> Result<()>;

    /// A settled bounty by guid: one index lookup.
    async fn settled_bounty(&self, guid: &Guid) -> Result<Option<SettledBounty>>;

    /// Which of `guids` are settled bounties (in any order).
    async fn settled_among(&self, guids: &[Guid]) -> Result<Vec<Guid>>;

    /// The posting numbers of the settled bounties numbered below `below`,
    /// other than those in `except` (a few), newest first: `limit` of them
    /// after the first `skip`. What a listing page merges with the open
    /// bounties; the database skips, so a deep page holds only its own
    /// numbers in memory, however long the chain.
    async fn settled_numbers(
        &self,
        below: u64,
        except: &[u64],
        skip: u64,
        limit: u32,
    ) -> Result<Vec<u64>>;

    /// The settled bounties with these posting numbers, newest first;
    /// numbers that are not stored are left out.
    async fn settled_by_numbers(&self, numbers: &[u64]) -> Result<Vec<SettledBounty>>;

    /// Up to `limit` settled bounties with posting numbers below `before`
    /// (all when `None`), newest first: a reader pages through every
    /// settled bounty in bounded memory.
    async fn settled_bounties(&self, before: Option<u64>, limit: u32)
        -> Result<Vec<SettledBounty>>;

    /// Up to `limit` settled bounties in settlement order — by (settlement
    /// block, posting number) — after the position `after` (from the
    /// first when `None`) and settled no later than `to_block`: a reader
    /// keeps running totals by folding in what settled since it last
    /// looked.
    async fn settled_after(
        &self,
        after: Option<(u64, u64)>,
        to_block: u64,
        limit: u32,
    ) -> Result<Vec<SettledBounty>>;

    /// Bounties settled per block, for the blocks from `from_block` on
    /// that settled any: (block, count), in block order.
    async fn settled_per_block(&self, from_block: u64) -> Result<Vec<(u64, u64)>>;

    /// The latest snapshot: the block it was taken after and its bytes.
    async fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>>;

    /// Up to `limit` committed blocks with numbers greater than `after`, in order.
    async fn blocks_after(&self, after: u64, limit: u32) -> Result<Vec<CommittedBlock>>;

    /// One block's header and transaction hashes.
    async fn block(&self, number: u64) -> Result<Option<BlockSummary>>;

    /// A committed transaction and the events it produced.
    async fn transaction(&self, hash: &H256) -> Result<Option<(TxRecord, Vec<EventRecord>)>>;

    /// Up to `limit` events of blocks >= `since`, after position `after`
    /// (block, seq) when given, in order — and fewer when their encoded
    /// bodies would add up to more than `max_bytes`, but never none while
    /// one is left: a reader pages through events of any size in bounded
    /// memory.
    async fn events(
        &self,
        since: u64,
        after: Option<(u64, u32)>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<EventRecord>>;

    /// Blocks sealed at or after `since_ms` (Unix milliseconds), grouped
    /// into buckets of `bucket_ms` by timestamp, oldest first; buckets
    /// without a block are left out. `bucket_ms` must not be zero.
    async fn block_activity(&self, since_ms: u64, bucket_ms: u64) -> Result<Vec<BlockBucket>>;

    /// The block with the earliest timestamp at or after `since_ms` (Unix
    /// milliseconds), if any: one index lookup. Timestamps come from the
    /// sequencer's clock, so this is the first block sealed since then
    /// unless that clock stepped back.
    async fn first_block_since(&self, since_ms: u64) -> Result<Option<u64>>;

    /// Up to `limit` committed transactions sent by `sender`, newest first.
    async fn transactions_from(&self, sender: &Address, limit: u32) -> Result<Vec<TxRecord>>;

    /// Records the URL at which the sequencer takes submissions.
    async fn set_sequencer_url(&self, url: &str) -> Result<()>;

    /// The URL at which the sequencer takes submissions, if one was recorded.
    async fn sequencer_url(&self) -> Result<Option<String>>;

    /// Records the explorer's totals over the settled bounties (JSON, with
    /// the cursor they were folded up to), replacing the last ones: a node
    /// restarted on a long chain folds only what settled after them.
    async fn set_explorer_checkpoint(&self, json: &str) -> Result<()>;

    /// The explorer's totals last recorded, if any.
    async fn explorer_checkpoint(&self) -> Result<Option<String>>;

    /// Tries to become the one sequencer of this database. Returns whether
    /// this store now holds the lock; it is held until the store is dropped.
    async fn try_lock_sequencer(&self) -> Result<bool>;
}
