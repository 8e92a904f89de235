//! The conformance suite every [`Store`] must pass.
//!
//! Each check is a `pub async fn` taking a [`Database`]: a fresh, empty
//! database on which the check opens as many store instances as it needs
//! (most need one; the lock, race and reopen checks need two, as two
//! processes sharing a database would). A check panics on the first
//! deviation, naming it.
//!
//! [`store_conformance_tests!`](crate::store_conformance_tests) turns the
//! whole suite into one `#[tokio::test]` per check for a backend, so adding a
//! check here adds it for every backend:
//!
//! ```text
//! mod sqlite {
//!     async fn fresh() -> MySqliteDatabase { /* a new empty database */ }
//!     swarm_node::store_conformance_tests!(fresh);
//! }
//! ```
//!
//! The blocks are real: signed transactions ([`Tx::sign`]) and events as the
//! registry produces them, including payloads with nested JSON, unicode and
//! escaped control characters, in blocks large enough to span several
//! multi-row inserts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use swarm_protocol::test_utils::{key, Market};
use swarm_protocol::{
    keccak256, Address, Amount, ArtifactMetadata, ArtifactType, Bits256, BountyPosted, Event, Guid,
    Mint, SettledBounty, Transfer, Tx, TxBody, H256,
};

use super::{BlockBucket, BlockSummary, Store, StoreError};
use crate::chain::{BlockHeader, CommittedBlock, EventRecord, TxRecord};

/// A fresh, empty database the suite can open store instances on.
pub trait Database: Send + Sync {
    /// Opens one more store instance on this database, with its own
    /// connections, as another process would.
    fn open(&self) -> impl Future<Output = Arc<dyn Store>> + Send;
}

/// Expands to one `#[tokio::test]` per conformance check, each on a database
/// returned by `$fresh().await` (an `async fn` returning a
/// [`Database`](crate::store::conformance::Database)).
#[macro_export]
macro_rules! store_conformance_tests {
    ($fresh:path) => {
        $crate::store_conformance_tests!(@each $fresh;
            genesis_init_and_mismatch,
            opened_together_on_a_new_database,
            empty_store,
            commit_and_read_back,
            blocks_after_paging,
            transaction_lookup,
            events_paging,
            out_of_order_refused_and_nothing_written,
            failed_commit_writes_nothing,
            large_block_round_trips,
            snapshots_latest_wins,
            sequencer_url_upsert,
            explorer_checkpoint_upsert,
            blocks_commit_while_the_checkpoint_is_written,
            sequencer_lock_exclusive,
            reopen_sees_everything,
            racing_commits_one_wins,
            block_activity_buckets,
            first_block_since,
            transactions_by_sender,
            settled_bounties_commit_with_their_block,
            a_failed_commit_stores_no_settled_bounty,
            put_settled_fills_in_only_what_is_missing,
        );
    };
    (@each $fresh:path; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let db = $fresh().await;
                $crate::store::conformance::$check(&db).await;
            }
        )*
    };
}

/// The genesis text the checks record.
const GENESIS: &str =
    "community = \"conformance\"\nowner = \"0x0000000000000000000000000000000000000001\"\n";

/// Builds a chain of real blocks: signed transactions, their events, and the
/// block-level events `begin_block` would emit, with deterministic contents.
#[derive(Debug)]
pub struct ChainBuilder {
    parent: H256,
    number: u64,
    counter: u64,
}

impl Default for ChainBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainBuilder {
    /// A builder whose next block is block 1.
    pub fn new() -> Self {
        Self::seeded(0)
    }

    /// A builder whose transactions differ from those of builders with
    /// other seeds (seeds a million apart never collide).
    pub fn seeded(seed: u64) -> Self {
        ChainBuilder {
            parent: H256::ZERO,
            number: 0,
            counter: seed,
        }
    }

    /// A signed `nct:Mint` or `nct:Transfer` from test key `signer`,
    /// unique per call, recorded as transaction `index` of block `number`,
    /// with the events it produces.
    fn tx(&mut self, number: u64, index: u32, signer: u64) -> (TxRecord, Vec<Event>) {
        self.counter += 1;
        let k = key(signer);
        let to = key(signer + 1).address();
        let amount = Amount::from_wei(u128::from(self.counter) * 1_000_000_007 + u128::MAX / 4);
        let body: TxBody = if self.counter.is_multiple_of(2) {
            Transfer { to, amount }.into()
        } else {
            Mint { to, amount }.into()
        };
        let signed = Tx::new(k.address(), "conformance", number + 100, body.clone()).sign(&k);
        let name = body.name().to_owned();
        let events = match body {
            TxBody::Transfer(t) => vec![Event::Transfer {
                from: k.address(),
                to: t.to,
                amount: t.amount,
            }],
            TxBody::Mint(m) => vec![
                Event::Mint {
                    to: m.to,
                    amount: m.amount,
                },
                // A second event from the same transaction, of a rich kind.
                Event::Bounty(self.bounty(k.address())),
            ],
            _ => unreachable!("only mints and transfers are built"),
        };
        let record = TxRecord {
            hash: signed.hash(),
            name,
            from: k.address(),
            signed,
            block_number: number,
            index,
        };
        (record, events)
    }

    /// A bounty event whose payload exercises nested JSON and awkward text.
    fn bounty(&self, author: Address) -> BountyPosted {
        let mut extra = serde_json::Map::new();
        extra.insert(
            "nested".into(),
            serde_json::json!({"list": [1, 2.5, null, true], "text": "quote \" backslash \\"}),
        );
        BountyPosted {
            guid: Guid::from_u128(u128::from(self.counter) << 64 | 0xb0),
            artifact_type: ArtifactType::File,
            author,
            amount: Amount::from_nct(u128::from(self.counter)),
            uri: hex::encode(keccak256(self.counter.to_be_bytes()).0),
            num_artifacts: 2,
            expiration: 10,
            reveal_deadline: 20,
            vote_deadline: 30,
            metadata: Some(vec![
                ArtifactMetadata {
                    filename: Some("é 😀 'single' \"double\" nul\u{0}tab\t.exe".into()),
                    filesize: Some(u64::MAX),
                    mimetype: Some("application/x-dosexec".into()),
                    extra,
                    ..ArtifactMetadata::default()
                },
                ArtifactMetadata::default(),
            ]),
        }
    }

