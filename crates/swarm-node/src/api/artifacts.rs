//! Artifact endpoints: multipart upload, listing, download, stat.

use axum::body::Body;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Extension, Multipart, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use swarm_protocol::api::Uploaded;
use swarm_protocol::{SignedTx, VerifiedUpload};

use super::{ok, ApiError, AppState, Path};
use crate::artifacts::{ArtifactEntry, ArtifactError};

/// Checks the `Authorization: Swarm <signed artifacts:Upload>` header: a
/// valid signature, this community, not expired, and a funded account.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<VerifiedUpload, ApiError> {
    const HOW: &str =
        "POST /artifacts needs an `Authorization: Swarm <signed artifacts:Upload>` header";
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized(format!("{HOW}; none was sent")));
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized(format!("{HOW}; the header is not ASCII")))?;
    let Some(envelope) = text.strip_prefix("Swarm ") else {
        return Err(ApiError::Unauthorized(format!(
            "{HOW}; the scheme is not Swarm"
        )));
    };
    let signed: SignedTx = serde_json::from_str(envelope)
        .map_err(|e| ApiError::Unauthorized(format!("{HOW}; it is not a signed envelope: {e}")))?;
    let permit = signed
        .verify_upload()
        .map_err(|e| ApiError::Unauthorized(format!("upload permission refused: {e}")))?;
    if permit.community != state.community {
        return Err(ApiError::Unauthorized(format!(
            "upload permission is for community {:?}, this is {:?}",
            super::reads::short(&permit.community),
            state.community
        )));
    }
    let (expiry, balance) = state
        .view
        .read(|r| (r.check_expiry(permit.expires), r.balance(&permit.from)));
    expiry.map_err(|e| ApiError::Unauthorized(format!("upload permission refused: {e}")))?;
    if balance.is_zero() {
        return Err(ApiError::Forbidden(format!(
            "{} holds no NCT; only funded accounts may upload artifacts",
            permit.from
        )));
    }
    Ok(permit)
}

/// Refuses, before reading the body, an upload whose declared length
/// (`Content-Length`) cannot fit: more than the permitted artifacts at their
/// largest, or more than what is left of the account's quota. Each
/// multipart part carries some framing, allowed for here; the exact sizes
/// are checked again as the bytes arrive.
fn check_declared_size(
    state: &AppState,
    headers: &HeaderMap,
    permit: &VerifiedUpload,
) -> Result<(), ApiError> {
    /// Multipart framing allowed per part (boundary, headers) and in all.
    const FRAMING_PER_PART: u64 = 1024;
    const FRAMING: u64 = 4096;
    let Some(declared) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Ok(());
    };
    let parts = permit
        .auth
        .sha256s
        .len()
        .min(state.artifacts.limits().max_count) as u64;
    let framing = FRAMING + FRAMING_PER_PART * parts;
    let payload = declared.saturating_sub(framing);
    let most = parts.saturating_mul(state.artifacts.limits().max_size);
    if payload > most {
        return Err(ApiError::TooLarge(format!(
            "the upload declares {declared} bytes, more than the {parts} artifact(s) its permission names can hold ({} bytes each at most)",
            state.artifacts.limits().max_size
        )));
    }
    state.limiter.check_upload_quota(&permit.from, payload)
}

