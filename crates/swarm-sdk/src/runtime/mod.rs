//! What the participant runtimes (microengine, arbiter, ambassador) share:
//! the node's events as a channel ([`spawn_events`]) and a task that ends
//! with its owner ([`AbortOnDrop`]).

mod events;

pub(crate) use events::spawn_events;

/// Aborts a task when dropped: work given up on (a scan past its deadline,
/// the event stream of a runtime that stopped) stops with its owner.
pub(crate) struct AbortOnDrop(tokio::task::AbortHandle);

impl AbortOnDrop {
    /// Guards the task behind `handle`.
    pub(crate) fn new<T>(handle: &tokio::task::JoinHandle<T>) -> Self {
        AbortOnDrop(handle.abort_handle())
    }
}

impl std::fmt::Debug for AbortOnDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AbortOnDrop")
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
