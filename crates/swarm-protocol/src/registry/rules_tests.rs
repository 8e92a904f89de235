//! Admission and rejection tests, rule by rule.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::test_utils::*;
use crate::{
    keccak256, AddArbiter, ArtifactMetadata, ArtifactType, Assert, BountySettled, Deprecate,
    Faucet, Genesis, Mint, NctAmount, PostBounty, PrivateKey, RemoveArbiter, Reveal, SetFees,
    SetWindows, SignedTx, StakeDeposit, StakeWithdraw, Transfer, Tx, TxBody, Undeprecate,
    MAX_RAW_TX_BYTES,
};

/// Default reveal window R.
const R: u64 = 25;
/// Default vote window V.
const V: u64 = 100;

// ---- helpers ---------------------------------------------------------------

fn nct(text: &str) -> Amount {
    Amount::parse_nct(text).unwrap()
}

fn addr(i: u64) -> Address {
    key(i).address()
}

/// The genesis of `Market::new(arbiters)`, to be adjusted before starting.
fn genesis(arbiters: u64) -> Genesis {
    let mut genesis = Genesis::new("test", addr(0));
    for i in 1..=20 {
        genesis
            .allocations
            .insert(addr(i), NctAmount(Amount::from_nct(1_000)));
    }
    for i in 0..arbiters {
        genesis.arbiters.insert(addr(100 + i));
        genesis
            .allocations
            .insert(addr(100 + i), NctAmount(Amount::from_nct(20_000_000)));
    }
    genesis
}

/// A market whose `arbiters` arbiters have each staked the minimum.
fn staked_market(arbiters: u64) -> Market {
    let mut m = Market::new(arbiters);
    for i in 0..arbiters {
        m.stake_minimum(&key(100 + i));
    }
    m
}

/// Sends `body` from `key`, expects a refusal, checks nothing changed.
fn refused(m: &mut Market, key: &PrivateKey, body: impl Into<TxBody>) -> TxError {
    refused_by(m, |m| m.send(key, body))
}

/// Runs `f`, expects a refusal, checks nothing changed.
fn refused_by(
    m: &mut Market,
    f: impl FnOnce(&mut Market) -> Result<Vec<Event>, TxError>,
) -> TxError {
    let before = m.registry.clone();
    let err = f(m).expect_err("the transaction should have been refused");
    assert_eq!(
        m.registry, before,
        "a refused tx ({err}) changed the registry"
    );
    err
}

/// A transaction from `key` to this market's community, valid through `expires`.
fn signed(m: &Market, key: &PrivateKey, expires: u64, body: impl Into<TxBody>) -> SignedTx {
    Tx::new(key.address(), m.registry.community(), expires, body).sign(key)
}

/// Verifies and applies an envelope, as the node does.
fn submit(m: &mut Market, tx: &SignedTx) -> Result<Vec<Event>, TxError> {
    let result = tx.verify().and_then(|v| m.registry.apply(&v));
    m.registry.check_invariants().unwrap();
    result
}

/// Submits an envelope, expects a refusal, checks nothing changed.
fn refused_signed(m: &mut Market, tx: &SignedTx) -> TxError {
    refused_by(m, |m| submit(m, tx))
}

/// An envelope whose raw text is `raw`, correctly signed by `key`.
fn signed_raw(key: &PrivateKey, raw: String) -> SignedTx {
    let signature = key.sign_hash(&keccak256(raw.as_bytes()));
    SignedTx { raw, signature }
}

fn pay(to: u64, amount: &str) -> Transfer {
    Transfer {
        to: addr(to),
        amount: nct(amount),
    }
}

fn post_body(guid: u128, n: u32, amount: Amount, duration: u64) -> PostBounty {
    PostBounty {
        guid: Guid::from_u128(guid),
        artifact_type: ArtifactType::File,
        amount,
        uri: uri(7),
        num_artifacts: n,
        duration,
        metadata: None,
    }
}

/// Posts a bounty of `n` artifacts and 1 NCT per artifact by `key(1)`;
/// returns its guid and its expiration E.
fn open(m: &mut Market, n: u32, duration: u64) -> (Guid, u64) {
    let guid = m.post(&key(1), n, Amount::from_nct(n.into()), duration);
    let e = m.registry.bounty(&guid).unwrap().expiration;
    (guid, e)
}

/// Asserts "malicious" on artifact 0 of a one-artifact bounty with 0.5 NCT.
fn assert_one(m: &mut Market, engine: u64, guid: Guid) -> Result<Vec<Event>, TxError> {
    m.assert(
        &key(engine),
        guid,
        Bits256::first(1),
        vec![nct("0.5")],
        Bits256::first(1),
    )
}

fn reveal_body(guid: Guid, engine: u64, verdicts: Bits256, metadata: serde_json::Value) -> Reveal {
    Reveal {
        bounty_guid: guid,
        nonce: nonce_for(&guid, &addr(engine)),
        verdicts,
        metadata,
    }
}

fn settled(events: &[Event], guid: Guid) -> Option<&BountySettled> {
    events.iter().find_map(|e| match e {
        Event::SettledBounty(s) if s.bounty_guid == guid => Some(s),
        _ => None,
    })
}

fn not_owner(action: &'static str, account: u64) -> TxError {
    TxError::NotOwner {
        action,
        owner: addr(0),
        account: addr(account),
    }
}

// ---- envelope (SPEC §3.2) --------------------------------------------------

#[test]
fn tx_for_another_community_is_wrong_community() {
    let mut m = Market::new(0);
    let tx = Tx::new(addr(1), "elsewhere", m.block() + 10, pay(2, "1")).sign(&key(1));
    assert_eq!(
        refused_signed(&mut m, &tx),
        TxError::WrongCommunity {
            expected: "test".into(),
            got: "elsewhere".into()
        }
    );
}

#[test]
fn tx_expiring_before_the_current_block_is_expired() {
    let mut m = Market::new(0);
    m.advance_to(10);
    let late = signed(&m, &key(1), 9, pay(2, "1"));
    assert_eq!(
        refused_signed(&mut m, &late),
        TxError::Expired {
            expires: 9,
            block: 10
        }
    );
    // The expiry block itself is still valid.
    let last_chance = signed(&m, &key(1), 10, pay(2, "1"));
    submit(&mut m, &last_chance).unwrap();
    assert_eq!(m.registry.balance(&addr(2)), nct("1001"));
}

#[test]
fn tx_expiring_more_than_256_blocks_ahead_is_refused() {
    let mut m = Market::new(0);
    m.advance_to(10);
    let far = signed(&m, &key(1), 10 + 257, pay(2, "1"));
    assert_eq!(
        refused_signed(&mut m, &far),
        TxError::ExpiresTooFar {
            expires: 267,
            block: 10,
            max: 256
        }
    );
    let farthest = signed(&m, &key(1), 10 + 256, pay(2, "1"));
    submit(&mut m, &farthest).unwrap();
}

#[test]
fn same_signed_tx_twice_is_replayed() {
    let mut m = Market::new(0);
    let expires = m.block() + 20;
    let tx = signed(&m, &key(1), expires, pay(2, "1"));
    submit(&mut m, &tx).unwrap();
    assert!(m.registry.is_recent_tx(&tx.hash()));
    // In the same block, and in every later block through its expiry.
    assert_eq!(refused_signed(&mut m, &tx), TxError::Replayed(tx.hash()));
    m.advance_to(expires);
    assert_eq!(refused_signed(&mut m, &tx), TxError::Replayed(tx.hash()));
    assert_eq!(m.registry.balance(&addr(2)), nct("1001"));
}

#[test]
fn replay_after_its_hash_is_forgotten_is_still_expired() {
    let mut m = Market::new(0);
    let expires = m.block() + 5;
    let tx = signed(&m, &key(1), expires, pay(2, "1"));
    submit(&mut m, &tx).unwrap();
    m.advance_to(expires);
    assert!(m.registry.is_recent_tx(&tx.hash()));
    m.next_block();
    assert!(!m.registry.is_recent_tx(&tx.hash()), "hash kept too long");
    assert_eq!(
        refused_signed(&mut m, &tx),
        TxError::Expired {
            expires,
            block: expires + 1
        }
    );
    assert_eq!(m.registry.balance(&addr(2)), nct("1001"));
}

#[test]
fn signature_by_another_key_is_wrong_signer() {
    let mut m = Market::new(0);
    let tx = Tx::new(addr(1), "test", m.block() + 10, pay(3, "5"));
    let forged = tx.sign(&key(3));
    assert_eq!(
        refused_signed(&mut m, &forged),
        TxError::WrongSigner {
            from: addr(1),
            signer: addr(3)
        }
    );
}

#[test]
fn tampered_raw_is_wrong_signer() {
    let mut m = Market::new(0);
    let mut tx = signed(&m, &key(1), m.block() + 10, pay(2, "1"));
    let original = tx.raw.clone();
    tx.raw = tx.raw.replace("1000000000000000000", "9000000000000000000");
    assert_ne!(tx.raw, original);
    let err = refused_signed(&mut m, &tx);
    assert!(
        matches!(err, TxError::WrongSigner { from, signer } if from == addr(1) && signer != addr(1)),
        "{err:?}"
    );
}

