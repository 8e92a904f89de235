//! The microengine runtime against a real node in this process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use swarm_protocol::{commitment, Amount, Bits256, Bounty, Guid, PrivateKey, Transfer, H256};
use swarm_sdk::{
    Artifact, CommittedAssertion, EngineReport, Journal, Microengine, Record, ScanDispatch,
    ScanError, ScanJob, ScanOutcome, ScanResult, Scanner,
};
use tokio::task::JoinHandle;

use swarm_e2e::{wait_for, Market, EICAR};

/// EICAR is malicious, anything else benign; files named `err*`, `panic*`
/// and `slow*` fail, panic and overrun the deadline.
#[derive(Clone, Default)]
struct TestScanner {
    scans: Arc<AtomicUsize>,
}

impl Scanner for TestScanner {
    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        self.scans.fetch_add(1, Ordering::SeqCst);
        let name = artifact.metadata.filename.as_deref().unwrap_or("");
        if name.starts_with("err") {
            return Err(ScanError::Unavailable("backend down".into()));
        }
        if name.starts_with("panic") {
            panic!("scanner bug on {name}");
        }
        if name.starts_with("slow") {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        if artifact.content.as_ref() == EICAR {
            Ok(ScanResult::malicious(1.0, "EICAR-Test-File"))
        } else {
            Ok(ScanResult::benign(0.5))
        }
    }
}

