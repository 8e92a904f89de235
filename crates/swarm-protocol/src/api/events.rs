//! What `GET /events` streams and a receipt lists.

use serde::{Deserialize, Serialize};

use crate::{Event, H256};

/// An event as stored, streamed and listed:
/// `{event, data, block_number, seq, txhash}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

impl EventRecord {
    /// Where it stands in the chain's order of events: (block, position).
    pub fn position(&self) -> (u64, u32) {
        (self.block_number, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
