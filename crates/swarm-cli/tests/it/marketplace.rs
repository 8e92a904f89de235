//! An end-to-end marketplace on loopback, every participant in this process:
//! a node, an EICAR ambassador posting 20 bounties (EICAR and benign files
//! mixed, some with several artifacts), two EICAR engines with different bid
//! strategies, one engine that always answers wrong, and an arbiter.
//!
//! Afterwards every bounty is settled, and the test checks independently of
//! the protocol crate's settlement code:
//! - each settlement's payouts and treasury dust equal SPEC §3.9 recomputed
//!   here from the bounty's assertions, reveals, votes and fees, to the wei;
//! - every participant's final balance is its initial balance minus what it
//!   put in (bounty amounts and fees, bids and assertion fees, stake) plus
//!   what the settlements paid it, to the wei;
//! - both EICAR engines revealed the consensus on every artifact and gained
//!   NCT; the wrong engine lost exactly its bids plus its assertion fees.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use swarm_engines::{EicarExact, EicarSha256};
use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::{
    Address, Amount, Bits256, Bounty, BountySettled, Payout, PayoutRole, PrivateKey,
};
use swarm_sdk::{
    Ambassador, Arbiter, Artifact, EicarSource, EngineReport, Microengine, Multiplier, NodeClient,
    ScanError, ScanResult, Scanner, ScannerTruth,
};

const BOUNTIES: usize = 20;
/// Assertion round of every bounty, in 50 ms blocks.
const DURATION: u64 = 16;
const SEED: u64 = 20_240_601;

/// Says benign for EICAR and malicious for anything else, always certain.
struct AlwaysWrong;

impl Scanner for AlwaysWrong {
    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        if EicarExact::matches(&artifact.content) {
            Ok(ScanResult::benign(1.0))
        } else {
            Ok(ScanResult::malicious(1.0, "Definitely-Not-Benign"))
        }
    }
}

/// Waits (bounded) until `path` exists: an engine creates its journal once
/// it has read the tip its event stream starts from.
async fn wait_for_file(path: &Path, what: &str) {
    for _ in 0..1000 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{what} did not start within 10 s ({} missing)",
        path.display()
    );
}

