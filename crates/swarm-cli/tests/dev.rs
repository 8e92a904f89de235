//! `swarm dev`, the README's first command: a whole marketplace in one
//! process, plus an external engine given its node and keyfile through the
//! environment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn swarm_dev_runs_a_marketplace_with_an_external_engine() {
    let swarm = env!("CARGO_BIN_EXE_swarm");
    let output = Command::new(swarm)
        .args([
            "dev",
            "--bounties",
            "4",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "7",
            "--json",
        ])
        .args(["--block-time-ms", "50", "--timeout-secs", "120"])
        .arg("--engine")
        .arg(format!(
            "{swarm} engine run eicar --variant sha256 --bid-strategy conservative"
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "swarm dev failed: {stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let bounties = summary["bounties"].as_array().unwrap();
    assert_eq!(bounties.len(), 4);
    for b in bounties {
        // Every bounty settled with a consensus equal to the known truth,
        // and both engines asserted on it.
        assert_eq!(
            b["consensus"].as_array().unwrap().len(),
            b["expected"].as_array().unwrap().len()
        );
        let consensus: Vec<Option<bool>> = b["consensus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool())
            .collect();
        let expected: Vec<Option<bool>> = b["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool())
            .collect();
        assert_eq!(consensus, expected, "{b}");
        assert_eq!(b["assertions"], 2, "{b}");
    }
    let artifacts: usize = bounties
        .iter()
        .map(|b| b["artifacts"].as_array().unwrap().len())
        .sum();
    let engines = summary["engines"].as_array().unwrap();
    assert_eq!(engines.len(), 2);
    for e in engines {
        assert_eq!(
            e["artifacts_asserted"].as_u64().unwrap() as usize,
            artifacts,
            "{e}"
        );
        assert_eq!(e["right"], e["artifacts_asserted"], "{e}");
        assert_eq!(e["wrong"], 0, "{e}");
        let before: u128 = e["nct_before"].as_str().unwrap().parse().unwrap();
        let after: u128 = e["nct_after"].as_str().unwrap().parse().unwrap();
        assert!(
            after > before,
            "an engine that is always right gains NCT: {e}"
        );
    }
    assert!(engines
        .iter()
        .any(|e| e["name"].as_str().unwrap().contains("engine run eicar")));
}

#[test]
fn swarm_dev_fails_clearly_when_an_engine_crashes() {
    let output = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args([
            "dev",
            "--bounties",
            "2",
            "--listen",
            "127.0.0.1:0",
            "--block-time-ms",
            "50",
        ])
        .args(["--engine", "echo starting; exit 3"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("exited (exit status: 3) before the run ended"),
        "{stderr}"
    );
    assert!(
        stderr.contains("starting"),
        "the engine's log is shown: {stderr}"
    );
}
