//! `swarm dev --engine clamav`: the tutorial's last step end to end — a
//! whole local marketplace with the clamav engine as an external engine
//! process, scanning through a real clamd (started here with its own
//! signature database; see `swarm_engines::local_clamd`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use swarm_engines::LocalClamd;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_dev_with_the_clamav_engine() {
    let clamd = LocalClamd::start().await.expect("start clamd");
    let swarm = env!("CARGO_BIN_EXE_swarm");
    let port = clamd.port().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(swarm)
            .args(["dev", "--bounties", "3", "--engine", "clamav"])
            .args(["--listen", "127.0.0.1:0", "--seed", "11", "--json"])
            .args(["--block-time-ms", "50", "--timeout-secs", "120"])
            .env("CLAMD_HOST", "127.0.0.1")
            .env("CLAMD_PORT", port)
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
    let mut malicious = 0;
    for b in bounties {
        // Both engines (the built-in EICAR one and clamav) asserted, and
        // the consensus is the truth.
        assert_eq!(b["assertions"], 2, "{b}");
        assert_eq!(b["consensus"], b["expected"], "{b}");
        malicious += b["expected"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v.as_bool() == Some(true))
            .count();
    }
    assert!(malicious > 0, "seed 11 posts some EICAR: {summary}");
    let artifacts: u64 = bounties
        .iter()
        .map(|b| b["artifacts"].as_array().unwrap().len() as u64)
        .sum();
    let engines = summary["engines"].as_array().unwrap();
    assert_eq!(engines.len(), 2, "{summary}");
    let clamav = &engines[1];
    assert_eq!(
        clamav["artifacts_asserted"].as_u64(),
        Some(artifacts),
        "{clamav}"
    );
    assert_eq!(clamav["right"], clamav["artifacts_asserted"], "{clamav}");
    assert_eq!(clamav["wrong"], 0, "{clamav}");
    drop(clamd);
}
