//! `swarm bounty post --wait` and `swarm bounty show` against a marketplace
//! with an EICAR engine and an arbiter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use swarm_engines::EicarExact;
use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_sdk::{Arbiter, Microengine, Multiplier, ScannerTruth};
use tokio_util::sync::CancellationToken;

use swarm_e2e::EICAR;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_wait_then_show() {
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let url = node.url();
    let stop = CancellationToken::new();
    let engine_key = dev_key(60);
    node.client
        .send(
            &engine_key,
            swarm_protocol::Mint {
                to: engine_key.address(),
                amount: swarm_protocol::Amount::from_nct(100),
            },
        )
        .await;
    let engine = Microengine::builder(EicarExact)
        .node(url.clone())
        .key(engine_key)
        .bid_strategy(Arc::new(Multiplier::DEFAULT))
        .shutdown(stop.clone())
        .build()
        .unwrap();
    let arbiter = Arbiter::builder(ScannerTruth::new(EicarExact))
        .node(url.clone())
        .key(dev_key(1))
        .shutdown(stop.clone())
        .build()
        .unwrap();
    let engine = tokio::spawn(engine.run());
    let arbiter = tokio::spawn(arbiter.run());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("eicar.com"), EICAR).unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"harmless notes").unwrap();
    let key = format!("0x{}", hex::encode(dev_key(0).to_bytes()));
    let swarm = env!("CARGO_BIN_EXE_swarm");
    let out = tokio::process::Command::new(swarm)
        .args(["bounty", "post", "--node", &url, "--private-key", &key])
        .args([
            "--duration",
            "5",
            "--amount",
            "2",
            "--wait",
            "--timeout-secs",
            "60",
        ])
        .arg(dir.path().join("eicar.com"))
        .arg(dir.path().join("notes.txt"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let guid = stdout.lines().next().unwrap().trim().to_owned();
    assert!(
        stdout.contains("artifact 0: eicar.com (68 bytes, 275a021b"),
        "{stdout}"
    );
    assert!(stdout.contains("consensus: malicious, benign"), "{stdout}");
    assert!(stdout.contains("0:malicious 1:benign"), "{stdout}");
    assert!(stdout.contains("Expert"), "{stdout}");

    let out = tokio::process::Command::new(swarm)
        .args(["bounty", "show", "--node", &url, &guid])
        .output()
        .await
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success());
    assert_eq!(
        shown,
        stdout.split_once('\n').unwrap().1,
        "show prints what post --wait did"
    );

    let out = tokio::process::Command::new(swarm)
        .args([
            "bounty",
            "show",
            "--node",
            &url,
            "00000000-0000-4000-8000-000000000000",
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no bounty"));
    stop.cancel();
    let _ = engine.await;
    let _ = arbiter.await;
    node.node.shutdown().await.unwrap();
}

/// The EICAR engine (with its URL rule: "eicar" in a URL is malicious) and
/// an arbiter deciding the same way, on `url`.
fn eicar_engine_and_arbiter(
    node: &TestNode,
    stop: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let url = node.url();
    let engine = Microengine::builder(EicarExact)
        .node(url.clone())
        .key(dev_key(61))
        .bid_strategy(Arc::new(Multiplier::DEFAULT))
        .shutdown(stop.clone())
        .build()
        .unwrap();
    let arbiter = Arbiter::builder(ScannerTruth::new(EicarExact))
        .node(url)
        .key(dev_key(1))
        .shutdown(stop.clone())
        .build()
        .unwrap();
    vec![
        tokio::spawn(async move {
            let _ = engine.run().await;
        }),
        tokio::spawn(async move {
            let _ = arbiter.run().await;
        }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_url_wait_settles_and_show_lists_the_urls() {
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let url = node.url();
    let engine_key = dev_key(61);
    node.client
        .send(
            &engine_key,
            swarm_protocol::Mint {
                to: engine_key.address(),
                amount: swarm_protocol::Amount::from_nct(100),
            },
        )
        .await;
    let stop = CancellationToken::new();
    let tasks = eicar_engine_and_arbiter(&node, &stop);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let key = format!("0x{}", hex::encode(dev_key(0).to_bytes()));
    let swarm = env!("CARGO_BIN_EXE_swarm");
    let out = tokio::process::Command::new(swarm)
        .args(["bounty", "post", "--node", &url, "--private-key", &key])
        .args(["--duration", "5", "--amount", "2", "--wait"])
        .args(["--timeout-secs", "60"])
        .args(["--url", "http://malware.example/eicar.com"])
        .args(["--url", "https://example.com/"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("with 2 URL(s)"), "{stderr}");
    let guid = stdout.lines().next().unwrap().trim().to_owned();
    assert!(stdout.contains("  2 URL(s), 2 NCT"), "{stdout}");
    assert!(
        stdout.contains("artifact 0: URL http://malware.example/eicar.com (http)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("artifact 1: URL https://example.com/ (https)"),
        "{stdout}"
    );
    assert!(stdout.contains("0:malicious 1:benign"), "{stdout}");
    assert!(stdout.contains("consensus: malicious, benign"), "{stdout}");

    // The node holds a URL bounty: `{uri, protocol}` per artifact, and a
    // bundle of the URLs' text.
    let bounty = node.client.result(&format!("/bounties/{guid}")).await;
    assert_eq!(bounty["artifact_type"], "url", "{bounty}");
    assert_eq!(
        bounty["metadata"],
        serde_json::json!([
            {"uri": "http://malware.example/eicar.com", "protocol": "http"},
            {"uri": "https://example.com/", "protocol": "https"},
        ])
    );
    let client = swarm_sdk::NodeClient::new(url.clone());
    let first = client
        .download(bounty["uri"].as_str().unwrap(), 0, 1 << 20)
        .await
        .unwrap();
    assert_eq!(first.as_ref(), b"http://malware.example/eicar.com");

    let out = tokio::process::Command::new(swarm)
        .args(["bounty", "show", "--node", &url, &guid])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        stdout.split_once('\n').unwrap().1,
        "show prints what post --wait did"
    );
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    node.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_url_refuses_a_bad_url_naming_it_and_posts_nothing() {
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let url = node.url();
    let key = format!("0x{}", hex::encode(dev_key(0).to_bytes()));
    let swarm = env!("CARGO_BIN_EXE_swarm");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--url", "https://example.com/", "--url", "ftp://files.example/x"],
            "\"ftp://files.example/x\" is not a URL a bounty takes: the protocol is \"ftp\"; only http and https are taken",
        ),
        (
            &["--url", "javascript:alert(1)"],
            "\"javascript:alert(1)\" is not a URL a bounty takes",
        ),
        (&["--url", "example.com"], "\"example.com\" is not a URL a bounty takes"),
        (&["notes.txt", "--url", "https://example.com/"], "cannot be used with"),
    ];
    for (flags, message) in cases {
        let out = tokio::process::Command::new(swarm)
            .args(["bounty", "post", "--node", &url, "--private-key", &key])
            .args(flags)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flags:?}");
        assert!(stderr.contains(message), "{flags:?}: {stderr}");
    }
    let bounties = node.client.result("/bounties").await;
    assert_eq!(bounties.as_array().map(Vec::len), Some(0), "{bounties}");
    node.node.shutdown().await.unwrap();
}
