//! What `POST /artifacts` and the artifact reads answer.

use serde::{Deserialize, Serialize};

use crate::ArtifactMetadata;

/// One stored artifact: its hashes, size, sanitized name and guessed mimetype.
///
/// Serializes as `{filename, filesize, mimetype, sha256, sha1, md5}`, the
/// per-artifact bounty metadata of `bounty:Post` (SPEC §3.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArtifactEntry {
    /// Basename given by the uploader without control characters, at most
    /// 255 bytes; `""` when none was given.
    pub filename: String,
    /// Size in bytes.
    #[serde(rename = "filesize")]
    pub size: u64,
    /// Mimetype guessed from the first bytes.
    pub mimetype: String,
    /// Lowercase hex sha256 of the content; the blob's name.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub sha256: String,
    /// Lowercase hex sha1 of the content.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{40}$"))]
    pub sha1: String,
    /// Lowercase hex md5 of the content.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{32}$"))]
    pub md5: String,
}

impl ArtifactEntry {
    /// As bounty metadata for `bounty:Post`.
    pub fn to_metadata(&self) -> ArtifactMetadata {
        ArtifactMetadata {
            filename: Some(self.filename.clone()),
            filesize: Some(self.size),
            mimetype: Some(self.mimetype.clone()),
            sha256: Some(self.sha256.clone()),
            sha1: Some(self.sha1.clone()),
            md5: Some(self.md5.clone()),
            ..Default::default()
        }
    }
}

/// `POST /artifacts`: the stored bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Uploaded {
    /// The bundle's uri, for `bounty:Post`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub uri: String,
    /// Per-artifact metadata, for `bounty:Post`'s `metadata`.
    pub artifacts: Vec<ArtifactEntry>,
}
