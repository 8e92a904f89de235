//! Settled bounties leave the registry for the store, on SQLite and on
//! PostgreSQL: the node keeps the open bounties in memory and reads the
//! settled ones from the `bounties` table, and nothing a client sees
//! changes — the same answers by guid, the same listings newest first with
//! their state filter and pages, the same refusals (a reused guid, an
//! assertion on a finished bounty), before and after a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::Value;
use swarm_node::test_utils::{test_genesis, Backend, Client, TestNode};
use swarm_node::{dev_key, load_state, SqlStore, Store};
use swarm_protocol::{
    Amount, ArtifactMetadata, ArtifactType, Assert, Bits256, Genesis, Guid, PostBounty, H256,
};

/// Short windows: a bounty of duration 1 settles three blocks after it is
/// posted.
fn genesis() -> Genesis {
    let mut g = test_genesis();
    g.parameters.max_duration = Some(200);
    g.parameters.assertion_reveal_window = Some(1);
    g.parameters.arbiter_vote_window = Some(1);
    g
}

fn post(guid: Guid, uri: &str, duration: u64, name: &str) -> PostBounty {
    PostBounty {
        guid,
        artifact_type: ArtifactType::File,
        amount: Amount::from_nct(1),
        uri: uri.to_owned(),
        num_artifacts: 1,
        duration,
        metadata: Some(vec![ArtifactMetadata {
            filename: Some(name.to_owned()),
            ..ArtifactMetadata::default()
        }]),
    }
}

/// Waits until `/bounties/{guid}` says round 4 (finished).
async fn wait_finished(c: &Client, guid: &Guid) {
    for _ in 0..1000 {
        if c.result(&format!("/bounties/{guid}")).await["round_number"] == 4 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("bounty {guid} never settled");
}

/// Everything a client reads about bounties, for comparing two nodes.
async fn reads(c: &Client, guids: &[Guid]) -> Vec<Value> {
    let mut out = Vec::new();
    for g in guids {
        let mut b = c.result(&format!("/bounties/{g}")).await;
        // The round of an open bounty moves with the chain: compare what
        // does not.
        if b["round_number"] != 4 {
            b["round"] = Value::Null;
            b["round_number"] = Value::Null;
        }
        out.push(b);
        out.push(c.result(&format!("/bounties/{g}/assertions")).await);
        out.push(c.result(&format!("/bounties/{g}/votes")).await);
    }
    for query in ["", "?state=finished", "?page=1", "?state=finished&page=1"] {
        let list = c.result(&format!("/bounties{query}")).await;
        let guids: Vec<Value> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["guid"].clone())
            .collect();
        out.push(Value::Array(guids));
    }
    out
}

/// Submits `body` from `key` and returns the refusal's (status, code).
async fn refusal(c: &Client, key: u32, body: impl Into<swarm_protocol::TxBody>) -> (u16, Value) {
    let tx = c.sign(&dev_key(key), body).await;
    let (status, body) = c.submit(&[tx], true).await;
    (status, body["code"].clone())
}

