//! The artifact store's own tests, on the local directory: its on-disk
//! layout, limits, errors and garbage collection by file age. What every
//! backend must do is in the conformance suite (`conformance.rs`).

use super::*;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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

async fn read_all(reader: BlobReader) -> Vec<u8> {
    reader.into_bytes().await.unwrap()
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
        // Read by a store that has not cached it: the node restarted.
        let store = open_store(dir.path());
        let err = store.manifest(&uri).await.unwrap_err();
        assert!(matches!(err, ArtifactError::Corrupt { .. }), "{err:?}");
        assert!(!err.is_client_error());
    });
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
fn a_staging_directory_handed_in_loses_only_upload_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("upload-crashed"), b"half").unwrap();
    std::fs::write(staging.join("someone-elses"), b"keep").unwrap();
    let blobs: Arc<dyn BlobStore> = Arc::new(MemoryBlobs::new());
    let store = ArtifactStore::with_blobs(blobs, &staging, ArtifactLimits::default()).unwrap();
    assert_eq!(store.staging_dir(), staging);
    assert_eq!(files_under(&staging), vec![staging.join("someone-elses")]);
}

#[test]
fn mimetypes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let png: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R', 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
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
}