#[test]
fn undecodable_signature_is_bad_signature() {
    let mut m = Market::new(0);
    let mut tx = signed(&m, &key(1), m.block() + 10, pay(2, "1"));
    tx.signature.0[64] = 5;
    let err = refused_signed(&mut m, &tx);
    assert!(matches!(err, TxError::BadSignature(_)), "{err:?}");
}

#[test]
fn malformed_raw_is_refused() {
    let mut m = Market::new(0);
    let k = key(1);
    let from = k.address();
    let expires = m.block() + 10;
    let to = addr(2);

    let not_json = signed_raw(&k, "not json".into());
    assert!(matches!(
        refused_signed(&mut m, &not_json),
        TxError::Malformed(_)
    ));

    let missing_expires = signed_raw(
        &k,
        format!(
            r#"{{"name":"nct:Transfer","from":"{from}","community":"test","data":{{"to":"{to}","amount":"1"}}}}"#
        ),
    );
    assert!(matches!(
        refused_signed(&mut m, &missing_expires),
        TxError::Malformed(_)
    ));

    let extra_field = signed_raw(
        &k,
        format!(
            r#"{{"name":"nct:Transfer","from":"{from}","community":"test","expires":{expires},"data":{{"to":"{to}","amount":"1"}},"nonce":1}}"#
        ),
    );
    assert!(matches!(
        refused_signed(&mut m, &extra_field),
        TxError::Malformed(_)
    ));

    let bad_data = signed_raw(
        &k,
        format!(
            r#"{{"name":"nct:Transfer","from":"{from}","community":"test","expires":{expires},"data":{{"to":"{to}","amount":1}}}}"#
        ),
    );
    let err = refused_signed(&mut m, &bad_data);
    assert!(
        matches!(&err, TxError::Malformed(msg) if msg.contains("nct:Transfer")),
        "{err:?}"
    );

    let unknown = signed_raw(
        &k,
        format!(
            r#"{{"name":"nct:Steal","from":"{from}","community":"test","expires":{expires},"data":{{}}}}"#
        ),
    );
    assert_eq!(
        refused_signed(&mut m, &unknown),
        TxError::UnknownName("nct:Steal".into())
    );

    let huge = signed_raw(&k, " ".repeat(MAX_RAW_TX_BYTES + 1));
    assert!(matches!(
        refused_signed(&mut m, &huge),
        TxError::TooLarge { .. }
    ));

    assert!(matches!(
        SignedTx::from_json(r#"{"raw":"{}"}"#),
        Err(TxError::Malformed(_))
    ));
}

#[test]
fn refused_tx_is_not_remembered_and_may_be_admitted_later() {
    let mut m = Market::new(0);
    let tx = signed(&m, &key(50), m.block() + 10, pay(2, "1"));
    assert!(matches!(
        refused_signed(&mut m, &tx),
        TxError::InsufficientBalance { .. }
    ));
    assert!(!m.registry.is_recent_tx(&tx.hash()));
    m.send(&key(1), pay(50, "1")).unwrap();
    submit(&mut m, &tx).unwrap();
    assert_eq!(refused_signed(&mut m, &tx), TxError::Replayed(tx.hash()));
}

// ---- nct:Transfer ----------------------------------------------------------

#[test]
fn transfer_moves_nct_and_emits_transfer() {
    let mut m = Market::new(0);
    let events = m.send(&key(1), pay(2, "2.5")).unwrap();
    assert_eq!(
        events,
        vec![Event::Transfer {
            from: addr(1),
            to: addr(2),
            amount: nct("2.5")
        }]
    );
    assert_eq!(m.registry.balance(&addr(1)), nct("997.5"));
    assert_eq!(m.registry.balance(&addr(2)), nct("1002.5"));
}

#[test]
fn transfer_beyond_balance_is_insufficient_balance() {
    let mut m = Market::new(0);
    let err = refused(&mut m, &key(1), pay(2, "1000.000000000000000001"));
    assert_eq!(
        err,
        TxError::InsufficientBalance {
            account: addr(1),
            needed: nct("1000.000000000000000001"),
            available: nct("1000")
        }
    );
    // The whole balance may go.
    m.send(&key(1), pay(2, "1000")).unwrap();
    assert_eq!(m.registry.balance(&addr(1)), Amount::ZERO);
}

#[test]
fn transfer_from_an_empty_account_is_insufficient_balance() {
    let mut m = Market::new(0);
    let err = refused(&mut m, &key(50), pay(2, "1"));
    assert_eq!(
        err,
        TxError::InsufficientBalance {
            account: addr(50),
            needed: nct("1"),
            available: Amount::ZERO
        }
    );
}

#[test]
fn transfer_of_zero_is_zero_amount() {
    let mut m = Market::new(0);
    assert!(matches!(
        refused(&mut m, &key(1), pay(2, "0")),
        TxError::ZeroAmount(_)
    ));
}

// ---- nct:Mint --------------------------------------------------------------

#[test]
fn owner_mints_to_anyone_and_emits_mint() {
    let mut m = Market::new(0);
    let before = m.registry.total_minted();
    let events = m
        .send(
            &key(0),
            Mint {
                to: addr(50),
                amount: nct("123.5"),
            },
        )
        .unwrap();
    assert_eq!(
        events,
        vec![Event::Mint {
            to: addr(50),
            amount: nct("123.5")
        }]
    );
    assert_eq!(m.registry.balance(&addr(50)), nct("123.5"));
    assert_eq!(
        m.registry.total_minted(),
        before.checked_add(nct("123.5")).unwrap()
    );
}

#[test]
fn mint_by_non_owner_without_faucet_is_not_owner() {
    let mut m = Market::new(0);
    let err = refused(
        &mut m,
        &key(1),
        Mint {
            to: addr(1),
            amount: nct("1"),
        },
    );
    assert_eq!(err, not_owner("nct:Mint", 1));
}

#[test]
fn faucet_lets_anyone_mint_up_to_its_limit() {
    let mut g = genesis(0);
    g.faucet = Some(Faucet {
        max_per_mint: Amount::from_nct(100),
    });
    let mut m = Market::with_genesis(&g, key(0));
    let events = m
        .send(
            &key(50),
            Mint {
                to: addr(50),
                amount: nct("100"),
            },
        )
        .unwrap();
    assert_eq!(
        events,
        vec![Event::Mint {
            to: addr(50),
            amount: nct("100")
        }]
    );
    let err = refused(
        &mut m,
        &key(50),
        Mint {
            to: addr(50),
            amount: nct("100.000000000000000001"),
        },
    );
    assert_eq!(
        err,
        TxError::FaucetLimit {
            amount: nct("100.000000000000000001"),
            limit: nct("100")
        }
    );
    // The owner is not bound by the faucet limit.
    m.send(
        &key(0),
        Mint {
            to: addr(50),
            amount: nct("5000"),
        },
    )
    .unwrap();
    assert_eq!(m.registry.balance(&addr(50)), nct("5100"));
}

#[test]
fn mint_of_zero_is_zero_amount() {
    let mut m = Market::new(0);
    let err = refused(
        &mut m,
        &key(0),
        Mint {
            to: addr(1),
            amount: Amount::ZERO,
        },
    );
    assert!(matches!(err, TxError::ZeroAmount(_)), "{err:?}");
}

#[test]
fn mint_overflowing_the_supply_is_refused() {
    let mut m = Market::new(0);
    let huge = Amount::from_wei(u128::MAX);
    let err = refused(
        &mut m,
        &key(0),
        Mint {
            to: addr(1),
            amount: huge,
        },
    );
    assert_eq!(err, TxError::SupplyOverflow(huge));
}

// ---- bounty:Post -----------------------------------------------------------

#[test]
fn post_escrows_amount_and_fee_and_emits_bounty() {
    let mut m = Market::new(0);
    let block = m.block();
    let metadata = vec![
        ArtifactMetadata {
            filename: Some("eicar.com".into()),
            sha256: Some("ab".repeat(32)),
            ..Default::default()
        },
        ArtifactMetadata {
            filename: Some("clean.txt".into()),
            ..Default::default()
        },
    ];
    let mut body = post_body(42, 2, nct("2"), 10);
    body.metadata = Some(metadata.clone());
    let events = m.send(&key(1), body).unwrap();
    let guid = Guid::from_u128(42);
    assert_eq!(
        events,
        vec![Event::Bounty(BountyPosted {
            guid,
            artifact_type: ArtifactType::File,
            author: addr(1),
            amount: nct("2"),
            uri: uri(7),
            num_artifacts: 2,
            expiration: block + 10,
            reveal_deadline: block + 10 + R,
            vote_deadline: block + 10 + R + V,
            metadata: Some(metadata),
        })]
    );
    assert_eq!(m.registry.balance(&addr(1)), nct("997.9375"));
    assert_eq!(m.registry.escrow(), nct("2.0625"));
    let bounty = m.registry.bounty(&guid).unwrap();
    assert_eq!(bounty.fee, nct("0.0625"));
    assert_eq!(m.registry.round(bounty), Round::Assertion);
    assert_eq!(m.registry.bounty_count(), 1);
}

#[test]
fn post_with_a_used_guid_is_duplicate_bounty() {
    let mut m = Market::new(0);
    m.send(&key(1), post_body(42, 1, nct("1"), 10)).unwrap();
    let err = refused(&mut m, &key(2), post_body(42, 1, nct("1"), 10));
    assert_eq!(err, TxError::DuplicateBounty(Guid::from_u128(42)));
}

#[test]
fn post_with_no_artifacts_is_artifact_count() {
    let mut m = Market::new(0);
    let err = refused(&mut m, &key(1), post_body(1, 0, nct("1"), 10));
    assert_eq!(err, TxError::ArtifactCount { count: 0, max: 256 });
}

#[test]
fn post_with_257_artifacts_is_artifact_count() {
    let mut m = Market::new(0);
    let err = refused(&mut m, &key(1), post_body(1, 257, nct("100"), 10));
    assert_eq!(
        err,
        TxError::ArtifactCount {
            count: 257,
            max: 256
        }
    );
    // 256 is the most, and 256 * 0.0625 = 16 NCT is enough.
    m.send(&key(1), post_body(1, 256, nct("16"), 10)).unwrap();
}

#[test]
fn post_below_minimum_times_artifacts_is_bounty_amount_too_low() {
    let mut m = Market::new(0);
    let short = nct("0.249999999999999999");
    let err = refused(&mut m, &key(1), post_body(1, 4, short, 10));
    assert_eq!(
        err,
        TxError::BountyAmountTooLow {
            amount: short,
            minimum: nct("0.25"),
            artifacts: 4
        }
    );
    m.send(&key(1), post_body(1, 4, nct("0.25"), 10)).unwrap();
}

#[test]
fn post_with_zero_duration_is_refused() {
    let mut m = Market::new(0);
    let err = refused(&mut m, &key(1), post_body(1, 1, nct("1"), 0));
    assert_eq!(
        err,
        TxError::Duration {
            duration: 0,
            max: 100
        }
    );
}

#[test]
fn post_longer_than_max_duration_is_refused() {
    let mut m = Market::new(0);
    let err = refused(&mut m, &key(1), post_body(1, 1, nct("1"), 101));
    assert_eq!(
        err,
        TxError::Duration {
            duration: 101,
            max: 100
        }
    );
    m.send(&key(1), post_body(1, 1, nct("1"), 100)).unwrap();
    m.send(&key(1), post_body(2, 1, nct("1"), 1)).unwrap();
}

#[test]
fn post_with_a_uri_that_is_not_a_sha256_is_bad_uri() {
    let mut m = Market::new(0);
    let good = uri(7);
    for bad in [
        good.to_uppercase(),
        good[..63].to_owned(),
        format!("{good}0"),
        format!("0x{}", &good[2..]),
        format!("{}g", &good[..63]),
        String::new(),
    ] {
        let mut body = post_body(1, 1, nct("1"), 10);
        body.uri = bad.clone();
        assert_eq!(refused(&mut m, &key(1), body), TxError::BadUri(bad));
    }
}

#[test]
fn post_with_metadata_for_another_count_is_metadata_count() {
    let mut m = Market::new(0);
    let mut body = post_body(1, 2, nct("2"), 10);
    body.metadata = Some(vec![ArtifactMetadata::default()]);
    assert_eq!(
        refused(&mut m, &key(1), body),
        TxError::MetadataCount {
            got: 1,
            expected: 2
        }
    );
    let mut body = post_body(1, 1, nct("2"), 10);
    body.metadata = Some(vec![ArtifactMetadata::default(); 2]);
    assert_eq!(
        refused(&mut m, &key(1), body),
        TxError::MetadataCount {
            got: 2,
            expected: 1
        }
    );
}

#[test]
fn post_beyond_balance_is_insufficient_balance() {
    let mut m = Market::new(0);
    // 1000 NCT covers the amount but not the bounty fee on top.
    let err = refused(&mut m, &key(1), post_body(1, 1, nct("1000"), 10));
    assert_eq!(
        err,
        TxError::InsufficientBalance {
            account: addr(1),
            needed: nct("1000.0625"),
            available: nct("1000")
        }
    );
    m.send(&key(1), post_body(1, 1, nct("999.9375"), 10))
        .unwrap();
    assert_eq!(m.registry.balance(&addr(1)), Amount::ZERO);
}

#[test]
fn post_in_a_deprecated_community_is_deprecated() {
    let mut m = Market::new(0);
    m.send(&key(0), Deprecate { rollover: false }).unwrap();
    assert_eq!(
        refused(&mut m, &key(1), post_body(1, 1, nct("1"), 10)),
        TxError::Deprecated
    );
    m.send(&key(0), Undeprecate {}).unwrap();
    m.send(&key(1), post_body(1, 1, nct("1"), 10)).unwrap();
}

// ---- bounty:Assert ---------------------------------------------------------

#[test]
fn assert_escrows_bids_and_fee_and_emits_assertion() {
    let mut m = Market::new(0);
    let (guid, _) = open(&mut m, 3, 10);
    let escrow = m.registry.escrow();
    let mask = Bits256::from_indices([0, 2]);
    let bids = vec![nct("0.0625"), nct("1")];
    let verdicts = Bits256::from_indices([2]);
    let commitment = commitment(&verdicts, &nonce_for(&guid, &addr(2)), &addr(2));
    let events = m
        .assert(&key(2), guid, mask, bids.clone(), verdicts)
        .unwrap();
    assert_eq!(
        events,
        vec![Event::Assertion(AssertionMade {
            bounty_guid: guid,
            author: addr(2),
            index: 0,
            bids: bids.clone(),
            mask,
            commitment,
        })]
    );
    // Bids plus the assertion fee are escrowed.
    assert_eq!(m.registry.balance(&addr(2)), nct("998.90625"));
    assert_eq!(
        m.registry.escrow(),
        escrow.checked_add(nct("1.09375")).unwrap()
    );
    let stored = &m.registry.assertions(&guid).unwrap()[0];
    assert_eq!(stored.fee, nct("0.03125"));
    assert_eq!(stored.bids, bids);
    // The next engine's assertion gets the next index.
    let events = assert_one(&mut m, 3, guid).unwrap();
    assert!(matches!(&events[..], [Event::Assertion(a)] if a.index == 1 && a.author == addr(3)));
}

#[test]
fn assert_on_an_unknown_bounty_is_unknown_bounty() {
    let mut m = Market::new(0);
    let guid = Guid::from_u128(9);
    assert_eq!(
        refused_by(&mut m, |m| assert_one(m, 2, guid)),
        TxError::UnknownBounty(guid)
    );
}

#[test]
fn assert_after_expiration_is_wrong_round() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 10);
    m.advance_to(e - 1);
    assert_one(&mut m, 2, guid).unwrap();
    m.next_block();
    let err = refused_by(&mut m, |m| assert_one(m, 3, guid));
    assert!(
        matches!(err, TxError::WrongRound { action: "bounty:Assert", guid: g, round: Round::Reveal, block, .. } if g == guid && block == e),
        "{err:?}"
    );
}

