//! What became of the bounties an ambassador posted.

use serde::Serialize;
use swarm_protocol::{Address, Amount, Guid, Payout, PayoutRole};

/// What became of one posted bounty.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BountyOutcome {
    /// The bounty.
    pub guid: Guid,
    /// File names (or URLs, for a URL bounty) of its artifacts, in order.
    pub artifacts: Vec<String>,
    /// The expected verdict per artifact (`Some(true)`: malicious).
    pub expected: Vec<Option<bool>>,
    /// The arbiters' consensus per artifact, as the settlement reports it
    /// (whenever any arbiter voted).
    pub consensus: Option<Vec<bool>>,
    /// Assertions made on it.
    pub assertions: usize,
    /// Every credit of the settlement.
    pub payouts: Vec<Payout>,
    /// Block of settlement; `None` while unsettled.
    pub settled_block: Option<u64>,
    /// Block of posting.
    pub posted_block: u64,
    /// The reward.
    pub amount: Amount,
    /// The bounty fee paid.
    pub fee: Amount,
    /// Whether the watchdog gave up on it.
    pub timed_out: bool,
}

impl BountyOutcome {
    /// Indices of artifacts whose consensus differs from the expected
    /// verdict (empty without a consensus).
    pub fn mismatches(&self) -> Vec<usize> {
        let Some(consensus) = &self.consensus else {
            return Vec::new();
        };
        self.expected
            .iter()
            .zip(consensus)
            .enumerate()
            .filter_map(|(i, (e, c))| match e {
                Some(e) if e != c => Some(i),
                _ => None,
            })
            .collect()
    }

    /// `Some(true)` when a consensus exists and agrees with every expected
    /// verdict; `Some(false)` when it disagrees with one; `None` without a
    /// consensus or without expectations.
    pub fn matches(&self) -> Option<bool> {
        self.consensus.as_ref()?;
        if self.expected.iter().all(Option::is_none) {
            return None;
        }
        Some(self.mismatches().is_empty())
    }

    /// What the ambassador got back from the settlement.
    pub fn refund(&self) -> Amount {
        self.payouts
            .iter()
            .filter(|p| p.role == PayoutRole::Ambassador)
            .map(|p| p.amount)
            .sum()
    }
}

/// Everything an ambassador run did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AmbassadorReport {
    /// The ambassador's account.
    pub address: Address,
    /// One outcome per posted bounty, in posting order.
    pub outcomes: Vec<BountyOutcome>,
}

impl AmbassadorReport {
    /// Bounties settled.
    pub fn settled(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.settled_block.is_some())
            .count()
    }

    /// Bounties the watchdog gave up on (and that did not settle after all).
    pub fn timed_out(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.timed_out && o.settled_block.is_none())
            .count()
    }

    /// Artifacts whose consensus equals the expected verdict.
    pub fn correct(&self) -> usize {
        self.outcomes
            .iter()
            .filter_map(|o| {
                let c = o.consensus.as_ref()?;
                Some(
                    o.expected
                        .iter()
                        .zip(c)
                        .filter(|(e, c)| **e == Some(**c))
                        .count(),
                )
            })
            .sum()
    }

    /// Artifacts whose consensus differs from the expected verdict.
    pub fn incorrect(&self) -> usize {
        self.outcomes.iter().map(|o| o.mismatches().len()).sum()
    }

    /// Whether every bounty settled with a consensus that agrees with every
    /// expected verdict.
    pub fn all_match(&self) -> bool {
        self.outcomes.iter().all(|o| {
            o.settled_block.is_some() && o.consensus.is_some() && o.mismatches().is_empty()
        })
    }

    /// Rewards and fees put into bounties.
    pub fn spent(&self) -> Amount {
        self.outcomes
            .iter()
            .map(|o| o.amount.checked_add(o.fee).unwrap_or(o.amount))
            .sum()
    }

    /// What settlements paid back to the ambassador.
    pub fn refunded(&self) -> Amount {
        self.outcomes.iter().map(BountyOutcome::refund).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_matching() {
        let mut o = BountyOutcome {
            guid: Guid::nil(),
            artifacts: vec!["a".into(), "b".into(), "c".into()],
            expected: vec![Some(true), Some(false), None],
            consensus: None,
            assertions: 0,
            payouts: Vec::new(),
            settled_block: None,
            posted_block: 1,
            amount: Amount::from_nct(1),
            fee: Amount::ZERO,
            timed_out: false,
        };
        assert_eq!(o.matches(), None);
        o.consensus = Some(vec![true, false, true]);
        o.settled_block = Some(9);
        assert_eq!(o.matches(), Some(true));
        let mut report = AmbassadorReport {
            address: Address::ZERO,
            outcomes: vec![o.clone()],
        };
        assert!(report.all_match());
        assert_eq!((report.correct(), report.incorrect()), (2, 0));
        o.consensus = Some(vec![false, false, false]);
        assert_eq!(o.matches(), Some(false));
        assert_eq!(o.mismatches(), vec![0]);
        report.outcomes.push(o);
        assert!(!report.all_match());
        assert_eq!((report.correct(), report.incorrect()), (3, 1));
        assert_eq!(report.settled(), 2);
    }
}
