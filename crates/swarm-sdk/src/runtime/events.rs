//! The node's event stream as a channel.

use tokio::sync::mpsc;

use super::AbortOnDrop;
use crate::client::NodeClient;
use crate::events::NodeEvent;

/// Streams the node's events from block `since` into a channel, so callers
/// can `select!` on them without losing one.
pub(crate) fn spawn_events(
    client: &NodeClient,
    since: u64,
) -> (mpsc::Receiver<NodeEvent>, AbortOnDrop) {
    let (tx, rx) = mpsc::channel(4096);
    let mut stream = client.events(Some(since));
    let task = tokio::spawn(async move {
        loop {
            let event = stream.next().await;
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    (rx, AbortOnDrop::new(&task))
}
