//! What one client may take of a node: requests and transactions per
//! second, upload bytes, connections, subscriptions, and how long it may
//! keep any of them waiting.
//!
//! Every limit is here, in one [`Limits`], so that `docs/SECURITY.md`, the
//! `swarm node` flags and the code name the same things. Over a rate or a
//! quota the API answers 429 with `Retry-After` ([`rate`]); over a
//! connection cap the node answers 429 (per client) or 503 (in total) and
//! closes ([`connections`]); a client that stalls is cut off by the
//! timeouts the accept loop (`crate::serve`) and the event stream enforce.
//! When the node itself is behind, it sheds new bounties with 503 and
//! `Retry-After` before their rounds could be missed ([`admission`]).

pub(crate) mod admission;
pub(crate) mod connections;
pub(crate) mod rate;

use std::time::Duration;

pub use admission::AdmissionLimits;
pub use rate::Rate;

/// Every limit a node enforces on its clients. `None` disables a rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests of any kind per client IP (reads included).
    pub requests_per_ip: Option<Rate>,
    /// Signed transactions per client IP, counted once their signatures check.
    pub transactions_per_ip: Option<Rate>,
    /// Signed transactions per sending account.
    pub transactions_per_account: Option<Rate>,
    /// Submitted transactions that fail to decode or to verify, per client
    /// IP; once spent, that IP's submissions are refused before any
    /// signature is recovered.
    pub invalid_transactions_per_ip: Option<Rate>,
    /// Upload requests per client IP.
    pub uploads_per_ip: Option<Rate>,
    /// Bytes one account may upload per hour.
    pub upload_bytes_per_account_hour: Option<u64>,
    /// Open TCP connections in all; lowered at start to what the process's
    /// file-descriptor limit leaves after [`FD_RESERVE`].
    pub max_connections: usize,
    /// Open TCP connections per client IP.
    pub max_connections_per_ip: usize,
    /// Open event streams (`/events`) in all.
    pub max_subscriptions: usize,
    /// Open event streams per client IP.
    pub max_subscriptions_per_ip: usize,
    /// Time a client has to send a request's headers, and that an idle
    /// keep-alive connection is kept open.
    pub header_read_timeout: Duration,
    /// Longest pause between two pieces of a request body.
    pub body_read_timeout: Duration,
    /// Longest an event stream may wait for its client to take one message;
    /// a client that reads slower than that is disconnected.
    pub event_send_timeout: Duration,
    /// When the node refuses new bounties, and all submissions, because it
    /// is behind (`admission`). Not a per-client limit: it protects the
    /// bounties already admitted.
    pub admission: AdmissionLimits,
}

/// File descriptors kept for the node's own use (database, artifact files,
/// connections to the sequencer) when the connection cap is derived from
/// the process limit.
pub const FD_RESERVE: usize = 256;

impl Default for Limits {
    /// Generous enough for a busy marketplace of honest engines (thousands
    /// of transactions a second, hundreds of engines on one host), tight
    /// enough to stop one client from starving the rest.
    fn default() -> Self {
        Limits {
            requests_per_ip: Rate::new(20_000, 40_000),
            transactions_per_ip: Rate::new(20_000, 40_000),
            transactions_per_account: Rate::new(5_000, 10_000),
            invalid_transactions_per_ip: Rate::new(1_000, 2_000),
            uploads_per_ip: Rate::new(200, 400),
            upload_bytes_per_account_hour: Some(8 * 1024 * 1024 * 1024),
            max_connections: 16_384,
            max_connections_per_ip: 1_024,
            max_subscriptions: 4_096,
            max_subscriptions_per_ip: 256,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            event_send_timeout: Duration::from_secs(30),
            admission: AdmissionLimits::default(),
        }
    }
}

impl Limits {
    /// No rate or quota at all; connection caps, timeouts and admission
    /// control keep their defaults.
    pub fn unlimited() -> Self {
        Limits {
            requests_per_ip: None,
            transactions_per_ip: None,
            transactions_per_account: None,
            invalid_transactions_per_ip: None,
            uploads_per_ip: None,
            upload_bytes_per_account_hour: None,
            ..Limits::default()
        }
    }
}
