//! The webhook engine against a fake engine written here — the protocol's
//! edges: signatures, retries, nonces, late and double answers — and
//! against the real polyswarm-engine package (`swarm_e2e::PsEngine`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use swarm_engines::webhook::wire::{self, Bounty};
use swarm_engines::{Webhook, WebhookConfig, EICAR};
use swarm_protocol::Amount;
use swarm_sdk::{Artifact, ScanError, Scanner, Verdict};
use tokio::time::Instant;

/// A delivery the fake engine received.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// An engine that records every delivery and answers with the next of
/// `statuses` (202 once they run out). The test plays the engine's worker.
#[derive(Clone, Default)]
struct Fake {
    received: Arc<Mutex<Vec<Received>>>,
    statuses: Arc<Mutex<Vec<u16>>>,
}

impl Fake {
    async fn start(statuses: &[u16]) -> (Fake, String) {
        let fake = Fake::default();
        *fake.statuses.lock().unwrap() = statuses.iter().rev().copied().collect();
        let state = fake.clone();
        let app = axum::Router::new().route(
            "/eicar",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    state
                        .received
                        .lock()
                        .unwrap()
                        .push(Received { headers, body });
                    let status = state.statuses.lock().unwrap().pop().unwrap_or(202);
                    (StatusCode::from_u16(status).unwrap(), "{}")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/eicar", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, url)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits for the `n`th bounty delivery.
    async fn bounty(&self, n: usize) -> (Received, Bounty) {
        let started = Instant::now();
        loop {
            let bounties: Vec<Received> = self
                .received()
                .into_iter()
                .filter(|r| r.headers["x-polyswarm-event"] == "bounty")
                .collect();
            if let Some(r) = bounties.get(n) {
                let bounty = serde_json::from_slice(&r.body).unwrap();
                return (r.clone(), bounty);
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no delivery");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

const SECRET: &str = "webhook-test-secret";

fn webhook(url: &str, secret: &str) -> Webhook {
    Webhook::new(WebhookConfig::new(url, secret)).unwrap()
}

fn within(artifact: Artifact, d: Duration) -> Artifact {
    Artifact {
        deadline: Some(Instant::now() + d),
        ..artifact
    }
}

async fn answer(url: &str, json: serde_json::Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .json(&json)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn deliveries_are_signed_and_shaped_as_polyswarm_engine_reads_them() {
    let (fake, url) = Fake::start(&[]).await;
    let engine = Arc::new(webhook(&url, SECRET));
    let content = b"some file".to_vec();
    let scan = {
        let engine = Arc::clone(&engine);
        let artifact = within(Artifact::file(content.clone()), Duration::from_secs(30));
        tokio::spawn(async move { engine.scan(&artifact).await })
    };
    let (delivery, bounty) = fake.bounty(0).await;

    // The signature is the hex HMAC-SHA256 of the exact body.
    let h = &delivery.headers;
    assert_eq!(
        h["x-polyswarm-signature"].to_str().unwrap(),
        wire::signature(SECRET, &delivery.body).unwrap()
    );
    assert_eq!(h["x-polyswarm-delivery"].len(), 36, "a UUID");
    assert_eq!(h["content-type"], "application/json");

    // The bounty, as polyswarm-engine's typing.py has it.
    assert!(bounty.id > 0 && bounty.id < 1 << 53);
    assert_eq!(bounty.artifact_type, "FILE");
    assert_eq!(
        bounty.metadata.sha256,
        hex::encode(Sha256::digest(&content))
    );
    let defaults = swarm_protocol::Parameters::default();
    assert_eq!(
        (bounty.rules.min_allowed_bid, bounty.rules.max_allowed_bid),
        (
            defaults.assertion_bid_minimum.wei(),
            defaults.assertion_bid_maximum.wei()
        )
    );
    assert!((29..=30).contains(&bounty.duration), "{}", bounty.duration);
    assert!(bounty.expiration.ends_with("+00:00") && bounty.tasked_at.ends_with("+00:00"));
    assert!(bounty.expiration > bounty.tasked_at);
    // The response URL splits as the package's _get_callback_info splits it.
    let response = reqwest::Url::parse(&bounty.response_url).unwrap();
    let parts: Vec<&str> = response.path().split('/').collect();
    assert_eq!(parts.len(), 6, "{parts:?}");
    assert_eq!(
        (parts[3], parts[4], parts[5]),
        (&*bounty.id.to_string(), "assertions", "")
    );
    let query = response.query().unwrap();
    let nonce = query.strip_prefix("nonce=").unwrap();
    assert!(nonce.len() >= 32 && !nonce.contains('='));

    // The artifact downloads from artifact_uri, and not without its nonce.
    let got = reqwest::get(&bounty.artifact_uri).await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(&got.bytes().await.unwrap()[..], &content[..]);
    let no_nonce = bounty.artifact_uri.split('?').next().unwrap();
    assert_eq!(reqwest::get(no_nonce).await.unwrap().status(), 403);

    // A wrong nonce is refused and the scan still waits.
    let wrong = bounty.response_url.replace(nonce, &"0".repeat(nonce.len()));
    let (status, _) = answer(&wrong, serde_json::json!({"verdict": "benign", "bid": 1})).await;
    assert_eq!(status, 403);
    assert!(!scan.is_finished());

    // The analysis, polyswarm-engine's enriched result, is taken once.
    let analysis = serde_json::json!({
        "verdict": "malicious", "bid": 500_000_000_000_000_000u64, "confidence": 0.75,
        "metadata": {"malware_family": "Trojan:Win32/Emotet.A!MTB", "product": "fake",
                     "scanner": {"environment": {"operating_system": "Linux", "architecture": "x86_64"}}}
    });
    let (status, body) = answer(&bounty.response_url, analysis.clone()).await;
    assert_eq!(status, 200, "{body}");
    let result = scan.await.unwrap().unwrap();
    assert_eq!(result.verdict, Verdict::Malicious);
    assert_eq!(result.bid, Some(Amount::from_wei(500_000_000_000_000_000)));
    assert_eq!(result.confidence, 0.75);
    // The engine's name normalized, and kept.
    assert_eq!(result.metadata.malware_family, "emotet");
    assert_eq!(
        result.metadata.extra["raw_family"],
        "Trojan:Win32/Emotet.A!MTB"
    );
    assert_eq!(result.metadata.product.as_deref(), Some("fake"));
    // The delivery is over: a second answer and a download find nothing.
    let (status, _) = answer(&bounty.response_url, analysis).await;
    assert_eq!(status, 404);
    assert_eq!(
        reqwest::get(&bounty.artifact_uri).await.unwrap().status(),
        404
    );
    assert_eq!(engine.in_flight(), 0);
}

#[tokio::test]
async fn five_hundreds_are_retried_and_a_refused_signature_names_the_secret() {
    let (fake, url) = Fake::start(&[503, 502]).await;
    let engine = Arc::new(webhook(&url, SECRET));
    let scan = {
        let engine = Arc::clone(&engine);
        let artifact = within(Artifact::file(&b"x"[..]), Duration::from_secs(30));
        tokio::spawn(async move { engine.scan(&artifact).await })
    };
    let (_, bounty) = fake.bounty(2).await;
    let received = fake.received();
    assert_eq!(received.len(), 3, "two 5xx, then taken");
    // One delivery, retried: the same id and the same signed body.
    for r in &received[1..] {
        assert_eq!(
            r.headers["x-polyswarm-delivery"],
            received[0].headers["x-polyswarm-delivery"]
        );
        assert_eq!(r.body, received[0].body);
    }
    let (status, _) = answer(
        &bounty.response_url,
        serde_json::json!({"verdict": "benign", "bid": 62_500_000_000_000_000u64}),
    )
    .await;
    assert_eq!(status, 200);
    let result = scan.await.unwrap().unwrap();
    assert_eq!(result.verdict, Verdict::Benign);

    // 401, as the package's ValidateSenderMiddleware answers a bad
    // signature: not retried, and the error says which secret to fix.
    let (fake, url) = Fake::start(&[401]).await;
    let engine = webhook(&url, "not-the-secret");
    let artifact = within(Artifact::file(&b"x"[..]), Duration::from_secs(30));
    let e = engine.scan(&artifact).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("refused the signature (401"), "{text}");
    assert!(text.contains("PSENGINE_WEBHOOK_SECRET"), "{text}");
    assert_eq!(fake.received().len(), 1);
    assert_eq!(engine.in_flight(), 0);
    // The same at start-up, from the ping.
    let (fake, url) = Fake::start(&[401]).await;
    let e = webhook(&url, "not-the-secret").setup().await.unwrap_err();
    assert!(e.to_string().contains("refused the signature (401"), "{e}");
    assert_eq!(fake.received()[0].headers["x-polyswarm-event"], "ping");
}

#[tokio::test]
async fn an_answer_after_the_deadline_finds_nothing() {
    let (fake, url) = Fake::start(&[]).await;
    let engine = Arc::new(webhook(&url, SECRET));
    let started = Instant::now();
    let scan = {
        let engine = Arc::clone(&engine);
        let artifact = within(Artifact::file(&b"x"[..]), Duration::from_millis(400));
        tokio::spawn(async move { engine.scan(&artifact).await })
    };
    let (_, bounty) = fake.bounty(0).await;
    let e = scan.await.unwrap().unwrap_err();
    assert!(matches!(e, ScanError::Timeout(_)), "{e}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(390) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let (status, body) = answer(
        &bounty.response_url,
        serde_json::json!({"verdict": "malicious", "bid": 1}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("past its deadline"), "{body}");
    assert_eq!(engine.in_flight(), 0);

    // An engine that cannot be reached at all: retried until the deadline.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let engine = webhook(&format!("http://{closed}/eicar"), SECRET);
    let started = Instant::now();
    let artifact = within(Artifact::file(&b"x"[..]), Duration::from_millis(800));
    let e = engine.scan(&artifact).await.unwrap_err();
    assert!(matches!(e, ScanError::Unavailable(_)), "{e}");
    assert!(e.to_string().contains("could not be reached"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_unusable_analysis_is_refused_and_ends_the_scan() {
    let (fake, url) = Fake::start(&[]).await;
    let engine = Arc::new(webhook(&url, SECRET));
    let scan = {
        let engine = Arc::clone(&engine);
        let artifact = within(Artifact::file(&b"x"[..]), Duration::from_secs(30));
        tokio::spawn(async move { engine.scan(&artifact).await })
    };
    let (_, bounty) = fake.bounty(0).await;
    let (status, body) = answer(
        &bounty.response_url,
        serde_json::json!({"verdict": "malicious"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("needs a bid"), "{body}");
    let e = scan.await.unwrap().unwrap_err();
    assert!(e.to_string().contains("needs a bid"), "{e}");
    assert!(e.to_string().contains("webhook_bad_answer"), "{e}");
}

#[tokio::test]
async fn bad_urls_are_refused_up_front() {
    for url in ["ftp://x/eicar", "not a url", "http://"] {
        let e = Webhook::new(WebhookConfig::new(url, SECRET)).unwrap_err();
        assert_eq!(e.code(), "webhook_bad_url", "{url}");
    }
}

/// The real package: its web service checks swarm's signature, its Celery
/// worker runs the engine's analyzer and posts the enriched analysis back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_polyswarm_engine_package_answers_through_the_webhook() {
    let ps = swarm_e2e::PsEngine::start("psengine-secret").await;
    let engine = Arc::new(webhook(&ps.url, &ps.secret));
    engine.setup().await.unwrap();
    let defaults = swarm_protocol::Parameters::default();

    let scans: Vec<_> = [EICAR.to_vec(), b"a clean file".to_vec()]
        .into_iter()
        .map(|content| {
            let engine = Arc::clone(&engine);
            let artifact = within(Artifact::file(content), Duration::from_secs(30));
            tokio::spawn(async move { engine.scan(&artifact).await })
        })
        .collect();
    let mut results = Vec::new();
    for scan in scans {
        results.push(
            scan.await
                .unwrap()
                .unwrap_or_else(|e| panic!("{e}\nworker log:\n{}", ps.log("worker.log"))),
        );
    }
    let (eicar, clean) = (&results[0], &results[1]);
    assert_eq!(eicar.verdict, Verdict::Malicious);
    assert_eq!(eicar.bid, Some(defaults.assertion_bid_maximum), "bid_max");
    assert_eq!(eicar.metadata.malware_family, "eicar");
    assert_eq!(eicar.metadata.extra["raw_family"], "EICAR-Test-File");
    // The package enriches the analysis with the engine's name.
    assert_eq!(eicar.metadata.product.as_deref(), Some("swarm-test-eicar"));
    assert_eq!(clean.verdict, Verdict::Benign);
    assert_eq!(clean.bid, Some(defaults.assertion_bid_minimum), "bid_min");
    assert_eq!(clean.confidence, 0.8);
    engine.teardown().await.unwrap();

    // A wrong secret: the package's middleware answers 401, at the ping and
    // at a delivery, and nothing is left waiting.
    let wrong = webhook(&ps.url, "not-the-secret");
    let e = wrong.setup().await.unwrap_err();
    assert!(e.to_string().contains("refused the signature (401"), "{e}");
    let artifact = within(Artifact::file(EICAR.to_vec()), Duration::from_secs(30));
    let e = wrong.scan(&artifact).await.unwrap_err();
    assert!(
        e.to_string().contains("Signature does not match body"),
        "{e}"
    );
    assert_eq!(wrong.in_flight(), 0);
}