    /// The next block with `txs` transactions (alternately from test keys 1
    /// and 3). Its events: the `block` event, then each transaction's events,
    /// then — when `settle` — a block-level event without a transaction.
    pub fn next_block(&mut self, txs: u32, settle: bool) -> CommittedBlock {
        let number = self.number + 1;
        let mut records = Vec::new();
        let mut events = vec![(Event::Block { number }, None)];
        for index in 0..txs {
            let (record, produced) = self.tx(number, index, 1 + 2 * u64::from(index % 2));
            events.extend(produced.into_iter().map(|e| (e, Some(record.hash))));
            records.push(record);
        }
        if settle {
            events.push((
                Event::WindowUpdate {
                    assertion_reveal_window: number,
                    arbiter_vote_window: number * 2,
                },
                None,
            ));
        }
        let events = events
            .into_iter()
            .enumerate()
            .map(|(seq, (event, txhash))| EventRecord {
                event,
                block_number: number,
                seq: seq as u32,
                txhash,
            })
            .collect();
        self.block_of(number, records, events)
    }

    /// The next block with no transactions and no events at all.
    pub fn bare_block(&mut self) -> CommittedBlock {
        self.block_of(self.number + 1, Vec::new(), Vec::new())
    }

    fn block_of(
        &mut self,
        number: u64,
        txs: Vec<TxRecord>,
        events: Vec<EventRecord>,
    ) -> CommittedBlock {
        let hashes: Vec<H256> = txs.iter().map(|t| t.hash).collect();
        let header = BlockHeader::seal(
            number,
            self.parent,
            1_700_000_000_000 + number * 50,
            &hashes,
        );
        self.parent = header.hash;
        self.number = number;
        CommittedBlock {
            header,
            txs,
            events,
        }
    }

    /// A varied chain of `n` blocks: some empty, some bare, some busy.
    pub fn chain(&mut self, n: u64) -> Vec<CommittedBlock> {
        (0..n)
            .map(|i| match i % 4 {
                0 => self.next_block(3, false),
                1 => self.next_block(0, false),
                2 => self.bare_block(),
                _ => self.next_block(2, true),
            })
            .collect()
    }
}

/// Commits `blocks` in order, without snapshots.
async fn commit_all(store: &dyn Store, blocks: &[CommittedBlock]) {
    for b in blocks {
        store
            .commit_block(b, &[], None)
            .await
            .unwrap_or_else(|e| panic!("commit of block {} failed: {e}", b.header.number));
    }
}

fn summary(block: &CommittedBlock) -> BlockSummary {
    BlockSummary {
        header: block.header.clone(),
        transactions: block.txs.iter().map(|t| t.hash).collect(),
    }
}

fn all_events(blocks: &[CommittedBlock]) -> Vec<EventRecord> {
    blocks.iter().flat_map(|b| b.events.clone()).collect()
}

/// Everything a reader can see: tip, blocks, events, latest snapshot.
type Visible = (
    Option<BlockHeader>,
    Vec<CommittedBlock>,
    Vec<EventRecord>,
    Option<(u64, Vec<u8>)>,
);

/// Everything a reader can see, for comparing a store before and after an
/// operation that must not change it.
async fn visible(store: &dyn Store) -> Visible {
    (
        store.tip().await.unwrap(),
        store.blocks_after(0, u32::MAX).await.unwrap(),
        store.events(0, None, u32::MAX, usize::MAX).await.unwrap(),
        store.latest_snapshot().await.unwrap(),
    )
}

/// `init_genesis` records the first genesis, accepts the same text again
/// (also from another instance), and refuses any other with
/// [`StoreError::GenesisMismatch`] naming both hashes, changing nothing.
pub async fn genesis_init_and_mismatch(db: &impl Database) {
    let store = db.open().await;
    assert_eq!(
        store.genesis().await.unwrap(),
        None,
        "a fresh store has no genesis"
    );
    assert_eq!(store.init_genesis(GENESIS).await.unwrap(), GENESIS);
    assert_eq!(store.genesis().await.unwrap().as_deref(), Some(GENESIS));
    assert_eq!(
        store.init_genesis(GENESIS).await.unwrap(),
        GENESIS,
        "the same genesis again is accepted"
    );

    let other = format!("{GENESIS}# another\n");
    match store.init_genesis(&other).await {
        Err(StoreError::GenesisMismatch { stored, given }) => {
            assert_eq!(stored, keccak256(GENESIS.as_bytes()));
            assert_eq!(given, keccak256(other.as_bytes()));
        }
        other => panic!("a different genesis must be refused with GenesisMismatch, got {other:?}"),
    }
    assert_eq!(
        store.genesis().await.unwrap().as_deref(),
        Some(GENESIS),
        "the refusal changed nothing"
    );

    let second = db.open().await;
    assert_eq!(second.genesis().await.unwrap().as_deref(), Some(GENESIS));
    assert_eq!(second.init_genesis(GENESIS).await.unwrap(), GENESIS);
    assert!(matches!(
        second.init_genesis(&other).await,
        Err(StoreError::GenesisMismatch { .. })
    ));
}

/// Two instances opened at the same moment on a new database — two nodes
/// started together — both create the schema and record the same genesis
/// without failing on each other's work.
pub async fn opened_together_on_a_new_database(db: &impl Database) {
    let (a, b) = tokio::join!(db.open(), db.open());
    let (ra, rb) = tokio::join!(a.init_genesis(GENESIS), b.init_genesis(GENESIS));
    assert_eq!(ra.unwrap(), GENESIS);
    assert_eq!(rb.unwrap(), GENESIS);
}

