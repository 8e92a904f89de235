//! A full bounty lifecycle over real HTTP and WebSocket on loopback, on
//! SQLite and on PostgreSQL: faucet mints, an arbiter's stake, an artifact
//! upload, a bounty, three assertions (one wrong, one never revealed), the
//! reveals, a vote and the automatic settlement — with every balance checked
//! to the wei against an independent computation of SPEC §3.9 written here.
//! Also: graceful shutdown commits the block in progress.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use sha2::Digest;
use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, Client, TestNode};
use swarm_protocol::{
    commitment, keccak256, Address, Amount, ArtifactMetadata, ArtifactType, Assert, Bits256,
    Genesis, Guid, Mint, PostBounty, PrivateKey, Reveal, SignedTx, StakeDeposit, Transfer, Tx,
    TxBody, Vote, H256, WEI_PER_NCT,
};

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
const BENIGN: &[u8] = b"Nothing to see here: a perfectly harmless text file.\n";

/// The test genesis with roomier windows, so that a loaded CI machine
/// cannot make a reveal or a vote miss its round.
fn genesis() -> Genesis {
    let mut g = test_genesis();
    g.parameters.max_duration = Some(40);
    g.parameters.assertion_reveal_window = Some(10);
    g.parameters.arbiter_vote_window = Some(20);
    g
}

fn nct(n: u128) -> u128 {
    n * WEI_PER_NCT
}

fn wei(v: &Value) -> u128 {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a decimal wei string"))
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn json_of<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap()
}

/// Signs `body` from `key`, valid until `expires`.
fn sign(key: &PrivateKey, expires: u64, body: impl Into<TxBody>) -> SignedTx {
    Tx::new(key.address(), "dev", expires, body).sign(key)
}

async fn balance(c: &Client, a: &Address) -> u128 {
    wei(&c.result(&format!("/balances/{a}/nct")).await)
}

async fn bounty(c: &Client, guid: &Guid) -> Value {
    c.result(&format!("/bounties/{guid}")).await
}

/// Waits for an included receipt of `hash`.
async fn receipt(c: &Client, hash: &str) -> Value {
    for _ in 0..1000 {
        let (status, body) = c.get(&format!("/transactions/{hash}")).await;
        if status == 200 {
            assert_eq!(body["status"], "OK", "{body}");
            return body["result"].clone();
        }
        assert_eq!(status, 404, "{body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("transaction {hash} was never included");
}

/// Checks that `receipt` carries an event named `event` produced by its own
/// transaction, and returns it.
fn receipt_event(receipt: &Value, event: &str) -> Value {
    let events = receipt["events"].as_array().unwrap();
    let found = events
        .iter()
        .find(|e| e["event"] == event)
        .unwrap_or_else(|| panic!("no {event} event in receipt {receipt}"))
        .clone();
    for e in events {
        assert_eq!(e["txhash"], receipt["hash"], "{receipt}");
        assert_eq!(e["block_number"], receipt["block_number"], "{receipt}");
    }
    found
}

/// Checks SPEC §3.9's invariant through `/status` when the node reports its supply.
async fn check_supply(c: &Client) {
    let status = c.result("/status").await;
    let s = &status["supply"];
    if s.is_object() {
        assert_eq!(
            wei(&s["balances"]) + wei(&s["escrow"]) + wei(&s["staked"]) + wei(&s["treasury"]),
            wei(&s["minted"]),
            "supply invariant broken: {status}"
        );
    }
}

// ---- an independent settlement (SPEC §3.9) -----------------------------------

struct ExpertModel {
    account: Address,
    /// Artifacts asserted on, ascending.
    mask: Vec<usize>,
    /// One bid per mask entry.
    bids: Vec<u128>,
    /// Revealed verdicts (index = artifact), or None when never revealed.
    revealed: Option<Vec<bool>>,
}

struct VoterModel {
    account: Address,
    votes: Vec<bool>,
    stake: u128,
}

#[derive(Debug, Default, PartialEq)]
struct Outcome {
    ambassador: u128,
    experts: Vec<u128>,
    arbiters: Vec<u128>,
    treasury: u128,
}

/// floor(a * b / c) with a 256-bit product (stakes are ~1e25 wei, so the
/// pro-rata split overflows u128), by schoolbook long division.
fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    assert!(c > 0);
    // a * b as hi:lo, from 64-bit halves.
    let (a1, a0) = (a >> 64, a & u128::from(u64::MAX));
    let (b1, b0) = (b >> 64, b & u128::from(u64::MAX));
    let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    let mid = (p00 >> 64) + (p01 & u128::from(u64::MAX)) + (p10 & u128::from(u64::MAX));
    let lo = (p00 & u128::from(u64::MAX)) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    // Divide hi:lo by c one bit at a time; the quotient must fit u128.
    let (mut q, mut r) = (0u128, 0u128);
    for i in (0..256).rev() {
        let bit = if i >= 128 {
            (hi >> (i - 128)) & 1
        } else {
            (lo >> i) & 1
        };
        let carry = r >> 127;
        r = (r << 1) | bit;
        q = q
            .checked_shl(1)
            .filter(|_| q >> 127 == 0)
            .expect("quotient overflows u128");
        if carry == 1 || r >= c {
            r = r.wrapping_sub(c);
            q |= 1;
        }
    }
    q
}

#[test]
fn mul_div_is_exact() {
    assert_eq!(mul_div(7, 3, 2), 10);
    assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), u128::MAX);
    assert_eq!(mul_div(u128::MAX, 2, 4), u128::MAX / 2);
    assert_eq!(mul_div(1 << 100, 1 << 100, 1 << 90), 1 << 110);
    assert_eq!(
        mul_div(10u128.pow(25), 10u128.pow(20) + 7, 3 * 10u128.pow(25)),
        (10u128.pow(20) + 7) / 3
    );
}

