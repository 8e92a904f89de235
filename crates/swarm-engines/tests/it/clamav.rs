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
    Transfer, EICAR,
};
use swarm_protocol::{ArtifactMetadata, Guid};
use swarm_sdk::{Artifact, ArtifactKind, ScanError, Scanner, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// clamd's log, read until it holds `needle` (clamd writes it as it
/// answers, but a few milliseconds may pass).
async fn log_with(clamd: &LocalClamd, needle: &str) -> String {
    for _ in 0..100 {
        let log = std::fs::read_to_string(clamd.log_file()).unwrap_or_default();
        if log.contains(needle) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "clamd's log never showed {needle:?}:\n{}",
        std::fs::read_to_string(clamd.log_file()).unwrap_or_default()
    );
}

#[tokio::test]
async fn fd_passing_and_instream_give_the_same_verdicts_on_eicar_and_clean_files() {
    let clamd = LocalClamd::start().await.expect("start clamd");
    let clamav = client(clamd.unix_address());
    assert_eq!(clamav.transfer(), Transfer::FdPassing);
    let mut random = vec![0u8; 3 << 20];
    for (i, b) in random.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    // EICAR in the middle of 3 MiB: across the memory file's 1 MiB pieces.
    let mut buried = random.clone();
    buried[(1 << 20) - 20..(1 << 20) - 20 + EICAR.len()].copy_from_slice(EICAR);
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("eicar", EICAR.to_vec(), Some(EICAR_SIGNATURE)),
        ("text", b"just an ordinary text file\n".to_vec(), None),
        ("empty", Vec::new(), None),
        ("random 3 MiB", random, None),
        ("eicar inside 3 MiB", buried, Some(EICAR_SIGNATURE)),
        ("clam.exe", testfile("clam.exe"), Some(CLAM_SIGNATURE)),
        ("clam.zip", testfile("clam.zip"), Some(CLAM_SIGNATURE)),
    ];
    for (name, content, expected) in &cases {
        let passed = clamav
            .scan_bytes_with(Transfer::FdPassing, content)
            .await
            .unwrap_or_else(|e| panic!("{name}: FILDES: {e}"));
        let streamed = clamav
            .scan_bytes_with(Transfer::Instream, content)
            .await
            .unwrap_or_else(|e| panic!("{name}: INSTREAM: {e}"));
        assert_eq!(passed, streamed, "{name}");
        let expected = match expected {
            Some(signature) => ClamdReply::Found((*signature).to_owned()),
            None => ClamdReply::Clean,
        };
        assert_eq!(passed, expected, "{name}");
    }
    // clamd really scanned a memory file: it logs the descriptor's path.
    let log = log_with(&clamd, "/memfd:swarm-artifact").await;
    assert!(
        log.lines()
            .any(|l| l.contains("/memfd:swarm-artifact") && l.contains(EICAR_SIGNATURE)),
        "{log}"
    );
    // The engine's own scans kept passing descriptors.
    assert_eq!(clamav.transfer(), Transfer::FdPassing);
}

#[tokio::test]
async fn scans_over_tcp_stream_with_instream_and_fd_passing_there_is_a_clear_error() {
    let clamd = LocalClamd::start().await.expect("start clamd");
    let clamav = client(clamd.tcp_address());
    assert_eq!(clamav.transfer(), Transfer::Instream);
    let r = clamav.scan(&artifact(EICAR.as_slice())).await.unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
    log_with(&clamd, "instream(127.0.0.1@").await;
    // Asked for explicitly, FILDES over TCP fails at once rather than
    // leaving clamd waiting for a descriptor that cannot come.
    let started = std::time::Instant::now();
    let e = clamav
        .scan_bytes_with(Transfer::FdPassing, EICAR)
        .await
        .unwrap_err();
    assert!(matches!(e, ClamdError::FdPassingUnavailable(_)), "{e}");
    assert_eq!(e.code(), "clamd_fd_passing_unavailable");
    assert!(started.elapsed() < Duration::from_secs(1));
    // Turned off in the configuration, a Unix socket streams too.
    let streaming = Clamav::new(ClamavConfig {
        fd_passing: false,
        ..ClamavConfig::new(clamd.unix_address())
    });
    assert_eq!(streaming.transfer(), Transfer::Instream);
    assert_eq!(
        streaming.scan_bytes(EICAR).await.unwrap(),
        ClamdReply::Found(EICAR_SIGNATURE.into())
    );
}

