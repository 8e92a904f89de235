//! The API's error boundary: every failure becomes the FAIL envelope with a
//! status that says whose fault it is.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use swarm_protocol::TxError;

use crate::artifacts::ArtifactError;
use crate::store::StoreError;

/// An API failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed (400).
    #[error("{1}")]
    BadRequest(&'static str, String),
    /// Nothing there (404).
    #[error("{0}")]
    NotFound(String),
    /// A transaction the protocol refuses.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// A well-formed request that a rule refuses (422), with a stable code,
    /// for rules the node checks itself (such as a bounty's artifact bundle).
    #[error("{1}")]
    Rule(&'static str, String),
    /// A body or artifact over its limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// No valid credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials that do not allow this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Over a rate limit or quota (429, with `Retry-After`).
    #[error("{message}")]
    TooManyRequests {
        /// What was exceeded.
        message: String,
        /// When to try again.
        retry_after: std::time::Duration,
    },
    /// The node cannot take writes now (503).
    #[error("{0}")]
    Unavailable(String),
    /// The node is behind and sheds load it could not include in time
    /// (503, with `Retry-After`): see `limits::admission`.
    #[error("{message}")]
    Overloaded {
        /// What is refused and why.
        message: String,
        /// The estimated time until the node has caught up.
        retry_after: std::time::Duration,
    },
    /// The node's own failure (500); the message is logged, not shown.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(..) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Rule(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Tx(e) => tx_status(e),
        }
    }

    /// When to try again, in whole seconds (at least 1), for refusals that
    /// pass: over a rate (429) or the node unable to take it now (503).
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests { retry_after, .. }
            | ApiError::Overloaded { retry_after, .. } => {
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Some(seconds.max(1))
            }
            ApiError::Unavailable(_) => Some(1),
            _ => None,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &str {
        match self {
            ApiError::BadRequest(code, _) | ApiError::Rule(code, _) => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::Internal(_) => "internal",
            ApiError::Tx(e) => e.code(),
        }
    }
}

/// The status for a refused transaction: 400 for what is not a well-formed
/// signed transaction, 404 for an unknown bounty, 409 for what was already
/// done, 413 for oversize, 422 for a rule of the protocol.
pub(crate) fn tx_status(e: &TxError) -> StatusCode {
    match e {
        TxError::Malformed(_)
        | TxError::UnknownName(_)
        | TxError::BadSignature(_)
        | TxError::WrongSigner { .. } => StatusCode::BAD_REQUEST,
        TxError::TooLarge { .. }
        | TxError::MetadataTooLarge { .. }
        | TxError::JsonLimit { .. }
        | TxError::FieldTooLong { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        TxError::UnknownBounty(_) => StatusCode::NOT_FOUND,
        TxError::Replayed(_)
        | TxError::DuplicateBounty(_)
        | TxError::DuplicateAssertion { .. }
        | TxError::DuplicateVote { .. }
        | TxError::AlreadyRevealed { .. } => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let errors = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error; see the node's log".to_owned()
            }
            other => other.to_string(),
        };
        let body = swarm_protocol::api::Fail::new(errors, self.code());
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after_seconds() {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<ArtifactError> for ApiError {
    fn from(e: ArtifactError) -> Self {
        match &e {
            ArtifactError::TooLarge { .. } | ArtifactError::Count { .. } => {
                ApiError::TooLarge(e.to_string())
            }
            // Uploads in progress fill the staging budget, or the object
            // store is unreachable: nothing the client did, try again later.
            ArtifactError::StagingFull { .. } | ArtifactError::Backend(_) => {
                ApiError::Unavailable(e.to_string())
            }
            ArtifactError::NotFound { .. }
            | ArtifactError::IndexOutOfRange { .. }
            | ArtifactError::BlobNotFound { .. } => ApiError::NotFound(e.to_string()),
            _ if e.is_client_error() => ApiError::BadRequest("bad_artifact", e.to_string()),
            _ => ApiError::Internal(e.to_string()),
        }
    }
}
