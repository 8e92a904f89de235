//! Content-addressed artifact storage: [`ArtifactStore`] is the policy, a
//! [`BlobStore`] keeps the bytes.
//!
//! Files that ambassadors attach to bounties are stored under the sha256 of
//! their content, and a bundle of up to [`ArtifactLimits::max_count`] files
//! is a JSON manifest stored under the sha256 of its own bytes; that hash is
//! the bundle's `uri` in `bounty:Post`.
//!
//! Why content addressing: the same file uploaded twice (EICAR is uploaded a
//! lot) is stored once (deduplication), and a name *is* a checksum, so a
//! microengine that downloads artifact `i` of bundle `uri` can verify it got
//! exactly what the bounty posted (integrity). Manifests are re-hashed on every
//! read, so a damaged manifest is reported instead of served.
//!
//! Why a [`BlobStore`] seam: where the bytes live (today a local directory,
//! [`LocalBlobs`]; in memory, [`MemoryBlobs`]; tomorrow an object store) is
//! not policy. Hashing, limits, the staging budget, manifest checks,
//! deduplication and garbage collection stay here, once, and a backend only
//! moves bytes; every backend passes the same conformance suite
//! (`blob_store_conformance_tests!`),
//! which runs this store's behaviour on top of it too.
//!
//! Why uploads are staged locally whatever the backend: an upload is
//! streamed to a temp file in the staging directory while it is hashed and
//! checked, and only a complete, flushed file is handed to the backend, whose
//! puts are atomic. A reader therefore never sees a half-written artifact,
//! an upload that fails (too large, client gone) leaves nothing behind, and
//! the staging budget ([`ArtifactLimits::max_staged`]) bounds what uploads in
//! progress hold on the node's disk.
//!
//! Keys are only ever built from strings that were checked to be 64
//! lowercase hex digits ([`BlobKey`]), so a `uri` such as `../../etc/passwd`
//! is refused with [`ArtifactError::BadUri`] before it can reach a backend.

mod blob;
mod entry;
mod error;
mod limits;
mod local;
mod memory;
mod s3;

#[cfg(any(test, feature = "test-utils"))]
pub mod conformance;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::RwLock;

pub use blob::{
    BlobError, BlobKey, BlobMeta, BlobReader, BlobStore, BlobStream, Listed, Namespace, StagedFile,
};
pub use entry::{ArtifactEntry, Manifest};
pub use error::ArtifactError;
pub use limits::ArtifactLimits;
pub use local::LocalBlobs;
pub use memory::MemoryBlobs;
pub use s3::{BadS3Url, S3Blobs, S3Config, MULTIPART_PART};

use blob::is_lower_hex;
use entry::{sanitize_filename, sniff_mimetype, truncate_utf8, SNIFF_LEN};
use error::MAX_QUOTED_URI_BYTES;
use limits::{Reservation, Staging};

/// How the temp files of uploads in progress are named.
const UPLOAD_PREFIX: &str = "upload-";
/// Most manifest entries kept in the cache before it starts over (about
/// 300 bytes each).
const MAX_CACHED_ENTRIES: usize = 100_000;

/// What one [`ArtifactStore::collect_garbage`] run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Manifests (bundles) deleted.
    pub manifests_deleted: usize,
    /// Blobs (artifact files) deleted.
    pub blobs_deleted: usize,
    /// Total size of the deleted blobs, in bytes.
    pub bytes_freed: u64,
}

/// An artifact received into a temp file but not yet stored; dropping it
/// deletes the file.
#[derive(Debug)]
pub struct StagedArtifact {
    entry: ArtifactEntry,
    temp_path: tempfile::TempPath,
    /// Its share of the staging budget, given back with the temp file.
    _staged: Reservation,
}

impl StagedArtifact {
    /// The artifact's metadata.
    pub fn entry(&self) -> &ArtifactEntry {
        &self.entry
    }
}

