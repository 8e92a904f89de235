//! The state driven by posts, events and watchdog ticks.

use std::time::Duration;

use super::*;
use crate::ambassador::BountyOutcome;
use swarm_protocol::{Amount, AssertionMade, Bits256, BountySettled, Payout, PayoutRole, H256};

fn outcome(n: u128, artifacts: usize) -> BountyOutcome {
    BountyOutcome {
        guid: Guid::from_u128(n),
        artifacts: (0..artifacts).map(|i| format!("f{i}")).collect(),
        expected: vec![Some(true); artifacts],
        consensus: None,
        assertions: 0,
        payouts: Vec::new(),
        settled_block: None,
        posted_block: 5,
        amount: Amount::from_nct(1),
        fee: Amount::ZERO,
        timed_out: false,
    }
}

fn posted(n: u128, artifacts: usize, deadline: Instant) -> Posted {
    Posted {
        outcome: outcome(n, artifacts),
        deadline,
    }
}

fn event(event: Event, block_number: u64) -> NodeEvent {
    NodeEvent {
        event,
        block_number,
        seq: 0,
        txhash: None,
    }
}

fn assertion(n: u128) -> NodeEvent {
    event(
        Event::Assertion(AssertionMade {
            bounty_guid: Guid::from_u128(n),
            author: Address::ZERO,
            index: 0,
            bids: Vec::new(),
            mask: Bits256::from_indices([0]),
            commitment: H256([0; 32]),
        }),
        7,
    )
}

fn settled(n: u128, consensus: &[bool], block: u64) -> NodeEvent {
    event(
        Event::SettledBounty(BountySettled {
            bounty_guid: Guid::from_u128(n),
            consensus: Some(Bits256::from_bools(consensus)),
            payouts: vec![Payout {
                account: Address::ZERO,
                role: PayoutRole::Ambassador,
                amount: Amount::from_nct(1),
            }],
            treasury: Amount::ZERO,
        }),
        block,
    )
}

#[test]
fn posting_is_bounded_and_done_once_exhausted_and_settled() {
    let later = Instant::now() + Duration::from_secs(3600);
    let mut s = State::new(Address::ZERO, 2);
    assert!(s.can_post() && !s.done());
    s.on_posted(posted(1, 2, later));
    s.on_posted(posted(2, 1, later));
    assert_eq!(s.in_flight(), 2);
    assert!(!s.can_post());
    s.on_event(settled(2, &[true], 9));
    assert!(s.can_post());
    s.on_exhausted();
    assert!(!s.can_post() && !s.done());
    s.on_event(settled(1, &[true, false], 10));
    assert!(s.done());
}

#[test]
fn assertions_and_settlements_fill_the_outcome() {
    let later = Instant::now() + Duration::from_secs(3600);
    let mut s = State::new(Address::ZERO, 8);
    s.on_posted(posted(1, 2, later));
    s.on_event(assertion(1));
    s.on_event(assertion(1));
    // Not ours: ignored.
    s.on_event(assertion(9));
    s.on_event(settled(9, &[true], 10));
    s.on_event(settled(1, &[true, false], 10));
    // After the settlement, nothing counts any more.
    s.on_event(assertion(1));
    let o = &s.report().outcomes[0];
    assert_eq!(o.assertions, 2);
    assert_eq!(o.consensus, Some(vec![true, false]));
    assert_eq!(o.settled_block, Some(10));
    assert_eq!(o.refund(), Amount::from_nct(1));
    assert_eq!(o.mismatches(), vec![1]);
    assert_eq!(s.into_report().settled(), 1);
}

#[test]
fn the_watchdog_gives_up_on_late_bounties() {
    let now = Instant::now();
    let mut s = State::new(Address::ZERO, 8);
    s.on_posted(posted(1, 1, now));
    s.on_posted(posted(2, 1, now + Duration::from_secs(60)));
    s.on_watchdog(now);
    assert_eq!(s.in_flight(), 1);
    assert!(s.report().outcomes[0].timed_out);
    assert!(!s.report().outcomes[1].timed_out);
    // Its settlement, if it comes after all, is no longer followed.
    s.on_event(settled(1, &[true], 50));
    assert_eq!(s.report().outcomes[0].settled_block, None);
    assert_eq!(s.report().timed_out(), 1);
}
