#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One rule for stored data: whatever the node accepts, it can store,
//! snapshot, stream and reload.
//!
//! Regression tests for a node that accepted metadata nested 126 levels
//! deep, then answered 500 for the transaction's receipt, closed every
//! event stream that reached it, and after the next snapshot refused to
//! start at all — on SQLite and PostgreSQL alike.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_node::{dev_key, load_state, open_store, BlockHeader, CommittedBlock, NodeConfig, Store};
use swarm_protocol::admission::MAX_JSON_DEPTH;
use swarm_protocol::{
    commitment, Amount, ArtifactMetadata, ArtifactType, Assert, Bits256, Genesis, Guid, Mint,
    PostBounty, PrivateKey, Reveal, Tx, TxBody, H256,
};

/// `levels` nested arrays around a string.
fn nested(levels: usize) -> Value {
    let mut value = json!("bottom");
    for _ in 0..levels {
        value = json!([value]);
    }
    value
}

/// The test genesis with rounds long enough to assert and reveal at ease.
fn genesis() -> Genesis {
    let mut g = test_genesis();
    g.parameters.max_duration = Some(40);
    g.parameters.assertion_reveal_window = Some(40);
    g.parameters.arbiter_vote_window = Some(40);
    g
}

async fn submit(node: &TestNode, key: &PrivateKey, body: impl Into<TxBody>) -> (u16, Value) {
    let expires = node.client.block().await + 100;
    let tx = Tx::new(key.address(), "dev", expires, body).sign(key);
    node.client.submit(&[tx], true).await
}

/// A bounty whose metadata entry holds `deep` under `extra.deep`.
fn post(uri: &str, deep: Value) -> PostBounty {
    let mut entry = ArtifactMetadata {
        filename: Some("deep.bin".into()),
        ..Default::default()
    };
    entry.extra.insert("deep".into(), deep);
    PostBounty {
        guid: Guid::new_v4(),
        artifact_type: ArtifactType::File,
        amount: Amount::from_nct(1),
        uri: uri.to_owned(),
        num_artifacts: 1,
        duration: 10,
        metadata: Some(vec![entry]),
    }
}

fn reveal(guid: Guid, nonce: H256, metadata: Value) -> Reveal {
    Reveal {
        bounty_guid: guid,
        nonce,
        verdicts: Bits256::from_indices([0]),
        metadata,
    }
}

/// Every event `/events?since=0` replays, up to the first `stop` event.
async fn replay_until(url: &str, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
    let ws_url = format!("{}/events?since=0", url.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the event stream stalled")
            .expect("the event stream closed")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            let value: Value = serde_json::from_str(text.as_str()).unwrap();
            let done = stop(&value);
            seen.push(value);
            if done {
                return seen;
            }
        }
    }
}