#[test]
fn second_assertion_by_the_same_engine_is_duplicate_assertion() {
    let mut m = Market::new(0);
    let (guid, _) = open(&mut m, 1, 10);
    assert_one(&mut m, 2, guid).unwrap();
    assert_eq!(
        refused_by(&mut m, |m| assert_one(m, 2, guid)),
        TxError::DuplicateAssertion {
            guid,
            account: addr(2)
        }
    );
}

#[test]
fn assert_with_an_empty_mask_is_empty_mask() {
    let mut m = Market::new(0);
    let (guid, _) = open(&mut m, 2, 10);
    let err = refused_by(&mut m, |m| {
        m.assert(&key(2), guid, Bits256::EMPTY, vec![], Bits256::EMPTY)
    });
    assert_eq!(err, TxError::EmptyMask);
}

#[test]
fn assert_mask_bit_beyond_artifacts_is_bit_out_of_range() {
    let mut m = Market::new(0);
    let (guid, _) = open(&mut m, 2, 10);
    for bit in [2, 255] {
        let mask = Bits256::from_indices([0, bit]);
        let err = refused_by(&mut m, |m| {
            m.assert(&key(2), guid, mask, vec![nct("0.5"); 2], Bits256::EMPTY)
        });
        assert_eq!(
            err,
            TxError::BitOutOfRange {
                guid,
                bit,
                artifacts: 2
            }
        );
    }
}

#[test]
fn assert_with_bids_not_matching_mask_bits_is_bid_count() {
    let mut m = Market::new(0);
    let (guid, _) = open(&mut m, 3, 10);
    let mask = Bits256::from_indices([0, 2]);
    for n in [1, 3] {
        let err = refused_by(&mut m, |m| {
            m.assert(&key(2), guid, mask, vec![nct("0.5"); n], Bits256::EMPTY)
        });
        assert_eq!(
            err,
            TxError::BidCount {
                bids: n,
                mask_bits: 2
            }
        );
    }
}

