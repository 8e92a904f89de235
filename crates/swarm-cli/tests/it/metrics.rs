//! Participants' health and metrics servers (`--metrics-listen`, `swarm dev
//! --metrics`): the counters a scrape reads agree with what the node
//! recorded, and `/healthz` follows the node going away and coming back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use swarm_node::dev_key;
use swarm_sdk::swarm_protocol::{Address, Guid};

use crate::support::{free_port, KillOnDrop};

/// The value of the unlabelled sample `name` in a Prometheus text page.
fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// GET `url`: status and body, or `None` when nothing answers.
async fn get(http: &reqwest::Client, url: &str) -> Option<(u16, String)> {
    let r = http
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.ok()?))
}

fn nct_to_f64(amount: swarm_sdk::swarm_protocol::Amount) -> f64 {
    amount.wei() as f64 / 1e18
}

/// `swarm dev --metrics` with an external built-in engine: each
/// participant's `/metrics`, scraped while the run goes on, ends with
/// counters equal to the node's own records: the engines' assertions, the
/// arbiter's votes and stake, the ambassador's bounties, the engines' NCT.
#[tokio::test(flavor = "multi_thread")]
async fn dev_participants_metrics_match_the_node() {
    let swarm = env!("CARGO_BIN_EXE_swarm");
    let port = free_port();
    let child = Command::new(swarm)
        .args([
            "dev",
            "--bounties",
            "4",
            "--keep",
            "--seed",
            "5",
            "--metrics",
            "--json",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--block-time-ms", "100", "--timeout-secs", "180"])
        .arg("--engine")
        .arg(format!("{swarm} engine run eicar --variant sha256"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let stderr = child.0.stderr.take().unwrap();
    let (out_tx, out_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = out_tx.send(line);
        }
    });
    // (role, address, url) of every participant, as stderr announces them;
    // then the end of the run.
    let announced: Arc<Mutex<Vec<(String, Address, String)>>> = Arc::default();
    let (up_tx, up_rx) = std::sync::mpsc::channel();
    {
        let announced = Arc::clone(&announced);
        std::thread::spawn(move || {
            let mut log = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.push_str(&line);
                log.push('\n');
                if let Some(rest) = line.strip_prefix("swarm dev: metrics: ") {
                    let f: Vec<&str> = rest.split_whitespace().collect();
                    announced.lock().unwrap().push((
                        f[0].to_owned(),
                        f[1].parse().unwrap(),
                        f[2].to_owned(),
                    ));
                }
                if line.contains("the node stays up") {
                    let _ = up_tx.send(Ok(()));
                }
            }
            let _ = up_tx.send(Err(log));
        });
    }
    // Scrape every participant until the run is over, keeping the last page
    // each answered.
    let pages: Arc<Mutex<HashMap<Address, String>>> = Arc::default();
    let ready: Arc<Mutex<HashMap<Address, bool>>> = Arc::default();
    let done = tokio_util::sync::CancellationToken::new();
    let scraper = {
        let (announced, pages, ready, done) = (
            Arc::clone(&announced),
            Arc::clone(&pages),
            Arc::clone(&ready),
            done.clone(),
        );
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !done.is_cancelled() {
                let list = announced.lock().unwrap().clone();
                for (_, address, url) in list {
                    if let Some((200, page)) = get(&http, &format!("{url}/metrics")).await {
                        pages.lock().unwrap().insert(address, page);
                    }
                    if let Some((200, _)) = get(&http, &format!("{url}/readyz")).await {
                        ready.lock().unwrap().insert(address, true);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let (up, up_rx) =
        tokio::task::spawn_blocking(move || (up_rx.recv_timeout(Duration::from_secs(200)), up_rx))
            .await
            .unwrap();
    assert!(matches!(up, Ok(Ok(()))), "swarm dev did not finish: {up:?}");
    done.cancel();
    scraper.await.unwrap();

    // The JSON summary, read until it parses.
    let mut text = String::new();
    let summary: serde_json::Value = loop {
        let line = out_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        text.push_str(&line);
        text.push('\n');
        if let Ok(v) = serde_json::from_str(&text) {
            break v;
        }
    };
    let listed = summary["metrics"].as_array().unwrap();
    let announced = announced.lock().unwrap().clone();
    assert_eq!(listed.len(), announced.len());
    assert_eq!(announced.len(), 4, "two engines, an arbiter, an ambassador");

    let client = swarm_sdk::NodeClient::new(format!("http://127.0.0.1:{port}"));
    let mut bounties = Vec::new();
    for b in summary["bounties"].as_array().unwrap() {
        let guid: Guid = b["guid"].as_str().unwrap().parse().unwrap();
        bounties.push(client.bounty(&guid).await.unwrap().unwrap());
    }
    assert_eq!(bounties.len(), 4);
    let pages = pages.lock().unwrap().clone();
    let ready = ready.lock().unwrap().clone();
    for (role, address, _) in &announced {
        let page = pages
            .get(address)
            .unwrap_or_else(|| panic!("{role} {address} was never scraped"));
        assert!(
            ready.get(address).copied().unwrap_or(false),
            "{role} never ready"
        );
        let value = |name: &str| {
            sample(page, name).unwrap_or_else(|| panic!("{role}: no {name} in\n{page}"))
        };
        match role.as_str() {
            "engine" => {
                let asserted = bounties
                    .iter()
                    .filter(|b| b.assertions.iter().any(|a| a.author == *address))
                    .count();
                assert!(asserted > 0, "{address} asserted on nothing");
                assert_eq!(value("swarm_engine_assertions_total"), asserted as f64);
                assert_eq!(value("swarm_engine_reveals_total"), asserted as f64);
                assert_eq!(value("swarm_engine_bounties_seen_total"), 4.0);
                assert_eq!(
                    value("swarm_engine_bounties_settled_total"),
                    asserted as f64
                );
                assert!(value("swarm_engine_artifacts_scanned_total") >= asserted as f64);
                assert!(value("swarm_engine_scan_seconds_count") >= asserted as f64);
                assert!(value("swarm_engine_journal_records") > 0.0);
                let balance = nct_to_f64(client.balance(address).await.unwrap());
                assert!(
                    (value("swarm_engine_nct_balance") - balance).abs() < 1e-6,
                    "{page}\nnode: {balance}"
                );
                assert_eq!(value("swarm_engine_ready"), 1.0);
            }
            "arbiter" => {
                let voted = bounties
                    .iter()
                    .filter(|b| b.votes.iter().any(|v| v.voter == *address))
                    .count();
                assert!(voted > 0);
                assert_eq!(value("swarm_arbiter_votes_total"), voted as f64);
                let staked = nct_to_f64(client.stake_total(address).await.unwrap());
                assert!((value("swarm_arbiter_nct_staked") - staked).abs() < 1e-6);
                let balance = nct_to_f64(client.balance(address).await.unwrap());
                assert!((value("swarm_arbiter_nct_balance") - balance).abs() < 1e-6);
            }
            "ambassador" => {
                let posted = bounties.iter().filter(|b| b.author == *address).count();
                assert_eq!(posted, 4);
                assert_eq!(
                    value("swarm_ambassador_bounties_posted_total"),
                    posted as f64
                );
            }
            other => panic!("unknown role {other}"),
        }
    }

    let _ = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status();
    let status = child.0.wait().unwrap();
    // What it wrote to stderr once its output closed, to name the failure.
    let log = match up_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Err(log)) => log,
        other => format!("{other:?}"),
    };
    assert!(status.success(), "{status}\n{log}");
}

/// Starts `swarm node` on `port` with its data in `dir`, and waits until it
/// answers.
async fn start_node(dir: &std::path::Path, port: u16) -> KillOnDrop {
    let child = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .arg("node")
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--block-time-ms", "100"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let node = KillOnDrop(child);
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/status");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Some((200, _)) = get(&http, &url).await {
            return node;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the node did not come up on {port}");
}

/// Polls `url` until it answers `status`; the body, and how long it took.
async fn until(url: &str, status: u16, within: Duration) -> (String, Duration) {
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < within {
        last = get(&http, url).await;
        if let Some((s, body)) = &last {
            if *s == status {
                return (body.clone(), start.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer {status} within {within:?}; last: {last:?}");
}

/// An engine with a 2 s health threshold: `/healthz` answers 503 naming
/// why within the threshold (plus a poll) of its node being killed, and
/// 200 again once the node is back on the same port and data.
#[tokio::test(flavor = "multi_thread")]
async fn healthz_fails_while_the_node_is_down_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut node = start_node(dir.path(), port).await;
    let metrics = free_port();
    let key = dev_key(2);
    let engine = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args(["engine", "run", "eicar"])
        .args(["--node", &format!("http://127.0.0.1:{port}")])
        .arg("--private-key")
        .arg(format!("0x{}", hex::encode(key.to_bytes())))
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .args(["--health-threshold-secs", "2"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _engine = KillOnDrop(engine);
    let base = format!("http://127.0.0.1:{metrics}");
    until(&format!("{base}/readyz"), 200, Duration::from_secs(30)).await;
    until(&format!("{base}/healthz"), 200, Duration::from_secs(10)).await;

    // The node dies: unhealthy after the 2 s threshold, not much later.
    let _ = node.0.kill();
    let _ = node.0.wait();
    let (why, took) = until(&format!("{base}/healthz"), 503, Duration::from_secs(8)).await;
    assert!(
        why.starts_with("node_unreachable") || why.starts_with("events_stuck"),
        "{why}"
    );
    assert!(
        took >= Duration::from_millis(1500),
        "unhealthy too soon: {took:?}"
    );
    // The process is still up: /metrics still answers.
    let http = reqwest::Client::new();
    let (status, page) = get(&http, &format!("{base}/metrics")).await.unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("swarm_engine_ready 1"), "{page}");

    // The node comes back on the same port and data: healthy again.
    let _node = start_node(dir.path(), port).await;
    until(&format!("{base}/healthz"), 200, Duration::from_secs(20)).await;
}
