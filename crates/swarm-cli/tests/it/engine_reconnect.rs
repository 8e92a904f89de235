//! Reconnect: the engine's connections to the node are cut in the middle of
//! a run, and it misses no bounty.
//!
//! A small TCP proxy in this test sits between an in-process EICAR engine
//! and the node (the ambassador's posts and the arbiter go to the node
//! directly). While bounties are being posted, the proxy cuts every open
//! connection three times — the WebSocket event stream and any HTTP request
//! in flight — and keeps accepting new ones. It also swallows the answer of
//! one `bounty:Assert` and one `bounty:Reveal` submission and then cuts
//! their connection, as a cut at the wrong moment does: the node has the
//! transaction, the engine does not know it. Bounties are posted right
//! after each cut, so their `bounty` events happen while the engine is
//! reconnecting.
//!
//! At the end every bounty has the engine's assertion on every artifact,
//! revealed with the right verdicts, and settled; the engine's event stream
//! reconnected after every cut.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use swarm_engines::EicarExact;
use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::{Amount, ArtifactType, Bits256, Guid, PostBounty};
use swarm_sdk::{Arbiter, Microengine, NodeClient, ScannerTruth, EICAR};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const BOUNTIES: usize = 12;
/// Cuts happen just before posting these bounties.
const CUT_BEFORE: [usize; 3] = [3, 6, 9];
/// Assertion round, in 50 ms blocks.
const DURATION: u64 = 12;
/// Reveal round, in 50 ms blocks: room for a reveal whose answer is lost to
/// be retried.
const REVEAL_WINDOW: u64 = 10;

/// What the proxy did, for the assertions.
#[derive(Default)]
struct Stats {
    /// Connections open now, and those among them on `/events`.
    open: AtomicUsize,
    open_events: AtomicUsize,
    /// `/events` connections ever made.
    events_connections: AtomicUsize,
    /// Submissions whose answer was swallowed, by transaction name.
    lost: Mutex<HashMap<String, usize>>,
}

/// A TCP proxy to `upstream` that can cut every open connection.
struct Proxy {
    addr: SocketAddr,
    /// Cancelled to cut every connection made under it; replaced by a fresh
    /// token on each cut.
    generation: Arc<Mutex<CancellationToken>>,
    /// Transaction names whose next submission loses its answer.
    armed: Arc<Mutex<HashMap<String, usize>>>,
    stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.generation.lock().unwrap().cancel();
    }
}

/// Decrements the counter when dropped.
struct Open<'a>(&'a AtomicUsize);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let generation = Arc::new(Mutex::new(CancellationToken::new()));
        let armed = Arc::new(Mutex::new(HashMap::new()));
        let stats = Arc::new(Stats::default());
        let task = {
            let generation = Arc::clone(&generation);
            let armed = Arc::clone(&armed);
            let stats = Arc::clone(&stats);
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    let token = generation.lock().unwrap().clone();
                    let armed = Arc::clone(&armed);
                    let stats = Arc::clone(&stats);
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = token.cancelled() => {}
                            _ = relay(client, upstream, armed, &stats) => {}
                        }
                    });
                }
            })
        };
        Proxy {
            addr,
            generation,
            armed,
            stats,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts every open connection; returns how many were open.
    fn cut_all(&self) -> usize {
        let open = self.stats.open.load(Ordering::SeqCst);
        let mut token = self.generation.lock().unwrap();
        token.cancel();
        *token = CancellationToken::new();
        open
    }

    /// The next submission of a transaction named `name` loses its answer.
    fn lose_next_answer(&self, name: &str) {
        *self
            .armed
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default() += 1;
    }

    fn lost(&self, name: &str) -> usize {
        self.stats
            .lost
            .lock()
            .unwrap()
            .get(name)
            .copied()
            .unwrap_or(0)
    }
}

