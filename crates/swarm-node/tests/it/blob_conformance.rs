//! The blob store conformance suite against both backends: the local
//! directory (the node's default) in a temporary directory, and memory.
//! Each run also checks the artifact store's behaviour on top of the backend.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use swarm_node::artifacts::conformance::FreshBlobs;
use swarm_node::{BlobStore, LocalBlobs, MemoryBlobs};

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
