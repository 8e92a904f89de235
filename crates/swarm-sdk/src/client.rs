//! A typed client for the node's HTTP API (SPEC §4).
//!
//! Every call unwraps the `{"status": "OK", "result": ...}` envelope and turns
//! a FAIL into [`ClientError::Api`] with the node's code and message. A 429
//! or 503 is retried after the `Retry-After` the node asks for (batch items
//! refused with a `retry_after` are sent again after it); another 5xx or a
//! connection failure is retried with exponential backoff, a bounded number
//! of times. Retrying a submission is safe: a transaction is identified by
//! its hash, so a second copy is refused as a replay, never applied twice.

use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use swarm_protocol::api::{AssertionView, BountyView, Envelope, VoteView};
use swarm_protocol::{
    Address, Amount, Assertion, Bounty, Guid, PrivateKey, SignedTx, Tx, TxBody, UploadAuth,
    VoteRecord, H256,
};

use crate::events::EventStream;
use crate::memory_file::{ArtifactFile, MemoryFileWriter};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The node refused the request: its status, code and message.
    #[error("node refused ({status} {code}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The node's stable error code (`bid_too_low`, `replayed`, ...).
        code: String,
        /// The node's message.
        message: String,
    },
    /// The node could not be reached or the transfer failed, after retries.
    #[error("cannot reach the node at {url}: {source}")]
    Transport {
        /// The URL.
        url: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// The node answered something that is not the expected JSON.
    #[error("unexpected answer from {url}: {detail}")]
    Decode {
        /// The URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// An artifact larger than the caller's cap.
    #[error("artifact {uri}/{index} is larger than {max} bytes")]
    TooLarge {
        /// Bundle.
        uri: String,
        /// Index.
        index: usize,
        /// The cap.
        max: u64,
    },
    /// An artifact could not be put in a memory file (out of memory or of
    /// descriptors).
    #[error("cannot hold artifact {uri}/{index} in a memory file: {source}")]
    MemoryFile {
        /// Bundle.
        uri: String,
        /// Index.
        index: usize,
        /// The cause.
        source: std::io::Error,
    },
}

impl ClientError {
    /// The node's error code, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Result of client calls.
pub(crate) type Result<T, E = ClientError> = std::result::Result<T, E>;

/// How the client retries.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// First backoff; doubles each time.
    pub initial_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

pub use swarm_protocol::api::{
    BatchItem, CommunityParameters, Receipt, Refusal, StakeDepositView, StakingParameters, Status,
    Submitted, TxStatus, Uploaded,
};

/// Metadata of a stored artifact (`filesize` on the wire).
pub type ArtifactInfo = swarm_protocol::api::ArtifactEntry;

/// A committed block: its header and transaction hashes.
pub type BlockInfo = swarm_protocol::api::BlockSummary;

/// A client of one node.
#[derive(Clone, Debug)]
pub struct NodeClient {
    base: String,
    http: reqwest::Client,
    retry: RetryPolicy,
}

/// The node and key every participant builder needs, checked: a node URL
/// that is http(s), and a key. The message says what is missing.
pub(crate) fn checked_connection(
    client: Option<NodeClient>,
    key: Option<PrivateKey>,
) -> std::result::Result<(NodeClient, PrivateKey), String> {
    let client = client.ok_or("no node URL given")?;
    let url = client.base_url();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "node URL {url:?} must start with http:// or https://"
        ));
    }
    let key = key.ok_or("no key given")?;
    Ok((client, key))
}

/// How many blocks ahead signed transactions expire.
const EXPIRY_BLOCKS: u64 = 100;

