//! What the node needs before the load: the arbiter's stake and the one
//! artifact bundle every bounty points at.

use anyhow::{bail, Context};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use swarm_protocol::{Amount, PrivateKey, SignedTx, StakeDeposit, Tx, UploadAuth};

use super::load::Ctx;
use crate::commands::bench::EXPIRY_AHEAD;

/// Submits one transaction with `?wait=true` and checks it was included.
async fn submit_one(ctx: &Ctx, signed: &SignedTx) -> anyhow::Result<()> {
    let response = ctx
        .http
        .post(format!("{}/transactions?wait=true", ctx.url))
        .json(signed)
        .send()
        .await
        .context("POST /transactions")?;
    let status = response.status();
    let text = response.text().await.context("reading the answer")?;
    if !status.is_success() {
        bail!("POST /transactions answered {status}: {text}");
    }
    Ok(())
}

/// The arbiter stakes `amount` and waits until it is included.
pub(super) async fn stake(
    ctx: &Ctx,
    arbiter: &PrivateKey,
    community: &str,
    amount: Amount,
) -> anyhow::Result<()> {
    let block = ctx.clock.open_block();
    let signed = Tx::new(
        arbiter.address(),
        community,
        block + EXPIRY_AHEAD,
        StakeDeposit { amount },
    )
    .sign(arbiter);
    submit_one(ctx, &signed)
        .await
        .context("the arbiter cannot stake")
}

/// Uploads the one bundle of `artifacts` small files every bounty points
/// at, with the ambassador's signed permission; returns its uri.
pub(super) async fn upload(
    ctx: &Ctx,
    key: &PrivateKey,
    community: &str,
    artifacts: usize,
) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    /// The part of the answer the bench needs.
    struct Uploaded {
        /// The bundle uri.
        uri: String,
    }
    #[derive(Deserialize)]
    /// The envelope.
    struct Answer {
        /// The upload.
        result: Uploaded,
    }
    let contents: Vec<Vec<u8>> = (0..artifacts)
        .map(|i| format!("swarm bench artifact {i}\n").into_bytes())
        .collect();
    let permission = UploadAuth {
        sha256s: contents
            .iter()
            .map(|c| hex::encode(Sha256::digest(c)))
            .collect(),
    }
    .sign(key, community, ctx.clock.open_block() + EXPIRY_AHEAD);
    let permission = serde_json::to_string(&permission).context("serializing the permission")?;
    let mut form = reqwest::multipart::Form::new();
    for (i, content) in contents.into_iter().enumerate() {
        let part = reqwest::multipart::Part::bytes(content).file_name(format!("bench-{i}.txt"));
        form = form.part("file", part);
    }
    let response = ctx
        .http
        .post(format!("{}/artifacts", ctx.url))
        .header(
            reqwest::header::AUTHORIZATION,
            format!("Swarm {permission}"),
        )
        .multipart(form)
        .send()
        .await
        .context("POST /artifacts")?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .context("reading the upload answer")?;
    if !status.is_success() {
        bail!(
            "POST /artifacts answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let answer: Answer = serde_json::from_slice(&bytes).context("decoding the upload answer")?;
    Ok(answer.result.uri)
}