/// Relays one connection both ways. A submission of an armed transaction
/// name is forwarded, its answer swallowed, and the connection cut after a
/// while (when the node has long applied it).
async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    armed: Arc<Mutex<HashMap<String, usize>>>,
    stats: &Stats,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    stats.open.fetch_add(1, Ordering::SeqCst);
    let _open = Open(&stats.open);
    let mut _events = None;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mute = std::sync::atomic::AtomicBool::new(false);

    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut first = true;
        // The request being sniffed for a transaction name, if a POST.
        let mut post: Option<Vec<u8>> = None;
        let mut cut_at: Option<tokio::time::Instant> = None;
        loop {
            let n = tokio::select! {
                r = client_read.read(&mut buf) => match r {
                    Ok(0) | Err(_) => {
                        let _ = server_write.shutdown().await;
                        // Half-closed: the answer may still come.
                        std::future::pending::<()>().await;
                        0
                    }
                    Ok(n) => n,
                },
                _ = tokio::time::sleep_until(cut_at.unwrap_or_else(tokio::time::Instant::now)),
                    if cut_at.is_some() => return,
            };
            let chunk = &buf[..n];
            if first && chunk.starts_with(b"GET /events") {
                stats.events_connections.fetch_add(1, Ordering::SeqCst);
                stats.open_events.fetch_add(1, Ordering::SeqCst);
                _events = Some(Open(&stats.open_events));
            }
            first = false;
            if chunk.starts_with(b"POST /transactions") {
                post = Some(Vec::new());
            }
            if let Some(request) = post.as_mut() {
                request.extend_from_slice(chunk);
                let name = ["bounty:Assert", "bounty:Reveal"]
                    .into_iter()
                    .find(|name| contains(request, name.as_bytes()));
                if let Some(name) = name {
                    post = None;
                    let mut armed = armed.lock().unwrap();
                    if let Some(left) = armed.get_mut(name).filter(|left| **left > 0) {
                        *left -= 1;
                        mute.store(true, Ordering::SeqCst);
                        cut_at = Some(tokio::time::Instant::now() + Duration::from_millis(60));
                        *stats
                            .lost
                            .lock()
                            .unwrap()
                            .entry(name.to_owned())
                            .or_default() += 1;
                    }
                }
            }
            if server_write.write_all(chunk).await.is_err() {
                return;
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = client_write.shutdown().await;
                    return;
                }
                Ok(n) => {
                    if mute.load(Ordering::SeqCst) {
                        continue;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    // Whichever side ends first ends the connection.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// Bounty `i`: 1 to 3 artifacts, EICAR and benign mixed; returns the files
/// and which are EICAR.
fn files(i: usize) -> (Vec<(String, Bytes)>, Vec<bool>) {
    let n = i % 3 + 1;
    let mut files = Vec::new();
    let mut truth = Vec::new();
    for j in 0..n {
        let eicar = (i + j).is_multiple_of(2);
        if eicar {
            files.push((format!("eicar-{i}-{j}.com"), Bytes::from_static(EICAR)));
        } else {
            let text = format!("benign file {i}/{j}: {}\n", rand::random::<u64>());
            files.push((format!("benign-{i}-{j}.txt"), Bytes::from(text)));
        }
        truth.push(eicar);
    }
    (files, truth)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: not within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_engine_whose_connections_are_cut_misses_no_bounty() {
    let started = Instant::now();
    let mut genesis = test_genesis();
    genesis.parameters.assertion_reveal_window = Some(REVEAL_WINDOW);
    let node = TestNode::start(Backend::Sqlite, genesis).await;
    let client = NodeClient::new(node.url());
    let p = client.parameters().await.unwrap().parameters;
    let owner = dev_key(0);
    let upstream: SocketAddr = node
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("the node listens on an IP address");

    // The arbiter talks to the node directly.
    let arbiter_key = dev_key(1);
    let dir = tempfile::tempdir().unwrap();
    let arbiter = tokio::spawn(
        Arbiter::builder(ScannerTruth::new(EicarExact))
            .node(node.url())
            .key(arbiter_key.clone())
            .state(dir.path().join("arbiter.state"))
            .testing(BOUNTIES)
            .build()
            .unwrap()
            .run(),
    );
    for _ in 0..1000 {
        if client.stake_total(&arbiter_key.address()).await.unwrap() >= p.minimum_stake {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(client.stake_total(&arbiter_key.address()).await.unwrap() >= p.minimum_stake);

    // The engine talks to the node through the proxy only.
    let proxy = Proxy::start(upstream).await;
    let key = swarm_e2e::funded(&client, 1_000).await;
    let journal = dir.path().join("engine.journal");
    let engine = tokio::spawn(
        Microengine::builder(EicarExact)
            .node(proxy.url())
            .key(key.clone())
            .journal(&journal)
            .testing(BOUNTIES as u64)
            .build()
            .unwrap()
            .run(),
    );
    wait_for("the engine's start", || journal.exists()).await;

    let mut posted: Vec<(Guid, Vec<bool>)> = Vec::new();
    let mut cuts = Vec::new();
    for i in 0..BOUNTIES {
        if let Some(k) = CUT_BEFORE.iter().position(|c| *c == i) {
            // The event stream is up (reconnected after the previous cut).
            wait_for("the engine's event stream", || {
                proxy.stats.open_events.load(Ordering::SeqCst) > 0
            })
            .await;
            match k {
                0 => proxy.lose_next_answer("bounty:Assert"),
                1 => proxy.lose_next_answer("bounty:Reveal"),
                _ => {}
            }
            let open = proxy.cut_all();
            cuts.push(open);
        }
        let (files, truth) = files(i);
        let uploaded = client.upload(&owner, "dev", &files).await.unwrap();
        let guid = swarm_e2e::guid_v4();
        let n = files.len();
        let post = PostBounty {
            guid,
            artifact_type: ArtifactType::File,
            amount: p.bounty_amount_minimum.checked_mul(n as u128).unwrap(),
            uri: uploaded.uri,
            num_artifacts: n as u32,
            duration: DURATION,
            metadata: Some(uploaded.artifacts.iter().map(|a| a.to_metadata()).collect()),
        };
        let sent = client.send(&owner, "dev", post, true).await.unwrap();
        assert_eq!(sent.status, swarm_sdk::TxStatus::Included);
        posted.push((guid, truth));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let report = tokio::time::timeout(Duration::from_secs(30), engine)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the engine did not finish its {BOUNTIES} bounties within 30 s \
                 (one was missed, or an assertion was never revealed)"
            )
        })
        .expect("the engine panicked")
        .expect("the engine failed");
    let arbiter = tokio::time::timeout(Duration::from_secs(30), arbiter)
        .await
        .expect("the arbiter did not finish in time")
        .unwrap()
        .expect("the arbiter failed");

    // Every bounty: asserted on every artifact, revealed right, settled.
    for (guid, truth) in &posted {
        let b = client.bounty(guid).await.unwrap().unwrap();
        let n = truth.len();
        let (_, a) = b
            .assertion_of(&key.address())
            .unwrap_or_else(|| panic!("bounty {guid} has no assertion by the engine; {report:?}"));
        assert_eq!(a.mask, Bits256::first(n), "{guid}");
        let revealed = a
            .revealed
            .as_ref()
            .unwrap_or_else(|| panic!("bounty {guid}: the engine never revealed; {report:?}"));
        assert_eq!(revealed.verdicts.to_bools(n), *truth, "{guid}");
        let settlement = b
            .settlement
            .as_ref()
            .unwrap_or_else(|| panic!("bounty {guid} is not settled"));
        let paid: Amount = settlement
            .outcome
            .payouts
            .iter()
            .filter(|x| x.account == key.address())
            .map(|x| x.amount)
            .sum();
        let bids: Amount = a.bids.iter().copied().sum();
        // Alone and right: the bids back plus the whole reward.
        assert_eq!(paid, bids.checked_add(b.amount).unwrap(), "{guid}");
    }

    // Each cut hit open connections, the stream came back every time, and
    // the swallowed answers did not cost an assertion or a reveal.
    let events = proxy.stats.events_connections.load(Ordering::SeqCst);
    assert!(cuts.iter().all(|open| *open > 0), "{cuts:?}");
    assert!(
        events > CUT_BEFORE.len(),
        "{events} event stream connections for {} cuts",
        CUT_BEFORE.len()
    );
    assert_eq!(proxy.lost("bounty:Assert"), 1);
    assert_eq!(proxy.lost("bounty:Reveal"), 1);
    assert_eq!(report.bounties_seen, BOUNTIES as u64, "{report:?}");
    assert_eq!(report.assertions, BOUNTIES as u64, "{report:?}");
    assert_eq!(report.reveals, BOUNTIES as u64, "{report:?}");
    assert_eq!(report.settled, BOUNTIES as u64, "{report:?}");
    assert_eq!(report.bounties_skipped, 0, "{report:?}");
    assert!(report.net_wei() > 0, "{report:?}");
    assert_eq!(arbiter.voted, BOUNTIES);
    eprintln!(
        "{BOUNTIES} bounties, cuts of {cuts:?} open connections, {events} event stream \
         connections, in {:.1} s; engine errors {:?}",
        started.elapsed().as_secs_f64(),
        report.errors
    );
}
