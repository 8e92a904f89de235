//! What the node's committed blocks say: when each bounty was posted and
//! first asserted on, from the node's committed-block broadcast.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use swarm_node::{CommittedBlock, RunningNode};
use swarm_protocol::{Event, Guid};
use tokio::sync::watch;

use crate::commands::bench::lock;

/// What the node's committed blocks say about bounties and assertions.
pub(super) struct Tally {
    /// The last committed block.
    pub(super) tip: AtomicU64,
    /// When each bounty's post was committed (as the bench heard).
    posted: Mutex<HashMap<Guid, Instant>>,
    /// When each bounty's first assertion was committed, and the artifacts
    /// it covers.
    asserted: Mutex<HashMap<Guid, (Instant, usize)>>,
    /// Assertions seen so far; changes wake the waiters.
    pub(super) assertions: watch::Sender<u64>,
}

impl Tally {
    /// Follows the node's committed blocks until the node stops.
    pub(super) fn follow(node: &RunningNode) -> Arc<Tally> {
        let mut blocks = node.state().events.subscribe();
        let tally = Arc::new(Tally {
            tip: AtomicU64::new(node.state().view.tip().map_or(0, |t| t.number)),
            posted: Mutex::new(HashMap::new()),
            asserted: Mutex::new(HashMap::new()),
            assertions: watch::channel(0).0,
        });
        let t = tally.clone();
        tokio::spawn(async move {
            loop {
                match blocks.recv().await {
                    Ok(block) => t.saw(&block),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("bench tally missed {n} blocks; figures are wrong");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        tally
    }

    /// Records one committed block.
    fn saw(&self, block: &CommittedBlock) {
        let now = Instant::now();
        let mut assertions = 0;
        for record in &block.events {
            match &record.event {
                Event::Bounty(b) => {
                    lock(&self.posted).insert(b.guid, now);
                }
                Event::Assertion(a) => {
                    lock(&self.asserted)
                        .entry(a.bounty_guid)
                        .or_insert((now, a.mask.count()));
                    assertions += 1;
                }
                _ => {}
            }
        }
        self.tip.store(block.header.number, Ordering::SeqCst);
        if assertions > 0 {
            self.assertions.send_modify(|n| *n += assertions);
        }
    }

    /// Of `guids`: how many are asserted, the artifacts asserted, and the
    /// commit time of the last assertion.
    pub(super) fn progress(&self, guids: &[Guid]) -> (usize, usize, Option<Instant>) {
        let asserted = lock(&self.asserted);
        let mut bounties = 0;
        let mut artifacts = 0;
        let mut last: Option<Instant> = None;
        for (at, n) in guids.iter().filter_map(|g| asserted.get(g)) {
            bounties += 1;
            artifacts += n;
            last = Some(last.map_or(*at, |l| l.max(*at)));
        }
        (bounties, artifacts, last)
    }

    /// Per bounty of `guids` asserted: from the commit of its post to the
    /// commit of its assertion.
    pub(super) fn latencies(&self, guids: &[Guid]) -> Vec<Duration> {
        let posted = lock(&self.posted);
        let asserted = lock(&self.asserted);
        guids
            .iter()
            .filter_map(|g| {
                let (at, _) = asserted.get(g)?;
                Some(at.saturating_duration_since(*posted.get(g)?))
            })
            .collect()
    }
}
