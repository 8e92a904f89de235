//! An ambassador and an arbiter against a real node: the ambassador posts
//! EICAR/benign bounties, the arbiter decides them with an EICAR scanner and
//! votes; no engine asserts, so each settlement is the A = 0, V > 0 case of
//! SPEC §3.9: the ambassador gets the reward back and the arbiter earns the
//! bounty fee.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::{Amount, PayoutRole, PrivateKey};
use swarm_sdk::{
    Ambassador, Arbiter, Artifact, EicarSource, NodeClient, ScanError, ScanResult, Scanner,
    ScannerTruth, Sha256Table, EICAR,
};

/// The tutorial's exact-match EICAR scanner (the SDK cannot use
/// swarm-engines, which depends on it).
struct ExactEicar;

impl Scanner for ExactEicar {
    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        if artifact.content.as_ref() == EICAR.as_slice() {
            Ok(ScanResult::malicious(1.0, "EICAR-Test-File"))
        } else {
            Ok(ScanResult::benign(1.0))
        }
    }
}

const BOUNTIES: usize = 5;

async fn wait_for_stake(client: &NodeClient, key: &PrivateKey, minimum: Amount) {
    for _ in 0..400 {
        if client.stake_total(&key.address()).await.unwrap() >= minimum {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the arbiter never staked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eicar_bounties_settle_with_the_expected_consensus() {
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let url = node.url();
    let client = NodeClient::new(url.clone());
    let params = client.parameters().await.unwrap();
    let p = params.parameters.clone();

    let ambassador_key = swarm_e2e::funded(&client, 1_000).await;
    let arbiter_key = dev_key(1);
    let ambassador_before = client.balance(&ambassador_key.address()).await.unwrap();
    let arbiter_before = client.balance(&arbiter_key.address()).await.unwrap();
    assert_eq!(
        client.stake_total(&arbiter_key.address()).await.unwrap(),
        Amount::ZERO
    );

    let state = node.dir.path().join("arbiter-state.json");
    let arbiter = Arbiter::builder(ScannerTruth::new(ExactEicar))
        .node(url.clone())
        .key(arbiter_key.clone())
        .state(&state)
        .testing(BOUNTIES)
        .build()
        .unwrap();
    let arbiter = tokio::spawn(arbiter.run());
    wait_for_stake(&client, &arbiter_key, p.minimum_stake).await;

    let report = Ambassador::builder(EicarSource::new(BOUNTIES).max_artifacts(3).seed(42))
        .node(url.clone())
        .key(ambassador_key.clone())
        .duration(3)
        .interval(Duration::from_millis(50))
        .max_in_flight(3)
        .watchdog(Duration::from_secs(30))
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    let arbiter_report = tokio::time::timeout(Duration::from_secs(60), arbiter)
        .await
        .expect("the arbiter stops after its testing bounties")
        .unwrap()
        .unwrap();

    // Every bounty settled, and the consensus is the expected verdicts.
    assert_eq!(report.outcomes.len(), BOUNTIES);
    assert_eq!(report.settled(), BOUNTIES, "{report:#?}");
    assert_eq!(report.timed_out(), 0);
    assert!(report.all_match(), "{report:#?}");
    assert_eq!(report.incorrect(), 0);
    let artifacts: usize = report.outcomes.iter().map(|o| o.artifacts.len()).sum();
    assert_eq!(report.correct(), artifacts);
    let mut saw = (false, false);
    for o in &report.outcomes {
        let expected: Vec<bool> = o.expected.iter().map(|e| e.unwrap()).collect();
        assert_eq!(o.consensus.as_ref(), Some(&expected), "{o:#?}");
        saw.0 |= expected.contains(&true);
        saw.1 |= expected.contains(&false);
        assert_eq!(o.assertions, 0);
        // A = 0, V > 0: the ambassador gets the amount, the arbiter the fee.
        assert_eq!(
            o.amount,
            p.bounty_amount_minimum
                .checked_mul(o.artifacts.len() as u128)
                .unwrap()
        );
        assert_eq!(o.refund(), o.amount);
        let arbiter_pay: Vec<_> = o
            .payouts
            .iter()
            .filter(|x| x.role == PayoutRole::Arbiter)
            .collect();
        assert_eq!(arbiter_pay.len(), 1);
        assert_eq!(arbiter_pay[0].account, arbiter_key.address());
        assert_eq!(arbiter_pay[0].amount, p.bounty_fee);
        assert!(o.settled_block.unwrap() > o.posted_block);
    }
    assert!(saw.0 && saw.1, "the seed gives both EICAR and benign files");

    // The arbiter staked, voted on every bounty and earned every fee.
    let fees = p.bounty_fee.checked_mul(BOUNTIES as u128).unwrap();
    assert_eq!(arbiter_report.deposited, p.minimum_stake);
    assert_eq!(arbiter_report.stake, p.minimum_stake);
    assert_eq!(arbiter_report.voted, BOUNTIES);
    assert_eq!(arbiter_report.settled, BOUNTIES);
    assert_eq!((arbiter_report.abstained, arbiter_report.missed), (0, 0));
    assert_eq!(arbiter_report.fees_earned, fees);
    assert!(state.exists(), "the arbiter keeps its resume point");

    // Balances add up: what the ambassador lost is exactly the arbiter's fees.
    let ambassador_after = client.balance(&ambassador_key.address()).await.unwrap();
    let arbiter_after = client.balance(&arbiter_key.address()).await.unwrap();
    assert_eq!(report.spent().checked_sub(report.refunded()), Some(fees));
    assert_eq!(ambassador_before.checked_sub(fees), Some(ambassador_after));
    assert_eq!(
        arbiter_before
            .checked_sub(p.minimum_stake)
            .and_then(|b| b.checked_add(fees)),
        Some(arbiter_after)
    );
    assert_eq!(
        client.stake_total(&arbiter_key.address()).await.unwrap(),
        p.minimum_stake
    );
}

/// A table arbiter decides from the manifest without downloading, and a
/// restarted arbiter resumes from its state file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_arbiter_resumes_after_restart() {
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let url = node.url();
    let client = NodeClient::new(url.clone());
    let ambassador_key = swarm_e2e::funded(&client, 1_000).await;
    let arbiter_key = dev_key(1);

    // Only EICAR is listed: the benign files are undecided and vote benign.
    let mut table = Sha256Table::new();
    table
        .insert(
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
            true,
        )
        .unwrap();
    let state = node.dir.path().join("arbiter-state.json");
    let first = Arbiter::builder(table.clone())
        .node(url.clone())
        .key(arbiter_key.clone())
        .state(&state)
        .testing(1)
        .build()
        .unwrap();
    let first = tokio::spawn(first.run());
    wait_for_stake(
        &client,
        &arbiter_key,
        client.parameters().await.unwrap().parameters.minimum_stake,
    )
    .await;

    let post = |n: usize, seed: u64| {
        Ambassador::builder(EicarSource::new(n).max_artifacts(4).seed(seed))
            .node(url.clone())
            .key(ambassador_key.clone())
            .duration(4)
            .max_in_flight(4)
            .watchdog(Duration::from_secs(30))
            .build()
            .unwrap()
            .run()
    };
    let report = post(1, 7).await.unwrap();
    assert!(report.all_match(), "{report:#?}");
    let first = tokio::time::timeout(Duration::from_secs(60), first)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((first.voted, first.deposited.is_zero()), (1, false));

    // While no arbiter runs, two bounties are posted; the restarted arbiter
    // (already staked) picks them up from where it stopped.
    let ambassador = tokio::spawn(post(2, 8));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = Arbiter::builder(table)
        .node(url.clone())
        .key(arbiter_key.clone())
        .state(&state)
        .testing(2)
        .build()
        .unwrap()
        .run();
    let second = tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .unwrap()
        .unwrap();
    let report = ambassador.await.unwrap().unwrap();
    assert_eq!(report.settled(), 2, "{report:#?}");
    assert!(report.all_match(), "{report:#?}");
    assert_eq!(second.deposited, Amount::ZERO);
    assert_eq!(second.voted, 2);
    assert_eq!(
        second.fees_earned,
        client
            .parameters()
            .await
            .unwrap()
            .parameters
            .bounty_fee
            .checked_mul(2)
            .unwrap()
    );
}
