//! Where a microengine's scans run: the [`ScanDispatch`] seam.
//!
//! The microengine decides *what* to scan (filters, deadlines) and what to
//! do with the answers (bids, the commitment, the journal); a dispatch
//! decides *where and how* an artifact is scanned. [`LocalDispatch`], the
//! default, downloads the artifact from the node and runs the engine's
//! [`Scanner`] in this process under a concurrency limit. Another dispatch
//! can hand the job to workers elsewhere (a queue, a service) — as long as
//! it answers by the job's deadline, or says it failed, the microengine
//! neither knows nor cares.
//!
//! * `local.rs`: [`LocalDispatch`], scans in this process.
//! * `redis/` (feature `redis`): [`RedisDispatch`](crate::RedisDispatch)
//!   publishes jobs to a Redis stream and waits for the answers of
//!   [`RedisWorker`](crate::RedisWorker)s, possibly on other machines.

mod local;
#[cfg(feature = "redis")]
pub(crate) mod redis;

pub use local::LocalDispatch;

use std::future::Future;
use std::pin::Pin;

use swarm_protocol::{ArtifactMetadata, Guid};
use tokio::time::Instant;

use crate::scanner::{ArtifactKind, ScanResult};

/// One artifact of a bounty to scan.
#[derive(Clone, Debug)]
pub struct ScanJob {
    /// The bounty.
    pub bounty_guid: Guid,
    /// The bounty's artifact bundle (`GET /artifacts/{uri}/{index}`).
    pub uri: String,
    /// The artifact's position in the bundle.
    pub index: usize,
    /// File or URL.
    pub kind: ArtifactKind,
    /// The bounty's metadata for this artifact.
    pub metadata: ArtifactMetadata,
    /// After this instant an answer is of no use: the assertion round closes.
    pub deadline: Instant,
}

/// Why a job gave no verdict. None of these ever becomes an assertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScanFailure {
    /// The deadline passed (waiting for a slot, downloading or scanning).
    Timeout,
    /// The artifact could not be downloaded.
    Download,
    /// The artifact is larger than the engine takes.
    TooLarge,
    /// The scanner returned an error.
    Error,
    /// The scanner panicked.
    Panic,
    /// The scan was cancelled before it answered.
    Cancelled,
    /// The job could not be handed to the scanners (a queue unreachable).
    Unavailable,
}

impl ScanFailure {
    /// A stable machine-readable name, as counted in the engine's report.
    pub fn code(&self) -> &'static str {
        match self {
            ScanFailure::Timeout => "scan_timeout",
            ScanFailure::Download => "download",
            ScanFailure::TooLarge => "too_large",
            ScanFailure::Error => "scan_error",
            ScanFailure::Panic => "scan_panic",
            ScanFailure::Cancelled => "scan_cancelled",
            ScanFailure::Unavailable => "dispatch_unavailable",
        }
    }

    /// Every failure, for the inverse of [`ScanFailure::code`].
    pub const ALL: [ScanFailure; 7] = [
        ScanFailure::Timeout,
        ScanFailure::Download,
        ScanFailure::TooLarge,
        ScanFailure::Error,
        ScanFailure::Panic,
        ScanFailure::Cancelled,
        ScanFailure::Unavailable,
    ];

    /// The failure whose [`code`](ScanFailure::code) is `code`, as a worker
    /// elsewhere names it on the wire.
    pub fn from_code(code: &str) -> Option<ScanFailure> {
        ScanFailure::ALL.into_iter().find(|f| f.code() == code)
    }
}

/// What came of a job.
#[derive(Clone, Debug)]
pub struct ScanOutcome {
    /// The scanner's answer, or why there is none.
    pub result: Result<ScanResult, (ScanFailure, String)>,
    /// Whether the artifact's content was downloaded for it.
    pub downloaded: bool,
}

impl ScanOutcome {
    /// A failure, with what happened.
    pub fn failed(kind: ScanFailure, detail: impl Into<String>, downloaded: bool) -> Self {
        ScanOutcome {
            result: Err((kind, detail.into())),
            downloaded,
        }
    }
}

/// Runs a microengine's scans. See the module docs.
pub trait ScanDispatch: Send + Sync + 'static {
    /// Scans `job`, answering by its deadline (with
    /// [`ScanFailure::Timeout`] once it has passed).
    fn scan(&self, job: ScanJob) -> impl Future<Output = ScanOutcome> + Send;
}

/// A shared dispatch: the caller keeps a handle (to read its statistics,
/// say) while the microengine uses it.
impl<D: ScanDispatch> ScanDispatch for std::sync::Arc<D> {
    fn scan(&self, job: ScanJob) -> impl Future<Output = ScanOutcome> + Send {
        D::scan(self, job)
    }
}

/// A [`ScanDispatch`] behind a pointer, for the runtime.
pub(crate) trait DynDispatch: Send + Sync + 'static {
    fn scan_boxed(&self, job: ScanJob) -> Pin<Box<dyn Future<Output = ScanOutcome> + Send + '_>>;
}

impl<D: ScanDispatch> DynDispatch for D {
    fn scan_boxed(&self, job: ScanJob) -> Pin<Box<dyn Future<Output = ScanOutcome> + Send + '_>> {
        Box::pin(self.scan(job))
    }
}
