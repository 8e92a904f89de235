//! `--engine clamav,yara`: the clamav and yara engines as one composite
//! engine, through `swarm scan` and `swarm dev`, against a real clamd
//! (started here, see `swarm_engines::local_clamd`) and yara-x rules
//! written here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use swarm_e2e::EICAR;
use swarm_engines::local_clamd::EICAR_SIGNATURE;
use swarm_engines::LocalClamd;

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

fn rules_dir(source: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yar"), source).unwrap();
    dir
}

/// `swarm scan --engine clamav,yara`: exit status and one JSON line per file.
fn scan(port: u16, rules: &Path, extra: &[&str], files: &[&Path]) -> (i32, Vec<serde_json::Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args(["scan", "--engine", "clamav,yara"])
        .args([
            "--clamd-host",
            "127.0.0.1",
            "--clamd-port",
            &port.to_string(),
        ])
        .arg("--yara-rules-dir")
        .arg(rules)
        .args(extra)
        .args(files)
        .env_remove("CLAMD_SOCKET")
        .output()
        .unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status
            .code()
            .unwrap_or_else(|| panic!("killed: {stderr}")),
        lines,
    )
}

#[tokio::test]
async fn swarm_scan_with_clamav_and_yara_as_one_engine() {
    let mut clamd = LocalClamd::start().await.expect("start clamd");
    let port = clamd.port();
    let rules = rules_dir(RULES);
    let files = tempfile::tempdir().unwrap();
    let eicar = files.path().join("eicar.com");
    let marker = files.path().join("marker.bin");
    let plain = files.path().join("notes.txt");
    std::fs::write(&eicar, EICAR).unwrap();
    std::fs::write(&marker, b"a file with EVIL-MARKER inside").unwrap();
    std::fs::write(&plain, b"just some notes\n").unwrap();
    let all = [eicar.as_path(), marker.as_path(), plain.as_path()];

    // Both answer: one malicious answer decides, both verdicts are kept.
    let (code, lines) = scan(port, rules.path(), &[], &all);
    assert_eq!(code, 1, "{lines:?}");
    assert_eq!(lines[0]["verdict"], "malicious", "{}", lines[0]);
    assert_eq!(lines[0]["metadata"]["malware_family"], "eicar");
    assert_eq!(lines[0]["metadata"]["raw_family"], EICAR_SIGNATURE);
    assert_eq!(
        lines[0]["metadata"]["scanners"]["clamav"]["verdict"],
        "malicious"
    );
    assert_eq!(
        lines[0]["metadata"]["scanners"]["yara"]["verdict"],
        "benign"
    );
    assert_eq!(lines[1]["verdict"], "malicious", "{}", lines[1]);
    assert_eq!(lines[1]["metadata"]["malware_family"], "yaramarker");
    assert_eq!(lines[1]["metadata"]["raw_family"], "Trojan.YaraMarker");
    assert_eq!(
        lines[1]["metadata"]["scanners"]["clamav"]["verdict"],
        "benign"
    );
    assert_eq!(
        lines[1]["metadata"]["scanners"]["yara"]["verdict"],
        "malicious"
    );
    assert_eq!(lines[2]["verdict"], "benign", "{}", lines[2]);

    // clamd down: yara's verdict alone, clamav's failure in the metadata.
    clamd.stop().await;
    let (code, lines) = scan(
        port,
        rules.path(),
        &[],
        &[marker.as_path(), plain.as_path()],
    );
    assert_eq!(code, 1, "{lines:?}");
    assert_eq!(lines[0]["verdict"], "malicious", "{}", lines[0]);
    assert_eq!(lines[0]["metadata"]["malware_family"], "yaramarker");
    let error = lines[0]["metadata"]["scanners"]["clamav"]["error"]
        .as_str()
        .unwrap();
    assert!(error.contains("cannot connect to clamd"), "{error}");
    assert_eq!(lines[1]["verdict"], "benign", "{}", lines[1]);

    // clamd down and yara timing out: a scan error, exit 2.
    let slow = rules_dir(SLOW_RULE);
    let big = files.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 200_000]).unwrap();
    let (code, lines) = scan(
        port,
        slow.path(),
        &["--yara-timeout", "1"],
        &[big.as_path()],
    );
    assert_eq!(code, 2, "{lines:?}");
    let error = lines[0]["error"].as_str().unwrap();
    assert!(error.starts_with("every scanner failed"), "{error}");
    assert!(
        error.contains("clamav:") && error.contains("yara: scan timed out"),
        "{error}"
    );
    assert!(lines[0].get("verdict").is_none(), "{}", lines[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_dev_with_clamav_and_yara_as_one_engine() {
    let clamd = LocalClamd::start().await.expect("start clamd");
    let rules = rules_dir(RULES);
    let swarm = env!("CARGO_BIN_EXE_swarm");
    let port = clamd.port().to_string();
    let rules_path = rules.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(swarm)
            .args(["dev", "--bounties", "3", "--engine", "clamav,yara"])
            .args(["--listen", "127.0.0.1:0", "--seed", "11", "--json"])
            .args(["--block-time-ms", "50", "--timeout-secs", "120"])
            .env("CLAMD_HOST", "127.0.0.1")
            .env("CLAMD_PORT", port)
            .env("YARA_RULES_DIR", rules_path)
            .env_remove("CLAMD_SOCKET")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "swarm dev failed: {stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let bounties = summary["bounties"].as_array().unwrap();
    assert_eq!(bounties.len(), 3);
    let artifacts: u64 = bounties
        .iter()
        .map(|b| b["artifacts"].as_array().unwrap().len() as u64)
        .sum();
    let engines = summary["engines"].as_array().unwrap();
    assert_eq!(engines.len(), 2, "{summary}");
    let composite = &engines[1];
    assert_eq!(composite["name"], "clamav,yara", "{composite}");
    assert_eq!(
        composite["artifacts_asserted"].as_u64(),
        Some(artifacts),
        "{composite}"
    );
    assert_eq!(
        composite["right"], composite["artifacts_asserted"],
        "{composite}"
    );
    assert_eq!(composite["wrong"], 0, "{composite}");
    drop(clamd);
}

/// The composite engine as a microengine on a marketplace: it asserts what
/// its scanners answered — both, then YARA alone once clamd is gone — and
/// nothing at all when every scanner failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_marketplace_the_composite_asserts_only_what_its_scanners_answered() {
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use swarm_engines::{Clamav, ClamavConfig, Composite, Engine, Yara, YaraRules};
    use swarm_node::test_utils::{test_genesis, Backend, TestNode};
    use swarm_protocol::{Guid, PrivateKey};
    use swarm_sdk::{Microengine, NodeClient};
    use tokio_util::sync::CancellationToken;

    const DURATION: u64 = 20;

    async fn post(client: &NodeClient, files: Vec<(String, Bytes)>) -> (Guid, u64) {
        let p = client.parameters().await.unwrap().parameters;
        let amount = p
            .bounty_amount_minimum
            .checked_mul(2 * files.len() as u128)
            .unwrap();
        let b =
            swarm_e2e::post_bounty(client, &swarm_node::dev_key(0), files, amount, DURATION).await;
        (b.guid, b.expiration)
    }

    /// The engine's revealed verdicts and metadata on `guid`.
    async fn revealed(
        client: &NodeClient,
        engine: &PrivateKey,
        guid: &Guid,
        n: usize,
    ) -> (Vec<bool>, serde_json::Value) {
        let started = Instant::now();
        loop {
            let b = client.bounty(guid).await.unwrap().unwrap();
            if let Some(r) = b
                .assertion_of(&engine.address())
                .and_then(|(_, a)| a.revealed.clone())
            {
                return (r.verdicts.to_bools(n), r.metadata);
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no reveal on {guid}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let mut clamd = LocalClamd::start().await.expect("start clamd");
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let client = NodeClient::new(node.url());
    let key = swarm_e2e::funded(&client, 1_000).await;
    // The marker rule, and one that runs past the timeout on a large file.
    let rules = YaraRules::from_sources([("rules.yar", RULES), ("slow.yar", SLOW_RULE)]).unwrap();
    let composite = Composite::new([
        (
            "clamav".to_owned(),
            Engine::Clamav(Clamav::new(ClamavConfig::new(clamd.tcp_address()))),
        ),
        (
            "yara".to_owned(),
            Engine::Yara(Yara::new(rules, Duration::from_secs(1))),
        ),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("engine.journal");
    let stop = CancellationToken::new();
    let engine = tokio::spawn(
        Microengine::builder(Engine::Composite(composite))
            .node(node.url())
            .key(key.clone())
            .journal(&journal)
            .shutdown(stop.clone())
            .build()
            .unwrap()
            .run(),
    );
    let started = Instant::now();
    while !journal.exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "engine start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let file = |name: &str, content: &[u8]| (name.to_owned(), Bytes::copy_from_slice(content));
    // Both scanners answer: EICAR by clamav, the marker by yara.
    let (first, _) = post(
        &client,
        vec![
            file("eicar.com", EICAR),
            file("marker.bin", b"a file with EVIL-MARKER inside"),
            file("notes.txt", b"just some notes\n"),
        ],
    )
    .await;
    let (verdicts, metadata) = revealed(&client, &key, &first, 3).await;
    assert_eq!(verdicts, [true, true, false]);
    assert_eq!(
        metadata[0]["scanners"]["clamav"]["verdict"], "malicious",
        "{metadata}"
    );
    assert_eq!(
        metadata[0]["scanners"]["yara"]["verdict"], "benign",
        "{metadata}"
    );
    // Revealed as normalized, the rule's name kept.
    assert_eq!(metadata[1]["malware_family"], "yaramarker", "{metadata}");
    assert_eq!(metadata[1]["raw_family"], "Trojan.YaraMarker", "{metadata}");

    // clamd gone: yara's verdicts alone.
    clamd.stop().await;
    let (second, _) = post(
        &client,
        vec![
            file("marker.bin", b"EVIL-MARKER again"),
            file("notes.txt", b"other notes\n"),
        ],
    )
    .await;
    let (verdicts, metadata) = revealed(&client, &key, &second, 2).await;
    assert_eq!(verdicts, [true, false]);
    assert!(
        metadata[0]["scanners"]["clamav"]["error"].is_string(),
        "{metadata}"
    );

    // clamd gone and yara past its timeout: no assertion at all.
    let (third, expires) = post(&client, vec![file("big.bin", &[7u8; 200_000])]).await;
    node.client.wait_for_block(expires + 1).await;
    let b = client.bounty(&third).await.unwrap().unwrap();
    assert!(
        b.assertion_of(&key.address()).is_none(),
        "asserted on {third}"
    );

    stop.cancel();
    let report = tokio::time::timeout(Duration::from_secs(30), engine)
        .await
        .expect("the engine did not stop")
        .unwrap()
        .expect("the engine failed");
    assert_eq!(report.assertions, 2, "{report:?}");
}
