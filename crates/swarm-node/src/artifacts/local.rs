//! [`LocalBlobs`]: the [`BlobStore`] on a local directory, the node's default.
//!
//! Layout under the root: `blobs/<first 2 hex>/<sha256>`,
//! `manifests/<sha256>.json` ([`BlobKey::path`]) and `tmp/` for the temp
//! files of its own writes. The two-hex shards keep directories small.
//!
//! Why temp file + fsync + atomic rename: an object only ever appears in
//! `blobs/` or `manifests/` as a complete, flushed file renamed into place
//! (and the rename itself is made durable by syncing the directory), so a
//! reader never sees a half-written object and a crash leaves at worst a
//! stray file in `tmp/`, removed by [`LocalBlobs::open`]. A staged upload is
//! renamed into place without a copy when it is on the same file system.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt, TryStreamExt};

use super::blob::{
    BlobError, BlobKey, BlobMeta, BlobReader, BlobStore, Listed, Namespace, StagedFile,
    MANIFEST_SUFFIX,
};

/// The directory of the backend's own temp files.
const TMP_DIR: &str = "tmp";
/// Bytes read from a file per chunk of a [`BlobReader`].
const READ_CHUNK: usize = 64 * 1024;

/// Artifact bytes in a local directory.
#[derive(Debug)]
pub struct LocalBlobs {
    root: PathBuf,
    tmp: PathBuf,
}

