//! Content-addressed artifact storage on a local directory.
//!
//! Files that ambassadors attach to bounties are stored under the sha256 of
//! their content (`blobs/<first 2 hex>/<sha256>`), and a bundle of up to
//! [`ArtifactLimits::max_count`] files is a JSON manifest stored under the
//! sha256 of its own bytes (`manifests/<sha256>.json`); that hash is the
//! bundle's `uri` in `bounty:Post`.
//!
//! Why content addressing: the same file uploaded twice (EICAR is uploaded a
//! lot) is stored once (deduplication), and a name *is* a checksum, so a
//! microengine that downloads artifact `i` of bundle `uri` can verify it got
//! exactly what the bounty posted (integrity). Manifests are re-hashed on every
//! read, so a damaged manifest is reported instead of served.
//!
//! Why temp file + fsync + atomic rename: an upload is streamed to `tmp/`
//! while it is hashed, and only a complete, flushed file is renamed into
//! `blobs/` or `manifests/`. A reader therefore never sees a half-written
//! artifact, a crash leaves at worst a stray file in `tmp/` (removed by
//! [`ArtifactStore::open`]), and an upload that fails (too large, client gone)
//! leaves nothing behind.
//!
//! Paths are only ever built from strings that were checked to be 64 lowercase
//! hex digits, so a `uri` such as `../../etc/passwd` is refused with
//! [`ArtifactError::BadUri`] before it can reach the file system.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::Md5;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::RwLock;

/// How many leading bytes are kept to guess the mimetype.
/// Most bundle lengths kept in the cache before it starts over.
const MAX_CACHED_LENS: usize = 100_000;
const SNIFF_LEN: usize = 8 * 1024;
/// Longest stored filename, in bytes.
const MAX_FILENAME_BYTES: usize = 255;
/// Longest rejected uri quoted back in an error message, in bytes.
const MAX_QUOTED_URI_BYTES: usize = 80;
const BLOBS_DIR: &str = "blobs";
const MANIFESTS_DIR: &str = "manifests";
const TMP_DIR: &str = "tmp";
const MANIFEST_SUFFIX: &str = ".json";

/// Size and count limits of the artifact store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactLimits {
    /// Largest accepted artifact, in bytes (default 32 MiB).
    pub max_size: u64,
    /// Most artifacts in one bundle (default 256, the protocol maximum).
    pub max_count: usize,
    /// Most bytes all uploads in progress may hold in `tmp/` at once
    /// (default 2 GiB); an upload that would go over waits for none: it is
    /// refused with [`ArtifactError::StagingFull`].
    pub max_staged: u64,
}

impl Default for ArtifactLimits {
    fn default() -> Self {
        Self {
            max_size: 32 * 1024 * 1024,
            max_count: 256,
            max_staged: 2 * 1024 * 1024 * 1024,
        }
    }
}

pub use swarm_protocol::api::ArtifactEntry;

/// A bundle manifest: the artifacts of one bounty, in order.
///
/// Stored as the canonical JSON `{"artifacts":[...]}`; its sha256 is the
/// bundle's uri.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The artifacts; index `i` is artifact `i` of the bounty.
    pub artifacts: Vec<ArtifactEntry>,
}

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

/// Everything that can go wrong in the artifact store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// An upload grew beyond [`ArtifactLimits::max_size`].
    #[error("artifact {filename:?} is larger than the limit of {max} bytes")]
    TooLarge {
        /// The limit, in bytes.
        max: u64,
        /// The (sanitized) name of the refused artifact.
        filename: String,
    },
    /// A bundle is empty or holds more than [`ArtifactLimits::max_count`] artifacts.
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
    /// An entry handed to [`ArtifactStore::put_bundle`] is malformed or does
    /// not match its stored blob.
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
    /// Uploads in progress already hold [`ArtifactLimits::max_staged`] bytes.
    #[error("the node is receiving {max} bytes of uploads already; try again shortly")]
    StagingFull {
        /// The limit, in bytes.
        max: u64,
    },
    /// A stored file does not hold what its name promises.
    #[error("artifact store file {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
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

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    fn bad_uri(uri: &str) -> Self {
        Self::BadUri {
            uri: truncate_utf8(uri.to_owned(), MAX_QUOTED_URI_BYTES),
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

/// An artifact received into a temp file but not yet stored; dropping it
/// deletes the file.
#[derive(Debug)]
pub struct StagedArtifact {
    entry: ArtifactEntry,
    temp_path: tempfile::TempPath,
    /// Its share of the staging budget, given back with the temp file.
    _staged: Reservation,
}

/// Bytes held in `tmp/` by uploads in progress, under a cap: without it,
/// uploads that were going to be refused could fill the disk first.
#[derive(Debug)]
struct Staging {
    max: u64,
    current: std::sync::atomic::AtomicU64,
    peak: std::sync::atomic::AtomicU64,
}

/// Bytes reserved in [`Staging`]; released when dropped.
#[derive(Debug)]
struct Reservation {
    staging: std::sync::Arc<Staging>,
    bytes: u64,
}

impl Reservation {
    /// Reserves `n` more bytes, unless that would go over the cap.
    fn grow(&mut self, n: u64) -> Result<(), ArtifactError> {
        use std::sync::atomic::Ordering;
        let staging = &self.staging;
        staging
            .current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                current.checked_add(n).filter(|total| *total <= staging.max)
            })
            .map_err(|_| ArtifactError::StagingFull { max: staging.max })?;
        self.bytes += n;
        let now = staging.current.load(Ordering::Acquire);
        staging.peak.fetch_max(now, Ordering::AcqRel);
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.staging
            .current
            .fetch_sub(self.bytes, std::sync::atomic::Ordering::AcqRel);
    }
}