/// A fresh store has no tip, blocks, transactions, events, snapshot or sequencer.
pub async fn empty_store(db: &impl Database) {
    let store = db.open().await;
    assert_eq!(store.tip().await.unwrap(), None);
    assert_eq!(store.block(0).await.unwrap(), None);
    assert_eq!(store.block(1).await.unwrap(), None);
    assert!(store.blocks_after(0, 100).await.unwrap().is_empty());
    assert!(store
        .events(0, None, 100, usize::MAX)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .events(0, Some((0, 0)), 100, usize::MAX)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.transaction(&keccak256(b"nothing")).await.unwrap(),
        None
    );
    assert_eq!(store.latest_snapshot().await.unwrap(), None);
    assert_eq!(store.sequencer_url().await.unwrap(), None);
}

/// Committed blocks read back exactly: `tip`, `block` (header and
/// transaction hashes in order) and `blocks_after` (whole `CommittedBlock`s,
/// events in order), for busy, empty and bare blocks.
pub async fn commit_and_read_back(db: &impl Database) {
    let store = db.open().await;
    let blocks = ChainBuilder::new().chain(8);
    for (i, b) in blocks.iter().enumerate() {
        store.commit_block(b, &[], None).await.unwrap();
        assert_eq!(
            store.tip().await.unwrap().as_ref(),
            Some(&b.header),
            "tip after block {}",
            i + 1
        );
        assert_eq!(
            store.blocks_after(b.header.number - 1, 10).await.unwrap(),
            vec![b.clone()],
            "block {} reads back as committed",
            b.header.number
        );
    }
    for b in &blocks {
        assert_eq!(
            store.block(b.header.number).await.unwrap(),
            Some(summary(b))
        );
    }
    assert_eq!(store.block(0).await.unwrap(), None);
    assert_eq!(store.block(9).await.unwrap(), None);
    assert_eq!(store.blocks_after(0, 100).await.unwrap(), blocks);
}

