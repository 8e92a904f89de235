//! The typed client against a real node: every endpoint, and the FAIL
//! envelope turned into a typed error with the node's code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use swarm_node::dev_key;
use swarm_node::test_utils::{test_genesis, Backend, TestNode};
use swarm_protocol::{Amount, ArtifactType, Guid, Mint, PostBounty, StakeDeposit, Transfer};
use swarm_sdk::{ClientError, NodeClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_through_the_typed_client() {
    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let client = NodeClient::new(node.url());
    let status = client.status().await.unwrap();
    assert_eq!(status.community, "dev");
    assert!(status.sequencer);
    let params = client.parameters().await.unwrap();
    assert_eq!(params.arbiters, vec![dev_key(1).address()]);
    let staking = client.staking_parameters().await.unwrap();
    assert_eq!(staking.minimum_stake, params.parameters.minimum_stake);

    let me = dev_key(40);
    let mint = Mint {
        to: me.address(),
        amount: Amount::from_nct(50),
    };
    let minted = client.send(&me, "dev", mint, true).await.unwrap();
    assert_eq!(minted.status, swarm_sdk::TxStatus::Included);
    assert_eq!(
        client.balance(&me.address()).await.unwrap(),
        Amount::from_nct(50)
    );
    let receipt = client.receipt(&minted.hash).await.unwrap().unwrap();
    assert_eq!(
        (receipt.tx.name.as_str(), receipt.tx.from),
        ("nct:Mint", me.address())
    );
    let block = client.block(minted.block_number).await.unwrap().unwrap();
    assert!(block.transactions.contains(&minted.hash));
    assert!(client.block(1_000_000).await.unwrap().is_none());

    let arbiter = dev_key(1);
    let deposit = StakeDeposit {
        amount: staking.minimum_stake,
    };
    client.send(&arbiter, "dev", deposit, true).await.unwrap();
    assert_eq!(
        client.stake_total(&arbiter.address()).await.unwrap(),
        staking.minimum_stake
    );
    assert_eq!(
        client.stake_withdrawable(&arbiter.address()).await.unwrap(),
        Amount::ZERO
    );

    let files = vec![("a.txt".to_owned(), Bytes::from_static(b"hello"))];
    let uploaded = client.upload(&me, "dev", &files).await.unwrap();
    assert_eq!(
        client.manifest(&uploaded.uri).await.unwrap(),
        uploaded.artifacts
    );
    assert_eq!(
        client.artifact_stat(&uploaded.uri, 0).await.unwrap(),
        uploaded.artifacts[0]
    );
    assert_eq!(
        client.download(&uploaded.uri, 0, 100).await.unwrap(),
        Bytes::from_static(b"hello")
    );
    let too_small = client.download(&uploaded.uri, 0, 4).await.unwrap_err();
    assert!(
        matches!(too_small, ClientError::TooLarge { .. }),
        "{too_small}"
    );

    let guid = Guid::new_v4();
    let post = PostBounty {
        guid,
        artifact_type: ArtifactType::File,
        amount: Amount::from_nct(1),
        uri: uploaded.uri.clone(),
        num_artifacts: 1,
        duration: 10,
        metadata: Some(uploaded.artifacts.iter().map(|a| a.to_metadata()).collect()),
    };
    client.send(&me, "dev", post, true).await.unwrap();
    let bounty = client.bounty(&guid).await.unwrap().unwrap();
    assert_eq!(bounty.author, me.address());
    assert!(client.assertions(&guid).await.unwrap().is_empty());
    assert!(client.votes(&guid).await.unwrap().is_empty());
    assert_eq!(client.bounties(0).await.unwrap()[0].guid, guid);
    assert!(client.bounty(&Guid::new_v4()).await.unwrap().is_none());

    // A refusal comes back typed, with the node's code and message.
    let broke = dev_key(41);
    let pay = Transfer {
        to: me.address(),
        amount: Amount::from_nct(1),
    };
    let err = client.send(&broke, "dev", pay, true).await.unwrap_err();
    assert_eq!(err.code(), Some("insufficient_balance"), "{err}");
    assert!(err.to_string().contains("has 0 NCT, needs 1 NCT"), "{err}");
    node.node.shutdown().await.unwrap();
}

/// Items a batch refuses for a passing reason (the account over its rate)
/// come back with a `retry_after`; the client sends them again after that
/// wait, and every one is included in the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_items_over_a_rate_are_sent_again_after_the_hint() {
    let node =
        TestNode::start_configured(tempfile::tempdir().unwrap(), None, test_genesis(), |c| {
            c.limits.transactions_per_account = swarm_node::Rate::new(2, 2);
        })
        .await;
    let client = NodeClient::new(node.url());
    let me = dev_key(41);
    let block = client.status().await.unwrap().block;
    let txs: Vec<_> = (1..=5u128)
        .map(|n| {
            let mint = Mint {
                to: me.address(),
                amount: Amount::from_wei(n),
            };
            swarm_protocol::Tx::new(me.address(), "dev", block + 100, mint).sign(&me)
        })
        .collect();
    let started = std::time::Instant::now();
    let results = client.submit(&txs, true).await.unwrap();
    for (i, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "item {i}: {r:?}");
    }
    // Two at once, then two a second: the last waited about 1.5 s.
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!(
        client.balance(&me.address()).await.unwrap(),
        Amount::from_wei(15)
    );
    node.node.shutdown().await.unwrap();
}

