//! [`LocalDispatch`]: the default dispatch, which downloads each artifact
//! from the node and runs the engine's scanner in this process. The Redis
//! worker runs its jobs through it too, so that a scan behaves the same
//! (slots, size limit, deadline, a panic as a failure) wherever it runs.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Semaphore;

use crate::client::{ClientError, NodeClient};
use crate::memory_file::ArtifactFile;
use crate::runtime::AbortOnDrop;
use crate::scanner::{Artifact, ArtifactKind, Scanner};

use super::{ScanDispatch, ScanFailure, ScanJob, ScanOutcome};

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

impl<S: Scanner> LocalDispatch<S> {
    /// The job's artifact: into a sealed memory file when the scanner
    /// wants one (a file, not a URL's text), else into memory. A memory
    /// file that cannot be made (out of descriptors) falls back to memory:
    /// the scanner copies then, but still scans.
    async fn download(&self, job: &ScanJob) -> Result<(Bytes, Option<ArtifactFile>), ClientError> {
        let max = self.max_artifact_size;
        if job.kind == ArtifactKind::File && self.scanner.wants_memory_file() {
            match self
                .client
                .download_to_memory_file(&job.uri, job.index, max)
                .await
            {
                Ok((content, file)) => return Ok((content, Some(file))),
                Err(ClientError::MemoryFile { source, .. }) => {
                    tracing::warn!(error = %source, "no memory file for an artifact; downloading into memory");
                }
                Err(e) => return Err(e),
            }
        }
        let content = self.client.download(&job.uri, job.index, max).await?;
        Ok((content, None))
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
        let download = self.download(&job);
        let (content, file) = match tokio::time::timeout_at(deadline, download).await {
            Err(_) => return late("while downloading", false),
            Ok(Ok(downloaded)) => downloaded,
            Ok(Err(e)) => match (job.kind, job.metadata.uri.as_ref()) {
                // A URL artifact is its URL when the bundle holds nothing.
                (ArtifactKind::Url, Some(uri)) => (Bytes::from(uri.clone()), None),
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
            file,
            metadata: job.metadata,
            deadline: Some(deadline),
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
