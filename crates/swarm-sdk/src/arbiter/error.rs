//! Why an arbiter could not start or had to stop.

use std::path::PathBuf;

use swarm_protocol::{Address, Amount};

use crate::client::ClientError;
use crate::scanner::ScanError;

/// Why the arbiter stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArbiterError {
    /// The builder is missing something or holds a bad value.
    #[error("arbiter misconfigured: {0}")]
    Config(String),
    /// A call to the node failed.
    #[error("{context}: {error}")]
    Node {
        /// What the arbiter was doing.
        context: String,
        /// The failure.
        error: ClientError,
    },
    /// The account is not on the community's arbiter whitelist.
    #[error("{0} is not a whitelisted arbiter of this community; the owner must add it (community:AddArbiter)")]
    NotWhitelisted(Address),
    /// The account cannot pay the stake it lacks.
    #[error("{address} holds {balance}, but staking up to the minimum needs {needed}")]
    InsufficientBalance {
        /// The arbiter.
        address: Address,
        /// Its balance.
        balance: Amount,
        /// The missing stake.
        needed: Amount,
    },
    /// The ground-truth backend failed to start.
    #[error("ground truth backend: {0}")]
    Truth(ScanError),
    /// The state file cannot be read or written.
    #[error("state file {path}: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The health and metrics server could not start.
    #[error(transparent)]
    Observe(#[from] crate::observe::ObserveError),
}

pub(super) fn node_error(context: impl Into<String>) -> impl FnOnce(ClientError) -> ArbiterError {
    let context = context.into();
    move |error| ArbiterError::Node { context, error }
}
