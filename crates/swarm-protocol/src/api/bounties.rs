//! Bounties as the API shows them: with the round they are in at the
//! node's current block, and assertions and votes with their index.
//!
//! Each view is generic over how it holds what it shows: the node
//! serializes views of borrowed registry entries (`BountyView<&Bounty>`),
//! a client reads owned ones (`BountyView<Bounty>`, the default).

use serde::{Deserialize, Serialize};

use crate::{Assertion, Bounty, Round, VoteRecord};

/// `GET /bounties/{guid}`: a bounty with its current round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BountyView<B = Bounty> {
    /// The bounty as the registry holds it.
    #[serde(flatten)]
    pub bounty: B,
    /// The round it is in at the node's current block.
    pub round: Round,
    /// That round as a number: 0 assertion … 4 finished.
    pub round_number: u8,
    /// The block from which reveals are refused.
    pub reveal_deadline: u64,
    /// The block from which votes are refused.
    pub vote_deadline: u64,
}

impl<'a> BountyView<&'a Bounty> {
    /// The view of `bounty` at `block`.
    pub fn new(bounty: &'a Bounty, block: u64) -> Self {
        let round = bounty.round(block);
        BountyView {
            bounty,
            round,
            round_number: round.number(),
            reveal_deadline: bounty.reveal_deadline(),
            vote_deadline: bounty.vote_deadline(),
        }
    }
}

/// `GET /bounties/{guid}/assertions/{index}`: an assertion and its index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssertionView<A = Assertion> {
    /// Its position among the bounty's assertions.
    pub index: usize,
    /// The assertion.
    #[serde(flatten)]
    pub assertion: A,
}

/// `GET /bounties/{guid}/votes/{index}`: a vote and its index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VoteView<V = VoteRecord> {
    /// Its position among the bounty's votes.
    pub index: usize,
    /// The vote.
    #[serde(flatten)]
    pub vote: V,
}