/// Content-addressed artifact storage on a [`BlobStore`], with uploads
/// staged in a local directory.
///
/// Share it between tasks behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct ArtifactStore {
    blobs: Arc<dyn BlobStore>,
    /// Uploads in progress.
    tmp_dir: PathBuf,
    limits: ArtifactLimits,
    /// Writers that make a blob or manifest live (uploads, bundles) hold it
    /// shared; garbage collection holds it exclusively, so it never deletes a
    /// blob between a bundle's existence check and its manifest's put.
    /// (In-process only: one node owns one artifact store.)
    gc_lock: RwLock<()>,
    /// Manifests read and verified, by uri: they never change, and on an
    /// object store each read is a request.
    manifests: std::sync::Mutex<ManifestCache>,
    /// Bytes of uploads in progress.
    staging: Arc<Staging>,
}

impl ArtifactStore {
    /// Opens (creating if needed) the store in the local directory `root`
    /// ([`LocalBlobs`]: `blobs/<first 2 hex>/<sha256>`,
    /// `manifests/<sha256>.json`, uploads in progress in `tmp/`), and deletes
    /// the temp files that interrupted uploads left in `root/tmp`.
    pub fn open(root: impl Into<PathBuf>, limits: ArtifactLimits) -> Result<Self, ArtifactError> {
        let blobs = LocalBlobs::open(root)?;
        let tmp_dir = blobs.tmp_dir().to_owned();
        Self::with_blobs(Arc::new(blobs), tmp_dir, limits)
    }

    /// A store keeping its bytes in `blobs` and staging uploads in the local
    /// directory `tmp_dir` (created if needed; the `upload-*` files in it are
    /// deleted, as the leftovers of interrupted uploads).
    pub fn with_blobs(
        blobs: Arc<dyn BlobStore>,
        tmp_dir: impl Into<PathBuf>,
        limits: ArtifactLimits,
    ) -> Result<Self, ArtifactError> {
        let tmp_dir = tmp_dir.into();
        std::fs::create_dir_all(&tmp_dir).map_err(ArtifactError::io(&tmp_dir))?;
        local::clean_dir(&tmp_dir, Some(UPLOAD_PREFIX))?;
        Ok(Self {
            blobs,
            tmp_dir,
            staging: Staging::new(limits.max_staged),
            limits,
            gc_lock: RwLock::new(()),
            manifests: std::sync::Mutex::new(ManifestCache::default()),
        })
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &ArtifactLimits {
        &self.limits
    }

    /// The backend keeping the bytes.
    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// The local directory uploads are staged in.
    pub fn staging_dir(&self) -> &Path {
        &self.tmp_dir
    }

    /// Bytes that uploads in progress hold in the staging directory now, and
    /// the most they held at once since the store was opened.
    pub fn staged_bytes(&self) -> (u64, u64) {
        self.staging.bytes()
    }

    /// Stores one artifact from a stream of chunks and returns its entry:
    /// [`ArtifactStore::stage`] then [`ArtifactStore::commit`].
    pub async fn put_stream<S, E>(
        &self,
        filename: Option<String>,
        stream: S,
    ) -> Result<ArtifactEntry, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        let staged = self.stage(filename, stream).await?;
        self.commit(staged).await
    }

    /// Receives one artifact from a stream of chunks into a temp file, not
    /// yet part of the store.
    ///
    /// The body is written while sha256, sha1 and md5 are computed; it is
    /// never held in memory. Each chunk is checked before it is written: a
    /// chunk that would take the artifact past the size limit fails with
    /// [`ArtifactError::TooLarge`], one that would take the uploads in
    /// progress past [`ArtifactLimits::max_staged`] with
    /// [`ArtifactError::StagingFull`], and a stream error with
    /// [`ArtifactError::Upload`] (a caller refuses a chunk by failing the
    /// stream); either way the temp file is deleted. Dropping the
    /// [`StagedArtifact`] deletes it too, so an upload refused halfway
    /// leaves nothing behind.
    pub async fn stage<S, E>(
        &self,
        filename: Option<String>,
        mut stream: S,
    ) -> Result<StagedArtifact, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        let filename = sanitize_filename(filename.as_deref().unwrap_or(""));
        let dir = self.tmp_dir.clone();
        let temp = local::blocking(move || {
            tempfile::Builder::new()
                .prefix(UPLOAD_PREFIX)
                .tempfile_in(&dir)
        })
        .await
        .map_err(ArtifactError::io(&self.tmp_dir))?;
        // Dropping `temp_path` (on any early return, or if this future is
        // dropped) deletes the temp file.
        let (std_file, temp_path) = temp.into_parts();
        let mut file = tokio::fs::File::from_std(std_file);

