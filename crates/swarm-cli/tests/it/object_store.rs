//! Artifacts in an S3-compatible object store (a private `moto_server` per
//! test): two nodes on one PostgreSQL database and one bucket serve the same
//! artifacts through a whole lifecycle; an object store that hangs gives 503
//! with Retry-After, loses nothing and the marketplace recovers when it
//! returns; a missing bucket stops `swarm node` at start-up, naming it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use swarm_engines::EicarExact;
use swarm_node::artifacts::Namespace;
use swarm_node::test_utils::{fresh_postgres_database, test_genesis, LocalS3, TestNode};
use swarm_node::{ArtifactBackend, BlobStore, S3Blobs, S3Config};
use swarm_protocol::{Address, Amount, Bounty, PrivateKey};
use swarm_sdk::{Arbiter, Microengine, Multiplier, NodeClient, ScannerTruth};
use tokio_util::sync::CancellationToken;

use swarm_e2e::{files, post_bounty, wait_for, Market, EICAR};

/// Assertion round of every bounty, in blocks of the test genesis.
const DURATION: u64 = 20;

/// A node on `database_url` keeping its artifacts in `s3`.
async fn node_on(database_url: Option<String>, s3: &S3Config) -> TestNode {
    let s3 = s3.clone();
    TestNode::start_configured(
        tempfile::tempdir().unwrap(),
        database_url,
        test_genesis(),
        move |config| config.artifacts = ArtifactBackend::S3(s3),
    )
    .await
}

/// An EICAR engine on `url`, funded with 1,000 NCT by `market`'s owner.
async fn engine(
    market: &Market,
    url: &str,
    stop: &CancellationToken,
) -> (
    PrivateKey,
    tokio::task::JoinHandle<Result<swarm_sdk::EngineReport, swarm_sdk::EngineError>>,
) {
    let key = market.funded_key(1_000).await;
    let engine = Microengine::builder(EicarExact)
        .node(url.to_owned())
        .key(key.clone())
        .bid_strategy(Arc::new(Multiplier::DEFAULT))
        .shutdown(stop.clone())
        .build()
        .unwrap();
    (key, tokio::spawn(engine.run()))
}

