//! Why a microengine could not start or had to stop.

use crate::client::ClientError;
use crate::journal::JournalError;

/// Why the engine could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The builder was missing something or given something unusable.
    #[error("microengine misconfigured: {0}")]
    Config(String),
    /// The node could not be asked what the engine needs to start.
    #[error("node: {0}")]
    Node(#[from] ClientError),
    /// The journal could not be read or written; the engine stops rather
    /// than assert without a durable record.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The scanner's `setup` failed.
    #[error("scanner setup failed: {0}")]
    Setup(#[source] crate::scanner::ScanError),
    /// The health and metrics server could not start.
    #[error(transparent)]
    Observe(#[from] crate::observe::ObserveError),
}
