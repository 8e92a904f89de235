//! The seams are real: the node runs on a `Store` and a `BlobStore` it is
//! handed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use swarm_node::dev_key;
use swarm_node::store::{BlockSummary, Result};
use swarm_node::test_utils::{test_genesis, Client};
use swarm_node::{
    BlockBucket, BlockHeader, CommittedBlock, EventRecord, MemoryBlobs, NodeBuilder, NodeConfig,
    SqlStore, Store, TxRecord,
};
use swarm_protocol::{
    Address, Amount, ArtifactType, Guid, Mint, PostBounty, PrivateKey, SettledBounty, H256,
};

/// A store that is not one of the node's own: it counts the blocks it is
/// asked to commit, keeps the most posting numbers one listing query
/// returned, and hands everything to SQLite.
#[derive(Debug)]
struct Counting {
    inner: SqlStore,
    commits: AtomicUsize,
    most_numbers: AtomicUsize,
}

impl Counting {
    fn new(inner: SqlStore) -> Arc<Counting> {
        Arc::new(Counting {
            inner,
            commits: AtomicUsize::new(0),
            most_numbers: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl Store for Counting {
    async fn init_genesis(&self, genesis_toml: &str) -> Result<String> {
        self.inner.init_genesis(genesis_toml).await
    }
    async fn genesis(&self) -> Result<Option<String>> {
        self.inner.genesis().await
    }
    async fn tip(&self) -> Result<Option<BlockHeader>> {
        self.inner.tip().await
    }
    async fn commit_block(
        &self,
        block: &CommittedBlock,
        settled: &[SettledBounty],
        snapshot: Option<&[u8]>,
    ) -> Result<()> {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.inner.commit_block(block, settled, snapshot).await
    }
    async fn put_settled(&self, settled: &[SettledBounty]) -> Result<()> {
        self.inner.put_settled(settled).await
    }
    async fn settled_bounty(&self, guid: &Guid) -> Result<Option<SettledBounty>> {
        self.inner.settled_bounty(guid).await
    }
    async fn settled_among(&self, guids: &[Guid]) -> Result<Vec<Guid>> {
        self.inner.settled_among(guids).await
    }
    async fn settled_numbers(
        &self,
        below: u64,
        except: &[u64],
        skip: u64,
        limit: u32,
    ) -> Result<Vec<u64>> {
        let numbers = self
            .inner
            .settled_numbers(below, except, skip, limit)
            .await?;
        self.most_numbers
            .fetch_max(numbers.len(), Ordering::Relaxed);
        Ok(numbers)
    }
    async fn settled_by_numbers(&self, numbers: &[u64]) -> Result<Vec<SettledBounty>> {
        self.inner.settled_by_numbers(numbers).await
    }
    async fn settled_bounties(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<SettledBounty>> {
        self.inner.settled_bounties(before, limit).await
    }
    async fn settled_after(
        &self,
        after: Option<(u64, u64)>,
        to_block: u64,
        limit: u32,
    ) -> Result<Vec<SettledBounty>> {
        self.inner.settled_after(after, to_block, limit).await
    }
    async fn settled_per_block(&self, from_block: u64) -> Result<Vec<(u64, u64)>> {
        self.inner.settled_per_block(from_block).await
    }
    async fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>> {
        self.inner.latest_snapshot().await
    }
    async fn blocks_after(&self, after: u64, limit: u32) -> Result<Vec<CommittedBlock>> {
        self.inner.blocks_after(after, limit).await
    }
    async fn block(&self, number: u64) -> Result<Option<BlockSummary>> {
        self.inner.block(number).await
    }
    async fn transaction(&self, hash: &H256) -> Result<Option<(TxRecord, Vec<EventRecord>)>> {
        self.inner.transaction(hash).await
    }
    async fn events(
        &self,
        since: u64,
        after: Option<(u64, u32)>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<EventRecord>> {
        self.inner.events(since, after, limit, max_bytes).await
    }
    async fn block_activity(&self, since_ms: u64, bucket_ms: u64) -> Result<Vec<BlockBucket>> {
        self.inner.block_activity(since_ms, bucket_ms).await
    }
    async fn first_block_since(&self, since_ms: u64) -> Result<Option<u64>> {
        self.inner.first_block_since(since_ms).await
    }
    async fn transactions_from(&self, sender: &Address, limit: u32) -> Result<Vec<TxRecord>> {
        self.inner.transactions_from(sender, limit).await
    }
    async fn set_sequencer_url(&self, url: &str) -> Result<()> {
        self.inner.set_sequencer_url(url).await
    }
    async fn sequencer_url(&self) -> Result<Option<String>> {
        self.inner.sequencer_url().await
    }
    async fn set_explorer_checkpoint(&self, json: &str) -> Result<()> {
        self.inner.set_explorer_checkpoint(json).await
    }
    async fn explorer_checkpoint(&self) -> Result<Option<String>> {
        self.inner.explorer_checkpoint().await
    }
    async fn try_lock_sequencer(&self) -> Result<bool> {
        self.inner.try_lock_sequencer().await
    }
}

/// A node of `genesis` on a [`Counting`] SQLite store it is handed, both
/// in the returned directory.
async fn node_on_a_counting_store(
    genesis: swarm_protocol::Genesis,
) -> (tempfile::TempDir, Arc<Counting>, swarm_node::RunningNode) {
    let dir = tempfile::tempdir().unwrap();
    let store = Counting::new(
        SqlStore::open_sqlite(&dir.path().join("handed.sqlite"))
            .await
            .unwrap(),
    );
    let mut config = NodeConfig::new(genesis);
    config.data_dir = dir.path().join("node");
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let node = NodeBuilder::new(config)
        .store(store.clone())
        .start()
        .await
        .unwrap();
    (dir, store, node)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_runs_on_a_store_it_is_handed() {
    let (dir, store, node) = node_on_a_counting_store(test_genesis()).await;
    let client = Client::new(node.url());
    let key = PrivateKey::random();
    let mint = Mint {
        to: key.address(),
        amount: Amount::from_nct(2),
    };
    client.send(&key, mint).await;
    assert_eq!(
        client
            .result(&format!("/balances/{}/nct", key.address()))
            .await,
        Amount::from_nct(2).wei().to_string()
    );
    let committed = store.commits.load(Ordering::Relaxed);
    assert!(
        committed > 0,
        "the node never committed to the handed store"
    );
    // The node's own SQLite file was never made: every block went to the handed store.
    assert!(!dir.path().join("node").join("chain.sqlite").exists());
    assert_eq!(
        store.tip().await.unwrap().map(|t| t.number).unwrap_or(0) as usize,
        committed
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_keeps_artifacts_in_a_blob_store_it_is_handed() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(MemoryBlobs::new());
    let mut config = NodeConfig::new(test_genesis());
    config.data_dir = dir.path().to_path_buf();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let node = NodeBuilder::new(config)
        .blobs(blobs.clone())
        .start()
        .await
        .unwrap();
    let client = Client::new(node.url());
    let content = b"kept in memory, never on disk";
    let (uri, artifacts) = client.upload(&[("memo.txt", content)]).await;
    assert_eq!(artifacts[0]["filename"], "memo.txt");
    // One blob and one manifest, in the handed store.
    assert_eq!(blobs.usage().0, 2);

    let response = reqwest::get(format!("{}/artifacts/{uri}/0", node.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(&response.bytes().await.unwrap()[..], content);
    assert_eq!(
        client.result(&format!("/artifacts/{uri}")).await[0]["filesize"],
        content.len()
    );

    // Nothing but the (empty) staging directory on disk.
    let artifacts_dir = dir.path().join("artifacts");
    assert!(!artifacts_dir.join("blobs").exists());
    assert!(!artifacts_dir.join("manifests").exists());
    assert_eq!(
        std::fs::read_dir(artifacts_dir.join("tmp"))
            .unwrap()
            .count(),
        0
    );
    node.shutdown().await.unwrap();
}

/// A deep page of `GET /bounties` costs its page, not the bounties before
/// it: the store skips the settled bounties before the page, and the page
/// still merges the open bounties in order. (Before, the node read the
/// numbers of every settled bounty up to the page's end, 100,000 of them
/// for page 2,000 of a 10^5 chain, and its memory grew with them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_listing_page_reads_only_its_page_of_settled_bounties() {
    let mut genesis = test_genesis();
    genesis.parameters.max_duration = Some(200);
    genesis.parameters.assertion_reveal_window = Some(1);
    genesis.parameters.arbiter_vote_window = Some(1);
    let (_dir, store, node) = node_on_a_counting_store(genesis).await;
    let c = Client::new(node.url());
    let (uri, _) = c.upload(&[("a.txt", b"deep pages")]).await;
    let owner = dev_key(0);
    // 160 bounties, oldest first; every 40th stays open (duration 200),
    // the others settle three blocks after they are posted.
    let ids: Vec<Guid> = (0..160).map(|_| Guid::new_v4()).collect();
    let open = |i: usize| i % 40 == 5;
    for wave in ids.chunks(40).enumerate() {
        let mut txs = Vec::new();
        for (k, &guid) in wave.1.iter().enumerate() {
            let duration = if open(wave.0 * 40 + k) { 200 } else { 1 };
            let body = PostBounty {
                guid,
                artifact_type: ArtifactType::File,
                amount: Amount::from_nct(1),
                uri: uri.clone(),
                num_artifacts: 1,
                duration,
                metadata: None,
            };
            txs.push(c.sign(&owner, body).await);
        }
        let (status, body) = c.submit(&txs, true).await;
        assert_eq!(status, 200, "{body}");
    }
    let last = ids[159];
    for _ in 0..1000 {
        if c.result(&format!("/bounties/{last}")).await["round_number"] == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let guids = |page: serde_json::Value| -> Vec<String> {
        page.as_array()
            .unwrap()
            .iter()
            .map(|b| b["guid"].as_str().unwrap().to_owned())
            .collect()
    };
    // Newest first, 50 a page: page 2 is bounties 59 down to 10, open
    // ones (45, 5) among them; page 3 the last 10.
    store.most_numbers.store(0, Ordering::Relaxed);
    let expected: Vec<String> = ids[10..60].iter().rev().map(Guid::to_string).collect();
    assert_eq!(guids(c.result("/bounties?page=2").await), expected);
    let expected: Vec<String> = ids[..10].iter().rev().map(Guid::to_string).collect();
    assert_eq!(guids(c.result("/bounties?page=3").await), expected);
    // Finished only: 156 settled, page 3 holds the oldest 6.
    let settled: Vec<&Guid> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| !open(*i))
        .map(|(_, g)| g)
        .collect();
    let expected: Vec<String> = settled[..6].iter().rev().map(|g| g.to_string()).collect();
    assert_eq!(
        guids(c.result("/bounties?state=finished&page=3").await),
        expected
    );
    // A page and the open bounties' worth of numbers, never the 100+
    // settled before the page.
    let most = store.most_numbers.load(Ordering::Relaxed);
    assert!(most <= 50 + 4, "a deep page read {most} settled numbers");
    node.shutdown().await.unwrap();
}