/// `blocks_after(after, limit)` returns up to `limit` blocks numbered above
/// `after`, in order, for every `after` and `limit`.
pub async fn blocks_after_paging(db: &impl Database) {
    let store = db.open().await;
    let blocks = ChainBuilder::new().chain(7);
    commit_all(store.as_ref(), &blocks).await;
    for after in 0..=8u64 {
        for limit in [0u32, 1, 2, 3, 7, 100, u32::MAX] {
            let expected: Vec<CommittedBlock> = blocks
                .iter()
                .filter(|b| b.header.number > after)
                .take(limit as usize)
                .cloned()
                .collect();
            assert_eq!(
                store.blocks_after(after, limit).await.unwrap(),
                expected,
                "blocks_after({after}, {limit})"
            );
        }
    }
    // Paging through with a small limit yields the chain exactly once.
    let mut paged = Vec::new();
    loop {
        let after = paged
            .last()
            .map(|b: &CommittedBlock| b.header.number)
            .unwrap_or(0);
        let page = store.blocks_after(after, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        paged.extend(page);
    }
    assert_eq!(paged, blocks);
}

/// `transaction(hash)` returns the record and exactly the events it
/// produced, in order; unknown hashes give `None`.
pub async fn transaction_lookup(db: &impl Database) {
    let store = db.open().await;
    let blocks = ChainBuilder::new().chain(5);
    commit_all(store.as_ref(), &blocks).await;
    let mut seen = 0;
    for b in &blocks {
        for t in &b.txs {
            let own: Vec<EventRecord> = b
                .events
                .iter()
                .filter(|e| e.txhash == Some(t.hash))
                .cloned()
                .collect();
            assert!(!own.is_empty());
            assert_eq!(
                store.transaction(&t.hash).await.unwrap(),
                Some((t.clone(), own)),
                "transaction {} of block {}",
                t.index,
                b.header.number
            );
            seen += 1;
        }
    }
    assert!(seen >= 5, "the chain holds transactions");
    assert_eq!(store.transaction(&H256::ZERO).await.unwrap(), None);
    // A block hash is not a transaction hash.
    assert_eq!(
        store.transaction(&blocks[0].header.hash).await.unwrap(),
        None
    );
}

/// `events(since, after, limit)`: up to `limit` events of blocks >= `since`
/// strictly after position `after` (block, seq) when given, in (block, seq)
/// order — checked against a model for every combination, and by paging the
/// way the event stream does.
pub async fn events_paging(db: &impl Database) {
    let store = db.open().await;
    let blocks = ChainBuilder::new().chain(6);
    commit_all(store.as_ref(), &blocks).await;
    let events = all_events(&blocks);
    let model = |since: u64, after: Option<(u64, u32)>, limit: u32| -> Vec<EventRecord> {
        events
            .iter()
            .filter(|e| e.block_number >= since)
            .filter(|e| after.is_none_or(|a| (e.block_number, e.seq) > a))
            .take(limit as usize)
            .cloned()
            .collect()
    };
    let mut afters = vec![None];
    for b in 0..=7u64 {
        for s in [0u32, 1, 2, 5, u32::MAX] {
            afters.push(Some((b, s)));
        }
    }
    for since in 0..=7u64 {
        for &after in &afters {
            for limit in [0u32, 1, 3, u32::MAX] {
                assert_eq!(
                    store.events(since, after, limit, usize::MAX).await.unwrap(),
                    model(since, after, limit),
                    "events(since {since}, after {after:?}, limit {limit})"
                );
            }
        }
    }
    // Paging from each `since` with the last position seen, as the event
    // stream replays, gives every event from `since` on exactly once.
    for since in 0..=7u64 {
        for page_size in [1u32, 2, 5] {
            let mut got: Vec<EventRecord> = Vec::new();
            loop {
                let after = got.last().map(|e| (e.block_number, e.seq));
                let page = store
                    .events(since, after, page_size, usize::MAX)
                    .await
                    .unwrap();
                assert!(page.len() <= page_size as usize);
                if page.is_empty() {
                    break;
                }
                got.extend(page);
            }
            assert_eq!(
                got,
                model(since, None, u32::MAX),
                "paging from {since} by {page_size}"
            );
        }
    }
    // A byte budget cuts pages short, but a page is never empty while
    // events are left, even when one event alone is over the budget.
    let size = |e: &EventRecord| serde_json::to_string(e).map(|t| t.len()).unwrap_or(0);
    for max_bytes in [1usize, 150, 400, 5_000] {
        let mut got: Vec<EventRecord> = Vec::new();
        loop {
            let after = got.last().map(|e| (e.block_number, e.seq));
            let page = store.events(0, after, 100, max_bytes).await.unwrap();
            if page.is_empty() {
                break;
            }
            let bytes: usize = page.iter().map(size).sum();
            assert!(
                page.len() == 1 || bytes <= max_bytes,
                "{} events of {bytes} bytes in a page of at most {max_bytes}",
                page.len()
            );
            // Greedy: the next event would not have fit.
            if let Some(next) = model(0, page.last().map(|e| (e.block_number, e.seq)), 1).first() {
                assert!(bytes + size(next) > max_bytes || page.len() == 100);
            }
            got.extend(page);
        }
        assert_eq!(got, model(0, None, u32::MAX), "paging by {max_bytes} bytes");
    }
}

/// A block that does not follow the tip is refused with
/// [`StoreError::OutOfOrder`] and nothing of it — header, transactions,
/// events, snapshot — is written.
pub async fn out_of_order_refused_and_nothing_written(db: &impl Database) {
    let store = db.open().await;
    let mut chain = ChainBuilder::new();
    let blocks = chain.chain(3);

    // On an empty store only block 1 may come.
    for (block, tip) in [(&blocks[1], 0u64), (&blocks[2], 0)] {
        match store.commit_block(block, &[], Some(b"snapshot")).await {
            Err(StoreError::OutOfOrder { number, tip: t }) => {
                assert_eq!((number, t), (block.header.number, tip));
            }
            other => panic!("block {} on an empty store: {other:?}", block.header.number),
        }
    }
    assert_eq!(visible(store.as_ref()).await, (None, vec![], vec![], None));
    for t in &blocks[1].txs {
        assert_eq!(store.transaction(&t.hash).await.unwrap(), None);
    }

    store
        .commit_block(&blocks[0], &[], Some(b"one"))
        .await
        .unwrap();
    let before = visible(store.as_ref()).await;
    // A repeat, a gap, and a block numbered 0 are all refused.
    let mut zero = ChainBuilder::seeded(3_000_000).next_block(1, false);
    zero.header.number = 0;
    for e in &mut zero.events {
        e.block_number = 0;
    }
    for (block, number) in [(&blocks[0], 1u64), (&blocks[2], 3), (&zero, 0)] {
        match store.commit_block(block, &[], Some(b"later")).await {
            Err(StoreError::OutOfOrder { number: n, tip }) => assert_eq!((n, tip), (number, 1)),
            other => panic!("block {number} after tip 1: {other:?}"),
        }
    }
    assert_eq!(
        visible(store.as_ref()).await,
        before,
        "refused blocks wrote nothing"
    );
    for t in blocks[2].txs.iter().chain(&zero.txs) {
        assert_eq!(store.transaction(&t.hash).await.unwrap(), None);
    }
    // The store goes on normally.
    commit_all(store.as_ref(), &blocks[1..]).await;
    assert_eq!(store.blocks_after(0, 10).await.unwrap(), blocks);
}

/// A commit that fails part-way — a transaction hash already stored, the
/// same transaction twice in one block, two events at one position, a
/// duplicate past the first multi-row insert — writes nothing at all: no
/// block row, no transactions, no events, no snapshot; and the next valid
/// block commits normally.
pub async fn failed_commit_writes_nothing(db: &impl Database) {
    let store = db.open().await;
    let mut chain = ChainBuilder::new();
    let first = chain.next_block(2, false);
    store
        .commit_block(&first, &[], Some(b"snapshot one"))
        .await
        .unwrap();
    let before = visible(store.as_ref()).await;

    let valid = chain.next_block(3, true);
    let mut bad = Vec::new();
    {
        // Re-includes a transaction of block 1 (its hash is a primary key).
        let mut b = valid.clone();
        let mut replay = first.txs[0].clone();
        replay.block_number = 2;
        replay.index = 3;
        b.txs.push(replay);
        bad.push(("a transaction already stored", b));
    }
    {
        // The same transaction twice in the block.
        let mut b = valid.clone();
        let mut twice = b.txs[0].clone();
        twice.index = 3;
        b.txs.push(twice);
        bad.push(("a transaction twice", b));
    }
    {
        // Two events at the same position: fails after the block and its
        // transactions were inserted.
        let mut b = valid.clone();
        let dup = b.events[1].clone();
        b.events.push(dup);
        bad.push(("two events at one position", b));
    }
    {
        // A duplicate in a later multi-row insert, after earlier ones succeeded.
        let mut big = ChainBuilder::seeded(1_000_000);
        big.parent = first.header.hash;
        big.number = 1;
        let mut b = big.next_block(1_100, false);
        let mut again = b.txs[0].clone();
        again.index = 1_100;
        b.txs.push(again);
        bad.push(("a duplicate past the first insert batch", b));
    }
    for (what, block) in &bad {
        let result = store.commit_block(block, &[], Some(b"snapshot two")).await;
        assert!(result.is_err(), "a block with {what} must be refused");
        assert_eq!(
            visible(store.as_ref()).await,
            before,
            "a block with {what} wrote something"
        );
        assert_eq!(store.block(2).await.unwrap(), None, "{what}");
        for t in &block.txs {
            if !first.txs.iter().any(|f| f.hash == t.hash) {
                assert_eq!(store.transaction(&t.hash).await.unwrap(), None, "{what}");
            }
        }
        assert_eq!(
            store.transaction(&first.txs[0].hash).await.unwrap(),
            Some((
                first.txs[0].clone(),
                first
                    .events
                    .iter()
                    .filter(|e| e.txhash == Some(first.txs[0].hash))
                    .cloned()
                    .collect()
            )),
            "{what}: block 1's transaction is untouched"
        );
    }

    store.commit_block(&valid, &[], None).await.unwrap();
    assert_eq!(store.blocks_after(0, 10).await.unwrap(), vec![first, valid]);
    assert_eq!(
        store.latest_snapshot().await.unwrap(),
        Some((1, b"snapshot one".to_vec()))
    );
}

/// A block of more transactions and events than one multi-row insert takes
/// commits and reads back exactly, in order.
pub async fn large_block_round_trips(db: &impl Database) {
    let store = db.open().await;
    let mut chain = ChainBuilder::new();
    let blocks = vec![
        chain.next_block(1, false),
        chain.next_block(1_250, true),
        chain.next_block(1, false),
    ];
    assert!(blocks[1].events.len() > 1_800);
    commit_all(store.as_ref(), &blocks).await;
    assert_eq!(store.blocks_after(0, 10).await.unwrap(), blocks);
    assert_eq!(store.block(2).await.unwrap(), Some(summary(&blocks[1])));
    assert_eq!(
        store.events(2, None, u32::MAX, usize::MAX).await.unwrap(),
        all_events(&blocks[1..])
    );
    let last = &blocks[1].txs[1_249];
    assert_eq!(
        store.transaction(&last.hash).await.unwrap(),
        Some((
            last.clone(),
            blocks[1]
                .events
                .iter()
                .filter(|e| e.txhash == Some(last.hash))
                .cloned()
                .collect()
        ))
    );
}

/// Snapshots: the latest one wins, exactly as given (any bytes, empty
/// included); a block committed without one keeps the previous one.
pub async fn snapshots_latest_wins(db: &impl Database) {
    let store = db.open().await;
    let blocks = ChainBuilder::new().chain(6);
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();

    store.commit_block(&blocks[0], &[], None).await.unwrap();
    assert_eq!(store.latest_snapshot().await.unwrap(), None);
    store
        .commit_block(&blocks[1], &[], Some(b"state at 2"))
        .await
        .unwrap();
    assert_eq!(
        store.latest_snapshot().await.unwrap(),
        Some((2, b"state at 2".to_vec()))
    );
    store.commit_block(&blocks[2], &[], None).await.unwrap();
    assert_eq!(
        store.latest_snapshot().await.unwrap(),
        Some((2, b"state at 2".to_vec()))
    );
    store
        .commit_block(&blocks[3], &[], Some(&every_byte))
        .await
        .unwrap();
    assert_eq!(
        store.latest_snapshot().await.unwrap(),
        Some((4, every_byte))
    );
    store
        .commit_block(&blocks[4], &[], Some(&[]))
        .await
        .unwrap();
    assert_eq!(
        store.latest_snapshot().await.unwrap(),
        Some((5, Vec::new()))
    );
    store
        .commit_block(&blocks[5], &[], Some(b"{\"json\": true}"))
        .await
        .unwrap();
    assert_eq!(
        store.latest_snapshot().await.unwrap(),
        Some((6, b"{\"json\": true}".to_vec()))
    );
    assert_eq!(
        db.open().await.latest_snapshot().await.unwrap(),
        Some((6, b"{\"json\": true}".to_vec()))
    );
}

/// `set_explorer_checkpoint` inserts, then replaces; every instance sees
/// the latest, and it leaves the sequencer's URL alone.
pub async fn explorer_checkpoint_upsert(db: &impl Database) {
    let store = db.open().await;
    assert_eq!(store.explorer_checkpoint().await.unwrap(), None);
    store.set_sequencer_url("http://127.0.0.1:1").await.unwrap();
    store
        .set_explorer_checkpoint("{\"cursor\":[1,2]}")
        .await
        .unwrap();
    let other = db.open().await;
    other
        .set_explorer_checkpoint("{\"cursor\":[3,4],\"name\":\"it's\"}")
        .await
        .unwrap();
    for s in [&store, &other] {
        assert_eq!(
            s.explorer_checkpoint().await.unwrap().as_deref(),
            Some("{\"cursor\":[3,4],\"name\":\"it's\"}")
        );
        assert_eq!(
            s.sequencer_url().await.unwrap().as_deref(),
            Some("http://127.0.0.1:1")
        );
    }
}

/// Blocks commit while the same store keeps recording the explorer's
/// checkpoint, as a node's background fold does: no commit is refused
/// because the checkpoint was written between its read of the tip and its
/// first write.
pub async fn blocks_commit_while_the_checkpoint_is_written(db: &impl Database) {
    let store = db.open().await;
    let blocks = ChainBuilder::new().chain(80);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = tokio::spawn({
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        async move {
            let mut writes = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                store
                    .set_explorer_checkpoint(&format!("{{\"writes\":{writes}}}"))
                    .await
                    .unwrap_or_else(|e| panic!("checkpoint {writes} failed: {e}"));
                writes += 1;
            }
            writes
        }
    });
    commit_all(store.as_ref(), &blocks).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.unwrap();
    assert!(writes > 0, "the checkpoint was never written");
    assert_eq!(store.blocks_after(0, 100).await.unwrap(), blocks);
    assert_eq!(
        store.explorer_checkpoint().await.unwrap(),
        Some(format!("{{\"writes\":{}}}", writes - 1))
    );
}

