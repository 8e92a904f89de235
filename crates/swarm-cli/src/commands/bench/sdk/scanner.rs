//! The instant scanner the microengines run with, the artifacts it judges,
//! and how an artifact is handed to a scanner.

use anyhow::anyhow;
use swarm_protocol::{ArtifactMetadata, Guid};
use swarm_sdk::{Artifact, ArtifactKind, ScanError, ScanResult, Scanner, Verdict};

/// The first byte that makes the instant scanner say Malicious.
pub(super) const MALICIOUS_MARK: u8 = b'M';

/// A scanner that answers at once: Malicious when the first byte is
/// [`MALICIOUS_MARK`], else Benign, with confidence 1.
pub(super) struct InstantScanner;

impl Scanner for InstantScanner {
    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        Ok(if artifact.content.first() == Some(&MALICIOUS_MARK) {
            ScanResult::malicious(1.0, "swarm-bench")
        } else {
            ScanResult::benign(1.0)
        })
    }
}

/// The content of artifact `index`: every other one starts with the
/// malicious mark; each is `bytes` long and distinct.
pub(super) fn artifact_content(index: usize, bytes: usize) -> Vec<u8> {
    let first = if index.is_multiple_of(2) {
        MALICIOUS_MARK
    } else {
        b'B'
    };
    let line = format!("swarm bench sdk artifact {index}\n");
    let mut out = Vec::with_capacity(bytes);
    out.push(first);
    while out.len() < bytes {
        let take = (bytes - out.len()).min(line.len());
        out.extend_from_slice(&line.as_bytes()[..take]);
    }
    out
}

/// An artifact of `content` as the runtime hands it to a scanner.
pub(super) fn artifact(content: Vec<u8>) -> Artifact {
    Artifact {
        bounty_guid: Guid::nil(),
        index: 0,
        kind: ArtifactKind::File,
        content: content.into(),
        file: None,
        metadata: ArtifactMetadata::default(),
        deadline: None,
    }
}

/// The verdict of `scanner` on `artifact`.
pub(super) async fn verdict<S: Scanner>(
    scanner: &S,
    artifact: &Artifact,
) -> anyhow::Result<Verdict> {
    Ok(scanner
        .scan(artifact)
        .await
        .map_err(|e| anyhow!("scan failed: {e}"))?
        .verdict)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn artifacts_have_their_size_and_mark() {
        let a = artifact_content(0, 100);
        let b = artifact_content(1, 100);
        assert_eq!((a.len(), b.len()), (100, 100));
        assert_eq!(a[0], MALICIOUS_MARK);
        assert_ne!(b[0], MALICIOUS_MARK);
        assert_ne!(artifact_content(2, 100), a);
        assert_eq!(artifact_content(3, 1).len(), 1);
    }

    #[tokio::test]
    async fn instant_scanner_reads_the_first_byte() {
        let v = verdict(&InstantScanner, &artifact(b"Mxx".to_vec())).await;
        assert_eq!(v.unwrap(), Verdict::Malicious);
        let v = verdict(&InstantScanner, &artifact(b"Bxx".to_vec())).await;
        assert_eq!(v.unwrap(), Verdict::Benign);
        let v = verdict(&InstantScanner, &artifact(Vec::new())).await;
        assert_eq!(v.unwrap(), Verdict::Benign);
    }
}
