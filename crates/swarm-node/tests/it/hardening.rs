#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hardening, in-process: what the node accepts it can store, snapshot,
//! stream and reload; uploads are refused before the bytes they are
//! refused for are written; refusals that pass say when to come back.
//!
//! Regression tests for a node that accepted metadata nested 126 levels
//! deep, then answered 500 for the transaction's receipt, closed every
//! event stream that reached it, and after the next snapshot refused to
//! start at all — on SQLite and PostgreSQL alike; and that staged 741 MiB
//! of three uploads it was about to refuse.

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
    let (store, before, dir, database_url) = stop_and_open_store(node).await;
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
        .commit_block(&block, &[], Some(b"{\"not\": \"a registry\"".as_slice()))
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

// ---- uploads: checked before their bytes are written ----------------------

const MIB: usize = 1024 * 1024;
const BOUNDARY: &str = "swarm-hardening-boundary";

/// An upload of `parts` artifacts of `size` zero bytes each, sent over raw
/// TCP a MiB at a time (`Content-Length` declared unless `chunked`) while
/// the answer is read, so that a node answering early stops the sending.
/// Returns the status and the body of the answer.
async fn big_upload(
    addr: std::net::SocketAddr,
    permit: &str,
    parts: usize,
    size: usize,
    chunked: bool,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let part_head = |i: usize| {
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"zeros{i}.bin\"\r\n\r\n"
        )
    };
    let tail = format!("--{BOUNDARY}--\r\n");
    let length: usize = (0..parts)
        .map(|i| part_head(i).len() + size + 2)
        .sum::<usize>()
        + tail.len();
    let mut head = format!(
        "POST /artifacts HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: {permit}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
    );
    head.push_str(&if chunked {
        "Transfer-Encoding: chunked\r\n\r\n".to_owned()
    } else {
        format!("Content-Length: {length}\r\n\r\n")
    });
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sender = tokio::spawn(async move {
        let zeros = vec![0u8; MIB];
        let send = |bytes: Vec<u8>| {
            if chunked {
                let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
                framed.extend_from_slice(&bytes);
                framed.extend_from_slice(b"\r\n");
                framed
            } else {
                bytes
            }
        };
        writer.write_all(head.as_bytes()).await?;
        for i in 0..parts {
            writer.write_all(&send(part_head(i).into_bytes())).await?;
            let mut left = size;
            while left > 0 {
                let n = left.min(MIB);
                writer.write_all(&send(zeros[..n].to_vec())).await?;
                left -= n;
            }
            writer.write_all(&send(b"\r\n".to_vec())).await?;
        }
        writer.write_all(&send(tail.into_bytes())).await?;
        if chunked {
            writer.write_all(b"0\r\n\r\n").await?;
        }
        Ok::<_, std::io::Error>(writer)
    });
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
    // The node stops reading a refused body: a failed write is expected.
    let _ = sender.await;
    let text = String::from_utf8_lossy(&received).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // A chunked answer body: the JSON is the line that starts with `{`.
    let json = body.lines().find(|l| l.starts_with('{')).unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

/// `key`'s upload permission for `sha256s`.
fn permit_for(key: &PrivateKey, expires: u64, sha256s: Vec<String>) -> String {
    let auth = swarm_protocol::UploadAuth { sha256s };
    format!(
        "Swarm {}",
        serde_json::to_string(&auth.sign(key, "dev", expires)).unwrap()
    )
}

fn sha256_of_zeros(size: usize) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(vec![0u8; size]))
}

/// A node whose account quota is `quota` bytes an hour.
async fn upload_node(quota: Option<u64>) -> TestNode {
    TestNode::start_configured(tempfile::tempdir().unwrap(), None, test_genesis(), |c| {
        c.limits.upload_bytes_per_account_hour = quota;
    })
    .await
}