/// The arbiter of `market`, voting the truth by EICAR, on `url`.
fn arbiter(
    market: &Market,
    url: &str,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<Result<swarm_sdk::ArbiterReport, swarm_sdk::ArbiterError>> {
    let arbiter = Arbiter::builder(ScannerTruth::new(EicarExact))
        .node(url.to_owned())
        .key(market.arbiter.clone())
        .shutdown(stop.clone())
        .build()
        .unwrap();
    tokio::spawn(arbiter.run())
}

/// Waits until bounty `guid` is settled on `client`'s node.
async fn settled(client: &NodeClient, bounty: &Bounty) -> Bounty {
    wait_for(
        &format!("the settlement of {}", bounty.guid),
        Duration::from_secs(60),
        || async {
            client
                .bounty(&bounty.guid)
                .await
                .unwrap()
                .filter(|b| b.settlement.is_some())
        },
    )
    .await
}

/// What `engine` put into the settled `bounties` (bids and assertion fees)
/// and what they paid it.
fn ledger(bounties: &[Bounty], engine: &Address) -> (Amount, Amount) {
    let mut spent = Amount::ZERO;
    let mut paid = Amount::ZERO;
    for b in bounties {
        for a in b.assertions.iter().filter(|a| &a.author == engine) {
            for bid in a.bids.iter().chain([&a.fee]) {
                spent = spent.checked_add(*bid).unwrap();
            }
        }
        let outcome = &b.settlement.as_ref().unwrap().outcome;
        for p in outcome.payouts.iter().filter(|p| &p.account == engine) {
            paid = paid.checked_add(p.amount).unwrap();
        }
    }
    (spent, paid)
}

/// Every object the bucket holds under its prefix hashes to its name: no
/// partial blob, no damaged manifest. Returns how many there are.
async fn every_object_whole(s3: &S3Config) -> usize {
    let blobs = S3Blobs::connect(s3.clone()).await.unwrap();
    let mut count = 0;
    for namespace in Namespace::ALL {
        let listed: Vec<_> = blobs.list(namespace).try_collect().await.unwrap();
        for item in listed {
            let bytes = blobs
                .get(&item.key)
                .await
                .unwrap()
                .unwrap()
                .into_bytes()
                .await
                .unwrap();
            assert_eq!(bytes.len() as u64, item.meta.size, "{}", item.key);
            assert_eq!(hex::encode(Sha256::digest(&bytes)), item.key.name());
            count += 1;
        }
    }
    count
}

/// Two nodes sharing one PostgreSQL database and one bucket are one
/// marketplace: artifacts uploaded through the sequencer are posted through
/// the follower, one engine downloads from each node, the arbiter votes
/// through the follower, and every bounty settles with each engine's
/// balance equal, to the wei and on both nodes, to what it had less its
/// bids and fees plus what the settlements paid it. Then the sequencer
/// stops while an upload is in flight to the follower, which completes it,
/// takes over and includes its post.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_and_one_bucket_are_one_marketplace() {
    let server = LocalS3::start().await.unwrap();
    let s3 = server.fresh_bucket("marketplace").await.unwrap();
    let url = fresh_postgres_database().await;
    let (a, b) = tokio::join!(
        node_on(Some(url.clone()), &s3),
        node_on(Some(url.clone()), &s3)
    );
    let a_leads = a.client.result("/status").await["sequencer"] == true;
    let (sequencer, follower) = if a_leads { (a, b) } else { (b, a) };
    assert_eq!(follower.client.result("/status").await["sequencer"], false);
    let follower_url = follower.url();
    let follower_client = NodeClient::new(follower_url.clone());
    let market = Market::on(sequencer).await;

    let stop = CancellationToken::new();
    let (key_a, engine_a) = engine(&market, &market.url(), &stop).await;
    let (key_b, engine_b) = engine(&market, &follower_url, &stop).await;
    let arbiter = arbiter(&market, &follower_url, &stop);
    let before_a = market.client.balance(&key_a.address()).await.unwrap();
    // Read where the mints were included: the follower may not have
    // applied their block yet.
    let before_b = market.client.balance(&key_b.address()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut bounties = Vec::new();
    for i in 0..4u8 {
        let benign = format!("benign file {i} of the shared-bucket marketplace").into_bytes();
        let set = files(&[("eicar.com", EICAR), ("notes.txt", &benign)]);
        // Uploaded to the sequencer...
        let uploaded = market
            .client
            .upload(&market.owner, "dev", &set)
            .await
            .unwrap();
        // ...readable through the follower at once, from the same bucket.
        let manifest = follower_client.manifest(&uploaded.uri).await.unwrap();
        assert_eq!(manifest.len(), 2);
        let got = follower_client
            .download(&uploaded.uri, 1, 1 << 20)
            .await
            .unwrap();
        assert_eq!(&got[..], &benign[..]);
        // ...and posted through the follower (which checks the bundle
        // exists before forwarding the post to the sequencer).
        let bounty = post_bounty(
            &follower_client,
            &market.owner,
            set,
            Amount::from_nct(2),
            DURATION,
        )
        .await;
        assert_eq!(bounty.uri, uploaded.uri, "same content, same bundle");
        bounties.push(bounty);
    }

    let mut done = Vec::new();
    for bounty in &bounties {
        done.push(settled(&follower_client, bounty).await);
    }
    for b in &done {
        let authors: Vec<Address> = b.assertions.iter().map(|a| a.author).collect();
        assert!(
            authors.contains(&key_a.address()) && authors.contains(&key_b.address()),
            "bounty {}: both engines asserted ({authors:?})",
            b.guid
        );
        let consensus = b.settlement.as_ref().unwrap().outcome.consensus.unwrap();
        assert_eq!(consensus, swarm_protocol::Bits256::from_indices([0]));
    }
    stop.cancel();
    let reports = [
        engine_a.await.unwrap().unwrap(),
        engine_b.await.unwrap().unwrap(),
    ];
    arbiter.await.unwrap().unwrap();

    let mut balances = BTreeMap::new();
    for (key, before, report) in [
        (&key_a, before_a, &reports[0]),
        (&key_b, before_b, &reports[1]),
    ] {
        let (spent, paid) = ledger(&done, &key.address());
        let expected = before
            .checked_sub(spent)
            .unwrap()
            .checked_add(paid)
            .unwrap();
        let on_a = market.client.balance(&key.address()).await.unwrap();
        let on_b = follower_client.balance(&key.address()).await.unwrap();
        assert_eq!(
            on_a,
            expected,
            "{}: balance on the sequencer",
            key.address()
        );
        assert_eq!(on_b, expected, "{}: balance on the follower", key.address());
        assert!(paid > spent, "{}: a right engine gains NCT", key.address());
        assert_eq!(report.artifacts_asserted, 8, "{report:?}");
        assert_eq!(
            report.net_wei(),
            i128::try_from(paid.wei()).unwrap() - i128::try_from(spent.wei()).unwrap(),
            "{report:?}"
        );
        balances.insert(key.address(), expected);
    }
    // 4 bundles of 2 files, EICAR stored once: 5 blobs and 4 manifests.
    assert_eq!(every_object_whole(&s3).await, 9);
    eprintln!("engine balances after 4 bounties through 2 nodes: {balances:?}");

    // The sequencer goes away while the follower receives an upload: the
    // upload completes (the bucket, not the sequencer, stores it), the
    // follower takes over, and the bundle is posted through it.
    let big: Vec<u8> = (0..12u32 << 20).map(|i| (i % 251) as u8).collect();
    let upload = {
        let (client, owner, big) = (follower_client.clone(), market.owner.clone(), big.clone());
        tokio::spawn(async move {
            client
                .upload(&owner, "dev", &files(&[("big.bin", &big)]))
                .await
        })
    };
    let Market {
        node: sequencer,
        owner,
        ..
    } = market;
    sequencer.node.shutdown().await.unwrap();
    let uploaded = upload.await.unwrap().unwrap();
    wait_for(
        "the follower takes over",
        Duration::from_secs(30),
        || async {
            let status = follower.client.result("/status").await;
            (status["sequencer"] == true).then_some(())
        },
    )
    .await;
    let bounty = post_bounty(
        &follower_client,
        &owner,
        files(&[("big.bin", &big)]),
        Amount::from_nct(1),
        DURATION,
    )
    .await;
    assert_eq!(bounty.uri, uploaded.uri);
    let got = follower_client
        .download(&bounty.uri, 0, 16 << 20)
        .await
        .unwrap();
    assert!(
        got[..] == big[..],
        "the artifact uploaded during the takeover"
    );
    follower.node.shutdown().await.unwrap();
}

/// The status, `Retry-After` and body of an upload of `files` made with
/// one attempt (no retries).
async fn upload_once(node: &TestNode, files: &[(&str, &[u8])]) -> (u16, Option<String>, String) {
    let contents: Vec<&[u8]> = files.iter().map(|(_, b)| *b).collect();
    let permission = node
        .client
        .upload_permission(&swarm_node::dev_key(0), &contents)
        .await;
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in files {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_string()),
        );
    }
    let r = reqwest::Client::new()
        .post(format!("{}/artifacts", node.url()))
        .header("authorization", permission)
        .multipart(form)
        .send()
        .await
        .unwrap();
    once(r).await
}

