//! Scan workers over Redis Streams: `swarm engine run ENGINE --dispatch
//! redis://...` as the coordinator and `swarm worker` processes, against a
//! node of this process and a private `redis-server` each test starts on a
//! free port (never the machine's shared one; a test that cannot start it
//! fails).
//!
//! What they pin: every artifact of many bounties is scanned by some worker
//! and asserted right; a worker killed mid-scan has its job re-claimed by
//! another in time; Redis killed and restarted mid-run costs scans, never a
//! false assertion, and the run completes; a job past its deadline is
//! dropped by the worker and never asserted; workers feeding a PolySwarm
//! webhook engine carry its verdicts and bids. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use swarm_e2e::{Market, RedisServer as Redis, EICAR};
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::{Bits256, Bounty, PrivateKey};
use tokio::process::{Child, Command};

/// A command engine that takes `secs` per file: malicious when the file
/// holds the EICAR string.
fn slow_engine(secs: f64) -> String {
    format!("sleep {secs}; ! grep -q EICAR-STANDARD-ANTIVIRUS-TEST-FILE")
}

/// A `swarm` process with its log (shown when the test fails).
struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    fn start(name: &str, dir: &Path, args: &[String]) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_swarm"))
            .args(args)
            .env("RUST_LOG", "info,swarm_sdk=debug")
            .env("NO_COLOR", "1")
            .env_remove("SWARM_KEYFILE")
            .env_remove("SWARM_DISPATCH")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start the swarm binary");
        Proc {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `text`.
    async fn wait_log(&self, text: &str, timeout: Duration) {
        let started = Instant::now();
        while !self.log().contains(text) {
            assert!(
                started.elapsed() < timeout,
                "{}: no {text:?} in its log within {timeout:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the process to exit by itself; its log.
    async fn exit(&mut self, timeout: Duration) -> String {
        let child = self.child.as_mut().expect("running");
        let status = tokio::time::timeout(timeout, child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not finish within {timeout:?}", self.name))
            .unwrap();
        self.child = None;
        assert!(status.success(), "{} exited with {status}", self.name);
        self.log()
    }

    /// SIGTERM (a clean stop), then waits; its log.
    async fn stop(&mut self) -> String {
        let pid = self.child.as_ref().expect("running").id().unwrap();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        self.exit(Duration::from_secs(20)).await
    }

    /// SIGKILL.
    async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        assert!(
            child.try_wait().unwrap().is_none(),
            "{} had exited",
            self.name
        );
        child.kill().await.unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- {} ----\n{}", self.name, self.log());
        }
    }
}

/// A market with short reveal and vote rounds, so that `--testing`
/// engines finish soon after their last bounty.
async fn market() -> Market {
    let mut genesis = test_genesis();
    genesis.parameters.assertion_reveal_window = Some(10);
    genesis.parameters.arbiter_vote_window = Some(20);
    genesis.parameters.max_duration = Some(200);
    Market::on(TestNode::start(Backend::Sqlite, genesis).await).await
}

fn coordinator(m: &Market, redis: &Redis, key: &PrivateKey, dir: &Path, testing: u64) -> Proc {
    let journal = dir.join("journal");
    std::fs::create_dir_all(&journal).unwrap();
    let args = [
        "engine",
        "run",
        "eicar",
        "--dispatch",
        &redis.url("jobs"),
        "--node",
        &m.url(),
        "--journal",
        journal.to_str().unwrap(),
        "--testing",
        &testing.to_string(),
        "--private-key",
        &format!("0x{}", hex::encode(key.to_bytes())),
    ];
    Proc::start("coordinator", dir, &args.map(String::from))
}

fn worker(m: &Market, redis: &Redis, dir: &Path, name: &str, engine: &str, extra: &[&str]) -> Proc {
    let mut args: Vec<String> = [
        "worker",
        "--dispatch",
        &redis.url("jobs"),
        "--engine",
        engine,
        "--node",
        &m.url(),
        "--consumer",
        name,
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    Proc::start(name, dir, &args)
}

/// Bounty `i`'s files: 1 to 3, EICAR and benign mixed, and which are EICAR.
/// Waits until the coordinator follows the chain and every worker reads
/// the stream.
async fn all_started(engine: &Proc, workers: &[Proc]) {
    engine
        .wait_log("microengine started", Duration::from_secs(20))
        .await;
    for w in workers {
        w.wait_log("scan worker started", Duration::from_secs(20))
            .await;
    }
}

fn files(i: usize) -> (Vec<(String, Vec<u8>)>, Vec<bool>) {
    let n = i % 3 + 1;
    (0..n)
        .map(|j| {
            let eicar = (i + j).is_multiple_of(2);
            let file = if eicar {
                (format!("eicar-{i}-{j}.com"), EICAR.to_vec())
            } else {
                let text = format!("benign {i}/{j}: {}\n", rand::random::<u64>());
                (format!("benign-{i}-{j}.txt"), text.into_bytes())
            };
            (file, eicar)
        })
        .unzip()
}

async fn post(m: &Market, files: &[(String, Vec<u8>)], duration: u64) -> Bounty {
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    m.post(&refs, duration).await
}

/// The engine's assertion on `b` covers every artifact and revealed
/// `truth`.
async fn assert_right(m: &Market, b: &Bounty, key: &PrivateKey, truth: &[bool]) {
    let b = m.bounty(&b.guid).await;
    let n = truth.len();
    let (_, a) = b
        .assertion_of(&key.address())
        .unwrap_or_else(|| panic!("bounty {} has no assertion by the engine", b.guid));
    assert_eq!(a.mask, Bits256::first(n), "bounty {}", b.guid);
    let revealed = a
        .revealed
        .as_ref()
        .unwrap_or_else(|| panic!("bounty {}: never revealed", b.guid));
    assert_eq!(revealed.verdicts.to_bools(n), truth, "bounty {}", b.guid);
}

async fn assert_none(m: &Market, b: &Bounty, key: &PrivateKey) {
    let b = m.bounty(&b.guid).await;
    assert!(
        b.assertion_of(&key.address()).is_none(),
        "bounty {} has an assertion the engine could not back with a scan",
        b.guid
    );
}

/// The number after `label` in a report line such as `scanned 3, ...`.
fn count(log: &str, label: &str) -> u64 {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no {label:?} in\n{log}"));
    let rest = &line[line.find(label).unwrap() + label.len()..];
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_coordinator_and_three_workers_assert_on_every_artifact_of_20_bounties() {
    const BOUNTIES: usize = 20;
    let m = market().await;
    let redis = Redis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = m.funded_key(10_000).await;
    let mut workers: Vec<Proc> = (0..3)
        .map(|i| {
            let extra = ["--max-concurrency", "2", "--visibility-timeout", "5"];
            worker(&m, &redis, dir.path(), &format!("w{i}"), "eicar", &extra)
        })
        .collect();
    let mut engine = coordinator(&m, &redis, &key, dir.path(), BOUNTIES as u64);
    all_started(&engine, &workers).await;
    let mut posted = Vec::new();
    for i in 0..BOUNTIES {
        let (files, truth) = files(i);
        posted.push((post(&m, &files, 40).await, truth));
    }
    let artifacts: usize = posted.iter().map(|(_, t)| t.len()).sum();
    let log = engine.exit(Duration::from_secs(60)).await;
    assert!(
        log.contains(&format!("assertions {BOUNTIES} on {artifacts} artifacts")),
        "{log}"
    );
    for (b, truth) in &posted {
        assert_right(&m, b, &key, truth).await;
    }
    let mut scanned = 0;
    for w in &mut workers {
        let log = w.stop().await;
        scanned += count(&log, "scanned");
        assert_eq!(count(&log, "expired"), 0, "{log}");
    }
    assert_eq!(scanned, artifacts as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_scan_has_its_job_reclaimed_and_the_artifact_still_asserted() {
    let m = market().await;
    let redis = Redis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = m.funded_key(1_000).await;
    let engine_cmd = slow_engine(1.5);
    let extra = ["--max-concurrency", "1", "--visibility-timeout", "1"];
    let mut workers = vec![
        worker(&m, &redis, dir.path(), "w0", &engine_cmd, &extra),
        worker(&m, &redis, dir.path(), "w1", &engine_cmd, &extra),
    ];
    let mut engine = coordinator(&m, &redis, &key, dir.path(), 1);
    all_started(&engine, &workers).await;
    // 100 blocks of 50 ms: the kill, a visibility timeout and a second
    // 1.5 s scan fit, with room for a loaded machine.
    let bounty = post(&m, &[("eicar.com".into(), EICAR.to_vec())], 100).await;
    let started = Instant::now();
    let holder = loop {
        if let Some(i) = workers.iter().position(|w| w.log().contains("scanning")) {
            break i;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no worker took the job"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Mid-scan: the job is pending on the killed worker, unanswered.
    workers[holder].kill().await;
    let other = &workers[1 - holder];
    other
        .wait_log("re-claimed a job", Duration::from_secs(5))
        .await;
    let log = engine.exit(Duration::from_secs(30)).await;
    assert!(log.contains("assertions 1 on 1 artifacts"), "{log}");
    assert_right(&m, &bounty, &key, &[true]).await;
    let log = workers[1 - holder].stop().await;
    assert_eq!(
        (count(&log, "scanned"), count(&log, "re-claimed")),
        (1, 1),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_mid_run_makes_no_false_assertion_and_the_run_completes() {
    let m = market().await;
    let mut redis = Redis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = m.funded_key(1_000).await;
    let engine_cmd = slow_engine(0.3);
    let extra = ["--max-concurrency", "2", "--visibility-timeout", "1"];
    let mut workers = vec![
        worker(&m, &redis, dir.path(), "w0", &engine_cmd, &extra),
        worker(&m, &redis, dir.path(), "w1", &engine_cmd, &extra),
    ];
    let mut engine = coordinator(&m, &redis, &key, dir.path(), 3);
    all_started(&engine, &workers).await;
    // Before: scanned and asserted through Redis.
    let (files_a, truth_a) = files(1);
    let a = post(&m, &files_a, 40).await;
    swarm_e2e::wait_for(
        "the assertion on the first bounty",
        Duration::from_secs(10),
        || async {
            m.bounty(&a.guid)
                .await
                .assertion_of(&key.address())
                .map(|_| ())
        },
    )
    .await;

    // During: the jobs are published and being scanned when Redis dies,
    // and it stays dead past the bounty's deadline.
    let b = post(&m, &[("eicar.com".into(), EICAR.to_vec())], 20).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    redis.kill().await;
    m.node.client.wait_for_block(b.expiration + 2).await;
    redis.restart().await;

    // After: the workers reconnect and recreate their group, the
    // coordinator publishes again.
    let (files_c, truth_c) = files(2);
    let c = post(&m, &files_c, 100).await;

    let log = engine.exit(Duration::from_secs(40)).await;
    assert_none(&m, &b, &key).await;
    assert_right(&m, &a, &key, &truth_a).await;
    assert_right(&m, &c, &key, &truth_c).await;
    let artifacts = truth_a.len() + truth_c.len();
    assert!(
        log.contains(&format!("assertions 2 on {artifacts} artifacts")),
        "{log}"
    );
    // The second bounty's job was published, then lost with Redis.
    assert!(log.contains("scan_timeout: 1"), "{log}");
    let mut groups = 0;
    for w in &mut workers {
        let log = w.stop().await;
        groups += log.matches("consumer group created").count();
    }
    assert!(groups >= 2, "the lost consumer group was not created again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_deadline_is_dropped_by_the_worker_and_never_asserted() {
    let m = market().await;
    let redis = Redis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = m.funded_key(1_000).await;
    let mut engine = coordinator(&m, &redis, &key, dir.path(), 2);
    engine
        .wait_log("microengine started", Duration::from_secs(20))
        .await;
    // No worker runs while the first bounty's round is open.
    let late = post(&m, &[("eicar.com".into(), EICAR.to_vec())], 20).await;
    engine
        .wait_log("scan job published", Duration::from_secs(5))
        .await;
    m.node.client.wait_for_block(late.expiration).await;
    let mut w = worker(&m, &redis, dir.path(), "w0", "eicar", &[]);
    w.wait_log(
        "job past its deadline dropped unanswered",
        Duration::from_secs(20),
    )
    .await;
    // The worker does work: the next bounty is asserted.
    let on_time = post(&m, &[("eicar.com".into(), EICAR.to_vec())], 40).await;
    let log = engine.exit(Duration::from_secs(30)).await;
    assert_none(&m, &late, &key).await;
    assert_right(&m, &on_time, &key, &[true]).await;
    assert!(log.contains("assertions 1 on 1 artifacts"), "{log}");
    assert!(log.contains("scan_timeout: 1"), "{log}");
    let log = w.stop().await;
    assert_eq!(
        (count(&log, "scanned"), count(&log, "expired")),
        (1, 1),
        "{log}"
    );
}

/// `swarm worker --engine webhook`: workers feeding a polyswarm-engine
/// engine (`swarm_e2e::PsEngine`); its verdicts and its own bids (the
/// largest allowed on EICAR, the smallest on the rest) travel through Redis
/// to the coordinator's assertions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_feed_a_polyswarm_webhook_engine_and_its_bids_reach_the_chain() {
    const BOUNTIES: usize = 5;
    let ps = swarm_e2e::PsEngine::start("worker-webhook-secret").await;
    let m = market().await;
    let redis = Redis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = m.funded_key(1_000).await;
    let extra = ["--webhook-url", &ps.url, "--webhook-secret", &ps.secret];
    let mut workers: Vec<Proc> = (0..2)
        .map(|i| worker(&m, &redis, dir.path(), &format!("w{i}"), "webhook", &extra))
        .collect();
    let mut engine = coordinator(&m, &redis, &key, dir.path(), BOUNTIES as u64);
    all_started(&engine, &workers).await;
    let mut posted = Vec::new();
    for i in 0..BOUNTIES {
        let (files, truth) = files(i);
        posted.push((post(&m, &files, 40).await, truth));
    }
    let log = engine.exit(Duration::from_secs(60)).await;
    assert!(log.contains(&format!("assertions {BOUNTIES} on")), "{log}");
    let limits = m.client.parameters().await.unwrap().parameters;
    for (b, truth) in &posted {
        assert_right(&m, b, &key, truth).await;
        let b = m.bounty(&b.guid).await;
        let (_, a) = b.assertion_of(&key.address()).unwrap();
        let bids: Vec<_> = truth
            .iter()
            .map(|eicar| {
                if *eicar {
                    limits.assertion_bid_maximum
                } else {
                    limits.assertion_bid_minimum
                }
            })
            .collect();
        assert_eq!(a.bids, bids, "bounty {}", b.guid);
    }
    for w in &mut workers {
        w.stop().await;
    }
}

/// GET `url`: status and body, or `None` when nothing answers.
async fn http_get(url: &str) -> Option<(u16, String)> {
    let r = reqwest::get(url).await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.ok()?))
}

/// Polls `url` until it answers `status`; the body.
async fn answers(url: &str, status: u16, within: Duration) -> String {
    let start = std::time::Instant::now();
    let mut last = None;
    while start.elapsed() < within {
        last = http_get(url).await;
        if let Some((s, body)) = &last {
            if *s == status {
                return body.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer {status} within {within:?}; last: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_is_unhealthy_while_redis_is_down_and_healthy_when_it_returns() {
    let m = market().await;
    let mut redis = Redis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let listen = addr.to_string();
    let extra = ["--metrics-listen", &listen, "--health-threshold-secs", "1"];
    let _w = worker(&m, &redis, dir.path(), "w0", "eicar", &extra);
    let base = format!("http://{addr}");
    answers(&format!("{base}/readyz"), 200, Duration::from_secs(20)).await;
    answers(&format!("{base}/healthz"), 200, Duration::from_secs(5)).await;
    let page = answers(&format!("{base}/metrics"), 200, Duration::from_secs(5)).await;
    assert!(page.contains("# TYPE swarm_worker_jobs counter"), "{page}");
    assert!(page.contains("swarm_worker_ready 1"), "{page}");

    redis.kill().await;
    let why = answers(&format!("{base}/healthz"), 503, Duration::from_secs(8)).await;
    assert!(why.starts_with("redis_unreachable"), "{why}");
    redis.restart().await;
    answers(&format!("{base}/healthz"), 200, Duration::from_secs(20)).await;
}