/// 256 MiB uploads that are refused. Before, every file of an upload was
/// staged to disk before its permission and the quota were checked: three
/// such uploads staged 741 MiB to be refused. Now what can be refused before
/// a byte is written is (the declared length against the permission and the
/// quota, the part count at each part's header, the quota at each chunk);
/// a file whose sha256 its permission does not name can only be known at
/// its last byte, and is refused then, before the next file is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_256_mib_uploads_stage_at_most_what_they_are_refused_at() {
    const SIZE: usize = 32 * MIB;
    let owner = dev_key(0);

    // Declared 256 MiB; the permission names one artifact: 413 before the body.
    let node = upload_node(None).await;
    let expires = node.client.block().await + 100;
    let one = permit_for(&owner, expires, vec![sha256_of_zeros(SIZE)]);
    let (status, body) = big_upload(node.node.addr(), &one, 8, SIZE, false).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );
    assert_eq!(node.node.state().artifacts.staged_bytes(), (0, 0));
    node.node.shutdown().await.unwrap();

    // Declared 256 MiB over a 64 MiB quota: 429 before the body.
    let node = upload_node(Some(64 * MIB as u64)).await;
    let expires = node.client.block().await + 100;
    let eight = permit_for(&owner, expires, vec![sha256_of_zeros(SIZE); 8]);
    let (status, body) = big_upload(node.node.addr(), &eight, 8, SIZE, false).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    assert_eq!(node.node.state().artifacts.staged_bytes(), (0, 0));

    // The same, chunked (no declared length): refused at the chunk that
    // crosses the quota, which is not written.
    let (status, body) = big_upload(node.node.addr(), &eight, 8, SIZE, true).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    let (now, peak) = node.node.state().artifacts.staged_bytes();
    assert_eq!(now, 0);
    assert!(
        peak <= 64 * MIB as u64,
        "staged {peak} bytes over a 64 MiB quota"
    );
    node.node.shutdown().await.unwrap();

    // More parts than the permission names, chunked: refused at the header
    // of the first part too many, before its bytes.
    let node = upload_node(None).await;
    let expires = node.client.block().await + 100;
    let one = permit_for(&owner, expires, vec![sha256_of_zeros(SIZE)]);
    let (status, body) = big_upload(node.node.addr(), &one, 8, SIZE, true).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert!(
        body["errors"]
            .as_str()
            .unwrap()
            .contains("names 1 artifact(s)"),
        "{body}"
    );
    let (now, peak) = node.node.state().artifacts.staged_bytes();
    assert_eq!(now, 0);
    assert!(
        peak <= SIZE as u64,
        "staged {peak} bytes; the permitted artifact is {SIZE}"
    );

    // A permission naming none of the eight: refused when the first ends.
    let others: Vec<String> = (1..=8).map(sha256_of_zeros).collect();
    let none = permit_for(&owner, expires, others);
    let (status, body) = big_upload(node.node.addr(), &none, 8, SIZE, false).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert!(
        body["errors"].as_str().unwrap().contains("artifact 0"),
        "{body}"
    );
    let (now, peak) = node.node.state().artifacts.staged_bytes();
    assert_eq!(now, 0);
    assert!(
        peak <= SIZE as u64,
        "staged {peak} bytes; one artifact is {SIZE}"
    );
    let blobs = node.dir.path().join("artifacts").join("blobs");
    assert_eq!(
        std::fs::read_dir(&blobs).unwrap().count(),
        0,
        "a refused upload left a blob"
    );
    node.node.shutdown().await.unwrap();
}

/// Uploads in progress share a staging budget: one that would take it past
/// its cap is refused with 503 and Retry-After at the chunk that would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_staging_budget_get_503_with_retry_after() {
    let node =
        TestNode::start_configured(tempfile::tempdir().unwrap(), None, test_genesis(), |c| {
            c.artifact_limits.max_staged = 4 * MIB as u64;
        })
        .await;
    let expires = node.client.block().await + 100;
    let permit = permit_for(&dev_key(0), expires, vec![sha256_of_zeros(8 * MIB)]);
    let (status, body) = big_upload(node.node.addr(), &permit, 1, 8 * MIB, false).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    let (now, peak) = node.node.state().artifacts.staged_bytes();
    assert_eq!(now, 0);
    assert!(peak <= 4 * MIB as u64, "staged {peak}");
    node.node.shutdown().await.unwrap();
}