/// Artifact downloads served so far, from `/metrics`.
async fn downloads(m: &Market) -> u64 {
    let text = reqwest::get(format!("{}/metrics", m.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("swarm_artifact_requests_total{op=\"download\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .map(|n| n.parse::<f64>().unwrap() as u64)
        .unwrap_or(0)
}

/// Waits until the node holds an assertion by `key` on `guid`.
async fn wait_for_assertion(m: &Market, guid: &Guid, key: &PrivateKey) -> Bounty {
    let what = format!("an assertion on {guid}");
    wait_for(&what, Duration::from_secs(4), || async {
        let b = m.bounty(guid).await;
        b.assertion_of(&key.address()).is_some().then_some(b)
    })
    .await
}

fn journal_of(dir: &Path, key: &PrivateKey) -> PathBuf {
    dir.join(format!("{}.journal", key.address()))
}

/// Starts `engine`; returns once it is listening (its journal exists).
async fn spawn(
    engine: Microengine<TestScanner>,
) -> JoinHandle<Result<EngineReport, swarm_sdk::EngineError>> {
    let journal = engine.journal_path().unwrap().to_path_buf();
    let started = std::fs::metadata(&journal).map(|m| m.len()).ok();
    let handle = tokio::spawn(engine.run());
    for _ in 0..500 {
        // The journal is opened (and, if new, created) after the engine
        // has read the tip its event stream starts from.
        let now = std::fs::metadata(&journal).map(|m| m.len()).ok();
        if now.is_some() && (started.is_none() || now != started) {
            break;
        }
        if started.is_some() {
            // An existing journal: give the engine a moment to read the tip.
            tokio::time::sleep(Duration::from_millis(200)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    handle
}

async fn finish(handle: JoinHandle<Result<EngineReport, swarm_sdk::EngineError>>) -> EngineReport {
    tokio::time::timeout(Duration::from_secs(15), handle)
        .await
        .expect("the engine finished its bounties in time")
        .expect("the engine task did not panic")
        .expect("the engine ran without error")
}

#[test]
fn eicar_is_the_68_byte_test_string() {
    assert_eq!(EICAR.len(), 68);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eicar_engine_asserts_reveals_and_is_paid() {
    let m = Market::start().await;
    let key = m.funded_key(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = Microengine::builder(TestScanner::default())
        .node(m.url())
        .key(key.clone())
        .journal(dir.path())
        .testing(1)
        .build()
        .unwrap();
    let handle = spawn(engine).await;

    let bounty = m
        .post(&[("eicar.com", EICAR), ("hello.txt", b"hello world")], 20)
        .await;
    m.vote(&bounty, Bits256::from_indices([0])).await;
    let report = finish(handle).await;

    assert_eq!(report.bounties_seen, 1);
    assert_eq!(report.assertions, 1);
    assert_eq!(report.artifacts_asserted, 2);
    assert_eq!(report.artifacts_downloaded, 2);
    assert_eq!(report.reveals, 1);
    assert_eq!(report.settled, 1);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // Right on both artifacts and alone: bids back plus the whole reward.
    assert!(report.net_wei() > 0, "{report:?}");

    let settled = m.bounty(&bounty.guid).await;
    let (_, assertion) = settled.assertion_of(&key.address()).unwrap();
    assert_eq!(assertion.mask, Bits256::from_indices([0, 1]));
    let revealed = assertion.revealed.as_ref().unwrap();
    assert_eq!(revealed.verdicts, Bits256::from_indices([0]));
    assert_eq!(revealed.metadata[0]["malware_family"], "EICAR-Test-File");
    let outcome = &settled.settlement.as_ref().unwrap().outcome;
    let paid: Amount = outcome
        .payouts
        .iter()
        .filter(|p| p.account == key.address())
        .map(|p| p.amount)
        .sum();
    assert_eq!(paid, report.payouts);
    let balance = m.client.balance(&key.address()).await.unwrap();
    assert!(balance > Amount::from_nct(1000), "{balance}");
    // Everything settled: the journal holds nothing in flight.
    let journal = Journal::open(journal_of(dir.path(), &key)).unwrap();
    assert!(journal.entries().is_empty());
    assert!(journal.checkpoint().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_scans_assert_nothing_and_the_engine_runs_on() {
    let m = Market::start().await;
    let key = m.funded_key(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = Microengine::builder(TestScanner::default())
        .node(m.url())
        .key(key.clone())
        .journal(dir.path())
        .safety_margin_blocks(5)
        .testing(2)
        .build()
        .unwrap();
    let handle = spawn(engine).await;

    let first = m
        .post(
            &[
                ("err.bin", b"one"),
                ("panic.bin", b"two"),
                ("slow.bin", b"three"),
                ("eicar.com", EICAR),
            ],
            20,
        )
        .await;
    let second = m.post(&[("again.com", EICAR)], 20).await;
    m.vote(&first, Bits256::from_indices([3])).await;
    m.vote(&second, Bits256::from_indices([0])).await;
    let report = finish(handle).await;

    let b = m.bounty(&first.guid).await;
    let (_, a) = b.assertion_of(&key.address()).unwrap();
    assert_eq!(a.mask, Bits256::from_indices([3]));
    assert_eq!(
        a.revealed.as_ref().unwrap().verdicts,
        Bits256::from_indices([3])
    );
    let b = m.bounty(&second.guid).await;
    assert!(b.assertion_of(&key.address()).unwrap().1.revealed.is_some());

    assert_eq!(report.errors_of("scan_error"), 1, "{report:?}");
    assert_eq!(report.errors_of("scan_panic"), 1, "{report:?}");
    assert_eq!(report.errors_of("scan_timeout"), 1, "{report:?}");
    assert_eq!(report.assertions, 2);
    assert_eq!(report.artifacts_asserted, 2);
    assert_eq!(report.reveals, 2);
    assert_eq!(report.settled, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_artifacts_are_never_downloaded() {
    let m = Market::start().await;
    let key = m.funded_key(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let scanner = TestScanner::default();
    let scans = Arc::clone(&scanner.scans);
    let engine = Microengine::builder(scanner)
        .node(m.url())
        .key(key.clone())
        .journal(dir.path())
        .reject("mimetype == text/plain".parse().unwrap())
        .testing(2)
        .build()
        .unwrap();
    let handle = spawn(engine).await;
    let downloads_before = downloads(&m).await;

    // Only text: nothing to look at, skipped without a download.
    let text_only = m.post(&[("notes.txt", b"just some text")], 20).await;
    let mixed = m
        .post(
            &[
                ("readme.txt", b"more text"),
                ("blob.bin", b"\x00\x01\x02binary"),
            ],
            20,
        )
        .await;
    assert_eq!(
        mixed.metadata.as_ref().unwrap()[0].mimetype.as_deref(),
        Some("text/plain")
    );
    m.vote(&mixed, Bits256::EMPTY).await;
    let report = finish(handle).await;

    assert_eq!(downloads(&m).await - downloads_before, 1);
    assert_eq!(report.artifacts_downloaded, 1);
    assert_eq!(report.artifacts_filtered, 2);
    assert_eq!(scans.load(Ordering::SeqCst), 1);
    assert_eq!(report.bounties_seen, 2);
    assert_eq!(report.bounties_skipped, 1);
    let b = m.bounty(&text_only.guid).await;
    assert!(b.assertions.is_empty());
    let b = m.bounty(&mixed.guid).await;
    let (_, a) = b.assertion_of(&key.address()).unwrap();
    assert_eq!(a.mask, Bits256::from_indices([1]));
    assert_eq!(report.settled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_engine_reveals_what_it_asserted_before_the_crash() {
    let m = Market::start().await;
    let key = m.funded_key(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let build = || {
        Microengine::builder(TestScanner::default())
            .node(m.url())
            .key(key.clone())
            .journal(dir.path())
            .testing(1)
            .build()
            .unwrap()
    };
    let crashed = spawn(build()).await;
    let bounty = m
        .post(&[("eicar.com", EICAR), ("hello.txt", b"hello world")], 20)
        .await;
    wait_for_assertion(&m, &bounty.guid, &key).await;
    // Crash before the reveal round.
    crashed.abort();
    assert!(crashed.await.unwrap_err().is_cancelled());
    assert!(m.client.status().await.unwrap().block < bounty.expiration);
    let journal = Journal::open(journal_of(dir.path(), &key)).unwrap();
    let entry = journal.entry(&bounty.guid).unwrap();
    assert!(!entry.revealed);
    drop(journal);

    let restarted = spawn(build()).await;
    m.vote(&bounty, Bits256::from_indices([0])).await;
    let report = finish(restarted).await;

    assert_eq!(report.resumed, 1);
    assert_eq!(report.reveals, 1);
    assert_eq!(report.settled, 1);
    assert_eq!(
        report.assertions, 0,
        "the restarted engine must not assert again"
    );
    assert!(report.payouts > Amount::ZERO);
    let b = m.bounty(&bounty.guid).await;
    assert_eq!(b.assertions.len(), 1);
    let revealed = b.assertions[0].revealed.as_ref().unwrap();
    assert_eq!(revealed.verdicts, Bits256::from_indices([0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journaled_assertion_that_never_reached_the_node_is_resubmitted() {
    let m = Market::start().await;
    let key = m.funded_key(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let bounty = m
        .post(&[("eicar.com", EICAR), ("hello.txt", b"hello world")], 20)
        .await;
    // A crash after the journal write and before `bounty:Assert` went out.
    let nonce = H256([0x5a; 32]);
    let verdicts = Bits256::from_indices([0]);
    let params = m.client.parameters().await.unwrap().parameters;
    let committed = CommittedAssertion {
        guid: bounty.guid,
        nonce,
        verdicts,
        mask: Bits256::from_indices([0, 1]),
        bids: vec![params.assertion_bid_minimum; 2],
        fee: params.assertion_fee,
        commitment: commitment(&verdicts, &nonce, &key.address()),
        metadata: serde_json::json!([{"malware_family": "EICAR"}, {"malware_family": ""}]),
        expiration: bounty.expiration,
        reveal_deadline: bounty.reveal_deadline(),
        vote_deadline: bounty.vote_deadline(),
    };
    let mut journal = Journal::open(journal_of(dir.path(), &key)).unwrap();
    journal
        .append(Record::Committed(committed.clone()))
        .unwrap();
    drop(journal);

    let engine = Microengine::builder(TestScanner::default())
        .node(m.url())
        .key(key.clone())
        .journal(dir.path())
        .testing(1)
        .build()
        .unwrap();
    let handle = spawn(engine).await;
    m.vote(&bounty, Bits256::from_indices([0])).await;
    let report = finish(handle).await;

    assert_eq!(report.resumed, 1);
    assert_eq!(report.assertions, 1);
    assert_eq!(report.reveals, 1);
    assert_eq!(report.settled, 1);
    let b = m.bounty(&bounty.guid).await;
    assert_eq!(b.assertions.len(), 1);
    let (_, a) = b.assertion_of(&key.address()).unwrap();
    assert_eq!(a.commitment, committed.commitment);
    assert_eq!(a.revealed.as_ref().unwrap().nonce, nonce);
}

/// The engine reads its balance once at start and follows it from the
/// events after that: NCT sent to it and by it, its assertion's bids and
/// fee, and the settlement's payout all move it as they move the node's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_balance_followed_from_events_equals_the_nodes_after_transfers_and_payouts() {
    let m = Market::start().await;
    let key = m.funded_key(1000).await;
    let other = m.funded_key(50).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = Microengine::builder(TestScanner::default())
        .node(m.url())
        .key(key.clone())
        .journal(dir.path())
        .testing(1)
        .build()
        .unwrap();
    let handle = spawn(engine).await;

    let to_engine = Transfer {
        to: key.address(),
        amount: Amount::from_nct(7),
    };
    m.client.send(&other, "dev", to_engine, true).await.unwrap();
    let from_engine = Transfer {
        to: other.address(),
        amount: Amount::parse_nct("2.5").unwrap(),
    };
    m.client.send(&key, "dev", from_engine, true).await.unwrap();
    let bounty = m
        .post(&[("eicar.com", EICAR), ("hello.txt", b"hello world")], 20)
        .await;
    m.vote(&bounty, Bits256::from_indices([0])).await;
    let report = finish(handle).await;

    assert_eq!((report.assertions, report.settled), (1, 1), "{report:?}");
    assert!(report.payouts > Amount::ZERO);
    let node = m.client.balance(&key.address()).await.unwrap();
    assert_eq!(report.balance, Some(node), "{report:?}");
    assert_eq!(report.errors_of("balance_unavailable"), 0);
}

/// A crash after the journal's group commit and before the assertion went
/// out (the records of a turn are flushed first, the turn's transactions
/// sent after): the restarted engine sends the journaled assertion
/// unchanged and reveals it with the journaled nonce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_journal_commit_and_the_submission_still_reveals_after_restart() {
    let m = Market::start().await;
    let key = m.funded_key(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let bounty = m
        .post(&[("eicar.com", EICAR), ("hello.txt", b"hello world")], 20)
        .await;
    let params = m.client.parameters().await.unwrap().parameters;
    let nonce = H256([0x77; 32]);
    let verdicts = Bits256::from_indices([0]);
    let committed = CommittedAssertion {
        guid: bounty.guid,
        nonce,
        verdicts,
        mask: Bits256::from_indices([0, 1]),
        bids: vec![params.assertion_bid_minimum; 2],
        fee: params.assertion_fee,
        commitment: commitment(&verdicts, &nonce, &key.address()),
        metadata: serde_json::json!([{"malware_family": "EICAR"}, {"malware_family": ""}]),
        expiration: bounty.expiration,
        reveal_deadline: bounty.reveal_deadline(),
        vote_deadline: bounty.vote_deadline(),
    };
    // The turn that committed: its records staged together, one fsync,
    // then the process died before the submission.
    let mut journal = Journal::open(journal_of(dir.path(), &key)).unwrap();
    journal.stage(Record::Checkpoint { block: 1 }).unwrap();
    journal.stage(Record::Committed(committed.clone())).unwrap();
    journal.commit().unwrap();
    assert_eq!(journal.syncs(), 1);
    drop(journal);
    assert!(m
        .bounty(&bounty.guid)
        .await
        .assertion_of(&key.address())
        .is_none());

    let engine = Microengine::builder(TestScanner::default())
        .node(m.url())
        .key(key.clone())
        .journal(dir.path())
        .testing(1)
        .build()
        .unwrap();
    let handle = spawn(engine).await;
    m.vote(&bounty, Bits256::from_indices([0])).await;
    let report = finish(handle).await;

    assert_eq!(report.resumed, 1);
    assert_eq!((report.assertions, report.reveals), (1, 1), "{report:?}");
    let b = m.bounty(&bounty.guid).await;
    let (_, a) = b.assertion_of(&key.address()).unwrap();
    assert_eq!(a.commitment, committed.commitment);
    assert_eq!(a.revealed.as_ref().unwrap().nonce, nonce);
    assert_eq!(
        report.balance,
        Some(m.client.balance(&key.address()).await.unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_engine_and_checkpoints() {
    let m = Market::start().await;
    let key = m.funded_key(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let token = tokio_util::sync::CancellationToken::new();
    let engine = Microengine::builder(TestScanner::default())
        .node(m.url())
        .key(key.clone())
        .journal(dir.path().join("engine.journal"))
        .shutdown(token.clone())
        .build()
        .unwrap();
    assert_eq!(
        engine.journal_path().unwrap(),
        dir.path().join("engine.journal")
    );
    let handle = spawn(engine).await;
    m.node
        .client
        .wait_for_block(m.client.status().await.unwrap().block + 3)
        .await;
    token.cancel();
    let report = tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Nothing happened but the start: the balance read, as minted.
    assert_eq!(report.balance, Some(Amount::from_nct(1000)));
    assert_eq!(
        EngineReport {
            balance: None,
            ..report
        },
        EngineReport::default()
    );
    let journal = Journal::open(dir.path().join("engine.journal")).unwrap();
    assert!(journal.checkpoint().is_some());
}

/// A dispatch that is not the local one: it answers from the bounty's
/// metadata alone (EICAR's sha256 is malicious), downloads nothing, and
/// keeps every job it was handed.
#[derive(Clone, Default)]
struct MetadataDispatch {
    jobs: Arc<std::sync::Mutex<Vec<ScanJob>>>,
}

impl ScanDispatch for MetadataDispatch {
    async fn scan(&self, job: ScanJob) -> ScanOutcome {
        const EICAR_SHA256: &str =
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
        let malicious = job.metadata.sha256.as_deref() == Some(EICAR_SHA256);
        self.jobs.lock().unwrap().push(job);
        ScanOutcome {
            result: Ok(if malicious {
                ScanResult::malicious(0.9, "EICAR by its hash")
            } else {
                ScanResult::benign(0.9)
            }),
            downloaded: false,
        }
    }
}

/// The seam is real: a microengine given another `ScanDispatch` hands it
/// every allowed artifact — with the bundle, index, metadata and a deadline
/// before the round closes — asserts on its answers, and never touches its
/// scanner or the node's artifacts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_microengine_scans_through_the_dispatch_it_is_given() {
    let m = Market::start().await;
    let key = m.funded_key(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let scanner = TestScanner::default();
    let scans = Arc::clone(&scanner.scans);
    let dispatch = MetadataDispatch::default();
    let jobs = Arc::clone(&dispatch.jobs);
    let engine = Microengine::builder(scanner)
        .node(m.url())
        .key(key.clone())
        .journal(dir.path())
        .dispatch(dispatch)
        .testing(1)
        .build()
        .unwrap();
    let handle = spawn(engine).await;
    let downloads_before = downloads(&m).await;
    let posted_at = tokio::time::Instant::now();
    let bounty = m
        .post(&[("eicar.com", EICAR), ("hello.txt", b"hello world")], 20)
        .await;
    m.vote(&bounty, Bits256::from_indices([0])).await;
    let report = finish(handle).await;

    assert_eq!(report.assertions, 1);
    assert_eq!(report.artifacts_asserted, 2);
    assert_eq!(report.artifacts_downloaded, 0);
    assert_eq!(scans.load(Ordering::SeqCst), 0, "the local scanner ran");
    assert_eq!(downloads(&m).await, downloads_before);
    let mut jobs = jobs.lock().unwrap().clone();
    jobs.sort_by_key(|j| j.index);
    assert_eq!(jobs.iter().map(|j| j.index).collect::<Vec<_>>(), [0, 1]);
    for job in &jobs {
        assert_eq!(job.bounty_guid, bounty.guid);
        assert_eq!(job.uri, bounty.uri);
        assert_eq!(
            job.metadata.sha256,
            bounty.metadata.as_ref().unwrap()[job.index].sha256
        );
        assert!(job.deadline > posted_at, "a deadline in the past");
    }
    let settled = m.bounty(&bounty.guid).await;
    let (_, assertion) = settled.assertion_of(&key.address()).unwrap();
    assert_eq!(
        assertion.revealed.as_ref().unwrap().verdicts,
        Bits256::from_indices([0])
    );
}