/// `set_sequencer_url` inserts, then replaces; every instance sees the latest.
pub async fn sequencer_url_upsert(db: &impl Database) {
    let store = db.open().await;
    assert_eq!(store.sequencer_url().await.unwrap(), None);
    store.set_sequencer_url("http://127.0.0.1:1").await.unwrap();
    assert_eq!(
        store.sequencer_url().await.unwrap().as_deref(),
        Some("http://127.0.0.1:1")
    );
    store.set_sequencer_url("http://127.0.0.1:1").await.unwrap();
    assert_eq!(
        store.sequencer_url().await.unwrap().as_deref(),
        Some("http://127.0.0.1:1")
    );
    let other = db.open().await;
    other
        .set_sequencer_url("http://[::1]:31337/with'quote")
        .await
        .unwrap();
    assert_eq!(
        store.sequencer_url().await.unwrap().as_deref(),
        Some("http://[::1]:31337/with'quote")
    );
    assert_eq!(
        other.sequencer_url().await.unwrap().as_deref(),
        Some("http://[::1]:31337/with'quote")
    );
    // The URL lives beside the genesis without disturbing it.
    store.init_genesis(GENESIS).await.unwrap();
    store.set_sequencer_url("http://b").await.unwrap();
    assert_eq!(store.genesis().await.unwrap().as_deref(), Some(GENESIS));
    assert_eq!(
        store.sequencer_url().await.unwrap().as_deref(),
        Some("http://b")
    );
}

