//! Measurements outside the node, before the load: single-core signature
//! recovery and signing rates, which the report sets the node's
//! transaction rate and the bench's own signing against.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use swarm_node::dev_key;
use swarm_protocol::keccak256;

/// How long the single-core recovery loop runs.
pub(super) const RECOVERY_LOOP: Duration = Duration::from_secs(1);

/// How long the single-core signing loop runs.
pub(super) const SIGNING_LOOP: Duration = Duration::from_millis(300);

/// Recovers one signature in a loop on this thread: recoveries per second.
pub(super) fn recovery_rate(min: Duration) -> anyhow::Result<f64> {
    let key = dev_key(0);
    let digest = keccak256(b"swarm bench recovery");
    let signature = key.sign_hash(&digest);
    let expected = key.address();
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < min {
        for _ in 0..64 {
            let signer = signature
                .recover(std::hint::black_box(&digest))
                .context("recovering the bench signature")?;
            if std::hint::black_box(signer) != expected {
                bail!("signature recovery returned the wrong address");
            }
            count += 1;
        }
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// Signs in a loop on this thread: signatures per second.
pub(super) fn signing_rate(min: Duration) -> f64 {
    let key = dev_key(0);
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < min {
        for i in 0..64u64 {
            let digest = keccak256(i.to_be_bytes());
            std::hint::black_box(key.sign_hash(&digest));
            count += 1;
        }
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// Single-thread signature rates, measured before the load.
#[derive(Clone, Copy)]
pub(super) struct Calibration {
    /// Recoveries per second.
    pub(super) recoveries: f64,
    /// Signatures per second.
    pub(super) signatures: f64,
}