#[test]
fn bid_below_minimum_is_bid_too_low_naming_the_artifact() {
    let mut m = Market::new(0);
    let (guid, _) = open(&mut m, 3, 10);
    // The second bid belongs to artifact 2, the second set mask bit.
    let mask = Bits256::from_indices([0, 2]);
    let err = refused_by(&mut m, |m| {
        m.assert(
            &key(2),
            guid,
            mask,
            vec![nct("0.5"), nct("0.01")],
            Bits256::EMPTY,
        )
    });
    assert_eq!(
        err,
        TxError::BidTooLow {
            bid: nct("0.01"),
            artifact: 2,
            minimum: nct("0.0625")
        }
    );
    assert_eq!(
        err.to_string(),
        "bid 0.01 NCT on artifact 2 is below the minimum 0.0625 NCT"
    );
}

#[test]
fn bid_above_maximum_is_bid_too_high() {
    let mut m = Market::new(0);
    let (guid, _) = open(&mut m, 2, 10);
    let err = refused_by(&mut m, |m| {
        m.assert(
            &key(2),
            guid,
            Bits256::first(2),
            vec![nct("1.000000000000000001"), nct("0.5")],
            Bits256::EMPTY,
        )
    });
    assert_eq!(
        err,
        TxError::BidTooHigh {
            bid: nct("1.000000000000000001"),
            artifact: 0,
            maximum: nct("1")
        }
    );
    // Exactly the minimum and exactly the maximum are fine.
    m.assert(
        &key(2),
        guid,
        Bits256::first(2),
        vec![nct("0.0625"), nct("1")],
        Bits256::EMPTY,
    )
    .unwrap();
}

#[test]
fn assert_beyond_balance_is_insufficient_balance() {
    let mut m = Market::new(0);
    let (guid, _) = open(&mut m, 1, 10);
    // key(50) gets one wei less than a 1 NCT bid plus the 0.03125 fee.
    m.send(&key(2), pay(50, "1.031249999999999999")).unwrap();
    let assert_max = |m: &mut Market| {
        m.assert(
            &key(50),
            guid,
            Bits256::first(1),
            vec![nct("1")],
            Bits256::EMPTY,
        )
    };
    assert_eq!(
        refused_by(&mut m, assert_max),
        TxError::InsufficientBalance {
            account: addr(50),
            needed: nct("1.03125"),
            available: nct("1.031249999999999999")
        }
    );
    m.send(&key(2), pay(50, "0.000000000000000001")).unwrap();
    assert_max(&mut m).unwrap();
    assert_eq!(m.registry.balance(&addr(50)), Amount::ZERO);
}

#[test]
fn mask_and_votes_may_use_the_last_artifact_bit() {
    let mut m = staked_market(1);
    let (guid, e) = open(&mut m, 256, 10);
    m.assert(
        &key(2),
        guid,
        Bits256::first(256),
        vec![nct("0.0625"); 256],
        Bits256::from_indices([255]),
    )
    .unwrap();
    m.advance_to(e);
    m.reveal(&key(2), guid, Bits256::from_indices([255]))
        .unwrap();
    m.advance_to(e + R);
    m.vote(&key(100), guid, Bits256::from_indices([255]))
        .unwrap();
}

// ---- bounty:Reveal ---------------------------------------------------------

#[test]
fn reveal_in_the_reveal_round_is_admitted_and_emits_reveal() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 2, 10);
    let verdicts = Bits256::from_indices([1]);
    m.assert(
        &key(2),
        guid,
        Bits256::first(2),
        vec![nct("0.5"); 2],
        verdicts,
    )
    .unwrap();
    m.advance_to(e);
    let metadata = serde_json::json!([{"malware_family": ""}, {"malware_family": "EICAR"}]);
    let events = m
        .send(&key(2), reveal_body(guid, 2, verdicts, metadata.clone()))
        .unwrap();
    assert_eq!(
        events,
        vec![Event::Reveal(AssertionRevealed {
            bounty_guid: guid,
            author: addr(2),
            index: 0,
            nonce: nonce_for(&guid, &addr(2)),
            verdicts,
            metadata: metadata.clone(),
        })]
    );
    let revealed = m.registry.assertions(&guid).unwrap()[0]
        .revealed
        .clone()
        .unwrap();
    assert_eq!(revealed.verdicts, verdicts);
    assert_eq!(revealed.metadata, metadata);
    assert_eq!(revealed.block, e);
}

#[test]
fn reveal_before_expiration_is_wrong_round() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 10);
    assert_one(&mut m, 2, guid).unwrap();
    m.advance_to(e - 1);
    let err = refused_by(&mut m, |m| m.reveal(&key(2), guid, Bits256::first(1)));
    assert!(
        matches!(err, TxError::WrongRound { action: "bounty:Reveal", round: Round::Assertion, block, .. } if block == e - 1),
        "{err:?}"
    );
}

#[test]
fn reveal_is_open_from_expiration_until_the_reveal_deadline() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 10);
    for engine in [2, 3, 4] {
        assert_one(&mut m, engine, guid).unwrap();
    }
    m.advance_to(e);
    m.reveal(&key(2), guid, Bits256::first(1)).unwrap();
    m.advance_to(e + R - 1);
    m.reveal(&key(3), guid, Bits256::first(1)).unwrap();
    m.next_block();
    let err = refused_by(&mut m, |m| m.reveal(&key(4), guid, Bits256::first(1)));
    assert!(
        matches!(err, TxError::WrongRound { action: "bounty:Reveal", round: Round::Vote, block, .. } if block == e + R),
        "{err:?}"
    );
}

#[test]
fn reveal_without_an_assertion_is_no_assertion() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 10);
    assert_one(&mut m, 2, guid).unwrap();
    m.advance_to(e);
    assert_eq!(
        refused_by(&mut m, |m| m.reveal(&key(3), guid, Bits256::first(1))),
        TxError::NoAssertion {
            guid,
            account: addr(3)
        }
    );
}

#[test]
fn reveal_on_an_unknown_bounty_is_unknown_bounty() {
    let mut m = Market::new(0);
    let guid = Guid::from_u128(9);
    assert_eq!(
        refused_by(&mut m, |m| m.reveal(&key(2), guid, Bits256::first(1))),
        TxError::UnknownBounty(guid)
    );
}

#[test]
fn second_reveal_is_already_revealed() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 10);
    assert_one(&mut m, 2, guid).unwrap();
    m.advance_to(e);
    m.reveal(&key(2), guid, Bits256::first(1)).unwrap();
    assert_eq!(
        refused_by(&mut m, |m| m.reveal(&key(2), guid, Bits256::first(1))),
        TxError::AlreadyRevealed {
            guid,
            account: addr(2)
        }
    );
}

#[test]
fn reveal_with_a_zero_nonce_is_zero_nonce() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 10);
    let verdicts = Bits256::first(1);
    // Even when the commitment was made with the zero nonce.
    m.send(
        &key(2),
        Assert {
            bounty_guid: guid,
            mask: Bits256::first(1),
            bids: vec![nct("0.5")],
            commitment: commitment(&verdicts, &H256::ZERO, &addr(2)),
        },
    )
    .unwrap();
    m.advance_to(e);
    let err = refused(
        &mut m,
        &key(2),
        Reveal {
            bounty_guid: guid,
            nonce: H256::ZERO,
            verdicts,
            metadata: serde_json::Value::Null,
        },
    );
    assert_eq!(err, TxError::ZeroNonce);
}

#[test]
fn reveal_metadata_over_64_kib_is_metadata_too_large() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 10);
    assert_one(&mut m, 2, guid).unwrap();
    m.advance_to(e);
    // A JSON string serializes with its two quotes.
    let over = serde_json::Value::String("x".repeat(MAX_REVEAL_METADATA_BYTES - 1));
    let err = refused(
        &mut m,
        &key(2),
        reveal_body(guid, 2, Bits256::first(1), over),
    );
    assert_eq!(
        err,
        TxError::MetadataTooLarge {
            size: 64 * 1024 + 1,
            max: 64 * 1024
        }
    );
    let exactly = serde_json::Value::String("x".repeat(MAX_REVEAL_METADATA_BYTES - 2));
    m.send(&key(2), reveal_body(guid, 2, Bits256::first(1), exactly))
        .unwrap();
}

#[test]
fn reveal_with_a_wrong_nonce_is_commitment_mismatch() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 10);
    assert_one(&mut m, 2, guid).unwrap();
    let stored = m.registry.assertions(&guid).unwrap()[0].commitment;
    m.advance_to(e);
    let mut body = reveal_body(guid, 2, Bits256::first(1), serde_json::Value::Null);
    body.nonce = keccak256(b"another nonce");
    assert_eq!(
        refused(&mut m, &key(2), body),
        TxError::CommitmentMismatch {
            guid,
            account: addr(2),
            commitment: stored
        }
    );
}

#[test]
fn reveal_with_other_verdicts_is_commitment_mismatch() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 10);
    assert_one(&mut m, 2, guid).unwrap();
    m.advance_to(e);
    // Committed "malicious", reveals "benign".
    let err = refused_by(&mut m, |m| m.reveal(&key(2), guid, Bits256::EMPTY));
    assert!(
        matches!(err, TxError::CommitmentMismatch { account, .. } if account == addr(2)),
        "{err:?}"
    );
    m.reveal(&key(2), guid, Bits256::first(1)).unwrap();
}