/// Waits up to 10 s for `store` to take the sequencer lock: a released lock
/// may take a moment to be seen free (PostgreSQL ends the session of a
/// closed connection asynchronously).
async fn eventually_locks(store: &dyn Store, what: &str) {
    for _ in 0..200 {
        if store.try_lock_sequencer().await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: the sequencer lock was never released");
}

/// One instance at a time holds the sequencer lock: taking it again is a
/// no-op success, other instances on the database are refused while it is
/// held, and one of them gets it once the holder is dropped.
pub async fn sequencer_lock_exclusive(db: &impl Database) {
    let first = db.open().await;
    let second = db.open().await;
    assert!(
        first.try_lock_sequencer().await.unwrap(),
        "the first instance takes the lock"
    );
    assert!(
        first.try_lock_sequencer().await.unwrap(),
        "the holder keeps the lock"
    );
    assert!(
        !second.try_lock_sequencer().await.unwrap(),
        "a second instance is refused"
    );
    assert!(
        !second.try_lock_sequencer().await.unwrap(),
        "and refused again"
    );
    // The holder's lock does not stop others from reading and writing data.
    second.set_sequencer_url("http://first").await.unwrap();
    assert_eq!(
        first.sequencer_url().await.unwrap().as_deref(),
        Some("http://first")
    );

    let third = db.open().await;
    assert!(!third.try_lock_sequencer().await.unwrap());
    drop(first);
    eventually_locks(second.as_ref(), "after the holder was dropped").await;
    assert!(
        !third.try_lock_sequencer().await.unwrap(),
        "the new holder excludes the others"
    );
    let fourth = db.open().await;
    assert!(!fourth.try_lock_sequencer().await.unwrap());
    drop(second);
    eventually_locks(third.as_ref(), "after the second holder was dropped").await;
    assert!(!fourth.try_lock_sequencer().await.unwrap());
}

/// A store opened again on the database sees exactly what was committed.
pub async fn reopen_sees_everything(db: &impl Database) {
    let blocks = ChainBuilder::new().chain(9);
    let seen = {
        let store = db.open().await;
        store.init_genesis(GENESIS).await.unwrap();
        commit_all(store.as_ref(), &blocks[..4]).await;
        store
            .commit_block(&blocks[4], &[], Some(b"five"))
            .await
            .unwrap();
        commit_all(store.as_ref(), &blocks[5..]).await;
        store.set_sequencer_url("http://seq").await.unwrap();
        visible(store.as_ref()).await
    };
    let store = db.open().await;
    assert_eq!(visible(store.as_ref()).await, seen);
    assert_eq!(seen.0.as_ref(), Some(&blocks[8].header));
    assert_eq!(seen.1, blocks);
    assert_eq!(seen.3, Some((5, b"five".to_vec())));
    assert_eq!(store.genesis().await.unwrap().as_deref(), Some(GENESIS));
    assert_eq!(
        store.sequencer_url().await.unwrap().as_deref(),
        Some("http://seq")
    );
    // And it continues the chain.
    let all = ChainBuilder::new().chain(10);
    assert_eq!(all[..9], blocks[..]);
    store.commit_block(&all[9], &[], None).await.unwrap();
    assert_eq!(store.blocks_after(0, 100).await.unwrap(), all);
}

/// Two instances committing different blocks of the same number at once:
/// exactly one succeeds and only its block is stored — the database itself
/// fences out a second writer.
pub async fn racing_commits_one_wins(db: &impl Database) {
    let a = db.open().await;
    let b = db.open().await;
    let mut chain_a = ChainBuilder::new();
    let mut chain_b = ChainBuilder::seeded(2_000_000);
    let mut expected = Vec::new();
    for round in 0..8u64 {
        let block_a = chain_a.next_block(3, round % 2 == 0);
        let block_b = chain_b.next_block(2, false);
        assert_ne!(block_a.header.hash, block_b.header.hash);
        let (ra, rb) = tokio::join!(
            a.commit_block(&block_a, &[], None),
            b.commit_block(&block_b, &[], None)
        );
        let winner = match (ra, rb) {
            (Ok(()), Err(_)) => block_a,
            (Err(_), Ok(())) => block_b,
            (ra, rb) => {
                panic!("round {round}: exactly one commit must succeed, got {ra:?} and {rb:?}")
            }
        };
        // Both builders continue from the winner.
        chain_a.parent = winner.header.hash;
        chain_b.parent = winner.header.hash;
        expected.push(winner);
        assert_eq!(
            a.blocks_after(0, 100).await.unwrap(),
            expected,
            "round {round}"
        );
        assert_eq!(
            b.events(0, None, u32::MAX, usize::MAX).await.unwrap(),
            all_events(&expected),
            "round {round}"
        );
    }
}

/// `block_activity(since, width)`: blocks from `since` on grouped by
/// timestamp into buckets of `width` ms, with first/last block and the
/// transactions they hold — checked against a model for several windows.
pub async fn block_activity_buckets(db: &impl Database) {
    let store = db.open().await;
    assert_eq!(store.block_activity(0, 1000).await.unwrap(), Vec::new());
    assert!(
        store.block_activity(0, 0).await.is_err(),
        "a zero-width bucket is refused"
    );
    let blocks = ChainBuilder::new().chain(40);
    commit_all(store.as_ref(), &blocks).await;
    let start = blocks[0].header.timestamp_ms;
    for (since, width) in [
        (0, 1000),
        (start, 200),
        (start + 275, 300),
        (start + 50 * 39, 60_000),
        (start + 50 * 40, 1000),
    ] {
        let mut model: Vec<BlockBucket> = Vec::new();
        for b in blocks.iter().filter(|b| b.header.timestamp_ms >= since) {
            let bucket = b.header.timestamp_ms / width * width;
            let n = b.txs.len() as u64;
            match model.last_mut() {
                Some(last) if last.start_ms == bucket => {
                    last.last_block = b.header.number;
                    last.transactions += n;
                }
                _ => model.push(BlockBucket {
                    start_ms: bucket,
                    first_block: b.header.number,
                    last_block: b.header.number,
                    transactions: n,
                }),
            }
        }
        assert_eq!(
            store.block_activity(since, width).await.unwrap(),
            model,
            "since {since}, buckets of {width} ms"
        );
    }
}

/// `first_block_since(t)`: the first block whose timestamp is >= t.
pub async fn first_block_since(db: &impl Database) {
    let store = db.open().await;
    assert_eq!(store.first_block_since(0).await.unwrap(), None);
    let blocks = ChainBuilder::new().chain(20);
    commit_all(store.as_ref(), &blocks).await;
    let start = blocks[0].header.timestamp_ms;
    assert_eq!(store.first_block_since(0).await.unwrap(), Some(1));
    for b in &blocks {
        let t = b.header.timestamp_ms;
        assert_eq!(
            store.first_block_since(t).await.unwrap(),
            Some(b.header.number)
        );
        let after = blocks
            .iter()
            .find(|x| x.header.timestamp_ms > t)
            .map(|x| x.header.number);
        assert_eq!(store.first_block_since(t + 1).await.unwrap(), after);
    }
    assert_eq!(
        store.first_block_since(start + 50 * 20).await.unwrap(),
        None
    );
}

/// `transactions_from(sender, limit)`: that sender's transactions only,
/// newest first, at most `limit`.
pub async fn transactions_by_sender(db: &impl Database) {
    let store = db.open().await;
    let blocks = ChainBuilder::new().chain(12);
    commit_all(store.as_ref(), &blocks).await;
    let all: Vec<TxRecord> = blocks.iter().flat_map(|b| b.txs.clone()).collect();
    for signer in [1, 3] {
        let sender = key(signer).address();
        let mut model: Vec<TxRecord> = all.iter().filter(|t| t.from == sender).cloned().collect();
        model.reverse();
        assert!(
            model.len() > 3,
            "the chain has transactions from key {signer}"
        );
        assert_eq!(store.transactions_from(&sender, 1000).await.unwrap(), model);
        assert_eq!(
            store.transactions_from(&sender, 3).await.unwrap(),
            model[..3].to_vec()
        );
    }
    assert_eq!(
        store
            .transactions_from(&key(99).address(), 10)
            .await
            .unwrap(),
        Vec::new()
    );
}

/// `count` real settled bounties, as the registry hands them out: posted,
/// asserted on, revealed, voted and settled in a [`Market`], then given
/// metadata that exercises nested JSON and awkward text. Their posting
/// numbers are `first..first + count`; each settled at its own block.
pub fn settled_bounties(first: u64, count: u64) -> Vec<SettledBounty> {
    let mut m = Market::new(1);
    let stake = m.registry.parameters().minimum_stake;
    m.send(&key(100), swarm_protocol::StakeDeposit { amount: stake })
        .unwrap();
    let mut out = Vec::new();
    for i in 0..count {
        let guid = m.post(&key(1), 2, Amount::from_nct(2), 5);
        let bid = m.registry.parameters().assertion_bid_minimum;
        m.assert(
            &key(2),
            guid,
            Bits256::first(2),
            vec![bid, bid],
            Bits256::first(1),
        )
        .unwrap();
        let e = m.registry.bounty(&guid).unwrap().expiration;
        m.advance_to(e);
        m.reveal(&key(2), guid, Bits256::first(1)).unwrap();
        let r = m.registry.bounty(&guid).unwrap().reveal_deadline();
        m.advance_to(r);
        m.vote(&key(100), guid, Bits256::first(1)).unwrap();
        m.next_block();
        let mut handed = m.hand_out_settled();
        assert_eq!(
            handed.len(),
            1,
            "bounty {i} settles once every arbiter voted"
        );
        let mut s = handed.remove(0);
        s.number = first + i;
        let mut extra = serde_json::Map::new();
        extra.insert(
            "nested".into(),
            serde_json::json!({"list": [1, 2.5, null, true], "text": "quote \" backslash \\"}),
        );
        s.bounty.metadata = Some(vec![
            ArtifactMetadata {
                filename: Some(format!("é 😀 'single' \"double\" nul\u{0}tab\t{i}.exe")),
                filesize: Some(u64::MAX),
                sha256: Some(hex::encode(keccak256(i.to_be_bytes()).0)),
                extra,
                ..ArtifactMetadata::default()
            },
            ArtifactMetadata::default(),
        ]);
        out.push(s);
    }
    out
}

/// Settled bounties committed with blocks read back exactly: by guid, by
/// posting number, newest first page by page, which guids are settled, and
/// how many settled per block.
pub async fn settled_bounties_commit_with_their_block(db: &impl Database) {
    let store = db.open().await;
    store.init_genesis(GENESIS).await.unwrap();
    assert_eq!(
        store.settled_numbers(u64::MAX, &[], 0, 10).await.unwrap(),
        Vec::<u64>::new()
    );
    let mut chain = ChainBuilder::new();
    let settled = settled_bounties(0, 7);
    // Block 1 settles none, block 2 settles three, block 3 none, block 4 four.
    let blocks = chain.chain(4);
    let per_block: [&[SettledBounty]; 4] = [&[], &settled[..3], &[], &settled[3..]];
    for (block, s) in blocks.iter().zip(per_block) {
        store.commit_block(block, s, None).await.unwrap();
    }
    for s in &settled {
        assert_eq!(
            store.settled_bounty(&s.bounty.guid).await.unwrap().as_ref(),
            Some(s),
            "bounty {} round-trips",
            s.number
        );
    }
    assert_eq!(
        store.settled_bounty(&Guid::from_u128(12345)).await.unwrap(),
        None
    );
    let newest_first: Vec<u64> = (0..7).rev().collect();
    assert_eq!(
        store.settled_numbers(u64::MAX, &[], 0, 100).await.unwrap(),
        newest_first
    );
    assert_eq!(
        store.settled_numbers(u64::MAX, &[], 0, 2).await.unwrap(),
        vec![6, 5]
    );
    // A deep page: skipped in the database, below a bound, some left out.
    assert_eq!(
        store.settled_numbers(u64::MAX, &[], 2, 3).await.unwrap(),
        vec![4, 3, 2]
    );
    assert_eq!(
        store.settled_numbers(6, &[4, 2], 1, 3).await.unwrap(),
        vec![3, 1, 0],
        "below 6, without 4 and 2, after the first (5)"
    );
    assert_eq!(
        store.settled_numbers(u64::MAX, &[], 7, 3).await.unwrap(),
        Vec::<u64>::new()
    );
    let picked = store.settled_by_numbers(&[1, 5, 99, 3]).await.unwrap();
    assert_eq!(
        picked.iter().map(|s| s.number).collect::<Vec<_>>(),
        vec![5, 3, 1],
        "newest first, unknown numbers left out"
    );
    assert_eq!(picked[0], settled[5]);
    // Paging newest first with `before`.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store.settled_bounties(before, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        before = page.last().map(|s| s.number);
        seen.extend(page);
    }
    let mut expected = settled.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    let mut asked: Vec<Guid> = vec![
        settled[2].bounty.guid,
        Guid::from_u128(1),
        settled[6].bounty.guid,
    ];
    let mut found = store.settled_among(&asked).await.unwrap();
    found.sort();
    asked.retain(|g| *g != Guid::from_u128(1));
    asked.sort();
    assert_eq!(found, asked);
    assert_eq!(store.settled_among(&[]).await.unwrap(), Vec::<Guid>::new());
    // Per block, by the block each settled at (the market's blocks).
    let mut by_block: std::collections::BTreeMap<u64, u64> = Default::default();
    for s in &settled {
        *by_block.entry(s.settled_block()).or_default() += 1;
    }
    let all: Vec<(u64, u64)> = by_block.into_iter().collect();
    assert_eq!(store.settled_per_block(0).await.unwrap(), all);
    let later = all[3].0;
    assert_eq!(
        store.settled_per_block(later).await.unwrap(),
        all[3..].to_vec()
    );
    assert_eq!(store.settled_per_block(u64::MAX).await.unwrap(), Vec::new());
    // In settlement order, page by page, up to a block.
    let mut in_order = settled.clone();
    in_order.sort_by_key(|s| (s.settled_block(), s.number));
    let mut walked = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.settled_after(cursor, u64::MAX, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some((last.settled_block(), last.number));
        walked.extend(page);
    }
    assert_eq!(walked, in_order);
    let upto = in_order[4].settled_block();
    assert_eq!(
        store.settled_after(None, upto, 100).await.unwrap(),
        in_order[..5].to_vec(),
        "nothing settled after the given block"
    );
    let from = Some((in_order[4].settled_block(), in_order[4].number));
    assert_eq!(
        store.settled_after(from, u64::MAX, 100).await.unwrap(),
        in_order[5..].to_vec()
    );
    // Another instance (another process) sees the same.
    let other = db.open().await;
    assert_eq!(
        other.settled_numbers(u64::MAX, &[], 0, 100).await.unwrap(),
        newest_first
    );
}

