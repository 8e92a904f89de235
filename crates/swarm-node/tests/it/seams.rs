//! The seams are real: the node runs on a `Store` and a `BlobStore` it is
//! handed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use swarm_node::store::{BlockSummary, Result};
use swarm_node::test_utils::{test_genesis, Client};
use swarm_node::{
    BlockBucket, BlockHeader, CommittedBlock, EventRecord, MemoryBlobs, NodeBuilder, NodeConfig,
    SqlStore, Store, TxRecord,
};
use swarm_protocol::{Address, Amount, Guid, Mint, PrivateKey, SettledBounty, H256};

/// A store that is not one of the node's own: it counts the blocks it is
/// asked to commit and hands everything to SQLite.
#[derive(Debug)]
struct Counting {
    inner: SqlStore,
    commits: AtomicUsize,
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
        self.inner.settled_numbers(below, except, skip, limit).await
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
    async fn try_lock_sequencer(&self) -> Result<bool> {
        self.inner.try_lock_sequencer().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_runs_on_a_store_it_is_handed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Counting {
        inner: SqlStore::open_sqlite(&dir.path().join("handed.sqlite"))
            .await
            .unwrap(),
        commits: AtomicUsize::new(0),
    });
    let mut config = NodeConfig::new(test_genesis());
    config.data_dir = dir.path().join("node");
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let node = NodeBuilder::new(config)
        .store(store.clone())
        .start()
        .await
        .unwrap();
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