#[test]
fn copied_commitment_cannot_be_revealed_by_the_copier() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 10);
    assert_one(&mut m, 2, guid).unwrap();
    let copied = m.registry.assertions(&guid).unwrap()[0].commitment;
    m.send(
        &key(3),
        Assert {
            bounty_guid: guid,
            mask: Bits256::first(1),
            bids: vec![nct("0.5")],
            commitment: copied,
        },
    )
    .unwrap();
    m.advance_to(e);
    // The copier even knows the original nonce and verdicts: its address differs.
    let original = reveal_body(guid, 2, Bits256::first(1), serde_json::Value::Null);
    assert_eq!(
        refused(&mut m, &key(3), original.clone()),
        TxError::CommitmentMismatch {
            guid,
            account: addr(3),
            commitment: copied
        }
    );
    m.send(&key(2), original).unwrap();
}

// ---- bounty:Vote -----------------------------------------------------------

#[test]
fn vote_by_a_staked_arbiter_is_admitted_and_emits_vote() {
    let mut m = staked_market(3);
    let (guid, e) = open(&mut m, 2, 10);
    m.advance_to(e + R);
    let votes = Bits256::from_indices([1]);
    let events = m.vote(&key(100), guid, votes).unwrap();
    assert_eq!(
        events,
        vec![Event::Vote(VoteCast {
            bounty_guid: guid,
            votes,
            voter: addr(100),
        })]
    );
    let record = &m.registry.votes(&guid).unwrap()[0];
    assert_eq!(record.voter, addr(100));
    assert_eq!(record.votes, votes);
    assert_eq!(record.stake, m.registry.parameters().minimum_stake);
    assert_eq!(record.block, e + R);
}

#[test]
fn vote_before_the_reveal_deadline_is_wrong_round() {
    let mut m = staked_market(3);
    let (guid, e) = open(&mut m, 1, 10);
    m.advance_to(e + R - 1);
    let err = refused_by(&mut m, |m| m.vote(&key(100), guid, Bits256::first(1)));
    assert!(
        matches!(err, TxError::WrongRound { action: "bounty:Vote", round: Round::Reveal, block, .. } if block == e + R - 1),
        "{err:?}"
    );
}

#[test]
fn vote_is_open_from_the_reveal_deadline_until_the_vote_deadline() {
    let mut m = staked_market(3);
    let (guid, e) = open(&mut m, 1, 10);
    m.advance_to(e + R);
    m.vote(&key(100), guid, Bits256::first(1)).unwrap();
    m.advance_to(e + R + V - 1);
    m.vote(&key(101), guid, Bits256::first(1)).unwrap();
    m.next_block();
    let err = refused_by(&mut m, |m| m.vote(&key(102), guid, Bits256::first(1)));
    assert!(
        matches!(err, TxError::WrongRound { action: "bounty:Vote", round: Round::Finished, block, .. } if block == e + R + V),
        "{err:?}"
    );
}

#[test]
fn vote_on_an_unknown_bounty_is_unknown_bounty() {
    let mut m = staked_market(1);
    let guid = Guid::from_u128(9);
    assert_eq!(
        refused_by(&mut m, |m| m.vote(&key(100), guid, Bits256::EMPTY)),
        TxError::UnknownBounty(guid)
    );
}

#[test]
fn vote_by_an_unlisted_account_is_not_arbiter() {
    let mut m = staked_market(1);
    let (guid, e) = open(&mut m, 1, 10);
    m.advance_to(e + R);
    assert_eq!(
        refused_by(&mut m, |m| m.vote(&key(2), guid, Bits256::EMPTY)),
        TxError::NotArbiter(addr(2))
    );
}

#[test]
fn vote_by_a_removed_arbiter_is_not_arbiter_even_with_stake() {
    let mut m = staked_market(2);
    let (guid, e) = open(&mut m, 1, 10);
    m.send(&key(0), RemoveArbiter { arbiter: addr(101) })
        .unwrap();
    m.advance_to(e + R);
    assert_eq!(
        refused_by(&mut m, |m| m.vote(&key(101), guid, Bits256::EMPTY)),
        TxError::NotArbiter(addr(101))
    );
}

#[test]
fn vote_by_an_unstaked_arbiter_is_understaked() {
    let mut m = Market::new(2);
    let minimum = m.registry.parameters().minimum_stake;
    let (guid, e) = open(&mut m, 1, 10);
    m.advance_to(e + R);
    assert_eq!(
        refused_by(&mut m, |m| m.vote(&key(100), guid, Bits256::EMPTY)),
        TxError::Understaked {
            account: addr(100),
            stake: Amount::ZERO,
            minimum
        }
    );
    // One wei short of the minimum is not enough either.
    let short = minimum.checked_sub(Amount::from_wei(1)).unwrap();
    m.send(&key(100), StakeDeposit { amount: short }).unwrap();
    assert_eq!(
        refused_by(&mut m, |m| m.vote(&key(100), guid, Bits256::EMPTY)),
        TxError::Understaked {
            account: addr(100),
            stake: short,
            minimum
        }
    );
    m.send(
        &key(100),
        StakeDeposit {
            amount: Amount::from_wei(1),
        },
    )
    .unwrap();
    m.vote(&key(100), guid, Bits256::EMPTY).unwrap();
}

#[test]
fn second_vote_is_duplicate_vote() {
    let mut m = staked_market(3);
    let (guid, e) = open(&mut m, 1, 10);
    m.advance_to(e + R);
    m.vote(&key(100), guid, Bits256::EMPTY).unwrap();
    assert_eq!(
        refused_by(&mut m, |m| m.vote(&key(100), guid, Bits256::first(1))),
        TxError::DuplicateVote {
            guid,
            account: addr(100)
        }
    );
}

#[test]
fn vote_bit_beyond_artifacts_is_bit_out_of_range() {
    let mut m = staked_market(1);
    let (guid, e) = open(&mut m, 2, 10);
    m.advance_to(e + R);
    let err = refused_by(&mut m, |m| {
        m.vote(&key(100), guid, Bits256::from_indices([0, 2]))
    });
    assert_eq!(
        err,
        TxError::BitOutOfRange {
            guid,
            bit: 2,
            artifacts: 2
        }
    );
}

// ---- quorum and settlement timing (SPEC §3.4, §3.8, §3.9) -------------------

#[test]
fn quorum_event_when_every_artifact_reaches_quorum() {
    let mut m = staked_market(3);
    let (guid, e) = open(&mut m, 2, 10);
    m.advance_to(e + R);
    let votes = Bits256::from_indices([0]); // artifact 0 malicious, 1 benign
    let events = m.vote(&key(100), guid, votes).unwrap();
    assert!(!events.iter().any(|e| matches!(e, Event::Quorum { .. })));
    assert_eq!(
        m.registry.round(m.registry.bounty(&guid).unwrap()),
        Round::Vote
    );
    let events = m.vote(&key(101), guid, votes).unwrap();
    assert_eq!(
        events,
        vec![
            Event::Vote(VoteCast {
                bounty_guid: guid,
                votes,
                voter: addr(101)
            }),
            Event::Quorum { bounty_guid: guid },
        ]
    );
    let bounty = m.registry.bounty(&guid).unwrap();
    assert_eq!(bounty.quorum_block, Some(e + R));
    assert_eq!(m.registry.round(bounty), Round::Quorum);
    // Quorum does not settle; the last arbiter may still vote in round 3,
    // and quorum is announced only once.
    assert!(settled(&m.next_block(), guid).is_none());
    let events = m.vote(&key(102), guid, Bits256::EMPTY).unwrap();
    assert!(matches!(&events[..], [Event::Vote(_)]), "{events:?}");
    assert!(settled(&m.next_block(), guid).is_some());
}

#[test]
fn malicious_quorum_needs_half_the_arbiters_benign_a_majority() {
    let mut m = staked_market(2);
    let (malicious, _) = open(&mut m, 1, 10);
    let (benign, e) = open(&mut m, 1, 10);
    m.advance_to(e + R);
    // 1 of 2 says malicious: mal 1 >= 2 - 1.
    let events = m.vote(&key(100), malicious, Bits256::first(1)).unwrap();
    assert!(events.contains(&Event::Quorum {
        bounty_guid: malicious
    }));
    // 1 of 2 says benign: benign 1 > 2 - 1 fails.
    let events = m.vote(&key(100), benign, Bits256::EMPTY).unwrap();
    assert!(!events.iter().any(|e| matches!(e, Event::Quorum { .. })));
}

#[test]
fn bounty_settles_at_the_vote_deadline() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 5);
    let deadline = e + R + V;
    let events = m.advance_to(deadline - 1);
    assert!(settled(&events, guid).is_none());
    assert!(m.registry.bounty(&guid).unwrap().settlement.is_none());
    assert_eq!(
        m.registry.round(m.registry.bounty(&guid).unwrap()),
        Round::Vote
    );
    let events = m.next_block();
    assert!(settled(&events, guid).is_some());
    let bounty = m.registry.bounty(&guid).unwrap();
    assert_eq!(bounty.settlement.as_ref().unwrap().block, deadline);
    assert_eq!(m.registry.round(bounty), Round::Finished);
    assert_eq!(m.registry.escrow(), Amount::ZERO);
}