/// A block whose settled bounties cannot all be stored (a guid stored
/// already) writes nothing: no block, no events, no other settled bounty.
pub async fn a_failed_commit_stores_no_settled_bounty(db: &impl Database) {
    let store = db.open().await;
    let mut chain = ChainBuilder::new();
    let settled = settled_bounties(0, 3);
    let first = chain.next_block(1, false);
    store
        .commit_block(&first, &settled[..1], None)
        .await
        .unwrap();
    let before = visible(store.as_ref()).await;
    let second = chain.next_block(2, true);
    let mut reused = settled[0].clone();
    reused.number = 9;
    let bad = vec![settled[1].clone(), reused];
    assert!(store
        .commit_block(&second, &bad, Some(b"state"))
        .await
        .is_err());
    assert_eq!(visible(store.as_ref()).await, before);
    assert_eq!(
        store.settled_numbers(u64::MAX, &[], 0, 10).await.unwrap(),
        vec![0]
    );
    assert_eq!(
        store.settled_bounty(&settled[1].bounty.guid).await.unwrap(),
        None
    );
    store
        .commit_block(&second, &settled[1..], None)
        .await
        .unwrap();
    assert_eq!(
        store.settled_numbers(u64::MAX, &[], 0, 10).await.unwrap(),
        vec![2, 1, 0]
    );
}

/// `put_settled` stores the bounties not stored yet and leaves the others
/// as they are, however often it is called.
pub async fn put_settled_fills_in_only_what_is_missing(db: &impl Database) {
    let store = db.open().await;
    let settled = settled_bounties(0, 4);
    let mut chain = ChainBuilder::new();
    store
        .commit_block(&chain.next_block(1, false), &settled[..2], None)
        .await
        .unwrap();
    let mut changed = settled[0].clone();
    changed.bounty.uri = "f".repeat(64);
    store
        .put_settled(&[changed, settled[2].clone(), settled[3].clone()])
        .await
        .unwrap();
    store.put_settled(&settled).await.unwrap();
    store.put_settled(&[]).await.unwrap();
    for s in &settled {
        assert_eq!(
            store.settled_bounty(&s.bounty.guid).await.unwrap().as_ref(),
            Some(s)
        );
    }
    assert_eq!(
        store.settled_numbers(u64::MAX, &[], 0, 10).await.unwrap(),
        vec![3, 2, 1, 0]
    );
}
