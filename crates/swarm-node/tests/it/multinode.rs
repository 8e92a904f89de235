//! Two nodes sharing one PostgreSQL database, over real HTTP and WebSocket:
//! exactly one sequences; the other forwards submissions to it, and its
//! reads and event stream follow the committed chain.
//!
//! The nodes have separate data directories, so the transactions here are
//! ones that need no artifacts (faucet mints and transfers).
//! These tests fail when PostgreSQL is unreachable (`SWARM_TEST_POSTGRES`,
//! default `postgres://postgres@127.0.0.1:5432/test`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use swarm_node::dev_key;
use swarm_node::test_utils::{fresh_postgres_database, test_genesis, TestNode};
use swarm_protocol::{Amount, Mint, Transfer, WEI_PER_NCT};
use tokio_tungstenite::tungstenite::Message;

/// Starts two nodes on one new database at the same moment; returns
/// (sequencer, follower).
async fn pair() -> (TestNode, TestNode) {
    let url = fresh_postgres_database().await;
    let (a, b) = tokio::join!(
        TestNode::start_in(
            tempfile::tempdir().unwrap(),
            Some(url.clone()),
            test_genesis()
        ),
        TestNode::start_in(tempfile::tempdir().unwrap(), Some(url), test_genesis()),
    );
    let sa = a.client.result("/status").await["sequencer"]
        .as_bool()
        .unwrap();
    let sb = b.client.result("/status").await["sequencer"]
        .as_bool()
        .unwrap();
    assert!(sa != sb, "exactly one node sequences (a: {sa}, b: {sb})");
    if sa {
        (a, b)
    } else {
        (b, a)
    }
}

fn nct(n: u128) -> Amount {
    Amount::from_wei(n * WEI_PER_NCT)
}

async fn balance(node: &TestNode, key: u32) -> Value {
    node.client
        .result(&format!("/balances/{}/nct", dev_key(key).address()))
        .await
}

/// Waits until `node` has applied block `n`.
async fn caught_up(node: &TestNode, n: u64) {
    tokio::time::timeout(Duration::from_secs(20), node.client.wait_for_block(n))
        .await
        .unwrap_or_else(|_| panic!("{} never reached block {n}", node.url()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_forwards_submissions_and_its_reads_catch_up() {
    let (seq, fol) = pair().await;
    let status = fol.client.result("/status").await;
    assert_eq!(status["sequencer"], false);
    assert_eq!(status["community"], "dev");

    // Submitted to the follower, included by the sequencer.
    let minted = fol
        .client
        .send(
            &dev_key(5),
            Mint {
                to: dev_key(5).address(),
                amount: nct(1_234),
            },
        )
        .await;
    let moved = fol
        .client
        .send(
            &dev_key(5),
            Transfer {
                to: dev_key(6).address(),
                amount: nct(200),
            },
        )
        .await;
    // And one submitted to the sequencer directly.
    let direct = seq
        .client
        .send(
            &dev_key(0),
            Transfer {
                to: dev_key(7).address(),
                amount: nct(3),
            },
        )
        .await;

    for (result, name) in [
        (&minted, "nct:Mint"),
        (&moved, "nct:Transfer"),
        (&direct, "nct:Transfer"),
    ] {
        let hash = result["hash"].as_str().unwrap();
        let on_seq = seq.client.result(&format!("/transactions/{hash}")).await;
        let on_fol = fol.client.result(&format!("/transactions/{hash}")).await;
        assert_eq!(on_seq, on_fol, "receipt of {hash}");
        assert_eq!(on_fol["name"], name);
        assert_eq!(on_fol["block_number"], result["block_number"]);
        assert!(!on_fol["events"].as_array().unwrap().is_empty(), "{on_fol}");
    }

    let last = direct["block_number"]
        .as_u64()
        .unwrap()
        .max(moved["block_number"].as_u64().unwrap());
    caught_up(&fol, last).await;
    let expected = [
        (5, nct(1_034)),
        (6, nct(200)),
        (7, nct(3)),
        (0, nct(1_000_000 - 3)),
    ];
    for (key, amount) in expected {
        let want = serde_json::to_value(amount).unwrap();
        assert_eq!(
            balance(&fol, key).await,
            want,
            "follower's balance of dev key {key}"
        );
        assert_eq!(
            balance(&seq, key).await,
            want,
            "sequencer's balance of dev key {key}"
        );
    }

    // Blocks read the same on both, and the follower's tip is the sequencer's block.
    for n in 1..=last {
        assert_eq!(
            seq.client.result(&format!("/blocks/{n}")).await,
            fol.client.result(&format!("/blocks/{n}")).await,
            "block {n}"
        );
    }
    let status = fol.client.result("/status").await;
    let n = status["block"].as_u64().unwrap();
    assert!(n >= last);
    let block = seq.client.result(&format!("/blocks/{n}")).await;
    assert_eq!(
        status["block_hash"], block["hash"],
        "the follower's tip is block {n}"
    );
    // Nothing but empty blocks since: the supply reads the same on both.
    assert_eq!(
        status["supply"],
        seq.client.result("/status").await["supply"]
    );

    // A transaction the sequencer refuses is refused through the follower
    // with the sequencer's status and message.
    let overdraft = fol
        .client
        .sign(
            &dev_key(6),
            Transfer {
                to: dev_key(5).address(),
                amount: nct(1_000),
            },
        )
        .await;
    let (code, body) = fol
        .client
        .submit(std::slice::from_ref(&overdraft), true)
        .await;
    assert!((400..500).contains(&code), "{code} {body}");
    assert_eq!(body["status"], "FAIL", "{body}");
    assert_eq!((code, body), seq.client.submit(&[overdraft], true).await);
}

/// Reads JSON text frames until one satisfies `stop`, returning every frame
/// read (the stopping one included).
async fn read_until<S>(ws: &mut S, stop: impl Fn(&Value) -> bool) -> Vec<Value>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("timed out; frames so far: {seen:?}"))
            .expect("the stream ended")
            .unwrap();
        let Message::Text(text) = frame else {
            continue;
        };
        let value: Value = serde_json::from_str(&text).unwrap();
        let done = stop(&value);
        seen.push(value);
        if done {
            return seen;
        }
    }
}

