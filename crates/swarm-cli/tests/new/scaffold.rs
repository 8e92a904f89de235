//! `swarm new`, the engine author's first step, through to the last: the
//! generated crate's own tests fail until its `CUSTOMIZE_HERE` scan is
//! written, pass once it is, and the engine then earns NCT in `swarm dev`.
//!
//! Generated crates build in one target directory shared by these tests
//! (`target/generated`, named by `swarm new --target-dir` in each crate's
//! `.cargo/config.toml`), so their dependencies compile once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// One generated-crate build at a time: they share a target directory.
static CARGO: Mutex<()> = Mutex::new(());

fn swarm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_swarm"))
}

/// `target/generated`, beside the `debug` directory holding this test.
fn generated_target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/new-<hash>
    exe.ancestors().nth(3).unwrap().join("generated")
}

fn cargo(dir: &Path, args: &[&str]) -> Output {
    let _one = CARGO.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    Command::new(cargo)
        .args(args)
        .current_dir(dir)
        // The crate's .cargo/config.toml says where it builds.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Replaces the one line marked `CUSTOMIZE_HERE: your verdict` in
/// `src/lib.rs` with `code`, as an author (or sed) would.
fn customize(dir: &Path, code: &str) {
    let lib = dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let marked: Vec<&str> = source
        .lines()
        .filter(|l| l.contains("// CUSTOMIZE_HERE: your verdict"))
        .collect();
    assert_eq!(marked.len(), 1, "one verdict line to customize:\n{source}");
    let patched = source.replace(marked[0], code);
    std::fs::write(&lib, patched).unwrap();
}

fn new_crate(out: &Path, flags: &[&str]) -> PathBuf {
    let output = swarm()
        .args(["new", "--no-input", "--output-dir"])
        .arg(out)
        .arg("--target-dir")
        .arg(generated_target_dir())
        .args(flags)
        .output()
        .unwrap();
    assert!(output.status.success(), "swarm new: {}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let created = stdout
        .lines()
        .find_map(|l| l.strip_prefix("created "))
        .expect("swarm new names the directory it created");
    PathBuf::from(created)
}

#[test]
fn a_new_microengine_is_tested_then_earns_in_swarm_dev() {
    let out = tempfile::tempdir().unwrap();
    let dir = new_crate(
        out.path(),
        &[
            "--name",
            "MyEicarEngine",
            "--org",
            "ACME",
            "--author",
            "Wile E Coyote",
            "--email",
            "wile@acme.example",
        ],
    );
    assert_eq!(dir.file_name().unwrap(), "microengine-myeicarengine");
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "Dockerfile",
        "src/lib.rs",
        "src/main.rs",
        "tests/participant.rs",
        ".cargo/config.toml",
    ] {
        assert!(dir.join(file).is_file(), "{file} is generated");
    }
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../swarm-sdk")
        .canonicalize()
        .unwrap();
    let sdk_line = manifest
        .lines()
        .find(|l| l.starts_with("swarm-sdk = { path = "))
        .unwrap();
    // By absolute path: the crate can live, and move, anywhere.
    assert_eq!(Path::new(sdk_line.split('"').nth(1).unwrap()), sdk);
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("CUSTOMIZE_HERE") && readme.contains("cargo test"));

    // Before the scan is written, the tests say what to do.
    let before = cargo(&dir, &["test", "--quiet"]);
    assert!(!before.status.success(), "{}", text(&before));
    assert!(
        text(&before).contains("implement the scan in src/lib.rs (CUSTOMIZE_HERE)"),
        "{}",
        text(&before)
    );

    customize(
        &dir,
        "Ok(if content == swarm_sdk::EICAR { ScanResult::malicious(1.0, \"EICAR-Test-File\") } \
         else { ScanResult::benign(0.9) })",
    );
    let after = cargo(&dir, &["test", "--quiet"]);
    assert!(after.status.success(), "{}", text(&after));
    let build = cargo(&dir, &["build", "--quiet"]);
    assert!(build.status.success(), "{}", text(&build));
    let binary = generated_target_dir().join("debug/microengine-myeicarengine");
    assert!(binary.is_file());

    let run = swarm()
        .args([
            "dev",
            "--bounties",
            "5",
            "--listen",
            "127.0.0.1:0",
            "--json",
        ])
        .args([
            "--block-time-ms",
            "50",
            "--timeout-secs",
            "180",
            "--seed",
            "5",
        ])
        .arg("--engine")
        .arg(&binary)
        .output()
        .unwrap();
    assert!(run.status.success(), "swarm dev: {}", text(&run));
    assert!(
        !Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("journal")
            .exists(),
        "swarm dev keeps engines' journals in its data directory"
    );
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let engines = summary["engines"].as_array().unwrap();
    let mine = engines
        .iter()
        .find(|e| {
            e["name"]
                .as_str()
                .unwrap()
                .ends_with("microengine-myeicarengine")
        })
        .unwrap();
    let asserted = mine["artifacts_asserted"].as_u64().unwrap();
    let artifacts: usize = summary["bounties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["artifacts"].as_array().unwrap().len())
        .sum();
    assert_eq!(asserted as usize, artifacts, "{mine}");
    assert_eq!(mine["right"], mine["artifacts_asserted"], "{mine}");
    let before: u128 = mine["nct_before"].as_str().unwrap().parse().unwrap();
    let after: u128 = mine["nct_after"].as_str().unwrap().parse().unwrap();
    assert!(after > before, "an always-right engine earns: {mine}");
}

#[test]
fn arbiters_ambassadors_and_backends_build_and_pass_their_tests() {
    let out = tempfile::tempdir().unwrap();
    // An arbiter with a backend, on files and URLs.
    let arbiter = new_crate(
        out.path(),
        &[
            "--participant",
            "arbiter",
            "--name",
            "Truth",
            "--artifacts",
            "both",
            "--has-backend",
            "yes",
        ],
    );
    // EICAR, or a URL naming it.
    customize(
        &arbiter,
        "Ok(Some(content == swarm_sdk::EICAR \
         || content.windows(5).any(|w| w.eq_ignore_ascii_case(b\"eicar\"))))",
    );
    let test = cargo(&arbiter, &["test", "--quiet"]);
    assert!(test.status.success(), "{}", text(&test));
    let main = std::fs::read_to_string(arbiter.join("src/main.rs")).unwrap();
    assert!(main.contains("TRUTH_BACKEND"), "{main}");

    // An ambassador works out of the box.
    let ambassador = new_crate(
        out.path(),
        &["--participant", "ambassador", "--name", "Poster"],
    );
    let test = cargo(&ambassador, &["test", "--quiet"]);
    assert!(test.status.success(), "{}", text(&test));

    // A blocking microengine on URLs only, with a backend: declines files.
    let blocking = new_crate(
        out.path(),
        &[
            "--name",
            "Url Checker",
            "--artifacts",
            "urls",
            "--scan-mode",
            "blocking",
            "--has-backend",
            "true",
        ],
    );
    customize(
        &blocking,
        "Ok(if backend.is_empty() || content.starts_with(b\"http://evil\") { \
         ScanResult::malicious(0.9, \"Phish\") } else { ScanResult::benign(0.9) })",
    );
    std::fs::write(
        blocking.join("tests/urls.rs"),
        r#"
use swarm_sdk::{Artifact, Scanner, Verdict};
use acme_urlchecker::UrlChecker;

#[tokio::test]
async fn urls_only() {
    let s = UrlChecker::new("127.0.0.1:1");
    let bad = s.scan(&Artifact::url("http://evil.example/")).await.unwrap();
    assert_eq!(bad.verdict, Verdict::Malicious);
    let good = s.scan(&Artifact::url("https://example.com/")).await.unwrap();
    assert_eq!(good.verdict, Verdict::Benign);
    let file = s.scan(&Artifact::file(&b"http://evil"[..])).await.unwrap();
    assert_eq!(file.verdict, Verdict::Unknown, "files are not this engine's business");
}
"#,
    )
    .unwrap();
    let test = cargo(&blocking, &["test", "--quiet", "--test", "urls"]);
    assert!(test.status.success(), "{}", text(&test));
}

#[test]
fn bad_answers_are_refused_and_nothing_is_written() {
    let out = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--name", "../../etc"], "must start with a letter"),
        (&["--name", "rm -rf /"], "contains '/'"),
        (
            &["--name", "Ok", "--project-slug", "Bad Slug"],
            "not a package name",
        ),
        (
            &["--name", "Ok", "--email", "nobody"],
            "not an email address",
        ),
        (
            &["--name", "Ok", "--participant", "oracle"],
            "invalid value 'oracle'",
        ),
    ];
    for (flags, reason) in cases {
        let output = swarm()
            .args(["new", "--no-input", "--output-dir"])
            .arg(out.path())
            .args(flags)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{flags:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(reason), "{flags:?}: {stderr}");
    }
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);

    // An existing crate is never overwritten.
    let twice = new_crate(out.path(), &["--name", "Twice"]);
    // The generated code is laid out as `cargo fmt` would.
    let fmt = Command::new("rustfmt")
        .args(["--edition", "2021", "--check"])
        .arg(twice.join("src/lib.rs"))
        .arg(twice.join("src/main.rs"))
        .arg(twice.join("tests/participant.rs"))
        .output()
        .unwrap();
    assert!(fmt.status.success(), "{}", text(&fmt));
    let again = swarm()
        .args(["new", "--no-input", "--name", "Twice", "--output-dir"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));
}

