//! Settlement tests: the reference case of SPEC §3.9, the four cases of its
//! table, ties, unrevealed assertions and the pro-rata arbiter split — each
//! checked to the wei through the registry's balances.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::events::{BountySettled, PayoutRole};
use crate::test_utils::{key, Market};
use crate::{Genesis, NctAmount, PrivateKey, WEI_PER_NCT};

fn nct(n: u128) -> Amount {
    Amount::from_nct(n)
}

/// A market whose arbiters have all staked the minimum.
fn staked_market(arbiters: u64) -> Market {
    let mut m = Market::new(arbiters);
    for i in 0..arbiters {
        m.stake_minimum(&key(100 + i));
    }
    m
}

fn balances_of(m: &Market, keys: &[&PrivateKey]) -> Vec<Amount> {
    keys.iter()
        .map(|k| m.registry.balance(&k.address()))
        .collect()
}

fn settlement_of(m: &Market, guid: &Guid) -> BountySettled {
    m.registry
        .bounty(guid)
        .unwrap()
        .settlement
        .clone()
        .expect("settled")
        .outcome
}

/// Runs a bounty to its end: advances past E + R + V.
fn finish(m: &mut Market, guid: &Guid) {
    let deadline = m.registry.bounty(guid).unwrap().vote_deadline();
    m.advance_to(deadline);
    assert!(m.registry.bounty(guid).unwrap().settlement.is_some());
}

fn to_reveal(m: &mut Market, guid: &Guid) {
    let e = m.registry.bounty(guid).unwrap().expiration;
    m.advance_to(e);
}

fn to_vote(m: &mut Market, guid: &Guid) {
    let d = m.registry.bounty(guid).unwrap().reveal_deadline();
    m.advance_to(d);
}

#[test]
fn reference_case_of_the_original_test_suite() {
    // amt 20 NCT, n = 2 (p = 10); X and Y bid 1 NCT on both artifacts; on
    // artifact 0 only X is right, on artifact 1 both are wrong.
    let mut m = staked_market(1);
    let (amb, x, y, arb) = (key(1), key(2), key(3), key(100));
    let p = m.registry.parameters().clone();
    let before = balances_of(&m, &[&amb, &x, &y, &arb]);

    let guid = m.post(&amb, 2, nct(20), 5);
    let both = Bits256::first(2);
    // Truth: artifact 0 malicious, artifact 1 benign.
    m.assert(
        &x,
        guid,
        both,
        vec![nct(1), nct(1)],
        Bits256::from_indices([0, 1]),
    )
    .unwrap();
    m.assert(
        &y,
        guid,
        both,
        vec![nct(1), nct(1)],
        Bits256::from_indices([1]),
    )
    .unwrap();
    to_reveal(&mut m, &guid);
    m.reveal(&x, guid, Bits256::from_indices([0, 1])).unwrap();
    m.reveal(&y, guid, Bits256::from_indices([1])).unwrap();
    to_vote(&mut m, &guid);
    m.vote(&arb, guid, Bits256::from_indices([0])).unwrap();
    // The only arbiter voted: settlement at the next block, not at E + R + V.
    let events = m.next_block();
    assert!(events.iter().any(|e| matches!(e, Event::SettledBounty(_))));

    let after = balances_of(&m, &[&amb, &x, &y, &arb]);
    let af = p.assertion_fee;
    let bf = p.bounty_fee;
    // Ambassador paid amt + bf and gets nothing back: both artifacts were asserted on.
    assert_eq!(
        after[0],
        before[0]
            .checked_sub(nct(20))
            .unwrap()
            .checked_sub(bf)
            .unwrap()
    );
    // X receives 1 + 1 + 10 = 12: nets +10 NCT - af.
    assert_eq!(
        after[1],
        before[1]
            .checked_add(nct(10))
            .unwrap()
            .checked_sub(af)
            .unwrap()
    );
    // Y receives 0: nets -2 - af.
    assert_eq!(
        after[2],
        before[2]
            .checked_sub(nct(2))
            .unwrap()
            .checked_sub(af)
            .unwrap()
    );
    // Arbiters receive 2 + 10 + 2 * af + bf.
    let arbiters = nct(12)
        .checked_add(af.checked_mul(2).unwrap())
        .unwrap()
        .checked_add(bf)
        .unwrap();
    assert_eq!(after[3], before[3].checked_add(arbiters).unwrap());

    let s = settlement_of(&m, &guid);
    assert_eq!(s.consensus, Some(Bits256::from_indices([0])));
    assert_eq!(s.treasury, Amount::ZERO);
    let expert_payouts: Vec<_> = s
        .payouts
        .iter()
        .filter(|p| p.role == PayoutRole::Expert)
        .map(|p| p.amount)
        .collect();
    assert_eq!(expert_payouts, vec![nct(12), Amount::ZERO]);
}

