//! What can go wrong between a microengine, Redis and its workers, each
//! with a stable code (as the node's refusals have) so that logs and
//! reports can be counted and matched without parsing messages.

use crate::client::ClientError;
use crate::scanner::ScanError;

/// A failure of the Redis dispatch or of a worker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisDispatchError {
    /// The `--dispatch` address is not `redis://HOST[:PORT][/DB]/STREAM`.
    #[error("invalid dispatch address {address:?}: {reason}")]
    Address {
        /// The address as given (its password, if any, removed).
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Redis refused a command or could not be reached.
    #[error("redis at {target}: {source}")]
    Redis {
        /// The server and stream (without password).
        target: String,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// A job or an answer on a stream could not be read.
    #[error("malformed {what} {id}: {detail}")]
    Malformed {
        /// `job` or `answer`.
        what: &'static str,
        /// The stream entry's id.
        id: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The worker's scanner could not be set up.
    #[error("the scanner's setup failed: {0}")]
    Setup(#[source] ScanError),
    /// The worker could not read the community's parameters from the node.
    #[error("the node: {0}")]
    Node(#[source] ClientError),
    /// The worker's health and metrics server could not start.
    #[error(transparent)]
    Observe(#[from] crate::observe::ObserveError),
}

impl RedisDispatchError {
    /// A stable machine-readable name.
    pub fn code(&self) -> &'static str {
        match self {
            RedisDispatchError::Address { .. } => "dispatch_address",
            RedisDispatchError::Redis { .. } => "redis",
            RedisDispatchError::Malformed { .. } => "malformed_message",
            RedisDispatchError::Setup(_) => "scanner_setup",
            RedisDispatchError::Node(_) => "node",
            RedisDispatchError::Observe(e) => e.code(),
        }
    }
}
