//! The store conformance suite against both backends: SQLite in a temporary
//! directory, and PostgreSQL in a fresh database per test. The PostgreSQL
//! tests fail when the server is unreachable (`SWARM_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/test`): a skipped test proves nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use sqlx::{Connection, Row};
use swarm_node::store::conformance::{self, ChainBuilder, Database};
use swarm_node::test_utils::fresh_postgres_database;
use swarm_node::{SqlStore, Store, StoreError};

/// A fresh SQLite database file in its own temporary directory.
struct SqliteDatabase {
    dir: tempfile::TempDir,
}

impl SqliteDatabase {
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("chain.sqlite")
    }
}

impl Database for SqliteDatabase {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqlStore::open_sqlite(&self.path()).await.unwrap())
    }
}

async fn fresh_sqlite() -> SqliteDatabase {
    SqliteDatabase {
        dir: tempfile::tempdir().unwrap(),
    }
}

/// A fresh PostgreSQL database.
struct PostgresDatabase {
    url: String,
}

impl Database for PostgresDatabase {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqlStore::connect(&self.url).await.unwrap())
    }
}

async fn fresh_postgres() -> PostgresDatabase {
    PostgresDatabase {
        url: fresh_postgres_database().await,
    }
}

mod sqlite {
    use super::fresh_sqlite;
    swarm_node::store_conformance_tests!(fresh_sqlite);
}

mod postgres {
    use super::fresh_postgres;
    swarm_node::store_conformance_tests!(fresh_postgres);
}

/// Rows in the `snapshots` table: older snapshots must be deleted, not
/// merely shadowed, or the table grows by a full state every
/// `snapshot_every` blocks forever.
async fn snapshot_rows(url: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM snapshots")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

async fn older_snapshots_are_deleted(store: &dyn Store, url: &str) {
    let blocks = ChainBuilder::new().chain(4);
    for (i, b) in blocks.iter().enumerate() {
        store
            .commit_block(b, &[], (i % 2 == 1).then_some(&b"state"[..]))
            .await
            .unwrap();
        let expected = if i == 0 { 0 } else { 1 };
        assert_eq!(snapshot_rows(url).await, expected, "after block {}", i + 1);
    }
    assert_eq!(
        store.latest_snapshot().await.unwrap(),
        Some((4, b"state".to_vec()))
    );
}

#[tokio::test]
async fn sqlite_older_snapshots_are_deleted() {
    let db = fresh_sqlite().await;
    let store = db.open().await;
    let url = format!("sqlite://{}", db.path().display());
    older_snapshots_are_deleted(store.as_ref(), &url).await;
}

#[tokio::test]
async fn postgres_older_snapshots_are_deleted() {
    let db = fresh_postgres().await;
    let store = db.open().await;
    older_snapshots_are_deleted(store.as_ref(), &db.url).await;
}

/// The SQLite sequencer lock is a file beside the database, so a second
/// process on the same data directory cannot sequence too.
#[tokio::test]
async fn sqlite_lock_file_lives_beside_the_database() {
    let db = fresh_sqlite().await;
    let store = db.open().await;
    assert!(store.try_lock_sequencer().await.unwrap());
    let names: Vec<String> = std::fs::read_dir(db.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.contains("lock")),
        "no lock file beside the database: {names:?}"
    );
}

/// Concurrent schema creation races in PostgreSQL's catalog (a duplicate
/// key in `pg_type`): the suite's single try is not enough to pin it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stores_opened_together_repeatedly() {
    for _ in 0..5 {
        conformance::opened_together_on_a_new_database(&fresh_postgres().await).await;
    }
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    for url in [
        "mysql://localhost/db",
        "sqlite:relative",
        "",
        "file:///tmp/x",
    ] {
        match SqlStore::connect(url).await {
            Err(StoreError::Url(u)) => assert_eq!(u, url),
            other => panic!("{url:?}: {other:?}"),
        }
    }
}