// ---- refusals that pass say when to come back -----------------------------

async fn limited_node(configure: impl FnOnce(&mut swarm_node::Limits)) -> TestNode {
    TestNode::start_configured(tempfile::tempdir().unwrap(), None, test_genesis(), |c| {
        let mut limits = swarm_node::Limits::unlimited();
        configure(&mut limits);
        c.limits = limits;
    })
    .await
}

fn mint(key: &PrivateKey, expires: u64, wei: u128) -> swarm_protocol::SignedTx {
    let body = Mint {
        to: key.address(),
        amount: Amount::from_wei(wei),
    };
    Tx::new(key.address(), "dev", expires, body).sign(key)
}

/// In a batch, an item over its account's rate is refused with 429 and a
/// `retry_after`, the others go in; a batch refused whole for that reason
/// is a 429 response with `Retry-After`. Before: items inside a 200 with no
/// hint of when to come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_items_over_an_account_rate_get_429_with_a_retry_hint() {
    let node = limited_node(|l| l.transactions_per_account = swarm_node::Rate::new(1, 2)).await;
    let (a, b) = (PrivateKey::random(), PrivateKey::random());
    let expires = node.client.block().await + 100;
    let batch = [
        mint(&a, expires, 1),
        mint(&a, expires, 2),
        mint(&a, expires, 3),
        mint(&b, expires, 1),
    ];
    let (status, body) = node.client.submit(&batch, false).await;
    assert_eq!(status, 200, "{body}");
    let items = body["result"].as_array().unwrap();
    assert_eq!(items[0]["status"], "pending", "{body}");
    assert_eq!(items[1]["status"], "pending", "{body}");
    assert_eq!(items[2]["status"], 429, "{body}");
    assert_eq!(items[2]["code"], "rate_limited", "{body}");
    assert_eq!(items[2]["retry_after"], 1, "{body}");
    assert_eq!(items[3]["status"], "pending", "{body}");
    assert!(items[0].get("retry_after").is_none(), "{body}");

    // Every item over the rate: the request itself is a 429.
    let response = node
        .client
        .http
        .post(format!("{}/transactions", node.url()))
        .json(&[mint(&a, expires, 4), mint(&a, expires, 5)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");
    node.node.shutdown().await.unwrap();
}

/// Transactions that do not verify spend nothing of the IP's transaction
/// bucket (nor of any account's): an IP shared with a client sending junk
/// keeps its rate. Junk spends a budget of its own, and once that is gone
/// the IP is refused before any signature is recovered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_junk_does_not_spend_the_ip_bucket() {
    let node = limited_node(|l| {
        l.transactions_per_ip = swarm_node::Rate::new(1, 5);
        l.invalid_transactions_per_ip = swarm_node::Rate::new(1, 20);
    })
    .await;
    let key = PrivateKey::random();
    let expires = node.client.block().await + 100;
    let junk = |n: u128| {
        let mut tx = mint(&key, expires, 1000 + n);
        tx.signature = mint(&PrivateKey::random(), expires, 1).signature;
        tx
    };
    let (status, body) = node
        .client
        .submit(&(0..10).map(junk).collect::<Vec<_>>(), false)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["code"] == "wrong_signer"));
    // The IP's five transactions are all still there.
    let valid: Vec<_> = (1..=5).map(|n| mint(&key, expires, n)).collect();
    let (status, body) = node.client.submit(&valid, false).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["result"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "pending"),
        "{body}"
    );
    // Twenty more junk: the junk budget is spent, the next request is
    // refused before verification.
    let (status, _) = node
        .client
        .submit(&(10..30).map(junk).collect::<Vec<_>>(), false)
        .await;
    assert_eq!(status, 200);
    let (status, body) = node.client.submit(&[mint(&key, expires, 99)], false).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["errors"]
            .as_str()
            .unwrap()
            .contains("failed to decode or verify"),
        "{body}"
    );
    node.node.shutdown().await.unwrap();
}

