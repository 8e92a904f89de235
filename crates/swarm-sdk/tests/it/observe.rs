//! A participant's health and metrics server (`metrics_listen`) against a
//! real node: the three routes, and a port already taken.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::PrivateKey;
use swarm_sdk::{
    Artifact, CancellationToken, EngineError, Microengine, ScanError, ScanResult, Scanner,
};

struct Nop;

impl Scanner for Nop {
    async fn scan(&self, _: &Artifact) -> Result<ScanResult, ScanError> {
        Ok(ScanResult::unknown())
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn get(url: &str) -> Option<(u16, String)> {
    let r = reqwest::get(url).await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_serves_health_readiness_and_metrics() {
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let addr = free_addr();
    let stop = CancellationToken::new();
    let engine = Microengine::builder(Nop)
        .node(node.url())
        .key(PrivateKey::random())
        .metrics_listen(addr)
        .health_threshold(Duration::from_secs(5))
        .shutdown(stop.clone())
        .build()
        .unwrap();
    let run = tokio::spawn(engine.run());
    let base = format!("http://{addr}");
    let start = Instant::now();
    loop {
        if let Some((200, body)) = get(&format!("{base}/readyz")).await {
            assert_eq!(body, "ready\n");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        get(&format!("{base}/healthz")).await,
        Some((200, "ok\n".to_owned()))
    );
    let (status, page) = get(&format!("{base}/metrics")).await.unwrap();
    assert_eq!(status, 200);
    for line in [
        "swarm_engine_ready 1\n",
        "# TYPE swarm_engine_assertions counter\n",
        "# TYPE swarm_engine_scan_seconds histogram\n",
        "# TYPE swarm_engine_nct_balance gauge\n",
        "# TYPE swarm_engine_blocks_behind gauge\n",
        "# TYPE swarm_engine_journal_records gauge\n",
    ] {
        assert!(page.contains(line), "no {line:?} in\n{page}");
    }
    // Only an engine's metrics: nothing of the arbiter's or ambassador's.
    assert!(!page.contains("swarm_arbiter_"), "{page}");
    assert_eq!(get(&format!("{base}/nothing")).await.unwrap().0, 404);
    let posted = reqwest::Client::new()
        .post(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 405);

    stop.cancel();
    run.await.unwrap().unwrap();
    // The server ends with the engine.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(get(&format!("{base}/healthz")).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_port_stops_the_start_with_its_own_error() {
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let engine = Microengine::builder(Nop)
        .node(node.url())
        .key(PrivateKey::random())
        .metrics_listen(addr)
        .build()
        .unwrap();
    match engine.run().await {
        Err(EngineError::Observe(e)) => {
            assert_eq!(e.code(), "metrics_bind");
            assert!(e.to_string().contains(&addr.to_string()), "{e}");
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
}