async fn deepest_accepted_values_round_trip(backend: Backend) {
    let node = TestNode::start_configured(
        tempfile::tempdir().unwrap(),
        match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(swarm_node::test_utils::fresh_postgres_database().await),
        },
        genesis(),
        // A snapshot with every block: the deep values are in one at once.
        |c| c.snapshot_every = 1,
    )
    .await;
    let c = &node.client;
    let owner = dev_key(0);
    let engine = PrivateKey::random();
    let (status, body) = submit(
        &node,
        &engine,
        Mint {
            to: engine.address(),
            amount: Amount::from_nct(10),
        },
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (uri, _) = c.upload(&[("deep.bin", b"deep metadata".as_slice())]).await;

    // bounty:Post: envelope, data, metadata list and entry are 4 levels.
    let deepest_post = MAX_JSON_DEPTH - 4;
    let (status, body) = submit(&node, &owner, post(&uri, nested(deepest_post + 1))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("json_limit")),
        "{body}"
    );
    assert!(
        body["errors"].as_str().unwrap().contains("nesting depth"),
        "{body}"
    );
    let bounty = post(&uri, nested(deepest_post));
    let guid = bounty.guid;
    let (status, body) = submit(&node, &owner, bounty).await;
    assert_eq!(status, 200, "the deepest accepted post: {body}");

    let nonce = H256([7; 32]);
    let verdicts = Bits256::from_indices([0]);
    let assertion = Assert {
        bounty_guid: guid,
        mask: Bits256::from_indices([0]),
        bids: vec![Amount::from_wei(62_500_000_000_000_000)],
        commitment: commitment(&verdicts, &nonce, &engine.address()),
    };
    let (status, body) = submit(&node, &engine, assertion).await;
    assert_eq!(status, 200, "{body}");
    let expiration = c.result(&format!("/bounties/{guid}")).await["expiration"]
        .as_u64()
        .unwrap();
    c.wait_for_block(expiration).await;

    // bounty:Reveal: envelope and data are 2 levels.
    let deepest_reveal = MAX_JSON_DEPTH - 2;
    let (status, body) = submit(
        &node,
        &engine,
        reveal(guid, nonce, nested(deepest_reveal + 1)),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("json_limit")),
        "{body}"
    );
    let (status, body) = submit(&node, &engine, reveal(guid, nonce, nested(deepest_reveal))).await;
    assert_eq!(status, 200, "the deepest accepted reveal: {body}");
    let reveal_hash = body["result"]["hash"].as_str().unwrap().to_owned();
    // Snapshots of the blocks holding both.
    let included = body["result"]["block_number"].as_u64().unwrap();
    c.wait_for_block(included + 2).await;

    // The receipt, with its event.
    let receipt = c.result(&format!("/transactions/{reveal_hash}")).await;
    assert_eq!(receipt["events"][0]["event"], "reveal", "{receipt}");
    assert_eq!(
        receipt["events"][0]["data"]["metadata"],
        nested(deepest_reveal)
    );

    // The stream replays everything, the deep bounty and reveal included.
    let is_reveal =
        |e: &Value| e["event"] == "reveal" && e["data"]["bounty_guid"] == guid.to_string();
    let events = replay_until(&node.url(), is_reveal).await;
    let posted = events
        .iter()
        .find(|e| e["event"] == "bounty" && e["data"]["guid"] == guid.to_string())
        .expect("the bounty event was replayed");
    assert_eq!(posted["data"]["metadata"][0]["deep"], nested(deepest_post));
    assert_eq!(
        events.last().unwrap()["data"]["metadata"],
        nested(deepest_reveal)
    );

    // Stopped, the node's state reloads — through the latest snapshot,
    // which holds both values — to the same height and the same state.
    let TestNode {
        node: running,
        dir,
        database_url,
        ..
    } = node;
    let state = running.state().clone();
    running.shutdown().await.unwrap();
    // Shutting down committed the open block: the state is final now.
    let before = state.view.read(|r| r.clone());
    let mut config = NodeConfig::new(genesis());
    config.data_dir = dir.path().to_path_buf();
    config.database_url = database_url.clone();
    let store = open_store(&config).await.unwrap();
    let (snapshot_block, _) = store.latest_snapshot().await.unwrap().unwrap();
    assert!(snapshot_block > included, "snapshot {snapshot_block}");
    let (reloaded, tip) = load_state(&store, &genesis()).await.unwrap();
    assert_eq!(tip.map(|t| t.number), Some(before.block()));
    assert!(reloaded == before, "the reloaded state differs");
    drop(store);

    // And the node itself starts again and serves them.
    let node = TestNode::start_in(dir, database_url, genesis()).await;
    let receipt = node
        .client
        .result(&format!("/transactions/{reveal_hash}"))
        .await;
    assert_eq!(
        receipt["events"][0]["data"]["metadata"],
        nested(deepest_reveal)
    );
    let bounty = node.client.result(&format!("/bounties/{guid}")).await;
    assert_eq!(bounty["guid"], guid.to_string(), "{bounty}");
    node.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_metadata_on_reveal_and_post_round_trips_sqlite() {
    deepest_accepted_values_round_trip(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_metadata_on_reveal_and_post_round_trips_postgres() {
    deepest_accepted_values_round_trip(Backend::Postgres).await;
}

/// A snapshot that cannot be read (written by another version, or holding
/// what this one cannot decode) is passed over: the state is rebuilt from
/// the blocks and the node starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_cannot_be_read_is_rebuilt_from_the_blocks() {
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let key = PrivateKey::random();
    let (status, body) = submit(
        &node,
        &key,
        Mint {
            to: key.address(),
            amount: Amount::from_nct(3),
        },
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let TestNode {
        node: running, dir, ..
    } = node;
    running.shutdown().await.unwrap();

    let mut config = NodeConfig::new(test_genesis());
    config.data_dir = dir.path().to_path_buf();
    let store = open_store(&config).await.unwrap();
    let (expected, tip) = load_state(&store, &test_genesis()).await.unwrap();
    let tip = tip.unwrap();
    // One more (empty) block, stored with a snapshot nobody can read.
    let header = BlockHeader::seal(tip.number + 1, tip.hash, tip.timestamp_ms + 1, &[]);
    let block = CommittedBlock {
        header: header.clone(),
        txs: Vec::new(),
        events: Vec::new(),
    };
    store
        .commit_block(&block, Some(b"{\"not\": \"a registry\"".as_slice()))
        .await
        .unwrap();
    let (rebuilt, rebuilt_tip) = load_state(&store, &test_genesis()).await.unwrap();
    assert_eq!(rebuilt_tip, Some(header));
    assert_eq!(rebuilt.balance(&key.address()), Amount::from_nct(3));
    assert_eq!(rebuilt.balances(), expected.balances());
    drop(store);

    let node = TestNode::start_in(dir, None, test_genesis()).await;
    let balance = node
        .client
        .result(&format!("/balances/{}/nct", key.address()))
        .await;
    assert_eq!(balance, Amount::from_nct(3).wei().to_string());
    node.node.shutdown().await.unwrap();
}
