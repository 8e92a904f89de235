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
    customize(&arbiter, "Ok(Some(content == swarm_sdk::EICAR))");
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