/// SPEC §3.9, from its table, with integer division throughout.
fn settle(
    n: usize,
    amt: u128,
    bf: u128,
    af: u128,
    experts: &[ExpertModel],
    voters: &[VoterModel],
) -> Outcome {
    let p = amt / n as u128;
    let a = experts.len() as u128;
    let asserted = |i: usize| experts.iter().any(|e| e.mask.contains(&i));
    let unasserted_p: u128 = (0..n).filter(|&i| !asserted(i)).map(|_| p).sum();
    let total_stake: u128 = voters.iter().map(|v| v.stake).sum();
    // Splits `remainder` among the voters pro rata to stake; dust to the treasury.
    let split = |remainder: u128| -> (Vec<u128>, u128) {
        let shares: Vec<u128> = voters
            .iter()
            .map(|v| mul_div(remainder, v.stake, total_stake))
            .collect();
        let dust = remainder - shares.iter().sum::<u128>();
        (shares, dust)
    };
    let mut out = Outcome {
        experts: vec![0; experts.len()],
        ..Outcome::default()
    };
    match (experts.is_empty(), voters.is_empty()) {
        (true, true) => out.ambassador = amt + bf,
        (true, false) => {
            out.ambassador = amt;
            (out.arbiters, out.treasury) = split(bf);
        }
        (false, true) => {
            out.ambassador = bf + unasserted_p;
            for (j, e) in experts.iter().enumerate() {
                out.experts[j] = af + e.bids.iter().sum::<u128>() + e.mask.len() as u128 * (p / a);
            }
            let total = bf + amt + a * af + experts.iter().flat_map(|e| &e.bids).sum::<u128>();
            out.treasury = total - out.ambassador - out.experts.iter().sum::<u128>();
        }
        (false, false) => {
            out.ambassador = unasserted_p;
            let v = voters.len();
            for i in 0..n {
                let mal = voters.iter().filter(|x| x.votes[i]).count();
                let consensus = mal >= v - mal;
                // (expert, bid, right?)
                let on_i: Vec<(usize, u128, bool)> = experts
                    .iter()
                    .enumerate()
                    .filter_map(|(j, e)| {
                        let pos = e.mask.iter().position(|&m| m == i)?;
                        let verdict = match &e.revealed {
                            Some(verdicts) => verdicts[i],
                            None => !consensus,
                        };
                        Some((j, e.bids[pos], verdict == consensus))
                    })
                    .collect();
                let wp: u128 = on_i.iter().filter(|x| x.2).map(|x| x.1).sum();
                let lp: u128 = on_i.iter().filter(|x| !x.2).map(|x| x.1).sum();
                if wp == 0 {
                    continue;
                }
                for &(j, b, right) in &on_i {
                    if right {
                        out.experts[j] += b + mul_div(b, lp, wp) + mul_div(b, p, wp);
                    }
                }
            }
            let total = bf + amt + a * af + experts.iter().flat_map(|e| &e.bids).sum::<u128>();
            let remainder = total - out.ambassador - out.experts.iter().sum::<u128>();
            (out.arbiters, out.treasury) = split(remainder);
        }
    }
    out
}

