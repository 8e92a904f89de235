//! The Redis dispatch in this process: a microengine whose scans go to
//! [`RedisWorker`]s through a private `redis-server`, and the coordinator's
//! promises one by one — a job it cannot publish or that nobody answers
//! fails at its deadline, a second answer to a job is ignored. The CLI's
//! `tests/it/redis_workers.rs` runs the same with worker processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use swarm_protocol::{Address, Bits256, Bounty};
use swarm_sdk::{
    Artifact, ArtifactKind, Microengine, RedisDispatch, RedisTarget, RedisWorker, ScanDispatch,
    ScanError, ScanFailure, ScanJob, ScanResult, Scanner, WorkerReport,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use swarm_e2e::{wait_for, Market, RedisServer, EICAR};

/// EICAR is malicious, anything else benign. With `stall`, the first scan
/// blocks its thread (and so its worker's whole runtime, heartbeats
/// included) for that long: a worker that looks dead, then wakes up.
#[derive(Default)]
struct Eicar {
    stall: Option<Duration>,
    started: Arc<AtomicBool>,
}

impl Scanner for Eicar {
    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        if !self.started.swap(true, Ordering::SeqCst) {
            if let Some(stall) = self.stall {
                std::thread::sleep(stall);
            }
        }
        if artifact.content.as_ref() == EICAR {
            Ok(ScanResult::malicious(1.0, "EICAR-Test-File"))
        } else {
            Ok(ScanResult::benign(0.5))
        }
    }
}

fn job(bounty: &Bounty, index: usize, within: Duration) -> ScanJob {
    ScanJob {
        bounty_guid: bounty.guid,
        uri: bounty.uri.clone(),
        index,
        kind: ArtifactKind::File,
        metadata: Default::default(),
        deadline: Instant::now() + within,
    }
}

fn worker(
    m: &Market,
    target: &RedisTarget,
    scanner: Eicar,
    visibility: Duration,
    stop: &CancellationToken,
) -> RedisWorker<Eicar> {
    RedisWorker::builder(scanner, target.clone())
        .node(m.url())
        .max_concurrency(2)
        .visibility_timeout(visibility)
        .shutdown(stop.clone())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_microengine_asserts_what_its_redis_workers_scanned() {
    let m = Market::start().await;
    let redis = RedisServer::start().await;
    let target: RedisTarget = redis.url("engine").parse().unwrap();
    let stop = CancellationToken::new();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let w = worker(&m, &target, Eicar::default(), Duration::from_secs(5), &stop);
            tokio::spawn(w.run())
        })
        .collect();
    let key = m.funded_key(1000).await;
    let dispatch = Arc::new(RedisDispatch::new(target, key.address(), "eicar").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let engine = Microengine::builder(Eicar::default())
        .node(m.url())
        .key(key.clone())
        .journal(dir.path())
        .testing(3)
        .dispatch(Arc::clone(&dispatch))
        .build()
        .unwrap();
    let journal = engine.journal_path().unwrap().to_path_buf();
    let engine = tokio::spawn(engine.run());
    wait_for("the engine's start", Duration::from_secs(5), || async {
        journal.exists().then_some(())
    })
    .await;
    let mut posted = Vec::new();
    for files in [
        vec![("a.com", EICAR)],
        vec![("b.txt", b"hello".as_slice()), ("c.com", EICAR)],
        vec![("d.txt", b"x".as_slice()), ("e.txt", b"y".as_slice())],
    ] {
        let truth: Vec<bool> = files.iter().map(|(_, b)| *b == EICAR).collect();
        posted.push((m.post(&files, 20).await, truth));
    }
    for (b, truth) in &posted {
        let b = wait_for("an assertion", Duration::from_secs(5), || async {
            let b = m.bounty(&b.guid).await;
            b.assertion_of(&key.address()).is_some().then_some(b)
        })
        .await;
        let (_, a) = b.assertion_of(&key.address()).unwrap();
        assert_eq!(a.mask, Bits256::first(truth.len()));
    }
    let report = tokio::time::timeout(Duration::from_secs(30), engine)
        .await
        .expect("the engine finished its bounties")
        .unwrap()
        .unwrap();
    assert_eq!((report.assertions, report.artifacts_asserted), (3, 5));
    for (b, truth) in &posted {
        let b = m.bounty(&b.guid).await;
        let (_, a) = b.assertion_of(&key.address()).unwrap();
        let revealed = a.revealed.as_ref().expect("revealed");
        assert_eq!(revealed.verdicts.to_bools(truth.len()), *truth);
    }
    let stats = dispatch.stats();
    assert_eq!(
        (stats.published, stats.answered, stats.duplicates),
        (5, 5, 0)
    );
    stop.cancel();
    let mut scanned = 0;
    for w in workers {
        let r: WorkerReport = w.await.unwrap().unwrap();
        scanned += r.scanned;
        assert_eq!((r.expired, r.reclaimed, r.malformed), (0, 0, 0));
    }
    assert_eq!(scanned, 5);
}

