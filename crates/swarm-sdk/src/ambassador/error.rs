//! Why an ambassador could not start or had to stop.

use swarm_protocol::{Address, Amount};

use crate::client::ClientError;

/// Why the ambassador stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AmbassadorError {
    /// The builder is missing something or holds a bad value.
    #[error("ambassador misconfigured: {0}")]
    Config(String),
    /// A call to the node failed.
    #[error("{context}: {error}")]
    Node {
        /// What the ambassador was doing.
        context: String,
        /// The failure.
        error: ClientError,
    },
    /// The account cannot pay the next bounty.
    #[error(
        "{address} holds {balance}, but the next bounty needs {needed} \
         (amount plus bounty fee); fund the account or lower --amount"
    )]
    InsufficientBalance {
        /// The ambassador's account.
        address: Address,
        /// Its balance.
        balance: Amount,
        /// Amount plus fee.
        needed: Amount,
    },
    /// The source produced a bounty the community cannot take.
    #[error("bad bounty request: {0}")]
    Request(String),
    /// The health and metrics server could not start.
    #[error(transparent)]
    Observe(#[from] crate::observe::ObserveError),
}

pub(super) fn node_error(
    context: impl Into<String>,
) -> impl FnOnce(ClientError) -> AmbassadorError {
    let context = context.into();
    move |error| AmbassadorError::Node { context, error }
}