/// Reads are rate-limited per IP too. Before: not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_over_the_ip_rate_get_429_with_retry_after() {
    let node = limited_node(|l| l.requests_per_ip = swarm_node::Rate::new(1, 5)).await;
    for _ in 0..5 {
        let (status, _) = node.client.get("/status").await;
        assert_eq!(status, 200);
    }
    let response = node
        .client
        .http
        .get(format!("{}/bounties", node.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert!(
        body["errors"]
            .as_str()
            .unwrap()
            .contains("too many requests from 127.0.0.1"),
        "{body}"
    );
    node.node.shutdown().await.unwrap();
}

// ---- every accepted transaction round-trips --------------------------------

mod round_trip {
    //! A property test: random JSON values (strings with every escape,
    //! numbers, nesting up to the deepest the admission limits accept) in
    //! bounty metadata, filenames and reveal metadata go through the real
    //! admission and rules into blocks, which are committed to SQLite and
    //! PostgreSQL with a snapshot at a random block. Read back, the blocks,
    //! the transactions with their events, the event stream's pages and the
    //! state a restarting node rebuilds are exactly what went in.

    use proptest::prelude::*;
    use serde_json::Value;
    use swarm_node::{
        load_state, BlockHeader, CommittedBlock, EventRecord, SqlStore, Store, TxRecord,
    };
    use swarm_protocol::admission::MAX_JSON_DEPTH;
    use swarm_protocol::{
        commitment, keccak256, Amount, ArtifactMetadata, ArtifactType, Assert, Bits256, Genesis,
        Guid, Mint, PostBounty, PrivateKey, Registry, Reveal, SignedTx, Tx, TxBody, H256,
    };

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[\\\\\"'<>{}\\[\\]a-z\u{0}-\u{1f}\u{7f}\u{e9}\u{2028}\u{1f600}]{0,16}"
                .prop_map(Value::String),
        ];
        leaf.prop_recursive(12, 96, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z\"\\\\]{0,6}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn depth(value: &Value) -> usize {
        match value {
            Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// `value` inside as many arrays as take it to `levels` deep.
    fn deepen(mut value: Value, levels: usize) -> Value {
        for _ in depth(&value)..levels {
            value = Value::Array(vec![value]);
        }
        value
    }

    #[derive(Debug, Clone)]
    struct Case {
        extras: Vec<Value>,
        filenames: Vec<String>,
        reveal: Value,
        /// Push the values to the deepest depth admission accepts.
        deepest: bool,
        snapshot_at: usize,
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            proptest::collection::vec(json_value(), 1..4),
            proptest::collection::vec("[^/\u{0}]{0,40}", 3),
            json_value(),
            any::<bool>(),
            1usize..8,
        )
            .prop_map(|(extras, filenames, reveal, deepest, snapshot_at)| Case {
                extras,
                filenames,
                reveal,
                deepest,
                snapshot_at,
            })
    }

    /// Blocks made the way the sequencer makes them: admission, the rules,
    /// then records in order.
    struct Chain {
        registry: Registry,
        blocks: Vec<CommittedBlock>,
        states: Vec<Registry>,
    }

    impl Chain {
        fn block(&mut self, txs: &[SignedTx]) {
            let number = self.blocks.len() as u64 + 1;
            let parent = self.blocks.last().map_or(H256::ZERO, |b| b.header.hash);
            let mut events: Vec<EventRecord> = self
                .registry
                .begin_block(number, parent)
                .into_iter()
                .enumerate()
                .map(|(seq, event)| EventRecord {
                    event,
                    block_number: number,
                    seq: seq as u32,
                    txhash: None,
                })
                .collect();
            let mut records = Vec::new();
            for (index, signed) in txs.iter().enumerate() {
                let verified = signed.admit().expect("admitted");
                for event in self.registry.apply(&verified).expect("accepted") {
                    let seq = events.len() as u32;
                    events.push(EventRecord {
                        event,
                        block_number: number,
                        seq,
                        txhash: Some(verified.hash()),
                    });
                }
                records.push(TxRecord {
                    hash: verified.hash(),
                    signed: signed.clone(),
                    name: verified.tx().name().to_owned(),
                    from: verified.from(),
                    block_number: number,
                    index: index as u32,
                });
            }
            let hashes: Vec<H256> = records.iter().map(|r| r.hash).collect();
            self.blocks.push(CommittedBlock {
                header: BlockHeader::seal(number, parent, 1_000 * number, &hashes),
                txs: records,
                events,
            });
            self.states.push(self.registry.clone());
        }
    }

    fn genesis() -> Genesis {
        swarm_node::test_utils::test_genesis()
    }

    fn chain(case: &Case) -> Chain {
        let owner = swarm_node::dev_key(0);
        let engine = PrivateKey::from_bytes(&keccak256(b"round trip engine").0).unwrap();
        let sign =
            |key: &PrivateKey, body: TxBody| Tx::new(key.address(), "dev", 50, body).sign(key);
        let mut chain = Chain {
            registry: Registry::new(&genesis()).unwrap(),
            blocks: Vec::new(),
            states: Vec::new(),
        };
        let mint = Mint {
            to: engine.address(),
            amount: Amount::from_nct(10),
        };
        chain.block(&[sign(&engine, mint.into())]);
        let n = case.extras.len();
        let metadata = case
            .extras
            .iter()
            .zip(&case.filenames)
            .map(|(extra, filename)| {
                let mut entry = ArtifactMetadata {
                    filename: Some(filename.chars().take(60).collect()),
                    ..Default::default()
                };
                // bounty:Post: envelope, data, metadata list, entry.
                let extra = if case.deepest {
                    deepen(extra.clone(), MAX_JSON_DEPTH - 4)
                } else {
                    extra.clone()
                };
                entry.extra.insert("extra".into(), extra);
                entry
            })
            .collect();
        let guid = Guid::new_v4();
        let post = PostBounty {
            guid,
            artifact_type: ArtifactType::File,
            amount: Amount::from_nct(1),
            uri: "ab".repeat(32),
            num_artifacts: n as u32,
            duration: 2,
            metadata: Some(metadata),
        };
        chain.block(&[sign(&owner, post.into())]);
        let verdicts = Bits256::from_indices(0..n);
        let nonce = H256([9; 32]);
        let assertion = Assert {
            bounty_guid: guid,
            mask: Bits256::from_indices(0..n),
            bids: vec![Amount::from_wei(62_500_000_000_000_000); n],
            commitment: commitment(&verdicts, &nonce, &engine.address()),
        };
        chain.block(&[sign(&engine, assertion.into())]);
        // bounty:Reveal: envelope and data.
        let reveal_metadata = if case.deepest {
            deepen(case.reveal.clone(), MAX_JSON_DEPTH - 2)
        } else {
            case.reveal.clone()
        };
        let reveal = Reveal {
            bounty_guid: guid,
            nonce,
            verdicts,
            metadata: reveal_metadata,
        };
        chain.block(&[sign(&engine, reveal.into())]);
        while chain.blocks.len() < 8 {
            chain.block(&[]);
        }
        chain
    }

    async fn check(store: &SqlStore, chain: &Chain, snapshot_at: usize) {
        for (i, block) in chain.blocks.iter().enumerate() {
            let snapshot =
                (i + 1 == snapshot_at).then(|| serde_json::to_vec(&chain.states[i]).unwrap());
            store
                .commit_block(block, &[], snapshot.as_deref())
                .await
                .unwrap();
        }
        assert_eq!(store.blocks_after(0, u32::MAX).await.unwrap(), chain.blocks);
        let events: Vec<EventRecord> = chain.blocks.iter().flat_map(|b| b.events.clone()).collect();
        assert_eq!(
            store.events(0, None, u32::MAX, usize::MAX).await.unwrap(),
            events
        );
        // The event stream's pages of a few KiB give the same events.
        let mut paged: Vec<EventRecord> = Vec::new();
        loop {
            let after = paged.last().map(|e| (e.block_number, e.seq));
            let page = store.events(0, after, 1000, 4096).await.unwrap();
            if page.is_empty() {
                break;
            }
            paged.extend(page);
        }
        assert_eq!(paged, events);
        for block in &chain.blocks {
            for tx in &block.txs {
                let own: Vec<EventRecord> = block
                    .events
                    .iter()
                    .filter(|e| e.txhash == Some(tx.hash))
                    .cloned()
                    .collect();
                assert_eq!(
                    store.transaction(&tx.hash).await.unwrap(),
                    Some((tx.clone(), own))
                );
            }
        }
        // What a restarting node rebuilds: the snapshot, then the blocks.
        let (state, tip) = load_state(store, &genesis()).await.unwrap();
        assert_eq!(tip.as_ref(), chain.blocks.last().map(|b| &b.header));
        let hash = |r: &Registry| keccak256(serde_json::to_vec(r).unwrap());
        assert_eq!(hash(&state), hash(&chain.registry));
        assert!(state == chain.registry);
    }

    #[test]
    fn accepted_transactions_round_trip_through_both_stores() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let postgres = runtime.block_on(async {
            let url = swarm_node::test_utils::fresh_postgres_database().await;
            SqlStore::connect(&url).await.unwrap()
        });
        let n = std::sync::atomic::AtomicUsize::new(0);
        let config = ProptestConfig {
            cases: 24,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        proptest!(config, |(case in case())| {
            let chain = chain(&case);
            let n = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            runtime.block_on(async {
                let sqlite = SqlStore::open_sqlite(&dir.path().join(format!("{n}.sqlite")))
                    .await
                    .unwrap();
                check(&sqlite, &chain, case.snapshot_at).await;
                postgres.wipe().await.unwrap();
                check(&postgres, &chain, case.snapshot_at).await;
            });
        });
    }
}

// ---- admission control: a node behind sheds new work, not admitted work ---

/// Posts `bounty` without waiting; the raw response.
async fn post_now(node: &TestNode, key: &PrivateKey, bounty: PostBounty) -> reqwest::Response {
    let expires = node.client.block().await + 100;
    let tx = Tx::new(key.address(), "dev", expires, bounty).sign(key);
    node.client
        .http
        .post(format!("{}/transactions", node.url()))
        .json(&tx)
        .send()
        .await
        .unwrap()
}

/// While the node is behind — transactions waiting that would take longer
/// than a block time to apply — a new bounty is refused at submission
/// with 503 `overloaded` and a `Retry-After` of the estimated wait, while
/// an assertion on a bounty already posted still goes in: the lifecycles
/// the node admitted can finish. Once the backlog is gone, posts pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_refuses_new_bounties_but_takes_assertions_on_posted_ones() {
    let node = TestNode::start_configured(tempfile::tempdir().unwrap(), None, genesis(), |c| {
        c.limits = swarm_node::Limits::unlimited();
        c.limits.admission.max_waiting_transactions = 10_000_000;
    })
    .await;
    let c = &node.client;
    let (owner, engine) = (dev_key(0), PrivateKey::random());
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
    let (uri, _) = c.upload(&[("a.bin", b"admitted".as_slice())]).await;
    let admitted = post(&uri, json!(1));
    let guid = admitted.guid;
    let (status, body) = submit(&node, &owner, admitted).await;
    assert_eq!(status, 200, "{body}");

    // A million waiting: seconds behind at any rate this machine could have.
    let held = node.hold_backlog(1_000_000);
    let response = post_now(&node, &owner, post(&uri, json!(2))).await;
    assert_eq!(response.status().as_u16(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The estimated wait: at least a second, at most the million at the
    // lowest floor of 1,000/s.
    assert!(
        (1..=1_001).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "overloaded", "{body}");
    assert!(
        body["errors"].as_str().unwrap().contains("no new bounty"),
        "{body}"
    );

    let (verdicts, nonce) = (Bits256::from_indices([0]), H256([9; 32]));
    let assertion = Assert {
        bounty_guid: guid,
        mask: Bits256::from_indices([0]),
        bids: vec![Amount::from_wei(62_500_000_000_000_000)],
        commitment: commitment(&verdicts, &nonce, &engine.address()),
    };
    let (status, body) = submit(&node, &engine, assertion).await;
    assert_eq!(
        status, 200,
        "an assertion on a posted bounty is admitted: {body}"
    );

    let metrics = c.text("/metrics").await;
    assert!(
        metrics.contains("swarm_admission_refused_transactions 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("swarm_open{what=\"waiting_transactions\"} 1000000"),
        "{metrics}"
    );

    drop(held);
    let response = post_now(&node, &owner, post(&uri, json!(3))).await;
    assert_eq!(response.status().as_u16(), 200);
    node.node.shutdown().await.unwrap();
}

/// Signs `bodies` from `key` and submits them as one batch; panics unless
/// every one is accepted.
async fn submit_all(node: &TestNode, key: &PrivateKey, bodies: Vec<TxBody>, wait: bool) {
    let expires = node.client.block().await + 100;
    let txs: Vec<_> = bodies
        .into_iter()
        .map(|b| Tx::new(key.address(), "dev", expires, b).sign(key))
        .collect();
    let (status, body) = node
        .client
        .post_raw(
            &format!("/transactions?wait={wait}"),
            "application/json",
            serde_json::to_vec(&txs).unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let items = body["result"].as_array().unwrap();
    assert_eq!(items.len(), txs.len());
    assert!(
        items
            .iter()
            .all(|i| i["status"] == "pending" || i["status"] == "included"),
        "{body}"
    );
}

/// Waits until block `number` is open (the one before it committed).
async fn wait_open(node: &TestNode, number: u64) {
    while node.client.block().await + 1 < number {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A bounty's reveals all fall due when its assertion round closes. Twice
/// the assertions the node's backlog limit holds are taken — their reveals
/// far ahead, a post still passes — but as their reveal round comes near,
/// a new bounty is refused with nothing else waiting, because those
/// reveals would be applied behind its work; once they are applied, posts
/// pass again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reveals_falling_due_soon_count_against_new_bounties_until_they_are_applied() {
    const ENGINES: usize = 20;
    const DURATION: u64 = 40;
    let mut genesis = genesis();
    genesis.parameters.block_time_ms = Some(100);
    let node = TestNode::start_configured(tempfile::tempdir().unwrap(), None, genesis, |c| {
        c.limits = swarm_node::Limits::unlimited();
        c.limits.admission.max_waiting_transactions = 10_000_000;
    })
    .await;
    let c = &node.client;
    let owner = dev_key(0);
    let engines: Vec<PrivateKey> = (0..ENGINES).map(|_| PrivateKey::random()).collect();
    for engine in &engines {
        let fund = Mint {
            to: engine.address(),
            amount: Amount::from_nct(1_000),
        };
        submit_all(&node, engine, vec![fund.into()], false).await;
    }
    let (uri, _) = c.upload(&[("a.bin", b"due".as_slice())]).await;
    let bounties = (2 * node.new_bounty_backlog_limit()).div_ceil(ENGINES);
    let posts: Vec<PostBounty> = (0..bounties)
        .map(|i| PostBounty {
            duration: DURATION,
            ..post(&uri, json!(i))
        })
        .collect();
    let guids: Vec<Guid> = posts.iter().map(|p| p.guid).collect();
    submit_all(
        &node,
        &owner,
        posts.into_iter().map(Into::into).collect(),
        true,
    )
    .await;
    let expiration = c.result(&format!("/bounties/{}", guids[0])).await["expiration"]
        .as_u64()
        .unwrap();

    let (verdicts, nonce) = (Bits256::from_indices([0]), H256([9; 32]));
    for engine in &engines {
        let asserts = guids.iter().map(|guid| {
            Assert {
                bounty_guid: *guid,
                mask: Bits256::from_indices([0]),
                bids: vec![Amount::from_wei(62_500_000_000_000_000)],
                commitment: commitment(&verdicts, &nonce, &engine.address()),
            }
            .into()
        });
        submit_all(&node, engine, asserts.collect(), false).await;
    }
    // The reveals are many blocks ahead: the blocks before them absorb them.
    let open = c.block().await + 1;
    assert!(open + 5 < expiration, "asserting took until block {open}");
    let response = post_now(&node, &owner, post(&uri, json!("far"))).await;
    assert_eq!(response.status().as_u16(), 200);

    // A block before they fall due, with nothing waiting: refused.
    wait_open(&node, expiration - 1).await;
    let response = post_now(&node, &owner, post(&uri, json!("near"))).await;
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "overloaded", "{body}");
    assert!(
        body["errors"].as_str().unwrap().contains("no new bounty"),
        "{body}"
    );

    // Revealed (and so no longer due): posts pass again.
    wait_open(&node, expiration).await;
    for engine in &engines {
        let reveals = guids
            .iter()
            .map(|guid| reveal(*guid, nonce, json!({})).into());
        submit_all(&node, engine, reveals.collect(), false).await;
    }
    wait_open(&node, c.block().await + 2).await;
    let response = post_now(&node, &owner, post(&uri, json!("after"))).await;
    assert_eq!(response.status().as_u16(), 200);
    node.node.shutdown().await.unwrap();
}

/// Past the hard cap of waiting transactions a submission is refused whole
/// before any signature is checked — 503 `overloaded` with `Retry-After` —
/// and one that fits goes in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_waiting_cap_a_submission_is_refused_whole_with_503_and_retry_after() {
    let node = limited_node(|l| l.admission.max_waiting_transactions = 3).await;
    let a = PrivateKey::random();
    let expires = node.client.block().await + 100;
    let four: Vec<_> = (1..=4).map(|i| mint(&a, expires, i)).collect();
    let response = node
        .client
        .http
        .post(format!("{}/transactions", node.url()))
        .json(&four)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "overloaded", "{body}");
    assert!(
        body["errors"].as_str().unwrap().contains("waiting"),
        "{body}"
    );

    let (status, body) = node.client.submit(&four[..3], true).await;
    assert_eq!(status, 200, "{body}");
    node.node.shutdown().await.unwrap();
}

/// Stops `node` and opens its store again: the store, the state the node
/// ended with (its shutdown committed the open block, so it is final), and
/// the data directory and database to start a node on them again.
async fn stop_and_open_store(
    node: TestNode,
) -> (
    swarm_node::SqlStore,
    swarm_protocol::Registry,
    tempfile::TempDir,
    Option<String>,
) {
    let TestNode {
        node: running,
        dir,
        database_url,
        ..
    } = node;
    let state = running.state().clone();
    running.shutdown().await.unwrap();
    let before = state.view.read(|r| r.clone());
    let mut config = NodeConfig::new(genesis());
    config.data_dir = dir.path().to_path_buf();
    config.database_url = database_url.clone();
    let store = open_store(&config).await.unwrap();
    (store, before, dir, database_url)
}

/// A restart verifies and applies every transaction since the latest
/// snapshot, so a snapshot is also stored once enough transactions were
/// applied, whatever the block number: full blocks cannot make a restart
/// long (1,000 blocks of a loaded node took one 41 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_is_stored_once_enough_transactions_were_applied() {
    let node = TestNode::start_configured(tempfile::tempdir().unwrap(), None, genesis(), |c| {
        c.snapshot_every = 1_000_000;
        c.snapshot_after_transactions = 5;
    })
    .await;
    let owner = dev_key(0);
    let expires = node.client.block().await + 100;
    let mints: Vec<_> = (0..6)
        .map(|_| {
            let body = Mint {
                to: PrivateKey::random().address(),
                amount: Amount::from_nct(1),
            };
            Tx::new(owner.address(), "dev", expires, body).sign(&owner)
        })
        .collect();
    let (status, body) = node.client.submit(&mints, true).await;
    assert_eq!(status, 200, "{body}");

    let (store, before, _dir, _) = stop_and_open_store(node).await;
    let (snapshot_block, _) = store
        .latest_snapshot()
        .await
        .unwrap()
        .expect("a snapshot after six transactions, long before block 1,000,000");
    assert!(snapshot_block >= 1, "snapshot {snapshot_block}");
    let (reloaded, tip) = load_state(&store, &genesis()).await.unwrap();
    assert_eq!(tip.map(|t| t.number), Some(before.block()));
    assert!(reloaded == before, "the reloaded state differs");
}
