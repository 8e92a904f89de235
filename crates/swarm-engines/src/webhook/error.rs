//! Why a webhook engine gave no verdict, each with a stable code. None of
//! these ever becomes an assertion.

use std::time::Duration;

use swarm_sdk::ScanError;

/// What went wrong between swarm and a webhook engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The address for the engine's answers cannot be listened on.
    #[error("cannot listen for the webhook engine's answers on {addr}: {detail}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// What the system said.
        detail: String,
    },
    /// The engine's URL or the public URL is not a usable http(s) URL.
    #[error("{what} {url:?} is not an http(s) URL")]
    BadUrl {
        /// Which URL.
        what: &'static str,
        /// The URL given.
        url: String,
    },
    /// The shared secret is empty.
    #[error("the webhook secret is empty: give the engine's PSENGINE_WEBHOOK_SECRET")]
    BadSecret,
    /// The engine did not take the delivery before the deadline: it cannot
    /// be reached, or kept answering 5xx.
    #[error("the webhook engine at {url} could not be reached: {detail}")]
    Unreachable {
        /// The engine's URL.
        url: String,
        /// The last failure.
        detail: String,
    },
    /// The engine refused swarm's `X-POLYSWARM-SIGNATURE` (401 or 403):
    /// the two sides do not share the secret.
    #[error(
        "the webhook engine at {url} refused the signature ({status}: {body}); \
         --webhook-secret must be the engine's PSENGINE_WEBHOOK_SECRET"
    )]
    SignatureRefused {
        /// The engine's URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// What it said.
        body: String,
    },
    /// The engine answered the delivery with another 4xx.
    #[error("the webhook engine at {url} rejected the delivery ({status}: {body})")]
    Rejected {
        /// The engine's URL.
        url: String,
        /// The status.
        status: u16,
        /// What it said.
        body: String,
    },
    /// The engine took the delivery but posted no analysis to the
    /// `response_url` in time.
    #[error("the webhook engine sent no analysis within {0:?}")]
    NoAnswer(Duration),
    /// The engine's analysis cannot be used.
    #[error("the webhook engine's analysis is invalid: {0}")]
    BadAnswer(String),
    /// The community's bid limits could not be read from the node.
    #[error("cannot read the community's bid limits from the node at {node}: {detail}")]
    Parameters {
        /// The node's URL.
        node: String,
        /// What went wrong.
        detail: String,
    },
}

impl WebhookError {
    /// A stable code for logs and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::Bind { .. } => "webhook_bind",
            WebhookError::BadUrl { .. } => "webhook_bad_url",
            WebhookError::BadSecret => "webhook_bad_secret",
            WebhookError::Unreachable { .. } => "webhook_unreachable",
            WebhookError::SignatureRefused { .. } => "webhook_signature_refused",
            WebhookError::Rejected { .. } => "webhook_rejected",
            WebhookError::NoAnswer(_) => "webhook_no_answer",
            WebhookError::BadAnswer(_) => "webhook_bad_answer",
            WebhookError::Parameters { .. } => "webhook_parameters",
        }
    }
}

impl From<WebhookError> for ScanError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::NoAnswer(d) => ScanError::Timeout(d),
            WebhookError::Unreachable { .. } | WebhookError::Parameters { .. } => {
                ScanError::Unavailable(format!("{} ({})", e, e.code()))
            }
            other => ScanError::Other(format!("{other} ({})", other.code())),
        }
    }
}
