//! The event stream (`GET /events?since=`) over a real WebSocket on loopback:
//! a client that connects with `since=` after the fact receives exactly the
//! events it missed, in order, then live ones, with no gap and no duplicate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, Client, TestNode};
use swarm_protocol::{Amount, Mint, PrivateKey, SignedTx, Transfer, Tx, TxBody};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio_tungstenite::tungstenite::{self, Message};

/// How long a subscriber waits for the next event before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

fn ws_url(http: &str, query: &str) -> String {
    format!("{}/events{query}", http.replacen("http://", "ws://", 1))
}

/// A WebSocket subscriber whose messages are read in the background, so the
/// server never waits on a test that is busy elsewhere.
struct Subscriber {
    rx: UnboundedReceiver<Value>,
    peeked: Option<Value>,
    /// The `connected` message.
    connected: Value,
}

impl Subscriber {
    async fn connect(http: &str, query: &str) -> Subscriber {
        let (mut ws, response) = tokio_tungstenite::connect_async(ws_url(http, query).as_str())
            .await
            .unwrap_or_else(|e| panic!("connecting to /events{query}: {e}"));
        assert_eq!(response.status().as_u16(), 101);
        let (tx, rx) = unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message {
                    let value: Value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("event is not JSON ({e}): {text}"));
                    if tx.send(value).is_err() {
                        return;
                    }
                }
            }
        });
        let mut s = Subscriber {
            rx,
            peeked: None,
            connected: Value::Null,
        };
        s.connected = s.next().await;
        assert_eq!(s.connected["event"], "connected", "{}", s.connected);
        assert_eq!(s.connected["data"]["community"], "dev", "{}", s.connected);
        s
    }

    /// The connection's tip when it connected.
    fn tip(&self) -> u64 {
        self.connected["data"]["block"].as_u64().unwrap()
    }

    async fn next(&mut self) -> Value {
        if let Some(v) = self.peeked.take() {
            return v;
        }
        tokio::time::timeout(PATIENCE, self.rx.recv())
            .await
            .expect("no event within the patience")
            .expect("the event stream closed")
    }

    /// Every event up to and including block `last`; returns once an event
    /// of a later block arrived (kept for the next read).
    async fn until_block(&mut self, last: u64) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let v = self.next().await;
            if block_of(&v) > last {
                self.peeked = Some(v);
                return out;
            }
            out.push(v);
        }
    }
}

fn block_of(v: &Value) -> u64 {
    v["block_number"]
        .as_u64()
        .unwrap_or_else(|| panic!("event without block_number: {v}"))
}

