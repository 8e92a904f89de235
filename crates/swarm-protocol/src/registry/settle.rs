//! Settlement arithmetic (SPEC §3.9): who gets what of a bounty's escrow.
//!
//! A pure function of the bounty, so that the whole table of cases can be
//! tested without a registry. Integer division throughout; whatever the
//! divisions leave over goes to the arbiters (or, with no voter, to the
//! community treasury), so the payouts plus the treasury always add up to
//! exactly what was escrowed.

use crate::amount::Amount;
use crate::bits::Bits256;
use crate::events::{BountySettled, Payout, PayoutRole};
use crate::math::mul_div;

use super::bounty::Bounty;

/// Splits the escrow of `bounty` according to its assertions, reveals and votes.
pub(crate) fn settle(bounty: &Bounty) -> BountySettled {
    let total = bounty.escrowed().wei();
    let n = bounty.num_artifacts as usize;
    let amount = bounty.amount.wei();
    let p = amount / n.max(1) as u128;
    let a = bounty.assertions.len();
    let v = bounty.votes.len();

    // Artifacts nobody asserted on: their share goes back to the ambassador.
    let asserted = bounty
        .assertions
        .iter()
        .fold(Bits256::EMPTY, |acc, x| acc.or(&x.mask));
    let unasserted = (0..n).filter(|i| !asserted.get(*i)).count() as u128;

    let mut payouts = Vec::with_capacity(1 + a + v);
    // Whenever arbiters voted, the settlement reports what they decided,
    // also when no engine asserted (the ambassador still wants the answer).
    let consensus = (v > 0).then(|| consensus_of(bounty));
    let (ambassador, experts): (u128, Vec<u128>) = match (a, v) {
        (0, 0) => (amount + bounty.fee.wei(), Vec::new()),
        (0, _) => (amount, Vec::new()),
        (_, 0) => {
            let share = p / a as u128;
            let experts = bounty
                .assertions
                .iter()
                .map(|x| x.escrowed().wei() + x.mask.count() as u128 * share)
                .collect();
            (bounty.fee.wei() + unasserted * p, experts)
        }
        (_, _) => {
            let cons = consensus.unwrap_or_default();
            (unasserted * p, expert_rewards(bounty, &cons, p))
        }
    };

    payouts.push(Payout {
        account: bounty.author,
        role: PayoutRole::Ambassador,
        amount: Amount::from_wei(ambassador),
    });
    for (x, reward) in bounty.assertions.iter().zip(&experts) {
        payouts.push(Payout {
            account: x.author,
            role: PayoutRole::Expert,
            amount: Amount::from_wei(*reward),
        });
    }
    let paid = ambassador + experts.iter().sum::<u128>();
    // Paid never exceeds the escrow: each winner's share of a pot is at most
    // the pot, and bids and fees are refunded at most once.
    let remainder = total.saturating_sub(paid);

    let mut treasury = remainder;
    if v > 0 {
        let weights: Vec<u128> = bounty.votes.iter().map(|x| x.stake.wei()).collect();
        let total_weight: u128 = weights.iter().sum();
        for (vote, weight) in bounty.votes.iter().zip(&weights) {
            let share = if total_weight == 0 {
                remainder / v as u128
            } else {
                mul_div(remainder, *weight, total_weight).unwrap_or(0)
            };
            treasury -= share;
            payouts.push(Payout {
                account: vote.voter,
                role: PayoutRole::Arbiter,
                amount: Amount::from_wei(share),
            });
        }
    }

    BountySettled {
        bounty_guid: bounty.guid,
        consensus,
        payouts,
        treasury: Amount::from_wei(treasury),
    }
}

/// Consensus per artifact: malicious when at least half the voters said so
/// (`mal >= V - mal`, a tie is malicious).
fn consensus_of(bounty: &Bounty) -> Bits256 {
    let v = bounty.votes.len();
    let mut cons = Bits256::EMPTY;
    for i in 0..bounty.num_artifacts as usize {
        let malicious = bounty.votes.iter().filter(|x| x.votes.get(i)).count();
        cons.set(i, malicious >= v - malicious);
    }
    cons
}

/// What each expert receives when arbiters voted: per artifact, winners take
/// back their bid plus shares of the losers' bids and of the artifact's
/// reward, in proportion to their bids. An unrevealed assertion is wrong.
fn expert_rewards(bounty: &Bounty, cons: &Bits256, p: u128) -> Vec<u128> {
    let mut rewards = vec![0u128; bounty.assertions.len()];
    for i in 0..bounty.num_artifacts as usize {
        let truth = cons.get(i);
        let mut winners_pot = 0u128;
        let mut losers_pot = 0u128;
        let mut winners = Vec::new();
        for (j, x) in bounty.assertions.iter().enumerate() {
            let Some(bid) = x.bid_on(i) else { continue };
            let verdict = match &x.revealed {
                Some(r) => r.verdicts.get(i),
                None => !truth,
            };
            if verdict == truth {
                winners_pot += bid.wei();
                winners.push((j, bid.wei()));
            } else {
                losers_pot += bid.wei();
            }
        }
        if winners_pot == 0 {
            continue;
        }
        for (j, bid) in winners {
            rewards[j] += bid
                + mul_div(bid, losers_pot, winners_pot).unwrap_or(0)
                + mul_div(bid, p, winners_pot).unwrap_or(0);
        }
    }
    rewards
}
