//! The clamav engine against a real clamd, started by each test with its
//! own signature database (see `swarm_engines::local_clamd`).
//!
//! These tests need Debian's `clamav-daemon` and `clamav-testfiles`
//! (`scripts/test` installs them); without them they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use swarm_engines::local_clamd::{CLAM_SIGNATURE, EICAR_SIGNATURE, TESTFILES_DIR};
use swarm_engines::{
    Clamav, ClamavConfig, ClamdAddress, ClamdError, ClamdReply, LocalClamd, LocalClamdOptions,
    EICAR,
};
use swarm_protocol::{ArtifactMetadata, Guid};
use swarm_sdk::{Artifact, ArtifactKind, ScanError, Scanner, Verdict};

fn artifact(content: impl Into<Bytes>) -> Artifact {
    Artifact {
        bounty_guid: Guid::nil(),
        index: 0,
        kind: ArtifactKind::File,
        content: content.into(),
        metadata: ArtifactMetadata::default(),
        deadline: None,
    }
}

fn client(address: ClamdAddress) -> Clamav {
    Clamav::new(ClamavConfig {
        timeout: Duration::from_secs(20),
        ..ClamavConfig::new(address)
    })
}

fn testfile(name: &str) -> Vec<u8> {
    std::fs::read(format!("{TESTFILES_DIR}/{name}"))
        .unwrap_or_else(|e| panic!("{TESTFILES_DIR}/{name}: {e} (install clamav-testfiles)"))
}

#[tokio::test]
async fn verdicts_over_tcp_and_unix_socket() {
    let clamd = LocalClamd::start().await.expect("start clamd");
    for address in [clamd.tcp_address(), clamd.unix_address()] {
        let clamav = client(address.clone());
        clamav.setup().await.unwrap();

        let r = clamav.scan(&artifact(EICAR.as_slice())).await.unwrap();
        assert_eq!(r.verdict, Verdict::Malicious, "{address}");
        assert_eq!(r.confidence, 1.0);
        // The family normalized, the signature name kept.
        assert_eq!(r.metadata.malware_family, "eicar");
        assert_eq!(r.metadata.extra["raw_family"], EICAR_SIGNATURE);
        let scanner = r.metadata.scanner.clone().unwrap();
        let vendor = scanner.vendor_version.unwrap();
        assert!(vendor.starts_with("ClamAV 1."), "{vendor}");
        assert_eq!(r.metadata.product.as_deref(), Some("ClamAV"));

        let r = clamav
            .scan(&artifact(&b"just an ordinary text file\n"[..]))
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Benign);
        assert_eq!(r.metadata.malware_family, "");
        assert!(r.confidence > 0.0 && r.confidence < 1.0);

        // An empty file is a valid stream.
        let r = clamav.scan(&artifact(Bytes::new())).await.unwrap();
        assert_eq!(r.verdict, Verdict::Benign);
    }
}

#[tokio::test]
async fn clam_exe_is_found_inside_archives() {
    let clamd = LocalClamd::start().await.expect("start clamd");
    // Small chunks: every file crosses many chunk boundaries.
    let clamav = Clamav::new(ClamavConfig {
        chunk_size: 100,
        ..ClamavConfig::new(clamd.tcp_address())
    });
    for name in ["clam.exe", "clam.zip", "clam.7z", "clam.tar.gz"] {
        let r = clamav.scan(&artifact(testfile(name))).await.unwrap();
        assert_eq!(r.verdict, Verdict::Malicious, "{name}");
        assert_eq!(r.metadata.malware_family, "clamav-test", "{name}");
        assert_eq!(r.metadata.extra["raw_family"], CLAM_SIGNATURE, "{name}");
    }
    // The same bytes streamed from the file.
    let file = tokio::fs::File::open(format!("{TESTFILES_DIR}/clam.zip"))
        .await
        .unwrap();
    assert_eq!(
        clamav.scan_reader(file).await.unwrap(),
        ClamdReply::Found(CLAM_SIGNATURE.into())
    );
}

#[tokio::test]
async fn many_scans_at_once_share_a_bounded_number_of_connections() {
    let clamd = LocalClamd::start().await.expect("start clamd");
    let clamav = std::sync::Arc::new(Clamav::new(ClamavConfig {
        max_connections: 3,
        ..ClamavConfig::new(clamd.unix_address())
    }));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40usize {
        let clamav = clamav.clone();
        tasks.spawn(async move {
            let content = if i % 4 == 0 {
                Bytes::from_static(EICAR)
            } else {
                Bytes::from(vec![b'a' + (i % 26) as u8; 100_000 + i])
            };
            (i, clamav.scan(&artifact(content)).await.unwrap().verdict)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (i, verdict) = done.unwrap();
        let expected = if i % 4 == 0 {
            Verdict::Malicious
        } else {
            Verdict::Benign
        };
        assert_eq!(verdict, expected, "scan {i}");
    }
}

#[tokio::test]
async fn stream_max_length_is_a_scan_error() {
    let clamd = LocalClamd::start_with(LocalClamdOptions {
        stream_max_length: 1 << 20,
        ..Default::default()
    })
    .await
    .expect("start clamd");
    let clamav = client(clamd.tcp_address());
    let big = Bytes::from(vec![0u8; 4 << 20]);
    let e = clamav.scan_bytes(&big).await.unwrap_err();
    assert!(matches!(e, ClamdError::SizeLimit(_)), "{e}");
    let e = clamav.scan(&artifact(big)).await.unwrap_err();
    assert!(matches!(e, ScanError::Artifact(_)), "{e}");
    // The daemon is fine afterwards.
    let r = clamav.scan(&artifact(EICAR.as_slice())).await.unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
}

#[tokio::test]
async fn stopped_clamd_gives_errors_and_a_restarted_one_scans_again() {
    let mut clamd = LocalClamd::start().await.expect("start clamd");
    for address in [clamd.tcp_address(), clamd.unix_address()] {
        let clamav = client(address.clone());
        assert_eq!(
            clamav
                .scan(&artifact(EICAR.as_slice()))
                .await
                .unwrap()
                .verdict,
            Verdict::Malicious
        );

        clamd.stop().await;
        for content in [&EICAR[..], b"benign"] {
            let e = clamav.scan(&artifact(content)).await.unwrap_err();
            assert!(matches!(e, ScanError::Unavailable(_)), "{address}: {e}");
        }
        assert!(clamav.setup().await.is_err());

        clamd.restart().await.expect("restart clamd");
        // The same client, no setup call: the next scan just connects.
        let r = clamav.scan(&artifact(EICAR.as_slice())).await.unwrap();
        assert_eq!(r.verdict, Verdict::Malicious, "{address}");
        assert!(r.metadata.scanner.unwrap().vendor_version.is_some());
        assert_eq!(
            clamav
                .scan(&artifact(&b"benign"[..]))
                .await
                .unwrap()
                .verdict,
            Verdict::Benign
        );
    }
}

#[tokio::test]
async fn a_silent_daemon_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let clamav = Clamav::new(ClamavConfig {
        timeout: Duration::from_millis(300),
        ..ClamavConfig::new(ClamdAddress::Tcp {
            host: "127.0.0.1".into(),
            port,
        })
    });
    let e = clamav.scan(&artifact(EICAR.as_slice())).await.unwrap_err();
    assert!(matches!(e, ScanError::Timeout(_)), "{e}");
}
