//! The HTTP and WebSocket contract of a swarm node, defined once.
//!
//! Every body a node answers with and every message its event stream sends
//! is a type here. The node serializes these types and the SDK (and the
//! CLI's benchmarks) deserialize the very same ones, so a field renamed on
//! one side is a compile error on the other instead of a test that notices
//! later. With the `openapi` feature they derive `utoipa::ToSchema`, and the
//! node's `/openapi.json` describes every body from them.
//!
//! Serde only, no I/O. Answers come in an [`Envelope`]:
//! `{"status": "OK", "result": ...}` or [`Fail`]'s
//! `{"status": "FAIL", "errors": "...", "code": "..."}`.

mod artifacts;
mod bounties;
mod events;
mod node;
#[cfg(feature = "openapi")]
mod schema;
mod transactions;

use serde::{Deserialize, Serialize};

pub use artifacts::{ArtifactEntry, Uploaded};
pub use bounties::{AssertionView, BountyView, VoteView};
pub use events::EventRecord;
pub use node::{
    BlockHeader, BlockSummary, CommunityParameters, StakeDepositView, StakingParameters, Status,
    Supply,
};
pub use transactions::{BatchItem, Receipt, Refusal, Submitted, TxRecord, TxStatus};

/// `status` of an answer that succeeded.
pub const OK: &str = "OK";
/// `status` of a refusal.
pub const FAIL: &str = "FAIL";

/// Any answer, as a client reads it: `result` when `status` is `OK`,
/// `errors` and `code` when it is `FAIL`.
///
/// Reading is lenient (`errors` may be any JSON, `code` may be missing) so
/// that a proxy's or an older node's refusal still reads as a refusal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T = serde_json::Value> {
    /// [`OK`] or [`FAIL`].
    pub status: String,
    /// The answer, when `status` is `OK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    /// What is wrong, when `status` is `FAIL`.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub errors: serde_json::Value,
    /// The refusal's stable code, when `status` is `FAIL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl<T> Envelope<T> {
    /// An answer that succeeded.
    pub fn ok(result: T) -> Self {
        Envelope {
            status: OK.to_owned(),
            result: Some(result),
            errors: serde_json::Value::Null,
            code: None,
        }
    }
}

/// Every refusal: `{"status": "FAIL", "errors": "<what is wrong>", "code": "<stable code>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fail {
    /// Always `FAIL`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^FAIL$"))]
    pub status: String,
    /// What is wrong, naming the values involved.
    pub errors: String,
    /// A stable machine-readable code, such as `wrong_round` or `rate_limited`.
    pub code: String,
}

impl Fail {
    /// A refusal with its message and code.
    pub fn new(errors: impl Into<String>, code: impl Into<String>) -> Self {
        Fail {
            status: FAIL.to_owned(),
            errors: errors.into(),
            code: code.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ok_answer_round_trips_and_omits_the_refusal_fields() {
        let v = serde_json::to_value(Envelope::ok(7u64)).unwrap();
        assert_eq!(v, serde_json::json!({"status": "OK", "result": 7}));
        let back: Envelope<u64> = serde_json::from_value(v).unwrap();
        assert_eq!(back.result, Some(7));
    }

    #[test]
    fn a_refusal_reads_as_an_envelope_without_a_result() {
        let v = serde_json::to_value(Fail::new("no bounty x", "not_found")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"status": "FAIL", "errors": "no bounty x", "code": "not_found"})
        );
        let read: Envelope<u64> = serde_json::from_value(v).unwrap();
        assert_eq!(read.status, FAIL);
        assert_eq!(read.result, None);
        assert_eq!(read.code.as_deref(), Some("not_found"));
    }
}