async fn once(r: reqwest::Response) -> (u16, Option<String>, String) {
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, r.text().await.unwrap())
}

/// An object store that stops answering mid-run: uploads, downloads and
/// posts that need it are answered 503 with Retry-After within the
/// configured timeout (never 500), nothing partial appears in the bucket,
/// what was stored before is intact afterwards, and the marketplace goes
/// on — a bundle uploaded before the outage is posted, asserted on and
/// settled once the store is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_store_that_hangs_gives_503_and_loses_nothing() {
    let server = LocalS3::start().await.unwrap();
    let mut s3 = server.fresh_bucket("outage").await.unwrap();
    s3.timeout = Duration::from_secs(2);
    let market = Market::on(node_on(None, &s3).await).await;
    let stop = CancellationToken::new();
    let (key, engine) = engine(&market, &market.url(), &stop).await;
    let arbiter = arbiter(&market, &market.url(), &stop);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Before: a whole lifecycle.
    let first = market.post(&[("eicar.com", EICAR)], DURATION).await;
    settled(&market.client, &first).await;
    // A bundle stored before the outage, posted after it.
    let kept = b"kept across the outage".to_vec();
    let (kept_uri, _) = market
        .node
        .client
        .upload(&[("eicar.com", EICAR), ("kept.txt", &kept)])
        .await;
    let objects_before = every_object_whole(&s3).await;

    server.pause().unwrap();
    let started = std::time::Instant::now();
    let big = vec![7u8; 3 << 20];
    let (status, retry_after, body) = upload_once(&market.node, &[("big.bin", &big)]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(body.contains("artifact store backend error"), "{body}");
    let r = reqwest::get(format!("{}/artifacts/{kept_uri}/1", market.url()))
        .await
        .unwrap();
    let (status, retry_after, body) = once(r).await;
    assert_eq!(status, 503, "{body}");
    assert!(retry_after.is_some());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the 503s took {:?}",
        started.elapsed()
    );
    server.resume().unwrap();

    // After: what was stored is intact, nothing partial was left, and the
    // upload refused during the outage was never stored.
    assert_eq!(every_object_whole(&s3).await, objects_before);
    let got = market.client.download(&kept_uri, 1, 1 << 20).await.unwrap();
    assert_eq!(&got[..], &kept[..]);
    let second = post_bounty(
        &market.client,
        &market.owner,
        files(&[("eicar.com", EICAR), ("kept.txt", &kept)]),
        Amount::from_nct(2),
        DURATION,
    )
    .await;
    assert_eq!(second.uri, kept_uri);
    let second = settled(&market.client, &second).await;
    let asserted = second
        .assertions
        .iter()
        .find(|a| a.author == key.address())
        .expect("the engine asserted on the bundle stored before the outage");
    assert_eq!(asserted.mask.count(), 2);
    // And uploads work again.
    let (status, _, body) = upload_once(&market.node, &[("big.bin", &big)]).await;
    assert_eq!(status, 200, "{body}");
    stop.cancel();
    let report = engine.await.unwrap().unwrap();
    arbiter.await.unwrap().unwrap();
    assert_eq!(report.settled, 2, "{report:?}");
    market.node.node.shutdown().await.unwrap();
}

/// `swarm node --artifacts s3://...` on a bucket that does not exist, or an
/// endpoint nobody answers on, exits at start-up with an error naming the
/// store, instead of failing at the first upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_stops_the_node_at_start_up() {
    let server = LocalS3::start().await.unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    for (endpoint, bucket) in [
        (server.endpoint().to_owned(), "no-such-bucket"),
        (format!("http://127.0.0.1:{closed_port}"), "any-bucket"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarm"))
            .args(["node", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(["--artifacts", &format!("s3://{bucket}/swarm")])
            .args(["--s3-endpoint", &endpoint])
            .env("AWS_ACCESS_KEY_ID", "swarm-test")
            .env("AWS_SECRET_ACCESS_KEY", "swarm-test-secret")
            .env("SWARM_ARTIFACTS_TIMEOUT_MS", "3000")
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(60), out)
            .await
            .expect("swarm node did not exit")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "cannot use the artifact store s3://{bucket}/swarm"
            )),
            "{stderr}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args(["node", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--artifacts", "s3://Not_A_Bucket"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("is not s3://BUCKET[/PREFIX]"), "{stderr}");
}
