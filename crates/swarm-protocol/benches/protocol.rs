//! Benchmarks of the sequencer's hot path: signature recovery (against the
//! pure-Rust `k256` recovering the very same signatures, as the peer), and
//! applying a block of 1,000 mixed transactions with and without verifying
//! their signatures. Figures are recorded in `docs/BENCHMARKS.md`.
//!
//! `cargo bench -p swarm-protocol --bench protocol`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use swarm_protocol::test_utils::{key, nonce_for, uri};
use swarm_protocol::{
    commitment, keccak256, Amount, ArtifactType, Assert, Bits256, Genesis, Guid, NctAmount,
    PostBounty, PrivateKey, Registry, Reveal, SignedTx, StakeDeposit, Transfer, Tx, TxBody,
    VerifiedTx, Vote,
};

fn recovery(c: &mut Criterion) {
    let key = key(1);
    let tx = Tx::new(
        key.address(),
        "bench",
        100,
        Transfer {
            to: swarm_protocol::test_utils::key(2).address(),
            amount: Amount::from_nct(1),
        },
    );
    let signed = tx.sign(&key);
    let digest = signed.hash();

    let k256_key = k256::ecdsa::VerifyingKey::recover_from_prehash(
        &digest.0,
        &k256::ecdsa::Signature::from_slice(&signed.signature.0[..64]).unwrap(),
        k256::ecdsa::RecoveryId::from_byte(signed.signature.0[64] - 27).unwrap(),
    )
    .unwrap();
    // The peer must recover the same key, or the comparison is meaningless.
    let point = k256_key.to_encoded_point(false);
    let mut xy = [0u8; 64];
    xy.copy_from_slice(&point.as_bytes()[1..]);
    assert_eq!(
        swarm_protocol::Address::from_public_key_bytes(&xy),
        key.address()
    );

    let mut group = c.benchmark_group("signature");
    group.throughput(Throughput::Elements(1));
    group.bench_function("recover/libsecp256k1 (swarm)", |b| {
        b.iter(|| {
            black_box(&signed.signature)
                .recover(black_box(&digest))
                .unwrap()
        })
    });
    group.bench_function("recover/k256 (peer)", |b| {
        let sig = k256::ecdsa::Signature::from_slice(&signed.signature.0[..64]).unwrap();
        let rec = k256::ecdsa::RecoveryId::from_byte(signed.signature.0[64] - 27).unwrap();
        b.iter(|| {
            k256::ecdsa::VerifyingKey::recover_from_prehash(black_box(&digest.0), &sig, rec)
                .unwrap()
        })
    });
    group.bench_function("sign/libsecp256k1 (swarm)", |b| {
        b.iter(|| key.sign_hash(black_box(&digest)))
    });
    group.bench_function("verify_tx (parse + keccak + recover)", |b| {
        b.iter(|| black_box(&signed).verify().unwrap())
    });
    group.finish();
}

/// A registry at block 4 where some bounties are in each round, and 1,000
/// signed transactions that are all valid in block 4: 250 transfers, 250
/// bounty posts, 250 assertions, 125 reveals and 125 votes.
struct Scenario {
    registry: Registry,
    block: Vec<SignedTx>,
}

