//! The state driven by events and task outcomes, its actions checked.

use super::*;
use crate::client::TxStatus;
use swarm_protocol::{ArtifactType, Payout, H256};

fn me() -> Address {
    swarm_protocol::PrivateKey::from_bytes(&[9; 32])
        .unwrap()
        .address()
}

/// A state streaming from block 10 (the node's tip at the start).
fn state(testing: Option<usize>, saves_state: bool) -> State {
    let settings = Settings {
        address: me(),
        testing,
        tip: 10,
        saves_state,
    };
    State::new(settings, ArbiterReport::default(), 10, None)
}

/// Bounty `n`: expires at 20, reveals until 25, votes until 35.
fn posted(n: u128) -> BountyPosted {
    BountyPosted {
        guid: Guid::from_u128(n),
        artifact_type: ArtifactType::File,
        author: Address::ZERO,
        amount: Amount::from_nct(1),
        uri: "bundle".into(),
        num_artifacts: 2,
        expiration: 20,
        reveal_deadline: 25,
        vote_deadline: 35,
        metadata: None,
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

fn block(s: &mut State, n: u64) -> Vec<Action> {
    s.on_event(event(Event::Block { number: n }, n), false)
}

fn post(s: &mut State, n: u128, at: u64) -> Vec<Action> {
    s.on_event(event(Event::Bounty(posted(n)), at), false)
}

fn settle(s: &mut State, n: u128, fee: u64, at: u64) -> Vec<Action> {
    let settled = BountySettled {
        bounty_guid: Guid::from_u128(n),
        consensus: None,
        payouts: vec![
            Payout {
                account: me(),
                role: PayoutRole::Arbiter,
                amount: Amount::from_nct(fee.into()),
            },
            Payout {
                account: Address::ZERO,
                role: PayoutRole::Arbiter,
                amount: Amount::from_nct(5),
            },
        ],
        treasury: Amount::ZERO,
    };
    s.on_event(event(Event::SettledBounty(settled), at), false)
}

fn sent(block_number: u64) -> Result<Submitted, ClientError> {
    Ok(Submitted {
        hash: H256([0; 32]),
        status: TxStatus::Included,
        block_number,
    })
}

fn refused(code: &str) -> Result<Submitted, ClientError> {
    Err(ClientError::Api {
        status: 409,
        code: code.into(),
        message: "no".into(),
    })
}

fn vote(n: u128, votes: &[bool]) -> Action {
    Action::Vote {
        guid: Guid::from_u128(n),
        votes: votes.to_vec(),
    }
}

#[test]
fn a_bounty_posted_is_decided_and_voted_once_its_round_opens() {
    let mut s = state(None, false);
    assert_eq!(
        post(&mut s, 1, 12),
        vec![Action::Decide { bounty: posted(1) }]
    );
    // Posted twice (a replayed event): decided once.
    assert!(post(&mut s, 1, 12).is_empty());
    // Decided before the vote round: the vote waits for block 25.
    assert!(s
        .on_decided(Guid::from_u128(1), Ok(vec![true, false]))
        .is_empty());
    assert!(block(&mut s, 24).is_empty());
    assert_eq!(block(&mut s, 25), vec![vote(1, &[true, false])]);
    // Sent once.
    assert!(block(&mut s, 26).is_empty());
    s.on_vote_sent(Guid::from_u128(1), sent(26));
    assert_eq!(s.report().voted, 1);
    // The settlement pays this arbiter's fee only.
    assert!(settle(&mut s, 1, 2, 35).is_empty());
    assert_eq!(s.report().settled, 1);
    assert_eq!(s.report().fees_earned, Amount::from_nct(2));
    assert_eq!(s.report().last_block, 26);
}

#[test]
fn a_decision_in_the_vote_round_votes_at_once() {
    let mut s = state(None, false);
    post(&mut s, 1, 12);
    block(&mut s, 30);
    assert_eq!(
        s.on_decided(Guid::from_u128(1), Ok(vec![false, true])),
        vec![vote(1, &[false, true])]
    );
}

#[test]
fn a_failed_decision_abstains() {
    let mut s = state(None, false);
    post(&mut s, 1, 12);
    assert!(s
        .on_decided(Guid::from_u128(1), Err("backend down".into()))
        .is_empty());
    assert_eq!(s.report().abstained, 1);
    assert!(block(&mut s, 25).is_empty());
    // A decision for a bounty no longer followed does nothing.
    assert!(s.on_decided(Guid::from_u128(1), Ok(vec![true])).is_empty());
}

#[test]
fn settled_expired_and_historic_bounties_get_nothing() {
    let mut s = state(None, false);
    // Its vote window closed by the tip at the start: history.
    let mut old = posted(1);
    old.vote_deadline = 10;
    assert!(s.on_event(event(Event::Bounty(old), 2), false).is_empty());
    // Settled before the decision came: missed, and no vote later.
    post(&mut s, 2, 12);
    assert!(settle(&mut s, 2, 1, 20).is_empty());
    assert_eq!(s.report().missed, 1);
    assert_eq!(s.report().fees_earned, Amount::ZERO);
    assert!(s.on_decided(Guid::from_u128(2), Ok(vec![true])).is_empty());
    // The vote window closed before the decision: missed.
    post(&mut s, 3, 12);
    assert!(block(&mut s, 35).is_empty());
    assert_eq!(s.report().missed, 2);
    assert!(s.on_decided(Guid::from_u128(3), Ok(vec![true])).is_empty());
    // A settlement of a bounty never followed counts nothing.
    settle(&mut s, 9, 1, 36);
    assert_eq!(s.report().settled, 0);
}

#[test]
fn vote_answers() {
    let mut s = state(None, false);
    for n in 1..=4 {
        post(&mut s, n, 12);
        s.on_decided(Guid::from_u128(n), Ok(vec![true]));
    }
    assert_eq!(block(&mut s, 25).len(), 4);
    s.on_vote_sent(Guid::from_u128(1), refused("duplicate_vote"));
    s.on_vote_sent(Guid::from_u128(2), refused("replayed"));
    s.on_vote_sent(Guid::from_u128(3), refused("not_staked"));
    s.on_vote_sent(Guid::from_u128(4), sent(25));
    assert_eq!((s.report().voted, s.report().missed), (3, 1));
    // The refused one is forgotten: its settlement counts nothing.
    settle(&mut s, 3, 1, 35);
    assert_eq!(s.report().settled, 0);
    settle(&mut s, 1, 1, 35);
    assert_eq!(s.report().settled, 1);
}

#[test]
fn testing_stops_accepting_then_finishes_after_settlements() {
    let mut s = state(Some(1), false);
    assert!(!s.finished());
    post(&mut s, 1, 12);
    s.on_decided(Guid::from_u128(1), Ok(vec![true]));
    assert_eq!(block(&mut s, 25).len(), 1);
    s.on_vote_sent(Guid::from_u128(1), sent(25));
    // Handled enough: no more bounties, but wait for the settlement.
    assert!(post(&mut s, 2, 26).is_empty());
    assert!(!s.finished());
    block(&mut s, 37);
    assert!(!s.finished());
    block(&mut s, 38);
    assert!(s.finished());
    // Or the settlement comes.
    let mut s = state(Some(1), false);
    post(&mut s, 1, 12);
    s.on_decided(Guid::from_u128(1), Ok(vec![true]));
    block(&mut s, 25);
    s.on_vote_sent(Guid::from_u128(1), sent(25));
    settle(&mut s, 1, 1, 30);
    assert!(s.finished());
    assert!(!state(None, false).finished());
}

#[test]
fn the_resume_point_is_saved_when_due_and_moved() {
    let mut s = state(None, true);
    post(&mut s, 1, 12);
    // Not due: nothing saved.
    assert!(block(&mut s, 13).is_empty());
    let due = |s: &mut State, n: u64| s.on_event(event(Event::Block { number: n }, n), true);
    // The oldest bounty not yet voted on.
    assert_eq!(
        due(&mut s, 14),
        vec![Action::SaveResume { resume_from: 12 }]
    );
    s.on_saved(12);
    // Unmoved: not written again.
    assert!(due(&mut s, 15).is_empty());
    // Voting: the resume point moves to the last block seen.
    s.on_decided(Guid::from_u128(1), Ok(vec![true]));
    assert_eq!(
        due(&mut s, 25),
        vec![vote(1, &[true]), Action::SaveResume { resume_from: 25 }]
    );
    // A failed write is retried on the next due block.
    assert_eq!(
        due(&mut s, 25),
        vec![Action::SaveResume { resume_from: 25 }]
    );
    s.on_saved(25);
    // At the end it is written even if unmoved.
    assert_eq!(s.on_stop(), vec![Action::SaveResume { resume_from: 25 }]);
    // Without a state file, nothing is saved.
    let mut s = state(None, false);
    assert!(s
        .on_event(event(Event::Block { number: 14 }, 14), true)
        .is_empty());
    assert!(s.on_stop().is_empty());
}
