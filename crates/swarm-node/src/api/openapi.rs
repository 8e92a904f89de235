//! `GET /openapi.json`, generated from the handlers' annotations.
//!
//! Each handler documents what it answers itself; [`Envelope`] adds what
//! any route may answer — a parameter it cannot read (400), the IP over its
//! request rate (429), the node's own failure (500), the node full (503) —
//! and gives every error answer the FAIL envelope's schema. A client
//! generator or an API fuzzer can then tell a documented refusal from a
//! fault.

use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi, ToSchema};

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
    ),
    components(schemas(Fail)),
    modifiers(&Envelope)
)]
struct ApiDoc;

/// Every refusal: `{"status": "FAIL", "errors": "<what is wrong>", "code": "<stable code>"}`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct Fail {
    /// Always `FAIL`.
    status: String,
    /// What is wrong, naming the values involved.
    errors: String,
    /// A stable machine-readable code, such as `wrong_round` or `rate_limited`.
    code: String,
}

/// Adds the answers any route may give, and the FAIL schema to every error.
struct Envelope;

impl Modify for Envelope {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let fail = || {
            ContentBuilder::new()
                .schema(Some(RefOr::<Schema>::Ref(
                    utoipa::openapi::Ref::from_schema_name("Fail"),
                )))
                .build()
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                let takes_parameters = path.contains('{')
                    || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let mut common = vec![
                    ("429", "Over the IP's request rate; Retry-After says when to try again"),
                    ("500", "The node's own failure; the detail is in its log"),
                    ("503", "The node holds all the connections it takes; Retry-After says when to try again"),
                ];
                if takes_parameters {
                    common.push(("400", "A path or query parameter that cannot be read"));
                }
                let responses = &mut operation.responses.responses;
                for (code, description) in common {
                    responses
                        .entry(code.to_owned())
                        .or_insert_with(|| ResponseBuilder::new().description(description).into());
                }
                for (code, response) in responses.iter_mut() {
                    if let (true, RefOr::T(response)) = (code.as_str() >= "400", response) {
                        response
                            .content
                            .entry("application/json".to_owned())
                            .or_insert_with(fail);
                    }
                }
            }
        }
    }
}

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

    #[test]
    fn every_error_answer_has_the_fail_envelope() {
        let doc = serde_json::to_value(super::document()).unwrap();
        assert!(doc["components"]["schemas"]["Fail"].is_object());
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for code in ["429", "500", "503"] {
                    assert!(responses.contains_key(code), "{method} {path} lacks {code}");
                }
                if path.contains('{') {
                    assert!(responses.contains_key("400"), "{method} {path} lacks 400");
                }
                for (code, response) in responses {
                    if code.as_str() >= "400" {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/Fail",
                            "{method} {path} {code}"
                        );
                    }
                }
            }
        }
    }
}
