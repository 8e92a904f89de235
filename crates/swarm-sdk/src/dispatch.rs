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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use swarm_protocol::{ArtifactMetadata, Guid};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::client::{ClientError, NodeClient};
use crate::runtime::AbortOnDrop;
use crate::scanner::{Artifact, ArtifactKind, ScanResult, Scanner};

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
        }
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

/// A [`ScanDispatch`] behind a pointer, for the runtime.
pub(crate) trait DynDispatch: Send + Sync + 'static {
    fn scan_boxed(&self, job: ScanJob) -> Pin<Box<dyn Future<Output = ScanOutcome> + Send + '_>>;
}

impl<D: ScanDispatch> DynDispatch for D {
    fn scan_boxed(&self, job: ScanJob) -> Pin<Box<dyn Future<Output = ScanOutcome> + Send + '_>> {
        Box::pin(self.scan(job))
    }
}

/// Scans in this process: downloads the artifact from the node and runs the
/// scanner, at most `max_concurrency` at once, each on its own task (so a
/// panic is a failure, not a crash) and within the job's deadline.
pub struct LocalDispatch<S> {
    scanner: Arc<S>,
    client: NodeClient,
    slots: Arc<Semaphore>,
    max_artifact_size: u64,
}

impl<S> std::fmt::Debug for LocalDispatch<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDispatch")
            .field("node", &self.client.base_url())
            .field("max_artifact_size", &self.max_artifact_size)
            .finish()
    }
}

impl<S: Scanner> LocalDispatch<S> {
    /// Scans with `scanner`, downloading through `client` artifacts of at
    /// most `max_artifact_size` bytes, `max_concurrency` at once.
    pub fn new(
        scanner: Arc<S>,
        client: NodeClient,
        max_concurrency: usize,
        max_artifact_size: u64,
    ) -> Self {
        LocalDispatch {
            scanner,
            client,
            slots: Arc::new(Semaphore::new(max_concurrency.max(1))),
            max_artifact_size,
        }
    }
}

impl<S: Scanner> ScanDispatch for LocalDispatch<S> {
    async fn scan(&self, job: ScanJob) -> ScanOutcome {
        let late = |what: &str, downloaded| {
            ScanOutcome::failed(
                ScanFailure::Timeout,
                format!("deadline reached {what}"),
                downloaded,
            )
        };
        let deadline = job.deadline;
        let Ok(Ok(_slot)) =
            tokio::time::timeout_at(deadline, Arc::clone(&self.slots).acquire_owned()).await
        else {
            return late("waiting for a scan slot", false);
        };
        let download = self
            .client
            .download(&job.uri, job.index, self.max_artifact_size);
        let content = match tokio::time::timeout_at(deadline, download).await {
            Err(_) => return late("while downloading", false),
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => match (job.kind, job.metadata.uri.as_ref()) {
                // A URL artifact is its URL when the bundle holds nothing.
                (ArtifactKind::Url, Some(uri)) => Bytes::from(uri.clone()),
                _ => {
                    let kind = match e {
                        ClientError::TooLarge { .. } => ScanFailure::TooLarge,
                        _ => ScanFailure::Download,
                    };
                    return ScanOutcome::failed(kind, e.to_string(), false);
                }
            },
        };
        let artifact = Artifact {
            bounty_guid: job.bounty_guid,
            index: job.index,
            kind: job.kind,
            content,
            metadata: job.metadata,
        };
        let scanner = Arc::clone(&self.scanner);
        let handle = tokio::spawn(async move { scanner.scan(&artifact).await });
        // A job given up on stops its scan.
        let _guard = AbortOnDrop::new(&handle);
        let result = match tokio::time::timeout_at(deadline, handle).await {
            Err(_) => return late("while scanning", true),
            Ok(Err(e)) if e.is_panic() => Err((ScanFailure::Panic, "the scanner panicked".into())),
            Ok(Err(e)) => Err((ScanFailure::Cancelled, e.to_string())),
            Ok(Ok(Err(e))) => Err((ScanFailure::Error, e.to_string())),
            Ok(Ok(Ok(result))) => Ok(result),
        };
        ScanOutcome {
            result,
            downloaded: true,
        }
    }
}
