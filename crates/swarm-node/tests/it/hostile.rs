#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Bad input (SPEC §4): a table of hostile requests against a real node.
//!
//! Every request of the table must be refused with its expected 4xx status,
//! in the FAIL envelope `{"status": "FAIL", "errors": "...", "code": "..."}`,
//! with a message naming the problem — never a 5xx, never a framework's
//! plain-text rejection — and, all refused, they must leave the chain state,
//! the committed transactions and the artifact store exactly as they were.
//!
//! Requests go over a raw TCP connection so that the test controls every
//! byte: paths with `..` that an HTTP client would normalize away, bodies
//! that are not UTF-8, oversize bodies whose answer comes before the body is
//! fully sent.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use swarm_node::api::AppState;
use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::{
    commitment, keccak256, Amount, ArtifactMetadata, ArtifactType, Assert, Bits256, Mint,
    PostBounty, PrivateKey, Reveal, SetFees, SetWindows, StakeDeposit, Transfer, Tx, TxBody, Vote,
    H256,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Builds a case's body from the current committed block.
type BodyFn = Box<dyn Fn(u64) -> Vec<u8> + Send + Sync>;

/// One hostile request and what the node must answer.
struct Case {
    name: &'static str,
    method: &'static str,
    /// The request target, sent byte for byte.
    path: String,
    headers: Vec<(&'static str, String)>,
    body: BodyFn,
    status: u16,
    /// A fragment the `errors` message must contain.
    message: String,
    code: &'static str,
}

impl Case {
    fn get(name: &'static str, path: impl Into<String>) -> Self {
        Case {
            name,
            method: "GET",
            path: path.into(),
            headers: Vec::new(),
            body: Box::new(|_| Vec::new()),
            status: 0,
            message: String::new(),
            code: "",
        }
    }

    fn post(
        name: &'static str,
        path: impl Into<String>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Self {
        Case {
            method: "POST",
            headers: vec![("Content-Type", content_type.to_owned())],
            body: Box::new(move |_| body.clone()),
            ..Case::get(name, path)
        }
    }

    /// `POST /transactions` with a body built at the current block.
    fn tx(name: &'static str, body: impl Fn(u64) -> Vec<u8> + Send + Sync + 'static) -> Self {
        Case {
            method: "POST",
            headers: vec![("Content-Type", "application/json".to_owned())],
            body: Box::new(body),
            ..Case::get(name, "/transactions")
        }
    }

    /// `POST /transactions` with fixed bytes.
    fn tx_bytes(name: &'static str, body: impl Into<Vec<u8>>) -> Self {
        let body = body.into();
        Case::tx(name, move |_| body.clone())
    }

    fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn expect(mut self, status: u16, code: &'static str, message: impl Into<String>) -> Self {
        self.status = status;
        self.code = code;
        self.message = message.into();
        self
    }
}

/// An HTTP answer.
struct Answer {
    status: u16,
    content_type: String,
    /// The `Allow` header, if any.
    allow: Option<String>,
    body: Vec<u8>,
}

/// Sends one HTTP/1.1 request over a fresh connection. The body is written
/// while the answer is read, so an early answer (413 before the whole body
/// is sent) is seen even if the node then closes the connection.
async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Answer {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let sender = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        writer.write_all(&body).await?;
        writer.flush().await?;
        // Keep the write half open (a half-close may end the exchange early).
        Ok::<_, std::io::Error>(writer)
    });
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
    // The node may stop reading an oversize body: a failed write is expected.
    let _ = sender.await.unwrap();
    parse_answer(&received)
}

fn parse_answer(received: &[u8]) -> Answer {
    let split = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(received)));
    let head = String::from_utf8_lossy(&received[..split]).into_owned();
    let rest = &received[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut content_type = String::new();
    let mut allow = None;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-type" => content_type = value.to_owned(),
            "allow" => allow = Some(value.to_owned()),
            "content-length" => length = Some(value.parse::<usize>().unwrap()),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let body = if chunked {
        dechunk(rest)
    } else {
        match length {
            Some(n) => rest[..n.min(rest.len())].to_vec(),
            None => rest.to_vec(),
        }
    };
    Answer {
        status,
        content_type,
        allow,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

// ---- transaction builders ---------------------------------------------------

/// `{"raw": raw, "signature": <key's signature over raw>}`.
fn envelope(key: &PrivateKey, raw: &str) -> Vec<u8> {
    let signature = key.sign_hash(&keccak256(raw.as_bytes()));
    serde_json::to_vec(&json!({"raw": raw, "signature": signature.to_string()})).unwrap()
}

/// A raw transaction text with `data` and `expires` written verbatim.
fn raw_text(name: &str, from: &PrivateKey, community: &str, expires: &str, data: &str) -> String {
    format!(
        r#"{{"name":"{name}","from":"{}","community":"{community}","expires":{expires},"data":{data}}}"#,
        from.address()
    )
}

/// A well-formed transaction from `key`, signed by `key`.
fn signed(key: &PrivateKey, expires: u64, body: impl Into<TxBody>) -> Vec<u8> {
    serde_json::to_vec(&Tx::new(key.address(), "dev", expires, body).sign(key)).unwrap()
}

/// A signed transaction valid for 50 blocks from `block`.
fn fresh(key: &PrivateKey, block: u64, body: impl Into<TxBody>) -> Vec<u8> {
    signed(key, block + 50, body)
}

fn nct(text: &str) -> Amount {
    Amount::parse_nct(text).unwrap()
}

fn post(
    guid: uuid::Uuid,
    uri: &str,
    num_artifacts: u32,
    amount: &str,
    duration: u64,
) -> PostBounty {
    PostBounty {
        guid,
        artifact_type: ArtifactType::File,
        amount: nct(amount),
        uri: uri.to_owned(),
        num_artifacts,
        duration,
        metadata: None,
    }
}

fn assertion(guid: uuid::Uuid, mask: &[usize], bids: &[&str], author: &PrivateKey) -> Assert {
    let verdicts = Bits256::from_indices([0]);
    Assert {
        bounty_guid: guid,
        mask: Bits256::from_indices(mask.iter().copied()),
        bids: bids.iter().map(|b| nct(b)).collect(),
        commitment: commitment(&verdicts, &nonce(), &author.address()),
    }
}

fn nonce() -> H256 {
    keccak256(b"hostile test nonce")
}

/// Replaces a signature's `s` by `n - s`: the same signature in its
/// non-canonical (malleated) form.
fn high_s(mut sig: [u8; 65]) -> [u8; 65] {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(N[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        sig[32 + i] = d as u8;
    }
    sig[64] = if sig[64] == 27 { 28 } else { 27 };
    sig
}

/// A multipart/form-data body; each part is (field name, filename, bytes).
fn multipart(boundary: &str, parts: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, filename, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

const BOUNDARY: &str = "hostile-boundary-7MA4YWxkTrZu0gW";

fn form_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

// ---- state ------------------------------------------------------------------

/// Everything a refused request must not change.
#[derive(Debug, PartialEq)]
struct Snapshot {
    /// The registry, without what moves with the block number alone.
    registry: Value,
    /// Hashes of included transactions still remembered against replay.
    seen: Vec<String>,
    blobs: usize,
    manifests: usize,
}

fn snapshot(state: &AppState, artifacts: &Path) -> Snapshot {
    let mut registry = state.view.read(|r| serde_json::to_value(r).unwrap());
    let map = registry.as_object_mut().unwrap();
    for moving in ["block", "parent_hash", "seen_by_expiry"] {
        assert!(
            map.remove(moving).is_some(),
            "registry has no field {moving}"
        );
    }
    let seen = map
        .remove("seen")
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    Snapshot {
        registry,
        seen,
        blobs: count_files(&artifacts.join("blobs")),
        manifests: count_files(&artifacts.join("manifests")),
    }
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            n += count_files(&entry.path());
        } else {
            n += 1;
        }
    }
    n
}

/// Transactions committed in blocks after `after`.
async fn committed_after(state: &AppState, mut after: u64) -> Vec<String> {
    let mut txs = Vec::new();
    loop {
        let blocks = state.store.blocks_after(after, 256).await.unwrap();
        let Some(last) = blocks.last() else {
            return txs;
        };
        after = last.header.number;
        for block in &blocks {
            txs.extend(
                block
                    .txs
                    .iter()
                    .map(|t| format!("{} {} in block {}", t.name, t.hash, t.block_number)),
            );
        }
    }
}

fn tip(state: &AppState) -> u64 {
    state.view.tip().map(|t| t.number).unwrap_or(0)
}

// ---- the test ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_their_4xx_and_change_nothing() {
    let mut genesis = test_genesis();
    genesis.parameters.block_time_ms = Some(100);
    genesis.parameters.max_duration = Some(100_000);
    // Bounty C is posted with R = 1 so that it reaches the vote round at
    // once; the windows are then widened so that nothing settles during
    // the table.
    genesis.parameters.assertion_reveal_window = Some(1);
    genesis.parameters.arbiter_vote_window = Some(100_000);
    let node = TestNode::start(Backend::Sqlite, genesis).await;
    let state = node.node.state().clone();
    let addr = node.node.addr();
    let client = &node.client;
    let artifacts_dir = node.dir.path().join("artifacts");

    let owner = dev_key(0);
    let arbiter = dev_key(1);
    let engine = PrivateKey::random();
    let engine2 = PrivateKey::random();
    let pauper = PrivateKey::random();
    for key in [&engine, &engine2] {
        client
            .send(
                key,
                Mint {
                    to: key.address(),
                    amount: Amount::from_nct(1_000),
                },
            )
            .await;
    }

    // A bundle of two artifacts, posted as three bounties:
    // A stays in round 0, B is in round 1 with an assertion by `engine`,
    // C is in round 2.
    let (uri, _) = client
        .upload(&[
            ("a.txt", b"hostile artifact a"),
            ("b.txt", b"hostile artifact b"),
        ])
        .await;
    let (guid_a, guid_b, guid_c) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    client.send(&owner, post(guid_c, &uri, 2, "1", 1)).await;
    client
        .send(
            &owner,
            SetWindows {
                assertion_reveal_window: 100_000,
                arbiter_vote_window: 100_000,
            },
        )
        .await;
    client
        .send(&owner, post(guid_a, &uri, 2, "1", 100_000))
        .await;
    client
        .send(
            &engine,
            assertion(guid_a, &[0, 1], &["0.0625", "0.0625"], &engine),
        )
        .await;
    // B lasts one block: post and assert in one batch, applied in one block.
    let block = client.block().await;
    let post_b = Tx::new(
        owner.address(),
        "dev",
        block + 100,
        post(guid_b, &uri, 2, "1", 1),
    )
    .sign(&owner);
    let assert_b = Tx::new(
        engine.address(),
        "dev",
        block + 100,
        assertion(guid_b, &[0], &["0.0625"], &engine),
    )
    .sign(&engine);
    let (status, body) = client.submit(&[post_b, assert_b], true).await;
    assert_eq!(status, 200, "{body}");
    for item in body["result"].as_array().unwrap() {
        assert_eq!(item["status"], "included", "{body}");
    }
    // A transaction to replay, valid for as long as possible.
    let block = client.block().await;
    let replay = Tx::new(
        engine.address(),
        "dev",
        block + 256,
        Transfer {
            to: engine2.address(),
            amount: Amount::from_nct(1),
        },
    )
    .sign(&engine);
    let (status, body) = client.submit(std::slice::from_ref(&replay), true).await;
    assert_eq!(status, 200, "{body}");
    let bounty_c = client.result(&format!("/bounties/{guid_c}")).await;
    let bounty_b = client.result(&format!("/bounties/{guid_b}")).await;
    let ready = bounty_c["reveal_deadline"]
        .as_u64()
        .unwrap()
        .max(bounty_b["expiration"].as_u64().unwrap());
    client.wait_for_block(ready).await;
    assert_eq!(
        client.result(&format!("/bounties/{guid_a}")).await["round_number"],
        0
    );
    assert_eq!(
        client.result(&format!("/bounties/{guid_b}")).await["round_number"],
        1
    );
    assert_eq!(
        client.result(&format!("/bounties/{guid_c}")).await["round_number"],
        2
    );

    // The raw client works: a positive control.
    let answer = http(addr, "GET", "/status", &[], Vec::new()).await;
    assert_eq!(answer.status, 200);

    let block = tip(&state);
    let cases = table(&Ctx {
        permit: table_permit(&owner, block + 256),
        twenty_mib: vec![0; 20 * 1024 * 1024],
        block,
        owner: owner.clone(),
        arbiter: arbiter.clone(),
        engine: engine.clone(),
        engine2: engine2.clone(),
        pauper: pauper.clone(),
        uri: uri.clone(),
        guid_a,
        guid_b,
        guid_c,
        replay: serde_json::to_vec(&replay).unwrap(),
    });
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut names = std::collections::HashSet::new();
    for case in &cases {
        assert!(names.insert(case.name), "two cases are named {}", case.name);
    }

    let before = snapshot(&state, &artifacts_dir);
    let first_block = tip(&state);
    let mut failures = Vec::new();
    for case in &cases {
        let body = (case.body)(tip(&state));
        let answer = tokio::time::timeout(
            Duration::from_secs(120),
            http(addr, case.method, &case.path, &case.headers, body),
        )
        .await
        .unwrap_or_else(|_| panic!("case {}: no answer within 120 s", case.name));
        eprintln!(
            "{:>3} {:<55} {}",
            answer.status,
            case.name,
            String::from_utf8_lossy(&answer.body)
                .chars()
                .take(300)
                .collect::<String>()
        );
        if let Err(why) = check(case, &answer) {
            failures.push(format!(
                "{} ({} {}): {why}\n    body: {}",
                case.name,
                case.method,
                short(&case.path),
                String::from_utf8_lossy(&answer.body)
                    .chars()
                    .take(400)
                    .collect::<String>()
            ));
        }
    }
    // Anything accepted by mistake would be committed with the next block.
    let last = tip(&state);
    client.wait_for_block(last + 2).await;
    let after = snapshot(&state, &artifacts_dir);
    let committed = committed_after(&state, first_block).await;

    // Every problem at once: a failing run should tell the whole story.
    let mut problems = failures;
    if !committed.is_empty() {
        problems.push(format!(
            "refused requests committed transactions: {committed:?}"
        ));
    }
    let new_hashes: Vec<&String> = after
        .seen
        .iter()
        .filter(|h| !before.seen.contains(h))
        .collect();
    if !new_hashes.is_empty() {
        problems.push(format!("transactions were applied: {new_hashes:?}"));
    }
    if before.registry != after.registry {
        problems.push(format!(
            "the registry changed:\n    before: {}\n    after:  {}",
            before.registry, after.registry
        ));
    }
    // Blobs (artifact files) that refused uploads leave behind are checked
    // by `refused_uploads_leave_no_artifact_behind`; here, no bundle may
    // appear and no blob of a stored bundle may go.
    if before.manifests != after.manifests || after.blobs < before.blobs {
        problems.push(format!(
            "refused requests changed the artifact store: {} blobs and {} manifests before, {} and {} after",
            before.blobs, before.manifests, after.blobs, after.manifests
        ));
    }
    let temp_files = count_files(&artifacts_dir.join("tmp"));
    if temp_files != 0 {
        problems.push(format!("refused uploads left {temp_files} temp files"));
    }
    assert!(
        problems.is_empty(),
        "{} cases; problems:\n{}",
        cases.len(),
        problems.join("\n")
    );
    state.view.read(|r| r.check_invariants()).unwrap();
    eprintln!("{} hostile cases refused as expected", cases.len());
    node.node.shutdown().await.unwrap();
}

fn short(text: &str) -> String {
    if text.len() > 100 {
        format!("{}...", &text[..100])
    } else {
        text.to_owned()
    }
}

fn check(case: &Case, answer: &Answer) -> Result<(), String> {
    if answer.status >= 500 {
        return Err(format!("server error {}", answer.status));
    }
    if answer.status != case.status {
        return Err(format!(
            "status {}, expected {}",
            answer.status, case.status
        ));
    }
    if answer.status == 405 && answer.allow.as_deref().unwrap_or("").is_empty() {
        return Err("405 without the methods in an Allow header".to_owned());
    }
    if !answer.content_type.starts_with("application/json") {
        return Err(format!("content type {:?}, not JSON", answer.content_type));
    }
    let body: Value =
        serde_json::from_slice(&answer.body).map_err(|e| format!("body is not JSON: {e}"))?;
    if body["status"] != "FAIL" {
        return Err(format!("status field {}, not FAIL", body["status"]));
    }
    let errors = body["errors"].as_str().ok_or("no errors message")?;
    if !errors.contains(&case.message) {
        return Err(format!("message {errors:?} lacks {:?}", case.message));
    }
    if body["code"] != case.code {
        return Err(format!("code {}, expected {:?}", body["code"], case.code));
    }
    Ok(())
}

/// What the cases are built from.
struct Ctx {
    /// An `Authorization` header permitting `owner` to upload nothing in
    /// particular: enough for every upload that fails before the check of
    /// its sha256s.
    permit: String,
    /// 20 MiB of zeros, for uploads over a declared size.
    twenty_mib: Vec<u8>,
    /// The block when the table was built.
    block: u64,
    owner: PrivateKey,
    arbiter: PrivateKey,
    engine: PrivateKey,
    engine2: PrivateKey,
    pauper: PrivateKey,
    /// A stored bundle of two artifacts.
    uri: String,
    /// In round 0; `engine` asserted on both artifacts.
    guid_a: uuid::Uuid,
    /// In round 1; `engine` asserted on artifact 0.
    guid_b: uuid::Uuid,
    /// In round 2; nobody asserted.
    guid_c: uuid::Uuid,
    /// An included transaction.
    replay: Vec<u8>,
}

fn table(ctx: &Ctx) -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(envelope_cases(ctx));
    cases.extend(rule_cases(ctx));
    cases.extend(bounty_cases(ctx));
    cases.extend(read_cases(ctx));
    cases.extend(artifact_cases(ctx));
    cases
}

