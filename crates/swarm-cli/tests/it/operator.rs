//! The operator's and the wallet's signing commands against a real node:
//! `swarm community ...` (the owner's transactions), `swarm stake ...`,
//! `swarm wallet transfer` and `swarm wallet maintain`. Each test runs the
//! `swarm` binary with `--yes` (one checks what happens without it and
//! without a terminal, one answers the question on a pseudo-terminal) and
//! reads the outcome back from the node, to the wei.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use swarm_e2e::{files, funded, post_bounty, wait_for, COMMUNITY};
use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::{
    Address, Amount, ArtifactType, Bits256, KdfStrength, Keystore, PostBounty, PrivateKey,
    Transfer, Vote,
};
use swarm_sdk::{NodeClient, TxStatus};

/// What a `swarm` run printed.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok: {}\n--- stdout\n{}--- stderr\n{}",
            self.ok, self.stdout, self.stderr
        )
    }
}

/// Runs `swarm ARGS` with none of the `SWARM_*` variables of the caller's
/// environment (and no terminal: stdin is closed).
async fn swarm(args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args(args)
        .env_remove("SWARM_NODE")
        .env_remove("SWARM_KEYFILE")
        .env_remove("SWARM_PASSWORD")
        .env_remove("SWARM_PRIVATE_KEY")
        .env_remove("SWARM_MAINTAIN_FROM")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let run = Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    run
}

fn hex_key(key: &PrivateKey) -> String {
    format!("0x{}", hex::encode(key.to_bytes()))
}

fn nct(text: &str) -> Amount {
    Amount::parse_nct(text).unwrap()
}

async fn start(genesis: swarm_protocol::Genesis) -> (TestNode, NodeClient, String) {
    let node = TestNode::start(Backend::Sqlite, genesis).await;
    let url = node.url();
    let client = NodeClient::new(url.clone());
    (node, client, url)
}