async fn wait_for_stake(client: &NodeClient, address: &Address, minimum: Amount) {
    for _ in 0..1000 {
        if client.stake_total(address).await.unwrap() >= minimum {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the arbiter did not stake within 10 s");
}

/// floor(a * b / c) without overflow (the product may need 256 bits):
/// schoolbook multiplication into two u128 halves, then long division.
fn muldiv(a: u128, b: u128, c: u128) -> u128 {
    assert!(c > 0, "division by zero");
    let (a_hi, a_lo) = (a >> 64, a & u128::from(u64::MAX));
    let (b_hi, b_lo) = (b >> 64, b & u128::from(u64::MAX));
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 64) + (lh & u128::from(u64::MAX)) + (hl & u128::from(u64::MAX));
    let lo = (ll & u128::from(u64::MAX)) | (mid << 64);
    let hi = hh + (lh >> 64) + (hl >> 64) + (mid >> 64);
    // Long division of (hi, lo) by c, one bit at a time.
    let (mut quotient, mut rest) = (0u128, 0u128);
    for bit in (0..256).rev() {
        let carry = rest >> 127;
        let next = if bit >= 128 {
            (hi >> (bit - 128)) & 1
        } else {
            (lo >> bit) & 1
        };
        rest = (rest << 1) | next;
        if carry == 1 || rest >= c {
            rest = rest.wrapping_sub(c);
            if bit >= 128 {
                panic!("muldiv: the quotient does not fit in 128 bits");
            }
            quotient |= 1 << bit;
        }
    }
    quotient
}

#[test]
fn muldiv_is_exact() {
    assert_eq!(muldiv(7, 3, 2), 10);
    assert_eq!(muldiv(u128::MAX, u128::MAX, u128::MAX), u128::MAX);
    let stake = 10_000_000 * 10u128.pow(18);
    assert_eq!(
        muldiv(123_456_789 * 10u128.pow(12), stake, stake),
        123_456_789 * 10u128.pow(12)
    );
    assert_eq!(
        muldiv(10u128.pow(30), 10u128.pow(30), 10u128.pow(25)),
        10u128.pow(35)
    );
    assert_eq!(muldiv(3, 1 << 127, 1 << 127), 3);
}

/// SPEC §3.9, written out again from the text: what each party of `b` gets.
/// Returns the payouts in the node's order (ambassador, experts in assertion
/// order, arbiters in vote order) and the treasury's dust.
fn spec_settlement(b: &Bounty) -> (Vec<Payout>, Amount) {
    let n = b.num_artifacts as usize;
    let amt = b.amount.wei();
    let p = amt / n as u128;
    let bf = b.fee.wei();
    let a = b.assertions.len();
    let v = b.votes.len();
    let bids_of = |j: usize| -> u128 { b.assertions[j].bids.iter().map(|x| x.wei()).sum() };
    let total: u128 = amt
        + bf
        + (0..a)
            .map(|j| b.assertions[j].fee.wei() + bids_of(j))
            .sum::<u128>();
    // The bid of assertion j on artifact i: bids are in ascending mask-bit order.
    let bid = |j: usize, i: usize| -> Option<u128> {
        let x = &b.assertions[j];
        if !x.mask.get(i) {
            return None;
        }
        let position = (0..i).filter(|k| x.mask.get(*k)).count();
        Some(x.bids[position].wei())
    };
    let unasserted_p: u128 = (0..n)
        .filter(|i| (0..a).all(|j| bid(j, *i).is_none()))
        .count() as u128
        * p;

    let (ambassador, experts): (u128, Vec<u128>) = if a == 0 && v == 0 {
        (amt + bf, vec![])
    } else if a == 0 {
        (amt, vec![])
    } else if v == 0 {
        let experts = (0..a)
            .map(|j| {
                b.assertions[j].fee.wei()
                    + bids_of(j)
                    + b.assertions[j].mask.count() as u128 * (p / a as u128)
            })
            .collect();
        (bf + unasserted_p, experts)
    } else {
        let mut experts = vec![0u128; a];
        for i in 0..n {
            let mal = b.votes.iter().filter(|x| x.votes.get(i)).count();
            let cons = mal >= v - mal;
            let mut winners = Vec::new();
            let (mut wp, mut lp) = (0u128, 0u128);
            for j in 0..a {
                let Some(bj) = bid(j, i) else { continue };
                let verdict = match &b.assertions[j].revealed {
                    Some(r) => r.verdicts.get(i),
                    None => !cons,
                };
                if verdict == cons {
                    wp += bj;
                    winners.push((j, bj));
                } else {
                    lp += bj;
                }
            }
            if wp == 0 {
                continue;
            }
            for (j, bj) in winners {
                experts[j] += bj + muldiv(bj, lp, wp) + muldiv(bj, p, wp);
            }
        }
        (unasserted_p, experts)
    };

    let mut payouts = vec![Payout {
        account: b.author,
        role: PayoutRole::Ambassador,
        amount: Amount::from_wei(ambassador),
    }];
    for (x, reward) in b.assertions.iter().zip(&experts) {
        payouts.push(Payout {
            account: x.author,
            role: PayoutRole::Expert,
            amount: Amount::from_wei(*reward),
        });
    }
    let remainder = total - ambassador - experts.iter().sum::<u128>();
    let mut treasury = remainder;
    if v > 0 {
        let stakes: u128 = b.votes.iter().map(|x| x.stake.wei()).sum();
        for vote in &b.votes {
            let share = muldiv(remainder, vote.stake.wei(), stakes);
            treasury -= share;
            payouts.push(Payout {
                account: vote.voter,
                role: PayoutRole::Arbiter,
                amount: Amount::from_wei(share),
            });
        }
    }
    (payouts, Amount::from_wei(treasury))
}

/// The reference case of SPEC §3.9, so the recomputation above is itself checked.
#[test]
fn spec_reference_case() {
    use swarm_protocol::{ArtifactType, Assertion, Guid, Revealed, VoteRecord, H256};
    let nct = Amount::from_nct;
    let af = Amount::parse_nct("0.03125").unwrap();
    let bf = Amount::parse_nct("0.0625").unwrap();
    let (x, y, amb, arb) = (
        dev_key(10).address(),
        dev_key(11).address(),
        dev_key(12).address(),
        dev_key(13).address(),
    );
    let assertion = |author, verdicts: Bits256| Assertion {
        author,
        mask: Bits256::from_indices([0, 1]),
        bids: vec![nct(1), nct(1)],
        commitment: H256([0; 32]),
        fee: af,
        block: 2,
        revealed: Some(Revealed {
            nonce: H256([1; 32]),
            verdicts,
            metadata: serde_json::Value::Null,
            block: 12,
        }),
    };
    let bounty = Bounty {
        guid: Guid::from_u128(1),
        author: amb,
        artifact_type: ArtifactType::File,
        amount: nct(20),
        fee: bf,
        uri: String::new(),
        num_artifacts: 2,
        metadata: None,
        posted_block: 1,
        expiration: 11,
        reveal_window: 5,
        vote_window: 10,
        // Truth: artifact 0 malicious, artifact 1 benign. X right on 0 only,
        // Y wrong on both.
        assertions: vec![
            assertion(x, Bits256::from_indices([0, 1])),
            assertion(y, Bits256::from_indices([1])),
        ],
        votes: vec![VoteRecord {
            voter: arb,
            votes: Bits256::from_indices([0]),
            stake: nct(10_000_000),
            block: 17,
        }],
        quorum_block: Some(17),
        settlement: None,
    };
    let (payouts, treasury) = spec_settlement(&bounty);
    let got: Vec<(Address, Amount)> = payouts.iter().map(|p| (p.account, p.amount)).collect();
    let arbiters = nct(2)
        .checked_add(nct(10))
        .and_then(|s| s.checked_add(af.checked_mul(2).unwrap()))
        .and_then(|s| s.checked_add(bf))
        .unwrap();
    assert_eq!(
        got,
        vec![
            (amb, Amount::ZERO),
            (x, nct(12)),
            (y, Amount::ZERO),
            (arb, arbiters)
        ]
    );
    assert_eq!(treasury, Amount::ZERO);
}

async fn finish_engine(
    name: &str,
    handle: tokio::task::JoinHandle<Result<EngineReport, swarm_sdk::EngineError>>,
) -> EngineReport {
    tokio::time::timeout(Duration::from_secs(30), handle)
        .await
        .unwrap_or_else(|_| panic!("engine {name} did not finish its {BOUNTIES} bounties in time"))
        .unwrap_or_else(|e| panic!("engine {name} panicked: {e}"))
        .unwrap_or_else(|e| panic!("engine {name} failed: {e}"))
}

fn supply_field(status: &serde_json::Value, field: &str) -> u128 {
    status["supply"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no supply.{field} in {status}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_bounties_settle_to_the_wei() {
    let started = Instant::now();
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let url = node.url();
    let client = NodeClient::new(url.clone());
    let params = client.parameters().await.unwrap();
    let p = params.parameters.clone();
    assert!(p.max_duration >= DURATION, "{p:?}");
    let treasury_before = supply_field(&node.client.result("/status").await, "treasury");

    // Participants.
    let ambassador = swarm_e2e::funded(&client, 1_000).await;
    let exact = swarm_e2e::funded(&client, 1_000).await;
    let sha256 = swarm_e2e::funded(&client, 1_000).await;
    let wrong = swarm_e2e::funded(&client, 1_000).await;
    let arbiter = dev_key(1);
    let everyone = [
        ("ambassador", ambassador.address()),
        ("eicar-exact", exact.address()),
        ("eicar-sha256", sha256.address()),
        ("always-wrong", wrong.address()),
        ("arbiter", arbiter.address()),
    ];
    let mut initial = BTreeMap::new();
    for (_, a) in &everyone {
        initial.insert(*a, client.balance(a).await.unwrap());
    }
    assert_eq!(
        client.stake_total(&arbiter.address()).await.unwrap(),
        Amount::ZERO
    );

    // The arbiter stakes first, then the engines start listening.
    let dir = tempfile::tempdir().unwrap();
    let arbiter_task = tokio::spawn(
        Arbiter::builder(ScannerTruth::new(EicarExact))
            .node(url.clone())
            .key(arbiter.clone())
            .state(dir.path().join("arbiter.state"))
            .testing(BOUNTIES)
            .build()
            .unwrap()
            .run(),
    );
    wait_for_stake(&client, &arbiter.address(), p.minimum_stake).await;

    let journal = |key: &PrivateKey| dir.path().join(format!("{}.journal", key.address()));
    let exact_task = tokio::spawn(
        Microengine::builder(EicarExact)
            .node(url.clone())
            .key(exact.clone())
            .bid_strategy(Arc::new(Multiplier::DEFAULT))
            .journal(journal(&exact))
            .testing(BOUNTIES as u64)
            .build()
            .unwrap()
            .run(),
    );
    let sha256_task = tokio::spawn(
        Microengine::builder(EicarSha256)
            .node(url.clone())
            .key(sha256.clone())
            .bid_strategy(Arc::new(Multiplier::AGGRESSIVE))
            .journal(journal(&sha256))
            .testing(BOUNTIES as u64)
            .build()
            .unwrap()
            .run(),
    );
    let wrong_task = tokio::spawn(
        Microengine::builder(AlwaysWrong)
            .node(url.clone())
            .key(wrong.clone())
            .bid_strategy(Arc::new(Multiplier::CONSERVATIVE))
            .journal(journal(&wrong))
            .testing(BOUNTIES as u64)
            .build()
            .unwrap()
            .run(),
    );
    for (name, key) in [
        ("eicar-exact", &exact),
        ("eicar-sha256", &sha256),
        ("always-wrong", &wrong),
    ] {
        wait_for_file(&journal(key), name).await;
    }

    // The ambassador posts, paced and bounded, and waits for every settlement.
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        Ambassador::builder(EicarSource::new(BOUNTIES).max_artifacts(3).seed(SEED))
            .node(url.clone())
            .key(ambassador.clone())
            .duration(DURATION)
            .interval(Duration::from_millis(50))
            .max_in_flight(8)
            .watchdog(Duration::from_secs(30))
            .build()
            .unwrap()
            .run(),
    )
    .await
    .expect("the ambassador did not finish within 60 s")
    .expect("the ambassador failed");
    assert_eq!(report.outcomes.len(), BOUNTIES);
    assert_eq!(report.settled(), BOUNTIES, "{report:#?}");
    assert_eq!(report.timed_out(), 0, "{report:#?}");
    assert!(
        report.all_match(),
        "consensus differs from EICAR: {report:#?}"
    );

    let exact_report = finish_engine("eicar-exact", exact_task).await;
    let sha256_report = finish_engine("eicar-sha256", sha256_task).await;
    let wrong_report = finish_engine("always-wrong", wrong_task).await;
    let arbiter_report = tokio::time::timeout(Duration::from_secs(30), arbiter_task)
        .await
        .expect("the arbiter did not finish in time")
        .unwrap()
        .expect("the arbiter failed");
    let run_time = started.elapsed();

    // The mix the issue asks for: EICAR and benign files, several artifacts.
    let artifacts: usize = report.outcomes.iter().map(|o| o.artifacts.len()).sum();
    let malicious = report
        .outcomes
        .iter()
        .flat_map(|o| &o.expected)
        .filter(|e| **e == Some(true))
        .count();
    assert!(
        malicious > 0 && malicious < artifacts,
        "{malicious} of {artifacts}"
    );
    assert!(report.outcomes.iter().any(|o| o.artifacts.len() > 1));
    assert!(report
        .outcomes
        .iter()
        .any(|o| o.expected.contains(&Some(true)) && o.expected.contains(&Some(false))));

    // Every bounty, from the node, against SPEC §3.9 recomputed here.
    let mut costs: BTreeMap<Address, Amount> = BTreeMap::new();
    let mut paid: BTreeMap<Address, Amount> = BTreeMap::new();
    let add = |m: &mut BTreeMap<Address, Amount>, a: Address, x: Amount| {
        let e = m.entry(a).or_insert(Amount::ZERO);
        *e = e.checked_add(x).unwrap();
    };
    let mut dust = Amount::ZERO;
    let mut bids_of: BTreeMap<Address, Amount> = BTreeMap::new();
    for outcome in &report.outcomes {
        let guid = outcome.guid;
        let b = client
            .bounty(&guid)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the node does not know {guid}"));
        let n = b.num_artifacts as usize;
        assert_eq!(n, outcome.artifacts.len());
        let settlement = b
            .settlement
            .as_ref()
            .unwrap_or_else(|| panic!("{guid} is not settled"));
        let expected: Vec<bool> = outcome.expected.iter().map(|e| e.unwrap()).collect();
        let truth = Bits256::from_bools(&expected);

        // One vote, the arbiter's, with the truth; three assertions, each on
        // every artifact, each revealed.
        assert_eq!(b.votes.len(), 1, "{guid}: {:?}", b.votes);
        assert_eq!(b.votes[0].voter, arbiter.address());
        assert_eq!(b.votes[0].votes, truth, "{guid}: the arbiter's vote");
        assert_eq!(b.assertions.len(), 3, "{guid}: {:#?}", b.assertions);
        for (key, right) in [(&exact, true), (&sha256, true), (&wrong, false)] {
            let (_, x) = b
                .assertion_of(&key.address())
                .unwrap_or_else(|| panic!("{guid}: no assertion by {}", key.address()));
            assert_eq!(x.mask, Bits256::first(n), "{guid}: mask of {}", x.author);
            assert_eq!(x.bids.len(), n);
            let revealed = x
                .revealed
                .as_ref()
                .unwrap_or_else(|| panic!("{guid}: {} did not reveal", x.author));
            let verdicts = revealed.verdicts.to_bools(n);
            if right {
                assert_eq!(verdicts, expected, "{guid}: {} was wrong", x.author);
            } else {
                let opposite: Vec<bool> = expected.iter().map(|m| !m).collect();
                assert_eq!(verdicts, opposite, "{guid}: the wrong engine was right");
            }
            // The bids follow the strategies at confidence 1.0.
            let bid = if right {
                p.assertion_bid_maximum
            } else {
                p.assertion_bid_minimum
            };
            assert!(x.bids.iter().all(|b| *b == bid), "{guid}: {:?}", x.bids);
            assert_eq!(x.fee, p.assertion_fee);
        }
        assert_eq!(
            settlement.outcome.consensus.map(|c| c.to_bools(n)),
            Some(expected.clone())
        );

        let (payouts, treasury) = spec_settlement(&b);
        assert_eq!(
            settlement.outcome,
            BountySettled {
                bounty_guid: guid,
                consensus: Some(truth),
                payouts: payouts.clone(),
                treasury,
            },
            "{guid}: the node's settlement differs from SPEC §3.9"
        );
        assert_eq!(outcome.payouts, payouts, "{guid}: the ambassador's report");
        // Nothing is created or lost: payouts plus dust are the escrow.
        let out: Amount = payouts.iter().map(|x| x.amount).sum();
        assert_eq!(out.checked_add(treasury).unwrap(), b.escrowed(), "{guid}");

        add(&mut costs, b.author, b.amount.checked_add(b.fee).unwrap());
        for x in &b.assertions {
            add(&mut costs, x.author, x.escrowed());
            let bids: Amount = x.bids.iter().copied().sum();
            add(&mut bids_of, x.author, bids);
        }
        for x in &payouts {
            add(&mut paid, x.account, x.amount);
        }
        dust = dust.checked_add(treasury).unwrap();
    }
    add(&mut costs, arbiter.address(), p.minimum_stake);

    // Balances, per participant, to the wei.
    let mut nets = BTreeMap::new();
    for (name, a) in &everyone {
        let before = initial[a];
        let cost = costs.get(a).copied().unwrap_or(Amount::ZERO);
        let credit = paid.get(a).copied().unwrap_or(Amount::ZERO);
        let after = client.balance(a).await.unwrap();
        let expected = before
            .checked_sub(cost)
            .and_then(|x| x.checked_add(credit))
            .unwrap_or_else(|| panic!("{name}: {before} - {cost} + {credit} is negative"));
        assert_eq!(
            after, expected,
            "{name}: balance {after} != {before} - {cost} + {credit}"
        );
        nets.insert(*name, credit.wei() as i128 - cost.wei() as i128);
    }
    assert_eq!(
        client.stake_total(&arbiter.address()).await.unwrap(),
        p.minimum_stake
    );
    let status = node.client.result("/status").await;
    assert_eq!(
        supply_field(&status, "treasury") - treasury_before,
        dust.wei(),
        "treasury"
    );
    assert_eq!(
        supply_field(&status, "balances")
            + supply_field(&status, "escrow")
            + supply_field(&status, "staked")
            + supply_field(&status, "treasury"),
        supply_field(&status, "minted"),
        "supply invariant"
    );
    assert_eq!(supply_field(&status, "escrow"), 0, "nothing left in escrow");

    // The wrong engine lost exactly its bids plus its assertion fees.
    let fees = p.assertion_fee.checked_mul(BOUNTIES as u128).unwrap();
    let wrong_loss = bids_of[&wrong.address()].checked_add(fees).unwrap();
    assert_eq!(paid.get(&wrong.address()), Some(&Amount::ZERO));
    assert_eq!(nets["always-wrong"], -(wrong_loss.wei() as i128));
    assert_eq!(
        bids_of[&wrong.address()],
        p.assertion_bid_minimum
            .checked_mul(artifacts as u128)
            .unwrap()
    );
    // The EICAR engines gained.
    assert!(nets["eicar-exact"] > 0, "{nets:?}");
    assert!(nets["eicar-sha256"] > 0, "{nets:?}");

    // The runtimes' own accounts agree.
    for (name, r, key) in [
        ("eicar-exact", &exact_report, &exact),
        ("eicar-sha256", &sha256_report, &sha256),
        ("always-wrong", &wrong_report, &wrong),
    ] {
        assert_eq!(r.bounties_seen, BOUNTIES as u64, "{name}: {r:?}");
        assert_eq!(r.assertions, BOUNTIES as u64, "{name}: {r:?}");
        assert_eq!(r.artifacts_asserted, artifacts as u64, "{name}: {r:?}");
        assert_eq!(r.reveals, BOUNTIES as u64, "{name}: {r:?}");
        assert_eq!(r.settled, BOUNTIES as u64, "{name}: {r:?}");
        assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
        assert_eq!(r.net_wei(), nets[name], "{name}: {r:?}");
        assert_eq!(
            r.payouts,
            paid.get(&key.address()).copied().unwrap_or(Amount::ZERO)
        );
    }
    assert_eq!(arbiter_report.voted, BOUNTIES);
    assert_eq!(arbiter_report.settled, BOUNTIES);
    assert_eq!(arbiter_report.deposited, p.minimum_stake);
    assert_eq!(arbiter_report.fees_earned, paid[&arbiter.address()]);
    assert_eq!(
        report.spent().checked_sub(report.refunded()).unwrap().wei() as i128,
        -nets["ambassador"]
    );

    eprintln!(
        "{BOUNTIES} bounties, {artifacts} artifacts ({malicious} EICAR) settled in {:.1} s; \
         net wei: {nets:?}",
        run_time.as_secs_f64()
    );
}
