//! What the load is made of: the bench's keys and genesis, each wave's
//! random plan, and its transactions signed ahead of need, one batch per
//! role.

use std::sync::Arc;

use anyhow::{anyhow, Context};
use rand::Rng;
use swarm_node::dev_key;
use swarm_protocol::{
    commitment, Amount, ArtifactType, Assert, Bits256, Genesis, Guid, PostBounty, PrivateKey,
    Reveal, Tx, TxBody, Vote, H256,
};

use super::NodeBenchArgs;
use crate::commands::bench::funded_genesis;

/// The accounts of the bench.
pub(super) struct Keys {
    /// Posts every bounty: `dev_key(2)`.
    pub(super) ambassador: PrivateKey,
    /// `dev_key(3)`, `dev_key(4)`, ...
    engines: Vec<PrivateKey>,
    /// The dev genesis's only arbiter, `dev_key(1)`.
    pub(super) arbiter: PrivateKey,
}

impl Keys {
    /// The ambassador, `engines` engines and the arbiter.
    pub(super) fn new(engines: u32) -> Self {
        Keys {
            ambassador: dev_key(2),
            engines: (0..engines).map(|i| dev_key(3 + i)).collect(),
            arbiter: dev_key(1),
        }
    }
}

/// The dev genesis with the bench's block time and windows, and every bench
/// account funded so that no mint is needed.
pub(super) fn bench_genesis(args: &NodeBenchArgs, keys: &Keys) -> Genesis {
    let mut genesis = funded_genesis(std::iter::once(&keys.ambassador).chain(&keys.engines));
    let p = &mut genesis.parameters;
    p.block_time_ms = Some(args.block_time_ms);
    p.max_duration = Some(args.duration.max(2));
    p.assertion_reveal_window = Some(args.reveal_window);
    p.arbiter_vote_window = Some(args.vote_window);
    genesis
}

/// Serialized signed transactions for one role of one wave, one per bounty.
pub(super) struct Batch {
    /// Each signed transaction's JSON envelope.
    pub(super) items: Vec<String>,
}

impl Batch {
    /// The JSON array of the items selected by `keep`.
    pub(super) fn body(&self, keep: &[bool]) -> (String, Vec<usize>) {
        let mut body = String::with_capacity(self.items.iter().map(|s| s.len() + 1).sum());
        let mut sent = Vec::new();
        body.push('[');
        for (i, item) in self.items.iter().enumerate() {
            if !keep.get(i).copied().unwrap_or(false) {
                continue;
            }
            if !sent.is_empty() {
                body.push(',');
            }
            body.push_str(item);
            sent.push(i);
        }
        body.push(']');
        (body, sent)
    }
}

/// A wave of bounties with every transaction signed.
pub(super) struct SignedWave {
    /// The bounties, in batch order.
    pub(super) guids: Vec<Guid>,
    /// The ambassador's posts.
    pub(super) posts: Batch,
    /// Per engine.
    pub(super) asserts: Vec<Batch>,
    /// Per engine.
    pub(super) reveals: Vec<Batch>,
    /// The arbiter's votes.
    pub(super) votes: Batch,
}

impl SignedWave {
    /// Signed transactions in the wave.
    pub(super) fn len(&self) -> usize {
        let batches = std::iter::once(&self.posts)
            .chain(&self.asserts)
            .chain(&self.reveals)
            .chain(std::iter::once(&self.votes));
        batches.map(|b| b.items.len()).sum()
    }
}

/// What one wave's bounties look like before signing.
struct WavePlan {
    /// Fresh bounty guids.
    guids: Vec<Guid>,
    /// Per engine, per bounty: (nonce, verdicts).
    secrets: Vec<Vec<(H256, Bits256)>>,
    /// Per bounty.
    votes: Vec<Bits256>,
    /// Last block in which the wave's transactions are valid.
    expires: u64,
}

/// Random guids, nonces, verdicts and votes for a wave of `size` bounties
/// of `artifacts` artifacts each.
fn plan_wave(size: usize, engines: usize, artifacts: usize, expires: u64) -> WavePlan {
    let mut rng = rand::thread_rng();
    let guids = (0..size).map(|_| Guid::new_v4()).collect();
    let mut random_bits = || {
        let bools: Vec<bool> = (0..artifacts).map(|_| rng.gen::<bool>()).collect();
        Bits256::from_bools(&bools)
    };
    let votes = (0..size).map(|_| random_bits()).collect();
    let secrets = (0..engines)
        .map(|_| {
            (0..size)
                .map(|_| {
                    let mut nonce = [0u8; 32];
                    rand::thread_rng().fill(&mut nonce[..]);
                    nonce[0] |= 1; // never the zero nonce
                    (H256(nonce), random_bits())
                })
                .collect()
        })
        .collect();
    WavePlan {
        guids,
        secrets,
        votes,
        expires,
    }
}

