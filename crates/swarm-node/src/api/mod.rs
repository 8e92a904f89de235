//! The HTTP and WebSocket API (SPEC §4), in polyswarmd's envelope:
//! `{"status": "OK", "result": ...}` or `{"status": "FAIL", "errors": "..."}`.
//!
//! Every handler parses its own inputs (paths, queries, bodies) so that a
//! bad input gets a 4xx whose message names the problem instead of a
//! framework's generic rejection; 5xx carry a generic message and the detail
//! goes to the log.

mod artifacts;
mod error;
mod events;
mod openapi;
mod reads;
mod transactions;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::artifacts::ArtifactStore;
use crate::chain::CommittedBlock;
use crate::metrics::Metrics;
use crate::sequencer::{ChainView, SequencerHandle};
use crate::store::Store;

pub use error::ApiError;
pub use openapi::document as openapi_document;

/// Largest `POST /transactions` body: a batch of up to 1,000 transactions.
pub const MAX_TRANSACTIONS_BODY: usize = 16 * 1024 * 1024;

/// Most transactions in one batch.
pub const MAX_BATCH: usize = 1000;

/// What every handler can reach.
#[derive(Debug)]
pub struct Shared {
    /// The community name.
    pub community: String,
    /// The chain store.
    pub store: Arc<dyn Store>,
    /// The committed state.
    pub view: Arc<ChainView>,
    /// The sequencer, when this node is it (a follower may become it).
    pub sequencer: std::sync::RwLock<Option<SequencerHandle>>,
    /// Artifact storage.
    pub artifacts: Arc<ArtifactStore>,
    /// Committed blocks, as they are committed.
    pub events: broadcast::Sender<Arc<CommittedBlock>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Time between blocks.
    pub block_time: Duration,
    /// Rate limits and quotas.
    pub(crate) limiter: crate::limits::rate::Limiter,
    /// What waits to be applied, and whether new work may come in.
    pub(crate) admission: Arc<crate::limits::admission::Admission>,
    /// Open event streams, in all and per IP.
    pub(crate) subscriptions: std::sync::Arc<crate::limits::connections::Budget>,
    /// Open TCP connections, in all and per IP.
    pub(crate) connections: std::sync::Arc<crate::limits::connections::Budget>,
    /// Batches whose signatures may be checked at once: one per core. More
    /// would not check them sooner, only crowd the cores so that reads and
    /// block commits wait longer for one.
    pub(crate) signature_checks: tokio::sync::Semaphore,
    /// Store reads that replaying event streams may run at once.
    pub(crate) replay_reads: tokio::sync::Semaphore,
    /// The limits this node was started with.
    pub limits: crate::limits::Limits,
    /// HTTP client for forwarding submissions to the sequencer.
    pub http: reqwest::Client,
    /// Cancelled when the node shuts down; long-lived connections end then.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The explorer's running totals over the settled bounties.
    pub(crate) settled_totals: tokio::sync::Mutex<crate::explorer::SettledTotals>,
}

