//! The limit: a hand-written minimal client that downloads with plain
//! reqwest, decides by the first byte, signs and submits one assertion per
//! bounty, without the runtime.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{bail, Context};
use rand::RngCore;
use swarm_protocol::{
    commitment, Address, Amount, Assert, Bits256, BountyPosted, Event, PrivateKey, Tx, H256,
};
use swarm_sdk::EventStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::clients::{ClientEnd, ClientSummary};
use super::env::Env;
use super::scanner::MALICIOUS_MARK;
use crate::commands::bench::EXPIRY_AHEAD;

/// What the limit client's bounty tasks share.
struct Limit {
    /// The node and the plain HTTP client.
    env: Arc<LimitEnv>,
    /// The engine's key.
    key: PrivateKey,
    /// Its address.
    address: Address,
    /// The one nonce of every commitment.
    nonce: H256,
    /// Each artifact's bid: the community's maximum, as the SDK's default
    /// strategy bids at confidence 1.
    bid: Amount,
    /// At most this many downloads at once.
    downloads: Semaphore,
}

/// The parts of [`Env`] a spawned task needs.
struct LimitEnv {
    /// The node's base URL.
    url: String,
    /// Plain HTTP: a fresh client with its own connections, as each engine
    /// has.
    http: reqwest::Client,
    /// The community.
    community: String,
}

/// Starts the hand-written minimal client.
pub(super) fn spawn_limit(
    env: &Env,
    key: PrivateKey,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<ClientEnd> {
    let mut nonce = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut nonce);
    nonce[0] |= 1;
    let limit = Arc::new(Limit {
        env: Arc::new(LimitEnv {
            url: env.url.clone(),
            http: reqwest::Client::new(),
            community: env.community.clone(),
        }),
        address: key.address(),
        key,
        nonce: H256(nonce),
        bid: env.params.assertion_bid_maximum,
        downloads: Semaphore::new(env.concurrency),
    });
    let since = env.tally.tip.load(Ordering::SeqCst);
    tokio::spawn(async move {
        let mut events = EventStream::new(&limit.env.url, Some(since));
        let mut tasks = JoinSet::new();
        let mut errors = BTreeMap::new();
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    let kind = match done {
                        Ok(Ok(())) => continue,
                        Ok(Err(e)) => {
                            tracing::warn!(error = %format!("{e:#}"), "limit client: bounty failed");
                            "bounty"
                        }
                        Err(_) => "task",
                    };
                    *errors.entry(kind.to_owned()).or_insert(0) += 1;
                }
                event = events.next() => {
                    if let Event::Bounty(bounty) = event.event {
                        let limit = limit.clone();
                        tasks.spawn(async move {
                            assert_bounty(&limit, bounty, event.block_number).await
                        });
                    }
                }
            }
        }
        tasks.abort_all();
        Ok(ClientSummary {
            engine: None,
            errors,
        })
    })
}

/// The limit client's work on one bounty: download every artifact, decide
/// by the first byte, sign and submit one assertion.
async fn assert_bounty(limit: &Limit, bounty: BountyPosted, block: u64) -> anyhow::Result<()> {
    let env = &limit.env;
    let n = bounty.num_artifacts as usize;
    let uri = &bounty.uri;
    let downloads = (0..n).map(|i| async move {
        let _permit = limit
            .downloads
            .acquire()
            .await
            .context("the download semaphore closed")?;
        let url = format!("{}/artifacts/{uri}/{i}", env.url);
        let bytes = env
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .error_for_status()
            .with_context(|| format!("GET {url}"))?
            .bytes()
            .await
            .with_context(|| format!("reading GET {url}"))?;
        anyhow::Ok(bytes.first() == Some(&MALICIOUS_MARK))
    });
    let malicious = futures_util::future::try_join_all(downloads).await?;
    let verdicts = Bits256::from_bools(&malicious);
    let assert = Assert {
        bounty_guid: bounty.guid,
        mask: Bits256::first(n),
        bids: vec![limit.bid; n],
        commitment: commitment(&verdicts, &limit.nonce, &limit.address),
    };
    let signed = Tx::new(
        limit.address,
        env.community.as_str(),
        block + EXPIRY_AHEAD,
        assert,
    )
    .sign(&limit.key);
    let body = serde_json::to_vec(&[signed]).context("serializing the assertion")?;
    let response = env
        .http
        .post(format!("{}/transactions?wait=false", env.url))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .context("POST /transactions")?;
    let status = response.status();
    let answer: serde_json::Value = response
        .json()
        .await
        .context("decoding the answer to POST /transactions")?;
    let item = &answer["result"][0];
    if !status.is_success() || item["block_number"].as_u64().is_none() {
        bail!("the node refused the assertion ({status}): {answer}");
    }
    Ok(())
}
