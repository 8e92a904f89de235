//! The state driven by events and task outcomes, its actions checked.

use super::*;
use crate::bid::Multiplier;
use swarm_protocol::{ArtifactMetadata, ArtifactType, AssertionMade, AssertionRevealed, Payout};

fn me() -> Address {
    swarm_protocol::PrivateKey::from_bytes(&[7; 32])
        .unwrap()
        .address()
}

/// A state at block 10 with the engine's usual settings.
fn state(journal: &Journal, filters: Filters, testing: Option<u64>) -> State {
    let settings = Settings {
        address: me(),
        block_time: Duration::from_millis(100),
        strategy: Arc::new(Multiplier::DEFAULT),
        filters,
        bounds: BidBounds {
            minimum: Amount::parse_nct("0.0625").unwrap(),
            maximum: Amount::from_nct(1),
        },
        assertion_fee: Amount::parse_nct("0.03125").unwrap(),
        bounty_fee: Amount::parse_nct("0.0625").unwrap(),
        testing,
        margin_blocks: 2,
        checkpoint_every: 10,
    };
    State::new(settings, journal, 10, 10, Amount::from_nct(100), 10)
}

fn posted(n: u128, expiration: u64, mimetypes: &[&str]) -> BountyPosted {
    BountyPosted {
        guid: Guid::from_u128(n),
        artifact_type: ArtifactType::File,
        author: Address::ZERO,
        amount: Amount::from_nct(1),
        uri: "bundle".into(),
        num_artifacts: mimetypes.len() as u32,
        expiration,
        reveal_deadline: expiration + 5,
        vote_deadline: expiration + 15,
        metadata: Some(
            mimetypes
                .iter()
                .map(|m| ArtifactMetadata {
                    mimetype: Some((*m).into()),
                    ..Default::default()
                })
                .collect(),
        ),
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

fn block(n: u64) -> NodeEvent {
    event(Event::Block { number: n }, n)
}

/// A journaled assertion on bounty `n`: expiration 20, reveals until 25,
/// votes until 35.
fn committed(n: u128) -> CommittedAssertion {
    let nonce = H256([1; 32]);
    let verdicts = Bits256::from_indices([0]);
    CommittedAssertion {
        guid: Guid::from_u128(n),
        nonce,
        verdicts,
        mask: Bits256::from_indices([0, 1]),
        bids: vec![Amount::from_nct(1), Amount::from_nct(1)],
        fee: Amount::parse_nct("0.03125").unwrap(),
        commitment: commitment(&verdicts, &nonce, &me()),
        metadata: serde_json::json!([{"malware_family": "x"}, null]),
        expiration: 20,
        reveal_deadline: 25,
        vote_deadline: 35,
    }
}

fn asserted(journal: &mut Journal, n: u128) -> Guid {
    let c = committed(n);
    let guid = c.guid;
    journal.append(Record::Committed(c)).unwrap();
    journal
        .append(Record::Asserted { guid, txhash: None })
        .unwrap();
    guid
}

/// The actions other than checkpoints.
fn work(actions: Vec<Action>) -> Vec<Action> {
    actions
        .into_iter()
        .filter(|a| !matches!(a, Action::Journal(Record::Checkpoint { .. })))
        .collect()
}

#[test]
fn a_bounty_whose_filters_match_is_scanned_in_the_time_left() {
    let journal = Journal::in_memory();
    let reject = "mimetype == text/html".parse().unwrap();
    let mut st = state(
        &journal,
        Filters {
            accept: vec![],
            reject: vec![reject],
        },
        None,
    );
    let bounty = posted(1, 20, &["application/pdf", "text/html"]);
    let actions = st.on_event(event(Event::Bounty(bounty.clone()), 10), &journal);
    // Blocks 11..20 are left, 2 of them kept in hand: 7 blocks of 100 ms.
    assert_eq!(
        actions,
        vec![
            Action::Scan {
                bounty: Box::new(bounty.clone()),
                allowed: vec![true, false],
                budget: Duration::from_millis(700),
            },
            Action::Journal(Record::Checkpoint { block: 10 }),
        ]
    );
    assert_eq!(st.report.bounties_seen, 1);
    assert_eq!(st.report.artifacts_filtered, 1);
    // The same bounty again (a replayed event) is not scanned twice.
    let again = st.on_event(event(Event::Bounty(bounty), 11), &journal);
    assert!(work(again).is_empty());
    assert_eq!(st.report.bounties_seen, 1);
}

#[test]
fn a_bounty_every_artifact_of_which_is_rejected_is_skipped() {
    let journal = Journal::in_memory();
    let mut st = state(
        &journal,
        Filters {
            accept: vec!["mimetype == application/pdf".parse().unwrap()],
            reject: vec![],
        },
        None,
    );
    let actions = st.on_event(
        event(Event::Bounty(posted(1, 30, &["text/html"])), 10),
        &journal,
    );
    assert!(work(actions).is_empty());
    assert_eq!(st.report.bounties_skipped, 1);
    assert!(st.scanning.is_empty());
}

#[test]
fn an_expired_bounty_yields_nothing() {
    let journal = Journal::in_memory();
    let mut st = state(&journal, Filters::default(), None);
    // Posted now, but the round closes before an assertion can make it.
    let actions = st.on_event(event(Event::Bounty(posted(1, 13, &["a/b"])), 10), &journal);
    assert!(work(actions).is_empty());
    assert_eq!(st.report.errors_of("too_late"), 1);
    assert_eq!(st.report.bounties_seen, 1);
    // Replayed from before the start and long over: not even counted.
    let actions = st.on_event(event(Event::Bounty(posted(2, 8, &["a/b"])), 3), &journal);
    assert!(work(actions).is_empty());
    assert_eq!(st.report.bounties_seen, 1);
}

#[test]
fn testing_takes_on_only_its_bounties() {
    let journal = Journal::in_memory();
    let mut st = state(&journal, Filters::default(), Some(1));
    let first = st.on_event(event(Event::Bounty(posted(1, 30, &["a/b"])), 10), &journal);
    assert!(matches!(work(first)[..], [Action::Scan { .. }]));
    let second = st.on_event(event(Event::Bounty(posted(2, 30, &["a/b"])), 10), &journal);
    assert!(work(second).is_empty());
    assert!(!st.done(&journal), "the first bounty is being scanned");
    st.on_scanned(posted(1, 30, &["a/b"]), vec![ArtifactOutcome::Filtered], 0);
    assert!(st.done(&journal));
}

#[test]
fn scanned_verdicts_become_a_journaled_assertion_then_a_submission() {
    let mut journal = Journal::in_memory();
    let mut st = state(&journal, Filters::default(), None);
    let bounty = posted(1, 30, &["a/b", "a/b", "a/b"]);
    st.on_event(event(Event::Bounty(bounty.clone()), 10), &journal);
    let outcomes = vec![
        ArtifactOutcome::Scanned(Box::new(ScanResult::malicious(1.0, "Eicar"))),
        ArtifactOutcome::Failed {
            kind: ScanFailure::Timeout,
            detail: "late".into(),
        },
        ArtifactOutcome::Scanned(Box::new(ScanResult::benign(0.5))),
    ];
    let actions = st.on_scanned(bounty, outcomes, 3);
    assert!(st.scanning.is_empty());
    assert_eq!(st.report.errors_of("scan_timeout"), 1);
    assert_eq!(st.report.artifacts_downloaded, 3);
    let [Action::Commit(proposal)] = &work(actions)[..] else {
        panic!("expected a commitment");
    };
    assert_eq!(proposal.mask, Bits256::from_indices([0, 2]));
    assert_eq!(proposal.verdicts, Bits256::from_indices([0]));
    assert_eq!(proposal.bids.len(), 2);

    // Not enough NCT: nothing is journaled or sent.
    st.balance = Balance::new(me(), Amount::from_nct(0), 10);
    let poor = st.on_commit((**proposal).clone(), H256([9; 32]));
    assert!(poor.is_empty());
    assert_eq!(st.report.errors_of("insufficient_balance"), 1);

    let nonce = H256([9; 32]);
    st.balance = Balance::new(me(), Amount::from_nct(100), 10);
    let actions = st.on_commit((**proposal).clone(), nonce);
    let [Action::Journal(Record::Committed(c)), Action::Assert { assert, expiration }] =
        &actions[..]
    else {
        panic!("expected the commitment journaled, then sent: {actions:?}");
    };
    assert_eq!(*expiration, 30);
    assert_eq!(c.commitment, commitment(&c.verdicts, &nonce, &me()));
    assert_eq!((assert.mask, assert.commitment), (c.mask, c.commitment));
    assert!(st.flight[&c.guid].submitting);

    // A second assertion counts the first one's cost, not yet in the
    // balance, against it.
    journal.append(Record::Committed(c.clone())).unwrap();
    let other = Proposal {
        guid: Guid::from_u128(2),
        ..(**proposal).clone()
    };
    st.balance = Balance::new(me(), c.cost(), 10);
    assert!(st.on_commit(other.clone(), nonce).is_empty());
    assert_eq!(st.report.errors_of("insufficient_balance"), 2);
    // Once its `assertion` event debits the balance, it no longer counts
    // twice: the balance left is what decides.
    st.balance = Balance::new(me(), c.cost().checked_add(c.cost()).unwrap(), 10);
    let mine = AssertionMade {
        bounty_guid: c.guid,
        author: me(),
        index: 0,
        bids: c.bids.clone(),
        mask: c.mask,
        commitment: c.commitment,
    };
    st.on_event(event(Event::Assertion(mine), 11), &journal);
    assert_eq!(st.balance.amount(), c.cost());
    assert!(st.unpaid.is_empty());
    assert!(!st.on_commit(other, nonce).is_empty());
}

#[test]
fn nothing_to_assert_or_too_late_after_the_scan_is_a_skip() {
    let journal = Journal::in_memory();
    let mut st = state(&journal, Filters::default(), None);
    let unknown = vec![ArtifactOutcome::Scanned(Box::new(ScanResult::unknown()))];
    assert!(work(st.on_scanned(posted(1, 30, &["a/b"]), unknown, 1)).is_empty());
    st.tip = 29;
    let malicious = vec![ArtifactOutcome::Scanned(Box::new(ScanResult::malicious(
        1.0, "x",
    )))];
    assert!(work(st.on_scanned(posted(2, 30, &["a/b"]), malicious, 1)).is_empty());
    assert_eq!(st.report.bounties_skipped, 2);
    assert_eq!(st.report.errors_of("too_late"), 1);
}

#[test]
fn a_reveal_is_due_at_the_reveal_round_and_sent_once() {
    let mut journal = Journal::in_memory();
    let guid = asserted(&mut journal, 1);
    let mut st = state(&journal, Filters::default(), None);
    assert!(work(st.on_event(block(19), &journal)).is_empty());
    let actions = work(st.on_event(block(20), &journal));
    let c = committed(1);
    assert_eq!(
        actions,
        vec![Action::Reveal(Reveal {
            bounty_guid: guid,
            nonce: c.nonce,
            verdicts: c.verdicts,
            metadata: c.metadata,
        })]
    );
    // In flight: not sent again.
    assert!(work(st.on_event(block(21), &journal)).is_empty());
    // A retryable refusal: the next block tries again.
    let wrong_round = ClientError::Api {
        status: 422,
        code: "wrong_round".into(),
        message: "not yet".into(),
    };
    assert!(work(st.on_revealed(guid, Err(wrong_round), &journal)).is_empty());
    assert_eq!(st.report.errors_of("reveal_retry"), 1);
    assert!(matches!(
        work(st.on_event(block(22), &journal))[..],
        [Action::Reveal(_)]
    ));
    let included = Submitted {
        hash: H256([3; 32]),
        status: crate::TxStatus::Included,
        block_number: 22,
    };
    assert_eq!(
        work(st.on_revealed(guid, Ok(included), &journal)),
        vec![Action::Journal(Record::Revealed { guid })]
    );
    assert_eq!(st.report.reveals, 1);
}

#[test]
fn a_reveal_window_passed_is_a_missed_reveal_not_a_reveal() {
    let mut journal = Journal::in_memory();
    asserted(&mut journal, 1);
    let mut st = state(&journal, Filters::default(), None);
    assert!(work(st.on_event(block(25), &journal)).is_empty());
    assert_eq!(st.report.errors_of("reveal_missed"), 1);
    assert!(work(st.on_event(block(26), &journal)).is_empty());
    assert_eq!(st.report.errors_of("reveal_missed"), 1);
}

#[test]
fn an_unconfirmed_assertion_is_looked_up_once() {
    let mut journal = Journal::in_memory();
    let c = committed(1);
    let guid = c.guid;
    journal.append(Record::Committed(c)).unwrap();
    let mut st = state(&journal, Filters::default(), None);
    let broken = || ClientError::Api {
        status: 503,
        code: "unavailable".into(),
        message: "later".into(),
    };
    let actions = work(st.on_submitted(guid, Err(broken()), &journal));
    assert_eq!(actions, vec![Action::Reconcile(guid)]);
    assert!(work(st.on_task_failed(guid, TaskKind::Submit)).is_empty());
    // The node does not know the bounty: the entry is dropped, then
    // whatever is due is looked at with that written.
    let actions = work(st.on_reconciled(guid, Ok(None), &journal));
    assert!(matches!(
        &actions[..],
        [Action::Journal(Record::Dropped { guid: g, .. }), Action::CheckDue] if *g == guid
    ));
    assert!(st.flight.is_empty());
    assert_eq!(st.report.bounties_skipped, 1);
}

#[test]
fn a_settlement_records_the_payout_and_forgets_the_bounty() {
    let mut journal = Journal::in_memory();
    let guid = asserted(&mut journal, 1);
    let mut st = state(&journal, Filters::default(), None);
    st.flight.entry(guid).or_default();
    let settled = BountySettled {
        bounty_guid: guid,
        consensus: None,
        payouts: vec![
            Payout {
                account: me(),
                role: PayoutRole::Expert,
                amount: Amount::from_nct(3),
            },
            Payout {
                account: Address::ZERO,
                role: PayoutRole::Expert,
                amount: Amount::from_nct(5),
            },
        ],
        treasury: Amount::ZERO,
    };
    let actions = work(st.on_event(event(Event::SettledBounty(settled), 40), &journal));
    assert_eq!(
        actions,
        vec![Action::Journal(Record::Settled {
            guid,
            payout: Amount::from_nct(3)
        })]
    );
    assert!(st.flight.is_empty());
    assert_eq!(st.report.stakes_and_fees, committed(1).cost());
}

#[test]
fn checkpoints_wait_for_the_bounties_being_scanned() {
    let journal = Journal::in_memory();
    let mut st = state(&journal, Filters::default(), None);
    let actions = st.on_event(event(Event::Bounty(posted(1, 60, &["a/b"])), 10), &journal);
    assert!(actions.contains(&Action::Journal(Record::Checkpoint { block: 10 })));
    // While bounty 1 is scanned, the checkpoint stays at its block.
    for n in 11..40 {
        let actions = st.on_event(block(n), &journal);
        assert!(actions.is_empty(), "block {n}: {actions:?}");
    }
    let actions = st.on_scanned(posted(1, 60, &["a/b"]), vec![ArtifactOutcome::Filtered], 0);
    assert_eq!(
        actions,
        vec![Action::Journal(Record::Checkpoint { block: 39 })]
    );
    assert_eq!(st.final_checkpoint(), None);
    st.on_event(block(40), &journal);
    assert_eq!(
        st.final_checkpoint(),
        Some(Record::Checkpoint { block: 40 })
    );
}

#[test]
fn oversized_metadata_is_trimmed() {
    let small = vec![serde_json::json!({"malware_family": "a"}), Value::Null];
    assert_eq!(fit_metadata(small.clone()), Value::Array(small));
    let big = "x".repeat(MAX_REVEAL_METADATA_BYTES);
    let trimmed = fit_metadata(vec![
        serde_json::json!({"malware_family": "a", "domains": [big]}),
        Value::Null,
    ]);
    assert_eq!(trimmed, serde_json::json!([{"malware_family": "a"}, null]));
    let huge = fit_metadata(vec![serde_json::json!({"malware_family": big})]);
    assert_eq!(huge, serde_json::json!([null]));
}

#[test]
fn a_scanners_own_bid_is_staked_within_the_communitys_bounds() {
    let journal = Journal::in_memory();
    let mut st = state(&journal, Filters::default(), None);
    let bounty = posted(1, 30, &["a/b", "a/b", "a/b"]);
    st.on_event(event(Event::Bounty(bounty.clone()), 10), &journal);
    let outcomes = vec![
        // In the bounds: as chosen, to the wei, whatever the confidence.
        ArtifactOutcome::Scanned(Box::new(
            ScanResult::malicious(0.0, "X").with_bid(Amount::from_wei(300_000_000_000_000_001)),
        )),
        // Above and below: clamped.
        ArtifactOutcome::Scanned(Box::new(
            ScanResult::benign(1.0).with_bid(Amount::from_nct(5)),
        )),
        ArtifactOutcome::Scanned(Box::new(
            ScanResult::benign(1.0).with_bid(Amount::from_wei(1)),
        )),
    ];
    let [Action::Commit(proposal)] = &work(st.on_scanned(bounty, outcomes, 3))[..] else {
        panic!("expected a commitment");
    };
    assert_eq!(
        proposal.bids,
        [
            Amount::from_wei(300_000_000_000_000_001),
            Amount::from_nct(1),
            Amount::parse_nct("0.0625").unwrap(),
        ]
    );
}

fn pending(block_number: u64) -> Submitted {
    Submitted {
        hash: H256([3; 32]),
        status: crate::TxStatus::Pending,
        block_number,
    }
}

fn own_assertion(c: &CommittedAssertion) -> Event {
    Event::Assertion(AssertionMade {
        bounty_guid: c.guid,
        author: me(),
        index: 0,
        bids: c.bids.clone(),
        mask: c.mask,
        commitment: c.commitment,
    })
}

#[test]
fn an_assertion_sent_without_waiting_is_confirmed_by_its_own_event() {
    let mut journal = Journal::in_memory();
    let c = committed(1);
    let guid = c.guid;
    journal.append(Record::Committed(c.clone())).unwrap();
    let mut st = state(&journal, Filters::default(), None);
    st.flight.entry(guid).or_default().submitting = true;
    // Taken into block 11: nothing is journaled or counted yet.
    assert!(work(st.on_submitted(guid, Ok(pending(11)), &journal)).is_empty());
    assert_eq!(st.report.assertions, 0);
    assert_eq!(st.flight[&guid].assert_in, Some(11));
    // Block 11 holds it: confirmed, journaled once, counted once.
    assert!(work(st.on_event(block(11), &journal)).is_empty());
    let actions = work(st.on_event(event(own_assertion(&c), 11), &journal));
    assert_eq!(
        actions,
        vec![Action::Journal(Record::Asserted { guid, txhash: None })]
    );
    for a in actions {
        if let Action::Journal(r) = a {
            journal.append(r).unwrap();
        }
    }
    assert_eq!((st.report.assertions, st.report.artifacts_asserted), (1, 2));
    assert_eq!(st.flight[&guid].assert_in, None);
    // The next block does not look it up.
    assert!(work(st.on_event(block(12), &journal)).is_empty());
    // An answer that comes after the event changes nothing.
    let late = Submitted {
        status: crate::TxStatus::Included,
        ..pending(11)
    };
    assert!(work(st.on_submitted(guid, Ok(late), &journal)).is_empty());
    assert_eq!(st.report.assertions, 1);
}

/// A cut connection swallowed the answer; the event stream, back first,
/// confirmed the assertion and the reveal; then the client's retry of the
/// same bytes is refused as `replayed`. Each counts once.
#[test]
fn a_replayed_answer_after_the_own_event_is_not_counted_twice() {
    let mut journal = Journal::in_memory();
    let c = committed(1);
    let guid = c.guid;
    journal.append(Record::Committed(c.clone())).unwrap();
    let mut st = state(&journal, Filters::default(), None);
    for a in work(st.on_event(event(own_assertion(&c), 11), &journal)) {
        if let Action::Journal(r) = a {
            journal.append(r).unwrap();
        }
    }
    let replayed = || ClientError::Api {
        status: 409,
        code: "replayed".into(),
        message: "already included".into(),
    };
    assert!(work(st.on_submitted(guid, Err(replayed()), &journal)).is_empty());
    assert_eq!(st.report.assertions, 1);
    let revealed = AssertionRevealed {
        bounty_guid: guid,
        author: me(),
        index: 0,
        nonce: c.nonce,
        verdicts: c.verdicts,
        metadata: c.metadata.clone(),
    };
    for a in work(st.on_event(event(Event::Reveal(revealed), 21), &journal)) {
        if let Action::Journal(r) = a {
            journal.append(r).unwrap();
        }
    }
    assert!(work(st.on_revealed(guid, Err(replayed()), &journal)).is_empty());
    assert_eq!(st.report.reveals, 1);
    assert!(st.report.errors.is_empty(), "{:?}", st.report.errors);
}

#[test]
fn an_assertion_missing_from_the_block_it_was_taken_into_is_looked_up() {
    let mut journal = Journal::in_memory();
    let c = committed(1);
    let guid = c.guid;
    journal.append(Record::Committed(c)).unwrap();
    let mut st = state(&journal, Filters::default(), None);
    assert!(work(st.on_submitted(guid, Ok(pending(11)), &journal)).is_empty());
    assert!(work(st.on_event(block(11), &journal)).is_empty());
    // Block 12 began and block 11 held no assertion by this engine.
    assert_eq!(
        work(st.on_event(block(12), &journal)),
        vec![Action::Reconcile(guid)]
    );
    assert_eq!(st.report.assertions, 0);
}

#[test]
fn a_reveal_sent_without_waiting_is_confirmed_by_its_event_or_sent_again() {
    let mut journal = Journal::in_memory();
    let guid = asserted(&mut journal, 1);
    let c = committed(1);
    let mut st = state(&journal, Filters::default(), None);
    assert!(matches!(
        work(st.on_event(block(20), &journal))[..],
        [Action::Reveal(_)]
    ));
    assert!(work(st.on_revealed(guid, Ok(pending(21)), &journal)).is_empty());
    assert_eq!(st.report.reveals, 0);
    // Still in flight while its block is open.
    assert!(work(st.on_event(block(21), &journal)).is_empty());
    // Block 21 passed without it: sent again.
    assert!(matches!(
        work(st.on_event(block(22), &journal))[..],
        [Action::Reveal(_)]
    ));
    assert!(work(st.on_revealed(guid, Ok(pending(23)), &journal)).is_empty());
    assert!(work(st.on_event(block(23), &journal)).is_empty());
    let revealed = AssertionRevealed {
        bounty_guid: guid,
        author: me(),
        index: 0,
        nonce: c.nonce,
        verdicts: c.verdicts,
        metadata: c.metadata.clone(),
    };
    assert_eq!(
        work(st.on_event(event(Event::Reveal(revealed), 23), &journal)),
        vec![Action::Journal(Record::Revealed { guid })]
    );
    assert_eq!(st.report.reveals, 1);
    assert!(!st.flight[&guid].revealing);
}

#[test]
fn a_reconnected_stream_has_the_balance_read_again() {
    let journal = Journal::in_memory();
    let mut st = state(&journal, Filters::default(), None);
    assert_eq!(st.on_reconnected(), vec![Action::ReadBalance]);
    // One read at a time.
    assert!(st.on_reconnected().is_empty());
    let payout = BountySettled {
        bounty_guid: Guid::from_u128(9),
        consensus: None,
        payouts: vec![Payout {
            account: me(),
            role: PayoutRole::Ambassador,
            amount: Amount::from_nct(5),
        }],
        treasury: Amount::ZERO,
    };
    st.on_event(event(Event::SettledBounty(payout), 12), &journal);
    // The node had 70 at block 11; block 12's payout comes on top.
    assert!(st
        .on_balance_read(Ok((11, Amount::from_nct(70))))
        .is_empty());
    assert_eq!(st.balance(), Amount::from_nct(75));
    // The read asked for during the first one follows on the next event.
    assert_eq!(
        work(st.on_event(block(13), &journal)),
        vec![Action::ReadBalance]
    );
    let failed = ClientError::Api {
        status: 503,
        code: "unavailable".into(),
        message: "later".into(),
    };
    assert!(st.on_balance_read(Err(failed)).is_empty());
    assert_eq!(st.report.errors_of("balance_unavailable"), 1);
    assert_eq!(st.balance(), Amount::from_nct(75));
}