impl StagedArtifact {
    /// The artifact's metadata.
    pub fn entry(&self) -> &ArtifactEntry {
        &self.entry
    }
}

/// Content-addressed artifact storage under one root directory.
///
/// Layout: `blobs/<first 2 hex>/<sha256>` (artifact files),
/// `manifests/<sha256>.json` (bundles), `tmp/` (uploads in progress).
/// Share it between tasks behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct ArtifactStore {
    root: PathBuf,
    limits: ArtifactLimits,
    /// Writers that make a blob or manifest live (uploads, bundles) hold it
    /// shared; garbage collection holds it exclusively, so it never deletes a
    /// blob between a bundle's existence check and its manifest's rename.
    /// (In-process only: one node owns one artifact directory.)
    gc_lock: RwLock<()>,
    /// Artifact counts of bundles, by uri.
    lens: std::sync::Mutex<HashMap<String, usize>>,
    /// Bytes of uploads in progress.
    staging: std::sync::Arc<Staging>,
}

impl ArtifactStore {
    /// Opens (creating if needed) the store at `root`, and deletes the temp
    /// files that interrupted uploads left in `root/tmp`.
    pub fn open(root: impl Into<PathBuf>, limits: ArtifactLimits) -> Result<Self, ArtifactError> {
        let root = root.into();
        for dir in [BLOBS_DIR, MANIFESTS_DIR, TMP_DIR] {
            let path = root.join(dir);
            std::fs::create_dir_all(&path).map_err(ArtifactError::io(&path))?;
        }
        let staging = std::sync::Arc::new(Staging {
            max: limits.max_staged,
            current: 0.into(),
            peak: 0.into(),
        });
        let store = Self {
            root,
            limits,
            gc_lock: RwLock::new(()),
            lens: std::sync::Mutex::new(HashMap::new()),
            staging,
        };
        store.clean_tmp()?;
        Ok(store)
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &ArtifactLimits {
        &self.limits
    }

    /// Bytes that uploads in progress hold in `tmp/` now, and the most they
    /// held at once since the store was opened.
    pub fn staged_bytes(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        (
            self.staging.current.load(Ordering::Acquire),
            self.staging.peak.load(Ordering::Acquire),
        )
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
        let tmp_dir = self.root.join(TMP_DIR);
        let dir = tmp_dir.clone();
        let temp = blocking(&tmp_dir, move || {
            tempfile::Builder::new().prefix("upload-").tempfile_in(&dir)
        })
        .await?;
        // Dropping `temp_path` (on any early return, or if this future is
        // dropped) deletes the temp file.
        let (std_file, temp_path) = temp.into_parts();
        let mut file = tokio::fs::File::from_std(std_file);

        let mut sha256 = Sha256::new();
        let mut sha1 = Sha1::new();
        let mut md5 = Md5::new();
        let mut size: u64 = 0;
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_LEN);
        let mut staged = Reservation {
            staging: self.staging.clone(),
            bytes: 0,
        };

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

    /// Moves a staged artifact into the store (fsynced, atomic rename); if
    /// the same content is already stored the copy is dropped.
    pub async fn commit(&self, staged: StagedArtifact) -> Result<ArtifactEntry, ArtifactError> {
        let StagedArtifact {
            entry,
            temp_path,
            _staged,
        } = staged;
        let size = entry.size;
        let tmp_dir = self.root.join(TMP_DIR);
        let blob_dir = self.blob_dir(&entry.sha256);
        let blob = blob_dir.join(&entry.sha256);
        let _live = self.gc_lock.read().await;
        tokio::fs::create_dir_all(&blob_dir)
            .await
            .map_err(ArtifactError::io(&blob_dir))?;
        if exists(&blob).await? {
            // Dedup: same name, same content. Refresh the blob's age so that
            // garbage collection keeps it until the bundle is made.
            let touched = blob.clone();
            blocking(&blob, move || touch(&touched)).await?;
            if let Err(e) = blocking(&tmp_dir, move || temp_path.close()).await {
                tracing::warn!(error = %e, "could not delete a duplicate upload's temp file");
            }
            tracing::debug!(sha256 = %entry.sha256, size, "artifact already stored");
        } else {
            let dest = blob.clone();
            blocking(&blob, move || {
                temp_path.persist(&dest).map_err(|e| e.error)?;
                sync_dir(&blob_dir)
            })
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
        let count = entries.len();
        if count == 0 || count > self.limits.max_count {
            return Err(ArtifactError::Count {
                count,
                max: self.limits.max_count,
            });
        }
        let mut artifacts = Vec::with_capacity(count);
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
            entry.filename = sanitize_filename(&entry.filename);
            artifacts.push(entry);
        }
        let manifest = Manifest { artifacts };
        let manifests_dir = self.root.join(MANIFESTS_DIR);
        let bytes = serde_json::to_vec(&manifest)
            .map_err(|e| ArtifactError::io(&manifests_dir)(std::io::Error::other(e)))?;
        let uri = hex::encode(Sha256::digest(&bytes));

        let _live = self.gc_lock.read().await;
        for (index, entry) in manifest.artifacts.iter().enumerate() {
            let blob = self.blob_path(&entry.sha256);
            let stored = match tokio::fs::metadata(&blob).await {
                Ok(meta) => meta.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ArtifactError::BlobNotFound {
                        sha256: entry.sha256.clone(),
                    })
                }
                Err(e) => return Err(ArtifactError::io(&blob)(e)),
            };
            if stored != entry.size {
                return Err(ArtifactError::InvalidEntry {
                    index,
                    reason: format!(
                        "filesize {} does not match the stored artifact {} ({stored} bytes)",
                        entry.size, entry.sha256
                    ),
                });
            }
        }