/// The API's state: cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Wraps the shared parts.
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Shared {
    /// The sequencer, when this node is it.
    pub fn sequencer(&self) -> Option<SequencerHandle> {
        self.sequencer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Wraps a result in the success envelope.
pub(crate) fn ok<T: Serialize>(result: T) -> Response {
    Json(swarm_protocol::api::Envelope::ok(result)).into_response()
}

/// The router with every route of SPEC §4.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/status", get(reads::status))
        .route("/bounties", get(reads::bounties))
        .route("/bounties/parameters", get(reads::bounty_parameters))
        .route("/bounties/{guid}", get(reads::bounty))
        .route("/bounties/{guid}/assertions", get(reads::assertions))
        .route("/bounties/{guid}/assertions/{index}", get(reads::assertion))
        .route("/bounties/{guid}/votes", get(reads::votes))
        .route("/bounties/{guid}/votes/{index}", get(reads::vote))
        .route("/balances/{address}/nct", get(reads::balance))
        .route("/balances/{address}/staking/total", get(reads::stake_total))
        .route(
            "/balances/{address}/staking/withdrawable",
            get(reads::stake_withdrawable),
        )
        .route(
            "/balances/{address}/staking/deposits",
            get(reads::stake_deposits),
        )
        .route("/staking/parameters", get(reads::staking_parameters))
        .route("/blocks/{number}", get(reads::block))
        .route(
            "/transactions",
            post(transactions::submit).layer(DefaultBodyLimit::max(MAX_TRANSACTIONS_BODY)),
        )
        .route("/transactions/{hash}", get(transactions::receipt))
        .route(
            "/artifacts",
            // Uploads stream to disk with their own per-file limit.
            post(artifacts::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/artifacts/{uri}", get(artifacts::list))
        .route("/artifacts/{uri}/{index}", get(artifacts::download))
        .route("/artifacts/{uri}/{index}/stat", get(artifacts::stat))
        .route("/events", get(events::subscribe))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi::serve))
        .merge(crate::explorer::routes())
        .fallback(not_found)
        .layer(middleware::from_fn(envelope_rejections))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limit_requests,
        ))
        // A body that stalls longer than this between two pieces is cut off
        // (a slow upload or submission cannot hold its connection forever).
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.limits.body_read_timeout,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The per-IP request rate, on every route: reads cost the node too.
async fn limit_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
    if let Some(axum::extract::ConnectInfo(peer)) = peer {
        if let Err(e) = state.limiter.request_from_ip(peer.ip()) {
            return e.into_response();
        }
    }
    next.run(request).await
}

/// A path extractor whose rejection (a segment that is not valid UTF-8 once
/// percent-decoded, or of the wrong type) is the FAIL envelope with code
/// `bad_path`, not the framework's plain text.
pub(crate) struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::BadRequest(
                "bad_path",
                format!(
                    "bad path {:?}: {}",
                    reads::short(parts.uri.path()),
                    rejection.body_text()
                ),
            )),
        }
    }
}

/// The safety net under the handlers' own error handling: an error answer
/// that is not JSON (a framework rejection such as 405 Method Not Allowed,
/// or a layer's plain-text refusal) is rewritten into the FAIL envelope,
/// keeping its status and headers. The explorer's HTML error pages are
/// answers meant for people and pass through.
async fn envelope_rejections(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = reads::short(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let passes = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if passes {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        s if s.is_server_error() => "internal",
        _ => "refused",
    };
    let errors = if status == StatusCode::METHOD_NOT_ALLOWED {
        format!("method {method} is not allowed on {path}")
    } else if text.is_empty() {
        format!(
            "{method} {path}: {}",
            status.canonical_reason().unwrap_or("refused")
        )
    } else {
        format!("{method} {path}: {text}")
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    let body =
        serde_json::to_vec(&swarm_protocol::api::Fail::new(errors, code)).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}

async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no route {} {}",
        request.method(),
        request.uri().path()
    ))
}

/// Records each request's latency by route.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    state.metrics.record_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn metrics(State(state): State<AppState>) -> Response {
    let (height, by_round, escrow) = state.view.read(|r| {
        let mut counts = std::collections::BTreeMap::new();
        for b in r.bounties_newest_first() {
            *counts.entry(b.round(r.block())).or_insert(0i64) += 1;
        }
        let escrow = r.escrow().wei() as f64 / swarm_protocol::WEI_PER_NCT as f64;
        (r.block(), counts.into_iter().collect::<Vec<_>>(), escrow)
    });
    state.metrics.set_chain(height, &by_round, escrow);
    state.metrics.set_load(crate::metrics::Load {
        connections: state.connections.open(),
        event_streams: state.subscriptions.open(),
        staged_bytes: state.artifacts.staged_bytes().0,
        waiting_transactions: state.admission.pressure().waiting,
        admission_refused: state.admission.refused(),
    });
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
