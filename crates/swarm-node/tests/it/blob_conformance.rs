//! The blob store conformance suite against every backend: the local
//! directory (the node's default) in a temporary directory, memory, and an
//! S3-compatible object store (a private `moto_server` per check, a fresh
//! bucket, a key prefix). Each run also checks the artifact store's
//! behaviour on top of the backend.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use swarm_node::artifacts::conformance::FreshBlobs;
use swarm_node::test_utils::LocalS3;
use swarm_node::{BlobStore, LocalBlobs, MemoryBlobs, S3Blobs};

/// A fresh local directory; uploads are staged in its `tmp/`, as a node does.
struct Local {
    dir: tempfile::TempDir,
    blobs: Arc<LocalBlobs>,
}

impl FreshBlobs for Local {
    fn blobs(&self) -> Arc<dyn BlobStore> {
        self.blobs.clone()
    }

    fn staging_dir(&self) -> PathBuf {
        self.blobs.tmp_dir().to_owned()
    }
}

async fn fresh_local() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(LocalBlobs::open(dir.path().join("artifacts")).unwrap());
    Local { dir, blobs }
}

/// An empty memory store, with uploads staged in a temporary directory.
struct Memory {
    staging: tempfile::TempDir,
    blobs: Arc<MemoryBlobs>,
}

impl FreshBlobs for Memory {
    fn blobs(&self) -> Arc<dyn BlobStore> {
        self.blobs.clone()
    }

    fn staging_dir(&self) -> PathBuf {
        self.staging.path().join("staging")
    }
}

async fn fresh_memory() -> Memory {
    Memory {
        staging: tempfile::tempdir().unwrap(),
        blobs: Arc::new(MemoryBlobs::new()),
    }
}

/// A fresh bucket on a private S3-compatible server, under a prefix, with
/// uploads staged in a temporary directory.
struct S3 {
    server: LocalS3,
    staging: tempfile::TempDir,
    blobs: Arc<S3Blobs>,
}

impl FreshBlobs for S3 {
    fn blobs(&self) -> Arc<dyn BlobStore> {
        self.blobs.clone()
    }

    fn staging_dir(&self) -> PathBuf {
        self.staging.path().join("staging")
    }
}

async fn fresh_s3() -> S3 {
    let server = LocalS3::start().await.unwrap();
    let config = server.fresh_bucket("swarm/artifacts").await.unwrap();
    let blobs = Arc::new(S3Blobs::connect(config).await.unwrap());
    S3 {
        server,
        staging: tempfile::tempdir().unwrap(),
        blobs,
    }
}

mod s3 {
    use super::fresh_s3;
    swarm_node::blob_store_conformance_tests!(fresh_s3);
}

mod local {
    use super::fresh_local;
    swarm_node::blob_store_conformance_tests!(fresh_local);
}

mod memory {
    use super::fresh_memory;
    swarm_node::blob_store_conformance_tests!(fresh_memory);
}

/// The local backend keeps the layout of the directories nodes already
/// have, so a node upgraded in place serves what it stored before.
#[tokio::test]
async fn local_layout_is_unchanged() {
    let fresh = fresh_local().await;
    let store = swarm_node::ArtifactStore::with_blobs(
        fresh.blobs(),
        fresh.staging_dir(),
        swarm_node::ArtifactLimits::default(),
    )
    .unwrap();
    let entry = store
        .put_stream(
            None,
            futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
                b"abc",
            ))]),
        )
        .await
        .unwrap();
    let uri = store.put_bundle(vec![entry]).await.unwrap();
    let root = fresh.dir.path().join("artifacts");
    assert!(root
        .join("blobs/ba/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        .is_file());
    assert!(root.join("manifests").join(format!("{uri}.json")).is_file());
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
}

/// A staged file larger than a multipart part is uploaded in parts and
/// reads back whole; an upload to a store that stops answering fails
/// within the timeout and leaves no object behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_uploads_in_parts_and_a_failed_upload_leaves_nothing() {
    use futures_util::TryStreamExt;
    use sha2::Digest;
    use swarm_node::artifacts::conformance::FreshBlobs as _;
    use swarm_node::artifacts::{BlobKey, Namespace, StagedFile};

    let staged = |fresh: &S3, bytes: &[u8]| {
        use std::io::Write as _;
        std::fs::create_dir_all(fresh.staging_dir()).unwrap();
        let mut file = tempfile::NamedTempFile::new_in(fresh.staging_dir()).unwrap();
        file.write_all(bytes).unwrap();
        StagedFile::new(file.into_temp_path(), bytes.len() as u64)
    };
    let fresh = fresh_s3().await;
    let blobs = fresh.blobs();
    let content: Vec<u8> = (0..swarm_node::artifacts::MULTIPART_PART * 2 + 12_345)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let key = BlobKey::blob(&hex::encode(sha2::Sha256::digest(&content))).unwrap();
    blobs
        .put_file(&key, staged(&fresh, &content))
        .await
        .unwrap();
    let back = blobs.get(&key).await.unwrap().unwrap();
    assert_eq!(back.size(), content.len() as u64);
    let back = back.into_bytes().await.unwrap();
    assert!(
        back == content,
        "the multipart upload did not read back whole"
    );

    let other: Vec<u8> = content.iter().map(|b| b ^ 0x5a).collect();
    let other_key = BlobKey::blob(&hex::encode(sha2::Sha256::digest(&other))).unwrap();
    let file = staged(&fresh, &other);
    fresh.server.pause().unwrap();
    let started = std::time::Instant::now();
    let err = blobs.put_file(&other_key, file).await.unwrap_err();
    assert_eq!(err.code(), "blob_backend", "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    fresh.server.resume().unwrap();
    assert!(blobs.head(&other_key).await.unwrap().is_none());
    let listed: Vec<_> = blobs.list(Namespace::Blobs).try_collect().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
}