        let mut sha256 = Sha256::new();
        let mut sha1 = Sha1::new();
        let mut md5 = Md5::new();
        let mut size: u64 = 0;
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_LEN);
        let mut staged = self.staging.reserve();

        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ArtifactError::Upload(e.to_string()))?;
            size = size.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
            if size > self.limits.max_size {
                tracing::debug!(%filename, max = self.limits.max_size, "artifact upload too large");
                return Err(ArtifactError::TooLarge {
                    max: self.limits.max_size,
                    filename,
                });
            }
            staged.grow(u64::try_from(chunk.len()).unwrap_or(u64::MAX))?;
            if head.len() < SNIFF_LEN {
                let take = (SNIFF_LEN - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            sha256.update(&chunk);
            sha1.update(&chunk);
            md5.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(ArtifactError::io(&temp_path))?;
        }
        file.flush().await.map_err(ArtifactError::io(&temp_path))?;
        file.sync_all()
            .await
            .map_err(ArtifactError::io(&temp_path))?;
        drop(file);

        let entry = ArtifactEntry {
            filename,
            size,
            mimetype: sniff_mimetype(&head, size),
            sha256: hex::encode(sha256.finalize()),
            sha1: hex::encode(sha1.finalize()),
            md5: hex::encode(md5.finalize()),
        };

        Ok(StagedArtifact {
            entry,
            temp_path,
            _staged: staged,
        })
    }

    /// Hands a staged artifact to the backend (an atomic put); if the same
    /// content is already stored the copy is dropped and the stored blob's
    /// age refreshed.
    pub async fn commit(&self, staged: StagedArtifact) -> Result<ArtifactEntry, ArtifactError> {
        let _live = self.gc_lock.read().await;
        self.commit_live(staged).await
    }

    /// Commits `staged` (in order) and stores their bundle: what an upload
    /// does. The blobs were just written under one hold of the
    /// garbage-collection lock, so the bundle needs no second look at them
    /// (on an object store, one request fewer per artifact).
    pub async fn commit_bundle(
        &self,
        staged: Vec<StagedArtifact>,
    ) -> Result<(String, Vec<ArtifactEntry>), ArtifactError> {
        let _live = self.gc_lock.read().await;
        let mut entries = Vec::with_capacity(staged.len());
        for artifact in staged {
            entries.push(self.commit_live(artifact).await?);
        }
        let uri = self.write_bundle(entries.clone(), false).await?;
        Ok((uri, entries))
    }

    /// [`ArtifactStore::commit`] under a hold of the garbage-collection lock.
    async fn commit_live(&self, staged: StagedArtifact) -> Result<ArtifactEntry, ArtifactError> {
        let StagedArtifact {
            entry,
            temp_path,
            _staged,
        } = staged;
        let size = entry.size;
        // Always valid: the sha256 was computed by `stage`.
        let key =
            BlobKey::blob(&entry.sha256).ok_or_else(|| ArtifactError::bad_uri(&entry.sha256))?;
        // Dedup: same name, same content. Touching refreshes the blob's age
        // so that garbage collection keeps it until the bundle is made.
        // Where a put costs no more than a touch, the content is put again.
        if !self.blobs.put_is_cheap(size) && self.blobs.touch(&key).await? {
            if let Err(e) = local::blocking(move || temp_path.close()).await {
                tracing::warn!(error = %e, "could not delete a duplicate upload's temp file");
            }
            tracing::debug!(sha256 = %entry.sha256, size, "artifact already stored");
        } else {
            self.blobs
                .put_file(&key, StagedFile::new(temp_path, size))
                .await?;
            tracing::debug!(sha256 = %entry.sha256, size, mimetype = %entry.mimetype, "artifact stored");
        }
        Ok(entry)
    }

    /// Stores a bundle manifest of `entries` (in order) and returns its uri,
    /// the sha256 hex of the manifest's canonical JSON.
    ///
    /// Refuses an empty bundle or one beyond the count limit
    /// ([`ArtifactError::Count`]), entries whose hashes are malformed or whose
    /// size does not match the blob ([`ArtifactError::InvalidEntry`]), and
    /// entries whose blob is not stored ([`ArtifactError::BlobNotFound`]).
    /// Filenames are sanitized. Idempotent: the same entries give the same uri.
    pub async fn put_bundle(&self, entries: Vec<ArtifactEntry>) -> Result<String, ArtifactError> {
        let _live = self.gc_lock.read().await;
        self.write_bundle(entries, true).await
    }

    /// [`ArtifactStore::put_bundle`] under a hold of the garbage-collection
    /// lock; `check_blobs` false skips the look at blobs the caller has
    /// just committed.
    async fn write_bundle(
        &self,
        entries: Vec<ArtifactEntry>,
        check_blobs: bool,
    ) -> Result<String, ArtifactError> {
        let count = entries.len();
        if count == 0 || count > self.limits.max_count {
            return Err(ArtifactError::Count {
                count,
                max: self.limits.max_count,
            });
        }
        let mut artifacts = Vec::with_capacity(count);
        let mut keys = Vec::with_capacity(count);
        for (index, mut entry) in entries.into_iter().enumerate() {
            for (name, value, len) in [
                ("sha256", &entry.sha256, 64),
                ("sha1", &entry.sha1, 40),
                ("md5", &entry.md5, 32),
            ] {
                if !is_lower_hex(value, len) {
                    return Err(ArtifactError::InvalidEntry {
                        index,
                        reason: format!(
                            "{name} {:?} is not {len} lowercase hex digits",
                            truncate_utf8(value.clone(), MAX_QUOTED_URI_BYTES)
                        ),
                    });
                }
            }
            let key = BlobKey::blob(&entry.sha256).ok_or_else(|| ArtifactError::InvalidEntry {
                index,
                reason: "sha256 is not a key".into(),
            })?;
            entry.filename = sanitize_filename(&entry.filename);
            artifacts.push(entry);
            keys.push(key);
        }
        let manifest = Manifest { artifacts };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| ArtifactError::Io {
            path: PathBuf::from(Namespace::Manifests.as_str()),
            source: std::io::Error::other(e),
        })?;
        let uri = hex::encode(Sha256::digest(&bytes));
        let manifest_key = BlobKey::manifest(&uri).ok_or_else(|| ArtifactError::bad_uri(&uri))?;

        let checked = if check_blobs { keys.len() } else { 0 };
        for (index, (entry, key)) in manifest
            .artifacts
            .iter()
            .zip(&keys)
            .take(checked)
            .enumerate()
        {
            let Some(stored) = self.blobs.head(key).await? else {
                return Err(ArtifactError::BlobNotFound {
                    sha256: entry.sha256.clone(),
                });
            };
            if stored.size != entry.size {
                return Err(ArtifactError::InvalidEntry {
                    index,
                    reason: format!(
                        "filesize {} does not match the stored artifact {} ({} bytes)",
                        entry.size, entry.sha256, stored.size
                    ),
                });
            }
        }

        // Written even when the same bytes are stored already: a small put
        // is one request on an object store (a touch there is three) and
        // refreshes the manifest's age for garbage collection either way.
        self.blobs
            .put_bytes(&manifest_key, Bytes::from(bytes))
            .await?;
        // Engines download what was just uploaded: keep it at hand.
        self.lock_manifests().insert(&uri, Arc::new(manifest));
        tracing::debug!(%uri, count, "artifact bundle stored");
        Ok(uri)
    }

    /// Reads the manifest of bundle `uri`.
    ///
    /// [`ArtifactError::BadUri`] unless `uri` is 64 lowercase hex digits,
    /// [`ArtifactError::NotFound`] if no such bundle is stored.
    pub async fn manifest(&self, uri: &str) -> Result<Manifest, ArtifactError> {
        Ok(Manifest::clone(&*self.cached_manifest(uri).await?))
    }

    /// The manifest of bundle `uri`, from the cache or read (and verified)
    /// from the backend into it. Manifests never change, so a cached one is
    /// never stale; garbage collection empties the cache.
    async fn cached_manifest(&self, uri: &str) -> Result<Arc<Manifest>, ArtifactError> {
        let key = BlobKey::manifest(uri).ok_or_else(|| ArtifactError::bad_uri(uri))?;
        if let Some(manifest) = self.lock_manifests().get(uri) {
            return Ok(manifest);
        }
        let manifest = match self.read_manifest(&key).await? {
            Some(manifest) => Arc::new(manifest),
            None => {
                return Err(ArtifactError::NotFound {
                    uri: uri.to_owned(),
                })
            }
        };
        self.lock_manifests().insert(uri, Arc::clone(&manifest));
        Ok(manifest)
    }

    /// Number of artifacts in bundle `uri` (to check `bounty:Post`'s
    /// `num_artifacts`; every post asks, and the manifest is cached).
    pub async fn bundle_len(&self, uri: &str) -> Result<usize, ArtifactError> {
        Ok(self.cached_manifest(uri).await?.artifacts.len())
    }

    fn lock_manifests(&self) -> std::sync::MutexGuard<'_, ManifestCache> {
        self.manifests.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Entry `index` of bundle `uri`
    /// ([`ArtifactError::IndexOutOfRange`] past the end).
    pub async fn entry(&self, uri: &str, index: usize) -> Result<ArtifactEntry, ArtifactError> {
        let manifest = self.cached_manifest(uri).await?;
        let count = manifest.artifacts.len();
        manifest
            .artifacts
            .get(index)
            .cloned()
            .ok_or_else(|| ArtifactError::IndexOutOfRange {
                uri: uri.to_owned(),
                index,
                count,
            })
    }

    /// Entry `index` of bundle `uri` and its content, opened for reading as
    /// a stream of chunks ([`ArtifactError::Corrupt`] if the stored size is
    /// not the entry's).
    pub async fn open_artifact(
        &self,
        uri: &str,
        index: usize,
    ) -> Result<(ArtifactEntry, BlobReader), ArtifactError> {
        let entry = self.entry(uri, index).await?;
        let reader = self.open_blob(&entry.sha256).await?;
        if reader.size() != entry.size {
            let location = BlobKey::blob(&entry.sha256)
                .map(|key| self.blobs.location(&key))
                .unwrap_or_default();
            return Err(ArtifactError::Corrupt {
                path: PathBuf::from(location),
                reason: format!(
                    "{} bytes stored, bundle {uri} says {}",
                    reader.size(),
                    entry.size
                ),
            });
        }
        Ok((entry, reader))
    }

    /// The stored artifact with this sha256, opened for reading
    /// ([`ArtifactError::BlobNotFound`] if none).
    pub async fn open_blob(&self, sha256: &str) -> Result<BlobReader, ArtifactError> {
        let key = BlobKey::blob(sha256).ok_or_else(|| ArtifactError::bad_uri(sha256))?;
        self.blobs
            .get(&key)
            .await?
            .ok_or_else(|| ArtifactError::BlobNotFound {
                sha256: sha256.to_owned(),
            })
    }

    /// Deletes bundles last written at least `older_than` ago that no bounty
    /// references (`referenced(uri)` is false), then the blobs that no
    /// remaining bundle lists and that were last written at least `older_than`
    /// ago (so an upload whose bundle is not made yet is kept).
    ///
    /// If a kept manifest cannot be read, no blob is deleted in this run.
    pub async fn collect_garbage(
        &self,
        referenced: &(dyn Fn(&str) -> bool + Sync),
        older_than: Duration,
    ) -> Result<GcStats, ArtifactError> {
        let _exclusive = self.gc_lock.write().await;
        self.lock_manifests().clear();
        let now = SystemTime::now();
        let mut stats = GcStats::default();
        let mut live: HashSet<String> = HashSet::new();
        let mut complete = true;

        let mut manifests = self.blobs.list(Namespace::Manifests);
        while let Some(listed) = manifests.try_next().await? {
            let uri = listed.key.name();
            if is_old(listed.meta.modified, now, older_than) && !referenced(uri) {
                self.blobs.delete(&listed.key).await?;
                stats.manifests_deleted += 1;
                continue;
            }
            match self.read_manifest(&listed.key).await {
                Ok(Some(manifest)) => live.extend(manifest.artifacts.into_iter().map(|e| e.sha256)),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, "unreadable manifest; no artifact blob is collected");
                    complete = false;
                }
            }
        }
        drop(manifests);

        if complete {
            let mut blobs = self.blobs.list(Namespace::Blobs);
            while let Some(listed) = blobs.try_next().await? {
                if live.contains(listed.key.name()) {
                    continue;
                }
                if is_old(listed.meta.modified, now, older_than) {
                    // Asked again just before deleting: on a store shared
                    // with other nodes, one of them may have received the
                    // same content again (and touched it) since the listing.
                    match self.blobs.head(&listed.key).await? {
                        Some(meta) if is_old(meta.modified, SystemTime::now(), older_than) => {}
                        _ => continue,
                    }
                    self.blobs.delete(&listed.key).await?;
                    stats.blobs_deleted += 1;
                    stats.bytes_freed = stats.bytes_freed.saturating_add(listed.meta.size);
                }
            }
        }
        tracing::info!(
            manifests_deleted = stats.manifests_deleted,
            blobs_deleted = stats.blobs_deleted,
            bytes_freed = stats.bytes_freed,
            "artifact garbage collected"
        );
        Ok(stats)
    }

    /// True when other nodes keep artifacts in the same place
    /// ([`BlobStore::shared`]): then only one of them collects garbage.
    pub fn is_shared(&self) -> bool {
        self.blobs.shared()
    }

    /// Reads and verifies a manifest; `None` if there is none.
    async fn read_manifest(&self, key: &BlobKey) -> Result<Option<Manifest>, ArtifactError> {
        let Some(reader) = self.blobs.get(key).await? else {
            return Ok(None);
        };
        let bytes = reader.into_bytes().await?;
        let corrupt = |reason: String| ArtifactError::Corrupt {
            path: PathBuf::from(self.blobs.location(key)),
            reason,
        };
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != key.name() {
            return Err(corrupt(format!("its sha256 is {actual}")));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| corrupt(e.to_string()))
    }
}

/// Verified manifests by uri, emptied when they hold more than
/// [`MAX_CACHED_ENTRIES`] entries in all.
#[derive(Debug, Default)]
struct ManifestCache {
    by_uri: HashMap<String, Arc<Manifest>>,
    entries: usize,
}

impl ManifestCache {
    fn get(&self, uri: &str) -> Option<Arc<Manifest>> {
        self.by_uri.get(uri).cloned()
    }

    fn insert(&mut self, uri: &str, manifest: Arc<Manifest>) {
        let len = manifest.artifacts.len();
        if self.entries + len > MAX_CACHED_ENTRIES {
            self.clear();
        }
        if self.by_uri.insert(uri.to_owned(), manifest).is_none() {
            self.entries += len;
        }
    }

    fn clear(&mut self) {
        self.by_uri.clear();
        self.entries = 0;
    }
}

fn is_old(modified: SystemTime, now: SystemTime, older_than: Duration) -> bool {
    match now.duration_since(modified) {
        Ok(age) => age >= older_than,
        // Written "in the future" (clock skew): only old if anything is.
        Err(_) => older_than.is_zero(),
    }
}
