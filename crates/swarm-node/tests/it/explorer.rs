//! The explorer's pages over real HTTP, on SQLite and on PostgreSQL: a
//! bounty taken through its whole life (assertions, reveals, a vote, the
//! settlement) whose filename and engine metadata carry HTML markup, then
//! every page checked against the JSON API — and the markup checked to come
//! out as text. Also: the families engines reveal, grouped per artifact
//! with counts; bad input gets a 4xx HTML page naming the problem.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use sha2::Digest;
use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::{
    commitment, keccak256, Amount, ArtifactMetadata, ArtifactType, Assert, Bits256, Genesis, Guid,
    Mint, PostBounty, Reveal, StakeDeposit, Vote, WEI_PER_NCT,
};

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
const BENIGN: &[u8] = b"Nothing to see here: a perfectly harmless text file.\n";

/// What an ambassador may name a file: markup that would run if unescaped.
const HOSTILE_FILENAME: &str = "<script>alert('filename')</script>.exe";
/// What the node's manifest keeps of an upload's name (a basename).
const HOSTILE_UPLOAD_NAME: &str = "<img src=x onerror=alert('upload')>.com";
/// An engine's ScanMetadata family with markup in it.
const HOSTILE_FAMILY: &str = "<script>alert('family')</script>";
/// Another, trying to break out of the table cell.
const HOSTILE_FAMILY_2: &str = "</td></tr><b onmouseover=alert(1)>x</b>";

fn genesis() -> Genesis {
    let mut g = test_genesis();
    g.parameters.max_duration = Some(40);
    g.parameters.assertion_reveal_window = Some(10);
    g.parameters.arbiter_vote_window = Some(20);
    g
}

fn nct_frac(num: u128, den: u128) -> Amount {
    Amount::from_wei(WEI_PER_NCT * num / den)
}

struct Page {
    status: u16,
    content_type: String,
    csp: String,
    location: Option<String>,
    body: String,
}

async fn page(t: &TestNode, path: &str) -> Page {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(format!("{}{path}", t.url()))
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Page {
        status: r.status().as_u16(),
        content_type: header("content-type").unwrap_or_default(),
        csp: header("content-security-policy").unwrap_or_default(),
        location: header("location"),
        body: r.text().await.unwrap(),
    }
}

/// GETs an explorer page that must exist, with the headers every page carries.
async fn ok_page(t: &TestNode, path: &str) -> String {
    let p = page(t, path).await;
    assert_eq!(p.status, 200, "GET {path}: {}", p.body);
    assert!(
        p.content_type.starts_with("text/html"),
        "GET {path}: {}",
        p.content_type
    );
    assert!(
        p.csp.contains("script-src 'self'") && p.csp.contains("default-src 'none'"),
        "GET {path}: CSP {:?}",
        p.csp
    );
    assert_no_markup_leaked(path, &p.body);
    p.body
}

/// No hostile string reaches the page unescaped, and the only script is
/// the explorer's own file.
fn assert_no_markup_leaked(path: &str, body: &str) {
    for hostile in [
        HOSTILE_FILENAME,
        HOSTILE_UPLOAD_NAME,
        HOSTILE_FAMILY,
        HOSTILE_FAMILY_2,
        "<script>alert",
        "<img src=x",
        "<b onmouseover",
    ] {
        assert!(
            !body.contains(hostile),
            "GET {path}: {hostile:?} appears unescaped"
        );
    }
    assert_eq!(
        body.matches("<script").count(),
        body.matches("<script src=\"/explorer/assets/explorer.js\" defer></script>")
            .count(),
        "GET {path}: a script tag other than the explorer's"
    );
}

/// A settled bounty with two artifacts, two engines (one right on both,
/// one wrong on the EICAR file) and one arbiter's vote.
struct Fixture {
    guid: Guid,
    uri: String,
    ambassador: swarm_protocol::Address,
    engines: [swarm_protocol::Address; 2],
    eicar_sha256: String,
}

