//! The clamav engine on a marketplace while its clamd goes away and comes
//! back: a microengine scanning through a real clamd (started here), an
//! in-process node, and bounties of EICAR + a benign file.
//!
//! 1. clamd up: the engine asserts and reveals malicious/benign.
//! 2. clamd stopped mid-run: the next bounty's scans fail, and the engine
//!    asserts nothing on it (a failed scan is never a benign assertion).
//! 3. clamd restarted: the engine, not restarted, scans and asserts again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use swarm_engines::{Clamav, ClamavConfig, LocalClamd};
use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::{Bits256, Guid, PrivateKey};
use swarm_sdk::{Microengine, NodeClient, EICAR};
use tokio_util::sync::CancellationToken;

/// Assertion round, in blocks.
const DURATION: u64 = 20;

/// Posts a bounty on EICAR and a benign file; returns its guid and the
/// block its assertion round ends.
async fn post(client: &NodeClient, owner: &PrivateKey, i: usize) -> (Guid, u64) {
    let p = client.parameters().await.unwrap().parameters;
    let files = vec![
        (format!("eicar-{i}.com"), Bytes::from_static(EICAR)),
        (
            format!("notes-{i}.txt"),
            Bytes::from(format!("meeting notes {i}\n")),
        ),
    ];
    let amount = p.bounty_amount_minimum.checked_mul(2).unwrap();
    let b = swarm_e2e::post_bounty(client, owner, files, amount, DURATION).await;
    (b.guid, b.expiration)
}

/// Waits until the engine's assertion on `guid` is revealed; its verdicts.
async fn revealed(client: &NodeClient, engine: &PrivateKey, guid: &Guid) -> Vec<bool> {
    let started = Instant::now();
    loop {
        let b = client.bounty(guid).await.unwrap().unwrap();
        if let Some((_, a)) = b.assertion_of(&engine.address()) {
            assert_eq!(a.mask, Bits256::first(2), "{guid}");
            if let Some(r) = &a.revealed {
                return r.verdicts.to_bools(2);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no revealed assertion on {guid} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clamd_stopped_means_no_assertion_and_restarted_means_scans_resume() {
    let mut clamd = LocalClamd::start().await.expect("start clamd");
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let client = NodeClient::new(node.url());
    let owner = dev_key(0);
    let key = swarm_e2e::funded(&client, 1_000).await;

    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("engine.journal");
    let stop = CancellationToken::new();
    let engine = tokio::spawn(
        Microengine::builder(Clamav::new(ClamavConfig::new(clamd.tcp_address())))
            .node(node.url())
            .key(key.clone())
            .journal(&journal)
            .shutdown(stop.clone())
            .build()
            .unwrap()
            .run(),
    );
    let started = Instant::now();
    while !journal.exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "engine start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 1. clamd up.
    let (first, _) = post(&client, &owner, 1).await;
    assert_eq!(revealed(&client, &key, &first).await, [true, false]);

    // 2. clamd gone: no assertion at all on the next bounty.
    clamd.stop().await;
    let (second, expires) = post(&client, &owner, 2).await;
    node.client.wait_for_block(expires + 1).await;
    let b = client.bounty(&second).await.unwrap().unwrap();
    assert!(
        b.assertion_of(&key.address()).is_none(),
        "asserted on {second} while clamd was down"
    );

    // 3. clamd back, same engine process: scans resume.
    clamd.restart().await.expect("restart clamd");
    let (third, _) = post(&client, &owner, 3).await;
    assert_eq!(revealed(&client, &key, &third).await, [true, false]);

    stop.cancel();
    let report = tokio::time::timeout(Duration::from_secs(30), engine)
        .await
        .expect("the engine did not stop")
        .unwrap()
        .expect("the engine failed");
    assert_eq!(report.assertions, 2, "{report:?}");
    assert!(report.bounties_skipped >= 1, "{report:?}");
    let scan_errors: u64 = report
        .errors
        .iter()
        .filter(|(k, _)| k.starts_with("scan"))
        .map(|(_, v)| v)
        .sum();
    assert!(
        scan_errors >= 2,
        "both artifacts of {second} failed: {report:?}"
    );
}