async fn settled_bounties_are_read_from_the_store(backend: Backend) {
    let t = TestNode::start(backend, genesis()).await;
    let c = &t.client;
    let (uri, _) = c.upload(&[("a.txt", b"a settled artifact")]).await;
    let owner = dev_key(0);
    // 60 short bounties that settle, and 3 that stay open, posted in turns:
    // listings interleave both.
    let mut settled = Vec::new();
    let mut open = Vec::new();
    let ids: Vec<Guid> = (0..63).map(|_| Guid::new_v4()).collect();
    for (i, &guid) in ids.iter().enumerate() {
        if i % 21 == 20 {
            c.send(&owner, post(guid, &uri, 200, &format!("open {i}")))
                .await;
            open.push(guid);
        } else {
            c.send(&owner, post(guid, &uri, 1, &format!("settles {i}")))
                .await;
            settled.push(guid);
        }
    }
    for g in &settled {
        wait_finished(c, g).await;
    }
    // The settled ones are in the store; the registry the node rebuilds
    // holds only the open ones.
    let store: Box<dyn Store> = match &t.database_url {
        None => Box::new(
            SqlStore::open_sqlite(&t.dir.path().join("chain.sqlite"))
                .await
                .unwrap(),
        ),
        Some(url) => Box::new(SqlStore::connect(url).await.unwrap()),
    };
    for g in &settled {
        let s = store.settled_bounty(g).await.unwrap();
        assert!(
            s.is_some_and(|s| s.bounty.settlement.is_some()),
            "settled bounty {g} is in the store"
        );
    }
    for g in &open {
        assert_eq!(store.settled_bounty(g).await.unwrap(), None);
    }
    let (registry, _) = load_state(store.as_ref(), &genesis()).await.unwrap();
    assert_eq!(registry.held_bounty_count(), open.len());
    assert_eq!(registry.bounty_count(), 63);

    // Listings: newest first, live and settled merged, filters and pages.
    let all = c.result("/bounties").await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 50, "a full first page");
    let expected: Vec<String> = ids[13..].iter().rev().map(Guid::to_string).collect();
    let got: Vec<String> = all
        .iter()
        .map(|b| b["guid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, expected, "newest first across registry and store");
    let second = c.result("/bounties?page=1").await;
    assert_eq!(second.as_array().unwrap().len(), 13);
    assert_eq!(second[12]["guid"], ids[0].to_string());
    let finished = c.result("/bounties?state=finished").await;
    assert_eq!(finished.as_array().unwrap().len(), 50);
    assert!(finished
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["round_number"] == 4));
    let finished_2 = c.result("/bounties?state=finished&page=1").await;
    assert_eq!(finished_2.as_array().unwrap().len(), 10);
    let assertion = c.result("/bounties?state=assertion").await;
    assert_eq!(assertion.as_array().unwrap().len(), open.len());
    let status = c.result("/status").await;
    assert_eq!(status["bounties"], 63);

    // The rules refuse as before: a reused guid, an assertion on a
    // finished bounty.
    let reused = post(settled[0], &uri, 1, "again");
    assert_eq!(
        refusal(c, 0, reused).await,
        (409, Value::from("duplicate_bounty"))
    );
    let assert = Assert {
        bounty_guid: settled[1],
        mask: Bits256::first(1),
        bids: vec![Amount::from_nct(1)],
        commitment: H256::ZERO,
    };
    assert_eq!(
        refusal(c, 0, assert.clone()).await,
        (422, Value::from("wrong_round"))
    );
    let unknown = Assert {
        bounty_guid: Guid::new_v4(),
        ..assert
    };
    assert_eq!(
        refusal(c, 0, unknown).await,
        (404, Value::from("unknown_bounty"))
    );

    // The explorer finds a settled bounty by guid, and lists it.
    let page = reqwest::get(format!("{}/explorer/bounties/{}", t.url(), settled[3]))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("settles 3"));
    let list = reqwest::get(format!(
        "{}/explorer/bounties?state=finished&page=2",
        t.url()
    ))
    .await
    .unwrap();
    assert_eq!(list.status(), 200);

    // A restart answers the same.
    let mut ids = settled.clone();
    ids.extend(&open);
    let before = reads(c, &ids).await;
    let (dir, url) = (t.dir, t.database_url);
    t.node.shutdown().await.unwrap();
    drop(store);
    let t = TestNode::start_in(dir, url, genesis()).await;
    assert_eq!(reads(&t.client, &ids).await, before);
    assert_eq!(
        refusal(&t.client, 0, post(settled[5], &uri, 1, "again")).await,
        (409, Value::from("duplicate_bounty"))
    );
    t.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settled_bounty_is_read_from_the_store_after_it_leaves_the_registry_sqlite() {
    settled_bounties_are_read_from_the_store(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settled_bounty_is_read_from_the_store_after_it_leaves_the_registry_postgres() {
    settled_bounties_are_read_from_the_store(Backend::Postgres).await;
}

/// Waves of bounties posted and settled: the state the node keeps (the
/// registry it rebuilds, and its snapshot) stays the size of what is open,
/// while the store grows with every settled bounty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_while_settled_bounties_grow() {
    let t = TestNode::start(Backend::Sqlite, genesis()).await;
    let c = &t.client;
    let (uri, _) = c.upload(&[("b.txt", b"waves")]).await;
    let owner = dev_key(0);
    let store = SqlStore::open_sqlite(&t.dir.path().join("chain.sqlite"))
        .await
        .unwrap();
    let mut settled: Vec<Guid> = Vec::new();
    for wave in 0..4u128 {
        let mut txs = Vec::new();
        let mut txs_guids = Vec::new();
        let mut last = Guid::nil();
        for _ in 0..25 {
            last = Guid::new_v4();
            txs_guids.push(last);
            txs.push(c.sign(&owner, post(last, &uri, 1, "wave")).await);
        }
        settled.extend(txs_guids.iter().copied());
        let (status, body) = c.submit(&txs, true).await;
        assert_eq!(status, 200, "{body}");
        wait_finished(c, &last).await;
        let (registry, _) = load_state(&store, &genesis()).await.unwrap();
        assert_eq!(registry.held_bounty_count(), 0, "wave {wave}");
        assert_eq!(registry.bounty_count() as u128, 25 * (wave + 1));
        // Its snapshot names no settled bounty.
        let snapshot = serde_json::to_string(&registry).unwrap();
        for g in &settled {
            assert!(!snapshot.contains(&g.to_string()), "{g} is still held");
        }
    }
    assert_eq!(
        store
            .settled_numbers(u64::MAX, &[], 0, 1000)
            .await
            .unwrap()
            .len(),
        100
    );
    t.node.shutdown().await.unwrap();
}