async fn settled_bounty(t: &TestNode) -> Fixture {
    let c = &t.client;
    let arbiter = dev_key(1);
    let ambassador = dev_key(20);
    let engines = [dev_key(21), dev_key(22)];
    for k in [&ambassador, &engines[0], &engines[1]] {
        c.send(
            k,
            Mint {
                to: k.address(),
                amount: Amount::from_nct(100),
            },
        )
        .await;
    }
    let staking = c.result("/staking/parameters").await;
    let minimum: Amount = serde_json::from_value(staking["minimum_stake"].clone()).unwrap();
    c.send(&arbiter, StakeDeposit { amount: minimum }).await;

    let (uri, metadata) = c
        .upload_as(
            &ambassador,
            &[(HOSTILE_UPLOAD_NAME, EICAR), ("readme.txt", BENIGN)],
        )
        .await;
    assert_eq!(metadata[0]["filename"], HOSTILE_UPLOAD_NAME, "{metadata}");
    let mut metadata: Vec<ArtifactMetadata> = serde_json::from_value(metadata).unwrap();
    metadata[0].filename = Some(HOSTILE_FILENAME.to_owned());
    metadata[0]
        .extra
        .insert("comment".into(), json!("<script>alert('extra')</script>"));

    let guid = Guid::new_v4();
    let r = c
        .send(
            &ambassador,
            PostBounty {
                guid,
                artifact_type: ArtifactType::File,
                amount: Amount::from_nct(1),
                uri: uri.clone(),
                num_artifacts: 2,
                duration: 30,
                metadata: Some(metadata),
            },
        )
        .await;
    let posted = r["block_number"].as_u64().unwrap();
    let expiration = posted + 30;

    // Engine 0 is right on both artifacts; engine 1 calls the EICAR file benign.
    let plans = [
        (
            vec![0usize, 1],
            vec![nct_frac(1, 2), nct_frac(1, 4)],
            vec![true, false],
            json!([{"malware_family": HOSTILE_FAMILY}, {"malware_family": ""}]),
        ),
        (
            vec![0usize],
            vec![nct_frac(1, 5)],
            vec![false],
            json!([{"malware_family": HOSTILE_FAMILY_2}]),
        ),
    ];
    let nonces: Vec<_> = (0..2)
        .map(|j| keccak256(format!("explorer nonce {j} {guid}")))
        .collect();
    for (j, (mask, bids, verdicts, _)) in plans.iter().enumerate() {
        let key = &engines[j];
        c.send(
            key,
            Assert {
                bounty_guid: guid,
                mask: Bits256::from_indices(mask.iter().copied()),
                bids: bids.clone(),
                commitment: commitment(&Bits256::from_bools(verdicts), &nonces[j], &key.address()),
            },
        )
        .await;
    }
    assert!(c.block().await < expiration, "asserting took too long");

    // The assertion round shows the assertions without verdicts.
    let during = ok_page(t, &format!("/explorer/bounties/{guid}")).await;
    assert!(during.contains("hidden until the reveal"), "{during}");

    c.wait_for_block(expiration).await;
    for (j, (_, _, verdicts, family)) in plans.iter().enumerate() {
        c.send(
            &engines[j],
            Reveal {
                bounty_guid: guid,
                nonce: nonces[j],
                verdicts: Bits256::from_bools(verdicts),
                metadata: family.clone(),
            },
        )
        .await;
    }
    c.wait_for_block(expiration + 10).await;
    c.send(
        &arbiter,
        Vote {
            bounty_guid: guid,
            votes: Bits256::from_bools(&[true, false]),
        },
    )
    .await;
    for _ in 0..500 {
        if !c.result(&format!("/bounties/{guid}")).await["settlement"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !c.result(&format!("/bounties/{guid}")).await["settlement"].is_null(),
        "the bounty never settled"
    );
    Fixture {
        guid,
        uri,
        ambassador: ambassador.address(),
        engines: [engines[0].address(), engines[1].address()],
        eicar_sha256: hex::encode(sha2::Sha256::digest(EICAR)),
    }
}

fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn pages_follow_a_bounty(backend: Backend) {
    let t = TestNode::start(backend, genesis()).await;
    let f = settled_bounty(&t).await;
    let c = &t.client;
    let api = c.result(&format!("/bounties/{}", f.guid)).await;

    // ---- the bounty page against the JSON API ----
    let body = ok_page(&t, &format!("/explorer/bounties/{}", f.guid)).await;
    assert!(body.contains(&escaped(HOSTILE_FILENAME)), "{body}");
    assert!(body.contains(&escaped(HOSTILE_FAMILY)), "{body}");
    assert!(body.contains(&escaped(HOSTILE_FAMILY_2)), "{body}");
    assert!(body.contains(&f.eicar_sha256), "{body}");
    assert!(body.contains(&format!("/artifacts/{}/0", f.uri)), "{body}");
    assert!(body.contains(&format!("/artifacts/{}/1", f.uri)), "{body}");
    assert!(body.contains("application/x-dosexec") || body.contains("text/plain"));
    let assertions = api["assertions"].as_array().unwrap();
    assert_eq!(assertions.len(), 2, "{api}");
    for (i, a) in assertions.iter().enumerate() {
        let bids: Vec<String> = a["bids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap().to_owned())
            .collect();
        let row = format!(
            "data-index=\"{i}\" data-engine=\"{}\" data-mask=\"{}\" data-bids=\"{}\"",
            a["author"].as_str().unwrap(),
            a["mask"].as_str().unwrap(),
            bids.join(",")
        );
        assert!(body.contains(&row), "no assertion row {row} in {body}");
    }
    assert_eq!(body.matches("✓ right").count(), 2, "{body}");
    assert_eq!(body.matches("✗ wrong").count(), 1, "{body}");
    let settlement = &api["settlement"]["outcome"];
    let payouts = settlement["payouts"].as_array().unwrap();
    assert!(payouts.len() >= 4, "{settlement}");
    for p in payouts {
        let role = match p["role"].as_str().unwrap() {
            "expert" => "engine",
            other => other,
        };
        let row = format!(
            "data-account=\"{}\" data-role=\"{role}\" data-amount=\"{}\"",
            p["account"].as_str().unwrap(),
            p["amount"].as_str().unwrap()
        );
        assert!(body.contains(&row), "no payout row {row} in {body}");
    }
    assert_eq!(body.matches("data-account=").count(), payouts.len());

    // The fragment the script fetches is the same content without the frame.
    let live = ok_page(&t, &format!("/explorer/live/bounties/{}", f.guid)).await;
    assert!(live.contains(&escaped(HOSTILE_FAMILY)), "{live}");
    assert!(!live.contains("<html"), "{live}");

    // ---- overview, lists, engines, accounts, search ----
    let overview = ok_page(&t, "/").await;
    assert!(
        overview.contains(&format!("data-guid=\"{}\"", f.guid)),
        "{overview}"
    );
    assert!(
        overview.contains("<span class=\"value\" id=\"settled-today\">1</span>"),
        "{overview}"
    );
    assert!(overview.contains("<svg class=\"chart\""), "{overview}");
    assert!(
        overview.contains("data-live=\"/explorer/live/overview\""),
        "{overview}"
    );
    let staked = c.result("/status").await["supply"]["staked"].clone();
    let staked: Amount = serde_json::from_value(staked).unwrap();
    assert!(
        overview.contains(&format!("id=\"staked\">{}</span>", staked.to_nct_string())),
        "{overview}"
    );

    let list = ok_page(&t, "/explorer/bounties?state=finished").await;
    assert!(
        list.contains(&format!("data-guid=\"{}\"", f.guid)),
        "{list}"
    );
    let list = ok_page(&t, "/explorer/bounties?state=assertion").await;
    assert!(
        !list.contains(&format!("data-guid=\"{}\"", f.guid)),
        "{list}"
    );

    let engines = ok_page(&t, "/explorer/engines").await;
    for e in &f.engines {
        assert!(
            engines.contains(&format!("data-engine=\"{e}\"")),
            "{engines}"
        );
    }
    // The right engine leads the board; the wrong one lost its bid.
    let first = engines.find(&format!("data-engine=\"{}\"", f.engines[0]));
    let second = engines.find(&format!("data-engine=\"{}\"", f.engines[1]));
    assert!(first < second, "{engines}");
    let right = ok_page(&t, &format!("/explorer/engines/{}", f.engines[0])).await;
    assert!(right.contains("id=\"accuracy\">100.0%</span>"), "{right}");
    assert!(
        right.contains("<polyline") || right.contains("<circle"),
        "{right}"
    );
    let wrong = ok_page(&t, &format!("/explorer/engines/{}", f.engines[1])).await;
    assert!(wrong.contains("id=\"accuracy\">0.0%</span>"), "{wrong}");
    assert!(
        wrong.contains(&format!("data-guid=\"{}\"", f.guid)),
        "{wrong}"
    );

    let account = ok_page(&t, &format!("/explorer/accounts/{}", f.ambassador)).await;
    let balance: Amount =
        serde_json::from_value(c.result(&format!("/balances/{}/nct", f.ambassador)).await).unwrap();
    assert!(
        account.contains(&format!(
            "id=\"balance\">{}</span>",
            balance.to_nct_string()
        )),
        "{account}"
    );
    // Its mint and its post, newest first.
    let post = account.find("bounty:Post").expect("the post is listed");
    let mint = account.find("nct:Mint").expect("the mint is listed");
    assert!(post < mint, "{account}");
    assert!(account.contains("ambassador"), "{account}");

    let found = page(&t, &format!("/explorer/search?q={}", f.guid)).await;
    assert_eq!(found.status, 303);
    assert_eq!(
        found.location.as_deref(),
        Some(format!("/explorer/bounties/{}", f.guid).as_str())
    );
    let found = page(
        &t,
        &format!(
            "/explorer/search?q={}",
            f.engines[0].to_string().to_lowercase()
        ),
    )
    .await;
    assert_eq!(found.status, 303);
    assert_eq!(
        found.location.as_deref(),
        Some(format!("/explorer/accounts/{}", f.engines[0]).as_str())
    );
    let by_hash = ok_page(&t, &format!("/explorer/search?q={}", f.eicar_sha256)).await;
    assert!(
        by_hash.contains(&format!("data-guid=\"{}\"", f.guid)),
        "{by_hash}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_a_bounty_sqlite() {
    pages_follow_a_bounty(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_a_bounty_postgres() {
    pages_follow_a_bounty(Backend::Postgres).await;
}

/// Five engines reveal on one artifact: two name `wannacry` (one of them
/// in another case, as an engine that does not normalize might), one
/// `emotet`, one a family with markup in it, one none. The bounty page
/// groups them per artifact with counts, most named first, the answers
/// naming none last, and the markup comes out as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revealed_families_are_grouped_with_counts_on_the_bounty_page() {
    let t = TestNode::start(Backend::Sqlite, genesis()).await;
    let c = &t.client;
    let ambassador = dev_key(30);
    let engines: Vec<_> = (31..36).map(dev_key).collect();
    for k in std::iter::once(&ambassador).chain(&engines) {
        c.send(
            k,
            Mint {
                to: k.address(),
                amount: Amount::from_nct(100),
            },
        )
        .await;
    }
    let (uri, metadata) = c.upload_as(&ambassador, &[("eicar.com", EICAR)]).await;
    let metadata: Vec<ArtifactMetadata> = serde_json::from_value(metadata).unwrap();
    let guid = Guid::new_v4();
    let r = c
        .send(
            &ambassador,
            PostBounty {
                guid,
                artifact_type: ArtifactType::File,
                amount: Amount::from_nct(1),
                uri,
                num_artifacts: 1,
                duration: 20,
                metadata: Some(metadata),
            },
        )
        .await;
    let expiration = r["block_number"].as_u64().unwrap() + 20;

    // (verdict, family revealed)
    let answers = [
        (true, "wannacry"),
        (true, "WannaCry"),
        (true, "emotet"),
        (true, HOSTILE_FAMILY),
        (false, ""),
    ];
    let nonces: Vec<_> = (0..answers.len())
        .map(|j| keccak256(format!("families nonce {j} {guid}")))
        .collect();
    for (j, (malicious, _)) in answers.iter().enumerate() {
        let key = &engines[j];
        c.send(
            key,
            Assert {
                bounty_guid: guid,
                mask: Bits256::from_indices([0]),
                bids: vec![nct_frac(1, 4)],
                commitment: commitment(
                    &Bits256::from_bools(&[*malicious]),
                    &nonces[j],
                    &key.address(),
                ),
            },
        )
        .await;
    }
    let path = format!("/explorer/bounties/{guid}");
    let before = ok_page(&t, &path).await;
    assert!(!before.contains("id=\"families\""), "{before}");

    c.wait_for_block(expiration).await;
    for (j, (malicious, family)) in answers.iter().enumerate() {
        c.send(
            &engines[j],
            Reveal {
                bounty_guid: guid,
                nonce: nonces[j],
                verdicts: Bits256::from_bools(&[*malicious]),
                metadata: json!([{"malware_family": family}]),
            },
        )
        .await;
    }

    let body = ok_page(&t, &path).await;
    assert_no_markup_leaked(&path, &body);
    let row = |family: &str, engines: usize, malicious: usize| {
        format!(
            "data-artifact=\"0\" data-family=\"{}\" data-engines=\"{engines}\" \
             data-malicious=\"{malicious}\"",
            escaped(family)
        )
    };
    let rows = [
        row("wannacry", 2, 2),
        row(HOSTILE_FAMILY, 1, 1),
        row("emotet", 1, 1),
        row("", 1, 0),
    ];
    let mut at = Vec::new();
    for r in &rows {
        at.push(
            body.find(r.as_str())
                .unwrap_or_else(|| panic!("no row {r} in {body}")),
        );
    }
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "rows out of order: {body}"
    );
    assert_eq!(body.matches("data-family=").count(), rows.len(), "{body}");
    assert!(
        body.contains("<span class=\"family-name\">wannacry</span>"),
        "{body}"
    );
    assert!(body.contains("no family named"), "{body}");
    // The live fragment groups them too.
    let live = ok_page(&t, &format!("/explorer/live/bounties/{guid}")).await;
    assert!(live.contains(&rows[0]), "{live}");

    // The overview counts them over every bounty, most named first.
    let overview = ok_page(&t, "/").await;
    assert_no_markup_leaked("/", &overview);
    let wannacry = overview
        .find("data-family=\"wannacry\" data-answers=\"2\" data-artifacts=\"1\"")
        .unwrap_or_else(|| panic!("no wannacry in {overview}"));
    let emotet = overview
        .find("data-family=\"emotet\" data-answers=\"1\" data-artifacts=\"1\"")
        .unwrap_or_else(|| panic!("no emotet in {overview}"));
    assert!(wannacry < emotet, "{overview}");
    assert_eq!(overview.matches("data-family=").count(), 3, "{overview}");
}

/// Every malformed or unknown input: a 4xx HTML page that names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_page_naming_the_problem() {
    let t = TestNode::start(Backend::Sqlite, genesis()).await;
    let unknown = Guid::new_v4();
    let nobody = dev_key(77).address();
    let cases: Vec<(String, u16, String)> = vec![
        (
            "/explorer/bounties/not-a-guid".into(),
            400,
            "is not a bounty guid".into(),
        ),
        (
            format!("/explorer/bounties/{unknown}"),
            404,
            format!("no bounty {unknown}"),
        ),
        (
            format!("/explorer/live/bounties/{unknown}"),
            404,
            format!("no bounty {unknown}"),
        ),
        ("/explorer/bounties/%FF%FE".into(), 400, "bad path".into()),
        (
            "/explorer/bounties?page=abc".into(),
            400,
            "is not a page number".into(),
        ),
        (
            "/explorer/bounties?page=0".into(),
            400,
            "page numbers start at 1".into(),
        ),
        (
            "/explorer/bounties?page=7".into(),
            404,
            "there is no page 7".into(),
        ),
        (
            "/explorer/bounties?state=bogus".into(),
            400,
            "is not one of all".into(),
        ),
        (
            "/explorer/accounts/0x1234".into(),
            400,
            "is not an account address".into(),
        ),
        (
            "/explorer/engines/zzz".into(),
            400,
            "is not an account address".into(),
        ),
        (
            format!("/explorer/engines/{nobody}"),
            404,
            "has never asserted".into(),
        ),
        (
            "/explorer/search?q=".into(),
            400,
            "nothing to search for".into(),
        ),
        (
            "/explorer/search?q=%3Cscript%3E".into(),
            400,
            "is neither a bounty guid".into(),
        ),
        (
            format!("/explorer/search?q={unknown}"),
            404,
            format!("no bounty {unknown}"),
        ),
        (
            format!("/explorer/search?q={}", "ab".repeat(32)),
            404,
            "no bounty has an artifact".into(),
        ),
        (
            "/explorer/no-such-page".into(),
            404,
            "has no page /explorer/no-such-page".into(),
        ),
    ];
    for (path, status, message) in cases {
        let p = page(&t, &path).await;
        assert_eq!(p.status, status, "GET {path}: {}", p.body);
        assert!(
            p.content_type.starts_with("text/html"),
            "GET {path}: {} {}",
            p.content_type,
            p.body
        );
        assert!(
            p.body.contains(&escaped(&message)),
            "GET {path}: {message:?} not in {}",
            p.body
        );
        assert!(!p.body.contains("<script>"), "GET {path}: {}", p.body);
        assert!(!p.csp.is_empty(), "GET {path}: no CSP");
    }
    // The search box echoes what was typed only escaped.
    let p = page(&t, "/explorer/search?q=%3Cscript%3Ealert(1)%3C/script%3E").await;
    assert!(
        p.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        p.body
    );

    // The API keeps its JSON errors; the explorer did not take them over.
    let (status, body) = t.client.get("/no-such-route").await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], "FAIL", "{body}");
    let (status, body) = t.client.get("/bounties/not-a-guid").await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "FAIL", "{body}");

    // An empty community renders every page.
    for path in ["/", "/explorer", "/explorer/bounties", "/explorer/engines"] {
        ok_page(&t, path).await;
    }
    let account = ok_page(&t, &format!("/explorer/accounts/{nobody}")).await;
    assert!(
        account.contains("No transaction sent from this account."),
        "{account}"
    );

    // The assets, with their types.
    let js = page(&t, "/explorer/assets/explorer.js").await;
    assert_eq!(js.status, 200);
    assert!(
        js.content_type.starts_with("text/javascript"),
        "{}",
        js.content_type
    );
    assert!(js.body.contains("new WebSocket"), "{}", js.body);
    let css = page(&t, "/explorer/assets/explorer.css").await;
    assert_eq!(css.status, 200);
    assert!(
        css.content_type.starts_with("text/css"),
        "{}",
        css.content_type
    );
}