/// A scanner that reports what it was handed: whether the artifact came in
/// a memory file, and whether that file's bytes are the content.
struct Inspect {
    wants: bool,
}

impl swarm_sdk::Scanner for Inspect {
    async fn scan(
        &self,
        artifact: &swarm_sdk::Artifact,
    ) -> Result<swarm_sdk::ScanResult, swarm_sdk::ScanError> {
        use std::io::Read;
        use std::os::fd::AsFd;
        let family = match &artifact.file {
            None => "in memory".to_owned(),
            Some(file) => {
                // Read the file through its own descriptor, from the start.
                let dup = file.as_fd().try_clone_to_owned().unwrap();
                let mut read = Vec::new();
                std::fs::File::from(dup)
                    .read_to_end(&mut read)
                    .map_err(|e| swarm_sdk::ScanError::Other(e.to_string()))?;
                assert_eq!(file.len(), artifact.content.len() as u64);
                format!("memory file, same bytes: {}", read == artifact.content)
            }
        };
        Ok(swarm_sdk::ScanResult {
            verdict: swarm_sdk::Verdict::Benign,
            confidence: 1.0,
            metadata: swarm_sdk::ScanMetadata::family(family),
            bid: None,
        })
    }

    fn wants_memory_file(&self) -> bool {
        self.wants
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_that_wants_a_memory_file_gets_the_download_sealed_in_one() {
    use std::io::Write;
    use std::os::fd::AsFd;
    use swarm_sdk::{LocalDispatch, ScanDispatch, ScanJob};

    let node = TestNode::start(Backend::Sqlite, test_genesis()).await;
    let client = NodeClient::new(node.url());
    let me = dev_key(41);
    let mint = Mint {
        to: me.address(),
        amount: Amount::from_nct(5),
    };
    client.send(&me, "dev", mint, true).await.unwrap();
    let body: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let files = vec![("big.bin".to_owned(), Bytes::from(body.clone()))];
    let uploaded = client.upload(&me, "dev", &files).await.unwrap();

    // The client: the bytes, sealed — nobody may write or truncate them.
    let (content, file) = client
        .download_to_memory_file(&uploaded.uri, 0, 1 << 20)
        .await
        .unwrap();
    assert_eq!(content, Bytes::from(body.clone()));
    assert_eq!(file.len(), body.len() as u64);
    let mut other = std::fs::File::from(file.as_fd().try_clone_to_owned().unwrap());
    assert!(other.write_all(b"changed").is_err());
    assert!(other.set_len(1).is_err());
    let too_small = client
        .download_to_memory_file(&uploaded.uri, 0, 1000)
        .await
        .unwrap_err();
    assert!(
        matches!(too_small, ClientError::TooLarge { .. }),
        "{too_small}"
    );

    // The dispatch: a memory file only for a scanner that asks.
    for (wants, expected) in [
        (true, "memory file, same bytes: true"),
        (false, "in memory"),
    ] {
        let dispatch = LocalDispatch::new(
            std::sync::Arc::new(Inspect { wants }),
            client.clone(),
            2,
            1 << 20,
        );
        let job = ScanJob {
            bounty_guid: Guid::new_v4(),
            uri: uploaded.uri.clone(),
            index: 0,
            kind: swarm_sdk::ArtifactKind::File,
            metadata: Default::default(),
            deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(20),
        };
        let outcome = dispatch.scan(job).await;
        let result = outcome.result.unwrap();
        assert_eq!(result.metadata.malware_family, expected);
        assert!(outcome.downloaded);
    }
}
