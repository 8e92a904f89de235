//! `swarm dev --engine wine --wine-exe scanner.exe`: a Windows scanner under
//! Wine as an engine process of a whole local marketplace, and `swarm scan
//! --engine clamav,wine`. The scanner is swarm-engines' test scanner, built
//! with MinGW-w64 (EICAR → a JSON malicious line; anything else benign).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use swarm_e2e::EICAR;
use swarm_engines::local_clamd::EICAR_SIGNATURE;
use swarm_engines::{LocalClamd, Wine, WineConfig};
use swarm_sdk::swarm_protocol::{Address, Amount, Guid};
use swarm_sdk::NodeClient;

use crate::support;

/// Makes the shared prefix ready before an engine process needs it, so a
/// fresh checkout's `wineboot --init` is not paid inside a timed run.
async fn ready_prefix() {
    let config = WineConfig::new(support::windows_scanner(), support::wine_prefix());
    Wine::new(config)
        .prepare()
        .await
        .unwrap_or_else(|e| panic!("the Wine prefix is not ready ({}): {e}", e.code()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_dev_with_a_windows_scanner_under_wine() {
    ready_prefix().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args(["dev", "--bounties", "4", "--engine", "wine", "--keep"])
        .arg("--wine-exe")
        .arg(support::windows_scanner())
        .arg("--wine-prefix")
        .arg(support::wine_prefix())
        .args(["--listen", &format!("127.0.0.1:{port}"), "--seed", "11"])
        // 200 ms blocks: a bounty's 5-block assertion window is 1 s, time
        // for a Wine process start or two on a loaded CI machine.
        .args(["--block-time-ms", "200", "--timeout-secs", "180", "--json"])
        .env_remove("SWARM_WINE_ARGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The JSON summary on stdout (pretty: it ends with a lone "}"), then
    // the node stays up for the checks below.
    let stdout = child.stdout.take().unwrap();
    let (json_tx, json_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
            if line == "}" {
                let _ = json_tx.send(std::mem::take(&mut text));
            }
        }
    });
    let stderr = child.stderr.take().unwrap();
    let (up_tx, up_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            log.push_str(&line);
            log.push('\n');
            if line.contains("the node stays up") {
                let _ = up_tx.send(Ok(()));
            }
        }
        let _ = up_tx.send(Err(log));
    });
    let up = up_rx.recv_timeout(Duration::from_secs(240));
    assert!(matches!(up, Ok(Ok(()))), "swarm dev did not finish: {up:?}");
    let summary: serde_json::Value =
        serde_json::from_str(&json_rx.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();

    let bounties = summary["bounties"].as_array().unwrap();
    assert_eq!(bounties.len(), 4);
    let mut eicars = 0;
    for b in bounties {
        // The built-in EICAR engine and the Windows scanner both asserted,
        // and the consensus is the truth.
        assert_eq!(b["assertions"], 2, "{b}");
        assert_eq!(b["consensus"], b["expected"], "{b}");
        eicars += b["expected"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v.as_bool() == Some(true))
            .count();
    }
    assert!(eicars > 0, "seed 11 posts some EICAR: {summary}");
    let artifacts: u64 = bounties
        .iter()
        .map(|b| b["artifacts"].as_array().unwrap().len() as u64)
        .sum();
    let engines = summary["engines"].as_array().unwrap();
    assert_eq!(engines.len(), 2, "{summary}");
    let wine = &engines[1];
    assert_eq!(wine["name"], "wine", "{wine}");
    assert_eq!(
        wine["artifacts_asserted"].as_u64(),
        Some(artifacts),
        "{wine}"
    );
    assert_eq!(wine["right"], wine["artifacts_asserted"], "{wine}");
    assert_eq!(wine["wrong"], 0, "{wine}");

    // Paid, to the wei: the balance the node has is the summary's, and it
    // moved by exactly what the settlements paid the engine minus what its
    // assertions escrowed (bids and fees).
    let client = NodeClient::new(format!("http://127.0.0.1:{port}"));
    let address: Address = wine["address"].as_str().unwrap().parse().unwrap();
    let before: u128 = wine["nct_before"].as_str().unwrap().parse().unwrap();
    let after: u128 = wine["nct_after"].as_str().unwrap().parse().unwrap();
    assert_eq!(client.balance(&address).await.unwrap().wei(), after);
    let (mut paid, mut escrowed) = (0u128, 0u128);
    let mut caught = BTreeMap::new();
    for b in bounties {
        let guid: Guid = b["guid"].as_str().unwrap().parse().unwrap();
        let bounty = client.bounty(&guid).await.unwrap().unwrap();
        let (_, assertion) = bounty.assertion_of(&address).unwrap();
        escrowed += assertion.escrowed().wei();
        let revealed = assertion.revealed.as_ref().unwrap();
        for (i, truth) in b["expected"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                Some(revealed.verdicts.get(i)),
                truth.as_bool(),
                "{guid} artifact {i}"
            );
            if truth.as_bool() == Some(true) {
                *caught.entry(guid).or_insert(0) += 1;
            }
        }
        let settlement = bounty.settlement.as_ref().unwrap();
        paid += settlement
            .outcome
            .payouts
            .iter()
            .filter(|p| p.account == address)
            .map(|p| p.amount.wei())
            .sum::<u128>();
    }
    assert_eq!(caught.values().sum::<usize>(), eicars);
    assert_eq!(
        after,
        before + paid - escrowed,
        "paid {paid}, escrowed {escrowed}"
    );
    assert!(after > before, "an engine that is always right gains NCT");
    assert_eq!(before, Amount::from_nct(1000).wei());

    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn swarm_scan_with_clamav_and_wine_as_one_engine() {
    ready_prefix().await;
    let clamd = LocalClamd::start().await.expect("start clamd");
    let files = tempfile::tempdir().unwrap();
    let eicar = files.path().join("eicar.com");
    let exit = files.path().join("by-exit.bin");
    let plain = files.path().join("notes.txt");
    std::fs::write(&eicar, EICAR).unwrap();
    std::fs::write(&exit, b"MALICIOUS-BY-EXIT").unwrap();
    std::fs::write(&plain, b"just some notes\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args(["scan", "--engine", "clamav,wine"])
        .args(["--clamd-host", "127.0.0.1", "--clamd-port"])
        .arg(clamd.port().to_string())
        .env("SWARM_WINE_EXE", support::windows_scanner())
        .env("SWARM_WINE_PREFIX", support::wine_prefix())
        .env_remove("CLAMD_SOCKET")
        .args([&eicar, &exit, &plain])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let scanners = |i: usize| &lines[i]["metadata"]["scanners"];
    assert_eq!(lines[0]["verdict"], "malicious", "{}", lines[0]);
    // Both engines' names for EICAR are one family; each name is kept.
    assert_eq!(scanners(0)["clamav"]["metadata"]["malware_family"], "eicar");
    assert_eq!(
        scanners(0)["clamav"]["metadata"]["raw_family"],
        EICAR_SIGNATURE
    );
    assert_eq!(scanners(0)["wine"]["verdict"], "malicious");
    assert_eq!(scanners(0)["wine"]["metadata"]["malware_family"], "eicar");
    assert_eq!(scanners(0)["wine"]["metadata"]["raw_family"], "EICAR");
    // Only the Windows scanner knows this one.
    assert_eq!(lines[1]["verdict"], "malicious", "{}", lines[1]);
    assert_eq!(scanners(1)["clamav"]["verdict"], "benign");
    assert_eq!(scanners(1)["wine"]["verdict"], "malicious");
    assert_eq!(lines[2]["verdict"], "benign", "{}", lines[2]);
    assert_eq!(scanners(2)["wine"]["verdict"], "benign");
}