async fn events(
    node: &TestNode,
    query: &str,
) -> impl futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin
{
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/events{query}", node.node.addr()))
            .await
            .unwrap();
    let hello = read_until(&mut ws, |_| true).await;
    assert_eq!(hello[0]["event"], "connected", "{hello:?}");
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_streams_the_committed_events() {
    let (seq, fol) = pair().await;
    let mut live = events(&fol, "").await;

    let minted = fol
        .client
        .send(
            &dev_key(9),
            Mint {
                to: dev_key(9).address(),
                amount: nct(77),
            },
        )
        .await;
    let hash = minted["hash"].as_str().unwrap().to_owned();
    let n = minted["block_number"].as_u64().unwrap();

    // Live: the block's own event, then the mint, from the follower.
    let seen = read_until(&mut live, |e| e["txhash"] == hash.as_str()).await;
    let mint = seen.last().unwrap();
    assert_eq!(mint["event"], "mint", "{mint}");
    assert_eq!(mint["block_number"], n);
    assert_eq!(mint["data"]["to"], dev_key(9).address().to_string());
    assert!(
        seen.iter()
            .any(|e| e["event"] == "block" && e["block_number"] == n),
        "the block event of {n} came first: {seen:?}"
    );

    // Replayed from `since`, then live: the follower's stream is the
    // sequencer's, event for event.
    let past = |e: &Value| e["block_number"].as_u64().unwrap() > n + 3;
    let mut from_fol = read_until(&mut events(&fol, &format!("?since={n}")).await, past).await;
    let mut from_seq = read_until(&mut events(&seq, &format!("?since={n}")).await, past).await;
    from_fol.pop();
    from_seq.pop();
    assert_eq!(from_fol, from_seq);
    assert_eq!(from_fol[0]["event"], "block");
    assert_eq!(from_fol[0]["block_number"], n);
    assert!(from_fol.iter().any(|e| e["txhash"] == hash.as_str()));
    let blocks: Vec<u64> = from_fol
        .iter()
        .filter(|e| e["event"] == "block")
        .map(|e| e["block_number"].as_u64().unwrap())
        .collect();
    assert_eq!(blocks, vec![n, n + 1, n + 2, n + 3]);
}

/// When the sequencer's node goes away, the follower takes the lock within
/// a couple of seconds, continues the same chain, and accepts submissions
/// itself; until then, a submission gets a clear 503, never a hang or a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_takes_over_when_the_sequencer_goes_away() {
    let (seq, fol) = pair().await;
    let minted = fol
        .client
        .send(
            &dev_key(4),
            Mint {
                to: dev_key(4).address(),
                amount: nct(5),
            },
        )
        .await;
    let n = minted["block_number"].as_u64().unwrap();
    let last_hash = seq.client.result(&format!("/blocks/{n}")).await["hash"].clone();
    seq.node.shutdown().await.unwrap();

    caught_up(&fol, n).await;
    assert_eq!(
        balance(&fol, 4).await,
        serde_json::to_value(nct(5)).unwrap()
    );
    let mut waited = 0;
    while fol.client.result("/status").await["sequencer"] != true {
        assert!(waited < 100, "the follower never took over");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let sent = tokio::time::timeout(
        Duration::from_secs(20),
        fol.client.send(
            &dev_key(4),
            Transfer {
                to: dev_key(3).address(),
                amount: nct(1),
            },
        ),
    )
    .await
    .expect("a submission to the new sequencer must not hang");
    let m = sent["block_number"].as_u64().unwrap();
    assert!(m > n);
    // The same chain goes on: block n is unchanged and the balances follow.
    assert_eq!(
        fol.client.result(&format!("/blocks/{n}")).await["hash"],
        last_hash
    );
    assert_eq!(
        balance(&fol, 4).await,
        serde_json::to_value(nct(4)).unwrap()
    );
}
