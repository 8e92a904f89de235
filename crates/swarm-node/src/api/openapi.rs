//! `GET /openapi.json`, generated from the handlers' annotations.

use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::OpenApi;

use super::{artifacts, events, reads, transactions};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "swarm node API",
        description = "The marketplace node of swarm: bounties, transactions, artifacts, events. Responses use the envelope {\"status\": \"OK\", \"result\": ...} or {\"status\": \"FAIL\", \"errors\": \"...\", \"code\": \"...\"}; amounts are decimal strings of wei."
    ),
    paths(
        reads::status,
        reads::bounty_parameters,
        reads::bounties,
        reads::bounty,
        reads::assertions,
        reads::assertion,
        reads::votes,
        reads::vote,
        reads::balance,
        reads::stake_total,
        reads::stake_withdrawable,
        reads::staking_parameters,
        reads::block,
        transactions::submit,
        transactions::receipt,
        artifacts::upload,
        artifacts::list,
        artifacts::download,
        artifacts::stat,
        events::subscribe,
    )
)]
struct ApiDoc;

/// The OpenAPI document of this node's API.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub(crate) async fn serve() -> Response {
    Json(document()).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn documents_every_route() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for route in [
            "/status",
            "/bounties",
            "/bounties/parameters",
            "/bounties/{guid}",
            "/bounties/{guid}/assertions",
            "/bounties/{guid}/assertions/{index}",
            "/bounties/{guid}/votes",
            "/bounties/{guid}/votes/{index}",
            "/balances/{address}/nct",
            "/balances/{address}/staking/total",
            "/balances/{address}/staking/withdrawable",
            "/staking/parameters",
            "/blocks/{number}",
            "/transactions",
            "/transactions/{hash}",
            "/artifacts",
            "/artifacts/{uri}",
            "/artifacts/{uri}/{index}",
            "/artifacts/{uri}/{index}/stat",
            "/events",
        ] {
            assert!(paths.contains_key(route), "{route} is not documented");
        }
        assert!(paths["/transactions"]["post"]["responses"]["422"].is_object());
    }
}