#[test]
fn no_assertions_no_votes_refunds_amount_and_fee() {
    let mut m = staked_market(1);
    let amb = key(1);
    let before = m.registry.balance(&amb.address());
    let guid = m.post(&amb, 3, nct(5), 2);
    finish(&mut m, &guid);
    assert_eq!(m.registry.balance(&amb.address()), before);
    let s = settlement_of(&m, &guid);
    assert_eq!(s.consensus, None);
    assert_eq!(s.treasury, Amount::ZERO);
    assert_eq!(m.registry.treasury(), Amount::ZERO);
}

#[test]
fn no_assertions_with_votes_pays_the_fee_to_arbiters() {
    let mut m = staked_market(2);
    let (amb, a0, a1) = (key(1), key(100), key(101));
    let bf = m.registry.parameters().bounty_fee;
    let before = balances_of(&m, &[&amb, &a0, &a1]);
    let guid = m.post(&amb, 1, nct(5), 2);
    to_vote(&mut m, &guid);
    m.vote(&a0, guid, Bits256::EMPTY).unwrap();
    m.vote(&a1, guid, Bits256::from_indices([0])).unwrap();
    m.next_block();
    let after = balances_of(&m, &[&amb, &a0, &a1]);
    assert_eq!(after[0], before[0].checked_sub(bf).unwrap());
    // Equal stakes: the fee splits in two, the odd wei (if any) to the treasury.
    let half = Amount::from_wei(bf.wei() / 2);
    assert_eq!(after[1], before[1].checked_add(half).unwrap());
    assert_eq!(after[2], before[2].checked_add(half).unwrap());
    assert_eq!(m.registry.treasury(), Amount::from_wei(bf.wei() % 2));
    // The ambassador still learns the arbiters' answer: a tie is malicious.
    assert_eq!(settlement_of(&m, &guid).consensus, Some(Bits256::first(1)));
}

#[test]
fn assertions_without_votes_refund_experts_and_share_the_reward() {
    // 3 artifacts, amt 3 NCT (p = 1 NCT); X asserts on 0 and 1, Y on 1 only;
    // nobody on 2. No arbiter votes.
    let mut m = staked_market(1);
    let (amb, x, y) = (key(1), key(2), key(3));
    let before = balances_of(&m, &[&amb, &x, &y]);
    let guid = m.post(&amb, 3, nct(3), 2);
    let bid = Amount::parse_nct("0.5").unwrap();
    m.assert(
        &x,
        guid,
        Bits256::from_indices([0, 1]),
        vec![bid, bid],
        Bits256::EMPTY,
    )
    .unwrap();
    m.assert(
        &y,
        guid,
        Bits256::from_indices([1]),
        vec![bid],
        Bits256::EMPTY,
    )
    .unwrap();
    finish(&mut m, &guid);
    let after = balances_of(&m, &[&amb, &x, &y]);
    // Ambassador: pays amt + bf, gets bf + p for artifact 2.
    assert_eq!(after[0], before[0].checked_sub(nct(2)).unwrap());
    // floor(p / A) = 0.5 NCT per asserted artifact, fees and bids refunded.
    assert_eq!(after[1], before[1].checked_add(nct(1)).unwrap());
    assert_eq!(after[2], before[2].checked_add(bid).unwrap());
    // Artifact 0's other half and artifact 1's... : 3 - 1 (amb) - 1 (x) - 0.5 (y) = 0.5 NCT.
    let s = settlement_of(&m, &guid);
    assert_eq!(s.treasury, bid);
    assert!(s.payouts.iter().all(|p| p.role != PayoutRole::Arbiter));
}