#[test]
fn bounty_settles_at_the_first_block_past_a_skipped_deadline() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 5);
    let deadline = e + R + V;
    let events = m.registry.begin_block(deadline + 7, H256::ZERO);
    m.registry.check_invariants().unwrap();
    assert!(settled(&events, guid).is_some());
    let bounty = m.registry.bounty(&guid).unwrap();
    assert_eq!(bounty.settlement.as_ref().unwrap().block, deadline + 7);
}

#[test]
fn bounty_settles_at_the_block_after_every_arbiter_voted() {
    let mut m = staked_market(2);
    let (guid, e) = open(&mut m, 1, 10);
    m.advance_to(e + R);
    m.vote(&key(100), guid, Bits256::EMPTY).unwrap();
    let events = m.vote(&key(101), guid, Bits256::EMPTY).unwrap();
    assert!(events.contains(&Event::Quorum { bounty_guid: guid }));
    // Not in the block of the last vote...
    let bounty = m.registry.bounty(&guid).unwrap();
    assert!(bounty.settlement.is_none());
    assert_eq!(m.registry.round(bounty), Round::Quorum);
    // ...but at the start of the next one.
    let events = m.next_block();
    assert!(settled(&events, guid).is_some());
    let bounty = m.registry.bounty(&guid).unwrap();
    assert_eq!(bounty.settlement.as_ref().unwrap().block, e + R + 1);
}

#[test]
fn bounty_fully_voted_in_its_last_vote_block_settles_once() {
    let mut m = staked_market(1);
    let (guid, e) = open(&mut m, 1, 10);
    m.advance_to(e + R + V - 1);
    m.vote(&key(100), guid, Bits256::EMPTY).unwrap();
    let events = m.next_block();
    let count = events
        .iter()
        .filter(|e| matches!(e, Event::SettledBounty(s) if s.bounty_guid == guid))
        .count();
    assert_eq!(count, 1);
    assert!(settled(&m.advance_to(e + R + V + 3), guid).is_none());
}

#[test]
fn bounty_events_travel_under_their_spec_names_with_polyswarmd_fields() {
    let mut m = staked_market(1);
    let (guid, e) = open(&mut m, 1, 10);
    let mut kinds = vec![];
    let events = assert_one(&mut m, 2, guid).unwrap();
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["event"], "assertion");
    assert_eq!(json["data"]["bounty_guid"], guid.to_string());
    assert_eq!(json["data"]["author"], addr(2).to_checksum());
    assert_eq!(json["data"]["index"], 0);
    assert_eq!(
        json["data"]["bids"],
        serde_json::json!(["500000000000000000"])
    );
    assert_eq!(json["data"]["mask"], "0x1");
    assert!(json["data"]["commitment"].is_string());
    m.advance_to(e);
    kinds.extend(m.reveal(&key(2), guid, Bits256::first(1)).unwrap());
    m.advance_to(e + R);
    kinds.extend(m.vote(&key(100), guid, Bits256::first(1)).unwrap());
    kinds.extend(m.next_block());
    let kinds: Vec<&str> = kinds.iter().map(Event::kind).collect();
    assert_eq!(
        kinds,
        vec!["reveal", "vote", "quorum", "block", "settled_bounty"]
    );
    let bounty = m.events.iter().find(|e| e.kind() == "bounty").unwrap();
    let json = serde_json::to_value(bounty).unwrap();
    assert_eq!(json["data"]["amount"], "1000000000000000000");
    assert_eq!(json["data"]["expiration"], e);
    assert_eq!(json["data"]["uri"], m.registry.bounty(&guid).unwrap().uri);
}

// ---- deprecation, fees and windows over a bounty's life ---------------------

#[test]
fn deprecated_community_finishes_in_flight_bounties() {
    let mut m = staked_market(1);
    let (guid, e) = open(&mut m, 1, 10);
    m.send(&key(0), Deprecate { rollover: false }).unwrap();
    assert_eq!(
        refused(&mut m, &key(1), post_body(1, 1, nct("1"), 10)),
        TxError::Deprecated
    );
    assert_one(&mut m, 2, guid).unwrap();
    m.advance_to(e);
    m.reveal(&key(2), guid, Bits256::first(1)).unwrap();
    m.advance_to(e + R);
    m.vote(&key(100), guid, Bits256::first(1)).unwrap();
    let events = m.next_block();
    let outcome = settled(&events, guid).expect("settles while deprecated");
    assert_eq!(outcome.consensus, Some(Bits256::first(1)));
}

#[test]
fn fees_recorded_at_post_time_are_used_at_settlement() {
    let mut m = Market::new(0);
    let (guid, e) = open(&mut m, 1, 10);
    m.assert(
        &key(2),
        guid,
        Bits256::first(1),
        vec![nct("0.0625")],
        Bits256::EMPTY,
    )
    .unwrap();
    let events = m
        .send(
            &key(0),
            SetFees {
                bounty_fee: nct("1"),
                assertion_fee: nct("0.5"),
            },
        )
        .unwrap();
    assert_eq!(
        events,
        vec![Event::FeeUpdate {
            bounty_fee: nct("1"),
            assertion_fee: nct("0.5")
        }]
    );
    // An assertion made after the change pays the new assertion fee.
    m.assert(
        &key(3),
        guid,
        Bits256::first(1),
        vec![nct("0.0625")],
        Bits256::EMPTY,
    )
    .unwrap();
    assert_eq!(m.registry.balance(&addr(3)), nct("999.4375"));
    let assertions = m.registry.assertions(&guid).unwrap();
    assert_eq!(assertions[0].fee, nct("0.03125"));
    assert_eq!(assertions[1].fee, nct("0.5"));
    assert_eq!(m.registry.bounty(&guid).unwrap().fee, nct("0.0625"));

    // No votes, A = 2: ambassador gets its bounty fee back (the old one);
    // each expert its own fee, its bid and p / A = 0.5 NCT.
    let events = m.advance_to(e + R + V);
    let outcome = settled(&events, guid).unwrap();
    let amounts: Vec<(Address, Amount)> = outcome
        .payouts
        .iter()
        .map(|p| (p.account, p.amount))
        .collect();
    assert_eq!(
        amounts,
        vec![
            (addr(1), nct("0.0625")),
            (addr(2), nct("0.59375")),
            (addr(3), nct("1.0625")),
        ]
    );
    assert_eq!(outcome.treasury, Amount::ZERO);
}

#[test]
fn windows_recorded_at_post_time_govern_the_bounty() {
    let mut m = Market::new(0);
    let (old, e) = open(&mut m, 1, 10);
    let events = m
        .send(
            &key(0),
            SetWindows {
                assertion_reveal_window: 3,
                arbiter_vote_window: 4,
            },
        )
        .unwrap();
    assert_eq!(
        events,
        vec![Event::WindowUpdate {
            assertion_reveal_window: 3,
            arbiter_vote_window: 4
        }]
    );
    let bounty = m.registry.bounty(&old).unwrap();
    assert_eq!(bounty.reveal_deadline(), e + R);
    assert_eq!(bounty.vote_deadline(), e + R + V);
    let block = m.block();
    let events = m.send(&key(1), post_body(77, 1, nct("1"), 10)).unwrap();
    assert!(matches!(
        &events[..],
        [Event::Bounty(b)] if b.reveal_deadline == block + 13 && b.vote_deadline == block + 17
    ));
    // The old bounty is still open for reveals after the new windows would have closed it.
    m.advance_to(e + 3);
    assert_eq!(
        m.registry.round(m.registry.bounty(&old).unwrap()),
        Round::Reveal
    );
}

// ---- staking:Deposit -------------------------------------------------------

#[test]
fn arbiter_deposit_is_admitted_and_emits_stake_deposit() {
    let mut m = Market::new(1);
    let block = m.block();
    let events = m
        .send(
            &key(100),
            StakeDeposit {
                amount: nct("10000000"),
            },
        )
        .unwrap();
    assert_eq!(
        events,
        vec![Event::StakeDeposit {
            account: addr(100),
            amount: nct("10000000"),
            total: nct("10000000")
        }]
    );
    m.next_block();
    let events = m
        .send(
            &key(100),
            StakeDeposit {
                amount: nct("5000000"),
            },
        )
        .unwrap();
    assert_eq!(
        events,
        vec![Event::StakeDeposit {
            account: addr(100),
            amount: nct("5000000"),
            total: nct("15000000")
        }]
    );
    assert_eq!(m.registry.stake_total(&addr(100)), nct("15000000"));
    assert_eq!(m.registry.balance(&addr(100)), nct("5000000"));
    assert_eq!(
        m.registry.stakes()[&addr(100)],
        vec![
            StakeEntry {
                block,
                amount: nct("10000000")
            },
            StakeEntry {
                block: block + 1,
                amount: nct("5000000")
            },
        ]
    );
}

