//! Restart safety: an engine process killed with SIGKILL after it committed
//! (its assertion is on the node) and before it revealed is restarted on
//! the same journal, reveals within the reveal window, and is paid: no
//! stake is lost.
//!
//! The node runs in this process; the engine is the real `swarm engine run
//! eicar` binary. Three bounties, three kills, at different moments of the
//! assertion round (right after the assertion, midway, just before the
//! reveal round opens). Every wait is bounded by the bounty's own rounds,
//! so an engine that never reveals fails the test instead of hanging it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::{Amount, Bits256, Bounty, Guid, PayoutRole, PrivateKey, StakeDeposit, Vote};
use swarm_sdk::{NodeClient, EICAR};
use tokio::process::{Child, Command};

const ROUNDS: usize = 3;
/// Assertion round, in blocks of `BLOCK_MS`.
const DURATION: u64 = 20;
const BLOCK_MS: u64 = 100;
const REVEAL_WINDOW: u64 = 10;

/// The engine process, its journal and its log (shown when the test fails).
struct Engine {
    url: String,
    key: PrivateKey,
    journal: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    starts: usize,
}

impl Engine {
    fn new(url: String, key: PrivateKey, dir: &Path) -> Engine {
        let journal = dir.join("journal");
        std::fs::create_dir_all(&journal).unwrap();
        Engine {
            url,
            key,
            journal,
            log: dir.join("engine.log"),
            child: None,
            starts: 0,
        }
    }

    fn journal_file(&self) -> PathBuf {
        self.journal.join(format!("{}.journal", self.key.address()))
    }

    /// Starts `swarm engine run eicar`; returns once it logs that it
    /// started (it has read the node's tip and its journal by then, so no
    /// later bounty is missed).
    async fn start(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_swarm"))
            .args(["engine", "run", "eicar", "--node", &self.url, "--journal"])
            .arg(&self.journal)
            .arg("--private-key")
            .arg(format!("0x{}", hex::encode(self.key.to_bytes())))
            .env("RUST_LOG", "info,swarm_sdk=debug")
            .env("NO_COLOR", "1")
            .env_remove("SWARM_KEYFILE")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start the swarm binary");
        self.child = Some(child);
        self.starts += 1;
        let started = Instant::now();
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.matches("microengine started").count() >= self.starts {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the engine exited at start: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the engine did not start within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILL, and reap.
    async fn kill(&mut self) {
        let mut child = self.child.take().expect("the engine runs");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the engine had already exited: {status}");
        }
        child.kill().await.unwrap(); // SIGKILL
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("---- engine log ({} starts) ----\n{log}", self.starts);
        }
    }
}

struct Market {
    node: TestNode,
    client: NodeClient,
    owner: PrivateKey,
    arbiter: PrivateKey,
}

impl Market {
    async fn block(&self) -> u64 {
        self.client.status().await.unwrap().block
    }

    async fn bounty(&self, guid: &Guid) -> Bounty {
        self.client.bounty(guid).await.unwrap().unwrap()
    }

    async fn post(&self, files: &[(&str, &[u8])]) -> Bounty {
        let amount = Amount::from_nct(files.len() as u128);
        let files = swarm_e2e::files(files);
        swarm_e2e::post_bounty(&self.client, &self.owner, files, amount, DURATION).await
    }