/// Signs `bodies` as `key` (on a blocking thread) into a batch.
async fn sign_batch(
    key: PrivateKey,
    community: Arc<str>,
    expires: u64,
    bodies: Vec<TxBody>,
) -> anyhow::Result<Batch> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<Batch> {
        let from = key.address();
        let items = bodies
            .into_iter()
            .map(|body| {
                let signed = Tx::new(from, &*community, expires, body).sign(&key);
                serde_json::to_string(&signed).context("serializing a signed transaction")
            })
            .collect::<anyhow::Result<Vec<String>>>()?;
        Ok(Batch { items })
    })
    .await
    .context("a signing thread failed")?
}

/// What every wave needs to build its transactions.
pub(super) struct WaveTemplate {
    /// Who signs what.
    pub(super) keys: Arc<Keys>,
    /// The community every transaction names.
    pub(super) community: Arc<str>,
    /// The one artifact bundle every bounty points at.
    pub(super) uri: String,
    /// Each bounty's reward: the minimum for its artifacts.
    pub(super) amount: Amount,
    /// Artifacts in each bounty (all in the one bundle).
    pub(super) artifacts: usize,
    /// Each engine's bid: the minimum.
    pub(super) bid: Amount,
    /// Each bounty's assertion round, in blocks.
    pub(super) duration: u64,
}

/// Plans and signs one wave, each role's batch on its own blocking thread.
pub(super) async fn sign_wave(
    t: &WaveTemplate,
    size: usize,
    expires: u64,
) -> anyhow::Result<SignedWave> {
    let plan = plan_wave(size, t.keys.engines.len(), t.artifacts, expires);
    let num_artifacts = u32::try_from(t.artifacts).context("too many artifacts")?;
    let posts: Vec<TxBody> = plan
        .guids
        .iter()
        .map(|guid| {
            PostBounty {
                guid: *guid,
                artifact_type: ArtifactType::File,
                amount: t.amount,
                uri: t.uri.clone(),
                num_artifacts,
                duration: t.duration,
                metadata: None,
            }
            .into()
        })
        .collect();
    let mut jobs = Vec::new();
    jobs.push(sign_batch(
        t.keys.ambassador.clone(),
        t.community.clone(),
        plan.expires,
        posts,
    ));
    for (engine, secrets) in t.keys.engines.iter().zip(&plan.secrets) {
        let address = engine.address();
        let asserts = plan
            .guids
            .iter()
            .zip(secrets)
            .map(|(guid, (nonce, verdicts))| {
                Assert {
                    bounty_guid: *guid,
                    mask: Bits256::first(t.artifacts),
                    bids: vec![t.bid; t.artifacts],
                    commitment: commitment(verdicts, nonce, &address),
                }
                .into()
            })
            .collect();
        jobs.push(sign_batch(
            engine.clone(),
            t.community.clone(),
            plan.expires,
            asserts,
        ));
    }
    for (engine, secrets) in t.keys.engines.iter().zip(&plan.secrets) {
        let reveals = plan
            .guids
            .iter()
            .zip(secrets)
            .map(|(guid, (nonce, verdicts))| {
                Reveal {
                    bounty_guid: *guid,
                    nonce: *nonce,
                    verdicts: *verdicts,
                    metadata: serde_json::Value::Null,
                }
                .into()
            })
            .collect();
        jobs.push(sign_batch(
            engine.clone(),
            t.community.clone(),
            plan.expires,
            reveals,
        ));
    }
    let votes = plan
        .guids
        .iter()
        .zip(&plan.votes)
        .map(|(guid, votes)| {
            Vote {
                bounty_guid: *guid,
                votes: *votes,
            }
            .into()
        })
        .collect();
    jobs.push(sign_batch(
        t.keys.arbiter.clone(),
        t.community.clone(),
        plan.expires,
        votes,
    ));

    let mut batches = Vec::with_capacity(jobs.len());
    for result in futures_util::future::join_all(jobs).await {
        batches.push(result?);
    }
    let engines = t.keys.engines.len();
    let mut batches = batches.into_iter();
    let mut take = || {
        batches
            .next()
            .ok_or_else(|| anyhow!("a signed batch is missing"))
    };
    let posts = take()?;
    let asserts = (0..engines)
        .map(|_| take())
        .collect::<anyhow::Result<_>>()?;
    let reveals = (0..engines)
        .map(|_| take())
        .collect::<anyhow::Result<_>>()?;
    let votes = take()?;
    Ok(SignedWave {
        guids: plan.guids,
        posts,
        asserts,
        reveals,
        votes,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn batch_bodies_keep_selected_items() {
        let batch = Batch {
            items: vec!["1".into(), "2".into(), "3".into()],
        };
        assert_eq!(
            batch.body(&[true, false, true]),
            ("[1,3]".to_owned(), vec![0, 2])
        );
        assert_eq!(batch.body(&[false; 3]).1, Vec::<usize>::new());
    }
}