        let dest = manifests_dir.join(format!("{uri}{MANIFEST_SUFFIX}"));
        if exists(&dest).await? {
            // Same bytes already stored; refresh its age for garbage collection.
            let touched = dest.clone();
            blocking(&dest, move || touch(&touched)).await?;
        } else {
            let tmp_dir = self.root.join(TMP_DIR);
            let target = dest.clone();
            blocking(&dest, move || write_atomic(&tmp_dir, &target, &bytes)).await?;
        }
        tracing::debug!(%uri, count, "artifact bundle stored");
        Ok(uri)
    }

    /// Reads the manifest of bundle `uri`.
    ///
    /// [`ArtifactError::BadUri`] unless `uri` is 64 lowercase hex digits,
    /// [`ArtifactError::NotFound`] if no such bundle is stored.
    pub async fn manifest(&self, uri: &str) -> Result<Manifest, ArtifactError> {
        check_sha256(uri)?;
        match read_manifest(&self.manifest_path(uri), uri).await? {
            Some(manifest) => Ok(manifest),
            None => Err(ArtifactError::NotFound {
                uri: uri.to_owned(),
            }),
        }
    }

    /// Number of artifacts in bundle `uri` (to check `bounty:Post`'s
    /// `num_artifacts`).
    ///
    /// Manifests never change, so the answer is cached (every bounty post
    /// asks); garbage collection clears the cache.
    pub async fn bundle_len(&self, uri: &str) -> Result<usize, ArtifactError> {
        if let Some(n) = self.lock_lens().get(uri) {
            return Ok(*n);
        }
        let n = self.manifest(uri).await?.artifacts.len();
        let mut lens = self.lock_lens();
        if lens.len() >= MAX_CACHED_LENS {
            lens.clear();
        }
        lens.insert(uri.to_owned(), n);
        Ok(n)
    }

    fn lock_lens(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.lens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Entry `index` of bundle `uri`
    /// ([`ArtifactError::IndexOutOfRange`] past the end).
    pub async fn entry(&self, uri: &str, index: usize) -> Result<ArtifactEntry, ArtifactError> {
        let manifest = self.manifest(uri).await?;
        let count = manifest.artifacts.len();
        manifest
            .artifacts
            .into_iter()
            .nth(index)
            .ok_or_else(|| ArtifactError::IndexOutOfRange {
                uri: uri.to_owned(),
                index,
                count,
            })
    }

    /// Entry `index` of bundle `uri` and its content, opened for reading
    /// (stream it back with e.g. `tokio_util::io::ReaderStream`).
    pub async fn open_artifact(
        &self,
        uri: &str,
        index: usize,
    ) -> Result<(ArtifactEntry, tokio::fs::File), ArtifactError> {
        let entry = self.entry(uri, index).await?;
        let file = self.open_blob(&entry.sha256).await?;
        let path = self.blob_path(&entry.sha256);
        let len = file
            .metadata()
            .await
            .map_err(ArtifactError::io(&path))?
            .len();
        if len != entry.size {
            return Err(ArtifactError::Corrupt {
                path,
                reason: format!("{len} bytes stored, bundle {uri} says {}", entry.size),
            });
        }
        Ok((entry, file))
    }

    /// The stored artifact with this sha256, opened for reading
    /// ([`ArtifactError::BlobNotFound`] if none).
    pub async fn open_blob(&self, sha256: &str) -> Result<tokio::fs::File, ArtifactError> {
        check_sha256(sha256)?;
        let path = self.blob_path(sha256);
        match tokio::fs::File::open(&path).await {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(ArtifactError::BlobNotFound {
                    sha256: sha256.to_owned(),
                })
            }
            Err(e) => Err(ArtifactError::io(&path)(e)),
        }
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
        self.lock_lens().clear();
        let now = SystemTime::now();
        let mut stats = GcStats::default();
        let mut live: HashSet<String> = HashSet::new();
        let mut complete = true;

        let manifests_dir = self.root.join(MANIFESTS_DIR);
        let mut dir = tokio::fs::read_dir(&manifests_dir)
            .await
            .map_err(ArtifactError::io(&manifests_dir))?;
        while let Some(item) = dir
            .next_entry()
            .await
            .map_err(ArtifactError::io(&manifests_dir))?
        {
            let path = item.path();
            let name = item.file_name();
            let Some(uri) = name
                .to_str()
                .and_then(|n| n.strip_suffix(MANIFEST_SUFFIX))
                .filter(|u| is_lower_hex(u, 64))
            else {
                tracing::warn!(path = %path.display(), "unexpected file among artifact manifests");
                continue;
            };
            let meta = item.metadata().await.map_err(ArtifactError::io(&path))?;
            if is_old(&meta, now, older_than) && !referenced(uri) {
                remove(&path).await?;
                stats.manifests_deleted += 1;
                continue;
            }
            match read_manifest(&path, uri).await {
                Ok(Some(manifest)) => live.extend(manifest.artifacts.into_iter().map(|e| e.sha256)),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, "unreadable manifest; no artifact blob is collected");
                    complete = false;
                }
            }
        }

        if complete {
            let blobs_dir = self.root.join(BLOBS_DIR);
            let mut shards = tokio::fs::read_dir(&blobs_dir)
                .await
                .map_err(ArtifactError::io(&blobs_dir))?;
            while let Some(shard) = shards
                .next_entry()
                .await
                .map_err(ArtifactError::io(&blobs_dir))?
            {
                let shard_path = shard.path();
                if !shard
                    .file_type()
                    .await
                    .map_err(ArtifactError::io(&shard_path))?
                    .is_dir()
                {
                    continue;
                }
                let mut blobs = tokio::fs::read_dir(&shard_path)
                    .await
                    .map_err(ArtifactError::io(&shard_path))?;
                while let Some(blob) = blobs
                    .next_entry()
                    .await
                    .map_err(ArtifactError::io(&shard_path))?
                {
                    let path = blob.path();
                    let name = blob.file_name();
                    let Some(sha256) = name.to_str().filter(|n| is_lower_hex(n, 64)) else {
                        continue;
                    };
                    if live.contains(sha256) {
                        continue;
                    }
                    let meta = blob.metadata().await.map_err(ArtifactError::io(&path))?;
                    if meta.is_file() && is_old(&meta, now, older_than) {
                        remove(&path).await?;
                        stats.blobs_deleted += 1;
                        stats.bytes_freed = stats.bytes_freed.saturating_add(meta.len());
                    }
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

    fn blob_dir(&self, sha256: &str) -> PathBuf {
        // Callers pass validated or self-computed hex, so `get` never fails.
        self.root
            .join(BLOBS_DIR)
            .join(sha256.get(..2).unwrap_or("00"))
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.blob_dir(sha256).join(sha256)
    }

    fn manifest_path(&self, uri: &str) -> PathBuf {
        self.root
            .join(MANIFESTS_DIR)
            .join(format!("{uri}{MANIFEST_SUFFIX}"))
    }

    fn clean_tmp(&self) -> Result<(), ArtifactError> {
        let tmp_dir = self.root.join(TMP_DIR);
        let dir = std::fs::read_dir(&tmp_dir).map_err(ArtifactError::io(&tmp_dir))?;
        for item in dir {
            let item = item.map_err(ArtifactError::io(&tmp_dir))?;
            let path = item.path();
            let result = match item.file_type() {
                Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
                Ok(_) => std::fs::remove_file(&path),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed leftover artifact temp file")
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "could not remove artifact temp file")
                }
            }
        }
        Ok(())
    }
}

