//! The conformance suite every [`BlobStore`] must pass.
//!
//! Each check is a `pub async fn` taking a [`FreshBlobs`]: a fresh, empty
//! backend and a local staging directory. The first checks hold the backend
//! to its contract (atomic, idempotent puts; missing keys are `None`, not
//! errors; separate namespaces; streamed reads; listings with sizes and
//! ages); the `store_*` checks run the [`ArtifactStore`]'s own behaviour on
//! top of the backend (deduplication, refused uploads leave nothing,
//! manifest integrity, garbage collection keeps what is referenced). A check
//! panics on the first deviation, naming it.
//!
//! [`blob_store_conformance_tests!`](crate::blob_store_conformance_tests)
//! turns the whole suite into one `#[tokio::test]` per check for a backend,
//! so adding a check here adds it for every backend:
//!
//! ```text
//! mod my_backend {
//!     async fn fresh() -> MyFreshBlobs { /* an empty backend */ }
//!     swarm_node::blob_store_conformance_tests!(fresh);
//! }
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use super::{
    ArtifactError, ArtifactLimits, ArtifactStore, BlobKey, BlobReader, BlobStore, GcStats, Listed,
    Namespace, StagedFile,
};

/// A fresh, empty backend for one check.
pub trait FreshBlobs: Send + Sync {
    /// The backend; the same one on every call.
    fn blobs(&self) -> Arc<dyn BlobStore>;

    /// A local directory for staged files and uploads in progress (it need
    /// not exist yet; the suite expects it to hold nothing but its own files).
    fn staging_dir(&self) -> PathBuf;
}

/// Expands to one `#[tokio::test]` per conformance check, each on a backend
/// returned by `$fresh().await` (an `async fn` returning a
/// [`FreshBlobs`](crate::artifacts::conformance::FreshBlobs)).
#[macro_export]
macro_rules! blob_store_conformance_tests {
    ($fresh:path) => {
        $crate::blob_store_conformance_tests!(@each $fresh;
            put_bytes_round_trip,
            put_file_round_trip,
            missing_keys_are_none,
            puts_are_idempotent,
            deletes_are_idempotent,
            list_sees_puts_with_sizes,
            namespaces_do_not_collide,
            concurrent_puts_of_one_key,
            readers_never_see_part_of_a_put,
            large_blob_streams_intact,
            touch_refreshes_age,
            store_round_trip,
            store_dedups_content,
            store_refused_uploads_leave_nothing,
            store_checks_manifest_integrity,
            store_gc_keeps_referenced,
        );
    };
    (@each $fresh:path; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let fresh = $fresh().await;
                $crate::artifacts::conformance::$check(&fresh).await;
            }
        )*
    };
}

/// The sha256 hex of `bytes`.
fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The key of `bytes` in `namespace` (its sha256).
fn key_of(namespace: Namespace, bytes: &[u8]) -> BlobKey {
    BlobKey::new(namespace, &sha256(bytes)).unwrap()
}

/// `len` deterministic pseudo-random bytes (xorshift), different per `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// `bytes` written, flushed and synced to a temp file in the staging directory.
fn staged(fresh: &dyn FreshBlobs, bytes: &[u8]) -> StagedFile {
    use std::io::Write as _;
    let dir = fresh.staging_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let mut file = tempfile::Builder::new()
        .prefix("conformance-")
        .tempfile_in(&dir)
        .unwrap();
    file.write_all(bytes).unwrap();
    file.as_file().sync_all().unwrap();
    StagedFile::new(file.into_temp_path(), bytes.len() as u64)
}

/// Reads the whole object under `key`, or `None`.
async fn read(blobs: &dyn BlobStore, key: &BlobKey) -> Option<Vec<u8>> {
    let reader = blobs.get(key).await.unwrap()?;
    let size = reader.size();
    let bytes = reader.into_bytes().await.unwrap();
    assert_eq!(
        size,
        bytes.len() as u64,
        "{key}: get's size is not its length"
    );
    Some(bytes)
}

