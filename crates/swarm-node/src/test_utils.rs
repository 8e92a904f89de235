//! Helpers for tests: start a node on loopback against SQLite or a fresh
//! PostgreSQL database, and talk to it over HTTP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

use std::net::SocketAddr;
use std::time::Duration;

pub use crate::limits::admission::Held;

use serde_json::Value;
use swarm_protocol::{Genesis, PrivateKey, SignedTx, Tx, TxBody};

use crate::{start, NodeConfig, RunningNode};

pub use crate::local_s3::{moto_server_program, LocalS3};

/// Which store a test node uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests use: `SWARM_TEST_POSTGRES` or the local
/// `postgres://postgres@127.0.0.1:5432/test`.
pub fn postgres_admin_url() -> String {
    std::env::var("SWARM_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Creates a fresh, uniquely named PostgreSQL database and returns its URL,
/// so tests running in parallel never see each other's rows. Fails (panics)
/// when PostgreSQL is unreachable: CI has it, and a skipped test proves nothing.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required by this test: {e}"));
    let name = format!("swarm_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// A genesis for tests: the dev genesis with 50 ms blocks.
pub fn test_genesis() -> Genesis {
    let mut g = crate::dev_genesis();
    g.parameters.block_time_ms = Some(50);
    g
}

/// A node running in this process on an ephemeral port.
pub struct TestNode {
    pub node: RunningNode,
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
    pub client: Client,
}

impl TestNode {
    /// Starts a node on `backend` with `genesis`.
    pub async fn start(backend: Backend, genesis: Genesis) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres_database().await),
        };
        Self::start_in(dir, database_url, genesis).await
    }

    /// Starts (or restarts) a node on an existing data directory and database.
    pub async fn start_in(
        dir: tempfile::TempDir,
        database_url: Option<String>,
        genesis: Genesis,
    ) -> TestNode {
        Self::start_configured(dir, database_url, genesis, |_| {}).await
    }

    /// Like [`TestNode::start_in`], with a last word on the configuration.
    pub async fn start_configured(
        dir: tempfile::TempDir,
        database_url: Option<String>,
        genesis: Genesis,
        configure: impl FnOnce(&mut NodeConfig),
    ) -> TestNode {
        let mut config = NodeConfig::new(genesis);
        config.data_dir = dir.path().to_path_buf();
        config.database_url = database_url.clone();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        configure(&mut config);
        let node = start(config).await.unwrap();
        let client = Client::new(node.url());
        TestNode {
            node,
            dir,
            database_url,
            client,
        }
    }

    pub fn url(&self) -> String {
        self.node.url()
    }

    /// Makes the node count `count` more transactions as waiting to be
    /// applied until the guard is dropped, as if other clients' requests
    /// were queued: admission control at a chosen backlog.
    pub fn hold_backlog(&self, count: usize) -> Held {
        self.node.state().admission.hold(count)
    }

    /// How many waiting transactions, nothing else counted, the node takes
    /// before it refuses a new bounty at the rate it assumes now (a
    /// machine's measure: tests size their load by it).
    pub fn new_bounty_backlog_limit(&self) -> usize {
        self.node.state().admission.backlog_limit()
    }
}

/// A minimal HTTP client for tests.
#[derive(Clone, Debug)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(base: String) -> Self {
        Client {
            base,
            http: reqwest::Client::new(),
        }
    }

    /// GET a path; returns (status, JSON body).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// GET a path and unwrap the OK envelope's result.
    /// The body of a GET as text (`/metrics`).
    pub async fn text(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn result(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        assert_eq!(body["status"], "OK", "GET {path}: {body}");
        body["result"].clone()
    }

    /// POST raw bytes with a content type; returns (status, JSON body).
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Submits signed transactions (a batch when more than one).
    pub async fn submit(&self, txs: &[SignedTx], wait: bool) -> (u16, Value) {
        let body = if txs.len() == 1 {
            serde_json::to_vec(&txs[0]).unwrap()
        } else {
            serde_json::to_vec(txs).unwrap()
        };
        self.post_raw(
            &format!("/transactions?wait={wait}"),
            "application/json",
            body,
        )
        .await
    }

    /// The current block number.
    pub async fn block(&self) -> u64 {
        self.result("/status").await["block"].as_u64().unwrap()
    }

    /// Signs `body` from `key` valid for 100 blocks from now.
    pub async fn sign(&self, key: &PrivateKey, body: impl Into<TxBody>) -> SignedTx {
        let expires = self.block().await + 100;
        Tx::new(key.address(), "dev", expires, body).sign(key)
    }

    /// Signs, submits and waits for inclusion; panics unless included.
    pub async fn send(&self, key: &PrivateKey, body: impl Into<TxBody>) -> Value {
        let tx = self.sign(key, body).await;
        let (status, body) = self.submit(&[tx], true).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["status"], "included", "{body}");
        body["result"].clone()
    }

    /// Waits until the chain reaches block `n`.
    pub async fn wait_for_block(&self, n: u64) {
        for _ in 0..2000 {
            if self.block().await >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("block {n} never came");
    }

    /// The `Authorization` header value permitting `key` to upload `files`.
    pub async fn upload_permission(&self, key: &PrivateKey, files: &[&[u8]]) -> String {
        use sha2::Digest;
        let auth = swarm_protocol::UploadAuth {
            sha256s: files
                .iter()
                .map(|f| hex::encode(sha2::Sha256::digest(f)))
                .collect(),
        };
        let signed = auth.sign(key, "dev", self.block().await + 100);
        format!("Swarm {}", serde_json::to_string(&signed).unwrap())
    }

    /// Uploads files as one bundle, permitted by the funded `dev_key(0)`;
    /// returns (uri, per-artifact metadata).
    pub async fn upload(&self, files: &[(&str, &[u8])]) -> (String, Value) {
        self.upload_as(&crate::dev_key(0), files).await
    }

    /// Uploads files as one bundle, permitted by `key`.
    pub async fn upload_as(&self, key: &PrivateKey, files: &[(&str, &[u8])]) -> (String, Value) {
        let contents: Vec<&[u8]> = files.iter().map(|(_, b)| *b).collect();
        let permission = self.upload_permission(key, &contents).await;
        let mut form = reqwest::multipart::Form::new();
        for (name, bytes) in files {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_string()),
            );
        }
        let r = self
            .http
            .post(format!("{}/artifacts", self.base))
            .header("authorization", permission)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "OK", "{body}");
        (
            body["result"]["uri"].as_str().unwrap().to_owned(),
            body["result"]["artifacts"].clone(),
        )
    }
}
