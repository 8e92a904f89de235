//! [`MemoryBlobs`]: the [`BlobStore`] in memory.
//!
//! Why it exists: it is the second backend that keeps the seam honest — the
//! artifact store's behaviour is checked on it by the same conformance suite
//! as on the local directory, so nothing above the trait can lean on files —
//! and it lets tests run a node whose artifacts never touch the disk. It is
//! not for production: everything is lost when the process ends.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;

use super::blob::{
    BlobError, BlobKey, BlobMeta, BlobReader, BlobStore, Listed, Namespace, StagedFile,
};

/// Bytes per chunk of a [`BlobReader`], as a file or network read would give.
const CHUNK: usize = 64 * 1024;

/// Artifact bytes in memory.
#[derive(Default)]
pub struct MemoryBlobs {
    objects: RwLock<BTreeMap<BlobKey, Stored>>,
}

#[derive(Clone)]
struct Stored {
    bytes: Bytes,
    modified: SystemTime,
}

impl MemoryBlobs {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Objects stored, and their total size in bytes.
    pub fn usage(&self) -> (usize, u64) {
        let objects = self.read();
        let bytes = objects
            .values()
            .map(|s| u64::try_from(s.bytes.len()).unwrap_or(u64::MAX))
            .fold(0u64, u64::saturating_add);
        (objects.len(), bytes)
    }

    /// Sets the last-modified time of `key` (to age objects in tests);
    /// `false` if there is no such object.
    pub fn set_modified(&self, key: &BlobKey, modified: SystemTime) -> bool {
        match self.write().get_mut(key) {
            Some(stored) => {
                stored.modified = modified;
                true
            }
            None => false,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<BlobKey, Stored>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<BlobKey, Stored>> {
        self.objects.write().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, key: &BlobKey, bytes: Bytes) {
        let stored = Stored {
            bytes,
            modified: SystemTime::now(),
        };
        self.write().insert(key.clone(), stored);
    }
}

impl fmt::Debug for MemoryBlobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (objects, bytes) = self.usage();
        f.debug_struct("MemoryBlobs")
            .field("objects", &objects)
            .field("bytes", &bytes)
            .finish()
    }
}

fn meta(stored: &Stored) -> BlobMeta {
    BlobMeta {
        size: u64::try_from(stored.bytes.len()).unwrap_or(u64::MAX),
        modified: stored.modified,
    }
}

#[async_trait]
impl BlobStore for MemoryBlobs {
    async fn put_file(&self, key: &BlobKey, file: StagedFile) -> Result<(), BlobError> {
        let bytes = tokio::fs::read(file.path())
            .await
            .map_err(BlobError::io(file.path().display()))?;
        // Stored whole under the lock: a reader sees it all or nothing.
        self.insert(key, Bytes::from(bytes));
        drop(file);
        Ok(())
    }

    async fn put_bytes(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError> {
        self.insert(key, bytes);
        Ok(())
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<BlobReader>, BlobError> {
        let Some(stored) = self.read().get(key).cloned() else {
            return Ok(None);
        };
        let size = meta(&stored).size;
        let bytes = stored.bytes;
        let len = bytes.len();
        let chunks = (0..len)
            .step_by(CHUNK)
            .map(move |start| Ok(bytes.slice(start..(start + CHUNK).min(len))));
        Ok(Some(BlobReader::new(size, Box::pin(stream::iter(chunks)))))
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        Ok(self.read().get(key).map(meta))
    }

    async fn touch(&self, key: &BlobKey) -> Result<bool, BlobError> {
        Ok(self.set_modified(key, SystemTime::now()))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        self.write().remove(key);
        Ok(())
    }

    fn list(&self, namespace: Namespace) -> BoxStream<'_, Result<Listed, BlobError>> {
        let listed: Vec<Result<Listed, BlobError>> = self
            .read()
            .iter()
            .filter(|(key, _)| key.namespace() == namespace)
            .map(|(key, stored)| {
                Ok(Listed {
                    key: key.clone(),
                    meta: meta(stored),
                })
            })
            .collect();
        stream::iter(listed).boxed()
    }

    fn location(&self, key: &BlobKey) -> String {
        format!("memory:{}", key.path())
    }
}
