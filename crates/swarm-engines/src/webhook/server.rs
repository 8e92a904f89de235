//! The swarm side of the webhook protocol: a small HTTP server that hands
//! each delivery's artifact to the engine (`artifact_uri`) and takes its
//! analysis back (`response_url`).
//!
//! Every delivery is a row of the [`Deliveries`] table, keyed by its id and
//! guarded by an unguessable nonce, from the moment the bounty is posted
//! until the scan ends — answered, failed or given up at its deadline. The
//! row goes with the scan (a [`Registration`] removes it when dropped), so
//! an analysis that arrives after the deadline finds nothing: 404, and no
//! assertion. An analysis is accepted once; a second gets 409.
//!
//! The paths are shaped as polyswarm-engine parses a `response_url`
//! (`/<a>/<b>/<bounty_id>/<task_type>/?nonce=<nonce>`):
//! `POST /v1/bounties/{id}/assertions/?nonce=…` and
//! `GET /v1/artifacts/{id}?nonce=…`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use swarm_sdk::ScanResult;
use tokio::sync::oneshot;

use super::error::WebhookError;
use super::wire::Analysis;

/// Most bytes of an analysis taken.
const MAX_ANALYSIS: usize = 1 << 20;

/// One delivery in flight.
struct Pending {
    nonce: String,
    content: Bytes,
    answer: Option<oneshot::Sender<Result<ScanResult, WebhookError>>>,
}

/// The deliveries in flight, shared by the scans and the server.
#[derive(Clone, Default)]
pub(super) struct Deliveries {
    inner: Arc<Mutex<HashMap<u64, Pending>>>,
}

/// A delivery's row; removed from the table when dropped.
pub(super) struct Registration {
    table: Deliveries,
    id: u64,
    /// Where its answer arrives.
    pub(super) answer: oneshot::Receiver<Result<ScanResult, WebhookError>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.table.with(|t| t.remove(&self.id));
    }
}

impl Deliveries {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<u64, Pending>) -> T) -> T {
        // A poisoned lock only means another scan panicked mid-update; the
        // map itself is still sound.
        let mut table = match self.inner.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut table)
    }

    /// Registers a delivery of `content` under a fresh id and nonce.
    pub(super) fn register(&self, content: Bytes) -> (u64, String, Registration) {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let nonce = hex::encode(rng.gen::<[u8; 32]>());
        let (tx, rx) = oneshot::channel();
        let id = self.with(|t| loop {
            // Below 2^53, so that any JSON reader keeps it exact.
            let id = rng.gen_range(1..(1u64 << 53));
            if let std::collections::hash_map::Entry::Vacant(slot) = t.entry(id) {
                slot.insert(Pending {
                    nonce: nonce.clone(),
                    content,
                    answer: Some(tx),
                });
                break id;
            }
        });
        let registration = Registration {
            table: self.clone(),
            id,
            answer: rx,
        };
        (id, nonce, registration)
    }

    /// How many deliveries are in flight.
    pub(super) fn len(&self) -> usize {
        self.with(|t| t.len())
    }
}

/// The server's routes.
pub(super) fn router(deliveries: Deliveries) -> Router {
    Router::new()
        .route("/v1/artifacts/{id}", get(artifact))
        .route("/v1/bounties/{id}/assertions/", post(assertion))
        .route("/v1/bounties/{id}/assertions", post(assertion))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_ANALYSIS))
        .with_state(deliveries)
}

#[derive(Deserialize)]
struct NonceQuery {
    #[serde(default)]
    nonce: Option<String>,
}

/// Why a request is refused: its status and a message naming the problem.
struct Refusal {
    status: StatusCode,
    message: String,
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({"status": "ERROR", "message": self.message})),
        )
            .into_response()
    }
}

/// Compares nonces in time independent of where they differ.
fn same_nonce(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Checks the delivery and nonce; `Err` is the response to send.
fn check(table: &HashMap<u64, Pending>, id: &str, nonce: Option<&str>) -> Result<u64, Refusal> {
    let unknown = || {
        refuse(
            StatusCode::NOT_FOUND,
            format!("no delivery {id} is waiting for an answer (unknown, answered or past its deadline)"),
        )
    };
    let id: u64 = id.parse().map_err(|_| unknown())?;
    let pending = table.get(&id).ok_or_else(unknown)?;
    match nonce {
        Some(n) if same_nonce(&pending.nonce, n) => Ok(id),
        Some(_) => Err(refuse(
            StatusCode::FORBIDDEN,
            "wrong nonce for this delivery",
        )),
        None => Err(refuse(
            StatusCode::FORBIDDEN,
            "the nonce query parameter is missing",
        )),
    }
}

async fn artifact(
    State(deliveries): State<Deliveries>,
    Path(id): Path<String>,
    Query(q): Query<NonceQuery>,
) -> Response {
    deliveries.with(|t| match check(t, &id, q.nonce.as_deref()) {
        Err(refusal) => refusal.into_response(),
        Ok(id) => match t.get(&id) {
            Some(p) => (
                [(header::CONTENT_TYPE, "application/octet-stream")],
                p.content.clone(),
            )
                .into_response(),
            None => refuse(StatusCode::NOT_FOUND, "the delivery ended").into_response(),
        },
    })
}

async fn assertion(
    State(deliveries): State<Deliveries>,
    Path(id): Path<String>,
    Query(q): Query<NonceQuery>,
    body: Bytes,
) -> Response {
    let answer = deliveries.with(|t| {
        let id = check(t, &id, q.nonce.as_deref())?;
        match t.get_mut(&id).and_then(|p| p.answer.take()) {
            Some(tx) => Ok(tx),
            None => Err(refuse(
                StatusCode::CONFLICT,
                "this delivery was already answered",
            )),
        }
    });
    let tx = match answer {
        Ok(tx) => tx,
        Err(refusal) => return refusal.into_response(),
    };
    let parsed = serde_json::from_slice::<Analysis>(&body)
        .map_err(|e| format!("not an Analysis: {e}"))
        .and_then(Analysis::into_result);
    match parsed {
        Ok(result) => {
            let _ = tx.send(Ok(result));
            (StatusCode::OK, Json(serde_json::json!({"status": "OK"}))).into_response()
        }
        Err(why) => {
            let _ = tx.send(Err(WebhookError::BadAnswer(why.clone())));
            refuse(StatusCode::BAD_REQUEST, why).into_response()
        }
    }
}