#[test]
fn the_model_reproduces_the_reference_case() {
    // SPEC §3.9: amt 20 NCT, n = 2; X and Y bid 1 NCT on both artifacts; on
    // artifact 0 only X is right, on artifact 1 both are wrong.
    let (x, y, arb) = (Address([1; 20]), Address([2; 20]), Address([3; 20]));
    let (bf, af) = (62_500_000_000_000_000, 31_250_000_000_000_000);
    let expert = |account, verdicts: Vec<bool>| ExpertModel {
        account,
        mask: vec![0, 1],
        bids: vec![nct(1), nct(1)],
        revealed: Some(verdicts),
    };
    let out = settle(
        2,
        nct(20),
        bf,
        af,
        &[expert(x, vec![true, true]), expert(y, vec![false, true])],
        &[VoterModel {
            account: arb,
            votes: vec![true, false],
            stake: nct(10_000_000),
        }],
    );
    assert_eq!(out.ambassador, 0);
    assert_eq!(out.experts, vec![nct(12), 0]);
    assert_eq!(out.arbiters, vec![nct(2) + nct(10) + 2 * af + bf]);
    assert_eq!(out.treasury, 0);
}

// ---- the lifecycle ---------------------------------------------------------

/// Reads WebSocket events into a channel, in the background.
async fn subscribe(url: &str) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    let ws_url = format!("{}/events", url.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                if tx.send(value).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn is_about(event: &Value, guid: &str) -> bool {
    event["data"]["guid"] == guid || event["data"]["bounty_guid"] == guid
}

async fn lifecycle(backend: Backend) {
    let t = TestNode::start(backend, genesis()).await;
    let c = &t.client;
    let mut events = subscribe(&t.url()).await;
    let connected = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connected["event"], "connected", "{connected}");

    let owner = dev_key(0);
    let arbiter = dev_key(1);
    let ambassador = dev_key(20);
    let engines = [dev_key(21), dev_key(22), dev_key(23)];

    let params = c.result("/bounties/parameters").await;
    let bf = wei(&params["bounty_fee"]);
    let af = wei(&params["assertion_fee"]);
    assert_eq!(bf, 62_500_000_000_000_000, "{params}");
    assert_eq!(af, 31_250_000_000_000_000, "{params}");
    let staking = c.result("/staking/parameters").await;
    let minimum_stake = wei(&staking["minimum_stake"]);
    assert_eq!(minimum_stake, nct(10_000_000));

    // Every balance the test touches, tracked independently.
    let mut expected: BTreeMap<Address, u128> = BTreeMap::new();
    expected.insert(owner.address(), nct(1_000_000));
    expected.insert(arbiter.address(), nct(20_000_000));
    expected.insert(ambassador.address(), 0);
    for e in &engines {
        expected.insert(e.address(), 0);
    }
    let mut sent: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut hashes: Vec<(String, u64)> = Vec::new();
    macro_rules! check_balances {
        ($when:expr) => {
            for (account, want) in &expected {
                assert_eq!(
                    balance(c, account).await,
                    *want,
                    "balance of {account} {}",
                    $when
                );
            }
            check_supply(c).await;
        };
    }
    check_balances!("at genesis");

    // ---- funding through the faucet -------------------------------------------
    let amb_funds = nct(100) + 123;
    let r = c
        .send(
            &ambassador,
            Mint {
                to: ambassador.address(),
                amount: Amount::from_wei(amb_funds),
            },
        )
        .await;
    *expected.get_mut(&ambassador.address()).unwrap() += amb_funds;
    hashes.push((
        r["hash"].as_str().unwrap().to_owned(),
        r["block_number"].as_u64().unwrap(),
    ));
    *sent.entry("nct:Mint").or_default() += 1;
    for (i, e) in engines.iter().enumerate() {
        // The owner mints for the first engine; the others help themselves.
        let from = if i == 0 { &owner } else { e };
        let amount = nct(5) + i as u128;
        let r = c
            .send(
                from,
                Mint {
                    to: e.address(),
                    amount: Amount::from_wei(amount),
                },
            )
            .await;
        *expected.get_mut(&e.address()).unwrap() += amount;
        hashes.push((
            r["hash"].as_str().unwrap().to_owned(),
            r["block_number"].as_u64().unwrap(),
        ));
        *sent.entry("nct:Mint").or_default() += 1;
    }

    // A submission without wait answers "pending" at once, then is included
    // in the block it was accepted into.
    let expires = c.block().await + 100;
    let gift = sign(
        &ambassador,
        expires,
        Transfer {
            to: engines[2].address(),
            amount: Amount::from_wei(7),
        },
    );
    let (status, body) = c.submit(std::slice::from_ref(&gift), false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "OK", "{body}");
    assert_eq!(body["result"]["status"], "pending", "{body}");
    let gift_hash = gift.hash().to_string();
    assert_eq!(body["result"]["hash"], gift_hash.as_str(), "{body}");
    let accepted_in = body["result"]["block_number"].as_u64().unwrap();
    let gift_receipt = receipt(c, &gift_hash).await;
    assert_eq!(gift_receipt["status"], "included", "{gift_receipt}");
    assert_eq!(
        gift_receipt["block_number"].as_u64(),
        Some(accepted_in),
        "{gift_receipt}"
    );
    assert_eq!(gift_receipt["name"], "nct:Transfer", "{gift_receipt}");
    assert_eq!(
        gift_receipt["from"],
        json_of(&ambassador.address()),
        "{gift_receipt}"
    );
    let transfer = receipt_event(&gift_receipt, "transfer");
    assert_eq!(transfer["data"]["amount"], "7", "{transfer}");
    *expected.get_mut(&ambassador.address()).unwrap() -= 7;
    *expected.get_mut(&engines[2].address()).unwrap() += 7;
    hashes.push((gift_hash.clone(), accepted_in));
    *sent.entry("nct:Transfer").or_default() += 1;

    // ---- the arbiter stakes ---------------------------------------------------
    let r = c
        .send(
            &arbiter,
            StakeDeposit {
                amount: Amount::from_wei(minimum_stake),
            },
        )
        .await;
    *expected.get_mut(&arbiter.address()).unwrap() -= minimum_stake;
    hashes.push((
        r["hash"].as_str().unwrap().to_owned(),
        r["block_number"].as_u64().unwrap(),
    ));
    *sent.entry("staking:Deposit").or_default() += 1;
    let stake = wei(&c
        .result(&format!("/balances/{}/staking/total", arbiter.address()))
        .await);
    assert_eq!(stake, minimum_stake);
    check_balances!("after funding");

    // ---- artifacts --------------------------------------------------------------
    let files: [(&str, &[u8]); 2] = [("eicar.com", EICAR), ("readme.txt", BENIGN)];
    let (uri, metadata) = c.upload(&files).await;
    assert_eq!(metadata.as_array().unwrap().len(), 2, "{metadata}");
    for (i, (name, bytes)) in files.iter().enumerate() {
        let sha256 = hex::encode(sha2::Sha256::digest(bytes));
        assert_eq!(metadata[i]["sha256"], sha256.as_str(), "{metadata}");
        assert_eq!(metadata[i]["filename"], *name, "{metadata}");
        assert_eq!(
            metadata[i]["filesize"].as_u64(),
            Some(bytes.len() as u64),
            "{metadata}"
        );
        let stat = c.result(&format!("/artifacts/{uri}/{i}/stat")).await;
        assert_eq!(stat["sha256"], sha256.as_str(), "{stat}");
        assert_eq!(
            stat["filesize"].as_u64(),
            Some(bytes.len() as u64),
            "{stat}"
        );
        let response = c
            .http
            .get(format!("{}/artifacts/{uri}/{i}", c.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let downloaded = response.bytes().await.unwrap();
        assert_eq!(&downloaded[..], *bytes, "artifact {i} came back different");
    }
    let listed = c.result(&format!("/artifacts/{uri}")).await;
    assert_eq!(listed, metadata);

    // ---- the bounty ---------------------------------------------------------------
    let guid = Guid::new_v4();
    let guid_text = guid.to_string();
    let amt = nct(1) + 3; // odd on purpose: p = amt / 2 leaves a wei of dust
    let duration = 30;
    let post = PostBounty {
        guid,
        artifact_type: ArtifactType::File,
        amount: Amount::from_wei(amt),
        uri: uri.clone(),
        num_artifacts: 2,
        duration,
        metadata: Some(serde_json::from_value::<Vec<ArtifactMetadata>>(metadata.clone()).unwrap()),
    };
    let r = c.send(&ambassador, post).await;
    let post_hash = r["hash"].as_str().unwrap().to_owned();
    let posted_block = r["block_number"].as_u64().unwrap();
    hashes.push((post_hash.clone(), posted_block));
    *sent.entry("bounty:Post").or_default() += 1;
    *expected.get_mut(&ambassador.address()).unwrap() -= amt + bf;

    let b = bounty(c, &guid).await;
    assert_eq!(b["guid"], guid_text.as_str(), "{b}");
    assert_eq!(b["author"], json_of(&ambassador.address()), "{b}");
    assert_eq!(wei(&b["amount"]), amt, "{b}");
    assert_eq!(wei(&b["fee"]), bf, "{b}");
    assert_eq!(b["uri"], uri.as_str(), "{b}");
    assert_eq!(b["num_artifacts"], 2, "{b}");
    assert_eq!(b["posted_block"].as_u64(), Some(posted_block), "{b}");
    assert_eq!(b["round"], "assertion", "{b}");
    assert!(b["settlement"].is_null(), "{b}");
    let expiration = b["expiration"].as_u64().unwrap();
    let reveal_deadline = b["reveal_deadline"].as_u64().unwrap();
    let vote_deadline = b["vote_deadline"].as_u64().unwrap();
    assert_eq!(expiration, posted_block + duration, "{b}");
    assert_eq!(reveal_deadline, expiration + 10, "{b}");
    assert_eq!(vote_deadline, reveal_deadline + 20, "{b}");
    let post_receipt = receipt(c, &post_hash).await;
    let posted = receipt_event(&post_receipt, "bounty");
    assert_eq!(posted["data"]["guid"], guid_text.as_str(), "{posted}");
    assert_eq!(
        posted["data"]["expiration"].as_u64(),
        Some(expiration),
        "{posted}"
    );
    check_balances!("after posting");

    // ---- three assertions -------------------------------------------------------
    // Artifact 0 (EICAR) is malicious, artifact 1 benign.
    // Engine 0: both artifacts, right on both.
    // Engine 1: both artifacts, says both benign: wrong on 0, right on 1.
    // Engine 2: artifact 0 only, never reveals: counts as wrong.
    let plans: [(Vec<usize>, Vec<u128>, Vec<bool>); 3] = [
        (
            vec![0, 1],
            vec![nct(1) / 2 + 1, nct(1) / 4],
            vec![true, false],
        ),
        (
            vec![0, 1],
            vec![nct(3) / 10 + 7, nct(1) / 10 + 3],
            vec![false, false],
        ),
        (vec![0], vec![nct(1) / 5 + 11], vec![true, false]),
    ];
    let nonces: Vec<H256> = (0..3)
        .map(|i| keccak256(format!("nonce {i} {guid}")))
        .collect();
    for (j, (mask, bids, verdicts)) in plans.iter().enumerate() {
        let engine = &engines[j];
        let verdict_bits = Bits256::from_bools(verdicts);
        let assert = Assert {
            bounty_guid: guid,
            mask: Bits256::from_indices(mask.iter().copied()),
            bids: bids.iter().map(|&b| Amount::from_wei(b)).collect(),
            commitment: commitment(&verdict_bits, &nonces[j], &engine.address()),
        };
        let r = c.send(engine, assert).await;
        let hash = r["hash"].as_str().unwrap().to_owned();
        hashes.push((hash.clone(), r["block_number"].as_u64().unwrap()));
        *sent.entry("bounty:Assert").or_default() += 1;
        *expected.get_mut(&engine.address()).unwrap() -= bids.iter().sum::<u128>() + af;
        let event = receipt_event(&receipt(c, &hash).await, "assertion");
        assert_eq!(event["data"]["index"], j, "{event}");
        assert_eq!(
            event["data"]["author"],
            json_of(&engine.address()),
            "{event}"
        );
        assert_eq!(event["data"]["bounty_guid"], guid_text.as_str(), "{event}");
    }
    assert!(
        c.block().await < expiration,
        "the assertions took the whole assertion round"
    );
    check_balances!("after asserting");

    // ---- reveals (round 1) ------------------------------------------------------
    c.wait_for_block(expiration).await;
    assert_eq!(bounty(c, &guid).await["round"], "reveal");
    let expires = c.block().await + 100;
    let reveals: Vec<SignedTx> = (0..2)
        .map(|j| {
            sign(
                &engines[j],
                expires,
                Reveal {
                    bounty_guid: guid,
                    nonce: nonces[j],
                    verdicts: Bits256::from_bools(&plans[j].2),
                    metadata: json!([{"malware_family": if j == 0 { "EICAR" } else { "" }}, {}]),
                },
            )
        })
        .collect();
    let (status, body) = c.submit(&reveals, true).await;
    assert_eq!(status, 200, "{body}");
    for (j, item) in body["result"].as_array().unwrap().iter().enumerate() {
        assert_eq!(item["status"], "included", "reveal {j}: {body}");
        let hash = item["hash"].as_str().unwrap().to_owned();
        let event = receipt_event(&receipt(c, &hash).await, "reveal");
        assert_eq!(event["data"]["index"], j, "{event}");
        assert_eq!(
            event["data"]["verdicts"],
            json_of(&Bits256::from_bools(&plans[j].2))
        );
        hashes.push((hash, item["block_number"].as_u64().unwrap()));
        *sent.entry("bounty:Reveal").or_default() += 1;
    }
    assert!(
        c.block().await < reveal_deadline,
        "the reveals took the whole reveal round"
    );

    // ---- the vote (round 2) -----------------------------------------------------
    c.wait_for_block(reveal_deadline).await;
    assert_eq!(bounty(c, &guid).await["round"], "vote");
    let votes = vec![true, false];
    let r = c
        .send(
            &arbiter,
            Vote {
                bounty_guid: guid,
                votes: Bits256::from_bools(&votes),
            },
        )
        .await;
    let vote_hash = r["hash"].as_str().unwrap().to_owned();
    let vote_block = r["block_number"].as_u64().unwrap();
    hashes.push((vote_hash.clone(), vote_block));
    *sent.entry("bounty:Vote").or_default() += 1;
    let vote_receipt = receipt(c, &vote_hash).await;
    let vote_event = receipt_event(&vote_receipt, "vote");
    assert_eq!(
        vote_event["data"]["voter"],
        json_of(&arbiter.address()),
        "{vote_event}"
    );
    receipt_event(&vote_receipt, "quorum");

    // ---- automatic settlement ---------------------------------------------------
    // The only arbiter voted: the bounty settles at the start of the next block.
    let mut seen = Vec::new();
    let settled = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("no settled_bounty event within 10 s")
            .expect("the event stream closed");
        if is_about(&event, &guid_text) {
            seen.push(event["event"].as_str().unwrap().to_owned());
        }
        if event["event"] == "settled_bounty" && is_about(&event, &guid_text) {
            break event;
        }
    };
    assert_eq!(
        seen,
        [
            "bounty",
            "assertion",
            "assertion",
            "assertion",
            "reveal",
            "reveal",
            "vote",
            "quorum",
            "settled_bounty"
        ],
        "events about the bounty, in order"
    );
    assert_eq!(
        settled["block_number"].as_u64(),
        Some(vote_block + 1),
        "{settled}"
    );
    assert!(settled["txhash"].is_null(), "{settled}");

    let experts: Vec<ExpertModel> = plans
        .iter()
        .enumerate()
        .map(|(j, (mask, bids, verdicts))| ExpertModel {
            account: engines[j].address(),
            mask: mask.clone(),
            bids: bids.clone(),
            revealed: (j < 2).then(|| verdicts.clone()),
        })
        .collect();
    let voters = [VoterModel {
        account: arbiter.address(),
        votes: votes.clone(),
        stake: minimum_stake,
    }];
    let want = settle(2, amt, bf, af, &experts, &voters);
    // Sanity of the scenario itself: engine 0 won, engine 1 won artifact 1
    // only, engine 2 lost everything, nothing went to the treasury.
    assert!(want.experts[0] > plans[0].1.iter().sum::<u128>());
    assert!(want.experts[1] > 0 && want.experts[1] < plans[1].1.iter().sum::<u128>());
    assert_eq!(want.experts[2], 0);
    assert_eq!(want.ambassador, 0);
    assert_eq!(want.treasury, 0);

    let mut want_payouts: BTreeMap<(String, String), u128> = BTreeMap::new();
    let mut add = |account: &Address, role: &str, amount: u128| {
        if amount > 0 {
            *want_payouts
                .entry((
                    json_of(account).as_str().unwrap().to_owned(),
                    role.to_owned(),
                ))
                .or_default() += amount;
        }
    };
    add(&ambassador.address(), "ambassador", want.ambassador);
    for (e, amount) in experts.iter().zip(&want.experts) {
        add(&e.account, "expert", *amount);
    }
    for (v, amount) in voters.iter().zip(&want.arbiters) {
        add(&v.account, "arbiter", *amount);
    }
    let check_outcome = |outcome: &Value| {
        assert_eq!(outcome["bounty_guid"], guid_text.as_str(), "{outcome}");
        assert_eq!(
            outcome["consensus"],
            json_of(&Bits256::from_bools(&votes)),
            "{outcome}"
        );
        assert_eq!(wei(&outcome["treasury"]), want.treasury, "{outcome}");
        let mut got: BTreeMap<(String, String), u128> = BTreeMap::new();
        for p in outcome["payouts"].as_array().unwrap() {
            let amount = wei(&p["amount"]);
            if amount > 0 {
                *got.entry((
                    p["account"].as_str().unwrap().to_owned(),
                    p["role"].as_str().unwrap().to_owned(),
                ))
                .or_default() += amount;
            }
        }
        assert_eq!(got, want_payouts, "payouts of {outcome}");
    };
    check_outcome(&settled["data"]);

    *expected.get_mut(&ambassador.address()).unwrap() += want.ambassador;
    for (e, amount) in experts.iter().zip(&want.experts) {
        *expected.get_mut(&e.account).unwrap() += amount;
    }
    for (v, amount) in voters.iter().zip(&want.arbiters) {
        *expected.get_mut(&v.account).unwrap() += amount;
    }
    // The settlement is committed with its block; the read view follows it.
    c.wait_for_block(vote_block + 1).await;
    check_balances!("after settlement");
    let stake = wei(&c
        .result(&format!("/balances/{}/staking/total", arbiter.address()))
        .await);
    assert_eq!(stake, minimum_stake, "settlement must not touch the stake");

    // ---- reads after the fact ---------------------------------------------------
    let b = bounty(c, &guid).await;
    assert_eq!(b["round"], "finished", "{b}");
    assert_eq!(b["round_number"], 4, "{b}");
    assert_eq!(
        b["settlement"]["block"].as_u64(),
        Some(vote_block + 1),
        "{b}"
    );
    check_outcome(&b["settlement"]["outcome"]);
    assert_eq!(b["quorum_block"].as_u64(), Some(vote_block), "{b}");

    let assertions = c.result(&format!("/bounties/{guid}/assertions")).await;
    let assertions = assertions.as_array().unwrap();
    assert_eq!(assertions.len(), 3);
    for (j, a) in assertions.iter().enumerate() {
        let (mask, bids, verdicts) = &plans[j];
        assert_eq!(a["index"], j, "{a}");
        assert_eq!(a["author"], json_of(&engines[j].address()), "{a}");
        assert_eq!(
            a["mask"],
            json_of(&Bits256::from_indices(mask.iter().copied())),
            "{a}"
        );
        let got_bids: Vec<u128> = a["bids"].as_array().unwrap().iter().map(wei).collect();
        assert_eq!(&got_bids, bids, "{a}");
        assert_eq!(wei(&a["fee"]), af, "{a}");
        if j < 2 {
            assert_eq!(
                a["revealed"]["verdicts"],
                json_of(&Bits256::from_bools(verdicts)),
                "{a}"
            );
            assert_eq!(a["revealed"]["nonce"], json_of(&nonces[j]), "{a}");
        } else {
            assert!(a["revealed"].is_null(), "{a}");
        }
        let one = c.result(&format!("/bounties/{guid}/assertions/{j}")).await;
        assert_eq!(&one, a);
    }
    let (status, _) = c.get(&format!("/bounties/{guid}/assertions/3")).await;
    assert_eq!(status, 404);
    let votes_read = c.result(&format!("/bounties/{guid}/votes")).await;
    let votes_read = votes_read.as_array().unwrap();
    assert_eq!(votes_read.len(), 1);
    assert_eq!(votes_read[0]["index"], 0);
    assert_eq!(votes_read[0]["voter"], json_of(&arbiter.address()));
    assert_eq!(
        votes_read[0]["votes"],
        json_of(&Bits256::from_bools(&votes))
    );
    assert_eq!(wei(&votes_read[0]["stake"]), minimum_stake);
    assert_eq!(votes_read[0]["block"].as_u64(), Some(vote_block));
    assert_eq!(
        &c.result(&format!("/bounties/{guid}/votes/0")).await,
        &votes_read[0]
    );

    // Every transaction is listed by its block, and its receipt says where.
    for (hash, block) in &hashes {
        let r = receipt(c, hash).await;
        assert_eq!(r["block_number"].as_u64(), Some(*block), "{r}");
        let listed = c.result(&format!("/blocks/{block}")).await;
        assert_eq!(listed["number"].as_u64(), Some(*block), "{listed}");
        let txs = listed["transactions"].as_array().unwrap();
        let index = r["index"].as_u64().unwrap() as usize;
        assert_eq!(
            txs.get(index).and_then(Value::as_str),
            Some(hash.as_str()),
            "{listed}"
        );
    }
    let settle_block = c.result(&format!("/blocks/{}", vote_block + 1)).await;
    let parent = c.result(&format!("/blocks/{vote_block}")).await;
    assert_eq!(settle_block["parent_hash"], parent["hash"]);

    // Metrics count what was accepted.
    let metrics = c.text("/metrics").await;
    for (name, count) in &sent {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with("swarm_transactions_total{")
                    && l.contains(&format!("name=\"{name}\""))
                    && l.contains("outcome=\"accepted\"")
            })
            .unwrap_or_else(|| panic!("no accepted {name} in metrics:\n{metrics}"));
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(value as u64, *count, "{line}");
    }
    let blocks_line = metrics
        .lines()
        .find(|l| l.starts_with("swarm_blocks_total"))
        .unwrap_or_else(|| panic!("no block counter:\n{metrics}"));
    let blocks: f64 = blocks_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(blocks as u64 > vote_block, "{blocks_line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_sqlite() {
    lifecycle(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_postgres() {
    lifecycle(Backend::Postgres).await;
}

// ---- graceful shutdown ---------------------------------------------------------

/// A transaction accepted but not yet in a committed block is committed by
/// a graceful shutdown, and is there after a restart on the same data.
/// Blocks take a second here, so the block in progress is sealed by the
/// shutdown, not by the block timer.
async fn shutdown_commits_the_open_block(backend: Backend) {
    let mut genesis = genesis();
    genesis.parameters.block_time_ms = Some(1000);
    let t = TestNode::start(backend, genesis.clone()).await;
    let c = t.client.clone();
    let key = dev_key(30);
    let tip = c.block().await;
    let tx = sign(
        &key,
        tip + 100,
        Mint {
            to: key.address(),
            amount: Amount::from_wei(4242),
        },
    );
    let (status, body) = c.submit(std::slice::from_ref(&tx), false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["status"], "pending", "{body}");
    let accepted_in = body["result"]["block_number"].as_u64().unwrap();
    let TestNode {
        node,
        dir,
        database_url,
        ..
    } = t;
    tokio::time::timeout(Duration::from_secs(10), node.shutdown())
        .await
        .expect("shutdown hung")
        .unwrap();

    let t = TestNode::start_in(dir, database_url, genesis).await;
    let c = &t.client;
    let status = c.result("/status").await;
    assert_eq!(
        status["sequencer"], true,
        "the restarted node must sequence: {status}"
    );
    let (code, body) = c.get(&format!("/transactions/{}", tx.hash())).await;
    assert_eq!(
        code, 200,
        "the pending transaction was lost in the shutdown: {body}"
    );
    assert_eq!(body["result"]["status"], "included", "{body}");
    assert_eq!(
        body["result"]["block_number"].as_u64(),
        Some(accepted_in),
        "{body}"
    );
    let events = body["result"]["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["event"] == "mint"), "{body}");
    assert_eq!(balance(c, &key.address()).await, 4242);
    // The restarted chain goes on from where it stopped.
    c.wait_for_block(accepted_in + 1).await;
    let next = c.result(&format!("/blocks/{}", accepted_in + 1)).await;
    let last = c.result(&format!("/blocks/{accepted_in}")).await;
    assert_eq!(next["parent_hash"], last["hash"]);
    let listed: Vec<&str> = last["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(listed, [tx.hash().to_string().as_str()]);
    t.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_commits_the_open_block_sqlite() {
    shutdown_commits_the_open_block(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_commits_the_open_block_postgres() {
    shutdown_commits_the_open_block(Backend::Postgres).await;
}