/// Everything listed in `namespace`, by key.
async fn listed(blobs: &dyn BlobStore, namespace: Namespace) -> Vec<Listed> {
    let mut all: Vec<Listed> = blobs.list(namespace).try_collect().await.unwrap();
    all.sort_by(|a, b| a.key.cmp(&b.key));
    all
}

/// The files in the staging directory.
fn staging_files(fresh: &dyn FreshBlobs) -> Vec<PathBuf> {
    match std::fs::read_dir(fresh.staging_dir()) {
        Ok(items) => items.map(|i| i.unwrap().path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("staging directory: {e}"),
    }
}

fn store_on(fresh: &dyn FreshBlobs, limits: ArtifactLimits) -> ArtifactStore {
    ArtifactStore::with_blobs(fresh.blobs(), fresh.staging_dir(), limits).unwrap()
}

fn body(chunks: Vec<Vec<u8>>) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Unpin {
    futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c))))
}

async fn put(store: &ArtifactStore, content: &[u8]) -> super::ArtifactEntry {
    store
        .put_stream(None, body(vec![content.to_vec()]))
        .await
        .unwrap()
}

/// Bytes put with `put_bytes` read back exactly, with their size.
pub async fn put_bytes_round_trip(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    for content in [&b""[..], b"abc", &noise(100_000, 1)] {
        let key = key_of(Namespace::Blobs, content);
        blobs
            .put_bytes(&key, Bytes::copy_from_slice(content))
            .await
            .unwrap();
        assert_eq!(read(&*blobs, &key).await.as_deref(), Some(content));
        let head = blobs.head(&key).await.unwrap().expect("head after put");
        assert_eq!(head.size, content.len() as u64);
    }
}

/// A staged file put with `put_file` reads back exactly, and the backend
/// consumed it: the staged file is gone.
pub async fn put_file_round_trip(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    let content = noise(300_000, 2);
    let key = key_of(Namespace::Blobs, &content);
    let file = staged(fresh, &content);
    let path = file.path().to_owned();
    blobs.put_file(&key, file).await.unwrap();
    assert!(
        !path.exists(),
        "put_file left the staged file {}",
        path.display()
    );
    assert_eq!(read(&*blobs, &key).await, Some(content.clone()));
    assert_eq!(
        blobs.head(&key).await.unwrap().map(|m| m.size),
        Some(content.len() as u64)
    );
}

/// A missing key is `None`, `false` or `Ok`, never an error.
pub async fn missing_keys_are_none(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    for namespace in Namespace::ALL {
        let key = key_of(namespace, b"never stored");
        assert!(blobs.get(&key).await.unwrap().is_none(), "get {key}");
        assert!(blobs.head(&key).await.unwrap().is_none(), "head {key}");
        assert!(!blobs.touch(&key).await.unwrap(), "touch {key}");
        blobs.delete(&key).await.unwrap();
        assert!(listed(&*blobs, namespace).await.is_empty(), "{namespace}");
    }
}

/// Putting a key again, by bytes or by file, leaves one object holding the
/// bytes.
pub async fn puts_are_idempotent(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    let content = noise(70_000, 3);
    let key = key_of(Namespace::Blobs, &content);
    blobs
        .put_bytes(&key, Bytes::from(content.clone()))
        .await
        .unwrap();
    blobs.put_file(&key, staged(fresh, &content)).await.unwrap();
    blobs
        .put_bytes(&key, Bytes::from(content.clone()))
        .await
        .unwrap();
    assert_eq!(read(&*blobs, &key).await, Some(content.clone()));
    let all = listed(&*blobs, Namespace::Blobs).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].key, key);
    assert_eq!(all[0].meta.size, content.len() as u64);
}

