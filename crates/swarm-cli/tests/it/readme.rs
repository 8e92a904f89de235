//! The README's commands, kept honest.
//!
//! Every `swarm` command line in the README's shell blocks must name a real
//! subcommand and only flags that subcommand takes, and must be exercised
//! by a test; the table in `exercised_by` says which, and this file runs the
//! ones no other test does ("A marketplace by hand" and `--genesis`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{free_port, KillOnDrop};

fn swarm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_swarm"))
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap()
}

/// The `swarm ...` lines of the README's `sh` blocks, comments removed.
fn readme_commands() -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in readme().lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let code = line.split(" #").next().unwrap().trim();
        if let Some(rest) = code.strip_prefix("cargo run --release -p swarm-cli -- ") {
            commands.push(format!("swarm {rest}"));
        } else if code.starts_with("swarm ") {
            commands.push(code.to_owned());
        }
    }
    commands
}

/// Where each README command runs in the test suite.
fn exercised_by(subcommand: &[&str]) -> &'static [&'static str] {
    match subcommand {
        ["dev"] => &[
            "tests/it/dev.rs",
            "tests/new/scaffold.rs",
            "tests/it/clamav_dev.rs",
            "tests/it/wine_engine.rs",
            "tests/it/metrics.rs",
        ],
        ["new"] => &["tests/new/scaffold.rs", "tests/new/interactive.rs"],
        ["node"] => &[
            "tests/it/durability.rs",
            "tests/it/readme.rs",
            "tests/it/hardening.rs",
            "tests/it/object_store.rs",
        ],
        ["engine", "run"] | ["arbiter", "run"] | ["ambassador", "run"] => {
            &["tests/it/readme.rs", "tests/it/metrics.rs"]
        }
        ["worker"] => &["tests/it/redis_workers.rs"],
        ["scan"] => &[
            "tests/it/scan.rs",
            "tests/it/composite_engine.rs",
            "tests/it/wine_engine.rs",
        ],
        ["wallet", "faucet"] => &["tests/it/readme.rs"],
        ["wallet", "transfer" | "maintain"] | ["community", _] | ["stake", _] => {
            &["tests/it/operator.rs"]
        }
        ["wallet", _] => &["tests/it/wallet.rs"],
        ["bounty", _] => &["tests/it/bounty.rs"],
        _ => &[],
    }
}

#[test]
fn every_readme_command_is_real_and_tested() {
    let commands = readme_commands();
    assert!(commands.len() >= 15, "{commands:#?}");
    for command in &commands {
        // Quoted arguments (a command engine's command line) are one word.
        let unquoted: String = command
            .split('"')
            .enumerate()
            .map(|(i, part)| if i % 2 == 1 { "ARG" } else { part })
            .collect();
        let words: Vec<&str> = unquoted.split_whitespace().skip(1).collect();
        // The subcommand: one word, or two for the grouped commands.
        let depth = match words[0] {
            "wallet" | "bounty" | "engine" | "arbiter" | "ambassador" | "community" | "stake" => 2,
            _ => 1,
        };
        let subcommand = &words[..depth];
        let tests = exercised_by(subcommand);
        assert!(!tests.is_empty(), "no test runs `{command}`");
        for test in tests {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(test);
            let source = std::fs::read_to_string(&path).unwrap();
            let last = subcommand[depth - 1];
            assert!(
                source.contains(&format!("\"{last}\"")),
                "{test} does not run `swarm {}`",
                subcommand.join(" ")
            );
        }
        let help = swarm().args(subcommand).arg("--help").output().unwrap();
        assert!(
            help.status.success(),
            "`swarm {}` is not a command",
            subcommand.join(" ")
        );
        let help = String::from_utf8_lossy(&help.stdout);
        for flag in words.iter().filter(|w| w.starts_with("--")) {
            let flag = flag.split('=').next().unwrap();
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "`{command}`: `swarm {}` has no {flag}",
                subcommand.join(" ")
            );
        }
    }
}

/// `GET path` on `addr` over a plain socket: the whole answer, headers
/// included.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    answer
}

fn hex_key(i: u32) -> String {
    format!("0x{}", hex::encode(swarm_node::dev_key(i).to_bytes()))
}

