//! What every client run shares: the node, the ambassador posting the
//! bench bounties, and the bundle they point at.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use swarm_protocol::{
    ArtifactMetadata, ArtifactType, Guid, Parameters, PostBounty, PrivateKey, SignedTx, Tx,
};
use swarm_sdk::NodeClient;

use super::clients::ClientEnd;
use super::tally::Tally;
use crate::commands::bench::EXPIRY_AHEAD;

/// Assertion round of the bench bounties, in blocks: long enough that the
/// whole backlog is worked off while every bounty is open.
pub(super) const ROUND_BLOCKS: u64 = 600;

/// What every client run shares: the node, the ambassador and the bundle.
pub(super) struct Env {
    /// The node's base URL.
    pub(super) url: String,
    /// Plain HTTP, for the download loop.
    pub(super) http: reqwest::Client,
    /// The SDK client the ambassador posts with.
    pub(super) client: NodeClient,
    /// The community.
    pub(super) community: String,
    /// Posts every bounty.
    pub(super) ambassador: PrivateKey,
    /// The community's parameters.
    pub(super) params: Parameters,
    /// The bundle every bounty points at.
    pub(super) uri: String,
    /// Its per-artifact metadata, posted with each bounty.
    pub(super) metadata: Vec<ArtifactMetadata>,
    /// Artifacts per bounty.
    pub(super) artifacts: u32,
    /// The committed blocks.
    pub(super) tally: Arc<Tally>,
    /// Posts per request.
    pub(super) post_batch: usize,
    /// Downloads at once.
    pub(super) concurrency: usize,
}

impl Env {
    /// `count` signed bounty posts, with fresh guids.
    pub(super) fn sign_posts(&self, count: usize) -> (Vec<Guid>, Vec<SignedTx>) {
        let expires = self.tally.tip.load(Ordering::SeqCst) + EXPIRY_AHEAD;
        let from = self.ambassador.address();
        let amount = self
            .params
            .bounty_amount_minimum
            .checked_mul(u128::from(self.artifacts))
            .unwrap_or(self.params.bounty_amount_minimum);
        let guids: Vec<Guid> = (0..count).map(|_| Guid::new_v4()).collect();
        let txs = guids
            .iter()
            .map(|guid| {
                let post = PostBounty {
                    guid: *guid,
                    artifact_type: ArtifactType::File,
                    amount,
                    uri: self.uri.clone(),
                    num_artifacts: self.artifacts,
                    duration: ROUND_BLOCKS,
                    metadata: Some(self.metadata.clone()),
                };
                Tx::new(from, self.community.as_str(), expires, post).sign(&self.ambassador)
            })
            .collect();
        (guids, txs)
    }

    /// Posts `txs` in batches, one request after the other; every post must
    /// be accepted.
    pub(super) async fn post(&self, txs: &[SignedTx]) -> anyhow::Result<()> {
        for batch in txs.chunks(self.post_batch) {
            let answers = self
                .client
                .submit(batch, false)
                .await
                .context("posting bounties")?;
            if let Some(e) = answers.into_iter().find_map(Result::err) {
                bail!("the node refused a bench bounty: {e}");
            }
        }
        Ok(())
    }

    /// Waits until every bounty of `guids` is asserted on, the client task
    /// ends, or nothing is asserted for `stall`.
    pub(super) async fn wait_asserted(
        &self,
        guids: &[Guid],
        client: &tokio::task::JoinHandle<ClientEnd>,
        stall: Duration,
    ) {
        let mut rx = self.tally.assertions.subscribe();
        let mut last_progress = (0, Instant::now());
        loop {
            let (bounties, _, _) = self.tally.progress(guids);
            if bounties >= guids.len() || client.is_finished() {
                return;
            }
            if bounties > last_progress.0 {
                last_progress = (bounties, Instant::now());
            } else if last_progress.1.elapsed() > stall {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), rx.changed()).await;
        }
    }
}
