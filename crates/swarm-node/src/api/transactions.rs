//! `POST /transactions` and `GET /transactions/{hash}`.
//!
//! A submission is checked as far as possible before it reaches the
//! sequencer — envelope, signature, the artifact bundle of a `bounty:Post` —
//! and then applied to the open block, so the answer says at once whether
//! the transaction is valid. With `?wait=true` the answer comes after the
//! block that includes it is committed.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use serde_json::value::RawValue;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use swarm_protocol::api::{BatchItem, Envelope, Receipt, Refusal, Submitted, TxStatus};
use swarm_protocol::{SignedTx, TxBody, TxError, VerifiedTx, H256};

use super::{ok, ApiError, AppState, Path, MAX_BATCH};
use crate::artifacts::ArtifactError;
use crate::limits::admission::Refusal as Shed;
use crate::sequencer::Accepted;

/// How long `?wait=true` waits for inclusion.
const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// Batches at least this large verify their signatures on the blocking pool.
const BLOCKING_VERIFY_FROM: usize = 8;

/// Bodies at least this large (about 16 transactions) are parsed on the
/// blocking pool too: a batch of hundreds takes milliseconds to parse, and
/// on a request worker that would hold up every read queued behind it.
const BLOCKING_PARSE_FROM: usize = 16 * 1024;

fn parse_body(body: &[u8]) -> Result<(Vec<SignedTx>, bool), ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::BadRequest("not_utf8", format!("request body is not UTF-8: {e}")))?;
    let not_json = |e: serde_json::Error| {
        ApiError::BadRequest("bad_json", format!("request body is not JSON: {e}"))
    };
    // Each item is kept as its text and parsed once, straight into the
    // transaction: no JSON tree of the whole batch is built in between.
    let batch = text.trim_start().starts_with('[');
    let items: Vec<&RawValue> = if batch {
        serde_json::from_str(text).map_err(not_json)?
    } else {
        vec![serde_json::from_str(text).map_err(not_json)?]
    };
    if items.is_empty() {
        return Err(ApiError::BadRequest(
            "empty_batch",
            "the batch holds no transaction".into(),
        ));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::BadRequest(
            "batch_too_large",
            format!(
                "a batch holds at most {MAX_BATCH} transactions, not {}",
                items.len()
            ),
        ));
    }
    let mut txs = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let signed: SignedTx = serde_json::from_str(item.get()).map_err(|e| {
            let at = if batch { format!(" (item {i})") } else { String::new() };
            ApiError::BadRequest(
                "malformed",
                format!("not a signed transaction{at}: {e}; expected {{\"raw\": \"...\", \"signature\": \"0x...\"}}"),
            )
        })?;
        txs.push(signed);
    }
    Ok((txs, batch))
}

/// Admission checks and signatures (see `swarm_protocol::admission`): what
/// is submitted now meets today's limits; stored blocks replay without them.
fn verify_all(txs: Vec<SignedTx>) -> Vec<Result<(SignedTx, VerifiedTx), TxError>> {
    txs.into_iter().map(|s| s.admit().map(|v| (s, v))).collect()
}

/// The sender's rate limit, then admission control for a new bounty (the
/// request's posts were admitted or refused together: `posts`), then its
/// artifacts.
///
/// Only transactions whose signatures checked reach this: an unsigned or
/// badly signed one never spends an account's (or an IP's) bucket.
async fn admit(
    state: &AppState,
    verified: &VerifiedTx,
    posts: Result<(), Shed>,
) -> Result<(), ApiError> {
    state.limiter.transaction_from(&verified.from())?;
    if matches!(verified.tx().body, TxBody::PostBounty(_)) {
        posts.map_err(Shed::into_api_error)?;
    }
    check_artifacts(state, verified).await
}

