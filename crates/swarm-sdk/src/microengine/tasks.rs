//! The microengine's spawned work: scanning a bounty through the
//! dispatch, submitting an assertion or a reveal, looking a bounty up,
//! reading the balance; and the nonce drawn for a commitment. Each task
//! ends in a [`TaskOutcome`] that the run loop hands to the state.
//!
//! Transactions are signed against the tip the event stream gave (no
//! `GET /status` per transaction) and sent without waiting for their
//! block: the engine's own events confirm them. A tip so far behind that
//! the node finds the transaction expired is the one case that asks the
//! node for its tip and signs again.

use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use swarm_protocol::{
    Address, Amount, ArtifactType, Assert, Bounty, BountyPosted, Guid, PrivateKey, Reveal, TxBody,
    H256,
};
use tokio::time::Instant;

use crate::client::{ClientError, NodeClient, Submitted};
use crate::dispatch::{DynDispatch, ScanJob};
use crate::observe::Observer;
use crate::scanner::ArtifactKind;

use super::state::{transient, ArtifactOutcome};

/// What every task needs.
pub(super) struct Ctx {
    pub(super) dispatch: Arc<dyn DynDispatch>,
    pub(super) client: NodeClient,
    pub(super) key: PrivateKey,
    pub(super) address: Address,
    pub(super) community: String,
    pub(super) block_time: Duration,
    pub(super) observer: Observer,
}

/// A finished task.
pub(super) enum TaskOutcome {
    Scanned {
        bounty: Box<BountyPosted>,
        outcomes: Vec<ArtifactOutcome>,
        downloads: u64,
    },
    Revealed {
        guid: Guid,
        result: Result<Submitted, ClientError>,
    },
    Reconciled {
        guid: Guid,
        result: Box<Result<Option<Bounty>, ClientError>>,
    },
    BalanceRead {
        result: Result<(u64, Amount), ClientError>,
    },
    /// The answers to one turn's assertions, sent together.
    SubmittedAll(Vec<(Guid, Result<Submitted, ClientError>)>),
}

/// A random non-zero 256-bit nonce.
pub(super) fn random_nonce() -> H256 {
    let mut rng = rand::thread_rng();
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        if bytes != [0; 32] {
            return H256(bytes);
        }
    }
}

/// Sends a turn's assertions, signed against `tip`, in one batch; an
/// assertion the batch did not get in for a passing reason (or the whole
/// batch, if the request failed) is sent again on its own, with the same
/// signed bytes.
pub(super) async fn assert_all(
    ctx: Arc<Ctx>,
    asserts: Vec<(Assert, u64)>,
    tip: u64,
) -> TaskOutcome {
    let txs: Vec<_> = asserts
        .iter()
        .map(|(a, _)| NodeClient::sign_at(&ctx.key, &ctx.community, tip, a.clone()))
        .collect();
    let answers = match ctx.client.submit(&txs, false).await {
        Ok(answers) => answers.into_iter().map(Some).collect(),
        Err(e) => {
            tracing::debug!(error = %e, "batch of assertions failed; sending them one by one");
            asserts.iter().map(|_| None).collect::<Vec<_>>()
        }
    };
    let ctx = &ctx;
    let results =
        asserts
            .into_iter()
            .zip(answers)
            .map(|((assert, expiration), answer)| async move {
                let guid = assert.bounty_guid;
                let result = match answer {
                    Some(Err(e))
                        if transient(&e)
                            || matches!(e.code(), Some("expired" | "expires_too_far")) =>
                    {
                        submit_assert(ctx, assert, expiration, tip).await
                    }
                    Some(answer) => answer,
                    None => submit_assert(ctx, assert, expiration, tip).await,
                };
                (guid, result)
            });
    TaskOutcome::SubmittedAll(futures_util::future::join_all(results).await)
}

/// Sends `bounty:Reveal`, signed against `tip`, without waiting for its
/// block.
pub(super) async fn reveal(ctx: Arc<Ctx>, reveal: Reveal, tip: u64) -> TaskOutcome {
    let guid = reveal.bounty_guid;
    let tx = NodeClient::sign_at(&ctx.key, &ctx.community, tip, reveal.clone());
    let result = submit_or_resign(&ctx, &tx, reveal.into()).await;
    TaskOutcome::Revealed { guid, result }
}