/// A delete removes the object from get, head and list; deleting again is fine.
pub async fn deletes_are_idempotent(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    let (kept, gone) = (b"kept".as_slice(), b"gone".as_slice());
    for content in [kept, gone] {
        let key = key_of(Namespace::Blobs, content);
        blobs
            .put_bytes(&key, Bytes::copy_from_slice(content))
            .await
            .unwrap();
    }
    let key = key_of(Namespace::Blobs, gone);
    blobs.delete(&key).await.unwrap();
    assert!(blobs.get(&key).await.unwrap().is_none());
    assert!(blobs.head(&key).await.unwrap().is_none());
    blobs.delete(&key).await.unwrap();
    let all = listed(&*blobs, Namespace::Blobs).await;
    assert_eq!(
        all.iter().map(|l| l.key.clone()).collect::<Vec<_>>(),
        vec![key_of(Namespace::Blobs, kept)]
    );
    assert_eq!(
        read(&*blobs, &key_of(Namespace::Blobs, kept))
            .await
            .as_deref(),
        Some(kept)
    );
}

/// A listing shows every object put in its namespace, with its size and a
/// recent last-modified time, and nothing else.
pub async fn list_sees_puts_with_sizes(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    let before = SystemTime::now() - Duration::from_secs(60);
    let mut expected = Vec::new();
    for (i, namespace) in [Namespace::Blobs, Namespace::Manifests, Namespace::Blobs]
        .into_iter()
        .cycle()
        .take(12)
        .enumerate()
    {
        let content = noise(i * 1000 + 1, 10 + i as u64);
        let key = key_of(namespace, &content);
        if i % 2 == 0 {
            blobs.put_file(&key, staged(fresh, &content)).await.unwrap();
        } else {
            blobs
                .put_bytes(&key, Bytes::from(content.clone()))
                .await
                .unwrap();
        }
        expected.push((key, content.len() as u64));
    }
    expected.sort();
    let mut all = listed(&*blobs, Namespace::Blobs).await;
    all.extend(listed(&*blobs, Namespace::Manifests).await);
    all.sort_by(|a, b| a.key.cmp(&b.key));
    let got: Vec<(BlobKey, u64)> = all.iter().map(|l| (l.key.clone(), l.meta.size)).collect();
    assert_eq!(got, expected);
    let after = SystemTime::now() + Duration::from_secs(60);
    for item in &all {
        assert!(
            item.meta.modified > before && item.meta.modified < after,
            "{}: last modified {:?}",
            item.key,
            item.meta.modified
        );
    }
}

/// The same name in both namespaces is two objects.
pub async fn namespaces_do_not_collide(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    let name = sha256(b"one name");
    let blob = BlobKey::new(Namespace::Blobs, &name).unwrap();
    let manifest = BlobKey::new(Namespace::Manifests, &name).unwrap();
    blobs
        .put_bytes(&blob, Bytes::from_static(b"the blob"))
        .await
        .unwrap();
    blobs
        .put_bytes(&manifest, Bytes::from_static(b"the manifest, longer"))
        .await
        .unwrap();
    assert_eq!(
        read(&*blobs, &blob).await.as_deref(),
        Some(&b"the blob"[..])
    );
    assert_eq!(
        read(&*blobs, &manifest).await.as_deref(),
        Some(&b"the manifest, longer"[..])
    );
    for namespace in Namespace::ALL {
        let all = listed(&*blobs, namespace).await;
        assert_eq!(all.len(), 1, "{namespace}: {all:?}");
        assert_eq!(all[0].key.namespace(), namespace);
    }
    blobs.delete(&blob).await.unwrap();
    assert!(blobs.head(&blob).await.unwrap().is_none());
    assert_eq!(
        blobs.head(&manifest).await.unwrap().map(|m| m.size),
        Some(20)
    );
}

/// Puts of one key racing each other all succeed, and the key holds the
/// bytes, once.
pub async fn concurrent_puts_of_one_key(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    let content = noise(512 * 1024, 4);
    let key = key_of(Namespace::Blobs, &content);
    let mut puts = Vec::new();
    for i in 0..8 {
        let (blobs, key) = (blobs.clone(), key.clone());
        if i % 2 == 0 {
            let file = staged(fresh, &content);
            puts.push(tokio::spawn(
                async move { blobs.put_file(&key, file).await },
            ));
        } else {
            let bytes = Bytes::from(content.clone());
            puts.push(tokio::spawn(
                async move { blobs.put_bytes(&key, bytes).await },
            ));
        }
    }
    for put in puts {
        put.await.unwrap().unwrap();
    }
    assert_eq!(read(&*blobs, &key).await, Some(content));
    assert_eq!(listed(&*blobs, Namespace::Blobs).await.len(), 1);
}