/// Checks what the registry cannot: that a bounty's artifact bundle exists
/// and holds as many artifacts as it claims.
async fn check_artifacts(state: &AppState, verified: &VerifiedTx) -> Result<(), ApiError> {
    let TxBody::PostBounty(post) = &verified.tx().body else {
        return Ok(());
    };
    if post.artifact_type != swarm_protocol::ArtifactType::File {
        return Ok(());
    }
    let count = match state.artifacts.bundle_len(&post.uri).await {
        Ok(n) => n,
        Err(ArtifactError::BadUri { .. }) => {
            return Err(ApiError::Tx(TxError::BadUri(
                post.uri.chars().take(80).collect::<String>(),
            )))
        }
        Err(ArtifactError::NotFound { .. }) => {
            return Err(ApiError::Rule(
                "unknown_bundle",
                format!(
                    "no artifact bundle {} is stored on this node; upload the artifacts (POST /artifacts) and post the uri it returns",
                    post.uri
                ),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    if count != post.num_artifacts as usize {
        return Err(ApiError::Rule(
            "artifact_count_mismatch",
            format!(
                "bundle {} holds {count} artifact(s) but num_artifacts is {}",
                post.uri, post.num_artifacts
            ),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/transactions", tag = "transactions",
    params(("wait" = Option<bool>, Query, description = "Answer after the including block is committed")),
    request_body(content = String, description = "A signed transaction {raw, signature}, or an array of them (at most 1,000)", content_type = "application/json"),
    responses((status = 200, description = "Accepted (pending or included): one answer for one transaction, one item per transaction for an array", body = super::openapi::SubmitAnswer),
              (status = 400, description = "Malformed or badly signed"),
              (status = 404, description = "A bounty transaction on an unknown bounty"),
              (status = 409, description = "Already done (duplicate, replay)"),
              (status = 413, description = "Body, transaction, metadata or JSON nesting over its limit"),
              (status = 422, description = "Breaks a protocol rule"),
              (status = 429, description = "Over a rate (every item of a batch over its account's rate, the IP's, or the IP's invalid-transaction budget); Retry-After says when to send again. In a batch, items over their account's rate carry status 429 and retry_after instead"),
              (status = 503, description = "No sequencer can take it now, or the node is behind and takes no new bounty (code overloaded) or nothing at all until it catches up (Retry-After)")))]
pub(crate) async fn submit(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Query(query): Query<HashMap<String, String>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // A body over the limit is refused in the envelope, not as plain text.
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!(
                "request body is larger than the limit of {} bytes",
                super::MAX_TRANSACTIONS_BODY
            ))
        } else {
            ApiError::BadRequest(
                "bad_body",
                format!("cannot read the request body: {}", e.body_text()),
            )
        }
    })?;
    let wait = match query.get("wait").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(
                "bad_wait",
                format!("wait={:?} is not true or false", super::reads::short(other)),
            ))
        }
    };
    let ip = peer.map(|p| p.0 .0.ip());
    // Before any signature is recovered: an IP that keeps sending what does
    // not verify is refused without costing the node more.
    state.limiter.check_invalid_from_ip(ip)?;
    let parsed = if body.len() >= BLOCKING_PARSE_FROM {
        let body = body.clone();
        tokio::task::spawn_blocking(move || parse_body(&body))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
    } else {
        parse_body(&body)
    };
    let (txs, batch) = parsed.inspect_err(|_| state.limiter.invalid_from_ip(ip, 1))?;
    let Some(sequencer) = state.sequencer() else {
        // The sequencer verifies; the IP is charged here, where it is known.
        state.limiter.transactions_from_ip(ip, txs.len())?;
        return forward(&state, &body, wait).await;
    };
    // Counted as waiting from now until the sequencer has answered; over
    // the hard cap nothing more is taken, not even to verify.
    let own = txs.len();
    let waiting = state.admission.enter(own).map_err(|r| r.into_api_error())?;

    let checked = if txs.len() >= BLOCKING_VERIFY_FROM {
        let _permit = state
            .signature_checks
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || verify_all(txs))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
    } else {
        verify_all(txs)
    };
    let invalid = checked.iter().filter(|c| c.is_err()).count();
    state.limiter.invalid_from_ip(ip, invalid);
    state
        .limiter
        .transactions_from_ip(ip, checked.len() - invalid)?;
    // The request's new bounties come in together or not at all.
    let post_count = checked
        .iter()
        .filter(|c| matches!(c, Ok((_, v)) if matches!(v.tx().body, TxBody::PostBounty(_))))
        .count();
    let posts = if post_count == 0 {
        Ok(())
    } else {
        state.admission.admit_posts(own, post_count)
    };
    // Slot per input; refusals before the sequencer fill theirs now.
    let mut results: Vec<Option<Result<Submitted, ApiError>>> = Vec::with_capacity(checked.len());
    let mut to_submit = Vec::new();
    let mut positions = Vec::new();
    for (i, c) in checked.into_iter().enumerate() {
        match c {
            Err(e) => results.push(Some(Err(e.into()))),
            Ok((signed, verified)) => match admit(&state, &verified, posts).await {
                Err(e) => results.push(Some(Err(e))),
                Ok(()) => {
                    results.push(None);
                    positions.push(i);
                    to_submit.push((signed, verified));
                }
            },
        }
    }
    let outcomes = if to_submit.is_empty() {
        Vec::new()
    } else {
        sequencer
            .submit(to_submit, wait)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?
    };
    // Applied or refused: no longer waiting (inclusion is the block's time).
    drop(waiting);
    for (i, outcome) in positions.into_iter().zip(outcomes) {
        results[i] = Some(match outcome {
            Ok(accepted) => await_inclusion(accepted).await,
            Err(e) => Err(e.into()),
        });
    }
    let mut results = results.into_iter().flatten();
    if !batch {
        return match results.next() {
            Some(Ok(s)) => Ok(ok(s)),
            Some(Err(e)) => Err(e),
            None => Err(ApiError::Internal("no result for a submission".into())),
        };
    }
    let results: Vec<Result<Submitted, ApiError>> = results.collect();
    // A batch refused whole for a passing reason is refused as a request,
    // with its Retry-After, so that any HTTP client backs off.
    let passing =
        |r: &Result<Submitted, ApiError>| r.as_ref().err().and_then(ApiError::retry_after_seconds);
    if results.iter().all(|r| passing(r).is_some()) {
        let wait = results.iter().filter_map(passing).max().unwrap_or(1);
        if let Some(Err(first)) = results.into_iter().next() {
            return Err(match first {
                ApiError::Unavailable(message) => ApiError::Unavailable(message),
                ApiError::Overloaded { message, .. } => ApiError::Overloaded {
                    message,
                    retry_after: Duration::from_secs(wait),
                },
                other => ApiError::TooManyRequests {
                    message: other.to_string(),
                    retry_after: Duration::from_secs(wait),
                },
            });
        }
        return Err(ApiError::Internal("no result for a submission".into()));
    }
    let items: Vec<BatchItem> = results
        .into_iter()
        .map(|r| match r {
            Ok(s) => BatchItem::Ok(s),
            Err(e) => BatchItem::Err(Refusal {
                errors: e.to_string(),
                code: e.code().to_owned(),
                status: e.status().as_u16(),
                retry_after: e.retry_after_seconds(),
            }),
        })
        .collect();
    Ok(ok(items))
}