#[tokio::test]
async fn passed_descriptors_are_bound_by_clamds_file_limits_not_stream_max_length() {
    let clamd = LocalClamd::start_with(LocalClamdOptions {
        stream_max_length: 1 << 20,
        ..Default::default()
    })
    .await
    .expect("start clamd");
    let clamav = client(clamd.unix_address());
    let mut big = vec![0u8; 4 << 20];
    big[3 << 20..(3 << 20) + EICAR.len()].copy_from_slice(EICAR);
    assert_eq!(
        clamav.scan_bytes(&big).await.unwrap(),
        ClamdReply::Found(EICAR_SIGNATURE.into())
    );
    let e = clamav
        .scan_bytes_with(Transfer::Instream, &big)
        .await
        .unwrap_err();
    assert!(matches!(e, ClamdError::SizeLimit(_)), "{e}");
    assert_eq!(clamav.transfer(), Transfer::FdPassing);
}

/// What a fake clamd on a Unix socket does with each connection.
#[derive(Clone, Copy)]
enum Fake {
    /// Answers FILDES with an ERROR, INSTREAM with a detection.
    RefusesFildes,
    /// Reads the command and closes without a word.
    Hangs,
    /// Refuses every scan with an ERROR.
    RefusesAll,
}

/// A fake clamd; counts the FILDES commands it received.
async fn fake_clamd(
    behaviour: Fake,
) -> (
    tempfile::TempDir,
    ClamdAddress,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clamd.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let fildes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = fildes.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                // The command, up to its NUL (ancillary data is dropped by
                // a plain read).
                let mut command = Vec::new();
                let mut byte = [0u8; 1];
                while socket.read_exact(&mut byte).await.is_ok() && byte[0] != 0 {
                    command.push(byte[0]);
                }
                let reply: &[u8] = match (behaviour, command.as_slice()) {
                    (Fake::Hangs, _) => return,
                    (_, b"zFILDES") => {
                        // The extra byte that came with the descriptor.
                        let _ = socket.read_exact(&mut byte).await;
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        b"FILDES support not compiled in. ERROR\0"
                    }
                    (Fake::RefusesFildes, b"zINSTREAM") => {
                        loop {
                            let mut len = [0u8; 4];
                            if socket.read_exact(&mut len).await.is_err() {
                                return;
                            }
                            let len = u32::from_be_bytes(len) as usize;
                            if len == 0 {
                                break;
                            }
                            let mut chunk = vec![0u8; len];
                            if socket.read_exact(&mut chunk).await.is_err() {
                                return;
                            }
                        }
                        b"stream: Fake.Signature FOUND\0"
                    }
                    (Fake::RefusesAll, b"zINSTREAM") => b"stream: Can't allocate memory ERROR\0",
                    _ => b"UNKNOWN COMMAND\0",
                };
                let _ = socket.write_all(reply).await;
            });
        }
    });
    (dir, ClamdAddress::Unix(path), fildes)
}

#[tokio::test]
async fn an_artifact_in_a_memory_file_is_scanned_through_its_own_descriptor() {
    let clamd = LocalClamd::start().await.expect("start clamd");
    // Only where descriptors can go does the engine ask for memory files.
    assert!(!client(clamd.tcp_address()).wants_memory_file());
    let clamav = client(clamd.unix_address());
    assert!(clamav.wants_memory_file());
    let cases: Vec<(&str, Vec<u8>, Verdict)> = vec![
        ("eicar", EICAR.to_vec(), Verdict::Malicious),
        ("text", b"an ordinary text file\n".to_vec(), Verdict::Benign),
        ("empty", Vec::new(), Verdict::Benign),
        ("clam.zip", testfile("clam.zip"), Verdict::Malicious),
    ];
    for (name, content, expected) in cases {
        let artifact = Artifact::read_file(&mut std::io::Cursor::new(content)).unwrap();
        assert!(artifact.file.is_some());
        let r = clamav.scan(&artifact).await.unwrap();
        assert_eq!(r.verdict, expected, "{name}");
    }
    assert_eq!(clamav.transfer(), Transfer::FdPassing);

    // A file on disk goes by its own descriptor too: clamd names the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eicar-on-disk.com");
    std::fs::write(&path, EICAR).unwrap();
    let reply = clamav
        .scan_file(&std::fs::File::open(&path).unwrap())
        .await
        .unwrap();
    assert_eq!(reply, ClamdReply::Found(EICAR_SIGNATURE.to_owned()));
    let log = log_with(&clamd, "eicar-on-disk.com").await;
    assert!(
        log.lines()
            .any(|l| l.contains("eicar-on-disk.com") && l.contains(EICAR_SIGNATURE)),
        "{log}"
    );
    // Over TCP no descriptor reaches clamd: a clear error, not a verdict.
    let over_tcp = client(clamd.tcp_address())
        .scan_file(&std::fs::File::open(&path).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(over_tcp, ClamdError::FdPassingUnavailable(_)),
        "{over_tcp}"
    );
}