impl NodeClient {
    /// A client of the node at `base` (such as `http://127.0.0.1:31337`).
    pub fn new(base: impl Into<String>) -> Self {
        NodeClient {
            base: base.into().trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            retry: RetryPolicy::default(),
        }
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The node's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request built by `build`, retrying 429, 5xx and transport
    /// failures; returns the status and body of the final answer.
    async fn execute(
        &self,
        url: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(u16, Bytes)> {
        let mut backoff = self.retry.initial_backoff;
        let mut attempt = 1;
        loop {
            let last = attempt >= self.retry.attempts.max(1);
            match build().send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let retryable = status == 429 || status >= 500;
                    if !retryable || last {
                        let body =
                            response
                                .bytes()
                                .await
                                .map_err(|source| ClientError::Transport {
                                    url: url.to_owned(),
                                    source,
                                })?;
                        return Ok((status, body));
                    }
                    // The node says when to come back on 429 (over a rate) and
                    // 503 (full, or busy staging uploads).
                    let wait = if status == 429 || status == 503 {
                        retry_after.unwrap_or(backoff)
                    } else {
                        backoff
                    };
                    tracing::debug!(%url, status, ?wait, "retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(source) => {
                    if last {
                        return Err(ClientError::Transport {
                            url: url.to_owned(),
                            source,
                        });
                    }
                    tracing::debug!(%url, error = %source, ?backoff, "retrying");
                    tokio::time::sleep(backoff).await;
                }
            }
            attempt += 1;
            backoff = (backoff * 2).min(self.retry.max_backoff);
        }
    }

    fn decode<T: DeserializeOwned>(url: &str, status: u16, body: &[u8]) -> Result<T> {
        let envelope: Envelope = serde_json::from_slice(body).map_err(|e| ClientError::Decode {
            url: url.to_owned(),
            detail: format!("{e} (status {status})"),
        })?;
        if envelope.status != "OK" {
            let message = match envelope.errors {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            return Err(ClientError::Api {
                status,
                code: envelope.code.unwrap_or_default(),
                message,
            });
        }
        serde_json::from_value(envelope.result.unwrap_or_default()).map_err(|e| {
            ClientError::Decode {
                url: url.to_owned(),
                detail: e.to_string(),
            }
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let (status, body) = self.execute(&url, || self.http.get(&url)).await?;
        Self::decode(&url, status, &body)
    }

    /// Like `get`, with 404 as `None`.
    async fn get_optional<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        match self.get(path).await {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /status`.
    pub async fn status(&self) -> Result<Status> {
        self.get("/status").await
    }

    /// `GET /bounties/parameters`.
    pub async fn parameters(&self) -> Result<CommunityParameters> {
        self.get("/bounties/parameters").await
    }

    /// `GET /bounties/{guid}`.
    pub async fn bounty(&self, guid: &Guid) -> Result<Option<Bounty>> {
        let view: Option<BountyView> = self.get_optional(&format!("/bounties/{guid}")).await?;
        Ok(view.map(|v| v.bounty))
    }

    /// `GET /bounties/{guid}/assertions`.
    pub async fn assertions(&self, guid: &Guid) -> Result<Vec<Assertion>> {
        let views: Vec<AssertionView> = self.get(&format!("/bounties/{guid}/assertions")).await?;
        Ok(views.into_iter().map(|v| v.assertion).collect())
    }

    /// `GET /bounties/{guid}/votes`.
    pub async fn votes(&self, guid: &Guid) -> Result<Vec<VoteRecord>> {
        let views: Vec<VoteView> = self.get(&format!("/bounties/{guid}/votes")).await?;
        Ok(views.into_iter().map(|v| v.vote).collect())
    }

    /// `GET /blocks/{number}`; `None` until committed.
    pub async fn block(&self, number: u64) -> Result<Option<BlockInfo>> {
        self.get_optional(&format!("/blocks/{number}")).await
    }

    /// `GET /staking/parameters`.
    pub async fn staking_parameters(&self) -> Result<StakingParameters> {
        self.get("/staking/parameters").await
    }

    /// `GET /artifacts/{uri}/{index}/stat`.
    pub async fn artifact_stat(&self, uri: &str, index: usize) -> Result<ArtifactInfo> {
        self.get(&format!("/artifacts/{uri}/{index}/stat")).await
    }

    /// `GET /bounties?page=`: newest first, 50 a page.
    pub async fn bounties(&self, page: usize) -> Result<Vec<Bounty>> {
        let views: Vec<BountyView> = self.get(&format!("/bounties?page={page}")).await?;
        Ok(views.into_iter().map(|v| v.bounty).collect())
    }

    /// `GET /balances/{address}/nct`.
    pub async fn balance(&self, address: &Address) -> Result<Amount> {
        self.get(&format!("/balances/{address}/nct")).await
    }

    /// `GET /balances/{address}/staking/total`.
    pub async fn stake_total(&self, address: &Address) -> Result<Amount> {
        self.get(&format!("/balances/{address}/staking/total"))
            .await
    }

    /// `GET /balances/{address}/staking/withdrawable`.
    pub async fn stake_withdrawable(&self, address: &Address) -> Result<Amount> {
        self.get(&format!("/balances/{address}/staking/withdrawable"))
            .await
    }

    /// `GET /balances/{address}/staking/deposits`: what is staked, deposit
    /// by deposit (oldest first), with the block each may be withdrawn from.
    pub async fn stake_deposits(&self, address: &Address) -> Result<Vec<StakeDepositView>> {
        self.get(&format!("/balances/{address}/staking/deposits"))
            .await
    }

    /// `GET /transactions/{hash}`; `None` until included.
    pub async fn receipt(&self, hash: &H256) -> Result<Option<Receipt>> {
        self.get_optional(&format!("/transactions/{hash}")).await
    }

    /// `POST /transactions`: submits signed transactions as one batch; one
    /// result per transaction, in order.
    ///
    /// Items the node refuses for a passing reason (its answer carries a
    /// `retry_after`: an account over its rate, the node busy) are sent
    /// again after that wait, as the retry policy allows; a whole answer of
    /// 429 or 503 is retried by the transport like any request.
    pub async fn submit(
        &self,
        txs: &[SignedTx],
        wait: bool,
    ) -> Result<Vec<Result<Submitted, ClientError>>> {
        let mut results: Vec<Option<Result<Submitted, ClientError>>> =
            txs.iter().map(|_| None).collect();
        let mut pending: Vec<usize> = (0..txs.len()).collect();
        let mut attempt = 1;
        loop {
            let batch: Vec<SignedTx> = pending.iter().map(|&i| txs[i].clone()).collect();
            let items = self.submit_once(&batch, wait).await?;
            let mut again = Vec::new();
            let mut wait_for = Duration::ZERO;
            for (&i, (result, retry_after)) in pending.iter().zip(items) {
                match retry_after {
                    Some(after) if attempt < self.retry.attempts => {
                        wait_for = wait_for.max(after);
                        again.push(i);
                    }
                    _ => results[i] = Some(result),
                }
            }
            if again.is_empty() {
                break;
            }
            tracing::debug!(items = again.len(), ?wait_for, "resubmitting refused items");
            tokio::time::sleep(wait_for).await;
            pending = again;
            attempt += 1;
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(ClientError::Decode {
                        url: self.base.clone(),
                        detail: "no answer for a submitted transaction".into(),
                    })
                })
            })
            .collect())
    }

    /// One `POST /transactions`: each item's result, with the wait the node
    /// asked for when its refusal passes.
    async fn submit_once(
        &self,
        txs: &[SignedTx],
        wait: bool,
    ) -> Result<Vec<(Result<Submitted, ClientError>, Option<Duration>)>> {
        let url = format!("{}/transactions?wait={wait}", self.base);
        let body = serde_json::to_vec(txs).map_err(|e| ClientError::Decode {
            url: url.clone(),
            detail: e.to_string(),
        })?;
        let (status, answer) = self
            .execute(&url, || {
                self.http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await?;
        let items: Vec<BatchItem> = Self::decode(&url, status, &answer)?;
        if items.len() != txs.len() {
            return Err(ClientError::Decode {
                url,
                detail: format!("{} results for {} transactions", items.len(), txs.len()),
            });
        }
        Ok(items
            .into_iter()
            .map(|item| match item {
                BatchItem::Ok(s) => (Ok(s), None),
                BatchItem::Err(Refusal {
                    errors,
                    code,
                    status,
                    retry_after,
                }) => (
                    Err(ClientError::Api {
                        status,
                        code,
                        message: errors,
                    }),
                    retry_after.map(Duration::from_secs),
                ),
            })
            .collect())
    }

    /// Signs `body` as `key` for `community`, expiring 100 blocks from now.
    pub async fn sign(
        &self,
        key: &PrivateKey,
        community: &str,
        body: impl Into<TxBody>,
    ) -> Result<SignedTx> {
        let block = self.status().await?.block;
        Ok(Self::sign_at(key, community, block, body))
    }

    /// Signs `body` as `key` for `community`, expiring 100 blocks after
    /// `tip`: a committed block the caller already knows (from the event
    /// stream), so that signing costs no request. A tip far behind the
    /// node's makes the node refuse the transaction as `expired`.
    pub fn sign_at(
        key: &PrivateKey,
        community: &str,
        tip: u64,
        body: impl Into<TxBody>,
    ) -> SignedTx {
        Tx::new(
            key.address(),
            community,
            tip.saturating_add(EXPIRY_BLOCKS),
            body,
        )
        .sign(key)
    }

    /// Submits one signed transaction; with `wait`, returns once it is
    /// included.
    pub async fn submit_one(&self, tx: &SignedTx, wait: bool) -> Result<Submitted> {
        let mut results = self.submit(std::slice::from_ref(tx), wait).await?;
        results.pop().unwrap_or_else(|| {
            Err(ClientError::Decode {
                url: self.base.clone(),
                detail: "empty answer to a submission".into(),
            })
        })
    }

    /// Signs and submits one transaction; with `wait`, returns once it is included.
    pub async fn send(
        &self,
        key: &PrivateKey,
        community: &str,
        body: impl Into<TxBody>,
        wait: bool,
    ) -> Result<Submitted> {
        let tx = self.sign(key, community, body).await?;
        self.submit_one(&tx, wait).await
    }

    /// `POST /artifacts`: uploads files as one bundle, permitted by `key`.
    pub async fn upload(
        &self,
        key: &PrivateKey,
        community: &str,
        files: &[(String, Bytes)],
    ) -> Result<Uploaded> {
        use sha2::Digest;
        let url = format!("{}/artifacts", self.base);
        let auth = UploadAuth {
            sha256s: files
                .iter()
                .map(|(_, b)| hex::encode(sha2::Sha256::digest(b)))
                .collect(),
        };
        let block = self.status().await?.block;
        let permission = auth.sign(key, community, block + EXPIRY_BLOCKS);
        let header = format!(
            "Swarm {}",
            serde_json::to_string(&permission).map_err(|e| ClientError::Decode {
                url: url.clone(),
                detail: e.to_string(),
            })?
        );
        let (status, body) = self
            .execute(&url, || {
                let mut form = reqwest::multipart::Form::new();
                for (name, bytes) in files {
                    form = form.part(
                        "file",
                        reqwest::multipart::Part::stream(bytes.clone()).file_name(name.clone()),
                    );
                }
                self.http
                    .post(&url)
                    .header(reqwest::header::AUTHORIZATION, &header)
                    .multipart(form)
            })
            .await?;
        Self::decode(&url, status, &body)
    }

    /// `GET /artifacts/{uri}`: the bundle's artifacts.
    pub async fn manifest(&self, uri: &str) -> Result<Vec<ArtifactInfo>> {
        self.get(&format!("/artifacts/{uri}")).await
    }

    /// `GET /artifacts/{uri}/{index}`, refusing more than `max` bytes.
    pub async fn download(&self, uri: &str, index: usize, max: u64) -> Result<Bytes> {
        let mut out = Vec::new();
        self.download_with(uri, index, max, |chunk, expected| {
            if let Some(n) = expected {
                out.reserve(usize::try_from(n).unwrap_or(0));
            }
            out.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        Ok(Bytes::from(out))
    }

    /// `GET /artifacts/{uri}/{index}` into a sealed memory file, refusing
    /// more than `max` bytes: its bytes (mapping the file) and the file,
    /// to pass to another process by descriptor (see [`ArtifactFile`]).
    pub async fn download_to_memory_file(
        &self,
        uri: &str,
        index: usize,
        max: u64,
    ) -> Result<(Bytes, ArtifactFile)> {
        let memory_error = |source| ClientError::MemoryFile {
            uri: uri.to_owned(),
            index,
            source,
        };
        let mut writer = MemoryFileWriter::create().map_err(memory_error)?;
        self.download_with(uri, index, max, |chunk, _| writer.write(chunk))
            .await?;
        writer.finish().map_err(memory_error)
    }

    /// `GET /artifacts/{uri}/{index}`, each piece of the body handed to
    /// `sink` with the announced length, refusing more than `max` bytes.
    async fn download_with(
        &self,
        uri: &str,
        index: usize,
        max: u64,
        mut sink: impl FnMut(&[u8], Option<u64>) -> std::io::Result<()>,
    ) -> Result<()> {
        let url = format!("{}/artifacts/{uri}/{index}", self.base);
        let transport = |source| ClientError::Transport {
            url: url.clone(),
            source,
        };
        let mut backoff = self.retry.initial_backoff;
        let mut attempt = 1;
        let mut response = loop {
            match self.http.get(&url).send().await {
                Ok(r) if r.status().is_server_error() && attempt < self.retry.attempts => {}
                Ok(r) => break r,
                Err(e) if attempt >= self.retry.attempts => return Err(transport(e)),
                Err(_) => {}
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.retry.max_backoff);
            attempt += 1;
        };
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.bytes().await.map_err(transport)?;
            return Self::decode::<serde_json::Value>(&url, status, &body).and_then(|_| {
                Err(ClientError::Decode {
                    url: url.clone(),
                    detail: format!("status {status}"),
                })
            });
        }
        let too_large = || ClientError::TooLarge {
            uri: uri.to_owned(),
            index,
            max,
        };
        let mut expected = response.content_length();
        if expected.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let mut received = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            received += chunk.len() as u64;
            if received > max {
                return Err(too_large());
            }
            sink(&chunk, expected.take()).map_err(|source| ClientError::MemoryFile {
                uri: uri.to_owned(),
                index,
                source,
            })?;
        }
        Ok(())
    }

    /// The event stream from block `since` on (or only live events with
    /// `None`), reconnecting by itself.
    pub fn events(&self, since: Option<u64>) -> EventStream {
        EventStream::new(&self.base, since)
    }
}