/// The transaction envelope, its JSON, its signature, its size.
fn envelope_cases(ctx: &Ctx) -> Vec<Case> {
    let engine = ctx.engine.clone();
    let to = ctx.engine2.address();
    let k = move || engine.clone();
    let transfer = move |amount: &str| format!(r#"{{"to":"{to}","amount":"{amount}"}}"#);
    let valid = {
        let (k, transfer) = (k.clone(), transfer);
        move |b: u64| {
            raw_text(
                "nct:Transfer",
                &k(),
                "dev",
                &(b + 50).to_string(),
                &transfer("1"),
            )
        }
    };
    let replay = ctx.replay.clone();
    let mut cases = vec![
        // First, while its hash is surely remembered.
        Case::tx_bytes("replayed transaction", replay).expect(
            409,
            "replayed",
            "already included (replay)",
        ),
        Case::tx_bytes("not JSON", "hello, node").expect(
            400,
            "bad_json",
            "request body is not JSON",
        ),
        Case::tx_bytes("empty body", "").expect(400, "bad_json", "request body is not JSON"),
        Case::tx_bytes("truncated JSON", r#"{"raw": "{\"name\""#)
            .expect(400, "bad_json", "not JSON"),
        Case::tx_bytes(
            "non-UTF-8 body",
            b"{\"raw\": \"\xff\xfe\", \"signature\": \"0x00\"}".to_vec(),
        )
        .expect(400, "not_utf8", "request body is not UTF-8"),
        Case::tx_bytes("JSON string instead of an envelope", r#""nct:Transfer""#).expect(
            400,
            "malformed",
            "not a signed transaction",
        ),
        Case::tx_bytes("envelope of the wrong shape", r#"{"tx": "x"}"#).expect(
            400,
            "malformed",
            "unknown field `tx`",
        ),
        Case::tx_bytes("envelope without a signature", r#"{"raw": "{}"}"#).expect(
            400,
            "malformed",
            "missing field `signature`",
        ),
        Case::tx("raw is an object, not a string", {
            let (k, valid) = (k.clone(), valid.clone());
            move |b| {
                let raw = valid(b);
                let sig = k().sign_hash(&keccak256(raw.as_bytes()));
                format!(r#"{{"raw": {raw}, "signature": "{sig}"}}"#).into_bytes()
            }
        })
        .expect(400, "malformed", "invalid type: map"),
        Case::tx("unknown field in the envelope", {
            let (k, valid) = (k.clone(), valid.clone());
            move |b| {
                let raw = valid(b);
                let sig = k().sign_hash(&keccak256(raw.as_bytes()));
                serde_json::to_vec(&json!({"raw": raw, "signature": sig.to_string(), "nonce": 1}))
                    .unwrap()
            }
        })
        .expect(400, "malformed", "unknown field `nonce`"),
        Case::tx("raw text is not JSON", {
            let k = k.clone();
            move |_| envelope(&k(), "name=nct:Transfer&amount=1")
        })
        .expect(400, "malformed", "malformed transaction"),
        Case::tx("raw text misses fields", {
            let k = k.clone();
            move |_| envelope(&k(), r#"{"name":"nct:Transfer"}"#)
        })
        .expect(400, "malformed", "missing field"),
        Case::tx("unknown field in raw", {
            let (k, transfer) = (k.clone(), transfer);
            move |b| {
                let raw = raw_text(
                    "nct:Transfer",
                    &k(),
                    "dev",
                    &(b + 50).to_string(),
                    &transfer("1"),
                );
                let raw = raw.replacen('{', r#"{"gas":21000,"#, 1);
                envelope(&k(), &raw)
            }
        })
        .expect(400, "malformed", "unknown field `gas`"),
        Case::tx("unknown field in data", {
            let (k, to) = (k.clone(), to);
            move |b| {
                let data = format!(r#"{{"to":"{to}","amount":"1","memo":"hi"}}"#);
                envelope(
                    &k(),
                    &raw_text("nct:Transfer", &k(), "dev", &(b + 50).to_string(), &data),
                )
            }
        })
        .expect(400, "malformed", "unknown field `memo`"),
        Case::tx("amount as a JSON number", {
            let (k, to) = (k.clone(), to);
            move |b| {
                let data = format!(r#"{{"to":"{to}","amount":1000}}"#);
                envelope(
                    &k(),
                    &raw_text("nct:Transfer", &k(), "dev", &(b + 50).to_string(), &data),
                )
            }
        })
        .expect(
            400,
            "malformed",
            "invalid type: integer `1000`, expected an amount of wei",
        ),
        Case::tx("expires as a string", {
            let (k, transfer) = (k.clone(), transfer);
            move |b| {
                envelope(
                    &k(),
                    &raw_text(
                        "nct:Transfer",
                        &k(),
                        "dev",
                        &format!("\"{}\"", b + 50),
                        &transfer("1"),
                    ),
                )
            }
        })
        .expect(400, "malformed", "invalid type: string"),
        Case::tx("amount beyond u128", {
            let (k, transfer) = (k.clone(), transfer);
            move |b| {
                let data = transfer("340282366920938463463374607431768211456");
                envelope(
                    &k(),
                    &raw_text("nct:Transfer", &k(), "dev", &(b + 50).to_string(), &data),
                )
            }
        })
        .expect(
            400,
            "malformed",
            "\"340282366920938463463374607431768211456\" is too large",
        ),
        Case::tx("expires beyond u64", {
            let (k, transfer) = (k.clone(), transfer);
            move |_| {
                envelope(
                    &k(),
                    &raw_text(
                        "nct:Transfer",
                        &k(),
                        "dev",
                        "18446744073709551616",
                        &transfer("1"),
                    ),
                )
            }
        })
        .expect(400, "malformed", "expected u64"),
        Case::tx("negative amount", {
            let (k, transfer) = (k.clone(), transfer);
            move |b| {
                envelope(
                    &k(),
                    &raw_text(
                        "nct:Transfer",
                        &k(),
                        "dev",
                        &(b + 50).to_string(),
                        &transfer("-1"),
                    ),
                )
            }
        })
        .expect(
            400,
            "malformed",
            "\"-1\" is not a non-negative decimal number",
        ),
        Case::tx("fractional wei amount", {
            let (k, transfer) = (k.clone(), transfer);
            move |b| {
                envelope(
                    &k(),
                    &raw_text(
                        "nct:Transfer",
                        &k(),
                        "dev",
                        &(b + 50).to_string(),
                        &transfer("1.5"),
                    ),
                )
            }
        })
        .expect(
            400,
            "malformed",
            "\"1.5\" is not a non-negative decimal number",
        ),
        Case::tx("unknown transaction name", {
            let (k, transfer) = (k.clone(), transfer);
            move |b| {
                envelope(
                    &k(),
                    &raw_text(
                        "nct:Steal",
                        &k(),
                        "dev",
                        &(b + 50).to_string(),
                        &transfer("1"),
                    ),
                )
            }
        })
        .expect(
            400,
            "unknown_name",
            "unknown transaction name \"nct:Steal\"",
        ),
        Case::tx("forged signature (another key)", {
            let valid = valid.clone();
            move |b| envelope(&PrivateKey::random(), &valid(b))
        })
        .expect(400, "wrong_signer", "not by the sender"),
        Case::tx("truncated signature", {
            let (k, valid) = (k.clone(), valid.clone());
            move |b| {
                let raw = valid(b);
                let sig = k().sign_hash(&keccak256(raw.as_bytes())).to_string();
                serde_json::to_vec(&json!({"raw": raw, "signature": &sig[..100]})).unwrap()
            }
        })
        .expect(400, "malformed", "expected 65"),
        Case::tx("signature with recovery byte 29", {
            let (k, valid) = (k.clone(), valid.clone());
            move |b| {
                let raw = valid(b);
                let mut sig = k().sign_hash(&keccak256(raw.as_bytes())).0;
                sig[64] = 29;
                serde_json::to_vec(
                    &json!({"raw": raw, "signature": format!("0x{}", hex::encode(sig))}),
                )
                .unwrap()
            }
        })
        .expect(400, "bad_signature", "v = 29 is not 0, 1, 27 or 28"),
        Case::tx("malleated (high-s) signature", {
            let (k, valid) = (k.clone(), valid.clone());
            move |b| {
                let raw = valid(b);
                let sig = high_s(k().sign_hash(&keccak256(raw.as_bytes())).0);
                serde_json::to_vec(
                    &json!({"raw": raw, "signature": format!("0x{}", hex::encode(sig))}),
                )
                .unwrap()
            }
        })
        .expect(400, "bad_signature", "not canonical"),
        Case::tx("all-zero signature", {
            let valid = valid.clone();
            move |b| {
                serde_json::to_vec(
                    &json!({"raw": valid(b), "signature": format!("0x{}1b", "00".repeat(64))}),
                )
                .unwrap()
            }
        })
        .expect(400, "bad_signature", "recovers no public key"),
        Case::tx("raw tampered after signing", {
            let (k, transfer) = (k.clone(), transfer);
            move |b| {
                let raw = raw_text(
                    "nct:Transfer",
                    &k(),
                    "dev",
                    &(b + 50).to_string(),
                    &transfer("1"),
                );
                let sig = k().sign_hash(&keccak256(raw.as_bytes()));
                let tampered = raw.replace(r#""amount":"1""#, r#""amount":"999""#);
                serde_json::to_vec(&json!({"raw": tampered, "signature": sig.to_string()})).unwrap()
            }
        })
        .expect(400, "wrong_signer", "not by the sender"),
        Case::tx("expired transaction", {
            let k = k.clone();
            move |b| {
                signed(
                    &k(),
                    b.saturating_sub(3),
                    Transfer {
                        to,
                        amount: nct("1"),
                    },
                )
            }
        })
        .expect(422, "expired", "transaction expired at block"),
        Case::tx("expires too far ahead", {
            let k = k.clone();
            move |b| {
                signed(
                    &k(),
                    b + 100_000,
                    Transfer {
                        to,
                        amount: nct("1"),
                    },
                )
            }
        })
        .expect(
            422,
            "expires_too_far",
            "more than 256 blocks after the current block",
        ),
        Case::tx("wrong community", {
            let (k, transfer) = (k.clone(), transfer);
            move |b| {
                envelope(
                    &k(),
                    &raw_text(
                        "nct:Transfer",
                        &k(),
                        "mainnet",
                        &(b + 50).to_string(),
                        &transfer("1"),
                    ),
                )
            }
        })
        .expect(
            422,
            "wrong_community",
            "is for community \"mainnet\", this is \"dev\"",
        ),
        Case::tx("raw transaction over 128 KiB", {
            let (k, to) = (k.clone(), to);
            move |b| {
                let data = format!(
                    r#"{{"to":"{to}","amount":"1","pad":"{}"}}"#,
                    "x".repeat(128 * 1024)
                );
                envelope(
                    &k(),
                    &raw_text("nct:Transfer", &k(), "dev", &(b + 50).to_string(), &data),
                )
            }
        })
        .expect(413, "too_large", "the limit is 131072"),
        Case::tx_bytes("body over 16 MiB", {
            let mut body = b"[\"".to_vec();
            body.resize(16 * 1024 * 1024 + 10, b'x');
            body.extend_from_slice(b"\"]");
            body
        })
        .expect(413, "too_large", "16777216"),
        Case::tx_bytes("batch of 1001", {
            let items = vec![json!({"raw": "{}", "signature": "0x00"}); 1001];
            serde_json::to_vec(&items).unwrap()
        })
        .expect(
            400,
            "batch_too_large",
            "at most 1000 transactions, not 1001",
        ),
        Case::tx_bytes("empty batch", "[]").expect(
            400,
            "empty_batch",
            "the batch holds no transaction",
        ),
        Case::tx("batch of a valid transaction and garbage", {
            let k = k.clone();
            move |b| {
                let good: Value = serde_json::from_slice(&fresh(
                    &k(),
                    b,
                    Transfer {
                        to,
                        amount: nct("1"),
                    },
                ))
                .unwrap();
                serde_json::to_vec(&json!([good, 42])).unwrap()
            }
        })
        .expect(400, "malformed", "(item 1)"),
        Case::tx("wait=maybe", {
            let k = k.clone();
            move |b| {
                fresh(
                    &k(),
                    b,
                    Transfer {
                        to,
                        amount: nct("1"),
                    },
                )
            }
        })
        .expect(400, "bad_wait", "wait=\"maybe\" is not true or false"),
    ];
    // The query belongs in the path.
    if let Some(case) = cases.iter_mut().find(|c| c.name == "wait=maybe") {
        case.path = "/transactions?wait=maybe".to_owned();
    }
    cases
}

/// Well-formed, well-signed transactions that break a rule.
fn rule_cases(ctx: &Ctx) -> Vec<Case> {
    let (engine, engine2, owner, pauper) = (
        ctx.engine.clone(),
        ctx.engine2.address(),
        ctx.owner.clone(),
        ctx.pauper.clone(),
    );
    let e = engine.clone();
    vec![
        Case::tx("zero transfer", move |b| {
            fresh(
                &e,
                b,
                Transfer {
                    to: engine2,
                    amount: Amount::ZERO,
                },
            )
        })
        .expect(
            422,
            "zero_amount",
            "transfer amount must be greater than zero",
        ),
        Case::tx("zero mint", {
            let e = engine.clone();
            move |b| {
                fresh(
                    &e,
                    b,
                    Mint {
                        to: engine2,
                        amount: Amount::ZERO,
                    },
                )
            }
        })
        .expect(422, "zero_amount", "mint amount must be greater than zero"),
        Case::tx("transfer more than the balance", {
            let p = pauper.clone();
            move |b| {
                fresh(
                    &p,
                    b,
                    Transfer {
                        to: engine2,
                        amount: nct("1"),
                    },
                )
            }
        })
        .expect(422, "insufficient_balance", "has 0 NCT, needs 1 NCT"),
        Case::tx("faucet mint over its limit", {
            let e = engine.clone();
            move |b| {
                fresh(
                    &e,
                    b,
                    Mint {
                        to: engine2,
                        amount: nct("100000001"),
                    },
                )
            }
        })
        .expect(422, "faucet_limit", "faucet mints at most 100000000 NCT"),
        Case::tx("fees set by a non-owner", {
            let e = engine.clone();
            move |b| {
                fresh(
                    &e,
                    b,
                    SetFees {
                        bounty_fee: Amount::ZERO,
                        assertion_fee: Amount::ZERO,
                    },
                )
            }
        })
        .expect(422, "not_owner", "is reserved to the community owner"),
        Case::tx("zero reveal window", {
            let o = owner.clone();
            move |b| {
                fresh(
                    &o,
                    b,
                    SetWindows {
                        assertion_reveal_window: 0,
                        arbiter_vote_window: 10,
                    },
                )
            }
        })
        .expect(422, "zero_window", "must be at least 1 block"),
        // Deadlines a window of u64::MAX pushed past u64 saturated, and the
        // escrow of every bounty posted after never settled.
        Case::tx("reveal window of u64::MAX", {
            let o = owner.clone();
            move |b| {
                fresh(
                    &o,
                    b,
                    SetWindows {
                        assertion_reveal_window: u64::MAX,
                        arbiter_vote_window: 10,
                    },
                )
            }
        })
        .expect(
            422,
            "parameter_out_of_range",
            "assertion_reveal_window = 18446744073709551615 is above the limit of 1000000",
        ),
        Case::tx("vote window past the limit", {
            let o = owner.clone();
            move |b| {
                fresh(
                    &o,
                    b,
                    SetWindows {
                        assertion_reveal_window: 10,
                        arbiter_vote_window: 1_000_001,
                    },
                )
            }
        })
        .expect(
            422,
            "parameter_out_of_range",
            "arbiter_vote_window = 1000001",
        ),
        Case::tx("assertion fee past the limit", {
            let o = owner.clone();
            move |b| {
                fresh(
                    &o,
                    b,
                    SetFees {
                        bounty_fee: Amount::ZERO,
                        assertion_fee: nct("1000000.000000000000000001"),
                    },
                )
            }
        })
        .expect(
            422,
            "parameter_out_of_range",
            "assertion_fee = 1000000.000000000000000001 NCT",
        ),
        Case::tx("stake deposit by a non-arbiter", {
            let e = engine.clone();
            move |b| fresh(&e, b, StakeDeposit { amount: nct("10") })
        })
        .expect(422, "not_arbiter", "is not a whitelisted arbiter"),
    ]
}

/// Bounty transactions: unknown guids, wrong rounds, masks, bids, commitments, uris.
fn bounty_cases(ctx: &Ctx) -> Vec<Case> {
    let (engine, engine2, owner, arbiter, pauper) = (
        ctx.engine.clone(),
        ctx.engine2.clone(),
        ctx.owner.clone(),
        ctx.arbiter.clone(),
        ctx.pauper.clone(),
    );
    let (a, bb, c, uri) = (ctx.guid_a, ctx.guid_b, ctx.guid_c, ctx.uri.clone());
    let unknown = uuid::Uuid::new_v4();
    let reveal = move |guid, nonce: H256| Reveal {
        bounty_guid: guid,
        nonce,
        verdicts: Bits256::from_indices([0]),
        metadata: json!([{"malware_family": ""}]),
    };
    let post_case = |name: &'static str, body: PostBounty, from: &PrivateKey| {
        let from = from.clone();
        Case::tx(name, move |b| fresh(&from, b, body.clone()))
    };
    let missing_uri = hex::encode(keccak256(b"no such bundle").0);
    let v1 = uuid::Uuid::parse_str("c232ab00-9414-11ec-b3c8-9f6bdeced846").unwrap();
    let long_name = ArtifactMetadata {
        filename: Some("n".repeat(256)),
        ..Default::default()
    };
    vec![
        post_case("post with the nil guid", post(uuid::Uuid::nil(), &uri, 1, "1", 10), &owner)
            .expect(422, "guid_not_v4", "00000000-0000-0000-0000-000000000000 is not a UUID v4 (version 0)"),
        post_case("post with the max guid", post(uuid::Uuid::max(), &uri, 1, "1", 10), &owner)
            .expect(422, "guid_not_v4", "is not a UUID v4"),
        post_case("post with a v1 guid", post(v1, &uri, 1, "1", 10), &owner)
            .expect(422, "guid_not_v4", "is not a UUID v4 (version 1)"),
        post_case(
            "post with a filename over 255 bytes",
            PostBounty {
                metadata: Some(vec![long_name.clone(), long_name]),
                ..post(uuid::Uuid::new_v4(), &uri, 2, "1", 10)
            },
            &owner,
        )
        .expect(413, "field_too_long", "filename of artifact 0 is 256 bytes; the limit is 255"),
        Case::tx("assert on an unknown guid", {
            let e = engine2.clone();
            move |b| fresh(&e, b, assertion(unknown, &[0], &["0.0625"], &e))
        })
        .expect(404, "unknown_bounty", format!("no bounty {unknown}")),
        Case::tx("reveal on an unknown guid", {
            let e = engine.clone();
            move |b| fresh(&e, b, reveal(unknown, nonce()))
        })
        .expect(404, "unknown_bounty", format!("no bounty {unknown}")),
        Case::tx("vote on an unknown guid", {
            let ar = arbiter.clone();
            move |b| fresh(&ar, b, Vote { bounty_guid: unknown, votes: Bits256::from_indices([0]) })
        })
        .expect(404, "unknown_bounty", format!("no bounty {unknown}")),
        Case::tx("reveal during round 0", {
            let e = engine.clone();
            move |b| fresh(&e, b, reveal(a, nonce()))
        })
        .expect(422, "wrong_round", "is allowed in round 1 (reveal), but at block"),
        Case::tx("assert after the assertion round", {
            let e = engine2.clone();
            move |b| fresh(&e, b, assertion(bb, &[0], &["0.0625"], &e))
        })
        .expect(422, "wrong_round", "is allowed in round 0 (assertion), but at block"),
        Case::tx("vote during round 0", {
            let ar = arbiter.clone();
            move |b| fresh(&ar, b, Vote { bounty_guid: a, votes: Bits256::from_indices([0]) })
        })
        .expect(422, "wrong_round", "is allowed in rounds 2-3 (vote)"),
        Case::tx("mask bit beyond the artifacts", {
            let e = engine2.clone();
            move |b| fresh(&e, b, assertion(a, &[0, 2], &["0.0625", "0.0625"], &e))
        })
        .expect(422, "bit_out_of_range", "bit 2 is set but bounty"),
        Case::tx("mask bit 255", {
            let e = engine2.clone();
            move |b| fresh(&e, b, assertion(a, &[255], &["0.0625"], &e))
        })
        .expect(422, "bit_out_of_range", "bit 255 is set"),
        Case::tx("empty mask", {
            let e = engine2.clone();
            move |b| fresh(&e, b, assertion(a, &[], &[], &e))
        })
        .expect(422, "empty_mask", "assertion mask covers no artifact"),
        Case::tx("fewer bids than mask bits", {
            let e = engine2.clone();
            move |b| fresh(&e, b, assertion(a, &[0, 1], &["0.0625"], &e))
        })
        .expect(422, "bid_count", "1 bid(s) for 2 asserted artifact(s)"),
        Case::tx("bid below the minimum", {
            let e = engine2.clone();
            move |b| fresh(&e, b, assertion(a, &[0], &["0.01"], &e))
        })
        .expect(422, "bid_too_low", "bid 0.01 NCT on artifact 0 is below the minimum 0.0625 NCT"),
        Case::tx("zero bid", {
            let e = engine2.clone();
            move |b| fresh(&e, b, assertion(a, &[1], &["0"], &e))
        })
        .expect(422, "bid_too_low", "bid 0 NCT on artifact 1 is below the minimum 0.0625 NCT"),
        Case::tx("bid above the maximum", {
            let e = engine2.clone();
            move |b| fresh(&e, b, assertion(a, &[0], &["2"], &e))
        })
        .expect(422, "bid_too_high", "bid 2 NCT on artifact 0 is above the maximum 1 NCT"),
        Case::tx("mask wider than 256 bits", {
            let e = engine2.clone();
            move |b| {
                let data = format!(
                    r#"{{"bounty_guid":"{a}","mask":"0x1{}","bids":["62500000000000000"],"commitment":"0x{}"}}"#,
                    "0".repeat(64),
                    "11".repeat(32)
                );
                envelope(&e, &raw_text("bounty:Assert", &e, "dev", &(b + 50).to_string(), &data))
            }
        })
        .expect(400, "malformed", "data of bounty:Assert"),
        Case::tx("second assertion on a bounty", {
            let e = engine.clone();
            move |b| fresh(&e, b, assertion(a, &[1], &["0.5"], &e))
        })
        .expect(409, "duplicate_assertion", "already asserted on bounty"),
        Case::tx("reveal that does not match the commitment", {
            let e = engine.clone();
            move |b| fresh(&e, b, reveal(bb, keccak256(b"another nonce")))
        })
        .expect(422, "commitment_mismatch", "do not match the commitment"),
        Case::tx("reveal with a zero nonce", {
            let e = engine.clone();
            move |b| fresh(&e, b, reveal(bb, H256::ZERO))
        })
        .expect(422, "zero_nonce", "reveal nonce must be non-zero"),
        Case::tx("reveal with metadata over 64 KiB", {
            let e = engine.clone();
            move |b| {
                let mut r = reveal(bb, nonce());
                r.metadata = json!([{"malware_family": "x".repeat(70 * 1024)}]);
                fresh(&e, b, r)
            }
        })
        .expect(413, "metadata_too_large", "the limit is 65536"),
        Case::tx("reveal without an assertion", {
            let e = engine2.clone();
            move |b| fresh(&e, b, reveal(bb, nonce()))
        })
        .expect(422, "no_assertion", "has no assertion on bounty"),
        Case::tx("vote by a non-arbiter", {
            let e = engine.clone();
            move |b| fresh(&e, b, Vote { bounty_guid: c, votes: Bits256::from_indices([0]) })
        })
        .expect(422, "not_arbiter", "is not a whitelisted arbiter"),
        Case::tx("vote by an arbiter without stake", {
            let ar = arbiter.clone();
            move |b| fresh(&ar, b, Vote { bounty_guid: c, votes: Bits256::from_indices([0]) })
        })
        .expect(422, "understaked", "below the minimum"),
        post_case("post with a duplicate guid", post(a, &uri, 2, "1", 10), &owner)
            .expect(409, "duplicate_bounty", format!("bounty {a} already exists")),
        post_case("post with uri ../../etc/passwd", post(uuid::Uuid::new_v4(), "../../etc/passwd", 1, "1", 10), &owner)
            .expect(422, "bad_uri", "artifact uri \"../../etc/passwd\" is not a sha256"),
        post_case(
            "post with a percent-encoded traversal uri",
            post(uuid::Uuid::new_v4(), "%2e%2e%2f%2e%2e%2fetc%2fpasswd", 1, "1", 10),
            &owner,
        )
        .expect(422, "bad_uri", "is not a sha256"),
        post_case("post with an uppercase uri", post(uuid::Uuid::new_v4(), &uri.to_uppercase(), 2, "1", 10), &owner)
            .expect(422, "bad_uri", "is not a sha256"),
        post_case("post with a 63-digit uri", post(uuid::Uuid::new_v4(), &uri[..63], 2, "1", 10), &owner)
            .expect(422, "bad_uri", "is not a sha256"),
        post_case("post of a bundle that does not exist", post(uuid::Uuid::new_v4(), &missing_uri, 1, "1", 10), &owner)
            .expect(422, "unknown_bundle", format!("no artifact bundle {missing_uri}")),
        post_case("post with num_artifacts not matching the bundle", post(uuid::Uuid::new_v4(), &uri, 3, "1", 10), &owner)
            .expect(422, "artifact_count_mismatch", "holds 2 artifact(s) but num_artifacts is 3"),
        post_case("post of zero NCT", post(uuid::Uuid::new_v4(), &uri, 2, "0", 10), &owner)
            .expect(422, "bounty_amount_too_low", "bounty amount 0 NCT is below the minimum 0.125 NCT for 2 artifact(s)"),
        post_case("post with duration 0", post(uuid::Uuid::new_v4(), &uri, 2, "1", 0), &owner)
            .expect(422, "duration", "duration 0 is outside 1..=100000 blocks"),
        post_case("post with a duration beyond the maximum", post(uuid::Uuid::new_v4(), &uri, 2, "1", 100_001), &owner)
            .expect(422, "duration", "duration 100001 is outside"),
        post_case("post by an account without funds", post(uuid::Uuid::new_v4(), &uri, 2, "1", 10), &pauper)
            .expect(422, "insufficient_balance", "has 0 NCT"),
        post_case(
            "post with metadata for the wrong artifact count",
            PostBounty {
                metadata: Some(vec![ArtifactMetadata::default(); 3]),
                ..post(uuid::Uuid::new_v4(), &uri, 2, "1", 10)
            },
            &owner,
        )
        .expect(422, "metadata_count", "metadata lists 3 artifacts, the bounty has 2"),
        post_case(
            "post of 257 url artifacts",
            PostBounty {
                artifact_type: ArtifactType::Url,
                ..post(uuid::Uuid::new_v4(), &uri, 257, "100", 10)
            },
            &owner,
        )
        .expect(422, "artifact_count", "a bounty holds 1 to 256 artifacts, not 257"),
        post_case(
            "post of zero url artifacts",
            PostBounty {
                artifact_type: ArtifactType::Url,
                ..post(uuid::Uuid::new_v4(), &uri, 0, "100", 10)
            },
            &owner,
        )
        .expect(422, "artifact_count", "not 0"),
        Case::tx("post with an unknown artifact type", {
            let o = owner.clone();
            let uri = uri.clone();
            move |b| {
                let data = format!(
                    r#"{{"guid":"{}","artifact_type":"exe","amount":"1000000000000000000","uri":"{uri}","num_artifacts":2,"duration":10}}"#,
                    uuid::Uuid::new_v4()
                );
                envelope(&o, &raw_text("bounty:Post", &o, "dev", &(b + 50).to_string(), &data))
            }
        })
        .expect(400, "malformed", "unknown variant `exe`"),
        Case::tx("post with a guid that is not a UUID", {
            let o = owner.clone();
            let uri = uri.clone();
            move |b| {
                let data = format!(
                    r#"{{"guid":"../1","artifact_type":"file","amount":"1000000000000000000","uri":"{uri}","num_artifacts":2,"duration":10}}"#
                );
                envelope(&o, &raw_text("bounty:Post", &o, "dev", &(b + 50).to_string(), &data))
            }
        })
        .expect(400, "malformed", "data of bounty:Post"),
    ]
}

/// Read endpoints with bad paths and queries.
fn read_cases(ctx: &Ctx) -> Vec<Case> {
    let a = ctx.guid_a;
    let unknown = uuid::Uuid::new_v4();
    let unknown_hash = keccak256(b"never submitted");
    vec![
        Case::get("bounty guid that is not a UUID", "/bounties/not-a-guid").expect(
            400,
            "bad_guid",
            "\"not-a-guid\" is not a bounty guid",
        ),
        Case::get("unknown bounty", format!("/bounties/{unknown}")).expect(
            404,
            "not_found",
            format!("no bounty {unknown}"),
        ),
        Case::get(
            "assertions of an unknown bounty",
            format!("/bounties/{unknown}/assertions"),
        )
        .expect(404, "not_found", "no bounty"),
        Case::get(
            "votes of an unknown bounty",
            format!("/bounties/{unknown}/votes/0"),
        )
        .expect(404, "not_found", "no bounty"),
        Case::get(
            "assertion index that is not a number",
            format!("/bounties/{a}/assertions/abc"),
        )
        .expect(400, "bad_index", "\"abc\" is not an index"),
        Case::get(
            "assertion index out of range",
            format!("/bounties/{a}/assertions/7"),
        )
        .expect(404, "not_found", "has 1 assertion(s); no index 7"),
        Case::get("negative vote index", format!("/bounties/{a}/votes/-1")).expect(
            400,
            "bad_index",
            "\"-1\" is not an index",
        ),
        Case::get("non-UTF-8 guid in a path", "/bounties/%ff%fe").expect(400, "bad_path", "UTF-8"),
        Case::get("non-UTF-8 address in a path", "/balances/%c3%28/nct")
            .expect(400, "bad_path", "UTF-8"),
        Case::get("address that is not hex", "/balances/0xnothex/nct").expect(
            400,
            "bad_address",
            "0xnothex",
        ),
        Case::get(
            "address with a wrong checksum",
            "/balances/0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD/staking/total",
        )
        .expect(400, "bad_address", "wrong EIP-55 checksum"),
        Case::get("short address", "/balances/0x1234/staking/withdrawable").expect(
            400,
            "bad_address",
            "0x1234",
        ),
        Case::get(
            "short address of deposits",
            "/balances/0x1234/staking/deposits",
        )
        .expect(400, "bad_address", "0x1234"),
        Case::get("block number that is not a number", "/blocks/abc").expect(
            400,
            "bad_block",
            "\"abc\" is not a block number",
        ),
        Case::get("block number beyond u64", "/blocks/18446744073709551616").expect(
            400,
            "bad_block",
            "is not a block number",
        ),
        // Was a 500 "stored data is corrupt: number exceeds i64".
        Case::get("block number u64::MAX", "/blocks/18446744073709551615").expect(
            404,
            "not_found",
            "no block 18446744073709551615",
        ),
        Case::get("block that does not exist", "/blocks/4000000000").expect(
            404,
            "not_found",
            "no block 4000000000",
        ),
        Case::get(
            "transaction hash that is not a hash",
            "/transactions/0x1234",
        )
        .expect(400, "bad_hash", "is not a transaction hash"),
        Case::get(
            "transaction never included",
            format!("/transactions/{unknown_hash}"),
        )
        .expect(404, "not_found", "is not included"),
        Case::get("page that is not a number", "/bounties?page=abc").expect(
            400,
            "bad_page",
            "page \"abc\" is not a number",
        ),
        Case::get("negative page", "/bounties?page=-1").expect(
            400,
            "bad_page",
            "page \"-1\" is not a number",
        ),
        Case::get("unknown bounty state filter", "/bounties?state=stolen").expect(
            400,
            "bad_state",
            "state \"stolen\" is not one of",
        ),
        Case::get("events since a non-number (plain GET)", "/events?since=abc").expect(
            400,
            "bad_since",
            "since=\"abc\" is not a block number",
        ),
        Case::get(
            "events since a non-number (WebSocket handshake)",
            "/events?since=abc",
        )
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .expect(400, "bad_since", "since=\"abc\" is not a block number"),
        Case::get("events without a WebSocket handshake", "/events?since=1").expect(
            400,
            "not_websocket",
            "WebSocket",
        ),
        Case::get("unknown route", "/wallets/steal").expect(
            404,
            "not_found",
            "no route GET /wallets/steal",
        ),
        Case::get("unknown route with non-UTF-8", "/%ff%fe").expect(
            404,
            "not_found",
            "no route GET",
        ),
        Case::get("wrong method", "/status")
            .method("DELETE")
            .expect(
                405,
                "method_not_allowed",
                "method DELETE is not allowed on /status",
            ),
        Case::get("GET on the submission route", "/transactions").expect(
            405,
            "method_not_allowed",
            "method GET is not allowed on /transactions",
        ),
    ]
}

/// Artifact uploads and downloads: sizes, counts, fields, uris.
fn artifact_cases(ctx: &Ctx) -> Vec<Case> {
    let uri = ctx.uri.clone();
    let missing = hex::encode(keccak256(b"no such bundle either").0);
    let oversize = vec![b'x'; 32 * 1024 * 1024 + 1];
    let mut cases = vec![
        Case::get("bundle uri ../../etc/passwd, encoded", "/artifacts/..%2F..%2Fetc%2Fpasswd")
            .expect(400, "bad_artifact", "artifact uri \"../../etc/passwd\" is not a sha256"),
        Case::get("bundle uri ../../etc/passwd, raw", "/artifacts/../../etc/passwd")
            .expect(404, "not_found", "no route GET /artifacts/../../etc/passwd"),
        Case::get("artifact of a lowercase-encoded traversal uri", "/artifacts/%2e%2e%2f%2e%2e%2fetc%2fpasswd/0")
            .expect(400, "bad_artifact", "is not a sha256"),
        Case::get("stat of a traversal uri", "/artifacts/..%2f..%2fetc%2fpasswd/0/stat").expect(400, "bad_artifact", "is not a sha256"),
        Case::get("artifact of an uppercase uri", format!("/artifacts/{}/0", uri.to_uppercase()))
            .expect(400, "bad_artifact", "is not a sha256"),
        Case::get("bundle uri of 63 digits", format!("/artifacts/{}", &uri[..63])).expect(400, "bad_artifact", "is not a sha256"),
        Case::get("bundle uri of 65 digits", format!("/artifacts/{uri}0/0/stat")).expect(400, "bad_artifact", "is not a sha256"),
        Case::get("bundle that does not exist", format!("/artifacts/{missing}"))
            .expect(404, "not_found", format!("no artifact bundle {missing}")),
        Case::get("non-UTF-8 bundle uri", "/artifacts/%ff/0").expect(400, "bad_path", "UTF-8"),
        Case::get("artifact index that is not a number", format!("/artifacts/{uri}/abc"))
            .expect(400, "bad_index", "\"abc\" is not an artifact index"),
        Case::get("artifact index out of range", format!("/artifacts/{uri}/2/stat"))
            .expect(404, "not_found", "has 2 artifacts; index 2 is out of range"),
        Case::get("artifact index beyond u64", format!("/artifacts/{uri}/99999999999999999999999"))
            .expect(400, "bad_index", "is not an artifact index"),
        Case::post("upload that is JSON, not multipart", "/artifacts", "application/json", br#"{"file": "eicar"}"#.to_vec())
        .header("Authorization", &ctx.permit)
        .expect(400, "bad_multipart", "expected a multipart/form-data body: the content type is \"application/json\""),
        Case::post("upload without a boundary", "/artifacts", "multipart/form-data", b"--x\r\n\r\n--x--\r\n".to_vec())
        .header("Authorization", &ctx.permit)
        .expect(400, "bad_multipart", "Invalid `boundary`"),
        Case::post(
            "upload with a wrong field name",
            "/artifacts",
            &form_type(),
            multipart(BOUNDARY, &[("upload", "a.txt", b"wrong field")]),
        )
        .header("Authorization", &ctx.permit)
        .expect(400, "bad_field", "unexpected multipart field \"upload\""),
        Case::post("upload without any file", "/artifacts", &form_type(), multipart(BOUNDARY, &[]))
        .header("Authorization", &ctx.permit)
        .expect(400, "no_file", "no artifact in the upload"),
        Case::post(
            "upload cut off in the middle",
            "/artifacts",
            &form_type(),
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\r\nhalf an artifa")
                .into_bytes(),
        )
        .header("Authorization", &ctx.permit)
        .expect(400, "bad_multipart", "multipart body is malformed in artifact 0"),
        Case::post(
            "upload of an artifact over 32 MiB",
            "/artifacts",
            &form_type(),
            multipart(BOUNDARY, &[("file", "big.bin", &oversize)]),
        )
        .header("Authorization", &ctx.permit)
        .expect(413, "too_large", "is larger than the limit of 33554432 bytes"),
    ];
    cases.extend(partial_uploads(&ctx.permit));
    cases.extend(permission_cases(ctx));
    cases
}

/// The 257 artifacts of the upload over the count limit.
fn too_many_artifacts() -> Vec<Vec<u8>> {
    (0..257)
        .map(|i| format!("artifact number {i}").into_bytes())
        .collect()
}

const WHOLE_BEFORE_CUT: &[u8] = b"a whole artifact before the cut";
const SMALL_BEFORE_BIG: &[u8] = b"a small artifact before a big one";

/// The upload permission of the table's uploads: it names every artifact
/// they carry whole, so that each is refused for what it tests (a cut, a
/// size, a count) and not for its permission.
fn table_permit(key: &PrivateKey, expires: u64) -> String {
    let mut files = too_many_artifacts();
    files.push(WHOLE_BEFORE_CUT.to_vec());
    files.push(SMALL_BEFORE_BIG.to_vec());
    let files: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
    permit(key, "dev", expires, &files)
}

/// Uploads refused after some of their artifacts were received whole.
fn partial_uploads(permit: &str) -> Vec<Case> {
    let too_many = too_many_artifacts();
    let parts: Vec<(&str, &str, &[u8])> = too_many
        .iter()
        .map(|b| ("file", "f.bin", b.as_slice()))
        .collect();
    let oversize = vec![b'x'; 32 * 1024 * 1024 + 1];
    vec![
        Case::post(
            "upload of an artifact followed by a cut-off one",
            "/artifacts",
            &form_type(),
            {
                let mut body = multipart(BOUNDARY, &[("file", "whole.bin", WHOLE_BEFORE_CUT)]);
                body.truncate(body.len() - format!("--{BOUNDARY}--\r\n").len());
                body.extend_from_slice(
                    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\r\nhalf").as_bytes(),
                );
                body
            },
        )
        .header("Authorization", permit)
        .expect(400, "bad_multipart", "multipart body is malformed in artifact 1"),
        Case::post(
            "upload of an artifact followed by one over 32 MiB",
            "/artifacts",
            &form_type(),
            multipart(BOUNDARY, &[("file", "small.bin", SMALL_BEFORE_BIG), ("file", "big.bin", &oversize)]),
        )
        .header("Authorization", permit)
        .expect(413, "too_large", "\"big.bin\" is larger than the limit of 33554432 bytes"),
        Case::post("upload of 257 artifacts", "/artifacts", &form_type(), multipart(BOUNDARY, &parts))
        .header("Authorization", permit)
        .expect(413, "too_large", "a bundle holds at most 256 artifacts"),
    ]
}

/// SPEC §4, "never a partial write": an upload that is refused leaves no
/// artifact behind, not even the whole files that came before the one that
/// broke it (they are in no bundle, so nobody can fetch or reference them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_uploads_leave_no_artifact_behind() {
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let addr = node.node.addr();
    let blobs = node.dir.path().join("artifacts").join("blobs");
    let mut problems = Vec::new();
    let owner = swarm_node::dev_key(0);
    let permit = table_permit(&owner, node.client.block().await + 256);
    for case in partial_uploads(&permit) {
        let before = count_files(&blobs);
        let answer = http(addr, case.method, &case.path, &case.headers, (case.body)(0)).await;
        if let Err(why) = check(&case, &answer) {
            problems.push(format!("{}: {why}", case.name));
        }
        let left = count_files(&blobs) - before;
        if left != 0 {
            problems.push(format!(
                "{}: refused, but {left} artifact blob(s) stayed behind",
                case.name
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    node.node.shutdown().await.unwrap();
}

/// An `Authorization` header: `key`'s signed permission to upload `files`.
fn permit(key: &PrivateKey, community: &str, expires: u64, files: &[&[u8]]) -> String {
    use sha2::Digest;
    let auth = swarm_protocol::UploadAuth {
        sha256s: files
            .iter()
            .map(|f| hex::encode(sha2::Sha256::digest(f)))
            .collect(),
    };
    format!(
        "Swarm {}",
        serde_json::to_string(&auth.sign(key, community, expires)).unwrap()
    )
}

/// `POST /artifacts` without a valid permission of a funded account.
fn permission_cases(ctx: &Ctx) -> Vec<Case> {
    let file: &[u8] = b"an artifact nobody may upload";
    let body = || multipart(BOUNDARY, &[("file", "x.bin", file)]);
    let upload = |name: &'static str| Case::post(name, "/artifacts", &form_type(), body());
    let stranger = PrivateKey::random();
    let mut forged: serde_json::Value =
        serde_json::from_str(ctx.permit.strip_prefix("Swarm ").unwrap()).unwrap();
    let other = permit(&stranger, "dev", ctx.block + 256, &[file]);
    let other: serde_json::Value =
        serde_json::from_str(other.strip_prefix("Swarm ").unwrap()).unwrap();
    forged["signature"] = other["signature"].clone();
    vec![
        upload("upload without Authorization").expect(
            401,
            "unauthorized",
            "needs an `Authorization: Swarm <signed artifacts:Upload>` header; none was sent",
        ),
        upload("upload with a bearer token")
            .header("Authorization", "Bearer abc")
            .expect(401, "unauthorized", "the scheme is not Swarm"),
        upload("upload permission that is not JSON")
            .header("Authorization", "Swarm {nope")
            .expect(401, "unauthorized", "it is not a signed envelope"),
        upload("upload permission signed by another key")
            .header("Authorization", &format!("Swarm {forged}"))
            .expect(
                401,
                "unauthorized",
                "upload permission refused: signature was made by",
            ),
        upload("upload permission for another community")
            .header(
                "Authorization",
                &permit(&ctx.owner, "elsewhere", ctx.block + 256, &[file]),
            )
            .expect(
                401,
                "unauthorized",
                "upload permission is for community \"elsewhere\"",
            ),
        upload("expired upload permission")
            .header(
                "Authorization",
                &permit(&ctx.owner, "dev", ctx.block.saturating_sub(1), &[file]),
            )
            .expect(401, "unauthorized", "expired at block"),
        upload("upload permission of an account without NCT")
            .header(
                "Authorization",
                &permit(&stranger, "dev", ctx.block + 256, &[file]),
            )
            .expect(
                403,
                "forbidden",
                "holds no NCT; only funded accounts may upload",
            ),
        upload("upload of an artifact the permission does not name")
            .header("Authorization", &ctx.permit)
            .expect(
                403,
                "forbidden",
                "is not among the sha256s the upload permission",
            ),
        // Refused at the second part's header, before its bytes.
        Case::post(
            "upload of more artifacts than the permission names",
            "/artifacts",
            &form_type(),
            multipart(
                BOUNDARY,
                &[("file", "a.bin", file), ("file", "b.bin", file)],
            ),
        )
        .header(
            "Authorization",
            &permit(&ctx.owner, "dev", ctx.block + 256, &[file]),
        )
        .expect(
            403,
            "forbidden",
            "names 1 artifact(s); this upload has more",
        ),
        // Refused on its Content-Length, before any byte of the body.
        Case::post(
            "upload declaring more bytes than its permitted artifacts can hold",
            "/artifacts",
            &form_type(),
            multipart(
                BOUNDARY,
                &[
                    ("file", "a.bin", &ctx.twenty_mib),
                    ("file", "b.bin", &ctx.twenty_mib),
                ],
            ),
        )
        .header(
            "Authorization",
            &permit(&ctx.owner, "dev", ctx.block + 256, &[file]),
        )
        .expect(
            413,
            "too_large",
            "more than the 1 artifact(s) its permission names can hold",
        ),
    ]
}

/// SPEC §4 limits: over a token bucket, 429 with `Retry-After`; nothing applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_over_the_rate_limit_get_429_with_retry_after() {
    let node =
        TestNode::start_configured(tempfile::tempdir().unwrap(), None, test_genesis(), |c| {
            c.limits = swarm_node::Limits {
                transactions_per_account: swarm_node::Rate::new(1, 2),
                upload_bytes_per_account_hour: Some(10),
                ..swarm_node::Limits::unlimited()
            };
        })
        .await;
    let key = PrivateKey::random();
    let block = node.client.block().await;
    let mint = |n: u128| {
        Tx::new(
            key.address(),
            "dev",
            block + 100,
            swarm_protocol::Mint {
                to: key.address(),
                amount: Amount::from_wei(n),
            },
        )
        .sign(&key)
    };
    let (first, _) = node.client.submit(&[mint(1)], true).await;
    let (second, _) = node.client.submit(&[mint(2)], true).await;
    assert_eq!((first, second), (200, 200));
    let response = node
        .client
        .http
        .post(format!("{}/transactions", node.url()))
        .json(&mint(3))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert!(body["errors"]
        .as_str()
        .unwrap()
        .contains("too many transactions from"));
    let balance = node
        .client
        .result(&format!("/balances/{}/nct", key.address()))
        .await;
    assert_eq!(balance, "3", "only the two admitted mints count");

    // The upload quota is 10 bytes an hour: 11 are refused, nothing stored.
    let owner = swarm_node::dev_key(0);
    let eleven: &[u8] = b"eleven byte";
    let permission = node.client.upload_permission(&owner, &[eleven]).await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(eleven.to_vec()).file_name("e"),
    );
    let response = node
        .client
        .http
        .post(format!("{}/artifacts", node.url()))
        .header("authorization", permission)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        count_files(&node.dir.path().join("artifacts").join("blobs")),
        0
    );
    node.node.shutdown().await.unwrap();
}