#[test]
fn deposit_by_an_unlisted_account_is_not_arbiter() {
    let mut m = Market::new(1);
    assert_eq!(
        refused(&mut m, &key(1), StakeDeposit { amount: nct("1") }),
        TxError::NotArbiter(addr(1))
    );
}

#[test]
fn deposit_of_zero_is_zero_amount() {
    let mut m = Market::new(1);
    let err = refused(
        &mut m,
        &key(100),
        StakeDeposit {
            amount: Amount::ZERO,
        },
    );
    assert!(matches!(err, TxError::ZeroAmount(_)), "{err:?}");
}

#[test]
fn deposit_above_maximum_stake_is_stake_too_high() {
    let mut m = Market::new(1);
    m.send(
        &key(0),
        Mint {
            to: addr(100),
            amount: nct("100000000"),
        },
    )
    .unwrap();
    m.send(
        &key(100),
        StakeDeposit {
            amount: nct("100000000"),
        },
    )
    .unwrap();
    let err = refused(
        &mut m,
        &key(100),
        StakeDeposit {
            amount: Amount::from_wei(1),
        },
    );
    assert_eq!(
        err,
        TxError::StakeTooHigh {
            account: addr(100),
            total: nct("100000000.000000000000000001"),
            maximum: nct("100000000")
        }
    );
}

#[test]
fn deposit_beyond_balance_is_insufficient_balance() {
    let mut m = Market::new(1);
    let err = refused(
        &mut m,
        &key(100),
        StakeDeposit {
            amount: nct("20000000.000000000000000001"),
        },
    );
    assert_eq!(
        err,
        TxError::InsufficientBalance {
            account: addr(100),
            needed: nct("20000000.000000000000000001"),
            available: nct("20000000")
        }
    );
}

// ---- staking:Withdraw ------------------------------------------------------

#[test]
fn stake_is_withdrawable_once_stake_duration_has_passed() {
    let mut m = Market::new(1);
    let block = m.block();
    m.stake_minimum(&key(100));
    let deposit = m.registry.stakes()[&addr(100)][0].clone();
    assert_eq!(m.registry.stake_matures_at(&deposit), deposit.block + 100);
    m.advance_to(block + 99);
    assert_eq!(m.registry.stake_withdrawable(&addr(100)), Amount::ZERO);
    assert_eq!(
        refused(
            &mut m,
            &key(100),
            StakeWithdraw {
                amount: Amount::from_wei(1)
            }
        ),
        TxError::StakeLocked {
            account: addr(100),
            requested: Amount::from_wei(1),
            withdrawable: Amount::ZERO
        }
    );
    m.next_block();
    assert_eq!(m.registry.stake_withdrawable(&addr(100)), nct("10000000"));
    let events = m
        .send(
            &key(100),
            StakeWithdraw {
                amount: nct("10000000"),
            },
        )
        .unwrap();
    assert_eq!(
        events,
        vec![Event::StakeWithdrawal {
            account: addr(100),
            amount: nct("10000000"),
            total: Amount::ZERO
        }]
    );
    assert_eq!(m.registry.balance(&addr(100)), nct("20000000"));
    assert!(!m.registry.stakes().contains_key(&addr(100)));
}

#[test]
fn withdrawal_takes_the_oldest_matured_deposits_first() {
    let mut m = Market::new(1);
    let b = m.block();
    m.send(
        &key(100),
        StakeDeposit {
            amount: nct("4000000"),
        },
    )
    .unwrap();
    m.advance_to(b + 10);
    m.send(
        &key(100),
        StakeDeposit {
            amount: nct("6000000"),
        },
    )
    .unwrap();
    m.advance_to(b + 100);
    // Only the first deposit has matured.
    assert_eq!(
        refused(
            &mut m,
            &key(100),
            StakeWithdraw {
                amount: nct("5000000")
            }
        ),
        TxError::StakeLocked {
            account: addr(100),
            requested: nct("5000000"),
            withdrawable: nct("4000000")
        }
    );
    m.send(
        &key(100),
        StakeWithdraw {
            amount: nct("3000000"),
        },
    )
    .unwrap();
    assert_eq!(
        m.registry.stakes()[&addr(100)],
        vec![
            StakeEntry {
                block: b,
                amount: nct("1000000")
            },
            StakeEntry {
                block: b + 10,
                amount: nct("6000000")
            },
        ]
    );
    m.advance_to(b + 110);
    let events = m
        .send(
            &key(100),
            StakeWithdraw {
                amount: nct("2000000"),
            },
        )
        .unwrap();
    assert_eq!(
        events,
        vec![Event::StakeWithdrawal {
            account: addr(100),
            amount: nct("2000000"),
            total: nct("5000000")
        }]
    );
    assert_eq!(
        m.registry.stakes()[&addr(100)],
        vec![StakeEntry {
            block: b + 10,
            amount: nct("5000000")
        }]
    );
}

#[test]
fn withdrawal_of_zero_is_zero_amount() {
    let mut m = Market::new(1);
    let err = refused(
        &mut m,
        &key(100),
        StakeWithdraw {
            amount: Amount::ZERO,
        },
    );
    assert!(matches!(err, TxError::ZeroAmount(_)), "{err:?}");
}

#[test]
fn withdrawal_without_stake_is_stake_locked() {
    let mut m = Market::new(1);
    assert_eq!(
        refused(&mut m, &key(1), StakeWithdraw { amount: nct("1") }),
        TxError::StakeLocked {
            account: addr(1),
            requested: nct("1"),
            withdrawable: Amount::ZERO
        }
    );
}

/// A market whose stakes would stay locked for 1000 blocks, with one
/// arbiter staked the minimum at block 1 and the community deprecated at block 5.
fn deprecated_market(rollover: bool) -> (Market, u64) {
    let mut g = genesis(1);
    g.parameters.stake_duration = Some(1000);
    let mut m = Market::with_genesis(&g, key(0));
    m.stake_minimum(&key(100));
    m.advance_to(5);
    let events = m.send(&key(0), Deprecate { rollover }).unwrap();
    assert_eq!(events, vec![Event::Deprecated { rollover }]);
    // max_duration + R + V after the deprecation.
    (m, 5 + 100 + R + V)
}

#[test]
fn deprecation_without_rollover_releases_stakes_after_max_duration_and_windows() {
    let (mut m, release) = deprecated_market(false);
    let minimum = m.registry.parameters().minimum_stake;
    // The release comes before the 1000-block lock would end.
    let deposit = m.registry.stakes()[&addr(100)][0].clone();
    assert_eq!(m.registry.stake_matures_at(&deposit), release);
    m.advance_to(release - 1);
    assert_eq!(
        refused(&mut m, &key(100), StakeWithdraw { amount: minimum }),
        TxError::StakeLocked {
            account: addr(100),
            requested: minimum,
            withdrawable: Amount::ZERO
        }
    );
    m.next_block();
    assert_eq!(m.registry.stake_withdrawable(&addr(100)), minimum);
    m.send(&key(100), StakeWithdraw { amount: minimum })
        .unwrap();
    assert_eq!(m.registry.stake_total(&addr(100)), Amount::ZERO);
}

#[test]
fn deprecation_with_rollover_keeps_stakes_locked() {
    let (mut m, release) = deprecated_market(true);
    let minimum = m.registry.parameters().minimum_stake;
    let deposit = m.registry.stakes()[&addr(100)][0].clone();
    assert_eq!(m.registry.stake_matures_at(&deposit), deposit.block + 1000);
    m.advance_to(release + 10);
    assert_eq!(m.registry.stake_withdrawable(&addr(100)), Amount::ZERO);
    assert_eq!(
        refused(&mut m, &key(100), StakeWithdraw { amount: minimum }),
        TxError::StakeLocked {
            account: addr(100),
            requested: minimum,
            withdrawable: Amount::ZERO
        }
    );
}

// ---- community:SetFees -----------------------------------------------------

#[test]
fn owner_sets_fees() {
    let mut m = Market::new(0);
    let events = m
        .send(
            &key(0),
            SetFees {
                bounty_fee: nct("0.5"),
                assertion_fee: Amount::ZERO,
            },
        )
        .unwrap();
    assert_eq!(
        events,
        vec![Event::FeeUpdate {
            bounty_fee: nct("0.5"),
            assertion_fee: Amount::ZERO
        }]
    );
    assert_eq!(m.registry.parameters().bounty_fee, nct("0.5"));
    assert_eq!(m.registry.parameters().assertion_fee, Amount::ZERO);
}

#[test]
fn set_fees_by_non_owner_is_not_owner() {
    let mut m = Market::new(0);
    let err = refused(
        &mut m,
        &key(1),
        SetFees {
            bounty_fee: Amount::ZERO,
            assertion_fee: Amount::ZERO,
        },
    );
    assert_eq!(err, not_owner("community:SetFees", 1));
}

// ---- community:SetWindows --------------------------------------------------