/// The words cargo prints for each package it compiles, as
/// ("Compiling", name) pairs.
fn compiled(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Compiling "))
        .map(|l| l.split(' ').next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn engines_made_anywhere_share_one_build_so_the_second_compiles_only_itself() {
    // Made from a directory outside the checkout, without --output-dir.
    let elsewhere = tempfile::tempdir().unwrap();
    let made = |name: &str| {
        let output = swarm()
            .args(["new", "--no-input", "--name", name, "--target-dir"])
            .arg(generated_target_dir())
            .current_dir(elsewhere.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "swarm new: {}", text(&output));
        assert!(
            text(&output).contains(&format!(
                "builds in {}",
                generated_target_dir().canonicalize().unwrap().display()
            )),
            "{}",
            text(&output)
        );
        elsewhere
            .path()
            .canonicalize()
            .unwrap()
            .join(format!("microengine-{}", name.to_lowercase()))
    };
    let first = made("FirstShared");
    let second = made("SecondShared");
    let config = std::fs::read_to_string(first.join(".cargo/config.toml")).unwrap();
    assert!(config.contains("target-dir = "), "{config}");

    let build_tests = |dir: &Path| {
        let output = cargo(dir, &["test", "--no-run"]);
        assert!(output.status.success(), "{}", text(&output));
        output
    };
    build_tests(&first);
    // Everything the second engine needs is already built: the SDK, its
    // dependencies, all of it; cargo compiles the engine's own crate only.
    let second_build = build_tests(&second);
    assert_eq!(
        compiled(&second_build),
        ["microengine-secondshared"],
        "{}",
        text(&second_build)
    );
    assert!(
        !second.join("target").exists(),
        "nothing builds in ./target"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The URL path end to end: a URL engine made by `swarm new --artifacts
/// urls`, whose generated tests ask for a URL verdict, customized to call a
/// URL holding "eicar" malicious, asserts on every URL bounty of `swarm dev
/// --urls`, is right every time, and its balance is what the chain says to
/// the wei; the explorer shows the URLs as text.
#[test]
fn a_url_engine_made_by_swarm_new_asserts_on_url_bounties_and_is_paid_to_the_wei() {
    use swarm_protocol::{Amount, ArtifactType, Guid};

    let out = tempfile::tempdir().unwrap();
    let dir = new_crate(
        out.path(),
        &["--name", "UrlEicar", "--org", "ACME", "--artifacts", "urls"],
    );
    assert_eq!(dir.file_name().unwrap(), "microengine-urleicar");

    // Its tests scan URL artifacts, and say what to do until the scan is written.
    let before = cargo(&dir, &["test", "--quiet"]);
    assert!(!before.status.success(), "{}", text(&before));
    assert!(
        text(&before).contains("a URL serving the EICAR test file must be malicious"),
        "{}",
        text(&before)
    );
    customize(
        &dir,
        "Ok(if content.windows(5).any(|w| w.eq_ignore_ascii_case(b\"eicar\")) { \
         ScanResult::malicious(1.0, \"EICAR-Test-File\") } else { ScanResult::benign(0.9) })",
    );
    let after = cargo(&dir, &["test", "--quiet"]);
    assert!(after.status.success(), "{}", text(&after));
    let build = cargo(&dir, &["build", "--quiet"]);
    assert!(build.status.success(), "{}", text(&build));
    let binary = generated_target_dir().join("debug/microengine-urleicar");
    assert!(binary.is_file());

    // With --keep the summary comes first, then the node stays up.
    let port = free_port();
    let logs = tempfile::tempdir().unwrap();
    let stdout_path = logs.path().join("summary.json");
    let stderr_path = logs.path().join("stderr.log");
    let mut dev = swarm()
        .args(["dev", "--urls", "--bounties", "6", "--artifacts", "2"])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--seed", "11"])
        .args(["--block-time-ms", "200", "--timeout-secs", "240"])
        .args(["--json", "--keep", "--engine"])
        .arg(&binary)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let summary: serde_json::Value = loop {
        if let Ok(text) = std::fs::read_to_string(&stdout_path) {
            if let Ok(v) = serde_json::from_str(&text) {
                break v;
            }
        }
        if let Ok(Some(status)) = dev.try_wait() {
            panic!(
                "swarm dev exited ({status}): {}",
                std::fs::read_to_string(&stderr_path).unwrap()
            );
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(300),
            "no summary: {}",
            std::fs::read_to_string(&stderr_path).unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };

    let bounties = summary["bounties"].as_array().unwrap();
    assert_eq!(bounties.len(), 6, "{summary}");
    let url_bounties: Vec<&serde_json::Value> = bounties
        .iter()
        .filter(|b| b["artifact_type"] == "url")
        .collect();
    assert_eq!(url_bounties.len(), 3, "every second bounty: {summary}");
    let url_artifacts: usize = url_bounties
        .iter()
        .map(|b| b["artifacts"].as_array().unwrap().len())
        .sum();
    let mine = summary["engines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["name"]
                .as_str()
                .unwrap()
                .ends_with("microengine-urleicar")
        })
        .unwrap();
    assert_eq!(
        mine["artifacts_asserted"].as_u64(),
        Some(url_artifacts as u64),
        "every URL, and no file: {mine}"
    );
    assert_eq!(mine["right"], mine["artifacts_asserted"], "{mine}");

    let node = format!("http://127.0.0.1:{port}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // To the wei, from the chain: bids and fees out, payouts in.
        let client = swarm_sdk::NodeClient::new(node.clone());
        let address = swarm_node::dev_key(10).address();
        let (mut spent, mut paid) = (Amount::ZERO, Amount::ZERO);
        let mut shown_urls = Vec::new();
        for b in bounties {
            let guid: Guid = b["guid"].as_str().unwrap().parse().unwrap();
            let bounty = client.bounty(&guid).await.unwrap().unwrap();
            let mine: Vec<_> = bounty
                .assertions
                .iter()
                .filter(|a| a.author == address)
                .collect();
            match bounty.artifact_type {
                ArtifactType::Url => assert_eq!(mine.len(), 1, "one assertion on {guid}"),
                ArtifactType::File => assert!(mine.is_empty(), "a URL engine on files: {guid}"),
            }
            for a in mine {
                for amount in a.bids.iter().chain([&a.fee]) {
                    spent = spent.checked_add(*amount).unwrap();
                }
            }
            let settlement = bounty.settlement.as_ref().expect("settled");
            for p in settlement
                .outcome
                .payouts
                .iter()
                .filter(|p| p.account == address)
            {
                paid = paid.checked_add(p.amount).unwrap();
            }
            if bounty.artifact_type == ArtifactType::Url {
                let consensus = settlement.outcome.consensus.expect("a consensus");
                for (i, m) in bounty.metadata.iter().flatten().enumerate() {
                    let uri = m.uri.clone().unwrap();
                    assert_eq!(m.protocol.as_deref(), uri.split("://").next());
                    assert_eq!(consensus.get(i), uri.contains("eicar"), "{uri}");
                    shown_urls.push((guid, uri));
                }
            }
        }
        let before: u128 = mine["nct_before"].as_str().unwrap().parse().unwrap();
        let after: u128 = mine["nct_after"].as_str().unwrap().parse().unwrap();
        let balance = client.balance(&address).await.unwrap();
        assert_eq!(balance.wei(), after);
        assert_eq!(
            balance.wei(),
            before - spent.wei() + paid.wei(),
            "balance = before − bids − fees + payouts"
        );
        assert!(after > before, "an always-right engine earns: {mine}");

        // The explorer shows a URL as defanged text, not a link.
        let (guid, uri) = shown_urls.first().expect("a URL").clone();
        let page = reqwest::get(format!("{node}/explorer/bounties/{guid}"))
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let body = page.text().await.unwrap();
        let (scheme, rest) = uri.split_once("://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let shown = format!(
            "{}://{}{path}",
            scheme.replace("http", "hxxp"),
            host.replace('.', "[.]")
        );
        assert!(body.contains("<code class=\"url\""), "{body}");
        assert!(body.contains(&shown), "{shown} in {body}");
        assert!(!body.contains(&uri), "{uri} as written in {body}");
        assert!(!body.contains("href=\"http"), "{body}");
    });

    // SIGTERM ends the kept node.
    Command::new("kill")
        .args(["-TERM", &dev.id().to_string()])
        .status()
        .unwrap();
    let status = dev.wait().unwrap();
    assert!(status.success(), "{status}");
}