/// A URL an ambassador may post: markup and quotes that would break out of
/// an attribute or run if unescaped.
const HOSTILE_URL: &str = "http://evil.example/\"><script>alert('url')</script>?q='x'";

/// A URL artifact is shown as text — defanged, escaped, with its protocol —
/// and never as a link a visitor could follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_artifact_is_shown_escaped_defanged_and_not_as_a_link() {
    let t = TestNode::start(Backend::Sqlite, genesis()).await;
    let c = &t.client;
    let ambassador = dev_key(20);
    c.send(
        &ambassador,
        Mint {
            to: ambassador.address(),
            amount: Amount::from_nct(100),
        },
    )
    .await;
    // The bundle holds the URLs' text, as `swarm bounty post --url` uploads it.
    let good = "https://example.com/";
    let (uri, _) = c
        .upload_as(
            &ambassador,
            &[("url", HOSTILE_URL.as_bytes()), ("url", good.as_bytes())],
        )
        .await;
    let metadata = [(HOSTILE_URL, "http"), (good, "https")]
        .map(|(u, p)| ArtifactMetadata {
            uri: Some(u.to_owned()),
            protocol: Some(p.to_owned()),
            ..ArtifactMetadata::default()
        })
        .to_vec();
    let guid = Guid::new_v4();
    c.send(
        &ambassador,
        PostBounty {
            guid,
            artifact_type: ArtifactType::Url,
            amount: Amount::from_nct(1),
            uri,
            num_artifacts: 2,
            duration: 30,
            metadata: Some(metadata),
        },
    )
    .await;

    let path = format!("/explorer/bounties/{guid}");
    let body = ok_page(&t, &path).await;
    assert!(body.contains("2 url(s)"), "{body}");
    let shown = escaped("hxxp://evil[.]example/\"><script>alert('url')</script>?q='x'");
    assert!(body.contains(&shown), "{shown} in {body}");
    assert!(body.contains("hxxps://example[.]com/"), "{body}");
    assert!(
        body.contains(">http</span>") && body.contains(">https</span>"),
        "{body}"
    );
    for raw in [
        "<script>alert('url')",
        "example/\"><",
        "http://evil",
        "https://example.com",
    ] {
        assert!(!body.contains(raw), "GET {path}: {raw:?} appears: {body}");
    }
    // No link leads to either URL, however written.
    for link in body.split("<a ").skip(1) {
        let href = link.split('>').next().unwrap_or_default();
        assert!(
            !href.contains("evil") && !href.contains("example"),
            "GET {path}: a link to a URL artifact: {href}"
        );
    }
    // The live fragment renders the same cell.
    let live = ok_page(&t, &format!("/explorer/live/bounties/{guid}")).await;
    assert!(live.contains(&shown), "{live}");
}

