//! [`Store`] on SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! One implementation serves both databases: the queries use `$N`
//! placeholders, which both understand, and only the schema (column types)
//! and the sequencer lock differ. SQLite runs in WAL mode with
//! `synchronous = FULL`, so a block acknowledged as committed survives a
//! crash or a power cut; PostgreSQL commits are durable by default.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AnyPool, Connection, Executor, Row};
use swarm_protocol::{keccak256, Address, Bounty, Guid, SettledBounty, Signature, SignedTx, H256};

use super::{BlockBucket, BlockSummary, Result, Store, StoreError};
use crate::chain::{BlockHeader, CommittedBlock, EventRecord, TxRecord};

const SQLITE_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    parent_hash BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    tx_root BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    hash BLOB PRIMARY KEY,
    block_number INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    sender TEXT NOT NULL,
    raw TEXT NOT NULL,
    signature BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_by_block ON transactions (block_number, idx);
CREATE TABLE IF NOT EXISTS events (
    block_number INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    txhash BLOB,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (block_number, seq)
);
CREATE INDEX IF NOT EXISTS events_by_tx ON events (txhash);
CREATE INDEX IF NOT EXISTS blocks_by_time ON blocks (timestamp_ms);
CREATE INDEX IF NOT EXISTS transactions_by_sender ON transactions (sender, block_number, idx);
CREATE TABLE IF NOT EXISTS snapshots (block_number INTEGER PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS bounties (
    guid BLOB PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE,
    settled_block INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bounties_by_settlement ON bounties (settled_block, number);
"#;

/// One simple-query message, hence one transaction: the advisory lock
/// (0x5357_4152_4d53_4348, "SWARMSCH") serializes nodes creating the schema
/// of a new database at the same moment. Without it, concurrent
/// `CREATE TABLE IF NOT EXISTS` race in PostgreSQL's catalog and one fails
/// with a duplicate key in `pg_type`.
const POSTGRES_SCHEMA: &str = r#"
SELECT pg_advisory_xact_lock(6005340449862271816);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    number BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL,
    parent_hash BYTEA NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    tx_root BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    hash BYTEA PRIMARY KEY,
    block_number BIGINT NOT NULL,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    sender TEXT NOT NULL,
    raw TEXT NOT NULL,
    signature BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_by_block ON transactions (block_number, idx);
CREATE TABLE IF NOT EXISTS events (
    block_number BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    txhash BYTEA,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (block_number, seq)
);
CREATE INDEX IF NOT EXISTS events_by_tx ON events (txhash);
CREATE INDEX IF NOT EXISTS blocks_by_time ON blocks (timestamp_ms);
CREATE INDEX IF NOT EXISTS transactions_by_sender ON transactions (sender, block_number, idx);
CREATE TABLE IF NOT EXISTS snapshots (block_number BIGINT PRIMARY KEY, state BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS bounties (
    guid BYTEA PRIMARY KEY,
    number BIGINT NOT NULL UNIQUE,
    settled_block BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bounties_by_settlement ON bounties (settled_block, number);
"#;

/// Arbitrary constant naming swarm's sequencer lock among PostgreSQL advisory locks.
const SEQUENCER_LOCK_KEY: i64 = 0x5357_4152_4d53_4551; // "SWARMSEQ"

/// Rows per multi-row INSERT: well under both databases' parameter limits.
const INSERT_CHUNK: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Held only to be dropped: dropping releases the lock.
enum SequencerLock {
    /// A connection to a small SQLite database beside the chain's, inside a
    /// write transaction that is never committed: SQLite lets one
    /// connection at a time, in any process, hold it.
    Sqlite { _connection: SqliteConnection },
    /// The connection that holds the advisory lock.
    Postgres { _connection: sqlx::AnyConnection },
}

/// Takes the SQLite sequencer lock at `path`, or returns `None` when another
/// connection holds it. A file lock (`flock`) would do too, but `File::try_lock`
/// needs Rust 1.89, above the workspace's minimum.
async fn lock_sqlite(path: &Path) -> Result<Option<SqliteConnection>> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        // Refuse at once rather than wait for the holder.
        .busy_timeout(std::time::Duration::ZERO);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    match conn.execute("BEGIN IMMEDIATE").await {
        Ok(_) => Ok(Some(conn)),
        Err(e) if is_sqlite_busy(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// SQLITE_BUSY, or one of its extended codes.
fn is_sqlite_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == 5)
}

/// The SQL store.
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    url: String,
    sqlite_path: Option<PathBuf>,
    lock: tokio::sync::Mutex<Option<SequencerLock>>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend)
            .finish()
    }
}

impl SqlStore {
    /// Opens (creating if needed) the SQLite database at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Corrupt(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::connect(&url).await
    }

    /// Opens a database by URL: `sqlite://PATH` or `postgres://...`.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (backend, sqlite_path) = if let Some(rest) = url.strip_prefix("sqlite://") {
            let path = rest.split('?').next().unwrap_or(rest);
            (Backend::Sqlite, Some(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, None)
        } else {
            return Err(StoreError::Url(url.to_owned()));
        };
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let schema = match backend {
            Backend::Sqlite => SQLITE_SCHEMA,
            Backend::Postgres => POSTGRES_SCHEMA,
        };
        sqlx::raw_sql(schema).execute(&pool).await?;
        Ok(SqlStore {
            pool,
            backend,
            url: url.to_owned(),
            sqlite_path,
            lock: tokio::sync::Mutex::new(None),
        })
    }

    /// Whether this is the PostgreSQL backend.
    pub fn is_postgres(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// Deletes every row. For tests that share one PostgreSQL database.
    #[cfg(any(test, feature = "test-utils"))]
    pub async fn wipe(&self) -> Result<()> {
        sqlx::raw_sql(
            "DELETE FROM meta; DELETE FROM blocks; DELETE FROM transactions; \
             DELETE FROM events; DELETE FROM snapshots; DELETE FROM bounties;",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A transaction that writes. On SQLite it takes the write lock at
    /// `BEGIN` (waiting up to the busy timeout for it): a deferred
    /// transaction that reads first and then writes is refused at once,
    /// with `database is locked`, when another connection wrote in between
    /// (SQLite does not retry an upgrade from a stale read), as a
    /// checkpoint written while a block commits would do.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Sets `key` in `meta`, replacing what it held.
    async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn meta(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    async fn txs_of_blocks(&self, from: u64, to: u64) -> Result<Vec<TxRecord>> {
        let rows = sqlx::query(
            "SELECT hash, block_number, idx, name, sender, raw, signature FROM transactions \
             WHERE block_number >= $1 AND block_number <= $2 ORDER BY block_number, idx",
        )
        .bind(to_i64(from)?)
        .bind(to_i64(to)?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_tx).collect()
    }

    async fn events_of_blocks(&self, from: u64, to: u64) -> Result<Vec<EventRecord>> {
        let rows = sqlx::query(
            "SELECT body FROM events WHERE block_number >= $1 AND block_number <= $2 \
             ORDER BY block_number, seq",
        )
        .bind(to_i64(from)?)
        .bind(to_i64(to)?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_event).collect()
    }
}

/// Inserts settled bounties in `tx`: all of them, or with `ignore_known`
/// only those whose guid is not stored yet.
async fn insert_settled(
    backend: Backend,
    conn: &mut sqlx::AnyConnection,
    settled: &[SettledBounty],
    ignore_known: bool,
) -> Result<()> {
    // Bodies can be large (metadata): a few rows per statement.
    for chunk in settled.chunks(64) {
        let sql = format!(
            "INSERT INTO bounties (guid, number, settled_block, body) VALUES {}{}",
            placeholders(backend, chunk.len(), 4),
            if ignore_known {
                " ON CONFLICT (guid) DO NOTHING"
            } else {
                ""
            }
        );
        let mut q = sqlx::query(&sql);
        for b in chunk {
            let body = serde_json::to_string(&b.bounty)
                .map_err(|e| StoreError::Corrupt(format!("bounty encoding: {e}")))?;
            q = q
                .bind(b.bounty.guid.as_bytes().to_vec())
                .bind(to_i64(b.number)?)
                .bind(to_i64(b.settled_block())?)
                .bind(body);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

fn decode_settled(row: &AnyRow) -> Result<SettledBounty> {
    let body: String = row.try_get("body")?;
    let mut de = serde_json::Deserializer::from_str(&body);
    // Metadata came through admission's depth limit; a stored body nests
    // a few levels deeper (see decode_event).
    de.disable_recursion_limit();
    let bounty: Bounty = serde::Deserialize::deserialize(&mut de)
        .map_err(|e| StoreError::Corrupt(format!("bounty: {e}")))?;
    Ok(SettledBounty {
        number: to_u64(row.try_get("number")?)?,
        bounty,
    })
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("number {n} exceeds i64")))
}

/// A number from a query (a block asked for, a `since`) as a column value:
/// `None` above `i64::MAX`, where no stored row can be.
fn query_i64(n: u64) -> Option<i64> {
    i64::try_from(n).ok()
}

fn to_u64(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative number {n}")))
}

fn to_h256(bytes: Vec<u8>) -> Result<H256> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(H256)
        .map_err(|_| StoreError::Corrupt(format!("hash of {} bytes", bytes.len())))
}

fn decode_header(row: &AnyRow) -> Result<BlockHeader> {
    Ok(BlockHeader {
        number: to_u64(row.try_get("number")?)?,
        hash: to_h256(row.try_get("hash")?)?,
        parent_hash: to_h256(row.try_get("parent_hash")?)?,
        timestamp_ms: to_u64(row.try_get("timestamp_ms")?)?,
        tx_root: to_h256(row.try_get("tx_root")?)?,
    })
}

fn decode_tx(row: &AnyRow) -> Result<TxRecord> {
    let signature: Vec<u8> = row.try_get("signature")?;
    let signature = <[u8; 65]>::try_from(signature.as_slice())
        .map(Signature)
        .map_err(|_| StoreError::Corrupt("signature is not 65 bytes".into()))?;
    let sender: String = row.try_get("sender")?;
    let idx: i32 = row.try_get("idx")?;
    Ok(TxRecord {
        hash: to_h256(row.try_get("hash")?)?,
        signed: SignedTx {
            raw: row.try_get("raw")?,
            signature,
        },
        name: row.try_get("name")?,
        from: sender
            .parse::<Address>()
            .map_err(|e| StoreError::Corrupt(format!("sender: {e}")))?,
        block_number: to_u64(row.try_get("block_number")?)?,
        index: u32::try_from(idx).map_err(|_| StoreError::Corrupt("negative index".into()))?,
    })
}

fn decode_event(row: &AnyRow) -> Result<EventRecord> {
    let body: String = row.try_get("body")?;
    match serde_json::from_str(&body) {
        Ok(event) => Ok(event),
        // Nodes before the admission limits accepted metadata nested up to
        // 126 levels, which the event's own levels push past serde_json's
        // 128. Such a body still came through a parser that stops at 128
        // levels, so decoding it without the limit stays shallow.
        Err(e) if e.to_string().contains("recursion limit") => {
            let mut de = serde_json::Deserializer::from_str(&body);
            de.disable_recursion_limit();
            serde::Deserialize::deserialize(&mut de)
                .map_err(|e| StoreError::Corrupt(format!("event: {e}")))
        }
        Err(e) => Err(StoreError::Corrupt(format!("event: {e}"))),
    }
}

/// `($1, $2, ...), ($k, ...)` for `rows` rows of `cols` columns.
///
/// SQLite gets anonymous `?`: with numbered ones, binding looks each name up
/// in a list, which made a 500-row insert cost 42 µs a row instead of 2.5.
fn placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push(',');
            }
            match backend {
                Backend::Sqlite => out.push('?'),
                Backend::Postgres => {
                    out.push('$');
                    out.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        out.push(')');
    }
    out
}

#[async_trait]
impl Store for SqlStore {
    async fn init_genesis(&self, genesis_toml: &str) -> Result<String> {
        // Nodes starting together on a new database may both insert: the
        // first wins and every node then checks against what is stored.
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind("genesis")
            .bind(genesis_toml)
            .execute(&self.pool)
            .await?;
        let stored = self.meta("genesis").await?.ok_or_else(|| {
            StoreError::Corrupt("the genesis vanished after it was recorded".into())
        })?;
        let (stored_hash, given) = (
            keccak256(stored.as_bytes()),
            keccak256(genesis_toml.as_bytes()),
        );
        if stored_hash != given {
            return Err(StoreError::GenesisMismatch {
                stored: stored_hash,
                given,
            });
        }
        Ok(stored)
    }

    async fn genesis(&self) -> Result<Option<String>> {
        self.meta("genesis").await
    }

    async fn tip(&self) -> Result<Option<BlockHeader>> {
        let row = sqlx::query(
            "SELECT number, hash, parent_hash, timestamp_ms, tx_root FROM blocks \
             ORDER BY number DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(decode_header).transpose()
    }

    async fn commit_block(
        &self,
        block: &CommittedBlock,
        settled: &[SettledBounty],
        snapshot: Option<&[u8]>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let h = &block.header;
        let tip: Option<i64> = sqlx::query("SELECT MAX(number) FROM blocks")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let tip = tip.map(to_u64).transpose()?.unwrap_or(0);
        if h.number != tip + 1 {
            return Err(StoreError::OutOfOrder {
                number: h.number,
                tip,
            });
        }
        sqlx::query(
            "INSERT INTO blocks (number, hash, parent_hash, timestamp_ms, tx_root) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(to_i64(h.number)?)
        .bind(h.hash.0.to_vec())
        .bind(h.parent_hash.0.to_vec())
        .bind(to_i64(h.timestamp_ms)?)
        .bind(h.tx_root.0.to_vec())
        .execute(&mut *tx)
        .await?;

        for chunk in block.txs.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO transactions (hash, block_number, idx, name, sender, raw, signature) VALUES {}",
                placeholders(self.backend, chunk.len(), 7)
            );
            let mut q = sqlx::query(&sql);
            for t in chunk {
                q = q
                    .bind(t.hash.0.to_vec())
                    .bind(to_i64(t.block_number)?)
                    .bind(t.index as i32)
                    .bind(t.name.clone())
                    .bind(t.from.to_string())
                    .bind(t.signed.raw.clone())
                    .bind(t.signed.signature.0.to_vec());
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in block.events.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO events (block_number, seq, txhash, kind, body) VALUES {}",
                placeholders(self.backend, chunk.len(), 5)
            );
            let mut q = sqlx::query(&sql);
            for e in chunk {
                let body = serde_json::to_string(e)
                    .map_err(|err| StoreError::Corrupt(format!("event encoding: {err}")))?;
                q = q
                    .bind(to_i64(e.block_number)?)
                    .bind(e.seq as i32)
                    .bind(e.txhash.map(|h| h.0.to_vec()))
                    .bind(e.event.kind())
                    .bind(body);
            }
            q.execute(&mut *tx).await?;
        }
        insert_settled(self.backend, &mut tx, settled, false).await?;
        if let Some(state) = snapshot {
            sqlx::query("INSERT INTO snapshots (block_number, state) VALUES ($1, $2)")
                .bind(to_i64(h.number)?)
                .bind(state.to_vec())
                .execute(&mut *tx)
                .await?;
            // Older snapshots are never read again.
            sqlx::query("DELETE FROM snapshots WHERE block_number < $1")
                .bind(to_i64(h.number)?)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let row = sqlx::query(
            "SELECT block_number, state FROM snapshots ORDER BY block_number DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some((to_u64(r.try_get(0)?)?, r.try_get(1)?))),
        }
    }

    async fn blocks_after(&self, after: u64, limit: u32) -> Result<Vec<CommittedBlock>> {
        let Some(after) = query_i64(after) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT number, hash, parent_hash, timestamp_ms, tx_root FROM blocks \
             WHERE number > $1 ORDER BY number LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let headers: Vec<BlockHeader> = rows.iter().map(decode_header).collect::<Result<_>>()?;
        let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
            return Ok(Vec::new());
        };
        let (from, to) = (first.number, last.number);
        let mut txs = self.txs_of_blocks(from, to).await?.into_iter().peekable();
        let mut events = self
            .events_of_blocks(from, to)
            .await?
            .into_iter()
            .peekable();
        let mut blocks = Vec::with_capacity(headers.len());
        for header in headers {
            let mut block = CommittedBlock {
                header,
                txs: Vec::new(),
                events: Vec::new(),
            };
            while let Some(t) = txs.next_if(|t| t.block_number == block.header.number) {
                block.txs.push(t);
            }
            while let Some(e) = events.next_if(|e| e.block_number == block.header.number) {
                block.events.push(e);
            }
            blocks.push(block);
        }
        Ok(blocks)
    }

    async fn block(&self, number: u64) -> Result<Option<BlockSummary>> {
        let Some(number) = query_i64(number) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT number, hash, parent_hash, timestamp_ms, tx_root FROM blocks WHERE number = $1",
        )
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let header = decode_header(&row)?;
        let rows =
            sqlx::query("SELECT hash FROM transactions WHERE block_number = $1 ORDER BY idx")
                .bind(number)
                .fetch_all(&self.pool)
                .await?;
        let transactions = rows
            .iter()
            .map(|r| to_h256(r.try_get(0)?))
            .collect::<Result<_>>()?;
        Ok(Some(BlockSummary {
            header,
            transactions,
        }))
    }

    async fn transaction(&self, hash: &H256) -> Result<Option<(TxRecord, Vec<EventRecord>)>> {
        let row = sqlx::query(
            "SELECT hash, block_number, idx, name, sender, raw, signature FROM transactions \
             WHERE hash = $1",
        )
        .bind(hash.0.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let record = decode_tx(&row)?;
        let rows =
            sqlx::query("SELECT body FROM events WHERE txhash = $1 ORDER BY block_number, seq")
                .bind(hash.0.to_vec())
                .fetch_all(&self.pool)
                .await?;
        let events = rows.iter().map(decode_event).collect::<Result<_>>()?;
        Ok(Some((record, events)))
    }

    async fn events(
        &self,
        since: u64,
        after: Option<(u64, u32)>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<EventRecord>> {
        let (after_block, after_seq) = match after {
            Some((b, s)) => match query_i64(b) {
                Some(b) => (b, i64::from(s)),
                None => return Ok(Vec::new()),
            },
            None => (-1, -1),
        };
        let Some(since) = query_i64(since) else {
            return Ok(Vec::new());
        };
        // The same rows, with what to select from them. `block_number >=
        // $2` repeats what the cursor's OR implies: PostgreSQL derives no
        // index range from an OR, and without it filtered every event
        // before the cursor on every page (a replay of 10^6 events ran at
        // 3,500 a second instead of 60,000).
        let range = |columns: &str, limit: i64| {
            let sql = format!(
                "SELECT {columns} FROM events WHERE block_number >= $1 \
                 AND block_number >= $2 \
                 AND (block_number > $2 OR (block_number = $2 AND seq > $3)) \
                 ORDER BY block_number, seq LIMIT $4"
            );
            async move {
                sqlx::query(&sql)
                    .bind(since)
                    .bind(after_block)
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
        };
        let mut limit = i64::from(limit);
        if max_bytes < usize::MAX {
            // The sizes first (from the same rows), so that no more bodies
            // are read than the budget allows. OCTET_LENGTH, not LENGTH:
            // both databases know a value's byte length without reading it
            // (SQLite since 3.43), while counting characters reads every
            // body of the range — 120 MB a page for events of 120 KB.
            let sizes = range("CAST(OCTET_LENGTH(body) AS BIGINT)", limit).await?;
            let mut total = 0usize;
            let mut fit = 0i64;
            for row in &sizes {
                let size = usize::try_from(row.try_get::<i64, _>(0)?).unwrap_or(usize::MAX);
                total = total.saturating_add(size);
                if fit > 0 && total > max_bytes {
                    break;
                }
                fit += 1;
            }
            limit = fit;
        }
        let rows = range("body", limit).await?;
        rows.iter().map(decode_event).collect()
    }

    async fn block_activity(&self, since_ms: u64, bucket_ms: u64) -> Result<Vec<BlockBucket>> {
        if bucket_ms == 0 {
            return Err(StoreError::Corrupt(
                "block_activity: a bucket of 0 ms".into(),
            ));
        }
        let (Some(since_ms), Some(bucket_ms_i64)) = (query_i64(since_ms), query_i64(bucket_ms))
        else {
            return Ok(Vec::new());
        };
        // Blocks first, then their transactions counted per block range:
        // both use an index, and empty blocks cost no join.
        let rows = sqlx::query(
            "SELECT timestamp_ms / $2 AS bucket, MIN(number) AS first_block, \
             MAX(number) AS last_block FROM blocks WHERE timestamp_ms >= $1 \
             GROUP BY timestamp_ms / $2 ORDER BY bucket",
        )
        .bind(since_ms)
        .bind(bucket_ms_i64)
        .fetch_all(&self.pool)
        .await?;
        let mut buckets = Vec::with_capacity(rows.len());
        for row in &rows {
            let bucket = to_u64(row.try_get("bucket")?)?;
            buckets.push(BlockBucket {
                start_ms: bucket.saturating_mul(bucket_ms),
                first_block: to_u64(row.try_get("first_block")?)?,
                last_block: to_u64(row.try_get("last_block")?)?,
                transactions: 0,
            });
        }
        let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else {
            return Ok(buckets);
        };
        let counts = sqlx::query(
            "SELECT block_number, COUNT(*) AS n FROM transactions \
             WHERE block_number >= $1 AND block_number <= $2 GROUP BY block_number",
        )
        .bind(to_i64(first.first_block)?)
        .bind(to_i64(last.last_block)?)
        .fetch_all(&self.pool)
        .await?;
        for row in &counts {
            let block = to_u64(row.try_get("block_number")?)?;
            let n = to_u64(row.try_get("n")?)?;
            // Buckets are in block order unless the sequencer's clock
            // stepped back; then fall back to a search.
            let at = buckets.partition_point(|b| b.last_block < block);
            let at = match buckets.get(at) {
                Some(b) if b.first_block <= block => Some(at),
                _ => buckets
                    .iter()
                    .position(|b| b.first_block <= block && block <= b.last_block),
            };
            if let Some(b) = at.and_then(|at| buckets.get_mut(at)) {
                b.transactions = b.transactions.saturating_add(n);
            }
        }
        Ok(buckets)
    }

    async fn first_block_since(&self, since_ms: u64) -> Result<Option<u64>> {
        let Some(since_ms) = query_i64(since_ms) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT number FROM blocks WHERE timestamp_ms >= $1 \
             ORDER BY timestamp_ms, number LIMIT 1",
        )
        .bind(since_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| to_u64(r.try_get(0)?)).transpose()
    }

    async fn transactions_from(&self, sender: &Address, limit: u32) -> Result<Vec<TxRecord>> {
        let rows = sqlx::query(
            "SELECT hash, block_number, idx, name, sender, raw, signature FROM transactions \
             WHERE sender = $1 ORDER BY block_number DESC, idx DESC LIMIT $2",
        )
        .bind(sender.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_tx).collect()
    }

    async fn put_settled(&self, settled: &[SettledBounty]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_settled(self.backend, &mut tx, settled, true).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn settled_bounty(&self, guid: &Guid) -> Result<Option<SettledBounty>> {
        let row = sqlx::query("SELECT number, body FROM bounties WHERE guid = $1")
            .bind(guid.as_bytes().to_vec())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode_settled).transpose()
    }

    async fn settled_among(&self, guids: &[Guid]) -> Result<Vec<Guid>> {
        let mut found = Vec::new();
        for chunk in guids.chunks(INSERT_CHUNK) {
            let list = placeholders(self.backend, 1, chunk.len());
            let sql = format!("SELECT guid FROM bounties WHERE guid IN {list}");
            let mut q = sqlx::query(&sql);
            for g in chunk {
                q = q.bind(g.as_bytes().to_vec());
            }
            for row in q.fetch_all(&self.pool).await? {
                let bytes: Vec<u8> = row.try_get(0)?;
                let guid = Guid::from_slice(&bytes)
                    .map_err(|_| StoreError::Corrupt(format!("guid of {} bytes", bytes.len())))?;
                found.push(guid);
            }
        }
        Ok(found)
    }

    async fn settled_numbers(
        &self,
        below: u64,
        except: &[u64],
        skip: u64,
        limit: u32,
    ) -> Result<Vec<u64>> {
        // `$N` in the order they appear: SQLite numbers its parameters so.
        let except_sql = if except.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = (0..except.len()).map(|i| format!("${}", i + 2)).collect();
            format!(" AND number NOT IN ({})", list.join(","))
        };
        let n = except.len();
        let sql = format!(
            "SELECT number FROM bounties WHERE number < $1{except_sql} \
             ORDER BY number DESC LIMIT ${} OFFSET ${}",
            n + 2,
            n + 3
        );
        let mut q = sqlx::query(&sql).bind(query_i64(below).unwrap_or(i64::MAX));
        for e in except {
            q = q.bind(query_i64(*e).unwrap_or(-1));
        }
        let rows = q
            .bind(i64::from(limit))
            .bind(query_i64(skip).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| to_u64(r.try_get(0)?)).collect()
    }

    async fn settled_by_numbers(&self, numbers: &[u64]) -> Result<Vec<SettledBounty>> {
        let mut out = Vec::with_capacity(numbers.len());
        for chunk in numbers.chunks(INSERT_CHUNK) {
            let list = placeholders(self.backend, 1, chunk.len());
            let sql = format!(
                "SELECT number, body FROM bounties WHERE number IN {list} ORDER BY number DESC"
            );
            let mut q = sqlx::query(&sql);
            for n in chunk {
                q = q.bind(query_i64(*n).unwrap_or(-1));
            }
            for row in q.fetch_all(&self.pool).await? {
                out.push(decode_settled(&row)?);
            }
        }
        out.sort_by_key(|b| std::cmp::Reverse(b.number));
        Ok(out)
    }

    async fn settled_bounties(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<SettledBounty>> {
        let before = before.map_or(i64::MAX, |b| query_i64(b).unwrap_or(i64::MAX));
        let rows = sqlx::query(
            "SELECT number, body FROM bounties WHERE number < $1 ORDER BY number DESC LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_settled).collect()
    }

    async fn settled_after(
        &self,
        after: Option<(u64, u64)>,
        to_block: u64,
        limit: u32,
    ) -> Result<Vec<SettledBounty>> {
        let (block, number) = match after {
            None => (-1, -1),
            Some((b, n)) => match (query_i64(b), query_i64(n)) {
                (Some(b), Some(n)) => (b, n),
                _ => return Ok(Vec::new()),
            },
        };
        let to = query_i64(to_block).unwrap_or(i64::MAX);
        // `settled_block >= $2` repeats the cursor's OR as a range that
        // PostgreSQL can start its index scan at (see `events`).
        let rows = sqlx::query(
            "SELECT number, body FROM bounties WHERE settled_block <= $1 \
             AND settled_block >= $2 \
             AND (settled_block > $2 OR (settled_block = $2 AND number > $3)) \
             ORDER BY settled_block, number LIMIT $4",
        )
        .bind(to)
        .bind(block)
        .bind(number)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_settled).collect()
    }

    async fn settled_per_block(&self, from_block: u64) -> Result<Vec<(u64, u64)>> {
        let Some(from) = query_i64(from_block) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT settled_block, COUNT(*) AS n FROM bounties WHERE settled_block >= $1 \
             GROUP BY settled_block ORDER BY settled_block",
        )
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((to_u64(r.try_get(0)?)?, to_u64(r.try_get(1)?)?)))
            .collect()
    }

    async fn set_sequencer_url(&self, url: &str) -> Result<()> {
        self.set_meta("sequencer_url", url).await
    }

    async fn sequencer_url(&self) -> Result<Option<String>> {
        self.meta("sequencer_url").await
    }

    async fn set_explorer_checkpoint(&self, json: &str) -> Result<()> {
        self.set_meta("explorer_checkpoint", json).await
    }

    async fn explorer_checkpoint(&self) -> Result<Option<String>> {
        self.meta("explorer_checkpoint").await
    }

    async fn try_lock_sequencer(&self) -> Result<bool> {
        let mut held = self.lock.lock().await;
        if held.is_some() {
            return Ok(true);
        }
        match self.backend {
            Backend::Sqlite => {
                let path = match &self.sqlite_path {
                    Some(p) => p.with_extension("sequencer.lock"),
                    None => return Err(StoreError::Url(self.url.clone())),
                };
                let locked = lock_sqlite(&path).await?;
                let got = locked.is_some();
                *held = locked.map(|c| SequencerLock::Sqlite { _connection: c });
                Ok(got)
            }
            Backend::Postgres => {
                let mut conn = sqlx::AnyConnection::connect(&self.url).await?;
                let row = sqlx::query("SELECT pg_try_advisory_lock($1)")
                    .bind(SEQUENCER_LOCK_KEY)
                    .fetch_one(&mut conn)
                    .await?;
                let locked: bool = row.try_get(0)?;
                if locked {
                    *held = Some(SequencerLock::Postgres { _connection: conn });
                }
                Ok(locked)
            }
        }
    }
}
