//! `swarm dev --engine webhook`: an engine written with the real
//! polyswarm-engine package, run as PolySwarm runs one (its web service and
//! a Celery worker on a private Redis, see `swarm_e2e::PsEngine`), on a
//! swarm marketplace without a line changed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use swarm_e2e::PsEngine;
use swarm_node::dev_key;
use swarm_protocol::{Amount, Guid, Parameters};
use swarm_sdk::NodeClient;

use crate::support::free_port;

/// Ten bounties: the engine asserts on every artifact, right every time,
/// with its own bids (the largest allowed on EICAR, the smallest on
/// anything else), and its balance is what the settlements say, to the
/// wei.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_dev_runs_a_polyswarm_engine_unchanged() {
    let ps = PsEngine::start("dev-webhook-secret").await;
    let port = free_port();
    let out_dir = tempfile::tempdir().unwrap();
    let stdout_path = out_dir.path().join("summary.json");
    let stderr_path = out_dir.path().join("stderr.log");
    // 600 ms blocks: a 3 s assertion round, room for the engine's Python
    // web service and worker on a loaded machine.
    let mut dev = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args(["dev", "--bounties", "10", "--engine", "webhook"])
        .args(["--webhook-url", &ps.url, "--webhook-secret", &ps.secret])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--seed", "5"])
        .args([
            "--block-time-ms",
            "600",
            "--timeout-secs",
            "240",
            "--json",
            "--keep",
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();

    // With --keep the summary comes first, then the node stays up.
    let started = tokio::time::Instant::now();
    let summary: serde_json::Value = loop {
        if let Ok(text) = std::fs::read_to_string(&stdout_path) {
            if let Ok(v) = serde_json::from_str(&text) {
                break v;
            }
        }
        if let Ok(Some(status)) = dev.try_wait() {
            panic!(
                "swarm dev exited ({status}): {}\nworker log:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap(),
                ps.log("worker.log")
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no summary: {}",
            std::fs::read_to_string(&stderr_path).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let bounties = summary["bounties"].as_array().unwrap();
    assert_eq!(bounties.len(), 10);
    let artifacts: usize = bounties
        .iter()
        .map(|b| b["artifacts"].as_array().unwrap().len())
        .sum();
    let webhook = &summary["engines"][1];
    assert_eq!(webhook["name"], "webhook", "{summary}");
    assert_eq!(
        webhook["artifacts_asserted"].as_u64(),
        Some(artifacts as u64),
        "{webhook}"
    );
    assert_eq!(webhook["right"], webhook["artifacts_asserted"], "{webhook}");
    assert_eq!(webhook["wrong"], 0, "{webhook}");

    // To the wei, from the chain: what the engine staked and paid in fees,
    // and what the settlements paid it.
    let client = NodeClient::new(format!("http://127.0.0.1:{port}"));
    let address = dev_key(10).address();
    let limits = Parameters::default();
    let (mut spent, mut paid) = (Amount::ZERO, Amount::ZERO);
    let (mut malicious, mut benign) = (0, 0);
    for b in bounties {
        let guid: Guid = b["guid"].as_str().unwrap().parse().unwrap();
        let bounty = client.bounty(&guid).await.unwrap().unwrap();
        let expected: Vec<Option<bool>> = b["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool())
            .collect();
        let mine: Vec<_> = bounty
            .assertions
            .iter()
            .filter(|a| a.author == address)
            .collect();
        assert_eq!(mine.len(), 1, "one assertion on {guid}");
        let a = mine[0];
        // The engine's own bids: bid_max on EICAR, bid_min on the rest.
        for (bid, truth) in a.bids.iter().zip(&expected) {
            if *truth == Some(true) {
                assert_eq!(*bid, limits.assertion_bid_maximum, "{guid}");
                malicious += 1;
            } else {
                assert_eq!(*bid, limits.assertion_bid_minimum, "{guid}");
                benign += 1;
            }
        }
        assert_eq!(a.bids.len(), expected.len());
        for amount in a.bids.iter().chain([&a.fee]) {
            spent = spent.checked_add(*amount).unwrap();
        }
        let settlement = bounty.settlement.as_ref().expect("settled");
        for p in settlement
            .outcome
            .payouts
            .iter()
            .filter(|p| p.account == address)
        {
            paid = paid.checked_add(p.amount).unwrap();
        }
    }
    assert!(
        malicious > 0 && benign > 0,
        "{malicious} EICAR, {benign} clean"
    );
    let before: u128 = webhook["nct_before"].as_str().unwrap().parse().unwrap();
    let after: u128 = webhook["nct_after"].as_str().unwrap().parse().unwrap();
    let balance = client.balance(&address).await.unwrap();
    assert_eq!(balance.wei(), after);
    assert_eq!(
        balance.wei(),
        before - spent.wei() + paid.wei(),
        "balance = before − bids − fees + payouts"
    );
    assert!(after > before, "an engine that is always right gains NCT");

    // SIGTERM ends the kept node.
    Command::new("kill")
        .args(["-TERM", &dev.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || dev.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
}

/// A wrong secret: the package refuses swarm's signature (401) at the
/// engine's start-up ping, the engine never asserts, and `swarm dev` says
/// why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_webhook_secret_is_refused_and_named() {
    let ps = PsEngine::start("the-engines-secret").await;
    let url = ps.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_swarm"))
            .args(["dev", "--bounties", "2", "--engine", "webhook"])
            .args(["--webhook-url", &url, "--webhook-secret", "not-the-secret"])
            .args(["--listen", "127.0.0.1:0", "--block-time-ms", "100"])
            .args(["--timeout-secs", "60"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("engine \"webhook\" exited"), "{stderr}");
    assert!(stderr.contains("refused the signature (401"), "{stderr}");
    assert!(stderr.contains("Signature does not match body"), "{stderr}");
    assert!(stderr.contains("PSENGINE_WEBHOOK_SECRET"), "{stderr}");
}