/// While a key is put (and put again with other bytes), a reader sees no
/// object or one of the whole objects, never a part.
pub async fn readers_never_see_part_of_a_put(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    let first = noise(4 * 1024 * 1024, 5);
    let second = noise(4 * 1024 * 1024 + 7, 6);
    let key = key_of(Namespace::Blobs, &first);
    let whole = [sha256(&first), sha256(&second)];
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (blobs, key, done) = (blobs.clone(), key.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::Acquire);
                if let Some(reader) = blobs.get(&key).await.unwrap() {
                    let size = reader.size();
                    let bytes = reader.into_bytes().await.unwrap();
                    assert_eq!(size, bytes.len() as u64, "a reader saw a partial object");
                    assert!(
                        whole.contains(&sha256(&bytes)),
                        "a reader saw {} bytes that are neither put",
                        bytes.len()
                    );
                    seen += 1;
                }
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    blobs.put_file(&key, staged(fresh, &first)).await.unwrap();
    blobs
        .put_bytes(&key, Bytes::from(second.clone()))
        .await
        .unwrap();
    blobs.put_file(&key, staged(fresh, &first)).await.unwrap();
    done.store(true, std::sync::atomic::Ordering::Release);
    let seen = reader.await.unwrap();
    assert!(seen > 0, "the reader never saw the object");
    assert_eq!(read(&*blobs, &key).await, Some(first));
}

/// A blob of several MiB comes back intact, in chunks of at most 1 MiB.
pub async fn large_blob_streams_intact(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    let content = noise(6 * 1024 * 1024 + 123, 7);
    let key = key_of(Namespace::Blobs, &content);
    blobs.put_file(&key, staged(fresh, &content)).await.unwrap();
    let mut reader: BlobReader = blobs.get(&key).await.unwrap().unwrap();
    assert_eq!(reader.size(), content.len() as u64);
    let (mut hasher, mut total, mut chunks, mut largest) = (Sha256::new(), 0usize, 0usize, 0usize);
    while let Some(chunk) = reader.next().await {
        let chunk = chunk.unwrap();
        hasher.update(&chunk);
        total += chunk.len();
        chunks += 1;
        largest = largest.max(chunk.len());
    }
    assert_eq!(total, content.len());
    assert_eq!(hex::encode(hasher.finalize()), key.name());
    assert!(
        chunks > 1 && largest <= 1024 * 1024,
        "{chunks} chunks, the largest of {largest} bytes: not streamed"
    );
}

/// A touch moves an object's last-modified time forward and leaves its
/// bytes alone.
pub async fn touch_refreshes_age(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    let key = key_of(Namespace::Manifests, b"touched");
    blobs
        .put_bytes(&key, Bytes::from_static(b"touched"))
        .await
        .unwrap();
    let before = blobs.head(&key).await.unwrap().unwrap().modified;
    // Object stores keep last-modified times to the second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(blobs.touch(&key).await.unwrap());
    let after = blobs.head(&key).await.unwrap().unwrap().modified;
    assert!(
        after > before,
        "touch did not move {before:?} forward ({after:?})"
    );
    assert_eq!(read(&*blobs, &key).await.as_deref(), Some(&b"touched"[..]));
}