/// Runs an owner's command signed by the dev owner, `--yes`, and checks it
/// was included.
async fn as_owner(url: &str, args: &[&str]) -> Run {
    let owner = hex_key(&dev_key(0));
    let mut all = vec!["community"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--node", url, "--private-key", &owner, "--yes"]);
    let run = swarm(&all).await;
    assert!(run.ok, "{run:?}");
    assert!(run.stdout.contains("included in block"), "{run:?}");
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_sets_fees_and_windows_and_the_next_bounty_is_posted_under_them() {
    let (node, client, url) = start(test_genesis()).await;
    let owner = dev_key(0);

    let run = as_owner(
        &url,
        &["set-fees", "--bounty-fee", "0.5", "--assertion-fee", "0.25"],
    )
    .await;
    // What was signed is shown first: kind, fields, community, signer.
    assert!(
        run.stderr.contains("about to sign community:SetFees"),
        "{run:?}"
    );
    assert!(run.stderr.contains("0.5 NCT (now 0.0625 NCT)"), "{run:?}");
    assert!(run.stderr.contains(&owner.address().to_string()), "{run:?}");
    assert!(run.stderr.contains(COMMUNITY), "{run:?}");
    // One window only: the other stays as it was.
    as_owner(&url, &["set-windows", "--reveal-window", "7"]).await;
    as_owner(&url, &["set-windows", "--vote-window", "13"]).await;

    let shown = swarm(&["community", "show", "--node", &url]).await;
    assert!(shown.ok, "{shown:?}");
    assert!(
        shown
            .stdout
            .contains("fees        bounty 0.5 NCT, assertion 0.25 NCT"),
        "{shown:?}"
    );
    assert!(
        shown.stdout.contains("reveal 7 blocks, vote 13 blocks"),
        "{shown:?}"
    );
    assert!(
        shown
            .stdout
            .contains(&format!("owner       {}", owner.address())),
        "{shown:?}"
    );
    let json = swarm(&["community", "show", "--node", &url, "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["bounty_fee"], "500000000000000000");
    assert_eq!(json["assertion_fee"], "250000000000000000");
    assert_eq!(json["assertion_reveal_window"], 7);
    assert_eq!(json["arbiter_vote_window"], 13);

    // The next bounty pays the new fee and keeps the new windows.
    let before = client.balance(&owner.address()).await.unwrap();
    let bounty = post_bounty(
        &client,
        &owner,
        files(&[("notes.txt", b"operator notes")]),
        nct("1"),
        3,
    )
    .await;
    assert_eq!(bounty.fee, nct("0.5"));
    assert_eq!((bounty.reveal_window, bounty.vote_window), (7, 13));
    let after = client.balance(&owner.address()).await.unwrap();
    assert_eq!(before.checked_sub(after).unwrap(), nct("1.5"));
    node.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_owner_is_refused_with_the_node_code_naming_the_owner() {
    // Without a faucet, minting is the owner's too.
    let mut genesis = test_genesis();
    genesis.faucet = None;
    let (node, client, url) = start(genesis).await;
    let owner = dev_key(0).address();
    let stranger = PrivateKey::random();
    let key = hex_key(&stranger);
    let common = [
        "--node",
        url.as_str(),
        "--private-key",
        key.as_str(),
        "--yes",
    ];

    let mut args = vec!["community", "set-fees", "--bounty-fee", "9"];
    args.extend_from_slice(&common);
    let run = swarm(&args).await;
    assert!(!run.ok, "{run:?}");
    assert!(
        run.stderr
            .contains("warning: the signer is not the community owner"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("the node refused community:SetFees (not_owner, HTTP 422)"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("only the community owner may send community:SetFees"),
        "{run:?}"
    );
    assert!(run.stderr.contains(&owner.to_string()), "{run:?}");

    let target = stranger.address().to_string();
    for mut args in [
        vec![
            "community",
            "mint",
            "--to",
            target.as_str(),
            "--amount",
            "5",
        ],
        vec!["community", "add-arbiter", target.as_str()],
        vec!["community", "deprecate"],
    ] {
        args.extend_from_slice(&common);
        let run = swarm(&args).await;
        assert!(!run.ok, "{run:?}");
        assert!(run.stderr.contains("(not_owner, HTTP 422)"), "{run:?}");
    }
    let params = client.parameters().await.unwrap();
    assert_eq!(params.parameters.bounty_fee, nct("0.0625"));
    assert!(!params.arbiters.contains(&stranger.address()));
    assert!(!params.deprecated);
    assert_eq!(
        client.balance(&stranger.address()).await.unwrap(),
        Amount::ZERO
    );
    node.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_arbiter_that_stakes_can_vote_until_removed() {
    let (node, client, url) = start(test_genesis()).await;
    let owner = dev_key(0);
    let arbiter = funded(&client, 20_000_000).await;
    let address = arbiter.address().to_string();
    let key = hex_key(&arbiter);

    // Not whitelisted yet: its deposit is refused, and the error says who fixes it.
    let deposit = [
        "stake",
        "deposit",
        "--node",
        url.as_str(),
        "--private-key",
        key.as_str(),
        "--yes",
    ];
    let run = swarm(&deposit).await;
    assert!(!run.ok, "{run:?}");
    assert!(run.stderr.contains("(not_arbiter, HTTP 422)"), "{run:?}");
    assert!(
        run.stderr.contains("swarm community add-arbiter"),
        "{run:?}"
    );

    as_owner(&url, &["add-arbiter", &address]).await;
    assert!(client
        .parameters()
        .await
        .unwrap()
        .arbiters
        .contains(&arbiter.address()));
    // Without --amount it stakes what is missing to the minimum.
    let run = swarm(&deposit).await;
    assert!(run.ok, "{run:?}");
    assert_eq!(
        client.stake_total(&arbiter.address()).await.unwrap(),
        Amount::from_nct(10_000_000)
    );
    let shown = swarm(&["stake", "show", "--node", &url, "--address", &address]).await;
    assert!(shown.stdout.contains("can vote      yes"), "{shown:?}");
    let shown = swarm(&["community", "show", "--node", &url]).await;
    assert!(
        shown
            .stdout
            .contains(&format!("{address}  staked 10000000 NCT, may vote")),
        "{shown:?}"
    );
    // The genesis arbiter has not staked.
    assert!(
        shown.stdout.contains(&format!(
            "{}  staked 0 NCT, below the minimum stake: may not vote",
            dev_key(1).address()
        )),
        "{shown:?}"
    );

    let bounty = post_bounty(&client, &owner, files(&[("a.txt", b"first")]), nct("1"), 2).await;
    node.client.wait_for_block(bounty.reveal_deadline()).await;
    let vote = Vote {
        bounty_guid: bounty.guid,
        votes: Bits256::EMPTY,
    };
    let sent = client.send(&arbiter, COMMUNITY, vote, true).await.unwrap();
    assert_eq!(sent.status, TxStatus::Included);

    as_owner(&url, &["remove-arbiter", &address]).await;
    assert!(!client
        .parameters()
        .await
        .unwrap()
        .arbiters
        .contains(&arbiter.address()));
    let bounty = post_bounty(&client, &owner, files(&[("b.txt", b"second")]), nct("1"), 2).await;
    node.client.wait_for_block(bounty.reveal_deadline()).await;
    let vote = Vote {
        bounty_guid: bounty.guid,
        votes: Bits256::EMPTY,
    };
    let refused = client
        .send(&arbiter, COMMUNITY, vote, true)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("not_arbiter"), "{refused}");
    // Removing it twice is refused by the node, with its code.
    let owner_key = hex_key(&owner);
    let run = swarm(&[
        "community",
        "remove-arbiter",
        &address,
        "--node",
        &url,
        "--private-key",
        &owner_key,
        "--yes",
    ])
    .await;
    assert!(
        !run.ok && run.stderr.contains("(not_arbiter, HTTP 422)"),
        "{run:?}"
    );
    node.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprecate_refuses_new_bounties_lets_in_flight_ones_settle_and_undeprecate_reopens() {
    let (node, client, url) = start(test_genesis()).await;
    let owner = dev_key(0);
    let in_flight = post_bounty(
        &client,
        &owner,
        files(&[("a.txt", b"in flight")]),
        nct("1"),
        2,
    )
    .await;

    let run = as_owner(&url, &["deprecate"]).await;
    assert!(run.stderr.contains("rollover"), "{run:?}");
    let shown = swarm(&["community", "show", "--node", &url]).await;
    assert!(
        shown
            .stdout
            .contains("deprecated: new bounties are refused"),
        "{shown:?}"
    );
    // A new bounty is refused.
    let uploaded = client
        .upload(&owner, COMMUNITY, &files(&[("b.txt", b"too late")]))
        .await
        .unwrap();
    let post = PostBounty {
        guid: swarm_e2e::guid_v4(),
        artifact_type: ArtifactType::File,
        amount: nct("1"),
        uri: uploaded.uri,
        num_artifacts: 1,
        duration: 2,
        metadata: None,
    };
    let refused = client
        .send(&owner, COMMUNITY, post, true)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("deprecated"), "{refused}");
    // The bounty in flight still settles.
    let guid = in_flight.guid;
    wait_for(
        "the in-flight bounty to settle",
        Duration::from_secs(30),
        || {
            let client = client.clone();
            async move {
                client
                    .bounty(&guid)
                    .await
                    .unwrap()
                    .and_then(|b| b.settlement)
            }
        },
    )
    .await;

    as_owner(&url, &["undeprecate"]).await;
    assert!(!client.parameters().await.unwrap().deprecated);
    post_bounty(
        &client,
        &owner,
        files(&[("c.txt", b"welcome back")]),
        nct("1"),
        2,
    )
    .await;
    // Undeprecating an open community is refused, with the node's code.
    let owner_key = hex_key(&owner);
    let run = swarm(&[
        "community",
        "undeprecate",
        "--node",
        &url,
        "--private-key",
        &owner_key,
        "--yes",
    ])
    .await;
    assert!(!run.ok, "{run:?}");
    assert!(
        run.stderr
            .contains("warning: the community is not deprecated"),
        "{run:?}"
    );
    assert!(run.stderr.contains("(not_deprecated, HTTP 422)"), "{run:?}");
    node.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_mints_exactly_the_amount_to_the_wei() {
    let mut genesis = test_genesis();
    genesis.faucet = None;
    let (node, client, url) = start(genesis).await;
    let to = PrivateKey::random().address();
    let minted = client.status().await.unwrap().supply.minted;
    as_owner(
        &url,
        &[
            "mint",
            "--to",
            &to.to_string(),
            "--amount",
            "123.000000000000000001",
        ],
    )
    .await;
    let amount = Amount::from_wei(123 * 10u128.pow(18) + 1);
    assert_eq!(client.balance(&to).await.unwrap(), amount);
    let now = client.status().await.unwrap().supply.minted;
    assert_eq!(now.checked_sub(minted).unwrap(), amount);
    node.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_moves_exactly_the_amount_and_bad_input_is_a_clear_error() {
    let (node, client, url) = start(test_genesis()).await;
    let sender = funded(&client, 100).await;
    let key = hex_key(&sender);
    let to = PrivateKey::random().address();
    let to_text = to.to_string();
    let minted = client.status().await.unwrap().supply.minted;
    let transfer = |to: &str, amount: &str| {
        let amount = format!("--amount={amount}");
        let args: Vec<String> = [
            "wallet",
            "transfer",
            "--to",
            to,
            amount.as_str(),
            "--node",
            url.as_str(),
            "--private-key",
            key.as_str(),
            "--yes",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            swarm(&args).await
        }
    };

    let run = transfer(&to_text, "12.345678901234567891").await;
    assert!(run.ok, "{run:?}");
    assert!(run.stderr.contains("about to sign nct:Transfer"), "{run:?}");
    let amount = Amount::from_wei(12_345_678_901_234_567_891);
    // No fee: the sender loses exactly what the recipient gains; no NCT is made.
    assert_eq!(client.balance(&to).await.unwrap(), amount);
    assert_eq!(
        client.balance(&sender.address()).await.unwrap(),
        Amount::from_nct(100).checked_sub(amount).unwrap()
    );
    assert_eq!(client.status().await.unwrap().supply.minted, minted);

    // Bad input is an error naming it, before anything is signed.
    for (to, amount, expected) in [
        ("0x1234", "1", "invalid value '0x1234' for '--to <TO>'"),
        ("not-an-address", "1", "invalid value 'not-an-address'"),
        (&to_text[..], "1.2.3", "not a non-negative decimal number"),
        (&to_text[..], "-1", "not a non-negative decimal number"),
        (&to_text[..], "0", "must be more than zero"),
        (
            &to_text[..],
            "0.0000000000000000001",
            "more than 18 decimal places",
        ),
        (&to_text[..], "1e3", "not a non-negative decimal number"),
    ] {
        let run = transfer(to, amount).await;
        assert!(!run.ok, "{to} {amount}: {run:?}");
        assert!(run.stderr.contains(expected), "{to} {amount}: {run:?}");
        assert!(!run.stderr.contains("about to sign"), "{run:?}");
    }
    // More than the balance: the node refuses it, with its code.
    let run = transfer(&to_text, "1000").await;
    assert!(!run.ok, "{run:?}");
    assert!(
        run.stderr.contains("warning: the signer holds only"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("(insufficient_balance, HTTP 422)"),
        "{run:?}"
    );
    assert_eq!(client.balance(&to).await.unwrap(), amount);
    node.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_yes_and_without_a_terminal_nothing_is_signed_and_the_error_names_yes() {
    let (node, client, url) = start(test_genesis()).await;
    let sender = funded(&client, 10).await;
    let key = hex_key(&sender);
    let to = PrivateKey::random().address().to_string();
    let run = swarm(&[
        "wallet",
        "transfer",
        "--to",
        &to,
        "--amount",
        "1",
        "--node",
        &url,
        "--private-key",
        &key,
    ])
    .await;
    assert!(!run.ok, "{run:?}");
    // It still shows what it would have signed, then refuses.
    assert!(run.stderr.contains("about to sign nct:Transfer"), "{run:?}");
    assert!(run.stderr.contains("no terminal"), "{run:?}");
    assert!(run.stderr.contains("pass --yes"), "{run:?}");
    let owner = hex_key(&dev_key(0));
    let run = swarm(&[
        "community",
        "set-fees",
        "--bounty-fee",
        "1",
        "--node",
        &url,
        "--private-key",
        &owner,
    ])
    .await;
    assert!(!run.ok && run.stderr.contains("pass --yes"), "{run:?}");
    assert_eq!(
        client.balance(&sender.address()).await.unwrap(),
        Amount::from_nct(10)
    );
    assert_eq!(
        client.parameters().await.unwrap().parameters.bounty_fee,
        nct("0.0625")
    );
    node.node.shutdown().await.unwrap();
}

/// A funding key in a keystore file (password "pw"), holding `nct`.
async fn funding_keyfile(
    client: &NodeClient,
    dir: &std::path::Path,
    nct: u128,
) -> (PrivateKey, String) {
    let key = funded(client, nct).await;
    let keystore = Keystore::encrypt(&key, "pw", KdfStrength::Light).unwrap();
    let path = dir.join("funder.json");
    std::fs::write(&path, keystore.to_json_pretty().unwrap()).unwrap();
    (key, path.to_str().unwrap().to_owned())
}

async fn maintain_once(url: &str, address: &Address, min: &str, refill: &str, from: &str) -> Run {
    let address = address.to_string();
    swarm(&[
        "wallet",
        "maintain",
        "--node",
        url,
        "--address",
        &address,
        "--min",
        min,
        "--refill",
        refill,
        "--from",
        from,
        "--password",
        "pw",
        "--once",
        "--yes",
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintain_refills_below_the_floor_once_and_leaves_a_balance_above_it_alone() {
    let (node, client, url) = start(test_genesis()).await;
    let dir = tempfile::tempdir().unwrap();
    let (funder, from) = funding_keyfile(&client, dir.path(), 1000).await;
    let target = funded(&client, 5).await.address();

    let run = maintain_once(&url, &target, "10", "20", &from).await;
    assert!(run.ok, "{run:?}");
    assert!(
        run.stdout.contains("below the floor 10 NCT: sent 20 NCT"),
        "{run:?}"
    );
    // Refill adds --refill (5 + 20), it does not fill up to a target.
    assert_eq!(client.balance(&target).await.unwrap(), Amount::from_nct(25));
    assert_eq!(
        client.balance(&funder.address()).await.unwrap(),
        Amount::from_nct(980)
    );

    let run = maintain_once(&url, &target, "10", "20", &from).await;
    assert!(run.ok, "{run:?}");
    assert!(run.stdout.contains("nothing sent"), "{run:?}");
    assert_eq!(client.balance(&target).await.unwrap(), Amount::from_nct(25));
    assert_eq!(
        client.balance(&funder.address()).await.unwrap(),
        Amount::from_nct(980)
    );
    node.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintain_with_a_refill_smaller_than_the_dip_sends_one_per_check_and_warns() {
    let (node, client, url) = start(test_genesis()).await;
    let dir = tempfile::tempdir().unwrap();
    let (funder, from) = funding_keyfile(&client, dir.path(), 1000).await;
    let target = funded(&client, 5).await.address();

    let run = maintain_once(&url, &target, "10", "1", &from).await;
    assert!(run.ok, "{run:?}");
    assert!(run.stderr.contains("still below the floor"), "{run:?}");
    assert_eq!(client.balance(&target).await.unwrap(), Amount::from_nct(6));
    let run = maintain_once(&url, &target, "10", "1", &from).await;
    assert!(run.ok, "{run:?}");
    assert_eq!(client.balance(&target).await.unwrap(), Amount::from_nct(7));
    assert_eq!(
        client.balance(&funder.address()).await.unwrap(),
        Amount::from_nct(998)
    );
    node.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintain_watching_refills_each_dip_exactly_once() {
    let (node, client, url) = start(test_genesis()).await;
    let dir = tempfile::tempdir().unwrap();
    let (funder, from) = funding_keyfile(&client, dir.path(), 1000).await;
    let spender = funded(&client, 15).await;
    let target = spender.address();
    let mut watcher = tokio::process::Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args(["wallet", "maintain", "--node", &url, "--address"])
        .arg(target.to_string())
        .args(["--min", "10", "--refill", "20", "--from", &from])
        .args(["--password", "pw", "--interval-ms", "100", "--yes"])
        .env_remove("SWARM_PRIVATE_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Above the floor: several checks, nothing sent.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(client.balance(&target).await.unwrap(), Amount::from_nct(15));

    // A dip to 5: one refill of 20, then nothing more however many checks pass.
    let spend = Transfer {
        to: dev_key(0).address(),
        amount: Amount::from_nct(10),
    };
    client.send(&spender, COMMUNITY, spend, true).await.unwrap();
    wait_for("the refill", Duration::from_secs(30), || {
        let client = client.clone();
        async move {
            (client.balance(&target).await.unwrap() == Amount::from_nct(25)).then_some(())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(client.balance(&target).await.unwrap(), Amount::from_nct(25));
    assert_eq!(
        client.balance(&funder.address()).await.unwrap(),
        Amount::from_nct(980)
    );
    assert!(watcher.try_wait().unwrap().is_none(), "the watcher exited");
    watcher.kill().await.unwrap();
    node.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdraw_before_the_stake_duration_is_refused_naming_what_and_when_then_succeeds() {
    // 40 blocks of 50 ms: a two-second lock.
    let mut genesis = test_genesis();
    genesis.parameters.stake_duration = Some(40);
    let (node, client, url) = start(genesis).await;
    let arbiter = dev_key(1);
    let key = hex_key(&arbiter);
    let balance = client.balance(&arbiter.address()).await.unwrap();

    let run = swarm(&[
        "stake",
        "deposit",
        "--amount",
        "10000000",
        "--node",
        &url,
        "--private-key",
        &key,
        "--yes",
    ])
    .await;
    assert!(run.ok, "{run:?}");
    let deposits = client.stake_deposits(&arbiter.address()).await.unwrap();
    assert_eq!(deposits.len(), 1);
    let matures = deposits[0].block + 40;
    assert_eq!(deposits[0].withdrawable_at, matures);

    let withdraw = |amount: &'static str| {
        let (url, key) = (url.clone(), key.clone());
        async move {
            let mut args = vec!["stake", "withdraw"];
            if amount == "all" {
                args.push("--all");
            } else {
                args.extend_from_slice(&["--amount", amount]);
            }
            args.extend_from_slice(&["--node", &url, "--private-key", &key, "--yes"]);
            swarm(&args).await
        }
    };
    let run = withdraw("10000000").await;
    assert!(!run.ok, "{run:?}");
    assert!(
        run.stderr
            .contains("the node refused staking:Withdraw (stake_locked, HTTP 422)"),
        "{run:?}"
    );
    assert!(run.stderr.contains("can withdraw 0 NCT now"), "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "10000000 NCT will be withdrawable from block {matures}"
        )),
        "{run:?}"
    );
    // --all with nothing matured says when something will be.
    let run = withdraw("all").await;
    assert!(!run.ok, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "10000000 NCT more becomes withdrawable at block {matures}"
        )),
        "{run:?}"
    );
    let shown = swarm(&["stake", "show", "--node", &url, "--private-key", &key]).await;
    assert!(
        shown
            .stdout
            .contains(&format!("withdrawable from block {matures}")),
        "{shown:?}"
    );

    node.client.wait_for_block(matures).await;
    let run = withdraw("all").await;
    assert!(run.ok, "{run:?}");
    assert_eq!(
        client.stake_total(&arbiter.address()).await.unwrap(),
        Amount::ZERO
    );
    assert_eq!(client.balance(&arbiter.address()).await.unwrap(), balance);
    node.node.shutdown().await.unwrap();
}

/// Runs `swarm ARGS` on a pseudo-terminal, waits for the confirmation
/// question and answers it with `answer`; what the terminal showed.
fn answer_at_a_terminal(args: Vec<String>, answer: &'static str) -> String {
    use expectrl::{Eof, Session};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_swarm"));
    command
        .args(args)
        .env_remove("SWARM_PRIVATE_KEY")
        .env_remove("SWARM_NODE")
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    let mut session = Session::spawn(command).unwrap();
    session.set_expect_timeout(Some(Duration::from_secs(30)));
    let shown = session.expect("Sign and send nct:Transfer?").unwrap();
    let mut text = String::from_utf8_lossy(shown.before()).into_owned();
    session.send(answer).unwrap();
    let rest = session.expect(Eof).unwrap();
    text.push_str(&String::from_utf8_lossy(rest.as_bytes()));
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_a_terminal_the_command_asks_and_signs_only_on_yes() {
    let (node, client, url) = start(test_genesis()).await;
    let sender = funded(&client, 10).await;
    let to = PrivateKey::random().address();
    let (to_text, key) = (to.to_string(), hex_key(&sender));
    let args: Vec<String> = [
        "wallet",
        "transfer",
        "--to",
        to_text.as_str(),
        "--amount",
        "1",
        "--node",
        url.as_str(),
        "--private-key",
        key.as_str(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let shown = {
        let args = args.clone();
        tokio::task::spawn_blocking(move || answer_at_a_terminal(args, "n"))
            .await
            .unwrap()
    };
    assert!(shown.contains("about to sign nct:Transfer"), "{shown}");
    assert!(shown.contains(&sender.address().to_string()), "{shown}");
    assert!(shown.contains("not signed"), "{shown}");
    assert_eq!(client.balance(&to).await.unwrap(), Amount::ZERO);

    let shown = tokio::task::spawn_blocking(move || answer_at_a_terminal(args, "y"))
        .await
        .unwrap();
    assert!(shown.contains("sent 1 NCT"), "{shown}");
    assert_eq!(client.balance(&to).await.unwrap(), Amount::from_nct(1));
    node.node.shutdown().await.unwrap();
}
