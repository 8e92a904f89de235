//! The seam between artifact policy and artifact bytes: [`BlobStore`].
//!
//! [`ArtifactStore`](super::ArtifactStore) decides *what* is kept — hashes,
//! limits, quotas, deduplication, manifest checks, garbage collection — and a
//! `BlobStore` only keeps bytes under keys. Keeping the two apart lets the
//! bytes live somewhere other than the node's disk (an object store such as
//! S3) without touching a line of policy: a backend is one file implementing
//! this trait, and it is right when it passes
//! `blob_store_conformance_tests!`.
//!
//! The trait asks only what an object store offers: whole-object puts that
//! become visible at once (from a finished local file or from bytes), reads
//! as a stream of chunks, a head (size, last-modified), a touch, deletes, and
//! a listing per namespace. Keys are typed ([`BlobKey`]) and only ever hold
//! 64 lowercase hex digits, so no backend sees a `/` or `..` it did not put
//! there itself.

use std::fmt;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::Stream;

/// The two kinds of object an artifact store keeps, each under keys of its
/// own: the same sha256 names a blob and a manifest independently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// Artifact files, named by the sha256 of their content.
    Blobs,
    /// Bundle manifests, named by the sha256 of their JSON bytes.
    Manifests,
}

impl Namespace {
    /// Both namespaces.
    pub const ALL: [Namespace; 2] = [Namespace::Blobs, Namespace::Manifests];

    /// The namespace's top-level directory or key prefix: `blobs` or `manifests`.
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Blobs => "blobs",
            Namespace::Manifests => "manifests",
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one object lives: a [`Namespace`] and a name of exactly 64
/// lowercase hex digits (a sha256).
///
/// The constructors are the path-traversal guard of every backend: a name
/// that is not 64 lowercase hex digits never becomes a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey {
    namespace: Namespace,
    name: String,
}

impl BlobKey {
    /// The key `name` in `namespace`; `None` unless `name` is 64 lowercase
    /// hex digits.
    pub fn new(namespace: Namespace, name: &str) -> Option<Self> {
        is_lower_hex(name, 64).then(|| BlobKey {
            namespace,
            name: name.to_owned(),
        })
    }

    /// The key of the artifact file with this sha256.
    pub fn blob(sha256: &str) -> Option<Self> {
        Self::new(Namespace::Blobs, sha256)
    }

    /// The key of the bundle manifest with this uri.
    pub fn manifest(uri: &str) -> Option<Self> {
        Self::new(Namespace::Manifests, uri)
    }

    /// The key's namespace.
    pub fn namespace(&self) -> Namespace {
        self.namespace
    }

    /// The key's name: 64 lowercase hex digits.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key as a relative, `/`-separated path: `blobs/<first 2 hex>/<sha256>`
    /// or `manifests/<sha256>.json`. The local directory uses it as its
    /// layout; an object store can use it as the object's path, so a bucket
    /// looks like a data directory.
    pub fn path(&self) -> String {
        match self.namespace {
            Namespace::Blobs => format!("blobs/{}/{}", &self.name[..2], self.name),
            Namespace::Manifests => format!("manifests/{}{MANIFEST_SUFFIX}", self.name),
        }
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// What follows a manifest's name in its path.
pub(super) const MANIFEST_SUFFIX: &str = ".json";

/// The size and age of a stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobMeta {
    /// Size in bytes.
    pub size: u64,
    /// When the object was last put or touched: its age for garbage collection.
    pub modified: SystemTime,
}

/// One object of a [`BlobStore::list`]ing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key.
    pub key: BlobKey,
    /// Its size and age.
    pub meta: BlobMeta,
}

/// A stream of an object's bytes.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, BlobError>> + Send>>;

/// A stored object opened for reading: its size and a stream of its bytes,
/// in chunks. It is itself that stream (an axum body can be made of it).
pub struct BlobReader {
    size: u64,
    stream: BlobStream,
}

impl BlobReader {
    /// A reader of an object of `size` bytes.
    pub fn new(size: u64, stream: BlobStream) -> Self {
        BlobReader { size, stream }
    }

