//! A follower: a node that shares a PostgreSQL database with the sequencer,
//! serves reads and replays the blocks the sequencer commits — and tries,
//! every second, to take the sequencer lock, so that when the sequencer's
//! node goes away another one carries the chain on.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::chain::CommittedBlock;
use crate::node::NodeError;
use crate::sequencer::{self, ChainView};
use crate::store::Store;

/// How often a follower tries to take the sequencer lock.
const TAKEOVER_INTERVAL: Duration = Duration::from_secs(1);

/// Polls the store for new blocks every half block time and applies them,
/// until shutdown (`Ok(false)`) or until this node holds the sequencer lock
/// and has replayed every committed block (`Ok(true)`).
pub(crate) async fn follow(
    store: Arc<dyn Store>,
    view: Arc<ChainView>,
    events: broadcast::Sender<Arc<CommittedBlock>>,
    block_time: Duration,
    shutdown: CancellationToken,
) -> Result<bool, NodeError> {
    let mut ticker = tokio::time::interval((block_time / 2).max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_attempt = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(false),
            _ = ticker.tick() => {}
        }
        let leader = last_attempt.elapsed() >= TAKEOVER_INTERVAL && {
            last_attempt = tokio::time::Instant::now();
            store.try_lock_sequencer().await?
        };
        // With the lock held nobody else commits: catching up to the store's
        // tip makes the view exactly the chain the new sequencer continues.
        loop {
            let after = view.tip().map(|t| t.number).unwrap_or(0);
            let blocks = store.blocks_after(after, 256).await?;
            let caught_up = blocks.is_empty();
            for block in blocks {
                let verified = sequencer::verify_stored(&block)?;
                view.advance(&block, &verified)?;
                let _ = events.send(Arc::new(block));
            }
            if caught_up || !leader {
                break;
            }
        }
        if leader {
            return Ok(true);
        }
    }
}