/// Upload, bundle, read back, on this backend.
pub async fn store_round_trip(fresh: &dyn FreshBlobs) {
    let store = store_on(fresh, ArtifactLimits::default());
    let big = noise(3 * 1024 * 1024, 8);
    let chunks: Vec<Vec<u8>> = big.chunks(100_000).map(<[u8]>::to_vec).collect();
    let large = store
        .put_stream(Some("large.bin".into()), body(chunks))
        .await
        .unwrap();
    let small = store
        .put_stream(
            Some("abc.txt".into()),
            body(vec![b"a".to_vec(), b"bc".to_vec()]),
        )
        .await
        .unwrap();
    assert_eq!(small.sha256, sha256(b"abc"));
    assert_eq!(large.sha256, sha256(&big));
    let uri = store
        .put_bundle(vec![large.clone(), small.clone()])
        .await
        .unwrap();
    assert_eq!(store.bundle_len(&uri).await.unwrap(), 2);
    assert_eq!(
        store.manifest(&uri).await.unwrap().artifacts,
        vec![large.clone(), small]
    );
    let (entry, reader) = store.open_artifact(&uri, 0).await.unwrap();
    assert_eq!(entry, large);
    assert_eq!(reader.into_bytes().await.unwrap(), big);
    let (_, reader) = store.open_artifact(&uri, 1).await.unwrap();
    assert_eq!(reader.into_bytes().await.unwrap(), b"abc");
    // The manifest is stored under the sha256 of its bytes.
    let stored = read(&*fresh.blobs(), &BlobKey::manifest(&uri).unwrap())
        .await
        .unwrap();
    assert_eq!(sha256(&stored), uri);
    assert!(staging_files(fresh).is_empty());
    assert_eq!(store.staged_bytes().0, 0);
}

/// The same content uploaded twice is one blob.
pub async fn store_dedups_content(fresh: &dyn FreshBlobs) {
    let store = store_on(fresh, ArtifactLimits::default());
    let content = noise(200_000, 9);
    let a = store
        .put_stream(Some("one".into()), body(vec![content.clone()]))
        .await
        .unwrap();
    let b = store
        .put_stream(
            Some("two".into()),
            body(vec![content[..1].to_vec(), content[1..].to_vec()]),
        )
        .await
        .unwrap();
    assert_eq!(a.sha256, b.sha256);
    assert_eq!((a.filename.as_str(), b.filename.as_str()), ("one", "two"));
    let all = listed(&*fresh.blobs(), Namespace::Blobs).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(staging_files(fresh).is_empty());
    // The same bundle twice is one manifest.
    let uri = store.put_bundle(vec![a.clone(), b.clone()]).await.unwrap();
    assert_eq!(store.put_bundle(vec![a, b]).await.unwrap(), uri);
    assert_eq!(listed(&*fresh.blobs(), Namespace::Manifests).await.len(), 1);
}

/// An upload refused halfway (too large, a broken stream, dropped while
/// staged) leaves nothing in the backend or the staging directory.
pub async fn store_refused_uploads_leave_nothing(fresh: &dyn FreshBlobs) {
    let limits = ArtifactLimits {
        max_size: 10,
        ..ArtifactLimits::default()
    };
    let store = store_on(fresh, limits);
    let err = store
        .put_stream(
            Some("a.exe".into()),
            body(vec![b"123456".to_vec(), b"78901".to_vec()]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ArtifactError::TooLarge { max: 10, .. }),
        "{err:?}"
    );

    let broken = futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "gone",
        )),
    ]);
    let err = store.put_stream(None, broken).await.unwrap_err();
    assert!(matches!(err, ArtifactError::Upload(_)), "{err:?}");

    let staged = store
        .stage(None, body(vec![b"staged".to_vec()]))
        .await
        .unwrap();
    assert_eq!(store.staged_bytes().0, 6);
    drop(staged);

    assert!(listed(&*fresh.blobs(), Namespace::Blobs).await.is_empty());
    assert!(listed(&*fresh.blobs(), Namespace::Manifests)
        .await
        .is_empty());
    assert!(
        staging_files(fresh).is_empty(),
        "{:?}",
        staging_files(fresh)
    );
    assert_eq!(store.staged_bytes().0, 0);
}