#[test]
fn tie_vote_is_malicious() {
    // Two arbiters split on the only artifact: consensus is malicious.
    let mut m = staked_market(2);
    let (amb, mal, ben) = (key(1), key(2), key(3));
    let before = balances_of(&m, &[&mal, &ben]);
    let af = m.registry.parameters().assertion_fee;
    let guid = m.post(&amb, 1, nct(1), 2);
    let bid = nct(1);
    m.assert(&mal, guid, Bits256::first(1), vec![bid], Bits256::first(1))
        .unwrap();
    m.assert(&ben, guid, Bits256::first(1), vec![bid], Bits256::EMPTY)
        .unwrap();
    to_reveal(&mut m, &guid);
    m.reveal(&mal, guid, Bits256::first(1)).unwrap();
    m.reveal(&ben, guid, Bits256::EMPTY).unwrap();
    to_vote(&mut m, &guid);
    m.vote(&key(100), guid, Bits256::first(1)).unwrap();
    m.vote(&key(101), guid, Bits256::EMPTY).unwrap();
    m.next_block();
    let s = settlement_of(&m, &guid);
    assert_eq!(s.consensus, Some(Bits256::first(1)));
    let after = balances_of(&m, &[&mal, &ben]);
    // Winner: 1 + 1 (loser's bid) + 1 (p) - af.
    assert_eq!(
        after[0],
        before[0]
            .checked_add(nct(2))
            .unwrap()
            .checked_sub(af)
            .unwrap()
    );
    assert_eq!(
        after[1],
        before[1]
            .checked_sub(nct(1))
            .unwrap()
            .checked_sub(af)
            .unwrap()
    );
}

#[test]
fn an_unrevealed_assertion_is_wrong_on_every_artifact() {
    let mut m = staked_market(1);
    let (amb, honest, silent) = (key(1), key(2), key(3));
    let af = m.registry.parameters().assertion_fee;
    let before = balances_of(&m, &[&honest, &silent]);
    let guid = m.post(&amb, 2, nct(2), 2);
    let bid = nct(1);
    // Both would be right, but `silent` never reveals.
    m.assert(
        &honest,
        guid,
        Bits256::first(2),
        vec![bid, bid],
        Bits256::from_indices([0]),
    )
    .unwrap();
    m.assert(
        &silent,
        guid,
        Bits256::first(2),
        vec![bid, bid],
        Bits256::from_indices([0]),
    )
    .unwrap();
    to_reveal(&mut m, &guid);
    m.reveal(&honest, guid, Bits256::from_indices([0])).unwrap();
    to_vote(&mut m, &guid);
    m.vote(&key(100), guid, Bits256::from_indices([0])).unwrap();
    m.next_block();
    let after = balances_of(&m, &[&honest, &silent]);
    // honest wins both artifacts: each 1 + 1 + 1 = 3, total 6, paid 2 + af.
    assert_eq!(
        after[0],
        before[0]
            .checked_add(nct(4))
            .unwrap()
            .checked_sub(af)
            .unwrap()
    );
    assert_eq!(
        after[1],
        before[1]
            .checked_sub(nct(2))
            .unwrap()
            .checked_sub(af)
            .unwrap()
    );
}

#[test]
fn an_artifact_with_no_winner_sends_its_reward_and_bids_to_the_arbiters() {
    let mut m = staked_market(1);
    let (amb, wrong, arb) = (key(1), key(2), key(100));
    let p = m.registry.parameters().clone();
    let before = balances_of(&m, &[&amb, &wrong, &arb]);
    let guid = m.post(&amb, 1, nct(4), 2);
    m.assert(
        &wrong,
        guid,
        Bits256::first(1),
        vec![nct(1)],
        Bits256::EMPTY,
    )
    .unwrap();
    to_reveal(&mut m, &guid);
    m.reveal(&wrong, guid, Bits256::EMPTY).unwrap();
    to_vote(&mut m, &guid);
    m.vote(&arb, guid, Bits256::first(1)).unwrap();
    m.next_block();
    let after = balances_of(&m, &[&amb, &wrong, &arb]);
    let cost = nct(4).checked_add(p.bounty_fee).unwrap();
    assert_eq!(after[0], before[0].checked_sub(cost).unwrap());
    let lost = nct(1).checked_add(p.assertion_fee).unwrap();
    assert_eq!(after[1], before[1].checked_sub(lost).unwrap());
    let gain = cost.checked_add(lost).unwrap();
    assert_eq!(after[2], before[2].checked_add(gain).unwrap());
}

