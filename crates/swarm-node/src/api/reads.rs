//! Read endpoints: status, parameters, bounties, assertions, votes,
//! balances, stakes, blocks. All answer from the committed state: open
//! bounties from the registry, settled ones from the store
//! ([`crate::bounties`]).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Serialize;
use swarm_protocol::api::{
    AssertionView, BlockSummary, BountyView, CommunityParameters, StakeDepositView,
    StakingParameters, Status, Supply, VoteView,
};
use swarm_protocol::{Address, Amount, Bounty, Guid, Round};

use super::{ok, ApiError, AppState, Path};

/// Bounties per page of `GET /bounties`.
pub(crate) const PAGE_SIZE: usize = 50;

pub(crate) fn parse_guid(text: &str) -> Result<Guid, ApiError> {
    Guid::parse_str(text).map_err(|_| {
        ApiError::BadRequest(
            "bad_guid",
            format!("{:?} is not a bounty guid (a UUID)", short(text)),
        )
    })
}

pub(crate) fn parse_address(text: &str) -> Result<Address, ApiError> {
    text.parse::<Address>()
        .map_err(|e| ApiError::BadRequest("bad_address", e.to_string()))
}

fn parse_index(text: &str) -> Result<usize, ApiError> {
    text.parse::<usize>().map_err(|_| {
        ApiError::BadRequest(
            "bad_index",
            format!("{:?} is not an index (0, 1, 2, ...)", short(text)),
        )
    })
}

pub(crate) fn short(text: &str) -> String {
    text.chars().take(80).collect()
}

#[utoipa::path(get, path = "/status", tag = "node",
    responses((status = 200, description = "Community, height, whether this node sequences", body = Status)))]
pub(crate) async fn status(State(state): State<AppState>) -> Response {
    let tip = state.view.tip();
    let (bounties, supply) = state.view.read(|r| {
        let supply = Supply {
            minted: r.total_minted(),
            balances: r.balances().values().copied().sum(),
            escrow: r.escrow(),
            staked: r.stakes().values().flatten().map(|e| e.amount).sum(),
            treasury: r.treasury(),
        };
        (r.bounty_count(), supply)
    });
    ok(Status {
        community: state.community.clone(),
        block: tip.as_ref().map(|t| t.number).unwrap_or(0),
        block_hash: tip.map(|t| t.hash),
        block_time_ms: state.block_time.as_millis() as u64,
        sequencer: state.sequencer().is_some(),
        bounties,
        supply,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

#[utoipa::path(get, path = "/bounties/parameters", tag = "bounties",
    responses((status = 200, description = "Fees, minimums, windows (amounts in wei)", body = CommunityParameters)))]
pub(crate) async fn bounty_parameters(State(state): State<AppState>) -> Response {
    ok(state.view.read(|r| CommunityParameters {
        parameters: r.parameters().clone(),
        community: r.community().to_owned(),
        owner: r.owner(),
        arbiters: r.arbiters().iter().copied().collect(),
        deprecated: r.deprecation().is_some(),
    }))
}

#[utoipa::path(get, path = "/bounties", tag = "bounties",
    params(("page" = Option<usize>, Query, description = "Page, from 0, newest first"),
           ("state" = Option<String>, Query, description = "assertion|reveal|vote|quorum|finished")),
    responses((status = 200, description = "A page of bounties", body = Vec<BountyView>), (status = 400, description = "Bad page or state")))]
pub(crate) async fn bounties(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = match query.get("page") {
        None => 0,
        Some(p) => p.parse::<usize>().map_err(|_| {
            ApiError::BadRequest("bad_page", format!("page {:?} is not a number", short(p)))
        })?,
    };
    let wanted = match query.get("state").map(String::as_str) {
        None | Some("") => None,
        Some("assertion") => Some(Round::Assertion),
        Some("reveal") => Some(Round::Reveal),
        Some("vote") => Some(Round::Vote),
        Some("quorum") => Some(Round::Quorum),
        Some("finished") | Some("settled") => Some(Round::Finished),
        Some(other) => {
            return Err(ApiError::BadRequest(
                "bad_state",
                format!(
                    "state {:?} is not one of assertion, reveal, vote, quorum, finished",
                    short(other)
                ),
            ))
        }
    };
    let found = crate::bounties::page(
        &state.view,
        state.store.as_ref(),
        wanted,
        page.saturating_mul(PAGE_SIZE),
        PAGE_SIZE,
    )
    .await?;
    let views: Vec<BountyView<&Bounty>> = found
        .bounties
        .iter()
        .map(|b| BountyView::new(b, found.block))
        .collect();
    Ok(ok(to_json(views)?))
}