/// A bundle needs its blobs at their sizes; a manifest or blob whose bytes
/// do not match its name or entry is reported, not served.
pub async fn store_checks_manifest_integrity(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    let store = store_on(fresh, ArtifactLimits::default());
    let stored = put(&store, b"abc").await;

    let mut missing = stored.clone();
    missing.sha256 = sha256(b"never uploaded");
    let err = store
        .put_bundle(vec![stored.clone(), missing])
        .await
        .unwrap_err();
    assert!(matches!(err, ArtifactError::BlobNotFound { .. }), "{err:?}");
    let mut wrong_size = stored.clone();
    wrong_size.size = 4;
    let err = store.put_bundle(vec![wrong_size]).await.unwrap_err();
    assert!(
        matches!(err, ArtifactError::InvalidEntry { index: 0, .. }),
        "{err:?}"
    );
    assert!(listed(&*blobs, Namespace::Manifests).await.is_empty());

    let uri = store.put_bundle(vec![stored.clone()]).await.unwrap();
    let absent = sha256(b"no such bundle");
    assert!(matches!(
        store.manifest(&absent).await,
        Err(ArtifactError::NotFound { .. })
    ));
    assert!(matches!(
        store.manifest("../../etc/passwd").await,
        Err(ArtifactError::BadUri { .. })
    ));

    // A manifest whose bytes are not its name, read by a store that has
    // not cached it (another node, or this one restarted).
    let manifest_key = BlobKey::manifest(&uri).unwrap();
    blobs
        .put_bytes(&manifest_key, Bytes::from_static(b"{\"artifacts\":[]}"))
        .await
        .unwrap();
    assert_eq!(store.manifest(&uri).await.unwrap().artifacts.len(), 1);
    let store = store_on(fresh, ArtifactLimits::default());
    let err = store.manifest(&uri).await.unwrap_err();
    assert!(matches!(err, ArtifactError::Corrupt { .. }), "{err:?}");
    assert!(!err.is_client_error());

    // A blob whose size is not its entry's (the bundle made again).
    blobs.delete(&manifest_key).await.unwrap();
    assert_eq!(store.put_bundle(vec![stored.clone()]).await.unwrap(), uri);
    assert_eq!(store.entry(&uri, 0).await.unwrap(), stored);
    blobs
        .put_bytes(
            &BlobKey::blob(&stored.sha256).unwrap(),
            Bytes::from_static(b"abcd"),
        )
        .await
        .unwrap();
    let err = store.open_artifact(&uri, 0).await.unwrap_err();
    assert!(matches!(err, ArtifactError::Corrupt { .. }), "{err:?}");
}

/// Garbage collection keeps what is recent or referenced, and deletes
/// unreferenced bundles and the blobs only they listed.
pub async fn store_gc_keeps_referenced(fresh: &dyn FreshBlobs) {
    let blobs = fresh.blobs();
    let store = store_on(fresh, ArtifactLimits::default());
    let shared = put(&store, b"shared").await;
    let kept_only = put(&store, b"kept").await;
    let dropped_only = put(&store, b"dropped").await;
    let loose = put(&store, b"loose").await;
    let kept = store
        .put_bundle(vec![shared.clone(), kept_only.clone()])
        .await
        .unwrap();
    let dropped = store
        .put_bundle(vec![shared.clone(), dropped_only.clone()])
        .await
        .unwrap();
    let referenced = |uri: &str| uri == kept;

    // Everything is younger than an hour: nothing goes.
    let stats = store
        .collect_garbage(&referenced, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(stats, GcStats::default());

    // Everything is at least zero old: what nothing references goes.
    let stats = store
        .collect_garbage(&referenced, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(stats.manifests_deleted, 1);
    assert_eq!(stats.blobs_deleted, 2, "dropped + loose");
    assert_eq!(stats.bytes_freed, 7 + 5);
    let head = |sha: String| {
        let blobs = blobs.clone();
        async move {
            blobs
                .head(&BlobKey::blob(&sha).unwrap())
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(head(shared.sha256).await);
    assert!(head(kept_only.sha256).await);
    assert!(!head(dropped_only.sha256).await);
    assert!(!head(loose.sha256).await);
    assert!(store.open_artifact(&kept, 1).await.is_ok());
    assert!(matches!(
        store.manifest(&dropped).await,
        Err(ArtifactError::NotFound { .. })
    ));
    assert!(matches!(
        store.bundle_len(&dropped).await,
        Err(ArtifactError::NotFound { .. })
    ));
}
