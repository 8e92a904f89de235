//! Durability: what the node acknowledges as included survives SIGKILL.
//!
//! The test runs `swarm node` as a child process, drives signed
//! transactions at it from several concurrent clients, kills it with SIGKILL
//! at a random moment, restarts it on the same data, and checks that
//! - every transaction acknowledged as included has a receipt,
//! - the balances are exactly those implied by the transactions that have
//!   receipts (nothing half-applied, nothing lost, nothing invented),
//! - balances + escrow + stakes + treasury == minted.
//!
//! Five kill/restart rounds per backend, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use swarm_node::test_utils::{fresh_postgres_database, Client};
use swarm_node::{dev_genesis, dev_key};
use swarm_protocol::{
    Address, Amount, Mint, PrivateKey, SignedTx, Transfer, Tx, TxBody, H256, WEI_PER_NCT,
};

use crate::support::free_port;

const ROUNDS: usize = 5;
const CLIENTS: u32 = 6;

struct Node {
    child: Child,
    client: Client,
}

impl Drop for Node {
    /// A failing test must not leave its node running (it would also hold
    /// the test's stderr open).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn_node(data_dir: &std::path::Path, database_url: Option<&str>) -> Node {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_swarm"));
    cmd.arg("node")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--block-time-ms")
        .arg("50")
        .arg("--snapshot-every")
        .arg("7")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    let mut child = cmd.spawn().unwrap();
    let client = Client::new(format!("http://127.0.0.1:{port}"));
    for _ in 0..500 {
        if let Ok(r) = client
            .http
            .get(format!("{}/status", client.base))
            .send()
            .await
        {
            if r.status().is_success() {
                return Node { child, client };
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("node did not come up on port {port}");
}

/// What one client sent: every signed tx, and which were acknowledged as included.
#[derive(Default)]
struct Ledger {
    sent: Vec<(H256, PrivateKey, TxBody)>,
    acknowledged: Vec<H256>,
}

/// Sends transactions as `me` until the node dies. Every transaction of the
/// whole test is distinct (`round` is in its amount): two identical ones
/// would share a hash, and the audit would count one inclusion twice.
async fn drive(
    client: Client,
    me: PrivateKey,
    peers: Vec<Address>,
    ledger: Arc<Mutex<Ledger>>,
    round: u64,
) {
    let mut n: u64 = 0;
    let unique = |n: u64| u128::from(round) * 1_000_000 + u128::from(n);
    loop {
        n += 1;
        let body: TxBody = if n.is_multiple_of(3) {
            Transfer {
                to: peers[(n as usize) % peers.len()],
                amount: Amount::from_wei(unique(n)),
            }
            .into()
        } else {
            Mint {
                to: me.address(),
                amount: Amount::from_wei(u128::from(n % 7 + 1) * WEI_PER_NCT + unique(n)),
            }
            .into()
        };
        let Ok(status) = client
            .http
            .get(format!("{}/status", client.base))
            .send()
            .await
        else {
            return;
        };
        let Ok(status) = status.json::<serde_json::Value>().await else {
            return;
        };
        let block = status["result"]["block"].as_u64().unwrap_or(0);
        let tx: SignedTx = Tx::new(me.address(), "dev", block + 50, body.clone()).sign(&me);
        let hash = tx.hash();
        ledger.lock().unwrap().sent.push((hash, me.clone(), body));
        let wait = !n.is_multiple_of(4);
        let response = client
            .http
            .post(format!("{}/transactions?wait={wait}", client.base))
            .json(&tx)
            .send()
            .await;
        let Ok(response) = response else { return };
        let Ok(body) = response.json::<serde_json::Value>().await else {
            return;
        };
        if body["result"]["status"] == "included" {
            ledger.lock().unwrap().acknowledged.push(hash);
        }
    }
}

async fn balance(client: &Client, a: &Address) -> u128 {
    let v = client.result(&format!("/balances/{a}/nct")).await;
    v.as_str().unwrap().parse().unwrap()
}

async fn kill_and_check(backend: &str, database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let genesis = dev_genesis();
    let accounts: Vec<PrivateKey> = (100..100 + CLIENTS).map(dev_key).collect();
    let addresses: Vec<Address> = accounts.iter().map(|k| k.address()).collect();
    let mut everything: Vec<(H256, PrivateKey, TxBody)> = Vec::new();
    let mut acknowledged: Vec<H256> = Vec::new();
    let mut rng = rand::thread_rng();

    for round in 0..ROUNDS {
        let mut node = spawn_node(dir.path(), database_url.as_deref()).await;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let mut tasks = Vec::new();
        for k in &accounts {
            tasks.push(tokio::spawn(drive(
                node.client.clone(),
                k.clone(),
                addresses.clone(),
                ledger.clone(),
                round as u64,
            )));
        }
        let delay = rng.gen_range(300..1500);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        node.child.kill().unwrap(); // SIGKILL
        node.child.wait().unwrap();
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
        let mut l = ledger.lock().unwrap();
        assert!(
            !l.acknowledged.is_empty(),
            "{backend} round {round}: nothing was acknowledged in {delay} ms"
        );
        everything.append(&mut l.sent);
        acknowledged.append(&mut l.acknowledged);
    }

    // Restart once more and audit everything ever sent.
    let mut node = spawn_node(dir.path(), database_url.as_deref()).await;
    let client = node.client.clone();
    let mut included = 0usize;
    let mut expected: BTreeMap<Address, i128> = BTreeMap::new();
    for a in genesis.allocations.keys() {
        expected.insert(*a, genesis.allocations[a].0.wei() as i128);
    }
    let mut minted: i128 = expected.values().sum();
    let distinct: std::collections::HashSet<H256> = everything.iter().map(|(h, _, _)| *h).collect();
    assert_eq!(
        distinct.len(),
        everything.len(),
        "the test sent a transaction twice"
    );
    for (hash, key, body) in &everything {
        let (status, _) = client.get(&format!("/transactions/{hash}")).await;
        assert!(
            status == 200 || status == 404,
            "receipt lookup {hash}: {status}"
        );
        if status != 200 {
            assert!(
                !acknowledged.contains(hash),
                "{backend}: acknowledged {hash} was lost"
            );
            continue;
        }
        included += 1;
        match body {
            TxBody::Mint(m) => {
                *expected.entry(m.to).or_default() += m.amount.wei() as i128;
                minted += m.amount.wei() as i128;
            }
            TxBody::Transfer(t) => {
                *expected.entry(key.address()).or_default() -= t.amount.wei() as i128;
                *expected.entry(t.to).or_default() += t.amount.wei() as i128;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for hash in &acknowledged {
        let (status, _) = client.get(&format!("/transactions/{hash}")).await;
        assert_eq!(status, 200, "{backend}: acknowledged {hash} has no receipt");
    }
    for (address, wei) in &expected {
        assert_eq!(
            balance(&client, address).await as i128,
            *wei,
            "{backend}: balance of {address} differs from the included transactions"
        );
    }
    let supply = client.result("/status").await["supply"].clone();
    let field = |k: &str| supply[k].as_str().unwrap().parse::<u128>().unwrap();
    assert_eq!(field("minted") as i128, minted, "{backend}: minted");
    assert_eq!(
        field("balances") + field("escrow") + field("staked") + field("treasury"),
        field("minted"),
        "{backend}: supply invariant"
    );
    assert!(included >= acknowledged.len());
    eprintln!(
        "{backend}: {ROUNDS} kills, {} sent, {} acknowledged, {included} included",
        everything.len(),
        acknowledged.len()
    );
    node.child.kill().unwrap();
    node.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_nothing_acknowledged_sqlite() {
    kill_and_check("sqlite", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_nothing_acknowledged_postgres() {
    let url = fresh_postgres_database().await;
    kill_and_check("postgres", Some(url)).await;
}