async fn await_inclusion(accepted: Accepted) -> Result<Submitted, ApiError> {
    let Accepted {
        hash,
        block_number,
        included,
    } = accepted;
    let Some(included) = included else {
        return Ok(Submitted {
            hash,
            status: TxStatus::Pending,
            block_number,
        });
    };
    match tokio::time::timeout(WAIT_LIMIT, included).await {
        Ok(Ok(block_number)) => Ok(Submitted {
            hash,
            status: TxStatus::Included,
            block_number,
        }),
        Ok(Err(_)) => Err(ApiError::Unavailable(format!(
            "the sequencer stopped before block {block_number} holding {hash} was committed"
        ))),
        Err(_) => Err(ApiError::Unavailable(format!(
            "{hash} was not included within {}s",
            WAIT_LIMIT.as_secs()
        ))),
    }
}

/// A follower passes submissions to the sequencer it shares a database with.
async fn forward(state: &AppState, body: &Bytes, wait: bool) -> Result<Response, ApiError> {
    let Some(url) = state.store.sequencer_url().await? else {
        return Err(ApiError::Unavailable(
            "no sequencer is known for this database".into(),
        ));
    };
    // Subscribed before forwarding, so the block that includes the
    // transactions cannot pass unseen.
    let mut committed = state.events.subscribe();
    let response = state
        .http
        .post(format!("{url}/transactions?wait={wait}"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot reach the sequencer at {url}: {e}")))?;
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ApiError::Unavailable(format!("sequencer at {url} failed: {e}")))?;
    if wait {
        // Read-your-writes: answer "included" only once this node's own view
        // has the block too, so the client's next read here sees its write.
        if let Some(block) = highest_included(&bytes) {
            let caught_up = async {
                while state.view.tip().is_none_or(|t| t.number < block) {
                    if committed.recv().await.is_err() {
                        committed = state.events.subscribe();
                        tokio::time::sleep(state.block_time / 4).await;
                    }
                }
            };
            if tokio::time::timeout(WAIT_LIMIT, caught_up).await.is_err() {
                return Err(ApiError::Unavailable(format!(
                    "block {block} was committed by the sequencer but this node did not see it within {}s",
                    WAIT_LIMIT.as_secs()
                )));
            }
        }
    }
    Ok((
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response())
}

/// The highest `block_number` of the included results in a submission answer.
fn highest_included(body: &[u8]) -> Option<u64> {
    let answer: Envelope = serde_json::from_slice(body).ok()?;
    let items: Vec<Submitted> = match answer.result? {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match serde_json::from_value(item) {
                Ok(BatchItem::Ok(submitted)) => Some(submitted),
                _ => None,
            })
            .collect(),
        one => vec![serde_json::from_value(one).ok()?],
    };
    items
        .into_iter()
        .filter(|s| s.status == TxStatus::Included)
        .map(|s| s.block_number)
        .max()
}

#[utoipa::path(get, path = "/transactions/{hash}", tag = "transactions",
    params(("hash" = String, Path, description = "Transaction hash (keccak256 of raw)", pattern = "^0x[0-9a-fA-F]{64}$")),
    responses((status = 200, description = "Receipt with the events", body = Receipt), (status = 404, description = "Not included (yet)")))]
pub(crate) async fn receipt(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let h: H256 = hash.parse().map_err(|e| {
        ApiError::BadRequest(
            "bad_hash",
            format!(
                "{:?} is not a transaction hash: {e}",
                super::reads::short(&hash)
            ),
        )
    })?;
    match state.store.transaction(&h).await? {
        Some((tx, events)) => Ok(ok(Receipt {
            tx,
            status: TxStatus::Included,
            events,
        })),
        None => Err(ApiError::NotFound(format!(
            "transaction {h} is not included"
        ))),
    }
}
