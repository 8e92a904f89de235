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

/// `--urls`: every second bounty a URL bounty, settled with the known truth
/// (a URL naming EICAR is malicious) by the EICAR engines, in process and
/// external, which assert on every URL.
#[test]
fn swarm_dev_urls_mixes_url_bounties_in() {
    let swarm = env!("CARGO_BIN_EXE_swarm");
    let output = Command::new(swarm)
        .args(["dev", "--urls", "--bounties", "4", "--artifacts", "3"])
        .args(["--listen", "127.0.0.1:0", "--seed", "3", "--json"])
        .args(["--block-time-ms", "50", "--timeout-secs", "120"])
        .args(["--engine", "eicar"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "swarm dev failed: {stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let bounties = summary["bounties"].as_array().unwrap();
    let kinds: Vec<&str> = bounties
        .iter()
        .map(|b| b["artifact_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["file", "url", "file", "url"], "{summary}");
    let (mut bad, mut good) = (0, 0);
    for b in bounties {
        assert_eq!(b["consensus"], b["expected"], "{b}");
        assert_eq!(b["assertions"], 2, "{b}");
        if b["artifact_type"] != "url" {
            continue;
        }
        for (url, truth) in b["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["expected"].as_array().unwrap())
        {
            let url = url.as_str().unwrap();
            if truth == true {
                bad += 1;
                assert!(url.starts_with("http://malware.example/eicar-"), "{url}");
            } else {
                good += 1;
                assert!(url.starts_with("https://example.com/"), "{url}");
            }
        }
    }
    assert!(bad + good >= 2, "{summary}");
    for e in summary["engines"].as_array().unwrap() {
        assert_eq!(e["right"], e["artifacts_asserted"], "{e}");
        assert_eq!(e["wrong"], 0, "{e}");
    }
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

/// Parses an NCT amount as `swarm dev` prints it (`12.5`) into wei.
fn nct_to_wei(text: &str) -> u128 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    assert!(frac.len() <= 18, "{text}");
    let frac = format!("{frac:0<18}");
    whole.parse::<u128>().unwrap() * 10u128.pow(18) + frac.parse::<u128>().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_final_table_matches_the_node() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use swarm_sdk::swarm_protocol::{Address, Guid};

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args(["dev", "--bounties", "10", "--keep", "--seed", "11"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--block-time-ms", "50", "--timeout-secs", "180"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    // The node stays up once the run is over and the tables are printed.
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
    let up = up_rx.recv_timeout(std::time::Duration::from_secs(200));
    assert!(matches!(up, Ok(Ok(()))), "swarm dev did not finish: {up:?}");
    // stdout and stderr are read apart: the tables may still be on their
    // way when stderr says the run is over. Read until the bounty table ends.
    let mut table: Vec<String> = Vec::new();
    let table_done = |t: &[String]| {
        t.iter()
            .position(|l| l.starts_with("bounty "))
            .is_some_and(|at| t[at + 1..].iter().any(|l| l.trim().is_empty()))
    };
    while !table_done(&table) {
        match lines_rx.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(line) => table.push(line),
            Err(_) => break,
        }
    }
    table.extend(lines_rx.try_iter());

    // The engine table: header, then one row per engine until a blank line.
    let start = table.iter().position(|l| l.starts_with("engine ")).unwrap();
    let engine_rows: Vec<&String> = table[start + 1..]
        .iter()
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(engine_rows.len(), 1, "{table:#?}");
    // The bounty table.
    let start = table.iter().position(|l| l.starts_with("bounty ")).unwrap();
    let bounty_rows: Vec<&String> = table[start + 1..]
        .iter()
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(bounty_rows.len(), 10, "{table:#?}");

    let client = swarm_sdk::NodeClient::new(format!("http://127.0.0.1:{port}"));
    let mut asserted_by: std::collections::HashMap<Address, usize> = Default::default();
    for row in &bounty_rows {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let guid: Guid = fields[0].parse().unwrap();
        let assertions: usize = fields[1].parse().unwrap();
        let bounty = client.bounty(&guid).await.unwrap().unwrap();
        assert_eq!(bounty.assertions.len(), assertions, "{row}");
        let consensus = bounty.settlement.unwrap().outcome.consensus.unwrap();
        let words: Vec<&str> = (0..bounty.num_artifacts as usize)
            .map(|i| {
                if consensus.get(i) {
                    "malicious"
                } else {
                    "benign"
                }
            })
            .collect();
        assert_eq!(fields[2..].join(" "), words.join(", "), "{row}");
        for a in &bounty.assertions {
            *asserted_by.entry(a.author).or_default() += a.mask.iter().count();
        }
    }
    for row in engine_rows {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let at = fields.iter().position(|f| f.starts_with("0x")).unwrap();
        let address: Address = fields[at].parse().unwrap();
        let numbers = &fields[at + 1..];
        let (asserted, right, wrong): (usize, usize, usize) = (
            numbers[0].parse().unwrap(),
            numbers[1].parse().unwrap(),
            numbers[2].parse().unwrap(),
        );
        assert_eq!(asserted, right + wrong, "{row}");
        assert_eq!(asserted, asserted_by[&address], "{row}");
        assert_eq!(wrong, 0, "the EICAR engine is always right: {row}");
        let before = nct_to_wei(numbers[5]);
        let after = nct_to_wei(numbers[6]);
        let balance = client.balance(&address).await.unwrap();
        assert_eq!(
            after,
            balance.wei(),
            "NCT after is the node's balance: {row}"
        );
        assert_eq!(before, 1000 * 10u128.pow(18), "{row}");
        assert!(after > before, "{row}");
    }

    // Ctrl-C stops the kept node cleanly.
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn swarm_dev_fails_clearly_when_an_engine_never_asserts() {
    let output = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args(["dev", "--bounties", "2", "--listen", "127.0.0.1:0"])
        .args(["--block-time-ms", "50", "--timeout-secs", "120"])
        .args(["--engine", "echo listening; sleep 600"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("engine \"echo listening; sleep 600\" never asserted; its log is"),
        "{stderr}"
    );
    // The run itself completed: the table is printed before the verdict.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("NCT after"), "{stdout}");
}
