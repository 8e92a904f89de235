//! The block clock: which block is open, what each committed block held and
//! when bounties settled, from the node's committed-block broadcast.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use swarm_node::{CommittedBlock, RunningNode};
use swarm_protocol::Event;
use tokio::sync::watch;

use crate::commands::bench::lock;

/// One committed block, as the bench saw it.
#[derive(Clone, Debug)]
pub(super) struct BlockSeen {
    /// Transactions in it.
    pub(super) txs: usize,
    /// When the node sealed it (its header's timestamp).
    pub(super) timestamp_ms: u64,
    /// When the bench heard of its commit, in Unix milliseconds.
    pub(super) seen_unix_ms: f64,
    /// When the bench heard of its commit.
    pub(super) seen_at: Instant,
}

/// What the committed-block broadcast tells the bench.
pub(super) struct Clock {
    /// The last committed block; the open one is the next.
    pub(super) committed: watch::Receiver<u64>,
    /// Bounties settled so far.
    pub(super) settled: AtomicUsize,
    /// When the bench saw the latest settlement.
    pub(super) last_settlement: Mutex<Option<Instant>>,
    /// Every block seen.
    pub(super) blocks: Mutex<Vec<BlockSeen>>,
}

impl Clock {
    /// Follows the node's committed blocks until the node stops.
    pub(super) fn follow(node: &RunningNode) -> Arc<Clock> {
        let mut blocks = node.state().events.subscribe();
        let start = node.state().view.tip().map(|t| t.number).unwrap_or(0);
        let (tx, rx) = watch::channel(start);
        let clock = Arc::new(Clock {
            committed: rx,
            settled: AtomicUsize::new(0),
            last_settlement: Mutex::new(None),
            blocks: Mutex::new(Vec::new()),
        });
        let c = clock.clone();
        tokio::spawn(async move {
            loop {
                match blocks.recv().await {
                    Ok(block) => c.saw(&block, &tx),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("bench clock missed {n} blocks; settlement times are late");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        clock
    }

    /// Records a committed block and announces it.
    fn saw(&self, block: &CommittedBlock, tx: &watch::Sender<u64>) {
        let now = Instant::now();
        let settled = block
            .events
            .iter()
            .filter(|e| matches!(e.event, Event::SettledBounty(_)))
            .count();
        if settled > 0 {
            self.settled.fetch_add(settled, Ordering::SeqCst);
            *lock(&self.last_settlement) = Some(now);
        }
        lock(&self.blocks).push(BlockSeen {
            txs: block.txs.len(),
            timestamp_ms: block.header.timestamp_ms,
            seen_unix_ms: unix_ms(),
            seen_at: now,
        });
        tx.send_replace(block.header.number);
    }

    /// The block now open for transactions.
    pub(super) fn open_block(&self) -> u64 {
        *self.committed.borrow() + 1
    }

    /// Waits until block `number` is open (block `number - 1` committed).
    pub(super) async fn wait_open(&self, number: u64, limit: Duration) -> anyhow::Result<()> {
        let mut rx = self.committed.clone();
        let reached = tokio::time::timeout(limit, rx.wait_for(|c| c + 1 >= number))
            .await
            .map(|r| r.map(|_| ()));
        match reached {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => bail!("the node stopped before block {number}"),
            Err(_) => bail!(
                "block {number} did not open within {}s (the node is stuck?)",
                limit.as_secs()
            ),
        }
    }
}

/// Now, in Unix milliseconds.
fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}
