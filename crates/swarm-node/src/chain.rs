//! Blocks, committed transactions and stored events: what the sequencer
//! writes and everyone else reads. Headers, transaction records and events
//! are wire types too, so they are defined once in [`swarm_protocol::api`].

pub use swarm_protocol::api::{BlockHeader, EventRecord, TxRecord};

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