fn seq_of(v: &Value) -> u64 {
    v["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("event without seq: {v}"))
}

/// What identifies an event on the wire.
fn key(v: &Value) -> Value {
    json!([
        v["block_number"],
        v["seq"],
        v["event"],
        v["data"],
        v["txhash"]
    ])
}

fn keys(events: &[Value]) -> Vec<Value> {
    events.iter().map(key).collect()
}

/// Checks that `events` start at `(first_block, 0)` and run without gap or
/// duplicate: each event is the next seq of its block, or seq 0 (the
/// `block` event) of the next block.
fn assert_contiguous(events: &[Value], first_block: u64, who: &str) {
    assert!(!events.is_empty(), "{who}: no events");
    assert_eq!(
        (block_of(&events[0]), seq_of(&events[0])),
        (first_block, 0),
        "{who}: first event {}",
        events[0]
    );
    for pair in events.windows(2) {
        let (b0, s0) = (block_of(&pair[0]), seq_of(&pair[0]));
        let (b1, s1) = (block_of(&pair[1]), seq_of(&pair[1]));
        assert!(
            (b1 == b0 && s1 == s0 + 1) || (b1 == b0 + 1 && s1 == 0),
            "{who}: gap or duplicate between {} and {}",
            pair[0],
            pair[1]
        );
        if s1 == 0 {
            assert_eq!(pair[1]["event"], "block", "{who}: {}", pair[1]);
            assert_eq!(
                pair[1]["data"]["number"].as_u64(),
                Some(b1),
                "{who}: {}",
                pair[1]
            );
        }
    }
}

fn sign(key: &PrivateKey, expires: u64, body: impl Into<TxBody>) -> SignedTx {
    Tx::new(key.address(), "dev", expires, body).sign(key)
}

/// Sends and returns (hash, block number).
async fn send(c: &Client, key: &PrivateKey, body: impl Into<TxBody>) -> (String, u64) {
    let r = c.send(key, body).await;
    (
        r["hash"].as_str().unwrap().to_owned(),
        r["block_number"].as_u64().unwrap(),
    )
}

fn has_tx(events: &[Value], hash: &str) -> bool {
    events.iter().any(|e| e["txhash"] == hash)
}

async fn replay_then_live(backend: Backend) {
    let t = TestNode::start(backend, test_genesis()).await;
    let c = &t.client;
    let url = t.url();
    let alice = dev_key(40);
    let bob = dev_key(41);

    // A live subscriber from the start: it sees everything after its tip.
    let mut live = Subscriber::connect(&url, "").await;
    let start = live.tip();

    // ---- activity before the late client connects --------------------------------
    let mut before = Vec::new();
    for i in 0..3u128 {
        let to = alice.address();
        before.push(
            send(
                c,
                &alice,
                Mint {
                    to,
                    amount: Amount::from_wei(1000 + i),
                },
            )
            .await,
        );
    }
    // One block with more events than one replay page (1,000).
    let expires = c.block().await + 100;
    let batch: Vec<SignedTx> = (0..1000u128)
        .map(|i| {
            let mint = Mint {
                to: bob.address(),
                amount: Amount::from_wei(i + 1),
            };
            sign(&bob, expires, mint)
        })
        .collect();
    let (status, body) = c.submit(&batch, true).await;
    assert_eq!(status, 200, "{body}");
    let items = body["result"].as_array().unwrap();
    assert_eq!(items.len(), 1000);
    let big_block = items[0]["block_number"].as_u64().unwrap();
    for item in items {
        assert_eq!(item["status"], "included", "{item}");
        assert_eq!(item["block_number"].as_u64(), Some(big_block), "{item}");
    }
    for i in 0..2u128 {
        let to = bob.address();
        before.push(
            send(
                c,
                &alice,
                Transfer {
                    to,
                    amount: Amount::from_wei(1 + i),
                },
            )
            .await,
        );
    }
    // The late client asks from the block of the second mint on.
    let mid = before[1].1;
    assert!(mid < big_block);

    // ---- a client connecting after the fact --------------------------------------
    let mut late = Subscriber::connect(&url, &format!("?since={mid}")).await;
    assert!(late.tip() >= before.last().unwrap().1);

    // ---- activity after it connected ----------------------------------------------
    let mut after = Vec::new();
    for i in 0..3u128 {
        let to = alice.address();
        after.push(
            send(
                c,
                &bob,
                Transfer {
                    to,
                    amount: Amount::from_wei(10 + i),
                },
            )
            .await,
        );
    }
    let last = after.last().unwrap().1 + 1;

    let seen_live = live.until_block(last).await;
    let seen_late = late.until_block(last).await;

    // The live subscriber saw everything after its tip, contiguous.
    assert_contiguous(&seen_live, start + 1, "live subscriber");
    // The late one saw exactly the same events from `mid` on, in the same
    // order: the stored ones, then the live ones, no gap, no duplicate.
    assert_contiguous(&seen_late, mid, "late subscriber");
    let live_from_mid: Vec<Value> = seen_live
        .iter()
        .filter(|e| block_of(e) >= mid)
        .cloned()
        .collect();
    assert_eq!(keys(&seen_late).len(), keys(&live_from_mid).len());
    assert_eq!(keys(&seen_late), keys(&live_from_mid));
    // The big block came through whole (its block event and 1,000 mints).
    let in_big: Vec<&Value> = seen_late
        .iter()
        .filter(|e| block_of(e) == big_block)
        .collect();
    assert_eq!(in_big.len(), 1001);
    assert_eq!(in_big.iter().filter(|e| e["event"] == "mint").count(), 1000);
    for item in items {
        assert!(has_tx(&seen_late, item["hash"].as_str().unwrap()));
    }
    assert!(
        !has_tx(&seen_late, &before[0].0),
        "an event before since={mid} was sent"
    );
    for (hash, _) in before.iter().skip(1).chain(&after) {
        assert!(has_tx(&seen_late, hash), "the late client missed {hash}");
        assert!(has_tx(&seen_live, hash), "the live client missed {hash}");
    }
    // Each transaction's events match its receipt.
    for (hash, _) in &after {
        let receipt = c.result(&format!("/transactions/{hash}")).await;
        let streamed: Vec<Value> = seen_late
            .iter()
            .filter(|e| e["txhash"] == hash.as_str())
            .map(key)
            .collect();
        let stored: Vec<Value> = receipt["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(key)
            .collect();
        assert_eq!(streamed, stored, "{hash}");
    }

    // ---- since=0 replays the whole chain -------------------------------------------
    let mut all = Subscriber::connect(&url, "?since=0").await;
    let seen_all = all.until_block(last).await;
    assert_contiguous(&seen_all, 1, "since=0 subscriber");
    let all_after_start: Vec<Value> = seen_all
        .iter()
        .filter(|e| block_of(e) > start)
        .cloned()
        .collect();
    assert_eq!(keys(&all_after_start), keys(&seen_live));

    // ---- no since: live only ---------------------------------------------------------
    let mut fresh = Subscriber::connect(&url, "").await;
    let fresh_tip = fresh.tip();
    assert!(fresh_tip >= last);
    let (hash, block) = send(
        c,
        &alice,
        Transfer {
            to: bob.address(),
            amount: Amount::from_wei(99),
        },
    )
    .await;
    let seen_fresh = fresh.until_block(block).await;
    assert_contiguous(&seen_fresh, fresh_tip + 1, "subscriber without since");
    assert!(has_tx(&seen_fresh, &hash));
    // The earlier subscribers go on live too.
    for (s, who) in [
        (&mut live, "live"),
        (&mut late, "late"),
        (&mut all, "since=0"),
    ] {
        let more = s.until_block(block).await;
        assert!(has_tx(&more, &hash), "{who} missed {hash}");
        assert_eq!(block_of(&more[0]), last + 1, "{who}: {}", more[0]);
    }

    // ---- since beyond the tip: live -------------------------------------------------
    let tip = c.block().await;
    let mut ahead = Subscriber::connect(&url, &format!("?since={}", tip + 1000)).await;
    let ahead_tip = ahead.tip();
    let (hash, block) = send(
        c,
        &bob,
        Transfer {
            to: alice.address(),
            amount: Amount::from_wei(5),
        },
    )
    .await;
    let seen_ahead = ahead.until_block(block).await;
    assert_contiguous(
        &seen_ahead,
        ahead_tip + 1,
        "subscriber with since beyond the tip",
    );
    assert!(has_tx(&seen_ahead, &hash));

    // ---- a bad since is refused before the upgrade ---------------------------------
    for bad in ["abc", "-1", "1.5", ""] {
        match tokio_tungstenite::connect_async(ws_url(&url, &format!("?since={bad}")).as_str())
            .await
        {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 400, "since={bad}");
                let body: Value =
                    serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
                assert_eq!(body["status"], "FAIL", "{body}");
                assert!(body["errors"].as_str().unwrap().contains("since"), "{body}");
            }
            Err(e) => panic!("since={bad}: unexpected error {e}"),
            Ok(_) => panic!("since={bad} was accepted"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_then_live_sqlite() {
    replay_then_live(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_then_live_postgres() {
    replay_then_live(Backend::Postgres).await;
}
