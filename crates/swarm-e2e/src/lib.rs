//! The end-to-end test harness: one marketplace in the test's process and
//! the steps every cross-crate scenario takes on it.
//!
//! Why a crate: the SDK's and the CLI's integration tests each need a node
//! with funded accounts and a staked arbiter, EICAR, bounties uploaded and
//! posted, votes and bounded waits. Written once here, a scenario reads as
//! its steps, and a change to how bounties are posted is made in one place.
//! The scenarios themselves stay with the crate whose behaviour they pin
//! (a test of the `swarm` binary must live in `swarm-cli` to run it).
//!
//! Everything panics on failure with what failed: this is test code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod psengine;

pub use psengine::PsEngine;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::{
    Amount, ArtifactType, Bits256, Bounty, Guid, Mint, PostBounty, PrivateKey, StakeDeposit, Vote,
};
use swarm_sdk::{NodeClient, TxStatus, Uploaded};

/// The EICAR test file (68 bytes): every engine must call it malicious.
pub const EICAR: &[u8] = swarm_sdk::EICAR;

/// The community of [`test_genesis`].
pub const COMMUNITY: &str = "dev";

/// A fresh bounty guid (UUID v4, as admission requires).
pub fn guid_v4() -> Guid {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Guid::from_bytes(bytes)
}

/// Files as [`NodeClient::upload`] takes them.
pub fn files(files: &[(&str, &[u8])]) -> Vec<(String, Bytes)> {
    files
        .iter()
        .map(|(name, bytes)| (name.to_string(), Bytes::copy_from_slice(bytes)))
        .collect()
}

/// A fresh key holding `nct` minted from the dev faucet (anyone may mint
/// there).
pub async fn funded(client: &NodeClient, nct: u128) -> PrivateKey {
    let key = PrivateKey::random();
    let mint = Mint {
        to: key.address(),
        amount: Amount::from_nct(nct),
    };
    let sent = client.send(&key, COMMUNITY, mint, true).await.unwrap();
    assert_eq!(sent.status, TxStatus::Included, "minting to a fresh key");
    key
}

/// Uploads `files` as `owner` and posts them as one bounty of `amount`
/// lasting `duration` blocks, waiting for its block; the posted bounty.
pub async fn post_bounty(
    client: &NodeClient,
    owner: &PrivateKey,
    files: Vec<(String, Bytes)>,
    amount: Amount,
    duration: u64,
) -> Bounty {
    let count = files.len();
    let uploaded: Uploaded = client.upload(owner, COMMUNITY, &files).await.unwrap();
    let guid = guid_v4();
    let post = PostBounty {
        guid,
        artifact_type: ArtifactType::File,
        amount,
        uri: uploaded.uri,
        num_artifacts: count as u32,
        duration,
        metadata: Some(uploaded.artifacts.iter().map(|a| a.to_metadata()).collect()),
    };
    let sent = client.send(owner, COMMUNITY, post, true).await.unwrap();
    assert_eq!(sent.status, TxStatus::Included, "posting bounty {guid}");
    client
        .bounty(&guid)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("bounty {guid} was included but is not served"))
}

/// Polls `check` every 10 ms until it gives a value; panics naming `what`
/// after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: not within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A node of the test genesis with a staked arbiter, and what tests do on
/// it as ambassador (the owner) and arbiter.
pub struct Market {
    /// The node (its data directory lives as long as it).
    pub node: TestNode,
    /// A client of it.
    pub client: NodeClient,
    /// The community owner, who posts the bounties.
    pub owner: PrivateKey,
    /// A whitelisted arbiter, staked.
    pub arbiter: PrivateKey,
}

impl Market {
    /// A fresh node on SQLite, its arbiter staked.
    pub async fn start() -> Market {
        Market::on(TestNode::start(Backend::Sqlite, test_genesis()).await).await
    }

