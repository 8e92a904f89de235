//! The wine engine with a real Wine: a Windows console scanner (the test
//! scanner, built here with MinGW-w64) run on artifacts — verdicts from its
//! JSON line and its exit status, timeouts that kill only the hanging scan,
//! and setup's refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use swarm_engines::test_scanner::{self, Toolchain};
use swarm_engines::wine::prefix::READY_MARKER;
use swarm_engines::{Wine, WineConfig, WineError, EICAR};
use swarm_protocol::{ArtifactMetadata, Guid};
use swarm_sdk::{Artifact, ArtifactKind, ScanError, Scanner, Verdict};

use crate::support;

fn artifact(content: impl Into<Bytes>) -> Artifact {
    Artifact {
        bounty_guid: Guid::nil(),
        index: 0,
        kind: ArtifactKind::File,
        content: content.into(),
        file: None,
        metadata: ArtifactMetadata::default(),
        deadline: None,
    }
}

/// The test scanner under Wine in the shared prefix, `timeout` per scan.
fn engine(timeout: Duration) -> Wine {
    let mut config = WineConfig::new(
        support::scanner(Toolchain::MingwW64),
        support::wine_prefix(),
    );
    config.timeout = timeout;
    Wine::new(config)
}

#[tokio::test]
async fn a_windows_scanner_under_wine_gives_verdicts() {
    let wine = engine(Duration::from_secs(60));
    // Setup makes the shared prefix (the first test of a fresh checkout
    // runs wineboot here) and checks its Z: drive.
    wine.setup().await.unwrap();
    let prefix = support::wine_prefix();
    assert!(prefix.join(READY_MARKER).is_file());
    assert_eq!(
        std::fs::read_link(prefix.join("dosdevices/z:")).unwrap(),
        std::path::Path::new("/")
    );

    // The JSON line decides: EICAR with its family.
    let r = wine.scan(&artifact(&EICAR[..])).await.unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(r.confidence, 1.0);
    // The scanner's name normalized, and kept.
    assert_eq!(r.metadata.malware_family, swarm_sdk::family::EICAR);
    assert_eq!(r.metadata.extra["raw_family"], test_scanner::FAMILY);
    // EICAR inside a larger file: the scanner really read the file.
    let mut padded = vec![b'.'; 100_000];
    padded.extend_from_slice(EICAR);
    let r = wine.scan(&artifact(padded)).await.unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
    // Without a JSON line, the exit status: 1 malicious, 0 benign.
    let r = wine
        .scan(&artifact(&b"xx MALICIOUS-BY-EXIT xx"[..]))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(r.metadata.malware_family, "");
    let r = wine.scan(&artifact(&b"a clean file\n"[..])).await.unwrap();
    assert_eq!(r.verdict, Verdict::Benign);
    assert_eq!(r.confidence, 1.0);
    // An empty artifact is a file too.
    let r = wine.scan(&artifact(Vec::new())).await.unwrap();
    assert_eq!(r.verdict, Verdict::Benign);
}

#[tokio::test]
async fn a_first_scan_without_setup_prepares_the_prefix_itself() {
    let wine = engine(Duration::from_secs(60));
    let r = wine.scan(&artifact(&EICAR[..])).await.unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
}

#[tokio::test]
async fn a_hanging_scan_times_out_and_the_next_scan_works() {
    let timeout = Duration::from_secs(3);
    let wine = engine(timeout);
    wine.setup().await.unwrap();
    let started = Instant::now();
    let e = wine.scan(&artifact(test_scanner::HANG)).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, ScanError::Timeout(t) if t == timeout), "{e}");
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(3),
        "timed out after {took:?}"
    );
    // The wineserver was left alone: the same engine scans again at once.
    let started = Instant::now();
    let r = wine.scan(&artifact(&EICAR[..])).await.unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
    assert!(started.elapsed() < timeout, "{:?}", started.elapsed());
    let r = wine.scan(&artifact(&b"clean"[..])).await.unwrap();
    assert_eq!(r.verdict, Verdict::Benign);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_hanging_scan_leaves_the_other_scans_alone() {
    let hanging = engine(Duration::from_secs(3));
    let steady = std::sync::Arc::new(engine(Duration::from_secs(60)));
    hanging.setup().await.unwrap();
    steady.setup().await.unwrap();
    // Scans keep running before, during and after the hanging one is
    // killed, each on its own task.
    let started = Instant::now();
    let mut others = tokio::task::JoinSet::new();
    for i in 0..12u64 {
        let steady = std::sync::Arc::clone(&steady);
        others.spawn(async move {
            tokio::time::sleep(Duration::from_millis(500 * i)).await;
            let (content, want): (&[u8], Verdict) = if i % 2 == 0 {
                (EICAR, Verdict::Malicious)
            } else {
                (b"nothing here", Verdict::Benign)
            };
            let r = steady.scan(&artifact(content)).await;
            (i, want, r)
        });
    }
    let e = hanging
        .scan(&artifact(test_scanner::HANG))
        .await
        .unwrap_err();
    assert!(matches!(e, ScanError::Timeout(_)), "{e}");
    let killed_at = started.elapsed();
    let mut after_kill = 0;
    while let Some(joined) = others.join_next().await {
        let (i, want, r) = joined.unwrap();
        let r = r.unwrap_or_else(|e| panic!("scan {i} failed beside the hanging one: {e}"));
        assert_eq!(r.verdict, want, "scan {i}");
        if Duration::from_millis(500 * i) > killed_at {
            after_kill += 1;
        }
    }
    assert!(after_kill > 0, "some scans started after the kill");
}

#[tokio::test]
async fn setup_refuses_a_missing_scanner_by_name() {
    let missing = support::wine_prefix().with_file_name("no-such-scanner.exe");
    let wine = Wine::new(WineConfig::new(&missing, support::wine_prefix()));
    let e = wine.prepare().await.unwrap_err();
    assert!(matches!(e, WineError::ExeMissing { .. }), "{e}");
    assert_eq!(e.code(), "wine_exe_missing");
    assert!(e.to_string().contains("no-such-scanner.exe"), "{e}");
    // Through the Scanner trait: unavailable, no assertion.
    let e = wine.setup().await.unwrap_err();
    assert!(matches!(e, ScanError::Unavailable(_)), "{e}");
    assert!(e.to_string().contains("wine_exe_missing"), "{e}");
    let e = wine.scan(&artifact(&EICAR[..])).await.unwrap_err();
    assert!(matches!(e, ScanError::Unavailable(_)), "{e}");
}

#[tokio::test]
async fn setup_refuses_a_prefix_without_a_z_drive() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    // A prefix that says it is ready, but whose Z: is not /.
    std::fs::create_dir_all(prefix.join("dosdevices")).unwrap();
    std::fs::write(prefix.join(READY_MARKER), "").unwrap();
    std::os::unix::fs::symlink("/nonexistent", prefix.join("dosdevices/z:")).unwrap();
    let wine = Wine::new(WineConfig::new(
        support::scanner(Toolchain::MingwW64),
        &prefix,
    ));
    let e = wine.prepare().await.unwrap_err();
    // prepare started a wineserver for this prefix: stop it (ours alone).
    let _ = std::process::Command::new("wineserver")
        .arg("-k")
        .env("WINEPREFIX", &prefix)
        .status();
    assert!(matches!(e, WineError::NoZDrive { .. }), "{e}");
    assert_eq!(e.code(), "wine_no_z_drive");
    let text = e.to_string();
    assert!(
        text.contains("dosdevices/z: points to /nonexistent"),
        "{text}"
    );
}