    /// Polls `guid` until `done` holds, failing once the chain reaches
    /// block `deadline` (or after a generous wall-clock limit).
    async fn wait_until(
        &self,
        guid: &Guid,
        deadline: u64,
        what: &str,
        done: impl Fn(&Bounty) -> bool,
    ) -> Bounty {
        let started = Instant::now();
        loop {
            let b = self.bounty(guid).await;
            if done(&b) {
                return b;
            }
            let block = self.block().await;
            assert!(
                block < deadline,
                "{what}: not by block {deadline} (now {block}): {b:#?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{what}: not within 30 s (block {block}, deadline {deadline})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_engine_reveals_after_restart_and_loses_no_stake() {
    let started = Instant::now();
    let mut genesis = test_genesis();
    genesis.parameters.block_time_ms = Some(BLOCK_MS);
    genesis.parameters.max_duration = Some(DURATION);
    genesis.parameters.assertion_reveal_window = Some(REVEAL_WINDOW);
    let node = TestNode::start(Backend::Sqlite, genesis).await;
    let client = NodeClient::new(node.url());
    let m = Market {
        client: client.clone(),
        owner: dev_key(0),
        arbiter: dev_key(1),
        node,
    };
    let p = client.parameters().await.unwrap().parameters;
    assert_eq!(p.assertion_reveal_window, REVEAL_WINDOW);
    let staked = client
        .send(
            &m.arbiter,
            "dev",
            StakeDeposit {
                amount: p.minimum_stake,
            },
            true,
        )
        .await
        .unwrap();
    assert_eq!(staked.status, swarm_sdk::TxStatus::Included);

    let key = swarm_e2e::funded(&client, 1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::new(m.node.url(), key.clone(), dir.path());
    engine.start().await;

    for round in 0..ROUNDS {
        let before = client.balance(&key.address()).await.unwrap();
        let noise = format!("harmless text, round {round}: {}", rand::random::<u64>());
        let bounty = m
            .post(&[
                ("eicar.com", EICAR.as_slice()),
                ("notes.txt", noise.as_bytes()),
            ])
            .await;
        let expiration = bounty.expiration;

        // Committed: the assertion is on the node, and nothing is revealed.
        let asserted = m
            .wait_until(
                &bounty.guid,
                expiration,
                &format!("round {round}: the engine's assertion"),
                |b| b.assertion_of(&key.address()).is_some(),
            )
            .await;
        let (_, assertion) = asserted.assertion_of(&key.address()).unwrap();
        assert_eq!(assertion.mask, Bits256::first(2));
        assert!(assertion.revealed.is_none());

        // Kill at a different moment each round: at once, midway through
        // the assertion round, and three blocks before it ends.
        let kill_at = match round {
            0 => 0,
            1 => bounty.posted_block + DURATION / 2,
            _ => expiration - 3,
        };
        while m.block().await < kill_at {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let block = m.block().await;
        assert!(
            block + 1 < expiration,
            "round {round}: the test is too slow: block {block}, expiration {expiration}"
        );
        engine.kill().await;
        let b = m.bounty(&bounty.guid).await;
        assert!(
            b.assertion_of(&key.address()).unwrap().1.revealed.is_none(),
            "round {round}: the engine revealed before it was killed"
        );
        assert!(
            m.block().await < expiration,
            "round {round}: killed too late"
        );
        let journal = std::fs::read_to_string(engine.journal_file()).unwrap();
        assert!(
            journal.contains(&bounty.guid.to_string()),
            "round {round}: the journal does not name the bounty"
        );

        // Restarted on the same journal, it reveals within the reveal window.
        engine.start().await;
        let revealed = m
            .wait_until(
                &bounty.guid,
                bounty.reveal_deadline(),
                &format!("round {round}: the restarted engine's reveal"),
                |b| {
                    b.assertion_of(&key.address())
                        .is_some_and(|(_, a)| a.revealed.is_some())
                },
            )
            .await;
        let (_, a) = revealed.assertion_of(&key.address()).unwrap();
        let r = a.revealed.as_ref().unwrap();
        assert!(
            r.block >= expiration && r.block < bounty.reveal_deadline(),
            "round {round}: revealed in block {}",
            r.block
        );
        assert_eq!(r.verdicts, Bits256::from_indices([0]), "round {round}");

        // The arbiter agrees; the bounty settles and pays the engine its
        // stake back plus the whole reward.
        m.node.client.wait_for_block(bounty.reveal_deadline()).await;
        let vote = Vote {
            bounty_guid: bounty.guid,
            votes: Bits256::from_indices([0]),
        };
        let sent = client.send(&m.arbiter, "dev", vote, true).await.unwrap();
        assert_eq!(sent.status, swarm_sdk::TxStatus::Included);
        let settled = m
            .wait_until(
                &bounty.guid,
                bounty.vote_deadline() + 3,
                &format!("round {round}: the settlement"),
                |b| b.settlement.is_some(),
            )
            .await;
        let outcome = &settled.settlement.as_ref().unwrap().outcome;
        let payout: Amount = outcome
            .payouts
            .iter()
            .filter(|x| x.account == key.address() && x.role == PayoutRole::Expert)
            .map(|x| x.amount)
            .sum();
        let bids: Amount = a.bids.iter().copied().sum();
        // Alone and right on both artifacts: bids back plus p per artifact.
        let expected = bids.checked_add(settled.amount).unwrap();
        assert_eq!(payout, expected, "round {round}: {outcome:?}");
        let after = client.balance(&key.address()).await.unwrap();
        assert_eq!(
            after,
            before
                .checked_sub(bids)
                .and_then(|x| x.checked_sub(a.fee))
                .and_then(|x| x.checked_add(payout))
                .unwrap(),
            "round {round}: balance"
        );
        assert!(after > before, "round {round}: the engine lost NCT");
        eprintln!(
            "round {round}: killed in block {block}, expiration {expiration}, revealed in block {}, \
             net +{} NCT",
            r.block,
            after.checked_sub(before).unwrap().to_nct_string()
        );
    }
    engine.kill().await;
    let log = std::fs::read_to_string(&engine.log).unwrap();
    assert_eq!(engine.starts, ROUNDS + 1);
    assert!(
        !log.contains("reveal window passed"),
        "the engine missed a reveal:\n{log}"
    );
    eprintln!(
        "{ROUNDS} kills and restarts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
