//! A follower: a node that shares a PostgreSQL database with the sequencer,
//! serves reads and replays the blocks the sequencer commits.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::chain::CommittedBlock;
use crate::node::NodeError;
use crate::sequencer::{self, ChainView};
use crate::store::Store;

/// Polls the store for new blocks every half block time and applies them.
pub(crate) async fn follow(
    store: Arc<dyn Store>,
    view: Arc<ChainView>,
    events: broadcast::Sender<Arc<CommittedBlock>>,
    block_time: Duration,
    shutdown: CancellationToken,
) -> Result<(), NodeError> {
    let mut ticker = tokio::time::interval((block_time / 2).max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        let after = view.tip().map(|t| t.number).unwrap_or(0);
        for block in store.blocks_after(after, 256).await? {
            let verified = sequencer::verify_stored(&block)?;
            view.advance(&block, &verified)?;
            let _ = events.send(Arc::new(block));
        }
    }
}