/// Submits `tx` without waiting; if the tip it was signed against is too
/// old for the node, signs `body` again against the node's own tip.
async fn submit_or_resign(
    ctx: &Ctx,
    tx: &swarm_protocol::SignedTx,
    body: TxBody,
) -> Result<Submitted, ClientError> {
    match ctx.client.submit_one(tx, false).await {
        Err(e) if matches!(e.code(), Some("expired" | "expires_too_far")) => {
            tracing::debug!(error = %e, "signed against a stale tip; signing again");
            ctx.client.send(&ctx.key, &ctx.community, body, false).await
        }
        other => other,
    }
}

/// Reads the engine's balance and the committed block it is as of: the
/// tip before and after the read must agree (a few tries), else the
/// earlier one is taken.
pub(super) async fn read_balance(
    client: &NodeClient,
    address: &Address,
) -> Result<(u64, Amount), ClientError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let before = client.status().await?.block;
        let amount = client.balance(address).await?;
        let after = client.status().await?.block;
        if before == after || tries >= 5 {
            return Ok((before, amount));
        }
    }
}

/// The balance read as a task.
pub(super) async fn balance(ctx: Arc<Ctx>) -> TaskOutcome {
    TaskOutcome::BalanceRead {
        result: read_balance(&ctx.client, &ctx.address).await,
    }
}

/// Asks the node about a bounty.
pub(super) async fn reconcile(ctx: Arc<Ctx>, guid: Guid) -> TaskOutcome {
    let result = ctx.client.bounty(&guid).await;
    TaskOutcome::Reconciled {
        guid,
        result: Box::new(result),
    }
}

/// Sends `bounty:Assert` without waiting for its block; retries transient
/// failures while round 0 is open, with the same signed bytes (a copy that
/// made it is then refused as `replayed`).
async fn submit_assert(
    ctx: &Ctx,
    assert: Assert,
    expiration: u64,
    tip: u64,
) -> Result<Submitted, ClientError> {
    let tx = NodeClient::sign_at(&ctx.key, &ctx.community, tip, assert.clone());
    loop {
        match submit_or_resign(ctx, &tx, assert.clone().into()).await {
            Err(e) if transient(&e) => match ctx.client.status().await {
                Ok(s) if s.block.saturating_add(1) < expiration => {
                    tracing::debug!(bounty = %assert.bounty_guid, error = %e, "retrying assertion");
                    tokio::time::sleep(ctx.block_time).await;
                }
                _ => return Err(e),
            },
            other => return other,
        }
    }
}

/// Scans a bounty's allowed artifacts through the dispatch, concurrently,
/// by `deadline`.
pub(super) async fn scan_bounty(
    ctx: Arc<Ctx>,
    bounty: BountyPosted,
    allowed: Vec<bool>,
    deadline: Instant,
) -> TaskOutcome {
    let kind = match bounty.artifact_type {
        ArtifactType::File => ArtifactKind::File,
        ArtifactType::Url => ArtifactKind::Url,
    };
    let work = allowed.iter().enumerate().map(|(index, allowed)| {
        let ctx = Arc::clone(&ctx);
        let bounty = &bounty;
        async move {
            if !*allowed {
                return (ArtifactOutcome::Filtered, false);
            }
            let job = ScanJob {
                bounty_guid: bounty.guid,
                uri: bounty.uri.clone(),
                index,
                kind,
                metadata: bounty
                    .metadata
                    .as_ref()
                    .and_then(|m| m.get(index))
                    .cloned()
                    .unwrap_or_default(),
                deadline,
            };
            let started = Instant::now();
            let outcome = ctx.dispatch.scan_boxed(job).await;
            ctx.observer
                .metrics()
                .scanned(started.elapsed(), outcome.result.is_ok());
            let artifact = match outcome.result {
                Ok(result) => ArtifactOutcome::Scanned(Box::new(result)),
                Err((kind, detail)) => ArtifactOutcome::Failed { kind, detail },
            };
            (artifact, outcome.downloaded)
        }
    });
    let results = futures_util::future::join_all(work).await;
    let downloads = results.iter().filter(|(_, d)| *d).count() as u64;
    TaskOutcome::Scanned {
        outcomes: results.into_iter().map(|(o, _)| o).collect(),
        downloads,
        bounty: Box::new(bounty),
    }
}