#[test]
fn arbiters_split_pro_rata_to_stake_with_dust_to_the_treasury() {
    // Three arbiters with stakes 1 : 2 : 4 (in units of the minimum) share
    // bf = 0.0625 NCT, which does not divide by 7: the dust goes to the treasury.
    let owner = key(0);
    let mut genesis = Genesis::new("test", owner.address());
    let arbiters: Vec<PrivateKey> = (0..3).map(|i| key(100 + i)).collect();
    for a in &arbiters {
        genesis.arbiters.insert(a.address());
        genesis
            .allocations
            .insert(a.address(), NctAmount(nct(50_000_000)));
    }
    genesis
        .allocations
        .insert(key(1).address(), NctAmount(nct(100)));
    let mut m = Market::with_genesis(&genesis, owner);
    let min = m.registry.parameters().minimum_stake;
    for (a, k) in arbiters.iter().zip([1, 2, 4]) {
        let amount = min.checked_mul(k).unwrap();
        m.send(a, crate::StakeDeposit { amount }).unwrap();
    }

    let amount = Amount::from_wei(WEI_PER_NCT + 1);
    let guid = m.post(&key(1), 1, amount, 2);
    to_vote(&mut m, &guid);
    for a in &arbiters {
        m.vote(a, guid, Bits256::EMPTY).unwrap();
    }
    m.next_block();
    let s = settlement_of(&m, &guid);
    // A = 0, V > 0: the ambassador gets amt back (the odd wei included),
    // arbiters share bf.
    assert_eq!(s.payouts[0].amount, amount);
    let bf = m.registry.parameters().bounty_fee.wei();
    let shares: Vec<u128> = s
        .payouts
        .iter()
        .filter(|p| p.role == PayoutRole::Arbiter)
        .map(|p| p.amount.wei())
        .collect();
    assert_eq!(shares, vec![bf / 7, bf * 2 / 7, bf * 4 / 7]);
    let dust = bf - shares.iter().sum::<u128>();
    assert!(dust > 0);
    assert_eq!(s.treasury.wei(), dust);
    assert_eq!(m.registry.treasury().wei(), dust);
}

#[test]
fn settled_payouts_plus_treasury_equal_the_escrow() {
    // Odd amounts everywhere: 7 artifacts, an amount that divides by nothing,
    // bids that leave remainders.
    let mut m = staked_market(3);
    let guid = m.post(
        &key(1),
        7,
        Amount::from_wei(7 * 62_500_000_000_000_000 + 13),
        3,
    );
    let escrow_before = m.registry.escrow();
    let bid = |w: u128| Amount::from_wei(62_500_000_000_000_000 + w);
    m.assert(
        &key(2),
        guid,
        Bits256::first(7),
        (0..7).map(|i| bid(i * 3 + 1)).collect(),
        Bits256::from_indices([0, 3, 5]),
    )
    .unwrap();
    m.assert(
        &key(3),
        guid,
        Bits256::from_indices([1, 2, 3]),
        vec![bid(7), bid(11), bid(13)],
        Bits256::from_indices([3]),
    )
    .unwrap();
    m.assert(
        &key(4),
        guid,
        Bits256::from_indices([6]),
        vec![bid(17)],
        Bits256::from_indices([6]),
    )
    .unwrap();
    let escrowed = m.registry.bounty(&guid).unwrap().escrowed();
    assert!(m.registry.escrow() > escrow_before);
    to_reveal(&mut m, &guid);
    m.reveal(&key(2), guid, Bits256::from_indices([0, 3, 5]))
        .unwrap();
    m.reveal(&key(3), guid, Bits256::from_indices([3])).unwrap();
    to_vote(&mut m, &guid);
    m.vote(&key(100), guid, Bits256::from_indices([0, 3]))
        .unwrap();
    m.vote(&key(101), guid, Bits256::from_indices([0, 5, 6]))
        .unwrap();
    finish(&mut m, &guid);
    let s = settlement_of(&m, &guid);
    let paid: u128 = s.payouts.iter().map(|p| p.amount.wei()).sum();
    assert_eq!(paid + s.treasury.wei(), escrowed.wei());
    assert_eq!(m.registry.escrow(), Amount::ZERO);
}