async fn with_bounty<T>(
    state: &AppState,
    guid: &str,
    f: impl FnOnce(&Bounty, u64) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let guid = parse_guid(guid)?;
    match crate::bounties::find(&state.view, state.store.as_ref(), &guid).await? {
        Some((b, block)) => f(&b, block),
        None => Err(ApiError::NotFound(format!("no bounty {guid}"))),
    }
}

fn to_json<T: Serialize>(value: T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::Internal(e.to_string()))
}

#[utoipa::path(get, path = "/bounties/{guid}", tag = "bounties",
    params(("guid" = uuid::Uuid, Path, description = "Bounty guid (a UUID)")),
    responses((status = 200, description = "The bounty", body = BountyView), (status = 404, description = "No such bounty")))]
pub(crate) async fn bounty(
    State(state): State<AppState>,
    Path(guid): Path<String>,
) -> Result<Response, ApiError> {
    with_bounty(&state, &guid, |b, block| to_json(BountyView::new(b, block)))
        .await
        .map(ok)
}

#[utoipa::path(get, path = "/bounties/{guid}/assertions", tag = "bounties",
    params(("guid" = uuid::Uuid, Path, description = "Bounty guid (a UUID)")),
    responses((status = 200, description = "The bounty's assertions", body = Vec<AssertionView>), (status = 404, description = "No such bounty")))]
pub(crate) async fn assertions(
    State(state): State<AppState>,
    Path(guid): Path<String>,
) -> Result<Response, ApiError> {
    with_bounty(&state, &guid, |b, _| {
        to_json(
            b.assertions
                .iter()
                .enumerate()
                .map(|(index, assertion)| AssertionView { index, assertion })
                .collect::<Vec<_>>(),
        )
    })
    .await
    .map(ok)
}

#[utoipa::path(get, path = "/bounties/{guid}/assertions/{index}", tag = "bounties",
    params(("guid" = uuid::Uuid, Path, description = "Bounty guid (a UUID)"), ("index" = usize, Path, description = "Assertion index")),
    responses((status = 200, description = "One assertion", body = AssertionView), (status = 404, description = "No such assertion")))]
pub(crate) async fn assertion(
    State(state): State<AppState>,
    Path((guid, index)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let index = parse_index(&index)?;
    with_bounty(&state, &guid, |b, _| match b.assertions.get(index) {
        Some(assertion) => to_json(AssertionView { index, assertion }),
        None => Err(ApiError::NotFound(format!(
            "bounty {} has {} assertion(s); no index {index}",
            b.guid,
            b.assertions.len()
        ))),
    })
    .await
    .map(ok)
}

#[utoipa::path(get, path = "/bounties/{guid}/votes", tag = "bounties",
    params(("guid" = uuid::Uuid, Path, description = "Bounty guid (a UUID)")),
    responses((status = 200, description = "The bounty's votes", body = Vec<VoteView>), (status = 404, description = "No such bounty")))]
pub(crate) async fn votes(
    State(state): State<AppState>,
    Path(guid): Path<String>,
) -> Result<Response, ApiError> {
    with_bounty(&state, &guid, |b, _| {
        to_json(
            b.votes
                .iter()
                .enumerate()
                .map(|(index, vote)| VoteView { index, vote })
                .collect::<Vec<_>>(),
        )
    })
    .await
    .map(ok)
}

#[utoipa::path(get, path = "/bounties/{guid}/votes/{index}", tag = "bounties",
    params(("guid" = uuid::Uuid, Path, description = "Bounty guid (a UUID)"), ("index" = usize, Path, description = "Vote index")),
    responses((status = 200, description = "One vote", body = VoteView), (status = 404, description = "No such vote")))]