/// A node restarted on its database starts the explorer's totals from the
/// checkpoint it recorded, folding only what settled after it — so the
/// first page after a restart does not pay for the whole chain. A
/// checkpoint of another format is ignored and everything folded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_starts_the_explorer_totals_from_its_checkpoint() {
    let t = TestNode::start(Backend::Sqlite, genesis()).await;
    let f = settled_bounty(&t).await;
    let wrong_page = format!("/explorer/engines/{}", f.engines[1]);
    assert!(ok_page(&t, &wrong_page)
        .await
        .contains("id=\"accuracy\">0.0%</span>"));
    let TestNode { node, dir, .. } = t;
    node.shutdown().await.unwrap();

    // The checkpoint holds both engines up to the settled bounty.
    let path = dir.path().join("chain.sqlite");
    let store = swarm_node::SqlStore::open_sqlite(&path).await.unwrap();
    let text = swarm_node::Store::explorer_checkpoint(&store)
        .await
        .unwrap()
        .expect("a checkpoint at shutdown");
    let mut checkpoint: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(checkpoint["cursor"].is_array(), "{checkpoint}");
    let engines = checkpoint["engines"].as_array_mut().unwrap();
    assert_eq!(engines.len(), 2, "{text}");
    // Doctor it: the wrong engine turned right. Only a node that starts
    // from the checkpoint, not from the settled bounties, shows that.
    let wrong = engines
        .iter_mut()
        .find(|e| e["wrong"].as_u64() > Some(0))
        .unwrap();
    wrong["right"] = wrong["wrong"].clone();
    wrong["wrong"] = json!(0);
    swarm_node::Store::set_explorer_checkpoint(&store, &checkpoint.to_string())
        .await
        .unwrap();
    drop(store);
    let t = TestNode::start_in(dir, None, genesis()).await;
    let page = ok_page(&t, &wrong_page).await;
    assert!(page.contains("id=\"accuracy\">100.0%</span>"), "{page}");
    let TestNode { node, dir, .. } = t;
    node.shutdown().await.unwrap();

    // Another format: ignored, folded again from the bounties themselves.
    let store = swarm_node::SqlStore::open_sqlite(&path).await.unwrap();
    checkpoint["format"] = json!(999);
    swarm_node::Store::set_explorer_checkpoint(&store, &checkpoint.to_string())
        .await
        .unwrap();
    drop(store);
    let t = TestNode::start_in(dir, None, genesis()).await;
    let page = ok_page(&t, &wrong_page).await;
    assert!(page.contains("id=\"accuracy\">0.0%</span>"), "{page}");
    t.node.shutdown().await.unwrap();
}