impl LocalBlobs {
    /// Opens (creating if needed) the directory `root`, and deletes the temp
    /// files that interrupted writes left in `root/tmp`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        for dir in [
            Namespace::Blobs.as_str(),
            Namespace::Manifests.as_str(),
            TMP_DIR,
        ] {
            let path = root.join(dir);
            std::fs::create_dir_all(&path).map_err(BlobError::io(path.display()))?;
        }
        let tmp = root.join(TMP_DIR);
        clean_dir(&tmp, None)?;
        Ok(LocalBlobs { root, tmp })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/tmp`, where this backend writes before it renames; uploads may
    /// be staged there too (then they are renamed without a copy).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// The file of `key`.
    fn path(&self, key: &BlobKey) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(key.path().split('/'));
        path
    }

    /// The file of `key` and its directory, created if needed.
    async fn prepare(&self, key: &BlobKey) -> Result<(PathBuf, PathBuf), BlobError> {
        let path = self.path(key);
        let dir = path
            .parent()
            .map_or_else(|| self.root.clone(), Path::to_owned);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(BlobError::io(dir.display()))?;
        Ok((path, dir))
    }
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn put_file(&self, key: &BlobKey, file: StagedFile) -> Result<(), BlobError> {
        let (dest, dir) = self.prepare(key).await?;
        let (tmp, target) = (self.tmp.clone(), dest.clone());
        let staged = file.into_temp_path();
        blocking(move || {
            match staged.persist(&target) {
                Ok(()) => {}
                // Staged on another file system: copy into this one first,
                // so the object still appears by an atomic rename.
                Err(e) if e.error.kind() == std::io::ErrorKind::CrossesDevices => {
                    copy_in(&tmp, &e.path, &target)?;
                    e.path.close()?;
                }
                Err(e) => return Err(e.error),
            }
            sync_dir(&dir)
        })
        .await
        .map_err(BlobError::io(dest.display()))
    }

    async fn put_bytes(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError> {
        let (dest, _) = self.prepare(key).await?;
        let (tmp, target) = (self.tmp.clone(), dest.clone());
        let prefix = match key.namespace() {
            Namespace::Blobs => "blob-",
            Namespace::Manifests => "manifest-",
        };
        blocking(move || write_atomic(&tmp, prefix, &target, &bytes))
            .await
            .map_err(BlobError::io(dest.display()))
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<BlobReader>, BlobError> {
        let path = self.path(key);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BlobError::io(path.display())(e)),
        };
        let size = file
            .metadata()
            .await
            .map_err(BlobError::io(path.display()))?
            .len();
        let location = path.display().to_string();
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK).map_err(move |source| {
                BlobError::Io {
                    location: location.clone(),
                    source,
                }
            });
        Ok(Some(BlobReader::new(size, Box::pin(stream))))
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        let path = self.path(key);
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(blob_meta(&meta))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BlobError::io(path.display())(e)),
        }
    }

    async fn touch(&self, key: &BlobKey) -> Result<bool, BlobError> {
        let path = self.path(key);
        let touched = path.clone();
        blocking(move || match touch(&touched) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        })
        .await
        .map_err(BlobError::io(path.display()))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let path = self.path(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(BlobError::io(path.display())(e)),
        }
    }

    fn list(&self, namespace: Namespace) -> BoxStream<'_, Result<Listed, BlobError>> {
        let walk = Walk {
            namespace,
            top: self.root.join(namespace.as_str()),
            started: false,
            shards: None,
            files: None,
        };
        stream::try_unfold(walk, |mut walk| async move {
            Ok(walk.next().await?.map(|listed| (listed, walk)))
        })
        .boxed()
    }

    fn location(&self, key: &BlobKey) -> String {
        self.path(key).display().to_string()
    }
}

/// A listing in progress: manifests are the files of one directory, blobs
/// the files of each two-hex shard directory.
struct Walk {
    namespace: Namespace,
    top: PathBuf,
    started: bool,
    /// The shard directories left (blobs only).
    shards: Option<tokio::fs::ReadDir>,
    /// The directory being listed and its shard name (blobs only).
    files: Option<(PathBuf, Option<String>, tokio::fs::ReadDir)>,
}

impl Walk {
    async fn next(&mut self) -> Result<Option<Listed>, BlobError> {
        if !self.started {
            self.started = true;
            let dir = tokio::fs::read_dir(&self.top)
                .await
                .map_err(BlobError::io(self.top.display()))?;
            match self.namespace {
                Namespace::Blobs => self.shards = Some(dir),
                Namespace::Manifests => self.files = Some((self.top.clone(), None, dir)),
            }
        }
        loop {
            if let Some((path, shard, dir)) = &mut self.files {
                match dir
                    .next_entry()
                    .await
                    .map_err(|e| BlobError::io(path.display())(e))?
                {
                    Some(item) => match listed(self.namespace, shard.as_deref(), item).await? {
                        Some(found) => return Ok(Some(found)),
                        None => continue,
                    },
                    None => self.files = None,
                }
            }
            let Some(shards) = &mut self.shards else {
                return Ok(None);
            };
            let Some(shard) = shards
                .next_entry()
                .await
                .map_err(|e| BlobError::io(self.top.display())(e))?
            else {
                return Ok(None);
            };
            let path = shard.path();
            let is_dir = shard
                .file_type()
                .await
                .map_err(BlobError::io(path.display()))?
                .is_dir();
            let name = shard.file_name().to_str().map(str::to_owned);
            if !is_dir || name.as_ref().is_none_or(|n| n.len() != 2) {
                continue;
            }
            let dir = tokio::fs::read_dir(&path)
                .await
                .map_err(BlobError::io(path.display()))?;
            self.files = Some((path, name, dir));
        }
    }
}

/// The object a directory entry holds, if it is one: a regular file named
/// as a key of `namespace` would be (in its own shard, for blobs).
async fn listed(
    namespace: Namespace,
    shard: Option<&str>,
    item: tokio::fs::DirEntry,
) -> Result<Option<Listed>, BlobError> {
    let path = item.path();
    let name = item.file_name();
    let key = name.to_str().and_then(|n| match namespace {
        Namespace::Manifests => n.strip_suffix(MANIFEST_SUFFIX).and_then(BlobKey::manifest),
        Namespace::Blobs => BlobKey::blob(n).filter(|k| shard == k.name().get(..2)),
    });
    let Some(key) = key else {
        if namespace == Namespace::Manifests {
            tracing::warn!(path = %path.display(), "unexpected file among artifact manifests");
        }
        return Ok(None);
    };
    match item.metadata().await {
        Ok(meta) if meta.is_file() => Ok(Some(Listed {
            key,
            meta: blob_meta(&meta),
        })),
        Ok(_) => Ok(None),
        // Deleted since the directory was read.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BlobError::io(path.display())(e)),
    }
}

fn blob_meta(meta: &std::fs::Metadata) -> BlobMeta {
    BlobMeta {
        size: meta.len(),
        // Without a modification time (no such platform swarm runs on) a
        // file counts as new, so garbage collection keeps it.
        modified: meta.modified().unwrap_or_else(|_| SystemTime::now()),
    }
}

/// Deletes what is in `dir` (only the names starting with `prefix`, when
/// given): the temp files of interrupted writes.
pub(super) fn clean_dir(dir: &Path, prefix: Option<&str>) -> Result<(), BlobError> {
    let items = std::fs::read_dir(dir).map_err(BlobError::io(dir.display()))?;
    for item in items {
        let item = item.map_err(BlobError::io(dir.display()))?;
        let path = item.path();
        if let Some(prefix) = prefix {
            if !item.file_name().to_string_lossy().starts_with(prefix) {
                continue;
            }
        }
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

/// Runs blocking file-system work off the async threads.
pub(super) async fn blocking<T, F>(work: F) -> std::io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) => Err(std::io::Error::other(join)),
    }
}

/// Writes `bytes` to `dest` via a fsynced temp file in `tmp_dir` and a rename.
fn write_atomic(tmp_dir: &Path, prefix: &str, dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temp = tempfile::Builder::new()
        .prefix(prefix)
        .tempfile_in(tmp_dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(dest).map_err(|e| e.error)?;
    match dest.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Copies `from` to `dest` via a fsynced temp file in `tmp_dir` and a rename.
fn copy_in(tmp_dir: &Path, from: &Path, dest: &Path) -> std::io::Result<()> {
    let copy = tempfile::Builder::new()
        .prefix("blob-")
        .tempfile_in(tmp_dir)?;
    std::fs::copy(from, copy.path())?;
    copy.as_file().sync_all()?;
    copy.persist(dest).map_err(|e| e.error)?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[tokio::test]
    async fn layout_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        let blob = BlobKey::blob(ABC).unwrap();
        let manifest = BlobKey::manifest(ABC).unwrap();
        blobs
            .put_bytes(&blob, Bytes::from_static(b"abc"))
            .await
            .unwrap();
        blobs
            .put_bytes(&manifest, Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("blobs/ba").join(ABC)).unwrap(),
            b"abc"
        );
        assert_eq!(
            std::fs::read(dir.path().join("manifests").join(format!("{ABC}.json"))).unwrap(),
            b"{}"
        );
        assert_eq!(
            blobs.location(&blob),
            dir.path().join("blobs/ba").join(ABC).display().to_string()
        );

        // Files that are not keys, or are in the wrong shard, are not listed.
        std::fs::write(dir.path().join("manifests/notes.txt"), b"x").unwrap();
        std::fs::write(dir.path().join("blobs/stray"), b"x").unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/00")).unwrap();
        std::fs::write(dir.path().join("blobs/00").join(ABC), b"x").unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/ba/sub")).unwrap();
        for namespace in Namespace::ALL {
            let listed: Vec<Listed> = blobs.list(namespace).try_collect().await.unwrap();
            assert_eq!(listed.len(), 1, "{namespace}: {listed:?}");
            assert_eq!(listed[0].key.namespace(), namespace);
        }
        assert!(std::fs::read_dir(dir.path().join("tmp"))
            .unwrap()
            .next()
            .is_none());
    }

    #[test]
    fn copy_in_leaves_a_whole_file_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        let from = dir.path().join("from");
        std::fs::write(&from, b"abc").unwrap();
        let dest = dir.path().join("blobs").join(ABC);
        copy_in(blobs.tmp_dir(), &from, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"abc");
        assert!(std::fs::read_dir(blobs.tmp_dir()).unwrap().next().is_none());
    }

    /// A staged file on another file system (`/dev/shm` where it is one,
    /// as on Linux) is copied in; on the same one it is renamed.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_file_staged_elsewhere_is_moved_in() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let device = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
        let shm = Path::new("/dev/shm");
        let elsewhere = if device(shm).is_some_and(|d| Some(d) != device(dir.path())) {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let blobs = LocalBlobs::open(dir.path().join("store")).unwrap();
        let mut staged = tempfile::NamedTempFile::new_in(elsewhere.path()).unwrap();
        staged.write_all(b"abc").unwrap();
        let staged = StagedFile::new(staged.into_temp_path(), 3);
        let staged_path = staged.path().to_owned();
        let key = BlobKey::blob(ABC).unwrap();
        blobs.put_file(&key, staged).await.unwrap();
        assert!(!staged_path.exists());
        let reader = blobs.get(&key).await.unwrap().unwrap();
        assert_eq!(reader.size(), 3);
        assert_eq!(reader.into_bytes().await.unwrap(), b"abc");
    }
}
