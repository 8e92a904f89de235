//! The ambassador's work against the node: checking, uploading and posting
//! one bounty, and waiting for the balance to cover it.

use std::time::Duration;

use swarm_protocol::{Amount, ArtifactType, Guid, PostBounty};
use tokio::time::Instant;

use crate::client::CommunityParameters;

use super::error::node_error;
use super::urls::url_metadata;
use super::{Ambassador, AmbassadorError, BountyOutcome, BountyRequest, BountySource, LowBalance};

/// A bounty the node took: its outcome so far, and when the watchdog gives
/// up on it.
pub(super) struct Posted {
    pub(super) outcome: BountyOutcome,
    pub(super) deadline: Instant,
}

impl<S: BountySource> Ambassador<S> {
    /// Checks, uploads and posts one bounty; `None` when the request was
    /// empty and skipped.
    pub(super) async fn post(
        &mut self,
        params: &CommunityParameters,
        request: BountyRequest,
    ) -> Result<Option<Posted>, AmbassadorError> {
        let p = &params.parameters;
        let n = request.files.len();
        if n == 0 {
            tracing::warn!("bounty request without files; skipped");
            return Ok(None);
        }
        if n > p.max_artifacts as usize {
            return Err(AmbassadorError::Request(format!(
                "{n} artifacts, the community takes at most {}",
                p.max_artifacts
            )));
        }
        if let Some((name, content)) = request
            .files
            .iter()
            .find(|(_, c)| c.len() as u64 > p.max_artifact_size)
        {
            return Err(AmbassadorError::Request(format!(
                "{name} has {} bytes, the community takes at most {}",
                content.len(),
                p.max_artifact_size
            )));
        }
        let minimum = p
            .bounty_amount_minimum
            .checked_mul(n as u128)
            .ok_or_else(|| AmbassadorError::Request("bounty amount overflows".into()))?;
        let amount = request.amount.or(self.amount).unwrap_or(minimum);
        let duration = request
            .duration
            .or(self.duration)
            .unwrap_or(p.max_duration.min(20))
            .max(1);
        let needed = amount
            .checked_add(p.bounty_fee)
            .ok_or_else(|| AmbassadorError::Request("bounty amount overflows".into()))?;
        self.ensure_balance(needed).await?;

        // A URL bounty's metadata is each URL's `{uri, protocol}`; its
        // bundle holds the URLs' text (see `urls.rs`).
        let url_meta = match request.artifact_type {
            ArtifactType::File => None,
            ArtifactType::Url => Some(
                request
                    .files
                    .iter()
                    .map(|(_, content)| {
                        let url = std::str::from_utf8(content).map_err(|_| {
                            AmbassadorError::Request("a URL artifact is not UTF-8 text".into())
                        })?;
                        url_metadata(url).map_err(|e| AmbassadorError::Request(e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let community = params.community.as_str();
        let uploaded = self
            .client
            .upload(&self.key, community, &request.files)
            .await
            .map_err(node_error("cannot upload the artifacts"))?;
        let guid = Guid::new_v4();
        let post =
            PostBounty {
                guid,
                artifact_type: request.artifact_type,
                amount,
                uri: uploaded.uri.clone(),
                num_artifacts: n as u32,
                duration,
                metadata: Some(url_meta.unwrap_or_else(|| {
                    uploaded.artifacts.iter().map(|a| a.to_metadata()).collect()
                })),
            };
        let posted_block = match self.client.send(&self.key, community, post, true).await {
            Ok(submitted) => submitted.block_number,
            // The answer to an accepted post was lost and the client's retry
            // was refused as a replay: the bounty is there all the same.
            Err(e) if e.code() == Some("replayed") => self
                .client
                .bounty(&guid)
                .await
                .map_err(node_error(format!("cannot read bounty {guid}")))?
                .filter(|b| b.author == self.key.address())
                .map(|b| b.posted_block)
                .ok_or_else(|| node_error(format!("cannot post bounty {guid}"))(e))?,
            Err(e) => return Err(node_error(format!("cannot post bounty {guid}"))(e)),
        };
        let request_kind = request.artifact_type;
        let mut expected = request.expected;
        expected.resize(n, None);
        let outcome = BountyOutcome {
            guid,
            artifacts: request.files.into_iter().map(|(name, _)| name).collect(),
            expected,
            consensus: None,
            assertions: 0,
            payouts: Vec::new(),
            settled_block: None,
            posted_block,
            amount,
            fee: p.bounty_fee,
            timed_out: false,
        };
        let timeout = self.watchdog.unwrap_or_else(|| {
            let blocks = duration
                .saturating_add(p.assertion_reveal_window)
                .saturating_add(p.arbiter_vote_window)
                .saturating_add(2);
            let rounds = Duration::from_millis(p.block_time_ms.saturating_mul(blocks));
            rounds.saturating_mul(2) + Duration::from_secs(10)
        });
        tracing::info!(%guid, kind = ?request_kind, artifacts = n, amount = %amount, duration, block = posted_block, "bounty posted");
        Ok(Some(Posted {
            outcome,
            deadline: Instant::now() + timeout,
        }))
    }

    /// Returns once the balance covers `needed`, or fails, per the policy.
    async fn ensure_balance(&self, needed: Amount) -> Result<(), AmbassadorError> {
        let address = self.key.address();
        let mut warned = false;
        loop {
            let balance = self
                .client
                .balance(&address)
                .await
                .map_err(node_error("cannot read the balance"))?;
            if balance >= needed {
                return Ok(());
            }
            if self.low_balance == LowBalance::Fail {
                return Err(AmbassadorError::InsufficientBalance {
                    address,
                    balance,
                    needed,
                });
            }
            if !warned {
                tracing::warn!(%address, %balance, %needed, "balance too low for the next bounty; waiting for funds");
                warned = true;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return Err(AmbassadorError::InsufficientBalance {
                    address,
                    balance,
                    needed,
                }),
                _ = tokio::time::sleep(self.interval.max(Duration::from_secs(1))) => {}
            }
        }
    }
}
