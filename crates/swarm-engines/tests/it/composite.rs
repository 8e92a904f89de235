//! A composite engine of clamav and yara against a real clamd (started
//! here, see `swarm_engines::local_clamd`) and real yara-x rules written
//! here: one malicious answer makes the verdict, a clamd that is down
//! leaves yara's verdict alone, and both failing is a scan error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use swarm_engines::local_clamd::EICAR_SIGNATURE;
use swarm_engines::{
    Clamav, ClamavConfig, ClamdAddress, Composite, Engine, LocalClamd, Yara, YaraRules, EICAR,
};
use swarm_sdk::{Artifact, ScanError, Scanner, Verdict};

const RULES: &str = r#"
rule evil_marker {
    meta:
        family = "Trojan.YaraMarker"
    strings:
        $a = "EVIL-MARKER"
    condition:
        $a
}
"#;

/// Quadratic in the file size and never true: times out on a large file.
const SLOW_RULE: &str = r#"
rule slow {
    condition:
        for any i in (0..filesize) : (
            for any j in (0..filesize) : ( uint8(i) + uint8(j) == 1000 )
        )
}
"#;

fn clamav(address: ClamdAddress) -> Engine {
    Engine::Clamav(Clamav::new(ClamavConfig {
        timeout: Duration::from_secs(20),
        ..ClamavConfig::new(address)
    }))
}

fn yara(source: &str, timeout: Duration) -> Engine {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yar"), source).unwrap();
    let rules = YaraRules::load_dir(dir.path()).unwrap();
    Engine::Yara(Yara::new(rules, timeout))
}

fn composite(clamav: Engine, yara: Engine) -> Composite {
    Composite::new([("clamav".to_owned(), clamav), ("yara".to_owned(), yara)]).unwrap()
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn clamav_and_yara_one_malicious_answer_is_malicious_with_both_verdicts() {
    let clamd = LocalClamd::start().await.expect("start clamd");
    let engine = composite(
        clamav(clamd.tcp_address()),
        yara(RULES, Duration::from_secs(20)),
    );
    engine.setup().await.unwrap();

    // clamav finds EICAR, yara finds nothing.
    let r = engine
        .scan(&Artifact::file(EICAR.as_slice()))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(r.confidence, 1.0);
    // The deciding engine's family, normalized, and its signature name.
    assert_eq!(r.metadata.malware_family, "eicar");
    assert_eq!(r.metadata.extra["raw_family"], EICAR_SIGNATURE);
    let scanners = &r.metadata.extra["scanners"];
    assert_eq!(scanners["clamav"]["verdict"], "malicious", "{scanners}");
    assert_eq!(scanners["clamav"]["metadata"]["malware_family"], "eicar");
    assert_eq!(
        scanners["clamav"]["metadata"]["raw_family"],
        EICAR_SIGNATURE
    );
    assert_eq!(scanners["clamav"]["metadata"]["product"], "ClamAV");
    assert_eq!(scanners["yara"]["verdict"], "benign", "{scanners}");

    // yara finds its marker, clamav finds nothing.
    let r = engine
        .scan(&Artifact::file(&b"a file with EVIL-MARKER inside"[..]))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(r.metadata.malware_family, "yaramarker");
    assert_eq!(r.metadata.extra["raw_family"], "Trojan.YaraMarker");
    let scanners = &r.metadata.extra["scanners"];
    assert_eq!(scanners["clamav"]["verdict"], "benign", "{scanners}");
    assert_eq!(scanners["yara"]["verdict"], "malicious", "{scanners}");
    assert_eq!(scanners["yara"]["metadata"]["malware_family"], "yaramarker");
    assert_eq!(
        scanners["yara"]["metadata"]["raw_family"],
        "Trojan.YaraMarker"
    );

    // Both find nothing: benign.
    let r = engine
        .scan(&Artifact::file(&b"an ordinary text file\n"[..]))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Benign);
    let scanners = &r.metadata.extra["scanners"];
    assert_eq!(scanners["clamav"]["verdict"], "benign");
    assert_eq!(scanners["yara"]["verdict"], "benign");
    drop(clamd);
}

#[tokio::test]
async fn clamd_down_leaves_yaras_verdict_alone_and_clamavs_error_in_the_metadata() {
    let mut clamd = LocalClamd::start().await.expect("start clamd");
    let address = clamd.tcp_address();
    clamd.stop().await;
    for clamav in [
        clamav(address),
        clamav(ClamdAddress::Tcp {
            host: "127.0.0.1".into(),
            port: closed_port(),
        }),
    ] {
        let engine = composite(clamav, yara(RULES, Duration::from_secs(20)));
        // A clamd that is down at start does not stop the engine: yara answers.
        engine.setup().await.unwrap();

        let r = engine
            .scan(&Artifact::file(&b"EVIL-MARKER"[..]))
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Malicious);
        assert_eq!(r.metadata.malware_family, "yaramarker");
        assert_eq!(r.metadata.extra["raw_family"], "Trojan.YaraMarker");
        let scanners = &r.metadata.extra["scanners"];
        assert_eq!(scanners["yara"]["verdict"], "malicious", "{scanners}");
        let error = scanners["clamav"]["error"].as_str().unwrap();
        assert!(error.contains("unavailable"), "{error}");
        assert!(scanners["clamav"].get("verdict").is_none(), "{scanners}");

        // EICAR: yara alone says benign, and benign it is (clamav did not
        // answer, so it is not among those that must agree).
        let r = engine
            .scan(&Artifact::file(EICAR.as_slice()))
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Benign);
        assert!(r.metadata.extra["scanners"]["clamav"]["error"].is_string());
    }
}

#[tokio::test]
async fn clamd_down_and_yara_timing_out_is_a_scan_error() {
    let mut clamd = LocalClamd::start().await.expect("start clamd");
    let address = clamd.tcp_address();
    clamd.stop().await;
    let engine = composite(clamav(address), yara(SLOW_RULE, Duration::from_secs(1)));
    let e = engine
        .scan(&Artifact::file(vec![7u8; 200_000]))
        .await
        .unwrap_err();
    let ScanError::Other(text) = &e else {
        panic!("an outage and a timeout: {e}");
    };
    assert!(text.starts_with("every scanner failed"), "{text}");
    assert!(
        text.contains("clamav: scanner backend unavailable"),
        "{text}"
    );
    assert!(text.contains("yara: scan timed out"), "{text}");

    // Setup fails only when no scanner can set up (compiled yara rules
    // always can, so here two clamds that are both down).
    let two_down = Composite::new([
        (
            "clamav".to_owned(),
            clamav(ClamdAddress::Tcp {
                host: "127.0.0.1".into(),
                port: closed_port(),
            }),
        ),
        ("clamav-backup".to_owned(), clamav(clamd.tcp_address())),
    ])
    .unwrap();
    let e = two_down.setup().await.unwrap_err();
    assert!(matches!(e, ScanError::Unavailable(_)), "{e}");
}