/// "A marketplace by hand": a node started from a genesis file, then an
/// engine, an arbiter and an ambassador, each its own `swarm` process, as
/// the README runs them; the ambassador's `--check` passes.
#[test]
fn a_marketplace_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let mut genesis = swarm_node::dev_genesis();
    genesis.parameters.block_time_ms = Some(50);
    let genesis_file = dir.path().join("community.toml");
    std::fs::write(&genesis_file, genesis.to_toml()).unwrap();
    let port = free_port();
    let node = format!("http://127.0.0.1:{port}");
    let _node = KillOnDrop(
        swarm()
            .args(["node", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--genesis")
            .arg(&genesis_file)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the node never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let keyfile = dir.path().join("engine.json");
    let wallet = |args: &[&str]| {
        let output = swarm()
            .arg("wallet")
            .args(args)
            .arg("--keyfile")
            .arg(&keyfile)
            .env("SWARM_NODE", &node)
            .env("SWARM_PASSWORD", "by hand")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "wallet {args:?}: {stderr}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let address = wallet(&["new", "--light"]);
    let minted = wallet(&["faucet"]);
    assert!(minted.starts_with(address.trim()), "{minted}");
    assert!(minted.contains("balance  1000"), "{minted}");
    let engine_metrics = format!("127.0.0.1:{}", free_port());
    let arbiter_metrics = format!("127.0.0.1:{}", free_port());
    let _engine = KillOnDrop(
        swarm()
            .args(["engine", "run", "eicar", "--keyfile"])
            .arg(&keyfile)
            .arg("--journal")
            .arg(dir.path().join("journal"))
            .args(["--metrics-listen", &engine_metrics])
            .env("SWARM_NODE", &node)
            .env("SWARM_PASSWORD", "by hand")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _arbiter = KillOnDrop(
        swarm()
            .args([
                "arbiter",
                "run",
                "--private-key",
                &hex_key(1),
                "--truth",
                "eicar",
                "--metrics-listen",
                &arbiter_metrics,
                "--health-threshold-secs",
                "30",
            ])
            .env("SWARM_NODE", &node)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Let the engine and the arbiter subscribe.
    std::thread::sleep(Duration::from_secs(2));
    let ambassador = swarm()
        .args(["ambassador", "run", "--private-key", &hex_key(0)])
        .args(["--bounties", "3", "--check", "--interval-ms", "100"])
        .args(["--duration", "5", "--json"])
        .env("SWARM_NODE", &node)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ambassador.stderr);
    assert!(ambassador.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&ambassador.stdout).unwrap();
    let outcomes = report["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 3, "{report}");
    for outcome in outcomes {
        assert_eq!(outcome["assertions"], 1, "the engine asserted: {outcome}");
    }
    // The health and metrics servers of the README's section.
    for addr in [&engine_metrics, &arbiter_metrics] {
        assert!(http_get(addr, "/healthz").starts_with("HTTP/1.1 200"));
        assert!(http_get(addr, "/readyz").starts_with("HTTP/1.1 200"));
    }
    let start = Instant::now();
    while !http_get(&engine_metrics, "/metrics").contains("swarm_engine_assertions_total 3\n") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            http_get(&engine_metrics, "/metrics")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let page = http_get(&arbiter_metrics, "/metrics");
    assert!(page.contains("swarm_arbiter_votes_total 3\n"), "{page}");

    // URL bounties from a list file: two URLs a bounty, comments skipped;
    // the EICAR engine and arbiter call a URL naming EICAR malicious.
    let list = dir.path().join("urls.txt");
    std::fs::write(
        &list,
        "# known bad, then known good\nhttp://malware.example/eicar.com\nhttps://example.com/  # a page\nhttps://example.org/\n",
    )
    .unwrap();
    let urls = swarm()
        .args(["ambassador", "run", "--private-key", &hex_key(0)])
        .arg("--urls")
        .arg(&list)
        .args(["--artifacts", "2", "--interval-ms", "100"])
        .args(["--duration", "5", "--json"])
        .env("SWARM_NODE", &node)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&urls.stderr);
    assert!(urls.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&urls.stdout).unwrap();
    let outcomes = report["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 2, "{report}");
    assert_eq!(
        outcomes[0]["artifacts"],
        serde_json::json!(["http://malware.example/eicar.com", "https://example.com/"])
    );
    assert_eq!(outcomes[0]["consensus"], serde_json::json!([true, false]));
    assert_eq!(outcomes[1]["consensus"], serde_json::json!([false]));
    let client = swarm_sdk::NodeClient::new(node.clone());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for outcome in outcomes {
        assert_eq!(outcome["assertions"], 1, "the engine asserted: {outcome}");
        let guid = outcome["guid"].as_str().unwrap().parse().unwrap();
        let bounty = runtime.block_on(client.bounty(&guid)).unwrap().unwrap();
        assert_eq!(bounty.artifact_type, swarm_protocol::ArtifactType::Url);
    }
    // A bad URL stops the ambassador before it posts, naming its line.
    std::fs::write(&list, "https://example.com/\nfile:///etc/passwd\n").unwrap();
    let bad = swarm()
        .args(["ambassador", "run", "--private-key", &hex_key(0)])
        .arg("--urls")
        .arg(&list)
        .env("SWARM_NODE", &node)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("line 2: \"file:///etc/passwd\" is not a URL a bounty takes"),
        "{stderr}"
    );

    // More than the faucet gives at once is refused, and the error says so.
    let refused = swarm()
        .args(["wallet", "faucet", "--amount", "1000000000", "--keyfile"])
        .arg(&keyfile)
        .env("SWARM_NODE", &node)
        .env("SWARM_PASSWORD", "by hand")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("refused the mint"), "{stderr}");
}
