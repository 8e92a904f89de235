//! Why the health and metrics server could not start.

use std::net::SocketAddr;

/// Why the health and metrics server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObserveError {
    /// The listen address could not be bound (in use, not local, no
    /// permission).
    #[error("metrics server: cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

impl ObserveError {
    /// A stable code for logs and exit reports.
    pub fn code(&self) -> &'static str {
        match self {
            ObserveError::Bind { .. } => "metrics_bind",
        }
    }
}