    /// The market on `node` (of the test genesis), its arbiter staked.
    pub async fn on(node: TestNode) -> Market {
        let client = NodeClient::new(node.url());
        let arbiter = dev_key(1);
        let stake = StakeDeposit {
            amount: Amount::from_nct(10_000_000),
        };
        let staked = client.send(&arbiter, COMMUNITY, stake, true).await.unwrap();
        assert_eq!(staked.status, TxStatus::Included, "staking the arbiter");
        Market {
            node,
            client,
            owner: dev_key(0),
            arbiter,
        }
    }

    /// The node's base URL.
    pub fn url(&self) -> String {
        self.node.url()
    }

    /// The node's last committed block.
    pub async fn block(&self) -> u64 {
        self.client.status().await.unwrap().block
    }

    /// A fresh key holding `nct`, minted by the owner.
    pub async fn funded_key(&self, nct: u128) -> PrivateKey {
        let key = PrivateKey::random();
        let mint = Mint {
            to: key.address(),
            amount: Amount::from_nct(nct),
        };
        let sent = self
            .client
            .send(&self.owner, COMMUNITY, mint, true)
            .await
            .unwrap();
        assert_eq!(sent.status, TxStatus::Included, "minting to a fresh key");
        key
    }

    /// Uploads `files` and posts them as a bounty of one NCT per file,
    /// lasting `duration` blocks.
    pub async fn post(&self, files: &[(&str, &[u8])], duration: u64) -> Bounty {
        let amount = Amount::from_nct(files.len() as u128);
        post_bounty(
            &self.client,
            &self.owner,
            self::files(files),
            amount,
            duration,
        )
        .await
    }

    /// Bounty `guid` as the node has it now.
    pub async fn bounty(&self, guid: &Guid) -> Bounty {
        self.client
            .bounty(guid)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no bounty {guid}"))
    }

    /// Votes `votes` on `bounty` as the arbiter as soon as round 2 opens.
    pub async fn vote(&self, bounty: &Bounty, votes: Bits256) {
        self.node
            .client
            .wait_for_block(bounty.reveal_deadline())
            .await;
        let vote = Vote {
            bounty_guid: bounty.guid,
            votes,
        };
        let sent = self
            .client
            .send(&self.arbiter, COMMUNITY, vote, true)
            .await
            .unwrap();
        assert_eq!(sent.status, TxStatus::Included, "voting on {}", bounty.guid);
    }
}

/// A private `redis-server` on a free loopback port, without persistence
/// (a restart loses every stream and consumer group, as a crashed cache
/// does), for the scan-worker scenarios. Never the machine's shared
/// server. Panics when `redis-server` cannot start: a skipped test proves
/// nothing (scripts/test installs it).
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<tokio::process::Child>,
}

/// Whether a Redis server answers PING on `port`.
pub async fn redis_answers(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), s.read_exact(&mut buf)).await,
        Ok(Ok(_)) if &buf == b"+PONG\r\n"
    )
}

impl RedisServer {
    /// Starts one on a free port.
    pub async fn start() -> RedisServer {
        let mut dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut redis = RedisServer {
                port,
                dir,
                child: None,
            };
            if redis.spawn().await {
                return redis;
            }
            dir = redis.dir;
        }
        panic!("cannot start redis-server (is it installed? scripts/test installs it)");
    }

    /// Starts the server on `self.port`; false if it exited (port taken).
    async fn spawn(&mut self) -> bool {
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("cannot run redis-server (scripts/test installs it)");
        self.child = Some(child);
        let started = tokio::time::Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if redis_answers(self.port).await {
                return true;
            }
            if let Ok(Some(_)) = self.child.as_mut().unwrap().try_wait() {
                self.child = None;
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "redis-server on port {} did not answer within 10 s",
            self.port
        );
    }

    /// `redis://127.0.0.1:PORT/STREAM`.
    pub fn url(&self, stream: &str) -> String {
        format!("redis://127.0.0.1:{}/{stream}", self.port)
    }

    /// SIGKILL: whatever it held is gone.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("redis runs");
        child.kill().await.unwrap();
        assert!(!redis_answers(self.port).await);
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        assert!(
            self.spawn().await,
            "redis-server could not restart on its port"
        );
    }
}
