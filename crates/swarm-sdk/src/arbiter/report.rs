//! What an arbiter run did.

use serde::Serialize;
use swarm_protocol::{Address, Amount};

/// What an arbiter run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ArbiterReport {
    /// The arbiter's account.
    pub address: Address,
    /// Its stake after the start-up deposit.
    pub stake: Amount,
    /// What this run deposited.
    pub deposited: Amount,
    /// Bounties voted on (including votes the node already had).
    pub voted: usize,
    /// Bounties not voted on because the ground truth failed.
    pub abstained: usize,
    /// Bounties whose vote window passed before a vote got in, or whose
    /// vote the node refused.
    pub missed: usize,
    /// Bounties voted on whose settlement this run saw.
    pub settled: usize,
    /// Sum of the `arbiter` payouts to this account in those settlements.
    pub fees_earned: Amount,
    /// The last block seen.
    pub last_block: u64,
}