#[tokio::test]
async fn a_job_that_cannot_be_published_fails_as_dispatch_unavailable_at_its_deadline() {
    let m = Market::start().await;
    let bounty = m.post(&[("a.com", EICAR)], 20).await;
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target: RedisTarget = format!("redis://127.0.0.1:{port}/jobs").parse().unwrap();
    let dispatch = RedisDispatch::new(target, Address::ZERO, "eicar").unwrap();
    let started = Instant::now();
    let outcome = dispatch
        .scan(job(&bounty, 0, Duration::from_millis(600)))
        .await;
    let (failure, detail) = outcome.result.unwrap_err();
    assert_eq!(failure, ScanFailure::Unavailable, "{detail}");
    assert_eq!(failure.code(), "dispatch_unavailable");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(dispatch.stats().unpublished, 1);
}

#[tokio::test]
async fn a_job_nobody_answers_times_out_at_its_deadline() {
    let m = Market::start().await;
    let bounty = m.post(&[("a.com", EICAR)], 20).await;
    let redis = RedisServer::start().await;
    let dispatch =
        RedisDispatch::new(redis.url("jobs").parse().unwrap(), Address::ZERO, "eicar").unwrap();
    let started = Instant::now();
    let outcome = dispatch
        .scan(job(&bounty, 0, Duration::from_millis(400)))
        .await;
    assert_eq!(outcome.result.unwrap_err().0, ScanFailure::Timeout);
    assert!(started.elapsed() >= Duration::from_millis(390));
    let stats = dispatch.stats();
    assert_eq!((stats.published, stats.unanswered), (1, 1));
}

/// A worker stalls mid-scan (its runtime blocked, no heartbeat) past the
/// visibility timeout: another worker re-claims and answers the job, then
/// the first wakes up and answers too. The microengine gets one answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_answer_to_a_reclaimed_job_is_ignored() {
    let m = Market::start().await;
    let bounty = m.post(&[("a.com", EICAR)], 20).await;
    let redis = RedisServer::start().await;
    let target: RedisTarget = redis.url("jobs").parse().unwrap();
    let dispatch = Arc::new(RedisDispatch::new(target.clone(), Address::ZERO, "eicar").unwrap());
    let vt = Duration::from_millis(300);
    let stop = CancellationToken::new();

    // The staller runs alone on a runtime of its own thread.
    let stalled = Arc::new(AtomicBool::new(false));
    let staller = worker(
        &m,
        &target,
        Eicar {
            stall: Some(Duration::from_millis(1500)),
            started: Arc::clone(&stalled),
        },
        vt,
        &stop,
    );
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(staller.run())
    });
    let scan = tokio::spawn({
        let dispatch = Arc::clone(&dispatch);
        let job = job(&bounty, 0, Duration::from_secs(10));
        async move { dispatch.scan(job).await }
    });
    wait_for(
        "the staller takes the job",
        Duration::from_secs(5),
        || async { stalled.load(Ordering::SeqCst).then_some(()) },
    )
    .await;
    let rescuer = tokio::spawn(worker(&m, &target, Eicar::default(), vt, &stop).run());
    let outcome = tokio::time::timeout(Duration::from_secs(5), scan)
        .await
        .expect("the rescuer answered")
        .unwrap();
    assert!(outcome.result.unwrap().verdict == swarm_sdk::Verdict::Malicious);
    wait_for(
        "the staller's late answer",
        Duration::from_secs(5),
        || async { (dispatch.stats().duplicates == 1).then_some(()) },
    )
    .await;
    stop.cancel();
    let rescuer = rescuer.await.unwrap().unwrap();
    assert_eq!((rescuer.scanned, rescuer.reclaimed), (1, 1));
    let staller = thread.join().unwrap().unwrap();
    assert_eq!(staller.scanned, 1);
    let stats = dispatch.stats();
    assert_eq!((stats.answered, stats.duplicates), (1, 1));
}
