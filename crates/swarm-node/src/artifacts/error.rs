//! [`ArtifactError`]: everything that can go wrong in the artifact store,
//! with whose fault it is ([`ArtifactError::is_client_error`]) and a stable
//! code, so the API can answer 4xx or 5xx without parsing messages.

use std::path::{Path, PathBuf};

use super::blob::BlobError;
use super::entry::truncate_utf8;

/// Longest rejected uri quoted back in an error message, in bytes.
pub(super) const MAX_QUOTED_URI_BYTES: usize = 80;

/// Everything that can go wrong in the artifact store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// An upload grew beyond [`ArtifactLimits::max_size`](super::ArtifactLimits::max_size).
    #[error("artifact {filename:?} is larger than the limit of {max} bytes")]
    TooLarge {
        /// The limit, in bytes.
        max: u64,
        /// The (sanitized) name of the refused artifact.
        filename: String,
    },
    /// A bundle is empty or holds more than
    /// [`ArtifactLimits::max_count`](super::ArtifactLimits::max_count) artifacts.
    #[error("bundle holds {count} artifacts; {}", count_bounds(*.count, *.max))]
    Count {
        /// Artifacts in the refused bundle.
        count: usize,
        /// The most a bundle may hold.
        max: usize,
    },
    /// A uri or sha256 is not 64 lowercase hex digits.
    #[error("artifact uri {uri:?} is not a sha256 (64 lowercase hex digits)")]
    BadUri {
        /// The refused uri (cut to 80 bytes).
        uri: String,
    },
    /// No bundle is stored under this uri.
    #[error("no artifact bundle {uri}")]
    NotFound {
        /// The uri asked for.
        uri: String,
    },
    /// A bundle has no artifact at this index.
    #[error("bundle {uri} has {count} artifacts; index {index} is out of range")]
    IndexOutOfRange {
        /// The bundle's uri.
        uri: String,
        /// The index asked for.
        index: usize,
        /// Artifacts in the bundle.
        count: usize,
    },
    /// No artifact with this sha256 is stored (never uploaded, or collected).
    #[error("no artifact with sha256 {sha256} is stored")]
    BlobNotFound {
        /// The sha256 asked for.
        sha256: String,
    },
    /// An entry handed to [`ArtifactStore::put_bundle`](super::ArtifactStore::put_bundle)
    /// is malformed or does not match its stored blob.
    #[error("bundle entry {index} is invalid: {reason}")]
    InvalidEntry {
        /// Position of the entry in the bundle.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The upload stream failed (client disconnected, malformed body, ...).
    #[error("artifact upload failed: {0}")]
    Upload(String),
    /// Uploads in progress already hold
    /// [`ArtifactLimits::max_staged`](super::ArtifactLimits::max_staged) bytes.
    #[error("the node is receiving {max} bytes of uploads already; try again shortly")]
    StagingFull {
        /// The limit, in bytes.
        max: u64,
    },
    /// A stored file does not hold what its name promises.
    #[error("artifact store file {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The damaged file (or object: its key's location).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file system failed.
    #[error("artifact store I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A remote blob store failed (local I/O failures are [`ArtifactError::Io`]).
    #[error("artifact store backend error: {0}")]
    Backend(#[source] BlobError),
}

impl ArtifactError {
    /// True when the request was at fault (answer 4xx), false when the node
    /// was (answer 5xx).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::TooLarge { .. }
                | Self::Count { .. }
                | Self::BadUri { .. }
                | Self::NotFound { .. }
                | Self::IndexOutOfRange { .. }
                | Self::BlobNotFound { .. }
                | Self::InvalidEntry { .. }
                | Self::Upload(_)
        )
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Count { .. } => "bad_count",
            Self::BadUri { .. } => "bad_uri",
            Self::NotFound { .. } => "bundle_not_found",
            Self::IndexOutOfRange { .. } => "index_out_of_range",
            Self::BlobNotFound { .. } => "blob_not_found",
            Self::InvalidEntry { .. } => "invalid_entry",
            Self::Upload(_) => "upload_failed",
            Self::StagingFull { .. } => "staging_full",
            Self::Corrupt { .. } => "corrupt",
            Self::Io { .. } => "io",
            Self::Backend(e) => e.code(),
        }
    }

    pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(super) fn bad_uri(uri: &str) -> Self {
        Self::BadUri {
            uri: truncate_utf8(uri.to_owned(), MAX_QUOTED_URI_BYTES),
        }
    }
}

/// A backend's I/O failure reads as the artifact store's own (the local
/// directory's messages are what they were before backends existed); any
/// other backend failure is [`ArtifactError::Backend`].
impl From<BlobError> for ArtifactError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Io { location, source } => Self::Io {
                path: PathBuf::from(location),
                source,
            },
            other => Self::Backend(other),
        }
    }
}

fn count_bounds(count: usize, max: usize) -> String {
    if count == 0 {
        format!("at least 1 and at most {max}")
    } else {
        format!("at most {max}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        let err = ArtifactError::TooLarge {
            max: 33_554_432,
            filename: "a.exe".into(),
        };
        assert_eq!(
            err.to_string(),
            "artifact \"a.exe\" is larger than the limit of 33554432 bytes"
        );
        let err = ArtifactError::Count { count: 0, max: 256 };
        assert_eq!(
            err.to_string(),
            "bundle holds 0 artifacts; at least 1 and at most 256"
        );
        let err = ArtifactError::bad_uri(&"x".repeat(1000));
        assert!(err.to_string().len() < 200);
        let err = ArtifactError::Io {
            path: PathBuf::from("/data/blobs"),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(
            err.to_string(),
            "artifact store I/O error on /data/blobs: disk full"
        );
        assert!(!err.is_client_error());
    }

    #[test]
    fn backend_errors_keep_their_messages() {
        let err: ArtifactError =
            BlobError::io("/data/blobs/ab")(std::io::Error::other("gone")).into();
        assert!(matches!(err, ArtifactError::Io { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "artifact store I/O error on /data/blobs/ab: gone"
        );
        assert_eq!(err.code(), "io");
        let err: ArtifactError = BlobError::Backend {
            location: "s3://b/blobs".into(),
            source: "timeout".into(),
        }
        .into();
        assert_eq!(
            err.to_string(),
            "artifact store backend error: blob store backend error on s3://b/blobs: timeout"
        );
        assert_eq!(err.code(), "blob_backend");
        assert!(!err.is_client_error());
    }
}