pub(crate) async fn vote(
    State(state): State<AppState>,
    Path((guid, index)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let index = parse_index(&index)?;
    with_bounty(&state, &guid, |b, _| match b.votes.get(index) {
        Some(vote) => to_json(VoteView { index, vote }),
        None => Err(ApiError::NotFound(format!(
            "bounty {} has {} vote(s); no index {index}",
            b.guid,
            b.votes.len()
        ))),
    })
    .await
    .map(ok)
}

fn amount_of(
    state: &AppState,
    address: &str,
    f: impl FnOnce(&swarm_protocol::Registry, &Address) -> Amount,
) -> Result<Response, ApiError> {
    let address = parse_address(address)?;
    Ok(ok(state.view.read(|r| f(r, &address))))
}

#[utoipa::path(get, path = "/balances/{address}/nct", tag = "balances",
    params(("address" = String, Path, description = "Account address (0x and 40 hex digits, EIP-55 or one case)", pattern = "^0x[0-9a-fA-F]{40}$")),
    responses((status = 200, description = "Balance in wei, as a decimal string", body = Amount)))]
pub(crate) async fn balance(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    amount_of(&state, &address, |r, a| r.balance(a))
}

#[utoipa::path(get, path = "/balances/{address}/staking/total", tag = "balances",
    params(("address" = String, Path, description = "Account address (0x and 40 hex digits, EIP-55 or one case)", pattern = "^0x[0-9a-fA-F]{40}$")),
    responses((status = 200, description = "Total stake in wei", body = Amount)))]
pub(crate) async fn stake_total(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    amount_of(&state, &address, |r, a| r.stake_total(a))
}

#[utoipa::path(get, path = "/balances/{address}/staking/withdrawable", tag = "balances",
    params(("address" = String, Path, description = "Account address (0x and 40 hex digits, EIP-55 or one case)", pattern = "^0x[0-9a-fA-F]{40}$")),
    responses((status = 200, description = "Withdrawable stake in wei", body = Amount)))]
pub(crate) async fn stake_withdrawable(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    amount_of(&state, &address, |r, a| r.stake_withdrawable(a))
}

#[utoipa::path(get, path = "/balances/{address}/staking/deposits", tag = "balances",
    params(("address" = String, Path, description = "Account address (0x and 40 hex digits, EIP-55 or one case)", pattern = "^0x[0-9a-fA-F]{40}$")),
    responses((status = 200, description = "The account's stake deposits, oldest first, each with the block from which it may be withdrawn", body = Vec<StakeDepositView>)))]
pub(crate) async fn stake_deposits(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    let address = parse_address(&address)?;
    Ok(ok(state.view.read(|r| {
        r.stakes()
            .get(&address)
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        let withdrawable_at = r.stake_matures_at(e);
                        StakeDepositView {
                            block: e.block,
                            amount: e.amount,
                            withdrawable_at,
                            withdrawable: r.block() >= withdrawable_at,
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    })))
}

#[utoipa::path(get, path = "/staking/parameters", tag = "balances",
    responses((status = 200, description = "Stake bounds and duration", body = StakingParameters)))]
pub(crate) async fn staking_parameters(State(state): State<AppState>) -> Response {
    ok(state.view.read(|r| {
        let p = r.parameters();
        StakingParameters {
            minimum_stake: p.minimum_stake,
            maximum_stake: p.maximum_stake,
            stake_duration: p.stake_duration,
            arbiters: r.arbiters().iter().copied().collect(),
        }
    }))
}

#[utoipa::path(get, path = "/blocks/{number}", tag = "node",
    params(("number" = u64, Path, description = "Block number")),
    responses((status = 200, description = "Header and transaction hashes", body = BlockSummary), (status = 404, description = "No such block")))]
pub(crate) async fn block(
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> Result<Response, ApiError> {
    let n = number.parse::<u64>().map_err(|_| {
        ApiError::BadRequest(
            "bad_block",
            format!("{:?} is not a block number", short(&number)),
        )
    })?;
    match state.store.block(n).await? {
        Some(block) => Ok(ok(block)),
        None => Err(ApiError::NotFound(format!("no block {n}"))),
    }
}
