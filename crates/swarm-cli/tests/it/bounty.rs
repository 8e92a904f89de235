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