#[utoipa::path(post, path = "/artifacts", tag = "artifacts",
    request_body(content = String, description = "multipart/form-data with one `file` field per artifact (at most 256, each at most max_artifact_size)", content_type = "multipart/form-data"),
    responses((status = 200, description = "The bundle uri and per-artifact metadata", body = Uploaded),
              (status = 400, description = "Not multipart, wrong field, no file"),
              (status = 401, description = "No valid upload permission in the Authorization header"),
              (status = 403, description = "An account without NCT, or an artifact (or more artifacts) than the permission names"),
              (status = 413, description = "An artifact or the count over the limit, or a declared length the permission cannot cover"),
              (status = 429, description = "Over the IP's upload rate or the account's hourly quota (Retry-After)"),
              (status = 503, description = "Uploads in progress fill the staging budget, or the object store holding the artifacts is unreachable (Retry-After)")))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    state.limiter.upload_from_ip(peer.map(|p| p.0 .0.ip()))?;
    let permit = authorize(&state, &headers)?;
    let mut multipart = multipart.map_err(|e| {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let detail = if content_type
            .to_ascii_lowercase()
            .starts_with("multipart/form-data")
        {
            e.body_text()
        } else {
            format!(
                "the content type is {:?}",
                super::reads::short(&content_type)
            )
        };
        ApiError::BadRequest(
            "bad_multipart",
            format!("expected a multipart/form-data body: {detail}"),
        )
    })?;
    let max = state.artifacts.limits().max_count;
    let permitted = permit.auth.sha256s.len();
    check_declared_size(&state, &headers, &permit)?;
    // Every file is staged first and stored only once the whole upload is
    // accepted: a refused upload (too many files, one too large, a broken
    // body) leaves nothing behind. What can be refused is refused before
    // the bytes it concerns are written: the count at each part's header,
    // the quota and the sizes at each chunk, the sha256 as soon as its file
    // ends.
    let mut staged = Vec::new();
    // A chunk the quota refuses fails the stream; the refusal waits here.
    let refusal: Arc<Mutex<Option<ApiError>>> = Arc::default();
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            ApiError::BadRequest("bad_multipart", format!("multipart body is malformed: {e}"))
        })?;
        let Some(field) = field else { break };
        if field.name() != Some("file") {
            return Err(ApiError::BadRequest(
                "bad_field",
                format!(
                    "unexpected multipart field {:?}; send each artifact as a field named \"file\"",
                    field.name().unwrap_or("")
                ),
            ));
        }
        if staged.len() == max {
            return Err(ApiError::TooLarge(format!(
                "a bundle holds at most {max} artifacts"
            )));
        }
        if staged.len() == permitted {
            return Err(ApiError::Forbidden(format!(
                "the upload permission of {} names {permitted} artifact(s); this upload has more",
                permit.from
            )));
        }
        let filename = field.file_name().map(str::to_owned);
        // A body that breaks off or is malformed inside a file is the
        // client's multipart error; say what the parser found.
        let index = staged.len();
        let (quota, account, refused) = (state.clone(), permit.from, refusal.clone());
        let stream = field
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.body_text()))
            .and_then(move |chunk| {
                let charged = quota
                    .limiter
                    .charge_upload(&account, u64::try_from(chunk.len()).unwrap_or(u64::MAX));
                let result = match charged {
                    Ok(()) => Ok(chunk),
                    Err(e) => {
                        *refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        Err(std::io::Error::other("refused by the upload quota"))
                    }
                };
                std::future::ready(result)
            });
        let artifact = state.artifacts.stage(filename, stream).await.map_err(|e| {
            if let Some(refused) = refusal.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return refused;
            }
            match e {
                ArtifactError::Upload(detail) => ApiError::BadRequest(
                    "bad_multipart",
                    format!("multipart body is malformed in artifact {index}: {detail}"),
                ),
                other => other.into(),
            }
        })?;
        let sha256 = &artifact.entry().sha256;
        if !permit.auth.sha256s.iter().any(|s| s == sha256) {
            return Err(ApiError::Forbidden(format!(
                "artifact {index} {:?} (sha256 {sha256}) is not among the sha256s the upload permission of {} names",
                artifact.entry().filename,
                permit.from
            )));
        }
        staged.push(artifact);
    }
    if staged.is_empty() {
        return Err(ApiError::BadRequest(
            "no_file",
            "no artifact in the upload; send at least one multipart field named \"file\"".into(),
        ));
    }
    let (uri, entries) = state.artifacts.commit_bundle(staged).await?;
    state.metrics.record_artifact("upload");
    Ok(ok(Uploaded {
        uri,
        artifacts: entries,
    }))
}

#[utoipa::path(get, path = "/artifacts/{uri}", tag = "artifacts",
    params(("uri" = String, Path, description = "Bundle uri (sha256 of its manifest)", pattern = "^[0-9a-f]{64}$")),
    responses((status = 200, description = "The bundle's artifacts", body = Vec<ArtifactEntry>), (status = 404, description = "No such bundle"),
              (status = 503, description = "The object store holding the artifacts is unreachable (Retry-After)")))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Path(uri): Path<String>,
) -> Result<Response, ApiError> {
    let manifest = state.artifacts.manifest(&uri).await?;
    Ok(ok(manifest.artifacts))
}

fn parse_index(text: &str) -> Result<usize, ApiError> {
    text.parse().map_err(|_| {
        ApiError::BadRequest(
            "bad_index",
            format!("{:?} is not an artifact index", super::reads::short(text)),
        )
    })
}

#[utoipa::path(get, path = "/artifacts/{uri}/{index}", tag = "artifacts",
    params(("uri" = String, Path, description = "Bundle uri", pattern = "^[0-9a-f]{64}$"), ("index" = usize, Path, description = "Artifact index")),
    responses((status = 200, description = "The artifact's bytes", body = Vec<u8>, content_type = "application/octet-stream"), (status = 404, description = "No such artifact"),
              (status = 503, description = "The object store holding the artifacts is unreachable (Retry-After)")))]
pub(crate) async fn download(
    State(state): State<AppState>,
    Path((uri, index)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let index = parse_index(&index)?;
    let (entry, reader) = state.artifacts.open_artifact(&uri, index).await?;
    state.metrics.record_artifact("download");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, entry.size.to_string()),
        ],
        Body::from_stream(reader),
    )
        .into_response())
}

#[utoipa::path(get, path = "/artifacts/{uri}/{index}/stat", tag = "artifacts",
    params(("uri" = String, Path, description = "Bundle uri", pattern = "^[0-9a-f]{64}$"), ("index" = usize, Path, description = "Artifact index")),
    responses((status = 200, description = "The artifact's metadata", body = ArtifactEntry), (status = 404, description = "No such artifact"),
              (status = 503, description = "The object store holding the artifacts is unreachable (Retry-After)")))]
pub(crate) async fn stat(
    State(state): State<AppState>,
    Path((uri, index)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let index = parse_index(&index)?;
    let entry = state.artifacts.entry(&uri, index).await?;
    state.metrics.record_artifact("stat");
    Ok(ok(entry))
}