fn scenario() -> Scenario {
    let owner = key(0);
    let mut genesis = Genesis::new("bench", owner.address());
    genesis.parameters.max_duration = Some(100);
    genesis.parameters.assertion_reveal_window = Some(2);
    genesis.parameters.arbiter_vote_window = Some(50);
    let accounts: Vec<PrivateKey> = (1..=250).map(key).collect();
    for a in &accounts {
        genesis
            .allocations
            .insert(a.address(), NctAmount(Amount::from_nct(10_000)));
    }
    let arbiter = key(1000);
    genesis.arbiters.insert(arbiter.address());
    genesis
        .allocations
        .insert(arbiter.address(), NctAmount(Amount::from_nct(20_000_000)));
    let mut registry = Registry::new(&genesis).unwrap();
    let mut tx_seq = 0u64;
    let mut signed = |k: &PrivateKey, body: TxBody| {
        tx_seq += 1;
        Tx::new(k.address(), "bench", 200 + tx_seq % 50, body).sign(k)
    };
    let apply = |r: &mut Registry, s: SignedTx| {
        r.apply(&s.verify().unwrap()).unwrap();
    };
    let bid = Amount::parse_nct("0.5").unwrap();
    let post = |guid: Guid, duration: u64, n: u32| PostBounty {
        guid,
        artifact_type: ArtifactType::File,
        amount: Amount::from_nct(u128::from(n)),
        uri: uri(guid.as_u128() as u64),
        num_artifacts: n,
        duration,
        metadata: None,
    };
    let verdicts = Bits256::from_indices([0]);
    let assert_tx = |k: &PrivateKey, guid: Guid| Assert {
        bounty_guid: guid,
        mask: Bits256::first(2),
        bids: vec![bid, bid],
        commitment: commitment(&verdicts, &nonce_for(&guid, &k.address()), &k.address()),
    };

    registry.begin_block(1, keccak256([1]));
    apply(
        &mut registry,
        signed(
            &arbiter,
            StakeDeposit {
                amount: Amount::from_nct(10_000_000),
            }
            .into(),
        ),
    );
    // 125 bounties that will be in the vote round at block 4 (E = 2, E + R = 4),
    // 125 in the reveal round (E = 4), 250 still open for assertions.
    let to_vote: Vec<Guid> = (0..125).map(|i| Guid::from_u128(1_000 + i)).collect();
    let to_reveal: Vec<Guid> = (0..125).map(|i| Guid::from_u128(2_000 + i)).collect();
    let to_assert: Vec<Guid> = (0..250).map(|i| Guid::from_u128(3_000 + i)).collect();
    for (i, g) in to_vote.iter().enumerate() {
        apply(&mut registry, signed(&accounts[i], post(*g, 1, 2).into()));
        apply(
            &mut registry,
            signed(&accounts[i + 125], assert_tx(&accounts[i + 125], *g).into()),
        );
    }
    for (i, g) in to_reveal.iter().enumerate() {
        apply(&mut registry, signed(&accounts[i], post(*g, 3, 2).into()));
        apply(
            &mut registry,
            signed(&accounts[i + 125], assert_tx(&accounts[i + 125], *g).into()),
        );
    }
    for (i, g) in to_assert.iter().enumerate() {
        apply(&mut registry, signed(&accounts[i], post(*g, 50, 2).into()));
    }
    registry.begin_block(2, keccak256([2]));
    for (i, g) in to_vote.iter().enumerate() {
        let k = &accounts[i + 125];
        let body = Reveal {
            bounty_guid: *g,
            nonce: nonce_for(g, &k.address()),
            verdicts,
            metadata: serde_json::json!([{"malware_family": "Eicar"}, {"malware_family": ""}]),
        };
        apply(&mut registry, signed(k, body.into()));
    }
    registry.begin_block(3, keccak256([3]));
    registry.begin_block(4, keccak256([4]));

    let mut block = Vec::with_capacity(1000);
    for i in 0..250 {
        let to = accounts[(i + 1) % 250].address();
        block.push(signed(
            &accounts[i],
            Transfer {
                to,
                amount: Amount::from_nct(1),
            }
            .into(),
        ));
        let guid = Guid::from_u128(10_000 + i as u128);
        block.push(signed(&accounts[i], post(guid, 10, 2).into()));
        let engine = &accounts[(i + 7) % 250];
        block.push(signed(engine, assert_tx(engine, to_assert[i]).into()));
    }
    for (i, g) in to_reveal.iter().enumerate() {
        let k = &accounts[i + 125];
        let body = Reveal {
            bounty_guid: *g,
            nonce: nonce_for(g, &k.address()),
            verdicts,
            metadata: serde_json::json!([{"malware_family": "Eicar"}, {"malware_family": ""}]),
        };
        block.push(signed(k, body.into()));
        block.push(signed(
            &arbiter,
            Vote {
                bounty_guid: to_vote[i],
                votes: verdicts,
            }
            .into(),
        ));
    }
    assert_eq!(block.len(), 1000);
    Scenario { registry, block }
}

fn apply_block(c: &mut Criterion) {
    let Scenario { registry, block } = scenario();
    let verified: Vec<VerifiedTx> = block.iter().map(|s| s.verify().unwrap()).collect();
    // Every transaction of the block must be admitted, or we measure refusals.
    {
        let mut r = registry.clone();
        for v in &verified {
            r.apply(v).unwrap();
        }
        r.check_invariants().unwrap();
    }

    let mut group = c.benchmark_group("block of 1000 mixed txs");
    group.throughput(Throughput::Elements(1000));
    group.sample_size(30);
    group.bench_function("apply (pre-verified)", |b| {
        b.iter_batched(
            || registry.clone(),
            |mut r| {
                for v in &verified {
                    r.apply(v).unwrap();
                }
                r
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("verify + apply (one core)", |b| {
        b.iter_batched(
            || registry.clone(),
            |mut r| {
                for s in &block {
                    r.apply(&s.verify().unwrap()).unwrap();
                }
                r
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("begin_block settling 125 bounties", |b| {
        // After the votes, the next block settles every fully voted bounty.
        let mut voted = registry.clone();
        for v in &verified {
            voted.apply(v).unwrap();
        }
        b.iter_batched(
            || voted.clone(),
            |mut r| {
                let events = r.begin_block(5, keccak256([5]));
                assert_eq!(events.len(), 126);
                r
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, recovery, apply_block);
criterion_main!(benches);
