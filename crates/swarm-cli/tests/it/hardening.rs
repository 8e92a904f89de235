//! What a client may take of a running `swarm node` is bounded: memory per
//! event stream, connections per IP and in all, time to send headers.
//!
//! Each test runs the real binary as a child process (with its own file
//! descriptor limit where that is the point) and measures it from outside:
//! its resident memory in `/proc`, its open descriptors, what its sockets
//! answer. Regression tests for a node that grew to 7.5 GB with 100 event
//! clients that never read, kept 500 slowloris connections past 40 s, and
//! ran out of file descriptors under 20,000 idle connections.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use swarm_node::dev_key;
use swarm_node::test_utils::Client;
use swarm_protocol::{Amount, ArtifactMetadata, ArtifactType, Guid, PostBounty, Tx};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

struct Node {
    child: Child,
    client: Client,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// `swarm node` on a free port with `args`, under `ulimit -n fds` when given.
    async fn start(args: &[&str], fds: Option<u32>) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("sh");
        let limit = fds
            .map(|n| format!("ulimit -n {n} && "))
            .unwrap_or_default();
        cmd.arg("-c")
            .arg(format!("{limit}exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_swarm"))
            .arg("node")
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--block-time-ms")
            .arg("50")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().unwrap();
        let client = Client::new(format!("http://127.0.0.1:{port}"));
        let node = Node {
            child,
            client,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        };
        for _ in 0..500 {
            if let Ok(r) = node
                .client
                .http
                .get(format!("{}/status", node.client.base))
                .send()
                .await
            {
                if r.status().is_success() {
                    return node;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the node did not come up on port {port}");
    }

    /// Resident memory, in bytes.
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb * 1024
    }

    /// Open file descriptors.
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    /// A gauge of `swarm_open` from `/metrics`.
    async fn open(&self, what: &str) -> i64 {
        let text = self
            .client
            .http
            .get(format!("{}/metrics", self.client.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let prefix = format!("swarm_open{{what=\"{what}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
    }

    /// How long `GET /status` takes, asserting it succeeds.
    async fn status_latency(&self) -> Duration {
        let started = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            self.client
                .http
                .get(format!("{}/status", self.client.base))
                .send(),
        )
        .await
        .expect("GET /status took more than 5 s")
        .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        started.elapsed()
    }

    /// A TCP connection to the node from `source` (any loopback address).
    async fn connect_from(&self, source: [u8; 4]) -> std::io::Result<TcpStream> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        socket.connect(self.addr).await
    }
}

/// A WebSocket handshake for `/events?since=0`, written and never read from.
async fn open_silent_stream(node: &Node) -> TcpStream {
    let mut tcp = node.connect_from([127, 0, 0, 1]).await.unwrap();
    let request = format!(
        "GET /events?since=0 HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        node.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp
}

/// Posts `count` bounties whose metadata carries `size` bytes each.
async fn post_big_bounties(node: &Node, count: usize, size: usize) {
    let c = &node.client;
    let owner = dev_key(0);
    let (uri, _) = c
        .upload(&[("big.bin", b"a bounty with big metadata".as_slice())])
        .await;
    let blob = "m".repeat(size);
    // Each batch is signed just before it is sent: under load, the blocks
    // that pass while earlier batches are posted must not expire it.
    let mut left = count;
    while left > 0 {
        let n = left.min(25);
        left -= n;
        let expires = c.block().await + 200;
        let batch: Vec<_> = (0..n)
            .map(|_| {
                let mut entry = ArtifactMetadata::default();
                entry.extra.insert("blob".into(), json!(blob));
                let post = PostBounty {
                    guid: Guid::new_v4(),
                    artifact_type: ArtifactType::File,
                    amount: Amount::parse_nct("0.0625").unwrap(),
                    uri: uri.clone(),
                    num_artifacts: 1,
                    duration: 20,
                    metadata: Some(vec![entry]),
                };
                Tx::new(owner.address(), "dev", expires, post).sign(&owner)
            })
            .collect();
        let (status, body) = c.submit(&batch, true).await;
        assert_eq!(status, 200, "{body}");
        for item in body["result"].as_array().unwrap() {
            assert_eq!(item["status"], "included", "{item}");
        }
    }
}

/// 100 clients open `/events?since=0` over 300 stored events of 120 KB and
/// never read. Each stream holds at most one page of stored events and
/// waits for its client; the node's memory stays within a bound, it keeps
/// answering others, and after the send timeout it lets the silent
/// clients go. Before: ~75 MB per such client (7.5 GB for 100), never freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn non_reading_event_clients_keep_the_node_memory_bounded() {
    const CLIENTS: usize = 100;
    const EVENTS: usize = 300;
    const EVENT_BYTES: usize = 120 * 1024;
    /// The bound this test holds the node to: what 100 silent clients may
    /// add to its resident memory.
    const BOUND: u64 = 256 * 1024 * 1024;
    let node = Node::start(
        &[
            "--event-send-timeout",
            "4",
            "--max-subscriptions-per-ip",
            &CLIENTS.to_string(),
        ],
        None,
    )
    .await;
    let started = Instant::now();
    post_big_bounties(&node, EVENTS, EVENT_BYTES).await;
    eprintln!("posted {EVENTS} bounties in {:?}", started.elapsed());
    let baseline = node.rss();

    let mut silent = Vec::new();
    for _ in 0..CLIENTS {
        silent.push(open_silent_stream(&node).await);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.open("event_streams").await < CLIENTS as i64 {
        assert!(
            Instant::now() < deadline,
            "the silent streams did not all open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One over the per-IP cap: refused before the upgrade.
    let mut refused = open_silent_stream(&node).await;
    let mut answer = vec![0; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), refused.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.to_lowercase().contains("retry-after"), "{answer}");
    assert!(answer.contains("event streams"), "{answer}");

    // While the streams wait on their clients: memory and service.
    let mut peak = baseline;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        peak = peak.max(node.rss());
        slowest = slowest.max(node.status_latency().await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(node.open("event_streams").await, CLIENTS as i64);
    let grown = peak.saturating_sub(baseline);
    eprintln!(
        "{CLIENTS} silent event clients over {EVENTS} events of {EVENT_BYTES} bytes: \
         RSS {} MiB -> peak {} MiB (+{} MiB, bound {} MiB); slowest GET /status {slowest:?}",
        baseline >> 20,
        peak >> 20,
        grown >> 20,
        BOUND >> 20
    );
    assert!(grown < BOUND, "the node grew by {} MiB", grown >> 20);
    assert!(
        slowest < Duration::from_secs(1),
        "GET /status took {slowest:?}"
    );

    // A client that reads (from another address: this one holds its
    // share) gets every event.
    let ws_url = format!("ws://{}/events?since=0", node.addr);
    let tcp = node.connect_from([127, 0, 0, 3]).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(ws_url.as_str(), tcp)
        .await
        .unwrap();
    let mut bounties = 0;
    while bounties < EVENTS {
        let message = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("the reading client stalled")
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            let event: Value = serde_json::from_str(text.as_str()).unwrap();
            if event["event"] == "bounty" {
                assert_eq!(
                    event["data"]["metadata"][0]["blob"].as_str().map(str::len),
                    Some(EVENT_BYTES)
                );
                bounties += 1;
            }
        }
    }
    drop(ws);
    eprintln!(
        "a reading client replayed them all at {:?}",
        started.elapsed()
    );

    // After the send timeout the silent clients are let go.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let open = node.open("event_streams").await;
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} event streams still open");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("the silent clients were let go at {:?}", started.elapsed());
    drop(silent);
}

/// 200 connections that send their headers a byte at a time, and 50 that
/// send nothing, are closed by the header-read timeout; other clients are
/// served all along. Before: all stayed open past 40 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slowloris_connections_are_closed_by_the_header_timeout() {
    let node = Node::start(&["--header-read-timeout", "1"], None).await;
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut tcp = node.connect_from([127, 0, 0, 2]).await.unwrap();
        tcp.write_all(b"GET /status HTTP/1.1\r\n").await.unwrap();
        slow.push(tcp);
    }
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(node.connect_from([127, 0, 0, 2]).await.unwrap());
    }
    // A header byte every 200 ms, for up to 5 s: the node must close first.
    let started = Instant::now();
    let mut closed_at = vec![None; slow.len()];
    while closed_at.iter().any(Option::is_none) && started.elapsed() < Duration::from_secs(5) {
        for (i, tcp) in slow.iter_mut().enumerate() {
            if closed_at[i].is_some() {
                continue;
            }
            if tcp.write_all(b"X").await.is_err() || peer_closed(tcp).await {
                closed_at[i] = Some(started.elapsed());
            }
        }
        node.status_latency().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let still_open = closed_at.iter().filter(|c| c.is_none()).count();
    assert_eq!(
        still_open, 0,
        "{still_open} slowloris connections still open after 5 s"
    );
    let latest = closed_at.iter().flatten().max().unwrap();
    eprintln!("200 slowloris connections closed within {latest:?} of a 1 s header timeout");
    for tcp in &mut idle {
        assert!(peer_closed(tcp).await, "an idle connection is still open");
    }
    assert!(node.open("connections").await <= 1);
}

/// Whether the peer has closed `tcp` (a read sees the end, or an error).
async fn peer_closed(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // The node may answer (408, or the refusal) before it closes.
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// A flood of idle connections from one address takes at most its per-IP
/// share; the rest are refused at once with 429, and the API keeps
/// answering other clients. Under a file-descriptor limit of 1,024 the
/// node caps itself below it and answers 503 when full instead of failing
/// `accept` for want of descriptors. Before: 20,110 idle connections
/// exhausted the node's descriptors and every client timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_flood_is_refused_and_other_clients_are_served() {
    const PER_IP: usize = 300;
    // A header timeout longer than the test: the flood stays until dropped.
    let mut node = Node::start(
        &[
            "--max-connections-per-ip",
            &PER_IP.to_string(),
            "--header-read-timeout",
            "60",
        ],
        Some(1024),
    )
    .await;

    // The flood: 2,000 connections from 127.0.0.2.
    let mut flood = Vec::new();
    for _ in 0..2000 {
        flood.push(node.connect_from([127, 0, 0, 2]).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut refused, mut kept) = (0, 0);
    for tcp in &mut flood {
        match answer_status(tcp).await {
            Some(429) => refused += 1,
            Some(other) => panic!("a flood connection was answered {other}"),
            None => kept += 1,
        }
    }
    eprintln!("flood of 2000 from one address: {kept} kept, {refused} refused with 429");
    assert_eq!(kept, PER_IP);
    assert_eq!(refused, 2000 - PER_IP);
    let latency = node.status_latency().await;
    assert!(
        latency < Duration::from_secs(1),
        "GET /status took {latency:?}"
    );

    // More from other addresses fill the node: its cap (below the 1,024
    // descriptors, after its reserve and the event streams' share) is
    // reached without a single failed accept.
    let mut more = Vec::new();
    for i in 0..4u8 {
        for _ in 0..200 {
            more.push(node.connect_from([127, 0, 1, i]).await.unwrap());
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut full = 0;
    for tcp in &mut more {
        if let Some(status) = answer_status(tcp).await {
            assert_eq!(status, 503);
            full += 1;
        }
    }
    let mut probe = node.connect_from([127, 0, 0, 1]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let probe = answer_status(&mut probe).await;
    let fds = node.fds();
    eprintln!(
        "then 800 from four more addresses: {full} refused with 503; node holds {fds} descriptors of 1024"
    );
    assert!(full > 0, "the node never reported itself full");
    assert!(fds < 1024, "the node holds {fds} descriptors");
    assert_eq!(probe, Some(503), "a full node must refuse a new connection");

    // The flood goes; everyone is served again.
    drop(flood);
    drop(more);
    tokio::time::sleep(Duration::from_millis(500)).await;
    node.status_latency().await;
    assert!(matches!(node.child.try_wait(), Ok(None)), "the node died");
}

/// The status of an answer already waiting on `tcp`, if any.
async fn answer_status(tcp: &mut TcpStream) -> Option<u16> {
    let mut buf = [0u8; 512];
    match tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut buf)).await {
        Ok(Ok(n)) if n >= 12 => std::str::from_utf8(&buf[9..12]).ok()?.parse().ok(),
        _ => None,
    }
}
