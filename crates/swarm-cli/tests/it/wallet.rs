//! `swarm wallet new|show|balance` with keystore v3 files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::{Address, Amount, Keystore, Mint};

fn swarm(args: &[&str], password: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_swarm"));
    cmd.args(args)
        .env_remove("SWARM_PASSWORD")
        .env_remove("SWARM_KEYFILE");
    if let Some(p) = password {
        cmd.env("SWARM_PASSWORD", p);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_show_and_balance() {
    let dir = tempfile::tempdir().unwrap();
    let keyfile = dir.path().join("key.json");
    let file = keyfile.to_str().unwrap();

    let (ok, out, err) = swarm(
        &["wallet", "new", "--keyfile", file, "--light"],
        Some("s3cret"),
    );
    assert!(ok, "{err}");
    let address: Address = out.trim().parse().unwrap();
    // A real keystore v3 file that decrypts to that address.
    let keystore = Keystore::from_json(&std::fs::read_to_string(&keyfile).unwrap()).unwrap();
    assert_eq!(keystore.decrypt("s3cret").unwrap().address(), address);

    // It refuses to overwrite, and without a password or terminal it says how to give one.
    let (ok, _, err) = swarm(&["wallet", "new", "--keyfile", file], Some("x"));
    assert!(!ok && err.contains("exists; use --force"), "{err}");
    let other = dir.path().join("other.json");
    let (ok, _, err) = swarm(
        &["wallet", "new", "--keyfile", other.to_str().unwrap()],
        None,
    );
    assert!(!ok && err.contains("set SWARM_PASSWORD"), "{err}");

    let (ok, out, _) = swarm(&["wallet", "show", "--keyfile", file], None);
    assert!(ok);
    assert_eq!(out.trim(), address.to_string());
    let (ok, _, err) = swarm(&["wallet", "show", "--keyfile", file], Some("wrong"));
    assert!(!ok && err.contains("wrong password"), "{err}");

    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let minter = swarm_node::dev_key(50);
    node.client
        .send(
            &minter,
            Mint {
                to: address,
                amount: Amount::parse_nct("12.5").unwrap(),
            },
        )
        .await;
    let url = node.url();
    let (ok, out, err) = swarm(
        &["wallet", "balance", "--node", &url, "--keyfile", file],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.contains("balance  12.5 NCT"), "{out}");
    assert!(out.contains("staked   0 NCT"), "{out}");
    node.node.shutdown().await.unwrap();
}
