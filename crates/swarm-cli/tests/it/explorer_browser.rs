//! The explorer in a real browser: headless Chromium, driven over WebDriver,
//! against a short `swarm dev --keep` marketplace.
//!
//! The page is opened while the marketplace runs; a bounty posted afterwards
//! (whose filename, upload name and engine metadata carry `<script>` and
//! event-handler markup) must appear on the overview without a reload. Its
//! page must show the same assertions and payouts as the JSON API, the
//! markup as text, and no injected script may have run; with JavaScript
//! disabled the same pages are complete, just not live. Screenshots go to
//! `target/explorer-overview.png` and `target/explorer-bounty.png`.
//!
//! Chromium and chromedriver come from Debian (`scripts/test` installs
//! them); the test fails, never skips, when they cannot start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::free_port;
use crate::support::webdriver::{Chromedriver, Session};
use serde_json::{json, Value};
use swarm_node::dev_key;
use swarm_node::test_utils::Client;
use swarm_protocol::{
    commitment, keccak256, Amount, ArtifactMetadata, ArtifactType, Assert, Bits256, Guid, Mint,
    PostBounty, Reveal, Vote, WEI_PER_NCT,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// What an ambassador names the file in the bounty's metadata.
const HOSTILE_FILENAME: &str = "<script>window.__xss='filename'</script>.txt";
/// The upload's own name, which the node keeps in its manifest.
const HOSTILE_UPLOAD_NAME: &str = "<img src=x onerror=\"window.__xss='upload'\">.txt";
/// The engine's ScanMetadata family.
const HOSTILE_FAMILY: &str = "<script>window.__xss='family'</script>";

/// The target directory, for screenshots.
fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The text of the `#live-status` badge in serialized HTML.
fn live_status(html: &str) -> &str {
    let at = html.find("id=\"live-status\"").expect("no #live-status");
    let rest = &html[at..];
    let end = rest.find("</span>").expect("#live-status is not closed");
    let start = rest[..end].rfind('>').map_or(0, |i| i + 1);
    &rest[start..end]
}

/// Starts `swarm dev --keep`; returns the child and a receiver of its stderr lines.
fn start_dev(
    port: u16,
    data_dir: &std::path::Path,
) -> (
    tokio::process::Child,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args(["dev", "--keep", "--bounties", "8", "--block-time-ms", "200"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start swarm dev");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// Waits for a stderr line containing `needle`; returns it.
async fn line_with(
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    needle: &str,
    timeout: Duration,
) -> String {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Some(line)) if line.contains(needle) => return line,
            Ok(Some(line)) => seen.push(line),
            Ok(None) => panic!(
                "swarm dev exited before printing {needle:?}:\n{}",
                seen.join("\n")
            ),
            Err(_) => panic!(
                "swarm dev did not print {needle:?} in {timeout:?}:\n{}",
                seen.join("\n")
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_in_a_browser() {
    let started = Instant::now();
    let driver = Chromedriver::start().await;
    let browser = Session::new(&driver).await;

    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut dev, mut lines) = start_dev(port, data_dir.path());
    let base = format!("http://127.0.0.1:{port}");
    line_with(
        &mut lines,
        &format!("node on {base}"),
        Duration::from_secs(30),
    )
    .await;
    let c = Client::new(base.clone());

    // ---- the overview, live ----
    browser.goto(&format!("{base}/")).await;
    browser
        .wait_for(
            "the live status",
            "return document.getElementById('live-status').textContent === 'live'",
            Duration::from_secs(10),
        )
        .await;
    // Survives only if the page is never reloaded.
    browser.execute("window.__kept = 'kept'; return true").await;

    // Post a bounty now, as an ambassador the marketplace does not know,
    // with an engine of the test's own that reveals hostile metadata.
    let ambassador = dev_key(40);
    let engine = dev_key(41);
    for k in [&ambassador, &engine] {
        c.send(
            k,
            Mint {
                to: k.address(),
                amount: Amount::from_nct(50),
            },
        )
        .await;
    }
    let (uri, metadata) = c
        .upload_as(
            &ambassador,
            &[(HOSTILE_UPLOAD_NAME, b"just some text, nothing malicious\n")],
        )
        .await;
    let mut metadata: Vec<ArtifactMetadata> = serde_json::from_value(metadata).unwrap();
    metadata[0].filename = Some(HOSTILE_FILENAME.to_owned());
    let guid = Guid::new_v4();
    let posted = c
        .send(
            &ambassador,
            PostBounty {
                guid,
                artifact_type: ArtifactType::File,
                amount: Amount::from_nct(1),
                uri: uri.clone(),
                num_artifacts: 1,
                duration: 15,
                metadata: Some(metadata),
            },
        )
        .await["block_number"]
        .as_u64()
        .unwrap();
    let row = format!("tr[data-guid=\"{guid}\"]");
    browser
        .wait_for(
            "the new bounty's row on the overview",
            &format!("return document.querySelector('{row}') !== null"),
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(
        browser.execute("return window.__kept || null").await,
        json!("kept"),
        "the overview reloaded instead of updating in place"
    );

    // The engine's assertion, reveal, and (if the marketplace's arbiter is
    // already gone) the vote.
    let nonce = keccak256(format!("browser nonce {guid}"));
    let verdicts = Bits256::from_bools(&[false]);
    c.send(
        &engine,
        Assert {
            bounty_guid: guid,
            mask: Bits256::from_indices([0]),
            bids: vec![Amount::from_wei(WEI_PER_NCT / 4)],
            commitment: commitment(&verdicts, &nonce, &engine.address()),
        },
    )
    .await;
    c.wait_for_block(posted + 15).await;
    c.send(
        &engine,
        Reveal {
            bounty_guid: guid,
            nonce,
            verdicts,
            metadata: json!([{"malware_family": HOSTILE_FAMILY}]),
        },
    )
    .await;
    let bounty_path = format!("/bounties/{guid}");
    let reveal_deadline = c.result(&bounty_path).await["reveal_deadline"]
        .as_u64()
        .unwrap();
    c.wait_for_block(reveal_deadline + 2).await;
    if c.result(&bounty_path).await["votes"]
        .as_array()
        .is_some_and(|v| v.is_empty())
    {
        // The dev arbiter (dev key 1) may have stopped with its run; its
        // key is public, so vote in its place. A duplicate is refused, harmlessly.
        let arbiter = dev_key(1);
        let tx = c
            .sign(
                &arbiter,
                Vote {
                    bounty_guid: guid,
                    votes: Bits256::from_bools(&[false]),
                },
            )
            .await;
        let _ = c.submit(&[tx], true).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let api = loop {
        let b = c.result(&bounty_path).await;
        if !b["settlement"].is_null() {
            break b;
        }
        assert!(Instant::now() < deadline, "the bounty never settled: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // ---- the bounty page against the JSON API ----
    // Follow the row's link (read, not clicked: the live refresh may
    // replace the row between finding and clicking it).
    let link = browser
        .execute(&format!(
            "return document.querySelector('{row} a.guid').href"
        ))
        .await;
    assert_eq!(
        link,
        json!(format!("{base}/explorer/bounties/{guid}")),
        "the row links to the bounty"
    );
    browser.goto(link.as_str().unwrap()).await;
    browser
        .wait_for(
            "the bounty page",
            "return document.getElementById('payouts') !== null",
            Duration::from_secs(10),
        )
        .await;
    assert!(browser
        .url()
        .await
        .ends_with(&format!("/explorer/bounties/{guid}")));
    let seen = browser
        .execute(
            "const rows = (sel) => Array.from(document.querySelectorAll(sel));
             return {
               assertions: rows('#assertions tbody tr').map(r => ({
                 author: r.dataset.engine, mask: r.dataset.mask, bids: r.dataset.bids})),
               payouts: rows('#payouts tbody tr[data-account]').map(r => ({
                 account: r.dataset.account, role: r.dataset.role, amount: r.dataset.amount,
                 shown: r.cells[2].textContent})),
               names: rows('#artifacts td.name').map(td => td.textContent),
               families: rows('#assertions .family').map(e => e.textContent),
               grouped: rows('#families tbody tr').map(r => ({
                 family: r.dataset.family, engines: r.dataset.engines,
                 malicious: r.dataset.malicious, shown: r.cells[1].textContent})),
               scripts: document.scripts.length,
               xss: window.__xss === undefined ? null : String(window.__xss),
             };",
        )
        .await;
    let want_assertions: Vec<Value> = api["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let bids: Vec<&str> = a["bids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_str().unwrap())
                .collect();
            json!({"author": a["author"], "mask": a["mask"], "bids": bids.join(",")})
        })
        .collect();
    assert!(!want_assertions.is_empty(), "{api}");
    assert_eq!(
        seen["assertions"],
        json!(want_assertions),
        "assertions: page vs API"
    );
    let want_payouts: Vec<Value> = api["settlement"]["outcome"]["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let role = match p["role"].as_str().unwrap() {
                "expert" => "engine",
                other => other,
            };
            let amount: Amount = serde_json::from_value(p["amount"].clone()).unwrap();
            json!({
                "account": p["account"], "role": role, "amount": p["amount"],
                "shown": format!("{} NCT", amount.to_nct_string()),
            })
        })
        .collect();
    assert!(!want_payouts.is_empty(), "{api}");
    assert_eq!(seen["payouts"], json!(want_payouts), "payouts: page vs API");
    // The markup is text, and nothing of it ran.
    assert_eq!(seen["names"], json!([HOSTILE_FILENAME]), "{seen}");
    assert!(
        seen["families"]
            .as_array()
            .unwrap()
            .contains(&json!(HOSTILE_FAMILY)),
        "{seen}"
    );
    // Grouped by family: the engine's one benign answer, the family as text.
    assert!(
        seen["grouped"].as_array().unwrap().contains(&json!({
            "family": HOSTILE_FAMILY, "engines": "1", "malicious": "0",
            "shown": HOSTILE_FAMILY,
        })),
        "{seen}"
    );
    assert_eq!(seen["xss"], Value::Null, "an injected script ran: {seen}");
    assert_eq!(
        seen["scripts"],
        json!(1),
        "only the explorer's script: {seen}"
    );
    let source = reqwest::get(format!("{base}/explorer/bounties/{guid}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(source.contains(&escaped(HOSTILE_FILENAME)), "{source}");
    assert!(source.contains(&escaped(HOSTILE_FAMILY)), "{source}");
    assert!(!source.contains("<script>window"), "{source}");
    assert!(!source.contains("<img src=x"), "{source}");
    let target = target_dir();
    std::fs::write(
        target.join("explorer-bounty.png"),
        browser.screenshot().await,
    )
    .unwrap();

    // ---- the marketplace's own run finishes; the node stays up ----
    line_with(&mut lines, "stays up", Duration::from_secs(60)).await;
    browser.goto(&format!("{base}/")).await;
    browser
        .wait_for(
            "the overview after the run",
            "return document.querySelectorAll('#recent-bounties tr[data-guid]').length >= 9 \
             && document.getElementById('live-status').textContent === 'live'",
            Duration::from_secs(10),
        )
        .await;
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let overview = target.join("explorer-overview.png");
    std::fs::write(&overview, &png).unwrap();
    // The engines page lists the marketplace's engine and the test's.
    browser.goto(&format!("{base}/explorer/engines")).await;
    let engines = browser
        .execute("return Array.from(document.querySelectorAll('tr[data-engine]')).map(r => r.dataset.engine)")
        .await;
    assert!(
        engines
            .as_array()
            .unwrap()
            .contains(&json!(engine.address().to_string())),
        "{engines}"
    );
    assert!(engines.as_array().unwrap().len() >= 2, "{engines}");

    browser.close().await;

    // ---- the same bounty with JavaScript disabled: all there, nothing live ----
    let static_browser = Session::without_javascript(&driver).await;
    static_browser
        .goto(&format!("{base}/explorer/bounties/{guid}"))
        .await;
    let html = static_browser.source().await;
    assert_eq!(live_status(&html), "static", "{html}");
    for a in api["assertions"].as_array().unwrap() {
        let engine = format!("data-engine=\"{}\"", a["author"].as_str().unwrap());
        assert!(
            html.contains(&engine),
            "{engine} missing without JavaScript"
        );
    }
    for p in api["settlement"]["outcome"]["payouts"].as_array().unwrap() {
        let amount = format!("data-amount=\"{}\"", p["amount"].as_str().unwrap());
        assert!(
            html.contains(&amount),
            "{amount} missing without JavaScript"
        );
    }
    assert!(html.contains(&escaped(HOSTILE_FILENAME)), "{html}");
    static_browser.goto(&format!("{base}/")).await;
    let html = static_browser.source().await;
    assert!(html.contains(&format!("data-guid=\"{guid}\"")), "{html}");
    assert_eq!(live_status(&html), "static", "{html}");
    static_browser.close().await;

    let _ = dev.start_kill();
    let _ = dev.wait().await;
    eprintln!(
        "explorer browser test: {:.1} s; screenshots {} and {}",
        started.elapsed().as_secs_f64(),
        overview.display(),
        target.join("explorer-bounty.png").display()
    );
}
