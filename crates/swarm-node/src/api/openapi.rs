//! `GET /openapi.json`, generated from the handlers' annotations.
//!
//! Each handler documents what it answers itself, with the type of its
//! result from [`swarm_protocol::api`]; [`Envelope`] wraps every JSON
//! success in `{"status": "OK", "result": ...}` and adds what
//! any route may answer — a parameter it cannot read (400), the IP over its
//! request rate (429), the node's own failure (500), the node full (503) —
//! and gives every error answer the FAIL envelope's schema. A client
//! generator or an API fuzzer can then tell a documented refusal from a
//! fault.

use axum::response::{IntoResponse, Response};
use axum::Json;
use swarm_protocol::api::{BatchItem, EventRecord, Fail, Submitted};
use swarm_protocol::{Assertion, Bounty, VoteRecord};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
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
        reads::stake_deposits,
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
    components(schemas(Fail, SubmitAnswer, EventRecord, Bounty, Assertion, VoteRecord)),
    modifiers(&Envelope)
)]
struct ApiDoc;

/// `POST /transactions` answers one [`Submitted`] for one transaction, and
/// one [`BatchItem`] per transaction for an array.
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub(crate) enum SubmitAnswer {
    /// One transaction was submitted.
    One(Submitted),
    /// A batch was submitted.
    Batch(Vec<BatchItem>),
}

/// Adds the answers any route may give, and the FAIL schema to every error.
struct Envelope;

impl Modify for Envelope {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        // Types that refuse unknown fields when read as input (genesis
        // parameters, signed envelopes) are open as answers: a view adds
        // fields beside them (flattened), and a later node may add more.
        if let Some(components) = doc.components.as_mut() {
            for schema in components.schemas.values_mut() {
                if let RefOr::T(Schema::Object(object)) = schema {
                    object.additional_properties = None;
                }
            }
        }
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
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    if code.as_str() >= "400" {
                        response
                            .content
                            .entry("application/json".to_owned())
                            .or_insert_with(fail);
                    } else if code.starts_with('2') {
                        if let Some(content) = response.content.get_mut("application/json") {
                            content.schema = content.schema.take().map(ok);
                        }
                    }
                }
            }
        }
    }
}

/// `{"status": "OK", "result": <result>}`.
fn ok(result: RefOr<Schema>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["OK"])),
        )
        .property("result", result)
        .required("status")
        .required("result")
        .into()
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
            "/balances/{address}/staking/deposits",
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
    fn every_success_and_refusal_has_a_body_schema() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (code, response) in operation["responses"].as_object().unwrap() {
                    if !(code.starts_with('2') || code.starts_with('4')) {
                        continue;
                    }
                    let content = response["content"].as_object();
                    let schema = content
                        .and_then(|c| c.values().next())
                        .map(|c| &c["schema"])
                        .filter(|s| s.is_object());
                    let Some(schema) = schema else {
                        panic!("{method} {path} {code} has no body schema");
                    };
                    if code.starts_with('2') && content.unwrap().contains_key("application/json") {
                        assert_eq!(
                            schema["properties"]["status"]["enum"],
                            serde_json::json!(["OK"]),
                            "{method} {path} {code} is not in the OK envelope"
                        );
                        let result = &schema["properties"]["result"];
                        assert!(
                            result.is_object(),
                            "{method} {path} {code} has no result schema"
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 60, "only {checked} answers checked");
        for name in [
            "Fail",
            "Status",
            "Receipt",
            "Uploaded",
            "EventRecord",
            "SubmitAnswer",
        ] {
            assert!(schemas.contains_key(name), "no schema {name}");
        }
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