/// Reads and verifies a manifest; `None` if the file does not exist.
async fn read_manifest(path: &Path, uri: &str) -> Result<Option<Manifest>, ArtifactError> {
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ArtifactError::io(path)(e)),
    };
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != uri {
        return Err(ArtifactError::Corrupt {
            path: path.to_owned(),
            reason: format!("its sha256 is {actual}"),
        });
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ArtifactError::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// Runs blocking file-system work off the async threads.
async fn blocking<T, F>(path: &Path, work: F) -> Result<T, ArtifactError>
where
    T: Send + 'static,
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(ArtifactError::io(path)),
        Err(join) => Err(ArtifactError::io(path)(std::io::Error::other(join))),
    }
}

async fn exists(path: &Path) -> Result<bool, ArtifactError> {
    tokio::fs::try_exists(path)
        .await
        .map_err(ArtifactError::io(path))
}

async fn remove(path: &Path) -> Result<(), ArtifactError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ArtifactError::io(path)(e)),
    }
}

/// Writes `bytes` to `dest` via a fsynced temp file in `tmp_dir` and a rename.
fn write_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temp = tempfile::Builder::new()
        .prefix("manifest-")
        .tempfile_in(tmp_dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(dest).map_err(|e| e.error)?;
    match dest.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Sets a file's modification time to now (its age for garbage collection).
fn touch(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .set_modified(SystemTime::now())
}

fn is_old(meta: &std::fs::Metadata, now: SystemTime, older_than: Duration) -> bool {
    match meta.modified() {
        Ok(modified) => match now.duration_since(modified) {
            Ok(age) => age >= older_than,
            // Written "in the future" (clock skew): only old if anything is.
            Err(_) => older_than.is_zero(),
        },
        Err(_) => false,
    }
}

/// The path-traversal guard: only 64 lowercase hex digits become paths.
fn check_sha256(uri: &str) -> Result<(), ArtifactError> {
    if is_lower_hex(uri, 64) {
        Ok(())
    } else {
        Err(ArtifactError::bad_uri(uri))
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Basename only (after `/` or `\`), without control or bidi-override
/// characters, at most 255 bytes; `.` and `..` become `""`.
fn sanitize_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .collect();
    if cleaned == "." || cleaned == ".." {
        return String::new();
    }
    truncate_utf8(cleaned, MAX_FILENAME_BYTES)
}

/// Characters that reorder text on screen ("invoice\u{202e}fdp.exe").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn truncate_utf8(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// `infer`'s guess from the first bytes; else `text/plain` for UTF-8 without
/// NULs; else `application/octet-stream`.
fn sniff_mimetype(head: &[u8], size: u64) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => !head.contains(&0),
        // A multi-byte character cut by the end of the sniffed prefix is fine.
        Err(e) => {
            e.error_len().is_none()
                && u64::try_from(head.len()).unwrap_or(u64::MAX) < size
                && !head[..e.valid_up_to()].contains(&0)
        }
    };
    if text {
        "text/plain".to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    const HOUR: Duration = Duration::from_secs(3600);

    fn run<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn body(chunks: Vec<&[u8]>) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        let owned: Vec<Result<Bytes, std::io::Error>> = chunks
            .into_iter()
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(owned)
    }

    fn open_store(dir: &Path) -> ArtifactStore {
        ArtifactStore::open(dir, ArtifactLimits::default()).unwrap()
    }

    /// All regular files under `dir`, recursively.
    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for item in std::fs::read_dir(dir).unwrap() {
            let path = item.unwrap().path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    fn set_age(path: &Path, age: Duration) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::now() - age)
            .unwrap();
    }

    async fn read_all(mut file: tokio::fs::File) -> Vec<u8> {
        let mut out = Vec::new();
        file.read_to_end(&mut out).await.unwrap();
        out
    }

    #[test]
    fn abc_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        run(async {
            let entry = store
                .put_stream(Some("abc.txt".into()), body(vec![b"a", b"", b"bc"]))
                .await
                .unwrap();
            assert_eq!(
                entry.sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            );
            assert_eq!(entry.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
            assert_eq!(entry.md5, "900150983cd24fb0d6963f7d28e17f72");
            assert_eq!(entry.size, 3);
            assert_eq!(entry.filename, "abc.txt");
            assert_eq!(entry.mimetype, "text/plain");

            let uri = store.put_bundle(vec![entry.clone()]).await.unwrap();
            assert!(is_lower_hex(&uri, 64));
            assert_eq!(store.bundle_len(&uri).await.unwrap(), 1);
            assert_eq!(store.entry(&uri, 0).await.unwrap(), entry);
            let (got, file) = store.open_artifact(&uri, 0).await.unwrap();
            assert_eq!(got, entry);
            assert_eq!(read_all(file).await, b"abc");
            let blob = store.open_blob(&entry.sha256).await.unwrap();
            assert_eq!(read_all(blob).await, b"abc");

            // The uri is the sha256 of the stored manifest bytes.
            let stored =
                std::fs::read(dir.path().join("manifests").join(format!("{uri}.json"))).unwrap();
            assert_eq!(hex::encode(Sha256::digest(&stored)), uri);
            assert_eq!(
                stored,
                serde_json::to_vec(&store.manifest(&uri).await.unwrap()).unwrap()
            );
        });
        assert!(files_under(&dir.path().join("tmp")).is_empty());
        assert!(dir
            .path()
            .join("blobs/ba/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
            .is_file());
    }

    #[test]
    fn entry_serializes_as_bounty_metadata() {
        let entry = ArtifactEntry {
            filename: "a.exe".into(),
            size: 3,
            mimetype: "text/plain".into(),
            sha256: "s".into(),
            sha1: "h".into(),
            md5: "m".into(),
        };
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(
            json,
            r#"{"filename":"a.exe","filesize":3,"mimetype":"text/plain","sha256":"s","sha1":"h","md5":"m"}"#
        );
        assert_eq!(serde_json::from_str::<ArtifactEntry>(&json).unwrap(), entry);
    }

    #[test]
    fn eicar_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        assert_eq!(EICAR.len(), 68);
        let entry = run(store.put_stream(
            Some("eicar.com".into()),
            body(vec![&EICAR[..10], &EICAR[10..]]),
        ))
        .unwrap();
        assert_eq!(
            entry.sha256,
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
        );
        assert_eq!(entry.sha1, "3395856ce81f2b7382dee72602f798b642f14140");
        assert_eq!(entry.md5, "44d88612fea8a8f36de82e1278abb02f");
        assert_eq!(entry.size, 68);
    }

    #[test]
    fn same_content_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        run(async {
            let a = store
                .put_stream(Some("one.com".into()), body(vec![EICAR]))
                .await
                .unwrap();
            let b = store
                .put_stream(Some("two.com".into()), body(vec![&EICAR[..1], &EICAR[1..]]))
                .await
                .unwrap();
            assert_eq!(a.sha256, b.sha256);
            assert_eq!(
                (a.filename.as_str(), b.filename.as_str()),
                ("one.com", "two.com")
            );
        });
        assert_eq!(files_under(&dir.path().join("blobs")).len(), 1);
        assert!(files_under(&dir.path().join("tmp")).is_empty());
    }

    #[test]
    fn limit_exceeded_mid_stream_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let limits = ArtifactLimits {
            max_size: 10,
            ..ArtifactLimits::default()
        };
        let store = ArtifactStore::open(dir.path(), limits).unwrap();
        run(async {
            // Exactly at the limit is fine.
            let ok = store
                .put_stream(None, body(vec![b"12345", b"67890"]))
                .await
                .unwrap();
            assert_eq!(ok.size, 10);
            assert_eq!(ok.filename, "");

            let err = store
                .put_stream(
                    Some("a.exe".into()),
                    body(vec![b"123456", b"78901", b"more"]),
                )
                .await
                .unwrap_err();
            assert!(
                matches!(&err, ArtifactError::TooLarge { max: 10, filename } if filename == "a.exe"),
                "{err:?}"
            );
            assert!(err.is_client_error());
        });
        assert_eq!(files_under(&dir.path().join("blobs")).len(), 1);
        assert!(files_under(&dir.path().join("tmp")).is_empty());
    }

    #[test]
    fn forty_mib_stream_stops_at_thirty_two() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        const CHUNK: usize = 64 * 1024;
        let chunk = Bytes::from(vec![0x41u8; CHUNK]);
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&pulled);
        let stream = futures_util::stream::iter(0..(40 * 1024 * 1024 / CHUNK)).map(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(chunk.clone())
        });
        let err = run(store.put_stream(Some("big.bin".into()), stream)).unwrap_err();
        assert!(
            matches!(err, ArtifactError::TooLarge { max, .. } if max == 32 * 1024 * 1024),
            "{err:?}"
        );
        // 512 chunks fit exactly; the 513th is refused and nothing more is read.
        assert_eq!(pulled.load(Ordering::SeqCst), 513);
        assert!(files_under(&dir.path().join("blobs")).is_empty());
        assert!(files_under(&dir.path().join("tmp")).is_empty());
    }

    #[test]
    fn stream_error_is_an_upload_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let stream = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"partial")),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "client went away",
            )),
        ]);
        let err = run(store.put_stream(None, stream)).unwrap_err();
        assert!(matches!(&err, ArtifactError::Upload(m) if m.contains("client went away")));
        assert!(err.is_client_error());
        assert!(files_under(&dir.path().join("blobs")).is_empty());
        assert!(files_under(&dir.path().join("tmp")).is_empty());
    }

    #[test]
    fn bundle_count_limits() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        run(async {
            let entry = store.put_stream(None, body(vec![b"abc"])).await.unwrap();
            let uri = store.put_bundle(vec![entry.clone(); 256]).await.unwrap();
            assert_eq!(store.bundle_len(&uri).await.unwrap(), 256);
            // Idempotent.
            assert_eq!(
                store.put_bundle(vec![entry.clone(); 256]).await.unwrap(),
                uri
            );
            assert_eq!(files_under(&dir.path().join("manifests")).len(), 1);

            let err = store
                .put_bundle(vec![entry.clone(); 257])
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    ArtifactError::Count {
                        count: 257,
                        max: 256
                    }
                ),
                "{err:?}"
            );
            assert_eq!(err.to_string(), "bundle holds 257 artifacts; at most 256");
            assert!(err.is_client_error());

            let err = store.put_bundle(Vec::new()).await.unwrap_err();
            assert!(
                matches!(err, ArtifactError::Count { count: 0, max: 256 }),
                "{err:?}"
            );
        });
        assert!(files_under(&dir.path().join("tmp")).is_empty());
    }

    #[test]
    fn bad_uris_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let valid = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let bad = [
            "../../etc/passwd".to_owned(),
            valid.to_uppercase(),
            valid[..63].to_owned(),
            String::new(),
            format!("{valid}0"),
            format!("../{}", &valid[3..]),
            format!("{}g", &valid[..63]),
        ];
        run(async {
            for uri in &bad {
                let errors = [
                    store.manifest(uri).await.unwrap_err(),
                    store.entry(uri, 0).await.unwrap_err(),
                    store.bundle_len(uri).await.unwrap_err(),
                    store.open_artifact(uri, 0).await.unwrap_err(),
                    store.open_blob(uri).await.unwrap_err(),
                ];
                for err in errors {
                    assert!(
                        matches!(err, ArtifactError::BadUri { .. }),
                        "{uri:?}: {err:?}"
                    );
                    assert!(err.is_client_error());
                }
            }
            let err = store.manifest("../etc").await.unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("artifact uri \"../etc\" is not a sha256"),
                "{err}"
            );

            // A bad sha256 inside a bundle entry is refused too.
            let mut entry = store.put_stream(None, body(vec![b"abc"])).await.unwrap();
            entry.sha256 = "../../../../etc/passwd".into();
            let err = store.put_bundle(vec![entry]).await.unwrap_err();
            assert!(
                matches!(err, ArtifactError::InvalidEntry { index: 0, .. }),
                "{err:?}"
            );
        });
    }

    #[test]
    fn missing_things() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        run(async {
            let stored = store.put_stream(None, body(vec![b"abc"])).await.unwrap();
            let mut missing = stored.clone();
            missing.sha256 = hex::encode(Sha256::digest(b"never uploaded"));
            let err = store
                .put_bundle(vec![stored.clone(), missing.clone()])
                .await
                .unwrap_err();
            assert!(
                matches!(&err, ArtifactError::BlobNotFound { sha256 } if *sha256 == missing.sha256),
                "{err:?}"
            );
            assert!(err.is_client_error());
            assert!(files_under(&dir.path().join("manifests")).is_empty());

            let mut wrong_size = stored.clone();
            wrong_size.size = 4;
            let err = store.put_bundle(vec![wrong_size]).await.unwrap_err();
            assert!(
                matches!(err, ArtifactError::InvalidEntry { index: 0, .. }),
                "{err:?}"
            );

            let absent = hex::encode(Sha256::digest(b"no such bundle"));
            let err = store.manifest(&absent).await.unwrap_err();
            assert!(matches!(err, ArtifactError::NotFound { .. }), "{err:?}");
            assert_eq!(err.to_string(), format!("no artifact bundle {absent}"));
            let err = store.open_blob(&absent).await.unwrap_err();
            assert!(matches!(err, ArtifactError::BlobNotFound { .. }), "{err:?}");

            let uri = store
                .put_bundle(vec![stored.clone(), stored])
                .await
                .unwrap();
            let err = store.entry(&uri, 5).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    ArtifactError::IndexOutOfRange {
                        index: 5,
                        count: 2,
                        ..
                    }
                ),
                "{err:?}"
            );
            assert_eq!(
                err.to_string(),
                format!("bundle {uri} has 2 artifacts; index 5 is out of range")
            );
            assert!(store.open_artifact(&uri, 2).await.is_err());
            assert!(store.open_artifact(&uri, 1).await.is_ok());
        });
    }

    #[test]
    fn corrupt_manifest_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        run(async {
            let entry = store.put_stream(None, body(vec![b"abc"])).await.unwrap();
            let uri = store.put_bundle(vec![entry]).await.unwrap();
            let path = dir.path().join("manifests").join(format!("{uri}.json"));
            std::fs::write(&path, b"{\"artifacts\":[]}").unwrap();
            let err = store.manifest(&uri).await.unwrap_err();
            assert!(matches!(err, ArtifactError::Corrupt { .. }), "{err:?}");
            assert!(!err.is_client_error());
        });
    }

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
    fn garbage_collection() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let blob = |content: &[u8]| {
            let sha = hex::encode(Sha256::digest(content));
            dir.path().join("blobs").join(&sha[..2]).join(sha)
        };
        let manifest = |uri: &str| dir.path().join("manifests").join(format!("{uri}.json"));
        run(async {
            let shared = store.put_stream(None, body(vec![b"shared"])).await.unwrap();
            let kept_only = store.put_stream(None, body(vec![b"kept"])).await.unwrap();
            let dropped_only = store
                .put_stream(None, body(vec![b"dropped"]))
                .await
                .unwrap();
            let _loose = store.put_stream(None, body(vec![b"loose"])).await.unwrap();
            let kept = store
                .put_bundle(vec![shared.clone(), kept_only])
                .await
                .unwrap();
            let dropped = store.put_bundle(vec![shared, dropped_only]).await.unwrap();
            let referenced = |uri: &str| uri == kept;

            // Everything is recent: nothing goes.
            let stats = store.collect_garbage(&referenced, HOUR).await.unwrap();
            assert_eq!(stats, GcStats::default());

            // Two hours later, except for an upload just made.
            for path in files_under(dir.path()) {
                set_age(&path, 2 * HOUR);
            }
            let _fresh = store.put_stream(None, body(vec![b"fresh"])).await.unwrap();
            let stats = store.collect_garbage(&referenced, HOUR).await.unwrap();
            assert_eq!(stats.manifests_deleted, 1);
            assert_eq!(stats.blobs_deleted, 2, "dropped + loose");
            assert_eq!(stats.bytes_freed, 7 + 5);

            assert!(manifest(&kept).is_file());
            assert!(!manifest(&dropped).exists());
            assert!(blob(b"shared").is_file());
            assert!(blob(b"kept").is_file());
            assert!(blob(b"fresh").is_file());
            assert!(!blob(b"dropped").exists());
            assert!(!blob(b"loose").exists());
            assert!(store.open_artifact(&kept, 0).await.is_ok());
            assert!(matches!(
                store.manifest(&dropped).await,
                Err(ArtifactError::NotFound { .. })
            ));

            // Re-uploading an old blob refreshes it.
            set_age(&blob(b"fresh"), 2 * HOUR);
            store.put_stream(None, body(vec![b"fresh"])).await.unwrap();
            let stats = store.collect_garbage(&referenced, HOUR).await.unwrap();
            assert_eq!(stats, GcStats::default());
        });
    }

    #[test]
    fn futures_are_send() {
        // The API layer runs these inside `tokio::spawn`ed handlers.
        fn assert_send<T: Send>(_: &T) {}
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let referenced = |_: &str| false;
        assert_send(&store.put_stream(None, body(vec![b"abc"])));
        assert_send(&store.put_bundle(Vec::new()));
        assert_send(&store.open_artifact("", 0));
        assert_send(&store.collect_garbage(&referenced, HOUR));
    }

    #[test]
    fn open_removes_leftover_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        drop(open_store(dir.path()));
        std::fs::write(dir.path().join("tmp/upload-crashed"), b"half").unwrap();
        drop(open_store(dir.path()));
        assert!(files_under(&dir.path().join("tmp")).is_empty());
    }

    #[test]
    fn mimetypes() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let png: &[u8] = &[
            0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R',
            0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed.to_le_bytes()[0]
            })
            .collect();
        // Text whose first 8 KiB end in the middle of a multi-byte character.
        let mut long_text = "a".repeat(SNIFF_LEN - 1);
        long_text.push_str("ééé");
        run(async {
            let png = store.put_stream(None, body(vec![png])).await.unwrap();
            assert_eq!(png.mimetype, "image/png");
            let text = store
                .put_stream(None, body(vec![b"hello, world\n"]))
                .await
                .unwrap();
            assert_eq!(text.mimetype, "text/plain");
            let random = store.put_stream(None, body(vec![&random])).await.unwrap();
            assert_eq!(random.mimetype, "application/octet-stream");
            let long = store
                .put_stream(None, body(vec![long_text.as_bytes()]))
                .await
                .unwrap();
            assert_eq!(long.mimetype, "text/plain");
        });
        assert_eq!(sniff_mimetype(b"abc\0def", 7), "application/octet-stream");
        assert_eq!(
            sniff_mimetype(&[0xff, 0xfe, 0xfd], 3),
            "application/octet-stream"
        );
    }

    #[test]
    fn filenames_are_sanitized() {
        assert_eq!(sanitize_filename("C:\\Users\\x\\evil.exe"), "evil.exe");
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("a\u{0}b\nc\u{7f}.txt"), "abc.txt");
        assert_eq!(
            sanitize_filename("invoice\u{202e}fdp.exe"),
            "invoicefdp.exe"
        );
        assert_eq!(sanitize_filename(".."), "");
        assert_eq!(sanitize_filename("dir/"), "");
        let long = "é".repeat(200);
        let cut = sanitize_filename(&long);
        assert_eq!(cut.len(), 254);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
