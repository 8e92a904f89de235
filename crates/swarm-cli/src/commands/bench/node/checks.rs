//! What the node says after the load: each bounty's state, the supply
//! invariant and the block commit times from its metrics.

use anyhow::{anyhow, bail, Context};
use swarm_protocol::Guid;

use super::load::Ctx;

/// What `GET /bounties/{guid}` says about one bounty.
pub(super) struct BountyCheck {
    /// It has a settlement.
    pub(super) settled: bool,
    /// Every engine asserted and revealed, and the arbiter voted.
    pub(super) full: bool,
}

/// `GET /bounties/{guid}`: settled, with every assertion revealed and the vote.
pub(super) async fn check_bounty(
    ctx: &Ctx,
    guid: Guid,
    engines: usize,
) -> anyhow::Result<BountyCheck> {
    let response = ctx
        .http
        .get(format!("{}/bounties/{guid}", ctx.url))
        .send()
        .await
        .with_context(|| format!("GET /bounties/{guid}"))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(BountyCheck {
            settled: false,
            full: false,
        });
    }
    let status = response.status();
    let value: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("decoding GET /bounties/{guid}"))?;
    if !status.is_success() {
        bail!("GET /bounties/{guid} answered {status}: {value}");
    }
    let bounty = &value["result"];
    let settled = !bounty["settlement"].is_null();
    let assertions = bounty["assertions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let votes = bounty["votes"].as_array().map(Vec::len).unwrap_or(0);
    let full = assertions.len() == engines
        && assertions.iter().all(|a| !a["revealed"].is_null())
        && votes == 1;
    Ok(BountyCheck { settled, full })
}

/// `GET /status`: balances + escrow + staked + treasury == minted.
pub(super) async fn check_supply(ctx: &Ctx) -> anyhow::Result<(bool, serde_json::Value)> {
    let value: serde_json::Value = ctx
        .http
        .get(format!("{}/status", ctx.url))
        .send()
        .await
        .context("GET /status")?
        .json()
        .await
        .context("decoding GET /status")?;
    let supply = value["result"]["supply"].clone();
    let wei = |field: &str| -> anyhow::Result<u128> {
        supply[field]
            .as_str()
            .ok_or_else(|| anyhow!("GET /status has no supply.{field}"))?
            .parse::<u128>()
            .with_context(|| format!("supply.{field} is not a wei amount"))
    };
    let parts = ["balances", "escrow", "staked", "treasury"]
        .iter()
        .map(|f| wei(f))
        .collect::<anyhow::Result<Vec<u128>>>()?;
    let sum = parts.iter().try_fold(0u128, |a, b| a.checked_add(*b));
    Ok((sum == Some(wei("minted")?), supply))
}

/// `swarm_block_commit_seconds` sum and count from `GET /metrics`.
pub(super) async fn commit_stats(ctx: &Ctx) -> Option<(f64, f64)> {
    let text = ctx
        .http
        .get(format!("{}/metrics", ctx.url))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().parse::<f64>().ok())
    };
    Some((
        field("swarm_block_commit_seconds_sum ")?,
        field("swarm_block_commit_seconds_count ")?,
    ))
}