#[test]
fn owner_sets_windows() {
    let mut m = Market::new(0);
    let events = m
        .send(
            &key(0),
            SetWindows {
                assertion_reveal_window: 1,
                arbiter_vote_window: 2,
            },
        )
        .unwrap();
    assert_eq!(
        events,
        vec![Event::WindowUpdate {
            assertion_reveal_window: 1,
            arbiter_vote_window: 2
        }]
    );
    assert_eq!(m.registry.parameters().assertion_reveal_window, 1);
    assert_eq!(m.registry.parameters().arbiter_vote_window, 2);
}

#[test]
fn set_windows_with_a_zero_window_is_zero_window() {
    let mut m = Market::new(0);
    let err = refused(
        &mut m,
        &key(0),
        SetWindows {
            assertion_reveal_window: 0,
            arbiter_vote_window: 5,
        },
    );
    assert_eq!(err, TxError::ZeroWindow("assertion_reveal_window"));
    let err = refused(
        &mut m,
        &key(0),
        SetWindows {
            assertion_reveal_window: 5,
            arbiter_vote_window: 0,
        },
    );
    assert_eq!(err, TxError::ZeroWindow("arbiter_vote_window"));
}

#[test]
fn set_windows_by_non_owner_is_not_owner() {
    let mut m = Market::new(0);
    let err = refused(
        &mut m,
        &key(1),
        SetWindows {
            assertion_reveal_window: 5,
            arbiter_vote_window: 5,
        },
    );
    assert_eq!(err, not_owner("community:SetWindows", 1));
}

// ---- community:AddArbiter / RemoveArbiter ----------------------------------

#[test]
fn owner_adds_an_arbiter_who_may_then_stake() {
    let mut m = Market::new(0);
    let events = m.send(&key(0), AddArbiter { arbiter: addr(5) }).unwrap();
    assert_eq!(events, vec![Event::ArbiterAdded { arbiter: addr(5) }]);
    assert!(m.registry.arbiters().contains(&addr(5)));
    m.send(&key(5), StakeDeposit { amount: nct("1") }).unwrap();
}

#[test]
fn adding_a_listed_arbiter_is_arbiter_exists() {
    let mut m = Market::new(1);
    assert_eq!(
        refused(&mut m, &key(0), AddArbiter { arbiter: addr(100) }),
        TxError::ArbiterExists(addr(100))
    );
}

#[test]
fn add_arbiter_by_non_owner_is_not_owner() {
    let mut m = Market::new(0);
    assert_eq!(
        refused(&mut m, &key(1), AddArbiter { arbiter: addr(1) }),
        not_owner("community:AddArbiter", 1)
    );
}

#[test]
fn owner_removes_an_arbiter() {
    let mut m = Market::new(2);
    let events = m
        .send(&key(0), RemoveArbiter { arbiter: addr(100) })
        .unwrap();
    assert_eq!(events, vec![Event::ArbiterRemoved { arbiter: addr(100) }]);
    assert!(!m.registry.arbiters().contains(&addr(100)));
    assert!(m.registry.arbiters().contains(&addr(101)));
}

#[test]
fn removing_an_unlisted_arbiter_is_not_arbiter() {
    let mut m = Market::new(1);
    assert_eq!(
        refused(&mut m, &key(0), RemoveArbiter { arbiter: addr(5) }),
        TxError::NotArbiter(addr(5))
    );
}

#[test]
fn remove_arbiter_by_non_owner_is_not_owner() {
    let mut m = Market::new(1);
    assert_eq!(
        refused(&mut m, &key(1), RemoveArbiter { arbiter: addr(100) }),
        not_owner("community:RemoveArbiter", 1)
    );
}

// ---- community:Deprecate / Undeprecate -------------------------------------

#[test]
fn owner_deprecates_and_undeprecates() {
    let mut m = Market::new(0);
    m.advance_to(3);
    let events = m.send(&key(0), Deprecate { rollover: true }).unwrap();
    assert_eq!(events, vec![Event::Deprecated { rollover: true }]);
    assert_eq!(
        m.registry.deprecation(),
        Some(&Deprecation {
            block: 3,
            rollover: true
        })
    );
    let events = m.send(&key(0), Undeprecate {}).unwrap();
    assert_eq!(events, vec![Event::Undeprecated {}]);
    assert_eq!(m.registry.deprecation(), None);
}

#[test]
fn deprecating_twice_is_already_deprecated() {
    let mut m = Market::new(0);
    m.send(&key(0), Deprecate { rollover: false }).unwrap();
    assert_eq!(
        refused(&mut m, &key(0), Deprecate { rollover: true }),
        TxError::AlreadyDeprecated
    );
}

#[test]
fn deprecate_by_non_owner_is_not_owner() {
    let mut m = Market::new(0);
    assert_eq!(
        refused(&mut m, &key(1), Deprecate { rollover: false }),
        not_owner("community:Deprecate", 1)
    );
}

#[test]
fn undeprecating_a_live_community_is_not_deprecated() {
    let mut m = Market::new(0);
    assert_eq!(
        refused(&mut m, &key(0), Undeprecate {}),
        TxError::NotDeprecated
    );
}

#[test]
fn undeprecate_by_non_owner_is_not_owner() {
    let mut m = Market::new(0);
    m.send(&key(0), Deprecate { rollover: false }).unwrap();
    assert_eq!(
        refused(&mut m, &key(1), Undeprecate {}),
        not_owner("community:Undeprecate", 1)
    );
}

// ---- bounties handed out ---------------------------------------------------

/// A one-artifact bounty posted and settled (no assertion, no vote), then
/// handed out as a node does: the registry no longer holds it.
fn settled_and_handed_out(m: &mut Market) -> Guid {
    let (guid, e) = open(m, 1, 10);
    m.advance_to(e + R + V);
    let out = m.hand_out_settled();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].bounty.guid, guid);
    assert!(out[0].bounty.settlement.is_some());
    assert!(m.registry.bounty(&guid).is_none());
    guid
}

#[test]
fn take_settled_hands_out_each_settled_bounty_once_and_keeps_the_open_ones() {
    let mut m = Market::new(0);
    let (first, e) = open(&mut m, 1, 10);
    let (second, _) = open(&mut m, 1, 50);
    assert!(m.hand_out_settled().is_empty(), "nothing settled yet");
    m.advance_to(e + R + V);
    let out = m.hand_out_settled();
    assert_eq!(
        out.iter()
            .map(|s| (s.number, s.bounty.guid))
            .collect::<Vec<_>>(),
        vec![(0, first)]
    );
    assert!(m.hand_out_settled().is_empty(), "handed out once");
    assert_eq!(m.registry.held_bounty_count(), 1);
    assert_eq!(m.registry.bounty_number(&second), Some(1));
    assert_eq!(
        m.registry.bounty_count(),
        2,
        "ever posted, handed out or not"
    );
    m.registry.check_invariants().unwrap();
}

#[test]
fn post_reusing_the_guid_of_a_handed_out_bounty_is_duplicate_bounty() {
    let mut m = Market::new(0);
    let guid = settled_and_handed_out(&mut m);
    let body = PostBounty {
        guid,
        ..post_body(0, 1, nct("1"), 10)
    };
    assert_eq!(
        refused(&mut m, &key(2), body),
        TxError::DuplicateBounty(guid)
    );
}

#[test]
fn assert_reveal_and_vote_on_a_handed_out_bounty_are_wrong_round_finished() {
    let mut m = staked_market(1);
    let guid = settled_and_handed_out(&mut m);
    let block = m.block();
    let err = refused_by(&mut m, |m| assert_one(m, 1, guid));
    assert!(
        matches!(err, TxError::WrongRound { action: "bounty:Assert", round: Round::Finished, block: b, .. } if b == block),
        "{err:?}"
    );
    let err = refused_by(&mut m, |m| m.reveal(&key(1), guid, Bits256::first(1)));
    assert!(
        matches!(
            err,
            TxError::WrongRound {
                action: "bounty:Reveal",
                round: Round::Finished,
                ..
            }
        ),
        "{err:?}"
    );
    let err = refused_by(&mut m, |m| m.vote(&key(100), guid, Bits256::first(1)));
    assert!(
        matches!(
            err,
            TxError::WrongRound {
                action: "bounty:Vote",
                round: Round::Finished,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_guid_no_lookup_knows_is_still_unknown_bounty() {
    let mut m = staked_market(1);
    let guid = Guid::from_u128(77);
    m.handed_out.insert(Guid::from_u128(78));
    assert_eq!(
        refused_by(&mut m, |m| assert_one(m, 1, guid)),
        TxError::UnknownBounty(guid)
    );
}

#[test]
fn handing_out_settled_bounties_keeps_the_registry_bounded() {
    // Bounties posted and settled in waves: what the registry holds (and
    // its snapshot) stays the open ones, however many were ever posted.
    let mut m = Market::new(0);
    let mut sizes = Vec::new();
    for _wave in 0..20 {
        let (_, e) = open(&mut m, 1, 5);
        m.advance_to(e + R + V);
        m.hand_out_settled();
        assert_eq!(m.registry.held_bounty_count(), 0);
        sizes.push(serde_json::to_string(&m.registry).unwrap().len());
    }
    assert_eq!(m.registry.bounty_count(), 20);
    assert!(
        sizes[19] <= sizes[2] + 64,
        "the snapshot grew with history: {sizes:?}"
    );
}