#[tokio::test]
async fn a_refused_descriptor_of_a_memory_file_falls_back_to_streaming_its_bytes() {
    let (_dir, address, fildes) = fake_clamd(Fake::RefusesFildes).await;
    let clamav = client(address);
    let artifact = Artifact::read_file(&mut EICAR.as_slice()).unwrap();
    for _ in 0..2 {
        let r = clamav.scan(&artifact).await.unwrap();
        assert_eq!(r.verdict, Verdict::Malicious);
        assert_eq!(r.metadata.extra["raw_family"], "Fake.Signature");
    }
    assert_eq!(fildes.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(clamav.transfer(), Transfer::Instream);
    assert!(!clamav.wants_memory_file());
}

#[tokio::test]
async fn refused_fd_passing_falls_back_to_instream_and_stays_there() {
    let (_dir, address, fildes) = fake_clamd(Fake::RefusesFildes).await;
    let clamav = client(address);
    assert_eq!(clamav.transfer(), Transfer::FdPassing);
    for _ in 0..3 {
        let r = clamav.scan(&artifact(EICAR.as_slice())).await.unwrap();
        assert_eq!(r.verdict, Verdict::Malicious);
        assert_eq!(r.metadata.extra["raw_family"], "Fake.Signature");
    }
    // One refusal, then INSTREAM only.
    assert_eq!(fildes.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(clamav.transfer(), Transfer::Instream);
}

#[tokio::test]
async fn a_clamd_refusing_both_transfers_is_a_scan_error_with_a_stable_code() {
    let (_dir, address, _) = fake_clamd(Fake::RefusesAll).await;
    let clamav = client(address);
    let e = clamav
        .scan_bytes_with(Transfer::FdPassing, EICAR)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClamdError::Scan(ref m) if m.contains("FILDES")),
        "{e}"
    );
    assert_eq!(e.code(), "clamd_scan_error");
    // With the fallback: INSTREAM's error is the answer, and fd passing is
    // kept (INSTREAM did no better).
    let e = clamav.scan_bytes(EICAR).await.unwrap_err();
    assert!(
        matches!(e, ClamdError::Scan(ref m) if m == "Can't allocate memory"),
        "{e}"
    );
    assert_eq!(clamav.transfer(), Transfer::FdPassing);
    let e = clamav.scan(&artifact(EICAR.as_slice())).await.unwrap_err();
    assert!(matches!(e, ScanError::Other(_)), "{e}");
}

#[tokio::test]
async fn a_connection_dropped_mid_scan_is_a_connection_lost_error_not_a_verdict() {
    let (_dir, address, _) = fake_clamd(Fake::Hangs).await;
    let clamav = client(address);
    for transfer in [Transfer::FdPassing, Transfer::Instream] {
        let e = clamav.scan_bytes_with(transfer, EICAR).await.unwrap_err();
        assert!(matches!(e, ClamdError::Io(_)), "{transfer}: {e}");
        assert_eq!(e.code(), "clamd_connection_lost");
    }
    // No fallback for a dead connection: INSTREAM would meet the same.
    let e = clamav.scan(&artifact(EICAR.as_slice())).await.unwrap_err();
    assert!(matches!(e, ScanError::Unavailable(_)), "{e}");
    assert_eq!(clamav.transfer(), Transfer::FdPassing);
}