    /// The object's size in bytes, as the backend recorded it.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads the whole object into memory: for manifests and tests, not
    /// for artifacts, which are streamed.
    pub async fn into_bytes(self) -> Result<Vec<u8>, BlobError> {
        use futures_util::TryStreamExt;
        let capacity = usize::try_from(self.size).unwrap_or(0).min(1 << 20);
        self.stream
            .try_fold(Vec::with_capacity(capacity), |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await
    }
}

impl fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobReader")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Stream for BlobReader {
    type Item = Result<Bytes, BlobError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

/// A complete, flushed upload in a local temp file, handed to
/// [`BlobStore::put_file`]; dropping it deletes the file.
///
/// Uploads are staged on the node's own disk whatever the backend (the
/// staging budget protects that disk), so a backend always receives a
/// finished file: the local directory renames it into place, an object
/// store uploads it.
#[derive(Debug)]
pub struct StagedFile {
    path: tempfile::TempPath,
    size: u64,
}

impl StagedFile {
    /// A staged file of `size` bytes at `path`.
    pub fn new(path: tempfile::TempPath, size: u64) -> Self {
        StagedFile { path, size }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The temp path, which deletes the file when dropped (a backend that
    /// renames the file into place persists it).
    pub fn into_temp_path(self) -> tempfile::TempPath {
        self.path
    }
}

/// A backend failure. Every one is the node's problem, never the client's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// Local I/O failed: the backend's directory or a staged file.
    #[error("blob store I/O error on {location}: {source}")]
    Io {
        /// The file, directory or key the operation was on.
        location: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A remote backend failed or refused (network, permissions, ...).
    #[error("blob store backend error on {location}: {source}")]
    Backend {
        /// The object or bucket the operation was on.
        location: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl BlobError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            BlobError::Io { .. } => "blob_io",
            BlobError::Backend { .. } => "blob_backend",
        }
    }

    /// Wraps an I/O error on `location`.
    pub fn io(location: impl fmt::Display) -> impl FnOnce(std::io::Error) -> Self {
        let location = location.to_string();
        move |source| BlobError::Io { location, source }
    }
}

/// Where an artifact store's bytes live: a directory ([`LocalBlobs`](super::LocalBlobs)),
/// memory ([`MemoryBlobs`](super::MemoryBlobs)), an object store.
///
/// The contract, checked by the conformance suite
/// (`blob_store_conformance_tests!`):
///
/// - A put is atomic: a reader sees no object or the whole object, never a
///   part. Putting a key that exists replaces it atomically (the store is
///   content-addressed, so in practice with the same bytes); either way the
///   key's last-modified time becomes now.
/// - A missing key is `None` (or `false`, or `Ok` for a delete), not an error.
/// - Reads stream: no backend holds a whole blob in memory to serve it
///   (except one that keeps everything in memory anyway).
/// - The two namespaces never collide.
/// - Puts of the same key may race; the key then holds one of them, whole.
///
/// Policy is not the backend's business: it never hashes, checks sizes or
/// decides what to delete.
#[async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug + 'static {
    /// Stores the finished file `file` under `key` (consuming it: renamed
    /// into place or uploaded, then deleted).
    async fn put_file(&self, key: &BlobKey, file: StagedFile) -> Result<(), BlobError>;

    /// Stores `bytes` under `key`.
    async fn put_bytes(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError>;

    /// The object under `key`, opened for reading as a stream of chunks;
    /// `None` if there is none.
    async fn get(&self, key: &BlobKey) -> Result<Option<BlobReader>, BlobError>;

    /// The size and last-modified time of the object under `key`; `None` if
    /// there is none.
    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError>;

    /// Sets the last-modified time of the object under `key` to now (its age
    /// for garbage collection); `false` if there is none.
    async fn touch(&self, key: &BlobKey) -> Result<bool, BlobError>;

    /// Deletes the object under `key`; a missing key is not an error.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;

    /// Every object in `namespace` with its size and last-modified time, in
    /// no particular order, as a stream (a store may hold millions). What is
    /// not a key (a foreign file) is left out. Objects put or deleted while
    /// the stream runs may or may not appear.
    fn list(&self, namespace: Namespace) -> BoxStream<'_, Result<Listed, BlobError>>;

    /// Where `key` is, for messages: a path, a URL.
    fn location(&self, key: &BlobKey) -> String {
        key.path()
    }

    /// True when putting `size` bytes again costs no more than asking
    /// whether they are stored: then a deduplicated upload is simply put
    /// (which refreshes its age too) instead of touched first. False for a
    /// directory (a touch is one system call, a put an fsync); true for
    /// small objects on an object store (where a touch or a head is a
    /// request, like a small put).
    fn put_is_cheap(&self, size: u64) -> bool {
        let _ = size;
        false
    }

    /// True when other nodes may keep and read artifacts in the same place
    /// (an object store's bucket), false for what only this node sees (its
    /// directory, its memory). Only one of the nodes sharing a store — the
    /// sequencer — collects its garbage.
    fn shared(&self) -> bool {
        false
    }
}

/// True when `s` is exactly `len` lowercase hex digits.
pub(crate) fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn keys_are_sha256s_only() {
        for bad in [
            "../../etc/passwd".to_owned(),
            ABC.to_uppercase(),
            ABC[..63].to_owned(),
            String::new(),
            format!("{ABC}0"),
            format!("../{}", &ABC[3..]),
        ] {
            assert!(BlobKey::blob(&bad).is_none(), "{bad:?}");
            assert!(BlobKey::manifest(&bad).is_none(), "{bad:?}");
        }
        let blob = BlobKey::blob(ABC).unwrap();
        assert_eq!(blob.path(), format!("blobs/ba/{ABC}"));
        assert_eq!(blob.namespace(), Namespace::Blobs);
        assert_eq!(blob.name(), ABC);
        let manifest = BlobKey::manifest(ABC).unwrap();
        assert_eq!(manifest.to_string(), format!("manifests/{ABC}.json"));
        assert_ne!(blob, manifest);
    }

    #[test]
    fn error_codes_and_messages() {
        let err = BlobError::io("/data/blobs")(std::io::Error::other("disk full"));
        assert_eq!(err.code(), "blob_io");
        assert_eq!(
            err.to_string(),
            "blob store I/O error on /data/blobs: disk full"
        );
        let err = BlobError::Backend {
            location: "s3://bucket/blobs".into(),
            source: "403 Forbidden".into(),
        };
        assert_eq!(err.code(), "blob_backend");
        assert_eq!(
            err.to_string(),
            "blob store backend error on s3://bucket/blobs: 403 Forbidden"
        );
    }
}
